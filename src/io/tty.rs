//! The container's terminal: a pty from the container's own devpts, its master handed to the
//! caller (over `--console-socket`, or to hull for a foreground relay), its peer the process's
//! controlling terminal, stdio and /dev/console.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Process;

use crate::{sys, Context, Error, Result};

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

pub struct Pty {
    pub master: OwnedFd,
    pub peer: OwnedFd,
}

/// Opens a pty from the devpts at /dev/pts of the current mount namespace (the
/// container's: call after pivot_root or after joining its mount namespace).
pub fn open() -> Result<Pty> {
    let master = nix::fcntl::open(
        "/dev/pts/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx("open /dev/pts/ptmx (the container needs a devpts mount for a terminal)")?;
    // The master must come from a real devpts: a rootfs could put anything at that path.
    let fs = nix::sys::statfs::fstatfs(master.as_fd()).ctx("fstatfs /dev/pts/ptmx")?;
    if fs.filesystem_type().0 as i64 != DEVPTS_SUPER_MAGIC {
        return Err(Error::Other(
            "/dev/pts/ptmx is not on a devpts filesystem".into(),
        ));
    }
    sys::tty::unlock(master.as_fd()).ctx("unlock pty")?;
    let peer = sys::tty::open_peer(master.as_fd()).ctx("open pty peer (TIOCGPTPEER)")?;
    Ok(Pty { master, peer })
}

/// consoleSize from the config, if any.
pub fn apply_size(pty: &Pty, p: &Process) -> Result<()> {
    if let Some(size) = p.console_size() {
        sys::tty::set_winsize(
            pty.master.as_fd(),
            size.height() as u16,
            size.width() as u16,
        )
        .ctx("set console size")?;
    }
    Ok(())
}

/// Binds the pty's peer onto /dev/console, as runc does (after pivot_root).
pub fn bind_console(pty: &Pty) -> Result<()> {
    let console = Path::new("/dev/console");
    if std::fs::symlink_metadata(console).is_err() {
        std::fs::File::create(console).ctx("create /dev/console")?;
    }
    let peer = format!("/proc/self/fd/{}", pty.peer.as_raw_fd());
    mount(
        Some(peer.as_str()),
        console,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .ctx("bind the terminal on /dev/console")
}

/// The peer becomes the controlling terminal and stdin, stdout and stderr.
pub fn take_as_stdio(peer: &OwnedFd) -> Result<()> {
    nix::unistd::setsid().ctx("setsid")?;
    sys::tty::set_controlling(peer.as_fd()).ctx("set controlling terminal")?;
    for fd in 0..3 {
        sys::process::dup2_raw(peer.as_raw_fd(), fd)
            .with_ctx(|| format!("dup2 the terminal to fd {fd}"))?;
    }
    Ok(())
}

/// runc's console-socket protocol: one message carrying the master over SCM_RIGHTS, with the
/// pty's name as data.
pub fn send_master(socket: &impl AsFd, master: &OwnedFd) -> Result<()> {
    let name = sys::tty::pty_number(master.as_fd())
        .map(|n| format!("/dev/pts/{n}"))
        .unwrap_or_else(|_| "/dev/ptmx".into());
    sys::socket::send_packet(socket.as_fd(), name.as_bytes(), Some(master.as_raw_fd()))
        .ctx("send the terminal master to the console socket")?;
    Ok(())
}
