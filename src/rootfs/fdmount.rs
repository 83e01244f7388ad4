//! Mounting by file descriptor with the new mount API: a filesystem is built detached
//! (fsopen, fsconfig, fsmount) or a tree is cloned detached (open_tree), given its attributes
//! while nobody can see it, then attached to a target that was resolved inside the rootfs.
//! No path string is resolved at mount time, so nothing can be swapped under us.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::mount::{
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount,
    open_tree, FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags,
};

use super::options::{AttrChange, MountOptions, Propagation};
use crate::sys::mount::{mount_setattr, MountAttr};
use crate::{Context, Error, Result};

/// The longest value fsconfig(FSCONFIG_SET_STRING) takes (the kernel copies at most 256
/// bytes including the NUL).
const FSCONFIG_MAX_STRING: usize = 255;

/// Filesystems whose mounts share one superblock per namespace (or host-wide): `ro` must
/// only make the new mount read-only, never the superblock everyone else uses.
fn shares_superblock(fstype: &str) -> bool {
    matches!(fstype, "proc" | "sysfs" | "mqueue" | "cgroup" | "cgroup2")
}

/// An fs_context being configured; on failure the kernel's own explanation ("tmpfs: Unknown
/// parameter 'foo'") is read back from it and added to the error.
pub struct FsContext {
    fd: OwnedFd,
    fstype: String,
}

impl FsContext {
    pub fn open(fstype: &str) -> Result<FsContext> {
        let fd = fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)
            .with_ctx(|| format!("fsopen {fstype:?}"))?;
        Ok(FsContext {
            fd,
            fstype: fstype.to_string(),
        })
    }

    /// Wraps an fs_context fd from fspick, to reconfigure a mounted filesystem.
    pub fn from_fd(fd: OwnedFd, fstype: &str) -> FsContext {
        FsContext {
            fd,
            fstype: fstype.to_string(),
        }
    }

    /// Applies what was set to the mounted superblock (after fspick).
    pub fn reconfigure(&self) -> Result<()> {
        rustix::mount::fsconfig_reconfigure(&self.fd)
            .map_err(|e| self.fail(format!("reconfigure {}", self.fstype), e))
    }

    /// The kernel's log for this context: the lines it wrote while rejecting something.
    fn kernel_log(&self) -> String {
        let mut msgs = Vec::new();
        let mut buf = [0u8; 1024];
        while let Ok(n) = rustix::io::read(&self.fd, &mut buf) {
            if n == 0 {
                break;
            }
            let line = String::from_utf8_lossy(&buf[..n]);
            // "e msg" error, "w msg" warning, "i msg" info.
            msgs.push(line.get(2..).unwrap_or_default().trim_end().to_string());
        }
        msgs.join("; ")
    }

    fn fail(&self, what: String, err: rustix::io::Errno) -> Error {
        let log = self.kernel_log();
        let what = if log.is_empty() {
            what
        } else {
            format!("{what} ({log})")
        };
        Error::os(what, io::Error::from(err))
    }

    pub fn set_flag(&self, key: &str) -> Result<()> {
        fsconfig_set_flag(&self.fd, key)
            .map_err(|e| self.fail(format!("{}: option {key:?}", self.fstype), e))
    }

    pub fn set_string(&self, key: &str, value: &str) -> Result<()> {
        fsconfig_set_string(&self.fd, key, value)
            .map_err(|e| self.fail(format!("{}: option \"{key}={value}\"", self.fstype), e))
    }

    /// One filesystem data option: `key=value` or a bare flag.
    pub fn set_data(&self, option: &str) -> Result<()> {
        match option.split_once('=') {
            Some((key, value)) if self.fstype == "overlay" && value.len() > FSCONFIG_MAX_STRING => {
                self.set_overlay_layers(key, value)
            }
            Some((key, value)) => self.set_string(key, value),
            None => self.set_flag(option),
        }
    }

    /// A lower-dir list too long for one fsconfig string: hand the layers over one by one
    /// (`lowerdir+`, and `datadir+` after a `::`), which the kernel supports since 6.5.
    fn set_overlay_layers(&self, key: &str, value: &str) -> Result<()> {
        if key != "lowerdir" {
            return self.set_string(key, value);
        }
        let (lower, data) = match value.split_once("::") {
            Some((lower, data)) => (lower, Some(data)),
            None => (value, None),
        };
        for layer in split_layers(lower) {
            self.set_string("lowerdir+", &layer)?;
        }
        for layer in data.into_iter().flat_map(split_layers) {
            self.set_string("datadir+", &layer)?;
        }
        Ok(())
    }

    /// Creates the superblock and a detached mount of it with the given attributes.
    pub fn mount(self, attrs: u64) -> Result<OwnedFd> {
        fsconfig_create(&self.fd).map_err(|e| self.fail(format!("create {}", self.fstype), e))?;
        let attr_flags = MountAttrFlags::from_bits_retain(attrs as u32);
        fsmount(&self.fd, FsMountFlags::FSMOUNT_CLOEXEC, attr_flags)
            .map_err(|e| self.fail(format!("fsmount {}", self.fstype), e))
    }
}

