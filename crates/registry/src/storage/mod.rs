//! Content-addressed storage on disk: one copy of each blob across repositories, per-repository
//! links, manifests, tags and referrers. Every write is atomic: data lands in `tmp/` (or in an
//! upload's directory) and is renamed into place, so a kill never leaves a visible partial file.
//!
//! ```text
//! ROOT/blobs/<alg>/<hex[..2]>/<hex>                   blob and manifest bytes, shared
//! ROOT/repositories/<name>/_blobs/<alg>/<hex>          the repository holds this blob (empty file)
//! ROOT/repositories/<name>/_manifests/<alg>/<hex>      a manifest revision (its media type)
//! ROOT/repositories/<name>/_tags/<tag>                 the digest the tag points at
//! ROOT/repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>   subject → referring manifest
//! ROOT/uploads/<id>/{repo,data}                        uploads in progress
//! ROOT/tmp/                                            files being written
//! ```

pub mod upload;

pub use upload::{Upload, Uploads};

use crate::digest::{Algorithm, Digest};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A storage error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("blob {0}: unknown to this repository")]
    BlobUnknown(String),
    #[error("manifest {0}: unknown")]
    ManifestUnknown(String),
    #[error("repository {0}: unknown")]
    NameUnknown(String),
    #[error("upload {0}: unknown")]
    UploadUnknown(String),
    #[error("blob {expected}: digest mismatch (content is {actual})")]
    DigestMismatch { expected: String, actual: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Wraps an I/O error with the operation and path.
pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

/// `Ok(None)` for a missing file, else the result.
fn optional<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// 32 random hex characters from the kernel.
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    crate::digest::hex(&b)
}

/// The registry's storage under one root directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    fsync: bool,
}

impl Store {
    /// Opens (creating) the storage at `root`. With `fsync`, data is flushed before it is renamed
    /// into place, so an acknowledged write survives a power loss, not only a kill.
    pub fn open(root: &Path, fsync: bool) -> Result<Store> {
        for d in ["blobs", "repositories", "uploads", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_err("create directory", &p))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
            fsync,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether data is flushed to disk before it is acknowledged.
    pub(crate) fn fsync(&self) -> bool {
        self.fsync
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        let h = d.hex();
        self.root
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(&h[..2])
            .join(h)
    }

    fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root.join("repositories").join(repo)
    }

    fn blob_link(&self, repo: &str, d: &Digest) -> PathBuf {
        self.repo_dir(repo)
            .join("_blobs")
            .join(d.algorithm().as_str())
            .join(d.hex())
    }

    fn manifest_link(&self, repo: &str, d: &Digest) -> PathBuf {
        self.repo_dir(repo)
            .join("_manifests")
            .join(d.algorithm().as_str())
            .join(d.hex())
    }

    fn tag_path(&self, repo: &str, tag: &str) -> PathBuf {
        self.repo_dir(repo).join("_tags").join(tag)
    }

    fn referrers_dir(&self, repo: &str, subject: &Digest) -> PathBuf {
        self.repo_dir(repo)
            .join("_referrers")
            .join(subject.algorithm().as_str())
            .join(subject.hex())
    }

    /// A fresh path in `tmp/` (same file system as everything else, so renames are atomic).
    pub fn tmp_path(&self) -> PathBuf {
        self.root.join("tmp").join(random_id())
    }

    /// The size of a blob stored anywhere.
    pub fn blob_size(&self, d: &Digest) -> Result<Option<u64>> {
        let p = self.blob_path(d);
        optional(fs::metadata(&p))
            .map(|m| m.map(|m| m.len()))
            .map_err(io_err("stat", &p))
    }

    /// The size of a blob this repository holds.
    pub fn repo_blob_size(&self, repo: &str, d: &Digest) -> Result<Option<u64>> {
        let link = self.blob_link(repo, d);
        if optional(fs::metadata(&link))
            .map_err(io_err("stat", &link))?
            .is_none()
        {
            return Ok(None);
        }
        self.blob_size(d)
    }

    /// Marks both the blob and the repository's link as just used, so a concurrent garbage
    /// collection keeps them for its grace period.
    pub fn touch_blob(&self, repo: &str, d: &Digest) {
        for p in [self.blob_link(repo, d), self.blob_path(d)] {
            if let Ok(f) = fs::File::open(&p) {
                let _ = f.set_modified(SystemTime::now());
            }
        }
    }

    /// Records that `repo` holds the (stored) blob `d`.
    pub fn link_blob(&self, repo: &str, d: &Digest) -> Result<()> {
        let link = self.blob_link(repo, d);
        create_empty(&link, "")?;
        self.touch_blob(repo, d);
        Ok(())
    }

