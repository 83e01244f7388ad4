//! The runtime side of the spawn: one clone makes init in its namespaces.

use std::os::fd::BorrowedFd;

use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use super::channel::{self, Channel};
use super::init;
use crate::namespaces::ParentNamespaces;
use crate::sys::clone::{clone3_unavailable, fork_into, fork_into_cgroup, Forked};
use crate::{Context, Result};

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
    let joined = ParentNamespaces::enter(plan.ns, spec)?;
    let mut in_cgroup = false;
    let forked = match cgroup {
        Some(fd) => match fork_into_cgroup(plan.ns.clone_flags, fd) {
            Err(e) if clone3_unavailable(e) => fork_into(plan.ns.clone_flags),
            other => {
                in_cgroup = true;
                other
            }
        },
        None => fork_into(plan.ns.clone_flags),
    };
    match forked {
        Ok(Forked::Child) => {
            // Init stays where the clone put it; only the runtime goes back.
            drop(joined);
            drop(ours);
            init::run(plan, theirs)
        }
        Ok(Forked::Parent(pid)) => {
            drop(theirs);
            // Back in our own pid/time namespaces before anything else.
            if let Err(e) = joined.restore() {
                kill_and_reap(pid);
                return Err(e);
            }
            Ok((pid, ours, in_cgroup))
        }
        Err(e) => {
            let _ = joined.restore();
            Err(e).ctx("clone init")
        }
    }
}

/// Kills a child we made and reaps it (failure paths: nothing may be left behind).
pub fn kill_and_reap(pid: Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}
