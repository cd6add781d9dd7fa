//! `/containers/{id}/pause|unpause|rename|top|stats` and `/exec/*`.

use crate::containers::{blocking, read_json};
use crate::error::{ApiError, Kind};
use crate::query::Query;
use crate::server::{json, Body};
use crate::stream;
use bytes::Bytes;
use engine::container::Container;
use engine::engine::Engine;
use engine::ops::{host_memory, online_cpus, StatsSample};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn empty(status: u16) -> Response<Body> {
    crate::server::full(status, "text/plain", Bytes::new())
}

pub async fn pause(e: Arc<Engine>, id: String) -> Result<Response<Body>, ApiError> {
    blocking(move || e.pause(&id)).await?;
    Ok(empty(204))
}

pub async fn unpause(e: Arc<Engine>, id: String) -> Result<Response<Body>, ApiError> {
    blocking(move || e.unpause(&id)).await?;
    Ok(empty(204))
}

pub async fn rename(e: Arc<Engine>, id: String, q: Query) -> Result<Response<Body>, ApiError> {
    let name = q.get("name").unwrap_or_default().to_string();
    blocking(move || e.rename(&id, &name)).await?;
    Ok(empty(204))
}

pub async fn top(e: Arc<Engine>, id: String, q: Query) -> Result<Response<Body>, ApiError> {
    let args = q.get("ps_args").unwrap_or_default().to_string();
    let (titles, procs) = blocking(move || e.top(&id, &args)).await?;
    Ok(json(
        200,
        &serde_json::json!({"Titles": titles, "Processes": procs}),
    ))
}

const ZERO: &str = "0001-01-01T00:00:00Z";

fn cpu_json(s: Option<&StatsSample>) -> serde_json::Value {
    let Some(s) = s else {
        return serde_json::json!({
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
        });
    };
    let c = &s.stats.cpu;
    let mut usage = serde_json::json!({
        "total_usage": c.usage.total,
        "usage_in_kernelmode": c.usage.kernel,
        "usage_in_usermode": c.usage.user,
    });
    if !c.usage.percpu.is_empty() {
        usage["percpu_usage"] = serde_json::json!(c.usage.percpu);
    }
    serde_json::json!({
        "cpu_usage": usage,
        "system_cpu_usage": s.system_cpu,
        "online_cpus": online_cpus(),
        "throttling_data": {
            "periods": c.throttling.periods,
            "throttled_periods": c.throttling.throttled_periods,
            "throttled_time": c.throttling.throttled_time,
        }
    })
}

