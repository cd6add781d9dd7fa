//! Who may do what: no auth, htpasswd basic auth on every request, or bearer tokens from the
//! registry's own `/token` endpoint (the `WWW-Authenticate: Bearer realm,service,scope` flow),
//! with per-repository pull/push/delete rules from the configuration.

pub mod htpasswd;
pub mod token;

use crate::config::{glob_match, AccessRule, Config, TokenConfig};
use crate::error::{ApiError, Code};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use htpasswd::Htpasswd;
use hyper::header::{HeaderMap, AUTHORIZATION};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use token::{Access, Claims};

/// Setting up auth failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Htpasswd(#[from] htpasswd::HtpasswdError),
    #[error("token key {path}: {source}")]
    Key {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }
}

/// What a request needs.
#[derive(Debug, Clone, Copy)]
pub enum Need<'a> {
    Ping,
    Catalog,
    Repo { name: &'a str, action: Action },
}

impl Need<'_> {
    fn scope(&self) -> Option<String> {
        match self {
            Need::Ping => None,
            Need::Catalog => Some("registry:catalog:*".into()),
            Need::Repo { name, action } => Some(match action {
                Action::Push => format!("repository:{name}:pull,push"),
                a => format!("repository:{name}:{}", a.as_str()),
            }),
        }
    }
}

/// What an authorized request may do (it may need more than its route, e.g. a mount's source).
#[derive(Debug, Clone)]
pub enum Grant {
    /// No auth configured.
    All,
    /// Basic auth (or anonymous, `None`), checked against the rules.
    User(Option<String>),
    /// A bearer token: its subject (None: anonymous) and granted access.
    Token {
        user: Option<String>,
        access: Vec<Access>,
    },
}

/// How long a refresh (identity) token from a login lasts.
pub const REFRESH_EXPIRY_SECS: u64 = 30 * 24 * 3600;

enum Mode {
    None,
    Basic,
    Token(TokenConfig),
}

pub struct Auth {
    mode: Mode,
    realm: String,
    rules: Vec<AccessRule>,
    htpasswd: Option<Arc<Htpasswd>>,
    key: Vec<u8>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The token signing key, kept in the root so tokens outlive a restart.
fn load_key(root: &Path) -> Result<Vec<u8>, AuthError> {
    let path = root.join("token.key");
    let err = |source| AuthError::Key {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(&path) {
        Ok(k) if k.len() >= 32 => Ok(k),
        _ => {
            let key = crate::storage::random_id() + &crate::storage::random_id();
            let tmp = root.join("tmp").join("token.key");
            std::fs::write(&tmp, &key).map_err(err)?;
            std::fs::rename(&tmp, &path).map_err(err)?;
            Ok(key.into_bytes())
        }
    }
}

impl Auth {
    pub fn new(config: &Config, root: &Path) -> Result<Auth, AuthError> {
        let Some(a) = &config.auth else {
            return Ok(Auth {
                mode: Mode::None,
                realm: String::new(),
                rules: Vec::new(),
                htpasswd: None,
                key: Vec::new(),
            });
        };
        let mode = match &a.token {
            Some(t) => Mode::Token(t.clone()),
            None => Mode::Basic,
        };
        Ok(Auth {
            mode,
            realm: a.realm.clone(),
            rules: config.access.clone(),
            htpasswd: Some(Arc::new(Htpasswd::load(&a.htpasswd)?)),
            key: load_key(root)?,
        })
    }

    pub fn enabled(&self) -> bool {
        !matches!(self.mode, Mode::None)
    }

    /// Whether the rules let `user` (None: anonymous) do `action` in `repo`.
    pub fn rules_allow(&self, user: Option<&str>, repo: &str, action: &str) -> bool {
        if self.rules.is_empty() {
            return user.is_some();
        }
        self.rules.iter().any(|r| {
            glob_match(&r.repository, repo)
                && user_matches(&r.users, user)
                && r.actions.iter().any(|a| a == action || a == "*")
        })
    }

    /// Whether the caller may pull every repository (a `*` pull rule for them).
    fn pulls_all(&self, user: Option<&str>) -> bool {
        if self.rules.is_empty() {
            return user.is_some();
        }
        self.rules.iter().any(|r| {
            r.repository == "*"
                && user_matches(&r.users, user)
                && r.actions.iter().any(|a| a == "pull" || a == "*")
        })
    }

    /// Who may ask for the catalog: every authenticated user, and anonymous callers where some
    /// rule lets them pull. Each sees only the repositories they may pull.
    fn catalog_allowed(&self, user: Option<&str>) -> bool {
        user.is_some() || self.anonymous_allowed_anything()
    }

    fn anonymous_allowed_anything(&self) -> bool {
        self.rules.iter().any(|r| user_matches(&r.users, None))
    }

    /// Checks user and password from a `Basic` header; `Ok(None)` when there is none.
    async fn basic_user(&self, headers: &HeaderMap) -> Result<Option<String>, ()> {
        let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return Ok(None);
        };
        let Some(b) = v
            .strip_prefix("Basic ")
            .or_else(|| v.strip_prefix("basic "))
        else {
            return Err(());
        };
        let raw = B64.decode(b.trim()).map_err(|_| ())?;
        let text = String::from_utf8(raw).map_err(|_| ())?;
        let (user, pass) = text.split_once(':').ok_or(())?;
        let (user, pass) = (user.to_string(), pass.to_string());
        let h = self.htpasswd.clone().ok_or(())?;
        let u = user.clone();
        let ok = tokio::task::spawn_blocking(move || h.verify(&u, &pass))
            .await
            .unwrap_or(false);
        if ok {
            Ok(Some(user))
        } else {
            Err(())
        }
    }

    /// Authorizes a request; `realm` is this server's token URL as the client reached it.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        need: Need<'_>,
        realm: &str,
    ) -> Result<Grant, ApiError> {
        match &self.mode {
            Mode::None => Ok(Grant::All),
            Mode::Basic => self.authorize_basic(headers, need).await,
            Mode::Token(t) => self.authorize_token(headers, need, t, realm),
        }
    }

