//! The processes that become a container: stage 1 joins namespaces and clones the init into
//! new ones; the init (stage 2) builds the container's world, waits for `start`, and execs.

use crate::cgroups::CgroupPaths;
use crate::channel::{Channel, Msg};
use crate::error::{Error, Result};
use crate::state::{OciState, START_SOCKET};
use crate::{hooks, namespaces, process, rootfs, seccomp, spec};
use oci_spec::runtime::{LinuxNamespaceType as T, Process, Spec};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Everything the container init needs, prepared by `create` before it forks.
pub struct InitArgs<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub cgroup: &'a CgroupPaths,
    pub console: Option<RawFd>,
    pub preserve_fds: usize,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// Descriptors to become the process's stdin, stdout and stderr.
    pub stdio: Option<[RawFd; 3]>,
    /// The state directory and the start socket listening in it (see `listen_for_start`).
    pub start: (&'a OwnedFd, &'a OwnedFd),
}

/// End a forked child without running the parent's destructors or atexit handlers.
pub fn child_exit(code: i32) -> ! {
    // SAFETY: _exit is always safe; it ends this process only.
    unsafe { libc::_exit(code) }
}

fn report(ch: &Channel, r: Result<std::convert::Infallible>) -> ! {
    let Err(e) = r;
    let _ = ch.send(&Msg::Failed(e.to_string()));
    child_exit(1)
}

/// Stage 1 of `create`, in a child of the runtime: join namespaces given by path, unshare the
/// time namespace, then clone the init into the new namespaces. Never returns.
pub fn stage1(ch: &Channel, args: &InitArgs) -> ! {
    let r = (|| -> Result<libc::pid_t> {
        let list = spec::namespaces(args.spec);
        namespaces::join_all(list)?;
        if namespaces::is_new(list, T::Time) {
            nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(
                libc::CLONE_NEWTIME,
            ))
            .map_err(|e| Error::sys("unshare time namespace", e))?;
            if let Some(linux) = args.spec.linux() {
                namespaces::write_time_offsets(linux)?;
            }
        }
        let flags = namespaces::new_flags(list) | libc::CLONE_PARENT;
        // SAFETY: the runtime is single-threaded, so a fork-like clone is sound.
        let pid = unsafe { namespaces::clone_fork(flags)? };
        if pid == 0 {
            report(ch, init(ch, args));
        }
        Ok(pid)
    })();
    match r {
        Ok(pid) => {
            let ok = ch.send(&Msg::InitPid(pid)).is_ok();
            child_exit(if ok { 0 } else { 1 })
        }
        Err(e) => {
            let _ = ch.send(&Msg::Failed(e.to_string()));
            child_exit(1)
        }
    }
}

fn container_process(spec: &Spec) -> &Process {
    spec.process().as_ref().expect("validated: process present")
}

