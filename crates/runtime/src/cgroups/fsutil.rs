//! Reading and writing cgroup files, and making and removing cgroup directories.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use super::{Error, Result};

/// Writes `value` to `dir/file` in one write(2). A missing file in an existing
/// directory means the host does not support it.
pub(crate) fn write(dir: &Path, file: &str, value: impl Into<String>) -> Result<()> {
    let path = dir.join(file);
    let value = value.into();
    let opened = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path);
    let result = opened.and_then(|mut f| f.write_all(value.as_bytes()));
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound && dir.is_dir() => {
            Err(Error::Unsupported { path })
        }
        Err(source) => Err(Error::Write {
            path,
            value,
            source,
        }),
    }
}

/// Reads `dir/file` as a string.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|source| Error::Read { path, source })
}

/// Reads `dir/file`, `None` when it does not exist.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    match read(dir, file) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Parses a single number; "max" is `u64::MAX`.
pub(crate) fn parse_u64(path: &Path, text: &str) -> Result<u64> {
    let t = text.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse().map_err(|_| Error::Parse {
        path: path.to_path_buf(),
        content: t.to_string(),
    })
}

/// Reads a single number from `dir/file`; 0 when the file is missing or empty.
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    match read_opt(dir, file)? {
        Some(t) if !t.trim().is_empty() => parse_u64(&dir.join(file), &t),
        _ => Ok(0),
    }
}

/// Parses "key value" lines; lines that do not fit are skipped.
pub(crate) fn parse_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let key = it.next()?;
            let value = it.next()?.parse().ok()?;
            Some((key.to_string(), value))
        })
        .collect()
}

/// Reads a "key value" file; empty when the file is missing.
pub(crate) fn read_keyed(dir: &Path, file: &str) -> Result<BTreeMap<String, u64>> {
    Ok(read_opt(dir, file)?
        .map(|t| parse_keyed(&t))
        .unwrap_or_default())
}

/// mkdir -p for a cgroup directory.
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// All processes listed in `cgroup.procs` of `dir` and its descendants.
pub(crate) fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let text = read(dir, "cgroup.procs")?;
    for line in text.lines() {
        let pid = line.trim().parse().map_err(|_| Error::Parse {
            path: dir.join("cgroup.procs"),
            content: line.to_string(),
        })?;
        out.push(pid);
    }
    for child in subdirs(dir)? {
        procs_recursive(&child, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let read_err = |source| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        if entry.file_type().map_err(read_err)?.is_dir() {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Removes `dir` and its child cgroups (children first), then the parents of
/// `dir` strictly below `created_below`. Missing directories are fine; a busy
/// `dir` is retried briefly; a busy parent (shared with others) is left alone.
pub(crate) fn remove_created(dir: &Path, created_below: Option<&Path>) -> Result<()> {
    remove_tree(dir)?;
    let Some(stop) = created_below.filter(|s| dir.starts_with(s)) else {
        return Ok(());
    };
    let mut cur = dir.parent();
    while let Some(parent) = cur.filter(|p| p.starts_with(stop) && *p != stop) {
        match fs::remove_dir(parent) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(_) => break,
        }
        cur = parent.parent();
    }
    Ok(())
}

fn remove_tree(dir: &Path) -> Result<()> {
    let children = match subdirs(dir) {
        Ok(c) => c,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    };
    for child in children {
        remove_tree(&child)?;
    }
    rmdir_retry(dir)
}

fn rmdir_retry(dir: &Path) -> Result<()> {
    let mut delay = Duration::from_millis(10);
    for attempt in 0.. {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 8 => {
                sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(200));
            }
            Err(source) => {
                return Err(Error::RemoveDir {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
    unreachable!("the retry loop returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_to_missing_file_is_unsupported_and_missing_dir_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let err = write(tmp.path(), "memory.max", "1").unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        let err = write(&tmp.path().join("gone"), "memory.max", "1").unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }

    #[test]
    fn write_replaces_content_and_read_u64_handles_max_and_missing() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("pids.max"), "123456\n").unwrap();
        write(tmp.path(), "pids.max", "max").unwrap();
        assert_eq!(read(tmp.path(), "pids.max").unwrap(), "max");
        assert_eq!(read_u64(tmp.path(), "pids.max").unwrap(), u64::MAX);
        assert_eq!(read_u64(tmp.path(), "nothing").unwrap(), 0);
        let keyed = parse_keyed("a 1\nbad\nb 2 extra\nc x\n");
        assert_eq!(
            keyed.into_iter().collect::<Vec<_>>(),
            [("a".into(), 1), ("b".into(), 2)]
        );
    }

    #[test]
    fn remove_created_stops_at_created_below() {
        let tmp = tempfile::tempdir().unwrap();
        let leaf = tmp.path().join("a/b/c");
        fs::create_dir_all(leaf.join("child")).unwrap();
        remove_created(&leaf, Some(&tmp.path().join("a"))).unwrap();
        assert!(!tmp.path().join("a/b").exists());
        assert!(tmp.path().join("a").exists());
        remove_created(&leaf, Some(&tmp.path().join("a"))).unwrap();
    }
}
