//! Signals: names, and the set the runtime blocks and forwards.
//!
//! rustix's `Signal` has the numbers but no SIGxxx names, which `kill` parses and the logs
//! print: the named signals of Linux are listed here, as runc's and nix's tables have them.
//! rustix has no sigprocmask, sigwait or signalfd outside its unstable runtime module: a
//! [`SigSet`] wraps libc's.

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};

use rustix::process::Signal;

const NAMES: [(&str, i32); 31] = [
    ("SIGHUP", libc::SIGHUP),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGILL", libc::SIGILL),
    ("SIGTRAP", libc::SIGTRAP),
    ("SIGABRT", libc::SIGABRT),
    ("SIGBUS", libc::SIGBUS),
    ("SIGFPE", libc::SIGFPE),
    ("SIGKILL", libc::SIGKILL),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGALRM", libc::SIGALRM),
    ("SIGTERM", libc::SIGTERM),
    ("SIGSTKFLT", libc::SIGSTKFLT),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGTTIN", libc::SIGTTIN),
    ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG),
    ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
    ("SIGVTALRM", libc::SIGVTALRM),
    ("SIGPROF", libc::SIGPROF),
    ("SIGWINCH", libc::SIGWINCH),
    ("SIGIO", libc::SIGIO),
    ("SIGPWR", libc::SIGPWR),
    ("SIGSYS", libc::SIGSYS),
];

/// "SIGKILL" for 9; `None` for a number without a name (0, real-time signals).
pub fn name(sig: i32) -> Option<&'static str> {
    NAMES.iter().find(|(_, n)| *n == sig).map(|(name, _)| *name)
}

/// The signal named exactly `name` ("SIGKILL").
pub fn by_name(name: &str) -> Option<Signal> {
    let (_, n) = NAMES.iter().find(|(s, _)| *s == name)?;
    Signal::from_named_raw(*n)
}

/// A set of signals (a `sigset_t`).
pub struct SigSet(libc::sigset_t);

impl SigSet {
    /// Every signal but `except`.
    pub fn all_but(except: &[i32]) -> SigSet {
        // SAFETY: sigfillset initialises the set in place before sigdelset edits it; both
        // only write to the set.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut set);
            for &sig in except {
                libc::sigdelset(&mut set, sig);
            }
            SigSet(set)
        }
    }

    /// Adds the set to this thread's blocked signals.
    pub fn block(&self) -> io::Result<()> {
        self.mask(libc::SIG_BLOCK)
    }

    /// Removes the set from this thread's blocked signals.
    pub fn unblock(&self) -> io::Result<()> {
        self.mask(libc::SIG_UNBLOCK)
    }

    fn mask(&self, how: libc::c_int) -> io::Result<()> {
        // SAFETY: the set is initialised and outlives the call; no old mask is asked for.
        match unsafe { libc::pthread_sigmask(how, &self.0, std::ptr::null_mut()) } {
            0 => Ok(()),
            err => Err(io::Error::from_raw_os_error(err)),
        }
    }

    /// sigwait(3): waits for a pending signal of the set (blocked beforehand) and takes it.
    pub fn wait(&self) -> io::Result<i32> {
        let mut sig: libc::c_int = 0;
        // SAFETY: the set is initialised; `sig` is a valid int to write the signal into.
        match unsafe { libc::sigwait(&self.0, &mut sig) } {
            0 => Ok(sig),
            err => Err(io::Error::from_raw_os_error(err)),
        }
    }

    /// A signalfd(2) for the set, non-blocking and close-on-exec; see [`read_signalfd`].
    pub fn signalfd(&self) -> io::Result<OwnedFd> {
        let flags = libc::SFD_CLOEXEC | libc::SFD_NONBLOCK;
        // SAFETY: -1 asks for a new fd; the set is initialised and read during the call only.
        let fd = unsafe { libc::signalfd(-1, &self.0, flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this new fd to us.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// The number of the next signal queued on a non-blocking signalfd; `None` when none is.
pub fn read_signalfd(fd: BorrowedFd) -> io::Result<Option<i32>> {
    // struct signalfd_siginfo: 128 bytes, ssi_signo (u32) first.
    let mut info = [0u8; 128];
    match rustix::io::read(fd, &mut info) {
        Ok(128) => Ok(Some(
            u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32,
        )),
        Ok(n) => Err(io::Error::other(format!(
            "short read of {n} bytes on a signalfd"
        ))),
        Err(rustix::io::Errno::AGAIN) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name maps to rustix's signal of that number, and back.
    #[test]
    fn names_and_numbers_agree() {
        for (s, n) in NAMES {
            assert_eq!(by_name(s).map(Signal::as_raw), Some(n), "{s}");
            assert_eq!(name(n), Some(s));
        }
        assert_eq!(name(0), None);
        assert_eq!(name(libc::SIGRTMIN()), None);
        assert_eq!(by_name("KILL"), None);
    }

    /// A blocked signal raised at this thread waits in the set: signalfd reads it, sigwait
    /// takes it.
    #[test]
    fn blocked_signals_are_read_and_waited_for() {
        // On its own thread: the mask is per thread, and the test harness's must not change.
        std::thread::spawn(|| {
            let set = SigSet::all_but(&[libc::SIGKILL, libc::SIGSTOP]);
            set.block().unwrap();
            let fd = set.signalfd().unwrap();
            use std::os::fd::AsFd;
            assert_eq!(read_signalfd(fd.as_fd()).unwrap(), None);
            let tid = rustix::thread::gettid();
            // tgkill: to this thread, whose mask blocks the signal (a process-directed one
            // could be taken by another thread of the test harness).
            let raise = |sig: i32| {
                crate::sys::testing::syscall(
                    libc::SYS_tgkill,
                    &[
                        std::process::id() as u64,
                        tid.as_raw_nonzero().get() as u64,
                        sig as u64,
                    ],
                )
            };
            assert_eq!(raise(libc::SIGUSR1), 0);
            assert_eq!(read_signalfd(fd.as_fd()).unwrap(), Some(libc::SIGUSR1));
            let rt = libc::SIGRTMIN() + 3;
            assert_eq!(raise(rt), 0);
            assert_eq!(set.wait().unwrap(), rt);
            set.unblock().unwrap();
        })
        .join()
        .unwrap();
    }
}
