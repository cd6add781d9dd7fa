//! `/images/*`: list, inspect, pull (`POST /images/create?fromImage=`) with Docker's JSON
//! progress lines, tag, remove, push, save (`get`), load and history.

use crate::containers::{blocking, epoch_secs_to_rfc3339};
use crate::error::{ApiError, Kind};
use crate::query::Query;
use crate::server::{json, Body};
use crate::stream;
use bytes::Bytes;
use engine::engine::{Engine, EngineError};
use http_body_util::BodyExt;
use hyper::Response;
use image::{Progress, ProgressEvent};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::Sender;

fn from_image(e: image::ServiceError) -> ApiError {
    use image::ErrorKind as K;
    let kind = match e.kind() {
        K::Invalid | K::Unsupported => Kind::Invalid,
        K::NotFound => Kind::NotFound,
        K::Conflict => Kind::Conflict,
        K::Unauthorized => Kind::Unauthorized,
        K::Unavailable => Kind::Unavailable,
        K::DataLoss | K::Internal => Kind::Internal,
    };
    ApiError::new(kind, e.to_string())
}

fn image_err(e: image::ServiceError) -> EngineError {
    let a = from_image(e);
    let kind = match a.kind() {
        Kind::NotFound => engine::engine::Kind::NotFound,
        Kind::Invalid => engine::engine::Kind::Invalid,
        Kind::Conflict => engine::engine::Kind::Conflict,
        _ => engine::engine::Kind::Internal,
    };
    EngineError::new(kind, a.message().to_string())
}

fn familiar(name: &str) -> String {
    image::Reference::parse(name)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| name.to_string())
}

/// Values of each filter key, in both forms clients send (`["a"]` or `{"a": true}`).
fn parse_filters(q: &Query, allowed: &[&str]) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let Some(raw) = q.get("filters").filter(|f| !f.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let v: serde_json::Value = serde_json::from_str(raw)
        .map_err(|err| ApiError::invalid(format!("invalid filter: {err}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::invalid("invalid filter: not a JSON object"))?;
    let mut out = BTreeMap::new();
    for (k, vals) in obj {
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::invalid(format!("invalid filter '{k}'")));
        }
        let list: Vec<String> = match vals {
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            serde_json::Value::Object(o) => o.keys().cloned().collect(),
            serde_json::Value::String(s) => vec![s.clone()],
            _ => Vec::new(),
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

/// `dangling=true|false` (docker also takes `1`/`0`).
fn dangling_filter(f: &BTreeMap<String, Vec<String>>) -> Result<Option<bool>, ApiError> {
    let Some(vals) = f.get("dangling") else {
        return Ok(None);
    };
    let mut want = None;
    for v in vals {
        let b = match v.to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(ApiError::invalid(format!("Invalid filter 'dangling={v}'"))),
        };
        want = Some(b);
    }
    Ok(want)
}

/// `until=`: a unix time (`1700000000`, with fraction), an RFC 3339 date, or a duration back
/// from now (`10m`, `2h30m`, `24h`).
fn parse_until(v: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "failed to parse value as time or duration: \"{v}\""
        ))
    };
    if let Ok(f) = v.parse::<f64>() {
        return Ok(f as i64);
    }
    if v.len() >= 10 && v.as_bytes()[4] == b'-' {
        return Ok(crate::containers::epoch(v));
    }
    let mut secs = 0f64;
    let mut num = String::new();
    let mut rest = v;
    while !rest.is_empty() {
        let c = rest.chars().next().ok_or_else(bad)?;
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            rest = &rest[1..];
            continue;
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: f64 = num.parse().map_err(|_| bad())?;
        secs += n * match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(bad()),
        };
        num.clear();
        rest = &rest[unit_len..];
    }
    if !num.is_empty() {
        return Err(bad());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Ok(now - secs as i64)
}

