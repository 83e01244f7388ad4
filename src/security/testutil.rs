//! Run a step in a forked child and report what happened, so tests can drop
//! capabilities and load filters without touching the test process.

use std::io::Read;
use std::os::fd::OwnedFd;

use rustix::process::{waitpid, Pid, WaitOptions, WaitStatus};

use crate::sys::clone::exit_now;
use crate::sys::testing::{alarm, execv, fork, ForkResult};
// The skip line and the root check live with the other test wrappers, below everything that
// uses them (the tests of sys too).
pub use crate::sys::testing::{is_root, skip};

/// How the child ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The step returned Ok with this report (or the exec'd program printed it).
    Exited(String),
    /// The step returned an error, or the exec'd program failed.
    Failed(String),
    /// The child was killed by this signal (e.g. SIGSYS from a KILL action).
    Signaled(i32),
}

/// A child that hangs (a notification nobody answers) dies of SIGALRM instead.
const CHILD_TIMEOUT_SECS: u32 = 20;

fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe2")
}

/// write(2) straight from the child: no locks, no buffering.
fn raw_write(fd: &OwnedFd, bytes: &[u8]) {
    let mut off = 0;
    while off < bytes.len() {
        match rustix::io::write(fd, &bytes[off..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => off += n,
        }
    }
}

fn read_all(fd: OwnedFd) -> String {
    let mut s = String::new();
    let _ = std::fs::File::from(fd).read_to_string(&mut s);
    s
}

fn wait(pid: Pid) -> WaitStatus {
    loop {
        match waitpid(Some(pid), WaitOptions::empty()) {
            Err(rustix::io::Errno::INTR) => continue,
            other => return other.expect("waitpid").expect("a status").1,
        }
    }
}

/// Run `step` in a forked child. The child only runs `step` and writes its report to
/// a pipe; glibc's fork makes malloc usable in the child of a threaded test process.
pub fn in_child<F>(step: F) -> Outcome
where
    F: FnOnce() -> Result<String, String>,
{
    let (r, w) = pipe();
    // The child runs `step` and leaves with exit_now, never returning to the test harness.
    match fork().expect("fork") {
        ForkResult::Child => {
            drop(r);
            alarm(CHILD_TIMEOUT_SECS);
            let (tag, msg) = match step() {
                Ok(m) => (b'O', m),
                Err(m) => (b'E', m),
            };
            raw_write(&w, &[tag]);
            raw_write(&w, msg.as_bytes());
            // Leave without running the parent's atexit handlers.
            exit_now(0)
        }
        ForkResult::Parent { child } => {
            drop(w);
            let report = read_all(r);
            let status = wait(child);
            match status.terminating_signal() {
                Some(sig) => Outcome::Signaled(sig),
                None => match report.split_at_checked(1) {
                    Some(("O", m)) => Outcome::Exited(m.to_string()),
                    Some(("E", m)) => Outcome::Failed(m.to_string()),
                    _ => Outcome::Failed(format!("child reported nothing: {report:?}")),
                },
            }
        }
    }
}

/// Run `setup` in a forked child, then execve `argv` with stdout captured.
pub fn exec_in_child<F>(setup: F, argv: &[&str]) -> Outcome
where
    F: FnOnce() -> Result<(), String>,
{
    let argv: Vec<std::ffi::CString> = argv
        .iter()
        .map(|a| std::ffi::CString::new(*a).unwrap())
        .collect();
    let (status_r, status_w) = pipe();
    let (out_r, out_w) = pipe();
    // As in `in_child`; the child ends in execve or exit_now.
    match fork().expect("fork") {
        ForkResult::Child => {
            drop(status_r);
            drop(out_r);
            alarm(CHILD_TIMEOUT_SECS);
            if let Err(m) = setup() {
                raw_write(&status_w, m.as_bytes());
                exit_now(1)
            }
            // Onto stdout; the pipe's write end stays open until exec.
            let _ = rustix::stdio::dup2_stdout(&out_w);
            let err = execv(&argv[0], &argv);
            raw_write(&status_w, format!("execv: {err}").as_bytes());
            exit_now(1)
        }
        ForkResult::Parent { child } => {
            drop(status_w);
            drop(out_w);
            let status = read_all(status_r);
            let out = read_all(out_r);
            let waited = wait(child);
            match (waited.terminating_signal(), waited.exit_status()) {
                (Some(sig), _) => Outcome::Signaled(sig),
                _ if !status.is_empty() => Outcome::Failed(status),
                (_, Some(0)) => Outcome::Exited(out),
                _ => Outcome::Failed(format!("{waited:?}: {out}")),
            }
        }
    }
}
