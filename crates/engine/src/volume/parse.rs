//! A container's mount points from its create request: `HostConfig.Binds` (`-v`),
//! `HostConfig.Mounts` of type bind and volume (`--mount`), and the image's `Volumes`
//! (anonymous volumes where no user mount covers the path), checked as Docker checks them.
//! Pure: nothing is created here.

use super::{Result, VolumeError};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// One mount point of a container, recorded at create, shown by `inspect` as `Mounts`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountPoint {
    /// `bind` or `volume`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name (empty for binds, and until an anonymous volume is made).
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The host path: the bind source or the volume's `_data`.
    #[serde(rename = "Source", default)]
    pub source: PathBuf,
    #[serde(rename = "Destination")]
    pub destination: PathBuf,
    #[serde(rename = "Driver", default)]
    pub driver: String,
    #[serde(rename = "Mode", default)]
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    #[serde(rename = "Propagation", default)]
    pub propagation: String,
    /// Copy the image's content at the destination into the volume while it is empty.
    #[serde(rename = "CopyData", default)]
    pub copy_data: bool,
    /// A `-v` bind whose missing host directory is created at start.
    #[serde(rename = "CreateSource", default)]
    pub create_source: bool,
    /// Labels for a volume this container creates (`--mount volume-label=`).
    #[serde(
        rename = "VolumeLabels",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volume_labels: Vec<(String, String)>,
}

impl MountPoint {
    /// Docker's `Mounts[]` entry.
    pub fn to_docker(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "Type": self.kind, "Source": self.source, "Destination": self.destination,
            "Mode": self.mode, "RW": self.rw, "Propagation": self.propagation,
        });
        if self.kind == "volume" {
            v["Name"] = self.name.clone().into();
            v["Driver"] = self.driver.clone().into();
        }
        v
    }

    pub fn is_volume(&self) -> bool {
        self.kind == "volume"
    }
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn bad(msg: impl Into<String>) -> VolumeError {
    VolumeError::BadSpec(msg.into())
}

/// A clean absolute container path (`/a/./b/` → `/a/b`), or why not.
fn destination(kind: &str, target: &str) -> std::result::Result<PathBuf, String> {
    if target.is_empty() {
        return Err(format!(
            "invalid mount config for type \"{kind}\": field Target must not be empty"
        ));
    }
    let p = Path::new(target);
    if !p.is_absolute() {
        return Err(format!(
            "invalid mount config for type \"{kind}\": invalid mount path: '{target}' mount path must be absolute"
        ));
    }
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    if out == Path::new("/") {
        return Err(format!(
            "invalid mount config for type \"{kind}\": invalid specification: destination can't be '/'"
        ));
    }
    Ok(out)
}

/// One `-v` entry: `dest`, `src:dest` or `src:dest:mode`.
pub fn parse_bind(raw: &str) -> Result<MountPoint> {
    let spec = || format!("invalid volume specification: '{raw}'");
    let parts: Vec<&str> = raw.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [_, m] if valid_mode(m) => return Err(bad(spec())),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(bad(spec())),
    };
    if !valid_mode(mode) {
        return Err(bad(format!("{}: invalid mode: {mode}", spec())));
    }
    let opts: Vec<&str> = mode.split(',').filter(|o| !o.is_empty()).collect();
    let kind = if src.starts_with('/') {
        "bind"
    } else {
        "volume"
    };
    if kind == "volume" && !src.is_empty() && !super::valid_name(src) {
        return Err(VolumeError::BadName(src.to_string()));
    }
    let dest = destination(kind, dst).map_err(|e| bad(format!("{}: {e}", spec())))?;
    let propagation = opts
        .iter()
        .find(|o| PROPAGATIONS.contains(o))
        .map(|s| s.to_string());
    if kind == "volume" && propagation.is_some() {
        return Err(bad(format!(
            "{}: invalid mount config for type \"volume\": propagation is not supported for volumes",
            spec()
        )));
    }
    let rw = !opts.contains(&"ro");
    Ok(MountPoint {
        kind: kind.to_string(),
        name: if kind == "volume" {
            src.to_string()
        } else {
            String::new()
        },
        source: if kind == "bind" {
            clean_host(src)
        } else {
            PathBuf::new()
        },
        destination: dest,
        driver: if kind == "volume" {
            "local".into()
        } else {
            String::new()
        },
        mode: if kind == "volume" && mode.is_empty() {
            "z".into()
        } else {
            mode.to_string()
        },
        rw,
        propagation: if kind == "bind" {
            propagation.unwrap_or_else(|| "rprivate".into())
        } else {
            String::new()
        },
        copy_data: kind == "volume" && !opts.contains(&"nocopy"),
        create_source: kind == "bind",
        volume_labels: Vec::new(),
    })
}

