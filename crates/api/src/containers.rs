//! `/containers/*`: create, start, wait, attach, logs, stop, kill, restart, remove, list,
//! inspect — Docker's shapes around the engine's operations.

use crate::error::{ApiError, Kind};
use crate::query::Query;
use crate::server::{json, Body};
use crate::stream;
use bytes::Bytes;
use engine::container::{Container, Status};
use engine::engine::{Engine, EngineError, WaitCondition};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

pub fn from_engine(e: EngineError) -> ApiError {
    use engine::engine::Kind as K;
    let kind = match e.kind {
        K::Invalid => Kind::Invalid,
        K::NotFound => Kind::NotFound,
        K::Conflict => Kind::Conflict,
        K::Internal => Kind::Internal,
    };
    ApiError::new(kind, e.message)
}

/// Run a blocking engine call off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(Kind::Internal, e.to_string()))?
        .map_err(from_engine)
}

fn empty(status: u16) -> Response<Body> {
    crate::server::full(status, "text/plain", Bytes::new())
}

pub async fn read_json(req: Request<Incoming>) -> Result<serde_json::Value, ApiError> {
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(|e| ApiError::invalid(format!("read request body: {e}")))?
        .to_bytes();
    if body.is_empty() {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("invalid JSON in request body: {e}")))
}

pub async fn create(
    e: Arc<Engine>,
    q: Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body = read_json(req).await?;
    let name = q.get("name").map(String::from);
    let c = blocking(move || e.create(name.as_deref(), &body)).await?;
    Ok(json(201, &serde_json::json!({"Id": c.id, "Warnings": []})))
}

pub async fn start(e: Arc<Engine>, id: String) -> Result<Response<Body>, ApiError> {
    let running = {
        let e = e.clone();
        let id = id.clone();
        blocking(move || Ok(e.store.get(&id)?.state.running())).await?
    };
    if running {
        return Ok(empty(304));
    }
    blocking(move || e.start(&id)).await?;
    Ok(empty(204))
}

pub async fn wait(e: Arc<Engine>, id: String, q: Query) -> Result<Response<Body>, ApiError> {
    let condition = match q.get("condition").unwrap_or("not-running") {
        "not-running" | "" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => return Err(ApiError::invalid(format!("invalid condition: \"{other}\""))),
    };
    // Look the container up now, so a missing one is a 404 and the baseline is taken before
    // the headers go out (clients start the container only once they have them).
    let baseline = {
        let e = e.clone();
        let id = id.clone();
        blocking(move || Ok(e.store.get(&id)?)).await?
    };
    let (tx, body) = stream::channel();
    tokio::task::spawn_blocking(move || {
        let code = e.wait_from(&baseline, condition);
        let line = serde_json::json!({"StatusCode": code, "Error": null}).to_string() + "\n";
        let _ = tx.blocking_send(Bytes::from(line));
    });
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(body)
        .expect("valid"))
}

pub async fn stop(e: Arc<Engine>, id: String, q: Query) -> Result<Response<Body>, ApiError> {
    let t = q.int("t").or_else(|| q.int("timeout"));
    let stopped = blocking(move || e.stop(&id, t)).await?;
    Ok(empty(if stopped { 204 } else { 304 }))
}

pub async fn restart(e: Arc<Engine>, id: String, q: Query) -> Result<Response<Body>, ApiError> {
    let t = q.int("t").or_else(|| q.int("timeout"));
    blocking(move || e.restart(&id, t)).await?;
    Ok(empty(204))
}

pub async fn kill(e: Arc<Engine>, id: String, q: Query) -> Result<Response<Body>, ApiError> {
    let signal = q.get("signal").unwrap_or("SIGKILL").to_string();
    blocking(move || e.kill(&id, &signal)).await?;
    Ok(empty(204))
}

pub async fn remove(e: Arc<Engine>, id: String, q: Query) -> Result<Response<Body>, ApiError> {
    let force = q.flag("force");
    let volumes = q.flag("v");
    blocking(move || e.remove_with_volumes(&id, force, volumes)).await?;
    Ok(empty(204))
}

