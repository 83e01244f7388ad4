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
    crate::log::debug_with(
        "container started",
        &[("id", &state.id), ("pid", &state.pid)],
    );
    // The spec: a failed poststart hook is logged and the container goes on.
    hooks::run_warn(
        state.config.hooks().as_ref(),
        Point::Poststart,
        &state.hook_json(Status::Running),
        hooks::Site::runtime(&state.bundle),
    );
    Ok(())
}

/// Opens the fifo for reading (which unblocks init's open for writing), reads init's byte,
/// then waits for end of file: init's close-on-exec write end closes when execve succeeds.
/// Init's liveness is checked meanwhile: a dead init must not hang `start`. Instead of the
/// byte, init may write `E` and why it stopped (a failed startContainer hook, say): that is
/// `start`'s error.
fn release(dir: &Dir, state: &State) -> Result<()> {
    let path = dir.fifo();
    let mut fifo = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
        .with_ctx(|| format!("open {}", path.display()))?;
    let mut released = false;
    let mut failure: Option<Vec<u8>> = None;
    loop {
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&fifo),
            PollFlags::POLLIN,
        )];
        let ready = poll(&mut fds, PollTimeout::from(100u16)).ctx("poll exec fifo")?;
        if ready > 0 {
            let mut buf = [0u8; 4096];
            match fifo.read(&mut buf) {
                Ok(0) if failure.is_some() => return Err(init_failed(failure)),
                // End of file: no writer left. After the byte, that is the exec.
                Ok(0) if released => return Ok(()),
                Ok(0) => {}
                Ok(n) => match failure.as_mut() {
                    Some(msg) => msg.extend_from_slice(&buf[..n]),
                    None if !released && buf[0] == b'E' => failure = Some(buf[1..n].to_vec()),
                    None => released = true,
                },
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(Error::os("read exec fifo", e)),
            }
        }
        if !state::init_alive(state) {
            if let Some(msg) = &mut failure {
                // What is still in the pipe belongs to the message.
                let _ = fifo.read_to_end(msg);
                return Err(init_failed(failure));
            }
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

fn init_failed(msg: Option<Vec<u8>>) -> Error {
    Error::Init(String::from_utf8_lossy(&msg.unwrap_or_default()).into_owned())
}
