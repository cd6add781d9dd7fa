//! OCI distribution client: manifests and blobs over HTTP(S), with anonymous, basic and
//! bearer-token auth (the `WWW-Authenticate` challenge flow), redirects, ranged blob reads for
//! resumed pulls, and blob uploads (cross-repository mount, monolithic or chunked).
//!
//! `http` is used only for loopback hosts (`localhost`, `127.0.0.0/8`, `[::1]`) and for hosts
//! configured insecure; everything else is `https`.

pub mod auth;
pub mod transport;

use crate::digest::Digest;
use crate::reference::Reference;
use auth::{Challenge, CredentialStore};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use transport::Body;

/// A registry request that failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached or the connection broke.
    #[error("{url}: {cause}")]
    Unavailable { url: String, cause: String },
    /// Credentials are missing or refused.
    #[error("{url}: unauthorized: {detail}")]
    Unauthorized { url: String, detail: String },
    /// The manifest or blob does not exist.
    #[error("{what}: not found")]
    NotFound { what: String },
    /// Any other unexpected status.
    #[error("{method} {url}: unexpected status {status}: {body}")]
    Status {
        method: String,
        url: String,
        status: u16,
        body: String,
    },
    /// A response larger than allowed for its kind.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    /// Content does not match the digest it was asked for by.
    #[error("{what}: digest mismatch (got {actual})")]
    DigestMismatch { what: String, actual: Digest },
    /// The registry answered something unusable (bad header, bad JSON).
    #[error("{url}: invalid response: {detail}")]
    Invalid { url: String, detail: String },
    /// The credentials file is unreadable.
    #[error(transparent)]
    Credentials(#[from] auth::CredentialError),
}

impl RegistryError {
    /// The kind of this error.
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind as K;
        match self {
            RegistryError::Unavailable { .. } | RegistryError::Status { .. } => K::Unavailable,
            RegistryError::Unauthorized { .. } => K::Unauthorized,
            RegistryError::NotFound { .. } => K::NotFound,
            RegistryError::TooLarge(_) | RegistryError::Invalid { .. } => K::Invalid,
            RegistryError::DigestMismatch { .. } => K::DataLoss,
            RegistryError::Credentials(_) => K::Internal,
        }
    }
}

type Result<T> = std::result::Result<T, RegistryError>;

/// Largest manifest accepted (the distribution spec suggests 4 MiB).
pub const MANIFEST_LIMIT: usize = 4 << 20;

/// Registry hosts: which are insecure (plain http) and which have mirrors.
#[derive(Debug, Clone, Default)]
pub struct HostsConfig {
    /// Hosts (with port) reached over plain http.
    pub insecure: Vec<String>,
    /// Mirrors to try first, per registry host (e.g. `docker.io` → `["mirror.local:5000"]`).
    pub mirrors: HashMap<String, Vec<String>>,
}

impl HostsConfig {
    fn is_insecure(&self, host: &str) -> bool {
        let bare = host
            .rsplit_once(':')
            .filter(|(h, p)| !h.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h);
        bare == "localhost"
            || bare
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
            || bare == "[::1]"
            || self.insecure.iter().any(|i| i == host || i == bare)
    }

    /// The base URLs to try for a registry host, mirrors first.
    pub fn endpoints(&self, host: &str) -> Vec<String> {
        let mut hosts: Vec<String> = self.mirrors.get(host).cloned().unwrap_or_default();
        hosts.push(if host == "docker.io" {
            "registry-1.docker.io".into()
        } else {
            host.into()
        });
        hosts
            .into_iter()
            .map(|h| {
                let scheme = if self.is_insecure(&h) {
                    "http"
                } else {
                    "https"
                };
                format!("{scheme}://{h}")
            })
            .collect()
    }
}

/// A blob download in progress.
pub struct BlobResponse {
    /// The response body.
    pub body: Incoming,
    /// Whether the registry honoured the range (the body starts at the asked offset).
    pub partial: bool,
    /// The length of this body, if known.
    pub length: Option<u64>,
}

/// The result of starting an upload.
pub enum UploadStart {
    /// The blob was mounted from another repository: nothing to upload.
    Mounted,
    /// Upload to this URL.
    Location(String),
}

/// A client for one or more registries; cheap to share between tasks.
pub struct RegistryClient {
    hosts: RwLock<HostsConfig>,
    creds: Option<CredentialStore>,
    /// `Authorization` values by (endpoint and caller, scope).
    tokens: Mutex<HashMap<(String, String), String>>,
}

