//! Volumes with the local driver: `<data-root>/volumes/<name>/_data` holds the data and
//! `<data-root>/volumes/<name>/volume.json` the record. A volume appears by one rename of a
//! complete temp directory and disappears by one rename out of the way, so a crash leaves a
//! volume whole or absent; leftovers (`.tmp-*`, `.rm-*`) are swept on the next listing.
//!
//! [`parse`] turns `-v`, `--mount` and image `VOLUME`s into a container's mount points;
//! [`attach`] is the engine's side: volumes made at create, mounts and copy-up at start,
//! anonymous volumes removed with the container, and the in-use rules of `volume rm`.

pub mod attach;
pub mod copy;
pub mod parse;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The label Docker puts on volumes made without a name (`prune` removes only these
/// unless asked for all).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

const RECORD: &str = "volume.json";

/// What kind of failure a [`VolumeError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Invalid,
    NotFound,
    Conflict,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A name the local driver refuses.
    #[error("create {0}: \"{0}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")]
    BadName(String),
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// Referenced by containers (their IDs).
    #[error("remove {name}: volume is in use - [{}]", .ids.join(", "))]
    InUse { name: String, ids: Vec<String> },
    #[error("error looking up volume plugin {0}: plugin \"{0}\" not found")]
    NoDriver(String),
    #[error("create {name}: local volume driver option {option:?} is not supported by tug")]
    BadOption { name: String, option: String },
    /// A `-v` or `--mount` that Docker would refuse.
    #[error("{0}")]
    BadSpec(String),
    #[error("{what} {path}: {err}")]
    Io {
        what: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("volume record {path}: {err}")]
    Corrupt {
        path: PathBuf,
        err: serde_json::Error,
    },
}

impl VolumeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            VolumeError::BadName(_) | VolumeError::BadOption { .. } | VolumeError::BadSpec(_) => {
                ErrorKind::Invalid
            }
            VolumeError::NotFound(_) | VolumeError::NoDriver(_) => ErrorKind::NotFound,
            VolumeError::InUse { .. } => ErrorKind::Conflict,
            VolumeError::Io { .. } | VolumeError::Corrupt { .. } => ErrorKind::Internal,
        }
    }

    fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError {
        let path = path.to_path_buf();
        move |err| VolumeError::Io { what, path, err }
    }
}

pub type Result<T> = std::result::Result<T, VolumeError>;

/// One volume as Docker shows it (`volume inspect`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Volume {
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "Mountpoint")]
    pub mountpoint: PathBuf,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Scope")]
    pub scope: String,
}

impl Volume {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// What `volume create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Empty: a new anonymous volume with a random name.
    pub name: String,
    /// Empty or `local`.
    pub driver: String,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// Serialises changes to the set of volumes (and, through [`attach`], the containers'
/// references to them) within this process.
static LOCK: Mutex<()> = Mutex::new(());

pub(crate) fn lock() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Docker's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// The volumes under one data root.
#[derive(Debug, Clone)]
pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    pub fn new(data_root: &Path) -> Volumes {
        Volumes {
            dir: data_root.join("volumes"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a volume's data lives.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    /// The volume called `name`.
    pub fn get(&self, name: &str) -> Result<Volume> {
        if !valid_name(name) {
            return Err(VolumeError::NotFound(name.to_string()));
        }
        let path = self.dir.join(name).join(RECORD);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VolumeError::NotFound(name.to_string()))
            }
            Err(e) => return Err(VolumeError::io("read", &path)(e)),
        };
        serde_json::from_slice(&data).map_err(|err| VolumeError::Corrupt { path, err })
    }

