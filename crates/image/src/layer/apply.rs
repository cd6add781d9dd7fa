//! Applying one layer tar to a directory. The `tar` crate only parses headers and yields data;
//! every write goes through [`super::safe`].

use super::safe::{self, Attrs, Root};
use super::LayerError;
use crate::digest::{Algorithm, Digest, HashingReader};
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// How whiteouts are represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// The layer is unpacked on its own, as an overlayfs lower dir: `.wh.x` becomes a 0/0
    /// character device `x`, an opaque marker becomes `trusted.overlay.opaque=y`.
    Overlay,
    /// The layer is applied on top of the layers below it in one directory: whiteouts delete.
    Flatten,
}

/// How to apply a layer.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub whiteouts: WhiteoutMode,
    /// Set owners from the tar (needs root); otherwise files belong to the caller.
    pub chown: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            whiteouts: WhiteoutMode::Overlay,
            // SAFETY: geteuid has no preconditions.
            chown: unsafe { libc::geteuid() } == 0,
        }
    }
}

/// What applying a layer found.
#[derive(Debug, Clone)]
pub struct Applied {
    /// sha256 of the uncompressed tar: the layer's diff ID.
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub size: u64,
}

/// Apply the (uncompressed) layer tar `tar` to `dir`. The whole stream is read, so `diff_id`
/// covers trailing padding too.
pub fn apply(tar: impl Read, dir: &Path, opts: &ApplyOptions) -> Result<Applied, LayerError> {
    let root = Root::open(dir).map_err(LayerError::write("open", dir))?;
    let mut archive = tar::Archive::new(HashingReader::new(tar, Algorithm::Sha256));
    let mut state = State {
        root: &root,
        opts,
        created: HashSet::new(),
        dirs: Vec::new(),
    };
    for entry in archive.entries().map_err(LayerError::Read)? {
        let mut entry = entry.map_err(LayerError::Read)?;
        state.entry(&mut entry)?;
    }
    state.fix_dir_times()?;
    let (diff_id, size) = archive.into_inner().finish().map_err(LayerError::Read)?;
    Ok(Applied { diff_id, size })
}

struct State<'a> {
    root: &'a Root,
    opts: &'a ApplyOptions,
    /// Paths this layer created, which an opaque marker must not hide.
    created: HashSet<PathBuf>,
    /// Directories and their mtimes, set last (later entries change them).
    dirs: Vec<(PathBuf, i64)>,
}

