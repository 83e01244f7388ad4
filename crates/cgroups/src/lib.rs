//! hull-cgroups: the cgroup layer of the hull runtime.
//!
//! [`create`] picks the manager for the host (cgroup v1 and hybrid hosts: one directory per
//! mounted v1 hierarchy; pure v2 hosts: one directory in the unified hierarchy) and works out
//! the container's cgroup from `cgroupsPath` with runc's rules: a relative path nests under
//! the caller's own cgroup (on v2 under its parent, which holds no processes), an absolute
//! path is taken as given, an empty one becomes the container id (relative), and a path that
//! climbs out with `..` is refused. [`Manager::handle`] gives the typed, serializable
//! [`Handle`] the runtime keeps in its state; [`Handle::manager`] rebuilds the manager from it
//! for the commands that come later (pause, update, kill --all, delete), and
//! [`Handle::add_process`] / [`Handle::add_thread`] move a process into it: every write to
//! cgroup.procs, tasks and cgroup.threads is made by this crate. With `--systemd-cgroup` the
//! cgroup is a systemd unit instead (`systemd`), made over D-Bus (`dbus`). The crate also holds
//! the workspace's one parser of /proc/PID/mountinfo ([`mountinfo`]) and of /proc/PID/cgroup
//! ([`proc_cgroup`]), and its one RFC 3339 date formatter ([`rfc3339`]), shared with
//! hull-image.

#![deny(unsafe_code)]

pub mod bpf;
mod dbus;
mod handle;
mod hierarchy;
pub mod mountinfo;
mod oom;
pub mod proc_cgroup;
pub mod render;
pub mod rfc3339;
mod systemd;
mod v1;
mod v2;
// The only place unsafe code is allowed: thin wrappers for the calls rustix lacks.
#[allow(unsafe_code)]
mod sys;

use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub use handle::Handle;
pub use hierarchy::{host_mode, Mode};
pub use oom::OomWatch;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
    /// systemd or its bus failed or refused (the systemd driver).
    #[error("{0}")]
    Systemd(String),
}