pub async fn inspect(e: Arc<Engine>, id: String) -> Result<Response<Body>, ApiError> {
    let (c, execs, net, paths) = blocking(move || {
        let c = e.store.get(&id)?;
        let execs = e.exec_ids(&c.id);
        let net = crate::networks::settings(&e, &c);
        let paths = crate::networks::etc_paths(&e, &c);
        Ok((c, execs, net, paths))
    })
    .await?;
    let mut v = inspect_json(&c);
    v["NetworkSettings"] = net;
    for (k, p) in paths.as_object().into_iter().flatten() {
        v[k] = p.clone();
    }
    if !execs.is_empty() {
        v["ExecIDs"] = serde_json::json!(execs);
    }
    Ok(json(200, &v))
}

pub async fn list(e: Arc<Engine>, q: Query) -> Result<Response<Body>, ApiError> {
    let filters: serde_json::Value = match q.get("filters").filter(|f| !f.is_empty()) {
        Some(f) => serde_json::from_str(f)
            .map_err(|err| ApiError::invalid(format!("invalid filter: {err}")))?,
        None => serde_json::Value::Null,
    };
    check_filters(&filters)?;
    let limit = q.int("limit").filter(|l| *l > 0);
    // As Docker: a limit, or a filter on states, lists stopped containers too.
    let all = q.flag("all")
        || limit.is_some()
        || !filter_values(&filters, "status").is_empty()
        || !filter_values(&filters, "exited").is_empty();
    let size = q.flag("size");
    let out = blocking(move || {
        let mut list = e.store.list();
        list.sort_by(|a, b| b.created.cmp(&a.created));
        // `before`/`since` name containers: resolve them to creation times first.
        let bound = |key: &str| -> Result<Option<String>, EngineError> {
            match filter_values(&filters, key).first() {
                Some(k) => Ok(Some(e.store.get(k)?.created)),
                None => Ok(None),
            }
        };
        let before = bound("before")?;
        let since = bound("since")?;
        let mut out = Vec::new();
        for c in list.iter().filter(|c| all || c.state.running()) {
            if before.as_ref().is_some_and(|b| c.created >= *b)
                || since.as_ref().is_some_and(|s| c.created <= *s)
                || !matches_filters(c, &filters)
            {
                continue;
            }
            let mut v = list_json(c);
            v["Ports"] = crate::networks::list_ports(&e, c);
            if size {
                let rw = dir_size(&e.store.container_dir(&c.id).join("rootfs").join("upper"));
                let image = e.images.inspect(&c.image).map(|i| i.size).unwrap_or(0);
                v["SizeRw"] = serde_json::json!(rw);
                v["SizeRootFs"] = serde_json::json!(rw + image);
            }
            out.push(v);
            if limit.is_some_and(|l| out.len() as i64 >= l) {
                break;
            }
        }
        Ok(out)
    })
    .await?;
    Ok(json(200, &out))
}

/// Bytes used by the files under `dir` (not following symlinks).
fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for ent in rd.flatten() {
            let Ok(md) = ent.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                stack.push(ent.path());
            } else {
                total += md.len();
            }
        }
    }
    total
}

