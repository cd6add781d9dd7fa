//! Image references, normalised exactly as Docker does (`github.com/distribution/reference`):
//! `busybox` → `docker.io/library/busybox:latest`, `host:port/repo:tag`, `repo@sha256:…`,
//! with Docker's error messages, and the familiar (short) form for display.

use crate::digest::{self, Digest, DigestError};
use std::fmt;
use std::str::FromStr;

/// The registry used when a reference names none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A reference that could not be parsed; the messages are Docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Does not match the reference grammar.
    #[error("invalid reference format")]
    InvalidFormat,
    /// The repository part has upper-case letters.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// Upper-case letters where only lower case is allowed (non-normalised parse).
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    /// The empty string.
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// Longer than 255 characters.
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    /// A bare 64-hex string, which docker reserves for image IDs.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier(String),
    /// The digest part is malformed.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

impl ReferenceError {
    /// The kind of this error.
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::Invalid
    }
}

/// A normalised, fully qualified image reference.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parse as `docker pull` does: normalise the name and add `:latest` when neither a tag nor
    /// a digest is given.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Self::parse_named(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some("latest".into());
        }
        Ok(r)
    }

    /// Parse and normalise the name, without adding a default tag.
    pub fn parse_named(s: &str) -> Result<Reference, ReferenceError> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ReferenceError::HexIdentifier(s.into()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder
            .split_once(':')
            .map_or(remainder.as_str(), |r| r.0);
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::Uppercase(remote.into()));
        }
        parse_full(&format!("{domain}/{remainder}"))
    }

    /// The registry host (and port), e.g. `docker.io` or `127.0.0.1:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The full name without tag or digest, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The name as docker shows it, e.g. `busybox` or `quay.io/x/y`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.into(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The whole reference as docker shows it, e.g. `busybox:latest`.
    pub fn familiar(&self) -> String {
        self.with_name(self.familiar_name())
    }

    /// The same repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.into()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository pinned to a digest (and no tag).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// What to ask the registry's manifest endpoint for: the digest if any, else the tag.
    pub fn object(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    fn with_name(&self, mut s: String) -> String {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_name(self.name()))
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// Docker's `splitDockerDomain`: the first component is a domain only when it looks like one.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remote) = match name.find('/') {
        Some(i)
            if name[..i].contains(['.', ':'])
                || &name[..i] == "localhost"
                || name[..i].to_lowercase() != name[..i] =>
        {
            (name[..i].to_string(), name[i + 1..].to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.into();
    }
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        remote = format!("{OFFICIAL_REPO_PREFIX}{remote}");
    }
    (domain, remote)
}

/// Docker's `Parse` on an already normalised string `domain/path[:tag][@digest]`.
fn parse_full(s: &str) -> Result<Reference, ReferenceError> {
    match match_reference(s) {
        Some(m) => {
            if m.name.len() > NAME_TOTAL_LENGTH_MAX {
                return Err(ReferenceError::NameTooLong);
            }
            let digest = m.digest.map(Digest::from_str).transpose()?;
            let (domain, path) = m
                .name
                .split_once('/')
                .ok_or(ReferenceError::InvalidFormat)?;
            Ok(Reference {
                domain: domain.into(),
                path: path.into(),
                tag: m.tag.map(Into::into),
                digest,
            })
        }
        None if s.is_empty() => Err(ReferenceError::NameEmpty),
        None if match_reference(&s.to_lowercase()).is_some() => {
            Err(ReferenceError::NameContainsUppercase)
        }
        None => Err(ReferenceError::InvalidFormat),
    }
}

struct Matched<'a> {
    name: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// The reference grammar: `name [":" tag] ["@" digest]`.
fn match_reference(s: &str) -> Option<Matched<'_>> {
    let (rest, digest) = match s.rfind('@') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if let Some(d) = digest {
        if !digest::matches_grammar(d) {
            return None;
        }
    }
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        if !is_tag(t) {
            return None;
        }
    }
    is_name(name).then_some(Matched { name, tag, digest })
}

fn is_tag(t: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = t.chars();
    t.len() <= 128
        && matches!(chars.next(), Some(c) if word(c))
        && chars.all(|c| word(c) || c == '.' || c == '-')
}

