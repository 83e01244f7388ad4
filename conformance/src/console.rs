//! A `--console-socket` receiver (runc's protocol: the runtime connects and sends the pty
//! master as one SCM_RIGHTS message), and a reader for what the container writes to it.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Result};

pub struct ConsoleSocket {
    pub path: PathBuf,
    waiter: Option<JoinHandle<Result<OwnedFd>>>,
}

impl ConsoleSocket {
    /// Listens at `path` and waits in the background for the runtime's connection.
    pub fn listen(path: &Path) -> Result<ConsoleSocket> {
        let listener = UnixListener::bind(path)?;
        let waiter = std::thread::spawn(move || {
            let (conn, _) = listener.accept()?;
            receive_fd(&conn)
        });
        Ok(ConsoleSocket {
            path: path.to_path_buf(),
            waiter: Some(waiter),
        })
    }

    /// The pty master the runtime sent. Call only once the runtime has returned: if it
    /// never connected, a connection of our own ends the wait.
    pub fn master(&mut self) -> Result<OwnedFd> {
        let waiter = self.waiter.take().ok_or_else(|| anyhow!("already taken"))?;
        if !waiter.is_finished() {
            let _ = UnixStream::connect(&self.path);
        }
        waiter
            .join()
            .map_err(|_| anyhow!("console socket thread panicked"))?
    }
}

/// Receives one fd over SCM_RIGHTS.
fn receive_fd(conn: &UnixStream) -> Result<OwnedFd> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    // Room for one control message carrying one fd.
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    rustix::net::recvmsg(conn, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)
        .map_err(std::io::Error::from)?;
    let fd = match control.drain().next() {
        Some(RecvAncillaryMessage::ScmRights(mut fds)) => fds.next(),
        _ => None,
    };
    fd.ok_or_else(|| anyhow!("no fd received on the console socket"))
}

/// Reads everything from the pty master in the background until the container's side
/// closes (EIO) or `timeout` passes.
pub fn read_all(master: OwnedFd, timeout: Duration) -> Result<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut f = std::fs::File::from(master);
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = f.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
        }
        let _ = tx.send(String::from_utf8_lossy(&text).into_owned());
    });
    rx.recv_timeout(timeout)
        .map_err(|_| anyhow!("no end of output on the terminal within {timeout:?}"))
}