/// Values of one filter key, in both forms clients send (`["a"]` or `{"a": true}`).
fn filter_values(filters: &serde_json::Value, key: &str) -> Vec<String> {
    match &filters[key] {
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        serde_json::Value::Object(o) => o.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

const FILTERS: [&str; 15] = [
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];
const STATES: [&str; 7] = [
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// Docker's 400s for filters it does not know or values it cannot use.
fn check_filters(filters: &serde_json::Value) -> Result<(), ApiError> {
    let Some(map) = filters.as_object() else {
        return Ok(());
    };
    for key in map.keys() {
        if !FILTERS.contains(&key.as_str()) {
            return Err(ApiError::invalid(format!("invalid filter '{key}'")));
        }
    }
    for v in filter_values(filters, "status") {
        if !STATES.contains(&v.as_str()) {
            return Err(ApiError::invalid(format!("invalid filter 'status={v}'")));
        }
    }
    for v in filter_values(filters, "exited") {
        if v.parse::<i32>().is_err() {
            return Err(ApiError::invalid(format!("invalid filter 'exited={v}'")));
        }
    }
    for v in filter_values(filters, "health") {
        if !matches!(v.as_str(), "starting" | "healthy" | "unhealthy" | "none") {
            return Err(ApiError::invalid(format!(
                "Unrecognised filter value for health: {v}"
            )));
        }
    }
    Ok(())
}

/// Docker matches names with a regular expression; tug takes the common forms: a
/// substring, optionally anchored with `^` and/or `$`.
fn name_matches(pattern: &str, name: &str) -> bool {
    let (start, p) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (end, p) = match p.strip_suffix('$') {
        Some(p) => (true, p),
        None => (false, p),
    };
    let with_slash = format!("/{}", name.trim_start_matches('/'));
    [with_slash.as_str(), name.trim_start_matches('/')]
        .iter()
        .any(|n| match (start, end) {
            (true, true) => *n == p,
            (true, false) => n.starts_with(p),
            (false, true) => n.ends_with(p),
            (false, false) => n.contains(p),
        })
}

/// `80`, `80/tcp`, `8000-8001/udp` against a `port/proto` key.
fn port_matches(filter: &str, key: &str) -> bool {
    let (ports, proto) = filter.split_once('/').unwrap_or((filter, "tcp"));
    let (kp, kproto) = key.split_once('/').unwrap_or((key, "tcp"));
    let Ok(kp) = kp.parse::<u32>() else {
        return false;
    };
    let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
    match (a.parse::<u32>(), b.parse::<u32>()) {
        (Ok(a), Ok(b)) => proto == kproto && (a..=b).contains(&kp),
        _ => false,
    }
}

fn matches_filters(c: &Container, filters: &serde_json::Value) -> bool {
    let labels = &c.config["Labels"];
    let label_ok = filter_values(filters, "label")
        .iter()
        .all(|l| match l.split_once('=') {
            Some((k, v)) => labels[k].as_str() == Some(v),
            None => !labels[l.as_str()].is_null(),
        });
    let any = |key: &str, f: &dyn Fn(&str) -> bool| {
        let vals = filter_values(filters, key);
        vals.is_empty() || vals.iter().any(|v| f(v))
    };
    let state = c.state.to_docker();
    let health = state["Health"]["Status"].as_str().unwrap_or("none");
    let network = match c.host_config["NetworkMode"].as_str().unwrap_or("default") {
        "default" | "" => "bridge",
        n => n,
    };
    let mounts: Vec<serde_json::Value> = c.mounts.iter().map(|m| m.to_docker()).collect();
    let exposed: Vec<String> = c.config["ExposedPorts"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let published: Vec<String> = c.host_config["PortBindings"]
        .as_object()
        .map(|m| {
            m.values()
                .flat_map(|b| b.as_array().cloned().unwrap_or_default())
                .filter_map(|b| {
                    b["HostPort"]
                        .as_str()
                        .filter(|p| !p.is_empty())
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default();
    label_ok
        && any("name", &|v| name_matches(v, &c.name))
        && any("id", &|v| c.id.starts_with(v))
        && any("status", &|v| v == c.state.status.as_str())
        && any("exited", &|v| {
            c.state.status == Status::Exited && v.parse::<i32>().ok() == Some(c.state.exit_code)
        })
        && any("health", &|v| v == health)
        && any("ancestor", &|v| {
            c.image_name == v
                || c.image_name == format!("{v}:latest")
                || c.image.contains(v.trim_start_matches("sha256:"))
        })
        && any("network", &|v| v == network)
        && any("volume", &|v| {
            mounts
                .iter()
                .any(|m| m["Name"] == v || m["Source"] == v || m["Destination"] == v)
        })
        && any("expose", &|v| exposed.iter().any(|k| port_matches(v, k)))
        && any("publish", &|v| {
            published
                .iter()
                .any(|p| port_matches(v, &format!("{p}/tcp")) || v.split('/').next() == Some(p))
        })
        && any("is-task", &|v| v == "false")
        && any("isolation", &|v| v == "default" || v.is_empty())
}

/// `POST /containers/{id}/resize?h=&w=`.
pub async fn resize(e: Arc<Engine>, id: String, q: Query) -> Result<Response<Body>, ApiError> {
    let dim = |k: &str| -> Result<u16, ApiError> {
        match q.get(k) {
            None | Some("") => Ok(0),
            Some(v) => v
                .parse::<u16>()
                .map_err(|_| ApiError::invalid(format!("invalid resize {k}: {v:?}"))),
        }
    };
    let (h, w) = (dim("h")?, dim("w")?);
    blocking(move || e.resize(&id, h, w)).await?;
    Ok(empty(200))
}

/// `POST /containers/{id}/update`: resources and restart policy.
pub async fn update(
    e: Arc<Engine>,
    id: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body = read_json(req).await?;
    let warnings = blocking(move || e.update(&id, &body)).await?;
    Ok(json(200, &serde_json::json!({"Warnings": warnings})))
}

/// Seconds since the epoch of one of our RFC 3339 UTC stamps.
pub fn epoch(ts: &str) -> i64 {
    runtime::util::epoch_secs(ts)
}

fn human(secs: i64) -> String {
    match secs {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 172_800 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn status_text(c: &Container) -> String {
    match c.state.status {
        Status::Running => {
            let health = match c.state.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => " (health: starting)".to_string(),
                Some(s) => format!(" ({s})"),
                None => String::new(),
            };
            format!("Up {}{health}", human(now() - epoch(&c.state.started_at)))
        }
        Status::Paused => format!("Up {} (Paused)", human(now() - epoch(&c.state.started_at))),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            human(now() - epoch(&c.state.finished_at))
        ),
        Status::Created => "Created".into(),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            c.state.exit_code,
            human(now() - epoch(&c.state.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

pub(crate) fn list_json(c: &Container) -> serde_json::Value {
    serde_json::json!({
        "Id": c.id, "Names": [c.name], "Image": c.image_name, "ImageID": c.image,
        "Command": c.command(), "Created": epoch(&c.created), "Ports": [],
        "Labels": c.config["Labels"].as_object().cloned().unwrap_or_default(),
        "State": c.state.status.as_str(), "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.host_config["NetworkMode"].as_str().unwrap_or("default")},
        "NetworkSettings": {"Networks": {}},
        "Mounts": c.mounts.iter().map(|m| m.to_docker()).collect::<Vec<_>>()
    })
}

pub fn inspect_json(c: &Container) -> serde_json::Value {
    let mut v = serde_json::json!({
        "Id": c.id, "Created": c.created, "Path": c.path, "Args": c.args,
        "State": c.state.to_docker(), "Image": c.image, "ResolvConfPath": "", "HostnamePath": "",
        "HostsPath": "", "LogPath": c.log_path, "Name": c.name, "RestartCount": c.restart_count,
        "Driver": "overlay2", "Platform": "linux", "MountLabel": "", "ProcessLabel": "",
        "AppArmorProfile": "", "ExecIDs": null, "HostConfig": c.host_config,
        "GraphDriver": {"Data": null, "Name": "overlay2"},
        "Mounts": c.mounts.iter().map(|m| m.to_docker()).collect::<Vec<_>>(), "Config": c.config,
        "NetworkSettings": {"Bridge": "", "SandboxID": "", "Ports": {}, "Networks": {}}
    });
    // As Docker: a container that names no log driver reports the daemon's, json-file.
    let log = &mut v["HostConfig"]["LogConfig"];
    if log["Type"].as_str().unwrap_or_default().is_empty() {
        log["Type"] = "json-file".into();
    }
    if !log["Config"].is_object() {
        log["Config"] = serde_json::json!({});
    }
    v
}

/// `POST /containers/{id}/attach`: the connection becomes the container's stdio.
pub async fn attach(
    e: Arc<Engine>,
    id: String,
    q: Query,
    version: (u32, u32),
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let c = {
        let e = e.clone();
        let id = id.clone();
        blocking(move || Ok(e.store.get(&id)?)).await?
    };
    let (stdin, stdout, stderr) = (q.flag("stdin"), q.flag("stdout"), q.flag("stderr"));
    let logs = q.flag("logs");
    if !c.state.running() {
        e.expect_attach(&c.id);
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let conn = req.extensions().get::<crate::server::ConnFd>().copied();
    let tty = c.tty();
    tokio::spawn(async move {
        let Ok(up) = on_upgrade.await else { return };
        if let Some(conn) = conn {
            conn.drained(std::time::Duration::from_secs(2)).await;
        }
        pump(e, c.id, TokioIo::new(up), stdin, stdout, stderr, logs).await;
    });
    Ok(Response::builder()
        .status(101)
        .header("Connection", "Upgrade")
        .header("Upgrade", "tcp")
        .header("Content-Type", stream::content_type(version, tty))
        .body(crate::server::full(200, "", Bytes::new()).into_body())
        .expect("valid"))
}

async fn pump<IO>(
    e: Arc<Engine>,
    id: String,
    mut client: IO,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    logs: bool,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // Wait until the shim is there (the client usually attaches before `start`).
    let ready = {
        let e = e.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            e.wait_until(&id, Some(std::time::Duration::from_secs(60)), |c| {
                c.is_none_or(|c| {
                    c.state.status != Status::Created
                        || c.state.pid != 0
                        || !c.state.error.is_empty()
                })
            })
        })
        .await
        .unwrap_or(false)
    };
    let started = e
        .store
        .get(&id)
        .is_ok_and(|c| c.state.status != Status::Created);
    if !ready || !started {
        return;
    }
    if logs {
        // As Docker with `logs=1`: what the container already wrote, then the live stream.
        let Ok((c, path)) = e.log_path(&id) else {
            return;
        };
        let opts = crate::logs::LogOptions {
            stdout,
            stderr,
            follow: false,
            timestamps: false,
            tail: None,
            since: None,
            until: None,
            tty: c.tty(),
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        tokio::task::spawn_blocking(move || crate::logs::stream(&path, &opts, &tx, || false));
        while let Some(b) = rx.recv().await {
            if client.write_all(&b).await.is_err() {
                return;
            }
        }
    }
    let Ok(std_shim) = e.shim(&id).connect() else {
        return;
    };
    if std_shim.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(shim) = tokio::net::UnixStream::from_std(std_shim) else {
        return;
    };
    let (sr, mut sw) = shim.into_split();
    let req =
        serde_json::json!({"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr})
            .to_string()
            + "\n";
    if sw.write_all(req.as_bytes()).await.is_err() {
        return;
    }
    let mut sr = tokio::io::BufReader::new(sr);
    let mut reply = String::new();
    if sr.read_line(&mut reply).await.is_err() {
        return;
    }
    let (mut cr, mut cw) = tokio::io::split(client);
    let to_shim = tokio::spawn(async move {
        if stdin {
            let _ = tokio::io::copy(&mut cr, &mut sw).await;
        } else {
            let mut sink = [0u8; 1024];
            while matches!(cr.read(&mut sink).await, Ok(n) if n > 0) {}
        }
        let _ = sw.shutdown().await;
    });
    let _ = tokio::io::copy(&mut sr, &mut cw).await;
    let _ = cw.shutdown().await;
    to_shim.abort();
}

/// `GET /containers/{id}/logs`.
pub async fn logs(e: Arc<Engine>, id: String, q: Query) -> Result<Response<Body>, ApiError> {
    let (c, path) = {
        let e = e.clone();
        blocking(move || e.log_path(&id)).await?
    };
    let opts = crate::logs::LogOptions {
        stdout: q.flag("stdout"),
        stderr: q.flag("stderr"),
        follow: q.flag("follow"),
        timestamps: q.flag("timestamps"),
        tail: q
            .get("tail")
            .filter(|t| *t != "all")
            .and_then(|t| t.parse().ok()),
        since: q.get("since").and_then(crate::logs::parse_time),
        until: q.get("until").and_then(crate::logs::parse_time),
        tty: c.tty(),
    };
    let (tx, body) = stream::channel();
    let id = c.id.clone();
    tokio::task::spawn_blocking(move || {
        crate::logs::stream(&path, &opts, &tx, || {
            e.store.get(&id).map(|c| c.state.running()).unwrap_or(false)
        })
    });
    Ok(Response::builder().status(200).body(body).expect("valid"))
}

/// Seconds since the epoch → RFC 3339 (UTC), as Docker prints times.
pub fn epoch_secs_to_rfc3339(secs: i64) -> String {
    let full = runtime::util::rfc3339(secs, 0);
    full.split('.')
        .next()
        .map(|s| format!("{s}Z"))
        .unwrap_or(full)
}
