//! `start`: release init from the exec fifo, then run the poststart hooks.

use std::fs::OpenOptions;
use std::io::Read;
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

/// Opens the fifo for reading (which unblocks init's open for writing), reads init's byte,
/// then waits for end of file: init's close-on-exec write end closes when execve succeeds.
/// Init's liveness is checked meanwhile: a dead init must not hang `start`.
fn release(dir: &Dir, state: &State) -> Result<()> {
    let path = dir.fifo();
    let mut fifo = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
        .with_ctx(|| format!("open {}", path.display()))?;
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
                // End of file: no writer left. After the byte, that is the exec.
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
            return Err(Error::Other(
                "container init exited before start; container not running".into(),
            ));
        }
        if ready == 0 || !released {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}
