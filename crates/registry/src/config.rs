//! The registry's configuration file (JSON): storage, auth, access rules, garbage collection
//! and retention. Every field is optional; an empty object is a registry without auth.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A configuration file's error.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub storage: StorageConfig,
    /// No `auth`: everyone may do everything.
    pub auth: Option<AuthConfig>,
    /// Who may do what where; with auth and no rules, every authenticated user may do all.
    pub access: Vec<AccessRule>,
    pub gc: GcConfig,
    pub retention: Vec<RetentionRule>,
    /// Manifests over this size are refused with 413.
    pub max_manifest_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            storage: StorageConfig::default(),
            auth: None,
            access: Vec::new(),
            gc: GcConfig::default(),
            retention: Vec::new(),
            max_manifest_bytes: 4 << 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Flush data to disk before acknowledging it (survives power loss, not only kills).
    pub fsync: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { fsync: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// An htpasswd file with bcrypt hashes (`htpasswd -B`).
    pub htpasswd: PathBuf,
    /// The realm named in `WWW-Authenticate: Basic`.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Issue bearer tokens from `/token` and ask for them, instead of basic auth on every request.
    pub token: Option<TokenConfig>,
}

fn default_realm() -> String {
    "tug-registry".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// The token endpoint's URL; by default this server's `/token`, as the client reached it.
    pub realm: Option<String>,
    pub service: String,
    pub expiry_secs: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            realm: None,
            service: "tug-registry".into(),
            expiry_secs: 300,
        }
    }
}

/// `users` ("*": any authenticated user, "anonymous": no credentials) may do `actions` ("pull",
/// "push", "delete", "*") in repositories matching `repository` ('*' matches any characters).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    pub repository: String,
    pub users: Vec<String>,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcConfig {
    /// Blobs and manifests written or used less than this long ago are kept.
    pub grace_secs: u64,
    /// Uploads untouched this long are removed.
    pub upload_expiry_secs: u64,
    /// Collect garbage while serving, this often.
    pub interval_secs: Option<u64>,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            grace_secs: 3600,
            upload_expiry_secs: 24 * 3600,
            interval_secs: None,
        }
    }
}

/// In repositories matching `repository`: keep the `keep_tags` most recently pushed tags, and
/// with `delete_untagged`, delete manifests no tag reaches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    pub repository: String,
    pub keep_tags: Option<usize>,
    #[serde(default)]
    pub delete_untagged: bool,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let data = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&data).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Matches `name` against a pattern where '*' matches any run of characters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(tail) = name.strip_prefix(head) else {
        return false;
    };
    (0..=tail.len())
        .filter(|&i| tail.is_char_boundary(i))
        .any(|i| glob_match(rest, &tail[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "a/b"));
        assert!(glob_match("team/*", "team/x/y"));
        assert!(!glob_match("team/*", "other/x"));
        assert!(glob_match("a*c", "abbc"));
        assert!(!glob_match("abc", "abcd"));
    }

    #[test]
    fn unknown_fields_are_errors() {
        assert!(serde_json::from_str::<Config>(r#"{"nope":1}"#).is_err());
        let c: Config = serde_json::from_str("{}").unwrap();
        assert!(c.auth.is_none() && c.storage.fsync);
    }
}
