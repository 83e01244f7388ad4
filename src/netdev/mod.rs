//! linux.netDevices: host network devices moved into the container's network namespace,
//! renamed when the config says so (runtime-spec 1.3; runc 1.3+).
//!
//! The runtime moves them after init exists (its network namespace does) and before init
//! sets anything up, as runc does: each device is set down, its permanent global-scope
//! addresses are noted (the kernel drops addresses when a device changes namespace), it moves
//! and is renamed in one RTM_NEWLINK (IFLA_NET_NS_FD and IFLA_IFNAME, so its name never
//! clashes on either side), and in the container's namespace the addresses are added again
//! and the device set up. MTU, MAC and the rest go with the device.
//!
//! A create that fails after the move puts the devices back (down, under their host names,
//! with their addresses, up again if they were) before init is killed: a failed create leaves
//! the host as it was. runc 1.3 does not, and a virtual device dies with the namespace.
//!
//! `delete` does nothing with them (runc 1.3's rule: the owner of the network namespace owns
//! the devices in it). When the container had a namespace of its own, it goes with the
//! container: the kernel returns physical devices to the initial namespace and destroys
//! virtual ones (a veth takes its peer along). In a namespace joined by path, the devices
//! stay there.

pub mod netlink;

use std::collections::HashSet;
use std::os::fd::{AsFd, BorrowedFd};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use self::netlink::{Addr, Socket};
use crate::{Error, Result};

/// A device the create moved: what it takes to put it back.
#[derive(Debug)]
pub struct Moved {
    pub host_name: String,
    pub name: String,
    addrs: Vec<Addr>,
    was_up: bool,
}