impl State<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), LayerError> {
        let raw = entry.path().map_err(LayerError::Read)?.into_owned();
        let path = safe::clean(&raw);
        let Some(name) = path.file_name().map(OsStr::to_os_string) else {
            return Ok(()); // the root itself ("./"): keep the target's own attributes
        };
        if name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(&path, &name);
        }
        let attrs = self.attrs(entry)?;
        let kind = entry.header().entry_type();
        let (parent, name) = self
            .root
            .parent_of(&path)
            .map_err(LayerError::write("open parent of", &path))?
            .expect("path has a file name");
        let pfd = parent.as_raw_fd();
        let werr = |op| LayerError::write(op, &path);
        use tar::EntryType as E;
        match kind {
            E::Regular | E::Continuous | E::GNUSparse => {
                safe::create_file(pfd, &name, entry, &attrs).map_err(werr("write"))?
            }
            E::Directory => {
                safe::create_dir(pfd, &name, &attrs).map_err(werr("mkdir"))?;
                self.dirs.push((path.clone(), attrs.mtime));
            }
            E::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(LayerError::Read)?
                    .ok_or_else(|| LayerError::Read(invalid("symlink without target")))?
                    .into_owned();
                safe::create_symlink(pfd, &name, &target, &attrs).map_err(werr("symlink"))?
            }
            E::Link => self.hardlink(entry, &path, pfd, &name)?,
            E::Char | E::Block | E::Fifo => {
                let h = entry.header();
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let t = match kind {
                    E::Char => libc::S_IFCHR,
                    E::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let dev = libc::makedev(major, minor);
                safe::create_node(pfd, &name, t, dev, &attrs).map_err(werr("mknod"))?
            }
            E::XGlobalHeader | E::XHeader | E::GNULongName | E::GNULongLink => {}
            other => {
                return Err(LayerError::UnsupportedEntry {
                    path,
                    kind: other.as_byte(),
                })
            }
        }
        self.created.insert(path);
        Ok(())
    }

    fn attrs<R: Read>(&self, entry: &mut tar::Entry<R>) -> Result<Attrs, LayerError> {
        let h = entry.header();
        let mut attrs = Attrs {
            mode: h.mode().map_err(LayerError::Read)?,
            uid: h.uid().map_err(LayerError::Read)? as u32,
            gid: h.gid().map_err(LayerError::Read)? as u32,
            chown: self.opts.chown,
            mtime: h.mtime().unwrap_or(0) as i64,
            xattrs: Vec::new(),
        };
        if let Some(exts) = entry.pax_extensions().map_err(LayerError::Read)? {
            for ext in exts {
                let ext = ext.map_err(LayerError::Read)?;
                let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
                    continue;
                };
                // A layer must not forge overlayfs metadata (whiteouts, redirects).
                if name.starts_with(b"trusted.overlay.") {
                    continue;
                }
                attrs.xattrs.push((
                    OsStr::from_bytes(name).to_os_string(),
                    ext.value_bytes().to_vec(),
                ));
            }
        }
        Ok(attrs)
    }

    fn hardlink<R: Read>(
        &mut self,
        entry: &tar::Entry<R>,
        path: &Path,
        pfd: i32,
        name: &OsStr,
    ) -> Result<(), LayerError> {
        let target = entry
            .link_name()
            .map_err(LayerError::Read)?
            .ok_or_else(|| LayerError::Read(invalid("hard link without target")))?;
        let target = safe::clean(&target);
        let herr = |source| LayerError::HardLink {
            path: path.to_path_buf(),
            target: target.clone(),
            source,
        };
        let (tdir, tname) = self.root.existing_parent_of(&target).map_err(herr)?;
        safe::create_hardlink(tdir.as_raw_fd(), &tname, pfd, name).map_err(herr)
    }

    fn whiteout(&mut self, path: &Path, name: &OsString) -> Result<(), LayerError> {
        let parent_rel = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let parent = self
            .root
            .mkdir_all(&parent_rel)
            .map_err(LayerError::write("open parent of", path))?;
        let pfd = parent.as_raw_fd();
        let werr = |op| LayerError::write(op, path);
        if name == OPAQUE {
            match self.opts.whiteouts {
                WhiteoutMode::Overlay => {
                    safe::set_xattr_strict(pfd, "trusted.overlay.opaque", b"y")
                        .map_err(werr("set opaque"))?
                }
                WhiteoutMode::Flatten => {
                    for child in safe::list_dir(pfd).map_err(werr("list"))? {
                        if !self.created.contains(&parent_rel.join(&child)) {
                            safe::remove_all_at(pfd, &child).map_err(werr("remove"))?;
                        }
                    }
                }
            }
            return Ok(());
        }
        let hidden = OsStr::from_bytes(&name.as_bytes()[WHITEOUT_PREFIX.len()..]);
        if hidden.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes()) || !safe::is_plain_name(hidden)
        {
            return Ok(()); // aufs metadata (.wh..wh.plnk and the like)
        }
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => {
                let attrs = Attrs {
                    chown: false,
                    ..Attrs::default()
                };
                safe::create_node(pfd, hidden, libc::S_IFCHR, 0, &attrs)
                    .map_err(werr("whiteout"))?;
            }
            WhiteoutMode::Flatten => {
                safe::remove_all_at(pfd, hidden).map_err(werr("remove"))?;
            }
        }
        Ok(())
    }

    fn fix_dir_times(&self) -> Result<(), LayerError> {
        for (path, mtime) in self.dirs.iter().rev() {
            let Ok((parent, name)) = self.root.existing_parent_of(path) else {
                continue; // removed by a later whiteout
            };
            safe::set_times_at(parent.as_raw_fd(), &name, *mtime)
                .map_err(LayerError::write("set times", path))?;
        }
        Ok(())
    }
}

fn invalid(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string())
}
