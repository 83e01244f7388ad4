//! The `cgroup` mount type: show the container its own cgroups.
//!
//! On a cgroup v2 host that is a cgroup2 mount (rooted at the container's cgroup when it has
//! a cgroup namespace). On a v1 or hybrid host, as runc does, a tmpfs holds one directory
//! per v1 hierarchy: a bind of the container's own cgroup in it, or a fresh mount of the
//! hierarchy when the container has a cgroup namespace; read-only unless `rw`.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{mkdirat, openat, symlinkat, Mode, OFlags};
use rustix::io::Errno;

use super::fdmount;
use super::inroot::RootDir;
use super::mount_plan::MountPlan;
use super::mountinfo::{self, MountInfo};
use super::ops::Ops;
use super::options::{AttrChange, MountOptions};
use super::target::{self, Source};
use crate::{Context, Error, Result};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC: rustix::fs::FsWord = 0x6367_7270;

/// Is the host's /sys/fs/cgroup a cgroup2 (unified) mount?
pub fn host_is_unified() -> bool {
    rustix::fs::statfs(CGROUP_ROOT).is_ok_and(|st| st.f_type == CGROUP2_SUPER_MAGIC)
}

/// Tests on a hybrid host set this (in a forked child) to take the cgroup v2 path.
#[cfg(test)]
pub static ASSUME_UNIFIED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

fn unified() -> bool {
    #[cfg(test)]
    if ASSUME_UNIFIED.load(std::sync::atomic::Ordering::Relaxed) {
        return true;
    }
    host_is_unified()
}

/// What [`mount`] did.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum Mounted {
    Done,
    /// The kernel refused a cgroup2 mount here (a user namespace without a cgroup namespace
    /// of its own): the caller binds this host directory, with the entry's options, instead.
    BindInstead(PathBuf),
}

pub fn mount(ops: &dyn Ops, root: &RootDir, plan: &MountPlan, cgroupns: bool) -> Result<Mounted> {
    if unified() {
        mount_v2(ops, root, plan, cgroupns)
    } else {
        mount_v1(ops, root, plan, cgroupns).map(|()| Mounted::Done)
    }
}

fn mount_v2(ops: &dyn Ops, root: &RootDir, plan: &MountPlan, cgroupns: bool) -> Result<Mounted> {
    let target = target::resolve(root, &plan.dest, true, Source::Other)?;
    let mnt = match ops.new_fs("cgroup2", Some("cgroup"), &plan.opts) {
        Ok(mnt) => mnt,
        // Not allowed here (a user namespace without a cgroup namespace of its own): bind
        // the container's cgroup, or the whole tree, instead.
        Err(e) if matches!(e.errno(), Some(libc::EPERM) | Some(libc::EBUSY)) => {
            let own = own_cgroups()?
                .into_iter()
                .find(|c| c.controllers.is_empty())
                .map(|c| Path::new(CGROUP_ROOT).join(c.path.strip_prefix("/").unwrap_or(&c.path)));
            let source = match own {
                Some(path) if cgroupns => path,
                _ => PathBuf::from(CGROUP_ROOT),
            };
            return Ok(Mounted::BindInstead(source));
        }
        Err(e) => return Err(e),
    };
    ops.attach(mnt.as_fd(), target.as_fd())?;
    ops.set_propagation(mnt.as_fd(), &plan.opts.propagation)?;
    Ok(Mounted::Done)
}

// /proc/PID/cgroup: the workspace's one parser (hull-cgroups').
pub use hull_cgroups::proc_cgroup::{parse as parse_own_cgroups, OwnCgroup};

fn own_cgroups() -> Result<Vec<OwnCgroup>> {
    hull_cgroups::proc_cgroup::read_self().ctx("read /proc/self/cgroup")
}

/// One v1 hierarchy to show in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// The directory name under the cgroup mount: the host mount point's name (`cpu,cpuacct`).
    pub name: String,
    /// The hierarchy's mount options naming it (`cpu`, `cpuacct`, `name=systemd`).
    pub controllers: Vec<String>,
    /// The container's own cgroup on the host.
    pub source: PathBuf,
}

/// The v1 hierarchies mounted on the host, each with the container's cgroup in it.
/// `need_source`: false in a cgroup namespace, where hierarchies are mounted afresh and the
/// host paths (which mountinfo shows relative to the namespace) are not used.
pub fn hierarchies(
    mounts: &[MountInfo],
    own: &[OwnCgroup],
    need_source: bool,
) -> Result<Vec<Hierarchy>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for m in mounts.iter().filter(|m| m.fstype == "cgroup") {
        let Some(cg) = own.iter().find(|c| {
            !c.controllers.is_empty()
                && c.controllers
                    .iter()
                    .all(|ctl| m.super_options.contains(ctl))
        }) else {
            continue;
        };
        // The same hierarchy may be mounted more than once; the first mount wins.
        if !seen.insert(cg.controllers.clone()) {
            continue;
        }
        let rel = match cg.path.strip_prefix(&m.root) {
            Ok(rel) => rel,
            Err(_) if !need_source => Path::new(""),
            Err(_) => {
                return Err(Error::Other(format!(
                    "cgroup {} is outside the hierarchy mounted at {} (root {})",
                    cg.path.display(),
                    m.mount_point.display(),
                    m.root.display()
                )))
            }
        };
        let name = m
            .mount_point
            .file_name()
            .and_then(OsStr::to_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            continue;
        }
        out.push(Hierarchy {
            name,
            controllers: cg.controllers.clone(),
            source: m.mount_point.join(rel),
        });
    }
    Ok(out)
}