/// Go's `path.Match` for `*`, `?`, `[…]`-less patterns: `*` and `?` never cross a `/`.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len())
            .take_while(|&i| i == 0 || s[i - 1] != b'/')
            .any(|i| glob(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && s[0] != b'/' && glob(&p[1..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob(&p[1..], &s[1..]),
    }
}

/// docker's `reference=` filter: the pattern against `repo` or `repo:tag` (familiar forms).
fn reference_matches(pattern: &str, familiar_tag: &str) -> bool {
    let repo = match familiar_tag.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => r,
        _ => familiar_tag,
    };
    glob(pattern.as_bytes(), familiar_tag.as_bytes()) || glob(pattern.as_bytes(), repo.as_bytes())
}

fn image_created(i: &image::ImageInfo) -> i64 {
    i.config
        .created()
        .as_deref()
        .map(crate::containers::epoch)
        .unwrap_or(i.record.created)
}

fn image_labels(i: &image::ImageInfo) -> std::collections::HashMap<String, String> {
    i.config
        .config()
        .as_ref()
        .and_then(|c| c.labels().clone())
        .unwrap_or_default()
}

fn label_filters(f: &BTreeMap<String, Vec<String>>) -> Vec<image::gc::LabelFilter> {
    let mut out: Vec<image::gc::LabelFilter> = f
        .get("label")
        .into_iter()
        .flatten()
        .map(|l| image::gc::LabelFilter::parse(l, false))
        .collect();
    out.extend(
        f.get("label!")
            .into_iter()
            .flatten()
            .map(|l| image::gc::LabelFilter::parse(l, true)),
    );
    out
}

/// `GET /images/json?filters=…`: `dangling`, `label`, `before`, `since`, `reference`, `until`.
pub async fn list(e: Arc<Engine>, q: Query) -> Result<Response<Body>, ApiError> {
    let filters = parse_filters(
        &q,
        &["dangling", "label", "before", "since", "reference", "until"],
    )?;
    let dangling = dangling_filter(&filters)?;
    let labels = label_filters(&filters);
    let until = match filters.get("until").and_then(|v| v.first()) {
        Some(u) => Some(parse_until(u)?),
        None => None,
    };
    let refs = filters.get("reference").cloned().unwrap_or_default();
    let infos = blocking(move || e.images.list().map_err(image_err)).await?;
    // `before=`/`since=` name an image; compare creation times with it.
    let mut bounds = Vec::new();
    for (key, before) in [("before", true), ("since", false)] {
        for name in filters.get(key).into_iter().flatten() {
            let hit = infos.iter().find(|i| {
                i.record.config.to_string() == *name
                    || i.record
                        .config
                        .hex()
                        .starts_with(name.trim_start_matches("sha256:"))
                        && name.len() >= 4
                    || (!i.record.is_untagged()
                        && image::Reference::parse(name)
                            .is_ok_and(|r| r.to_string() == i.record.name))
            });
            let Some(hit) = hit else {
                return Err(ApiError::not_found(format!("No such image: {name}")));
            };
            bounds.push((before, image_created(hit)));
        }
    }
    let infos: Vec<image::ImageInfo> = infos
        .into_iter()
        .filter(|i| {
            let created = image_created(i);
            bounds
                .iter()
                .all(|&(before, t)| if before { created < t } else { created > t })
                && until.is_none_or(|u| created < u)
                && labels.iter().all(|l| l.matches(&image_labels(i)))
        })
        .collect();
    let mut by_id: BTreeMap<String, (Vec<String>, &image::ImageInfo)> = BTreeMap::new();
    for i in &infos {
        let entry = by_id
            .entry(i.record.config.to_string())
            .or_insert((Vec::new(), i));
        if !i.record.name.is_empty() && !i.record.is_untagged() {
            entry.0.push(familiar(&i.record.name));
        }
    }
    if let Some(want) = dangling {
        by_id.retain(|_, (tags, _)| tags.is_empty() == want);
    }
    if !refs.is_empty() {
        // As docker: only the matching names are shown, and images without one are left out.
        by_id.retain(|_, (tags, _)| {
            tags.retain(|t| refs.iter().any(|p| reference_matches(p, t)));
            !tags.is_empty()
        });
    }
    for (tags, _) in by_id.values_mut() {
        if tags.is_empty() {
            tags.push("<none>:<none>".to_string());
        }
    }
    let out: Vec<serde_json::Value> = by_id
        .iter()
        .map(|(id, (tags, i))| {
            let created = image_created(i);
            // Docker's shape for a dangling image; the CLI shows it as `<none> <none>` only
            // with both placeholders.
            let digests: &[&str] = if tags.len() == 1 && tags[0] == "<none>:<none>" {
                &["<none>@<none>"]
            } else {
                &[]
            };
            serde_json::json!({
                "Id": id, "ParentId": "", "RepoTags": tags, "RepoDigests": digests,
                "Created": created, "Size": i.size, "SharedSize": -1, "VirtualSize": i.size,
                "Labels": image_labels(i),
                "Containers": -1
            })
        })
        .collect();
    Ok(json(200, &out))
}

pub async fn inspect(e: Arc<Engine>, name: String) -> Result<Response<Body>, ApiError> {
    let e2 = e.clone();
    let n = name.clone();
    let info = blocking(move || e2.images.inspect(&n).map_err(image_err))
        .await
        .map_err(|err| match err.kind() {
            Kind::NotFound => ApiError::not_found(format!("No such image: {name}")),
            _ => err,
        })?;
    let cfg = e.images.config_json(&info);
    let all = blocking(move || e.images.list().map_err(image_err)).await?;
    let tags: Vec<String> = all
        .iter()
        .filter(|i| i.record.config == info.record.config && !i.record.is_untagged())
        .map(|i| familiar(&i.record.name))
        .collect();
    Ok(json(
        200,
        &serde_json::json!({
            "Id": info.record.config.to_string(), "RepoTags": tags, "RepoDigests": [], "Parent": "",
            "Comment": cfg["comment"].as_str().unwrap_or(""), "Created": cfg["created"].as_str().map(String::from).unwrap_or_else(|| epoch_secs_to_rfc3339(info.record.created)),
            "Container": "", "ContainerConfig": {}, "DockerVersion": "", "Author": cfg["author"].as_str().unwrap_or(""),
            "Config": docker_config(&cfg["config"]), "Architecture": cfg["architecture"], "Os": cfg["os"],
            "Size": info.size, "VirtualSize": info.size, "GraphDriver": {"Data": null, "Name": "overlay2"},
            "RootFS": {"Type": "layers", "Layers": cfg["rootfs"]["diff_ids"]},
            "Metadata": {"LastTagTime": epoch_secs_to_rfc3339(info.record.created)}
        }),
    ))
}

/// The OCI image config's `config` object uses Docker's field names already; add what the
/// Docker CLI expects to find.
fn docker_config(c: &serde_json::Value) -> serde_json::Value {
    let mut v = c.clone();
    if !v.is_object() {
        v = serde_json::json!({});
    }
    for k in ["Env", "Cmd", "Entrypoint"] {
        if v.get(k).is_none() {
            v[k] = serde_json::Value::Null;
        }
    }
    v
}

/// Progress of a pull, as Docker's newline-delimited JSON.
struct JsonProgress {
    tx: Sender<Bytes>,
    done: Mutex<Option<(String, String)>>,
    /// Told once, at the first progress event: until then a failure is the response's status.
    first: Mutex<Option<tokio::sync::oneshot::Sender<Result<(), EngineError>>>>,
}

impl JsonProgress {
    /// Reports the first event (or an early failure) to whoever awaits it; true if it did.
    fn first(&self, r: Result<(), EngineError>) -> bool {
        let f = self.first.lock().unwrap_or_else(|p| p.into_inner()).take();
        f.is_some_and(|f| f.send(r).is_ok())
    }
}

impl JsonProgress {
    fn send(&self, v: serde_json::Value) {
        let _ = self.tx.try_send(Bytes::from(v.to_string() + "\r\n"));
    }
}

fn bar(current: u64, total: u64) -> String {
    let width = 50;
    let filled = if total > 0 {
        (current * width / total.max(1)).min(width) as usize
    } else {
        0
    };
    let mb = |b: u64| format!("{:.1}MB", b as f64 / 1e6);
    format!(
        "[{}>{}] {}/{}",
        "=".repeat(filled.saturating_sub(1)),
        " ".repeat(width as usize - filled),
        mb(current),
        mb(total)
    )
}

impl Progress for JsonProgress {
    fn event(&self, ev: ProgressEvent) {
        self.first(Ok(()));
        match ev {
            ProgressEvent::Resolved { .. } => {}
            ProgressEvent::LayerWaiting { layer } => self.send(serde_json::json!({"status": "Pulling fs layer", "progressDetail": {}, "id": layer.short()})),
            ProgressEvent::LayerExists { layer } => self.send(serde_json::json!({"status": "Already exists", "progressDetail": {}, "id": layer.short()})),
            ProgressEvent::LayerProgress { layer, current, total } => self.send(serde_json::json!({
                "status": "Downloading", "progressDetail": {"current": current, "total": total},
                "progress": bar(current, total), "id": layer.short()})),
            ProgressEvent::LayerResumed { layer, offset } => self.send(serde_json::json!({"status": format!("Resuming at {offset}"), "progressDetail": {}, "id": layer.short()})),
            ProgressEvent::LayerDone { layer } => self.send(serde_json::json!({"status": "Pull complete", "progressDetail": {}, "id": layer.short()})),
            ProgressEvent::LayerMounted { layer, from } => self.send(serde_json::json!({"status": format!("Mounted from {from}"), "progressDetail": {}, "id": layer.short()})),
            ProgressEvent::Done { reference, digest } => {
                *self.done.lock().unwrap_or_else(|p| p.into_inner()) = Some((reference, digest.to_string()));
            }
        }
    }
}

/// `POST /images/create?fromSrc=-&repo=…&tag=…&changes=…`: a rootfs tar in the body → image.
pub async fn import(
    e: Arc<Engine>,
    q: Query,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<Response<Body>, ApiError> {
    use tokio::io::AsyncWriteExt;
    if q.get("fromSrc") != Some("-") {
        return Err(ApiError::invalid(
            "importing from a URL is not supported: send the archive in the body (fromSrc=-)",
        ));
    }
    let repo = q.get("repo").filter(|r| !r.is_empty());
    let reference = match (repo, q.get("tag").filter(|t| !t.is_empty())) {
        (Some(r), Some(t)) => Some(format!("{r}:{t}")),
        (Some(r), None) => Some(r.to_string()),
        _ => None,
    };
    let changes: Vec<String> = q.all("changes");
    let message = q.get("message").map(String::from);
    let tmp = tempfile_in(&e.roots.data)?;
    let mut file = tokio::fs::File::create(&tmp)
        .await
        .map_err(|err| ApiError::new(Kind::Internal, format!("import: {err}")))?;
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| ApiError::invalid(format!("import: read body: {err}")))?;
        if let Some(data) = frame.data_ref() {
            file.write_all(data)
                .await
                .map_err(|err| ApiError::new(Kind::Internal, format!("import: {err}")))?;
        }
    }
    drop(file);
    let t2 = tmp.clone();
    let rec = blocking(move || {
        let r = std::fs::File::open(&t2)
            .map_err(|err| EngineError::new(engine::engine::Kind::Internal, err.to_string()));
        let out = r.and_then(|f| {
            e.images
                .import_rootfs(f, reference.as_deref(), &changes, message.as_deref())
                .map_err(image_err)
        });
        let _ = std::fs::remove_file(&t2);
        out
    })
    .await;
    let _ = std::fs::remove_file(&tmp);
    let rec = rec?;
    Ok(json(
        200,
        &serde_json::json!({"status": rec.config.to_string()}),
    ))
}

