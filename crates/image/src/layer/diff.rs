//! Writing a layer from an overlayfs upper directory: what a container (or a build step)
//! changed over its lower layers, as an OCI layer tar.
//!
//! In an upper dir a deleted file is a 0/0 character device and a directory that replaces the
//! one below is marked `trusted.overlay.opaque=y`; in the tar they become `.wh.<name>` and
//! `<dir>/.wh..wh..opq`. Entries are written in name order with numeric owners and no user
//! or group names, hard links as links to the first path, and (optionally) every mtime clamped
//! to a fixed time, so the same tree always gives the same bytes (and diff ID).

use crate::digest::{Algorithm, Digest, Hasher};
use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How to write a diff.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Clamp every mtime to at most this (seconds since the epoch): `SOURCE_DATE_EPOCH`.
    pub clamp_mtime: Option<i64>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// sha256 of the tar: the diff ID (and, uncompressed, the blob digest).
    pub diff_id: Digest,
    pub size: u64,
    /// Number of entries (0: the step changed nothing).
    pub entries: usize,
}

struct Counting<W> {
    inner: W,
    hasher: Hasher,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).ok()?;
    let n = CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the given length.
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        return None;
    }
    buf.truncate(r as usize);
    Some(buf)
}

fn list_xattrs(path: &Path) -> Vec<String> {
    let Ok(p) = CString::new(path.as_os_str().as_bytes()) else {
        return Vec::new();
    };
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid C string and a buffer of the given length.
    let r = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r <= 0 {
        return Vec::new();
    }
    buf.truncate(r as usize);
    buf.split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

struct Walk<'a, W: Write> {
    tar: tar::Builder<&'a mut Counting<W>>,
    opts: &'a DiffOptions,
    links: HashMap<(u64, u64), PathBuf>,
    entries: usize,
}

impl<W: Write> Walk<'_, W> {
    fn header(&self, md: &std::fs::Metadata, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(md.uid().into());
        h.set_gid(md.gid().into());
        let mut mtime = md.mtime();
        if let Some(c) = self.opts.clamp_mtime {
            mtime = mtime.min(c);
        }
        h.set_mtime(mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    fn pax(&mut self, path: &Path) -> io::Result<()> {
        let mut recs: Vec<(String, Vec<u8>)> = Vec::new();
        for name in list_xattrs(path) {
            if name.starts_with("trusted.overlay.") {
                continue;
            }
            if let Some(v) = get_xattr(path, &name) {
                recs.push((format!("SCHILY.xattr.{name}"), v));
            }
        }
        if !recs.is_empty() {
            recs.sort();
            self.tar
                .append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        Ok(())
    }

    fn whiteout(&mut self, rel: &Path, name: &OsStr, md: &std::fs::Metadata) -> io::Result<()> {
        let mut n = std::ffi::OsString::from(".wh.");
        n.push(name);
        let mut h = self.header(md, tar::EntryType::Regular);
        h.set_mode(0);
        self.tar.append_data(&mut h, rel.join(n), io::empty())?;
        self.entries += 1;
        Ok(())
    }

    fn dir(&mut self, abs: &Path, rel: &Path) -> io::Result<()> {
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(abs)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let a = abs.join(&name);
            let r = rel.join(&name);
            let md = std::fs::symlink_metadata(&a)?;
            let ft = md.file_type();
            if ft.is_char_device() && md.rdev() == 0 {
                self.whiteout(rel, &name, &md)?;
                continue;
            }
            if ft.is_dir() {
                self.pax(&a)?;
                let mut h = self.header(&md, tar::EntryType::Directory);
                let mut p = r.clone().into_os_string();
                p.push("/");
                self.tar.append_data(&mut h, p, io::empty())?;
                self.entries += 1;
                if get_xattr(&a, OPAQUE_XATTR).as_deref() == Some(b"y") {
                    let mut h = self.header(&md, tar::EntryType::Regular);
                    h.set_mode(0);
                    self.tar
                        .append_data(&mut h, r.join(".wh..wh..opq"), io::empty())?;
                }
                self.dir(&a, &r)?;
                continue;
            }
            if md.nlink() > 1 && !ft.is_dir() {
                let key = (md.dev(), md.ino());
                if let Some(first) = self.links.get(&key).cloned() {
                    let mut h = self.header(&md, tar::EntryType::Link);
                    self.tar.append_link(&mut h, &r, &first)?;
                    self.entries += 1;
                    continue;
                }
                self.links.insert(key, r.clone());
            }
            self.pax(&a)?;
            if ft.is_file() {
                let mut h = self.header(&md, tar::EntryType::Regular);
                h.set_size(md.len());
                let f = std::fs::File::open(&a)?;
                self.tar.append_data(&mut h, &r, f)?;
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&a)?;
                let mut h = self.header(&md, tar::EntryType::Symlink);
                self.tar.append_link(&mut h, &r, &target)?;
            } else {
                let kind = if ft.is_char_device() {
                    tar::EntryType::Char
                } else if ft.is_block_device() {
                    tar::EntryType::Block
                } else if ft.is_fifo() {
                    tar::EntryType::Fifo
                } else {
                    // Sockets are not kept in layers.
                    continue;
                };
                let mut h = self.header(&md, kind);
                let dev = md.rdev();
                h.set_device_major(libc::major(dev))?;
                h.set_device_minor(libc::minor(dev))?;
                self.tar.append_data(&mut h, &r, io::empty())?;
            }
            self.entries += 1;
        }
        Ok(())
    }
}

