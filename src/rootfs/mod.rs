//! The container's filesystem: mounts, devices, pivot_root, masked and read-only paths.
//!
//! Called from init in this order: `validate` (in the runtime, before anything exists), then in
//! the container's mount namespace `prepare`, (createContainer hooks run here), `pivot`,
//! `finalize`. Every destination inside the rootfs is resolved with openat2(RESOLVE_IN_ROOT)
//! (pathrs) and mounted through its fd, so a symlink planted in the rootfs cannot send a mount
//! outside it.

mod devices;
mod mount;
pub mod options;
mod paths;
mod pivot;

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::{Mount, Spec};

use crate::{Error, Result};

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
    fn mounts(&self) -> &[Mount] {
        self.spec.mounts().as_deref().unwrap_or_default()
    }

    /// Checks every mount before anything is created.
    pub fn validate(&self) -> Result<()> {
        for (i, m) in self.mounts().iter().enumerate() {
            let what = || format!("mounts[{i}] ({})", m.destination().display());
            if m.destination().as_os_str().is_empty() {
                return Err(Error::invalid(format!("mounts[{i}]: destination is empty")));
            }
            if m.destination()
                .components()
                .any(|c| c == std::path::Component::ParentDir)
            {
                return Err(Error::invalid(format!(
                    "{}: destination must not hold \"..\"",
                    what()
                )));
            }
            let opts = options::parse(m.options().as_deref().unwrap_or_default());
            if mount::is_bind(m, &opts) {
                let source = self.bind_source(m).ok_or_else(|| {
                    Error::invalid(format!("{}: a bind mount needs a source", what()))
                })?;
                std::fs::symlink_metadata(&source).map_err(|e| {
                    Error::invalid(format!("{}: bind source {}: {e}", what(), source.display()))
                })?;
            } else if m.typ().as_deref().unwrap_or_default().is_empty() {
                return Err(Error::invalid(format!(
                    "{}: type is required unless it is a bind mount",
                    what()
                )));
            }
        }
        Ok(())
    }

    /// A bind mount's source on the host; relative sources are relative to the bundle.
    fn bind_source(&self, m: &Mount) -> Option<PathBuf> {
        let source = m.source().as_ref()?;
        Some(if source.is_absolute() {
            source.clone()
        } else {
            self.bundle.join(source)
        })
    }

    /// In init, inside the new mount namespace: propagation, the rootfs bind, every mount,
    /// /dev and its devices and links.
    pub fn prepare(&self) -> Result<()> {
        pivot::prepare_root(self)?;
        let root = pathrs::Root::open(&self.root)
            .map_err(|e| Error::Other(format!("open rootfs {}: {e}", self.root.display())))?;
        for (i, m) in self.mounts().iter().enumerate() {
            mount::mount_one(self, &root, i, m)?;
        }
        if !self.dev_is_bind_mounted() {
            devices::create_default(&root)?;
            devices::create_links(&root)?;
        }
        devices::create_configured(self.spec, &root)?;
        Ok(())
    }

    /// A bind-mounted /dev comes with its devices: runc then makes none.
    fn dev_is_bind_mounted(&self) -> bool {
        self.mounts().iter().any(|m| {
            m.destination() == Path::new("/dev")
                && mount::is_bind(
                    m,
                    &options::parse(m.options().as_deref().unwrap_or_default()),
                )
        })
    }

    /// pivot_root (or MS_MOVE + chroot) into the rootfs; cwd is / afterwards.
    pub fn pivot(&self) -> Result<()> {
        if self.no_pivot {
            pivot::move_root(&self.root)
        } else {
            pivot::pivot_root(&self.root)
        }?;
        pivot::apply_root_propagation(self.spec)
    }

    /// After pivot: read-only paths, masked paths, a read-only root.
    pub fn finalize(&self) -> Result<()> {
        let linux = self.spec.linux().as_ref();
        for p in linux
            .and_then(|l| l.readonly_paths().as_deref())
            .unwrap_or_default()
        {
            paths::make_readonly(Path::new(p))?;
        }
        for p in linux
            .and_then(|l| l.masked_paths().as_deref())
            .unwrap_or_default()
        {
            paths::mask(Path::new(p))?;
        }
        if self
            .spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false)
        {
            paths::remount_readonly(Path::new("/"), MsFlags::empty())?;
        }
        Ok(())
    }
}

/// Every mount option name hull accepts (for `features`).
pub fn mount_options() -> Vec<&'static str> {
    options::names()
}
