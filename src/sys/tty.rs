//! Terminal ioctls nix lacks or wraps without the fd-returning forms.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const TIOCGPTPEER: libc::c_ulong = 0x5441;

/// Opens the peer (slave) of a pty master without a path lookup: the pts found by name could
/// be a different one in a hostile /dev/pts, the peer of this master cannot.
pub fn open_peer(master: BorrowedFd) -> nix::Result<OwnedFd> {
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd or -1.
    let fd = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: the kernel just returned this new fd to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes `tty` the calling process's controlling terminal (it must be a session leader).
pub fn set_controlling(tty: BorrowedFd) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal) and no memory.
    if unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// Sets a terminal's window size.
pub fn set_winsize(tty: BorrowedFd, rows: u16, cols: u16) -> nix::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer, valid for the call.
    if unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// A terminal's window size (rows, cols).
pub fn get_winsize(tty: BorrowedFd) -> nix::Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize to the pointer, valid for the call.
    if unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok((ws.ws_row, ws.ws_col))
}

/// unlockpt(3) on a pty master we keep owning.
pub fn unlock(master: BorrowedFd) -> nix::Result<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from the pointer, valid for the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// The pty number of a master (its peer is /dev/pts/N).
pub fn pty_number(master: BorrowedFd) -> nix::Result<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int to the pointer, valid for the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(n)
}
