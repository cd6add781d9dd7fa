//! Hiding the kernel's first-migration latency.
//!
//! Moving a process into another cgroup takes a global lock whose first writer after a quiet
//! period waits for an RCU grace period (8–15 ms on small machines); writers right after it are
//! fast. `create` and `exec` must move one process, so they start a throwaway child at once that
//! "moves" itself into the cgroup it is already in: the grace period then passes while the
//! runtime loads the bundle and prepares the container, instead of on its critical path.

/// The cgroup.procs file of the caller's own cgroup in one hierarchy (v2, or the first v1 one).
fn own_procs_file() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let v2 = crate::cgroups::host_mode() == crate::cgroups::HostMode::V2;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let dir = match (v2, controllers) {
            (true, "") => "/sys/fs/cgroup".to_string(),
            (false, c) if !c.is_empty() && !c.starts_with("name=") => {
                format!("/sys/fs/cgroup/{}", c.split(',').next()?)
            }
            _ => return None,
        };
        Some(format!("{dir}{path}/cgroup.procs"))
    })
}

/// Start the warm-up child; returns its pid (to be reaped with `reap`), or None if it could
/// not start (nothing is lost then but the head start).
pub fn start() -> Option<i32> {
    let file = std::ffi::CString::new(own_procs_file()?).ok()?;
    // SAFETY: called while single-threaded; the child only calls async-signal-safe functions
    // (open, write, _exit) on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above; "0" names the writing process itself, which stays where it is.
        unsafe {
            let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd >= 0 {
                libc::write(fd, b"0".as_ptr().cast(), 1);
            }
            libc::_exit(0);
        }
    }
    (pid > 0).then_some(pid)
}

/// Collect the warm-up child (named in `TUG_WARMUP_PID` across the runtime's re-exec).
pub fn reap_from_env() {
    if let Some(pid) = std::env::var("TUG_WARMUP_PID")
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    {
        // SAFETY: waitpid on a specific child of ours; it exits right after one write.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        std::env::remove_var("TUG_WARMUP_PID");
    }
}
