//! seccomp(2) and the user-notification ioctls. libseccomp can load a filter, but only
//! the one it generated itself; hull patches the program (the ENOSYS stub) and loads it
//! before execve from a cloned child, so it needs the raw system call.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

pub use libc::sock_filter as SockFilter;

/// Filter flags of seccomp(SECCOMP_SET_MODE_FILTER), as the kernel numbers them.
pub const FLAG_TSYNC: u32 = libc::SECCOMP_FILTER_FLAG_TSYNC as u32;
pub const FLAG_LOG: u32 = libc::SECCOMP_FILTER_FLAG_LOG as u32;
pub const FLAG_SPEC_ALLOW: u32 = libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32;
pub const FLAG_NEW_LISTENER: u32 = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
pub const FLAG_TSYNC_ESRCH: u32 = libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH as u32;
pub const FLAG_WAIT_KILLABLE_RECV: u32 = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32;

/// Install `program` as a seccomp filter on the calling thread (and, with TSYNC, on
/// every thread of the process). Returns the notification listener when `flags`
/// carries FLAG_NEW_LISTENER.
pub fn set_mode_filter(flags: u32, program: &[SockFilter]) -> io::Result<Option<OwnedFd>> {
    let len = u16::try_from(program.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "BPF program too long"))?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr() as *mut SockFilter,
    };
    // SAFETY: `prog` points at `program`, which outlives the call; the kernel copies it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the kernel returns a fresh fd that nobody else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as i32) }))
    } else {
        Ok(None)
    }
}

/// Whether the running kernel accepts filter `flags`. The kernel checks the flags
/// before it reads the program, so a NULL program answers EFAULT for flags it knows
/// and EINVAL for flags it does not, without installing anything.
pub fn flags_supported(flags: u32) -> bool {
    // SAFETY: a NULL program is never dereferenced; the call fails with EFAULT at best.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// Whether the kernel knows a filter return action (SECCOMP_GET_ACTION_AVAIL).
pub fn action_available(action: u32) -> bool {
    // SAFETY: the kernel reads one u32 from a valid pointer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0 as libc::c_ulong,
            &action as *const u32,
        )
    };
    ret == 0
}

/// One pending notification, as SECCOMP_IOCTL_NOTIF_RECV reports it.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    pub id: u64,
    pub pid: u32,
    pub nr: i32,
    pub arch: u32,
    pub args: [u64; 6],
}

/// Wait for the next notification on a listener fd (blocks).
pub fn notif_recv(listener: BorrowedFd<'_>) -> io::Result<Notification> {
    // The kernel insists on a zeroed buffer.
    // SAFETY: seccomp_notif is plain old data; all-zero is a valid value.
    let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: `req` is a live, correctly sized buffer for this ioctl.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut req as *mut libc::seccomp_notif,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Notification {
        id: req.id,
        pid: req.pid,
        nr: req.data.nr,
        arch: req.data.arch,
        args: req.data.args,
    })
}

/// The answer to a notification.
#[derive(Debug, Clone, Copy)]
pub enum Response {
    /// The system call "returns" `val` without running.
    Value(i64),
    /// The system call fails with this errno.
    Errno(i32),
    /// Let the kernel run the system call as if there were no filter.
    Continue,
}

/// Answer notification `id` on a listener fd.
pub fn notif_send(listener: BorrowedFd<'_>, id: u64, response: Response) -> io::Result<()> {
    let (val, error, flags) = match response {
        Response::Value(v) => (v, 0, 0),
        // The kernel wants the negated errno.
        Response::Errno(e) => (0, -e, 0),
        Response::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
    };
    let mut resp = libc::seccomp_notif_resp {
        id,
        val,
        error,
        flags,
    };
    // SAFETY: `resp` is a live, correctly sized buffer for this ioctl.
    let ret = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut resp as *mut libc::seccomp_notif_resp,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
