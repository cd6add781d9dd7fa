//! The local store: content-addressed blobs ([`blobs`]) and image metadata ([`meta`]).

pub mod blobs;
pub mod meta;

pub use blobs::{BlobWriter, ContentStore, Ingest, TeeReader};
pub use meta::{ImageRecord, MetaStore};

use crate::digest::Digest;
use std::path::PathBuf;

/// A failure of the local store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The blob is not in the store.
    #[error("blob {0}: not found")]
    NotFound(Digest),
    /// What was written does not hash to the expected digest; nothing was kept.
    #[error("blob {expected}: digest mismatch (got {actual})")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// What was written is not the expected size; nothing was kept.
    #[error("blob {digest}: size mismatch (expected {expected} bytes, got {actual})")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A metadata file could not be decoded.
    #[error("metadata {path}: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl StoreError {
    /// The kind of this error.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            StoreError::NotFound(_) => crate::ErrorKind::NotFound,
            StoreError::DigestMismatch { .. } | StoreError::SizeMismatch { .. } => {
                crate::ErrorKind::DataLoss
            }
            StoreError::Io { .. } | StoreError::Corrupt { .. } => crate::ErrorKind::Internal,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| StoreError::Io { op, path, source }
    }
}
