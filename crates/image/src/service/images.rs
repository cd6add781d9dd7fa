//! Local images: look up by name or ID, list, tag, remove, and mount for a container.

use super::{Cause, ImageService, ServiceError};
use crate::manifest::{self, ImageConfiguration, ImageManifest};
use crate::reference::Reference;
use crate::snapshot::Mount;
use crate::store::ImageRecord;
use crate::Digest;
use std::path::Path;

/// A local image with its manifest and config, for `images`, `inspect` and `run`.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub record: ImageRecord,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    /// Chain IDs of the layers, bottom first.
    pub chain_ids: Vec<Digest>,
    /// Compressed size of config and layers.
    pub size: u64,
}

impl ImageService {
    /// The image's config blob as JSON, with every field it has (Docker's `Healthcheck`,
    /// `OnBuild`, `Shell` too, which typed OCI configs leave out); the typed config as JSON
    /// if the blob cannot be read.
    pub fn config_json(&self, info: &ImageInfo) -> serde_json::Value {
        self.content()
            .read(&info.record.config)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| serde_json::to_value(&info.config).unwrap_or_default())
    }

    /// The record for a name (`busybox`, `busybox:1`), a full ID (`sha256:…`) or an ID prefix.
    pub fn resolve(&self, name_or_id: &str) -> Result<ImageRecord, ServiceError> {
        let err = |c| ServiceError::new("image", name_or_id, c);
        let images = self.inner.meta.images().map_err(|e| err(e.into()))?;
        if let Ok(r) = Reference::parse(name_or_id) {
            if let Some(rec) = images.iter().find(|i| i.name == r.to_string()) {
                return Ok(rec.clone());
            }
        }
        let hex = name_or_id.strip_prefix("sha256:").unwrap_or(name_or_id);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&ImageRecord> = images
                .iter()
                .filter(|i| i.config.hex().starts_with(hex))
                .collect();
            let ids: std::collections::BTreeSet<_> = hits.iter().map(|i| &i.config).collect();
            match (hits.first(), ids.len()) {
                (Some(rec), 1) => return Ok((*rec).clone()),
                (Some(_), _) => return Err(err(Cause::Ambiguous)),
                _ => {}
            }
        }
        Err(err(Cause::ImageNotFound))
    }

    /// Manifest, config and chain IDs of a local image.
    pub fn inspect(&self, name_or_id: &str) -> Result<ImageInfo, ServiceError> {
        let record = self.resolve(name_or_id)?;
        self.info(record)
            .map_err(|c| ServiceError::new("inspect", name_or_id, c))
    }

    pub(crate) fn info(&self, record: ImageRecord) -> Result<ImageInfo, Cause> {
        let c = &self.inner.content;
        let manifest: ImageManifest =
            serde_json::from_slice(&c.read(&record.manifest)?).map_err(|source| {
                manifest::ManifestError::Json {
                    what: "image manifest",
                    source,
                }
            })?;
        let config = manifest::parse_config(&c.read(&record.config)?)?;
        let chain_ids = manifest::chain_ids(&manifest::diff_ids(&config)?);
        let size =
            manifest.config().size() + manifest.layers().iter().map(|l| l.size()).sum::<u64>();
        Ok(ImageInfo {
            record,
            manifest,
            config,
            chain_ids,
            size,
        })
    }

    /// Every local image.
    pub fn list(&self) -> Result<Vec<ImageInfo>, ServiceError> {
        let err = |c| ServiceError::new("list", "images", c);
        let mut out = Vec::new();
        for rec in self.inner.meta.images().map_err(|e| err(e.into()))? {
            out.push(self.info(rec).map_err(err)?);
        }
        Ok(out)
    }

    /// Give the image `source` the additional name `target`.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), ServiceError> {
        let rec = self.resolve(source)?;
        let t = Reference::parse(target).map_err(|e| ServiceError::new("tag", target, e))?;
        let new = ImageRecord {
            name: t.to_string(),
            created: super::now(),
            ..rec
        };
        self.put_records(vec![new])
            .map_err(|e| ServiceError::new("tag", target, e))
    }

    /// Remove a name (`rmi`). Blobs and snapshots go at the next [`gc`](Self::gc). Returns
    /// the removed records.
    pub fn remove(&self, name_or_id: &str, force: bool) -> Result<Vec<ImageRecord>, ServiceError> {
        let err = |c| ServiceError::new("remove", name_or_id, c);
        let rec = self.resolve(name_or_id)?;
        let by_name = Reference::parse(name_or_id).is_ok_and(|r| r.to_string() == rec.name);
        let names: Vec<String> = if by_name {
            vec![rec.name.clone()]
        } else {
            let all = self.inner.meta.images().map_err(|e| err(e.into()))?;
            let same: Vec<String> = all
                .into_iter()
                .filter(|i| i.config == rec.config)
                .map(|i| i.name)
                .collect();
            if same.len() > 1 && !force {
                return Err(err(Cause::Ambiguous));
            }
            same
        };
        self.inner
            .meta
            .update(|m| Ok::<_, Cause>(names.iter().filter_map(|n| m.remove(n)).collect()))
            .map_err(err)
    }

    /// Mount the image's layers with overlayfs at `dir/merged` (upper and work dirs in `dir`).
    pub fn mount(&self, name_or_id: &str, dir: &Path) -> Result<Mount, ServiceError> {
        let info = self.inspect(name_or_id)?;
        self.inner
            .snapshots
            .mount(&info.chain_ids, dir)
            .map_err(|e| ServiceError::new("mount", name_or_id, e))
    }
}
