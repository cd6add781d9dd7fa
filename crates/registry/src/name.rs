//! Repository names, tags and manifest references, validated as the distribution spec says.

use crate::digest::Digest;

/// A name's or tag's error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("repository name {0:?}: invalid (lower-case components separated by '/', at most 255 bytes)")]
    Repository(String),
    #[error("tag {0:?}: invalid (at most 128 of [A-Za-z0-9_.-], not starting with '.' or '-')")]
    Tag(String),
}

/// Checks `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` for one path component.
fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Validates a repository name.
pub fn check_repository(name: &str) -> Result<(), NameError> {
    if name.len() > 255 || !name.split('/').all(component_ok) {
        return Err(NameError::Repository(name.to_string()));
    }
    Ok(())
}

/// Validates a tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), NameError> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'));
    if !ok {
        return Err(NameError::Tag(tag.to_string()));
    }
    Ok(())
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    /// A digest when the string has a ':' (tags cannot), else a tag.
    pub fn parse(s: &str) -> Result<Reference, crate::error::ApiError> {
        if s.contains(':') {
            Ok(Reference::Digest(s.parse()?))
        } else {
            check_tag(s)?;
            Ok(Reference::Tag(s.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for ok in ["a", "library/busybox", "a-b/c__d/e.f", "a--b", "x0/y1/z2"] {
            check_repository(ok).unwrap();
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "-a", "a-", "a___b", "a..b", "a/_b", "a b",
        ] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
        assert!(check_repository(&"a".repeat(256)).is_err());
    }

    #[test]
    fn tags() {
        for ok in ["latest", "v1.0", "_x", "A-b_c.d"] {
            check_tag(ok).unwrap();
        }
        for bad in ["", ".x", "-x", "a/b", "a:b"] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
        check_tag(&"a".repeat(128)).unwrap();
        assert!(check_tag(&"a".repeat(129)).is_err());
    }
}
