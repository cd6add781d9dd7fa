//! Registry authentication: credentials from a docker-compatible `config.json` (`auths` with
//! base64 `user:password`), `WWW-Authenticate` challenge parsing, and bearer tokens.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where docker keeps credentials for Docker Hub.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// A username and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, ***)", self.username)
    }
}

impl Credential {
    /// The value of a basic `Authorization` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identitytoken: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

/// Credentials kept in a docker `config.json`.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    path: PathBuf,
}

/// A credentials file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("credentials {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("credentials {path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn key_for(host: &str) -> &str {
    if host == "docker.io" || host == "registry-1.docker.io" || host == "index.docker.io" {
        DOCKER_HUB_AUTH_KEY
    } else {
        host
    }
}

fn host_of_key(key: &str) -> &str {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    k.split('/').next().unwrap_or(k)
}

impl CredentialStore {
    /// A store at `path` (need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CredentialStore { path: path.into() }
    }

    /// Docker's default: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
    pub fn docker_default() -> Self {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))
            .unwrap_or_else(|| PathBuf::from("/root/.docker"));
        Self::new(dir.join("config.json"))
    }

    fn load(&self) -> Result<ConfigFile, CredentialError> {
        match std::fs::read(&self.path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|source| CredentialError::Json {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(source) => Err(CredentialError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// The path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Everything saved for a registry host (user name and password, or user name and
    /// identity token), as the `AuthConfig` a client sends in `X-Registry-Auth`.
    pub fn get_auth(&self, host: &str) -> Result<Option<AuthConfig>, CredentialError> {
        let cfg = self.load()?;
        let want = key_for(host);
        let entry = cfg.auths.get(want).or_else(|| {
            cfg.auths
                .iter()
                .find(|(k, _)| host_of_key(k) == host)
                .map(|e| e.1)
        });
        let Some(entry) = entry else {
            return Ok(None);
        };
        let (username, password) = entry
            .auth
            .as_deref()
            .and_then(|a| {
                base64::engine::general_purpose::STANDARD
                    .decode(a.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            })
            .unwrap_or_default();
        let a = AuthConfig {
            username,
            password,
            server_address: want.to_string(),
            identity_token: entry.identitytoken.clone().unwrap_or_default(),
            ..Default::default()
        };
        Ok((!a.is_anonymous()).then_some(a))
    }

    /// Save what a login returned: with an identity token, the token replaces the password
    /// (docker's form: `auth` holds `user:` and `identitytoken` the token).
    pub fn set_auth(&self, host: &str, a: &AuthConfig) -> Result<(), CredentialError> {
        let mut cfg = self.load()?;
        let raw = if a.identity_token.is_empty() {
            format!("{}:{}", a.username, a.password)
        } else {
            format!("{}:", a.username)
        };
        let entry = cfg.auths.entry(key_for(host).to_string()).or_default();
        entry.auth = Some(base64::engine::general_purpose::STANDARD.encode(raw));
        entry.identitytoken = (!a.identity_token.is_empty()).then(|| a.identity_token.clone());
        self.save(&cfg)
    }

    /// The credential for a registry host, if any.
    pub fn get(&self, host: &str) -> Result<Option<Credential>, CredentialError> {
        let cfg = self.load()?;
        let want = key_for(host);
        let entry = cfg.auths.get(want).or_else(|| {
            cfg.auths
                .iter()
                .find(|(k, _)| host_of_key(k) == host)
                .map(|e| e.1)
        });
        let Some(auth) = entry.and_then(|e| e.auth.as_deref()) else {
            return Ok(None);
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        Ok(decoded.and_then(|s| {
            s.split_once(':').map(|(u, p)| Credential {
                username: u.into(),
                password: p.into(),
            })
        }))
    }

    /// Save a credential (as `tug login` does), keeping the rest of the file.
    pub fn set(&self, host: &str, cred: &Credential) -> Result<(), CredentialError> {
        let mut cfg = self.load()?;
        let raw = format!("{}:{}", cred.username, cred.password);
        let entry = cfg.auths.entry(key_for(host).to_string()).or_default();
        entry.auth = Some(base64::engine::general_purpose::STANDARD.encode(raw));
        self.save(&cfg)
    }

    /// Forget a credential (as `tug logout` does); returns whether there was one.
    pub fn remove(&self, host: &str) -> Result<bool, CredentialError> {
        let mut cfg = self.load()?;
        let had = cfg.auths.remove(key_for(host)).is_some();
        if had {
            self.save(&cfg)?;
        }
        Ok(had)
    }

    fn save(&self, cfg: &ConfigFile) -> Result<(), CredentialError> {
        let io = |source| CredentialError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let data = serde_json::to_vec_pretty(cfg).expect("config serialises");
        crate::sys::write_atomic(&self.path, &data).map_err(io)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600)).map_err(io)
    }
}

/// Credentials a client sends with one request, as docker's `AuthConfig` (the JSON inside
/// `X-Registry-Auth`): a user name and password, or an identity (refresh) token from an earlier
/// login, or a ready bearer token.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// base64 `user:password` (docker's config file form; used when the fields above are empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    #[serde(
        default,
        rename = "serveraddress",
        skip_serializing_if = "String::is_empty"
    )]
    pub server_address: String,
    #[serde(
        default,
        rename = "identitytoken",
        skip_serializing_if = "String::is_empty"
    )]
    pub identity_token: String,
    #[serde(
        default,
        rename = "registrytoken",
        skip_serializing_if = "String::is_empty"
    )]
    pub registry_token: String,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AuthConfig({}@{}, ***)",
            self.username, self.server_address
        )
    }
}

