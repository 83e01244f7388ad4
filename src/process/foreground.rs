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
                Ok(WaitStatus::Exited(p, code)) if p == pid => return Ok(code),
                Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => return Ok(128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        let sig = set.wait().ctx("wait for signals")?;
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(pid, sig);
        }
    }
}
