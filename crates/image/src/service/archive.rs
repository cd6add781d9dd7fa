//! Archives through the service: `import` of a rootfs tar, `save` and `load` of docker-archive
//! and OCI layout tars, and `history`. All of them stream: an archive is never held in memory.
//!
//! An image without a name (an import without a reference, a loaded archive entry without
//! tags) is recorded under its ID (`sha256:<hex>`) as its record name, so it is listed, kept
//! by GC and found by ID; it is dropped as soon as a named record for the same image exists.

mod history;
mod import;
mod load;
mod save;

use super::{Cause, ImageService};
use crate::layer::{self, ApplyOptions, Compression, WhiteoutMode};
use crate::manifest::media;
use crate::store::{ImageRecord, Ingest};
use crate::Digest;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

impl ImageRecord {
    /// Whether this record stands for an image without a name (its name is its ID).
    pub fn is_untagged(&self) -> bool {
        self.name == self.config.to_string()
    }
}

impl ImageService {
    /// Save records: named ones replace the untagged record of their image; an untagged one is
    /// added only if nothing names its image yet. One atomic metadata update.
    pub(crate) fn put_records(&self, records: Vec<ImageRecord>) -> Result<(), Cause> {
        self.inner.meta.update(|m| {
            for rec in records {
                let untagged = rec.config.to_string();
                if rec.name == untagged {
                    if !m.values().any(|r| r.config == rec.config) {
                        m.insert(rec.name.clone(), rec);
                    }
                } else {
                    m.remove(&untagged);
                    m.insert(rec.name.clone(), rec);
                }
            }
            Ok::<_, Cause>(())
        })
    }

    /// Copy a staged file into the content store as blob `d`, verifying it on the way.
    pub(crate) fn ingest_file(&self, d: &Digest, file: &Path, size: u64) -> Result<(), Cause> {
        match self.inner.content.ingest(d, Some(size))? {
            Ingest::Present => Ok(()),
            Ingest::Write(mut w) => {
                w.restart()?;
                let f = File::open(file).map_err(|source| Cause::Io {
                    op: "open",
                    path: file.to_path_buf(),
                    source,
                })?;
                Ok(w.tee(f).finish()?)
            }
        }
    }
}

/// The OCI layer media type for a compression.
pub(crate) fn layer_media_type(c: Compression) -> &'static str {
    match c {
        Compression::None => media::OCI_LAYER,
        Compression::Gzip => media::OCI_LAYER_GZIP,
        Compression::Zstd => media::OCI_LAYER_ZSTD,
    }
}

/// The compression of a file, from its first bytes; bzip2 and xz are refused.
pub(crate) fn file_compression(path: &Path) -> Result<Compression, Cause> {
    let mut head = [0u8; 8];
    let mut f = File::open(path).map_err(io_cause("open", path))?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]).map_err(io_cause("read", path))? {
            0 => break,
            k => n += k,
        }
    }
    crate::archive::check_compression(&head[..n])?;
    Ok(Compression::detect(&head[..n]))
}

pub(crate) fn io_cause(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Cause {
    let path = path.to_path_buf();
    move |source| Cause::Io { op, path, source }
}

/// Decompress `src` and apply it to `dest` as an overlay lower dir, checking its diff ID.
pub(crate) fn unpack_checked(
    src: impl Read,
    dest: &Path,
    blob: &Digest,
    diff_id: &Digest,
) -> Result<(), Cause> {
    let (_, dec) = layer::decompress(src).map_err(layer::LayerError::Read)?;
    let opts = ApplyOptions {
        whiteouts: WhiteoutMode::Overlay,
        ..ApplyOptions::default()
    };
    let applied = layer::apply(dec, dest, &opts)?;
    check_diff_id(blob, diff_id, applied.diff_id)
}

/// Decompress `src` and hash it, checking its diff ID (for layers whose snapshot exists).
pub(crate) fn verify_diff_id(src: impl Read, blob: &Digest, diff_id: &Digest) -> Result<(), Cause> {
    let (_, dec) = layer::decompress(src).map_err(layer::LayerError::Read)?;
    let mut h = crate::digest::HashingReader::new(dec, crate::digest::Algorithm::Sha256);
    io::copy(&mut h, &mut io::sink()).map_err(layer::LayerError::Read)?;
    let (actual, _) = h.finish().map_err(layer::LayerError::Read)?;
    check_diff_id(blob, diff_id, actual)
}

fn check_diff_id(blob: &Digest, expected: &Digest, actual: Digest) -> Result<(), Cause> {
    if &actual != expected {
        return Err(Cause::DiffIdMismatch {
            layer: blob.clone(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}