/// Docker's stats object from a reading and the one before it.
fn stats_json(
    c: &Container,
    cur: Option<&StatsSample>,
    pre: Option<&StatsSample>,
) -> serde_json::Value {
    let Some(s) = cur else {
        return serde_json::json!({
            "name": c.name, "id": c.id, "read": ZERO, "preread": ZERO,
            "pids_stats": {}, "blkio_stats": {
                "io_service_bytes_recursive": null, "io_serviced_recursive": null,
                "io_queue_recursive": null, "io_service_time_recursive": null,
                "io_wait_time_recursive": null, "io_merged_recursive": null,
                "io_time_recursive": null, "sectors_recursive": null
            },
            "num_procs": 0, "storage_stats": {},
            "cpu_stats": cpu_json(None), "precpu_stats": cpu_json(None), "memory_stats": {},
        });
    };
    let m = &s.stats.memory;
    let host = host_memory();
    let limit = match m.usage.limit {
        0 => host,
        l if l >= host && host > 0 => host,
        l => l,
    };
    let blk = |v: &[runtime::cgroups::BlkioEntry]| -> serde_json::Value {
        if v.is_empty() {
            return serde_json::Value::Null;
        }
        v.iter()
            .map(|b| serde_json::json!({"major": b.major, "minor": b.minor, "op": b.op, "value": b.value}))
            .collect()
    };
    let mut pids = serde_json::json!({"current": s.stats.pids.current});
    if s.stats.pids.limit > 0 {
        pids["limit"] = serde_json::json!(s.stats.pids.limit);
    }
    serde_json::json!({
        "name": c.name,
        "id": c.id,
        "read": s.read,
        "preread": pre.map_or(ZERO, |p| p.read.as_str()),
        "pids_stats": pids,
        "blkio_stats": {
            "io_service_bytes_recursive": blk(&s.stats.blkio.io_service_bytes_recursive),
            "io_serviced_recursive": blk(&s.stats.blkio.io_serviced_recursive),
            "io_queue_recursive": null, "io_service_time_recursive": null,
            "io_wait_time_recursive": null, "io_merged_recursive": null,
            "io_time_recursive": null, "sectors_recursive": null
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(Some(s)),
        "precpu_stats": cpu_json(pre),
        "memory_stats": {
            "usage": m.usage.usage,
            "max_usage": m.usage.max,
            "limit": limit,
            "failcnt": m.usage.failcnt,
            "stats": m.raw,
        },
    })
}

/// `GET /containers/{id}/stats`: one object (`stream=0`), or one a second until the client goes.
pub async fn stats(e: Arc<Engine>, id: String, q: Query) -> Result<Response<Body>, ApiError> {
    let streaming = q
        .get("stream")
        .is_none_or(|v| q.flag("stream") || v.is_empty());
    let one_shot = q.flag("one-shot");
    let first = {
        let e = e.clone();
        let id = id.clone();
        blocking(move || e.stats(&id)).await?
    };
    if !streaming {
        let (c, cur, pre) = if one_shot || first.1.is_none() {
            (first.0, first.1, None)
        } else {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let e = e.clone();
            let (c, cur) = blocking(move || e.stats(&id)).await?;
            (c, cur, first.1)
        };
        return Ok(json(200, &stats_json(&c, cur.as_ref(), pre.as_ref())));
    }
    let (tx, body) = stream::channel();
    tokio::spawn(async move {
        let (mut c, mut cur) = first;
        let mut pre: Option<StatsSample> = None;
        loop {
            let line = stats_json(&c, cur.as_ref(), pre.as_ref()).to_string() + "\n";
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let (e2, id2) = (e.clone(), id.clone());
            match tokio::task::spawn_blocking(move || e2.stats(&id2)).await {
                Ok(Ok((c2, next))) => {
                    c = c2;
                    pre = cur;
                    cur = next;
                }
                _ => return,
            }
        }
    });
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(body)
        .expect("valid"))
}

// ---- exec ----

pub async fn exec_create(
    e: Arc<Engine>,
    id: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body = read_json(req).await?;
    let eid = blocking(move || e.exec_create(&id, &body)).await?;
    Ok(json(201, &serde_json::json!({"Id": eid})))
}

pub async fn exec_inspect(e: Arc<Engine>, id: String) -> Result<Response<Body>, ApiError> {
    let r = blocking(move || e.exec_get(&id)).await?;
    Ok(json(200, &r.to_docker()))
}

pub async fn exec_resize(e: Arc<Engine>, id: String, q: Query) -> Result<Response<Body>, ApiError> {
    let h = q.int("h").unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    let w = q.int("w").unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    blocking(move || e.exec_resize(&id, h, w)).await?;
    Ok(empty(200))
}

/// The runner is still there (and not a zombie).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next())
        })
        .is_some_and(|state| state != Some('Z'))
}