fn clean_host(p: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(p).components() {
        if let Component::Normal(n) = c {
            out.push(n);
        } else if c == Component::ParentDir {
            out.pop();
        }
    }
    out
}

/// Docker's `-v` modes: a comma list of at most one each of rw/ro, z/Z, a propagation,
/// and nocopy.
fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut seen = [0u8; 4];
    for o in mode.split(',') {
        let g = match o {
            "rw" | "ro" => 0,
            "z" | "Z" => 1,
            "nocopy" => 3,
            o if PROPAGATIONS.contains(&o) => 2,
            _ => return false,
        };
        seen[g] += 1;
        if seen[g] > 1 {
            return false;
        }
    }
    true
}

/// One `--mount` of type bind or volume (tmpfs is the spec layer's); `None` for others.
pub fn parse_mount(m: &serde_json::Value) -> Result<Option<MountPoint>> {
    let kind = m["Type"].as_str().unwrap_or("");
    let source = m["Source"].as_str().unwrap_or("");
    let target = m["Target"].as_str().unwrap_or("");
    let ro = m["ReadOnly"].as_bool().unwrap_or(false);
    match kind {
        "tmpfs" | "npipe" | "cluster" | "image" => return Ok(None),
        "bind" | "volume" => {}
        other => {
            return Err(bad(format!(
                "invalid mount config: mount type unknown: \"{other}\""
            )))
        }
    }
    let dest = destination(kind, target).map_err(bad)?;
    if kind == "bind" {
        if source.is_empty() {
            return Err(bad(
                "invalid mount config for type \"bind\": field Source must not be empty",
            ));
        }
        if !source.starts_with('/') {
            return Err(bad(format!(
                "invalid mount config for type \"bind\": invalid mount path: '{source}' mount path must be absolute"
            )));
        }
        if m.get("VolumeOptions").is_some_and(|v| !v.is_null()) {
            return Err(bad(
                "invalid mount config for type \"bind\": field VolumeOptions must not be specified",
            ));
        }
        let src = clean_host(source);
        if std::fs::symlink_metadata(&src).is_err() {
            return Err(bad(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                src.display()
            )));
        }
        let propagation = m["BindOptions"]["Propagation"]
            .as_str()
            .filter(|p| !p.is_empty())
            .unwrap_or("rprivate");
        if !PROPAGATIONS.contains(&propagation) {
            return Err(bad(format!("invalid propagation mode: {propagation}")));
        }
        return Ok(Some(MountPoint {
            kind: "bind".into(),
            name: String::new(),
            source: src,
            destination: dest,
            driver: String::new(),
            mode: String::new(),
            rw: !ro,
            propagation: propagation.into(),
            copy_data: false,
            create_source: false,
            volume_labels: Vec::new(),
        }));
    }
    if m.get("BindOptions").is_some_and(|v| !v.is_null()) {
        return Err(bad(
            "invalid mount config for type \"volume\": field BindOptions must not be specified",
        ));
    }
    if !source.is_empty() && !super::valid_name(source) {
        return Err(VolumeError::BadName(source.to_string()));
    }
    let vo = &m["VolumeOptions"];
    let labels = vo["Labels"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let driver = vo["DriverConfig"]["Name"].as_str().unwrap_or("");
    if !driver.is_empty() && driver != "local" {
        return Err(VolumeError::NoDriver(driver.to_string()));
    }
    Ok(Some(MountPoint {
        kind: "volume".into(),
        name: source.to_string(),
        source: PathBuf::new(),
        destination: dest,
        driver: "local".into(),
        mode: "z".into(),
        rw: !ro,
        propagation: String::new(),
        copy_data: !vo["NoCopy"].as_bool().unwrap_or(false),
        create_source: false,
        volume_labels: labels,
    }))
}

