//! A process the runtime stays with (`run`, `exec` in the foreground): every signal the
//! runtime gets goes to it, and the runtime exits with its status.

use rustix::process::{Signal, WaitOptions};

use crate::sys::signal::{self, SigSet};
use crate::sys::Pid;
use crate::{Context, Result};

/// Blocks the signals to forward, before the process exists, so none is lost in between
/// (the child unblocks them for itself).
pub fn block_signals() -> Result<SigSet> {
    let set = SigSet::all_but(&[
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
    ]);
    set.block().ctx("block signals")?;
    Ok(set)
}

pub fn unblock_signals(set: &SigSet) -> Result<()> {
    set.unblock().ctx("unblock signals")
}

/// Reaps every child that has exited (orphans we inherited as subreaper among them); the
/// exit status of `pid`, as a shell reports it, once it is one of them.
pub fn reap(pid: Pid) -> Option<i32> {
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((p, status))) if p.as_raw_nonzero().get() == pid.as_raw() => {
                if let Some(code) = status.exit_status() {
                    return Some(exited(pid, code));
                }
                if let Some(sig) = status.terminating_signal() {
                    return Some(exited(pid, 128 + sig));
                }
            }
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Waits for `pid`, passing on every signal we get; reaps other children (orphans we
/// inherited as subreaper) on the way. Returns the exit status as a shell reports it.
pub fn wait_forwarding(pid: Pid, set: &SigSet) -> Result<i32> {
    loop {
        // Reap first: the process may have exited before we started waiting.
        if let Some(status) = reap(pid) {
            return Ok(status);
        }
        let sig = set.wait().ctx("wait for signals")?;
        if sig != libc::SIGCHLD {
            forward(pid, sig);
        }
    }
}

/// Passes a signal on to the process (runc's debug line included). Signals without a name
/// (the real-time ones) are not passed on: the terminal relay never did, and this wait
/// failed on them (runc forwards them; hull does not yet).
pub fn forward(pid: Pid, sig: i32) {
    let (Some(name), Some(signal)) = (signal::name(sig), Signal::from_named_raw(sig)) else {
        return;
    };
    crate::log::debug_with(
        &format!("sending signal to process {name}"),
        &[("pid", &pid)],
    );
    if let Some(p) = pid.to_rustix() {
        let _ = rustix::process::kill_process(p, signal);
    }
}

/// The process has gone with `status` (as a shell reports it); runc's debug line.
pub fn exited(pid: Pid, status: i32) -> i32 {
    crate::log::debug_with("process exited", &[("pid", &pid), ("status", &status)]);
    status
}
