//! Content-addressed blobs under `<root>/blobs/<algorithm>/<hex>`.
//!
//! A blob becomes visible only whole and verified: bytes go to a partial file in the same
//! directory (`.partial-<hex>`), are hashed as they pass, fsynced, checked against the expected
//! digest and size, and only then renamed to their final name. A crash leaves at most a partial
//! file, which a later pull resumes (its bytes are re-hashed before more are appended) or GC
//! removes. Writers of the same digest coalesce on a lock file: the second waits and then finds
//! the blob present.

use super::StoreError;
use crate::digest::{Algorithm, Digest, Hasher};
use crate::sys::{self, LockFile};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, StoreError>;

/// The blob store.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

/// The outcome of asking to write a blob.
pub enum Ingest {
    /// The blob is already stored (perhaps written meanwhile by another writer).
    Present,
    /// This caller holds the write lock and should provide the bytes.
    Write(BlobWriter),
}

impl ContentStore {
    /// Open (creating) the blob store under `root/blobs`.
    pub fn open(root: &Path) -> Result<ContentStore> {
        let root = root.join("blobs");
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = root.join(alg.name());
            fs::create_dir_all(&dir).map_err(StoreError::io("create", &dir))?;
        }
        Ok(ContentStore { root })
    }

    /// Where the blob `d` lives (whether or not it exists).
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.root.join(d.algorithm().name()).join(d.hex())
    }

    fn partial_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join(d.algorithm().name())
            .join(format!(".partial-{}", d.hex()))
    }

    fn lock_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join(d.algorithm().name())
            .join(format!(".lock-{}", d.hex()))
    }

    /// Whether the blob is stored.
    pub fn contains(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// The size of a stored blob.
    pub fn size(&self, d: &Digest) -> Result<u64> {
        let p = self.path(d);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NotFound(d.clone())),
            Err(e) => Err(StoreError::io("stat", p)(e)),
        }
    }

    /// Open a stored blob for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        let p = self.path(d);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound(d.clone()),
            _ => StoreError::io("open", p)(e),
        })
    }

    /// Read a whole (small) blob, checking its digest again.
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        let p = self.path(d);
        self.open_blob(d)?
            .read_to_end(&mut buf)
            .map_err(StoreError::io("read", &p))?;
        let actual = Digest::of(d.algorithm(), &buf);
        if &actual != d {
            return Err(StoreError::DigestMismatch {
                expected: d.clone(),
                actual,
            });
        }
        Ok(buf)
    }

    /// Store `data` under its sha256 digest (or under `expected`, which it must match).
    pub fn write_all(&self, expected: Option<&Digest>, data: &[u8]) -> Result<Digest> {
        let digest = match expected {
            Some(d) => d.clone(),
            None => Digest::sha256(data),
        };
        match self.ingest(&digest, Some(data.len() as u64))? {
            Ingest::Present => {}
            Ingest::Write(mut w) => {
                w.restart()?;
                w.tee(&[][..]).finish_with(data)?
            }
        }
        Ok(digest)
    }

    /// Start writing blob `d` of `size` bytes (if known). Blocks while another writer of the
    /// same digest is busy; returns [`Ingest::Present`] if the blob is (then) stored.
    pub fn ingest(&self, d: &Digest, size: Option<u64>) -> Result<Ingest> {
        if self.contains(d) {
            return Ok(Ingest::Present);
        }
        let lock_path = self.lock_path(d);
        let lock = LockFile::exclusive_transient(&lock_path)
            .map_err(StoreError::io("lock", &lock_path))?;
        if self.contains(d) {
            return Ok(Ingest::Present);
        }
        let partial = self.partial_path(d);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&partial)
            .map_err(StoreError::io("create", &partial))?;
        let mut offset = file
            .seek(io::SeekFrom::End(0))
            .map_err(StoreError::io("seek", &partial))?;
        if size.is_some_and(|s| offset > s) {
            file.set_len(0)
                .map_err(StoreError::io("truncate", &partial))?;
            offset = file
                .seek(io::SeekFrom::Start(0))
                .map_err(StoreError::io("seek", &partial))?;
        }
        Ok(Ingest::Write(BlobWriter {
            file,
            partial,
            target: self.path(d),
            digest: d.clone(),
            size,
            offset,
            _lock: lock,
        }))
    }

    /// Remove a blob (and any partial of it). Missing is fine.
    pub fn delete(&self, d: &Digest) -> Result<()> {
        for p in [self.path(d), self.partial_path(d)] {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("remove", p)(e)),
            }
        }
        Ok(())
    }

    /// Every stored blob.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.root.join(alg.name());
            for entry in fs::read_dir(&dir).map_err(StoreError::io("read", &dir))? {
                let entry = entry.map_err(StoreError::io("read", &dir))?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if let Ok(d) = format!("{}:{name}", alg.name()).parse() {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    /// Partial files (interrupted writes) and their ages, for GC.
    pub fn partials(&self) -> Result<Vec<(PathBuf, std::time::SystemTime)>> {
        let mut out = Vec::new();
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.root.join(alg.name());
            for entry in fs::read_dir(&dir).map_err(StoreError::io("read", &dir))? {
                let entry = entry.map_err(StoreError::io("read", &dir))?;
                if entry.file_name().to_string_lossy().starts_with(".partial-") {
                    let m = entry
                        .metadata()
                        .map_err(StoreError::io("stat", entry.path()))?;
                    out.push((entry.path(), m.modified().unwrap_or(std::time::UNIX_EPOCH)));
                }
            }
        }
        Ok(out)
    }
}

