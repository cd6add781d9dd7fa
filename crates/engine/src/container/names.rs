//! Container ids (64 hex digits) and generated names (`adjective_noun`, as Docker users know).

use std::io::Read;

/// A new random container or exec id.
pub fn new_id() -> String {
    let mut buf = [0u8; 32];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        buf[..16].copy_from_slice(&t.as_nanos().to_le_bytes());
        buf[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

const ADJECTIVES: &[&str] = &[
    "agile", "bold", "brave", "bright", "busy", "calm", "clever", "cosy", "crisp", "daring",
    "eager", "fair", "fast", "fond", "gentle", "glad", "happy", "hardy", "honest", "jolly", "keen",
    "kind", "lively", "lucid", "merry", "mighty", "modest", "neat", "nimble", "noble", "patient",
    "plucky", "proud", "quick", "quiet", "rapid", "ready", "sharp", "shy", "sleek", "smart",
    "snug", "steady", "sturdy", "swift", "tidy", "tough", "trusty", "vivid", "warm", "wise",
    "witty", "zesty",
];

/// People and boats of the sea, for the noun half.
const NOUNS: &[&str] = &[
    "anchor",
    "barge",
    "beacon",
    "bosun",
    "buoy",
    "captain",
    "coxswain",
    "cutter",
    "dinghy",
    "dory",
    "ferry",
    "galley",
    "harbour",
    "helm",
    "hull",
    "jetty",
    "keel",
    "ketch",
    "launch",
    "lighter",
    "mariner",
    "mast",
    "navigator",
    "oar",
    "pilot",
    "piling",
    "port",
    "punt",
    "quay",
    "rudder",
    "sail",
    "schooner",
    "skiff",
    "sloop",
    "stern",
    "steward",
    "towline",
    "trawler",
    "tug",
    "wharf",
    "whaler",
    "yawl",
];

/// A random `adjective_noun` name; `taken` says whether a name is in use.
pub fn generate(taken: impl Fn(&str) -> bool) -> String {
    let id = new_id();
    let mut seed = u64::from_str_radix(&id[..16], 16).unwrap_or(7);
    for attempt in 0..100 {
        let a = ADJECTIVES[(seed % ADJECTIVES.len() as u64) as usize];
        seed /= ADJECTIVES.len() as u64;
        let n = NOUNS[(seed % NOUNS.len() as u64) as usize];
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let name = if attempt < 10 {
            format!("{a}_{n}")
        } else {
            format!("{a}_{n}{attempt}")
        };
        if !taken(&name) {
            return name;
        }
    }
    id[..12].to_string()
}

/// Docker's rule for user-given names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, an optional leading '/'.
pub fn valid_name(name: &str) -> bool {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && n.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        let a = new_id();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_id());
        let n = generate(|_| false);
        assert!(n.contains('_') && valid_name(&n), "{n}");
        let only = generate(|n| !n.ends_with("42"));
        assert!(only.ends_with("42"), "{only}");
        for ok in ["web", "/web", "a1", "my_app.v2-x"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "a", "-x", "_x", "a b", "a/b", "ü1"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
