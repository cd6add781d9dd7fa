//! `POST /build`: the legacy builder protocol. The body is the context tar (plain, gzip or
//! zstd); query parameters `t` (repeated), `dockerfile`, `buildargs` and `labels` (JSON
//! objects), `target`, `nocache`, `q`, and tug's `secrets` (JSON object of base64 contents).
//! The answer streams `{"stream": …}` lines, `{"aux":{"ID": …}}` with the image ID, and a
//! failure as `{"errorDetail":{"message": …},"error": …}`, as Docker's daemon does.

use crate::error::{ApiError, Kind};
use crate::query::Query;
use crate::server::Body;
use crate::stream;
use base64::Engine as _;
use bytes::Bytes;
use engine::engine::Engine;
use http_body_util::BodyExt;
use hyper::Response;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;

fn json_map(q: &Query, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    match q.get(key).filter(|v| !v.is_empty()) {
        None => Ok(BTreeMap::new()),
        Some(v) => {
            let m: BTreeMap<String, Option<String>> = serde_json::from_str(v)
                .map_err(|e| ApiError::invalid(format!("invalid {key}: {e}")))?;
            Ok(m.into_iter().filter_map(|(k, v)| Some((k, v?))).collect())
        }
    }
}

/// Options from the query string.
fn options(q: &Query) -> Result<build::BuildOptions, ApiError> {
    if q.get("version") == Some("2") {
        return Err(ApiError::invalid(
            "BuildKit sessions are not supported by tug's daemon: build with DOCKER_BUILDKIT=0 or `tug build`",
        ));
    }
    if q.get("remote").is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::invalid(
            "remote build contexts are not supported: send the context in the body",
        ));
    }
    let mut secrets = BTreeMap::new();
    for (id, b64) in json_map(q, "secrets")? {
        let data = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| ApiError::invalid(format!("invalid secret {id}: {e}")))?;
        secrets.insert(id, data);
    }
    Ok(build::BuildOptions {
        dockerfile: q
            .get("dockerfile")
            .filter(|d| !d.is_empty())
            .map(String::from),
        dockerfile_text: None,
        tags: q.all("t").into_iter().filter(|t| !t.is_empty()).collect(),
        build_args: json_map(q, "buildargs")?,
        target: q.get("target").filter(|t| !t.is_empty()).map(String::from),
        no_cache: q.flag("nocache"),
        labels: json_map(q, "labels")?,
        secrets,
        ignore: true,
        pull: q.flag("pull"),
        network: q
            .get("networkmode")
            .filter(|n| !n.is_empty() && *n != "default" && *n != "bridge")
            .map(String::from),
    })
}

fn line(v: serde_json::Value) -> Bytes {
    Bytes::from(v.to_string() + "\r\n")
}

pub async fn build(
    e: Arc<Engine>,
    q: Query,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<Response<Body>, ApiError> {
    let mut opts = options(&q)?;
    for t in &opts.tags {
        image::Reference::parse(t)
            .map_err(|err| ApiError::invalid(format!("invalid reference format: {t}: {err}")))?;
    }
    let quiet = q.flag("q");
    let data = e.roots.data.join("build");
    // Contexts of builds a crashed daemon never finished go after a day.
    if let Ok(rd) = std::fs::read_dir(data.join("contexts")) {
        for ent in rd.flatten() {
            let old = ent
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(86_400));
            if old {
                let _ = std::fs::remove_dir_all(ent.path());
            }
        }
    }
    let ctx = data
        .join("contexts")
        .join(engine::container::names::new_id());
    std::fs::create_dir_all(&ctx)
        .map_err(|err| ApiError::new(Kind::Internal, format!("build: {err}")))?;
    let (btx, brx) = mpsc::channel::<Bytes>(16);
    let mut body = req.into_body();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(d) = frame.into_data() {
                if btx.send(d).await.is_err() {
                    break;
                }
            }
        }
    });
    let (tx, out) = stream::channel();
    // The daemon's own binary, even if its file was replaced since it started.
    let exe = std::path::PathBuf::from("/proc/self/exe");
    let runtime_root = e.roots.exec.join("build-runtime");
    let rt = tokio::runtime::Handle::current();
    let images = e.images.clone();
    let puller: build::builder::Puller = Arc::new(move |name: &str| {
        // Credentials come from the daemon's credentials file.
        let opts = image::PullOptions::default();
        rt.block_on(images.pull(name, &opts, Arc::new(image::progress::NoProgress)))
            .map(|_| ())
            .map_err(|err| err.to_string())
    });
    tokio::task::spawn_blocking(move || {
        let send = |b: Bytes| {
            let _ = tx.blocking_send(b);
        };
        let unpacked = build::context::unpack(crate::stream::ChannelReader::new(brx), &ctx);
        let result = match unpacked {
            Err(err) => Err(build::BuildError::new(
                build::builder::Kind::Invalid,
                format!("invalid build context: {err}"),
            )),
            Ok(()) => {
                opts.ignore = true;
                let b = build::Builder {
                    images: e.images.clone(),
                    runtime: exe,
                    runtime_root,
                    state: data.clone(),
                    cgroup_parent: None,
                    puller: Some(puller),
                };
                let progress = |ev: build::Event| match ev {
                    build::Event::Line(l) if !quiet => {
                        send(line(serde_json::json!({ "stream": l })))
                    }
                    build::Event::Id(id) => send(line(serde_json::json!({"aux": {"ID": id}}))),
                    _ => {}
                };
                b.build(&ctx, &opts, &progress)
            }
        };
        let _ = std::fs::remove_dir_all(&ctx);
        match result {
            Ok(built) if quiet => send(line(
                serde_json::json!({ "stream": format!("{}\n", built.id) }),
            )),
            Ok(_) => {}
            Err(err) => send(line(serde_json::json!({
                "errorDetail": {"message": err.message}, "error": err.message
            }))),
        }
    });
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(out)
        .expect("valid response"))
}
