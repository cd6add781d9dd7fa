//! `save`: images to a tar stream, as docker-archive (Docker 25+'s layout: an OCI layout plus
//! `manifest.json` and `repositories`) or as a plain OCI layout. Blobs are streamed from the
//! content store and verified as they go. Layers go as stored, except zstd ones in a
//! docker-archive, which are written uncompressed (older `docker load` reads only plain and
//! gzip tars) with the manifest rewritten to match.

use super::io_cause;
use crate::archive::docker::{self, ManifestItem, Repositories};
use crate::archive::stage::{blob_path, TempDir};
use crate::archive::{oci, SaveFormat};
use crate::digest::{Algorithm, HashingReader};
use crate::layer::{self, Compression, LayerError};
use crate::manifest::{self, media};
use crate::reference::Reference;
use crate::service::{Cause, ImageInfo, ImageService, ServiceError};
use crate::store::StoreError;
use crate::Digest;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};

/// One image to save and the names it goes under.
struct Entry {
    info: ImageInfo,
    refs: Vec<Reference>,
}

struct Writer<W: Write> {
    tar: tar::Builder<W>,
    written: HashSet<String>,
}

fn header(size: u64, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn write_err(e: io::Error) -> Cause {
    Cause::Io {
        op: "write",
        path: "archive".into(),
        source: e,
    }
}

impl<W: Write> Writer<W> {
    fn dirs_for(&mut self, path: &str) -> Result<(), Cause> {
        let mut acc = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for p in &parts[..parts.len() - 1] {
            acc.push_str(p);
            acc.push('/');
            if self.written.insert(acc.clone()) {
                let mut h = header(0, tar::EntryType::Directory);
                self.tar
                    .append_data(&mut h, &acc, io::empty())
                    .map_err(write_err)?;
            }
        }
        Ok(())
    }

    fn file(&mut self, path: &str, data: &[u8]) -> Result<(), Cause> {
        self.dirs_for(path)?;
        let mut h = header(data.len() as u64, tar::EntryType::Regular);
        self.tar.append_data(&mut h, path, data).map_err(write_err)
    }

    /// Stream `size` bytes of `src` as `path`; `src` is read to its end.
    fn stream(&mut self, path: &str, size: u64, src: impl Read) -> Result<(), Cause> {
        if !self.written.insert(path.to_string()) {
            return Ok(());
        }
        self.dirs_for(path)?;
        let mut h = header(size, tar::EntryType::Regular);
        self.tar
            .append_data(&mut h, path, src.take(size))
            .map_err(write_err)
    }

    /// Stream a stored blob, checking its digest.
    fn blob(&mut self, svc: &ImageService, d: &Digest) -> Result<(), Cause> {
        let path = blob_path(d);
        if self.written.contains(&path) {
            return Ok(());
        }
        let size = svc.inner.content.size(d)?;
        let f = svc.inner.content.open_blob(d)?;
        let mut hr = HashingReader::new(f, d.algorithm());
        self.stream(&path, size, &mut hr)?;
        let p = svc.inner.content.path(d);
        let (actual, n) = hr.finish().map_err(io_cause("read", &p))?;
        if &actual != d || n != size {
            return Err(StoreError::DigestMismatch {
                expected: d.clone(),
                actual,
            }
            .into());
        }
        Ok(())
    }
}

impl ImageService {
    /// `docker save`: write the images `names` (names, IDs, or repositories: every tag of a
    /// repository given without a tag) to `writer` as one tar.
    pub fn save(
        &self,
        names: &[&str],
        writer: impl Write,
        format: SaveFormat,
    ) -> Result<(), ServiceError> {
        let subject = names.join(" ");
        let entries = self.save_entries(names)?;
        self.save_inner(entries, writer, format)
            .map_err(|c| ServiceError::new("save", subject, c))
    }

    fn save_entries(&self, names: &[&str]) -> Result<Vec<Entry>, ServiceError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut add = |info: ImageInfo, r: Option<Reference>| {
            let e = match entries
                .iter_mut()
                .find(|e| e.info.record.config == info.record.config)
            {
                Some(e) => e,
                None => {
                    entries.push(Entry { info, refs: vec![] });
                    entries.last_mut().expect("just pushed")
                }
            };
            if let Some(r) = r {
                if !e.refs.contains(&r) {
                    e.refs.push(r);
                }
            }
        };
        for name in names {
            let err = |c| ServiceError::new("save", *name, c);
            // A repository without a tag: all of its tags, as docker does.
            if let Ok(repo) = Reference::parse_named(name) {
                if repo.tag().is_none() && repo.digest().is_none() {
                    let mut found = false;
                    for rec in self.inner.meta.images().map_err(|e| err(e.into()))? {
                        let Ok(r) = Reference::parse(&rec.name) else {
                            continue;
                        };
                        if rec.is_untagged() || r.name() != repo.name() {
                            continue;
                        }
                        found = true;
                        add(self.info(rec).map_err(err)?, Some(r));
                    }
                    if found {
                        continue;
                    }
                }
            }
            let rec = self.resolve(name)?;
            let named = Reference::parse(name)
                .ok()
                .filter(|r| r.to_string() == rec.name);
            add(self.info(rec).map_err(err)?, named);
        }
        Ok(entries)
    }

    fn save_inner(
        &self,
        entries: Vec<Entry>,
        writer: impl Write,
        format: SaveFormat,
    ) -> Result<(), Cause> {
        let _gc = self.gc_lock_blocking(false)?;
        let tmp = TempDir::new(&self.inner.root, "save")?;
        let mut w = Writer {
            tar: tar::Builder::new(writer),
            written: HashSet::new(),
        };
        let mut index = Vec::new();
        let mut items = Vec::new();
        let mut repos = Repositories::new();
        for e in &entries {
            let info = &e.info;
            let diff_ids = manifest::diff_ids(&info.config)?;
            w.blob(self, &info.record.config)?;
            let mut layer_paths = Vec::new();
            let mut rewritten = Vec::new();
            for (i, l) in info.manifest.layers().iter().enumerate() {
                let d = manifest::digest_of(l)?;
                let zstd = l.media_type().to_string().contains("zstd")
                    || super::file_compression(&self.inner.content.path(&d))? == Compression::Zstd;
                if format == SaveFormat::Docker && zstd {
                    let diff_id = diff_ids.get(i).ok_or(manifest::ManifestError::LayerCount {
                        layers: info.manifest.layers().len(),
                        diff_ids: diff_ids.len(),
                    })?;
                    let size = self.plain_layer(&mut w, &tmp, &d, diff_id)?;
                    layer_paths.push(blob_path(diff_id));
                    rewritten.push(Some((diff_id.clone(), size)));
                } else {
                    w.blob(self, &d)?;
                    layer_paths.push(blob_path(&d));
                    rewritten.push(None);
                }
            }
            let (m_digest, m_size, m_type) = if rewritten.iter().all(Option::is_none) {
                w.blob(self, &info.record.manifest)?;
                let mt = info
                    .manifest
                    .media_type()
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| media::OCI_MANIFEST.into());
                let size = self.inner.content.size(&info.record.manifest)?;
                (info.record.manifest.clone(), size, mt)
            } else {
                let bytes = self.rewrite_manifest(&info.record.manifest, &rewritten)?;
                let d = Digest::sha256(&bytes);
                w.stream(&blob_path(&d), bytes.len() as u64, &bytes[..])?;
                (d, bytes.len() as u64, media::OCI_MANIFEST.to_string())
            };
            let mut desc = serde_json::json!({
                "mediaType": m_type, "digest": m_digest, "size": m_size,
                "platform": platform_json(&info.config),
            });
            if e.refs.is_empty() {
                index.push(desc.clone());
            }
            for r in &e.refs {
                desc["annotations"] = oci::annotations_for(r);
                index.push(desc.clone());
                if let (Some(tag), Some(top)) = (r.tag(), diff_ids.last()) {
                    repos
                        .entry(r.familiar_name())
                        .or_default()
                        .insert(tag.to_string(), top.hex().to_string());
                }
            }
            let tags: Vec<String> = e.refs.iter().map(Reference::familiar).collect();
            items.push(ManifestItem {
                config: blob_path(&info.record.config),
                repo_tags: (!tags.is_empty()).then_some(tags),
                layers: layer_paths,
            });
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": index,
        });
        w.file(
            oci::INDEX,
            &serde_json::to_vec(&index).expect("index serialises"),
        )?;
        if format == SaveFormat::Docker {
            w.file(
                docker::MANIFEST,
                &serde_json::to_vec(&items).expect("manifest serialises"),
            )?;
            if !repos.is_empty() {
                w.file(
                    docker::REPOSITORIES,
                    &serde_json::to_vec(&repos).expect("repositories serialise"),
                )?;
            }
        }
        w.file(oci::LAYOUT, oci::LAYOUT_CONTENT.as_bytes())?;
        let mut out = w.tar.into_inner().map_err(write_err)?;
        out.flush().map_err(write_err)?;
        Ok(())
    }

    /// Write a stored (zstd) layer uncompressed as `blobs/sha256/<diff id>`, via a temp file
    /// (its size is needed first); returns that size.
    fn plain_layer<W: Write>(
        &self,
        w: &mut Writer<W>,
        tmp: &TempDir,
        blob: &Digest,
        diff_id: &Digest,
    ) -> Result<u64, Cause> {
        let path = tmp.path().join(diff_id.hex());
        let f = self.inner.content.open_blob(blob)?;
        let (_, dec) = layer::decompress(f).map_err(LayerError::Read)?;
        let mut hr = HashingReader::new(dec, Algorithm::Sha256);
        let mut out = File::create(&path).map_err(io_cause("create", &path))?;
        io::copy(&mut hr, &mut out).map_err(LayerError::Read)?;
        let (actual, size) = hr.finish().map_err(LayerError::Read)?;
        if &actual != diff_id {
            return Err(Cause::DiffIdMismatch {
                layer: blob.clone(),
                expected: diff_id.clone(),
                actual,
            });
        }
        let f = File::open(&path).map_err(io_cause("open", &path))?;
        w.stream(&blob_path(diff_id), size, f)?;
        let _ = std::fs::remove_file(&path);
        Ok(size)
    }

    /// The manifest with some layers replaced by uncompressed ones.
    fn rewrite_manifest(
        &self,
        d: &Digest,
        rewritten: &[Option<(Digest, u64)>],
    ) -> Result<Vec<u8>, Cause> {
        let mut v: serde_json::Value = serde_json::from_slice(&self.inner.content.read(d)?)
            .map_err(|source| manifest::ManifestError::Json {
                what: "image manifest",
                source,
            })?;
        v["mediaType"] = media::OCI_MANIFEST.into();
        if let Some(c) = v.get_mut("config") {
            c["mediaType"] = media::OCI_CONFIG.into();
        }
        if let Some(layers) = v.get_mut("layers").and_then(|l| l.as_array_mut()) {
            for (l, new) in layers.iter_mut().zip(rewritten) {
                if let Some((digest, size)) = new {
                    *l = serde_json::json!({
                        "mediaType": media::OCI_LAYER, "digest": digest, "size": size,
                    });
                } else if l["mediaType"] == media::DOCKER_LAYER_GZIP {
                    l["mediaType"] = media::OCI_LAYER_GZIP.into();
                }
            }
        }
        Ok(serde_json::to_vec(&v).expect("manifest serialises"))
    }
}

/// The platform of an image config, for its index entry.
fn platform_json(config: &manifest::ImageConfiguration) -> serde_json::Value {
    let mut p = serde_json::json!({
        "architecture": config.architecture().to_string(),
        "os": config.os().to_string(),
    });
    if let Some(v) = config.variant() {
        p["variant"] = v.clone().into();
    }
    p
}
