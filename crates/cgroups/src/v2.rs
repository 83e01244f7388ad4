//! cgroup v2: one directory in the unified hierarchy.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::hierarchy::{own_cgroup, unified_mount};
use crate::{
    bpf, io, read_pids, remove_dir, render, write, CgroupPath, Error, Result, Saved, Stats,
};

pub struct Manager {
    path: PathBuf,
}

impl Manager {
    pub fn new(rel: &CgroupPath) -> Result<Manager> {
        let mount = unified_mount()
            .ok_or_else(|| Error::Invalid("no cgroup2 hierarchy is mounted".into()))?;
        Ok(Manager {
            path: rel.under(&mount, &own_cgroup(&[])),
        })
    }

    pub fn from_path(path: PathBuf) -> Manager {
        Manager { path }
    }

    fn read(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.path.join(file)).ok()
    }
}

/// Enables every available controller for the children of each cgroup from the hierarchy
/// root down to the container's parent, so the container's cgroup gets them all.
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
        if !enable.is_empty() {
            write(&dir.join("cgroup.subtree_control"), &enable.join(" "))?;
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
        write(&self.path.join("cgroup.procs"), &pid.to_string())
    }

    fn clone_target(&self) -> Result<Option<OwnedFd>> {
        enable_controllers(&self.path)?;
        if !self.path.exists() {
            std::fs::create_dir_all(&self.path).map_err(|e| io("create", &self.path, e))?;
        }
        let dir = std::fs::File::open(&self.path).map_err(|e| io("open", &self.path, e))?;
        Ok(Some(dir.into()))
    }

    fn set(&self, r: &LinuxResources) -> Result<()> {
        for w in render::v2(r) {
            write(&self.path.join(&w.file), &w.value)?;
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
        if !self.path.exists() {
            return Ok(Vec::new());
        }
        read_pids(&self.path.join("cgroup.procs"))
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
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::try_from(signal).ok(),
            );
        }
        self.thaw()
    }

    fn destroy(&self) -> Result<()> {
        remove_dir(&self.path)
    }

    fn saved(&self) -> Saved {
        Saved::V2 {
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