impl RegistryClient {
    /// A client with these hosts and, optionally, a credentials file.
    pub fn new(hosts: HostsConfig, creds: Option<CredentialStore>) -> Self {
        RegistryClient {
            hosts: RwLock::new(hosts),
            creds,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Replace the insecure hosts and mirrors (a daemon's `--registry-mirror`,
    /// `--insecure-registry`).
    pub fn set_hosts(&self, hosts: HostsConfig) {
        *self.hosts.write().unwrap_or_else(|p| p.into_inner()) = hosts;
    }

    /// The current insecure hosts and mirrors.
    pub fn hosts(&self) -> HostsConfig {
        self.hosts.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The registry itself (pushes, logins): never a mirror.
    fn base(&self, r: &Reference) -> String {
        self.hosts()
            .endpoints(r.domain())
            .pop()
            .expect("at least the registry itself")
    }

    /// Where to pull from: mirrors first, the registry last.
    fn pull_bases(&self, r: &Reference) -> Vec<String> {
        self.hosts().endpoints(r.domain())
    }

    /// The token cache key: the endpoint and who is asking, so a caller never gets another
    /// caller's token (nor a mirror's token sent upstream).
    fn cache_key(url: &str, scope: &str) -> (String, String) {
        let who = auth::current().map(|a| a.identity()).unwrap_or_default();
        (format!("{}|{who}", authority(url)), scope.to_string())
    }

    /// The credentials for `host`: the request's own (`X-Registry-Auth`), else the file's.
    fn credentials_for(&self, host: &str) -> Result<Option<auth::AuthConfig>> {
        if let Some(a) = auth::current() {
            return Ok(Some(a));
        }
        Ok(match &self.creds {
            Some(c) => c.get_auth(host)?,
            None => None,
        })
    }

    /// Check credentials against a registry as `docker login` does: ping `/v2/`, answer its
    /// challenge (basic: the ping again with the credentials; bearer: a token with an offline
    /// refresh token asked for). Returns the identity token, if the registry issued one.
    pub async fn login(&self, host: &str, a: &auth::AuthConfig) -> Result<Option<String>> {
        let r: Reference =
            format!("{host}/x")
                .parse::<Reference>()
                .map_err(|e| RegistryError::Invalid {
                    url: host.into(),
                    detail: e.to_string(),
                })?;
        let url = format!("{}/v2/", self.base(&r));
        let get = |auth: Option<String>| {
            let mut b = Request::builder()
                .uri(&url)
                .header(header::USER_AGENT, "tug/0.1");
            if let Some(v) = auth {
                b = b.header(header::AUTHORIZATION, v);
            }
            b.body(transport::empty())
                .map_err(|e| RegistryError::Invalid {
                    url: url.clone(),
                    detail: e.to_string(),
                })
        };
        let resp = transport::send(get(None)?).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return if resp.status().is_success() {
                Ok(None)
            } else {
                Err(status_error(resp, Method::GET, &url).await)
            };
        }
        let challenge = resp
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok().and_then(auth::parse_challenge))
            .find(|c| c.scheme == "bearer" || c.scheme == "basic");
        match challenge {
            Some(c) if c.scheme == "bearer" => {
                match self.fetch_token(&c, a, "", &url, true).await {
                    Ok((_, refresh)) => Ok(refresh),
                    Err(RegistryError::Unauthorized { detail, .. }) => {
                        Err(RegistryError::Unauthorized {
                            url: url.clone(),
                            detail: format!("login attempt to {url} failed: {detail}"),
                        })
                    }
                    Err(e) => Err(e),
                }
            }
            Some(_) => {
                let cred = a.credential().ok_or_else(|| RegistryError::Unauthorized {
                    url: url.clone(),
                    detail: "a user name and password are required".into(),
                })?;
                let resp = transport::send(get(Some(cred.basic_header()))?).await?;
                match resp.status() {
                    s if s.is_success() => Ok(None),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        Err(RegistryError::Unauthorized {
                            url: url.clone(),
                            detail: format!(
                                "login attempt to {url} failed with status: {}",
                                status_line(resp.status())
                            ),
                        })
                    }
                    _ => Err(status_error(resp, Method::GET, &url).await),
                }
            }
            None => Err(RegistryError::Unauthorized {
                url,
                detail: "no usable WWW-Authenticate challenge".into(),
            }),
        }
    }

    fn scope(r: &Reference, push: bool) -> String {
        let actions = if push { "pull,push" } else { "pull" };
        format!("repository:{}:{actions}", r.path())
    }

    /// Send a request with auth, answering one 401 challenge, and following redirects.
    async fn request(
        &self,
        method: Method,
        url: &str,
        repo: &Reference,
        scope: &str,
        headers: &[(header::HeaderName, String)],
        body: Option<Bytes>,
    ) -> Result<Response<Incoming>> {
        let host = repo.domain().to_string();
        let key = Self::cache_key(url, scope);
        let mut answered = false;
        let mut url = url.to_string();
        let mut same_host = true;
        for _ in 0..8 {
            let cached = self.tokens.lock().expect("token lock").get(&key).cloned();
            let mut b = Request::builder().method(method.clone()).uri(&url);
            for (k, v) in headers {
                b = b.header(k, v);
            }
            if let (Some(auth), true) = (&cached, same_host) {
                b = b.header(header::AUTHORIZATION, auth);
            }
            b = b.header(header::USER_AGENT, "tug/0.1");
            let body = body.clone().map_or_else(transport::empty, transport::full);
            let req = b.body(body).map_err(|e| RegistryError::Invalid {
                url: url.clone(),
                detail: e.to_string(),
            })?;
            tracing::debug!(%method, %url, "registry request");
            let resp = transport::send(req).await?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !answered && same_host {
                answered = true;
                let value = self.answer_challenge(&resp, &url, &host, scope).await?;
                self.tokens
                    .lock()
                    .expect("token lock")
                    .insert(key.clone(), value);
                continue;
            }
            if status.is_redirection() && method != Method::PUT && method != Method::POST {
                if let Some(loc) = resp.headers().get(header::LOCATION) {
                    let next = resolve(&url, loc.to_str().unwrap_or(""));
                    same_host = authority(&next) == authority(&url) && same_host;
                    url = next;
                    continue;
                }
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(RegistryError::Unauthorized {
                    url,
                    detail: status_text(resp).await,
                });
            }
            return Ok(resp);
        }
        Err(RegistryError::Invalid {
            url,
            detail: "too many redirects".into(),
        })
    }

    async fn answer_challenge(
        &self,
        resp: &Response<Incoming>,
        url: &str,
        host: &str,
        scope: &str,
    ) -> Result<String> {
        let cred = self.credentials_for(host)?.unwrap_or_default();
        if !cred.registry_token.is_empty() {
            return Ok(format!("Bearer {}", cred.registry_token));
        }
        let challenge = resp
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok().and_then(auth::parse_challenge))
            .find(|c| c.scheme == "bearer" || c.scheme == "basic");
        let unauthorized = |detail: &str| RegistryError::Unauthorized {
            url: url.to_string(),
            detail: detail.to_string(),
        };
        match challenge {
            Some(c) if c.scheme == "bearer" => {
                Ok(self.fetch_token(&c, &cred, scope, url, false).await?.0)
            }
            Some(_) => cred.credential().map(|c| c.basic_header()).ok_or_else(|| {
                unauthorized("authentication required (no credentials for this registry)")
            }),
            None => Err(unauthorized("no usable WWW-Authenticate challenge")),
        }
    }