fn exit_code(s: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

/// `POST /exec/{id}/start`: detached, or hijacked like attach with the process's stdio.
pub async fn exec_start(
    e: Arc<Engine>,
    id: String,
    version: (u32, u32),
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let on_upgrade = hyper::upgrade::on(&mut req);
    let conn = req.extensions().get::<crate::server::ConnFd>().copied();
    let body = read_json(req).await?;
    let detach = body["Detach"].as_bool().unwrap_or(false);
    let tty = body["Tty"].as_bool();
    let (rec, cmd, console) = {
        let e = e.clone();
        let id = id.clone();
        blocking(move || e.exec_command(&id, tty)).await?
    };
    let mut cmd = tokio::process::Command::from(cmd);
    if detach {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    } else {
        cmd.stdin(if rec.attach_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(err) => {
            e.exec_finished(&id, 126);
            return Err(ApiError::new(Kind::Internal, format!("exec: {err}")));
        }
    };
    let pid = child.id().unwrap_or(0) as i32;
    e.exec_spawned(&id, pid);
    let master = match console {
        None => None,
        Some(l) => {
            let (e2, id2) = (e.clone(), id.clone());
            match blocking(move || e2.exec_console(&id2, l, move || alive(pid))).await {
                Ok(m) => Some(m),
                Err(err) => {
                    let mut msg = String::new();
                    if let Some(mut se) = child.stderr.take() {
                        let _ = se.read_to_string(&mut msg).await;
                    }
                    let code = child.wait().await.map_or(255, exit_code);
                    e.exec_finished(&id, code);
                    let msg = msg.trim();
                    return Err(if msg.is_empty() {
                        err
                    } else {
                        ApiError::new(Kind::Internal, msg.to_string())
                    });
                }
            }
        }
    };
    if detach {
        tokio::spawn(async move {
            let code = child.wait().await.map_or(255, exit_code);
            e.exec_finished(&id, code);
        });
        return Ok(empty(200));
    }
    let tty = rec.tty;
    tokio::spawn(async move {
        let up = on_upgrade.await.ok();
        let Some(up) = up else {
            let code = child.wait().await.map_or(255, exit_code);
            e.exec_finished(&id, code);
            return;
        };
        if let Some(conn) = conn {
            conn.drained(std::time::Duration::from_secs(2)).await;
        }
        let (mut cr, mut cw) = tokio::io::split(TokioIo::new(up));
        let stdin = child.stdin.take();
        let master_files = master.as_ref().and_then(|m| {
            let r = m.try_clone().ok()?;
            let w = m.try_clone().ok()?;
            Some((
                tokio::fs::File::from_std(std::fs::File::from(r)),
                tokio::fs::File::from_std(std::fs::File::from(w)),
            ))
        });
        drop(master);
        let (master_r, master_w) = match master_files {
            Some((r, w)) => (Some(r), Some(w)),
            None => (None, None),
        };
        let stdin_wanted = rec.attach_stdin;
        let to_child = tokio::spawn(async move {
            if let (Some(mut w), true) = (master_w, stdin_wanted) {
                let _ = tokio::io::copy(&mut cr, &mut w).await;
                return;
            }
            match stdin {
                Some(mut w) => {
                    let _ = tokio::io::copy(&mut cr, &mut w).await;
                    let _ = w.shutdown().await;
                }
                None => {
                    let mut sink = [0u8; 1024];
                    while matches!(cr.read(&mut sink).await, Ok(n) if n > 0) {}
                }
            }
        });
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        fn reader<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
            r: Option<R>,
            tx: tokio::sync::mpsc::Sender<Bytes>,
            stream_no: u8,
            tty: bool,
        ) {
            let Some(mut r) = r else { return };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match r.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            let b = if tty {
                                Bytes::copy_from_slice(&buf[..n])
                            } else {
                                stream::frame(stream_no, &buf[..n])
                            };
                            if tx.send(b).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
        reader(master_r, tx.clone(), 1, tty);
        reader(child.stdout.take(), tx.clone(), 1, tty);
        reader(child.stderr.take(), tx, 2, tty);
        let mut client_ok = true;
        while let Some(b) = rx.recv().await {
            if client_ok && cw.write_all(&b).await.is_err() {
                client_ok = false;
            }
        }
        let code = child.wait().await.map_or(255, exit_code);
        e.exec_finished(&id, code);
        let _ = cw.flush().await;
        let _ = cw.shutdown().await;
        to_child.abort();
    });
    Ok(Response::builder()
        .status(101)
        .header("Connection", "Upgrade")
        .header("Upgrade", "tcp")
        .header("Content-Type", stream::content_type(version, tty))
        .body(crate::server::full(200, "", Bytes::new()).into_body())
        .expect("valid"))
}
