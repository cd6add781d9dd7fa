//! `history`: the image config's history, newest first, with each step's layer size (the
//! size of the files in its snapshot, as docker reports a layer's diff size).

use crate::archive::{parse_rfc3339, HistoryEntry};
use crate::manifest;
use crate::service::{Cause, ImageService, ServiceError};
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[derive(serde::Deserialize, Default)]
struct Step {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    empty_layer: bool,
}

#[derive(serde::Deserialize)]
struct Config {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    history: Vec<Step>,
}

impl ImageService {
    /// `docker history`: one entry per step of the image, newest first.
    pub fn history(&self, name_or_id: &str) -> Result<Vec<HistoryEntry>, ServiceError> {
        let record = self.resolve(name_or_id)?;
        self.history_inner(record)
            .map_err(|c| ServiceError::new("history", name_or_id, c))
    }

    fn history_inner(&self, record: crate::store::ImageRecord) -> Result<Vec<HistoryEntry>, Cause> {
        let bytes = self.inner.content.read(&record.config)?;
        let cfg: Config =
            serde_json::from_slice(&bytes).map_err(|source| manifest::ManifestError::Json {
                what: "image config",
                source,
            })?;
        let parsed = manifest::parse_config(&bytes)?;
        let chains = manifest::chain_ids(&manifest::diff_ids(&parsed)?);
        let image_created = cfg.created.as_deref().and_then(parse_rfc3339).unwrap_or(0);
        let steps = if cfg.history.is_empty() {
            // No history: one step per layer.
            chains.iter().map(|_| Step::default()).collect()
        } else {
            cfg.history
        };
        let mut layer = 0;
        let mut out = Vec::new();
        for s in steps {
            let size = if s.empty_layer {
                0
            } else {
                let size = chains
                    .get(layer)
                    .map(|c| dir_size(&self.inner.snapshots.fs(c)))
                    .unwrap_or(0);
                layer += 1;
                size
            };
            out.push(HistoryEntry {
                id: "<missing>".into(),
                created: s
                    .created
                    .as_deref()
                    .and_then(parse_rfc3339)
                    .unwrap_or(image_created),
                created_by: s.created_by.unwrap_or_default(),
                tags: None,
                size: size as i64,
                comment: s.comment.unwrap_or_default(),
            });
        }
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = record.config.to_string();
            let mut tags: Vec<String> = self
                .inner
                .meta
                .images()?
                .into_iter()
                .filter(|r| r.config == record.config && !r.is_untagged())
                .filter_map(|r| crate::Reference::parse(&r.name).ok())
                .map(|r| r.familiar())
                .collect();
            tags.sort();
            top.tags = (!tags.is_empty()).then_some(tags);
        }
        Ok(out)
    }
}

/// Bytes of the regular files and symlinks under `dir` (hard links counted once).
fn dir_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if (m.is_file() || m.file_type().is_symlink())
                && (m.nlink() < 2 || seen.insert((m.dev(), m.ino())))
            {
                total += m.len();
            }
        }
    }
    total
}
