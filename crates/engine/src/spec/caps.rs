//! Capabilities: Docker's default set, `--cap-add`/`--cap-drop` (with `ALL`, with or
//! without the `CAP_` prefix, any case) and `--privileged`, and the OCI capability sets a
//! process gets from them.

use super::SpecError;
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

/// Every capability Linux defines, in number order (`CAP_CHOWN` = 0 … `CAP_CHECKPOINT_RESTORE` = 40).
pub const ALL: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The 14 capabilities a Docker container gets by default (mask 0xa80425fb).
pub const DEFAULT: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// `net_admin`, `NET_ADMIN`, `cap_net_admin` → `CAP_NET_ADMIN`; `all` → `ALL`.
fn normalize(name: &str) -> Result<String, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(SpecError::UnknownCapability(full))
    }
}

/// The container's capability names (`CAP_…`, in number order) as Docker computes them.
/// `available` is the daemon's bounding set (bit N: capability N): `--privileged` and
/// `--cap-add ALL` mean every capability in it, as Docker's "all capabilities available in the
/// current environment" do.
pub fn compute(
    adds: &[String],
    drops: &[String],
    privileged: bool,
    available: u64,
) -> Result<Vec<String>, SpecError> {
    let all = || {
        ALL.iter()
            .enumerate()
            .filter(move |(i, _)| available & (1u64 << i) != 0)
            .map(|(_, c)| *c)
    };
    let adds = adds
        .iter()
        .map(|a| normalize(a))
        .collect::<Result<Vec<_>, _>>()?;
    let drops = drops
        .iter()
        .map(|d| normalize(d))
        .collect::<Result<Vec<_>, _>>()?;
    if privileged {
        return Ok(all().map(String::from).collect());
    }
    let has = |list: &[String], c: &str| list.iter().any(|x| x == c);
    let chosen: Vec<String> = if has(&adds, "ALL") {
        all()
            .filter(|c| !has(&drops, c))
            .map(|c| c.to_string())
            .collect()
    } else if has(&drops, "ALL") {
        adds
    } else {
        DEFAULT
            .iter()
            .filter(|c| !has(&drops, c))
            .map(|c| c.to_string())
            .chain(adds)
            .collect()
    };
    Ok(ALL
        .iter()
        .filter(|c| has(&chosen, c))
        .map(|c| c.to_string())
        .collect())
}

/// The OCI sets: bounding always; effective and permitted only for uid 0 (a non-root
/// process has none after execve, as the kernel gives it); inheritable and ambient empty.
pub fn linux_capabilities(names: &[String], uid: u32) -> LinuxCapabilities {
    let set: Capabilities = names.iter().filter_map(|n| to_oci(n)).collect();
    let root = if uid == 0 {
        set.clone()
    } else {
        Capabilities::new()
    };
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(set));
    caps.set_effective(Some(root.clone()));
    caps.set_permitted(Some(root));
    caps.set_inheritable(Some(Capabilities::new()));
    caps.set_ambient(Some(Capabilities::new()));
    caps
}

fn to_oci(name: &str) -> Option<Capability> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn mask(names: &[String]) -> u64 {
        names
            .iter()
            .map(|n| 1u64 << ALL.iter().position(|a| a == n).unwrap())
            .sum()
    }

    #[test]
    fn defaults_are_docker_s_fourteen() {
        let c = compute(&[], &[], false, EVERY).unwrap();
        assert_eq!(c.len(), 14);
        assert_eq!(mask(&c), 0xa80425fb);
    }

    #[test]
    fn add_and_drop_accept_any_spelling() {
        let c = compute(
            &s(&["net_admin", "CAP_SYS_PTRACE"]),
            &s(&["chown", "Cap_Kill"]),
            false,
            EVERY,
        )
        .unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(c.contains(&"CAP_SYS_PTRACE".to_string()));
        assert!(!c.contains(&"CAP_CHOWN".to_string()));
        assert!(!c.contains(&"CAP_KILL".to_string()));
        assert_eq!(c.len(), 14);
    }

    #[test]
    fn all_in_add_or_drop() {
        let c = compute(&s(&["ALL"]), &s(&["SYS_ADMIN"]), false, EVERY).unwrap();
        assert_eq!(c.len(), ALL.len() - 1);
        let c = compute(&s(&["NET_RAW"]), &s(&["all"]), false, EVERY).unwrap();
        assert_eq!(c, ["CAP_NET_RAW"]);
        assert!(compute(&[], &s(&["ALL"]), false, EVERY).unwrap().is_empty());
    }

    /// Bits 0..=40: every capability.
    const EVERY: u64 = (1 << 41) - 1;

    #[test]
    fn privileged_gets_everything() {
        assert_eq!(compute(&[], &s(&["ALL"]), true, EVERY).unwrap().len(), 41);
    }

    /// On a host whose bounding set lacks CAP_SYS_RESOURCE (24), `--privileged` and
    /// `--cap-add ALL` leave it out rather than fail at the start.
    #[test]
    fn all_means_what_the_daemon_has() {
        let without = EVERY & !(1 << 24);
        let c = compute(&[], &[], true, without).unwrap();
        assert_eq!(c.len(), 40);
        assert!(!c.iter().any(|x| x == "CAP_SYS_RESOURCE"));
        let c = compute(&s(&["ALL"]), &s(&["SYS_ADMIN"]), false, without).unwrap();
        assert_eq!(c.len(), 39);
        // Named ones are passed on as asked (the runtime then says what is missing).
        let c = compute(&s(&["SYS_RESOURCE"]), &[], false, without).unwrap();
        assert!(c.iter().any(|x| x == "CAP_SYS_RESOURCE"));
    }

    #[test]
    fn unknown_names_are_refused_by_name() {
        let e = compute(&s(&["NET_FLY"]), &[], false, EVERY).unwrap_err();
        assert_eq!(e.to_string(), "unknown capability: \"CAP_NET_FLY\"");
        assert!(compute(&[], &s(&["bogus"]), true, EVERY).is_err());
    }

    #[test]
    fn non_root_has_bounding_only() {
        let names = compute(&[], &[], false, EVERY).unwrap();
        let c = linux_capabilities(&names, 1000);
        assert_eq!(c.bounding().as_ref().unwrap().len(), 14);
        assert!(c.effective().as_ref().unwrap().is_empty());
        assert!(c.permitted().as_ref().unwrap().is_empty());
        let c = linux_capabilities(&names, 0);
        assert_eq!(c.effective().as_ref().unwrap().len(), 14);
        assert!(c.inheritable().as_ref().unwrap().is_empty());
    }
}
