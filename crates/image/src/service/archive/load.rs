//! `load`: a docker-archive (legacy `<id>/layer.tar` or Docker 25+ `blobs/` layout) or an OCI
//! layout tar into the store. In order:
//!
//! 1. stage every member (hashing it) — names validated, links only as in-archive aliases;
//! 2. read `manifest.json` (docker) or `index.json` (OCI) and check every blob against its
//!    digest and size, and every config's layer count;
//! 3. unpack each layer into a pending snapshot (or, if the snapshot exists, just hash it),
//!    checking its diff ID against the config — snapshots are taken in chain-ID order so
//!    concurrent loads never wait on each other in a cycle;
//! 4. only then copy the blobs into the content store, publish the snapshots and write all
//!    image records in one atomic metadata update.
//!
//! A failure before step 4 leaves nothing behind.

use super::{file_compression, layer_media_type, unpack_checked, verify_diff_id};
use crate::archive::docker::{self, ManifestItem};
use crate::archive::stage::{self, Members, Staged, TempDir};
use crate::archive::{oci, ArchiveError};
use crate::manifest::{self, media, ImageManifest, Manifest, ManifestError, Platform};
use crate::reference::Reference;
use crate::service::{now, Cause, ImageService, ServiceError};
use crate::snapshot::Pending;
use crate::store::ImageRecord;
use crate::Digest;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Read;

/// An image found in the archive, every part of it verified against its digest.
struct Found {
    names: Vec<Reference>,
    manifest: ManifestBytes,
    media_type: String,
    config: Digest,
    config_file: Staged,
    layers: Vec<(Digest, Staged)>,
    diff_ids: Vec<Digest>,
}

enum ManifestBytes {
    /// Taken from the archive as is.
    Staged(Digest, Staged),
    /// Made here (docker-archive entries without an OCI manifest).
    Built(Digest, Vec<u8>),
}

impl ManifestBytes {
    fn digest(&self) -> &Digest {
        match self {
            ManifestBytes::Staged(d, _) | ManifestBytes::Built(d, _) => d,
        }
    }
}

impl ImageService {
    /// `docker load`: read a docker-archive or OCI layout tar. Returns what was loaded as docker
    /// prints it: familiar names (`busybox:latest`, for "Loaded image: …") and, for images
    /// without a name, IDs (`sha256:…`, for "Loaded image ID: …").
    pub fn load(&self, reader: impl Read) -> Result<Vec<String>, ServiceError> {
        self.load_inner(reader)
            .map_err(|c| ServiceError::new("load", "archive", c))
    }

    fn load_inner(&self, reader: impl Read) -> Result<Vec<String>, Cause> {
        let _gc = self.gc_lock_blocking(false)?;
        let tmp = TempDir::new(&self.inner.root, "load")?;
        // `docker load` also takes a compressed archive (`docker save | gzip`).
        let mut br = std::io::BufReader::new(reader);
        let head =
            std::io::BufRead::fill_buf(&mut br).map_err(|e| ArchiveError::invalid("tar", e))?;
        crate::archive::check_compression(head)?;
        let (_, plain) =
            crate::layer::decompress(br).map_err(|e| ArchiveError::invalid("tar", e))?;
        let members = stage::stage(plain, tmp.path())?;
        let found = if members.contains(docker::MANIFEST) {
            docker_images(&members)?
        } else if members.contains(oci::INDEX) {
            oci_images(&members)?
        } else {
            return Err(ArchiveError::Missing(format!(
                "{} or {} (not a docker-archive or OCI layout)",
                docker::MANIFEST,
                oci::INDEX
            ))
            .into());
        };
        if found.is_empty() {
            return Err(ArchiveError::Missing("images".into()).into());
        }
        let pending = self.unpack_all(&found)?;

        // Everything checks out: publish.
        for f in &found {
            self.ingest_file(&f.config, &f.config_file.file, f.config_file.size)?;
            for (d, s) in &f.layers {
                self.ingest_file(d, &s.file, s.size)?;
            }
            match &f.manifest {
                ManifestBytes::Staged(d, s) => self.ingest_file(d, &s.file, s.size)?,
                ManifestBytes::Built(d, b) => {
                    self.inner.content.write_all(Some(d), b)?;
                }
            }
        }
        for p in pending {
            p.commit()?;
        }
        let created = now();
        let mut records = Vec::new();
        let mut loaded = Vec::new();
        for f in &found {
            let rec = |name: String| ImageRecord {
                name,
                target: f.manifest.digest().clone(),
                media_type: f.media_type.clone(),
                manifest: f.manifest.digest().clone(),
                config: f.config.clone(),
                created,
            };
            if f.names.is_empty() {
                records.push(rec(f.config.to_string()));
                loaded.push(f.config.to_string());
            }
            for r in &f.names {
                records.push(rec(r.to_string()));
                loaded.push(r.familiar());
            }
        }
        self.put_records(records)?;
        tracing::info!(images = loaded.len(), "loaded");
        Ok(loaded)
    }

