//! Archives: docker-archive `save`/`load` ([`docker`]), OCI image layout export/import
//! ([`oci`]), and `import` of a root filesystem tar as a one-layer image ([`rootfs`], which
//! also applies `--change` instructions).
//!
//! Reading an archive never extracts it by its own names: every regular member is streamed
//! into a staging file named by sequence number while its sha256 is computed ([`stage`]), and
//! the formats then look members up by validated, normalised path. Symbolic and hard links in
//! an archive are only ever aliases of other members inside it (docker 20.10 writes
//! `<id>/layer.tar -> ../<other>/layer.tar` for shared layers); one that points outside, or an
//! absolute or `..` member name, refuses the whole archive.

pub mod docker;
pub mod oci;
pub mod rootfs;
pub(crate) mod stage;

use crate::Digest;
use std::path::PathBuf;

/// The format [`save`](crate::ImageService::save) writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaveFormat {
    /// `docker save`'s format: `manifest.json` + `repositories` + an OCI layout (`index.json`,
    /// `oci-layout`, `blobs/`), as Docker 25+ writes it; older `docker load` reads it through
    /// `manifest.json`.
    #[default]
    Docker,
    /// A plain OCI image layout (`--format oci`).
    Oci,
}

/// One line of `docker history`, with the Docker Engine API's field names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryEntry {
    /// The image ID for the newest entry, `<missing>` for the others.
    pub id: String,
    /// Seconds since the epoch.
    pub created: i64,
    pub created_by: String,
    /// The image's names, on the newest entry only.
    pub tags: Option<Vec<String>>,
    /// Bytes the step's layer adds (0 for steps without a layer).
    pub size: i64,
    pub comment: String,
}

/// An archive that cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A required member is missing.
    #[error("archive: missing {0}")]
    Missing(String),
    /// A member is malformed.
    #[error("archive: invalid {what}: {detail}")]
    Invalid { what: String, detail: String },
    /// A member that could reach outside the archive (or the store): refused.
    #[error("archive: unsafe member {path:?}: {reason}")]
    Unsafe { path: String, reason: &'static str },
    /// A member's content does not match the digest its name or descriptor gives.
    #[error("archive: {path}: digest mismatch (expected {expected}, got {actual})")]
    DigestMismatch {
        path: String,
        expected: Digest,
        actual: Digest,
    },
    /// A member's size does not match its descriptor.
    #[error("archive: {path}: size mismatch (expected {expected} bytes, got {actual})")]
    SizeMismatch {
        path: String,
        expected: u64,
        actual: u64,
    },
    /// An `import --change` instruction that cannot be applied.
    #[error("invalid change {change:?}: {detail}")]
    Change { change: String, detail: String },
    /// A compression tug does not read.
    #[error("unsupported compression {0}: use a plain, gzip or zstd tar")]
    Compression(&'static str),
    /// Reading or writing failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ArchiveError {
    /// The kind of this error.
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind as K;
        match self {
            ArchiveError::Missing(_)
            | ArchiveError::Invalid { .. }
            | ArchiveError::Unsafe { .. }
            | ArchiveError::Change { .. } => K::Invalid,
            ArchiveError::DigestMismatch { .. } | ArchiveError::SizeMismatch { .. } => K::DataLoss,
            ArchiveError::Compression(_) => K::Unsupported,
            ArchiveError::Io { .. } => K::Internal,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ArchiveError::Io { op, path, source }
    }

    pub(crate) fn invalid(what: impl Into<String>, detail: impl ToString) -> Self {
        ArchiveError::Invalid {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}

/// Refuse compressions that tug recognises but does not decompress, by their magic bytes.
pub(crate) fn check_compression(head: &[u8]) -> Result<(), ArchiveError> {
    if head.starts_with(b"BZh") {
        Err(ArchiveError::Compression("bzip2"))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Err(ArchiveError::Compression("xz"))
    } else {
        Ok(())
    }
}

/// RFC 3339 UTC time (`2024-05-01T12:00:00Z`) of seconds since the epoch.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds since the epoch of an RFC 3339 time (fractions ignored), if it is one.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') => {
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

// Howard Hinnant's civil calendar algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        for secs in [0, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(secs)), Some(secs));
        }
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20.123456789+01:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
