//! Packets with an fd attached (SCM_RIGHTS) on unix sockets.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

use rustix::io::{Errno, Result};
use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};

/// Sends one packet, with `fd` attached when given.
pub fn send_packet(sock: BorrowedFd, data: &[u8], fd: Option<RawFd>) -> Result<usize> {
    let iov = [IoSlice::new(data)];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = SendAncillaryBuffer::new(&mut space);
    // SAFETY: callers pass the number of an fd they hold open across this call (the raw
    // number is the interface the callers outside this module were written against).
    let fds = fd.map(|f| [unsafe { BorrowedFd::borrow_raw(f) }]);
    if let Some(fds) = &fds {
        cmsg.push(SendAncillaryMessage::ScmRights(fds));
    }
    sendmsg(sock, &iov, &mut cmsg, SendFlags::NOSIGNAL)
}

/// Receives one packet into `buf`; returns its length and the first fd that came with it
/// (close-on-exec). A length of 0 means the peer has gone.
pub fn recv_packet(sock: BorrowedFd, buf: &mut [u8]) -> Result<(usize, Option<OwnedFd>)> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = loop {
        match recvmsg(sock, &mut iov, &mut cmsg, RecvFlags::CMSG_CLOEXEC) {
            Err(Errno::INTR) => continue,
            other => break other?,
        }
    };
    // Control data cut short: an fd may have been lost (nix reported this as ENOBUFS).
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        return Err(Errno::NOBUFS);
    }
    let mut received = None;
    for c in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = c {
            for owned in fds {
                // Extra fds are closed as they drop.
                received.get_or_insert(owned);
            }
        }
    }
    Ok((msg.bytes, received))
}