    /// Every volume, by name; half-made or half-removed leftovers are swept first.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let _g = lock();
        self.list_locked()
    }

    pub(crate) fn list_locked(&self) -> Result<Vec<Volume>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(VolumeError::io("read", &self.dir)(e)),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") || name.starts_with(".rm-") {
                let _ = std::fs::remove_dir_all(e.path());
                continue;
            }
            match self.get(&name) {
                Ok(v) => out.push(v),
                Err(err) => tracing_skip(&name, &err),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Create a volume, or return the one that already has the name (as Docker does).
    pub fn create(&self, opts: &CreateOptions) -> Result<Volume> {
        let _g = lock();
        self.create_locked(opts)
    }

    pub(crate) fn create_locked(&self, opts: &CreateOptions) -> Result<Volume> {
        if !opts.driver.is_empty() && opts.driver != "local" {
            return Err(VolumeError::NoDriver(opts.driver.clone()));
        }
        let mut labels = opts.labels.clone();
        let name = if opts.name.is_empty() {
            labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
            crate::container::names::new_id()
        } else if valid_name(&opts.name) {
            opts.name.clone()
        } else {
            return Err(VolumeError::BadName(opts.name.clone()));
        };
        if let Some(k) = opts.driver_opts.keys().next() {
            return Err(VolumeError::BadOption {
                name,
                option: k.clone(),
            });
        }
        match self.get(&name) {
            Ok(v) => return Ok(v),
            Err(VolumeError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let v = Volume {
            created_at: runtime::util::rfc3339_now(),
            driver: "local".to_string(),
            labels,
            mountpoint: self.data_path(&name),
            name: name.clone(),
            options: BTreeMap::new(),
            scope: "local".to_string(),
        };
        std::fs::create_dir_all(&self.dir).map_err(VolumeError::io("create", &self.dir))?;
        let tmp = self
            .dir
            .join(format!(".tmp-{}", crate::container::names::new_id()));
        let made = (|| {
            std::fs::create_dir_all(tmp.join("_data"))?;
            let data = serde_json::to_vec_pretty(&v).expect("volumes serialize");
            let rec = tmp.join(RECORD);
            let mut f = std::fs::File::create(&rec)?;
            std::io::Write::write_all(&mut f, &data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, self.dir.join(&name))?;
            std::fs::File::open(&self.dir)?.sync_all()
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(VolumeError::io("create volume", &self.dir.join(&name))(e));
        }
        Ok(v)
    }

    /// Remove a volume and its data (the caller checked it is unused).
    pub(crate) fn remove_locked(&self, name: &str) -> Result<()> {
        self.get(name)?;
        let from = self.dir.join(name);
        let gone = self
            .dir
            .join(format!(".rm-{}", crate::container::names::new_id()));
        std::fs::rename(&from, &gone).map_err(VolumeError::io("remove", &from))?;
        let _ = std::fs::File::open(&self.dir).and_then(|d| d.sync_all());
        remove_tree(&gone).map_err(VolumeError::io("remove", &from))
    }

    /// Bytes used by a volume's data (for prune's report).
    pub fn size(&self, name: &str) -> u64 {
        tree_size(&self.data_path(name))
    }
}

fn tracing_skip(name: &str, err: &VolumeError) {
    eprintln!("tug daemon: skipping volume {name}: {err}");
}

/// Remove a directory tree without following symlinks; bind mounts inside are detached.
fn remove_tree(p: &Path) -> std::io::Result<()> {
    std::fs::remove_dir_all(p)
}

fn tree_size(p: &Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !md.is_dir() {
        return md.len();
    }
    std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["ab", "data", "my-vol_1.x", "0a"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["a", "", "-a", ".a", "a/b", "a b", "../x", "/abs"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn create_is_idempotent_and_remove_leaves_nothing() {
        let t = tempfile::tempdir().unwrap();
        let vols = Volumes::new(t.path());
        let opts = CreateOptions {
            name: "data".into(),
            labels: [("k".to_string(), "v".to_string())].into(),
            ..Default::default()
        };
        let v = vols.create(&opts).unwrap();
        assert_eq!(v.mountpoint, t.path().join("volumes/data/_data"));
        assert!(v.mountpoint.is_dir());
        std::fs::write(v.mountpoint.join("f"), "x").unwrap();
        assert_eq!(vols.create(&opts).unwrap(), v);
        assert_eq!(vols.size("data"), 1);
        let anon = vols.create(&CreateOptions::default()).unwrap();
        assert!(anon.anonymous() && anon.name.len() == 64);
        assert_eq!(vols.list().unwrap().len(), 2);
        let _g = lock();
        vols.remove_locked("data").unwrap();
        vols.remove_locked(&anon.name).unwrap();
        drop(_g);
        assert!(vols.list().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(vols.dir()).unwrap().count(), 0);
        assert!(matches!(vols.get("data"), Err(VolumeError::NotFound(_))));
    }

    #[test]
    fn bad_names_drivers_and_leftovers() {
        let t = tempfile::tempdir().unwrap();
        let vols = Volumes::new(t.path());
        let e = vols
            .create(&CreateOptions {
                name: "a/b".into(),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.to_string().contains("includes invalid characters"), "{e}");
        let e = vols
            .create(&CreateOptions {
                name: "ab".into(),
                driver: "nfs".into(),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        std::fs::create_dir_all(vols.dir().join(".tmp-x/_data")).unwrap();
        assert!(vols.list().unwrap().is_empty());
        assert!(!vols.dir().join(".tmp-x").exists());
    }
}
