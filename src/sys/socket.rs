//! Packets with an fd attached (SCM_RIGHTS) on unix sockets.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

/// Sends one packet, with `fd` attached when given.
pub fn send_packet(sock: BorrowedFd, data: &[u8], fd: Option<RawFd>) -> nix::Result<usize> {
    let iov = [IoSlice::new(data)];
    let fds = fd.map(|f| [f]);
    let cmsg: Vec<ControlMessage> = fds.iter().map(|f| ControlMessage::ScmRights(f)).collect();
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
}

/// Receives one packet into `buf`; returns its length and the first fd that came with it
/// (close-on-exec). A length of 0 means the peer has gone.
pub fn recv_packet(sock: BorrowedFd, buf: &mut [u8]) -> nix::Result<(usize, Option<OwnedFd>)> {
    let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = loop {
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other?,
        }
    };
    let mut received = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for f in fds {
                // SAFETY: the kernel just installed this fd in our table; nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(f) };
                received.get_or_insert(owned);
            }
        }
    }
    Ok((msg.bytes, received))
}
