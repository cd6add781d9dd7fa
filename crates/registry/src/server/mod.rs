//! The HTTP server: accepts connections (plain or TLS), authorizes each request and routes it
//! to the handler of its endpoint. Errors are answered in the spec's JSON format.

pub mod blobs;
pub mod http;
pub mod listing;
pub mod manifests;
pub mod route;
pub mod uploads;

use crate::auth::{Action, Auth, AuthError, Need};
use crate::config::Config;
use crate::error::{ApiError, Code};
use crate::name::check_repository;
use crate::storage::{Store, StoreError, Uploads};
use crate::tls::TlsError;
use http::{empty, error_response, json_response, set, Body};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use route::Route;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Starting the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("start the server's runtime: {0}")]
    Runtime(std::io::Error),
}

/// The registry's state, shared by all connections.
pub struct Registry {
    pub store: Store,
    pub uploads: Uploads,
    pub auth: Auth,
    pub config: Config,
    /// Held shared by requests that add references, exclusively by garbage collection.
    pub gc_lock: tokio::sync::RwLock<()>,
}

/// What `start` and `run` serve.
pub struct Options {
    pub root: PathBuf,
    pub config: Config,
    /// Certificate chain and private key (PEM) for TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Registry {
    pub fn open(root: &std::path::Path, config: Config) -> Result<Registry, ServeError> {
        let store = Store::open(root, config.storage.fsync)?;
        Ok(Registry {
            uploads: Uploads::new(store.clone()),
            auth: Auth::new(&config, root)?,
            store,
            config,
            gc_lock: tokio::sync::RwLock::new(()),
        })
    }

    /// Answers one request.
    pub async fn handle(&self, req: Request<Incoming>, secure: bool) -> Response<Body> {
        let mut r = match self.dispatch(req, secure).await {
            Ok(r) => r,
            Err(e) => error_response(&e),
        };
        set(&mut r, "docker-distribution-api-version", "registry/2.0");
        r
    }

    async fn dispatch(
        &self,
        req: Request<Incoming>,
        secure: bool,
    ) -> Result<Response<Body>, ApiError> {
        let path = req.uri().path().to_string();
        let route = route::parse(&path).ok_or_else(|| {
            ApiError::new(Code::RouteUnknown, format!("{path}: no such endpoint"))
        })?;
        let method = req.method().clone();
        if let Route::Token = route {
            let v = if method == Method::POST {
                let form = http::read_form(req).await?;
                self.auth.issue_token_form(&form).await?
            } else {
                let q = http::query_pairs(req.uri().query());
                self.auth.issue_token(req.headers(), &q).await?
            };
            return Ok(json_response(&v, "application/json"));
        }
        let need = need(&route, &method)?;
        let host = req
            .headers()
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let realm = format!("{}://{host}/token", if secure { "https" } else { "http" });
        let grant = self.auth.authorize(req.headers(), need, &realm).await?;
        let head = method == Method::HEAD;
        use Route as R;
        match (route, method) {
            (R::Ping, Method::GET | Method::HEAD) => {
                let mut r = json_response(&serde_json::json!({}), "application/json");
                if head {
                    *r.body_mut() = empty();
                }
                Ok(r)
            }
            (R::Catalog, Method::GET) => listing::catalog(self, &grant, req.uri()),
            (R::Tags { name }, Method::GET) => listing::tags(self, &name, req.uri()),
            (R::Referrers { name, digest }, Method::GET) => {
                listing::referrers(self, &name, &digest, req.uri())
            }
            (R::Manifest { name, reference }, Method::GET | Method::HEAD) => {
                manifests::get(self, &name, &reference, head).await
            }
            (R::Manifest { name, reference }, Method::PUT) => {
                manifests::put(self, &name, &reference, req).await
            }
            (R::Manifest { name, reference }, Method::DELETE) => {
                manifests::delete(self, &name, &reference).await
            }
            (R::Blob { name, digest }, Method::GET | Method::HEAD) => {
                blobs::get(self, &name, &digest, req.headers(), head).await
            }
            (R::Blob { name, digest }, Method::DELETE) => blobs::delete(self, &name, &digest).await,
            (R::Uploads { name }, Method::POST) => uploads::start(self, &grant, &name, req).await,
            (R::Upload { name, id }, Method::PATCH) => uploads::patch(self, &name, &id, req).await,
            (R::Upload { name, id }, Method::PUT) => uploads::put(self, &name, &id, req).await,
            (R::Upload { name, id }, Method::GET) => uploads::status(self, &name, &id).await,
            (R::Upload { name, id }, Method::DELETE) => uploads::cancel(self, &name, &id).await,
            (_, m) => Err(ApiError::new(
                Code::Unsupported,
                format!("{m} {path}: method not allowed"),
            )),
        }
    }
}

