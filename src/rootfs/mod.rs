//! The container's filesystem: mounts, devices, pivot_root, masked and read-only paths.
//!
//! Called from init in this order: `validate` (parent, before anything exists), then in the
//! container's mount namespace `prepare`, (createContainer hooks run here), `pivot`, then
//! (console setup, which may need a writable /dev) `finalize`.
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
mod seam_tests;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::AsFd;

use rustix::mount::MountPropagationFlags;

use crate::{Context, Error, Result};

pub use hostns::RootfsMount;
pub use idmap::Trees as IdMappedTrees;
pub use mounts::Plan;
pub use options::MountOptions;

use ops::{Kernel, Ops};

/// Everything the rootfs code needs to know about one container.
pub struct Rootfs<'a> {
    pub spec: &'a Spec,
    /// Absolute host path of the container's root filesystem.
    pub root: PathBuf,
    /// Absolute host path of the bundle (relative bind sources resolve against it).
    pub bundle: PathBuf,
    /// `--no-pivot`: MS_MOVE the root onto / and chroot instead of pivot_root.
    pub no_pivot: bool,
    /// The id-mapped bind trees, made by the runtime before the clone (`IdMappedTrees::make`).
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

/// `rootfsPropagation` as mount(2) propagation flags.
fn root_propagation(value: &str) -> Option<MountPropagationFlags> {
    use MountPropagationFlags as P;
    Some(match value {
        "private" => P::PRIVATE,
        "rprivate" => P::PRIVATE | P::REC,
        "slave" => P::DOWNSTREAM,
        "rslave" => P::DOWNSTREAM | P::REC,
        "shared" => P::SHARED,
        "rshared" => P::SHARED | P::REC,
        "unbindable" => P::UNBINDABLE,
        "runbindable" => P::UNBINDABLE | P::REC,
        _ => return None,
    })
}

impl Rootfs<'_> {
    fn linux(&self) -> Option<&oci_spec::runtime::Linux> {
        self.spec.linux().as_ref()
    }

    fn propagation_setting(&self) -> Option<&str> {
        self.linux()
            .and_then(|l| l.rootfs_propagation().as_deref())
            .filter(|p| !p.is_empty())
    }

    fn propagation(&self) -> Result<MountPropagationFlags> {
        match self.propagation_setting() {
            None => Ok(MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC),
            Some(p) => root_propagation(p).ok_or_else(|| {
                Error::invalid(format!("linux.rootfsPropagation: unknown value {p:?}"))
            }),
        }
    }

    fn has_namespace(&self, typ: LinuxNamespaceType) -> bool {
        self.linux()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| ns.iter().any(|n| n.typ() == typ))
    }

    /// Devices are made only when /dev is not a bind mount from the config.
    fn setup_dev(&self, plans: &[Plan]) -> bool {
        !plans
            .iter()
            .any(|p| matches!(p.kind, mounts::Kind::Bind { .. }) && p.dest == Path::new("/dev"))
    }

    fn paths(list: Option<&Vec<String>>, field: &str) -> Result<Vec<String>> {
        let list = list.cloned().unwrap_or_default();
        for (i, p) in list.iter().enumerate() {
            if !p.starts_with('/') {
                return Err(Error::invalid(format!(
                    "{field}[{i}] ({p}): path must be absolute"
                )));
            }
        }
        Ok(list)
    }

    fn masked_paths(&self) -> Result<Vec<String>> {
        Self::paths(
            self.linux().and_then(|l| l.masked_paths().as_ref()),
            "linux.maskedPaths",
        )
    }

    fn readonly_paths(&self) -> Result<Vec<String>> {
        Self::paths(
            self.linux().and_then(|l| l.readonly_paths().as_ref()),
            "linux.readonlyPaths",
        )
    }

    /// Checks every mount, option and device before anything is created.
    pub fn validate(&self) -> Result<()> {
        if !self.root.is_absolute() {
            return Err(Error::invalid(format!(
                "root.path {}: must resolve to an absolute path",
                self.root.display()
            )));
        }
        let meta = std::fs::metadata(&self.root)
            .with_ctx(|| format!("root.path {}", self.root.display()))?;
        if !meta.is_dir() {
            return Err(Error::invalid(format!(
                "root.path {}: not a directory",
                self.root.display()
            )));
        }
        if !self.own_mount_namespace() {
            self.validate_in_host_namespace()?;
        }
        self.propagation()?;
        for plan in mounts::plans(self.spec, &self.bundle)? {
            plan.check_source(&self.root)?;
        }
        devices::devices(self.spec)?;
        self.masked_paths()?;
        self.readonly_paths()?;
        Ok(())
    }

    /// Whether the container has a mount namespace (new or joined). Without one its mounts
    /// are made in the runtime's (see `hostns`).
    pub fn own_mount_namespace(&self) -> bool {
        self.has_namespace(LinuxNamespaceType::Mount)
    }

    /// What cannot be done in the runtime's mount namespace is refused, with runc 1.4's
    /// rules: masked and read-only paths, a root propagation, --no-pivot. A user namespace
    /// could not mount there at all.
    fn validate_in_host_namespace(&self) -> Result<()> {
        let needs = |what: &str| {
            Err(Error::invalid(format!(
                "{what}: needs a mount namespace of the container's own (linux.namespaces)"
            )))
        };
        if !self.masked_paths()?.is_empty() {
            return needs("linux.maskedPaths");
        }
        if !self.readonly_paths()?.is_empty() {
            return needs("linux.readonlyPaths");
        }
        if self.propagation_setting().is_some() {
            return needs("linux.rootfsPropagation");
        }
        if self.no_pivot {
            return needs("--no-pivot");
        }
        if self.has_namespace(LinuxNamespaceType::User) {
            return Err(Error::invalid(
                "linux.namespaces: a user namespace without a mount namespace: the rootfs would \
                 be set up in the host's mount namespace, where the container's root has no \
                 rights",
            ));
        }
        Ok(())
    }

    /// In init, inside the new mount namespace (or the runtime's, without one): propagation,
    /// the rootfs bind, every mount, /dev and its devices and links.
    pub fn prepare(&self) -> Result<()> {
        self.prepare_with(&Kernel)
    }

    /// `prepare`, through `ops` (the kernel, or the tests' recording fake).
    fn prepare_with(&self, ops: &dyn Ops) -> Result<()> {
        let plans = mounts::plans(self.spec, &self.bundle)?;
        let devices = devices::devices(self.spec)?;
        let propagation = self.propagation()?;
        let own_namespace = self.own_mount_namespace();

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

        for plan in &plans {
            mounts::mount(ops, &root, self.spec, plan, &self.idmapped)?;
        }
        if self.setup_dev(&plans) {
            let bind = self.has_namespace(LinuxNamespaceType::User);
            devices::setup(ops, &root, &devices, bind)?;
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
        if !self.own_mount_namespace() {
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
        if self.propagation_setting().is_some() {
            let propagation = self.propagation()?;
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
        let plans = mounts::plans(self.spec, &self.bundle)?;
        let dev_ro = plans.iter().any(|p| {
            p.dest == Path::new("/dev")
                && matches!(p.kind, mounts::Kind::Fs(_))
                && p.opts.readonly == Some(true)
        });
        if dev_ro {
            paths::remount_readonly(ops, "/dev")?;
        }
        if self.spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
            paths::remount_readonly(ops, "/")?;
        }
        paths::readonly(ops, &self.readonly_paths()?)?;
        paths::mask(ops, &self.masked_paths()?)?;
        Ok(())
    }
}
