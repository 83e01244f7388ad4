//! The config's `mounts`, one at a time: what each entry asks for (checked before anything
//! exists), and doing it inside the rootfs by fd.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{fchmod, fstat, fstatfs, Mode, PROC_SUPER_MAGIC};
use rustix::mount::{fspick, FsPickFlags};

use super::cgroup;
use super::copyup;
use super::fdmount::{self, FsContext};
use super::idmap::Trees;
use super::inroot::{self, RootDir};
use super::ops::Ops;
// The plans are made in `plan`; the rest of rootfs asks for them here, where they are done.
pub use super::mount_plan::{in_mount, Kind, MountPlan};
use super::options::{AttrChange, MountOptions};
use super::target::{self, Source};
use crate::{Context, Error, Result};

/// Does the mount `plan` describes inside `root`; an id-mapped bind attaches its tree from
/// `idmapped`. `cgroupns`: the container has a cgroup namespace.
pub fn mount(
    ops: &dyn Ops,
    root: &RootDir,
    plan: &MountPlan,
    cgroupns: bool,
    idmapped: &Trees,
) -> Result<()> {
    let result = if plan.opts.remount {
        remount(root, plan)
    } else {
        match &plan.kind {
            Kind::Bind { recursive } => bind(ops, root, plan, *recursive, idmapped),
            Kind::Fs(fstype) => new_fs(ops, root, plan, fstype),
            Kind::Cgroup => cgroup::mount(ops, root, plan, cgroupns).and_then(|done| match done {
                cgroup::Mounted::Done => Ok(()),
                cgroup::Mounted::BindInstead(source) => bind_instead(ops, root, plan, &source),
            }),
        }
    };
    result.map_err(|e| in_mount(&plan.field, e))
}

fn bind(
    ops: &dyn Ops,
    root: &RootDir,
    plan: &MountPlan,
    recursive: bool,
    idmapped: &Trees,
) -> Result<()> {
    let source = plan.source.as_deref().expect("a bind has a source");
    let cloned;
    let tree = match (&plan.idmap, idmapped.get(plan.index)) {
        (None, _) => {
            cloned = clone_source(ops, root, source, recursive)?;
            &cloned
        }
        (Some(_), Some(tree)) => tree,
        (Some(_), None) => return Err(Error::Other("its id-mapped tree was not made".into())),
    };
    // What is bound is the tree just cloned: its type is checked on that fd, not on the path.
    let st = fstat(tree).with_ctx(|| format!("bind source {}", source.display()))?;
    let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory;
    let procfs = fstatfs(tree).ctx("fstatfs bind source")?.f_type == PROC_SUPER_MAGIC;
    let kind = if procfs {
        Source::Procfs
    } else {
        Source::Other
    };
    let target = target::resolve(root, &plan.dest, is_dir, kind)?;
    let tree = tree.as_fd();
    set_bind_flags(ops, tree, &plan.opts)?;
    ops.set_attrs(tree, &AttrChange::default(), &plan.opts.rec_attrs)?;
    ops.attach(tree, target.as_fd())?;
    ops.set_propagation(tree, &plan.opts.propagation)
}

/// A detached copy of a bind's source.
fn clone_source(ops: &dyn Ops, root: &RootDir, source: &Path, recursive: bool) -> Result<OwnedFd> {
    Ok(match root.contains(source) {
        // Inside the rootfs: resolved in the root now, through the mounts made so far; a
        // symlink of the image's cannot make it a host path.
        Some(inside) => {
            let found = inroot::resolve(root, &inside)?.ok_or_else(|| {
                Error::invalid(format!(
                    "bind source {}: not found in the rootfs (as {})",
                    source.display(),
                    inside.display()
                ))
            })?;
            ops.clone_fd(found.as_fd(), recursive)?
        }
        None => ops.clone_tree(source, recursive)?,
    })
}

/// A bind's own flags, as runc 1.2+ sets them: exactly those named (see
/// `MountOptions::bind_attr`). In a user namespace the kernel refuses to clear the flags
/// locked on the source (nosuid, nodev, noexec, ro, the access time of a host mount); runc
/// then keeps them rather than fail, unless the config itself asked to clear one, and so does
/// hull. (runc 1.1 kept only a locked `ro` and failed on the rest.)
fn set_bind_flags(ops: &dyn Ops, tree: BorrowedFd, opts: &MountOptions) -> Result<()> {
    let Some(attr) = opts.bind_attr() else {
        return Ok(());
    };
    let err = match ops.set_mount_attr(tree, &attr, false) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    if err.errno() != Some(libc::EPERM) {
        return Err(err);
    }
    let source = rustix::fs::fstatvfs(tree)
        .ctx("statfs bind source")?
        .f_flag
        .bits();
    match opts.keep_locked(attr, source) {
        Some(retry) => ops.set_mount_attr(tree, &retry, false).map_err(|_| err),
        None => Err(err),
    }
}

