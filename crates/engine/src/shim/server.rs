//! The shim process itself: start the container, then one poll loop over its output, the
//! control socket and attached clients, until the container exits.

use super::logfile::LogFile;
use super::proto::{frame_header, ExitInfo, Request, StateReply, EXIT_FILE, SOCKET};
use super::ShimConfig;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use runtime::container::{self, CreateOpts};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

/// An attached client.
struct Attached {
    conn: UnixStream,
    stdin: bool,
    stdout: bool,
    stderr: bool,
}

/// The container's end of things, as the shim holds it.
pub(super) struct Io {
    /// Where stdin typed by clients goes (pipe write end or pty master).
    pub(super) stdin: Option<OwnedFd>,
    /// Output to read: (stream, fd). A pty is one stream, stdout.
    pub(super) outputs: Vec<(u8, OwnedFd)>,
    /// The pty master, for resizing.
    pub(super) master: Option<OwnedFd>,
}

/// Run the shim for `cfg`; `ready` receives `{"pid":N}` or `{"error":…}`. Never returns.
pub fn run(cfg: ShimConfig, ready: OwnedFd) -> ! {
    // Detach: the daemon's child returns at once; the shim lives on in its own session.
    // SAFETY: single-threaded here; the parent only exits.
    match unsafe { libc::fork() } {
        0 => {}
        pid if pid > 0 => std::process::exit(0),
        _ => report_and_exit(&ready, Err("fork failed".into())),
    }
    // SAFETY: plain process-attribute calls.
    unsafe {
        libc::setsid();
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let _ = std::env::set_current_dir("/");
    let listener = match bind(&cfg) {
        Ok(l) => l,
        Err(e) => report_and_exit(&ready, Err(e)),
    };
    let (pid, io) = match create_container(&cfg) {
        Ok(v) => v,
        Err(e) => report_and_exit(&ready, Err(e)),
    };
    let mut log = LogFile::open(&cfg.log, cfg.log_max_size, cfg.log_max_files).ok();
    report(&ready, Ok(pid));
    drop(ready);
    quiet_stdio();
    let (clients, waiters) = accept_early_attaches(&cfg, &listener, &io);
    if let Err(e) = super::external::start_container(&cfg) {
        if let Some(l) = log.as_mut() {
            let _ = l.write(2, format!("tug: start container: {e}\n").as_bytes());
        }
        super::external::delete_container(&cfg);
        finish(&cfg, 127, &listener)
    }
    super::pages::drop_clean_pages();
    let status = serve(&cfg, pid, io, &listener, log.as_mut(), clients, waiters);
    finish(&cfg, status, &listener)
}

fn report(ready: &OwnedFd, r: Result<i32, String>) {
    let msg = match r {
        Ok(pid) => serde_json::json!({"pid": pid}),
        Err(e) => serde_json::json!({"error": e}),
    };
    // One line: the daemon reads up to the newline, not to EOF (the container's init holds a
    // copy of this pipe until it execs).
    let _ = nix::unistd::write(ready, (msg.to_string() + "\n").as_bytes());
}

fn report_and_exit(ready: &OwnedFd, r: Result<i32, String>) -> ! {
    report(ready, r);
    std::process::exit(1)
}

fn quiet_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto our own stdio numbers.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

pub(super) fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

/// Before the start: wait (10 s at most) for the attach clients the daemon announced.
fn accept_early_attaches(
    cfg: &ShimConfig,
    listener: &UnixListener,
    io: &Io,
) -> (Vec<Attached>, Vec<UnixStream>) {
    let mut clients = Vec::new();
    let mut waiters = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (clients.len() as u32) < cfg.wait_attach && std::time::Instant::now() < deadline {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0) > 0 {
            if let Ok((conn, _)) = listener.accept() {
                handle(cfg, 0, None, conn, io, &mut clients, &mut waiters);
            }
        }
    }
    (clients, waiters)
}

