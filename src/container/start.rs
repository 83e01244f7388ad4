//! `start`: release init from the exec fifo, then run the poststart hooks.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::state::{self, Dir, State, Status};
use crate::hooks::{self, Point};
use crate::{Context, Error, Result};

pub fn start(dir: &Dir, state: &State) -> Result<()> {
    match state::status(dir, state) {
        Status::Created => {}
        Status::Stopped => return Err(Error::Other("container not running".into())),
        other => {
            return Err(Error::Other(format!(
                "cannot start a container that has {}",
                match other {
                    Status::Running | Status::Paused => "already started",
                    _ => other.as_str(),
                }
            )))
        }
    }
    let notify = match &state.notify_socket {
        Some(_) => Some(crate::io::notify::listen(&dir.path)?),
        None => None,
    };
    release(dir, state)?;
    // Once released, the fifo has done its job; its absence marks the container running.
    let _ = std::fs::remove_file(dir.fifo());
    if let (Some(sock), Some(host)) = (&notify, &state.notify_socket) {
        crate::io::notify::relay_ready(sock, host, state.pid, || state::init_alive(state))?;
    }
    // The spec: a failed poststart hook is logged and the container goes on.
    hooks::run_warn(
        state.config.hooks().as_ref(),
        Point::Poststart,
        &state.hook_json(Status::Running),
    );
    Ok(())
}

/// Releases init and waits until it has exec'd (see `process::init::start` for init's side).
///
/// Init holds the fifo open for reading and writing while it waits, so a writer's open does
/// not block, and ENXIO means nobody holds it: init is gone. Our byte is for init's read;
/// until init has taken it (see `state::FIFO_GOING`) we must not read from the fifo ourselves.
/// Then init's answer says it is going on, and end of file that it has exec'd.
/// Init's liveness is checked throughout: a dead init must not hang `start`.
fn release(dir: &Dir, state: &State) -> Result<()> {
    let path = dir.fifo();
    let open = |flags: libc::c_int| {
        OpenOptions::new()
            .read(flags == libc::O_RDONLY)
            .write(flags == libc::O_WRONLY)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
    };
    let not_running =
        || Error::Other("container init exited before start; container not running".into());
    let go = match open(libc::O_WRONLY) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Err(not_running()),
        Err(e) => return Err(Error::os(format!("open {}", path.display()), e)),
    };
    let mut fifo = open(libc::O_RDONLY).with_ctx(|| format!("open {}", path.display()))?;
    (&go).write_all(state::FIFO_GO).ctx("write exec fifo")?;
    while rustix::io::ioctl_fionread(&go).ctx("exec fifo: FIONREAD")? == state::FIFO_GO.len() as u64
    {
        if !state::init_alive(state) {
            return Err(not_running());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    drop(go);
    let mut released = false;
    loop {
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&fifo),
            PollFlags::POLLIN,
        )];
        let ready = poll(&mut fds, PollTimeout::from(100u16)).ctx("poll exec fifo")?;
        if ready > 0 {
            let mut byte = [0u8; 1];
            match fifo.read(&mut byte) {
                Ok(1) => released = true,
                // End of file: no writer left. After the answer, that is the exec.
                Ok(_) if released => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(Error::os("read exec fifo", e)),
            }
        }
        if !state::init_alive(state) {
            if released {
                return Ok(());
            }
            return Err(not_running());
        }
        if ready == 0 || !released {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}
