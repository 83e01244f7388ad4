//! A container's cgroup as the runtime keeps it between commands: where it is, per manager.
//!
//! The serialized form is the one state.json has carried since the first release of the
//! cgroup layer (`{"version": "v1", "paths": [["cpu,cpuacct", "/sys/fs/cgroup/..."], ...]}`,
//! `{"version": "v2", "path": ...}`, `{"version": "systemd", "unit": ..., "fs": {...}}`; the
//! systemd `user` flag came later and defaults to false), so containers created by an earlier
//! build load unchanged.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Manager, Result};

/// Where a container's cgroup is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "version", rename_all = "lowercase")]
pub enum Handle {
    /// cgroup v1, and a hybrid host: the container's directory in each mounted hierarchy,
    /// keyed by the hierarchy's controllers as it is mounted (`cpu,cpuacct`; `name=systemd`;
    /// `""` for the unified hierarchy of a hybrid host).
    V1 { paths: Vec<(String, PathBuf)> },
    /// cgroup v2: the container's directory in the unified hierarchy.
    V2 { path: PathBuf },
    /// A systemd unit, and its cgroup as the cgroupfs manager sees it (`V1` or `V2`).
    Systemd {
        unit: String,
        slice: String,
        /// The unit belongs to the user's manager (rootless, `--systemd-cgroup`).
        #[serde(default)]
        user: bool,
        fs: Box<Handle>,
    },
}

impl Handle {
    /// The manager for this cgroup, for the commands after create (pause, update, kill --all,
    /// delete, events).
    pub fn manager(&self) -> Box<dyn Manager> {
        match self {
            Handle::V1 { paths } => Box::new(crate::v1::Manager::from_paths(paths.clone())),
            Handle::V2 { path } => Box::new(crate::v2::Manager::from_path(path.clone())),
            Handle::Systemd {
                unit,
                slice,
                user,
                fs,
            } => Box::new(crate::systemd::Manager::load(unit, slice, *user, fs)),
        }
    }

    /// The cgroupfs directories behind the handle: a systemd unit's are directories like any
    /// other once systemd made them.
    fn dirs(&self) -> &Handle {
        match self {
            Handle::Systemd { fs, .. } => fs.dirs(),
            other => other,
        }
    }

    /// Moves the process `pid` (its whole thread group) into the cgroup, in every hierarchy.
    /// The cgroup must exist: this joins, it does not create (see [`Manager::apply`]).
    pub fn add_process(&self, pid: i32) -> Result<()> {
        self.each_dir(|dir, _| crate::add_pid(dir, pid))
    }

    /// Moves the one thread `tid` into the cgroup: v1's `tasks`; in a unified hierarchy
    /// (v2, and a hybrid host's) `cgroup.threads`, which the kernel takes only within a
    /// threaded subtree.
    pub fn add_thread(&self, tid: i32) -> Result<()> {
        self.each_dir(|dir, unified| {
            let file = if unified { "cgroup.threads" } else { "tasks" };
            crate::write(&dir.join(file), &tid.to_string())
        })
    }

    /// Calls `f` with each directory and whether it is in a unified (cgroup2) hierarchy.
    fn each_dir(&self, mut f: impl FnMut(&Path, bool) -> Result<()>) -> Result<()> {
        match self.dirs() {
            Handle::V1 { paths } => paths
                .iter()
                .try_for_each(|(key, dir)| f(dir, key == crate::v1::UNIFIED)),
            Handle::V2 { path } => f(path, true),
            Handle::Systemd { .. } => unreachable!("dirs() unwraps a unit"),
        }
    }

