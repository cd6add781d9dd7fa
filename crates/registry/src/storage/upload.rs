//! Blob uploads in progress: a directory per upload holding its repository and its data so far.
//! Chunks are appended through a blocking writer thread while the next chunk is read from the
//! network, and hashed on the way (sha256; other digests are checked by re-reading at the end).
//! A chunk that fails half-way is cut off again, so an upload always ends on a whole chunk.

use super::{io_err, random_id, Result, Store, StoreError};
use crate::digest::{Algorithm, Digest, Hasher};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Body;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How much is written in one go by the writer thread.
const BATCH: usize = 1 << 20;

/// Why appending a chunk failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("upload {id}: reading the request body: {cause}")]
    Body { id: String, cause: String },
    #[error("upload {id}: chunk of {got} bytes, {expected} announced")]
    Length { id: String, expected: u64, got: u64 },
}

/// The uploads of one store, with the state of those in use.
pub struct Uploads {
    store: Store,
    open: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Upload>>>>,
}

/// One upload: its repository, size so far, and the running hash of its data.
pub struct Upload {
    pub id: String,
    pub repo: String,
    pub size: u64,
    dir: PathBuf,
    hasher: Option<Hasher>,
    gone: bool,
    /// Start writing data back to disk as it arrives, so the flush when the upload completes
    /// only waits for the last part.
    write_back: bool,
}

impl Uploads {
    pub fn new(store: Store) -> Uploads {
        Uploads {
            store,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.store.root().join("uploads").join(id)
    }

    /// Starts an upload into `repo`.
    pub fn start(&self, repo: &str) -> Result<Arc<tokio::sync::Mutex<Upload>>> {
        let id = random_id();
        let dir = self.dir(&id);
        fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        File::create(dir.join("data")).map_err(io_err("create", &dir))?;
        fs::write(dir.join("repo"), repo).map_err(io_err("write", &dir))?;
        let up = Upload {
            id: id.clone(),
            repo: repo.to_string(),
            size: 0,
            dir,
            hasher: Some(Algorithm::Sha256.hasher()),
            gone: false,
            write_back: self.store.fsync(),
        };
        let up = Arc::new(tokio::sync::Mutex::new(up));
        self.open.lock().unwrap().insert(id, up.clone());
        Ok(up)
    }

    /// An upload of `repo`, from memory or (after a restart) from disk.
    pub fn get(&self, repo: &str, id: &str) -> Result<Arc<tokio::sync::Mutex<Upload>>> {
        let unknown = || StoreError::UploadUnknown(id.to_string());
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(unknown());
        }
        let mut open = self.open.lock().unwrap();
        if let Some(up) = open.get(id) {
            return Ok(up.clone());
        }
        let dir = self.dir(id);
        let owner = fs::read_to_string(dir.join("repo")).map_err(|_| unknown())?;
        let size = fs::metadata(dir.join("data")).map_err(|_| unknown())?.len();
        let up = Upload {
            id: id.to_string(),
            repo: owner,
            size,
            dir,
            hasher: (size == 0).then(|| Algorithm::Sha256.hasher()),
            gone: false,
            write_back: self.store.fsync(),
        };
        let up = Arc::new(tokio::sync::Mutex::new(up));
        open.insert(id.to_string(), up.clone());
        drop(open);
        if up.try_lock().map(|u| u.repo != repo).unwrap_or(false) {
            return Err(unknown());
        }
        Ok(up)
    }

    /// Checks an upload (locked) is still there and belongs to `repo`.
    pub fn check(&self, up: &Upload, repo: &str) -> Result<()> {
        if up.gone || up.repo != repo {
            return Err(StoreError::UploadUnknown(up.id.clone()));
        }
        Ok(())
    }

    /// Removes an upload from disk and memory.
    pub fn remove(&self, up: &mut Upload) {
        up.gone = true;
        self.open.lock().unwrap().remove(&up.id);
        let _ = fs::remove_dir_all(&up.dir);
    }

