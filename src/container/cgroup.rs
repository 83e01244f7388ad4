//! The container's cgroup: planned from linux.cgroupsPath and linux.resources by
//! `plan::cgroup`, made and filled here at create, kept in state.json, used by pause, resume,
//! update, ps, events, kill --all and delete.

use oci_spec::runtime::{LinuxResources, Spec};

use super::state::State;
use crate::{Error, Result};

pub use crate::plan::cgroup::Driver;
pub use hull_cgroups::Manager;

fn err(e: hull_cgroups::Error) -> Error {
    match e {
        hull_cgroups::Error::Invalid(m) => Error::Invalid(m),
        other => Error::Other(other.to_string()),
    }
}

/// Refuses a cgroup a new container must not join (after the id was found free, before the
/// cgroup is made, as runc orders it): one with processes would mix containers (and `kill
/// --all` would reach the others), a frozen one would freeze init and hang create.
pub fn check_new(m: &dyn Manager) -> Result<()> {
    m.check_new()
        .map_err(|e| Error::invalid(format!("linux.cgroupsPath: {}", err(e))))
}

/// The manager of an existing container, from its state.
pub fn of(state: &State) -> Option<Box<dyn Manager>> {
    state.cgroup.as_ref().map(hull_cgroups::Handle::manager)
}

/// Whether a failure to make the cgroup may be passed over: rootless, the caller may not write
/// there, and the config sets no limits. runc's rule: such a container runs in the caller's
/// cgroup, with a warning; with limits it is an error, since they would silently not hold.
pub fn skip_unwritable(e: hull_cgroups::Error, has_limits: bool) -> Result<()> {
    let denied = matches!(e.errno(), Some(libc::EACCES | libc::EPERM | libc::EROFS));
    if !crate::namespaces::rootless() || !denied {
        return Err(err(e));
    }
    if has_limits {
        return Err(Error::Other(format!(
            "linux.resources: limits need a cgroup this rootless caller may write ({e})"
        )));
    }
    crate::log::warn(&format!(
        "rootless: the container stays in the caller's cgroup ({e})"
    ));
    Ok(())
}

/// Puts init in its cgroup (unless it was born there: `join` false) and applies the config's
/// resources, with runc's default device rules after the config's own. `Ok(false)`: a rootless caller could not, and may go without.
pub fn apply(m: &dyn Manager, plan: &crate::plan::Cgroup, pid: i32, join: bool) -> Result<bool> {
    if join {
        if let Err(e) = m.apply(pid) {
            skip_unwritable(e, plan.has_limits)?;
            return Ok(false);
        }
    }
    m.set(&plan.resources)
        .map_err(|e| Error::Other(format!("linux.resources: {}", err(e))))?;
    Ok(true)
}

/// Applies `update`'s resources (0 and absent leave a setting as it is). Device rules, when
/// given, replace the config's and get the same defaults after them as at create (the manager
/// moves the cgroup to the new list by its differences). runc's `update` leaves device rules
/// alone whatever it is given; hull applies them rather than drop them silently.
pub fn update(m: &dyn Manager, config: &Spec, r: &LinuxResources) -> Result<()> {
    let mut r = r.clone();
    if let Some(devices) = r.devices().clone().filter(|d| !d.is_empty()) {
        let mut with_rules = config.clone();
        let mut linux = with_rules.linux().clone().unwrap_or_default();
        let mut res = LinuxResources::default();
        res.set_devices(Some(devices));
        linux.set_resources(Some(res));
        with_rules.set_linux(Some(linux));
        r.set_devices(
            crate::plan::cgroup::resources(&with_rules)
                .devices()
                .clone(),
        );
    }
    m.set(&r).map_err(err)
}

pub fn call<T>(r: hull_cgroups::Result<T>) -> Result<T> {
    r.map_err(err)
}

/// `exec --cgroup`: moves `pid` into existing sub-cgroups of the container's cgroup. Each
/// entry is `PATH` (every hierarchy) or `CTRL[,CTRL]:PATH` (the hierarchies of those
/// controllers), as runc takes them.
pub fn join_sub(state: &State, pid: i32, entries: &[String]) -> Result<()> {
    let Some(handle) = &state.cgroup else {
        return Err(Error::invalid("--cgroup: the container has no cgroup"));
    };
    handle.add_process_below(pid, entries).map_err(|e| match e {
        hull_cgroups::Error::Invalid(m) => Error::Invalid(m),
        other => Error::Other(format!("--cgroup: {other}")),
    })
}

/// The cgroup CRIU freezes the container in while it dumps (without one it stops each task
/// with ptrace, racing forks): v1's freezer hierarchy, or the v2 cgroup itself.
pub fn freezer_path(state: &State) -> Option<std::path::PathBuf> {
    Some(state.cgroup.as_ref()?.freezer_dir()?.to_path_buf())
}