/// An `X-Registry-Auth` header that is not base64url JSON.
#[derive(Debug, thiserror::Error)]
#[error("invalid X-Registry-Auth header: {0}")]
pub struct BadAuthHeader(String);

impl AuthConfig {
    /// Decode an `X-Registry-Auth` value (base64url JSON, padded or not; standard base64 too).
    /// An empty value or `{}` means anonymous (`None`).
    pub fn from_header(value: &str) -> Result<Option<AuthConfig>, BadAuthHeader> {
        use base64::engine::general_purpose as g;
        let v = value.trim();
        if v.is_empty() {
            return Ok(None);
        }
        let raw = g::URL_SAFE
            .decode(v)
            .or_else(|_| g::URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')))
            .or_else(|_| g::STANDARD.decode(v))
            .map_err(|e| BadAuthHeader(e.to_string()))?;
        let mut a: AuthConfig =
            serde_json::from_slice(&raw).map_err(|e| BadAuthHeader(e.to_string()))?;
        if a.username.is_empty() && a.password.is_empty() && !a.auth.is_empty() {
            if let Some((u, p)) = g::STANDARD
                .decode(a.auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(u, p)| (u.to_string(), p.to_string()))
                })
            {
                a.username = u;
                a.password = p;
            }
        }
        Ok((!a.is_anonymous()).then_some(a))
    }

    /// The `X-Registry-Auth` value for these credentials (base64url JSON, as docker sends it).
    pub fn to_header(&self) -> String {
        let json = serde_json::to_vec(self).expect("auth config serialises");
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }

    /// Whether this carries nothing to authenticate with.
    pub fn is_anonymous(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.identity_token.is_empty()
            && self.registry_token.is_empty()
    }

    /// The user name and password, if both are given.
    pub fn credential(&self) -> Option<Credential> {
        (!self.username.is_empty() && !self.password.is_empty()).then(|| Credential {
            username: self.username.clone(),
            password: self.password.clone(),
        })
    }

    /// A short, non-reversible tag of who these credentials are, to keep tokens of different
    /// callers apart in a shared cache.
    pub(crate) fn identity(&self) -> String {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        for part in [
            &self.username,
            &self.password,
            &self.identity_token,
            &self.registry_token,
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let d = h.finalize();
        let tag: String = d[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}#{tag}", self.username)
    }
}

/// The registry host a login's `serveraddress` names: `https://index.docker.io/v1/` →
/// `docker.io`, `http://127.0.0.1:5000/` → `127.0.0.1:5000`, empty → `docker.io`.
pub fn server_host(address: &str) -> String {
    let a = address.trim();
    let h = host_of_key(a);
    match h {
        ""
        | "index.docker.io"
        | "registry-1.docker.io"
        | "docker.io"
        | "registry.hub.docker.com" => "docker.io".into(),
        h => h.to_string(),
    }
}

tokio::task_local! {
    static REQUEST_AUTH: Option<AuthConfig>;
}

/// Run `f` with `auth` as the credentials of every registry request it makes (in place of the
/// credentials file). Tasks `f` spawns must be wrapped again with [`current`]'s value.
pub async fn with_auth<F: std::future::Future>(auth: Option<AuthConfig>, f: F) -> F::Output {
    REQUEST_AUTH.scope(auth, f).await
}

