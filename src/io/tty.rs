//! The container's terminal: a pty from the container's own devpts, its master handed to the
//! caller (over `--console-socket`, or to hull for a foreground relay), its peer the process's
//! controlling terminal, stdio and /dev/console.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::fs::{FileType, FsWord, Mode, OFlags};
use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;

use crate::{sys, Context, Error, Result};

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;
const SYSFS_MAGIC: FsWord = 0x6265_6572;

pub struct Pty {
    pub master: OwnedFd,
    pub peer: OwnedFd,
}

/// Opens a pty from the devpts at /dev/pts of the current mount namespace (the
/// container's: call after pivot_root or after joining its mount namespace).
pub fn open() -> Result<Pty> {
    let master = rustix::fs::open(
        "/dev/pts/ptmx",
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx("open /dev/pts/ptmx (the container needs a devpts mount for a terminal)")?;
    // The master must come from a real devpts: a rootfs could put anything at that path.
    let fs = rustix::fs::fstatfs(master.as_fd()).ctx("fstatfs /dev/pts/ptmx")?;
    if fs.f_type != DEVPTS_SUPER_MAGIC as FsWord {
        return Err(Error::Other(
            "/dev/pts/ptmx is not on a devpts filesystem".into(),
        ));
    }
    rustix::pty::unlockpt(&master).ctx("unlock pty")?;
    // The peer by TIOCGPTPEER, not by path: the pts found by name could be a different one in
    // a hostile /dev/pts, the peer of this master cannot.
    let peer = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )
    .ctx("open pty peer (TIOCGPTPEER)")?;
    Ok(Pty { master, peer })
}

/// consoleSize from the config, if any: (rows, columns).
pub fn apply_size(pty: &Pty, size: Option<(u16, u16)>) -> Result<()> {
    if let Some((rows, cols)) = size {
        let ws = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&pty.master, ws).ctx("set console size")?;
    }
    Ok(())
}

/// Binds the pty's peer onto /dev/console (after pivot_root), by fd at both ends: the peer
/// from TIOCGPTPEER is cloned as a detached mount, and attached to a /dev/console that the
/// runtime made itself, or that is already a regular file or a device node there.
///
/// A symlink at /dev/console is refused, not followed and not replaced (CVE-2025-52565: an
/// image whose /dev/console points at /proc/sysrq-trigger or a host-visible file had the pty
/// mounted over that target, which masked it from maskedPaths and readonlyPaths). runc 1.2.8+
/// refuses it too (its O_NOFOLLOW open fails); replacing it would mean deleting a file of the
/// image's rootfs, which the runtime never does, and an image that ships such a link is
/// hostile or broken either way.
pub fn bind_console(pty: &Pty) -> Result<()> {
    let dev = rustix::fs::open(
        "/dev",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx("open /dev for the console")?;
    let console = console_target(&dev)?;
    let tree = open_tree(
        &pty.peer,
        "",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )
    .ctx("clone the terminal for /dev/console")?;
    move_mount(
        &tree,
        "",
        &console,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .ctx("bind the terminal on /dev/console")
}

/// The file to mount the console on: created here (O_EXCL, so never through a link), or an
/// existing regular file or device node, which a mount covers without opening it.
fn console_target(dev: &OwnedFd) -> Result<OwnedFd> {
    let created = rustix::fs::openat(
        dev,
        "console",
        OFlags::RDONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o666),
    );
    let fd = match created {
        Ok(fd) => {
            // The umask applied; the console is 0666 as in runc.
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o666)).ctx("chmod /dev/console")?;
            fd
        }
        Err(rustix::io::Errno::EXIST) => rustix::fs::openat(
            dev,
            "console",
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ctx("open /dev/console")?,
        Err(e) => return Err(e).ctx("create /dev/console"),
    };
    let kind = FileType::from_raw_mode(rustix::fs::fstat(&fd).ctx("stat /dev/console")?.st_mode);
    if !matches!(kind, FileType::RegularFile | FileType::CharacterDevice) {
        return Err(Error::Other(format!(
            "/dev/console in the container is a {}: refusing to mount the terminal there",
            describe(kind)
        )));
    }
    // Where /dev itself led: never onto a kernel interface file.
    let fs = rustix::fs::fstatfs(&fd).ctx("fstatfs /dev/console")?.f_type;
    if fs == rustix::fs::PROC_SUPER_MAGIC || fs == SYSFS_MAGIC {
        return Err(Error::Other(
            "/dev/console in the container is on procfs or sysfs: refusing to mount the terminal there".into(),
        ));
    }
    Ok(fd)
}

fn describe(kind: FileType) -> &'static str {
    match kind {
        FileType::Symlink => "symlink",
        FileType::Directory => "directory",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::BlockDevice => "block device",
        _ => "special file",
    }
}

/// The peer becomes the controlling terminal and stdin, stdout and stderr.
pub fn take_as_stdio(peer: &OwnedFd) -> Result<()> {
    rustix::process::setsid().ctx("setsid")?;
    rustix::process::ioctl_tiocsctty(peer).ctx("set controlling terminal")?;
    rustix::stdio::dup2_stdin(peer).ctx("dup2 the terminal to fd 0")?;
    rustix::stdio::dup2_stdout(peer).ctx("dup2 the terminal to fd 1")?;
    rustix::stdio::dup2_stderr(peer).ctx("dup2 the terminal to fd 2")
}

/// runc's console-socket protocol: one message carrying the master over SCM_RIGHTS, with the
/// pty's name as data.
pub fn send_master(socket: &impl AsFd, master: &OwnedFd) -> Result<()> {
    // ptsname by TIOCGPTN on the master: "/dev/pts/N".
    let name = rustix::pty::ptsname(master, Vec::new())
        .map(|n| n.into_bytes())
        .unwrap_or_else(|_| b"/dev/ptmx".to_vec());
    sys::socket::send_packet(socket.as_fd(), &name, Some(master.as_raw_fd()))
        .ctx("send the terminal master to the console socket")?;
    Ok(())
}
