//! Devices: the device cgroup rules every container gets (deny everything, then allow the
//! standard nodes), `--device` (nodes created in the container plus an allow rule),
//! `--device-cgroup-rule`, and `--privileged` (every host device, everything allowed).

use super::host::{Host, HostDevice};
use super::types::DeviceMapping;
use super::SpecError;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};
use std::path::{Path, PathBuf};

/// What the container can see and open.
#[derive(Debug, Default)]
pub struct Devices {
    /// Nodes the runtime creates in the container's /dev (beyond the standard ones).
    pub nodes: Vec<LinuxDevice>,
    /// The device cgroup rules, in order.
    pub rules: Vec<LinuxDeviceCgroup>,
}

fn cgroup_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(typ);
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// Deny everything, then allow what every Docker container can use: null, zero, full,
/// random, urandom, tty, console, ptmx and the pty slaves, and tun.
pub fn default_rules() -> Vec<LinuxDeviceCgroup> {
    let c = Some(LinuxDeviceType::C);
    let mut rules = vec![cgroup_rule(false, None, None, None, "rwm")];
    for (major, minor) in [
        (1, Some(3)),    // null
        (1, Some(5)),    // zero
        (1, Some(7)),    // full
        (1, Some(8)),    // random
        (1, Some(9)),    // urandom
        (5, Some(0)),    // tty
        (5, Some(1)),    // console
        (5, Some(2)),    // ptmx
        (136, None),     // pts/*
        (10, Some(200)), // net/tun
    ] {
        rules.push(cgroup_rule(true, c, Some(major), minor, "rwm"));
    }
    rules
}

fn kind(k: char) -> LinuxDeviceType {
    if k == 'b' {
        LinuxDeviceType::B
    } else {
        LinuxDeviceType::C
    }
}

fn node(d: &HostDevice, path_in_container: &Path) -> LinuxDevice {
    let mut n = LinuxDevice::default();
    n.set_path(path_in_container.to_path_buf());
    n.set_typ(kind(d.kind));
    n.set_major(d.major);
    n.set_minor(d.minor);
    n.set_file_mode(Some(d.mode));
    n.set_uid(Some(d.uid));
    n.set_gid(Some(d.gid));
    n
}

fn device_error(path: &Path, e: std::io::Error) -> SpecError {
    SpecError::Device {
        path: path.to_path_buf(),
        missing: e.kind() == std::io::ErrorKind::NotFound,
        reason: format!("error gathering device information: {e}"),
    }
}

/// Host devices for `path`: the node itself, or every node under it when it is a directory.
fn lookup(host: &dyn Host, path: &Path) -> Result<Vec<HostDevice>, SpecError> {
    match host.device(path) {
        Ok(d) => Ok(vec![d]),
        Err(first) => match host.devices_under(path) {
            Ok(list) if !list.is_empty() => Ok(list),
            _ => Err(device_error(path, first)),
        },
    }
}

fn check_permissions(perms: &str, path: &str) -> Result<(), SpecError> {
    if perms.is_empty() || perms.len() > 3 || !perms.chars().all(|c| "rwm".contains(c)) {
        return Err(SpecError::invalid(
            "device permissions",
            perms,
            format!("for {path}: must be a combination of r, w and m"),
        ));
    }
    Ok(())
}

/// One `--device host[:container[:perms]]` as nodes and allow rules.
fn add_mapping(host: &dyn Host, m: &DeviceMapping, out: &mut Devices) -> Result<(), SpecError> {
    let perms = if m.cgroup_permissions.is_empty() {
        "rwm"
    } else {
        m.cgroup_permissions.as_str()
    };
    check_permissions(perms, &m.path_on_host)?;
    let on_host = PathBuf::from(&m.path_on_host);
    let in_container = if m.path_in_container.is_empty() {
        on_host.clone()
    } else {
        PathBuf::from(&m.path_in_container)
    };
    for d in lookup(host, &on_host)? {
        let rel = d.path.strip_prefix(&on_host).unwrap_or(Path::new(""));
        let target = if rel.as_os_str().is_empty() {
            in_container.clone()
        } else {
            in_container.join(rel)
        };
        out.nodes.push(node(&d, &target));
        out.rules.push(cgroup_rule(
            true,
            Some(kind(d.kind)),
            Some(d.major),
            Some(d.minor),
            perms,
        ));
    }
    Ok(())
}

