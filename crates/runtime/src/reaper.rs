//! `tug init`: a minimal init for PID 1 of a container (`docker run --init`). It runs the
//! command as its child, forwards the signals it gets to it, reaps every orphan that the
//! container's processes leave behind, and exits with the command's status.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::ffi::CString;

/// Signals that are about the init process itself, never forwarded (as tini leaves them).
const OWN: [Signal; 9] = [
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
];

/// Run `args` under this init; returns the exit code to exit with.
pub fn run(args: &[String]) -> i32 {
    if args.is_empty() {
        eprintln!("tug init: no command given: usage: tug init -- COMMAND [ARG...]");
        return 2;
    }
    let argv: Vec<CString> = match args.iter().map(|a| CString::new(a.as_bytes())).collect() {
        Ok(v) => v,
        Err(_) => {
            eprintln!("tug init: an argument contains a NUL byte");
            return 2;
        }
    };
    // SAFETY: getpid and prctl(PR_SET_CHILD_SUBREAPER) take no pointers.
    unsafe {
        if libc::getpid() != 1 {
            // Not PID 1 of a namespace: orphans must still come to us.
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
    }
    let mut set = SigSet::all();
    for s in OWN {
        set.remove(s);
    }
    let mut old = SigSet::empty();
    if let Err(e) = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
    {
        eprintln!("tug init: block signals: {e}");
        return 1;
    }
    let sfd = match SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("tug init: signalfd: {e}");
            return 1;
        }
    };
    // SAFETY: fork in a single-threaded process (init runs nothing else); the child only
    // calls async-signal-safe functions before exec.
    let child = unsafe { libc::fork() };
    if child < 0 {
        eprintln!("tug init: fork: {}", std::io::Error::last_os_error());
        return 1;
    }
    if child == 0 {
        exec_child(&argv, &old);
    }
    supervise(child, &sfd)
}

/// In the child: own process group (the terminal's foreground one, with a tty), the signal
/// mask the init had, then the command.
fn exec_child(argv: &[CString], mask: &SigSet) -> ! {
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(mask), None);
    // SAFETY: setpgid/isatty/tcsetpgrp/signal take integers; execvp gets NUL-terminated
    // strings that outlive the call; _exit never returns.
    unsafe {
        libc::setpgid(0, 0);
        if libc::isatty(0) == 1 {
            // Becoming the foreground group from the background raises SIGTTOU: ignore it.
            let prev = libc::signal(libc::SIGTTOU, libc::SIG_IGN);
            libc::tcsetpgrp(0, libc::getpid());
            libc::signal(libc::SIGTTOU, prev);
        }
        let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        libc::execvp(ptrs[0], ptrs.as_ptr());
        let err = std::io::Error::last_os_error();
        let msg = format!("tug init: exec {}: {err}\n", argv[0].to_string_lossy());
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(if err.raw_os_error() == Some(libc::ENOENT) {
            127
        } else {
            126
        });
    }
}

/// Forward signals to the child and reap everything until the child exits.
fn supervise(child: libc::pid_t, sfd: &SignalFd) -> i32 {
    loop {
        let info = match sfd.read_signal() {
            Ok(Some(i)) => i,
            Ok(None) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                eprintln!("tug init: read signals: {e}");
                return 1;
            }
        };
        let signo = info.ssi_signo as i32;
        if signo != libc::SIGCHLD {
            // SAFETY: kill(2) of our own child with the signal we received.
            unsafe { libc::kill(child, signo) };
            continue;
        }
        if let Some(code) = reap(child) {
            return code;
        }
    }
}

/// Reap every exited child; the command's exit code once it is among them.
fn reap(child: libc::pid_t) -> Option<i32> {
    let mut result = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return result;
        }
        if pid == child {
            result = Some(crate::foreground::exit_code(status));
        }
    }
}
