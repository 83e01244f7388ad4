//! Entering the rootfs: propagation of the mount tree, the rootfs bind, pivot_root.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::Spec;

use super::Rootfs;
use crate::{Context, Error, Result};

fn root_propagation(spec: &Spec) -> Result<Option<MsFlags>> {
    let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
    else {
        return Ok(None);
    };
    let flags = match p {
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        other => {
            return Err(Error::invalid(format!(
                "linux.rootfsPropagation {other:?}: unknown propagation"
            )))
        }
    };
    Ok(Some(flags))
}

/// Cuts the container's mount tree off from the host's (rslave unless rootfsPropagation says
/// otherwise: nothing mounted inside reaches the host), and binds the rootfs onto itself so
/// it is a mount pivot_root can take.
pub fn prepare_root(rootfs: &Rootfs) -> Result<()> {
    let prop = root_propagation(rootfs.spec)?.unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    // Shared propagation is set on the new root after pivot; until then keep it slave.
    let first = if prop.contains(MsFlags::MS_SHARED) {
        MsFlags::MS_SLAVE | MsFlags::MS_REC
    } else {
        prop | MsFlags::MS_REC
    };
    mount(None::<&str>, "/", None::<&str>, first, None::<&str>).ctx("make / rslave")?;
    mount(
        Some(&rootfs.root),
        &rootfs.root,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_ctx(|| format!("bind rootfs {}", rootfs.root.display()))
}

/// pivot_root(".", "."): the old root ends up stacked on the new one and is detached, so no
/// temporary directory inside the rootfs is needed.
pub fn pivot_root(root: &Path) -> Result<()> {
    nix::unistd::chdir(root).with_ctx(|| format!("chdir {}", root.display()))?;
    nix::unistd::pivot_root(".", ".").with_ctx(|| format!("pivot_root {}", root.display()))?;
    // Slave first: the unmount must not propagate to the host's mounts.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx("make the old root rslave")?;
    umount2(".", MntFlags::MNT_DETACH).ctx("detach the old root")?;
    nix::unistd::chdir("/").ctx("chdir /")
}

/// `--no-pivot`: move the rootfs onto / and chroot (for ramdisk roots, where pivot_root fails).
pub fn move_root(root: &Path) -> Result<()> {
    nix::unistd::chdir(root).with_ctx(|| format!("chdir {}", root.display()))?;
    mount(
        Some(root),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .ctx("move the rootfs onto /")?;
    nix::unistd::chroot(".").ctx("chroot")?;
    nix::unistd::chdir("/").ctx("chdir /")
}

/// rootfsPropagation of the new root, once it is /.
pub fn apply_root_propagation(spec: &Spec) -> Result<()> {
    if let Some(p) = root_propagation(spec)? {
        mount(None::<&str>, "/", None::<&str>, p, None::<&str>)
            .ctx("set rootfsPropagation on /")?;
    }
    Ok(())
}
