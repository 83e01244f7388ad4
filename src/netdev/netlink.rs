//! Just enough rtnetlink for linux.netDevices: links (get, set up/down, move to a namespace
//! under a new name) and addresses (list, add). Messages are built and read as bytes; the
//! socket is rustix's, so there is no unsafe here. Numbers are from the kernel's uapi headers
//! (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h).

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_GETADDR: u16 = 22;

pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_NET_NS_FD: u16 = 28;
pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;
pub const IFA_BROADCAST: u16 = 4;
pub const IFA_FLAGS: u16 = 8;
pub const IFA_F_PERMANENT: u32 = 0x80;
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const IFF_UP: u32 = 0x1;
pub const AF_INET: u8 = 2;

/// A message body: the fixed header (ifinfomsg, ifaddrmsg) followed by attributes.
#[derive(Default)]
pub struct Body(Vec<u8>);

impl Body {
    /// `struct ifinfomsg`: family, type, index, flags, change.
    pub fn link(index: i32, flags: u32, change: u32) -> Body {
        let mut b = vec![0u8, 0, 0, 0];
        b.extend(index.to_ne_bytes());
        b.extend(flags.to_ne_bytes());
        b.extend(change.to_ne_bytes());
        Body(b)
    }

    /// `struct ifaddrmsg`: family, prefix length, flags, scope, index.
    pub fn addr(family: u8, prefix: u8, scope: u8, index: u32) -> Body {
        let mut b = vec![family, prefix, 0, scope];
        b.extend(index.to_ne_bytes());
        Body(b)
    }

    /// Appends an attribute, padded to 4 bytes.
    pub fn attr(mut self, typ: u16, data: &[u8]) -> Body {
        let len = 4 + data.len();
        self.0.extend((len as u16).to_ne_bytes());
        self.0.extend(typ.to_ne_bytes());
        self.0.extend(data);
        self.0.resize(self.0.len().next_multiple_of(4), 0);
        self
    }

    /// A NUL-terminated string attribute.
    pub fn attr_str(self, typ: u16, s: &str) -> Body {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(typ, &data)
    }
}

/// The attributes after a fixed header of `fixed` bytes, as (type, data).
pub fn attrs(payload: &[u8], fixed: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut rest = payload.get(fixed..).unwrap_or_default();
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let typ = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            break;
        }
        out.push((typ, &rest[4..len]));
        rest = &rest[len.next_multiple_of(4).min(rest.len())..];
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |x| u32::from_ne_bytes([x[0], x[1], x[2], x[3]]))
}

/// An rtnetlink socket in the network namespace of the thread that opened it.
pub struct Socket {
    fd: OwnedFd,
    seq: std::cell::Cell<u32>,
}

impl Socket {
    pub fn open() -> io::Result<Socket> {
        // NETLINK_ROUTE is protocol 0.
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None,
        )?;
        Ok(Socket {
            fd,
            seq: std::cell::Cell::new(1),
        })
    }

    fn send(&self, typ: u16, flags: u16, body: &Body) -> io::Result<u32> {
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        let mut msg = Vec::with_capacity(NLMSG_HDRLEN + body.0.len());
        msg.extend(((NLMSG_HDRLEN + body.0.len()) as u32).to_ne_bytes());
        msg.extend(typ.to_ne_bytes());
        msg.extend((flags | NLM_F_REQUEST).to_ne_bytes());
        msg.extend(seq.to_ne_bytes());
        msg.extend(0u32.to_ne_bytes());
        msg.extend(&body.0);
        rustix::net::sendto(
            self.fd.as_fd(),
            &msg,
            SendFlags::empty(),
            &SocketAddrNetlink::new(0, 0),
        )?;
        Ok(seq)
    }

    /// Reads the replies to `seq` until its ack, end of dump or error; returns the payloads
    /// of messages of type `want`.
    fn replies(&self, seq: u32, want: u16) -> io::Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let (n, _) = rustix::net::recv(self.fd.as_fd(), &mut buf[..], RecvFlags::empty())?;
            let mut rest = &buf[..n];
            while rest.len() >= NLMSG_HDRLEN {
                let len = u32_at(rest, 0) as usize;
                let typ = u16::from_ne_bytes([rest[4], rest[5]]);
                let msg_seq = u32_at(rest, 8);
                if len < NLMSG_HDRLEN || len > rest.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated netlink message",
                    ));
                }
                let payload = &rest[NLMSG_HDRLEN..len];
                rest = &rest[len.next_multiple_of(4).min(rest.len())..];
                if msg_seq != seq {
                    continue;
                }
                match typ {
                    NLMSG_ERROR => {
                        let errno = u32_at(payload, 0) as i32;
                        return match errno {
                            0 => Ok(out),
                            e => Err(io::Error::from_raw_os_error(-e)),
                        };
                    }
                    NLMSG_DONE => return Ok(out),
                    t if t == want => out.push(payload.to_vec()),
                    _ => {}
                }
            }
        }
    }

    /// A request the kernel acknowledges; its error, if any.
    pub fn request(&self, typ: u16, flags: u16, body: &Body) -> io::Result<()> {
        let seq = self.send(typ, flags | NLM_F_ACK, body)?;
        self.replies(seq, 0).map(drop)
    }

    /// A dump: every message the kernel sends back of type `want`.
    pub fn dump(&self, typ: u16, body: &Body, want: u16) -> io::Result<Vec<Vec<u8>>> {
        let seq = self.send(typ, NLM_F_DUMP, body)?;
        self.replies(seq, want)
    }

    /// A link's index by name, in the socket's namespace (SIOCGIFINDEX).
    pub fn index(&self, name: &str) -> io::Result<i32> {
        Ok(rustix::net::netdevice::name_to_index(self.fd.as_fd(), name)? as i32)
    }

    /// One link's flags (IFF_*), by index.
    pub fn link_flags(&self, index: i32) -> io::Result<u32> {
        let seq = self.send(RTM_GETLINK, NLM_F_ACK, &Body::link(index, 0, 0))?;
        let replies = self.replies(seq, RTM_NEWLINK)?;
        let link = replies
            .first()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))?;
        Ok(u32_at(link, 8))
    }

    /// Sets a link up or down.
    pub fn set_up(&self, index: i32, up: bool) -> io::Result<()> {
        let flags = if up { IFF_UP } else { 0 };
        self.request(RTM_NEWLINK, 0, &Body::link(index, flags, IFF_UP))
    }
}

