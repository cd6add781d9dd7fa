//! `container prune`: remove stopped containers that match the filters, and say how much
//! space their writable layers held.

use crate::container::Container;
use crate::engine::{Engine, Result};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What a prune removed.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    pub ids: Vec<String>,
    pub space: u64,
}

impl Engine {
    /// Remove every stopped container for which `select` holds.
    pub fn container_prune(&self, select: impl Fn(&Container) -> bool) -> Result<Pruned> {
        let mut out = Pruned::default();
        for c in self.store.list() {
            if c.state.running() || !select(&c) {
                continue;
            }
            let size = self.container_size_rw(&c.id);
            if self.remove(&c.id, false).is_ok() {
                out.ids.push(c.id.clone());
                out.space += size;
            }
        }
        Ok(out)
    }

    /// Bytes in the container's writable layer (its overlay upper dir).
    pub fn container_size_rw(&self, id: &str) -> u64 {
        dir_size(&self.rootfs_dir(id).join("upper"))
    }
}

/// Bytes of the regular files under `p` (hard links counted once; symlinks not followed).
pub fn dir_size(p: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    walk(p, &mut seen)
}

fn walk(p: &Path, seen: &mut std::collections::HashSet<(u64, u64)>) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if m.is_dir() {
        return std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| walk(&e.path(), seen))
            .sum();
    }
    if m.is_file() && seen.insert((m.dev(), m.ino())) {
        return m.len();
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_size_counts_files_once() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("a"), [0u8; 100]).unwrap();
        std::fs::write(d.path().join("sub/b"), [0u8; 50]).unwrap();
        std::fs::hard_link(d.path().join("a"), d.path().join("sub/link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("sym")).unwrap();
        assert_eq!(dir_size(d.path()), 150);
        assert_eq!(dir_size(&d.path().join("missing")), 0);
    }
}