/// The devices to move: (host name, name in the container), in name order.
pub fn devices(spec: &Spec) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = spec
        .linux()
        .as_ref()
        .and_then(|l| l.net_devices().as_ref())
        .map(|m| {
            m.iter()
                .map(|(host, d)| {
                    let name = d
                        .name()
                        .as_deref()
                        .filter(|n| !n.is_empty())
                        .unwrap_or(host);
                    (host.clone(), name.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The kernel's rule for interface names (dev_valid_name).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
}

/// Checks linux.netDevices before anything exists: a network namespace of the container's
/// own to move into, root (runc refuses rootless too), valid and distinct names, and each
/// device present in the runtime's namespace.
pub fn check(spec: &Spec) -> Result<()> {
    let devices = devices(spec);
    if devices.is_empty() {
        return Ok(());
    }
    match crate::spec::query::namespace(spec, LinuxNamespaceType::Network) {
        None => return Err(Error::invalid(
            "linux.netDevices: moving network devices needs a network namespace (linux.namespaces)",
        )),
        Some(Some(path)) if same_as_ours(&path) => {
            return Err(Error::invalid(format!(
                "linux.netDevices: the network namespace {} is the runtime's own",
                path.display()
            )))
        }
        _ => {}
    }
    if !rustix::process::geteuid().is_root() {
        return Err(Error::invalid(
            "linux.netDevices: moving network devices needs root (not supported rootless)",
        ));
    }
    let sock = Socket::open().map_err(|e| Error::os("linux.netDevices: rtnetlink socket", e))?;
    let mut taken = HashSet::new();
    for (host, name) in &devices {
        for n in [host, name] {
            if !valid_name(n) {
                return Err(Error::invalid(format!(
                    "linux.netDevices.{host}: {n:?} is not a valid interface name"
                )));
            }
        }
        if !taken.insert(name) {
            return Err(Error::invalid(format!(
                "linux.netDevices.{host}: the name {name:?} is given to two devices"
            )));
        }
        sock.index(host).map_err(|e| {
            Error::invalid(format!(
                "linux.netDevices.{host}: no such device in the runtime's network namespace ({e})"
            ))
        })?;
    }
    Ok(())
}

fn same_as_ours(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::metadata(path),
        std::fs::metadata("/proc/self/ns/net"),
    ) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Runs `f` on a thread that has entered the network namespace `netns` (a socket or an
/// interface index lookup made there belongs to it); the runtime itself stays where it is.
fn in_netns<T: Send>(netns: BorrowedFd, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};
            move_into_link_name_space(netns, Some(LinkNameSpaceType::Network))
                .map_err(|e| Error::os("enter the network namespace", e))?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(Error::Other("network namespace thread panicked".into())))
    })
}

fn index(sock: &Socket, name: &str, field: &str) -> Result<i32> {
    sock.index(name)
        .map_err(|e| Error::os(format!("{field}: find {name}"), e))
}

/// Moves every device of linux.netDevices into `netns`. On failure the ones already moved
/// are put back before the error returns.
pub fn move_in(devices: &[(String, String)], netns: BorrowedFd) -> Result<Vec<Moved>> {
    let mut moved = Vec::new();
    for (host, name) in devices {
        match move_one(host, name, netns) {
            Ok(m) => moved.push(m),
            Err(e) => {
                move_back(&moved, netns);
                return Err(e);
            }
        }
    }
    Ok(moved)
}

fn move_one(host: &str, name: &str, netns: BorrowedFd) -> Result<Moved> {
    let field = format!("linux.netDevices.{host}");
    let os = |what: &str| {
        let what = format!("{field}: {what}");
        move |e: std::io::Error| Error::os(what, e)
    };
    let sock = Socket::open().map_err(os("open an rtnetlink socket"))?;
    let idx = index(&sock, host, &field)?;
    let was_up = sock.link_flags(idx).map_err(os("read the link"))? & netlink::IFF_UP != 0;
    // Down before it changes: nothing on the host keeps using it half-moved.
    sock.set_up(idx, false).map_err(os("set the link down"))?;
    let addrs = sock.lasting_addrs(idx).map_err(os("list its addresses"))?;
    if let Err(e) = sock.move_link(idx, netns, name) {
        let _ = sock.set_up(idx, was_up);
        return Err(os(&format!(
            "move it into the container's network namespace as {name}"
        ))(e));
    }
    let moved = Moved {
        host_name: host.to_string(),
        name: name.to_string(),
        addrs,
        was_up,
    };
    let inside = in_netns(netns, || {
        let sock = Socket::open().map_err(os("open an rtnetlink socket in the container"))?;
        let idx = index(&sock, name, &field)?;
        for a in &moved.addrs {
            sock.add_addr(idx, a)
                .map_err(os(&format!("add address {a} in the container")))?;
        }
        sock.set_up(idx, true)
            .map_err(os("set the link up in the container"))
    });
    if let Err(e) = inside {
        move_back(std::slice::from_ref(&moved), netns);
        return Err(e);
    }
    crate::log::debug(&format!(
        "{field}: moved into the container as {name}, addresses {:?}",
        moved
            .addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
    ));
    Ok(moved)
}

/// In a new network namespace the loopback device starts down; runc brings it up (its
/// "loopback" network), and containers expect 127.0.0.1 to work. Called by init.
pub fn loopback_up() -> Result<()> {
    let sock = Socket::open().map_err(|e| Error::os("rtnetlink socket", e))?;
    let lo = index(&sock, "lo", "loopback")?;
    sock.set_up(lo, true)
        .map_err(|e| Error::os("set the loopback device up", e))
}

/// Puts devices back into the runtime's network namespace under their host names, with their
/// addresses and link state, for a create that failed. Best effort: a device that cannot come
/// back is reported in the log, not in the create's error.
pub fn move_back(moved: &[Moved], netns: BorrowedFd) {
    let ours = match std::fs::File::open("/proc/self/ns/net") {
        Ok(f) => f,
        Err(e) => {
            crate::log::warn(&format!("linux.netDevices: open /proc/self/ns/net: {e}"));
            return;
        }
    };
    for m in moved.iter().rev() {
        let back = in_netns(netns, || {
            let sock = Socket::open().map_err(|e| Error::os("rtnetlink socket", e))?;
            let idx = index(&sock, &m.name, "container")?;
            let _ = sock.set_up(idx, false);
            sock.move_link(idx, ours.as_fd(), &m.host_name)
                .map_err(|e| Error::os("move it back", e))
        })
        .and_then(|_| {
            let sock = Socket::open().map_err(|e| Error::os("rtnetlink socket", e))?;
            let idx = index(&sock, &m.host_name, "host")?;
            for a in &m.addrs {
                let _ = sock.add_addr(idx, a);
            }
            sock.set_up(idx, m.was_up)
                .map_err(|e| Error::os("restore its link state", e))
        });
        if let Err(e) = back {
            crate::log::warn(&format!(
                "linux.netDevices.{}: could not put it back after the failed create: {e}",
                m.host_name
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_the_kernels_rule() {
        for ok in ["eth0", "ctr_dummy0", "a", "fifteen-chars-x"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "sixteen-chars-xx"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    /// A config with a network namespace of its own and these devices (built here rather
    /// than through `spec`'s parser, which is the layer above: it calls `check`).
    fn spec(v: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {"namespaces": [{"type": "network"}], "netDevices": v}
        }))
        .unwrap()
    }

    /// The device checks come after the root check: as another uid they cannot run.
    #[test]
    fn checks_name_the_device() {
        let err = |v| check(&spec(v)).unwrap_err().to_string();
        if !crate::sys::testing::is_root() {
            let e = err(serde_json::json!({"lo": {}}));
            assert!(e.contains("moving network devices needs root"), "{e}");
            return crate::sys::testing::skip("the device checks run only as root");
        }
        assert!(err(serde_json::json!({"no-such-dev9": {}}))
            .contains("linux.netDevices.no-such-dev9: no such device"));
        assert!(
            err(serde_json::json!({"lo": {"name": "a/b"}})).contains("not a valid interface name")
        );
        let e = err(serde_json::json!({"lo": {"name": "x"}, "x": {}}));
        assert!(
            e.contains("given to two devices") || e.contains("no such device"),
            "{e}"
        );
    }

    #[test]
    fn a_network_namespace_is_needed_and_devices_are_sorted() {
        let mut s = spec(serde_json::json!({"lo": {}}));
        let mut linux = s.linux().clone().unwrap();
        linux.set_namespaces(Some(vec![]));
        s.set_linux(Some(linux));
        assert!(check(&s)
            .unwrap_err()
            .to_string()
            .contains("needs a network namespace"));
        assert_eq!(
            devices(&spec(
                serde_json::json!({"b": {"name": ""}, "a": {"name": "c"}})
            )),
            vec![("a".into(), "c".into()), ("b".into(), "b".into())]
        );
    }
}
