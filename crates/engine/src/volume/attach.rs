//! The engine's side of volumes: a container's mount points resolved and its volumes made
//! at create (under the volume lock, so `volume rm` never races a new reference), host
//! paths, copy-up and bind options at start, anonymous volumes removed with the container,
//! and `volume rm`/`prune` refusing volumes that containers use.

use super::parse::{self, MountPoint};
use super::{CreateOptions, Volume, VolumeError, Volumes};
use crate::container::Container;
use crate::engine::{Engine, EngineError, Kind};
use crate::spec::MountSpec;
use std::path::Path;

impl From<VolumeError> for EngineError {
    fn from(e: VolumeError) -> Self {
        let kind = match e.kind() {
            super::ErrorKind::Invalid => Kind::Invalid,
            super::ErrorKind::NotFound => Kind::NotFound,
            super::ErrorKind::Conflict => Kind::Conflict,
            super::ErrorKind::Internal => Kind::Internal,
        };
        EngineError::new(kind, e.to_string())
    }
}

impl Engine {
    /// The volumes of this engine's data root.
    pub fn volumes(&self) -> Volumes {
        Volumes::new(&self.roots.data)
    }

    /// IDs of the containers that reference volume `name`.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.store
            .list()
            .into_iter()
            .filter(|c| c.mounts.iter().any(|m| m.is_volume() && m.name == name))
            .map(|c| c.id)
            .collect()
    }

    /// `volume rm`: refused while a container references the volume; `force` ignores a
    /// missing one.
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<(), VolumeError> {
        let _g = super::lock();
        let vols = self.volumes();
        match vols.get(name) {
            Err(VolumeError::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let ids = self.volume_users(name);
        if !ids.is_empty() {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                ids,
            });
        }
        vols.remove_locked(name)
    }

    /// `volume prune`: unused volumes that `keep` does not keep (anonymous ones only unless
    /// `all`); the removed names and the bytes freed.
    pub fn volume_prune(
        &self,
        all: bool,
        keep: impl Fn(&Volume) -> bool,
    ) -> Result<(Vec<String>, u64), VolumeError> {
        let _g = super::lock();
        let vols = self.volumes();
        let (mut names, mut freed) = (Vec::new(), 0);
        for v in vols.list_locked()? {
            if (!all && !v.anonymous()) || keep(&v) || !self.volume_users(&v.name).is_empty() {
                continue;
            }
            let size = vols.size(&v.name);
            vols.remove_locked(&v.name)?;
            names.push(v.name);
            freed += size;
        }
        Ok((names, freed))
    }

    /// `docker rm -v`: remove the container, then its anonymous volumes.
    pub fn remove_with_volumes(
        &self,
        key: &str,
        force: bool,
        volumes: bool,
    ) -> Result<(), EngineError> {
        let c = self.store.get(key)?;
        self.remove(key, force)?;
        if volumes {
            remove_anonymous(self, &c);
        }
        Ok(())
    }
}

/// Create: resolve the mount points, make the volumes they name (anonymous ones get a
/// fresh name), and add the record; anonymous volumes made here go again if that fails.
pub fn add_container(e: &Engine, mut c: Container) -> Result<Container, EngineError> {
    let mut mps = parse::mount_points(&c.host_config, &c.config)?;
    let _g = super::lock();
    let vols = e.volumes();
    let mut made: Vec<String> = Vec::new();
    let result = (|| {
        for mp in mps.iter_mut().filter(|m| m.is_volume()) {
            let fresh = mp.name.is_empty();
            let v = vols.create_locked(&CreateOptions {
                name: mp.name.clone(),
                labels: mp.volume_labels.drain(..).collect(),
                ..Default::default()
            })?;
            if fresh {
                made.push(v.name.clone());
            }
            mp.name = v.name;
            mp.source = v.mountpoint;
        }
        c.mounts = mps;
        e.store.add(&c).map_err(EngineError::from)
    })();
    if let Err(err) = result {
        for name in made {
            let _ = vols.remove_locked(&name);
        }
        return Err(err);
    }
    Ok(c)
}

/// Start: the binds and volumes as resolved mounts for the spec; volumes still empty get
/// the image's content, `-v` bind sources that are missing are created.
pub fn start_mounts(
    e: &Engine,
    c: &Container,
    rootfs: &Path,
) -> Result<Vec<MountSpec>, EngineError> {
    let vols = e.volumes();
    let mut out = Vec::new();
    for mp in &c.mounts {
        let source = if mp.is_volume() {
            let v = vols.get(&mp.name)?;
            if mp.copy_data {
                super::copy::copy_up(rootfs, &mp.destination, &v.mountpoint).map_err(|err| {
                    EngineError::new(
                        Kind::Internal,
                        format!(
                            "copy image content of {} into volume {}: {err}",
                            mp.destination.display(),
                            mp.name
                        ),
                    )
                })?;
            }
            v.mountpoint
        } else {
            bind_source(mp)?
        };
        let mut options = Vec::new();
        if !mp.rw {
            options.push("ro".to_string());
        }
        if !mp.propagation.is_empty() {
            options.push(mp.propagation.clone());
        }
        out.push(MountSpec {
            source,
            destination: mp.destination.clone(),
            options,
        });
    }
    Ok(out)
}

fn bind_source(mp: &MountPoint) -> Result<std::path::PathBuf, EngineError> {
    if std::fs::symlink_metadata(&mp.source).is_err() {
        if !mp.create_source {
            return Err(EngineError::new(
                Kind::Invalid,
                format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    mp.source.display()
                ),
            ));
        }
        std::fs::create_dir_all(&mp.source).map_err(|err| {
            EngineError::new(
                Kind::Invalid,
                format!(
                    "error while creating mount source path '{}': {err}",
                    mp.source.display()
                ),
            )
        })?;
    }
    Ok(mp.source.clone())
}

/// After a container is removed: its anonymous volumes go when asked (`rm -v`, `--rm`).
pub fn on_remove(e: &Engine, c: &Container, remove_volumes: bool) {
    if remove_volumes {
        remove_anonymous(e, c);
    }
}

fn remove_anonymous(e: &Engine, c: &Container) {
    let vols = e.volumes();
    for mp in c.mounts.iter().filter(|m| m.is_volume()) {
        let anonymous = vols.get(&mp.name).is_ok_and(|v| v.anonymous());
        if anonymous {
            let _ = e.volume_remove(&mp.name, true);
        }
    }
}
