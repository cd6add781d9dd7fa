//! The container process's own settings, applied by its init just before exec: rlimits, user,
//! capabilities, no_new_privs, AppArmor, seccomp, and the lookup of the program to run.

use crate::error::{Error, Result};
use caps::{CapSet, Capability as Cap, CapsHashSet};
use oci_spec::runtime::{Capabilities, PosixRlimitType, Process};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

pub fn set_rlimits(p: &Process) -> Result<()> {
    for rl in p.rlimits().iter().flatten() {
        let res = rlimit_resource(rl.typ());
        let lim = libc::rlimit {
            rlim_cur: rl.soft(),
            rlim_max: rl.hard(),
        };
        // SAFETY: `lim` is a valid rlimit for the duration of the call.
        if unsafe { libc::setrlimit(res, &lim) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(Error::Init(format!("setrlimit {:?}: {e}", rl.typ())));
        }
    }
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => libc::RLIMIT_CPU,
        T::RlimitFsize => libc::RLIMIT_FSIZE,
        T::RlimitData => libc::RLIMIT_DATA,
        T::RlimitStack => libc::RLIMIT_STACK,
        T::RlimitCore => libc::RLIMIT_CORE,
        T::RlimitRss => libc::RLIMIT_RSS,
        T::RlimitNproc => libc::RLIMIT_NPROC,
        T::RlimitNofile => libc::RLIMIT_NOFILE,
        T::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        T::RlimitAs => libc::RLIMIT_AS,
        T::RlimitLocks => libc::RLIMIT_LOCKS,
        T::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        T::RlimitNice => libc::RLIMIT_NICE,
        T::RlimitRtprio => libc::RLIMIT_RTPRIO,
        T::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

fn to_caps(set: &Option<Capabilities>) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        out.insert(
            Cap::from_str(&name)
                .map_err(|_| Error::Unsupported(format!("unknown capability {name}")))?,
        );
    }
    Ok(out)
}

fn caps_err(what: &str, e: caps::errors::CapsError) -> Error {
    Error::Init(format!("{what}: {e}"))
}

/// Switch to the process's user and leave exactly the capability sets it asks for.
pub fn set_user_and_caps(p: &Process, may_setgroups: bool) -> Result<()> {
    let c = p.capabilities().clone().unwrap_or_default();
    let bounding = to_caps(c.bounding())?;
    for cap in caps::runtime::thread_all_supported() {
        if !bounding.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| caps_err("drop bounding", e))?;
        }
    }
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    set_user(p, may_setgroups)?;
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    let permitted = to_caps(c.permitted())?;
    let effective = to_caps(c.effective())?;
    let inheritable = to_caps(c.inheritable())?;
    caps::set(
        None,
        CapSet::Effective,
        &effective.intersection(&permitted).copied().collect(),
    )
    .map_err(|e| caps_err("set effective", e))?;
    caps::set(None, CapSet::Inheritable, &inheritable)
        .map_err(|e| caps_err("set inheritable", e))?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(|e| caps_err("set permitted", e))?;
    caps::set(None, CapSet::Effective, &effective).map_err(|e| caps_err("set effective", e))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| caps_err("clear ambient", e))?;
    for cap in to_caps(c.ambient())? {
        caps::raise(None, CapSet::Ambient, cap).map_err(|e| caps_err("raise ambient", e))?;
    }
    Ok(())
}

