//! Snapshots: each layer unpacked once into `snapshots/<chain-id-hex>/fs` and shared by every
//! image whose layer stack starts the same way; a container gets an overlayfs mount over the
//! chain with its own `upper`/`work` dirs.
//!
//! Many layers must fit in one page of mount options, so every snapshot also has a short
//! link `snapshots/l/<20 hex>` → `../<chain>/fs`, and the mount is made from a thread whose
//! working directory (unshared with `CLONE_FS`, so the rest of the process is unaffected) is
//! `snapshots/`: each lower dir costs 24 bytes (`l/<20 hex>:`), so 128 layers fit easily.
//!
//! A snapshot is unpacked into a temp dir and renamed into place only when complete (and its
//! layer verified), under a per-chain lock, so a crash or a concurrent unpack never exposes a
//! partial snapshot.

use crate::digest::Digest;
use crate::sys::{self, LockFile};
use std::io;
use std::path::{Path, PathBuf};

const LINK_LEN: usize = 20;

/// A snapshot failure.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// No snapshot with this chain ID.
    #[error("snapshot {0}: not found")]
    NotFound(Digest),
    /// Two chains share a short link name.
    #[error("snapshot {0}: short link {1} belongs to another snapshot")]
    LinkConflict(Digest, String),
    /// A file or mount operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl SnapshotError {
    /// The kind of this error.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            SnapshotError::NotFound(_) => crate::ErrorKind::NotFound,
            SnapshotError::LinkConflict(..) => crate::ErrorKind::Conflict,
            SnapshotError::Io { .. } => crate::ErrorKind::Internal,
        }
    }
}

