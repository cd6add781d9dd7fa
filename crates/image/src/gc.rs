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
        self.sweep(extra_roots)
    }

    /// Mark and sweep; the caller holds the GC lock exclusively.
    fn sweep(&self, extra_roots: &[Digest]) -> Result<GcReport, Cause> {
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

/// Which images `prune` removes (docker's `image prune` filters).
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Every image no container uses (`-a`, `dangling=false`), not only untagged ones.
    pub all: bool,
    /// Only images created before this time (seconds since the epoch; `until=`).
    pub until: Option<i64>,
    /// `label=key`, `label=key=value`, and with `negate` `label!=…`: all must hold.
    pub labels: Vec<LabelFilter>,
}

/// One `label` filter of `prune` or `images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFilter {
    pub key: String,
    pub value: Option<String>,
    pub negate: bool,
}

impl LabelFilter {
    /// `key`, `key=value` (for `label=`), with `negate` for `label!=`.
    pub fn parse(s: &str, negate: bool) -> LabelFilter {
        let (key, value) = match s.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (s.to_string(), None),
        };
        LabelFilter { key, value, negate }
    }

    /// Whether an image with these labels passes.
    pub fn matches(&self, labels: &std::collections::HashMap<String, String>) -> bool {
        let hit = match (&self.value, labels.get(&self.key)) {
            (None, v) => v.is_some(),
            (Some(want), Some(v)) => want == v,
            (Some(_), None) => false,
        };
        hit != self.negate
    }
}

/// One line of a prune's answer, as docker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pruned {
    /// A name removed (`docker.io/library/busybox:latest`).
    Untagged(String),
    /// An image ID removed (`sha256:…`).
    Deleted(Digest),
}

/// What a prune removed.
#[derive(Debug, Default, Clone)]
pub struct PruneReport {
    pub removed: Vec<Pruned>,
    /// Bytes of blobs freed (docker's `SpaceReclaimed`).
    pub space_reclaimed: u64,
    pub gc: GcReport,
}

impl ImageService {
    /// Remove the images `opts` selects that no container uses (`in_use`: image IDs, i.e.
    /// config digests, of every container), then collect the blobs and snapshots nobody
    /// references any more. Containers' images stay, with their snapshots, even when their
    /// names were removed with `rmi -f`.
    pub fn prune(
        &self,
        opts: &PruneOptions,
        in_use: &[Digest],
    ) -> Result<PruneReport, ServiceError> {
        let err = |c| ServiceError::new("prune", "images", c);
        // One critical section: no pull adds content between choosing and sweeping.
        let _lock = self.gc_lock_blocking(true).map_err(err)?;
        let roots = self.roots_of(in_use);
        let infos = self.list()?;
        let mut groups: std::collections::BTreeMap<Digest, Vec<&crate::ImageInfo>> =
            Default::default();
        for i in &infos {
            groups.entry(i.record.config.clone()).or_default().push(i);
        }
        let mut doomed: Vec<String> = Vec::new();
        let mut report = PruneReport::default();
        for (id, members) in &groups {
            if in_use.contains(id) {
                continue;
            }
            let dangling = members.iter().all(|i| i.record.is_untagged());
            if !opts.all && !dangling {
                continue;
            }
            let config = &members[0].config;
            let created = config
                .created()
                .as_deref()
                .and_then(crate::archive::parse_rfc3339)
                .unwrap_or(members[0].record.created);
            if opts.until.is_some_and(|u| created >= u) {
                continue;
            }
            let labels = config
                .config()
                .as_ref()
                .and_then(|c| c.labels().clone())
                .unwrap_or_default();
            if !opts.labels.iter().all(|l| l.matches(&labels)) {
                continue;
            }
            for m in members {
                if !m.record.is_untagged() {
                    report.removed.push(Pruned::Untagged(m.record.name.clone()));
                }
                doomed.push(m.record.name.clone());
            }
            report.removed.push(Pruned::Deleted(id.clone()));
        }
        if !doomed.is_empty() {
            self.inner
                .meta
                .update(|m| {
                    for n in &doomed {
                        m.remove(n);
                    }
                    Ok::<_, Cause>(())
                })
                .map_err(err)?;
        }
        report.gc = self.sweep(&roots).map_err(err)?;
        report.space_reclaimed = report.gc.bytes_freed;
        Ok(report)
    }

    /// The config digests and layer chain IDs of images by ID, as GC roots (what is unreadable
    /// is skipped: its image is gone already).
    pub fn roots_of(&self, ids: &[Digest]) -> Vec<Digest> {
        let mut roots = Vec::new();
        for id in ids {
            roots.push(id.clone());
            let Ok(b) = self.content().read(id) else {
                continue;
            };
            let Ok(config) = manifest::parse_config(&b) else {
                continue;
            };
            if let Ok(diffs) = manifest::diff_ids(&config) {
                roots.extend(manifest::chain_ids(&diffs));
            }
        }
        roots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_filters() {
        let labels = std::collections::HashMap::from([("team".to_string(), "blue".to_string())]);
        let m = |s: &str, neg: bool| LabelFilter::parse(s, neg).matches(&labels);
        assert!(m("team", false));
        assert!(m("team=blue", false));
        assert!(!m("team=red", false));
        assert!(!m("owner", false));
        assert!(!m("team", true));
        assert!(m("team=red", true));
        assert!(m("owner", true));
        assert_eq!(
            LabelFilter::parse("a=b=c", false).value.as_deref(),
            Some("b=c")
        );
    }
}
