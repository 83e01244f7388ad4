//! The typed channel between the runtime (parent) and the container's init.
//!
//! A SOCK_SEQPACKET socketpair: one JSON message per packet, an fd riding along where a message
//! carries one. Errors in init travel as messages, so the caller sees init's context.

use std::os::fd::{AsFd, OwnedFd, RawFd};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::{sys, Context, Error, Result};

/// Init → runtime.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromInit {
    /// Mounts are done: run prestart and createRuntime hooks now, then answer `Continue`.
    RunCreateHooks,
    /// The seccomp notify listener fd rides with this message.
    SeccompListener,
    /// The terminal's master rides with this message (foreground relay by the runtime).
    Console,
    /// Init is set up and waits on the exec fifo.
    Ready,
    /// Init failed; the text says where.
    Failed(String),
}

/// Runtime → init.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToInit {
    /// Go on with the next step (the first one carries the state JSON for hooks).
    Continue(Option<String>),
    /// Stop: the runtime failed on its side.
    Abort(String),
}

pub struct Channel {
    fd: OwnedFd,
}

/// Messages are small; a packet bigger than this is an error, not a truncation.
const MAX_PACKET: usize = 64 * 1024;

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx("socketpair for the init channel")?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl std::os::fd::AsRawFd for Channel {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Channel {
    pub fn send<T: Serialize>(&self, msg: &T) -> Result<()> {
        self.send_with_fd(msg, None)
    }

    pub fn send_with_fd<T: Serialize>(&self, msg: &T, fd: Option<RawFd>) -> Result<()> {
        let data = serde_json::to_vec(msg).map_err(|e| Error::Other(e.to_string()))?;
        sys::socket::send_packet(self.fd.as_fd(), &data, fd).ctx("send on the init channel")?;
        Ok(())
    }

    /// Whether the other end has closed its side (without waiting).
    pub fn peer_gone(&self) -> bool {
        let mut fds = [nix::poll::PollFd::new(
            self.fd.as_fd(),
            nix::poll::PollFlags::empty(),
        )];
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).is_ok_and(|_| {
            fds[0]
                .revents()
                .is_some_and(|r| r.contains(nix::poll::PollFlags::POLLHUP))
        })
    }

    /// `Ok(None)` when the other end has gone.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<Option<(T, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_PACKET];
        let (len, fd) = sys::socket::recv_packet(self.fd.as_fd(), &mut buf)
            .ctx("receive on the init channel")?;
        if len == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..len])
            .map_err(|e| Error::Other(format!("bad message on the init channel: {e}")))?;
        Ok(Some((msg, fd)))
    }
}
