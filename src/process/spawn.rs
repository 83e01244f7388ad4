//! The runtime side of the spawn: one clone makes init in its namespaces.

use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use super::channel::{self, Channel};
use super::init;
use crate::namespaces::ParentNamespaces;
use crate::sys::clone::{fork_into, Forked};
use crate::{Context, Result};

/// Clones init. In the child this never returns: it runs `init::run`.
pub fn spawn(plan: &init::Plan, spec: &Spec) -> Result<(Pid, Channel)> {
    let (ours, theirs) = channel::pair()?;
    let joined = ParentNamespaces::enter(plan.ns, spec)?;
    let forked = fork_into(plan.ns.clone_flags);
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
            Ok((pid, ours))
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
