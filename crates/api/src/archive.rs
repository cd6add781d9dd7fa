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
use std::io::{Read, Write};
use std::sync::Arc;
use tokio::sync::mpsc;

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn stat_header(s: &PathStat) -> String {
    base64(&serde_json::to_vec(s).expect("stats serialize"))
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

/// Reads a request body from a blocking thread.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
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
        let mut reader = ChannelReader {
            rx,
            cur: Bytes::new(),
        };
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

#[cfg(test)]
mod tests {
    #[test]
    fn base64_pads_like_the_standard() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"{\"name\":\"x\"}"), "eyJuYW1lIjoieCJ9");
    }
}
