//! The OCI runtime spec for a container: its merged config and host config with Docker's
//! defaults applied, as a user observes them inside a Docker container.
//!
//! What is deliberately not here: `StopSignal`/`StopTimeout`, health checks, restart
//! policies and logging (the engine acts on them); /etc/hosts, /etc/resolv.conf and
//! /etc/hostname (the network layer adds them as resolved mounts); creating `WorkingDir` in
//! the rootfs (the engine does it before start); AppArmor by default (tug ships no profile,
//! so a profile is only set when `--security-opt apparmor=…` asks for one).

use super::host::Host;
use super::merge::{command, env_key};
pub use super::mounts::MountSpec;
use super::mounts::{self, Defaults};
use super::seccomp::Target;
use super::security::{self, SecurityOpts};
use super::types::{ContainerConfig, HostConfig};
use super::user::{self, ExecUser};
use super::{caps, devices, resources, SpecError};
use oci_spec::runtime::{
    BoxBuilder as ConsoleBoxBuilder, Linux, LinuxNamespace, LinuxNamespaceType, LinuxResources,
    Process, Root, Spec, User,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The PATH a container gets when its config sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The cgroup parent when neither the daemon nor `--cgroup-parent` give one.
pub const DEFAULT_CGROUP_PARENT: &str = "/tug";

/// The masked paths of every Docker container (bind-mounted over with nothing).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// The read-only paths of every Docker container.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Namespaces of other processes the container joins (from `--network container:x`, a
/// network created by the network layer, `--ipc container:x`, `--pid container:x`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespacePaths {
    pub network: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub pid: Option<PathBuf>,
}

/// Everything [`to_oci`] needs.
pub struct SpecInput<'a> {
    /// The container's full id; its first 12 characters are the default host name.
    pub id: &'a str,
    /// The config after [`super::merge()`] with the image's config.
    pub config: &'a ContainerConfig,
    pub host_config: &'a HostConfig,
    /// The container's root filesystem (user names are resolved inside it).
    pub rootfs: &'a Path,
    /// Volumes and binds already turned into host paths by the engine.
    pub mounts: Vec<MountSpec>,
    pub namespaces: NamespacePaths,
    /// The daemon's cgroup parent; `HostConfig.CgroupParent` overrides it. The spec's
    /// `cgroupsPath` is `<parent>/<id>` (just `<id>` when the parent is empty).
    pub cgroup_parent: String,
    /// With `HostConfig.Init`: tug's binary as seen inside the container (the engine
    /// bind-mounts it). The process becomes `[init_path, "init", "--", args…]`, so tug's
    /// own init runs as PID 1 and execs the command.
    pub init_path: Option<PathBuf>,
    pub host: &'a dyn Host,
}

impl<'a> SpecInput<'a> {
    /// An input with no extra mounts, no joined namespaces, the default cgroup parent and
    /// no init binary.
    pub fn new(
        id: &'a str,
        config: &'a ContainerConfig,
        host_config: &'a HostConfig,
        rootfs: &'a Path,
        host: &'a dyn Host,
    ) -> SpecInput<'a> {
        SpecInput {
            id,
            config,
            host_config,
            rootfs,
            mounts: Vec::new(),
            namespaces: NamespacePaths::default(),
            cgroup_parent: DEFAULT_CGROUP_PARENT.to_string(),
            init_path: None,
            host,
        }
    }
}

/// The OCI runtime spec for the container described by `input`.
pub fn to_oci(input: &SpecInput) -> Result<Spec, SpecError> {
    let hc = input.host_config;
    check_modes(input)?;
    let security = security::parse(&hc.security_opt)?;
    let cap_names = caps::compute(
        &hc.cap_add,
        &hc.cap_drop,
        hc.privileged,
        input.host.bounding_caps(),
    )?;
    let exec_user = user::resolve(input.rootfs, &input.config.user, &hc.group_add)?;
    let hostname = hostname(input)?;
    let process = process(
        input,
        &security,
        &cap_names,
        &exec_user,
        hostname.as_deref(),
    )?;
    let mounts = all_mounts(input, &security)?;
    let linux = linux(input, &security, &cap_names, &mounts)?;

    let mut root = Root::default();
    root.set_path(input.rootfs.to_path_buf());
    root.set_readonly(Some(hc.readonly_rootfs));
    let mut spec = Spec::default();
    spec.set_version(runtime::OCI_VERSION.to_string());
    spec.set_root(Some(root));
    spec.set_process(Some(process));
    spec.set_hostname(hostname);
    spec.set_domainname(Some(input.config.domainname.clone()).filter(|d| !d.is_empty()));
    spec.set_mounts(Some(mounts));
    spec.set_linux(Some(linux));
    spec.set_annotations(
        Some(
            hc.annotations
                .clone()
                .into_iter()
                .collect::<HashMap<_, _>>(),
        )
        .filter(|a| !a.is_empty()),
    );
    Ok(spec)
}

