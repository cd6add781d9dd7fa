//! The image service: one data root holding blobs, metadata and snapshots, and the operations
//! a CLI or daemon calls (pull, push, list, tag, remove, mount, save, load, import, gc).
//!
//! Layout under the root: `blobs/` ([`ContentStore`]), `meta/` ([`MetaStore`]),
//! `snapshots/` ([`Snapshotter`]), `gc.lock` (pulls hold it shared, GC exclusive, so GC never
//! removes what a running pull is writing).

mod archive;
pub mod commit;
mod images;
mod pull;
mod push;

pub use images::ImageInfo;
pub use pull::PullOptions;
pub use push::PushOptions;

use crate::layer::LayerError;
use crate::manifest::ManifestError;
use crate::reference::ReferenceError;
use crate::registry::{HostsConfig, RegistryClient, RegistryError};
use crate::snapshot::{SnapshotError, Snapshotter};
use crate::store::{ContentStore, MetaStore, StoreError};
use crate::sys::LockFile;
use crate::Digest;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What went wrong in a service operation.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    /// No local image by that name or ID.
    #[error("no such image")]
    ImageNotFound,
    /// The layer's uncompressed content is not what the config says.
    #[error("layer {layer}: diff id mismatch (config says {expected}, got {actual})")]
    DiffIdMismatch {
        layer: Digest,
        expected: Digest,
        actual: Digest,
    },
    /// The download of a blob broke off; its partial blob is kept for the next pull.
    #[error("blob {blob}: download interrupted: {detail}")]
    Interrupted { blob: Digest, detail: String },
    /// An ID prefix or name that matches several images.
    #[error("image is referenced in multiple repositories")]
    Ambiguous,
    /// A background task failed.
    #[error("task failed: {0}")]
    Task(String),
    /// A local file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Cause {
    /// The kind of this cause.
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind as K;
        match self {
            Cause::Reference(e) => e.kind(),
            Cause::Store(e) => e.kind(),
            Cause::Manifest(e) => e.kind(),
            Cause::Layer(e) => e.kind(),
            Cause::Snapshot(e) => e.kind(),
            Cause::Registry(e) => e.kind(),
            Cause::Archive(e) => e.kind(),
            Cause::ImageNotFound => K::NotFound,
            Cause::DiffIdMismatch { .. } => K::DataLoss,
            Cause::Ambiguous => K::Conflict,
            Cause::Interrupted { .. } => K::Unavailable,
            Cause::Task(_) | Cause::Io { .. } => K::Internal,
        }
    }
}

/// A failed operation on an image: `pull busybox:1: blob sha256:…: digest mismatch`.
#[derive(Debug, thiserror::Error)]
#[error("{op} {subject}: {cause}")]
pub struct ServiceError {
    pub op: &'static str,
    pub subject: String,
    #[source]
    pub cause: Cause,
}

impl ServiceError {
    pub(crate) fn new(
        op: &'static str,
        subject: impl Into<String>,
        cause: impl Into<Cause>,
    ) -> Self {
        ServiceError {
            op,
            subject: subject.into(),
            cause: cause.into(),
        }
    }

    /// The kind of this error.
    pub fn kind(&self) -> crate::ErrorKind {
        self.cause.kind()
    }
}

/// Settings for an [`ImageService`].
#[derive(Debug, Clone, Default)]
pub struct ServiceConfig {
    /// Registry hosts: insecure ones and mirrors.
    pub hosts: HostsConfig,
    /// A docker-compatible `config.json` with credentials (none: anonymous only).
    pub credentials: Option<PathBuf>,
}

pub(crate) struct Inner {
    pub root: PathBuf,
    pub content: ContentStore,
    pub meta: MetaStore,
    pub snapshots: Snapshotter,
    pub registry: RegistryClient,
}

/// Images under one data root. Cheap to clone; safe to use from many tasks and processes.
#[derive(Clone)]
pub struct ImageService {
    pub(crate) inner: Arc<Inner>,
}

impl ImageService {
    /// Open (creating) the image store under `root` (e.g. `/var/lib/tug/image`).
    pub fn open(root: &Path, config: ServiceConfig) -> Result<ImageService, ServiceError> {
        let err = |c: Cause| ServiceError::new("open", root.display().to_string(), c);
        let content = ContentStore::open(root).map_err(|e| err(e.into()))?;
        let meta = MetaStore::open(root).map_err(|e| err(e.into()))?;
        let snapshots = Snapshotter::open(root).map_err(|e| err(e.into()))?;
        let creds = config
            .credentials
            .map(crate::registry::auth::CredentialStore::new);
        let registry = RegistryClient::new(config.hosts, creds);
        Ok(ImageService {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                content,
                meta,
                snapshots,
                registry,
            }),
        })
    }

    /// The blob store.
    pub fn content(&self) -> &ContentStore {
        &self.inner.content
    }

    /// The metadata store.
    pub fn meta(&self) -> &MetaStore {
        &self.inner.meta
    }

    /// The snapshot store.
    pub fn snapshots(&self) -> &Snapshotter {
        &self.inner.snapshots
    }

    /// The registry client.
    pub fn registry(&self) -> &RegistryClient {
        &self.inner.registry
    }

    /// Hold the GC lock: shared for writers of new content, exclusive for GC.
    pub(crate) async fn gc_lock(&self, exclusive: bool) -> Result<LockFile, Cause> {
        let path = self.inner.root.join("gc.lock");
        tokio::task::spawn_blocking(move || {
            LockFile::persistent(&path, exclusive).map_err(|e| (path, e))
        })
        .await
        .map_err(|e| Cause::Task(e.to_string()))?
        .map_err(|(path, source)| Cause::Io {
            op: "lock",
            path,
            source,
        })
    }

    pub(crate) fn gc_lock_blocking(&self, exclusive: bool) -> Result<LockFile, Cause> {
        let path = self.inner.root.join("gc.lock");
        LockFile::persistent(&path, exclusive).map_err(|source| Cause::Io {
            op: "lock",
            path,
            source,
        })
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Cause> + Send + 'static,
) -> Result<T, Cause> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Cause::Task(e.to_string()))?
}