fn create_container(cfg: &ShimConfig) -> Result<(i32, Io), String> {
    if let Some(ext) = &cfg.external {
        return super::external::create(cfg, ext);
    }
    let mut opts = CreateOpts {
        root: cfg.runtime_root.clone(),
        id: cfg.id.clone(),
        bundle: cfg.bundle.clone(),
        ..Default::default()
    };
    let mut io = Io {
        stdin: None,
        outputs: Vec::new(),
        master: None,
    };
    let console = if cfg.tty {
        let (ours, theirs) = runtime::tty::local_console().map_err(|e| e.to_string())?;
        opts.console = Some(theirs);
        Some(ours)
    } else {
        let null = || {
            std::fs::File::open("/dev/null")
                .map(OwnedFd::from)
                .map_err(|e| e.to_string())
        };
        let stdin_r = if cfg.stdin {
            let (r, w) = pipe()?;
            io.stdin = Some(w);
            r
        } else {
            null()?
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        io.outputs = vec![(1, out_r), (2, err_r)];
        opts.stdio = Some([stdin_r, out_w, err_w]);
        None
    };
    let record = container::create(opts).map_err(|e| e.to_string())?;
    if let Some(c) = console {
        let master = runtime::tty::recv_master(&c).map_err(|e| e.to_string())?;
        let dup = master.try_clone().map_err(|e| e.to_string())?;
        io.outputs = vec![(1, master.try_clone().map_err(|e| e.to_string())?)];
        io.stdin = Some(dup);
        io.master = Some(master);
    }
    Ok((record.pid, io))
}

fn bind(cfg: &ShimConfig) -> Result<UnixListener, String> {
    let path = cfg.dir.join(SOCKET);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(cfg.dir.join(EXIT_FILE));
    let (_dir, short) = super::short_path(&cfg.dir, SOCKET)
        .map_err(|e| format!("open {}: {e}", cfg.dir.display()))?;
    UnixListener::bind(&short).map_err(|e| format!("bind {}: {e}", path.display()))
}

fn write_frame(a: &mut Attached, tty: bool, stream: u8, data: &[u8]) -> bool {
    let wanted = if stream == 2 { a.stderr } else { a.stdout };
    if !wanted {
        return true;
    }
    let r = if tty {
        a.conn.write_all(data)
    } else {
        a.conn
            .write_all(&frame_header(stream, data.len()))
            .and_then(|_| a.conn.write_all(data))
    };
    r.is_ok()
}

/// The exit status of the container's init, once known.
type Status = Option<i32>;

/// Idle time after some activity before the shim gives back its clean code pages.
const IDLE_MS: u16 = 5000;

fn serve(
    cfg: &ShimConfig,
    pid: i32,
    mut io: Io,
    listener: &UnixListener,
    mut log: Option<&mut LogFile>,
    mut clients: Vec<Attached>,
    mut waiters: Vec<UnixStream>,
) -> i32 {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    let _ = mask.thread_block();
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .expect("signalfd");
    let mut status: Status = reap(pid);
    // Whether code pages may have been faulted in since they were last dropped (pages.rs).
    let mut touched = true;
    while status.is_none() || !io.outputs.is_empty() {
        let mut fds = vec![
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
        ];
        for (_, fd) in &io.outputs {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        let stdin_clients: Vec<usize> = clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.stdin)
            .map(|(i, _)| i)
            .collect();
        for &i in &stdin_clients {
            fds.push(PollFd::new(clients[i].conn.as_fd(), PollFlags::POLLIN));
        }
        // After exit, drain what is left without blocking forever on a pipe a stray process holds.
        let timeout = if status.is_some() {
            PollTimeout::from(100u16)
        } else if touched {
            PollTimeout::from(IDLE_MS)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) if status.is_some() => break,
            Ok(0) => {
                super::pages::drop_clean_pages();
                touched = false;
                continue;
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => touched = true,
            Err(_) => break,
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[1] {
            if let Ok((conn, _)) = listener.accept() {
                handle(cfg, pid, status, conn, &io, &mut clients, &mut waiters);
            }
        }
        let n_out = io.outputs.len();
        let mut closed = Vec::new();
        for (k, (stream, fd)) in io.outputs.iter().enumerate() {
            if !ready[2 + k] {
                continue;
            }
            let mut buf = [0u8; 32 * 1024];
            match nix::unistd::read(fd.as_fd(), &mut buf) {
                Ok(0) | Err(_) => closed.push(k),
                Ok(n) => {
                    if let Some(l) = log.as_deref_mut() {
                        let _ = l.write(*stream, &buf[..n]);
                    }
                    clients.retain_mut(|c| write_frame(c, cfg.tty, *stream, &buf[..n]));
                }
            }
        }
        for k in closed.into_iter().rev() {
            io.outputs.remove(k);
        }
        // After the output read in this round (what the container wrote before it exited is
        // in the log before waiters hear of the exit).
        if ready[0] {
            while sfd.read_signal().ok().flatten().is_some() {}
            status = status.or_else(|| reap(pid));
            if status.is_some() {
                answer_waiters(&mut waiters, cfg, pid, status);
            }
        }
        for (j, &i) in stdin_clients.iter().enumerate().rev() {
            if ready.get(2 + n_out + j).copied().unwrap_or(false) {
                forward_stdin(&mut clients, i, &mut io);
            }
        }
    }
    if let Some(l) = log {
        let _ = l.flush();
    }
    let code = status.unwrap_or(255);
    answer_waiters(&mut waiters, cfg, pid, Some(code));
    code
}

/// Copy what a client typed to the container; on the client's EOF, close the container's stdin.
fn forward_stdin(clients: &mut Vec<Attached>, i: usize, io: &mut Io) {
    let mut buf = [0u8; 16 * 1024];
    let n = nix::unistd::read(clients[i].conn.as_fd(), &mut buf).unwrap_or(0);
    if n == 0 {
        clients[i].stdin = false;
        if io.master.is_none() {
            io.stdin = None;
        }
        return;
    }
    if let Some(fd) = &io.stdin {
        let _ = nix::unistd::write(fd, &buf[..n]);
    }
}

fn reap(pid: i32) -> Status {
    let mut found = None;
    loop {
        let mut st = 0;
        // SAFETY: waitpid with a valid status pointer; we are the subreaper of the container.
        let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if r <= 0 {
            return found;
        }
        if r == pid {
            found = Some(if libc::WIFEXITED(st) {
                libc::WEXITSTATUS(st)
            } else {
                128 + libc::WTERMSIG(st)
            });
        }
    }
}

fn state(pid: i32, status: Status, cfg: &ShimConfig) -> StateReply {
    StateReply {
        pid,
        running: status.is_none(),
        exit: status.map(|code| exit_info(cfg, code)),
    }
}

fn exit_info(cfg: &ShimConfig, code: i32) -> ExitInfo {
    let oom = container::oom_kills(&cfg.runtime_root, &cfg.id).unwrap_or(0) > 0;
    ExitInfo {
        exit_code: code,
        finished_at: runtime::util::rfc3339_now(),
        oom_killed: oom,
    }
}

fn answer_waiters(waiters: &mut Vec<UnixStream>, cfg: &ShimConfig, pid: i32, status: Status) {
    let line = serde_json::to_string(&state(pid, status, cfg)).expect("state serializes") + "\n";
    for mut w in waiters.drain(..) {
        let _ = w.write_all(line.as_bytes());
    }
}

fn handle(
    cfg: &ShimConfig,
    pid: i32,
    status: Status,
    conn: UnixStream,
    io: &Io,
    clients: &mut Vec<Attached>,
    waiters: &mut Vec<UnixStream>,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut conn = reader.into_inner();
    let _ = conn.set_read_timeout(None);
    let reply = |conn: &mut UnixStream, v: &serde_json::Value| {
        let _ = conn.write_all((v.to_string() + "\n").as_bytes());
    };
    match serde_json::from_str::<Request>(line.trim()) {
        Ok(Request::State) => reply(
            &mut conn,
            &serde_json::to_value(state(pid, status, cfg)).expect("serializes"),
        ),
        Ok(Request::Wait) if status.is_some() => reply(
            &mut conn,
            &serde_json::to_value(state(pid, status, cfg)).expect("serializes"),
        ),
        Ok(Request::Wait) => waiters.push(conn),
        Ok(Request::Kill { signal }) => {
            let r = super::external::kill_container(cfg, signal);
            reply(&mut conn, &serde_json::json!({"error": r.err()}));
        }
        Ok(Request::Resize { height, width }) => {
            if let Some(m) = &io.master {
                runtime::tty::set_size(m.as_raw_fd(), height, width);
            }
            reply(&mut conn, &serde_json::json!({}));
        }
        Ok(Request::Attach {
            stdin,
            stdout,
            stderr,
        }) => {
            reply(&mut conn, &serde_json::json!({}));
            clients.push(Attached {
                conn,
                stdin: stdin && io.stdin.is_some(),
                stdout,
                stderr,
            });
        }
        Err(e) => reply(
            &mut conn,
            &serde_json::json!({"error": format!("bad request: {e}")}),
        ),
    }
}

/// The container is gone: delete it, record how it ended, and end the shim.
fn finish(cfg: &ShimConfig, code: i32, listener: &UnixListener) -> ! {
    let info = exit_info(cfg, code);
    super::external::delete_container(cfg);
    let data = serde_json::to_vec(&info).expect("serializes");
    let _ = runtime::util::write_atomic(&cfg.dir.join(EXIT_FILE), &data);
    let _ = std::fs::remove_file(cfg.dir.join(SOCKET));
    let _ = listener;
    std::process::exit(0)
}

/// For callers holding a raw descriptor number handed over at exec (the ready pipe).
///
/// # Safety
/// `fd` must be an open descriptor that nothing else owns.
pub unsafe fn owned(fd: i32) -> OwnedFd {
    // SAFETY: guaranteed by the caller.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
