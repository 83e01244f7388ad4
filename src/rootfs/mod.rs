//! The container's filesystem: mounts, devices, pivot_root, masked and read-only paths.
//!
//! The runtime makes the `Plan` at validation (`Plan::new`: everything parsed and checked
//! before anything exists, the only reader of the spec here); init reads it through
//! `Rootfs`, in this order, in the container's mount namespace: `prepare`,
//! (createContainer hooks run here), `pivot`, then (console setup, which may need a
//! writable /dev) `finalize`.
//!
//! Every path inside the rootfs is resolved with openat2(RESOLVE_IN_ROOT) (`inroot`)
//! and every mount is made by fd (fsopen/fsmount or open_tree, then move_mount onto the
//! resolved target), so a symlink in the rootfs cannot send a mount outside it.

mod cgroup;
mod copyup;
pub mod criu;
mod devices;
mod fdmount;
pub(crate) mod hostns;
pub(crate) mod idmap;
pub(crate) mod inroot;
mod mount_plan;
pub(crate) mod mountinfo;
mod mounts;
pub(crate) mod ops;
pub(crate) mod options;
mod paths;
mod pivot;
mod plan;
mod target;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod seam_tests;
#[cfg(test)]
pub(crate) mod testbundle;
#[cfg(test)]
mod tests;

use std::ops::Deref;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::mount::MountPropagationFlags;

use crate::{Context, Result};

pub use hostns::RootfsMount;
pub use idmap::Trees as IdMappedTrees;
pub use options::MountOptions;
pub use plan::{Options, Plan};

use ops::{Kernel, Ops};

/// One container's rootfs: its plan (made at validation) and the id-mapped trees (made by
/// the runtime just before init is cloned).
pub struct Rootfs<'a> {
    pub plan: &'a Plan,
    pub idmapped: IdMappedTrees,
}

/// Every mount option name hull accepts, for `features` (from the parser's own table).
pub fn mount_options() -> Vec<&'static str> {
    options::names()
}

/// Whether this kernel makes id-mapped mounts (for `features`).
pub fn idmap_kernel_support() -> bool {
    crate::sys::mount::mount_setattr_exists()
}

/// The plan's facts (`rootfs.root`, `rootfs.own_mount_namespace`) read through the rootfs.
impl Deref for Rootfs<'_> {
    type Target = Plan;

    fn deref(&self) -> &Plan {
        self.plan
    }
}