fn tempfile_in(root: &std::path::Path) -> Result<std::path::PathBuf, ApiError> {
    let dir = root.join("tmp");
    std::fs::create_dir_all(&dir)
        .map_err(|err| ApiError::new(Kind::Internal, format!("import: {err}")))?;
    Ok(dir.join(format!("import-{}", engine::container::names::new_id())))
}

/// The caller's registry credentials from `X-Registry-Auth` (base64url JSON), if any.
pub fn registry_auth(
    headers: &hyper::HeaderMap,
) -> Result<Option<image::registry::auth::AuthConfig>, ApiError> {
    match headers.get("x-registry-auth") {
        None => Ok(None),
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| ApiError::invalid("invalid X-Registry-Auth header: not ASCII"))?;
            image::registry::auth::AuthConfig::from_header(v)
                .map_err(|err| ApiError::invalid(err.to_string()))
        }
    }
}

/// `POST /images/create?fromImage=…&tag=…`: pull, streaming progress.
pub async fn pull(
    e: Arc<Engine>,
    q: Query,
    headers: &hyper::HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let auth = registry_auth(headers)?;
    let Some(from) = q.get("fromImage").filter(|f| !f.is_empty()) else {
        return Err(ApiError::invalid("fromImage or fromSrc is required"));
    };
    let tag = q.get("tag").filter(|t| !t.is_empty());
    let reference = match tag {
        Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None if from.contains('@') || from.rsplit('/').next().is_some_and(|l| l.contains(':')) => {
            from.to_string()
        }
        None => format!("{from}:latest"),
    };
    let platform = q
        .get("platform")
        .filter(|p| !p.is_empty())
        .map(|p| image::manifest::Platform::parse(p))
        .transpose()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let (tx, body) = stream::channel();
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let shown = familiar(&reference);
        let progress = Arc::new(JsonProgress {
            tx: tx.clone(),
            done: Mutex::new(None),
            first: Mutex::new(Some(first_tx)),
        });
        let tag_shown = shown.rsplit(':').next().unwrap_or("latest").to_string();
        let path = image::Reference::parse(&reference)
            .map(|r| r.path().to_string())
            .unwrap_or_default();
        let path = path
            .strip_prefix("library/")
            .map(String::from)
            .unwrap_or(path);
        progress
            .send(serde_json::json!({"status": format!("Pulling from {path}"), "id": tag_shown}));
        let opts = image::PullOptions {
            platform,
            max_concurrent: 3,
            auth,
        };
        match e.images.pull(&reference, &opts, progress.clone()).await {
            Ok(rec) => {
                progress.first(Ok(()));
                e.events.publish(
                    engine::events::Event::new("image", "pull", shown.clone()).attr(
                        "name",
                        shown.rsplit_once(':').map_or(shown.as_str(), |(n, _)| n),
                    ),
                );
                progress.send(serde_json::json!({"status": format!("Digest: {}", rec.target)}));
                progress.send(serde_json::json!({"status": format!("Status: Downloaded newer image for {shown}")}));
            }
            Err(err) => {
                let msg = err.to_string();
                // As Docker: a pull that fails before any progress answers with an error status.
                if !progress.first(Err(err.into())) {
                    progress
                        .send(serde_json::json!({"errorDetail": {"message": msg}, "error": msg}));
                }
            }
        }
    });
    if let Ok(Err(err)) = first_rx.await {
        return Err(crate::containers::from_engine(err));
    }
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(body)
        .expect("valid"))
}

