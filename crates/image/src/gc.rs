//! Garbage collection: remove blobs and snapshots that no image name reaches, plus leftovers
//! of crashed writes. It holds the store's GC lock exclusively, and every pull, load and
//! import holds it shared while it writes, so GC never removes content a running pull needs.
//!
//! Containers' snapshots are the engine's business: it passes the chain IDs (or blob digests)
//! its containers use as extra roots.

use crate::manifest::{self, ImageIndex, ImageManifest};
use crate::service::{Cause, ImageService, ServiceError};
use crate::Digest;
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// Partial downloads younger than this are kept for a later pull to resume.
pub const PARTIAL_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// What a GC removed.
#[derive(Debug, Default, Clone)]
pub struct GcReport {
    pub blobs_removed: Vec<Digest>,
    pub snapshots_removed: Vec<Digest>,
    pub bytes_freed: u64,
}

impl ImageService {
    /// Remove everything no image (and no digest in `extra_roots`) references.
    pub fn gc(&self, extra_roots: &[Digest]) -> Result<GcReport, ServiceError> {
        self.gc_inner(extra_roots)
            .map_err(|c| ServiceError::new("prune", "images", c))
    }

    fn gc_inner(&self, extra_roots: &[Digest]) -> Result<GcReport, Cause> {
        let _lock = self.gc_lock_blocking(true)?;
        let (blobs, chains) = self.mark(extra_roots)?;
        let mut report = GcReport::default();
        let content = self.content();
        for d in content.list()? {
            if !blobs.contains(&d) {
                report.bytes_freed += content.size(&d).unwrap_or(0);
                content.delete(&d)?;
                report.blobs_removed.push(d);
            }
        }
        for (path, modified) in content.partials()? {
            let age = SystemTime::now()
                .duration_since(modified)
                .unwrap_or_default();
            if age > PARTIAL_MAX_AGE {
                let _ = std::fs::remove_file(path);
            }
        }
        let snaps = self.snapshots();
        for c in snaps.list()? {
            if !chains.contains(&c) {
                snaps.remove(&c)?;
                report.snapshots_removed.push(c);
            }
        }
        for leftover in snaps.leftovers()? {
            let _ = std::fs::remove_dir_all(leftover);
        }
        tracing::info!(
            blobs = report.blobs_removed.len(),
            snapshots = report.snapshots_removed.len(),
            bytes = report.bytes_freed,
            "gc done"
        );
        Ok(report)
    }

    /// Blobs and snapshot chains reachable from image records and `extra`.
    fn mark(&self, extra: &[Digest]) -> Result<(HashSet<Digest>, HashSet<Digest>), Cause> {
        let mut blobs: HashSet<Digest> = extra.iter().cloned().collect();
        let mut chains: HashSet<Digest> = extra.iter().cloned().collect();
        let content = self.content();
        for rec in self.meta().images()? {
            blobs.insert(rec.target.clone());
            let mut manifests = vec![rec.manifest.clone()];
            if manifest::is_index(&rec.media_type) {
                if let Ok(b) = content.read(&rec.target) {
                    if let Ok(ix) = serde_json::from_slice::<ImageIndex>(&b) {
                        for m in ix.manifests() {
                            manifests.extend(manifest::digest_of(m).ok());
                        }
                    }
                }
            }
            for md in manifests {
                let Ok(b) = content.read(&md) else { continue };
                blobs.insert(md);
                let Ok(m) = serde_json::from_slice::<ImageManifest>(&b) else {
                    continue;
                };
                for d in m.layers().iter().chain([m.config()]) {
                    blobs.extend(manifest::digest_of(d).ok());
                }
                let Ok(cb) = content.read(&manifest::digest_of(m.config())?) else {
                    continue;
                };
                let config = manifest::parse_config(&cb)?;
                chains.extend(manifest::chain_ids(&manifest::diff_ids(&config)?));
            }
        }
        Ok((blobs, chains))
    }
}
