//! seccomp(2): loading a compiled BPF program, with or without a notify listener.

use std::os::fd::{FromRawFd, OwnedFd};

pub const FLAG_TSYNC: u32 = 1;
pub const FLAG_LOG: u32 = 2;
pub const FLAG_SPEC_ALLOW: u32 = 4;
pub const FLAG_NEW_LISTENER: u32 = 8;

const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;

/// Installs `bpf` (an array of struct sock_filter, 8 bytes each) as a seccomp filter.
/// With FLAG_NEW_LISTENER the kernel returns the notify listener fd.
pub fn load(bpf: &[u8], flags: u32) -> std::io::Result<Option<OwnedFd>> {
    if bpf.len() % 8 != 0 || bpf.len() / 8 > u16::MAX as usize {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    let prog = libc::sock_fprog {
        len: (bpf.len() / 8) as u16,
        filter: bpf.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `bpf`, which outlives the call; the kernel copies the program.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if flags & FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the return value is a new fd owned by us.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as i32) }));
    }
    Ok(None)
}
