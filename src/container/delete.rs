//! `delete [--force]`: stop what is left, run poststop hooks, remove every trace.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::kill;
use super::state::{self, Dir, State, Status};
use crate::hooks::{self, Point};
use crate::{Error, Result};

pub fn delete(dir: Dir, state: &State, force: bool) -> Result<()> {
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
        super::cgroup::call(cg.destroy())?;
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
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = kill::signal_init(&fd, Signal::SIGKILL);
    if !kill::wait_exit(&fd, Duration::from_secs(10))? {
        return Err(Error::Other(format!(
            "container init {} did not exit after SIGKILL",
            state.pid
        )));
    }
    Ok(())
}