    /// Verifies the upload's data against `digest`, moves it into the store and links it into
    /// the upload's repository. The upload is gone afterwards, whatever the outcome.
    pub async fn finish(&self, up: &mut Upload, digest: &Digest) -> Result<()> {
        let data = up.dir.join("data");
        let actual = match up.hasher.take() {
            Some(h) if h.algorithm() == digest.algorithm() => h.finish(),
            _ => {
                let (alg, path) = (digest.algorithm(), data.clone());
                blocking(move || hash_file(alg, &path)).await?
            }
        };
        if &actual != digest {
            self.remove(up);
            return Err(StoreError::DigestMismatch {
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        let (store, d) = (self.store.clone(), digest.clone());
        let result = blocking(move || store.commit_blob_file(&data, &d)).await;
        if result.is_ok() {
            self.store.link_blob(&up.repo, digest)?;
        }
        self.remove(up);
        result
    }

    /// Ids and directories of the uploads on disk (for garbage collection).
    pub fn on_disk(&self) -> Result<Vec<(String, PathBuf)>> {
        let base = self.store.root().join("uploads");
        Ok(super::list_names(&base)?
            .into_iter()
            .map(|id| (id.clone(), base.join(id)))
            .collect())
    }
}

impl Upload {
    /// Appends a request body; with `expected`, the body must be exactly that long. On any
    /// failure the data is cut back to where it was.
    pub async fn append<B>(
        &mut self,
        body: B,
        expected: Option<u64>,
    ) -> std::result::Result<u64, AppendError>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let start = (self.size, self.hasher.clone());
        let r = self.append_inner(body, expected).await;
        if r.is_err() {
            let path = self.dir.join("data");
            if let Ok(f) = fs::OpenOptions::new().write(true).open(&path) {
                let _ = f.set_len(start.0);
            }
            (self.size, self.hasher) = start;
        }
        r
    }

    async fn append_inner<B>(
        &mut self,
        mut body: B,
        expected: Option<u64>,
    ) -> std::result::Result<u64, AppendError>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let path = self.dir.join("data");
        let file = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|_| StoreError::UploadUnknown(self.id.clone()))?;
        let mut writer = Writer::Idle(file, self.hasher.take(), Vec::new());
        let write_back = self.write_back;
        // Frames are copied into a batch buffer at once and dropped, so hyper reuses its read
        // buffer instead of allocating (and faulting in) a fresh one for every read; the two
        // batch buffers take turns between here and the writer thread.
        let mut batch: Vec<u8> = Vec::new();
        let mut total = 0u64;
        let result = loop {
            let frame = match body.frame().await {
                None => break Ok(()),
                Some(Err(e)) => {
                    break Err(AppendError::Body {
                        id: self.id.clone(),
                        cause: e.to_string(),
                    })
                }
                Some(Ok(f)) => f,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            total += data.len() as u64;
            if expected.is_some_and(|n| total > n) {
                break Err(self.length_error(expected, total));
            }
            let full = batch.len() + data.len() > batch.capacity();
            if full && !batch.is_empty() {
                match writer
                    .submit(std::mem::take(&mut batch), write_back, &path)
                    .await
                {
                    Ok(spare) => batch = spare,
                    Err(e) => break Err(e.into()),
                }
            }
            if batch.capacity() < data.len() {
                batch.reserve_exact(BATCH.max(data.len()));
            }
            batch.extend_from_slice(&data);
        };
        let flushed = writer.submit(batch, write_back, &path).await;
        let (_, hasher, _) = writer.finish(&path).await?;
        flushed?;
        result?;
        if expected.is_some_and(|n| total != n) {
            return Err(self.length_error(expected, total));
        }
        self.hasher = hasher;
        self.size += total;
        Ok(self.size)
    }

    fn length_error(&self, expected: Option<u64>, got: u64) -> AppendError {
        AppendError::Length {
            id: self.id.clone(),
            expected: expected.unwrap_or(0),
            got,
        }
    }
}

type WriteResult = (File, Option<Hasher>, Vec<u8>, io::Result<()>);

/// The data file, the hash and a spare batch buffer, either here or lent to a blocking thread
/// that hashes and writes a batch.
enum Writer {
    Idle(File, Option<Hasher>, Vec<u8>),
    Busy(tokio::task::JoinHandle<WriteResult>),
    Broken,
}

impl Writer {
    /// Waits for the batch in flight, then hands `batch` to a new blocking write; returns the
    /// emptied buffer of the previous batch for the next one.
    async fn submit(
        &mut self,
        batch: Vec<u8>,
        write_back: bool,
        path: &std::path::Path,
    ) -> Result<Vec<u8>> {
        let (mut file, mut hasher, mut spare) = self.finish(path).await?;
        if batch.is_empty() {
            *self = Writer::Idle(file, hasher, spare);
            return Ok(batch);
        }
        *self = Writer::Busy(tokio::task::spawn_blocking(move || {
            if let Some(h) = hasher.as_mut() {
                h.update(&batch);
            }
            let r = file.write_all(&batch);
            if r.is_ok() && write_back {
                start_write_back(&file);
            }
            let mut done = batch;
            done.clear();
            (file, hasher, done, r)
        }));
        spare.clear();
        Ok(spare)
    }

