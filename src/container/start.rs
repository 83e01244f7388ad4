//! `start`: release init from the exec fifo, then run the poststart hooks.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};

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

/// Releases init and waits until it has exec'd (see `process::init::start` for init's side).
///
/// Init holds the fifo open for reading and writing while it waits, so a writer's open does
/// not block, and ENXIO means nobody holds it: init is gone. Our byte is for init's read;
/// until init has taken it (see `state::FIFO_GOING`) we must not read from the fifo ourselves.
/// Then init's answer says it is going on, and end of file that it has exec'd.
/// Init's liveness is checked throughout: a dead init must not hang `start`. Instead of its answer, init may write `E`
/// and why it stopped (a failed startContainer hook, say): that is `start`'s error.
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
    let mut failure: Option<Vec<u8>> = None;
    loop {
        let mut fds = [PollFd::new(&fifo, PollFlags::IN)];
        let tick = Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        let ready = poll(&mut fds, Some(&tick)).ctx("poll exec fifo")?;
        if ready > 0 {
            let mut buf = [0u8; 4096];
            match fifo.read(&mut buf) {
                Ok(0) if failure.is_some() => return Err(init_failed(failure)),
                // End of file: no writer left. After the answer, that is the exec.
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
            return Err(not_running());
        }
        if ready == 0 || !released {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn init_failed(msg: Option<Vec<u8>>) -> Error {
    Error::Init(String::from_utf8_lossy(&msg.unwrap_or_default()).into_owned())
}
