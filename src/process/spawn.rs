//! The one spawn path of the container's processes: `create`'s init and `exec`'s process are
//! made here, the same way; what differs between them is data ([`Spawn`]: what the child
//! joins and creates, where it is born) and the function the child runs.
//!
//! The runtime side, step by step:
//! - the channel (`channel::pair`), the runtime's end kept here, the child's handed to it;
//! - the clone: one clone(2) with the new-namespace flags (none for exec), born in the
//!   container's cgroup v2 directory where the kernel allows (clone3 CLONE_INTO_CGROUP). The pid
//!   and time namespaces cannot be joined by the child itself (they take effect for children
//!   only), so they are entered before the clone: by the runtime itself, which comes back right
//!   after (create), or by an intermediate process;
//! - the intermediate process: a user namespace given by path must be joined before the clone
//!   (new namespaces made by the runtime would belong to the runtime's user namespace, and an
//!   unprivileged runtime may join the container's pid namespace only from inside the user
//!   namespace that owns it), and the runtime cannot join a user namespace and come back. So a
//!   short-lived process joins it, then pid and time, clones the child as the runtime's own
//!   (CLONE_PARENT), reports its pid over a pipe and exits. exec always goes this way when it
//!   joins a pid or time namespace: the runtime could come back from the container's pid
//!   namespace only with CAP_SYS_ADMIN over its own, which root of a user namespace (hull under
//!   rootless podman) lacks. runc's nsexec and crun keep the same order: namespaces given by
//!   path first, the user namespace first of all, then the new ones;
//! - the messages ([`Child::next`]): the child's requests and reports until it is ready (init)
//!   or has exec'd (the channel closes on execve); a terminal's master is kept, and a seccomp
//!   notify listener is passed on to the agent at linux.seccomp.listenerPath;
//! - the reap: a child the runtime gives up on is killed and reaped ([`kill_and_reap`]).
//!
//! SIGKILL safety is the same on every route: the intermediate closes its copy of the
//! runtime's end of the channel before it clones, so a runtime killed at any point leaves the
//! child a closed channel (or, for init, its parent-death signal), and the child exits on
//! either.

use std::convert::Infallible;
use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use oci_spec::runtime::LinuxNamespaceType;
use rustix::process::{Signal, WaitOptions, WaitStatus};

use super::channel::{self, Channel, FromInit, ToInit};
use crate::namespaces::{self, ParentNamespaces};
use crate::plan::Notify;
use crate::sys::clone::{
    clone3_unavailable, exit_now, fork_into, fork_into_cgroup, CloneFlags, Forked,
};
use crate::sys::Pid;
use crate::{Context, Error, Result};

/// What to make: the differences between init and an exec'd process, as data.
pub struct Spawn<'a> {
    /// What the child is, for messages: "init", "the exec process".
    pub name: &'static str,
    /// What the child joins (by path or as init's) and what its clone creates.
    pub ns: &'a namespaces::Plan,
    /// A cgroup v2 directory the child is born in, where the kernel allows.
    pub cgroup: Option<BorrowedFd<'a>>,
    /// Whether the runtime enters the pid and time namespaces itself around the clone and
    /// comes back (create, saving a fork), or an intermediate process enters them (exec: the
    /// container's pid namespace may be one the runtime cannot come back from, see the module
    /// comment). A joined user namespace takes the intermediate either way.
    pub runtime_enters: bool,
}

/// A spawned child, the runtime's end of its channel, and what came over it.
pub struct Child {
    pub pid: Pid,
    pub chan: Channel,
    /// Whether the child was born in [`Spawn::cgroup`] (if not, the caller moves it there).
    pub in_cgroup: bool,
    /// The terminal's master, when the child sent it (the runtime relays it).
    pub console: Option<OwnedFd>,
}

/// What the child said, beyond what [`Child::next`] handles itself.
#[derive(Debug)]
pub enum Event {
    /// Init's mounts are done: run the prestart and createRuntime hooks, then answer.
    RunCreateHooks,
    /// Init is set up and waits on the exec fifo.
    Ready,
    /// The child closed its end: execve happened (close-on-exec), or it let go (init), or it
    /// died.
    Closed,
}