/// The credentials [`with_auth`] set for the running task, if any.
pub fn current() -> Option<AuthConfig> {
    REQUEST_AUTH.try_with(|a| a.clone()).ok().flatten()
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `basic` or `bearer` (lower case).
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

/// Parse `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = BTreeMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            (val, &q[end.min(q.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key, value);
        s = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// A token endpoint's answer.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub token: Option<String>,
    pub access_token: Option<String>,
    /// Given when asked for an offline token: the identity token a login hands back.
    pub refresh_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["service"], "registry.docker.io");
        assert_eq!(c.params["scope"], "repository:library/busybox:pull");
        let c = parse_challenge(r#"Basic realm="tug-test""#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.params["realm"], "tug-test");
        let c = parse_challenge(r#"Bearer realm="a\"b", error=insufficient_scope"#).unwrap();
        assert_eq!(c.params["realm"], "a\"b");
        assert_eq!(c.params["error"], "insufficient_scope");
    }

    #[test]
    fn registry_auth_headers_decode_as_docker_sends_them() {
        let a = AuthConfig {
            username: "ann".into(),
            password: "p?>w".into(),
            server_address: "127.0.0.1:5000".into(),
            ..Default::default()
        };
        let h = a.to_header();
        assert!(!h.contains('+') && !h.contains('/'), "base64url: {h}");
        assert_eq!(AuthConfig::from_header(&h).unwrap(), Some(a.clone()));
        let unpadded = h.trim_end_matches('=');
        assert_eq!(AuthConfig::from_header(unpadded).unwrap(), Some(a.clone()));
        // docker's config-file form: only `auth`.
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE.encode(s);
        let only_auth = b64(r#"{"auth":"YW5uOnM6cw=="}"#);
        let got = AuthConfig::from_header(&only_auth).unwrap().unwrap();
        assert_eq!(
            (got.username.as_str(), got.password.as_str()),
            ("ann", "s:s")
        );
        // Anonymous: nothing, `{}`, or empty fields.
        assert_eq!(AuthConfig::from_header("").unwrap(), None);
        assert_eq!(AuthConfig::from_header(&b64("{}")).unwrap(), None);
        assert_eq!(
            AuthConfig::from_header(&b64(r#"{"serveraddress":"x"}"#)).unwrap(),
            None
        );
        let e = AuthConfig::from_header("!!").unwrap_err();
        assert!(e.to_string().starts_with("invalid X-Registry-Auth header"));
        assert!(AuthConfig::from_header(&b64("[1]")).is_err());
        assert!(
            !format!("{a:?}").contains("p?>w"),
            "debug hides the password"
        );
        // Different callers, different cache identities.
        let other = AuthConfig {
            password: "other".into(),
            ..a.clone()
        };
        assert_ne!(a.identity(), other.identity());
        assert!(!a.identity().contains("p?>w"));
    }

    #[test]
    fn server_addresses_name_hosts() {
        assert_eq!(server_host(""), "docker.io");
        assert_eq!(server_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(server_host("docker.io"), "docker.io");
        assert_eq!(server_host("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(server_host("reg.lan:5000"), "reg.lan:5000");
    }

    #[test]
    fn identity_tokens_are_saved_in_docker_form() {
        let t = tempfile::tempdir().unwrap();
        let s = CredentialStore::new(t.path().join("config.json"));
        let a = AuthConfig {
            username: "ann".into(),
            password: "secret".into(),
            identity_token: "refresh-me".into(),
            ..Default::default()
        };
        s.set_auth("127.0.0.1:5000", &a).unwrap();
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(t.path().join("config.json")).unwrap()).unwrap();
        let e = &raw["auths"]["127.0.0.1:5000"];
        assert_eq!(e["auth"], "YW5uOg==", "user name only, no password");
        assert_eq!(e["identitytoken"], "refresh-me");
        let back = s.get_auth("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(back.username, "ann");
        assert_eq!(back.password, "");
        assert_eq!(back.identity_token, "refresh-me");
        assert_eq!(s.get_auth("elsewhere").unwrap(), None);
    }

    #[test]
    fn credentials_round_trip_in_docker_format() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"}},"credsStore":"x"}"#,
        )
        .unwrap();
        let s = CredentialStore::new(&path);
        assert_eq!(s.get("docker.io").unwrap().unwrap().username, "u");
        let cred = Credential {
            username: "tug".into(),
            password: "p:w".into(),
        };
        s.set("127.0.0.1:5000", &cred).unwrap();
        assert_eq!(s.get("127.0.0.1:5000").unwrap(), Some(cred.clone()));
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(raw["credsStore"], "x", "other keys are kept");
        assert_eq!(raw["auths"]["127.0.0.1:5000"]["auth"], "dHVnOnA6dw==");
        assert!(s.remove("127.0.0.1:5000").unwrap());
        assert_eq!(s.get("127.0.0.1:5000").unwrap(), None);
        assert_eq!(cred.basic_header(), "Basic dHVnOnA6dw==");
    }
}