impl<'a> Rootfs<'a> {
    pub fn new(plan: &'a Plan, idmapped: IdMappedTrees) -> Rootfs<'a> {
        Rootfs { plan, idmapped }
    }

    /// In init, inside the new mount namespace (or the runtime's, without one): propagation,
    /// the rootfs bind, every mount, /dev and its devices and links.
    pub fn prepare(&self) -> Result<()> {
        self.prepare_with(&Kernel)
    }

    /// `prepare`, through `ops` (the kernel, or the tests' recording fake).
    fn prepare_with(&self, ops: &dyn Ops) -> Result<()> {
        let propagation = self.propagation();
        let own_namespace = self.mount_namespace;

        if own_namespace {
            // Nothing we mount may propagate back to the host.
            ops.change_propagation(Path::new("/"), propagation)?;
            self.make_parent_private(ops, propagation)?;
        }

        // The rootfs becomes a mount of its own (pivot_root needs one), and every later
        // lookup walks the container's mount tree from it.
        let tree = ops.clone_tree(&self.root, true)?;
        let here = rustix::fs::open(
            &self.root,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .with_ctx(|| format!("open rootfs {}", self.root.display()))?;
        ops.attach(tree.as_fd(), here.as_fd())
            .map_err(|e| mounts::in_mount(&format!("bind rootfs {}", self.root.display()), e))?;
        drop(here);
        if !own_namespace {
            // In the host's mount namespace only this bind and what hangs from it are ours:
            // a slave, so that nothing mounted under it propagates to the host's mounts.
            // c_ulong is u64 here but u32 on 32-bit targets.
            #[allow(clippy::unnecessary_cast)]
            let slave = options::Propagation {
                flag: libc::MS_SLAVE as u64,
                recursive: true,
            };
            ops.set_propagation(tree.as_fd(), &[slave]).map_err(|e| {
                mounts::in_mount(&format!("bind rootfs {}", self.root.display()), e)
            })?;
        }
        drop(tree);
        let root = inroot::RootDir::open(&self.root)?;

        for mount in &self.mounts {
            mounts::mount(ops, &root, mount, self.cgroup_namespace, &self.idmapped)?;
        }
        if self.makes_dev() {
            devices::setup(ops, &root, &self.devices, self.user_namespace)?;
        }
        Ok(())
    }

    /// Unless `/` was changed recursively, the rootfs's parent mount may still be shared, and
    /// pivot_root refuses that (and the rootfs bind would propagate out).
    fn make_parent_private(&self, ops: &dyn Ops, propagation: MountPropagationFlags) -> Result<()> {
        let done = MountPropagationFlags::REC
            | MountPropagationFlags::DOWNSTREAM
            | MountPropagationFlags::PRIVATE;
        if propagation & !done == MountPropagationFlags::empty()
            && propagation.contains(MountPropagationFlags::REC)
        {
            return Ok(());
        }
        let canonical = std::fs::canonicalize(&self.root)
            .with_ctx(|| format!("resolve {}", self.root.display()))?;
        let mounts = mountinfo::read_self()?;
        let Some(parent) = mountinfo::mount_of(&mounts, &canonical) else {
            return Ok(());
        };
        // A slave unless `private` or `unbindable` was asked for: binds cloned from it (the
        // rootfs, mounts whose source lies on it) then stay slaves of the host's peer group,
        // so `slave` and a mount's `rslave` mean what they say. A slave is no obstacle to
        // pivot_root, and nothing propagates back from it.
        let private = MountPropagationFlags::PRIVATE | MountPropagationFlags::UNBINDABLE;
        let (flag, what) = if propagation.intersects(private) {
            (MountPropagationFlags::PRIVATE, "private")
        } else {
            (MountPropagationFlags::DOWNSTREAM, "a slave")
        };
        ops.change_propagation(&parent.mount_point, flag)
            .map_err(|e| {
                mounts::in_mount(
                    &format!(
                        "make the rootfs's parent mount {} {what}",
                        parent.mount_point.display()
                    ),
                    e,
                )
            })
    }

    /// pivot_root (or MS_MOVE + chroot) into the rootfs; cwd is / afterwards. Without a
    /// mount namespace of its own, chroot: the host's mount tree is not the container's to
    /// pivot.
    pub fn pivot(&self) -> Result<()> {
        if !self.mount_namespace {
            return pivot::chroot_into(&self.root);
        }
        if self.no_pivot {
            pivot::move_root(&self.root)?;
        } else {
            pivot::pivot(&self.root)?;
        }
        self.container_root_propagation(&Kernel)
    }

    /// The propagation asked for is that of the container's root mount, which only after
    /// pivot is /.
    fn container_root_propagation(&self, ops: &dyn Ops) -> Result<()> {
        if let Some(propagation) = self.root_propagation {
            ops.change_propagation(Path::new("/"), propagation)
                .map_err(|e| mounts::in_mount("the container's /", e))?;
        }
        Ok(())
    }

    /// After pivot: a read-only /dev if asked, `root.readonly`, read-only paths, masked
    /// paths (in runc's order).
    pub fn finalize(&self) -> Result<()> {
        self.finalize_with(&Kernel)
    }

    /// `finalize`, through `ops`.
    fn finalize_with(&self, ops: &dyn Ops) -> Result<()> {
        if self.dev_readonly() {
            paths::remount_readonly(ops, "/dev")?;
        }
        if self.readonly {
            paths::remount_readonly(ops, "/")?;
        }
        paths::readonly(ops, &self.readonly_paths)?;
        paths::mask(ops, &self.masked_paths)?;
        Ok(())
    }
}
