//! The container's rootfs, worked out once from config.json, the bundle and the runtime's
//! options, at validation: the root, every mount (with the runtime's own, the notify
//! socket's directory, as one more entry), the devices, the masked and read-only paths, the
//! propagation and the namespace facts the mount code needs. Everything after validation
//! (`Rootfs::prepare`/`pivot`/`finalize` in init, the id-mapped trees, CRIU's externals)
//! reads this plan; nothing in rootfs reads the spec but `Plan::new`.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Mount, MountBuilder, Spec};
use rustix::mount::MountPropagationFlags;

use super::devices::{self, Device};
use super::mount_plan::{ContainerUserns, Kind, MountPlan};
use crate::io::notify;
use crate::spec::query;
use crate::{Error, Result};

/// What the runtime adds to the config: its flags and its own mounts.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--no-pivot`: MS_MOVE the root onto / and chroot instead of pivot_root.
    pub no_pivot: bool,
    /// The notify socket's directory, bound in when the caller passed NOTIFY_SOCKET.
    pub notify: Option<notify::Bind>,
}

/// The container's rootfs, checked and typed.
#[derive(Debug)]
pub struct Plan {
    /// Absolute host path of the container's root filesystem (`root.path`), a directory.
    pub root: PathBuf,
    /// Absolute host path of the bundle (relative bind sources were resolved against it).
    pub bundle: PathBuf,
    /// `root.readonly`.
    pub readonly: bool,
    /// `mounts`, in order, then the runtime's own (`MountPlan::from_runtime`).
    pub mounts: Vec<MountPlan>,
    /// The default devices and `linux.devices`.
    pub devices: Vec<Device>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    /// `linux.rootfsPropagation`, when the config sets one.
    pub root_propagation: Option<MountPropagationFlags>,
    pub no_pivot: bool,
    /// A mount namespace of the container's own (new or joined); without one its mounts are
    /// made in the runtime's (see `hostns`).
    pub mount_namespace: bool,
    /// A user namespace (new or joined): device nodes are bound from the host, not made.
    pub user_namespace: bool,
    /// A cgroup namespace: cgroup mounts are the container's own, not binds of the host's.
    pub cgroup_namespace: bool,
    /// The container's user namespace, where an `idmap` mount without mappings takes its
    /// mapping from.
    pub userns: ContainerUserns,
}

impl Plan {
    /// Parses and checks everything the rootfs needs from the config; errors name the field
    /// (`root.path`, `mounts[3] (/data)`, `linux.devices[0] (/dev/x)`). Host-side facts are
    /// checked here too: the root is a directory, a bind's source exists.
    pub fn new(spec: &Spec, bundle: &Path, opts: Options) -> Result<Plan> {
        let plan = Plan::parse(spec, bundle, opts)?;
        for mount in plan.mounts.iter().filter(|m| !m.from_runtime) {
            mount.check_source(&plan.root)?;
        }
        Ok(plan)
    }