fn mount_v1(ops: &dyn Ops, root: &RootDir, plan: &MountPlan, cgroupns: bool) -> Result<()> {
    let hierarchies = hierarchies(&mountinfo::read_self()?, &own_cgroups()?, !cgroupns)?;
    let target = target::resolve(root, &plan.dest, true, Source::Other)?;

    // The tmpfs holding the hierarchies; made read-only once they are all in.
    let tmpfs_opts = MountOptions::parse(&["nosuid", "nodev", "noexec", "mode=755"]);
    let tmpfs = ops.new_fs("tmpfs", Some("tmpfs"), &tmpfs_opts)?;
    ops.attach(tmpfs.as_fd(), target.as_fd())?;
    ops.set_propagation(tmpfs.as_fd(), &plan.opts.propagation)?;
    let dir = fdmount::open_dir(&tmpfs)?;

    let readonly = plan.opts.readonly == Some(true);
    for h in &hierarchies {
        let what = || format!("cgroup hierarchy {}", h.name);
        mkdirat(&dir, h.name.as_str(), Mode::from_raw_mode(0o755)).with_ctx(what)?;
        let sub = openat(
            &dir,
            h.name.as_str(),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_ctx(what)?;
        let mnt = if cgroupns {
            fresh_hierarchy(ops, h, readonly)?
        } else {
            let tree = ops.clone_tree(&h.source, true)?;
            ops.set_attrs(tree.as_fd(), &plan.opts.mount_attrs(), &plan.opts.rec_attrs)?;
            tree
        };
        ops.attach(mnt.as_fd(), sub.as_fd())
            .map_err(|e| Error::Other(format!("{}: {e}", what())))?;
    }
    // A co-mounted hierarchy (cpu,cpuacct) is also reachable by each controller's name.
    for h in hierarchies.iter().filter(|h| h.name.contains(',')) {
        for part in h.name.split(',') {
            match symlinkat(h.name.as_str(), &dir, part) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e).with_ctx(|| format!("symlink {part} -> {}", h.name)),
            }
        }
    }
    if readonly {
        ops.set_attrs(
            tmpfs.as_fd(),
            &AttrChange::readonly(),
            &AttrChange::default(),
        )?;
    }
    Ok(())
}

/// A new mount of a v1 hierarchy; in a cgroup namespace it is rooted at the container's
/// cgroup.
fn fresh_hierarchy(ops: &dyn Ops, h: &Hierarchy, readonly: bool) -> Result<OwnedFd> {
    let mut settings = vec![("source", Some("cgroup"))];
    settings.extend(h.controllers.iter().map(|ctl| match ctl.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (ctl.as_str(), None),
    }));
    let mut opts = vec!["nosuid", "nodev", "noexec"];
    if readonly {
        opts.push("ro");
    }
    let attrs = MountOptions::parse(&opts).mount_attrs().fsmount_flags();
    ops.configured_fs("cgroup", &settings, attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_own_cgroup_in_each_hierarchy() {
        let mounts = hull_cgroups::mountinfo::parse(
            "\
31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /nested /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
42 27 0:29 / /elsewhere/cpu rw - cgroup cgroup rw,cpu,cpuacct
",
        );
        let own = parse_own_cgroups(
            "9:name=systemd:/user/1\n4:memory:/nested/ctr\n2:cpu,cpuacct:/ctr\n0::/ctr\n",
        );
        assert_eq!(own[3].controllers, Vec::<String>::new());
        let h = hierarchies(&mounts, &own, true).unwrap();
        assert_eq!(h.len(), 3, "{h:?}");
        assert_eq!(h[0].name, "cpu,cpuacct");
        assert_eq!(h[0].source, Path::new("/sys/fs/cgroup/cpu,cpuacct/ctr"));
        assert_eq!(h[1].source, Path::new("/sys/fs/cgroup/memory/ctr"));
        assert_eq!(h[2].controllers, vec!["name=systemd"]);
        assert_eq!(h[2].source, Path::new("/sys/fs/cgroup/systemd/user/1"));
        // In a cgroup namespace mountinfo roots are relative to it ("/../.."): fine when the
        // hierarchies are mounted afresh, an error when they would be bound.
        let in_ns = hull_cgroups::mountinfo::parse(
            "35 31 0:32 /../.. /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
        );
        let own = parse_own_cgroups("4:memory:/\n");
        assert_eq!(hierarchies(&in_ns, &own, false).unwrap().len(), 1);
        assert!(hierarchies(&in_ns, &own, true).is_err());
    }
}