pub async fn tag(e: Arc<Engine>, name: String, q: Query) -> Result<Response<Body>, ApiError> {
    let repo = q.get("repo").unwrap_or_default().to_string();
    let target = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo,
    };
    let (n, e2, t) = (name.clone(), e.clone(), target.clone());
    let id = blocking(move || {
        e2.images.tag(&n, &t).map_err(image_err)?;
        Ok(e2
            .images
            .inspect(&t)
            .map(|i| i.record.config.to_string())
            .unwrap_or_default())
    })
    .await
    .map_err(|err| match err.kind() {
        Kind::NotFound => ApiError::not_found(format!("No such image: {name}")),
        _ => err,
    })?;
    e.events
        .publish(engine::events::Event::new("image", "tag", id).attr("name", familiar(&target)));
    Ok(crate::server::full(201, "text/plain", Bytes::new()))
}

pub async fn remove(e: Arc<Engine>, name: String, q: Query) -> Result<Response<Body>, ApiError> {
    let force = q.flag("force");
    let e2 = e.clone();
    let n = name.clone();
    let info = blocking(move || e2.images.inspect(&n).map_err(image_err))
        .await
        .map_err(|err| match err.kind() {
            Kind::NotFound => ApiError::not_found(format!("No such image: {name}")),
            _ => err,
        })?;
    let id = info.record.config.to_string();
    let users: Vec<String> = e
        .store
        .list()
        .into_iter()
        .filter(|c| c.image == id)
        .map(|c| c.id[..12].to_string())
        .collect();
    if !users.is_empty() && !force {
        return Err(ApiError::new(Kind::Conflict, format!(
            "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
            users[0], &info.record.config.hex()[..12]
        )));
    }
    let e2 = e.clone();
    let e3 = e.clone();
    let removed = blocking(move || e.images.remove(&name, force).map_err(image_err)).await?;
    for r in removed.iter().filter(|r| !r.is_untagged()) {
        e3.events.publish(
            engine::events::Event::new("image", "untag", id.clone())
                .attr("name", familiar(&r.name)),
        );
    }
    let mut out: Vec<serde_json::Value> = removed
        .iter()
        .filter(|r| !r.is_untagged())
        .map(|r| serde_json::json!({"Untagged": familiar(&r.name)}))
        .collect();
    // Deleted only once no name is left for the image (as Docker reports it).
    let left = blocking(move || e2.images.list().map_err(image_err)).await?;
    if !left.iter().any(|i| i.record.config.to_string() == id) {
        e3.events.publish(
            engine::events::Event::new("image", "delete", id.clone()).attr("name", id.clone()),
        );
        out.push(serde_json::json!({"Deleted": id}));
    }
    Ok(json(200, &out))
}