    /// Waits for the batch in flight and takes the file back.
    async fn finish(&mut self, path: &std::path::Path) -> Result<(File, Option<Hasher>, Vec<u8>)> {
        match std::mem::replace(self, Writer::Broken) {
            Writer::Idle(f, h, b) => Ok((f, h, b)),
            Writer::Busy(j) => {
                let (f, h, b, r) = j.await.map_err(|e| StoreError::Io {
                    op: "write",
                    path: path.to_path_buf(),
                    source: io::Error::other(e.to_string()),
                })?;
                r.map_err(io_err("write", path))?;
                Ok((f, h, b))
            }
            Writer::Broken => Err(StoreError::Io {
                op: "write",
                path: path.to_path_buf(),
                source: io::Error::other("an earlier write failed"),
            }),
        }
    }
}

/// Starts writing the file's dirty pages to disk without waiting for them (a hint: errors show
/// up, if at all, in the flush before the upload is acknowledged).
fn start_write_back(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range only reads its integer arguments; the descriptor is open for
    // as long as `file` is borrowed.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Runs storage work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(StoreError::Io {
            op: "run",
            path: PathBuf::new(),
            source: io::Error::other(e.to_string()),
        })
    })
}

/// The digest of a file's content.
pub fn hash_file(alg: Algorithm, path: &std::path::Path) -> Result<Digest> {
    let mut f = File::open(path).map_err(io_err("open", path))?;
    let mut h = alg.hasher();
    let mut buf = vec![0u8; BATCH];
    loop {
        let n = f.read(&mut buf).map_err(io_err("read", path))?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Frame;
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A request body made of the given frames, or failing where an error is given.
    struct Frames(VecDeque<std::result::Result<Bytes, String>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = String;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<std::result::Result<Frame<Bytes>, String>>> {
            Poll::Ready(self.0.pop_front().map(|r| r.map(Frame::data)))
        }
    }

    /// Frames of uneven sizes, some larger than a batch, with their concatenation.
    fn uneven(seed: u8) -> (Vec<Bytes>, Vec<u8>) {
        let sizes = [1, 4093, 70_000, BATCH - 5, 17, BATCH * 2 + 3, 65_536, 999];
        let mut all = Vec::new();
        let frames = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let b: Vec<u8> = (0..n).map(|j| (j * 31 + i * 7) as u8 ^ seed).collect();
                all.extend_from_slice(&b);
                Bytes::from(b)
            })
            .collect();
        (frames, all)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap()
    }

    #[test]
    fn appends_across_batches_hash_and_data_intact() {
        let dir = tempfile::tempdir().unwrap();
        for fsync in [true, false] {
            let uploads = Uploads::new(Store::open(dir.path(), fsync).unwrap());
            rt().block_on(async {
                let up = uploads.start("r").unwrap();
                let mut up = up.lock().await;
                let (frames, mut want) = uneven(1);
                let n = want.len() as u64;
                let body = Frames(frames.into_iter().map(Ok).collect());
                assert_eq!(up.append(body, Some(n)).await.unwrap(), n);
                let (frames, more) = uneven(2);
                want.extend_from_slice(&more);
                let body = Frames(frames.into_iter().map(Ok).collect());
                assert_eq!(up.append(body, None).await.unwrap(), want.len() as u64);
                assert_eq!(fs::read(up.dir.join("data")).unwrap(), want);
                let d = Digest::of(Algorithm::Sha256, &want);
                uploads.finish(&mut up, &d).await.unwrap();
                assert_eq!(uploads.store.read_blob(&d).unwrap(), want);
            });
        }
    }

    #[test]
    fn failed_or_short_chunk_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = Uploads::new(Store::open(dir.path(), true).unwrap());
        rt().block_on(async {
            let up = uploads.start("r").unwrap();
            let mut up = up.lock().await;
            let (frames, first) = uneven(3);
            let body = Frames(frames.into_iter().map(Ok).collect());
            up.append(body, None).await.unwrap();
            // A body failing after more than a batch was written, then one shorter than announced.
            let (frames, _) = uneven(4);
            let mut broken: VecDeque<_> = frames.into_iter().map(Ok).collect();
            broken.push_back(Err("connection reset".to_string()));
            let e = up.append(Frames(broken), None).await.unwrap_err();
            assert!(e.to_string().contains("connection reset"), "{e}");
            let (frames, more) = uneven(5);
            let body = Frames(frames.into_iter().map(Ok).collect());
            let e = up.append(body, Some(more.len() as u64 + 1)).await;
            assert!(matches!(e, Err(AppendError::Length { .. })));
            assert_eq!(up.size, first.len() as u64);
            assert_eq!(fs::read(up.dir.join("data")).unwrap(), first);
            let d = Digest::of(Algorithm::Sha256, &first);
            uploads.finish(&mut up, &d).await.unwrap();
            assert_eq!(uploads.store.read_blob(&d).unwrap(), first);
        });
    }
}
