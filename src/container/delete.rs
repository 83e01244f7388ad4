//! `delete [--force]`: stop what is left, run poststop hooks, remove every trace.
//!
//! That includes what a create killed part way left: its first record names the cgroup it was
//! about to make, every process it started is in that cgroup or died with it, and nothing but
//! the state directory holds the rest. If something cannot be removed, delete fails saying
//! what is left, and keeps the state directory so that it can be tried again.

use std::time::{Duration, Instant};

use rustix::process::Signal;

use super::kill;
use super::state::{self, Dir, State, Status};
use crate::hooks::{self, Point};
use crate::{Error, Result};

pub fn delete(dir: Dir, state: &State, force: bool) -> Result<()> {
    if state.creating {
        // We hold the lock: the create that wrote this is gone.
        return remove_interrupted(dir, state);
    }
    let status = state::status(&dir, state);
    match status {
        Status::Stopped => {}
        // A created container never ran user code: runc deletes it without --force.
        Status::Created => stop(state)?,
        _ if force => stop(state)?,
        _ => {
            return Err(Error::Other(format!(
                "cannot delete container {} that is not stopped: {}",
                state.id,
                status.as_str()
            )))
        }
    }
    if let Some(cg) = super::cgroup::of(state) {
        // Without a pid namespace of its own, a container whose init is gone can still have
        // processes; they are the container's, so they go with it (runc's destroy does this).
        // (A running one was killed whole by `stop` above.)
        if status == Status::Stopped
            && !kill::own_pid_ns(&state.config)
            && !super::cgroup::call(cg.pids())?.is_empty()
        {
            let _ = cg.thaw();
            super::cgroup::call(cg.kill_all(libc::SIGKILL))
                .map_err(|e| left_behind(&state.id, &format!("its processes ({e})")))?;
            // Their exit takes a moment; the cgroup can go only after it.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !super::cgroup::call(cg.pids())?.is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        super::cgroup::call(cg.destroy())
            .map_err(|e| left_behind(&state.id, &format!("its cgroup ({e})")))?;
    }
    if let Some(saved) = &state.resctrl {
        crate::resctrl::remove(saved)
            .map_err(|e| left_behind(&state.id, &format!("its resctrl group ({e})")))?;
    }
    if let Some(m) = &state.rootfs_mount {
        m.detach(&state.rootfs)
            .map_err(|e| left_behind(&state.id, &format!("its mounts ({e})")))?;
    }
    // The spec: a failed poststop hook is a warning; delete goes on.
    hooks::run_warn(
        state.config.hooks().as_ref(),
        Point::Poststop,
        &state.hook_json(Status::Stopped),
        hooks::Site::runtime(&state.bundle),
    );
    crate::log::debug_with("container deleted", &[("id", &state.id)]);
    dir.remove()
        .map_err(|e| left_behind(&state.id, &format!("its state directory ({e})")))
}

/// What a create killed before it finished left: every process in its cgroup (init and
/// whatever init started; init itself when the create got as far as recording it), the
/// cgroup, mounts in the state directory, the directory. The container was never created, so
/// no poststop hook runs (as when create fails).
fn remove_interrupted(dir: Dir, state: &State) -> Result<()> {
    let mut left = Vec::new();
    if let Some(fd) = kill::open_init(state)? {
        let _ = kill::signal_init(&fd, Signal::KILL);
        if !kill::wait_exit(&fd, Duration::from_secs(10))? {
            left.push(format!("its init (pid {})", state.pid));
        }
    }
    if let Some(cg) = super::cgroup::of(state) {
        if let Err(e) = empty_cgroup(cg.as_ref()).and_then(|()| super::cgroup::call(cg.destroy())) {
            left.push(format!("its cgroup ({e})"));
        }
    }
    if let Some(saved) = &state.resctrl {
        if let Err(e) = crate::resctrl::remove(saved) {
            left.push(format!("its resctrl group ({e})"));
        }
    }
    if let Some(m) = &state.rootfs_mount {
        if let Err(e) = m.detach(&state.rootfs) {
            left.push(format!("its mounts ({e})"));
        }
    }
    if !left.is_empty() {
        return Err(left_behind(&state.id, &left.join(", ")));
    }
    dir.remove()
        .map_err(|e| left_behind(&state.id, &format!("its state directory ({e})")))
}

/// Kills every process in the cgroup and waits until none is left.
fn empty_cgroup(cg: &dyn super::cgroup::Manager) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = super::cgroup::call(cg.pids())?;
        if pids.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Other(format!(
                "processes {pids:?} still there after SIGKILL"
            )));
        }
        // A frozen cgroup would hold SIGKILL until thawed.
        let _ = cg.thaw();
        super::cgroup::call(cg.kill_all(libc::SIGKILL))?;
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn left_behind(id: &str, what: &str) -> Error {
    Error::Other(format!(
        "delete {id}: could not remove {what}; the state directory is kept so that delete can \
         be run again"
    ))
}

/// SIGKILL every process of the container and wait for init to be gone.
fn stop(state: &State) -> Result<()> {
    let cg = super::cgroup::of(state);
    let Some(fd) = kill::open_init(state)? else {
        // Init is gone, but a container sharing our pid namespace may leave processes.
        if let Some(cg) = &cg {
            super::cgroup::call(cg.kill_all(libc::SIGKILL))?;
        }
        return Ok(());
    };
    if let Some(cg) = &cg {
        // A frozen cgroup would hold SIGKILL until thawed.
        let _ = cg.thaw();
        super::cgroup::call(cg.kill_all(libc::SIGKILL))?;
    }
    for pid in kill::container_pids(state)? {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
        }
    }
    let _ = kill::signal_init(&fd, Signal::KILL);
    if !kill::wait_exit(&fd, Duration::from_secs(10))? {
        return Err(Error::Other(format!(
            "container init {} did not exit after SIGKILL",
            state.pid
        )));
    }
    Ok(())
}