fn io_err(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> SnapshotError {
    let path = path.into();
    move |source| SnapshotError::Io { op, path, source }
}

type Result<T> = std::result::Result<T, SnapshotError>;

/// The snapshot store under `<root>/snapshots`.
#[derive(Debug, Clone)]
pub struct Snapshotter {
    dir: PathBuf,
}

/// A snapshot being unpacked; [`commit`](Pending::commit) publishes it, dropping it discards it.
pub struct Pending {
    tmp: PathBuf,
    dest: PathBuf,
    link: PathBuf,
    chain: Digest,
    _lock: LockFile,
    committed: bool,
}

impl Pending {
    /// The directory to unpack the layer into.
    pub fn fs(&self) -> PathBuf {
        self.tmp.join("fs")
    }

    /// Make the snapshot visible.
    pub fn commit(mut self) -> Result<()> {
        let dir = self
            .dest
            .parent()
            .expect("snapshot has a parent")
            .to_path_buf();
        std::fs::rename(&self.tmp, &self.dest).map_err(io_err("rename", &self.tmp))?;
        self.committed = true;
        let target = Path::new("..")
            .join(self.dest.file_name().expect("named"))
            .join("fs");
        let _ = std::fs::remove_file(&self.link);
        std::os::unix::fs::symlink(target, &self.link).map_err(io_err("symlink", &self.link))?;
        sys::fsync_dir(&dir).map_err(io_err("fsync", &dir))?;
        tracing::debug!(chain = %self.chain, "snapshot committed");
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

impl Snapshotter {
    /// Open (creating) the snapshot store under `root/snapshots`.
    pub fn open(root: &Path) -> Result<Snapshotter> {
        let dir = root.join("snapshots");
        std::fs::create_dir_all(dir.join("l")).map_err(io_err("create", &dir))?;
        Ok(Snapshotter { dir })
    }

    /// The unpacked filesystem of a snapshot.
    pub fn fs(&self, chain: &Digest) -> PathBuf {
        self.dir.join(chain.hex()).join("fs")
    }

    /// Whether the snapshot exists (complete).
    pub fn exists(&self, chain: &Digest) -> bool {
        self.fs(chain).is_dir()
    }

    fn link_name(chain: &Digest) -> String {
        format!("l/{}", &chain.hex()[..LINK_LEN])
    }

    /// Start a snapshot for `chain`, or `None` if it exists (perhaps made meanwhile by another
    /// unpacker, which this waits for).
    pub fn prepare(&self, chain: &Digest) -> Result<Option<Pending>> {
        if self.exists(chain) {
            return Ok(None);
        }
        let lock_path = self.dir.join(format!(".lock-{}", chain.hex()));
        let lock = LockFile::exclusive_transient(&lock_path).map_err(io_err("lock", &lock_path))?;
        if self.exists(chain) {
            return Ok(None);
        }
        let link = self.dir.join(Self::link_name(chain));
        if let Ok(t) = std::fs::read_link(&link) {
            if !t.to_string_lossy().contains(chain.hex()) {
                return Err(SnapshotError::LinkConflict(
                    chain.clone(),
                    Self::link_name(chain),
                ));
            }
        }
        let tmp = self
            .dir
            .join(format!(".tmp-{}-{}", chain.hex(), sys::unique()));
        std::fs::create_dir_all(tmp.join("fs")).map_err(io_err("create", &tmp))?;
        Ok(Some(Pending {
            tmp,
            dest: self.dir.join(chain.hex()),
            link,
            chain: chain.clone(),
            _lock: lock,
            committed: false,
        }))
    }

    /// Every complete snapshot.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(io_err("read", &self.dir))? {
            let e = e.map_err(io_err("read", &self.dir))?;
            if let Ok(d) = format!("sha256:{}", e.file_name().to_string_lossy()).parse() {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Remove a snapshot (missing is fine). The caller makes sure nothing mounts it.
    pub fn remove(&self, chain: &Digest) -> Result<()> {
        let link = self.dir.join(Self::link_name(chain));
        let _ = std::fs::remove_file(&link);
        let dir = self.dir.join(chain.hex());
        // Rename first so a half-removed snapshot never looks complete.
        let doomed = self
            .dir
            .join(format!(".tmp-rm-{}-{}", chain.hex(), sys::unique()));
        match std::fs::rename(&dir, &doomed) {
            Ok(()) => std::fs::remove_dir_all(&doomed).map_err(io_err("remove", &doomed)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("rename", &dir)(e)),
        }
    }

    /// Leftover temp dirs from crashed unpacks or removals.
    pub fn leftovers(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(io_err("read", &self.dir))? {
            let e = e.map_err(io_err("read", &self.dir))?;
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                out.push(e.path());
            }
        }
        Ok(out)
    }

    /// Mount the chain `chains` (bottom layer first) with overlayfs at `dir/merged`, with
    /// `dir/upper` and `dir/work` for the container's changes.
    pub fn mount(&self, chains: &[Digest], dir: &Path) -> Result<Mount> {
        for c in chains {
            if !self.exists(c) {
                return Err(SnapshotError::NotFound(c.clone()));
            }
        }
        let (upper, work, merged) = (dir.join("upper"), dir.join("work"), dir.join("merged"));
        for d in [&upper, &work, &merged] {
            std::fs::create_dir_all(d).map_err(io_err("create", d))?;
        }
        let lower: Vec<String> = chains.iter().rev().map(Self::link_name).collect();
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            upper.display(),
            work.display()
        );
        mount_overlay_in(&self.dir, &opts, &merged).map_err(io_err("mount overlay on", &merged))?;
        tracing::debug!(target = %merged.display(), layers = chains.len(), "overlay mounted");
        Ok(Mount {
            target: merged,
            mounted: true,
        })
    }
}

/// A writable view of the directory `lower` at `dir/merged` whose writes land in `dir/upper`
/// and vanish with `dir` (`lower` is never written). Refused for paths overlayfs options cannot
/// carry (`,` `:` and backslashes).
pub fn writable_view(lower: &Path, dir: &Path) -> Result<Mount> {
    let text = lower.to_string_lossy();
    if text.contains([',', ':', '\\']) {
        return Err(SnapshotError::Io {
            op: "mount a writable view of",
            path: lower.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "path has ',', ':' or '\\'"),
        });
    }
    let (upper, work, merged) = (dir.join("upper"), dir.join("work"), dir.join("merged"));
    for d in [&upper, &work, &merged] {
        std::fs::create_dir_all(d).map_err(io_err("create", d))?;
    }
    let opts = format!(
        "lowerdir={text},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    mount_overlay_in(dir, &opts, &merged).map_err(io_err("mount overlay on", &merged))?;
    Ok(Mount {
        target: merged,
        mounted: true,
    })
}

/// Mount overlayfs with `opts` (relative to `cwd`) at `target`, from a thread whose working
/// directory is private to it.
fn mount_overlay_in(cwd: &Path, opts: &str, target: &Path) -> io::Result<()> {
    let (cwd, opts, target) = (sys::cstr(cwd)?, sys::cstr(opts)?, sys::cstr(target)?);
    std::thread::spawn(move || -> io::Result<()> {
        // SAFETY: unshare(CLONE_FS) only detaches this thread's cwd/umask from the process.
        sys::check(unsafe { libc::unshare(libc::CLONE_FS) })?;
        // SAFETY: `cwd` is a valid C string.
        sys::check(unsafe { libc::chdir(cwd.as_ptr()) })?;
        // SAFETY: all pointers are valid C strings alive for the call.
        sys::check(unsafe {
            libc::mount(
                c"overlay".as_ptr(),
                target.as_ptr(),
                c"overlay".as_ptr(),
                0,
                opts.as_ptr().cast(),
            )
        })?;
        Ok(())
    })
    .join()
    .map_err(|_| io::Error::other("mount thread panicked"))?
}

/// A mounted overlay, unmounted on drop (or by [`unmount`](Mount::unmount)).
#[derive(Debug)]
pub struct Mount {
    target: PathBuf,
    mounted: bool,
}

impl Mount {
    /// Where the container's root filesystem is.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// Unmount now, reporting failure.
    pub fn unmount(mut self) -> Result<()> {
        self.mounted = false;
        unmount(&self.target).map_err(io_err("unmount", &self.target))
    }

    /// Keep the mount after this value is dropped (the caller unmounts with [`unmount`]).
    pub fn leak(mut self) -> PathBuf {
        self.mounted = false;
        self.target.clone()
    }
}

/// Unmount a path (lazily if busy).
pub fn unmount(target: &Path) -> io::Result<()> {
    let c = sys::cstr(target)?;
    // SAFETY: `c` is a valid C string.
    let first = sys::check(unsafe { libc::umount2(c.as_ptr(), 0) });
    match first {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            // SAFETY: `c` is a valid C string.
            let lazy = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            sys::check(lazy).map(|_| ())
        }
        Err(e) => Err(e),
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = unmount(&self.target) {
                tracing::warn!(target = %self.target.display(), error = %e, "unmount failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_is_invisible_until_commit_and_discarded_on_drop() {
        let t = tempfile::tempdir().unwrap();
        let s = Snapshotter::open(t.path()).unwrap();
        let c = Digest::sha256(b"layer");
        {
            let p = s.prepare(&c).unwrap().unwrap();
            std::fs::write(p.fs().join("f"), b"x").unwrap();
            assert!(!s.exists(&c));
        }
        assert!(s.leftovers().unwrap().is_empty());
        let p = s.prepare(&c).unwrap().unwrap();
        std::fs::write(p.fs().join("f"), b"x").unwrap();
        p.commit().unwrap();
        assert!(s.exists(&c));
        assert_eq!(
            std::fs::read(s.dir.join(Snapshotter::link_name(&c)).join("f")).unwrap(),
            b"x"
        );
        assert!(s.prepare(&c).unwrap().is_none());
        assert_eq!(s.list().unwrap(), vec![c.clone()]);
        s.remove(&c).unwrap();
        assert!(!s.exists(&c));
        assert!(s.list().unwrap().is_empty());
    }
}
