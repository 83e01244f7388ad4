//! The typed channel between the runtime (parent) and the container's init.
//!
//! A SOCK_SEQPACKET socketpair: one JSON message per packet, an fd riding along where a message
//! carries one. Errors in init travel as messages, so the caller sees init's context.

use std::os::fd::{AsFd, OwnedFd, RawFd};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::{sys, Context, Error, Result};

/// Init → runtime.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromInit {
    /// Mounts are done: run prestart and createRuntime hooks now, then answer `Continue`.
    RunCreateHooks,
    /// The seccomp notify listener is this fd number in the sender: the runtime takes it
    /// with pidfd_getfd(2) and answers `Continue` once the agent has it (see
    /// [`Channel::hand_over_listener`]).
    SeccompListenerFd(i32),
    /// The terminal's master rides with this message (foreground relay by the runtime).
    Console,
    /// Init is set up and waits on the exec fifo.
    Ready,
    /// Init failed; the text says where.
    Failed(String),
}

/// The state documents init's hooks read on stdin: createContainer's ("creating") and
/// startContainer's ("created"), as runc gives them.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HookStates {
    pub creating: String,
    pub created: String,
}

/// Runtime → init.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToInit {
    /// Go on with the next step (the first one carries the state documents for hooks).
    Continue(Option<HookStates>),
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
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .ctx("socketpair for the init channel")?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

/// `ToInit::Continue(None)` as it travels, for a reader that may not allocate.
const CONTINUE: &[u8] = br#"{"Continue":null}"#;
/// `FromInit::Ready` as it travels, for a writer that may not allocate.
const READY: &[u8] = br#""Ready""#;

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
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

    /// After a notify filter is loaded: tells the runtime the listener's fd number and waits
    /// until it has the listener. Only write(2) and read(2) run, into buffers on the stack: a
    /// notify rule could trap anything else before the agent holds the listener (and
    /// trapping write is refused when the profile is checked, as runc refuses it).
    pub fn hand_over_listener(&self, fd: RawFd) -> Result<()> {
        use std::io::Write;
        let mut buf = [0u8; 64];
        let len = {
            let mut cursor = &mut buf[..];
            write!(cursor, r#"{{"SeccompListenerFd":{fd}}}"#)
                .map_err(|_| Error::Other("format the listener message".into()))?;
            64 - cursor.len()
        };
        rustix::io::write(&self.fd, &buf[..len]).ctx("send the seccomp listener fd number")?;
        self.wait_continue()
            .map_err(|e| Error::Other(format!("passing the seccomp listener on: {e}")))
    }

    /// Waits for the runtime's `Continue` with read(2) into a buffer on the stack (it may
    /// follow a notify filter); an `Abort` is its error.
    pub fn wait_continue(&self) -> Result<()> {
        let mut buf = [0u8; 4096];
        let n = loop {
            match rustix::io::read(&self.fd, &mut buf) {
                Err(Errno::INTR) => continue,
                other => break other.ctx("receive on the init channel")?,
            }
        };
        if &buf[..n] == CONTINUE {
            return Ok(());
        }
        if n == 0 {
            return Err(Error::Other("the runtime went away during create".into()));
        }
        match serde_json::from_slice::<ToInit>(&buf[..n]) {
            Ok(ToInit::Abort(why)) => Err(Error::Other(why)),
            _ => Err(Error::Other(
                "unexpected message on the init channel".into(),
            )),
        }
    }

    /// `FromInit::Ready`, with write(2) alone: it may follow a notify filter.
    pub fn send_ready(&self) -> Result<()> {
        rustix::io::write(&self.fd, READY).ctx("send ready on the init channel")?;
        Ok(())
    }

    /// Whether the other end has closed its side (without waiting).
    pub fn peer_gone(&self) -> bool {
        let mut fds = [PollFd::new(&self.fd, PollFlags::empty())];
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        poll(&mut fds, Some(&zero)).is_ok_and(|_| fds[0].revents().contains(PollFlags::HUP))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_messages_travel_as_serde_writes_them() {
        assert_eq!(
            serde_json::to_vec(&ToInit::Continue(None)).unwrap(),
            CONTINUE
        );
        assert_eq!(serde_json::to_vec(&FromInit::Ready).unwrap(), READY);
    }

    #[test]
    fn listener_fd_message_reaches_the_runtime_and_the_ack_comes_back() {
        let (runtime, init) = pair().unwrap();
        let t = std::thread::spawn(move || init.hand_over_listener(7));
        match runtime.recv::<FromInit>().unwrap() {
            Some((FromInit::SeccompListenerFd(7), None)) => {}
            other => panic!("{other:?}"),
        }
        runtime.send(&ToInit::Continue(None)).unwrap();
        t.join().unwrap().unwrap();
    }
}
