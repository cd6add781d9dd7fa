//! The build context: packing a directory into the tar a client sends (minus what
//! `.dockerignore` excludes; the Dockerfile and ignore file always go), unpacking a received
//! tar (plain, gzip or zstd) safely into a directory, and content hashes of context files for
//! the cache (content, mode and names; never mtimes).

use crate::ignore::Matcher;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Every context path (slash-separated, relative), sorted, that `m` does not exclude.
/// Directories come before what is in them; an excluded directory is still entered when an
/// exception pattern could re-include something inside it.
pub fn walk(root: &Path, m: &Matcher) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    walk_in(root, "", m, &mut out)?;
    Ok(out)
}

fn walk_in(root: &Path, rel: &str, m: &Matcher, out: &mut Vec<String>) -> io::Result<()> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for n in names {
        let r = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        let excluded = m.excluded(&r);
        let md = std::fs::symlink_metadata(root.join(&r))?;
        if md.is_dir() {
            if excluded && !m.has_exceptions() {
                continue;
            }
            let mark = out.len();
            if !excluded {
                out.push(r.clone());
            }
            walk_in(root, &r, m, out)?;
            if excluded && out.len() > mark {
                out.insert(mark, r);
            }
        } else if !excluded {
            out.push(r);
        }
    }
    Ok(())
}

/// Write the context `root` as a tar to `w`: everything `.dockerignore` keeps, plus the
/// Dockerfile (`dockerfile`, relative) and the ignore files themselves.
pub fn pack(root: &Path, dockerfile: &str, m: &Matcher, w: impl Write) -> io::Result<()> {
    let mut paths = walk(root, m)?;
    for always in [dockerfile, ".dockerignore"] {
        let a = crate::ignore::clean(always);
        if root.join(&a).is_file() && !paths.contains(&a) {
            paths.push(a);
        }
    }
    let mut tar = tar::Builder::new(w);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    for p in paths {
        tar.append_path_with_name(root.join(&p), &p)?;
    }
    tar.finish()
}

/// Unpack a context tar (plain, gzip or zstd) into `dest` (which must exist). Members can
/// not escape `dest`; owners are not kept (context files belong to root in the image unless
/// `--chown` says otherwise).
pub fn unpack(r: impl Read, dest: &Path) -> io::Result<()> {
    let (_, dec) = image::layer::decompress(r)?;
    let mut a = tar::Archive::new(dec);
    a.set_preserve_permissions(true);
    a.set_preserve_mtime(true);
    a.set_overwrite(true);
    for e in a.entries()? {
        let mut e = e?;
        e.unpack_in(dest)?;
    }
    Ok(())
}

/// A content hash over context paths (files and whole directories): names, modes, link
/// targets and file contents.
pub fn hash_paths(root: &Path, paths: &[PathBuf], m: &Matcher) -> io::Result<String> {
    let mut h = Sha256::new();
    for p in paths {
        hash_one(root, p, m, &mut h)?;
    }
    Ok(hex(&h.finalize()))
}

fn hash_one(root: &Path, p: &Path, m: &Matcher, h: &mut Sha256) -> io::Result<()> {
    let md = std::fs::symlink_metadata(p)?;
    let rel = p.strip_prefix(root).unwrap_or(p);
    if !rel.as_os_str().is_empty() && m.excluded(&rel.to_string_lossy()) {
        return Ok(());
    }
    h.update(rel.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(format!("{:o}", md.permissions().mode()).as_bytes());
    if md.file_type().is_symlink() {
        h.update(std::fs::read_link(p)?.as_os_str().as_encoded_bytes());
    } else if md.is_file() {
        h.update(md.size().to_le_bytes());
        let mut f = std::fs::File::open(p)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    } else if md.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(p)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        for n in names {
            hash_one(root, &p.join(n), m, h)?;
        }
    }
    h.update([1]);
    Ok(())
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_keeps_dockerfile_and_honours_ignore_and_exceptions() {
        let t = tempfile::tempdir().unwrap();
        let c = t.path();
        for f in [
            "Dockerfile",
            "a.txt",
            "b.log",
            "logs/x.log",
            "logs/keep.log",
            "src/m.rs",
        ] {
            let p = c.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f).unwrap();
        }
        std::fs::write(
            c.join(".dockerignore"),
            "*.log\nlogs\n!logs/keep.log\nDockerfile\n",
        )
        .unwrap();
        let m = Matcher::parse(&std::fs::read_to_string(c.join(".dockerignore")).unwrap());
        assert_eq!(
            walk(c, &m).unwrap(),
            vec![
                ".dockerignore",
                "a.txt",
                "logs",
                "logs/keep.log",
                "src",
                "src/m.rs"
            ]
        );
        let mut tarball = Vec::new();
        pack(c, "Dockerfile", &m, &mut tarball).unwrap();
        let out = tempfile::tempdir().unwrap();
        unpack(tarball.as_slice(), out.path()).unwrap();
        assert!(out.path().join("Dockerfile").is_file());
        assert!(out.path().join("logs/keep.log").is_file());
        assert!(!out.path().join("logs/x.log").exists());
        assert!(!out.path().join("b.log").exists());
    }

    #[test]
    fn hash_ignores_mtime_but_not_content() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        std::fs::write(&f, "one").unwrap();
        let a = hash_paths(t.path(), std::slice::from_ref(&f), &Matcher::default()).unwrap();
        let file = std::fs::File::options().write(true).open(&f).unwrap();
        file.set_modified(std::time::UNIX_EPOCH).unwrap();
        assert_eq!(
            hash_paths(t.path(), std::slice::from_ref(&f), &Matcher::default()).unwrap(),
            a
        );
        std::fs::write(&f, "two").unwrap();
        assert_ne!(hash_paths(t.path(), &[f], &Matcher::default()).unwrap(), a);
    }
}