    /// Check every layer's diff ID, unpacking those without a snapshot into pending ones.
    fn unpack_all(&self, found: &[Found]) -> Result<Vec<Pending>, Cause> {
        let mut jobs: BTreeMap<String, (Digest, &Digest, &Staged, &Digest)> = BTreeMap::new();
        for f in found {
            let chains = manifest::chain_ids(&f.diff_ids);
            for ((d, s), (diff, chain)) in f.layers.iter().zip(f.diff_ids.iter().zip(chains)) {
                jobs.entry(chain.to_string()).or_insert((chain, d, s, diff));
            }
        }
        let mut verified: HashSet<(&Digest, &Digest)> = HashSet::new();
        let mut pending = Vec::new();
        for (chain, blob, staged, diff_id) in jobs.into_values() {
            let open = || File::open(&staged.file).map_err(super::io_cause("open", &staged.file));
            match self.inner.snapshots.prepare(&chain)? {
                Some(p) => {
                    unpack_checked(open()?, &p.fs(), blob, diff_id)?;
                    verified.insert((blob, diff_id));
                    pending.push(p);
                }
                None if verified.contains(&(blob, diff_id)) => {}
                None => {
                    verify_diff_id(open()?, blob, diff_id)?;
                    verified.insert((blob, diff_id));
                }
            }
        }
        Ok(pending)
    }
}

fn json_err(what: &'static str) -> impl FnOnce(serde_json::Error) -> Cause {
    move |source| ManifestError::Json { what, source }.into()
}

/// A verified small blob's bytes.
fn read_blob(m: &Members, d: &Digest, size: u64) -> Result<(Staged, Vec<u8>), Cause> {
    let s = m.blob(d, Some(size))?.clone();
    let bytes = m.read(&s.name)?;
    Ok((s, bytes))
}

/// The config's diff IDs, checked against the number of layers.
fn config_diff_ids(bytes: &[u8], layers: usize) -> Result<Vec<Digest>, Cause> {
    let config = manifest::parse_config(bytes)?;
    let diff_ids = manifest::diff_ids(&config)?;
    if diff_ids.len() != layers {
        return Err(ManifestError::LayerCount {
            layers,
            diff_ids: diff_ids.len(),
        }
        .into());
    }
    Ok(diff_ids)
}

/// An image from an OCI manifest in the archive: config and layers by digest.
fn from_oci_manifest(
    m: &Members,
    digest: Digest,
    staged: Staged,
    media_type: String,
    im: &ImageManifest,
) -> Result<Found, Cause> {
    let cd = manifest::digest_of(im.config())?;
    let (config_file, cb) = read_blob(m, &cd, im.config().size())?;
    let diff_ids = config_diff_ids(&cb, im.layers().len())?;
    let mut layers = Vec::new();
    for l in im.layers() {
        let d = manifest::digest_of(l)?;
        layers.push((d.clone(), m.blob(&d, Some(l.size()))?.clone()));
    }
    Ok(Found {
        names: Vec::new(),
        manifest: ManifestBytes::Staged(digest, staged),
        media_type,
        config: cd,
        config_file,
        layers,
        diff_ids,
    })
}