    /// Get a bearer token for `scope` from the challenge's realm: with an identity token by
    /// the OAuth2 `POST` (`grant_type=refresh_token`), else by `GET` with basic credentials (or
    /// none). `offline` asks for a refresh token too (a login). Returns the `Authorization`
    /// value and the refresh token, if any.
    async fn fetch_token(
        &self,
        c: &Challenge,
        cred: &auth::AuthConfig,
        scope: &str,
        url: &str,
        offline: bool,
    ) -> Result<(String, Option<String>)> {
        let realm = c
            .params
            .get("realm")
            .ok_or_else(|| RegistryError::Invalid {
                url: url.into(),
                detail: "bearer challenge without realm".into(),
            })?;
        let service = c.params.get("service").cloned().unwrap_or_default();
        let mut form: Vec<(&str, &str)> = vec![("client_id", "tug")];
        if !service.is_empty() {
            form.push(("service", &service));
        }
        if !scope.is_empty() {
            form.push(("scope", scope));
        }
        let req = if !cred.identity_token.is_empty() {
            form.push(("grant_type", "refresh_token"));
            form.push(("refresh_token", &cred.identity_token));
            Request::builder()
                .method(Method::POST)
                .uri(realm.as_str())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(transport::full(form_encode(&form)))
        } else {
            if offline {
                form.push(("offline_token", "true"));
            }
            let sep = if realm.contains('?') { '&' } else { '?' };
            let mut b = Request::builder().uri(format!("{realm}{sep}{}", form_encode(&form)));
            if let Some(cred) = cred.credential() {
                b = b.header(header::AUTHORIZATION, cred.basic_header());
            }
            b.body(transport::empty())
        };
        let req = req.map_err(|e| RegistryError::Invalid {
            url: realm.clone(),
            detail: e.to_string(),
        })?;
        let token_url = req.uri().to_string();
        let resp = transport::send(req).await?;
        if !resp.status().is_success() {
            return Err(RegistryError::Unauthorized {
                url: token_url,
                detail: status_text(resp).await,
            });
        }
        let body = transport::read_body(resp, 1 << 20).await?;
        let t: auth::TokenResponse =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Invalid {
                url: token_url.clone(),
                detail: e.to_string(),
            })?;
        let token = t
            .token
            .or(t.access_token)
            .ok_or_else(|| RegistryError::Invalid {
                url: token_url,
                detail: "token response without token".into(),
            })?;
        Ok((format!("Bearer {token}"), t.refresh_token))
    }

    /// Fetch a manifest by tag or digest: its bytes, media type and digest (checked when asked
    /// for by digest).
    pub async fn get_manifest(
        &self,
        r: &Reference,
        object: &str,
    ) -> Result<(Bytes, Option<String>, Digest)> {
        let bases = self.pull_bases(r);
        let last = bases.len() - 1;
        for (i, base) in bases.iter().enumerate() {
            match self.get_manifest_from(base, r, object).await {
                Err(e) if i < last => {
                    tracing::info!(mirror = %base, error = %e, "mirror failed, trying the next endpoint");
                }
                res => return res,
            }
        }
        unreachable!("the registry itself is always the last endpoint")
    }

    async fn get_manifest_from(
        &self,
        base: &str,
        r: &Reference,
        object: &str,
    ) -> Result<(Bytes, Option<String>, Digest)> {
        let url = format!("{base}/v2/{}/manifests/{object}", r.path());
        let accept = [(header::ACCEPT, crate::manifest::ACCEPT.to_string())];
        let resp = self
            .request(Method::GET, &url, r, &Self::scope(r, false), &accept, None)
            .await?;
        let sep = if object.contains(':') { '@' } else { ':' };
        let what = format!("manifest {}{sep}{object}", r.familiar_name());
        let resp = expect_ok(resp, Method::GET, &url, &what).await?;
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = transport::read_body(resp, MANIFEST_LIMIT).await?;
        let algorithm = object
            .parse::<Digest>()
            .map(|d| d.algorithm())
            .unwrap_or(crate::digest::Algorithm::Sha256);
        let actual = Digest::of(algorithm, &body);
        if let Ok(want) = object.parse::<Digest>() {
            if want != actual {
                return Err(RegistryError::DigestMismatch { what, actual });
            }
        }
        Ok((body, ct, actual))
    }

    /// Start reading a blob from byte `offset` (0 for all of it).
    pub async fn get_blob(&self, r: &Reference, d: &Digest, offset: u64) -> Result<BlobResponse> {
        let bases = self.pull_bases(r);
        let last = bases.len() - 1;
        for (i, base) in bases.iter().enumerate() {
            match self.get_blob_from(base, r, d, offset).await {
                Err(e) if i < last => {
                    tracing::info!(mirror = %base, error = %e, "mirror failed, trying the next endpoint");
                }
                res => return res,
            }
        }
        unreachable!("the registry itself is always the last endpoint")
    }

    async fn get_blob_from(
        &self,
        base: &str,
        r: &Reference,
        d: &Digest,
        offset: u64,
    ) -> Result<BlobResponse> {
        let url = format!("{base}/v2/{}/blobs/{d}", r.path());
        let mut headers = Vec::new();
        if offset > 0 {
            headers.push((header::RANGE, format!("bytes={offset}-")));
        }
        let resp = self
            .request(Method::GET, &url, r, &Self::scope(r, false), &headers, None)
            .await?;
        let partial = resp.status() == StatusCode::PARTIAL_CONTENT;
        let resp = if partial {
            resp
        } else {
            expect_ok(resp, Method::GET, &url, &format!("blob {d}")).await?
        };
        let length = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        Ok(BlobResponse {
            body: resp.into_body(),
            partial,
            length,
        })
    }

    /// Read a small blob (a config) whole, checking its digest.
    pub async fn get_small_blob(&self, r: &Reference, d: &Digest) -> Result<Bytes> {
        let resp = self.get_blob(r, d, 0).await?;
        let body = transport::read_body(Response::new(resp.body), MANIFEST_LIMIT * 4).await?;
        let actual = Digest::of(d.algorithm(), &body);
        if &actual != d {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob {d}"),
                actual,
            });
        }
        Ok(body)
    }

    /// The size of a blob if the repository has it.
    pub async fn blob_exists(&self, r: &Reference, d: &Digest) -> Result<Option<u64>> {
        let url = format!("{}/v2/{}/blobs/{d}", self.base(r), r.path());
        let resp = self
            .request(Method::HEAD, &url, r, &Self::scope(r, true), &[], None)
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(
                resp.headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(status_error(resp, Method::HEAD, &url).await),
        }
    }

    /// Start an upload, asking to mount `d` from repository `from` (same registry) if given.
    pub async fn start_upload(
        &self,
        r: &Reference,
        mount: Option<(&Digest, &str)>,
    ) -> Result<UploadStart> {
        let mut url = format!("{}/v2/{}/blobs/uploads/", self.base(r), r.path());
        if let Some((d, from)) = mount {
            url.push_str(&format!("?mount={d}&from={}", query_escape(from)));
        }
        let resp = self
            .request(Method::POST, &url, r, &Self::scope(r, true), &[], None)
            .await?;
        match resp.status() {
            StatusCode::CREATED if mount.is_some() => Ok(UploadStart::Mounted),
            StatusCode::ACCEPTED => Ok(UploadStart::Location(next_location(&resp, &url)?)),
            _ => Err(status_error(resp, Method::POST, &url).await),
        }
    }

    /// Upload a whole blob in one `PUT`.
    pub async fn upload_monolithic(
        &self,
        r: &Reference,
        location: &str,
        d: &Digest,
        body: Body,
        size: u64,
    ) -> Result<()> {
        let url = with_query(location, &format!("digest={d}"));
        let req = self
            .authed(Method::PUT, &url, r)?
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, size.to_string())
            .body(body)
            .map_err(|e| RegistryError::Invalid {
                url: url.clone(),
                detail: e.to_string(),
            })?;
        let resp = transport::send(req).await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(resp, Method::PUT, &url).await);
        }
        Ok(())
    }

    /// Upload one chunk at `offset` with `PATCH`; returns the next location.
    pub async fn upload_chunk(
        &self,
        r: &Reference,
        location: &str,
        chunk: Bytes,
        offset: u64,
    ) -> Result<String> {
        let end = offset + chunk.len() as u64;
        let req = self
            .authed(Method::PATCH, location, r)?
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, chunk.len().to_string())
            .header(
                header::CONTENT_RANGE,
                format!("{offset}-{}", end.saturating_sub(1)),
            )
            .body(transport::full(chunk))
            .map_err(|e| RegistryError::Invalid {
                url: location.into(),
                detail: e.to_string(),
            })?;
        let resp = transport::send(req).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(status_error(resp, Method::PATCH, location).await);
        }
        next_location(&resp, location)
    }

    /// Finish a chunked upload.
    pub async fn finish_upload(&self, r: &Reference, location: &str, d: &Digest) -> Result<()> {
        self.upload_monolithic(r, location, d, transport::empty(), 0)
            .await
    }

    /// Put a manifest under a tag or digest.
    pub async fn put_manifest(
        &self,
        r: &Reference,
        object: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<()> {
        let url = format!("{}/v2/{}/manifests/{object}", self.base(r), r.path());
        let headers = [(header::CONTENT_TYPE, media_type.to_string())];
        let resp = self
            .request(
                Method::PUT,
                &url,
                r,
                &Self::scope(r, true),
                &headers,
                Some(bytes),
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(resp, Method::PUT, &url).await);
        }
        Ok(())
    }

    /// A request builder carrying the cached push authorization for `r`.
    fn authed(
        &self,
        method: Method,
        url: &str,
        r: &Reference,
    ) -> Result<hyper::http::request::Builder> {
        let key = Self::cache_key(url, &Self::scope(r, true));
        let mut b = Request::builder()
            .method(method)
            .uri(url)
            .header(header::USER_AGENT, "tug/0.1");
        if let Some(a) = self.tokens.lock().expect("token lock").get(&key) {
            let v = HeaderValue::from_str(a).map_err(|e| RegistryError::Invalid {
                url: url.into(),
                detail: e.to_string(),
            })?;
            b = b.header(header::AUTHORIZATION, v);
        }
        Ok(b)
    }
}