/// Every mount point of a create request, image volumes last; duplicates refused.
pub fn mount_points(
    host_config: &serde_json::Value,
    config: &serde_json::Value,
) -> Result<Vec<MountPoint>> {
    let mut out: Vec<MountPoint> = Vec::new();
    let add = |mp: MountPoint, out: &mut Vec<MountPoint>| {
        if out.iter().any(|o| o.destination == mp.destination) {
            return Err(bad(format!(
                "Duplicate mount point: {}",
                mp.destination.display()
            )));
        }
        out.push(mp);
        Ok(())
    };
    for b in host_config["Binds"].as_array().into_iter().flatten() {
        add(parse_bind(b.as_str().unwrap_or(""))?, &mut out)?;
    }
    for m in host_config["Mounts"].as_array().into_iter().flatten() {
        if let Some(mp) = parse_mount(m)? {
            add(mp, &mut out)?;
        }
    }
    // Image volumes: skipped where a user mount (of any kind, tmpfs included) is.
    let tmpfs: Vec<PathBuf> = host_config["Tmpfs"]
        .as_object()
        .map(|o| {
            o.keys()
                .filter_map(|k| destination("tmpfs", k).ok())
                .collect()
        })
        .unwrap_or_default();
    let tmpfs_mounts: Vec<PathBuf> = host_config["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Type"] == "tmpfs")
        .filter_map(|m| destination("tmpfs", m["Target"].as_str().unwrap_or("")).ok())
        .collect();
    let mut image: Vec<&String> = config["Volumes"]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    image.sort();
    for dst in image {
        let Ok(dest) = destination("volume", dst) else {
            continue;
        };
        if out.iter().any(|o| o.destination == dest)
            || tmpfs.contains(&dest)
            || tmpfs_mounts.contains(&dest)
        {
            continue;
        }
        out.push(MountPoint {
            kind: "volume".into(),
            name: String::new(),
            source: PathBuf::new(),
            destination: dest,
            driver: "local".into(),
            mode: String::new(),
            rw: true,
            propagation: String::new(),
            copy_data: true,
            create_source: false,
            volume_labels: Vec::new(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binds_as_docker_reads_them() {
        let m = parse_bind("/srv/x:/data:ro,rshared").unwrap();
        assert_eq!(
            (m.kind.as_str(), m.source.to_str().unwrap(), m.rw),
            ("bind", "/srv/x", false)
        );
        assert_eq!(
            (m.mode.as_str(), m.propagation.as_str()),
            ("ro,rshared", "rshared")
        );
        let v = parse_bind("cache:/var/cache/").unwrap();
        assert_eq!((v.kind.as_str(), v.name.as_str()), ("volume", "cache"));
        assert_eq!(v.destination, PathBuf::from("/var/cache"));
        assert_eq!((v.mode.as_str(), v.copy_data), ("z", true));
        let a = parse_bind("/anon").unwrap();
        assert!(a.is_volume() && a.name.is_empty());
        assert!(!parse_bind("v1:/x:nocopy").unwrap().copy_data);
    }

    #[test]
    fn bad_binds_say_why() {
        let e = |s: &str| parse_bind(s).unwrap_err().to_string();
        assert_eq!(e("/x:rw"), "invalid volume specification: '/x:rw'");
        assert!(e("/a:/b:bogus").contains("invalid mode: bogus"));
        assert!(
            e("/a:rel").contains("mount path must be absolute"),
            "{}",
            e("/a:rel")
        );
        assert!(e("./here:/x").contains("includes invalid characters"));
        assert!(e("/a:/").contains("destination can't be '/'"));
        assert!(e("v1:/x:rshared").contains("propagation"));
        assert!(e("a:b:c:d").starts_with("invalid volume specification"));
    }

    #[test]
    fn mounts_and_image_volumes() {
        let hc = json!({
            "Binds": ["named:/data"],
            "Mounts": [
                {"Type": "bind", "Source": "/tmp", "Target": "/host", "ReadOnly": true,
                 "BindOptions": {"Propagation": "rslave"}},
                {"Type": "volume", "Target": "/anon", "VolumeOptions": {"NoCopy": true}},
                {"Type": "tmpfs", "Target": "/scratch"}
            ]
        });
        let cfg = json!({"Volumes": {"/data": {}, "/logs": {}, "/scratch": {}}});
        let mps = mount_points(&hc, &cfg).unwrap();
        let dests: Vec<&str> = mps
            .iter()
            .map(|m| m.destination.to_str().unwrap())
            .collect();
        assert_eq!(dests, ["/data", "/host", "/anon", "/logs"]);
        assert_eq!((mps[1].rw, mps[1].propagation.as_str()), (false, "rslave"));
        assert!(!mps[2].copy_data && mps[3].copy_data && mps[3].name.is_empty());
        let e = parse_mount(&json!({"Type": "bind", "Source": "/no/such/dir", "Target": "/x"}))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid mount config for type \"bind\": bind source path does not exist: /no/such/dir"
        );
        let dup = json!({"Binds": ["/tmp:/x", "v1:/x/"]});
        assert_eq!(
            mount_points(&dup, &json!({})).unwrap_err().to_string(),
            "Duplicate mount point: /x"
        );
    }
}
