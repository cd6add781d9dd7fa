//! New layers and images from changed filesystems (for `build` and `commit`):
//!
//! - [`ImageService::workspace`]: a writable root filesystem over a chain of snapshots (an
//!   overlay mount with a fresh upper dir, or a plain dir over no layers);
//! - [`ImageService::commit_upper`]: an overlay upper dir becomes a layer blob (a tar with
//!   whiteouts, see [`crate::layer::diff`]) and a snapshot on top of its parent chain;
//! - [`ImageService::create_image`]: an image config and its layers become a stored image
//!   (config and manifest blobs) with names.

use super::{Cause, ImageService, ServiceError};
use crate::archive::stage::TempDir;
use crate::layer::diff::{write_diff, DiffOptions};
use crate::manifest::media;
use crate::reference::Reference;
use crate::snapshot::Mount;
use crate::store::ImageRecord;
use crate::Digest;
use std::path::{Path, PathBuf};

/// A layer made by [`ImageService::commit_upper`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewLayer {
    /// The blob (uncompressed, so equal to `diff_id`).
    pub blob: Digest,
    pub diff_id: Digest,
    pub size: u64,
    pub media_type: String,
    /// The snapshot: the chain ID of the parent chain plus this layer.
    pub chain_id: Digest,
    /// Whether the upper dir held no change at all.
    pub empty: bool,
}

/// A layer of an image being created: its blob and media type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerRef {
    pub blob: Digest,
    pub diff_id: Digest,
    pub size: u64,
    pub media_type: String,
}

impl From<&NewLayer> for LayerRef {
    fn from(l: &NewLayer) -> LayerRef {
        LayerRef {
            blob: l.blob.clone(),
            diff_id: l.diff_id.clone(),
            size: l.size,
            media_type: l.media_type.clone(),
        }
    }
}

/// A writable root filesystem over a snapshot chain; unmounted and removed on drop.
pub struct Workspace {
    mount: Option<Mount>,
    parent: Vec<Digest>,
    dir: TempDir,
}

impl Workspace {
    /// The root filesystem to change.
    pub fn rootfs(&self) -> PathBuf {
        match &self.mount {
            Some(m) => m.path().to_path_buf(),
            None => self.upper(),
        }
    }

    /// The overlay upper dir (what changed).
    pub fn upper(&self) -> PathBuf {
        self.dir.path().join("upper")
    }

    /// The chain this workspace is over.
    pub fn parent(&self) -> &[Digest] {
        &self.parent
    }

    /// A directory for the caller's own files next to the workspace (removed with it).
    pub fn scratch(&self) -> PathBuf {
        self.dir.path().join("scratch")
    }

    /// Unmount and make the changes a layer over the parent chain.
    pub fn commit(
        mut self,
        images: &ImageService,
        opts: &DiffOptions,
    ) -> Result<NewLayer, ServiceError> {
        if let Some(m) = self.mount.take() {
            m.unmount()
                .map_err(|e| ServiceError::new("commit", "workspace", e))?;
        }
        let upper = self.upper();
        images.commit_upper(&self.parent, &upper, opts, true)
    }
}

/// The chain ID of `parent` chain plus a layer with `diff_id`.
pub fn next_chain(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(p) => Digest::sha256(format!("{p} {diff_id}").as_bytes()),
    }
}

impl ImageService {
    /// A writable root filesystem over the snapshot chain `parent` (bottom first).
    pub fn workspace(&self, parent: &[Digest]) -> Result<Workspace, ServiceError> {
        let err = |c: Cause| ServiceError::new("workspace", "rootfs", c);
        let dir = TempDir::new(&self.inner.root, "ws").map_err(|e| err(e.into()))?;
        std::fs::create_dir_all(dir.path().join("scratch")).map_err(|source| {
            err(Cause::Io {
                op: "create",
                path: dir.path().to_path_buf(),
                source,
            })
        })?;
        let mount = if parent.is_empty() {
            let up = dir.path().join("upper");
            std::fs::create_dir(&up).map_err(|source| {
                err(Cause::Io {
                    op: "create",
                    path: up.clone(),
                    source,
                })
            })?;
            None
        } else {
            Some(
                self.inner
                    .snapshots
                    .mount(parent, dir.path())
                    .map_err(|e| err(e.into()))?,
            )
        };
        Ok(Workspace {
            mount,
            parent: parent.to_vec(),
            dir,
        })
    }