impl Error {
    /// The errno behind a failed file operation.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } | Error::Write { source, .. } => source.raw_os_error(),
            Error::Invalid(_) | Error::Systemd(_) => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(what: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// What the runtime knows when it makes a container's cgroup.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub cgroups_path: Option<String>,
    pub id: String,
    pub systemd: bool,
    pub rootless: bool,
    /// The limits the cgroup starts with: the systemd driver passes them when it creates the
    /// unit (the cgroupfs managers get them from [`Manager::set`]).
    pub resources: Option<LinuxResources>,
}

/// Usage numbers, shaped like the "data" of runc's `events --stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CpuStats {
    pub usage: CpuUsage,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Nanoseconds.
    pub total: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemoryStats {
    pub usage: MemoryEntry,
    #[serde(rename = "oom_kill")]
    pub oom_kill: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemoryEntry {
    pub limit: u64,
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PidsStats {
    pub current: u64,
    pub limit: u64,
}

/// One container's cgroup, whatever the host's cgroup version.
pub trait Manager {
    /// Creates the cgroup (every hierarchy) and moves `pid` into it.
    fn apply(&self, pid: i32) -> Result<()>;
    /// Creates the cgroup and opens its directory, for a process to be born in it
    /// (clone3 with CLONE_INTO_CGROUP), where the manager's hierarchy allows that (v2).
    /// `None`: create the process, then [`apply`](Manager::apply) it.
    fn clone_target(&self) -> Result<Option<std::os::fd::OwnedFd>> {
        Ok(None)
    }
    /// Writes every resource; absent and 0 values leave a setting as it is.
    fn set(&self, r: &LinuxResources) -> Result<()>;
    fn freeze(&self) -> Result<()>;
    fn thaw(&self) -> Result<()>;
    fn is_frozen(&self) -> Result<bool>;
    /// Every pid in the cgroup.
    fn pids(&self) -> Result<Vec<i32>>;
    fn stats(&self) -> Result<Stats>;
    /// Signals every process, in sub-cgroups too: SIGKILL through cgroup.kill where the host
    /// has it (v2, and the unified hierarchy of a hybrid host, as runc 1.4 does), otherwise
    /// with the cgroup frozen so that none can fork away meanwhile.
    fn kill_all(&self, signal: i32) -> Result<()>;
    /// Refuses a cgroup that a new container must not use, before anything is made: one that
    /// already holds processes (runc 1.2+: "container's cgroup is not empty"; runc 1.1 only
    /// warned), or one that is frozen, itself or through an ancestor (runc: "container's
    /// cgroup unexpectedly frozen"; runc checks only the cgroup itself, and a frozen parent
    /// freezes init and hangs create).
    fn check_new(&self) -> Result<()>;
    /// Removes the cgroup, retrying while it drains.
    fn destroy(&self) -> Result<()>;
    /// Where the cgroup is, in the form the runtime keeps between commands.
    fn handle(&self) -> Handle;
    /// Notification of OOMs in the cgroup, where the manager can give it (`events` samples
    /// the counters otherwise).
    fn oom_watch(&self) -> Result<Option<OomWatch>> {
        Ok(None)
    }
}

/// The manager for this host and config.
pub fn create(cfg: &Config) -> Result<Box<dyn Manager>> {
    if cfg.systemd {
        return Ok(Box::new(systemd::Manager::new(cfg)?));
    }
    let rel = container_path(cfg)?;
    match host_mode() {
        Mode::Unified => Ok(Box::new(v2::Manager::new(&rel)?)),
        Mode::Legacy | Mode::Hybrid => Ok(Box::new(v1::Manager::new(&rel)?)),
    }
}

/// The container's cgroup path as runc reads cgroupsPath.
pub fn container_path(cfg: &Config) -> Result<CgroupPath> {
    let raw = cfg
        .cgroups_path
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or(&cfg.id);
    let path = Path::new(raw);
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(Error::Invalid(format!(
            "linux.cgroupsPath {raw:?}: must not contain \"..\""
        )));
    }
    let clean: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if clean.as_os_str().is_empty() {
        return Err(Error::Invalid(format!(
            "linux.cgroupsPath {raw:?}: names no cgroup"
        )));
    }
    Ok(if path.is_absolute() {
        CgroupPath::Absolute(clean)
    } else {
        CgroupPath::Relative(clean)
    })
}

/// A cgroup path below a hierarchy's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupPath {
    /// From the hierarchy's root.
    Absolute(PathBuf),
    /// Below the caller's own cgroup in that hierarchy.
    Relative(PathBuf),
}

impl CgroupPath {
    /// The directory in a hierarchy mounted at `mount`, where the caller's cgroup is `own`.
    pub fn under(&self, mount: &Path, own: &str) -> PathBuf {
        match self {
            CgroupPath::Absolute(p) => mount.join(p),
            CgroupPath::Relative(p) => mount.join(own.trim_start_matches('/')).join(p),
        }
    }
}

/// Writes `value` to `path`, the error naming both.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// Moves `pid` into the cgroup at `dir` (cgroup.procs: the whole thread group), the one way
/// this crate and its callers join a process to a cgroup.
pub(crate) fn add_pid(dir: &Path, pid: i32) -> Result<()> {
    write(&dir.join("cgroup.procs"), &pid.to_string())
}

pub(crate) fn read_pids(procs: &Path) -> Result<Vec<i32>> {
    let text = std::fs::read_to_string(procs).map_err(|e| io("read", procs, e))?;
    Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// Every pid in the cgroup at `dir` and in its sub-cgroups (runc's GetAllPids). A cgroup
/// removed meanwhile has none.
pub(crate) fn all_pids(dir: &Path) -> Result<Vec<i32>> {
    let mut out = Vec::new();
    collect_pids(dir, &mut out)?;
    Ok(out)
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    match read_pids(&dir.join("cgroup.procs")) {
        Ok(p) => out.extend(p),
        Err(e) if matches!(e.errno(), Some(libc::ENOENT | libc::ENODEV)) => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_pids(&entry.path(), out)?;
            }
        }
    }
    Ok(())
}

