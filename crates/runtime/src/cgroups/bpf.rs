//! The bpf(2) calls for cgroup v2 device control: load a device program,
//! attach it to a cgroup with BPF_F_ALLOW_MULTI, and detach the programs we
//! attached earlier (recognised by their name).

use std::ffi::c_void;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::devices_ebpf::Insn;
use super::{Error, Result};

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The name our programs carry, so we only ever detach our own.
pub(crate) const PROG_NAME: &[u8] = b"tug_devices";
const LOG_SIZE: usize = 256 * 1024;
const MAX_QUERY: usize = 64;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct InfoByFdAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The start of `struct bpf_prog_info`, up to the name.
#[repr(C)]
#[derive(Default)]
struct ProgInfo {
    typ: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
}

/// bpf(cmd, attr, sizeof attr); returns the non-negative result.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    let size = std::mem::size_of::<T>() as libc::c_uint;
    let ptr = attr as *mut T as *mut c_void;
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] bpf_attr variant
    // of `size` bytes; every pointer stored in it refers to memory that outlives
    // this call.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, ptr, size) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn owned_fd(raw: libc::c_long) -> OwnedFd {
    // SAFETY: `raw` was just returned by bpf(2) as a new file descriptor that
    // nothing else owns.
    unsafe { OwnedFd::from_raw_fd(raw as i32) }
}

/// Loads `insns` as a cgroup device program; on rejection the error carries
/// the verifier log.
pub(crate) fn load(insns: &[Insn]) -> Result<OwnedFd> {
    match load_with_log(insns, None) {
        Ok(fd) => Ok(fd),
        Err(source) => {
            let mut log = vec![0u8; LOG_SIZE];
            let _ = load_with_log(insns, Some(&mut log));
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let log = String::from_utf8_lossy(&log[..end]).trim().to_string();
            Err(Error::BpfLoad { source, log })
        }
    }
}

fn load_with_log(insns: &[Insn], log: Option<&mut Vec<u8>>) -> io::Result<OwnedFd> {
    let license = b"GPL\0";
    let mut name = [0u8; 16];
    name[..PROG_NAME.len()].copy_from_slice(PROG_NAME);
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    if let Some(log) = log {
        attr.log_level = 1;
        attr.log_size = log.len() as u32;
        attr.log_buf = log.as_mut_ptr() as u64;
    }
    bpf(BPF_PROG_LOAD, &mut attr).map(owned_fd)
}

fn bpf_err(op: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Bpf { op, source }
}

/// Ids of the device programs attached directly to the cgroup.
pub(crate) fn query(cgroup: &File) -> Result<Vec<u32>> {
    let mut ids = [0u32; MAX_QUERY];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: MAX_QUERY as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr).map_err(bpf_err("query"))?;
    let n = (attr.prog_cnt as usize).min(MAX_QUERY);
    Ok(ids[..n].to_vec())
}

fn attach(cgroup: &File, prog: &OwnedFd) -> Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(bpf_err("attach"))?;
    Ok(())
}

fn detach(cgroup: &File, prog: &OwnedFd) -> Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    bpf(BPF_PROG_DETACH, &mut attr).map_err(bpf_err("detach"))?;
    Ok(())
}

fn prog_fd(id: u32) -> Result<OwnedFd> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        ..Default::default()
    };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)
        .map(owned_fd)
        .map_err(bpf_err("get program by id"))
}

/// The name of a loaded program.
pub(crate) fn prog_name(prog: &OwnedFd) -> Result<Vec<u8>> {
    let mut info = ProgInfo::default();
    let mut attr = InfoByFdAttr {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: std::mem::size_of::<ProgInfo>() as u32,
        info: &mut info as *mut ProgInfo as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr).map_err(bpf_err("get program info"))?;
    let end = info.name.iter().position(|b| *b == 0).unwrap_or(16);
    Ok(info.name[..end].to_vec())
}

pub(crate) fn open_cgroup(dir: &Path) -> Result<File> {
    File::open(dir).map_err(|source| Error::OpenDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Attaches a new device program to the cgroup at `dir`, then detaches the
/// ones we attached before (new first, so there is no unfiltered moment).
pub(crate) fn attach_device_program(dir: &Path, insns: &[Insn]) -> Result<()> {
    let cgroup = open_cgroup(dir)?;
    let old = query(&cgroup)?;
    let prog = load(insns)?;
    attach(&cgroup, &prog)?;
    for id in old {
        let fd = match prog_fd(id) {
            Ok(fd) => fd,
            Err(_) => continue, // already gone
        };
        if prog_name(&fd)? == PROG_NAME {
            detach(&cgroup, &fd)?;
        }
    }
    Ok(())
}
