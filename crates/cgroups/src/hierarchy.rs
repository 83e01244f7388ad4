//! Which cgroup hierarchies the host has mounted, read from /proc/self/mountinfo (not from
//! directory listings: /sys/fs/cgroup can hold stray directories), and the caller's own
//! cgroup in each, from /proc/self/cgroup.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// v1 hierarchies only.
    Legacy,
    /// v1 controllers plus a cgroup2 mount (usually without controllers).
    Hybrid,
    /// cgroup2 only.
    Unified,
}

/// A mounted v1 hierarchy: its mount point and the controllers (or `name=`) it carries.
#[derive(Debug, Clone)]
pub struct V1Hierarchy {
    pub mount: PathBuf,
    pub controllers: Vec<String>,
}

/// A /proc/self file read once per process: a `create` asked for mountinfo three times and
/// for /proc/self/cgroup once per hierarchy (nine reads on a hybrid host). The copy is tied
/// to the pid that read it: a clone (the container's init, an exec child) has a new pid, and
/// may be in a new mount or cgroup namespace, so it reads its own.
struct PerProcess {
    text: std::sync::Mutex<Option<(u32, std::sync::Arc<str>)>>,
    path: &'static str,
}

impl PerProcess {
    const fn new(path: &'static str) -> PerProcess {
        PerProcess {
            text: std::sync::Mutex::new(None),
            path,
        }
    }

    fn get(&self) -> std::sync::Arc<str> {
        let pid = std::process::id();
        let mut text = self.text.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((read_by, t)) = text.as_ref() {
            if *read_by == pid {
                return t.clone();
            }
        }
        let t: std::sync::Arc<str> = std::fs::read_to_string(self.path)
            .unwrap_or_default()
            .into();
        *text = Some((pid, t.clone()));
        t
    }
}

static MOUNTINFO: PerProcess = PerProcess::new("/proc/self/mountinfo");
static OWN_CGROUPS: PerProcess = PerProcess::new("/proc/self/cgroup");

fn mounts() -> Vec<(String, PathBuf, String)> {
    crate::mountinfo::parse(&MOUNTINFO.get())
        .into_iter()
        .map(|m| (m.fstype, m.mount_point, m.super_options.join(",")))
        .collect()
}

pub fn v1_hierarchies() -> Vec<V1Hierarchy> {
    let mut out: Vec<V1Hierarchy> = Vec::new();
    for (fstype, mount, opts) in mounts() {
        if fstype != "cgroup" {
            continue;
        }
        let controllers: Vec<String> = opts
            .split(',')
            .filter(|o| {
                !matches!(*o, "rw" | "ro" | "xattr" | "noprefix" | "clone_children")
                    && !o.starts_with("release_agent")
            })
            .map(String::from)
            .collect();
        // The same hierarchy mounted twice is one hierarchy.
        if !out.iter().any(|h| h.controllers == controllers) {
            out.push(V1Hierarchy { mount, controllers });
        }
    }
    out
}

/// The unified (cgroup2) mount point, if any.
pub fn unified_mount() -> Option<PathBuf> {
    mounts()
        .into_iter()
        .find(|(t, _, _)| t == "cgroup2")
        .map(|(_, m, _)| m)
}

pub fn host_mode() -> Mode {
    let v1 = !v1_hierarchies().is_empty();
    match (v1, unified_mount().is_some()) {
        (true, true) => Mode::Hybrid,
        (true, false) => Mode::Legacy,
        (false, _) => Mode::Unified,
    }
}

/// The caller's own cgroup in the v1 hierarchy carrying `controllers` ("" for the v2 line).
pub fn own_cgroup(controllers: &[String]) -> String {
    let own = crate::proc_cgroup::parse(&OWN_CGROUPS.get());
    crate::proc_cgroup::of(&own, controllers)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into())
}