fn set_user(p: &Process, may_setgroups: bool) -> Result<()> {
    let u = p.user();
    let groups: Vec<libc::gid_t> = u.additional_gids().clone().unwrap_or_default();
    if may_setgroups {
        // SAFETY: `groups` is a valid slice of gids.
        if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 {
            return Err(Error::Init(format!(
                "setgroups: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    // SAFETY: plain integer syscalls.
    if unsafe { libc::setresgid(u.gid(), u.gid(), u.gid()) } != 0 {
        return Err(Error::Init(format!(
            "setgid {}: {}",
            u.gid(),
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: plain integer syscall.
    if unsafe { libc::setresuid(u.uid(), u.uid(), u.uid()) } != 0 {
        return Err(Error::Init(format!(
            "setuid {}: {}",
            u.uid(),
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(u.umask().unwrap_or(0o022) as libc::mode_t) };
    Ok(())
}

pub fn set_no_new_privs() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(Error::Init(format!(
            "no_new_privs: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

pub fn apply_apparmor(p: &Process) -> Result<()> {
    let Some(profile) = p.apparmor_profile().as_ref().filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    if !apparmor_enabled() {
        return Err(Error::Unsupported(format!(
            "apparmor profile {profile:?} requested but AppArmor is not enabled on this host"
        )));
    }
    let path = "/proc/self/attr/apparmor/exec";
    let path = if Path::new(path).exists() {
        path
    } else {
        "/proc/self/attr/exec"
    };
    crate::util::write_file(path, &format!("exec {profile}"))
}

/// The environment value of `key` in `env` ("KEY=value" strings).
fn env_get<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// Find the program as execve would after a shell's PATH search, in the current root.
pub fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf> {
    if arg0.contains('/') {
        // Checked now, as runc does, so that `create` fails with the reason instead of the
        // program's exec failing after `start` said it started.
        let path = PathBuf::from(arg0);
        let refuse = |reason: String| Error::ExecNotRunnable {
            arg0: arg0.to_string(),
            reason,
        };
        let meta = std::fs::metadata(&path)
            .map_err(|e| refuse(format!("stat {arg0}: {}", crate::error::os_text(&e))))?;
        if meta.is_dir() {
            return Err(refuse("is a directory".into()));
        }
        let c = CString::new(arg0).map_err(|_| refuse("invalid argument".into()))?;
        // SAFETY: `c` is a valid C string.
        if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
            return Err(refuse("permission denied".into()));
        }
        return Ok(path);
    }
    let path = env_get(env, "PATH").unwrap_or(DEFAULT_PATH);
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(arg0);
        if let Ok(c) = CString::new(candidate.as_os_str().as_encoded_bytes()) {
            // SAFETY: `c` is a valid C string.
            let ok = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
            if ok && candidate.metadata().is_ok_and(|m| m.is_file()) {
                return Ok(candidate);
            }
        }
    }
    Err(Error::ExecNotFound(arg0.to_string()))
}

/// Mark every descriptor from 3 + `preserve` on close-on-exec, and the preserved ones not.
pub fn prepare_fds(preserve: usize) -> Result<()> {
    for fd in 3..3 + preserve as i32 {
        // SAFETY: fcntl on a descriptor number; an unused one just fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    let first = 3 + preserve as u32;
    // SAFETY: close_range with the CLOEXEC flag only changes descriptor flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc != 0 {
        return Err(Error::Init(format!(
            "close_range: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

fn cstrings(v: &[String]) -> Result<Vec<CString>> {
    v.iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|_| Error::Unsupported(format!("{s:?} contains a NUL byte")))
        })
        .collect()
}

/// Replace this process with the container's program. Returns only on failure.
pub fn exec(path: &Path, args: &[String], env: &[String]) -> Error {
    let run = || -> Result<std::convert::Infallible> {
        let p = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::ExecNotFound(path.display().to_string()))?;
        let argv = cstrings(args)?;
        let envp = cstrings(env)?;
        nix::unistd::execve(&p, &argv, &envp).map_err(|e| {
            let e = std::io::Error::from_raw_os_error(e as i32);
            Error::Init(format!(
                "exec {}: {}",
                path.display(),
                crate::error::os_text(&e)
            ))
        })
    };
    match run() {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// Unblock every signal and restore default dispositions, so the program starts clean.
pub fn reset_signals() {
    // SAFETY: an empty, initialised sigset; sigprocmask and signal only change our own state.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_search_uses_the_process_env() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        let found = find_executable("sh", &env).unwrap();
        assert!(found.ends_with("sh") && found.is_absolute(), "{found:?}");
        let err = find_executable("no-such-program-xyz", &env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "exec: \"no-such-program-xyz\": executable file not found in $PATH"
        );
        let dir = tempfile::tempdir().unwrap();
        let prog = dir.path().join("prog");
        std::fs::write(&prog, "#!/bin/sh\n").unwrap();
        let name = prog.to_str().unwrap();
        let refused = |name: &str| find_executable(name, &env).unwrap_err().to_string();
        assert!(
            refused(name).ends_with("permission denied"),
            "{}",
            refused(name)
        );
        std::fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert_eq!(find_executable(name, &env).unwrap(), prog);
        let d = dir.path().to_str().unwrap();
        assert_eq!(refused(d), format!("exec: {d:?}: is a directory"));
        let missing = format!("{d}/missing");
        assert_eq!(
            refused(&missing),
            format!("exec: {missing:?}: stat {missing}: no such file or directory")
        );
        let looped = format!("{d}/loop");
        std::os::unix::fs::symlink("loop", &looped).unwrap();
        assert_eq!(
            refused(&looped),
            format!("exec: {looped:?}: stat {looped}: too many levels of symbolic links")
        );
    }
}
