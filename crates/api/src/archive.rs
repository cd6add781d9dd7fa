//! `/containers/{id}/archive` (HEAD/GET/PUT, what `docker cp` uses), `/containers/{id}/export`
//! and `/containers/{id}/changes`: Docker's headers and streams around the engine's copies.

use crate::containers::{blocking, from_engine};
use crate::error::{ApiError, Kind};
use crate::query::Query;
use crate::server::{full, json, Body};
use crate::stream;
use bytes::Bytes;
use engine::archive::PathStat;
use engine::engine::Engine;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::io::Write;
use std::sync::Arc;
use tokio::sync::mpsc;

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn stat_header(s: &PathStat) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(s).expect("stats serialize"))
}

fn path_param(q: &Query) -> Result<String, ApiError> {
    match q.get("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::invalid("path cannot be empty")),
    }
}

/// Writes into a streamed response body.
struct ChannelWriter(mpsc::Sender<Bytes>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub async fn head(e: Arc<Engine>, id: String, q: Query) -> Result<Response<Body>, ApiError> {
    let path = path_param(&q)?;
    let stat = blocking(move || e.archive_stat(&id, &path)).await?;
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .header(STAT_HEADER, stat_header(&stat))
        .body(full(200, "", Bytes::new()).into_body())
        .expect("valid response"))
}

pub async fn get(e: Arc<Engine>, id: String, q: Query) -> Result<Response<Body>, ApiError> {
    let path = path_param(&q)?;
    let (tx, body) = stream::channel();
    let (stat_tx, stat_rx) = tokio::sync::oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter(tx);
        e.archive_get(&id, &path, |s| drop(stat_tx.send(s)), &mut out);
    });
    let stat = stat_rx
        .await
        .map_err(|_| ApiError::new(Kind::Internal, "archive worker ended early"))?
        .map_err(from_engine)?;
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/x-tar")
        .header(STAT_HEADER, stat_header(&stat))
        .body(body)
        .expect("valid response"))
}

pub async fn put(
    e: Arc<Engine>,
    id: String,
    q: Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let path = path_param(&q)?;
    let no_overwrite = q.flag("noOverwriteDirNonDir");
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let mut incoming = req.into_body();
    let feeder = tokio::spawn(async move {
        while let Some(frame) = incoming.frame().await {
            let Ok(frame) = frame else { break };
            if let Ok(data) = frame.into_data() {
                if tx.send(data).await.is_err() {
                    break;
                }
            }
        }
    });
    let r = blocking(move || {
        let mut reader = crate::stream::ChannelReader::new(rx);
        let r = e.archive_put(&id, &path, &mut reader, no_overwrite);
        // Drain what is left so the client can finish sending.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        r
    })
    .await;
    let _ = feeder.await;
    r?;
    Ok(full(200, "text/plain", Bytes::new()))
}

pub async fn export(e: Arc<Engine>, id: String) -> Result<Response<Body>, ApiError> {
    // A missing container is a 404 before the stream starts.
    {
        let (e, id) = (e.clone(), id.clone());
        blocking(move || Ok(e.store.get(&id)?)).await?;
    }
    let (tx, body) = stream::channel();
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter(tx);
        let _ = e.export(&id, &mut out);
    });
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/x-tar")
        .body(body)
        .expect("valid response"))
}

pub async fn changes(e: Arc<Engine>, id: String) -> Result<Response<Body>, ApiError> {
    let list = blocking(move || e.changes(&id)).await?;
    Ok(json(200, &list))
}
