//! Bearer tokens issued by the registry's own `/token` endpoint: a JSON claim set (subject,
//! expiry, granted access) and its HMAC-SHA256, both base64url, joined by '.'.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// One granted scope: `repository:<name>:<actions>` or `registry:catalog:*`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Access {
    /// Parses a scope string (`repository:a/b:pull,push`).
    pub fn parse(scope: &str) -> Option<Access> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        Some(Access {
            kind: kind.to_string(),
            name: name.to_string(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(String::from)
                .collect(),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub access: Vec<Access>,
    /// A refresh (identity) token: it only buys access tokens at `POST /token`, and is never
    /// accepted as an access token itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh: bool,
}

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |x: u8| k.map(|b| b ^ x);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

pub fn sign(key: &[u8], claims: &Claims) -> String {
    let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
    let mac = B64.encode(hmac_sha256(key, payload.as_bytes()));
    format!("{payload}.{mac}")
}

/// The claims of a token signed with `key` that has not expired at `now` (unix seconds).
pub fn verify(key: &[u8], token: &str, now: u64) -> Option<Claims> {
    let (payload, mac) = token.split_once('.')?;
    let mac = B64.decode(mac).ok()?;
    let want = hmac_sha256(key, payload.as_bytes());
    if mac.len() != want.len() || mac.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0 {
        return None;
    }
    let claims: Claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    (claims.exp > now).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            crate::digest::hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let c = Claims {
            sub: "alice".into(),
            aud: "svc".into(),
            exp: 100,
            access: vec![Access::parse("repository:a/b:pull,push").unwrap()],
            refresh: false,
        };
        let t = sign(b"k", &c);
        assert_eq!(verify(b"k", &t, 50).unwrap().access, c.access);
        assert!(verify(b"k", &t, 100).is_none(), "expired");
        assert!(verify(b"other", &t, 50).is_none());
        let (p, m) = t.split_once('.').unwrap();
        assert!(verify(b"k", &format!("{p}x.{m}"), 50).is_none());
    }
}