    async fn authorize_basic(
        &self,
        headers: &HeaderMap,
        need: Need<'_>,
    ) -> Result<Grant, ApiError> {
        let challenge = || {
            ApiError::new(Code::Unauthorized, "authentication required").header(
                "www-authenticate",
                format!("Basic realm=\"{}\"", self.realm),
            )
        };
        let user = self.basic_user(headers).await.map_err(|_| challenge())?;
        let grant = Grant::User(user.clone());
        let allowed = match need {
            Need::Ping => user.is_some() || self.anonymous_allowed_anything(),
            _ => grant.allows(self, need),
        };
        match (allowed, user) {
            (true, _) => Ok(grant),
            (false, None) => Err(challenge()),
            (false, Some(u)) => Err(ApiError::new(
                Code::Denied,
                format!("user {u}: not allowed {}", need.scope().unwrap_or_default()),
            )),
        }
    }

    fn authorize_token(
        &self,
        headers: &HeaderMap,
        need: Need<'_>,
        t: &TokenConfig,
        realm: &str,
    ) -> Result<Grant, ApiError> {
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        let claims = bearer
            .and_then(|b| token::verify(&self.key, b.trim(), now()))
            .filter(|c| !c.refresh);
        let grant = claims.map(|c| Grant::Token {
            user: (!c.sub.is_empty()).then_some(c.sub),
            access: c.access,
        });
        let ok = match (&grant, need) {
            (Some(_), Need::Ping) => true,
            (Some(g), n) => g.allows(self, n),
            (None, _) => false,
        };
        if ok {
            return Ok(grant.unwrap_or(Grant::All));
        }
        let realm = t.realm.clone().unwrap_or_else(|| realm.to_string());
        let mut c = format!("Bearer realm=\"{realm}\",service=\"{}\"", t.service);
        if let Some(s) = need.scope() {
            c += &format!(",scope=\"{s}\"");
        }
        if grant.is_some() {
            c += ",error=\"insufficient_scope\"";
        }
        Err(ApiError::new(Code::Unauthorized, "authentication required")
            .header("www-authenticate", c))
    }