/// Progress of a push, as Docker's newline-delimited JSON: only layers are shown (not the
/// config blob), each by its short digest.
struct PushProgress {
    out: JsonProgress,
    layers: Vec<image::Digest>,
}

impl Progress for PushProgress {
    fn event(&self, ev: ProgressEvent) {
        let shown = |l: &image::Digest| self.layers.contains(l);
        match ev {
            ProgressEvent::LayerExists { layer } if shown(&layer) => self.out.send(serde_json::json!({"status": "Layer already exists", "progressDetail": {}, "id": layer.short()})),
            ProgressEvent::LayerProgress { layer, current, total } if shown(&layer) => self.out.send(serde_json::json!({
                "status": "Pushing", "progressDetail": {"current": current, "total": total},
                "progress": bar(current, total), "id": layer.short()})),
            ProgressEvent::LayerDone { layer } if shown(&layer) => self.out.send(serde_json::json!({"status": "Pushed", "progressDetail": {}, "id": layer.short()})),
            ProgressEvent::LayerMounted { layer, from } if shown(&layer) => self.out.send(serde_json::json!({"status": format!("Mounted from {from}"), "progressDetail": {}, "id": layer.short()})),
            _ => {}
        }
    }
}

/// `POST /images/{name}/push?tag=…`: push to the image's registry, streaming progress.
///
/// Credentials come from `X-Registry-Auth` (the client's login), as docker's daemon takes them.
pub async fn push(
    e: Arc<Engine>,
    name: String,
    q: Query,
    headers: &hyper::HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let auth = registry_auth(headers)?;
    let reference = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name.clone(),
    };
    let r =
        image::Reference::parse(&reference).map_err(|err| ApiError::invalid(err.to_string()))?;
    let e2 = e.clone();
    let full = r.to_string();
    let info = blocking(move || e2.images.inspect(&full).map_err(image_err))
        .await
        .map_err(|err| match err.kind() {
            Kind::NotFound => ApiError::not_found(format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            )),
            _ => err,
        })?;
    if info.record.is_untagged() || info.record.name != r.to_string() {
        return Err(ApiError::not_found(format!(
            "An image does not exist locally with the tag: {}",
            r.familiar_name()
        )));
    }
    let layers: Vec<image::Digest> = info
        .manifest
        .layers()
        .iter()
        .filter_map(|l| image::manifest::digest_of(l).ok())
        .collect();
    let (tx, body) = stream::channel();
    tokio::spawn(async move {
        let progress = Arc::new(PushProgress {
            out: JsonProgress {
                tx: tx.clone(),
                done: Mutex::new(None),
                first: Mutex::new(None),
            },
            layers: layers.clone(),
        });
        progress.out.send(
            serde_json::json!({"status": format!("The push refers to repository [{}]", r.name())}),
        );
        for l in &layers {
            progress.out.send(
                serde_json::json!({"status": "Preparing", "progressDetail": {}, "id": l.short()}),
            );
        }
        let opts = image::PushOptions {
            auth,
            ..Default::default()
        };
        match e.images.push(&r.to_string(), &opts, progress.clone()).await {
            Ok(digest) => {
                let size = e.images.content().size(&digest).unwrap_or(0);
                let tag = r.tag().unwrap_or("latest").to_string();
                progress.out.send(
                    serde_json::json!({"status": format!("{tag}: digest: {digest} size: {size}")}),
                );
                progress.out.send(serde_json::json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest.to_string(), "Size": size}}));
            }
            Err(err) => {
                let msg = err.to_string();
                progress
                    .out
                    .send(serde_json::json!({"errorDetail": {"message": msg}, "error": msg}));
            }
        }
    });
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(body)
        .expect("valid"))
}

