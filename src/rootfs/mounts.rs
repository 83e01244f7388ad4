//! The config's `mounts`, one at a time: what each entry asks for (checked before anything
//! exists), and doing it inside the rootfs by fd.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use rustix::fs::{fchmod, fstat, fstatfs, Mode, PROC_SUPER_MAGIC};
use rustix::mount::{fsconfig_reconfigure, fspick, FsPickFlags};

use super::cgroup;
use super::copyup;
use super::fdmount::{self, FsContext};
use super::idmap::{self, ContainerUserns, IdMap, Mapping, Trees};
use super::inroot::{self, clean, RootDir};
use super::ops::Ops;
use super::options::{AttrChange, MountOptions};
use super::target::{self, Source, PROC_OVERMOUNTS};
use crate::{Context, Error, Result};

/// What kind of mount an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Bind {
        recursive: bool,
    },
    /// A new filesystem of this type.
    Fs(String),
    /// `cgroup`: the container's own hierarchies, the way the host has them (v1 or v2).
    Cgroup,
}

/// One `mounts` entry, checked and parsed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Its place in `mounts`.
    pub index: usize,
    /// How errors name the entry: `mounts[3] (/data)`.
    pub field: String,
    /// The destination, cleaned and absolute (relative ones are taken from /, as runc does).
    pub dest: PathBuf,
    pub kind: Kind,
    pub opts: MountOptions,
    /// For a bind, the host path (relative sources are relative to the bundle); otherwise
    /// the source string handed to the filesystem.
    pub source: Option<PathBuf>,
    /// An id-mapped bind: its mapping (the tree is made by the runtime, see `idmap`).
    pub idmap: Option<IdMap>,
}

impl Plan {
    /// `userns` is the container's user namespace, where an `idmap` without mappings takes
    /// its mapping from.
    pub fn new(
        index: usize,
        mount: &Mount,
        bundle: &Path,
        userns: &ContainerUserns,
    ) -> Result<Plan> {
        let field = format!("mounts[{index}] ({})", mount.destination().display());
        let bad = |why: String| Error::invalid(format!("{field}: {why}"));
        if mount.destination().as_os_str().is_empty() {
            return Err(bad("destination is empty".into()));
        }
        let dest = clean(mount.destination());
        if dest == Path::new("/") {
            return Err(bad("cannot mount over the container's root".into()));
        }
        let opts = MountOptions::parse(mount.options().as_deref().unwrap_or_default());
        let typ = mount.typ().as_deref().unwrap_or_default();
        let kind = if opts.bind.is_some() || typ == "bind" {
            Kind::Bind {
                recursive: opts.bind == Some(true),
            }
        } else if typ == "cgroup" {
            Kind::Cgroup
        } else if typ.is_empty() || typ == "none" {
            return Err(bad("no type, and not a bind mount".into()));
        } else {
            Kind::Fs(typ.to_string())
        };
        let data_type = match &kind {
            Kind::Bind { .. } => "bind",
            Kind::Cgroup => "cgroup",
            Kind::Fs(t) => t,
        };
        if let Some(unknown) = opts.unknown_data_flags(data_type).first() {
            return Err(bad(format!("unknown mount option {unknown:?}")));
        }
        // A bind has no filesystem to hand data to: the kernel would ignore it (runc 1.2+
        // refuses it too).
        if let (Kind::Bind { .. }, Some(data)) = (&kind, opts.data.first()) {
            return Err(bad(format!(
                "a bind mount takes no filesystem options ({data:?})"
            )));
        }
        if opts.tmpcopyup && kind != Kind::Fs("tmpfs".into()) {
            return Err(bad("tmpcopyup is only for tmpfs".into()));
        }
        let idmap = id_mapping(&field, mount, &opts, userns)?;
        if idmap.is_some() && !matches!(kind, Kind::Bind { .. }) {
            return Err(bad("id-mapped mounts are only for bind mounts".into()));
        }
        let source = match (&kind, mount.source()) {
            (Kind::Bind { .. }, None) => return Err(bad("a bind mount needs a source".into())),
            (Kind::Bind { .. }, Some(src)) => Some(bundle.join(src)),
            (_, src) => src.clone(),
        };
        let plan = Plan {
            index,
            field,
            dest,
            kind,
            opts,
            source,
            idmap,
        };
        plan.check_proc()?;
        Ok(plan)
    }

    fn err(&self, why: impl std::fmt::Display) -> Error {
        Error::invalid(format!("{}: {why}", self.field))
    }

