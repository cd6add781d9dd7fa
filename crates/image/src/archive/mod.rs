//! Archives: docker-archive `save`/`load` ([`docker`]), OCI image layout export/import
//! ([`oci`]), and `import` of a root filesystem tar as a one-layer image ([`rootfs`]).

pub mod docker;
pub mod oci;
pub mod rootfs;

use std::path::PathBuf;

/// An archive that cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A required member is missing.
    #[error("archive: missing {0}")]
    Missing(String),
    /// A member is malformed.
    #[error("archive: invalid {what}: {detail}")]
    Invalid { what: String, detail: String },
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
        match self {
            ArchiveError::Missing(_) | ArchiveError::Invalid { .. } => crate::ErrorKind::Invalid,
            ArchiveError::Io { .. } => crate::ErrorKind::Internal,
        }
    }

    #[allow(dead_code)] // used by the archive formats as they land
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ArchiveError::Io { op, path, source }
    }
}
