//! The runtime side of the spawn: one clone makes init in its namespaces.
//!
//! A container that joins a user namespace by path and asks for new namespaces of its own (a
//! pod's second container) needs those made from inside the joined user namespace, so that it
//! owns them: made by the runtime's clone they would belong to the runtime's user namespace,
//! and init, once in the joined one, could not set them up (mount propagation, hostname). The
//! runtime cannot join a user namespace and come back, so a short-lived intermediate process
//! joins it (then the pid and time namespaces), clones init as the runtime's own child
//! (CLONE_PARENT), reports its pid and exits. runc's nsexec and crun keep the same order:
//! namespaces given by path first, the user namespace first of all, then the new ones.

use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sched::CloneFlags;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::channel::{self, Channel};
use super::init;
use crate::namespaces::{self, ParentNamespaces};
use crate::sys::clone::{clone3_unavailable, exit_now, fork_into, fork_into_cgroup, Forked};
use crate::{Context, Error, Result};

/// Clones init. In the child this never returns: it runs `init::run`.
///
/// With `cgroup` (a cgroup v2 directory), init is born in that cgroup where the kernel allows;
/// the returned flag says whether it was, and if not the caller moves it there.
pub fn spawn(
    plan: &init::Plan,
    spec: &Spec,
    cgroup: Option<BorrowedFd>,
) -> Result<(Pid, Channel, bool)> {
    // Opened here, in the runtime's own namespaces: init inherits it and makes every /proc
    // write through it.
    crate::procfs::Proc::get()?;
    let (ours, theirs) = channel::pair()?;
    if let Some(user) = joined_user(plan.ns) {
        let (pid, in_cgroup) = spawn_in_user_namespace(plan, spec, cgroup, user, &ours, theirs)?;
        return Ok((pid, ours, in_cgroup));
    }
    let joined = ParentNamespaces::enter(plan.ns, spec)?;
    match clone_init(plan.ns.clone_flags, cgroup) {
        (Ok(Forked::Child), _) => {
            // Init stays where the clone put it; only the runtime goes back.
            drop(joined);
            drop(ours);
            init::run(plan, theirs)
        }
        (Ok(Forked::Parent(pid)), in_cgroup) => {
            drop(theirs);
            // Back in our own pid/time namespaces before anything else.
            if let Err(e) = joined.restore() {
                kill_and_reap(pid);
                return Err(e);
            }
            Ok((pid, ours, in_cgroup))
        }
        (Err(e), _) => {
            let _ = joined.restore();
            Err(e).ctx("clone init")
        }
    }
}

/// The user namespace init joins by path, when it is not the runtime's own (joining one's own
/// user namespace is EINVAL, and there is nothing to do first then).
fn joined_user(ns: &namespaces::Plan) -> Option<&namespaces::Joined> {
    ns.init_joins
        .iter()
        .find(|j| j.typ == LinuxNamespaceType::User && !namespaces::is_current(j))
}

/// One clone of init with `flags`, born in `cgroup` where the kernel allows (the flag says
/// whether it was).
fn clone_init(flags: CloneFlags, cgroup: Option<BorrowedFd>) -> (nix::Result<Forked>, bool) {
    match cgroup {
        Some(fd) => match fork_into_cgroup(flags, fd) {
            Err(e) if clone3_unavailable(e) => (fork_into(flags), false),
            other => (other, true),
        },
        None => (fork_into(flags), false),
    }
}

/// Clones init through an intermediate process in the joined user namespace (see the module
/// comment). Init is the runtime's child, as with the direct clone: the runtime reaps it, and
/// its parent-death signal follows the runtime.
///
/// SIGKILL safety holds as on the direct path: the intermediate drops its copy of the
/// runtime's end of the channel before it clones, so a runtime killed at any point leaves init
/// either a parent-death signal or a closed channel, and init exits on either.
fn spawn_in_user_namespace(
    plan: &init::Plan,
    spec: &Spec,
    cgroup: Option<BorrowedFd>,
    user: &namespaces::Joined,
    ours: &Channel,
    theirs: Channel,
) -> Result<(Pid, bool)> {
    let (report_rd, report_wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx("pipe for init's pid")?;
    match fork_into(CloneFlags::empty()).ctx("fork the process that clones init")? {
        Forked::Child => {
            drop(report_rd);
            // The runtime's end stays with the runtime only: init sees it close if the
            // runtime dies.
            let _ = nix::unistd::close(ours.as_raw_fd());
            let cloned = namespaces::join(user)
                .and_then(|_| ParentNamespaces::enter(plan.ns, spec))
                .and_then(|joined| {
                    let (forked, in_cgroup) =
                        clone_init(plan.ns.clone_flags | CloneFlags::CLONE_PARENT, cgroup);
                    let forked = forked.ctx("clone init")?;
                    Ok((joined, forked, in_cgroup))
                });
            let (report, code) = match cloned {
                Ok((joined, Forked::Child, _)) => {
                    drop(joined);
                    drop(report_wr);
                    init::run(plan, theirs)
                }
                Ok((_, Forked::Parent(pid), in_cgroup)) => {
                    (format!("pid {pid} {}", u8::from(in_cgroup)), 0)
                }
                Err(e) => (e.to_string(), 1),
            };
            let _ = nix::unistd::write(&report_wr, report.as_bytes());
            exit_now(code)
        }
        Forked::Parent(mid) => {
            drop(report_wr);
            drop(theirs);
            let mut report = String::new();
            let read = std::fs::File::from(report_rd).read_to_string(&mut report);
            let _ = nix::sys::wait::waitpid(mid, None);
            read.ctx("read init's pid")?;
            let parsed = report.strip_prefix("pid ").and_then(|r| {
                let (pid, in_cgroup) = r.split_once(' ')?;
                Some((pid.parse::<i32>().ok()?, in_cgroup == "1"))
            });
            match parsed {
                Some((pid, in_cgroup)) => Ok((Pid::from_raw(pid), in_cgroup)),
                None if report.is_empty() => Err(Error::Other(
                    "the process cloning init in the joined user namespace died".into(),
                )),
                None => Err(Error::Other(format!(
                    "in the user namespace {}: {report}",
                    user.path.display()
                ))),
            }
        }
    }
}

/// Kills a child we made and reaps it (failure paths: nothing may be left behind).
pub fn kill_and_reap(pid: Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}
