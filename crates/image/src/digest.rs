//! Content digests (`sha256:…`, `sha512:…`): parsing with the OCI/Docker rules and messages,
//! incremental hashing, and a reader that hashes what passes through it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;
use std::fmt;
use std::io::Read;
use std::str::FromStr;

/// A digest that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not of the form `algorithm:hex`.
    #[error("invalid checksum digest format")]
    Format,
    /// The hex part has the wrong length for its algorithm.
    #[error("invalid checksum digest length")]
    Length,
    /// An algorithm other than sha256 or sha512.
    #[error("unsupported digest algorithm")]
    Unsupported,
}

impl DigestError {
    /// The kind of this error.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            DigestError::Unsupported => crate::ErrorKind::Unsupported,
            _ => crate::ErrorKind::Invalid,
        }
    }
}

/// A hash algorithm the store accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    /// The name used in digests and paths.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// A fresh hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        match self {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
}

/// A validated digest: an algorithm and its lower-case hex value.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex value, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The sha256 digest of `data`.
    pub fn sha256(data: &[u8]) -> Digest {
        Self::of(Algorithm::Sha256, data)
    }

    /// The digest of `data` with `algorithm`.
    pub fn of(algorithm: Algorithm, data: &[u8]) -> Digest {
        let mut h = algorithm.hasher();
        h.update(data);
        h.finish()
    }

    /// The first 12 hex characters, as docker shows image IDs.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

fn is_algorithm_component(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Whether `s` matches the digest grammar `algorithm:hex` (hex of 32 or more characters).
pub(crate) fn matches_grammar(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['+', '.', '-', '_']).all(is_algorithm_component);
    alg_ok && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let i = s.find(':').ok_or(DigestError::Format)?;
        if i == 0 || i + 1 == s.len() {
            return Err(DigestError::Format);
        }
        let (alg, hex) = (&s[..i], &s[i + 1..]);
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ if !matches_grammar(s) => return Err(DigestError::Format),
            _ => return Err(DigestError::Unsupported),
        };
        if hex.len() != algorithm.hex_len() {
            return Err(DigestError::Length);
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::Format);
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = DigestError;
    fn try_from(d: &oci_spec::image::Digest) -> Result<Self, Self::Error> {
        d.to_string().parse()
    }
}

impl From<&Digest> for oci_spec::image::Digest {
    fn from(d: &Digest) -> Self {
        d.to_string()
            .parse()
            .expect("a valid digest is a valid oci digest")
    }
}

/// Incremental hashing for one algorithm.
#[derive(Clone)]
pub enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// Feed bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (algorithm, bytes): (Algorithm, Vec<u8>) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            Hasher::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
        };
        Digest {
            algorithm,
            hex: to_hex(&bytes),
        }
    }
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// A reader that hashes and counts every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Hash what is read from `inner` with `algorithm`.
    pub fn new(inner: R, algorithm: Algorithm) -> Self {
        HashingReader {
            inner,
            hasher: algorithm.hasher(),
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The inner reader, mutably.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Read to the end and return the digest and byte count.
    pub fn finish(mut self) -> std::io::Result<(Digest, u64)> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok((self.hasher.finish(), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok = [
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        ];
        for s in ok {
            assert_eq!(s.parse::<Digest>().unwrap().to_string(), s);
        }
        let bad = [
            ("", DigestError::Format),
            ("sha256", DigestError::Format),
            (":abc", DigestError::Format),
            ("sha256:", DigestError::Format),
            ("sha256:abc", DigestError::Length),
            (
                "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                DigestError::Format,
            ),
            (
                "md5:e3b0c44298fc1c149afbf4c8996fb924",
                DigestError::Unsupported,
            ),
            ("md5:xyz", DigestError::Format),
        ];
        for (s, e) in bad {
            assert_eq!(s.parse::<Digest>().unwrap_err(), e, "{s}");
        }
    }

    #[test]
    fn hashes_known_values() {
        assert_eq!(
            Digest::sha256(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            Digest::of(Algorithm::Sha512, b"").hex(),
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        );
        let r = HashingReader::new(&b"abc"[..], Algorithm::Sha256);
        let (d, n) = r.finish().unwrap();
        assert_eq!(n, 3);
        assert_eq!(d, Digest::sha256(b"abc"));
    }
}