/// Refuse the modes tug cannot honour instead of silently ignoring them.
fn check_modes(input: &SpecInput) -> Result<(), SpecError> {
    let hc = input.host_config;
    let joined = |mode: &str, path: &Option<PathBuf>, field: &'static str| {
        if mode.starts_with("container:") && path.is_none() {
            return Err(SpecError::invalid(
                field,
                mode,
                "the engine must give the namespace of the container to join",
            ));
        }
        Ok(())
    };
    joined(&hc.network_mode, &input.namespaces.network, "network mode")?;
    joined(&hc.ipc_mode, &input.namespaces.ipc, "ipc mode")?;
    joined(&hc.pid_mode, &input.namespaces.pid, "pid mode")?;
    let ok = |v: &str, allowed: &[&str], field: &'static str, why: &str| {
        if allowed.contains(&v) || (field != "uts mode" && v.starts_with("container:")) {
            Ok(())
        } else {
            Err(SpecError::invalid(field, v, why))
        }
    };
    ok(
        &hc.ipc_mode,
        &["", "private", "shareable", "host", "none"],
        "ipc mode",
        "want private, shareable, host, none or container:<id>",
    )?;
    ok(
        &hc.pid_mode,
        &["", "host"],
        "pid mode",
        "want host or container:<id>",
    )?;
    ok(&hc.uts_mode, &["", "host"], "uts mode", "want host")?;
    ok(
        &hc.cgroupns_mode,
        &["", "private", "host"],
        "cgroupns mode",
        "want private or host",
    )?;
    ok(
        &hc.userns_mode,
        &["", "host"],
        "userns mode",
        "user namespaces are not supported yet",
    )?;
    ok(
        &hc.isolation,
        &["", "default"],
        "isolation",
        "only \"default\" exists on linux",
    )?;
    if !hc.cgroup.is_empty() {
        return Err(SpecError::invalid(
            "cgroup",
            &hc.cgroup,
            "joining another container's cgroup is not supported",
        ));
    }
    if !(-1000..=1000).contains(&hc.oom_score_adj) {
        return Err(SpecError::invalid(
            "oom score adj",
            hc.oom_score_adj,
            "the range is [-1000, 1000]",
        ));
    }
    Ok(())
}

fn is_host_network(hc: &HostConfig) -> bool {
    hc.network_mode == "host"
}

/// The container's host name: `Hostname`, else the host's on the host network, else the
/// first 12 characters of the id. `None` when the container shares the host's UTS namespace.
fn hostname(input: &SpecInput) -> Result<Option<String>, SpecError> {
    if input.host_config.uts_mode == "host" {
        return Ok(None);
    }
    let name = if !input.config.hostname.is_empty() {
        input.config.hostname.clone()
    } else if is_host_network(input.host_config) {
        input.host.hostname()
    } else {
        input.id.chars().take(12).collect()
    };
    if name.len() > 64 {
        return Err(SpecError::invalid(
            "hostname",
            &name,
            "longer than 64 characters",
        ));
    }
    Ok(Some(name))
}

