//! `create`: build the container up to the point where only `start` is missing.

use crate::cgroups::{self, CgroupPaths};
use crate::channel::{Channel, Msg};
use crate::error::{Error, Result};
use crate::init::{self, InitArgs};
use crate::state::{self, Record, Status};
use crate::{hooks, namespaces, spec, util};
use oci_spec::runtime::LinuxNamespaceType as T;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Default)]
pub struct CreateOpts {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    /// A connected console socket (from `--console-socket`, or the runtime's own for `run`).
    pub console: Option<OwnedFd>,
    pub preserve_fds: usize,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub systemd_cgroup: bool,
    /// The container process's stdin, stdout and stderr; the caller's own when `None`.
    pub stdio: Option<[OwnedFd; 3]>,
}

/// Undoes a half-made container when create fails at any step.
struct Cleanup<'a> {
    dir: &'a Path,
    cgroup: Option<CgroupPaths>,
    pid: Option<i32>,
    armed: bool,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            // SAFETY: the pid is our container init (our child via CLONE_PARENT); reap it.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        if let Some(c) = &self.cgroup {
            let _ = cgroups::manager(c).destroy();
        }
        let _ = std::fs::remove_dir_all(self.dir);
    }
}

/// `linux.cgroupsPath`, with systemd's "slice:prefix:name" turned into the path systemd uses.
fn cgroups_path(spec: &oci_spec::runtime::Spec, systemd: bool) -> Option<String> {
    let p = spec
        .linux()
        .as_ref()?
        .cgroups_path()
        .as_ref()?
        .to_string_lossy()
        .into_owned();
    if !systemd {
        return Some(p);
    }
    let parts: Vec<&str> = p.split(':').collect();
    match parts.as_slice() {
        [slice, prefix, name] => {
            let slice = if slice.is_empty() {
                "system.slice"
            } else {
                slice
            };
            Some(format!("/{slice}/{prefix}-{name}.scope"))
        }
        _ => Some(p),
    }
}

pub fn create(opts: CreateOpts) -> Result<Record> {
    let dir = state::container_dir(&opts.root, &opts.id)?;
    let bundle = spec::load_bundle(&opts.bundle)?;
    std::fs::create_dir_all(&opts.root)
        .map_err(|e| Error::io("create state root", &opts.root, e))?;
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists(opts.id))
        }
        Err(e) => return Err(Error::io("create state dir", &dir, e)),
    }
    let mut cleanup = Cleanup {
        dir: &dir,
        cgroup: None,
        pid: None,
        armed: true,
    };
    let cg = CgroupPaths::resolve(
        cgroups_path(&bundle.spec, opts.systemd_cgroup).as_deref(),
        &opts.id,
    )?;
    let manager = cgroups::manager(&cg);
    manager.create()?;
    cleanup.cgroup = Some(cg.clone());
    let (dirfd, listener) = init::listen_for_start(&dir)?;
    let args = InitArgs {
        id: &opts.id,
        spec: &bundle.spec,
        rootfs: &bundle.rootfs,
        bundle: &bundle.dir,
        cgroup: &cg,
        console: opts.console.as_ref().map(|c| c.as_raw_fd()),
        preserve_fds: opts.preserve_fds,
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        start: (&dirfd, &listener),
        stdio: opts
            .stdio
            .as_ref()
            .map(|s| [s[0].as_raw_fd(), s[1].as_raw_fd(), s[2].as_raw_fd()]),
    };
    let (ours, theirs) = Channel::pair()?;
    // SAFETY: the runtime is single-threaded; the child only runs stage 1 and exits.
    let stage1 = unsafe { nix::unistd::fork() }.map_err(|e| Error::sys("fork", e))?;
    if let nix::unistd::ForkResult::Child = stage1 {
        drop(ours);
        init::stage1(&theirs, &args);
    }
    drop(theirs);
    drop(args);
    drop(listener);
    drop(dirfd);
    let first = ours.recv();
    reap_fork(&stage1);
    let pid = match first? {
        Some(Msg::InitPid(pid)) => pid,
        Some(Msg::Failed(e)) => return Err(Error::Init(e)),
        other => {
            return Err(Error::Init(format!(
                "container init did not start: {other:?}"
            )))
        }
    };
    cleanup.pid = Some(pid);
    let linux = bundle
        .spec
        .linux()
        .as_ref()
        .expect("validated: linux present");
    if namespaces::is_new(spec::namespaces(&bundle.spec), T::User) {
        namespaces::write_id_maps(pid, linux)?;
    }
    crate::warmup::reap_from_env();
    manager.add_pid(pid)?;
    manager.set(&with_default_devices(linux))?;
    ours.send(&Msg::Go(pid))?;
    ours.expect("mounts ready", |m| *m == Msg::RunCreateHooks)?;
    let pid_start = util::proc_start_time(pid).map(|(t, _)| t).unwrap_or(0);
    let mut record = Record {
        id: opts.id.clone(),
        pid,
        pid_start,
        bundle: bundle.dir,
        rootfs: bundle.rootfs,
        created: util::rfc3339_now(),
        owner: String::new(),
        cgroup: cg.clone(),
        spec: bundle.spec,
        use_systemd_cgroup: opts.systemd_cgroup,
    };
    run_create_hooks(&record)?;
    ours.send(&Msg::HooksDone)?;
    ours.expect("container ready", |m| *m == Msg::Ready)?;
    record.owner = String::new();
    record.save(&opts.root)?;
    if let Some(p) = &opts.pid_file {
        util::write_atomic(p, pid.to_string().as_bytes())?;
    }
    cleanup.armed = false;
    Ok(record)
}

pub(crate) fn reap_fork(f: &nix::unistd::ForkResult) {
    if let nix::unistd::ForkResult::Parent { child } = f {
        let _ = nix::sys::wait::waitpid(*child, None);
    }
}

fn run_create_hooks(record: &Record) -> Result<()> {
    let state = record.oci_state(Status::Creating);
    let hooks = record.spec.hooks().as_ref();
    hooks::run_all(
        "prestart",
        hooks.and_then(|h| h.prestart().as_ref()),
        &state,
    )?;
    hooks::run_all(
        "createRuntime",
        hooks.and_then(|h| h.create_runtime().as_ref()),
        &state,
    )
}

/// The spec's resources with access to the devices every container gets (and those it lists)
/// allowed after its own rules, as runc does.
fn with_default_devices(linux: &oci_spec::runtime::Linux) -> oci_spec::runtime::LinuxResources {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let mut r = linux.resources().clone().unwrap_or_default();
    let mut devices = r.devices().clone().unwrap_or_default();
    let rule = |typ, major, minor| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some("rwm".to_string()));
        d
    };
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        devices.push(rule(LinuxDeviceType::C, Some(major), Some(minor)));
    }
    devices.push(rule(LinuxDeviceType::C, Some(136), None)); // /dev/pts/*
    for d in linux.devices().iter().flatten() {
        devices.push(rule(d.typ(), Some(d.major()), Some(d.minor())));
    }
    r.set_devices(Some(devices));
    r
}
