//! HTTP/1.1 over TCP or TLS (rustls with the ring provider, roots from the system bundle),
//! one connection per request: registry traffic is a few large transfers, not many small ones.

use super::RegistryError;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::sync::OnceLock;
use tokio::net::TcpStream;

/// A request body: in memory, or streamed.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// An empty body.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A body from bytes.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A body fed by a channel of chunks.
pub fn channel(rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>) -> Body {
    ChanBody { rx }.boxed()
}

struct ChanBody {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
}

impl hyper::body::Body for ChanBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|o| o.map(|r| r.map(hyper::body::Frame::data)))
    }
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            use rustls_pki_types::pem::PemObject;
            // $SSL_CERT_FILE (OpenSSL's convention) adds a bundle: private CAs, tests.
            if let Some(extra) = std::env::var_os("SSL_CERT_FILE") {
                if let Ok(iter) = rustls_pki_types::CertificateDer::pem_file_iter(extra) {
                    for cert in iter.flatten() {
                        let _ = roots.add(cert);
                    }
                }
            }
            for bundle in [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ] {
                if let Ok(iter) = rustls_pki_types::CertificateDer::pem_file_iter(bundle) {
                    for cert in iter.flatten() {
                        let _ = roots.add(cert);
                    }
                    break;
                }
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(cfg)
        })
        .clone()
}

/// Send one request on a fresh connection to the request's host.
pub async fn send(mut req: Request<Body>) -> Result<Response<Incoming>, RegistryError> {
    let uri = req.uri().clone();
    if let Some(a) = uri.authority() {
        if let Ok(v) = hyper::header::HeaderValue::from_str(a.as_str()) {
            req.headers_mut().entry(hyper::header::HOST).or_insert(v);
        }
    }
    let host = uri
        .host()
        .unwrap_or("")
        .trim_matches(['[', ']'])
        .to_string();
    let tls = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let unavailable = |e: &dyn std::fmt::Display| RegistryError::Unavailable {
        url: uri.to_string(),
        cause: e.to_string(),
    };
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| unavailable(&e))?;
    let _ = tcp.set_nodelay(true);
    if tls {
        let name =
            rustls_pki_types::ServerName::try_from(host.clone()).map_err(|e| unavailable(&e))?;
        let conn = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(|e| unavailable(&e))?;
        request_on(TokioIo::new(conn), req, &uri).await
    } else {
        request_on(TokioIo::new(tcp), req, &uri).await
    }
}

async fn request_on<IO>(
    io: IO,
    req: Request<Body>,
    uri: &Uri,
) -> Result<Response<Incoming>, RegistryError>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let unavailable = |e: hyper::Error| RegistryError::Unavailable {
        url: uri.to_string(),
        cause: e.to_string(),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(unavailable)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    // Origin servers get the origin form (`GET /path?q`), as HTTP/1.1 asks of clients.
    let mut req = req;
    if let Some(pq) = uri.path_and_query() {
        if let Ok(origin) = pq.as_str().parse::<Uri>() {
            *req.uri_mut() = origin;
        }
    }
    sender.send_request(req).await.map_err(unavailable)
}

/// Read a whole (small) response body, refusing more than `limit` bytes.
pub async fn read_body(resp: Response<Incoming>, limit: usize) -> Result<Bytes, RegistryError> {
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| RegistryError::Unavailable {
            url: String::new(),
            cause: e.to_string(),
        })?;
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
            if out.len() > limit {
                return Err(RegistryError::TooLarge(limit));
            }
        }
    }
    Ok(out.into())
}

/// One GET of an http:// or https:// URL from synchronous code (the builder's `ADD <url>`):
/// the status, the `Location` header, and the body (refused beyond `limit` bytes).
pub fn get_blocking(
    url: &str,
    limit: usize,
) -> Result<(u16, Option<String>, Bytes), RegistryError> {
    let uri: Uri =
        url.parse().map_err(
            |e: hyper::http::uri::InvalidUri| RegistryError::Unavailable {
                url: url.to_string(),
                cause: e.to_string(),
            },
        )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RegistryError::Unavailable {
            url: url.to_string(),
            cause: e.to_string(),
        })?;
    rt.block_on(async move {
        let req = Request::get(uri)
            .header(hyper::header::USER_AGENT, "tug-build")
            .body(empty())
            .expect("valid request");
        let resp = send(req).await?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(hyper::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body = read_body(resp, limit).await?;
        Ok((status, location, body))
    })
}
