//! Making the rootfs the process's root: pivot_root, or for `--no-pivot` MS_MOVE + chroot.

use std::path::Path;

use rustix::fs::{open, Mode, OFlags};
use rustix::mount::{mount_change, mount_move, unmount, MountPropagationFlags, UnmountFlags};
use rustix::process::{chdir, chroot, fchdir, pivot_root};

use super::mountinfo;
use crate::{Context, Result};

fn open_dir(path: &Path) -> Result<std::os::fd::OwnedFd> {
    open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_ctx(|| format!("open {}", path.display()))
}

/// pivot_root(".", "."): the old root ends up stacked on the new one, where it is detached
/// without needing a directory for it in the rootfs.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let old_root = open_dir(Path::new("/"))?;
    let new_root = open_dir(rootfs)?;
    fchdir(&new_root).ctx("chdir to rootfs")?;
    pivot_root(".", ".").with_ctx(|| format!("pivot_root {}", rootfs.display()))?;
    // "." is now the old root, mounted over the new one.
    fchdir(&old_root).ctx("chdir to old root")?;
    // Unmounting must not reach the host's mounts through propagation.
    mount_change(
        ".",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .ctx("make old root rslave")?;
    unmount(".", UnmountFlags::DETACH).ctx("detach old root")?;
    chdir("/").ctx("chdir /")
}

/// `--no-pivot`: move the rootfs over / and chroot into it. The host's full procfs and
/// sysfs mounts stay reachable in this mount namespace otherwise (and the kernel checks
/// them when the container mounts its own), so they are detached first, as runc does.
pub fn move_root(rootfs: &Path) -> Result<()> {
    let hidden = mountinfo::read_self()?.into_iter().filter(|m| {
        m.root == Path::new("/")
            && (m.fstype == "proc" || m.fstype == "sysfs")
            && !m.mount_point.starts_with(rootfs)
    });
    for m in hidden {
        let p = &m.mount_point;
        match mount_change(
            p,
            MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
        ) {
            // A parent was already detached.
            Err(rustix::io::Errno::NOENT) => continue,
            other => other.with_ctx(|| format!("make {} rslave", p.display()))?,
        }
        match unmount(p, UnmountFlags::DETACH) {
            Ok(()) => {}
            // Not ours to unmount (a user namespace): cover it instead.
            Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::PERM) => rustix::mount::mount(
                "tmpfs",
                p,
                "tmpfs",
                rustix::mount::MountFlags::empty(),
                None,
            )
            .with_ctx(|| format!("cover {}", p.display()))?,
            Err(e) => return Err(e).with_ctx(|| format!("detach {}", p.display())),
        }
    }
    let new_root = open_dir(rootfs)?;
    fchdir(&new_root).ctx("chdir to rootfs")?;
    mount_move(rootfs, "/").with_ctx(|| format!("move {} to /", rootfs.display()))?;
    chroot(".").ctx("chroot into rootfs")?;
    chdir("/").ctx("chdir /")
}

/// chroot into the rootfs (a container in the runtime's mount namespace).
pub fn chroot_into(rootfs: &Path) -> Result<()> {
    let new_root = open_dir(rootfs)?;
    fchdir(&new_root).ctx("chdir to rootfs")?;
    chroot(".").ctx("chroot into rootfs")?;
    chdir("/").ctx("chdir /")
}