/// The check of [`Manager::check_new`] for one directory: no process in it or below it.
pub(crate) fn check_empty(dir: &Path) -> Result<()> {
    let pids = all_pids(dir)?;
    if pids.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "container's cgroup is not empty: {} process(es) found in {} (a new container needs a \
         cgroup of its own; choose another cgroupsPath)",
        pids.len(),
        dir.display()
    )))
}

/// The error for a frozen cgroup at `frozen`, which is the container's (`dir`) or one of its
/// ancestors.
pub(crate) fn frozen_error(dir: &Path, frozen: &Path) -> Error {
    if frozen == dir {
        Error::Invalid(format!(
            "container's cgroup unexpectedly frozen: {}",
            dir.display()
        ))
    } else {
        Error::Invalid(format!(
            "container's cgroup unexpectedly frozen: its ancestor {} is frozen, which would \
             freeze the container's processes too ({})",
            frozen.display(),
            dir.display()
        ))
    }
}

/// cgroup v2's freezer (also in a hybrid host's unified hierarchy): the first of `dir` and its
/// ancestors below `mount` whose cgroup.freeze is 1. A level that does not exist yet is not.
pub(crate) fn v2_frozen_level(mount: &Path, dir: &Path) -> Option<PathBuf> {
    let mut level = Some(dir);
    while let Some(d) = level.filter(|d| d.starts_with(mount) && *d != mount) {
        if std::fs::read_to_string(d.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1") {
            return Some(d.to_path_buf());
        }
        level = d.parent();
    }
    None
}

/// Removes a cgroup and the cgroups the container made below it (systemd in a container
/// does), deepest first, as runc does: rmdir of a cgroup that has children fails with EBUSY.
pub(crate) fn remove_tree(dir: &Path) -> Result<()> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path())?;
            }
        }
    }
    remove_dir(dir)
}

/// Removes a cgroup directory, waiting briefly for dying processes to leave it.
pub(crate) fn remove_dir(dir: &Path) -> Result<()> {
    for attempt in 0..100 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 99 => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(io("remove", dir, e)),
        }
    }
    Ok(())
}

/// What `features` reports: what this build supports, "unrelated to whether the host uses
/// cgroup v1 or not" (runtime-spec features-linux.md): the v1 and v2 managers, the systemd
/// driver on the system and the user bus, the rdma controller's limits.
pub fn features() -> serde_json::Value {
    serde_json::json!({
        "v1": true,
        "v2": true,
        "systemd": true,
        "systemdUser": true,
        "rdma": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(p: Option<&str>) -> Config {
        Config {
            cgroups_path: p.map(String::from),
            id: "web".into(),
            ..Default::default()
        }
    }

    #[test]
    fn path_rules() {
        assert_eq!(
            container_path(&cfg(None)).unwrap(),
            CgroupPath::Relative("web".into())
        );
        assert_eq!(
            container_path(&cfg(Some("/a/b"))).unwrap(),
            CgroupPath::Absolute("a/b".into())
        );
        assert_eq!(
            container_path(&cfg(Some("x/y"))).unwrap(),
            CgroupPath::Relative("x/y".into())
        );
        assert!(container_path(&cfg(Some("/a/../../etc"))).is_err());
        assert!(container_path(&cfg(Some("/"))).is_err());
        let p = CgroupPath::Relative("c1".into());
        assert_eq!(
            p.under(Path::new("/sys/fs/cgroup/memory"), "/user/1"),
            PathBuf::from("/sys/fs/cgroup/memory/user/1/c1")
        );
        let p = CgroupPath::Absolute("k/c1".into());
        assert_eq!(
            p.under(Path::new("/sys/fs/cgroup/memory"), "/user/1"),
            PathBuf::from("/sys/fs/cgroup/memory/k/c1")
        );
    }
}
