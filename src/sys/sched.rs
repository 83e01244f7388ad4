//! How the kernel runs a process: scheduling attributes, I/O priority, execution domain
//! (personality) and NUMA memory policy. libc has no wrappers for most of these.

use std::io;

/// `struct sched_attr` (include/uapi/linux/sched/types.h), SCHED_ATTR_SIZE_VER1: with the
/// utilization clamps, which SCHED_FLAG_UTIL_CLAMP_* read.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub sched_policy: u32,
    pub sched_flags: u64,
    pub sched_nice: i32,
    pub sched_priority: u32,
    pub sched_runtime: u64,
    pub sched_deadline: u64,
    pub sched_period: u64,
    pub sched_util_min: u32,
    pub sched_util_max: u32,
}

impl SchedAttr {
    pub const SIZE: u32 = std::mem::size_of::<SchedAttr>() as u32;
}

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(ret)
}

/// sched_setattr(2) on the calling thread.
pub fn sched_setattr(attr: &SchedAttr) -> io::Result<()> {
    let mut attr = *attr;
    attr.size = SchedAttr::SIZE;
    // SAFETY: `attr` is a valid sched_attr of the size it declares, alive for the call.
    check(unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0u32) })
        .map(drop)
}

/// The static priorities a policy accepts (sched_get_priority_min/max).
pub fn priority_range(policy: u32) -> io::Result<(i32, i32)> {
    // SAFETY: plain syscalls on an integer argument.
    let (min, max) = unsafe {
        (
            libc::sched_get_priority_min(policy as i32),
            libc::sched_get_priority_max(policy as i32),
        )
    };
    if min == -1 || max == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok((min, max))
}

/// ioprio_set(IOPRIO_WHO_PROCESS, 0, value): the calling thread's I/O priority.
pub fn ioprio_set(value: u32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) }).map(drop)
}

/// personality(2): sets the execution domain, returns the previous one.
pub fn personality(persona: u32) -> io::Result<u32> {
    // SAFETY: an integer argument only.
    let ret = unsafe { libc::personality(persona as libc::c_ulong) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(ret as u32)
}

/// set_mempolicy(2) for the calling thread. `nodes` is the node bitmask, 64 nodes a word;
/// the kernel reads `maxnode - 1` bits of it (it has always dropped the last bit), so one more
/// than the bits given is passed.
pub fn set_mempolicy(mode: i32, nodes: &[u64]) -> io::Result<()> {
    let (ptr, maxnode) = if nodes.is_empty() {
        (std::ptr::null(), 0)
    } else {
        (nodes.as_ptr(), nodes.len() as u64 * 64 + 1)
    };
    // SAFETY: `ptr` is NULL or points to `nodes`, whose bits cover maxnode - 1, alive for the
    // call; the kernel only reads it.
    check(unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) }).map(drop)
}
