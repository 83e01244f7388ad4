//! cgroup v1 (and hybrid hosts): one directory per mounted hierarchy.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::hierarchy::{own_cgroup, v1_hierarchies};
use crate::{io, read_pids, remove_dir, render, write, CgroupPath, Error, Result, Saved, Stats};

pub struct Manager {
    /// (the hierarchy's controllers joined by ',', the container's directory in it)
    paths: Vec<(String, PathBuf)>,
}

impl Manager {
    pub fn new(rel: &CgroupPath) -> Result<Manager> {
        let paths = v1_hierarchies()
            .into_iter()
            .map(|h| {
                let own = own_cgroup(&h.controllers);
                (h.controllers.join(","), rel.under(&h.mount, &own))
            })
            .collect();
        Ok(Manager { paths })
    }

    pub fn from_paths(paths: Vec<(String, PathBuf)>) -> Manager {
        Manager { paths }
    }

    /// The container's directory in the hierarchy that carries `controller`.
    fn dir(&self, controller: &str) -> Option<&Path> {
        self.paths
            .iter()
            .find(|(key, _)| key.split(',').any(|c| c == controller))
            .map(|(_, p)| p.as_path())
    }

    fn require(&self, controller: &str) -> Result<&Path> {
        self.dir(controller).ok_or_else(|| {
            Error::Invalid(format!(
                "cgroup controller {controller} is not mounted on this host"
            ))
        })
    }

    fn procs_dir(&self) -> Option<&Path> {
        self.dir("pids")
            .or_else(|| self.dir("freezer"))
            .or_else(|| self.paths.first().map(|(_, p)| p.as_path()))
    }

    fn write_memory(&self, dir: &Path, w: &render::Write, all: &[render::Write]) -> Result<()> {
        let path = dir.join(&w.file);
        match write(&path, &w.value) {
            // Raising the memory limit above memsw (or lowering memsw below it) fails until
            // the other moves: write the swap limit first, then the limit again.
            Err(Error::Write { source, .. })
                if source.raw_os_error() == Some(libc::EINVAL)
                    && w.file == "memory.limit_in_bytes" =>
            {
                if let Some(sw) = all.iter().find(|x| x.file == "memory.memsw.limit_in_bytes") {
                    write(&dir.join(&sw.file), &sw.value)?;
                }
                write(&path, &w.value)
            }
            other => other,
        }
    }
}

/// Kernel memory limits are gone from newer kernels; runc goes on without them there.
fn optional(file: &str) -> bool {
    file.starts_with("memory.kmem.")
}

/// cpuset cgroups start with empty cpus/mems, and a task cannot join one that is empty:
/// fill each new level from its parent, as runc does.
fn init_cpuset(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    if !parent.join("cpuset.cpus").exists() {
        return Ok(());
    }
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let current = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if current.trim().is_empty() {
            let from_parent = std::fs::read_to_string(parent.join(file))
                .map_err(|e| io("read", &parent.join(file), e))?;
            write(&dir.join(file), from_parent.trim())?;
        }
    }
    Ok(())
}

fn create_dirs(dir: &Path, cpuset: bool) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent, cpuset)?;
    }
    std::fs::create_dir(dir)
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(|e| io("create", dir, e))?;
    if cpuset {
        init_cpuset(dir)?;
    }
    Ok(())
}

impl crate::Manager for Manager {
    fn apply(&self, pid: i32) -> Result<()> {
        for (key, dir) in &self.paths {
            create_dirs(dir, key.split(',').any(|c| c == "cpuset"))?;
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn set(&self, r: &LinuxResources) -> Result<()> {
        // The spec: an error when unified refers to a controller that is not present, and
        // a v1 manager has no unified controllers at all.
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(Error::Invalid(
                "linux.resources.unified: cgroup v2 controllers are not in use on this host".into(),
            ));
        }
        let writes = render::v1(r);
        for w in &writes {
            let dir = match self.require(w.controller) {
                Ok(d) => d,
                Err(_) if optional(&w.file) => continue,
                Err(e) => return Err(e),
            };
            if optional(&w.file) && !dir.join(&w.file).exists() {
                continue;
            }
            if w.controller == "memory" {
                self.write_memory(dir, w, &writes)?;
            } else {
                write(&dir.join(&w.file), &w.value)?;
            }
        }
        Ok(())
    }

    fn freeze(&self) -> Result<()> {
        let dir = self.require("freezer")?;
        let state = dir.join("freezer.state");
        let deadline = Instant::now() + Duration::from_secs(10);
        // A cgroup can sit in FREEZING while tasks are in uninterruptible sleep: ask again.
        loop {
            write(&state, "FROZEN")?;
            let now = std::fs::read_to_string(&state).map_err(|e| io("read", &state, e))?;
            if now.trim() == "FROZEN" {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = write(&state, "THAWED");
                return Err(Error::Invalid(format!(
                    "{}: could not freeze (state {})",
                    dir.display(),
                    now.trim()
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn thaw(&self) -> Result<()> {
        write(&self.require("freezer")?.join("freezer.state"), "THAWED")
    }

    fn is_frozen(&self) -> Result<bool> {
        let Some(dir) = self.dir("freezer") else {
            return Ok(false);
        };
        let state = dir.join("freezer.state");
        match std::fs::read_to_string(&state) {
            Ok(s) => Ok(s.trim() == "FROZEN"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io("read", &state, e)),
        }
    }

    fn pids(&self) -> Result<Vec<i32>> {
        match self.procs_dir() {
            Some(dir) if dir.exists() => read_pids(&dir.join("cgroup.procs")),
            _ => Ok(Vec::new()),
        }
    }

    fn stats(&self) -> Result<Stats> {
        let num = |ctrl: &str, file: &str| -> u64 {
            self.dir(ctrl)
                .and_then(|d| std::fs::read_to_string(d.join(file)).ok())
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        let mut s = Stats::default();
        s.cpu.usage.total = num("cpuacct", "cpuacct.usage");
        s.memory.usage.usage = num("memory", "memory.usage_in_bytes");
        s.memory.usage.max = num("memory", "memory.max_usage_in_bytes");
        s.memory.usage.limit = num("memory", "memory.limit_in_bytes");
        s.memory.usage.failcnt = num("memory", "memory.failcnt");
        s.memory.oom_kill = self
            .dir("memory")
            .and_then(|d| std::fs::read_to_string(d.join("memory.oom_control")).ok())
            .and_then(|t| {
                t.lines().find_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|v| v.trim().parse().ok())
                })
            })
            .unwrap_or(0);
        s.pids.current = num("pids", "pids.current");
        s.pids.limit = num("pids", "pids.max");
        Ok(s)
    }

    fn kill_all(&self, signal: i32) -> Result<()> {
        let frozen = self.dir("freezer").is_some() && self.freeze().is_ok();
        for pid in self.pids()? {
            // A pid that exited meanwhile is fine.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::try_from(signal).ok(),
            );
        }
        if frozen {
            self.thaw()?;
        }
        Ok(())
    }

    fn destroy(&self) -> Result<()> {
        for (_, dir) in &self.paths {
            remove_dir(dir)?;
        }
        Ok(())
    }

    fn saved(&self) -> Saved {
        Saved::V1 {
            paths: self.paths.clone(),
        }
    }

    fn oom_watch(&self) -> Result<Option<crate::OomWatch>> {
        match self.dir("memory") {
            Some(dir) if dir.exists() => crate::OomWatch::v1(dir).map(Some),
            _ => Ok(None),
        }
    }
}
