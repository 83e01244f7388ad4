//! Signals to a container: its init, or every process in it (`--all`).
//!
//! Init is addressed through a pidfd opened and then checked against the start time saved at
//! create, so a signal can never reach a process that merely reused init's pid.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::state::{self, Dir, State, Status};
use crate::{Context, Error, Result};

/// A pidfd on the container's init, or `None` when init is gone.
pub fn open_init(state: &State) -> Result<Option<OwnedFd>> {
    if state.pid <= 0 {
        return Ok(None);
    }
    let pid = rustix::process::Pid::from_raw(state.pid).expect("positive pid");
    let fd = match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::SRCH) => return Ok(None),
        Err(e) => return Err(e).ctx("pidfd_open init"),
    };
    // The pidfd pins the process: if the start time matches now, it is our init.
    if state::init_alive(state) {
        Ok(Some(fd))
    } else {
        Ok(None)
    }
}

pub fn signal_init(fd: &OwnedFd, sig: Signal) -> Result<()> {
    let sig = rustix::process::Signal::from_named_raw(sig as i32).expect("valid signal");
    match rustix::process::pidfd_send_signal(fd.as_fd(), sig) {
        Err(rustix::io::Errno::SRCH) => Err(Error::Other("container not running".into())),
        other => other.ctx("signal container init"),
    }
}

/// `kill [--all] ID SIGNAL`. Signal 0 (`None`) sends nothing: it checks that the container
/// is alive (kill(2)'s meaning, and runc's).
pub fn kill(dir: &Dir, state: &State, sig: Option<Signal>, all: bool) -> Result<()> {
    let status = state::status(dir, state);
    let fd = match (status, open_init(state)?) {
        (Status::Stopped, _) | (_, None) => {
            return Err(Error::Other("container not running".into()))
        }
        (_, Some(fd)) => fd,
    };
    let Some(sig) = sig else { return Ok(()) };
    crate::log::debug_with(
        "sending signal",
        &[
            ("signal", &sig.as_str()),
            ("all", &all),
            ("pid", &state.pid),
        ],
    );
    if all {
        if let Some(cg) = super::cgroup::of(state) {
            return super::cgroup::call(cg.kill_all(sig as i32));
        }
        for pid in container_pids(state)? {
            if pid != state.pid {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
            }
        }
    }
    signal_init(&fd, sig)
}

/// Every process of the container, found by its pid namespace. (The cgroup is the better
/// source where the container has one of its own.)
pub fn container_pids(state: &State) -> Result<Vec<i32>> {
    let ns_of = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(init_ns) = ns_of(state.pid) else {
        return Ok(Vec::new());
    };
    let own_ns = ns_of(std::process::id() as i32);
    if own_ns.as_ref() == Some(&init_ns) {
        // The container shares our pid namespace: only init is known to be its own.
        return Ok(vec![state.pid]);
    }
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").ctx("read /proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if ns_of(pid).as_ref() == Some(&init_ns) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// Waits until the process behind `fd` has exited.
pub fn wait_exit(fd: &OwnedFd, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(
            &mut fds,
            nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX),
        ) {
            Ok(n) if n > 0 => return Ok(true),
            Ok(_) => return Ok(false),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).ctx("wait for container init to exit"),
        }
    }
}

/// Parses a signal as runc does: a number, or a name with or without "SIG". 0 is `None`:
/// no signal, a liveness check.
pub fn parse_signal(s: &str) -> Result<Option<Signal>> {
    if let Ok(n) = s.parse::<i32>() {
        if n == 0 {
            return Ok(None);
        }
        return Signal::try_from(n)
            .map(Some)
            .map_err(|_| Error::invalid(format!("invalid signal {s:?}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map(Some)
        .map_err(|_| Error::invalid(format!("unknown signal {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("KILL").unwrap(), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("sigterm").unwrap(), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("SIGUSR1").unwrap(), Some(Signal::SIGUSR1));
        assert_eq!(parse_signal("0").unwrap(), None);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