/// The container's init. Returns only with an error (on success it has exec'd).
fn init(ch: &Channel, args: &InitArgs) -> Result<std::convert::Infallible> {
    let Some(Msg::Go(host_pid)) = Some(ch.expect("go", |m| matches!(m, Msg::Go(_)))?) else {
        unreachable!()
    };
    let list = spec::namespaces(args.spec);
    let userns = spec::has_ns(args.spec, T::User);
    if namespaces::is_new(list, T::User) {
        become_root_in_userns()?;
    }
    if namespaces::is_new(list, T::Cgroup) {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| Error::sys("unshare cgroup namespace", e))?;
    }
    nix::unistd::setsid().map_err(|e| Error::sys("setsid", e))?;
    set_hostname(args.spec)?;
    // SAFETY: umask cannot fail; device nodes and mount points get exactly the modes asked.
    unsafe { libc::umask(0) };
    if !args.no_new_keyring {
        join_session_keyring(args.id);
    }
    let (state_dir, listener) = args.start;
    set_personality(args.spec)?;
    let ctx = rootfs::Ctx {
        spec: args.spec,
        rootfs: args.rootfs,
        bundle: args.bundle,
        cgroup: args.cgroup,
        new_cgroupns: namespaces::is_new(list, T::Cgroup),
        userns,
    };
    let uses_mount_ns = namespaces::is_new(list, T::Mount);
    if uses_mount_ns {
        rootfs::prepare_root(&ctx)?;
        rootfs::mount_all(&ctx)?;
    }
    ch.send(&Msg::RunCreateHooks)?;
    ch.expect("hooks done", |m| *m == Msg::HooksDone)?;
    let state = hook_state(args, host_pid, "created");
    let hooks = args.spec.hooks().as_ref();
    hooks::run_all(
        "createContainer",
        hooks.and_then(|h| h.create_container().as_ref()),
        &state,
    )?;
    if uses_mount_ns {
        rootfs::enter_root(args.rootfs, args.no_pivot)?;
    } else {
        nix::unistd::chroot(args.rootfs).map_err(|e| Error::sys("chroot", e))?;
        nix::unistd::chdir("/").map_err(|e| Error::sys("chdir /", e))?;
    }
    let p = container_process(args.spec);
    if p.terminal().unwrap_or(false) {
        let socket = args.console.ok_or_else(|| {
            Error::Unsupported("process.terminal is true: a console socket is required".into())
        })?;
        crate::tty::setup_console(
            socket,
            p.console_size()
                .map(|b| (b.height() as u16, b.width() as u16)),
        )?;
    }
    if let Some(fds) = args.stdio {
        set_stdio(fds)?;
    }
    if let Some(c) = args.console {
        // SAFETY: the console socket is ours and no longer needed.
        unsafe { libc::close(c) };
    }
    write_sysctls(args.spec)?;
    if uses_mount_ns {
        rootfs::finalize(args.spec)?;
    }
    let program = prepare_process(p, args.spec, userns)?;
    ch.send(&Msg::Ready)?;
    let conn = wait_for_start(listener, state_dir)?;
    hooks::run_all(
        "startContainer",
        hooks.and_then(|h| h.start_container().as_ref()),
        &state,
    )?;
    finish_and_exec(&conn, p, args.spec, &program, args.preserve_fds)
}

/// Everything up to exec that may fail visibly: rlimits, seccomp (early unless
/// no_new_privileges), user and capabilities, AppArmor, cwd, program lookup.
pub fn prepare_process(p: &Process, spec: &Spec, userns: bool) -> Result<PathBuf> {
    if let Some(adj) = p.oom_score_adj() {
        crate::util::write_file("/proc/self/oom_score_adj", &adj.to_string())?;
    }
    process::set_rlimits(p)?;
    process::apply_apparmor(p)?;
    let nnp = p.no_new_privileges().unwrap_or(false);
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    if let (false, Some(profile)) = (nnp, seccomp) {
        seccomp::load(profile)?;
    }
    process::set_user_and_caps(p, may_setgroups(userns))?;
    if nnp {
        process::set_no_new_privs()?;
    }
    nix::unistd::chdir(p.cwd())
        .map_err(|e| Error::sys(format!("chdir to cwd {:?}", p.cwd()), e))?;
    let args = p.args().clone().unwrap_or_default();
    let env = p.env().clone().unwrap_or_default();
    process::find_executable(&args[0], &env)
}

/// The last steps: late seccomp, descriptor hygiene, signals, exec. Reports failure on `conn`.
pub fn finish_and_exec(
    conn: &Channel,
    p: &Process,
    spec: &Spec,
    program: &Path,
    preserve_fds: usize,
) -> Result<std::convert::Infallible> {
    conn.send(&Msg::Started)?;
    let nnp = p.no_new_privileges().unwrap_or(false);
    if let (true, Some(profile)) = (
        nnp,
        spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()),
    ) {
        seccomp::load(profile)?;
    }
    process::prepare_fds(preserve_fds)?;
    process::reset_signals();
    let args = p.args().clone().unwrap_or_default();
    let env = p.env().clone().unwrap_or_default();
    let e = process::exec(program, &args, &env);
    // The caller has heard that the program started: as with runc, the reason goes to the
    // container's own stderr (its log), e.g. "exec /app: exec format error".
    let text = match &e {
        Error::Init(m) => format!("{m}\n"),
        other => format!("{other}\n"),
    };
    let _ = nix::unistd::write(std::io::stderr(), text.as_bytes());
    Err(e)
}

/// Make `fds` this process's stdin, stdout and stderr.
pub fn set_stdio(fds: [RawFd; 3]) -> Result<()> {
    for (target, fd) in fds.into_iter().enumerate() {
        // SAFETY: dup2 onto a stdio number; the descriptor is ours and open.
        if fd != target as RawFd && unsafe { libc::dup2(fd, target as RawFd) } < 0 {
            return Err(Error::sys("dup2 stdio", nix::errno::Errno::last()));
        }
    }
    Ok(())
}

