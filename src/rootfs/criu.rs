//! What CRIU must be told about a container's mounts, and the rootfs it restores into.
//!
//! CRIU dumps and restores the container's mount namespace itself, but a mount whose source
//! lies outside the container (a bind from the host) cannot be found in it: such mounts are
//! named "external" at dump (mount point → a key, here the mount point itself) and mapped back
//! to a host path at restore (key → source). These are the config's bind mounts, the cgroup v1
//! hierarchies bound from the host (no cgroup namespace), the device nodes bound from the
//! host (in a user namespace), and the files covered by /dev/null for maskedPaths, as runc
//! names them.

use std::path::{Path, PathBuf};

use super::inroot;
use super::mounts::{self, Kind};
use super::{cgroup, mountinfo, Plan};
use crate::{Context, Error, Result};

/// An external mount: where it is in the container, and the key (dump) or host path
/// (restore) CRIU maps it to.
pub type External = (String, String);

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The v1 hierarchies hull bound into the container (a v1 host, no cgroup namespace): their
/// mount points in the container and the host directory of `pid`'s cgroup in each.
fn v1_cgroup_binds(dest: &Path, pid: i32) -> Result<Vec<(PathBuf, PathBuf)>> {
    let file = format!("/proc/{pid}/cgroup");
    let own = cgroup::parse_own_cgroups(&std::fs::read_to_string(&file).ctx(&file)?);
    Ok(cgroup::hierarchies(&mountinfo::read_self()?, &own, true)?
        .into_iter()
        .map(|h| (dest.join(&h.name), h.source))
        .collect())
}

/// For a dump of the container whose init is `pid`: every external mount, keyed by its
/// mount point.
pub fn dump_externals(rootfs: &Plan, pid: i32) -> Result<Vec<External>> {
    let mut out = Vec::new();
    for plan in &rootfs.mounts {
        match plan.kind {
            Kind::Bind { .. } => out.push((path_str(&plan.dest), path_str(&plan.dest))),
            Kind::Cgroup if !cgroup::host_is_unified() && !rootfs.cgroup_namespace => {
                for (inside, _) in v1_cgroup_binds(&plan.dest, pid)? {
                    out.push((path_str(&inside), path_str(&inside)));
                }
            }
            _ => {}
        }
    }
    // A masked file has /dev/null over it; a masked directory a tmpfs, which CRIU dumps.
    // Resolved inside the container's root, so a symlink there cannot point us at the host.
    let proc_root = format!("/proc/{pid}/root");
    let fd = rustix::fs::open(
        &proc_root,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .with_ctx(|| format!("open {proc_root}"))?;
    let root = pathrs::Root::from_fd(fd);
    for path in &rootfs.masked_paths {
        let Some(handle) = inroot::resolve(&root, Path::new(&path))? else {
            continue;
        };
        let st = rustix::fs::fstat(&handle).with_ctx(|| format!("stat {path} in the container"))?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
            out.push((path.clone(), "/dev/null".into()));
        }
    }
    for d in &rootfs.devices {
        out.push((path_str(&d.path), path_str(&d.path)));
    }
    Ok(out)
}

/// For a restore: every external mount CRIU may find in the image, mapped to its host path;
/// `pid` is a process already in the container's new cgroup (criu itself).
pub fn restore_externals(rootfs: &Plan, pid: i32) -> Result<Vec<External>> {
    let mut out = Vec::new();
    for plan in &rootfs.mounts {
        match plan.kind {
            Kind::Bind { .. } => {
                let source = plan.source.as_deref().expect("a bind has a source");
                out.push((path_str(&plan.dest), path_str(source)));
            }
            Kind::Cgroup if !cgroup::host_is_unified() && !rootfs.cgroup_namespace => {
                for (inside, host) in v1_cgroup_binds(&plan.dest, pid)? {
                    out.push((path_str(&inside), path_str(&host)));
                }
            }
            _ => {}
        }
    }
    if !rootfs.masked_paths.is_empty() {
        out.push(("/dev/null".into(), "/dev/null".into()));
    }
    for d in &rootfs.devices {
        out.push((path_str(&d.path), path_str(&d.path)));
    }
    Ok(out)
}

/// CRIU wants the root it restores into to be a mount point whose parent is not
/// overmounted: the rootfs is bound (recursively) at `at`, a directory of the state dir.
pub fn bind_root(rootfs: &Path, at: &Path) -> Result<()> {
    let tree = super::fdmount::clone_tree(rootfs, true)?;
    let target = rustix::fs::open(
        at,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .with_ctx(|| format!("open {}", at.display()))?;
    super::fdmount::attach(&tree, &target).map_err(|e| {
        Error::Other(format!(
            "bind {} at {}: {e}",
            rootfs.display(),
            at.display()
        ))
    })
}

impl Plan {
    /// Before a restore: the mount points the config's mounts need, made in the rootfs as
    /// `create` makes them (a copy of the rootfs may lack them), except inside a tmpfs
    /// destination, whose content CRIU restores itself.
    pub fn restore_mountpoints(&self) -> Result<()> {
        let tmpfs: Vec<PathBuf> = self
            .mounts
            .iter()
            .filter(|p| p.kind == Kind::Fs("tmpfs".into()))
            .map(|p| p.dest.clone())
            .collect();
        let root = inroot::RootDir::open(&self.root)?;
        for plan in &self.mounts {
            if tmpfs
                .iter()
                .any(|t| plan.dest != *t && plan.dest.starts_with(t))
            {
                continue;
            }
            let file = match (&plan.kind, &plan.source) {
                (Kind::Bind { .. }, Some(src)) => !std::fs::metadata(src)
                    .with_ctx(|| format!("{}: bind source {}", plan.field, src.display()))?
                    .is_dir(),
                _ => false,
            };
            let made = if file {
                inroot::ensure_file(&root, &plan.dest)
            } else {
                inroot::ensure_dir(&root, &plan.dest)
            };
            made.map_err(|e| mounts::in_mount(&plan.field, e))?;
        }
        Ok(())
    }
}
