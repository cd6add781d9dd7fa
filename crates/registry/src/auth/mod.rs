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
    /// A bearer token's granted access.
    Token(Vec<Access>),
}

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

    fn catalog_allowed(&self, user: Option<&str>) -> bool {
        if self.rules.is_empty() {
            return user.is_some();
        }
        self.rules.iter().any(|r| {
            r.repository == "*"
                && user_matches(&r.users, user)
                && r.actions.iter().any(|a| a == "pull" || a == "*")
        })
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
        let claims = bearer.and_then(|b| token::verify(&self.key, b.trim(), now()));
        let grant = claims.map(|c| Grant::Token(c.access));
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

    /// The `/token` endpoint: checks the caller's basic credentials (none: anonymous) and grants
    /// the requested scopes as far as the rules allow.
    pub async fn issue_token(
        &self,
        headers: &HeaderMap,
        query: &[(String, String)],
    ) -> Result<Value, ApiError> {
        let Mode::Token(t) = &self.mode else {
            return Err(ApiError::new(
                Code::Unsupported,
                "this registry issues no tokens",
            ));
        };
        let user = self.basic_user(headers).await.map_err(|_| {
            ApiError::new(Code::Unauthorized, "token: wrong user name or password").header(
                "www-authenticate",
                format!("Basic realm=\"{}\"", self.realm),
            )
        })?;
        let mut access = Vec::new();
        for (_, scope) in query.iter().filter(|(k, _)| k == "scope") {
            for s in scope.split(' ') {
                if let Some(a) = Access::parse(s) {
                    if let Some(g) = self.grantable(user.as_deref(), a) {
                        access.push(g);
                    }
                }
            }
        }
        let claims = Claims {
            sub: user.unwrap_or_default(),
            aud: t.service.clone(),
            exp: now() + t.expiry_secs,
            access,
        };
        let tok = token::sign(&self.key, &claims);
        Ok(json!({"token": tok, "access_token": tok, "expires_in": t.expiry_secs}))
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
            (Grant::Token(acc), Need::Catalog) => acc
                .iter()
                .any(|a| a.kind == "registry" && a.name == "catalog"),
            (Grant::Token(acc), Need::Repo { name, action }) => acc.iter().any(|a| {
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
            Grant::User(u) => auth.catalog_allowed(u.as_deref()),
            Grant::Token(_) => false,
        }
    }
}
