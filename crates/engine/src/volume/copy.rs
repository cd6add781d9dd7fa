//! Copy-up: a new, empty volume gets what the image has at the mount's destination, with
//! owners, modes, times and links kept. The source is opened inside the container's rootfs
//! with `openat2(RESOLVE_IN_ROOT)` and walked by descriptor without following symlinks; every
//! write goes through the image crate's confined `*at` helpers.

use image::layer::safe::{self, Attrs};
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// The attributes of a stat result, to give a copy.
pub fn attrs_of(st: &libc::stat) -> Attrs {
    Attrs {
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        // SAFETY: geteuid has no preconditions.
        chown: unsafe { libc::geteuid() } == 0,
        mtime: st.st_mtime,
        xattrs: Vec::new(),
    }
}

fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data; all-zero is valid and the kernel overwrites it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is an open descriptor and `st` a valid out pointer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

fn kind(st: &libc::stat) -> libc::mode_t {
    st.st_mode & libc::S_IFMT
}

/// Copy the entries of directory `src` into directory `dst`, recursively.
pub fn copy_tree(src: RawFd, dst: RawFd) -> io::Result<()> {
    for name in safe::list_dir(src)? {
        copy_entry(src, &name, dst)?;
    }
    Ok(())
}

fn copy_entry(src: RawFd, name: &OsStr, dst: RawFd) -> io::Result<()> {
    let Some(st) = safe::lstat_at(src, name)? else {
        return Ok(()); // gone meanwhile
    };
    let attrs = attrs_of(&st);
    match kind(&st) {
        libc::S_IFDIR => {
            safe::create_dir(dst, name, &attrs)?;
            let s = safe::open_at(src, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            let d = safe::open_at(dst, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            copy_tree(s.as_raw_fd(), d.as_raw_fd())?;
            safe::set_times_fd(d.as_raw_fd(), attrs.mtime)
        }
        libc::S_IFREG => {
            let f = safe::open_at(src, name, libc::O_RDONLY, 0)?;
            let mut f = std::fs::File::from(f);
            safe::create_file(dst, name, &mut f, &attrs)
        }
        libc::S_IFLNK => match safe::read_link_at(src, name)? {
            Some(target) => safe::create_symlink(dst, name, &target, &attrs),
            None => Ok(()),
        },
        t @ (libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO) => {
            safe::create_node(dst, name, t, st.st_rdev, &attrs)
        }
        _ => Ok(()), // sockets are not copied
    }
}

fn is_empty(dir: &Path) -> io::Result<bool> {
    Ok(std::fs::read_dir(dir)?.next().is_none())
}

/// Open `path` inside `rootfs` as a directory; `None` if it is missing or not a directory.
pub fn open_dir_in(rootfs: &Path, path: &Path) -> io::Result<Option<OwnedFd>> {
    let root = safe::Root::open(rootfs)?;
    match root.open_dir(path) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Copy what the rootfs has at `dest` into the volume directory `data` if the volume is
/// empty; the volume's root takes the owner and mode of the image's directory. Returns
/// whether anything was copied.
pub fn copy_up(rootfs: &Path, dest: &Path, data: &Path) -> io::Result<bool> {
    if !is_empty(data)? {
        return Ok(false);
    }
    let Some(src) = open_dir_in(rootfs, dest)? else {
        return Ok(false);
    };
    let dst = image::layer::safe::Root::open(data)?;
    copy_tree(src.as_raw_fd(), dst.fd())?;
    let st = fstat(src.as_raw_fd())?;
    safe::set_fd_attrs(dst.fd(), &attrs_of(&st))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn copy_up_keeps_links_and_stays_in_the_rootfs() {
        let t = tempfile::tempdir().unwrap();
        let (root, data, outside) = (
            t.path().join("root"),
            t.path().join("data"),
            t.path().join("out"),
        );
        std::fs::create_dir_all(root.join("etc/app/sub")).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), "host").unwrap();
        std::fs::write(root.join("etc/app/conf"), "image").unwrap();
        std::fs::write(root.join("etc/app/sub/f"), "deep").unwrap();
        symlink("conf", root.join("etc/app/link")).unwrap();
        // An image symlink pointing at a host path is copied as a link, never followed.
        symlink(&outside, root.join("etc/app/esc")).unwrap();
        assert!(copy_up(&root, Path::new("/etc/app"), &data).unwrap());
        assert_eq!(std::fs::read_to_string(data.join("conf")).unwrap(), "image");
        assert_eq!(std::fs::read_to_string(data.join("sub/f")).unwrap(), "deep");
        assert_eq!(
            std::fs::read_link(data.join("link")).unwrap(),
            Path::new("conf")
        );
        assert!(std::fs::symlink_metadata(data.join("esc"))
            .unwrap()
            .file_type()
            .is_symlink());
        // Not empty any more: a second copy-up does nothing.
        assert!(!copy_up(&root, Path::new("/etc/app"), &data).unwrap());
        // A destination that is a symlink out of the rootfs resolves inside it (missing).
        symlink(&outside, root.join("away")).unwrap();
        let d2 = t.path().join("d2");
        std::fs::create_dir_all(&d2).unwrap();
        assert!(!copy_up(&root, Path::new("/away"), &d2).unwrap());
        assert!(is_empty(&d2).unwrap());
    }
}
