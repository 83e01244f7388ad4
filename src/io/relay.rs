//! `run`/`exec` in the foreground with a terminal and no console socket: hull itself sits
//! between its own terminal and the container's pty — raw mode, window size on SIGWINCH,
//! signals passed on, termios restored on the way out.
//!
//! As runc does: the container's pty does not turn `\n` into `\r\n` (ONLCR off), so what
//! the process writes arrives as written, in a pipe too; the caller's terminal is made raw
//! but keeps its output processing (OPOST), so on a terminal each line still ends where the
//! terminal expects. The caller's terminal is the first of stdin, stdout and stderr that is
//! one, else /dev/tty. (runc fails when there is none; hull relays all the same.)

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::termios::{self, OptionalActions, OutputModes, Termios};

use crate::process::foreground;
use crate::sys::signal::{read_signalfd, SigSet};
use crate::sys::Pid;
use crate::{Context, Result};

/// Our terminal in raw mode for as long as this lives.
struct RawMode {
    tty: OwnedFd,
    saved: Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        let tty = host_console()?;
        let saved = termios::tcgetattr(tty.as_fd()).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        // containerd's console (runc's) keeps output processing on the caller's terminal.
        raw.output_modes |= OutputModes::OPOST;
        termios::tcsetattr(&tty, OptionalActions::Now, &raw).ok()?;
        Some(RawMode { tty, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(&self.tty, OptionalActions::Now, &self.saved);
    }
}

/// The caller's terminal: the first of stdin, stdout, stderr that is a terminal, or the
/// controlling terminal.
fn host_console() -> Option<OwnedFd> {
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let stdio = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
    for fd in stdio {
        if termios::tcgetattr(fd).is_ok() {
            return fd.try_clone_to_owned().ok();
        }
    }
    use rustix::fs::{Mode, OFlags};
    rustix::fs::open(
        "/dev/tty",
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// The container's pty leaves `\n` alone (runc's console.ClearONLCR on what it relays).
/// Init (or the exec'd process) calls it before it hands the master to the runtime.
pub fn clear_onlcr(master: BorrowedFd) {
    if let Ok(mut t) = termios::tcgetattr(master) {
        t.output_modes.remove(OutputModes::ONLCR);
        let _ = termios::tcsetattr(master, OptionalActions::Now, &t);
    }
}

fn copy_winsize(from: Option<&RawMode>, master: BorrowedFd) {
    let Some(raw) = from else { return };
    if let Ok(ws) = termios::tcgetwinsize(&raw.tty) {
        // Rows and columns only, as before: the pixel sizes stay 0.
        let ws = termios::Winsize {
            ws_xpixel: 0,
            ws_ypixel: 0,
            ..ws
        };
        let _ = termios::tcsetwinsize(master, ws);
    }
}

/// Relays between our stdio and `master` until `pid` exits; returns its status.
pub fn relay_and_wait(pid: Pid, set: &SigSet, master: OwnedFd) -> Result<i32> {
    let raw = RawMode::enter();
    copy_winsize(raw.as_ref(), master.as_fd());
    let sfd = set.signalfd().ctx("signalfd")?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let (mut stdin_open, mut master_open) = (true, true);
    let mut status = None;
    let mut buf = [0u8; 8192];
    loop {
        if status.is_some() && !master_open {
            break;
        }
        let mut fds = vec![PollFd::new(&sfd, PollFlags::IN)];
        if master_open {
            fds.push(PollFd::new(&master, PollFlags::IN));
        }
        if stdin_open && status.is_none() {
            fds.push(PollFd::new(&stdin, PollFlags::IN));
        }
        // Once the process is gone, only drain what it left in the pty.
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let timeout = status.is_some().then_some(&zero);
        match poll(&mut fds, timeout) {
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e).ctx("poll"),
            Ok(0) => break,
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        if ready[0] {
            while let Ok(Some(sig)) = read_signalfd(sfd.as_fd()) {
                match sig {
                    libc::SIGCHLD => {}
                    libc::SIGWINCH => copy_winsize(raw.as_ref(), master.as_fd()),
                    // (signals without a name are dropped there)
                    s => foreground::forward(pid, s),
                }
            }
            // Until nothing is left to reap: other children (orphans) are reaped too.
            while let Some(code) = foreground::reap(pid) {
                status = Some(code);
            }
        }
        if master_open && ready.get(1).copied().unwrap_or(false) {
            match rustix::io::read(&master, &mut buf) {
                Ok(0) | Err(Errno::IO) => master_open = false,
                Ok(n) => write_all(stdout.as_fd(), &buf[..n]),
                Err(Errno::AGAIN) | Err(Errno::INTR) => {}
                Err(_) => master_open = false,
            }
        }
        if ready.len() > 2 && ready[2] {
            match rustix::io::read(&stdin, &mut buf) {
                // Our input ended: pass an end-of-file (^D) to the terminal's reader.
                Ok(0) | Err(_) => {
                    stdin_open = false;
                    write_all(master.as_fd(), b"\x04");
                }
                Ok(n) => write_all(master.as_fd(), &buf[..n]),
            }
        }
        if status.is_some() && !ready.iter().skip(1).any(|r| *r) {
            break;
        }
    }
    match status {
        Some(code) => Ok(code),
        None => foreground::wait_forwarding(pid, set),
    }
}

fn write_all(fd: BorrowedFd, mut data: &[u8]) {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::INTR) | Err(Errno::AGAIN) => continue,
            Err(_) => return,
        }
    }
}
