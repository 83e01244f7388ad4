//! /dev inside the container: the default devices, `linux.devices`, /dev/ptmx and the
//! /dev/fd, /dev/std{in,out,err} links.
//!
//! Like runc, nodes are made with mknod; where mknod is not allowed (a user namespace) the
//! host's node at the same path is bound over an empty file instead.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use rustix::fs::{AtFlags, FileType};
use rustix::io::Errno;

use super::inroot::{self, clean, RootDir};
use super::ops::Ops;
use super::target::{self, Source};
use crate::{Context, Error, Result};

/// One device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub path: PathBuf,
    pub kind: FileType,
    pub major: u32,
    pub minor: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container gets, as in runc (ptmx is a link to pts/ptmx instead).
const DEFAULTS: &[(&str, u32, u32)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

impl Device {
    /// Checks and converts one `linux.devices` entry; `field` names it in errors.
    pub fn from_spec(field: &str, d: &LinuxDevice) -> Result<Device> {
        let path = d.path();
        let bad = |why: String| Error::invalid(format!("{field} ({}): {why}", path.display()));
        if !path.is_absolute() {
            return Err(bad("path must be absolute".into()));
        }
        if clean(path) == Path::new("/") {
            return Err(bad("path is the root".into()));
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
            LinuxDeviceType::B => FileType::BlockDevice,
            LinuxDeviceType::P => FileType::Fifo,
            LinuxDeviceType::A => return Err(bad("type \"a\" cannot be created".into())),
        };
        let number = |n: i64, what: &str| {
            u32::try_from(n).map_err(|_| bad(format!("{what} {n} out of range")))
        };
        let (major, minor) = if kind == FileType::Fifo {
            (0, 0)
        } else {
            (number(d.major(), "major")?, number(d.minor(), "minor")?)
        };
        // fileMode carries permission bits; a type in it (as some configs write) is dropped.
        let mode = d.file_mode().unwrap_or(0o666) & !libc::S_IFMT;
        if mode & !0o7777 != 0 {
            return Err(bad(format!("fileMode {mode:#o} has bits beyond 07777")));
        }
        Ok(Device {
            path: clean(path),
            kind,
            major,
            minor,
            mode,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        })
    }
}

/// The default devices plus `linux.devices`; an entry in the config replaces a default at
/// the same path.
pub fn devices(configured: &[LinuxDevice]) -> Result<Vec<Device>> {
    let configured: Vec<Device> = configured
        .iter()
        .enumerate()
        .map(|(i, d)| Device::from_spec(&format!("linux.devices[{i}]"), d))
        .collect::<Result<_>>()?;
    let mut all: Vec<Device> = DEFAULTS
        .iter()
        .filter(|(path, _, _)| !configured.iter().any(|d| d.path == Path::new(path)))
        .map(|&(path, major, minor)| Device {
            path: path.into(),
            kind: FileType::CharacterDevice,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    all.extend(configured);
    Ok(all)
}

/// Creates every device, then /dev/ptmx and the standard links. `bind`: do not try mknod.
pub fn setup(ops: &dyn Ops, root: &RootDir, devices: &[Device], bind: bool) -> Result<()> {
    for device in devices {
        create(ops, root, device, bind)
            .map_err(|e| Error::Other(format!("device {}: {e}", device.path.display())))?;
    }
    setup_ptmx(ops, root)?;
    setup_links(ops, root)
}

fn create(ops: &dyn Ops, root: &RootDir, device: &Device, bind: bool) -> Result<()> {
    if bind {
        return bind_from_host(ops, root, device);
    }
    let (dir, name) = inroot::ensure_parent(root, &device.path)?;
    match ops.mknod(
        dir.as_fd(),
        &name,
        device.kind,
        device.mode,
        device.major,
        device.minor,
    ) {
        Ok(()) => {}
        // Something already there (the rootfs ships it, or /dev is not a fresh tmpfs): keep
        // it, and do not chown or chmod what may be a symlink.
        Err(Errno::EXIST) => return check_existing(&dir, &name, device),
        Err(Errno::PERM) => return bind_from_host(ops, root, device),
        Err(e) => return Err(e).ctx("mknod"),
    }
    ops.chown(dir.as_fd(), &name, device.uid, device.gid)?;
    // mknod applied the umask; set the exact mode. We made this node, it is not a symlink.
    ops.chmod(dir.as_fd(), &name, device.mode)
}

/// A node the rootfs already has must be the device asked for: the spec makes anything else
/// an error (runc keeps whatever is there). The default devices stay lenient, as in runc: an
/// image may ship its own /dev.
fn check_existing(dir: &impl AsFd, name: &Path, device: &Device) -> Result<()> {
    let is_default = DEFAULTS.iter().any(|&(p, ma, mi)| {
        device.path == Path::new(p) && (ma, mi) == (device.major, device.minor)
    });
    if is_default {
        return Ok(());
    }
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ctx("stat")?;
    let kind = FileType::from_raw_mode(st.st_mode);
    let (major, minor) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
    if kind == device.kind && (major, minor) == (device.major, device.minor) {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "a {kind:?} {major}:{minor} already exists there, not the device {}:{} asked for",
        device.major, device.minor
    )))
}

/// Binds the host's node at the same path over an empty file (how runc does it when mknod
/// is not permitted).
fn bind_from_host(ops: &dyn Ops, root: &RootDir, device: &Device) -> Result<()> {
    let target = target::resolve(root, &device.path, false, Source::Other)?;
    let tree = ops.clone_tree(&device.path, false)?;
    ops.attach(tree.as_fd(), target.as_fd())
}

fn setup_ptmx(ops: &dyn Ops, root: &RootDir) -> Result<()> {
    let (dir, name) = inroot::ensure_parent(root, Path::new("/dev/ptmx"))?;
    match ops.unlink(dir.as_fd(), &name) {
        Ok(()) | Err(Errno::NOENT) => {}
        Err(e) => return Err(e).ctx("remove /dev/ptmx"),
    }
    ops.symlink("pts/ptmx", dir.as_fd(), &name)
        .ctx("symlink /dev/ptmx -> pts/ptmx")
}

fn setup_links(ops: &dyn Ops, root: &RootDir) -> Result<()> {
    let mut links = vec![
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
    ];
    // Only where the kernel has it (CONFIG_PROC_KCORE); the host's /proc tells.
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "/dev/core"));
    }
    for (target, link) in links {
        let (dir, name) = inroot::ensure_parent(root, Path::new(link))?;
        match ops.symlink(target, dir.as_fd(), &name) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e).with_ctx(|| format!("symlink {link} -> {target}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceBuilder;

    #[test]
    fn defaults_are_replaced_by_config_entries() {
        let custom_null = LinuxDeviceBuilder::default()
            .path("/dev/null")
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .file_mode(0o600u32)
            .uid(7u32)
            .build()
            .unwrap();
        let fuse = LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .build()
            .unwrap();
        let all = devices(&[custom_null, fuse]).unwrap();
        assert_eq!(all.len(), DEFAULTS.len() + 1);
        let null: Vec<_> = all
            .iter()
            .filter(|d| d.path == Path::new("/dev/null"))
            .collect();
        assert_eq!(null.len(), 1);
        assert_eq!((null[0].mode, null[0].uid), (0o600, 7));
        let fuse = all
            .iter()
            .find(|d| d.path == Path::new("/dev/fuse"))
            .unwrap();
        assert_eq!((fuse.major, fuse.minor, fuse.mode), (10, 229, 0o666));
    }

    #[test]
    fn bad_entries_name_the_field() {
        let relative = LinuxDeviceBuilder::default()
            .path("dev/x")
            .typ(LinuxDeviceType::C)
            .build()
            .unwrap();
        let err = devices(&[relative]).unwrap_err().to_string();
        assert!(err.contains("linux.devices[0] (dev/x)"), "{err}");
        let all = LinuxDeviceBuilder::default()
            .path("/dev/all")
            .typ(LinuxDeviceType::A)
            .build()
            .unwrap();
        assert!(devices(&[all]).is_err());
        let negative = LinuxDeviceBuilder::default()
            .path("/dev/neg")
            .typ(LinuxDeviceType::B)
            .major(-1)
            .build()
            .unwrap();
        let err = devices(&[negative]).unwrap_err().to_string();
        assert!(err.contains("major -1"), "{err}");
        // A type in fileMode is dropped, like runc does.
        let typed = LinuxDeviceBuilder::default()
            .path("/dev/typed")
            .typ(LinuxDeviceType::C)
            .file_mode(0o020640u32)
            .build()
            .unwrap();
        let all = devices(&[typed]).unwrap();
        assert_eq!(all.last().unwrap().mode, 0o640);
    }
}
