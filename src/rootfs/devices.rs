//! /dev: the default devices every container gets, `linux.devices`, and the standard links.

use std::os::fd::AsFd;
use std::path::Path;

use nix::sys::stat::{makedev, mknodat, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};
use oci_spec::runtime::{LinuxDeviceType, Spec};

use super::mount::{fd_path, resolve_dest};
use crate::{Context, Error, Result};

/// The devices runc gives every container: (path, major, minor).
const DEFAULT: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

pub fn create_default(root: &pathrs::Root) -> Result<()> {
    for (path, major, minor) in DEFAULT {
        make_node(
            root,
            Path::new(path),
            SFlag::S_IFCHR,
            0o666,
            major,
            minor,
            0,
            0,
        )?;
    }
    Ok(())
}

/// /dev/fd and /dev/std* into /proc/self/fd, /dev/ptmx into the container's devpts.
pub fn create_links(root: &pathrs::Root) -> Result<()> {
    let mut links = vec![
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
        ("pts/ptmx", "/dev/ptmx"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "/dev/core"));
    }
    for (target, link) in links {
        // A link (or device) already there is left alone, as runc does.
        if root.resolve_nofollow(link).is_ok() {
            continue;
        }
        root.create(link, &pathrs::InodeType::Symlink(target.into()))
            .map_err(|e| Error::Other(format!("symlink {link} -> {target}: {e}")))?;
    }
    Ok(())
}

/// `linux.devices`, with their type, numbers, mode and owner.
pub fn create_configured(spec: &Spec, root: &pathrs::Root) -> Result<()> {
    let devices = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or_default();
    for (i, d) in devices.iter().enumerate() {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::invalid(format!(
                    "linux.devices[{i}]: type \"a\" is not a device node"
                )))
            }
        };
        let path = d.path();
        if !path.starts_with("/dev") {
            return Err(Error::invalid(format!(
                "linux.devices[{i}] {}: must be under /dev",
                path.display()
            )));
        }
        make_node(
            root,
            path,
            kind,
            d.file_mode().unwrap_or(0o666),
            d.major() as u64,
            d.minor() as u64,
            d.uid().unwrap_or(0),
            d.gid().unwrap_or(0),
        )
        .map_err(|e| Error::Other(format!("linux.devices[{i}] {}: {e}", path.display())))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn make_node(
    root: &pathrs::Root,
    path: &Path,
    kind: SFlag,
    mode: u32,
    major: u64,
    minor: u64,
    uid: u32,
    gid: u32,
) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/dev"));
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid(format!("{}: not a file name", path.display())))?;
    let dir = resolve_dest(root, parent, false)?;
    if root.resolve_nofollow(path).is_ok() {
        // The rootfs (or an earlier entry) already has it; replace it with the asked node.
        let _ = nix::unistd::unlinkat(dir.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir);
    }
    let perm = Mode::from_bits_truncate(mode & 0o7777);
    match mknodat(dir.as_fd(), name, kind, perm, makedev(major, minor)) {
        Ok(()) => {}
        // No mknod (a user namespace): bind the host's node, as runc does.
        Err(nix::errno::Errno::EPERM) if kind != SFlag::S_IFIFO => {
            return bind_host_node(root, path);
        }
        Err(e) => return Err(e).with_ctx(|| format!("mknod {}", path.display())),
    }
    // mknod applies the umask: set the mode exactly, then the owner.
    nix::sys::stat::fchmodat(
        dir.as_fd(),
        name,
        perm,
        nix::sys::stat::FchmodatFlags::NoFollowSymlink,
    )
    .or_else(|_| {
        nix::sys::stat::fchmodat(
            dir.as_fd(),
            name,
            perm,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
    })
    .with_ctx(|| format!("chmod {}", path.display()))?;
    fchownat(
        dir.as_fd(),
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .with_ctx(|| format!("chown {}", path.display()))
}

fn bind_host_node(root: &pathrs::Root, path: &Path) -> Result<()> {
    let target = resolve_dest(root, path, true)?;
    nix::mount::mount(
        Some(path),
        &fd_path(&target.as_fd()),
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_ctx(|| format!("bind host {}", path.display()))
}