    /// Nothing may be mounted inside /proc but the few files lxcfs emulates, and only a
    /// procfs on /proc itself (a bind is checked to come from a procfs when it is made).
    /// This is the config's own word, checked before anything exists; where the destination
    /// really lands is checked again when it is resolved (`target`).
    fn check_proc(&self) -> Result<()> {
        if self.dest == Path::new("/proc") {
            return match &self.kind {
                Kind::Fs(t) if t == "proc" => Ok(()),
                Kind::Bind { .. } => Ok(()),
                _ => Err(self.err("only a procfs can be mounted on /proc")),
            };
        }
        if self.dest.starts_with("/proc")
            && !PROC_OVERMOUNTS.iter().any(|p| self.dest == Path::new(p))
        {
            return Err(self.err("cannot mount inside /proc"));
        }
        Ok(())
    }

    /// Host-side checks the parent can make before anything exists: a bind's source. A
    /// source inside the rootfs is looked up when it is bound, after the mounts before it
    /// (a bind from a directory an earlier mount brought in, as runc resolves it then).
    pub fn check_source(&self, rootfs: &Path) -> Result<()> {
        if let (Kind::Bind { .. }, Some(src)) = (&self.kind, &self.source) {
            if clean(src).starts_with(clean(rootfs)) {
                return Ok(());
            }
            std::fs::metadata(src)
                .map_err(|e| self.err(format!("bind source {}: {e}", src.display())))?;
            if self.dest == Path::new("/proc") {
                check_procfs(src).map_err(|e| self.err(e))?;
            }
        }
        Ok(())
    }
}

/// A mount's id mapping, checked: its own uidMappings and gidMappings (both, as runc wants
/// them), or with `idmap`/`ridmap` alone the container's user namespace. Mappings without
/// either option map the top mount only, as in runc.
fn id_mapping(
    field: &str,
    mount: &Mount,
    opts: &MountOptions,
    userns: &ContainerUserns,
) -> Result<Option<IdMap>> {
    let recursive = opts.idmap == Some(true);
    let mapping = match (mount.uid_mappings(), mount.gid_mappings()) {
        (None, None) => match (opts.idmap, userns) {
            (None, _) => return Ok(None),
            (Some(_), ContainerUserns::New { uids, gids }) => Mapping::Maps {
                uids: uids.clone(),
                gids: gids.clone(),
            },
            (Some(_), ContainerUserns::Joined(path)) => Mapping::Namespace(path.clone()),
            (Some(_), ContainerUserns::None) => {
                return Err(Error::invalid(format!(
                    "{field}: idmap needs uidMappings and gidMappings, or a user namespace of \
                     the container's to take them from"
                )))
            }
        },
        (Some(uids), Some(gids)) => {
            idmap::check_maps(field, "uidMappings", uids)?;
            idmap::check_maps(field, "gidMappings", gids)?;
            Mapping::Maps {
                uids: uids.clone(),
                gids: gids.clone(),
            }
        }
        _ => {
            return Err(Error::invalid(format!(
                "{field}: uidMappings and gidMappings go together"
            )))
        }
    };
    Ok(Some(IdMap { mapping, recursive }))
}

fn check_procfs(src: &Path) -> std::result::Result<(), String> {
    let st = rustix::fs::statfs(src).map_err(|e| format!("statfs {}: {e}", src.display()))?;
    if st.f_type != PROC_SUPER_MAGIC {
        return Err(format!("{} is not a procfs", src.display()));
    }
    Ok(())
}

/// Every `mounts` entry, parsed and checked.
pub fn plans(spec: &Spec, bundle: &Path) -> Result<Vec<Plan>> {
    let userns = ContainerUserns::of(spec);
    spec.mounts()
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, m)| Plan::new(i, m, bundle, &userns))
        .collect()
}

/// Prefixes an error with the mount it happened on, keeping its errno.
pub fn in_mount(field: &str, e: Error) -> Error {
    match e {
        Error::Os { what, err } => Error::Os {
            what: format!("{field}: {what}"),
            err,
        },
        Error::Invalid(m) => Error::Invalid(format!("{field}: {m}")),
        other => Error::Other(format!("{field}: {other}")),
    }
}

/// Does the mount `plan` describes inside `root`; an id-mapped bind attaches its tree from
/// `idmapped`.
pub fn mount(
    ops: &dyn Ops,
    root: &RootDir,
    spec: &Spec,
    plan: &Plan,
    idmapped: &Trees,
) -> Result<()> {
    let result = if plan.opts.remount {
        remount(root, plan)
    } else {
        match &plan.kind {
            Kind::Bind { recursive } => bind(ops, root, plan, *recursive, idmapped),
            Kind::Fs(fstype) => new_fs(ops, root, plan, fstype),
            Kind::Cgroup => cgroup::mount(ops, root, plan, has_cgroupns(spec)),
        }
    };
    result.map_err(|e| in_mount(&plan.field, e))
}