    /// `GET /token`: checks the caller's basic credentials (none: anonymous) and grants the
    /// requested scopes as far as the rules allow; with `offline_token=true` an authenticated
    /// caller also gets a refresh token (what `docker login` keeps as its identity token).
    pub async fn issue_token(
        &self,
        headers: &HeaderMap,
        query: &[(String, String)],
    ) -> Result<Value, ApiError> {
        let t = self.token_config()?;
        let user = self.basic_user(headers).await.map_err(|_| {
            ApiError::new(Code::Unauthorized, "token: wrong user name or password").header(
                "www-authenticate",
                format!("Basic realm=\"{}\"", self.realm),
            )
        })?;
        let offline = query
            .iter()
            .any(|(k, v)| k == "offline_token" && v == "true");
        let scopes: Vec<&str> = query
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str())
            .collect();
        let mut v = self.grant_json(t, user.as_deref(), &scopes);
        if let (true, Some(u)) = (offline, &user) {
            v["refresh_token"] = Value::String(self.refresh_token(t, u));
        }
        Ok(v)
    }

    /// `POST /token`, the OAuth2 form docker's client sends once it has an identity token:
    /// `grant_type=password` (`username`, `password`) or `grant_type=refresh_token`
    /// (`refresh_token`), with `scope` (space-separated), `service`, `client_id` and, for a
    /// password, `access_type=offline` to get a refresh token too.
    pub async fn issue_token_form(&self, form: &[(String, String)]) -> Result<Value, ApiError> {
        let t = self.token_config()?;
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let denied = |what: &str| {
            ApiError::new(Code::Unauthorized, format!("token: {what}")).header(
                "www-authenticate",
                format!("Basic realm=\"{}\"", self.realm),
            )
        };
        let (user, refresh) = match get("grant_type") {
            Some("password") => {
                let (Some(u), Some(p)) = (get("username"), get("password")) else {
                    return Err(ApiError::new(
                        Code::Unsupported,
                        "token: grant_type=password needs username and password",
                    ));
                };
                let h = self.htpasswd.clone().ok_or_else(|| denied("no users"))?;
                let (u2, p2) = (u.to_string(), p.to_string());
                let ok = tokio::task::spawn_blocking(move || h.verify(&u2, &p2))
                    .await
                    .unwrap_or(false);
                if !ok {
                    return Err(denied("wrong user name or password"));
                }
                let offline = get("access_type") == Some("offline");
                (u.to_string(), offline.then(|| self.refresh_token(t, u)))
            }
            Some("refresh_token") => {
                let rt = get("refresh_token").unwrap_or_default();
                let claims = token::verify(&self.key, rt.trim(), now())
                    .filter(|c| c.refresh && c.aud == t.service && !c.sub.is_empty())
                    .ok_or_else(|| denied("invalid or expired refresh token"))?;
                (claims.sub, Some(rt.to_string()))
            }
            other => {
                return Err(ApiError::new(
                    Code::Unsupported,
                    format!(
                        "token: unsupported grant_type {:?}: use password or refresh_token",
                        other.unwrap_or("")
                    ),
                ))
            }
        };
        let scopes: Vec<&str> = form
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str())
            .collect();
        let mut v = self.grant_json(t, Some(&user), &scopes);
        if let Some(r) = refresh {
            v["refresh_token"] = Value::String(r);
        }
        Ok(v)
    }

    fn token_config(&self) -> Result<&TokenConfig, ApiError> {
        match &self.mode {
            Mode::Token(t) => Ok(t),
            _ => Err(ApiError::new(
                Code::Unsupported,
                "this registry issues no tokens",
            )),
        }
    }

    fn refresh_token(&self, t: &TokenConfig, user: &str) -> String {
        token::sign(
            &self.key,
            &Claims {
                sub: user.to_string(),
                aud: t.service.clone(),
                exp: now() + REFRESH_EXPIRY_SECS,
                access: Vec::new(),
                refresh: true,
            },
        )
    }

    /// An access token for what of `scopes` (each a space-separated list) `user` may have.
    fn grant_json(&self, t: &TokenConfig, user: Option<&str>, scopes: &[&str]) -> Value {
        let mut access = Vec::new();
        for scope in scopes {
            for s in scope.split(' ') {
                if let Some(a) = Access::parse(s) {
                    if let Some(g) = self.grantable(user, a) {
                        access.push(g);
                    }
                }
            }
        }
        let granted: Vec<String> = access
            .iter()
            .map(|a| format!("{}:{}:{}", a.kind, a.name, a.actions.join(",")))
            .collect();
        let claims = Claims {
            sub: user.unwrap_or_default().to_string(),
            aud: t.service.clone(),
            exp: now() + t.expiry_secs,
            access,
            refresh: false,
        };
        let tok = token::sign(&self.key, &claims);
        json!({
            "token": tok, "access_token": tok, "expires_in": t.expiry_secs,
            "issued_at": rfc3339(now()), "scope": granted.join(" "),
        })
    }

    fn grantable(&self, user: Option<&str>, mut a: Access) -> Option<Access> {
        match a.kind.as_str() {
            "repository" => {
                a.actions.retain(|x| self.rules_allow(user, &a.name, x));
                (!a.actions.is_empty()).then_some(a)
            }
            "registry" if a.name == "catalog" => self.catalog_allowed(user).then_some(a),
            _ => None,
        }
    }
}

/// Seconds since the epoch as `2024-01-02T03:04:05Z`.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn user_matches(users: &[String], user: Option<&str>) -> bool {
    users.iter().any(|u| match user {
        None => u == "anonymous",
        Some(name) => u == "*" || u == name,
    })
}

impl Grant {
    /// Whether this grant covers `need`.
    pub fn allows(&self, auth: &Auth, need: Need<'_>) -> bool {
        match (self, need) {
            (Grant::All, _) => true,
            (_, Need::Ping) => true,
            (Grant::User(u), Need::Catalog) => auth.catalog_allowed(u.as_deref()),
            (Grant::User(u), Need::Repo { name, action }) => {
                auth.rules_allow(u.as_deref(), name, action.as_str())
            }
            (Grant::Token { access, .. }, Need::Catalog) => access
                .iter()
                .any(|a| a.kind == "registry" && a.name == "catalog"),
            (Grant::Token { access, .. }, Need::Repo { name, action }) => access.iter().any(|a| {
                a.kind == "repository"
                    && a.name == name
                    && a.actions.iter().any(|x| x == action.as_str() || x == "*")
            }),
        }
    }

    /// Whether the caller may read every repository (mounting a blob without naming `from`).
    pub fn pulls_everything(&self, auth: &Auth) -> bool {
        match self {
            Grant::All => true,
            Grant::User(u) => auth.pulls_all(u.as_deref()),
            Grant::Token { .. } => false,
        }
    }

    /// Whether the caller may pull `repo` by the rules (what the catalog lists for them).
    pub fn may_pull(&self, auth: &Auth, repo: &str) -> bool {
        match self {
            Grant::All => true,
            Grant::User(u) | Grant::Token { user: u, .. } => {
                auth.rules_allow(u.as_deref(), repo, "pull")
            }
        }
    }
}
