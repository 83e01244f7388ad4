//! The seam between deciding what the rootfs gets and doing it: every operation that changes
//! the mount tree or creates a node in the rootfs goes through `Ops`. `Kernel` makes the
//! calls; the unit tests pass a recording fake (`fake.rs`) that works on a temp directory, so
//! mount order, flags, propagation, devices and the masked and read-only paths are checked
//! without root, on the same code that runs.
//!
//! What stays outside the seam is what does not need privilege and carries the security
//! rules: paths in the rootfs are still resolved with openat2 RESOLVE_IN_ROOT (`inroot`) into
//! real fds, and the landing checks (`target`) judge those fds, with the fake as with the
//! kernel. The fake only replaces what a mount or mknod would have done with them.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{chmodat, chownat, makedev, mknodat, symlinkat, unlinkat, AtFlags};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::mount::{mount_change, MountPropagationFlags};
use rustix::process::{Gid, Uid};

use super::fdmount::{self, FsContext};
use super::options::{AttrChange, MountOptions, Propagation};
use crate::sys::mount::MountAttr;
use crate::{Context, Result};

/// The operations the rootfs code performs; see the module comment.
pub trait Ops {
    /// Propagation of the mount at `path` in this process's mount namespace (`/`, or the
    /// rootfs's parent mount).
    fn change_propagation(&self, path: &Path, flags: MountPropagationFlags) -> Result<()>;
    /// A new detached filesystem made from a mount entry's options (`fdmount::new_fs`).
    fn new_fs(&self, fstype: &str, source: Option<&str>, opts: &MountOptions) -> Result<OwnedFd>;
    /// A new detached filesystem from fsconfig settings: `(key, None)` is a flag,
    /// `(key, Some(value))` a string; `attrs` are its fsmount attributes.
    fn configured_fs(
        &self,
        fstype: &str,
        settings: &[(&str, Option<&str>)],
        attrs: u64,
    ) -> Result<OwnedFd>;
    /// A detached copy of the host mount at `source`.
    fn clone_tree(&self, source: &Path, recursive: bool) -> Result<OwnedFd>;
    /// A detached copy of the mount `fd` refers to.
    fn clone_fd(&self, fd: BorrowedFd, recursive: bool) -> Result<OwnedFd>;
    fn set_mount_attr(&self, mnt: BorrowedFd, attr: &MountAttr, recursive: bool) -> Result<()>;
    fn set_propagation(&self, mnt: BorrowedFd, changes: &[Propagation]) -> Result<()>;
    /// Attaches the detached mount `mnt` on `target`.
    fn attach(&self, mnt: BorrowedFd, target: BorrowedFd) -> Result<()>;
    /// Makes a mount and its superblock read-only.
    fn make_readonly(&self, mnt: BorrowedFd) -> Result<()>;
    /// mknod in `dir`; the errno is kept (EEXIST and EPERM decide what happens next).
    fn mknod(
        &self,
        dir: BorrowedFd,
        name: &Path,
        kind: FileType,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> rustix::io::Result<()>;
    /// chown of a node just made (never follows a symlink).
    fn chown(&self, dir: BorrowedFd, name: &Path, uid: u32, gid: u32) -> Result<()>;
    fn chmod(&self, dir: BorrowedFd, name: &Path, mode: u32) -> Result<()>;
    fn symlink(&self, target: &str, dir: BorrowedFd, name: &Path) -> rustix::io::Result<()>;
    fn unlink(&self, dir: BorrowedFd, name: &Path) -> rustix::io::Result<()>;
    /// After pivot: an O_PATH fd for `path` in the container's root (which is then `/`).
    fn open_in_root(&self, path: &Path, flags: OFlags) -> rustix::io::Result<OwnedFd>;

    /// Attribute changes to `mnt` itself, then to it and everything below it.
    fn set_attrs(&self, mnt: BorrowedFd, attrs: &AttrChange, rec_attrs: &AttrChange) -> Result<()> {
        for (change, recursive) in [(attrs, false), (rec_attrs, true)] {
            let attr = change.to_mount_attr();
            if !attr.is_empty() {
                self.set_mount_attr(mnt, &attr, recursive)?;
            }
        }
        Ok(())
    }
}

/// The real thing: the syscalls.
pub struct Kernel;

impl Ops for Kernel {
    fn change_propagation(&self, path: &Path, flags: MountPropagationFlags) -> Result<()> {
        mount_change(path, flags)
            .with_ctx(|| format!("set propagation of {} ({flags:?})", path.display()))
    }

    fn new_fs(&self, fstype: &str, source: Option<&str>, opts: &MountOptions) -> Result<OwnedFd> {
        fdmount::new_fs(fstype, source, opts)
    }

    fn configured_fs(
        &self,
        fstype: &str,
        settings: &[(&str, Option<&str>)],
        attrs: u64,
    ) -> Result<OwnedFd> {
        let fs = FsContext::open(fstype)?;
        for (key, value) in settings {
            match value {
                Some(value) => fs.set_string(key, value)?,
                None => fs.set_flag(key)?,
            }
        }
        fs.mount(attrs)
    }

    fn clone_tree(&self, source: &Path, recursive: bool) -> Result<OwnedFd> {
        fdmount::clone_tree(source, recursive)
    }

    fn clone_fd(&self, fd: BorrowedFd, recursive: bool) -> Result<OwnedFd> {
        fdmount::clone_fd(fd, recursive)
    }

    fn set_mount_attr(&self, mnt: BorrowedFd, attr: &MountAttr, recursive: bool) -> Result<()> {
        fdmount::set_mount_attr(mnt, attr, recursive)
    }

    fn set_propagation(&self, mnt: BorrowedFd, changes: &[Propagation]) -> Result<()> {
        fdmount::set_propagation(mnt, changes)
    }

    fn attach(&self, mnt: BorrowedFd, target: BorrowedFd) -> Result<()> {
        fdmount::attach(mnt, target)
    }

    fn make_readonly(&self, mnt: BorrowedFd) -> Result<()> {
        fdmount::make_readonly(mnt)
    }

    fn mknod(
        &self,
        dir: BorrowedFd,
        name: &Path,
        kind: FileType,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> rustix::io::Result<()> {
        mknodat(
            dir,
            name,
            kind,
            Mode::from_raw_mode(mode),
            makedev(major, minor),
        )
    }

    fn chown(&self, dir: BorrowedFd, name: &Path, uid: u32, gid: u32) -> Result<()> {
        chownat(
            dir,
            name,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .ctx("chown")
    }

    fn chmod(&self, dir: BorrowedFd, name: &Path, mode: u32) -> Result<()> {
        // Only for a node we just made: it is not a symlink.
        chmodat(dir, name, Mode::from_raw_mode(mode), AtFlags::empty()).ctx("chmod")
    }

    fn symlink(&self, target: &str, dir: BorrowedFd, name: &Path) -> rustix::io::Result<()> {
        symlinkat(target, dir, name)
    }

    fn unlink(&self, dir: BorrowedFd, name: &Path) -> rustix::io::Result<()> {
        unlinkat(dir, name, AtFlags::empty())
    }

    fn open_in_root(&self, path: &Path, flags: OFlags) -> rustix::io::Result<OwnedFd> {
        rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC | flags, Mode::empty())
    }
}
