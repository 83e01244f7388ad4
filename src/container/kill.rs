//! Signals to a container: its init, or every process in it (`--all`).
//!
//! Init is addressed through a pidfd opened and then checked against the start time saved at
//! create, so a signal can never reach a process that merely reused init's pid.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::Signal;

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
    match rustix::process::pidfd_send_signal(fd.as_fd(), sig) {
        Err(rustix::io::Errno::SRCH) => Err(Error::Other("container not running".into())),
        other => other.ctx("signal container init"),
    }
}

/// Whether the container has a pid namespace of its own: a new one (a `pid` entry without a
/// path; an empty path is a new one too, as runc reads it). Without one, its init is an
/// ordinary process: when it dies, the kernel leaves the others of the container running.
pub fn own_pid_ns(config: &oci_spec::runtime::Spec) -> bool {
    config
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter().any(|n| {
                n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid
                    && n.path().as_ref().is_none_or(|p| p.as_os_str().is_empty())
            })
        })
}

/// `kill [--all] ID SIGNAL`.
///
/// Every process of the container's cgroup gets the signal, frozen first so none can fork
/// away (or all at once through cgroup.kill), when:
/// - `--all` is given (runc 1.1; also after init is gone, while processes are left);
/// - the signal is SIGKILL and the container shares a pid namespace (runc 1.4): killing its
///   init does not take the others with it, as it would in a namespace of its own.
///
/// A stopped container with nothing left to signal is no error with `--all` (runc 1.1 and
/// 1.4 agree).
///
/// Signal 0 (`None`) sends nothing: it checks that the container is alive (kill(2)'s meaning,
/// and runc's).
pub fn kill(dir: &Dir, state: &State, sig: Option<Signal>, all: bool) -> Result<()> {
    let status = state::status(dir, state);
    if let Some(sig) = sig {
        crate::log::debug_with(
            "sending signal",
            &[
                (
                    "signal",
                    &crate::sys::signal::name(sig.as_raw()).unwrap_or("?"),
                ),
                ("all", &all),
                ("pid", &state.pid),
            ],
        );
    }
    let cgroup = super::cgroup::of(state);
    if let (Some(cg), Some(sig)) = (&cgroup, sig) {
        if all || (sig == Signal::KILL && !own_pid_ns(&state.config)) {
            let left = super::cgroup::call(cg.pids())?;
            if status == Status::Stopped && left.is_empty() {
                return if all {
                    Ok(())
                } else {
                    Err(Error::Other("container not running".into()))
                };
            }
            return super::cgroup::call(cg.kill_all(sig.as_raw()));
        }
    }
    if all && status == Status::Stopped {
        return Ok(());
    }
    let fd = match (status, open_init(state)?) {
        (Status::Stopped, _) | (_, None) => {
            return Err(Error::Other("container not running".into()))
        }
        (_, Some(fd)) => fd,
    };
    let Some(sig) = sig else { return Ok(()) };
    if all {
        // No cgroup of its own (cgroups disabled, or rootless without one): the processes
        // of its pid namespace.
        for pid in container_pids(state)? {
            if let Some(p) = rustix::process::Pid::from_raw(pid).filter(|_| pid != state.pid) {
                let _ = rustix::process::kill_process(p, sig);
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
        // Whole milliseconds, as poll(2) would take them.
        let ms = left.as_millis().min(i32::MAX as u128) as i64;
        let timeout = Timespec {
            tv_sec: ms / 1000,
            tv_nsec: (ms % 1000) * 1_000_000,
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(n) if n > 0 => return Ok(true),
            Ok(_) => return Ok(false),
            Err(rustix::io::Errno::INTR) => continue,
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
        return Signal::from_named_raw(n)
            .map(Some)
            .ok_or_else(|| Error::invalid(format!("invalid signal {s:?}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    crate::sys::signal::by_name(&name)
        .map(Some)
        .ok_or_else(|| Error::invalid(format!("unknown signal {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pid_namespace() {
        let spec = |ns: serde_json::Value| -> oci_spec::runtime::Spec {
            serde_json::from_value(
                serde_json::json!({"ociVersion": "1.0.2", "linux": {"namespaces": ns}}),
            )
            .unwrap()
        };
        assert!(own_pid_ns(&spec(serde_json::json!([{"type": "pid"}]))));
        assert!(own_pid_ns(&spec(
            serde_json::json!([{"type": "pid", "path": ""}])
        )));
        assert!(!own_pid_ns(&spec(
            serde_json::json!([{"type": "pid", "path": "/proc/1/ns/pid"}])
        )));
        assert!(!own_pid_ns(&spec(serde_json::json!([{"type": "mount"}]))));
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").unwrap(), Some(Signal::KILL));
        assert_eq!(parse_signal("KILL").unwrap(), Some(Signal::KILL));
        assert_eq!(parse_signal("sigterm").unwrap(), Some(Signal::TERM));
        assert_eq!(parse_signal("SIGUSR1").unwrap(), Some(Signal::USR1));
        assert_eq!(
            parse_signal("34").ok(),
            None,
            "real-time signals are not taken"
        );
        assert_eq!(parse_signal("0").unwrap(), None);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