/// The write side of one blob, holding its lock. Turn it into a [`TeeReader`] to stream.
pub struct BlobWriter {
    file: File,
    partial: PathBuf,
    target: PathBuf,
    digest: Digest,
    size: Option<u64>,
    offset: u64,
    _lock: LockFile,
}

impl BlobWriter {
    /// Bytes already stored from an interrupted write; fetch the rest from here on.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The digest being written.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Forget the bytes of an interrupted write and start from zero.
    pub fn restart(&mut self) -> Result<()> {
        self.file
            .set_len(0)
            .map_err(StoreError::io("truncate", &self.partial))?;
        self.file
            .seek(io::SeekFrom::Start(0))
            .map_err(StoreError::io("seek", &self.partial))?;
        self.offset = 0;
        Ok(())
    }

    /// A reader over the whole blob: the bytes already stored, then `rest` (the bytes from
    /// [`offset`](Self::offset) on), hashing everything and appending `rest` to the blob.
    pub fn tee<R: Read>(self, rest: R) -> TeeReader<R> {
        // A separate open file description, so reading does not move the write offset.
        let existing = (self.offset > 0)
            .then(|| File::open(&self.partial).ok())
            .flatten();
        let existing_len = self.offset;
        TeeReader {
            hasher: self.digest.algorithm().hasher(),
            existing: existing.map(|f| f.take(existing_len)),
            rest,
            count: 0,
            writer: self,
        }
    }
}

/// Reads a blob while writing it to the store (see [`BlobWriter::tee`]); [`finish`](Self::finish)
/// verifies and publishes it.
pub struct TeeReader<R> {
    writer: BlobWriter,
    hasher: Hasher,
    existing: Option<io::Take<File>>,
    rest: R,
    count: u64,
}

impl<R: Read> TeeReader<R> {
    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The source of the new bytes.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.rest
    }

    /// Read what is left, then verify size and digest and make the blob visible. On a
    /// mismatch the partial file is removed and nothing becomes visible.
    pub fn finish(mut self) -> Result<()> {
        let path = self.writer.partial.clone();
        io::copy(&mut self, &mut io::sink()).map_err(StoreError::io("write", &path))?;
        self.commit()
    }

    fn finish_with(mut self, data: &[u8]) -> Result<()> {
        self.hasher.update(data);
        self.count += data.len() as u64;
        let path = self.writer.partial.clone();
        self.writer
            .file
            .write_all(data)
            .map_err(StoreError::io("write", &path))?;
        self.commit()
    }

    fn commit(self) -> Result<()> {
        let w = self.writer;
        let actual = self.hasher.finish();
        let bad = if w.size.is_some_and(|s| s != self.count) {
            Some(StoreError::SizeMismatch {
                digest: w.digest.clone(),
                expected: w.size.unwrap_or(0),
                actual: self.count,
            })
        } else if actual != w.digest {
            Some(StoreError::DigestMismatch {
                expected: w.digest.clone(),
                actual,
            })
        } else {
            None
        };
        if let Some(e) = bad {
            let _ = fs::remove_file(&w.partial);
            return Err(e);
        }
        w.file
            .sync_all()
            .map_err(StoreError::io("fsync", &w.partial))?;
        fs::rename(&w.partial, &w.target).map_err(StoreError::io("rename", &w.partial))?;
        let dir = w.target.parent().unwrap_or(Path::new("."));
        sys::fsync_dir(dir).map_err(StoreError::io("fsync", dir))?;
        Ok(())
    }
}