    /// `new` without the bind sources checked: for a container that exists already (a
    /// checkpoint names its mounts to CRIU as the config has them).
    pub fn parse(spec: &Spec, bundle: &Path, opts: Options) -> Result<Plan> {
        let root = root_path(spec, bundle)?;
        let linux = spec.linux().as_ref();
        let has = |typ| query::namespace(spec, typ).is_some();
        let masked_paths = paths(
            linux.and_then(|l| l.masked_paths().as_ref()),
            "linux.maskedPaths",
        )?;
        let readonly_paths = paths(
            linux.and_then(|l| l.readonly_paths().as_ref()),
            "linux.readonlyPaths",
        )?;
        let propagation_setting = linux
            .and_then(|l| l.rootfs_propagation().as_deref())
            .filter(|p| !p.is_empty());
        let userns = ContainerUserns::of(spec);
        let plan = Plan {
            readonly: spec.root().as_ref().and_then(|r| r.readonly()) == Some(true),
            mounts: Vec::new(),
            devices: Vec::new(),
            masked_paths,
            readonly_paths,
            root_propagation: None,
            no_pivot: opts.no_pivot,
            mount_namespace: has(LinuxNamespaceType::Mount),
            user_namespace: has(LinuxNamespaceType::User),
            cgroup_namespace: has(LinuxNamespaceType::Cgroup),
            userns,
            root,
            bundle: bundle.to_path_buf(),
        };
        if !plan.mount_namespace {
            plan.check_in_host_namespace(propagation_setting.is_some())?;
        }
        let root_propagation = match propagation_setting {
            None => None,
            Some(p) => Some(propagation(p).ok_or_else(|| {
                Error::invalid(format!("linux.rootfsPropagation: unknown value {p:?}"))
            })?),
        };
        let mut mounts: Vec<MountPlan> = spec
            .mounts()
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, m)| MountPlan::new(i, m, bundle, &plan.userns))
            .collect::<Result<_>>()?;
        if let Some(bind) = &opts.notify {
            let mut entry =
                MountPlan::new(mounts.len(), &runtime_bind(bind)?, bundle, &plan.userns)?;
            entry.from_runtime = true;
            mounts.push(entry);
        }
        let devices = devices::devices(
            linux
                .and_then(|l| l.devices().as_deref())
                .unwrap_or_default(),
        )?;
        Ok(Plan {
            mounts,
            devices,
            root_propagation,
            ..plan
        })
    }

    /// What cannot be done in the runtime's mount namespace is refused, with runc 1.4's
    /// rules: masked and read-only paths, a root propagation, --no-pivot. A user namespace
    /// could not mount there at all.
    fn check_in_host_namespace(&self, sets_propagation: bool) -> Result<()> {
        let needs = |what: &str| {
            Err(Error::invalid(format!(
                "{what}: needs a mount namespace of the container's own (linux.namespaces)"
            )))
        };
        if !self.masked_paths.is_empty() {
            return needs("linux.maskedPaths");
        }
        if !self.readonly_paths.is_empty() {
            return needs("linux.readonlyPaths");
        }
        if sets_propagation {
            return needs("linux.rootfsPropagation");
        }
        if self.no_pivot {
            return needs("--no-pivot");
        }
        if self.user_namespace {
            return Err(Error::invalid(
                "linux.namespaces: a user namespace without a mount namespace: the rootfs would \
                 be set up in the host's mount namespace, where the container's root has no \
                 rights",
            ));
        }
        Ok(())
    }

    /// Whether the container has a mount namespace (new or joined). Without one its mounts
    /// are made in the runtime's (see `hostns`).
    pub fn own_mount_namespace(&self) -> bool {
        self.mount_namespace
    }

    /// The propagation / gets in the container's mount namespace before anything is mounted
    /// (`rslave` unless the config asks otherwise).
    pub fn propagation(&self) -> MountPropagationFlags {
        self.root_propagation
            .unwrap_or(MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC)
    }

    /// Devices are made only when /dev is not a bind mount from the config.
    pub fn makes_dev(&self) -> bool {
        !self
            .mounts
            .iter()
            .any(|p| matches!(p.kind, Kind::Bind { .. }) && p.dest == Path::new("/dev"))
    }

    /// A new filesystem on /dev asked to be read-only: remounted so after the devices are in.
    pub fn dev_readonly(&self) -> bool {
        self.mounts.iter().any(|p| {
            p.dest == Path::new("/dev")
                && matches!(p.kind, Kind::Fs(_))
                && p.opts.readonly == Some(true)
        })
    }
}

impl ContainerUserns {
    fn of(spec: &Spec) -> ContainerUserns {
        let linux = spec.linux().as_ref();
        match query::namespace(spec, LinuxNamespaceType::User) {
            None => ContainerUserns::None,
            Some(Some(path)) => ContainerUserns::Joined(path),
            Some(None) => ContainerUserns::New {
                uids: linux
                    .and_then(|l| l.uid_mappings().clone())
                    .unwrap_or_default(),
                gids: linux
                    .and_then(|l| l.gid_mappings().clone())
                    .unwrap_or_default(),
            },
        }
    }
}

/// `root.path`, resolved against the bundle and checked to be a directory.
fn root_path(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::invalid("root: missing (root.path is required on Linux)"))?;
    let path = root.path();
    if path.as_os_str().is_empty() {
        return Err(Error::invalid("root.path: must not be empty"));
    }
    let full = bundle.join(path);
    if !full.is_absolute() {
        return Err(Error::invalid(format!(
            "root.path {}: must resolve to an absolute path",
            full.display()
        )));
    }
    let meta = std::fs::metadata(&full)
        .map_err(|e| Error::invalid(format!("root.path {}: {e}", full.display())))?;
    if !meta.is_dir() {
        return Err(Error::invalid(format!(
            "root.path {}: not a directory",
            full.display()
        )));
    }
    Ok(full)
}

/// The runtime's bind as a `mounts` entry, parsed by the same code as the config's.
fn runtime_bind(bind: &notify::Bind) -> Result<Mount> {
    MountBuilder::default()
        .destination(bind.destination)
        .typ("bind")
        .source(&bind.source)
        .options(
            bind.options
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>(),
        )
        .build()
        .map_err(|e| Error::Other(format!("{}: {e}", bind.destination)))
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

/// `rootfsPropagation` as mount(2) propagation flags.
fn propagation(value: &str) -> Option<MountPropagationFlags> {
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