async fn status_text(resp: Response<Incoming>) -> String {
    let status = resp.status();
    let body = transport::read_body(resp, 64 << 10)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_string();
    if text.is_empty() {
        return status.to_string();
    }
    // The distribution spec's `{"errors":[{"code","message"}]}`: its message says it best.
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_string))
        .filter(|m| !m.is_empty())
        .unwrap_or(text)
}

async fn status_error(resp: Response<Incoming>, method: Method, url: &str) -> RegistryError {
    let status = resp.status().as_u16();
    RegistryError::Status {
        method: method.to_string(),
        url: url.into(),
        status,
        body: status_text(resp).await,
    }
}

async fn expect_ok(
    resp: Response<Incoming>,
    method: Method,
    url: &str,
    what: &str,
) -> Result<Response<Incoming>> {
    match resp.status() {
        StatusCode::OK => Ok(resp),
        StatusCode::NOT_FOUND => Err(RegistryError::NotFound { what: what.into() }),
        _ => Err(status_error(resp, method, url).await),
    }
}

fn next_location(resp: &Response<Incoming>, base: &str) -> Result<String> {
    let loc = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| RegistryError::Invalid {
            url: base.into(),
            detail: "upload response without Location".into(),
        })?;
    Ok(resolve(base, loc))
}