/// Images of an OCI layout: each entry of `index.json`, nested indexes resolved to this
/// host's platform.
fn oci_images(m: &Members) -> Result<Vec<Found>, Cause> {
    let ix: manifest::ImageIndex =
        serde_json::from_slice(&m.read(oci::INDEX)?).map_err(json_err("index.json"))?;
    let mut out: Vec<Found> = Vec::new();
    for desc in ix.manifests() {
        let name = oci::name_of(desc.annotations().as_ref());
        let mut d = manifest::digest_of(desc)?;
        let (mut staged, mut bytes) = read_blob(m, &d, desc.size())?;
        let mut parsed = Manifest::parse(Some(&desc.media_type().to_string()), &bytes)?;
        if let (Manifest::Index(inner), _) = &parsed {
            let pick = Platform::host().select(inner)?.clone();
            d = manifest::digest_of(&pick)?;
            (staged, bytes) = read_blob(m, &d, pick.size())?;
            parsed = Manifest::parse(Some(&pick.media_type().to_string()), &bytes)?;
        }
        let (Manifest::Image(im), mt) = parsed else {
            return Err(ManifestError::UnsupportedMediaType("nested index".into()).into());
        };
        let i = match out.iter().position(|f| f.manifest.digest() == &d) {
            Some(i) => i,
            None => {
                out.push(from_oci_manifest(m, d, staged, mt, &im)?);
                out.len() - 1
            }
        };
        if let Some(r) = name {
            if !out[i].names.contains(&r) {
                out[i].names.push(r);
            }
        }
    }
    Ok(out)
}

/// Images of a docker-archive's `manifest.json`. When the archive is also an OCI layout whose
/// manifest matches an entry (same config and layers), that manifest is kept as is.
fn docker_images(m: &Members) -> Result<Vec<Found>, Cause> {
    let items = docker::parse_manifest(&m.read(docker::MANIFEST)?)?;
    let oci: HashMap<Digest, Found> = if m.contains(oci::INDEX) {
        oci_images(m)
            .unwrap_or_default()
            .into_iter()
            .map(|f| (f.config.clone(), f))
            .collect()
    } else {
        HashMap::new()
    };
    let mut out = Vec::new();
    for item in items {
        out.push(docker_image(m, item, &oci)?);
    }
    Ok(out)
}

fn docker_image(
    m: &Members,
    item: ManifestItem,
    oci: &HashMap<Digest, Found>,
) -> Result<Found, Cause> {
    let config_file = m.get(&item.config)?.clone();
    let cb = m.read(&config_file.name)?;
    let config = config_file.sha256.clone();
    let diff_ids = config_diff_ids(&cb, item.layers.len())?;
    let mut layers = Vec::new();
    for p in &item.layers {
        let s = m.get(p)?.clone();
        layers.push((s.sha256.clone(), s));
    }
    let mut names = Vec::new();
    for t in item.repo_tags.iter().flatten() {
        let r = Reference::parse(t).map_err(|e| ArchiveError::invalid("RepoTags", e))?;
        names.push(r);
    }
    let same_layers = |f: &Found| {
        f.layers.len() == layers.len() && f.layers.iter().zip(&layers).all(|(a, b)| a.0 == b.0)
    };
    let manifest = match oci.get(&config).filter(|f| same_layers(f)) {
        Some(Found {
            manifest: ManifestBytes::Staged(d, s),
            media_type,
            ..
        }) => (
            ManifestBytes::Staged(d.clone(), s.clone()),
            media_type.clone(),
        ),
        _ => {
            let mut descs = Vec::new();
            for (d, s) in &layers {
                let c = file_compression(&s.file)?;
                descs.push(serde_json::json!({
                    "mediaType": layer_media_type(c), "digest": d, "size": s.size,
                }));
            }
            let v = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": media::OCI_MANIFEST,
                "config": {"mediaType": media::OCI_CONFIG, "digest": config, "size": config_file.size},
                "layers": descs,
            });
            let b = serde_json::to_vec(&v).expect("manifest serialises");
            (
                ManifestBytes::Built(Digest::sha256(&b), b),
                media::OCI_MANIFEST.to_string(),
            )
        }
    };
    Ok(Found {
        names,
        manifest: manifest.0,
        media_type: manifest.1,
        config,
        config_file,
        layers,
        diff_ids,
    })
}
