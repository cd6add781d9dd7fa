//! Namespaces: which to create (clone flags) and which to join (setns by path).

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType as T};
use std::os::fd::AsFd;
use std::path::Path;

pub fn clone_flag(t: T) -> libc::c_int {
    match t {
        T::Mount => libc::CLONE_NEWNS,
        T::Cgroup => libc::CLONE_NEWCGROUP,
        T::Uts => libc::CLONE_NEWUTS,
        T::Ipc => libc::CLONE_NEWIPC,
        T::User => libc::CLONE_NEWUSER,
        T::Pid => libc::CLONE_NEWPID,
        T::Network => libc::CLONE_NEWNET,
        T::Time => libc::CLONE_NEWTIME,
    }
}

/// Join one namespace by path.
pub fn join(path: &Path, t: T) -> Result<()> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("open namespace", path, e))?;
    let flag = nix::sched::CloneFlags::from_bits_retain(clone_flag(t));
    nix::sched::setns(f.as_fd(), flag)
        .map_err(|e| Error::sys(format!("join {t:?} namespace {}", path.display()), e))
}

/// Join the namespaces given by path, the user namespace first (it owns the others).
pub fn join_all(list: &[LinuxNamespace]) -> Result<()> {
    let mut joins: Vec<&LinuxNamespace> = list.iter().filter(|n| n.path().is_some()).collect();
    joins.sort_by_key(|n| (n.typ() != T::User, n.typ() == T::Mount));
    for ns in joins {
        join(ns.path().as_ref().expect("filtered"), ns.typ())?;
    }
    Ok(())
}

/// Clone flags for the namespaces to create at clone time. Time and cgroup are left out: the
/// time namespace is unshared by stage 1 (its offsets must be set before any process enters),
/// the cgroup namespace by init once it sits in its cgroup.
pub fn new_flags(list: &[LinuxNamespace]) -> libc::c_int {
    list.iter()
        .filter(|n| n.path().is_none() && !matches!(n.typ(), T::Time | T::Cgroup))
        .fold(0, |acc, n| acc | clone_flag(n.typ()))
}

pub fn is_new(list: &[LinuxNamespace], t: T) -> bool {
    list.iter().any(|n| n.typ() == t && n.path().is_none())
}

/// `fork`-like clone into new namespaces (no new stack: the child continues on a copy of ours).
///
/// # Safety
/// The caller must be single-threaded, as for fork.
pub unsafe fn clone_fork(flags: libc::c_int) -> Result<libc::pid_t> {
    let flags = (flags | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: raw clone without CLONE_VM and with a null stack behaves like fork; the caller
    // guarantees no other threads exist.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid < 0 {
        return Err(Error::sys("clone", nix::errno::Errno::last()));
    }
    Ok(pid as libc::pid_t)
}

/// Write uid_map/gid_map of a child that created a user namespace.
pub fn write_id_maps(pid: i32, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let fmt = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    crate::util::write_file(format!("/proc/{pid}/uid_map"), &fmt(linux.uid_mappings()))?;
    crate::util::write_file(format!("/proc/{pid}/gid_map"), &fmt(linux.gid_mappings()))
}

/// Time namespace offsets, written for the namespace our children will enter.
pub fn write_time_offsets(linux: &oci_spec::runtime::Linux) -> Result<()> {
    let mut s = String::new();
    for (clock, off) in linux.time_offsets().iter().flatten() {
        s.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    if s.is_empty() {
        return Ok(());
    }
    crate::util::write_file("/proc/self/timens_offsets", &s)
}