/// Makes the child. In the child this never returns: it runs `child` with its end of the
/// channel (a function that never returns: `Infallible` stands for `!`, which a closure
/// bound cannot name on stable Rust).
pub fn spawn<F>(how: &Spawn, child: F) -> Result<Child>
where
    F: FnOnce(Channel) -> Infallible,
{
    // Opened here, in the runtime's own namespaces: the child inherits it and makes every
    // /proc write through it, never through the container's /proc.
    crate::procfs::Proc::get()?;
    let (ours, theirs) = channel::pair()?;
    let user = joined_user(how.ns);
    let (pid, in_cgroup) =
        if user.is_some() || (!how.runtime_enters && !how.ns.parent_joins.is_empty()) {
            through_intermediate(how, user, &ours, theirs, child)?
        } else {
            direct(how, ours.as_raw_fd(), theirs, child)?
        };
    Ok(Child {
        pid,
        chan: ours,
        in_cgroup,
        console: None,
    })
}

/// The user namespace the child joins by path, when it is not the runtime's own (joining one's
/// own user namespace is EINVAL, and there is nothing to do first then).
fn joined_user(ns: &namespaces::Plan) -> Option<&namespaces::Joined> {
    ns.init_joins
        .iter()
        .find(|j| j.typ == LinuxNamespaceType::User && !namespaces::is_current(j))
}

/// The runtime clones the child itself, entering the pid and time namespaces around the clone
/// (only its children are affected) and coming back at once.
fn direct<F>(how: &Spawn, ours: i32, theirs: Channel, child: F) -> Result<(Pid, bool)>
where
    F: FnOnce(Channel) -> Infallible,
{
    let joined = ParentNamespaces::enter(how.ns)?;
    match clone_in(how.ns.clone_flags, how.cgroup) {
        (Ok(Forked::Child), _) => {
            // The child stays where the clone put it; only the runtime goes back.
            drop(joined);
            let _ = crate::sys::exec::close_one(ours);
            run_child(child, theirs)
        }
        (Ok(Forked::Parent(pid)), in_cgroup) => {
            drop(theirs);
            // Back in our own pid/time namespaces before anything else.
            if let Err(e) = joined.restore() {
                kill_and_reap(pid);
                return Err(e);
            }
            Ok((pid, in_cgroup))
        }
        (Err(e), _) => {
            let _ = joined.restore();
            Err(e).ctx(format!("clone {}", how.name))
        }
    }
}

/// One clone with `flags`, born in `cgroup` where the kernel allows (the flag says whether it
/// was).
fn clone_in(flags: CloneFlags, cgroup: Option<BorrowedFd>) -> (rustix::io::Result<Forked>, bool) {
    match cgroup {
        Some(fd) => match fork_into_cgroup(flags, fd) {
            Err(e) if clone3_unavailable(e) => (fork_into(flags), false),
            other => (other, true),
        },
        None => (fork_into(flags), false),
    }
}

