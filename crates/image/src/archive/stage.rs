//! Staging an archive for reading: every regular member is streamed to a numbered file in a
//! private directory while its sha256 is computed; names are validated and normalised, links
//! become aliases of other members. Nothing is ever created under a name from the archive.

use super::ArchiveError;
use crate::digest::{Algorithm, Digest, HashingReader};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, ArchiveError>;

/// Small JSON members (manifests, configs, indexes) are read whole up to this size.
pub const MAX_JSON: u64 = 32 << 20;

/// One staged regular member.
#[derive(Debug, Clone)]
pub struct Staged {
    /// The member's normalised path in the archive.
    pub name: String,
    pub file: PathBuf,
    pub sha256: Digest,
    pub size: u64,
}

/// The members of a staged archive.
#[derive(Debug, Default)]
pub struct Members {
    files: HashMap<String, Staged>,
    links: HashMap<String, String>,
}

/// Normalise a member path: no absolute paths, no `..`; `./` and empty components dropped.
pub fn normalize(path: &str) -> Result<String> {
    let bad = |reason| ArchiveError::Unsafe {
        path: path.to_string(),
        reason,
    };
    if path.starts_with('/') {
        return Err(bad("absolute path"));
    }
    if path.contains('\0') || path.contains('\\') {
        return Err(bad("invalid character in name"));
    }
    let mut parts = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(bad("path leaves the archive")),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// Resolve a link target relative to the directory of `member`, lexically, within the archive.
fn resolve_link(member: &str, target: &str) -> Result<String> {
    let bad = |reason| ArchiveError::Unsafe {
        path: member.to_string(),
        reason,
    };
    if target.starts_with('/') {
        return Err(bad("symlink to an absolute path"));
    }
    let mut parts: Vec<&str> = member.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(bad("symlink points outside the archive"));
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// Stream the tar `reader` into `dir` (which must exist and be private).
pub fn stage(reader: impl Read, dir: &Path) -> Result<Members> {
    let mut archive = tar::Archive::new(reader);
    let mut members = Members::default();
    let read_err = |e: io::Error| ArchiveError::invalid("tar", e);
    for (n, entry) in archive.entries().map_err(read_err)?.enumerate() {
        let mut entry = entry.map_err(read_err)?;
        let raw = String::from_utf8(entry.path_bytes().into_owned()).map_err(|e| {
            ArchiveError::Unsafe {
                path: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                reason: "name is not utf-8",
            }
        })?;
        let name = normalize(&raw)?;
        let kind = entry.header().entry_type();
        let duplicate = || ArchiveError::Unsafe {
            path: raw.clone(),
            reason: "member appears twice",
        };
        let taken = |m: &Members| m.files.contains_key(&name) || m.links.contains_key(&name);
        match kind {
            tar::EntryType::Directory => {}
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if name.is_empty() {
                    return Err(ArchiveError::Unsafe {
                        path: raw,
                        reason: "file without a name",
                    });
                }
                if taken(&members) {
                    return Err(duplicate());
                }
                let file = dir.join(format!("m{n}"));
                let mut out = File::create(&file).map_err(ArchiveError::io("create", &file))?;
                let mut hr = HashingReader::new(&mut entry, Algorithm::Sha256);
                io::copy(&mut hr, &mut out).map_err(read_err)?;
                let (sha256, size) = hr.finish().map_err(read_err)?;
                members.files.insert(
                    name.clone(),
                    Staged {
                        name,
                        file,
                        sha256,
                        size,
                    },
                );
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let target = if kind == tar::EntryType::Symlink {
                    resolve_link(&name, &target)?
                } else {
                    normalize(&target).map_err(|_| ArchiveError::Unsafe {
                        path: raw.clone(),
                        reason: "hard link points outside the archive",
                    })?
                };
                if taken(&members) {
                    return Err(duplicate());
                }
                members.links.insert(name, target);
            }
            // Extended headers are consumed by the tar reader; anything else has no place here.
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            _ => {
                return Err(ArchiveError::Unsafe {
                    path: raw,
                    reason: "not a file, directory or link",
                })
            }
        }
    }
    Ok(members)
}

impl Members {
    /// Whether a member exists (as a file or a link to one).
    pub fn contains(&self, path: &str) -> bool {
        self.get(path).is_ok()
    }

    /// The staged file for `path` (a name from a manifest: validated here), following links.
    /// A member named `blobs/<algorithm>/<hex>` is checked against that digest.
    pub fn get(&self, path: &str) -> Result<&Staged> {
        let mut name = normalize(path)?;
        for _ in 0..32 {
            if let Some(s) = self.files.get(&name) {
                verify_blob_name(s)?;
                return Ok(s);
            }
            match self.links.get(&name) {
                Some(t) => name = t.clone(),
                None => return Err(ArchiveError::Missing(path.to_string())),
            }
        }
        Err(ArchiveError::Unsafe {
            path: path.to_string(),
            reason: "too many levels of links",
        })
    }

    /// The staged blob with this digest, checked against its descriptor's size.
    pub fn blob(&self, d: &Digest, size: Option<u64>) -> Result<&Staged> {
        let s = self.get(&blob_path(d))?;
        if let Some(expected) = size.filter(|e| *e != s.size) {
            return Err(ArchiveError::SizeMismatch {
                path: s.name.clone(),
                expected,
                actual: s.size,
            });
        }
        Ok(s)
    }

    /// Read a small member whole.
    pub fn read(&self, path: &str) -> Result<Vec<u8>> {
        let s = self.get(path)?;
        if s.size > MAX_JSON {
            return Err(ArchiveError::invalid(path, "too large"));
        }
        std::fs::read(&s.file).map_err(ArchiveError::io("read", &s.file))
    }
}

/// Where a blob lives in an OCI layout.
pub fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().name(), d.hex())
}