    /// Make the overlay upper dir `upper` a layer over the chain `parent`: its tar (with
    /// whiteouts) goes into the content store, and the dir becomes the new snapshot (moved
    /// when `take` and on the store's filesystem, else unpacked from the tar).
    pub fn commit_upper(
        &self,
        parent: &[Digest],
        upper: &Path,
        opts: &DiffOptions,
        take: bool,
    ) -> Result<NewLayer, ServiceError> {
        self.commit_upper_inner(parent, upper, opts, take)
            .map_err(|c| ServiceError::new("commit", upper.display().to_string(), c))
    }

    fn commit_upper_inner(
        &self,
        parent: &[Digest],
        upper: &Path,
        opts: &DiffOptions,
        take: bool,
    ) -> Result<NewLayer, Cause> {
        let _gc = self.gc_lock_blocking(false)?;
        let tmp = TempDir::new(&self.inner.root, "diff")?;
        let file = tmp.path().join("layer.tar");
        let io = |op: &'static str, p: &Path| {
            let path = p.to_path_buf();
            move |source| Cause::Io { op, path, source }
        };
        let f = std::fs::File::create(&file).map_err(io("create", &file))?;
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, f);
        let written = write_diff(upper, &mut w, opts).map_err(io("write layer of", upper))?;
        drop(w);
        let blob = written.diff_id.clone();
        if !self.inner.content.contains(&blob) {
            self.ingest_file(&blob, &file, written.size)?;
        }
        let chain = next_chain(parent.last(), &written.diff_id);
        if let Some(p) = self.inner.snapshots.prepare(&chain)? {
            let fs = p.fs();
            let moved =
                take && std::fs::remove_dir(&fs).is_ok() && std::fs::rename(upper, &fs).is_ok();
            if !moved {
                std::fs::create_dir_all(&fs).map_err(io("create", &fs))?;
                let f = std::fs::File::open(&file).map_err(io("open", &file))?;
                super::archive::unpack_checked(f, &fs, &blob, &written.diff_id)?;
            }
            p.commit()?;
        }
        Ok(NewLayer {
            blob,
            diff_id: written.diff_id,
            size: written.size,
            media_type: media::OCI_LAYER.into(),
            chain_id: chain,
            empty: written.entries == 0,
        })
    }

    /// Store an image: `config` (a full OCI image config, whose `rootfs.diff_ids` must list
    /// `layers`' diff IDs) and a manifest; name it with each of `names` (none: untagged,
    /// found by ID). Returns the record of the first name (or the untagged one).
    pub fn create_image(
        &self,
        config: &serde_json::Value,
        layers: &[LayerRef],
        names: &[String],
    ) -> Result<ImageRecord, ServiceError> {
        let err = |c: Cause| ServiceError::new("create image", names.join(", "), c);
        let refs: Vec<Reference> = names
            .iter()
            .map(|n| Reference::parse(n).map_err(|e| err(e.into())))
            .collect::<Result<_, _>>()?;
        let want: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
        let have: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if want != have {
            let e = crate::archive::ArchiveError::invalid(
                "image config",
                "rootfs.diff_ids do not match the layers",
            );
            return Err(err(e.into()));
        }
        let _gc = self.gc_lock_blocking(false).map_err(err)?;
        let cfg_bytes = serde_json::to_vec(config).expect("config serialises");
        let cfg_digest = self
            .inner
            .content
            .write_all(None, &cfg_bytes)
            .map_err(|e| err(e.into()))?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": media::OCI_CONFIG, "digest": cfg_digest, "size": cfg_bytes.len()},
            "layers": layers.iter().map(|l| serde_json::json!({
                "mediaType": l.media_type, "digest": l.blob, "size": l.size
            })).collect::<Vec<_>>(),
        });
        let m_bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
        let m_digest = self
            .inner
            .content
            .write_all(None, &m_bytes)
            .map_err(|e| err(e.into()))?;
        let created = super::now();
        let record = |name: String| ImageRecord {
            name,
            target: m_digest.clone(),
            media_type: media::OCI_MANIFEST.into(),
            manifest: m_digest.clone(),
            config: cfg_digest.clone(),
            created,
        };
        let mut records: Vec<ImageRecord> = refs.iter().map(|r| record(r.to_string())).collect();
        if records.is_empty() {
            records.push(record(cfg_digest.to_string()));
        }
        self.put_records(records.clone()).map_err(err)?;
        Ok(records.swap_remove(0))
    }
}
