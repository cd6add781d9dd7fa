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
        let mut writer = Writer::Idle(file, self.hasher.take());
        let mut batch: Vec<Bytes> = Vec::new();
        let (mut batched, mut total) = (0usize, 0u64);
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
            batched += data.len();
            batch.push(data);
            if batched >= BATCH {
                if let Err(e) = writer.submit(std::mem::take(&mut batch), &path).await {
                    break Err(e.into());
                }
                batched = 0;
            }
        };
        let flushed = writer.submit(batch, &path).await;
        let (_, hasher) = writer.finish(&path).await?;
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

type WriteResult = (File, Option<Hasher>, io::Result<()>);

/// The data file and hash, either here or lent to a blocking thread that writes a batch.
enum Writer {
    Idle(File, Option<Hasher>),
    Busy(tokio::task::JoinHandle<WriteResult>),
    Broken,
}

impl Writer {
    /// Waits for the batch in flight, then hands `batch` to a new blocking write.
    async fn submit(&mut self, batch: Vec<Bytes>, path: &std::path::Path) -> Result<()> {
        let (mut file, mut hasher) = self.finish(path).await?;
        if batch.is_empty() {
            *self = Writer::Idle(file, hasher);
            return Ok(());
        }
        *self = Writer::Busy(tokio::task::spawn_blocking(move || {
            let mut r = Ok(());
            for b in &batch {
                if let Some(h) = hasher.as_mut() {
                    h.update(b);
                }
                r = file.write_all(b);
                if r.is_err() {
                    break;
                }
            }
            (file, hasher, r)
        }));
        Ok(())
    }

    /// Waits for the batch in flight and takes the file back.
    async fn finish(&mut self, path: &std::path::Path) -> Result<(File, Option<Hasher>)> {
        match std::mem::replace(self, Writer::Broken) {
            Writer::Idle(f, h) => Ok((f, h)),
            Writer::Busy(j) => {
                let (f, h, r) = j.await.map_err(|e| StoreError::Io {
                    op: "write",
                    path: path.to_path_buf(),
                    source: io::Error::other(e.to_string()),
                })?;
                r.map_err(io_err("write", path))?;
                Ok((f, h))
            }
            Writer::Broken => Err(StoreError::Io {
                op: "write",
                path: path.to_path_buf(),
                source: io::Error::other("an earlier write failed"),
            }),
        }
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
