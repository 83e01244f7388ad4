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