    /// Removes the repository's link to a blob; false when it had none.
    pub fn unlink_blob(&self, repo: &str, d: &Digest) -> Result<bool> {
        remove_file(&self.blob_link(repo, d))
    }

    /// Moves a complete, verified file into the blob store (atomically; an existing copy wins).
    pub fn commit_blob_file(&self, src: &Path, d: &Digest) -> Result<()> {
        let dst = self.blob_path(d);
        if self.fsync {
            let f = fs::File::open(src).map_err(io_err("open", src))?;
            f.sync_all().map_err(io_err("sync", src))?;
        }
        let parent = dst.parent().expect("blob path has a parent");
        fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
        fs::rename(src, &dst).map_err(io_err("rename into", &dst))?;
        if self.fsync {
            sync_dir(parent);
        }
        Ok(())
    }

    /// Stores `data` as the blob `d` (small blobs: manifests).
    pub fn write_blob(&self, d: &Digest, data: &[u8]) -> Result<()> {
        if self.blob_size(d)?.is_some() {
            return Ok(());
        }
        let tmp = self.tmp_path();
        write_file(&tmp, data)?;
        self.commit_blob_file(&tmp, d)
    }

    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.blob_path(d);
        optional(fs::read(&p))
            .map_err(io_err("read", &p))?
            .ok_or_else(|| StoreError::BlobUnknown(d.to_string()))
    }

    /// Stores a manifest revision with its media type, then its referrer link and tag.
    pub fn put_manifest(&self, m: &NewManifest<'_>) -> Result<()> {
        self.write_blob(m.digest, m.data)?;
        let link = self.manifest_link(m.repo, m.digest);
        self.write_atomic(&link, m.media_type.as_bytes())?;
        if let Some(subject) = m.subject {
            let dir = self.referrers_dir(m.repo, subject);
            create_empty(&dir.join(link_name(m.digest)), "")?;
        }
        if let Some(tag) = m.tag {
            self.set_tag(m.repo, tag, m.digest)?;
        }
        Ok(())
    }

    /// The media type of a manifest revision of `repo`, if it has it.
    pub fn manifest_media_type(&self, repo: &str, d: &Digest) -> Result<Option<String>> {
        let link = self.manifest_link(repo, d);
        optional(fs::read_to_string(&link)).map_err(io_err("read", &link))
    }

    /// A manifest's bytes and media type.
    pub fn get_manifest(&self, repo: &str, d: &Digest) -> Result<(Vec<u8>, String)> {
        let media_type = self
            .manifest_media_type(repo, d)?
            .ok_or_else(|| StoreError::ManifestUnknown(d.to_string()))?;
        let data = self
            .read_blob(d)
            .map_err(|_| StoreError::ManifestUnknown(d.to_string()))?;
        Ok((data, media_type))
    }

    /// Removes a manifest revision, the tags pointing at it and its referrer link.
    pub fn delete_manifest(
        &self,
        repo: &str,
        d: &Digest,
        subject: Option<&Digest>,
    ) -> Result<bool> {
        for tag in self.tags(repo)?.unwrap_or_default() {
            if self.tag(repo, &tag)?.as_ref() == Some(d) {
                self.delete_tag(repo, &tag)?;
            }
        }
        if let Some(s) = subject {
            remove_file(&self.referrers_dir(repo, s).join(link_name(d)))?;
        }
        remove_file(&self.manifest_link(repo, d))
    }

    pub fn manifests(&self, repo: &str) -> Result<Vec<Digest>> {
        list_digests(&self.repo_dir(repo).join("_manifests"))
    }

    pub fn repo_blobs(&self, repo: &str) -> Result<Vec<Digest>> {
        list_digests(&self.repo_dir(repo).join("_blobs"))
    }

    pub fn tag(&self, repo: &str, tag: &str) -> Result<Option<Digest>> {
        let p = self.tag_path(repo, tag);
        let s = optional(fs::read_to_string(&p)).map_err(io_err("read", &p))?;
        Ok(s.and_then(|s| s.trim().parse().ok()))
    }

    pub fn set_tag(&self, repo: &str, tag: &str, d: &Digest) -> Result<()> {
        self.write_atomic(&self.tag_path(repo, tag), d.to_string().as_bytes())
    }

    pub fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool> {
        remove_file(&self.tag_path(repo, tag))
    }

    /// The modification time of a tag (when it was last pushed).
    pub fn tag_time(&self, repo: &str, tag: &str) -> Option<SystemTime> {
        fs::metadata(self.tag_path(repo, tag))
            .and_then(|m| m.modified())
            .ok()
    }

    /// A repository's tags, sorted; `None` when the repository does not exist.
    pub fn tags(&self, repo: &str) -> Result<Option<Vec<String>>> {
        if !self.repo_exists(repo) {
            return Ok(None);
        }
        let dir = self.repo_dir(repo).join("_tags");
        let mut tags = list_names(&dir)?;
        tags.sort();
        Ok(Some(tags))
    }

    pub fn repo_exists(&self, repo: &str) -> bool {
        let d = self.repo_dir(repo);
        ["_blobs", "_manifests", "_tags"]
            .iter()
            .any(|s| d.join(s).is_dir())
    }

    /// Every repository name, sorted.
    pub fn repositories(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        walk_repos(&self.root.join("repositories"), "", &mut out)?;
        out.sort();
        Ok(out)
    }

    /// The manifests in `repo` whose subject is `subject`.
    pub fn referrers(&self, repo: &str, subject: &Digest) -> Result<Vec<Digest>> {
        let names = list_names(&self.referrers_dir(repo, subject))?;
        let mut out: Vec<Digest> = names
            .iter()
            .filter_map(|n| n.replacen('-', ":", 1).parse().ok())
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every stored blob (and manifest) with its path.
    pub fn all_blobs(&self) -> Result<Vec<(Digest, PathBuf)>> {
        let mut out = Vec::new();
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let base = self.root.join("blobs").join(alg.as_str());
            for prefix in list_names(&base)? {
                for hex in list_names(&base.join(&prefix))? {
                    if let Ok(d) = Digest::new(alg, hex.clone()) {
                        out.push((d, base.join(&prefix).join(hex)));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Path of a repository's manifest link or blob link (for garbage collection's ages).
    pub fn link_path(&self, repo: &str, d: &Digest, manifest: bool) -> PathBuf {
        if manifest {
            self.manifest_link(repo, d)
        } else {
            self.blob_link(repo, d)
        }
    }

    /// Writes `data` to `path` through a temporary file and a rename.
    pub fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<()> {
        let tmp = self.tmp_path();
        write_file(&tmp, data)?;
        if self.fsync {
            if let Ok(f) = fs::File::open(&tmp) {
                let _ = f.sync_all();
            }
        }
        let parent = path.parent().expect("path has a parent");
        fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
        fs::rename(&tmp, path).map_err(io_err("rename into", path))
    }
}

/// What `put_manifest` stores.
pub struct NewManifest<'a> {
    pub repo: &'a str,
    pub digest: &'a Digest,
    pub media_type: &'a str,
    pub data: &'a [u8],
    pub tag: Option<&'a str>,
    pub subject: Option<&'a Digest>,
}

fn link_name(d: &Digest) -> String {
    format!("{}-{}", d.algorithm().as_str(), d.hex())
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).map_err(io_err("create", path))?;
    f.write_all(data).map_err(io_err("write", path))
}

fn create_empty(path: &Path, content: &str) -> Result<()> {
    let parent = path.parent().expect("path has a parent");
    fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
    fs::write(path, content).map_err(io_err("write", path))
}

/// Removes a file; false when it was not there.
pub(crate) fn remove_file(path: &Path) -> Result<bool> {
    optional(fs::remove_file(path))
        .map(|r| r.is_some())
        .map_err(io_err("remove", path))
}

/// The names in a directory (none when it does not exist).
pub(crate) fn list_names(dir: &Path) -> Result<Vec<String>> {
    let Some(rd) = optional(fs::read_dir(dir)).map_err(io_err("read directory", dir))? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(io_err("read directory", dir))?;
        if let Ok(n) = e.file_name().into_string() {
            out.push(n);
        }
    }
    Ok(out)
}

fn list_digests(dir: &Path) -> Result<Vec<Digest>> {
    let mut out = Vec::new();
    for alg in [Algorithm::Sha256, Algorithm::Sha512] {
        for hex in list_names(&dir.join(alg.as_str()))? {
            if let Ok(d) = Digest::new(alg, hex) {
                out.push(d);
            }
        }
    }
    Ok(out)
}

fn walk_repos(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    let names = list_names(dir)?;
    if names
        .iter()
        .any(|n| n == "_manifests" || n == "_tags" || n == "_blobs")
    {
        out.push(prefix.to_string());
    }
    for n in names.iter().filter(|n| !n.starts_with('_')) {
        let p = dir.join(n);
        if p.is_dir() {
            let name = if prefix.is_empty() {
                n.clone()
            } else {
                format!("{prefix}/{n}")
            };
            walk_repos(&p, &name, out)?;
        }
    }
    Ok(())
}