/// Docker's environment: PATH, HOSTNAME, TERM with a tty, then the config's entries
/// replacing those by name (an entry without `=` removes it), then HOME from passwd.
fn environment(config: &ContainerConfig, hostname: Option<&str>, home: &str) -> Vec<String> {
    let mut env = vec![format!("PATH={DEFAULT_PATH}")];
    if let Some(h) = hostname {
        env.push(format!("HOSTNAME={h}"));
    }
    if config.tty {
        env.push("TERM=xterm".to_string());
    }
    for entry in &config.env {
        let key = env_key(entry);
        let pos = env.iter().position(|e| env_key(e) == key);
        match (entry.contains('='), pos) {
            (true, Some(i)) => env[i] = entry.clone(),
            (true, None) => env.push(entry.clone()),
            (false, Some(i)) => {
                env.remove(i);
            }
            (false, None) => {}
        }
    }
    if !env.iter().any(|e| env_key(e) == "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

fn working_dir(config: &ContainerConfig) -> Result<PathBuf, SpecError> {
    if config.working_dir.is_empty() {
        return Ok(PathBuf::from("/"));
    }
    let p = Path::new(&config.working_dir);
    if !p.is_absolute() {
        return Err(SpecError::invalid(
            "working directory",
            &config.working_dir,
            "it needs to be an absolute path",
        ));
    }
    Ok(p.to_path_buf())
}

fn args(input: &SpecInput) -> Result<Vec<String>, SpecError> {
    let cmd = command(input.config);
    if cmd.is_empty() {
        return Err(SpecError::NoCommand);
    }
    match (&input.init_path, input.host_config.init) {
        (Some(init), Some(true)) => {
            let mut a = vec![
                init.to_string_lossy().into_owned(),
                "init".into(),
                "--".into(),
            ];
            a.extend(cmd);
            Ok(a)
        }
        (None, Some(true)) => Err(SpecError::invalid(
            "init",
            true,
            "the engine did not provide an init binary",
        )),
        _ => Ok(cmd),
    }
}

fn process(
    input: &SpecInput,
    security: &SecurityOpts,
    cap_names: &[String],
    exec_user: &ExecUser,
    hostname: Option<&str>,
) -> Result<Process, SpecError> {
    let c = input.config;
    let hc = input.host_config;
    let mut user = User::default();
    user.set_uid(exec_user.uid);
    user.set_gid(exec_user.gid);
    user.set_additional_gids(Some(exec_user.additional_gids.clone()).filter(|g| !g.is_empty()));
    let mut p = Process::default();
    p.set_terminal(Some(c.tty));
    p.set_console_size(match hc.console_size {
        Some([h, w]) if c.tty && h > 0 && w > 0 => {
            ConsoleBoxBuilder::default().height(h).width(w).build().ok()
        }
        _ => None,
    });
    p.set_user(user);
    p.set_args(Some(args(input)?));
    p.set_env(Some(environment(c, hostname, &exec_user.home)));
    p.set_cwd(working_dir(c)?);
    p.set_capabilities(Some(caps::linux_capabilities(cap_names, exec_user.uid)));
    p.set_rlimits(resources::rlimits(&hc.ulimits)?);
    p.set_no_new_privileges(Some(true).filter(|_| security.no_new_privileges));
    p.set_apparmor_profile(security.apparmor.clone());
    p.set_oom_score_adj(Some(hc.oom_score_adj as i32));
    Ok(p)
}

fn all_mounts(
    input: &SpecInput,
    security: &SecurityOpts,
) -> Result<Vec<oci_spec::runtime::Mount>, SpecError> {
    let hc = input.host_config;
    let defaults = mounts::defaults(&Defaults {
        shm_size: hc.shm_size,
        ipc_mode: hc.ipc_mode.clone(),
        writable_sys: hc.privileged,
        writable_cgroups: security.writable_cgroups,
    })?;
    let user = mounts::user_mounts(&input.mounts, hc)?;
    Ok(mounts::combine(defaults, user))
}

fn namespace(typ: LinuxNamespaceType, path: Option<&PathBuf>) -> LinuxNamespace {
    let mut ns = LinuxNamespace::default();
    ns.set_typ(typ);
    ns.set_path(path.cloned());
    ns
}

/// Docker's namespaces: mount, network, uts, pid, ipc, and cgroup when private.
fn namespaces(input: &SpecInput) -> Vec<LinuxNamespace> {
    use LinuxNamespaceType as T;
    let hc = input.host_config;
    let paths = &input.namespaces;
    let mut list = vec![namespace(T::Mount, None)];
    if !is_host_network(hc) || input.config.network_disabled {
        list.push(namespace(T::Network, paths.network.as_ref()));
    }
    if hc.uts_mode != "host" {
        list.push(namespace(T::Uts, None));
    }
    if hc.pid_mode != "host" {
        list.push(namespace(T::Pid, paths.pid.as_ref()));
    }
    if hc.ipc_mode != "host" {
        list.push(namespace(T::Ipc, paths.ipc.as_ref()));
    }
    let private_cgroupns = match hc.cgroupns_mode.as_str() {
        "private" => true,
        "host" => false,
        _ => input.host.cgroup2(),
    };
    if private_cgroupns {
        list.push(namespace(T::Cgroup, None));
    }
    list
}

fn cgroups_path(input: &SpecInput) -> PathBuf {
    let parent = if input.host_config.cgroup_parent.is_empty() {
        input.cgroup_parent.as_str()
    } else {
        input.host_config.cgroup_parent.as_str()
    };
    if parent.is_empty() {
        PathBuf::from(input.id)
    } else {
        Path::new(parent).join(input.id)
    }
}

fn linux_resources(
    input: &SpecInput,
    dev_rules: Vec<oci_spec::runtime::LinuxDeviceCgroup>,
) -> Result<LinuxResources, SpecError> {
    let hc = input.host_config;
    let mut r = LinuxResources::default();
    r.set_devices(Some(dev_rules));
    r.set_memory(resources::memory(hc)?);
    r.set_cpu(resources::cpu(input.host, hc)?);
    r.set_pids(resources::pids(hc));
    r.set_block_io(resources::block_io(input.host, hc)?);
    Ok(r)
}

/// Sysctls, refused when they would change the host's namespaces.
fn sysctls(hc: &HostConfig) -> Result<Option<HashMap<String, String>>, SpecError> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    for key in hc.sysctls.keys() {
        let ipc = IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.");
        let net = key.starts_with("net.");
        let uts = key == "kernel.domainname" || key == "kernel.hostname";
        let reason = if net && is_host_network(hc) {
            "not allowed in the host's network namespace"
        } else if ipc && hc.ipc_mode == "host" {
            "not allowed in the host's ipc namespace"
        } else if uts && hc.uts_mode == "host" {
            "not allowed in the host's uts namespace"
        } else if !(net || ipc || uts) {
            "not namespaced, so a container may not set it"
        } else {
            continue;
        };
        return Err(SpecError::invalid("sysctl", key, reason));
    }
    Ok(Some(hc.sysctls.clone().into_iter().collect()).filter(|m: &HashMap<_, _>| !m.is_empty()))
}

fn linux(
    input: &SpecInput,
    security: &SecurityOpts,
    cap_names: &[String],
    mounts: &[oci_spec::runtime::Mount],
) -> Result<Linux, SpecError> {
    let hc = input.host_config;
    let devs = devices::devices(
        input.host,
        &hc.devices,
        &hc.device_cgroup_rules,
        hc.privileged,
    )?;
    let arch = input.host.arch();
    let target = Target {
        caps: cap_names,
        arch: &arch,
        kernel: input.host.kernel(),
    };
    let unmasked = hc.privileged || security.unconfined_paths;
    let paths = |given: &Option<Vec<String>>, defaults: &[&str]| -> Option<Vec<String>> {
        if unmasked {
            return None;
        }
        let list = given
            .clone()
            .unwrap_or_else(|| defaults.iter().map(|s| s.to_string()).collect());
        Some(list).filter(|l| !l.is_empty())
    };
    let mut linux = Linux::default();
    linux.set_cgroups_path(Some(cgroups_path(input)));
    linux.set_namespaces(Some(namespaces(input)));
    linux.set_resources(Some(linux_resources(input, devs.rules)?));
    linux.set_devices(Some(devs.nodes).filter(|n| !n.is_empty()));
    linux.set_seccomp(security::seccomp_filter(
        &security.seccomp,
        hc.privileged,
        &target,
    )?);
    linux.set_masked_paths(paths(&hc.masked_paths, MASKED_PATHS));
    linux.set_readonly_paths(paths(&hc.readonly_paths, READONLY_PATHS));
    linux.set_sysctl(sysctls(hc)?);
    linux.set_rootfs_propagation(mounts::rootfs_propagation(mounts));
    Ok(linux)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::host::StaticHost;

    struct Fixture {
        rootfs: tempfile::TempDir,
        host: StaticHost,
    }

    impl Fixture {
        fn new() -> Fixture {
            let rootfs = tempfile::tempdir().unwrap();
            std::fs::create_dir(rootfs.path().join("etc")).unwrap();
            std::fs::write(
                rootfs.path().join("etc/passwd"),
                "root:x:0:0:root:/root:/bin/sh\nsvc:x:100:101::/srv:/bin/sh\n",
            )
            .unwrap();
            Fixture {
                rootfs,
                host: StaticHost::default(),
            }
        }

        fn spec(&self, c: &ContainerConfig, hc: &HostConfig) -> Result<Spec, SpecError> {
            to_oci(&SpecInput::new(
                "0123456789abcdef",
                c,
                hc,
                self.rootfs.path(),
                &self.host,
            ))
        }
    }

    fn cmd() -> ContainerConfig {
        ContainerConfig {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        }
    }

    #[test]
    fn hostname_defaults_to_the_short_id_and_env_to_docker_s() {
        let f = Fixture::new();
        let s = f.spec(&cmd(), &HostConfig::default()).unwrap();
        assert_eq!(s.hostname().as_deref(), Some("0123456789ab"));
        let env = s.process().as_ref().unwrap().env().clone().unwrap();
        assert_eq!(
            env,
            [
                format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=0123456789ab".into(),
                "HOME=/root".into()
            ]
        );
    }

    #[test]
    fn env_entries_replace_remove_and_append() {
        let c = ContainerConfig {
            env: vec![
                "PATH=/bin".into(),
                "HOSTNAME".into(),
                "HOME=/h".into(),
                "A=1".into(),
            ],
            tty: true,
            ..cmd()
        };
        let env = environment(&c, Some("h"), "/root");
        assert_eq!(env, ["PATH=/bin", "TERM=xterm", "HOME=/h", "A=1"]);
    }

    #[test]
    fn named_user_gets_its_ids_home_and_no_effective_caps() {
        let f = Fixture::new();
        let c = ContainerConfig {
            user: "svc".into(),
            ..cmd()
        };
        let s = f.spec(&c, &HostConfig::default()).unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (100, 101));
        assert!(p.env().as_ref().unwrap().contains(&"HOME=/srv".to_string()));
        assert!(p
            .capabilities()
            .as_ref()
            .unwrap()
            .effective()
            .as_ref()
            .unwrap()
            .is_empty());
        let c = ContainerConfig {
            user: "ghost".into(),
            ..cmd()
        };
        let e = f.spec(&c, &HostConfig::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find user ghost: no matching entries in passwd file"
        );
    }

    #[test]
    fn host_modes_drop_namespaces() {
        let f = Fixture::new();
        let hc = HostConfig {
            network_mode: "host".into(),
            pid_mode: "host".into(),
            ipc_mode: "host".into(),
            uts_mode: "host".into(),
            ..Default::default()
        };
        let s = f.spec(&cmd(), &hc).unwrap();
        let ns: Vec<LinuxNamespaceType> = s
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .clone()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect();
        assert_eq!(ns, [LinuxNamespaceType::Mount, LinuxNamespaceType::Cgroup]);
        assert_eq!(s.hostname(), &None);
    }

    #[test]
    fn host_network_takes_the_host_s_name() {
        let f = Fixture::new();
        let hc = HostConfig {
            network_mode: "host".into(),
            ..Default::default()
        };
        assert_eq!(
            f.spec(&cmd(), &hc).unwrap().hostname().as_deref(),
            Some("host")
        );
    }

    #[test]
    fn cgroup_namespace_follows_the_host_s_cgroup_version() {
        let mut f = Fixture::new();
        let has_cgroupns = |s: &Spec| {
            s.linux()
                .as_ref()
                .unwrap()
                .namespaces()
                .as_ref()
                .unwrap()
                .iter()
                .any(|n| n.typ() == LinuxNamespaceType::Cgroup)
        };
        assert!(has_cgroupns(
            &f.spec(&cmd(), &HostConfig::default()).unwrap()
        ));
        f.host.cgroup2 = false;
        assert!(!has_cgroupns(
            &f.spec(&cmd(), &HostConfig::default()).unwrap()
        ));
        let hc = HostConfig {
            cgroupns_mode: "private".into(),
            ..Default::default()
        };
        assert!(has_cgroupns(&f.spec(&cmd(), &hc).unwrap()));
    }

    #[test]
    fn joined_namespaces_and_cgroup_paths() {
        let f = Fixture::new();
        let c = cmd();
        let hc = HostConfig {
            network_mode: "container:abc".into(),
            ..Default::default()
        };
        let mut input = SpecInput::new("abcdef", &c, &hc, f.rootfs.path(), &f.host);
        assert!(to_oci(&input).is_err());
        input.namespaces.network = Some("/proc/42/ns/net".into());
        input.cgroup_parent = String::new();
        let s = to_oci(&input).unwrap();
        let linux = s.linux().as_ref().unwrap();
        let net = linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .find(|n| n.typ() == LinuxNamespaceType::Network)
            .unwrap();
        assert_eq!(net.path().as_deref(), Some(Path::new("/proc/42/ns/net")));
        assert_eq!(linux.cgroups_path().as_deref(), Some(Path::new("abcdef")));
        let hc = HostConfig {
            cgroup_parent: "/custom".into(),
            ..Default::default()
        };
        let s = f.spec(&c, &hc).unwrap();
        assert_eq!(
            s.linux().as_ref().unwrap().cgroups_path().as_deref(),
            Some(Path::new("/custom/0123456789abcdef"))
        );
    }

    #[test]
    fn init_wraps_the_command() {
        let f = Fixture::new();
        let c = cmd();
        let hc = HostConfig {
            init: Some(true),
            ..Default::default()
        };
        let mut input = SpecInput::new("abcdef", &c, &hc, f.rootfs.path(), &f.host);
        assert!(to_oci(&input).is_err());
        input.init_path = Some("/sbin/tug-init".into());
        let s = to_oci(&input).unwrap();
        assert_eq!(
            s.process().as_ref().unwrap().args().clone().unwrap(),
            ["/sbin/tug-init", "init", "--", "sh"]
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let f = Fixture::new();
        let c = ContainerConfig {
            working_dir: "relative".into(),
            ..cmd()
        };
        assert!(f
            .spec(&c, &HostConfig::default())
            .unwrap_err()
            .to_string()
            .contains("absolute path"));
        let bad = [
            HostConfig {
                cap_add: vec!["FLY".into()],
                ..Default::default()
            },
            HostConfig {
                oom_score_adj: 2000,
                ..Default::default()
            },
            HostConfig {
                userns_mode: "private".into(),
                ..Default::default()
            },
            HostConfig {
                sysctls: [("kernel.panic".to_string(), "1".to_string())].into(),
                ..Default::default()
            },
            HostConfig {
                network_mode: "host".into(),
                sysctls: [("net.ipv4.ip_forward".to_string(), "1".to_string())].into(),
                ..Default::default()
            },
            HostConfig {
                security_opt: vec!["label=type:x".into()],
                ..Default::default()
            },
        ];
        for hc in bad {
            assert!(f.spec(&cmd(), &hc).is_err(), "{hc:?} accepted");
        }
        assert!(matches!(
            f.spec(&ContainerConfig::default(), &HostConfig::default()),
            Err(SpecError::NoCommand)
        ));
    }

    #[test]
    fn masked_paths_can_be_replaced_or_unconfined() {
        let f = Fixture::new();
        let hc = HostConfig {
            masked_paths: Some(vec!["/proc/x".into()]),
            readonly_paths: Some(vec![]),
            ..Default::default()
        };
        let s = f.spec(&cmd(), &hc).unwrap();
        let l = s.linux().as_ref().unwrap();
        assert_eq!(l.masked_paths().clone().unwrap(), ["/proc/x"]);
        assert_eq!(l.readonly_paths(), &None);
        let hc = HostConfig {
            security_opt: vec!["systempaths=unconfined".into()],
            ..Default::default()
        };
        let s = f.spec(&cmd(), &hc).unwrap();
        assert_eq!(s.linux().as_ref().unwrap().masked_paths(), &None);
    }

    #[test]
    fn console_size_only_with_a_tty() {
        let f = Fixture::new();
        let hc = HostConfig {
            console_size: Some([40, 120]),
            ..Default::default()
        };
        let s = f.spec(&cmd(), &hc).unwrap();
        assert!(s.process().as_ref().unwrap().console_size().is_none());
        let c = ContainerConfig { tty: true, ..cmd() };
        let s = f.spec(&c, &hc).unwrap();
        let b = s.process().as_ref().unwrap().console_size().unwrap();
        assert_eq!((b.height(), b.width()), (40, 120));
    }
}
