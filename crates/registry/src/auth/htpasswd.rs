//! htpasswd files with bcrypt hashes; verified passwords are remembered (as a hash) so that a
//! push of many blobs does not pay bcrypt's cost on every request.

use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// An htpasswd file's error.
#[derive(Debug, thiserror::Error)]
pub enum HtpasswdError {
    #[error("htpasswd {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("htpasswd {path} line {line}: not user:bcrypt-hash")]
    Line { path: String, line: usize },
}

pub struct Htpasswd {
    users: HashMap<String, String>,
    verified: Mutex<HashMap<String, [u8; 32]>>,
}

impl Htpasswd {
    pub fn load(path: &Path) -> Result<Htpasswd, HtpasswdError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| HtpasswdError::Read {
            path: p.clone(),
            source,
        })?;
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((u, h)) if h.starts_with("$2") && !u.is_empty() => {
                    users.insert(u.to_string(), h.to_string());
                }
                _ => {
                    return Err(HtpasswdError::Line {
                        path: p,
                        line: i + 1,
                    })
                }
            }
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Checks a user's password (bcrypt's cost is paid once per user and password).
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let fingerprint: [u8; 32] = Sha256::new()
            .chain_update(hash.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if self.verified.lock().unwrap().get(user) == Some(&fingerprint) {
            return true;
        }
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            self.verified
                .lock()
                .unwrap()
                .insert(user.to_string(), fingerprint);
        }
        ok
    }
}
