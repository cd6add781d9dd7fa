//! Layers: detect compression (gzip, zstd, none) by magic bytes, decompress as a stream, and
//! apply a layer tar to a directory with whiteouts and safe extraction ([`apply`]).
//!
//! Every filesystem write of an entry goes through [`safe::Root`], which resolves paths with
//! `openat2(RESOLVE_IN_ROOT)` and creates the final component relative to its parent's
//! descriptor without following it, so no entry can reach outside the target directory.

mod apply;
pub mod diff;
pub mod safe;

pub use apply::{apply, Applied, ApplyOptions, WhiteoutMode};

use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

/// A layer that could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The tar stream is malformed (or its compression is).
    #[error("read layer: {0}")]
    Read(#[source] io::Error),
    /// An entry could not be written.
    #[error("{op} {path}: {source}")]
    Write {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// An entry of a type tug does not apply.
    #[error("entry {path}: unsupported tar entry type {kind}")]
    UnsupportedEntry { path: PathBuf, kind: u8 },
    /// A hard link whose target is not in the layer.
    #[error("hard link {path}: target {target}: {source}")]
    HardLink {
        path: PathBuf,
        target: PathBuf,
        source: io::Error,
    },
}

impl LayerError {
    /// The kind of this error.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            LayerError::Read(_)
            | LayerError::UnsupportedEntry { .. }
            | LayerError::HardLink { .. } => crate::ErrorKind::Invalid,
            LayerError::Write { .. } => crate::ErrorKind::Internal,
        }
    }

    pub(crate) fn write(
        op: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| LayerError::Write { op, path, source }
    }
}

/// A layer's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Detect from the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Wrap `r` in the decompressor its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut r = BufReader::with_capacity(128 * 1024, r);
    let c = Compression::detect(r.fill_buf()?);
    let out: Box<dyn Read + 'a> = match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(ZstdReader::new(r)?),
    };
    Ok((c, out))
}

/// A zstd stream of one or more frames.
struct ZstdReader<R: BufRead> {
    dec: Option<ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>>,
}

impl<R: BufRead> ZstdReader<R> {
    fn new(r: R) -> io::Result<Self> {
        let dec = ruzstd::decoding::StreamingDecoder::new(r)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(ZstdReader { dec: Some(dec) })
    }
}

impl<R: BufRead> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(dec) = self.dec.as_mut() else {
                return Ok(0);
            };
            let n = dec.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // This frame is done: another may follow.
            let (mut src, frame) = self.dec.take().expect("checked above").into_parts();
            if src.fill_buf()?.is_empty() {
                return Ok(0);
            }
            let dec = ruzstd::decoding::StreamingDecoder::new_with_decoder(src, frame)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            self.dec = Some(dec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_and_decompresses_gzip_and_plain() {
        let data = b"hello layer".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &data).unwrap();
        let gz = gz.finish().unwrap();
        for (input, want) in [(gz, Compression::Gzip), (data.clone(), Compression::None)] {
            let (c, mut r) = decompress(&input[..]).unwrap();
            assert_eq!(c, want);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }

    #[test]
    fn decompresses_zstd_frames() {
        use ruzstd::encoding::{compress_to_vec, CompressionLevel};
        let a = b"first frame ".repeat(500);
        let b = b"second frame".repeat(500);
        let mut z = compress_to_vec(&a[..], CompressionLevel::Fastest);
        z.extend(compress_to_vec(&b[..], CompressionLevel::Fastest));
        let (c, mut r) = decompress(&z[..]).unwrap();
        assert_eq!(c, Compression::Zstd);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, [a, b].concat());
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &[1u8; 5000]).unwrap();
        let mut gz = gz.finish().unwrap();
        let n = gz.len();
        gz[n - 6] ^= 0xff; // break the crc
        let (_, mut r) = decompress(&gz[..]).unwrap();
        assert!(r.read_to_end(&mut Vec::new()).is_err());
    }
}
