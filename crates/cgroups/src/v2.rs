//! cgroup v2: one directory in the unified hierarchy.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::hierarchy::{own_cgroup, unified_mount};
use crate::{
    all_pids, bpf, check_empty, frozen_error, io, remove_tree, render, v2_frozen_level, write,
    CgroupPath, Error, Handle, Result, Stats,
};

pub struct Manager {
    path: PathBuf,
}

impl Manager {
    pub fn new(rel: &CgroupPath) -> Result<Manager> {
        let mount = unified_mount()
            .ok_or_else(|| Error::Invalid("no cgroup2 hierarchy is mounted".into()))?;
        Ok(Manager {
            path: rel.under(&mount, &relative_base(&own_cgroup(&[]))),
        })
    }

    pub fn from_path(path: PathBuf) -> Manager {
        Manager { path }
    }

    fn read(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.path.join(file)).ok()
    }
}

/// Where a relative cgroupsPath nests on v2, given the caller's own cgroup: under its PARENT,
/// as runc does. The caller's own cgroup holds at least the caller, and a cgroup with
/// processes in it cannot enable controllers for its children ("no internal processes"):
/// under systemd, nesting in `/system.slice/foo.service` fails with EBUSY.
fn relative_base(own: &str) -> String {
    Path::new(own)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into())
}

/// Enables every available controller for the children of each cgroup from the hierarchy
/// root down to the container's parent, so the container's cgroup gets them all. As runc
/// does, a level that refuses the whole list gets the controllers one by one and what still
/// fails is left off (a parent may not delegate some): a limit that needs a missing
/// controller fails later, naming its file.
fn enable_controllers(path: &Path) -> Result<()> {
    let Some(mount) = unified_mount() else {
        return Ok(());
    };
    let mut dir = mount.clone();
    let rel = path.strip_prefix(&mount).unwrap_or(path);
    let parts: Vec<_> = rel.components().collect();
    for (i, part) in parts.iter().enumerate() {
        let available = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
        let enable: Vec<String> = available
            .split_whitespace()
            .map(|c| format!("+{c}"))
            .collect();
        let control = dir.join("cgroup.subtree_control");
        if !enable.is_empty() && write(&control, &enable.join(" ")).is_err() {
            for c in &enable {
                let _ = write(&control, c);
            }
        }
        dir.push(part);
        if i + 1 < parts.len() && !dir.exists() {
            std::fs::create_dir(&dir).map_err(|e| io("create", &dir, e))?;
        }
    }
    Ok(())
}

impl crate::Manager for Manager {
    fn apply(&self, pid: i32) -> Result<()> {
        self.clone_target()?;
        crate::add_pid(&self.path, pid)
    }

    fn clone_target(&self) -> Result<Option<OwnedFd>> {
        enable_controllers(&self.path)?;
        if !self.path.exists() {
            std::fs::create_dir_all(&self.path).map_err(|e| io("create", &self.path, e))?;
        }
        // Below a cgroup that holds processes, where only threaded controllers could be
        // enabled, the kernel makes the new cgroup "domain invalid": joining it (or clone3 into
        // it) fails with a bare EOPNOTSUPP. Say why instead.
        if self
            .read("cgroup.type")
            .is_some_and(|t| t.trim() == "domain invalid")
        {
            let parent = self.path.parent().unwrap_or(&self.path);
            return Err(Error::Invalid(format!(
                "{}: cannot hold processes: its parent {} holds processes itself (cgroup v2 \
                 allows processes only in leaves); choose a cgroupsPath under a cgroup without \
                 processes",
                self.path.display(),
                parent.display()
            )));
        }
        let dir = std::fs::File::open(&self.path).map_err(|e| io("open", &self.path, e))?;
        Ok(Some(dir.into()))
    }

