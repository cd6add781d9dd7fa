//! Image metadata: which names point at which manifests, in `<root>/meta/images.json`.
//!
//! Why atomic JSON files and not an embedded database: the data is small (one record per
//! image name), read whole and changed rarely; a JSON file replaced by write-temp → fsync →
//! rename → fsync-dir is crash-safe (readers see the old or the new file, never a mix),
//! needs no dependency and no compile time, and a person can read it. Writers serialise on
//! an `flock`, so concurrent pulls in several processes never lose each other's updates.

use super::StoreError;
use crate::digest::Digest;
use crate::sys::{self, LockFile};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, StoreError>;

/// One named image: a reference and what it points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The full reference, e.g. `docker.io/library/busybox:latest`.
    pub name: String,
    /// What the name resolved to: a manifest or an index.
    pub target: Digest,
    /// The media type of `target`.
    pub media_type: String,
    /// The platform's image manifest (equal to `target` for a single manifest).
    pub manifest: Digest,
    /// The image config: docker's image ID.
    pub config: Digest,
    /// When the record was made, in seconds since the epoch.
    pub created: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ImagesFile {
    images: BTreeMap<String, ImageRecord>,
}

/// The metadata store.
#[derive(Debug, Clone)]
pub struct MetaStore {
    dir: PathBuf,
}

impl MetaStore {
    /// Open (creating) the metadata store under `root/meta`.
    pub fn open(root: &Path) -> Result<MetaStore> {
        let dir = root.join("meta");
        std::fs::create_dir_all(&dir).map_err(StoreError::io("create", &dir))?;
        Ok(MetaStore { dir })
    }

    fn file(&self) -> PathBuf {
        self.dir.join("images.json")
    }

    fn load(&self) -> Result<ImagesFile> {
        let path = self.file();
        match std::fs::read(&path) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|source| StoreError::Corrupt { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ImagesFile::default()),
            Err(e) => Err(StoreError::io("read", path)(e)),
        }
    }

    /// Every image record, by name.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        Ok(self.load()?.images.into_values().collect())
    }

    /// The record for `name`, if any.
    pub fn get(&self, name: &str) -> Result<Option<ImageRecord>> {
        Ok(self.load()?.images.remove(name))
    }

    /// Change the records under the write lock and save them atomically. `f`'s result is
    /// returned; the file is written only if `f` succeeds.
    pub fn update<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, ImageRecord>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let lock_path = self.dir.join("images.lock");
        let _lock =
            LockFile::persistent(&lock_path, true).map_err(StoreError::io("lock", &lock_path))?;
        let mut file = self.load()?;
        let out = f(&mut file.images)?;
        let data = serde_json::to_vec_pretty(&file).expect("records serialise");
        let path = self.file();
        sys::write_atomic(&path, &data).map_err(StoreError::io("write", &path))?;
        Ok(out)
    }

    /// Set one record.
    pub fn put(&self, rec: ImageRecord) -> Result<()> {
        self.update(|m| {
            m.insert(rec.name.clone(), rec);
            Ok::<_, StoreError>(())
        })
    }

    /// Remove one record; returns it if it existed.
    pub fn remove(&self, name: &str) -> Result<Option<ImageRecord>> {
        self.update(|m| Ok::<_, StoreError>(m.remove(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, n: u8) -> ImageRecord {
        let d = Digest::sha256(&[n]);
        ImageRecord {
            name: name.into(),
            target: d.clone(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            manifest: d.clone(),
            config: d,
            created: 1,
        }
    }

    #[test]
    fn put_get_remove_survive_reopen() {
        let t = tempfile::tempdir().unwrap();
        let m = MetaStore::open(t.path()).unwrap();
        m.put(rec("a", 1)).unwrap();
        m.put(rec("b", 2)).unwrap();
        let m2 = MetaStore::open(t.path()).unwrap();
        assert_eq!(m2.get("a").unwrap(), Some(rec("a", 1)));
        assert_eq!(m2.images().unwrap().len(), 2);
        assert_eq!(m2.remove("a").unwrap(), Some(rec("a", 1)));
        assert_eq!(m.get("a").unwrap(), None);
        let leftovers: Vec<_> = std::fs::read_dir(t.path().join("meta"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn failed_update_changes_nothing() {
        let t = tempfile::tempdir().unwrap();
        let m = MetaStore::open(t.path()).unwrap();
        m.put(rec("a", 1)).unwrap();
        let r: std::result::Result<(), StoreError> = m.update(|map| {
            map.clear();
            Err(StoreError::NotFound(Digest::sha256(b"x")))
        });
        assert!(r.is_err());
        assert_eq!(m.images().unwrap().len(), 1);
    }

    #[test]
    fn concurrent_updates_are_not_lost() {
        let t = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..8u8)
            .map(|i| {
                let m = MetaStore::open(t.path()).unwrap();
                std::thread::spawn(move || m.put(rec(&format!("img{i}"), i)).unwrap())
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert_eq!(
            MetaStore::open(t.path()).unwrap().images().unwrap().len(),
            8
        );
    }
}