/// What a route needs from auth (after checking its repository name).
fn need<'a>(route: &'a Route, method: &Method) -> Result<Need<'a>, ApiError> {
    let name = match route {
        Route::Ping | Route::Token => return Ok(Need::Ping),
        Route::Catalog => return Ok(Need::Catalog),
        Route::Tags { name }
        | Route::Manifest { name, .. }
        | Route::Blob { name, .. }
        | Route::Uploads { name }
        | Route::Upload { name, .. }
        | Route::Referrers { name, .. } => name,
    };
    check_repository(name)?;
    let action = match *method {
        Method::GET | Method::HEAD => Action::Pull,
        Method::DELETE => Action::Delete,
        _ => Action::Push,
    };
    Ok(Need::Repo { name, action })
}

/// Serves connections from `listener` until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    reg: Arc<Registry>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    if let Some(secs) = reg.config.gc.interval_secs {
        tokio::spawn(crate::gc::periodic(reg.clone(), secs));
    }
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let (reg, tls) = (reg.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(s) = acceptor.accept(stream).await {
                        connection(TokioIo::new(s), reg, true).await;
                    }
                }
                None => connection(TokioIo::new(stream), reg, false).await,
            }
        });
    }
}

async fn connection<I>(io: I, reg: Arc<Registry>, secure: bool)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let reg = reg.clone();
        async move { Ok::<_, std::convert::Infallible>(reg.handle(req, secure).await) }
    });
    let _ = http1::Builder::new().serve_connection(io, svc).await;
}

/// A server running on its own threads; dropping it stops it.
pub struct Handle {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)
}

/// Binds `addr` and prepares everything `serve` needs.
fn prepare(
    rt: &tokio::runtime::Runtime,
    addr: &str,
    opts: Options,
) -> Result<
    (
        TcpListener,
        Arc<Registry>,
        Option<tokio_rustls::TlsAcceptor>,
    ),
    ServeError,
> {
    let tls = match &opts.tls {
        Some((cert, key)) => Some(crate::tls::acceptor(cert, key)?),
        None => None,
    };
    let reg = Arc::new(Registry::open(&opts.root, opts.config)?);
    let listener = rt
        .block_on(TcpListener::bind(addr))
        .map_err(|source| ServeError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    Ok((listener, reg, tls))
}

/// Starts a server in the background (tests, embedding); `addr` may use port 0.
pub fn start(addr: &str, opts: Options) -> Result<Handle, ServeError> {
    let rt = runtime()?;
    let (listener, reg, tls) = prepare(&rt, addr, opts)?;
    let local = listener.local_addr().map_err(ServeError::Runtime)?;
    let (stop, stopped) = watch::channel(false);
    let thread = std::thread::spawn(move || {
        rt.block_on(serve(listener, reg, tls, stopped));
        rt.shutdown_timeout(std::time::Duration::from_secs(1));
    });
    Ok(Handle {
        addr: local,
        stop,
        thread: Some(thread),
    })
}

/// Serves on `addr` until the process ends; `on_ready` gets the bound address.
pub fn run(addr: &str, opts: Options, on_ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let rt = runtime()?;
    let (listener, reg, tls) = prepare(&rt, addr, opts)?;
    on_ready(listener.local_addr().map_err(ServeError::Runtime)?);
    let (_stop, stopped) = watch::channel(false);
    rt.block_on(serve(listener, reg, tls, stopped));
    Ok(())
}
