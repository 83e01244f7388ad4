//! The last steps before execve: fd hygiene.

/// Marks every fd from `first` up as close-on-exec, so no runtime fd reaches the container.
pub fn cloexec_from(first: u32) -> nix::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on fds; no memory involved.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == -1 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// Lets `fd` (a preserved fd the caller passed) survive execve. A number that is not open is
/// skipped: there is nothing to pass.
pub fn clear_cloexec(fd: i32) -> nix::Result<()> {
    // SAFETY: F_GETFD/F_SETFD only read and change the fd's flags; an fd number that is not
    // open gives EBADF and no effect.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags == -1 {
        return match nix::errno::Errno::last() {
            nix::errno::Errno::EBADF => Ok(()),
            e => Err(e),
        };
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } == -1 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// Whether `fd` is an open file descriptor of this process.
pub fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the fd's flags; a number that is not open gives EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Marks `fd` close-on-exec.
pub fn set_cloexec(fd: i32) -> nix::Result<()> {
    // SAFETY: F_GETFD/F_SETFD only read and change the fd's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags == -1 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } == -1 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// Closes every fd from `first` up except those in `keep`.
///
/// Any object of this process that still owns one of the closed numbers must not be dropped
/// afterwards (its drop would close whatever reuses the number): callers are children that
/// end in execve or `_exit`.
pub fn close_from_except(first: u32, keep: &[i32]) -> nix::Result<()> {
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
pub fn close_one(fd: i32) -> nix::Result<()> {
    let fd = u32::try_from(fd).map_err(|_| nix::errno::Errno::EBADF)?;
    close_range(fd, fd)
}

fn close_range(first: u32, last: u32) -> nix::Result<()> {
    // SAFETY: close_range only closes fds of this process; the caller guarantees nothing that
    // runs afterwards uses (or drops an owner of) the numbers in the range.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if ret == -1 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}