/// Write the changes in the overlay upper dir `upper` as a layer tar to `out`.
pub fn write_diff(upper: &Path, out: impl Write, opts: &DiffOptions) -> io::Result<Written> {
    let mut counting = Counting {
        inner: out,
        hasher: Algorithm::Sha256.hasher(),
        count: 0,
    };
    let entries = {
        let mut tar = tar::Builder::new(&mut counting);
        tar.mode(tar::HeaderMode::Complete);
        tar.follow_symlinks(false);
        let mut w = Walk {
            tar,
            opts,
            links: HashMap::new(),
            entries: 0,
        };
        w.dir(upper, Path::new(""))?;
        w.tar.finish()?;
        w.entries
    };
    counting.flush()?;
    Ok(Written {
        diff_id: counting.hasher.finish(),
        size: counting.count,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType)> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().entry_type(),
                )
            })
            .collect()
    }

    #[test]
    fn whiteouts_opaque_dirs_links_and_determinism() {
        let t = tempfile::tempdir().unwrap();
        let u = t.path();
        std::fs::create_dir_all(u.join("d/e")).unwrap();
        std::fs::write(u.join("d/e/f"), b"hello").unwrap();
        std::fs::hard_link(u.join("d/e/f"), u.join("d/g")).unwrap();
        std::os::unix::fs::symlink("e/f", u.join("d/s")).unwrap();
        let gone = CString::new(u.join("gone").as_os_str().as_bytes()).unwrap();
        // SAFETY: valid C string; makes a 0/0 character device as overlayfs does.
        let rc = unsafe { libc::mknod(gone.as_ptr(), libc::S_IFCHR | 0o600, 0) };
        let root = rc == 0;
        let opq = CString::new(u.join("d/e").as_os_str().as_bytes()).unwrap();
        if root {
            // SAFETY: valid C strings and a 1-byte value.
            unsafe {
                libc::setxattr(
                    opq.as_ptr(),
                    c"trusted.overlay.opaque".as_ptr(),
                    b"y".as_ptr().cast(),
                    1,
                    0,
                )
            };
        }
        let opts = DiffOptions {
            clamp_mtime: Some(1000),
        };
        let mut a = Vec::new();
        let wa = write_diff(u, &mut a, &opts).unwrap();
        let mut b = Vec::new();
        let wb = write_diff(u, &mut b, &opts).unwrap();
        assert_eq!(a, b);
        assert_eq!(wa, wb);
        assert_eq!(wa.diff_id, Digest::sha256(&a));
        let names = entries(&a);
        let find = |n: &str| names.iter().find(|(p, _)| p == n).map(|(_, k)| *k);
        assert_eq!(find("d/e/f"), Some(tar::EntryType::Regular));
        assert_eq!(find("d/g"), Some(tar::EntryType::Link));
        assert_eq!(find("d/s"), Some(tar::EntryType::Symlink));
        if root {
            assert_eq!(find(".wh.gone"), Some(tar::EntryType::Regular));
            assert_eq!(find("d/e/.wh..wh..opq"), Some(tar::EntryType::Regular));
        }
        let mut ar = tar::Archive::new(a.as_slice());
        for e in ar.entries().unwrap() {
            assert!(e.unwrap().header().mtime().unwrap() <= 1000);
        }
    }
}