/// A `Write` into a streamed body, from a blocking thread: buffers, then `blocking_send`s
/// chunks. The first chunk (or the end) answers `started`, so an error before any output can
/// still become an HTTP error status.
struct ChannelWriter {
    tx: Sender<Bytes>,
    buf: Vec<u8>,
    started: Option<tokio::sync::oneshot::Sender<Result<(), ApiError>>>,
}

const CHUNK: usize = 256 << 10;

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if let Some(s) = self.started.take() {
            let _ = s.send(Ok(()));
        }
        let data = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(data)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// `GET /images/get?names=…` and `GET /images/{name}/get`: `docker save`, a streamed tar.
pub async fn save(e: Arc<Engine>, names: Vec<String>) -> Result<Response<Body>, ApiError> {
    let names: Vec<String> = names.into_iter().filter(|n| !n.is_empty()).collect();
    if names.is_empty() {
        return Err(ApiError::invalid("no images to save"));
    }
    let (tx, body) = stream::channel();
    let (started_tx, started) = tokio::sync::oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
            started: Some(started_tx),
        };
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let res = e
            .images
            .save(&refs, &mut w, image::archive::SaveFormat::Docker)
            .map_err(|err| match err.kind() {
                image::ErrorKind::NotFound => {
                    ApiError::not_found(format!("No such image: {}", err.subject))
                }
                _ => from_image(err),
            });
        let res = res.and_then(|()| {
            std::io::Write::flush(&mut w)
                .map_err(|err| ApiError::new(Kind::Internal, format!("save: {err}")))
        });
        if let Some(s) = w.started.take() {
            let _ = s.send(res);
        }
        // An error after the first chunk: the tar is cut short and the client sees it fail.
    });
    match started.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return Err(err),
        Err(_) => return Err(ApiError::new(Kind::Internal, "save: task failed")),
    }
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/x-tar")
        .body(body)
        .expect("valid"))
}