/// Binds `source` where `plan` says with `plan`'s options: the fallback for filesystems the
/// kernel will not mount here (sysfs without a network namespace of our own, cgroup2 in a
/// user namespace).
pub fn bind_instead(ops: &dyn Ops, root: &RootDir, plan: &MountPlan, source: &Path) -> Result<()> {
    let mut fallback = plan.clone();
    fallback.kind = Kind::Bind { recursive: true };
    fallback.source = Some(source.to_path_buf());
    bind(ops, root, &fallback, true, &Trees::default())
}

fn new_fs(ops: &dyn Ops, root: &RootDir, plan: &MountPlan, fstype: &str) -> Result<()> {
    let tmpfs = fstype == "tmpfs";
    if fstype == "proc" || fstype == "sysfs" {
        ordinary_dir(root, plan, fstype)?;
    }
    let before = inroot::resolve(root, &plan.dest)?;
    let old_mode = match &before {
        Some(h) if tmpfs => Some(fstat(h).ctx("stat destination")?.st_mode & 0o7777),
        _ => None,
    };
    let kind = if fstype == "proc" {
        Source::Procfs
    } else {
        Source::Other
    };
    let target = target::resolve(root, &plan.dest, true, kind)?;
    // A read-only tmpfs is filled and chmod-ed first, /dev gets its devices first (and
    // `finalize` makes it read-only), so neither is mounted read-only yet.
    let mut opts = plan.opts.clone();
    let late_ro = (tmpfs || plan.dest == Path::new("/dev")) && opts.readonly == Some(true);
    if late_ro {
        opts.readonly = None;
    }
    let source = plan
        .source
        .as_deref()
        .and_then(Path::to_str)
        .unwrap_or(fstype);
    let mnt = match ops.new_fs(fstype, Some(source), &opts) {
        Err(e)
            if fstype == "sysfs" && matches!(e.errno(), Some(libc::EPERM) | Some(libc::EBUSY)) =>
        {
            return bind_instead(ops, root, plan, Path::new("/sys"));
        }
        other => other?,
    };
    if tmpfs {
        fill_tmpfs(&mnt, &target, &opts, old_mode)?;
        if late_ro && plan.dest != Path::new("/dev") {
            ops.make_readonly(mnt.as_fd())?;
        }
    }
    ops.attach(mnt.as_fd(), target.as_fd())?;
    ops.set_propagation(mnt.as_fd(), &opts.propagation)
}

/// procfs and sysfs go on a plain directory or nowhere: a symlink there (even one that
/// stays inside the rootfs) would put the container's /proc somewhere else, where the
/// masked and read-only paths do not reach.
fn ordinary_dir(root: &RootDir, plan: &MountPlan, fstype: &str) -> Result<()> {
    let Some(existing) = inroot::resolve_nofollow(root, &plan.dest)? else {
        return Ok(());
    };
    let st = fstat(&existing).ctx("stat destination")?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
        return Err(plan.err(format!("{fstype} must be mounted on an ordinary directory")));
    }
    Ok(())
}

/// tmpcopyup, and the mode of the directory the tmpfs covers (runc keeps it, unless the
/// config says `mode=`).
fn fill_tmpfs(
    mnt: &OwnedFd,
    target: &impl AsFd,
    opts: &MountOptions,
    old_mode: Option<u32>,
) -> Result<()> {
    if !opts.tmpcopyup && old_mode.is_none() {
        return Ok(());
    }
    let dir = fdmount::open_dir(mnt)?;
    if opts.tmpcopyup {
        let below = fdmount::open_dir(target)?;
        copyup::copy_dir(below.as_fd(), dir.as_fd())?;
    }
    if let Some(mode) = old_mode {
        if !opts.data.iter().any(|d| d.starts_with("mode=")) {
            fchmod(&dir, Mode::from_raw_mode(mode)).ctx("chmod tmpfs root")?;
        }
    }
    Ok(())
}

/// `remount`: change what is already mounted at the destination.
fn remount(root: &RootDir, plan: &MountPlan) -> Result<()> {
    let target = target::existing(root, &plan.dest)?;
    let opts = &plan.opts;
    if let Kind::Fs(fstype) = &plan.kind {
        if !opts.data.is_empty() || !opts.superblock.is_empty() || opts.readonly.is_some() {
            let fs = fspick(
                &target,
                "",
                FsPickFlags::FSPICK_EMPTY_PATH | FsPickFlags::FSPICK_CLOEXEC,
            )
            .ctx("fspick")?;
            let ctx = FsContext::from_fd(fs, fstype);
            for option in &opts.data {
                ctx.set_data(option)?;
            }
            for flag in &opts.superblock {
                ctx.set_flag(flag)?;
            }
            match opts.readonly {
                Some(true) => ctx.set_flag("ro")?,
                Some(false) => ctx.set_flag("rw")?,
                None => {}
            }
            ctx.reconfigure()?;
        }
    }
    fdmount::set_attrs(&target, &opts.mount_attrs(), &opts.rec_attrs)?;
    fdmount::set_propagation(&target, &opts.propagation)
}
