//! Progress of pulls and pushes, reported to a callback so a CLI can draw docker-style bars
//! (or plain lines) and a daemon can stream docker's JSON progress messages.

use crate::digest::Digest;

/// One step of a pull or push. Layer IDs are shown as docker does: the first 12 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    /// The reference resolved to this manifest (docker: `Digest: sha256:…`).
    Resolved { reference: String, digest: Digest },
    /// A layer is queued (docker: `Pulling fs layer` / `Preparing`).
    LayerWaiting { layer: Digest },
    /// The layer (or its snapshot) is already here (docker: `Already exists`).
    LayerExists { layer: Digest },
    /// Bytes moved so far (docker: `Downloading [=>  ] 1MB/10MB` / `Pushing`).
    LayerProgress {
        layer: Digest,
        current: u64,
        total: u64,
    },
    /// Resuming an interrupted download at this offset.
    LayerResumed { layer: Digest, offset: u64 },
    /// Download verified and unpacked (docker: `Pull complete`) or pushed (`Pushed`).
    LayerDone { layer: Digest },
    /// Mounted from another repository on push (docker: `Mounted from x`).
    LayerMounted { layer: Digest, from: String },
    /// The whole operation finished (docker: `Status: Downloaded newer image for …`).
    Done { reference: String, digest: Digest },
}

/// Receives progress events; called from several tasks at once.
pub trait Progress: Send + Sync {
    fn event(&self, event: ProgressEvent);
}

/// Progress that is thrown away (`-q`).
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _: ProgressEvent) {}
}

impl<F: Fn(ProgressEvent) + Send + Sync> Progress for F {
    fn event(&self, event: ProgressEvent) {
        self(event)
    }
}