/// `POST /images/load`: a docker-archive or OCI layout tar in the body → images, reported as
/// `{"stream":"Loaded image: …\n"}` lines.
pub async fn load(
    e: Arc<Engine>,
    _q: Query,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<Response<Body>, ApiError> {
    use tokio::io::AsyncWriteExt;
    let tmp = tempfile_in(&e.roots.data)?;
    let res = async {
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|err| ApiError::new(Kind::Internal, format!("load: {err}")))?;
        let mut body = req.into_body();
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|err| ApiError::invalid(format!("load: read body: {err}")))?;
            if let Some(data) = frame.data_ref() {
                file.write_all(data)
                    .await
                    .map_err(|err| ApiError::new(Kind::Internal, format!("load: {err}")))?;
            }
        }
        file.flush()
            .await
            .map_err(|err| ApiError::new(Kind::Internal, format!("load: {err}")))?;
        drop(file);
        let t2 = tmp.clone();
        tokio::task::spawn_blocking(move || {
            let f = std::fs::File::open(&t2)
                .map_err(|err| ApiError::new(Kind::Internal, format!("load: {err}")))?;
            e.images.load(std::io::BufReader::new(f)).map_err(|err| {
                // A random file's bytes can end up in a tar parser's message: keep it readable.
                let a = from_image(err);
                let msg: String = a
                    .message()
                    .chars()
                    .map(|c| {
                        if c.is_control() || c == '\u{fffd}' {
                            '?'
                        } else {
                            c
                        }
                    })
                    .collect();
                ApiError::new(a.kind(), msg)
            })
        })
        .await
        .map_err(|err| ApiError::new(Kind::Internal, err.to_string()))?
    }
    .await;
    let _ = tokio::fs::remove_file(&tmp).await;
    let loaded = res?;
    let mut out = String::new();
    for l in loaded {
        let line = if l.starts_with("sha256:") {
            format!("Loaded image ID: {l}\n")
        } else {
            format!("Loaded image: {l}\n")
        };
        out.push_str(&serde_json::json!({ "stream": line }).to_string());
        out.push('\n');
    }
    Ok(crate::server::full(
        200,
        "application/json",
        Bytes::from(out),
    ))
}