/// Splits an overlay layer list at unescaped `:`, removing the `\` escapes.
fn split_layers(list: &str) -> Vec<String> {
    let mut layers = vec![String::new()];
    let mut chars = list.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    layers.last_mut().unwrap().push(next);
                }
            }
            ':' => layers.push(String::new()),
            c => layers.last_mut().unwrap().push(c),
        }
    }
    layers.retain(|l| !l.is_empty());
    layers
}

/// A new, detached filesystem of `fstype` made from a mount entry's options.
pub fn new_fs(fstype: &str, source: Option<&str>, opts: &MountOptions) -> Result<OwnedFd> {
    let fs = FsContext::open(fstype)?;
    if let Some(source) = source {
        fs.set_string("source", source)?;
    }
    for option in &opts.data {
        fs.set_data(option)?;
    }
    for flag in &opts.superblock {
        fs.set_flag(flag)?;
    }
    if opts.readonly == Some(true) && !shares_superblock(fstype) {
        fs.set_flag("ro")?;
    }
    let mnt = fs.mount(opts.mount_attrs().fsmount_flags())?;
    set_attrs(&mnt, &AttrChange::default(), &opts.rec_attrs)?;
    Ok(mnt)
}

/// A detached copy of the mount at `source` (with every mount below it if `recursive`).
pub fn clone_tree(source: &Path, recursive: bool) -> Result<OwnedFd> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    open_tree(rustix::fs::CWD, source, flags).with_ctx(|| format!("open_tree {}", source.display()))
}

/// A detached copy of the mount `fd` refers to (an O_PATH handle, or a mount fd: before Linux
/// 6.15 only of an attached mount).
pub fn clone_fd(fd: impl AsFd, recursive: bool) -> Result<OwnedFd> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    open_tree(fd, "", flags).ctx("open_tree")
}

/// Applies attribute changes to the mount `mnt` (non-recursive), then to it and everything
/// below it (recursive).
pub fn set_attrs(mnt: impl AsFd, attrs: &AttrChange, rec_attrs: &AttrChange) -> Result<()> {
    let mnt = mnt.as_fd();
    for (change, recursive) in [(attrs, false), (rec_attrs, true)] {
        let attr = change.to_mount_attr();
        if !attr.is_empty() {
            set_mount_attr(mnt, &attr, recursive)?;
        }
    }
    Ok(())
}

/// mount_setattr on the mount `mnt` itself (and everything below it with `recursive`).
pub fn set_mount_attr(mnt: impl AsFd, attr: &MountAttr, recursive: bool) -> Result<()> {
    mount_setattr(mnt.as_fd(), &CString::default(), recursive, attr).with_ctx(|| {
        format!(
            "mount_setattr{} set {:#x} clear {:#x}",
            if recursive { " (recursive)" } else { "" },
            attr.attr_set,
            attr.attr_clr
        )
    })
}

/// Changes the propagation of the mount `mnt`, in option order.
pub fn set_propagation(mnt: impl AsFd, changes: &[Propagation]) -> Result<()> {
    let empty = CString::default();
    for p in changes {
        let attr = MountAttr {
            propagation: p.flag,
            ..MountAttr::default()
        };
        mount_setattr(mnt.as_fd(), &empty, p.recursive, &attr)
            .with_ctx(|| format!("set propagation {}", propagation_name(p)))?;
    }
    Ok(())
}

fn propagation_name(p: &Propagation) -> String {
    let name = match p.flag as libc::c_ulong {
        libc::MS_PRIVATE => "private",
        libc::MS_SHARED => "shared",
        libc::MS_SLAVE => "slave",
        libc::MS_UNBINDABLE => "unbindable",
        _ => "?",
    };
    format!("{}{name}", if p.recursive { "r" } else { "" })
}

/// Attaches the detached mount `mnt` on top of `target`.
pub fn attach(mnt: impl AsFd, target: impl AsFd) -> Result<()> {
    move_mount(
        mnt,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .ctx("move_mount")
}

/// A readable directory fd for the directory an O_PATH handle or mount fd refers to.
pub fn open_dir(fd: impl AsFd) -> Result<OwnedFd> {
    rustix::fs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx("open directory")
}

/// Makes a mount and its superblock read-only, like `mount -o remount,ro`.
pub fn make_readonly(mnt: impl AsFd) -> Result<()> {
    let mnt = mnt.as_fd();
    let fs = rustix::mount::fspick(
        mnt,
        "",
        rustix::mount::FsPickFlags::FSPICK_EMPTY_PATH | rustix::mount::FsPickFlags::FSPICK_CLOEXEC,
    )
    .ctx("fspick")?;
    rustix::mount::fsconfig_set_flag(&fs, "ro").ctx("fsconfig ro")?;
    rustix::mount::fsconfig_reconfigure(&fs).ctx("remount read-only")?;
    set_attrs(mnt, &AttrChange::readonly(), &AttrChange::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_layers_split_on_unescaped_colons() {
        assert_eq!(split_layers("/a:/b\\:c:/d"), vec!["/a", "/b:c", "/d"]);
        assert_eq!(split_layers("/a\\\\b"), vec!["/a\\b"]);
        assert!(split_layers("").is_empty());
    }
}
