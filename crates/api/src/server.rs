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
        tokio::spawn(serve_conn(stream, backends.clone()));
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
                serve_conn(tls, b).await;
            }
        });
    }
}

async fn serve_conn<S>(stream: S, b: Arc<Backends>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| router::route(req, b.clone()));
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
