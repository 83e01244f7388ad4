//! After pivot: `maskedPaths`, `readonlyPaths`, a read-only /dev and `root.readonly`.
//!
//! These run with the container's root as `/`, so absolute symlinks and `..` resolve inside
//! it; a path that does not exist is skipped, as runc does.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{fstat, major, minor, FileType, OFlags};
use rustix::io::Errno;

use super::ops::Ops;
use super::options::AttrChange;
use crate::{Context, Error, Result};

/// The container's /dev/null, checked to really be the null device (1:3) before it is
/// bound over anything; what is bound is this fd, never the path again. A symlink there (to
/// /proc/sys/kernel/core_pattern, to a host file bound into the container) would otherwise
/// make every masked file a writable alias of its target (CVE-2025-31133).
fn dev_null(ops: &dyn Ops) -> Result<OwnedFd> {
    let fd = ops
        .open_in_root(Path::new("/dev/null"), OFlags::NOFOLLOW)
        .ctx("open /dev/null")?;
    let st = fstat(&fd).ctx("stat /dev/null")?;
    let kind = FileType::from_raw_mode(st.st_mode);
    let is_null =
        kind == FileType::CharacterDevice && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
    if !is_null {
        let what = if kind == FileType::Symlink {
            "a symlink"
        } else {
            "something else"
        };
        return Err(Error::Other(format!(
            "/dev/null in the container is {what}, not the null device (1:3): refusing to mask with it"
        )));
    }
    Ok(fd)
}

/// Masks each path: files get /dev/null bound over them, directories an empty read-only
/// tmpfs each. (Not one tmpfs cloned for every directory: open_tree of a detached mount, as
/// fsmount returns, is refused before Linux 6.15.) A path listed twice (engines merge their
/// defaults with the user's list) is masked once: a second mask would only stack another
/// mount on the first.
pub fn mask(ops: &dyn Ops, paths: &[String]) -> Result<()> {
    let mut null: Option<OwnedFd> = None;
    let mut done = std::collections::HashSet::new();
    for (i, path) in paths.iter().enumerate() {
        if !done.insert(super::inroot::clean(Path::new(path))) {
            continue;
        }
        let field = || format!("maskedPaths[{i}] ({path})");
        let target = match ops.open_in_root(Path::new(path), OFlags::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e).with_ctx(|| format!("{}: open", field())),
        };
        let st = fstat(&target).with_ctx(|| format!("{}: stat", field()))?;
        let result = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            empty_readonly_tmpfs(ops)
        } else {
            if null.is_none() {
                null = Some(dev_null(ops).map_err(|e| Error::Other(format!("{}: {e}", field())))?);
            }
            ops.clone_fd(null.as_ref().unwrap().as_fd(), false)
        };
        result
            .and_then(|mnt| ops.attach(mnt.as_fd(), target.as_fd()))
            .map_err(|e| crate::rootfs::mounts::in_mount(&field(), e))?;
    }
    Ok(())
}

fn empty_readonly_tmpfs(ops: &dyn Ops) -> Result<OwnedFd> {
    ops.configured_fs(
        "tmpfs",
        &[("source", Some("tmpfs")), ("ro", None)],
        crate::sys::mount::MOUNT_ATTR_RDONLY,
    )
}

/// Binds each path over itself read-only; nosuid, nodev and noexec stay as they were.
pub fn readonly(ops: &dyn Ops, paths: &[String]) -> Result<()> {
    for (i, path) in paths.iter().enumerate() {
        let field = || format!("readonlyPaths[{i}] ({path})");
        let target = match ops.open_in_root(Path::new(path), OFlags::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e).with_ctx(|| format!("{}: open", field())),
        };
        ops.clone_fd(target.as_fd(), true)
            .and_then(|tree| {
                ops.set_attrs(
                    tree.as_fd(),
                    &AttrChange::readonly(),
                    &AttrChange::default(),
                )?;
                ops.attach(tree.as_fd(), target.as_fd())
            })
            .map_err(|e| crate::rootfs::mounts::in_mount(&field(), e))?;
    }
    Ok(())
}

/// Makes the mount at `path` (the container's / or /dev) read-only, that mount only.
pub fn remount_readonly(ops: &dyn Ops, path: &str) -> Result<()> {
    let fd = ops
        .open_in_root(Path::new(path), OFlags::DIRECTORY)
        .with_ctx(|| format!("open {path}"))?;
    ops.set_attrs(fd.as_fd(), &AttrChange::readonly(), &AttrChange::default())
        .map_err(|e| crate::rootfs::mounts::in_mount(&format!("read-only {path}"), e))
}