/// `[domain "/"] path-component ("/" path-component)*`, trying the domain form first.
fn is_name(name: &str) -> bool {
    let comps: Vec<&str> = name.split('/').collect();
    if comps.len() >= 2 && is_domain(comps[0]) && comps[1..].iter().all(|c| is_path_component(c)) {
        return true;
    }
    comps.iter().all(|c| is_path_component(c))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
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
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// `host [":" port]` where host is a domain name, an IPv4 address or `[IPv6]`.
fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let ip = &rest[..end];
        if ip.is_empty() || !ip.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => ("ipv6", Some(p)),
            None if after.is_empty() => ("ipv6", None),
            None => return false,
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    host == "ipv6" && d.starts_with('[') || host.split('.').all(is_domain_component)
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalises_like_docker() {
        let cases: &[(&str, &str, &str)] = &[
            // input, full, familiar
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "busybox:1.36",
                "docker.io/library/busybox:1.36",
                "busybox:1.36",
            ),
            (
                "library/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "index.docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/library/busybox:1",
                "docker.io/library/busybox:1",
                "busybox:1",
            ),
            ("foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest"),
            (
                "foo/bar/baz:v2",
                "docker.io/foo/bar/baz:v2",
                "foo/bar/baz:v2",
            ),
            (
                "docker.io/library/a/b",
                "docker.io/library/a/b:latest",
                "library/a/b:latest",
            ),
            ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
            (
                "localhost:5000/x",
                "localhost:5000/x:latest",
                "localhost:5000/x:latest",
            ),
            (
                "localhost:5000",
                "docker.io/library/localhost:5000",
                "localhost:5000",
            ),
            (
                "127.0.0.1:5000/a/b:t",
                "127.0.0.1:5000/a/b:t",
                "127.0.0.1:5000/a/b:t",
            ),
            (
                "quay.io/coreos/etcd",
                "quay.io/coreos/etcd:latest",
                "quay.io/coreos/etcd:latest",
            ),
            ("[::1]:5000/x:y", "[::1]:5000/x:y", "[::1]:5000/x:y"),
            ("Foo/bar", "Foo/bar:latest", "Foo/bar:latest"),
            (
                "Example.com/x",
                "Example.com/x:latest",
                "Example.com/x:latest",
            ),
            ("a.b-c.d/e", "a.b-c.d/e:latest", "a.b-c.d/e:latest"),
            (
                "foo_bar.baz__q-x---y",
                "docker.io/library/foo_bar.baz__q-x---y:latest",
                "foo_bar.baz__q-x---y:latest",
            ),
            (
                "busybox:Tag_1.2-x",
                "docker.io/library/busybox:Tag_1.2-x",
                "busybox:Tag_1.2-x",
            ),
        ];
        for (input, full, familiar) in cases {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&r.to_string(), full, "{input}");
            assert_eq!(&r.familiar(), familiar, "{input}");
        }
    }

    #[test]
    fn digests() {
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{D}"));
        assert_eq!(r.tag(), None);
        assert_eq!(r.object(), D);
        let r = Reference::parse(&format!("h:1/busybox:1@{D}")).unwrap();
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(r.familiar(), format!("h:1/busybox:1@{D}"));
        assert_eq!(r.object(), D);
    }

    #[test]
    fn errors_like_docker() {
        let long = "a".repeat(256);
        let cases: Vec<(String, &str)> = vec![
            ("Busybox".into(), "invalid reference format: repository name (library/Busybox) must be lowercase"),
            ("foo/Bar:tag".into(), "invalid reference format: repository name (foo/Bar) must be lowercase"),
            ("".into(), "invalid reference format"),
            (":tag".into(), "invalid reference format"),
            ("busybox:".into(), "invalid reference format"),
            ("busybox:-x".into(), "invalid reference format"),
            ("-busybox".into(), "invalid reference format"),
            ("busy--box-".into(), "invalid reference format"),
            ("foo//bar".into(), "invalid reference format"),
            ("foo/bar/".into(), "invalid reference format"),
            ("a b".into(), "invalid reference format"),
            ("busybox@sha256:abc".into(), "invalid reference format"),
            (format!("busybox:{}", "t".repeat(129)), "invalid reference format"),
            (format!("busybox@{}", D.replace("sha256", "sha384")), "unsupported digest algorithm"),
            (format!("busybox@{}", &D[..40]), "invalid checksum digest length"),
            ("busybox@sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855".into(), "invalid checksum digest format"),
            (long, "repository name must not be more than 255 characters"),
            (D[7..].to_string(), "invalid repository name (e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855), cannot specify 64-byte hexadecimal strings"),
            ("host:port/x".into(), "invalid reference format"),
            ("[::1/x".into(), "invalid reference format"),
        ];
        for (input, msg) in cases {
            let err = Reference::parse(&input).expect_err(&input);
            assert_eq!(err.to_string(), msg, "{input}");
        }
    }

    #[test]
    fn with_tag_and_digest() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.with_tag("2").familiar(), "busybox:2");
        let d: Digest = D.parse().unwrap();
        assert_eq!(r.with_digest(d).familiar(), format!("busybox@{D}"));
        assert_eq!(Reference::parse_named("busybox").unwrap().tag(), None);
    }
}
