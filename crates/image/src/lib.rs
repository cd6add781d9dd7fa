//! tug images: references, content store, registry client, layers, snapshots, archives.
//!
//! The entry point for a CLI or a daemon is [`ImageService`]: it owns a data root with a
//! content store (`blobs/`), metadata (`meta/`) and snapshots (`snapshots/`), and offers pull,
//! push, tag, list, remove, save, load, import, mount and garbage collection. Progress of long
//! operations goes to a [`progress::Progress`] callback so a CLI can draw docker-style bars.
//!
//! Every module has its own error enum; each error answers [`ErrorKind`] so an API layer can map
//! it to a status in one place.

pub mod archive;
pub mod digest;
pub mod gc;
pub mod layer;
pub mod manifest;
pub mod progress;
pub mod reference;
pub mod registry;
mod service;
pub mod snapshot;
pub mod store;
mod sys;

pub use digest::Digest;
pub use progress::{Progress, ProgressEvent};
pub use reference::Reference;
pub use service::commit;
pub use service::{
    Cause, ImageInfo, ImageService, PullOptions, PushOptions, ServiceConfig, ServiceError,
};

/// What kind of failure an error is, for mapping to API statuses and exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input: a malformed reference, manifest, platform or archive.
    Invalid,
    /// The thing asked for does not exist (locally or in the registry).
    NotFound,
    /// The operation conflicts with current state (e.g. image in use).
    Conflict,
    /// Credentials are missing or refused.
    Unauthorized,
    /// The content does not match its digest or size.
    DataLoss,
    /// The format or feature is known but not supported (schema1, unknown compression).
    Unsupported,
    /// The remote side failed or could not be reached.
    Unavailable,
    /// A local system call or file operation failed.
    Internal,
}
