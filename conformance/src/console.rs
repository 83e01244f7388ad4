//! A `--console-socket` receiver (runc's protocol: the runtime connects and sends the pty
//! master as one SCM_RIGHTS message), and a reader for what the container writes to it.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};

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
    let mut buf = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for one control message carrying one int.
    let mut control = [0u64; 8];
    // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` describes valid buffers for the duration of the call.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: the kernel filled `control`; CMSG_FIRSTHDR/CMSG_DATA walk within it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            bail!("no fd received on the console socket");
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
        Ok(OwnedFd::from_raw_fd(fd))
    }
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