fn has_cgroupns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup))
}

fn bind(
    ops: &dyn Ops,
    root: &RootDir,
    plan: &Plan,
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
pub fn bind_instead(ops: &dyn Ops, root: &RootDir, plan: &Plan, source: &Path) -> Result<()> {
    let mut fallback = plan.clone();
    fallback.kind = Kind::Bind { recursive: true };
    fallback.source = Some(source.to_path_buf());
    bind(ops, root, &fallback, true, &Trees::default())
}

fn new_fs(ops: &dyn Ops, root: &RootDir, plan: &Plan, fstype: &str) -> Result<()> {
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
fn ordinary_dir(root: &RootDir, plan: &Plan, fstype: &str) -> Result<()> {
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

/// Makes a mount and its superblock read-only, like `mount -o remount,ro`.
pub fn make_readonly(mnt: impl AsFd) -> Result<()> {
    let mnt = mnt.as_fd();
    let fs = fspick(
        mnt,
        "",
        FsPickFlags::FSPICK_EMPTY_PATH | FsPickFlags::FSPICK_CLOEXEC,
    )
    .ctx("fspick")?;
    rustix::mount::fsconfig_set_flag(&fs, "ro").ctx("fsconfig ro")?;
    fsconfig_reconfigure(&fs).ctx("remount read-only")?;
    fdmount::set_attrs(mnt, &AttrChange::readonly(), &AttrChange::default())
}

/// `remount`: change what is already mounted at the destination.
fn remount(root: &RootDir, plan: &Plan) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::MountBuilder;

    fn m(dest: &str, typ: &str, src: &str, opts: &[&str]) -> Mount {
        let mut b = MountBuilder::default()
            .destination(dest)
            .source(src)
            .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        if !typ.is_empty() {
            b = b.typ(typ);
        }
        b.build().unwrap()
    }

    fn plan(mount: Mount) -> Result<Plan> {
        Plan::new(3, &mount, Path::new("/bundle"), &ContainerUserns::None)
    }

    #[test]
    fn kinds() {
        let p = plan(m("/data", "none", "vol", &["rbind", "ro"])).unwrap();
        assert_eq!(p.kind, Kind::Bind { recursive: true });
        assert_eq!(p.source.unwrap(), Path::new("/bundle/vol"));
        let p = plan(m("/abs", "bind", "/srv", &[])).unwrap();
        assert_eq!(p.kind, Kind::Bind { recursive: false });
        assert_eq!(p.source.unwrap(), Path::new("/srv"));
        let p = plan(m("/sys/fs/cgroup", "cgroup", "cgroup", &["ro"])).unwrap();
        assert_eq!(p.kind, Kind::Cgroup);
        let p = plan(m("relative/../x", "tmpfs", "tmpfs", &["size=1m"])).unwrap();
        assert_eq!(p.kind, Kind::Fs("tmpfs".into()));
        assert_eq!(p.dest, Path::new("/x"));
    }

    #[test]
    fn errors_name_the_entry() {
        let err = plan(m("/data", "tmpfs", "tmpfs", &["foo"]))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "mounts[3] (/data): unknown mount option \"foo\"");
        let err = plan(m("/data", "", "x", &["nosuid"]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("mounts[3] (/data): "), "{err}");
        let err = plan(m("/data", "bind", "/x", &["rbind", "nonsense"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"nonsense\""), "{err}");
        let err = plan(m("/data", "bind", "/x", &["rbind", "size=1m"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("takes no filesystem options (\"size=1m\")"),
            "{err}"
        );
        let err = plan(m("/proc/sys", "tmpfs", "tmpfs", &[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("inside /proc"), "{err}");
        let err = plan(m("/proc", "tmpfs", "tmpfs", &[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("only a procfs"), "{err}");
        assert!(plan(m("/proc/meminfo", "bind", "/x", &["bind"])).is_ok());
        let err = plan(m("/", "tmpfs", "tmpfs", &[])).unwrap_err().to_string();
        assert!(err.contains("root"), "{err}");
        let err = plan(m("/x", "proc", "proc", &["tmpcopyup"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tmpcopyup"), "{err}");
        // Data with a value is the filesystem's to judge, flags of unknown types too.
        assert!(plan(m("/x", "tmpfs", "tmpfs", &["size=1m", "nr_inodes=5"])).is_ok());
        assert!(plan(m(
            "/x",
            "ext4",
            "/dev/sda",
            &["errors=remount-ro", "discard"]
        ))
        .is_ok());
    }

    #[test]
    fn id_mappings_are_checked_and_named() {
        use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder};
        let map = |c: u32, h: u32, n: u32| -> LinuxIdMapping {
            LinuxIdMappingBuilder::default()
                .container_id(c)
                .host_id(h)
                .size(n)
                .build()
                .unwrap()
        };
        let with = |opts: &[&str], uids: Option<Vec<LinuxIdMapping>>, gids| {
            let mut mount = m("/data", "bind", "/v", opts);
            mount.set_uid_mappings(uids);
            mount.set_gid_mappings(gids);
            mount
        };
        let own = vec![map(0, 100000, 65536)];
        let new = ContainerUserns::New {
            uids: own.clone(),
            gids: own.clone(),
        };
        let plan_in = |mount: Mount, userns: &ContainerUserns| {
            Plan::new(3, &mount, Path::new("/bundle"), userns).map_err(|e| e.to_string())
        };
        // Mappings alone: the top mount only, as in runc.
        let p = plan_in(with(&["rbind"], Some(own.clone()), Some(own.clone())), &new).unwrap();
        let idmap = p.idmap.unwrap();
        assert!(!idmap.recursive);
        assert_eq!(
            idmap.mapping,
            Mapping::Maps {
                uids: own.clone(),
                gids: own.clone()
            }
        );
        // `ridmap` without mappings: the container's.
        let p = plan_in(with(&["rbind", "ridmap"], None, None), &new).unwrap();
        assert!(p.idmap.as_ref().unwrap().recursive);
        assert_eq!(
            p.idmap.unwrap().mapping,
            Mapping::Maps {
                uids: own.clone(),
                gids: own.clone()
            }
        );
        let joined = ContainerUserns::Joined("/proc/77/ns/user".into());
        let p = plan_in(with(&["bind", "idmap"], None, None), &joined).unwrap();
        assert_eq!(
            p.idmap.unwrap().mapping,
            Mapping::Namespace("/proc/77/ns/user".into())
        );
        // No plain bind is id-mapped.
        assert!(plan_in(with(&["rbind"], None, None), &new)
            .unwrap()
            .idmap
            .is_none());
        let errors = [
            (
                plan_in(with(&["bind", "idmap"], None, None), &ContainerUserns::None),
                "mounts[3] (/data): idmap needs uidMappings and gidMappings, or a user namespace",
            ),
            (
                plan_in(with(&["bind"], Some(own.clone()), None), &new),
                "mounts[3] (/data): uidMappings and gidMappings go together",
            ),
            (
                plan_in(
                    with(&["bind"], Some(vec![map(0, 1, 0)]), Some(own.clone())),
                    &new,
                ),
                "mounts[3] (/data): uidMappings[0]: size must not be 0",
            ),
            (
                plan_in(with(&["bind"], Some(own.clone()), Some(vec![])), &new),
                "mounts[3] (/data): gidMappings: empty",
            ),
        ];
        for (result, want) in errors {
            let err = result.unwrap_err();
            assert!(err.starts_with(want), "{err}");
        }
        let mut tmpfs = m("/data", "tmpfs", "tmpfs", &["idmap"]);
        tmpfs.set_uid_mappings(None);
        let err = plan_in(tmpfs, &new).unwrap_err();
        assert_eq!(
            err,
            "mounts[3] (/data): id-mapped mounts are only for bind mounts"
        );
    }

    #[test]
    fn bind_source_is_checked_on_the_host() {
        let rootfs = Path::new("/bundle/rootfs");
        let p = plan(m("/data", "bind", "/nonexistent-hull-source", &["bind"])).unwrap();
        let err = p.check_source(rootfs).unwrap_err().to_string();
        assert!(err.contains("mounts[3] (/data): bind source"), "{err}");
        let p = plan(m("/proc", "bind", "/tmp", &["rbind"])).unwrap();
        let err = p.check_source(rootfs).unwrap_err().to_string();
        assert!(err.contains("not a procfs"), "{err}");
        let p = plan(m("/proc", "bind", "/proc", &["rbind"])).unwrap();
        p.check_source(rootfs).unwrap();
        // Inside the rootfs: looked up when it is bound, after the mounts before it.
        let p = plan(m("/y", "bind", "rootfs/data/x", &["bind"])).unwrap();
        p.check_source(rootfs).unwrap();
    }
}
