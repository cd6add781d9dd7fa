//! The listening loop and response helpers.

use crate::router;
use crate::system::SystemBackend;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// Response bodies: whole or streamed.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// The backends each route group talks to.
pub struct Backends {
    pub system: Arc<dyn SystemBackend>,
    pub engine: Arc<engine::engine::Engine>,
}

/// Serve the API on `listener` until the listener fails.
pub async fn serve(
    listener: tokio::net::UnixListener,
    backends: Arc<Backends>,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let fd = ConnFd(std::os::fd::AsRawFd::as_raw_fd(&stream));
        tokio::spawn(serve_conn(stream, Some(fd), backends.clone()));
    }
}

/// Serve the API over TCP with TLS: each client's handshake (with its certificate, checked
/// by `acceptor`) must succeed before any request is read.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: crate::tls::Acceptor,
    backends: Arc<Backends>,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        let b = backends.clone();
        tokio::spawn(async move {
            let handshake =
                tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream));
            if let Ok(Ok(tls)) = handshake.await {
                serve_conn(tls, None, b).await;
            }
        });
    }
}

/// The descriptor of a request's unix-socket connection (a request extension), valid while
/// the connection lives.
#[derive(Clone, Copy, Debug)]
pub struct ConnFd(pub std::os::fd::RawFd);

impl ConnFd {
    /// Wait (up to `limit`) until the peer has read everything sent on the connection so far.
    /// docker-py reads an upgraded (attach) stream from the raw socket under its HTTP parser,
    /// so bytes that reach it together with the response head are lost: data goes out only
    /// once that head is read.
    pub async fn drained(self, limit: std::time::Duration) {
        let end = std::time::Instant::now() + limit;
        loop {
            let mut queued: libc::c_int = 0;
            // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int; the descriptor belongs to a live
            // connection (the caller holds its upgraded stream).
            let rc = unsafe { libc::ioctl(self.0, libc::TIOCOUTQ, &mut queued) };
            if rc != 0 || queued == 0 || std::time::Instant::now() >= end {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

async fn serve_conn<S>(stream: S, fd: Option<ConnFd>, b: Arc<Backends>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        if let Some(fd) = fd {
            req.extensions_mut().insert(fd);
        }
        router::route(req, b.clone())
    });
    let conn = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    let _ = conn.await;
}

pub fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        .body(
            Full::new(body.into())
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("valid response")
}

pub fn json(status: u16, value: &impl serde::Serialize) -> Response<Body> {
    full(
        status,
        "application/json",
        serde_json::to_vec(value).expect("serializable"),
    )
}

pub fn error(e: crate::error::ApiError) -> Response<Body> {
    e.into_response()
        .map(|b| b.map_err(|never| match never {}).boxed())
}