/// An address of a link, as RTM_NEWADDR wants it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub family: u8,
    pub prefix: u8,
    pub local: Vec<u8>,
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let ip: Option<std::net::IpAddr> = match self.local.len() {
            4 => <[u8; 4]>::try_from(&self.local[..]).ok().map(Into::into),
            16 => <[u8; 16]>::try_from(&self.local[..]).ok().map(Into::into),
            _ => None,
        };
        match ip {
            Some(ip) => write!(f, "{ip}/{}", self.prefix),
            None => write!(f, "?/{}", self.prefix),
        }
    }
}

impl Socket {
    /// The permanent, global-scope addresses of a link: those a user configured, which mean
    /// the same in another namespace (runc 1.3's rule; dynamic and link-local ones stay).
    pub fn lasting_addrs(&self, index: i32) -> io::Result<Vec<Addr>> {
        let mut out = Vec::new();
        for a in self.dump(RTM_GETADDR, &Body::addr(0, 0, 0, 0), RTM_NEWADDR)? {
            if a.len() < 8 || u32_at(&a, 4) != index as u32 {
                continue;
            }
            let (family, prefix, flags8, scope) = (a[0], a[1], a[2], a[3]);
            let attrs = attrs(&a, 8);
            // IFA_FLAGS, when present, has all the flags; the header only the low eight.
            let flags = attrs
                .iter()
                .find(|(t, _)| *t == IFA_FLAGS)
                .map_or(flags8 as u32, |(_, d)| u32_at(d, 0));
            if flags & IFA_F_PERMANENT == 0 || scope != RT_SCOPE_UNIVERSE {
                continue;
            }
            let local = attrs
                .iter()
                .find(|(t, _)| *t == IFA_LOCAL)
                .or_else(|| attrs.iter().find(|(t, _)| *t == IFA_ADDRESS));
            if let Some((_, d)) = local {
                out.push(Addr {
                    family,
                    prefix,
                    local: d.to_vec(),
                });
            }
        }
        Ok(out)
    }

    /// Adds an address to a link (with the broadcast address an IPv4 one would get from `ip
    /// addr add`).
    pub fn add_addr(&self, index: i32, a: &Addr) -> io::Result<()> {
        let mut body = Body::addr(a.family, a.prefix, RT_SCOPE_UNIVERSE, index as u32)
            .attr(IFA_LOCAL, &a.local)
            .attr(IFA_ADDRESS, &a.local);
        if a.family == AF_INET && a.prefix < 31 && a.local.len() == 4 {
            let ip = u32::from_be_bytes([a.local[0], a.local[1], a.local[2], a.local[3]]);
            let bcast = ip | (u32::MAX >> a.prefix);
            body = body.attr(IFA_BROADCAST, &bcast.to_be_bytes());
        }
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &body)
    }

    /// Moves a link into the network namespace `netns` under `name`, in one request, so the
    /// name never clashes in either namespace (runc does the same).
    pub fn move_link(&self, index: i32, netns: impl AsFd, name: &str) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let fd = netns.as_fd().as_raw_fd() as u32;
        let body = Body::link(index, 0, 0)
            .attr_str(IFLA_IFNAME, name)
            .attr(IFLA_NET_NS_FD, &fd.to_ne_bytes());
        self.request(RTM_NEWLINK, 0, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_laid_out_as_the_kernel_reads_them() {
        let b = Body::link(7, IFF_UP, IFF_UP).attr_str(IFLA_IFNAME, "eth0");
        assert_eq!(
            b.0.len(),
            16 + 12,
            "header + 4-byte attr header + 5 bytes padded"
        );
        assert_eq!(&b.0[4..8], &7i32.to_ne_bytes());
        let a = attrs(&b.0, 16);
        assert_eq!(a, vec![(IFLA_IFNAME, &b"eth0\0"[..])]);
        let addr = Addr {
            family: AF_INET,
            prefix: 24,
            local: vec![10, 1, 2, 3],
        };
        assert_eq!(addr.to_string(), "10.1.2.3/24");
    }

    #[test]
    fn the_loopback_can_be_read() {
        let sock = Socket::open().unwrap();
        let lo = sock.index("lo").unwrap();
        let flags = sock.link_flags(lo).unwrap();
        assert_eq!(flags & IFF_UP, IFF_UP, "lo is up");
        // 127.0.0.1 is host-scoped: not one that would move with a device.
        assert!(sock.lasting_addrs(lo).unwrap().is_empty());
        assert_eq!(
            sock.link_flags(999_999).unwrap_err().raw_os_error(),
            Some(libc::ENODEV)
        );
    }
}