/// Resolve a `Location` against the URL it came from.
fn resolve(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        return loc.to_string();
    }
    let uri: Uri = base.parse().unwrap_or_default();
    let origin = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("https"),
        uri.authority().map(|a| a.as_str()).unwrap_or("")
    );
    if loc.starts_with('/') {
        format!("{origin}{loc}")
    } else {
        let path = uri.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{origin}{dir}{loc}")
    }
}

fn authority(url: &str) -> String {
    url.parse::<Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

fn with_query(url: &str, q: &str) -> String {
    if url.contains('?') {
        format!("{url}&{q}")
    } else {
        format!("{url}?{q}")
    }
}

/// `application/x-www-form-urlencoded` pairs.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `401 Unauthorized`, as Go prints a status.
fn status_line(s: StatusCode) -> String {
    format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_only_for_loopback_and_insecure() {
        let h = HostsConfig {
            insecure: vec!["reg.lan:5000".into()],
            mirrors: HashMap::from([("docker.io".into(), vec!["127.0.0.1:6000".into()])]),
        };
        assert_eq!(h.endpoints("127.0.0.1:5000"), vec!["http://127.0.0.1:5000"]);
        assert_eq!(h.endpoints("localhost"), vec!["http://localhost"]);
        assert_eq!(h.endpoints("[::1]:5000"), vec!["http://[::1]:5000"]);
        assert_eq!(h.endpoints("reg.lan:5000"), vec!["http://reg.lan:5000"]);
        assert_eq!(h.endpoints("quay.io"), vec!["https://quay.io"]);
        assert_eq!(
            h.endpoints("127.example.com"),
            vec!["https://127.example.com"]
        );
        assert_eq!(
            h.endpoints("docker.io"),
            vec!["http://127.0.0.1:6000", "https://registry-1.docker.io"]
        );
    }

    #[test]
    fn locations_resolve() {
        assert_eq!(
            resolve(
                "http://h:1/v2/x/blobs/uploads/",
                "/v2/x/blobs/uploads/u?s=1"
            ),
            "http://h:1/v2/x/blobs/uploads/u?s=1"
        );
        assert_eq!(resolve("http://h:1/a/b", "https://o/c"), "https://o/c");
        assert_eq!(resolve("http://h:1/a/b", "c"), "http://h:1/a/c");
        assert_eq!(
            with_query("http://h/u?s=1", "digest=x"),
            "http://h/u?s=1&digest=x"
        );
        assert_eq!(
            query_escape("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