/// `"c 1:3 rwm"`, `"a *:* m"`, `"b 8:* r"` as a cgroup rule.
pub fn parse_rule(text: &str) -> Result<LinuxDeviceCgroup, SpecError> {
    let bad = || {
        SpecError::invalid(
            "device cgroup rule",
            text,
            "want \"<a|b|c> <major|*>:<minor|*> <rwm>\"",
        )
    };
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [typ, numbers, access] = parts.as_slice() else {
        return Err(bad());
    };
    let typ = match *typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let number = |s: &str| -> Result<Option<i64>, SpecError> {
        if s == "*" {
            Ok(None)
        } else {
            s.parse().map(Some).map_err(|_| bad())
        }
    };
    if access.is_empty() || access.len() > 3 || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(bad());
    }
    Ok(cgroup_rule(
        true,
        Some(typ),
        number(major)?,
        number(minor)?,
        access,
    ))
}

/// The container's devices from `--device`, `--device-cgroup-rule` and `--privileged`.
pub fn devices(
    host: &dyn Host,
    mappings: &[DeviceMapping],
    cgroup_rules: &[String],
    privileged: bool,
) -> Result<Devices, SpecError> {
    let mut out = Devices::default();
    if privileged {
        let all = host
            .devices_under(Path::new("/dev"))
            .map_err(|e| device_error(Path::new("/dev"), e))?;
        out.nodes = all.iter().map(|d| node(d, &d.path)).collect();
        out.rules = vec![cgroup_rule(true, None, None, None, "rwm")];
        return Ok(out);
    }
    out.rules = default_rules();
    for m in mappings {
        add_mapping(host, m, &mut out)?;
    }
    for r in cgroup_rules {
        out.rules.push(parse_rule(r)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::host::StaticHost;

    fn mapping(host: &str, container: &str, perms: &str) -> DeviceMapping {
        DeviceMapping {
            path_on_host: host.into(),
            path_in_container: container.into(),
            cgroup_permissions: perms.into(),
        }
    }

    #[test]
    fn defaults_deny_all_then_allow_the_standard_nodes() {
        let d = devices(&StaticHost::default(), &[], &[], false).unwrap();
        assert!(d.nodes.is_empty());
        let text: Vec<String> = d.rules.iter().map(|r| r.to_string()).collect();
        assert_eq!(text[0], "a *:* rwm");
        assert!(!d.rules[0].allow());
        for want in [
            "c 1:3 rwm",
            "c 1:9 rwm",
            "c 136:* rwm",
            "c 5:2 rwm",
            "c 10:200 rwm",
        ] {
            assert!(
                text.contains(&want.to_string()),
                "{want} missing from {text:?}"
            );
        }
    }

    #[test]
    fn a_device_mapping_creates_the_node_and_allows_it() {
        let host = StaticHost::default();
        let d = devices(
            &host,
            &[mapping("/dev/fuse", "/dev/myfuse", "rw")],
            &[],
            false,
        )
        .unwrap();
        assert_eq!(d.nodes[0].path(), Path::new("/dev/myfuse"));
        assert_eq!((d.nodes[0].major(), d.nodes[0].minor()), (10, 229));
        assert_eq!(d.rules.last().unwrap().to_string(), "c 10:229 rw");
        let d = devices(&host, &[mapping("/dev/snd", "", "")], &[], false).unwrap();
        assert_eq!(d.nodes.len(), 2);
        assert_eq!(d.nodes[1].path(), Path::new("/dev/snd/timer"));
    }

    #[test]
    fn missing_devices_and_bad_permissions_are_refused() {
        let host = StaticHost::default();
        let e = devices(&host, &[mapping("/dev/nope", "", "")], &[], false).unwrap_err();
        assert_eq!(e.kind(), crate::spec::ErrorKind::NotFound);
        assert!(e.to_string().starts_with("device /dev/nope:"), "{e}");
        assert!(devices(&host, &[mapping("/dev/fuse", "", "rwx")], &[], false).is_err());
    }

    #[test]
    fn cgroup_rules_parse() {
        assert_eq!(parse_rule("c 1:3 rwm").unwrap().to_string(), "c 1:3 rwm");
        assert_eq!(parse_rule("b 8:* r").unwrap().to_string(), "b 8:* r");
        assert_eq!(parse_rule("a *:* m").unwrap().to_string(), "a *:* m");
        for bad in ["c 1:3", "x 1:3 rwm", "c 1-3 rwm", "c 1:3 rwx", "c one:3 r"] {
            assert!(parse_rule(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn privileged_gets_every_host_device_and_all_access() {
        let d = devices(&StaticHost::default(), &[], &[], true).unwrap();
        assert_eq!(d.nodes.len(), 5);
        assert_eq!(d.rules.len(), 1);
        assert!(d.rules[0].allow());
    }
}
