//! A process the runtime stays with (`run`, `exec` in the foreground): every signal the
//! runtime gets goes to it, and the runtime exits with its status.

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::{Context, Result};

/// Blocks the signals to forward, before the process exists, so none is lost in between
/// (the child unblocks them for itself).
pub fn block_signals() -> Result<SigSet> {
    let mut set = SigSet::all();
    for s in [
        Signal::SIGKILL,
        Signal::SIGSTOP,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
    ] {
        set.remove(s);
    }
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).ctx("block signals")?;
    Ok(set)
}

pub fn unblock_signals(set: &SigSet) -> Result<()> {
    pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(set), None).ctx("unblock signals")
}

/// Waits for `pid`, passing on every signal we get; reaps other children (orphans we
/// inherited as subreaper) on the way. Returns the exit status as a shell reports it.
pub fn wait_forwarding(pid: Pid, set: &SigSet) -> Result<i32> {
    loop {
        // Reap first: the process may have exited before we started waiting.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p == pid => return Ok(exited(pid, code)),
                Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => {
                    return Ok(exited(pid, 128 + sig as i32))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        let sig = set.wait().ctx("wait for signals")?;
        if sig != Signal::SIGCHLD {
            forward(pid, sig);
        }
    }
}

/// Passes a signal on to the process (runc's debug line included).
pub fn forward(pid: Pid, sig: Signal) {
    crate::log::debug_with(
        &format!("sending signal to process {}", sig.as_str()),
        &[("pid", &pid)],
    );
    let _ = nix::sys::signal::kill(pid, sig);
}

/// The process has gone with `status` (as a shell reports it); runc's debug line.
pub fn exited(pid: Pid, status: i32) -> i32 {
    crate::log::debug_with("process exited", &[("pid", &pid), ("status", &status)]);
    status
}