/// The child cloned by an intermediate process that joins `user` (when given), then the pid
/// and time namespaces (see the module comment). The child is the runtime's own, as with the
/// direct clone: the runtime reaps it, and init's parent-death signal follows the runtime.
fn through_intermediate<F>(
    how: &Spawn,
    user: Option<&namespaces::Joined>,
    ours: &Channel,
    theirs: Channel,
    child: F,
) -> Result<(Pid, bool)>
where
    F: FnOnce(Channel) -> Infallible,
{
    let name = how.name;
    let (report_rd, report_wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .with_ctx(|| format!("pipe for the pid of {name}"))?;
    match fork_into(CloneFlags::empty())
        .with_ctx(|| format!("fork the process that clones {name}"))?
    {
        Forked::Child => {
            drop(report_rd);
            // The runtime's end stays with the runtime only: the child sees it close if the
            // runtime dies (this copy would reach the child until its execve).
            let _ = crate::sys::exec::close_one(ours.as_raw_fd());
            let cloned = user
                .map_or(Ok(()), namespaces::join)
                .and_then(|_| ParentNamespaces::enter(how.ns))
                .and_then(|joined| {
                    let flags = how.ns.clone_flags | CloneFlags::CLONE_PARENT;
                    let (forked, in_cgroup) = clone_in(flags, how.cgroup);
                    let forked = forked.with_ctx(|| format!("clone {name}"))?;
                    Ok((joined, forked, in_cgroup))
                });
            let (report, code) = match cloned {
                Ok((joined, Forked::Child, _)) => {
                    drop(joined);
                    drop(report_wr);
                    run_child(child, theirs)
                }
                Ok((_, Forked::Parent(pid), in_cgroup)) => {
                    (format!("pid {pid} {}", u8::from(in_cgroup)), 0)
                }
                Err(e) => (e.to_string(), 1),
            };
            let _ = rustix::io::write(&report_wr, report.as_bytes());
            exit_now(code)
        }
        Forked::Parent(mid) => {
            drop(report_wr);
            drop(theirs);
            let mut report = String::new();
            let read = std::fs::File::from(report_rd).read_to_string(&mut report);
            let _ = wait(mid);
            read.with_ctx(|| format!("read the pid of {name}"))?;
            let parsed = report.strip_prefix("pid ").and_then(|r| {
                let (pid, in_cgroup) = r.split_once(' ')?;
                Some((pid.parse::<i32>().ok()?, in_cgroup == "1"))
            });
            match (parsed, user) {
                (Some((pid, in_cgroup)), _) => Ok((Pid::from_raw(pid), in_cgroup)),
                (None, _) if report.is_empty() => Err(Error::Other(format!(
                    "the process cloning {name} in the container's namespaces died"
                ))),
                (None, Some(user)) => Err(Error::Other(format!(
                    "in the user namespace {}: {report}",
                    user.path.display()
                ))),
                (None, None) => Err(Error::Other(report)),
            }
        }
    }
}

impl Child {
    /// Waits for the child's next request or report. What the runtime does the same way for
    /// init and exec is done here: a terminal's master is kept ([`Child::console`]), a seccomp
    /// notify listener goes to the agent (with the container's `state()`), and a failure is
    /// the child's error. On an error the child may still run: the caller kills it.
    pub fn next<S: serde::Serialize>(
        &mut self,
        notify: &Notify,
        state: &dyn Fn() -> S,
    ) -> Result<Event> {
        loop {
            match self.chan.recv::<FromInit>()? {
                None => return Ok(Event::Closed),
                Some((FromInit::Console, fd)) => self.console = fd,
                Some((FromInit::SeccompListenerFd(n), _)) => {
                    if let Err(e) = pass_listener(notify, self.pid.as_raw(), n, &state()) {
                        let _ = self.chan.send(&ToInit::Abort(e.to_string()));
                        return Err(e);
                    }
                    self.chan.send(&ToInit::Continue(None))?;
                }
                Some((FromInit::RunCreateHooks, _)) => return Ok(Event::RunCreateHooks),
                Some((FromInit::Ready, _)) => return Ok(Event::Ready),
                Some((FromInit::Failed(msg), _)) => return Err(Error::Init(msg)),
            }
        }
    }

    /// The error for a child that closed its channel before it was done: its exit status,
    /// once reaped.
    pub fn vanished(&self, during: &str) -> Error {
        match wait(self.pid) {
            Some(status) => Error::Other(format!("{during}: {}", ended(self.pid, status))),
            None => Error::Other(during.to_string()),
        }
    }
}

/// Takes a seccomp notify listener out of process `pid` (fd `n` there) with pidfd_getfd(2),
/// as runc does, and hands it to the agent at linux.seccomp.listenerPath with
/// `containerProcessState` (the container's `state` inside). Init and exec'd processes write
/// only the fd number after loading their filter: sendmsg could be trapped by a notify rule
/// before the agent holds the listener.
fn pass_listener<S: serde::Serialize>(notify: &Notify, pid: i32, n: i32, state: &S) -> Result<()> {
    use std::os::fd::AsFd;
    let Some(path) = &notify.listener_path else {
        return Err(Error::invalid(
            "linux.seccomp.listenerPath: required when a rule uses SCMP_ACT_NOTIFY",
        ));
    };
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid).ok_or_else(|| Error::Other("no pid".into()))?,
        rustix::process::PidfdFlags::empty(),
    )
    .ctx("pidfd_open the process with the seccomp listener")?;
    let listener =
        rustix::process::pidfd_getfd(&pidfd, n, rustix::process::PidfdGetfdFlags::empty())
            .with_ctx(|| format!("take the seccomp listener (fd {n} of pid {pid})"))?;
    let metadata = notify.listener_metadata.as_deref();
    crate::security::seccomp::send_listener(path, metadata, pid, state, listener.as_fd())
}

/// In the child: joins the namespaces it joins itself (all but pid and time, which were
/// entered before the clone), in `namespaces`' order, mount last. A user namespace joined on
/// the way (by the intermediate process) is skipped: joining one's own is EINVAL.
pub fn join_in_child(ns: &namespaces::Plan) -> Result<()> {
    for j in &ns.init_joins {
        if !(j.typ == LinuxNamespaceType::User && namespaces::is_current(j)) {
            namespaces::join(j)?;
        }
    }
    Ok(())
}