impl<R: Read> Read for TeeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(existing) = self.existing.as_mut() {
            let n = existing.read(buf)?;
            if n > 0 {
                self.hasher.update(&buf[..n]);
                self.count += n as u64;
                return Ok(n);
            }
            self.existing = None;
        }
        let n = self.rest.read(buf)?;
        if n == 0 {
            return Ok(0);
        }
        if let Some(size) = self.writer.size {
            if self.count + n as u64 > size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "blob {}: more than the expected {size} bytes",
                        self.writer.digest
                    ),
                ));
            }
        }
        self.writer.file.write_all(&buf[..n])?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = ContentStore::open(dir.path()).unwrap();
        (dir, s)
    }

    fn writer(s: &ContentStore, d: &Digest, size: Option<u64>) -> BlobWriter {
        match s.ingest(d, size).unwrap() {
            Ingest::Write(w) => w,
            Ingest::Present => panic!("present"),
        }
    }

    #[test]
    fn write_read_and_sha512() {
        let (_t, s) = store();
        let d = s.write_all(None, b"hello").unwrap();
        assert_eq!(d, Digest::sha256(b"hello"));
        assert_eq!(s.read(&d).unwrap(), b"hello");
        assert_eq!(s.size(&d).unwrap(), 5);
        let d512 = Digest::of(Algorithm::Sha512, b"hello");
        s.write_all(Some(&d512), b"hello").unwrap();
        assert!(s.path(&d512).ends_with(format!("sha512/{}", d512.hex())));
        let mut all = s.list().unwrap();
        all.sort();
        assert_eq!(all, vec![d.clone(), d512]);
        assert!(matches!(s.ingest(&d, None).unwrap(), Ingest::Present));
    }

    #[test]
    fn corrupt_write_is_rejected_and_invisible() {
        let (_t, s) = store();
        let d = Digest::sha256(b"the real content");
        let err = s.write_all(Some(&d), b"the fake content").unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        assert!(err
            .to_string()
            .starts_with(&format!("blob {d}: digest mismatch")));
        assert!(!s.contains(&d));
        assert!(s.partials().unwrap().is_empty());
        assert!(matches!(s.read(&d), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn short_write_is_rejected() {
        let (_t, s) = store();
        let data = b"0123456789";
        let d = Digest::sha256(data);
        let w = writer(&s, &d, Some(10));
        let err = w.tee(&data[..6]).finish().unwrap_err();
        assert!(
            matches!(err, StoreError::SizeMismatch { actual: 6, .. }),
            "{err}"
        );
        assert!(!s.contains(&d));
    }

    #[test]
    fn long_write_is_stopped() {
        let (_t, s) = store();
        let d = Digest::sha256(b"0123");
        let w = writer(&s, &d, Some(4));
        let err = w.tee(&b"0123456"[..]).finish().unwrap_err();
        assert!(
            err.to_string().contains("more than the expected 4 bytes"),
            "{err}"
        );
        assert!(!s.contains(&d));
    }

    #[test]
    fn tampered_file_is_detected_on_read() {
        let (_t, s) = store();
        let d = s.write_all(None, b"abc").unwrap();
        fs::write(s.path(&d), b"abd").unwrap();
        assert!(matches!(s.read(&d), Err(StoreError::DigestMismatch { .. })));
    }

    #[test]
    fn interrupted_write_resumes() {
        let (_t, s) = store();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let d = Digest::sha256(&data);
        {
            let w = writer(&s, &d, Some(data.len() as u64));
            let mut tee = w.tee(&data[..40_000]);
            io::copy(&mut tee, &mut io::sink()).unwrap();
            // dropped without finish: like a killed pull
        }
        assert!(!s.contains(&d));
        let w = writer(&s, &d, Some(data.len() as u64));
        assert_eq!(w.offset(), 40_000);
        let mut tee = w.tee(&data[40_000..]);
        let mut all = Vec::new();
        tee.read_to_end(&mut all).unwrap();
        assert_eq!(all, data, "the reader sees the whole blob");
        tee.finish().unwrap();
        assert_eq!(s.read(&d).unwrap(), data);
    }

    #[test]
    fn concurrent_writers_coalesce() {
        let (_t, s) = store();
        let s = Arc::new(s);
        let data = vec![7u8; 1 << 20];
        let d = Digest::sha256(&data);
        let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (s, d, data, written) = (s.clone(), d.clone(), data.clone(), written.clone());
                std::thread::spawn(
                    move || match s.ingest(&d, Some(data.len() as u64)).unwrap() {
                        Ingest::Present => {}
                        Ingest::Write(w) => {
                            written.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            w.tee(&data[..]).finish().unwrap();
                        }
                    },
                )
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(written.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(s.read(&d).unwrap(), data);
        let leftovers: Vec<_> = fs::read_dir(s.path(&d).parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