    /// `exec --cgroup`: moves `pid` into existing sub-cgroups of the container's cgroup. Each
    /// entry is `PATH` (every hierarchy) or `CTRL[,CTRL]:PATH` (the hierarchies of those
    /// controllers), as runc takes them. Every entry is checked before any process moves.
    pub fn add_process_below(&self, pid: i32, entries: &[String]) -> Result<()> {
        let mut targets: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let (ctrls, sub) = match entry.split_once(':') {
                Some((c, p)) => (Some(c.split(',').collect::<Vec<_>>()), p),
                None => (None, entry.as_str()),
            };
            let sub = Path::new(sub.trim_start_matches('/'));
            if sub.components().any(|c| !matches!(c, Component::Normal(_))) {
                return Err(Error::Invalid(format!(
                    "--cgroup {entry:?}: the path must stay inside the container's cgroup"
                )));
            }
            match self.dirs() {
                Handle::V1 { paths } => {
                    for (key, dir) in paths {
                        if ctrls
                            .as_ref()
                            .is_none_or(|c| key.split(',').any(|k| c.contains(&k)))
                        {
                            targets.push(dir.join(sub));
                        }
                    }
                }
                Handle::V2 { path } => {
                    if ctrls.is_some() {
                        return Err(Error::Invalid(format!(
                            "--cgroup {entry:?}: controllers cannot be named on cgroup v2"
                        )));
                    }
                    targets.push(path.join(sub));
                }
                Handle::Systemd { .. } => unreachable!("dirs() unwraps a unit"),
            }
        }
        targets.iter().try_for_each(|dir| crate::add_pid(dir, pid))
    }

    /// The cgroup CRIU freezes the container in while it dumps: v1's freezer hierarchy, or
    /// the v2 cgroup itself.
    pub fn freezer_dir(&self) -> Option<&Path> {
        match self.dirs() {
            Handle::V1 { paths } => paths
                .iter()
                .find(|(key, _)| key.split(',').any(|c| c == "freezer"))
                .map(|(_, p)| p.as_path()),
            Handle::V2 { path } => Some(path),
            Handle::Systemd { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Directories standing in for cgroups: what the handle writes is read back from their
    /// files (regular files take any write, as a cgroup's take a live pid).
    struct Dirs(PathBuf);

    impl Dirs {
        fn new(name: &str) -> Dirs {
            let base = std::env::temp_dir().join(format!("hull-cg-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&base);
            std::fs::create_dir_all(&base).unwrap();
            Dirs(base)
        }
        fn dir(&self, rel: &str) -> PathBuf {
            let d = self.0.join(rel);
            std::fs::create_dir_all(&d).unwrap();
            d
        }
        fn read(&self, rel: &str) -> Option<String> {
            std::fs::read_to_string(self.0.join(rel)).ok()
        }
    }

    impl Drop for Dirs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_process_joins_every_hierarchy_of_a_unit_too() {
        let t = Dirs::new("procs");
        let v1 = Handle::V1 {
            paths: vec![
                ("cpu,cpuacct".into(), t.dir("cpu/c")),
                ("memory".into(), t.dir("memory/c")),
                ("".into(), t.dir("unified/c")),
            ],
        };
        let unit = Handle::Systemd {
            unit: "hull-c.scope".into(),
            slice: "system.slice".into(),
            user: false,
            fs: Box::new(v1),
        };
        unit.add_process(42).unwrap();
        assert_eq!(t.read("cpu/c/cgroup.procs").as_deref(), Some("42"));
        assert_eq!(t.read("memory/c/cgroup.procs").as_deref(), Some("42"));
        unit.add_thread(43).unwrap();
        assert_eq!(t.read("memory/c/tasks").as_deref(), Some("43"));
        assert_eq!(t.read("unified/c/cgroup.threads").as_deref(), Some("43"));
        assert_eq!(t.read("unified/c/cgroup.procs").as_deref(), Some("42"));

        let v2 = Handle::V2 {
            path: t.dir("v2/c"),
        };
        v2.add_thread(44).unwrap();
        assert_eq!(t.read("v2/c/cgroup.threads").as_deref(), Some("44"));
    }

    #[test]
    fn a_missing_cgroup_is_an_error_naming_it() {
        let h = Handle::V2 {
            path: "/nonexistent/hull/c".into(),
        };
        let e = h.add_process(1).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/hull/c/cgroup.procs"), "{e}");
    }

    #[test]
    fn sub_cgroups_by_controller_and_path() {
        let t = Dirs::new("below");
        let v1 = Handle::V1 {
            paths: vec![
                ("cpu,cpuacct".into(), t.dir("cpu/c")),
                ("memory".into(), t.dir("memory/c")),
            ],
        };
        t.dir("cpu/c/sub");
        t.dir("memory/c/sub");
        v1.add_process_below(7, &["cpuacct:/sub".into()]).unwrap();
        assert_eq!(t.read("cpu/c/sub/cgroup.procs").as_deref(), Some("7"));
        assert_eq!(t.read("memory/c/sub/cgroup.procs"), None);
        v1.add_process_below(8, &["sub".into()]).unwrap();
        assert_eq!(t.read("memory/c/sub/cgroup.procs").as_deref(), Some("8"));

        for bad in ["../x", "sub/../../x", "/./x"] {
            let e = v1.add_process_below(9, &[bad.into()]).unwrap_err();
            assert!(e.to_string().contains("must stay inside"), "{bad}: {e}");
        }
        let v2 = Handle::V2 {
            path: t.dir("v2/c"),
        };
        let e = v2.add_process_below(9, &["memory:sub".into()]).unwrap_err();
        assert!(
            e.to_string().contains("cannot be named on cgroup v2"),
            "{e}"
        );
        // Nothing moved before the bad entry was seen.
        let e = v1
            .add_process_below(10, &["sub".into(), "../x".into()])
            .unwrap_err();
        assert!(e.to_string().contains("../x"), "{e}");
        assert_eq!(t.read("memory/c/sub/cgroup.procs").as_deref(), Some("8"));
    }

    #[test]
    fn freezer_of_each_form() {
        let v1 = Handle::V1 {
            paths: vec![
                ("memory".into(), "/m/c".into()),
                ("freezer".into(), "/f/c".into()),
            ],
        };
        assert_eq!(v1.freezer_dir(), Some(Path::new("/f/c")));
        let unit = Handle::Systemd {
            unit: "u".into(),
            slice: "s".into(),
            user: false,
            fs: Box::new(Handle::V2 {
                path: "/sys/fs/cgroup/s/u".into(),
            }),
        };
        assert_eq!(unit.freezer_dir(), Some(Path::new("/sys/fs/cgroup/s/u")));
    }

    /// What earlier builds wrote into state.json (no `user` before the user bus was
    /// supported): each still reads, as the same handle.
    #[test]
    fn earlier_saved_forms_still_load() {
        let old: Handle = serde_json::from_str(
            r#"{"version":"systemd","unit":"hull-a.scope","slice":"system.slice",
                "fs":{"version":"v1","paths":[["cpu,cpuacct","/sys/fs/cgroup/cpu,cpuacct/a"],
                ["","/sys/fs/cgroup/unified/a"]]}}"#,
        )
        .unwrap();
        assert_eq!(
            old,
            Handle::Systemd {
                unit: "hull-a.scope".into(),
                slice: "system.slice".into(),
                user: false,
                fs: Box::new(Handle::V1 {
                    paths: vec![
                        ("cpu,cpuacct".into(), "/sys/fs/cgroup/cpu,cpuacct/a".into()),
                        ("".into(), "/sys/fs/cgroup/unified/a".into()),
                    ]
                }),
            }
        );
        let v2: Handle =
            serde_json::from_str(r#"{"version":"v2","path":"/sys/fs/cgroup/x"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&v2).unwrap(),
            r#"{"version":"v2","path":"/sys/fs/cgroup/x"}"#
        );
    }
}
