//! Which file descriptors reach a container's process: stdio, then the fds the caller really
//! passed (systemd socket activation's LISTEN_FDS, then `--preserve-fds N`), as fds 3, 4, ...
//! Nothing else: every fd hull opens is close-on-exec, and the processes it starts in a
//! container close everything else before any of the container's code can run (init before it
//! waits for `start`, exec'd processes before they switch user).
//!
//! The passed fds are claimed first thing, before hull opens anything: a number the caller did
//! not pass would otherwise be taken by one of hull's own fds (the state directory, the exec
//! fifo) and handed over to the container, the CVE-2024-21626 pattern. A missing fd is an
//! error, as in runc ("unable to stat preserved-fd").

use crate::{Error, Result};

/// The first fd after stdio.
pub const FIRST: i32 = 3;

/// The fds the caller passed, checked to be open and made close-on-exec (hull's own children,
/// hooks among them, must not get them; init and exec clear the flag just before execve).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Passed {
    /// fds 3..3+count.
    pub count: u32,
    /// What the process's environment gets (LISTEN_FDS and LISTEN_PID for socket activation).
    pub env: Vec<String>,
}

impl Passed {
    /// The passed fds, for a process that must keep them.
    pub fn fds(&self) -> std::ops::Range<i32> {
        FIRST..FIRST + self.count as i32
    }
}

/// Claims what the caller passed: `preserve` fds from `--preserve-fds`, after the LISTEN_FDS
/// ones when `socket_activation` is on (create and run, as runc; not exec). Call before the
/// process opens any fd of its own.
pub fn claim(preserve: u32, socket_activation: bool) -> Result<Passed> {
    let listen = if socket_activation { listen_fds() } else { 0 };
    let env = if listen > 0 {
        // runc's words to the container: its init is the receiver.
        vec![format!("LISTEN_FDS={listen}"), "LISTEN_PID=1".to_string()]
    } else {
        Vec::new()
    };
    let count = listen
        .checked_add(preserve)
        .filter(|&n| n < i32::MAX as u32 - FIRST as u32)
        .ok_or_else(|| Error::invalid(format!("--preserve-fds {preserve}: too many")))?;
    for i in 0..count {
        let fd = FIRST + i as i32;
        let what = if i < listen {
            format!("LISTEN_FDS={listen}: fd {fd}")
        } else {
            let n = i - listen;
            format!("--preserve-fds {preserve}: preserved fd {n} (fd {fd})")
        };
        if !crate::sys::exec::is_open(fd) {
            return Err(Error::invalid(format!(
                "{what} is not open: the caller did not pass it"
            )));
        }
        crate::sys::exec::set_cloexec(fd)
            .map_err(|e| Error::os(format!("{what}: set close-on-exec"), e))?;
    }
    Ok(Passed { count, env })
}

/// LISTEN_FDS, when it is meant for this process: systemd's protocol says LISTEN_PID names the
/// receiver, and fds meant for another process are not ours to pass on (runc reads them the
/// same way). A LISTEN_FDS without LISTEN_PID is taken, as earlier hull and crun take it.
fn listen_fds() -> u32 {
    listen_count(
        std::env::var("LISTEN_FDS").ok().as_deref(),
        std::env::var("LISTEN_PID").ok().as_deref(),
        std::process::id(),
    )
}

fn listen_count(fds: Option<&str>, pid: Option<&str>, me: u32) -> u32 {
    let Some(n) = fds.and_then(|v| v.parse::<u32>().ok()) else {
        return 0;
    };
    match pid {
        Some(pid) if pid.parse::<u32>().ok() != Some(me) => 0,
        _ => n,
    }
}

/// Closes every fd but stdio, the passed ones and `also` (in a child of the runtime, before
/// the container's code can run; see [`crate::sys::exec::close_from_except`]).
pub fn close_others(passed: u32, also: &[i32]) -> Result<()> {
    crate::sys::exec::close_from_except(FIRST as u32 + passed, also)
        .map_err(|e| Error::os("close the runtime's fds", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::exec::is_open;

    use crate::sys::testing::in_forked_child as in_child;

    #[test]
    fn close_from_except_keeps_exactly_what_it_is_told() {
        in_child(|| {
            let open = || std::os::fd::IntoRawFd::into_raw_fd(std::fs::File::open("/").unwrap());
            let (a, b, c) = (open(), open(), open());
            crate::sys::exec::close_from_except(a.min(b).min(c) as u32, &[b]).is_ok()
                && !is_open(a)
                && is_open(b)
                && !is_open(c)
                && is_open(0)
        });
    }

    #[test]
    fn only_fds_the_caller_has_are_claimed() {
        in_child(|| {
            // Nothing above stdio: claiming one preserved fd fails, and names it.
            crate::sys::exec::close_from_except(3, &[]).unwrap();
            let missing = claim(1, false).unwrap_err().to_string();
            // With fd 3 passed (not close-on-exec), it is claimed and made close-on-exec.
            crate::sys::testing::dup2_raw(0, 3).unwrap();
            crate::sys::exec::clear_cloexec(3).unwrap();
            let passed = claim(1, false).unwrap();
            let cloexec = crate::sys::testing::is_cloexec(3);
            missing.contains("preserved fd 0 (fd 3) is not open")
                && passed.count == 1
                && passed.env.is_empty()
                && cloexec
                && claim(2, false).is_err()
        });
    }

    #[test]
    fn listen_fds_only_when_meant_for_us() {
        assert_eq!(listen_count(Some("2"), None, 10), 2);
        assert_eq!(listen_count(Some("2"), Some("10"), 10), 2);
        assert_eq!(listen_count(Some("2"), Some("11"), 10), 0);
        assert_eq!(listen_count(Some("x"), None, 10), 0);
        assert_eq!(listen_count(None, Some("10"), 10), 0);
    }
}
