//! The bpf(2) calls the device controller needs, and nothing else. Each attr struct below is
//! the prefix of `union bpf_attr` that its command reads (the kernel zero-fills the rest of
//! the union from the size passed), laid out as in <linux/bpf.h>.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::bpf::program::Insn;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;

const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;

/// The name the kernel keeps for hull's programs (at most 15 bytes), so `update` can tell
/// them from programs someone else attached.
pub const PROG_NAME: &str = "hull_devices";

/// The kernel only looks at the license to gate GPL-only helpers, which device programs do
/// not call; hull's own license, as runc gives its own.
const LICENSE: &[u8] = b"Apache\0";

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
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
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
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The head of `struct bpf_prog_info`, up to the name (the kernel fills what fits).
#[repr(C)]
#[derive(Default)]
struct ProgInfo {
    prog_type: u32,
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

/// bpf(cmd, attr, sizeof attr). `T` must be one of the attr structs above, matching `cmd`.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed repr(C) struct of the size passed; any
    // pointers inside it were set by the caller to buffers that outlive this call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn owned_fd(fd: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this fd to us as a new descriptor (bpf(2) makes its
    // fds close-on-exec); nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

fn load_with_log(attr: &mut ProgLoadAttr, log: &mut Vec<u8>) -> io::Result<OwnedFd> {
    attr.log_level = if log.is_empty() { 0 } else { 1 };
    attr.log_size = log.len() as u32;
    attr.log_buf = if log.is_empty() {
        0
    } else {
        log.as_mut_ptr() as u64
    };
    bpf(BPF_PROG_LOAD, attr).map(owned_fd)
}

/// Loads a device program. When the kernel refuses it, the verifier's log is part of the
/// error, so a bad program says why.
pub fn load(insns: &[Insn]) -> io::Result<OwnedFd> {
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        ..Default::default()
    };
    attr.prog_name[..PROG_NAME.len()].copy_from_slice(PROG_NAME.as_bytes());
    // First without a log: the verifier runs faster without one.
    let mut log = Vec::new();
    let first = match load_with_log(&mut attr, &mut log) {
        Ok(fd) => return Ok(fd),
        Err(e) => e,
    };
    // Before 5.11 programs were charged to RLIMIT_MEMLOCK, and running out of it reads as
    // EPERM; runc and crun raise the limit (it is not passed on to the container).
    if first.raw_os_error() == Some(libc::EPERM) {
        let inf = rustix::process::Rlimit {
            current: None,
            maximum: None,
        };
        if rustix::process::setrlimit(rustix::process::Resource::Memlock, inf).is_ok() {
            if let Ok(fd) = load_with_log(&mut attr, &mut log) {
                return Ok(fd);
            }
        }
    }
    // Again with a log, growing it while the kernel says it is too small.
    let mut size = 64 * 1024;
    loop {
        log = vec![0u8; size];
        match load_with_log(&mut attr, &mut log) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && size < 16 << 20 => size *= 4,
            Err(e) => {
                let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]);
                let text = text.trim();
                if text.is_empty() {
                    return Err(e);
                }
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e}; verifier log:\n{text}"),
                ));
            }
        }
    }
}

/// Attaches `prog` to the cgroup, beside any programs already there (all of them must allow
/// an access for it to happen).
pub fn attach(cgroup: BorrowedFd, prog: BorrowedFd) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

pub fn detach(cgroup: BorrowedFd, prog: BorrowedFd) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// The ids of the device programs attached to this cgroup itself (not inherited ones).
pub fn query(cgroup: BorrowedFd) -> io::Result<Vec<u32>> {
    // 64 is the kernel's limit per attach point today; ENOSPC reports the real count.
    let mut ids = vec![0u32; 64];
    loop {
        let mut attr = QueryAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            ..Default::default()
        };
        match bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            Err(e)
                if e.raw_os_error() == Some(libc::ENOSPC) && attr.prog_cnt as usize > ids.len() =>
            {
                ids = vec![0u32; attr.prog_cnt as usize];
            }
            Err(e) => return Err(e),
        }
    }
}

/// A handle on a loaded program, from its id.
pub fn open(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        ..Default::default()
    };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).map(owned_fd)
}

/// A loaded program's id and the name it was loaded with.
pub fn info(prog: BorrowedFd) -> io::Result<(u32, String)> {
    let mut info = ProgInfo::default();
    let mut attr = InfoAttr {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: std::mem::size_of::<ProgInfo>() as u32,
        info: &mut info as *mut ProgInfo as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let end = info
        .name
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(info.name.len());
    Ok((
        info.id,
        String::from_utf8_lossy(&info.name[..end]).into_owned(),
    ))
}