    fn set(&self, r: &LinuxResources) -> Result<()> {
        for w in render::v2(r) {
            let file = self.path.join(&w.file);
            if w.file == render::BFQ_WEIGHT_DEVICE && !file.exists() {
                continue;
            }
            // Without swap accounting there is no memory.swap.max: "no limit" and "no swap"
            // hold anyway, as runc reasons.
            if w.file == "memory.swap.max"
                && matches!(w.value.as_str(), "max" | "0")
                && !file.exists()
            {
                continue;
            }
            write(&file, &w.value)?;
        }
        // No rules (as from `update`) leaves the device filter as it is.
        if let Some(devices) = r.devices().as_deref().filter(|d| !d.is_empty()) {
            match bpf::set_devices(&self.path, devices) {
                Err(_) if bpf::can_skip_error() => {}
                other => other?,
            }
        }
        Ok(())
    }

    fn freeze(&self) -> Result<()> {
        write(&self.path.join("cgroup.freeze"), "1")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.is_frozen()? {
            if Instant::now() > deadline {
                return Err(Error::Invalid(format!(
                    "{}: did not freeze",
                    self.path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    fn thaw(&self) -> Result<()> {
        write(&self.path.join("cgroup.freeze"), "0")
    }

    fn is_frozen(&self) -> Result<bool> {
        Ok(self
            .read("cgroup.events")
            .is_some_and(|e| e.lines().any(|l| l.trim() == "frozen 1")))
    }

    fn pids(&self) -> Result<Vec<i32>> {
        all_pids(&self.path)
    }

    fn stats(&self) -> Result<Stats> {
        let num = |file: &str| {
            self.read(file)
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        let keyed = |file: &str, key: &str| {
            self.read(file)
                .and_then(|t| {
                    t.lines().find_map(|l| {
                        l.strip_prefix(key)
                            .and_then(|v| v.trim().parse::<u64>().ok())
                    })
                })
                .unwrap_or(0)
        };
        let mut s = Stats::default();
        s.cpu.usage.total = keyed("cpu.stat", "usage_usec ") * 1000;
        s.memory.usage.usage = num("memory.current");
        s.memory.usage.max = num("memory.peak");
        s.memory.usage.limit = num("memory.max");
        s.memory.oom_kill = keyed("memory.events", "oom_kill ");
        s.pids.current = num("pids.current");
        s.pids.limit = num("pids.max");
        Ok(s)
    }

    fn kill_all(&self, signal: i32) -> Result<()> {
        let kill = self.path.join("cgroup.kill");
        if signal == libc::SIGKILL && kill.exists() {
            return write(&kill, "1");
        }
        self.freeze()?;
        for pid in self.pids()? {
            // A signal number rustix does not name (0, or not a signal) sends nothing, as before.
            if let (Some(pid), Some(sig)) = (
                rustix::process::Pid::from_raw(pid),
                rustix::process::Signal::from_named_raw(signal),
            ) {
                let _ = rustix::process::kill_process(pid, sig);
            }
        }
        self.thaw()
    }

    fn destroy(&self) -> Result<()> {
        remove_tree(&self.path)
    }

    fn check_new(&self) -> Result<()> {
        check_empty(&self.path)?;
        let mount = unified_mount().unwrap_or_default();
        match v2_frozen_level(&mount, &self.path) {
            Some(frozen) => Err(frozen_error(&self.path, &frozen)),
            None => Ok(()),
        }
    }

    fn handle(&self) -> Handle {
        Handle::V2 {
            path: self.path.clone(),
        }
    }

    fn oom_watch(&self) -> Result<Option<crate::OomWatch>> {
        if !self.path.join("memory.events").exists() {
            return Ok(None);
        }
        crate::OomWatch::v2(&self.path).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::relative_base;

    #[test]
    fn relative_paths_nest_under_the_parent_of_our_cgroup() {
        assert_eq!(relative_base("/system.slice/hull.service"), "/system.slice");
        assert_eq!(relative_base("/user.slice"), "/");
        assert_eq!(relative_base("/"), "/");
    }
}
