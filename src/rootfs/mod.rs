//! The container's filesystem: mounts, devices, pivot_root, masked and read-only paths.
//!
//! Called from init in this order: `validate` (parent, before anything exists), then in the
//! container's mount namespace `prepare`, (createContainer hooks run here), `pivot`, `finalize`.

use std::path::PathBuf;

use oci_spec::runtime::Spec;

use crate::Result;

/// Everything the rootfs code needs to know about one container.
pub struct Rootfs<'a> {
    pub spec: &'a Spec,
    /// Absolute host path of the container's root filesystem.
    pub root: PathBuf,
    /// Absolute host path of the bundle (relative bind sources resolve against it).
    pub bundle: PathBuf,
    /// `--no-pivot`: MS_MOVE the root onto / and chroot instead of pivot_root.
    pub no_pivot: bool,
}

impl Rootfs<'_> {
    /// Checks every mount, option and device before anything is created.
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
    /// In init, inside the new mount namespace: propagation, the rootfs bind, every mount,
    /// /dev and its devices and links.
    pub fn prepare(&self) -> Result<()> {
        Ok(())
    }
    /// pivot_root (or MS_MOVE + chroot) into the rootfs; cwd is / afterwards.
    pub fn pivot(&self) -> Result<()> {
        Ok(())
    }
    /// After pivot: masked paths, read-only paths, a read-only root.
    pub fn finalize(&self) -> Result<()> {
        Ok(())
    }
}

/// Every mount option name hull accepts (for `features`).
pub fn mount_options() -> Vec<&'static str> {
    Vec::new()
}