/// A member named like a blob must hash to that name.
fn verify_blob_name(s: &Staged) -> Result<()> {
    let Some(rest) = s.name.strip_prefix("blobs/") else {
        return Ok(());
    };
    let Some((alg, hex)) = rest.split_once('/') else {
        return Ok(());
    };
    let Ok(expected) = format!("{alg}:{hex}").parse::<Digest>() else {
        return Ok(());
    };
    let actual = if expected.algorithm() == Algorithm::Sha256 {
        s.sha256.clone()
    } else {
        let f = File::open(&s.file).map_err(ArchiveError::io("open", &s.file))?;
        HashingReader::new(f, expected.algorithm())
            .finish()
            .map_err(ArchiveError::io("read", &s.file))?
            .0
    };
    if actual != expected {
        return Err(ArchiveError::DigestMismatch {
            path: s.name.clone(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// A private temp directory under the store, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Make `<root>/tmp/<prefix>-<unique>`, first removing leftovers of crashed runs that are
    /// more than a day old.
    pub fn new(root: &Path, prefix: &str) -> Result<TempDir> {
        let base = root.join("tmp");
        std::fs::create_dir_all(&base).map_err(ArchiveError::io("create", &base))?;
        if let Ok(rd) = std::fs::read_dir(&base) {
            for e in rd.flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > crate::gc::PARTIAL_MAX_AGE);
                if old {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(format!("{prefix}-{}", crate::sys::unique()));
        std::fs::create_dir(&dir).map_err(ArchiveError::io("create", &dir))?;
        Ok(TempDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_escapes_refused() {
        assert_eq!(normalize("./a//b/").unwrap(), "a/b");
        assert!(normalize("/etc/passwd").is_err());
        assert!(normalize("a/../../b").is_err());
        assert_eq!(
            resolve_link("x/layer.tar", "../y/layer.tar").unwrap(),
            "y/layer.tar"
        );
        assert!(resolve_link("x/layer.tar", "../../etc").is_err());
        assert!(resolve_link("x", "/etc/passwd").is_err());
    }
}
