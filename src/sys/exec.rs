//! The last steps before execve: fd hygiene and execve itself.
//!
//! libc, not rustix, for these: rustix has no close_range, and execve/execveat only in its
//! unstable runtime module; its fcntl wants a `BorrowedFd`, which must be open, while these
//! work on fd numbers that may not be (EBADF is an expected answer here).

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::raw::c_char;

use rustix::io::{Errno, Result};

use super::last_errno;

/// Marks every fd from `first` up as close-on-exec, so no runtime fd reaches the container
/// (or a hook).
///
/// close_range(2) with CLOSE_RANGE_CLOEXEC does it in one call (Linux 5.11). Older kernels
/// (ENOSYS, or EINVAL for the flag), and seccomp profiles around the runtime that do not
/// allow it (EPERM; older Docker profiles predate close_range), get one fcntl per fd number.
pub fn cloexec_from(first: u32) -> Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on fds; no memory involved.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    match last_errno() {
        Errno::NOSYS | Errno::INVAL | Errno::PERM => cloexec_listed(first),
        e => Err(e),
    }
}

/// The fallback of [`cloexec_from`]: every fd number this process may hold, one by one. Not
/// a listing of /proc/self/fd: in a container that is whatever its /proc shows.
fn cloexec_listed(first: u32) -> Result<()> {
    for fd in first..fd_limit() {
        match set_cloexec_to(fd as i32, true) {
            Ok(()) | Err(Errno::BADF) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One past the highest fd number this process can hold: RLIMIT_NOFILE (the larger of its
/// limits, as a lowered soft limit leaves fds above it open), at most 2^20.
fn fd_limit() -> u32 {
    // libc's, not rustix's: rustix takes getrlimit to be infallible (it panics, or reads an
    // unset result, on an error), and a seccomp profile around the runtime can refuse it.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the valid pointer.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    let max = if ok {
        lim.rlim_cur.max(lim.rlim_max)
    } else {
        1 << 20
    };
    max.min(1 << 20) as u32
}

/// Lets `fd` (a preserved fd the caller passed) survive execve. A number that is not open is
/// skipped: there is nothing to pass.
pub fn clear_cloexec(fd: i32) -> Result<()> {
    match set_cloexec_to(fd, false) {
        Err(Errno::BADF) => Ok(()),
        other => other,
    }
}

/// Sets or clears FD_CLOEXEC on `fd`.
pub fn set_cloexec_to(fd: i32, on: bool) -> Result<()> {
    // SAFETY: F_GETFD/F_SETFD only read and change the fd's flags; an fd number that is not
    // open gives EBADF and no effect.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags == -1 {
        return Err(last_errno());
    }
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    if new == flags {
        return Ok(());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, new) } == -1 {
        return Err(last_errno());
    }
    Ok(())
}

/// execve(2) with argument and environment vectors built beforehand: NULL-terminated arrays
/// of pointers into C strings that outlive the call. Nothing is allocated here, so nothing but
/// execve itself runs after a seccomp filter that was loaded just before. Returns only on
/// failure.
pub fn execve(path: &CStr, argv: &[*const c_char], envp: &[*const c_char]) -> Errno {
    assert!(
        argv.last().is_some_and(|p| p.is_null()) && envp.last().is_some_and(|p| p.is_null()),
        "argv and envp must end with NULL"
    );
    // SAFETY: `path` is a C string; `argv` and `envp` are NULL-terminated arrays of pointers
    // to C strings the caller keeps alive for the call (checked above for the terminators).
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    last_errno()
}

/// execveat(2) of the file `fd` itself (AT_EMPTY_PATH), with argument and environment vectors
/// built here. Returns only on failure.
pub fn execveat_fd(fd: BorrowedFd, argv: &[CString], envp: &[CString]) -> Errno {
    let ptrs = |v: &[CString]| -> Vec<*const c_char> {
        v.iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let (argv, envp) = (ptrs(argv), ptrs(envp));
    // SAFETY: an empty C path with AT_EMPTY_PATH names `fd`, open for the call; `argv` and
    // `envp` are NULL-terminated arrays of pointers into C strings the caller keeps alive.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    last_errno()
}

/// Whether `fd` is an open file descriptor of this process.
pub fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the fd's flags; a number that is not open gives EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Marks `fd` close-on-exec.
pub fn set_cloexec(fd: i32) -> Result<()> {
    // SAFETY: F_GETFD/F_SETFD only read and change the fd's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags == -1 {
        return Err(last_errno());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } == -1 {
        return Err(last_errno());
    }
    Ok(())
}

/// Closes every fd from `first` up except those in `keep`.
///
/// Any object of this process that still owns one of the closed numbers must not be dropped
/// afterwards (its drop would close whatever reuses the number): callers are children that
/// end in execve or `_exit`.
pub fn close_from_except(first: u32, keep: &[i32]) -> Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd >= first)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut from = first;
    for fd in keep.into_iter().chain(std::iter::once(u32::MAX)) {
        if fd > from {
            close_range(from, fd - 1)?;
        }
        from = fd.saturating_add(1);
    }
    Ok(())
}

/// Closes `fd` in this process; see [`close_from_except`] for who may call this.
pub fn close_one(fd: i32) -> Result<()> {
    let fd = u32::try_from(fd).map_err(|_| Errno::BADF)?;
    close_range(fd, fd)
}

fn close_range(first: u32, last: u32) -> Result<()> {
    // SAFETY: close_range only closes fds of this process; the caller guarantees nothing that
    // runs afterwards uses (or drops an owner of) the numbers in the range.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if ret == 0 {
        return Ok(());
    }
    match last_errno() {
        // Linux before 5.9, or a seccomp profile around hull without close_range (older
        // Docker profiles): one close per fd number (not a listing of /proc/self/fd, which
        // in a container is whatever its /proc shows).
        Errno::NOSYS | Errno::PERM => close_listed(first, last),
        e => Err(e),
    }
}

fn close_listed(first: u32, last: u32) -> Result<()> {
    for fd in first..=last.min(fd_limit().saturating_sub(1)) {
        // SAFETY: as in close_range; EBADF (nothing open at that number) is no error.
        if unsafe { libc::close(fd as i32) } == -1 && last_errno() != Errno::BADF {
            return Err(last_errno());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sys::testing::in_forked_child as in_child;

    fn open() -> i32 {
        std::os::fd::IntoRawFd::into_raw_fd(std::fs::File::open("/").unwrap())
    }

    fn cloexec(fd: i32) -> bool {
        // SAFETY: F_GETFD only reads the flags.
        unsafe { libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC != 0 }
    }

    /// The fallbacks for a refused close_range reach every fd without /proc.
    #[test]
    fn fallbacks_without_close_range() {
        in_child(|| {
            let (a, b) = (open(), open());
            clear_cloexec(a).unwrap();
            clear_cloexec(b).unwrap();
            cloexec_listed(a.min(b) as u32).unwrap();
            let marked = cloexec(a) && cloexec(b);
            close_listed(a.min(b) as u32, a.max(b) as u32).unwrap();
            marked && !is_open(a) && !is_open(b) && is_open(0)
        });
    }
}
