//! `exec`: run another process inside a running container.

use super::load;
use crate::cgroups;
use crate::channel::{Channel, Msg};
use crate::error::{Error, Result};
use crate::init::{child_exit, finish_and_exec, prepare_process};
use crate::namespaces;
use crate::state::Status;
use oci_spec::runtime::{LinuxNamespaceType as T, Process};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct ExecOpts {
    pub root: PathBuf,
    pub id: String,
    pub process: Process,
    pub console: Option<OwnedFd>,
    pub preserve_fds: usize,
    pub pid_file: Option<PathBuf>,
    pub ignore_paused: bool,
}

/// Namespaces of the container's init that differ from ours, the user namespace first.
fn target_namespaces(pid: i32) -> Vec<(PathBuf, T)> {
    let kinds = [
        ("user", T::User),
        ("ipc", T::Ipc),
        ("uts", T::Uts),
        ("net", T::Network),
        ("pid", T::Pid),
        ("cgroup", T::Cgroup),
        ("time", T::Time),
        ("mnt", T::Mount),
    ];
    kinds
        .into_iter()
        .filter_map(|(name, t)| {
            let theirs = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
            let ours = std::fs::read_link(format!("/proc/self/ns/{name}")).ok();
            (std::fs::read_link(&theirs).ok()? != ours?).then_some((theirs, t))
        })
        .collect()
}

/// Start the process; returns its pid (in our pid namespace) once it has exec'd.
pub fn exec(opts: ExecOpts) -> Result<i32> {
    let c = load(&opts.root, &opts.id)?;
    match c.status {
        Status::Running | Status::Created => {}
        Status::Paused if opts.ignore_paused => {}
        s => {
            return Err(Error::WrongState {
                id: opts.id.clone(),
                status: s.as_str(),
                op: "exec",
            })
        }
    }
    let nss = target_namespaces(c.record.pid);
    let userns =
        nss.iter().any(|(_, t)| *t == T::User) || crate::spec::has_ns(&c.record.spec, T::User);
    let (ours, theirs) = Channel::pair()?;
    // SAFETY: the runtime is single-threaded; the child only joins and clones, then exits.
    let stage1 = unsafe { nix::unistd::fork() }.map_err(|e| Error::sys("fork", e))?;
    if let nix::unistd::ForkResult::Child = stage1 {
        drop(ours);
        exec_stage1(&theirs, &nss, &opts, &c.record.spec, userns);
    }
    drop(theirs);
    let first = ours.recv();
    super::create::reap_fork(&stage1);
    let pid = match first? {
        Some(Msg::InitPid(pid)) => pid,
        Some(Msg::Failed(e)) => return Err(Error::Init(e)),
        other => {
            return Err(Error::Init(format!(
                "exec process did not start: {other:?}"
            )))
        }
    };
    crate::warmup::reap_from_env();
    let joined = cgroups::manager(&c.record.cgroup).add_pid(pid);
    if let Err(e) = joined {
        // SAFETY: the process is our child (CLONE_PARENT) and has not exec'd yet.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        return Err(e.into());
    }
    ours.send(&Msg::Go(pid))?;
    ours.expect("started", |m| *m == Msg::Started)?;
    match ours.recv()? {
        None => {}
        Some(Msg::Failed(e)) => return Err(Error::Init(e)),
        Some(m) => return Err(Error::Init(format!("unexpected message {m:?}"))),
    }
    if let Some(p) = &opts.pid_file {
        crate::util::write_atomic(p, pid.to_string().as_bytes())?;
    }
    Ok(pid)
}

fn exec_stage1(
    ch: &Channel,
    nss: &[(PathBuf, T)],
    opts: &ExecOpts,
    spec: &oci_spec::runtime::Spec,
    userns: bool,
) -> ! {
    let r = (|| -> Result<i32> {
        for (path, t) in nss {
            namespaces::join(path, *t)?;
        }
        // SAFETY: single-threaded child; a fork-like clone is sound.
        let pid = unsafe { namespaces::clone_fork(libc::CLONE_PARENT)? };
        if pid == 0 {
            let Err(e) = exec_child(ch, opts, spec, userns);
            let _ = ch.send(&Msg::Failed(e.to_string()));
            child_exit(1);
        }
        Ok(pid)
    })();
    let msg = match r {
        Ok(pid) => Msg::InitPid(pid),
        Err(e) => Msg::Failed(e.to_string()),
    };
    let ok = ch.send(&msg).is_ok() && matches!(msg, Msg::InitPid(_));
    child_exit(if ok { 0 } else { 1 })
}

fn exec_child(
    ch: &Channel,
    opts: &ExecOpts,
    spec: &oci_spec::runtime::Spec,
    userns: bool,
) -> Result<std::convert::Infallible> {
    ch.expect("go", |m| matches!(m, Msg::Go(_)))?;
    let p = &opts.process;
    if p.terminal().unwrap_or(false) {
        nix::unistd::setsid().map_err(|e| Error::sys("setsid", e))?;
        let socket = opts.console.as_ref().ok_or_else(|| {
            Error::Unsupported("a terminal was requested: a console socket is required".into())
        })?;
        let size = p
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        crate::tty::setup_console(socket.as_raw_fd(), size)?;
    }
    let program = prepare_process(p, spec, userns)?;
    finish_and_exec(ch, p, spec, &program, opts.preserve_fds)
}

/// The container's process config with exec's overrides, as `runc exec` builds it.
pub fn process_from_args(
    base: &Process,
    args: Vec<String>,
    extra_env: &[String],
    cwd: Option<&Path>,
) -> Process {
    let mut p = base.clone();
    p.set_args(Some(args));
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(extra_env.iter().cloned());
    p.set_env(Some(env));
    if let Some(cwd) = cwd {
        p.set_cwd(cwd.to_path_buf());
    }
    p.set_terminal(Some(false));
    p
}
