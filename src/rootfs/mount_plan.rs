//! What each `mounts` entry asks for, parsed and checked before anything exists: its kind,
//! destination, options, source and id mapping. A leaf of rootfs: the rootfs `Plan` holds
//! these, the modules that do the mounts (`mounts`, `cgroup`, `idmap`, `criu`) read them, and
//! nothing here calls them.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxIdMapping, Mount};
use rustix::fs::PROC_SUPER_MAGIC;

use super::inroot::clean;
use super::options::MountOptions;
use super::target::PROC_OVERMOUNTS;
use crate::{Error, Result};

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
pub struct MountPlan {
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
    /// Added by the runtime, not the config (the notify socket's directory): its source is
    /// made after validation, so it is not checked then.
    pub from_runtime: bool,
}

impl MountPlan {
    /// `userns` is the container's user namespace, where an `idmap` without mappings takes
    /// its mapping from.
    pub fn new(
        index: usize,
        mount: &Mount,
        bundle: &Path,
        userns: &ContainerUserns,
    ) -> Result<MountPlan> {
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
        let plan = MountPlan {
            index,
            field,
            dest,
            kind,
            opts,
            source,
            idmap,
            from_runtime: false,
        };
        plan.check_proc()?;
        Ok(plan)
    }

    pub(super) fn err(&self, why: impl std::fmt::Display) -> Error {
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
            check_maps(field, "uidMappings", uids)?;
            check_maps(field, "gidMappings", gids)?;
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

/// Where an id-mapped mount's mapping comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapping {
    /// The mount's own uidMappings/gidMappings, or the container's new user namespace's.
    Maps {
        uids: Vec<LinuxIdMapping>,
        gids: Vec<LinuxIdMapping>,
    },
    /// The user namespace the container joins.
    Namespace(PathBuf),
}

/// An id-mapped bind: its mapping, and whether every mount below the source is mapped too
/// (`ridmap`; `idmap` and bare mappings map the top mount only, as in runc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMap {
    pub mapping: Mapping,
    pub recursive: bool,
}

/// The container's user namespace, as an `idmap` without mappings takes it.
#[derive(Debug, Clone, Default)]
pub enum ContainerUserns {
    #[default]
    None,
    New {
        uids: Vec<LinuxIdMapping>,
        gids: Vec<LinuxIdMapping>,
    },
    Joined(PathBuf),
}

/// The most lines a uid_map or gid_map takes (the kernel's limit since Linux 4.15).
const MAX_MAP_LINES: usize = 340;

/// Checks a mount's mapping fields; `field` names the mount in errors.
pub fn check_maps(field: &str, name: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    let bad = |why: String| Err(Error::invalid(format!("{field}: {why}")));
    if maps.is_empty() {
        return bad(format!("{name}: empty"));
    }
    if maps.len() > MAX_MAP_LINES {
        return bad(format!(
            "{name}: {} ranges, the kernel takes at most {MAX_MAP_LINES}",
            maps.len()
        ));
    }
    let range = |start: u32, size: u32| (start as u64, start as u64 + size as u64);
    for (i, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            return bad(format!("{name}[{i}]: size must not be 0"));
        }
        for (start, what) in [(m.container_id(), "containerID"), (m.host_id(), "hostID")] {
            if range(start, m.size()).1 > u32::MAX as u64 {
                return bad(format!("{name}[{i}]: {what} + size is beyond the last id"));
            }
        }
        for (j, other) in maps[..i].iter().enumerate() {
            let overlap = |a: (u64, u64), b: (u64, u64)| a.0 < b.1 && b.0 < a.1;
            let inside = overlap(
                range(m.container_id(), m.size()),
                range(other.container_id(), other.size()),
            );
            let outside = overlap(
                range(m.host_id(), m.size()),
                range(other.host_id(), other.size()),
            );
            if inside || outside {
                return bad(format!("{name}[{i}] overlaps {name}[{j}]"));
            }
        }
    }
    Ok(())
}

impl std::hash::Hash for Mapping {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Mapping::Maps { uids, gids } => {
                crate::process::idmap::map_text(uids).hash(state);
                crate::process::idmap::map_text(gids).hash(state);
            }
            Mapping::Namespace(p) => p.hash(state),
        }
    }
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

    fn plan(mount: Mount) -> Result<MountPlan> {
        MountPlan::new(3, &mount, Path::new("/bundle"), &ContainerUserns::None)
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
            MountPlan::new(3, &mount, Path::new("/bundle"), userns).map_err(|e| e.to_string())
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
