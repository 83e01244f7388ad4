//! Signal names: rustix's `Signal` has the numbers but no SIGxxx names, which `kill` parses and
//! the logs print. The named signals of Linux, as runc's and nix's tables have them.

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
}
