//! `import`: a root filesystem tar (plain, gzip or zstd) becomes a one-layer image. The input
//! is read once into a staging file while both the blob digest (of the bytes as given) and
//! the diff ID (of the uncompressed tar) are computed; a second pass over the staging file
//! copies it into the content store (verified) while unpacking it into its snapshot.

use super::{io_cause, layer_media_type, unpack_checked};
use crate::archive::stage::TempDir;
use crate::archive::{check_compression, rootfs};
use crate::digest::{Algorithm, HashingReader};
use crate::layer::{self, LayerError};
use crate::manifest::media;
use crate::reference::Reference;
use crate::service::{now, Cause, ImageService, ServiceError};
use crate::store::{ImageRecord, Ingest};
use crate::Digest;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};

/// Copies everything read through it to a file.
struct CopyTo<R> {
    inner: R,
    out: File,
}

impl<R: Read> Read for CopyTo<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

impl ImageService {
    /// `docker import`: make a one-layer image of the rootfs tar `reader` (plain, gzip or
    /// zstd), named `reference` (untagged, found by ID, without one), its config changed by
    /// Dockerfile-style `changes` (`CMD ["sh"]`, `ENV A=b`, …) and its history comment set to
    /// `message`. The layer is unpacked, so the image can be mounted at once.
    pub fn import_rootfs(
        &self,
        reader: impl Read,
        reference: Option<&str>,
        changes: &[String],
        message: Option<&str>,
    ) -> Result<ImageRecord, ServiceError> {
        let subject = reference.unwrap_or("-");
        let err = |c: Cause| ServiceError::new("import", subject, c);
        let r = reference
            .map(Reference::parse)
            .transpose()
            .map_err(|e| err(e.into()))?;
        if r.as_ref().is_some_and(|r| r.digest().is_some()) {
            let e = crate::archive::ArchiveError::invalid("reference", "cannot import to a digest");
            return Err(err(e.into()));
        }
        let config = rootfs::apply_changes(changes).map_err(|e| err(e.into()))?;
        self.import_inner(reader, r, config, message).map_err(err)
    }

    fn import_inner(
        &self,
        reader: impl Read,
        r: Option<Reference>,
        config: serde_json::Map<String, serde_json::Value>,
        message: Option<&str>,
    ) -> Result<ImageRecord, Cause> {
        let _gc = self.gc_lock_blocking(false)?;
        let tmp = TempDir::new(&self.inner.root, "import")?;
        let raw = tmp.path().join("layer");

        // Pass 1: stage the input, hashing it as given and uncompressed.
        let out = File::create(&raw).map_err(io_cause("create", &raw))?;
        let mut given = HashingReader::new(CopyTo { inner: reader, out }, Algorithm::Sha256);
        let (compression, diff_id) = {
            let mut br = BufReader::new(&mut given);
            let head = br.fill_buf().map_err(io_cause("read", &raw))?;
            check_compression(head)?;
            let (c, dec) = layer::decompress(br).map_err(LayerError::Read)?;
            let mut plain = HashingReader::new(dec, Algorithm::Sha256);
            io::copy(&mut plain, &mut io::sink()).map_err(LayerError::Read)?;
            (c, plain.finish().map_err(LayerError::Read)?.0)
        };
        // Whatever follows the compressed stream is part of the blob too.
        io::copy(&mut given, &mut io::sink()).map_err(io_cause("read", &raw))?;
        let (blob, size) = given.finish().map_err(io_cause("read", &raw))?;

        // Pass 2: into the content store and the snapshot (chain ID = diff ID for one layer).
        let pending = self.inner.snapshots.prepare(&diff_id)?;
        let open = || File::open(&raw).map_err(io_cause("open", &raw));
        match (self.inner.content.ingest(&blob, Some(size))?, pending) {
            (Ingest::Write(mut w), pending) => {
                w.restart()?;
                let mut tee = w.tee(open()?);
                if let Some(p) = pending {
                    unpack_checked(&mut tee, &p.fs(), &blob, &diff_id)?;
                    tee.finish()?;
                    p.commit()?;
                } else {
                    tee.finish()?;
                }
            }
            (Ingest::Present, Some(p)) => {
                unpack_checked(open()?, &p.fs(), &blob, &diff_id)?;
                p.commit()?;
            }
            (Ingest::Present, None) => {}
        }

        let created = now();
        let cfg = rootfs::image_config(config, &diff_id, created, message);
        let cfg_bytes = serde_json::to_vec(&cfg).expect("config serialises");
        let cfg_digest = self.inner.content.write_all(None, &cfg_bytes)?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": media::OCI_CONFIG, "digest": cfg_digest, "size": cfg_bytes.len()},
            "layers": [{"mediaType": layer_media_type(compression), "digest": blob, "size": size}],
        });
        let m_bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
        let m_digest: Digest = self.inner.content.write_all(None, &m_bytes)?;
        let record = ImageRecord {
            name: r
                .map(|r| r.to_string())
                .unwrap_or_else(|| cfg_digest.to_string()),
            target: m_digest.clone(),
            media_type: media::OCI_MANIFEST.into(),
            manifest: m_digest,
            config: cfg_digest,
            created,
        };
        self.put_records(vec![record.clone()])?;
        tracing::info!(image = %record.config, name = %record.name, "imported");
        Ok(record)
    }
}