fn may_setgroups(userns: bool) -> bool {
    !userns || std::fs::read_to_string("/proc/self/setgroups").map_or(true, |s| s.trim() == "allow")
}

fn become_root_in_userns() -> Result<()> {
    // SAFETY: plain integer syscalls.
    let ok = unsafe { libc::setresgid(0, 0, 0) == 0 && libc::setresuid(0, 0, 0) == 0 };
    if !ok {
        return Err(Error::Init(format!(
            "become root in user namespace: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

fn join_session_keyring(id: &str) {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    if let Ok(name) = std::ffi::CString::new(format!("_ses.{id}")) {
        // SAFETY: keyctl reads a valid C string; failure (e.g. ENOSYS) is harmless here.
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    }
}

fn set_personality(spec: &Spec) -> Result<()> {
    let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) else {
        return Ok(());
    };
    let domain = match serde_json::to_value(p.domain())
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .as_deref()
    {
        Some("LINUX32") => 0x0008,
        _ => 0,
    };
    // SAFETY: personality takes an integer persona.
    if unsafe { libc::personality(domain) } < 0 {
        return Err(Error::Init(format!(
            "personality: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

fn set_hostname(spec: &Spec) -> Result<()> {
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(|e| Error::sys("sethostname", e))?;
    }
    if let Some(d) = spec.domainname().as_ref().filter(|d| !d.is_empty()) {
        let c = std::ffi::CString::new(d.as_str())
            .map_err(|_| Error::Unsupported("domainname contains NUL".into()))?;
        // SAFETY: `c` is a valid C string of the given length.
        if unsafe { libc::setdomainname(c.as_ptr(), d.len()) } != 0 {
            return Err(Error::Init(format!(
                "setdomainname: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

fn write_sysctls(spec: &Spec) -> Result<()> {
    for (k, v) in spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        let path = Path::new("/proc/sys").join(k.replace('.', "/"));
        crate::util::write_file(&path, v)?;
    }
    Ok(())
}

fn hook_state(args: &InitArgs, pid: i32, status: &str) -> OciState {
    OciState {
        oci_version: args.spec.version().clone(),
        id: args.id.to_string(),
        pid,
        status: status.to_string(),
        bundle: args.bundle.to_path_buf(),
        rootfs: args.rootfs.to_path_buf(),
        created: String::new(),
        owner: String::new(),
        annotations: args.spec.annotations().clone().unwrap_or_default(),
    }
}

/// Bind the start socket in the state directory. Done by the runtime before it forks, so the
/// init (perhaps an unprivileged user in a user namespace) only inherits the listener.
/// Returns a descriptor of the state directory (to unlink the socket later) and the listener.
pub fn listen_for_start(dir: &Path) -> Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{
        bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
    };
    let dirfd: OwnedFd = std::fs::File::open(dir)
        .map_err(|e| Error::io("open state dir", dir, e))?
        .into();
    let sock = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys("start socket", e))?;
    let path = PathBuf::from(format!(
        "/proc/self/fd/{}/{START_SOCKET}",
        dirfd.as_raw_fd()
    ));
    let addr = UnixAddr::new(&path).map_err(|e| Error::sys("start socket address", e))?;
    bind(sock.as_raw_fd(), &addr)
        .map_err(|e| Error::sys(format!("bind {}", dir.join(START_SOCKET).display()), e))?;
    listen(&sock, Backlog::new(1).expect("valid backlog"))
        .map_err(|e| Error::sys("listen start socket", e))?;
    Ok((dirfd, sock))
}

fn wait_for_start(listener: &OwnedFd, state_dir: &OwnedFd) -> Result<Channel> {
    loop {
        let fd = match nix::sys::socket::accept4(
            listener.as_raw_fd(),
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        ) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("accept start", e)),
        };
        // SAFETY: accept4 returned a new descriptor that we now own.
        let conn = Channel::from_fd(unsafe { OwnedFd::from_raw_fd(fd) });
        if let Ok(Some(Msg::Start)) = conn.recv() {
            let name = std::ffi::CString::new(START_SOCKET).expect("no NUL");
            // SAFETY: unlinkat on our state dir descriptor with a valid C string.
            unsafe { libc::unlinkat(state_dir.as_raw_fd(), name.as_ptr(), 0) };
            return Ok(conn);
        }
    }
}