/// `POST /images/prune?filters=…`: `dangling=false` (docker's `-a`), `until`, `label`,
/// `label!`. Images a container uses stay.
pub async fn prune(e: Arc<Engine>, q: Query) -> Result<Response<Body>, ApiError> {
    let filters = parse_filters(&q, &["dangling", "until", "label", "label!"])?;
    let opts = image::gc::PruneOptions {
        all: dangling_filter(&filters)? == Some(false),
        until: match filters.get("until").and_then(|v| v.first()) {
            Some(u) => Some(parse_until(u)?),
            None => None,
        },
        labels: label_filters(&filters),
    };
    let report = blocking(move || {
        let in_use: Vec<image::Digest> = e
            .store
            .list()
            .iter()
            .filter_map(|c| c.image.parse().ok())
            .collect();
        e.images.prune(&opts, &in_use).map_err(image_err)
    })
    .await?;
    let deleted: Vec<serde_json::Value> = report
        .removed
        .iter()
        .map(|p| match p {
            image::gc::Pruned::Untagged(n) => serde_json::json!({"Untagged": familiar(n)}),
            image::gc::Pruned::Deleted(d) => serde_json::json!({"Deleted": d.to_string()}),
        })
        .collect();
    Ok(json(
        200,
        &serde_json::json!({
            "ImagesDeleted": if deleted.is_empty() { serde_json::Value::Null } else { deleted.into() },
            "SpaceReclaimed": report.space_reclaimed,
        }),
    ))
}

/// `GET /images/{name}/history`.
pub async fn history(e: Arc<Engine>, name: String) -> Result<Response<Body>, ApiError> {
    let n = name.clone();
    let h = tokio::task::spawn_blocking(move || e.images.history(&n))
        .await
        .map_err(|err| ApiError::new(Kind::Internal, err.to_string()))?
        .map_err(|err| match err.kind() {
            image::ErrorKind::NotFound => ApiError::not_found(format!("No such image: {name}")),
            _ => from_image(err),
        })?;
    let out: Vec<serde_json::Value> = h
        .iter()
        .map(|s| {
            serde_json::json!({
                "Id": s.id, "Created": s.created, "CreatedBy": s.created_by,
                "Tags": s.tags, "Size": s.size, "Comment": s.comment,
            })
        })
        .collect();
    Ok(json(200, &out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn until_values_and_reference_patterns() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert_eq!(parse_until("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(parse_until("1700000000.5").unwrap(), 1_700_000_000);
        assert_eq!(parse_until("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000);
        assert!((parse_until("1h").unwrap() - (now - 3600)).abs() <= 2);
        assert!((parse_until("2h30m").unwrap() - (now - 9000)).abs() <= 2);
        for bad in ["soon", "h", "10x", "1h5"] {
            assert!(parse_until(bad).is_err(), "{bad}");
        }
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busybox:lat*", "busybox:latest"));
        assert!(reference_matches("tug/*", "tug/bb:v1"));
        assert!(!reference_matches("*", "tug/bb:v1"));
        assert!(!reference_matches("busy", "busybox:latest"));
        let q = Query::parse(Some(
            "filters=%7B%22dangling%22%3A%7B%22true%22%3Atrue%7D%7D",
        ));
        let f = parse_filters(&q, &["dangling"]).unwrap();
        assert_eq!(dangling_filter(&f).unwrap(), Some(true));
        let q = Query::parse(Some("filters=%7B%22nope%22%3A%5B%22x%22%5D%7D"));
        let e = parse_filters(&q, &["dangling"]).unwrap_err();
        assert_eq!(e.message(), "invalid filter 'nope'");
    }

    #[test]
    fn channel_writer_buffers_and_reports_start() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let (s, mut started) = tokio::sync::oneshot::channel();
        let mut w = ChannelWriter {
            tx,
            buf: Vec::new(),
            started: Some(s),
        };
        w.write_all(b"small").unwrap();
        assert!(rx.try_recv().is_err());
        assert!(started.try_recv().is_err());
        w.write_all(&vec![7u8; CHUNK]).unwrap();
        assert_eq!(rx.try_recv().unwrap().len(), CHUNK + 5);
        assert!(started.try_recv().unwrap().is_ok());
        w.write_all(b"tail").unwrap();
        w.flush().unwrap();
        assert_eq!(&rx.try_recv().unwrap()[..], b"tail");
        drop(rx);
        w.write_all(b"x").unwrap();
        assert!(w.flush().is_err());
    }
}
