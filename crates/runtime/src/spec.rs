//! Loading and checking a bundle's `config.json`, and the default spec `tug runtime spec` writes.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::{Path, PathBuf};

/// A loaded bundle: its config and the absolute paths it names.
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

pub fn load_bundle(dir: &Path) -> Result<Bundle> {
    let dir = std::fs::canonicalize(dir).map_err(|e| Error::io("open bundle", dir, e))?;
    let path = dir.join("config.json");
    let data = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    let spec: Spec =
        serde_json::from_slice(&data).map_err(|e| Error::spec(&path, e.to_string()))?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::spec(&path, "root is missing"))?;
    let rootfs = dir.join(root.path());
    let rootfs =
        std::fs::canonicalize(&rootfs).map_err(|e| Error::io("open rootfs", &rootfs, e))?;
    validate(&spec, &path)?;
    Ok(Bundle { dir, spec, rootfs })
}

fn has_new_ns(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    namespaces(spec)
        .iter()
        .any(|ns| ns.typ() == typ && ns.path().is_none())
}

pub fn has_ns(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    namespaces(spec).iter().any(|ns| ns.typ() == typ)
}

pub fn namespaces(spec: &Spec) -> &[oci_spec::runtime::LinuxNamespace] {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or(&[])
}

/// Checks a runtime would otherwise discover half-way through creating the container.
pub fn validate(spec: &Spec, path: &Path) -> Result<()> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::spec(path, "process is missing"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::spec(path, "process.args must not be empty"));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::spec(
            path,
            format!("process.cwd {:?} is not absolute", process.cwd()),
        ));
    }
    let Some(linux) = spec.linux() else {
        return Err(Error::spec(path, "linux section is missing"));
    };
    let mut seen = Vec::new();
    for ns in namespaces(spec) {
        if seen.contains(&ns.typ()) {
            return Err(Error::spec(
                path,
                format!("namespace {:?} listed twice", ns.typ()),
            ));
        }
        seen.push(ns.typ());
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        && !has_new_ns(spec, LinuxNamespaceType::Uts)
    {
        return Err(Error::spec(
            path,
            "unable to set hostname without a new UTS namespace",
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty())
        && !has_new_ns(spec, LinuxNamespaceType::Uts)
    {
        return Err(Error::spec(
            path,
            "unable to set domainname without a new UTS namespace",
        ));
    }
    let userns = has_ns(spec, LinuxNamespaceType::User);
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if has_new_ns(spec, LinuxNamespaceType::User) && !has_maps {
        return Err(Error::spec(
            path,
            "user namespace enabled, but no uid mappings found",
        ));
    }
    if !userns && has_maps {
        return Err(Error::spec(
            path,
            "uid mappings given without a user namespace",
        ));
    }
    if linux.time_offsets().is_some() && !has_new_ns(spec, LinuxNamespaceType::Time) {
        return Err(Error::spec(
            path,
            "timeOffsets given without a new time namespace",
        ));
    }
    for key in linux.sysctl().iter().flat_map(|s| s.keys()) {
        check_sysctl(spec, key).map_err(|r| Error::spec(path, r))?;
    }
    if let Some(profile) = process
        .apparmor_profile()
        .as_ref()
        .filter(|p| !p.is_empty())
    {
        if !crate::process::apparmor_enabled() {
            return Err(Error::spec(
                path,
                format!("apparmor profile {profile:?} requested but AppArmor is not enabled on this host"),
            ));
        }
    }
    Ok(())
}

/// A sysctl may only be set when the container has its own namespace for it (as runc checks).
fn check_sysctl(spec: &Spec, key: &str) -> std::result::Result<(), String> {
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        return need(spec, LinuxNamespaceType::Ipc, key);
    }
    if key.starts_with("net.") {
        return need(spec, LinuxNamespaceType::Network, key);
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        return need(spec, LinuxNamespaceType::Uts, key);
    }
    Err(format!(
        "sysctl {key:?} is not in a separate kernel namespace"
    ))
}

fn need(spec: &Spec, typ: LinuxNamespaceType, key: &str) -> std::result::Result<(), String> {
    if has_ns(spec, typ) {
        Ok(())
    } else {
        Err(format!(
            "sysctl {key:?} needs a {typ:?} namespace, which the container does not have"
        ))
    }
}

/// The config `tug runtime spec` writes: a busybox-friendly container as runc's default.
pub fn default_spec(rootless: bool) -> serde_json::Value {
    let caps = serde_json::json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut namespaces = vec!["pid", "network", "ipc", "uts", "mount", "cgroup"];
    let mut mounts = serde_json::json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
    ]);
    let mut linux = serde_json::json!({
        "resources": {"devices": [{"allow": false, "access": "rwm"}]},
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
            "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    });
    if rootless {
        namespaces.retain(|n| *n != "network");
        namespaces.push("user");
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        linux["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        linux.as_object_mut().map(|o| o.remove("resources"));
        if let Some(m) = mounts.as_array_mut() {
            m.retain(|m| m["type"] != "cgroup");
            for mount in m.iter_mut() {
                if mount["type"] == "sysfs" {
                    *mount = serde_json::json!({"destination": "/sys", "type": "none",
                        "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                }
                if mount["destination"] == "/dev/pts" {
                    if let Some(o) = mount["options"].as_array_mut() {
                        o.retain(|x| x != "gid=5");
                    }
                }
            }
        }
    }
    linux["namespaces"] = namespaces
        .iter()
        .map(|t| serde_json::json!({"type": t}))
        .collect();
    serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "tug",
        "mounts": mounts,
        "linux": linux
    })
}