/// Runs the child's side, which never returns (exec or exit).
#[allow(unreachable_code)] // (the call diverges: the compiler sees the match as unreachable)
fn run_child<F: FnOnce(Channel) -> Infallible>(child: F, chan: Channel) -> ! {
    match child(chan) {}
}

/// Kills a child we made and reaps it (failure paths: nothing may be left behind).
pub fn kill_and_reap(pid: Pid) {
    if let Some(p) = pid.to_rustix() {
        let _ = rustix::process::kill_process(p, Signal::KILL);
    }
    wait(pid);
}

/// Waits for the child `pid` to end and reaps it: its status, unless the wait failed.
fn wait(pid: Pid) -> Option<WaitStatus> {
    let pid = pid.to_rustix()?;
    let (_, status) = rustix::process::waitpid(Some(pid), WaitOptions::empty()).ok()??;
    Some(status)
}

/// How a reaped child ended, in the words the runtime's messages have always used:
/// `Exited(Pid(42), 1)`, `Signaled(Pid(42), SIGKILL, false)` (the last: core dumped).
fn ended(pid: Pid, status: WaitStatus) -> String {
    if let Some(code) = status.exit_status() {
        return format!("Exited({pid:?}, {code})");
    }
    match status.terminating_signal() {
        Some(sig) => {
            let name = crate::sys::signal::name(sig).map_or_else(|| sig.to_string(), String::from);
            let core = libc::WCOREDUMP(status.as_raw());
            format!("Signaled({pid:?}, {name}, {core})")
        }
        None => format!("{status:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing to join or create: the direct route, whose child branch neither allocates nor
    /// frees (the test harness is threaded, and a raw clone runs no atfork handlers).
    fn nothing() -> namespaces::Plan {
        namespaces::Plan::empty()
    }

    fn spawn_writing(packet: &'static [u8], code: i32) -> Child {
        let ns = nothing();
        let how = Spawn {
            name: "the test child",
            ns: &ns,
            cgroup: None,
            runtime_enters: false,
        };
        spawn(&how, |chan| {
            // write(2) alone: one packet on the SOCK_SEQPACKET channel.
            let _ = rustix::io::write(&chan, packet);
            exit_now(code)
        })
        .unwrap()
    }

    #[test]
    fn the_runtime_sees_ready_then_the_end_and_the_exit_status() {
        let notify = Notify::default();
        let mut child = spawn_writing(br#""Ready""#, 7);
        assert!(matches!(child.next(&notify, &|| 0), Ok(Event::Ready)));
        assert!(matches!(child.next(&notify, &|| 0), Ok(Event::Closed)));
        let err = child.vanished("the test child exited").to_string();
        assert!(err.contains("Exited") && err.contains(", 7)"), "{err}");
    }

    #[test]
    fn a_failure_is_the_childs_error() {
        let notify = Notify::default();
        let mut child = spawn_writing(br#"{"Failed":"mounts[3] (/data): no"}"#, 1);
        match child.next(&notify, &|| 0) {
            Err(Error::Init(msg)) => assert_eq!(msg, "mounts[3] (/data): no"),
            other => panic!("{other:?}"),
        }
        kill_and_reap(child.pid);
    }

    #[test]
    fn a_listener_without_a_listener_path_is_refused() {
        let notify = Notify::default();
        let mut child = spawn_writing(br#"{"SeccompListenerFd":5}"#, 0);
        let err = child.next(&notify, &|| 0).unwrap_err().to_string();
        assert!(err.contains("linux.seccomp.listenerPath"), "{err}");
        kill_and_reap(child.pid);
    }

    #[test]
    fn a_child_killed_by_a_signal_is_described_by_the_signal() {
        use crate::sys::testing::{fork, ForkResult};
        let child = match fork().unwrap() {
            ForkResult::Child => {
                let _ = rustix::process::kill_process(rustix::process::getpid(), Signal::KILL);
                exit_now(1)
            }
            ForkResult::Parent { child } => Pid::from_raw(child.as_raw_nonzero().get()),
        };
        let status = wait(child).expect("the child's status");
        assert_eq!(
            ended(child, status),
            format!("Signaled(Pid({child}), SIGKILL, false)")
        );
    }
}
