//! Container records on disk: `<data-root>/containers/<id>/config.v2.json`, each written
//! atomically (temp file, fsync, rename) so a crash leaves the old record or the new one.

use super::record::Container;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },
    #[error("multiple IDs found with provided prefix: {0}")]
    Ambiguous(String),
    #[error("{what} {path}: {err}")]
    Io {
        what: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("container record {path}: {err}")]
    Corrupt {
        path: PathBuf,
        err: serde_json::Error,
    },
}

const RECORD: &str = "config.v2.json";
/// Directories of removed containers on their way out.
const TRASH: &str = ".trash";

/// All containers, in memory and on disk.
#[derive(Clone)]
pub struct Store {
    dir: PathBuf,
    all: Arc<Mutex<BTreeMap<String, Container>>>,
}

impl Store {
    /// Load every record under `<data-root>/containers`; unreadable ones are reported.
    pub fn open(data_root: &Path) -> Result<(Store, Vec<StoreError>), StoreError> {
        let dir = data_root.join("containers");
        std::fs::create_dir_all(&dir).map_err(|err| StoreError::Io {
            what: "create",
            path: dir.clone(),
            err,
        })?;
        let mut all = BTreeMap::new();
        let mut bad = Vec::new();
        let entries = std::fs::read_dir(&dir).map_err(|err| StoreError::Io {
            what: "read",
            path: dir.clone(),
            err,
        })?;
        for e in entries.flatten() {
            let path = e.path().join(RECORD);
            match std::fs::read(&path) {
                Ok(data) => match serde_json::from_slice::<Container>(&data) {
                    Ok(c) => {
                        all.insert(c.id.clone(), c);
                    }
                    Err(err) => bad.push(StoreError::Corrupt { path, err }),
                },
                // A directory without a record is a create that crashed before it was acknowledged.
                Err(_) => {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok((
            Store {
                dir,
                all: Arc::new(Mutex::new(all)),
            },
            bad,
        ))
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Container>> {
        self.all.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Write a record (new or changed) to disk, then to memory.
    pub fn save(&self, c: &Container) -> Result<(), StoreError> {
        self.write(c)?;
        self.lock().insert(c.id.clone(), c.clone());
        Ok(())
    }

    fn write(&self, c: &Container) -> Result<(), StoreError> {
        let dir = self.container_dir(&c.id);
        std::fs::create_dir_all(&dir).map_err(|err| StoreError::Io {
            what: "create",
            path: dir.clone(),
            err,
        })?;
        let data = serde_json::to_vec(c).expect("records serialize");
        let path = dir.join(RECORD);
        runtime::util::write_atomic(&path, &data).map_err(|e| StoreError::Io {
            what: "write",
            path: path.clone(),
            err: std::io::Error::other(e.to_string()),
        })
    }

    /// Add a new container, refusing a name in use (checked and inserted under one lock).
    pub fn add(&self, c: &Container) -> Result<(), StoreError> {
        let mut all = self.lock();
        if let Some(other) = all.values().find(|o| o.name == c.name) {
            return Err(StoreError::NameInUse {
                name: c.name.trim_start_matches('/').into(),
                id: other.id.clone(),
            });
        }
        self.write(c)?;
        all.insert(c.id.clone(), c.clone());
        Ok(())
    }

    /// Forget a container: its directory is renamed into `.trash` at once (so the record is
    /// gone atomically) and deleted in the background; what a crash leaves in `.trash` goes
    /// at the next start (a directory without a record).
    pub fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.lock().remove(id);
        let dir = self.container_dir(id);
        let trash = self.dir.join(TRASH);
        let _ = std::fs::create_dir(&trash);
        let doomed = trash.join(format!(
            "{id}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        if std::fs::rename(&dir, &doomed).is_ok() {
            std::thread::spawn(move || {
                let _ = std::fs::remove_dir_all(&doomed);
            });
            return Ok(());
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(StoreError::Io {
                what: "remove",
                path: dir,
                err,
            }),
        }
    }

    /// Find by full id, name (with or without '/'), or unique id prefix — Docker's order.
    pub fn get(&self, key: &str) -> Result<Container, StoreError> {
        find(&self.lock(), key).cloned()
    }

    pub fn list(&self) -> Vec<Container> {
        let mut v: Vec<Container> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| b.created.cmp(&a.created));
        v
    }

    pub fn name_taken(&self, name: &str) -> bool {
        let n = format!("/{}", name.trim_start_matches('/'));
        self.lock().values().any(|c| c.name == n)
    }

    /// Change a record in place and persist it.
    pub fn update(
        &self,
        id: &str,
        f: impl FnOnce(&mut Container),
    ) -> Result<Container, StoreError> {
        // Under the lock from read to write: concurrent updates (a monitor recording an exit,
        // a health probe) never undo each other, and none resurrects a removed record.
        let mut all = self.lock();
        let mut c = find(&all, id)?.clone();
        f(&mut c);
        self.write(&c)?;
        all.insert(c.id.clone(), c.clone());
        Ok(c)
    }

    /// Give a container a new name, refusing one in use (checked and changed under one lock).
    pub fn rename(&self, id: &str, new_name: &str) -> Result<Container, StoreError> {
        let mut all = self.lock();
        let name = format!("/{}", new_name.trim_start_matches('/'));
        if let Some(other) = all.values().find(|o| o.name == name) {
            return Err(StoreError::NameInUse {
                name: name.trim_start_matches('/').into(),
                id: other.id.clone(),
            });
        }
        let mut c = all
            .get(id)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        c.name = name;
        self.write(&c)?;
        all.insert(c.id.clone(), c.clone());
        Ok(c)
    }
}

/// Docker's lookup order: full id, name (with or without '/'), unique id prefix.
fn find<'a>(all: &'a BTreeMap<String, Container>, key: &str) -> Result<&'a Container, StoreError> {
    if let Some(c) = all.get(key) {
        return Ok(c);
    }
    let name = format!("/{}", key.trim_start_matches('/'));
    if let Some(c) = all.values().find(|c| c.name == name) {
        return Ok(c);
    }
    let hits: Vec<&Container> = all
        .values()
        .filter(|c| !key.is_empty() && c.id.starts_with(key))
        .collect();
    match hits.len() {
        1 => Ok(hits[0]),
        0 => Err(StoreError::NotFound(key.to_string())),
        _ => Err(StoreError::Ambiguous(key.to_string())),
    }
}
