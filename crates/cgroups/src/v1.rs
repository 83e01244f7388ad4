//! cgroup v1 (and hybrid hosts): one directory per mounted hierarchy. On a hybrid host the
//! container also gets a directory in the unified (cgroup2) hierarchy, saved under the key ""
//! as runc does: it carries no controllers there, but it names the container's processes for
//! tools that read the unified tree, gives `kill` its cgroup.kill, and the v2 freezer there
//! must not hold the container.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::hierarchy::{own_cgroup, unified_mount, v1_hierarchies};
use crate::{
    all_pids, check_empty, frozen_error, io, remove_tree, render, v2_frozen_level, write,
    CgroupPath, Error, Handle, Result, Stats,
};

/// The key of the unified hierarchy's directory on a hybrid host.
pub(crate) const UNIFIED: &str = "";

pub struct Manager {
    /// (the hierarchy's controllers joined by ',', the container's directory in it)
    paths: Vec<(String, PathBuf)>,
}

impl Manager {
    pub fn new(rel: &CgroupPath) -> Result<Manager> {
        let mut paths: Vec<(String, PathBuf)> = v1_hierarchies()
            .into_iter()
            .map(|h| {
                let own = own_cgroup(&h.controllers);
                (h.controllers.join(","), rel.under(&h.mount, &own))
            })
            .collect();
        if let Some(mount) = unified_mount() {
            paths.push((UNIFIED.into(), rel.under(&mount, &own_cgroup(&[]))));
        }
        Ok(Manager { paths })
    }

    pub fn from_paths(paths: Vec<(String, PathBuf)>) -> Manager {
        Manager { paths }
    }

    /// The container's directory in the hierarchy that carries `controller`.
    fn dir(&self, controller: &str) -> Option<&Path> {
        self.paths
            .iter()
            .find(|(key, _)| key != UNIFIED && key.split(',').any(|c| c == controller))
            .map(|(_, p)| p.as_path())
    }

    /// The container's directory in a hybrid host's unified hierarchy.
    fn unified(&self) -> Option<&Path> {
        self.paths
            .iter()
            .find(|(key, _)| key == UNIFIED)
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
}

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

/// Writes the memory limit and the memory+swap limit in the order the kernel takes them: it
/// refuses a limit above memsw and a memsw below the limit at every step. runc's rules: a limit
/// of -1 without a swap value lifts memsw too (where the host accounts swap); with both, swap
/// goes first when it is unlimited or above the current limit (raising), else the limit does.
fn set_memory_and_swap(dir: &Path, limit: Option<&str>, swap: Option<&str>) -> Result<()> {
    let swap = match (limit, swap) {
        (Some("-1"), None) if dir.join(MEMSW).exists() => Some("-1"),
        (_, s) => s,
    };
    let swap_first = match (limit, swap) {
        (Some(_), Some(s)) => {
            let current: u64 = std::fs::read_to_string(dir.join(LIMIT))
                .map_err(|e| io("read", &dir.join(LIMIT), e))?
                .trim()
                .parse()
                .unwrap_or(u64::MAX);
            s == "-1" || s.parse::<u64>().is_ok_and(|s| current < s)
        }
        _ => false,
    };
    let mut order = [(LIMIT, limit), (MEMSW, swap)];
    if swap_first {
        order.reverse();
    }
    for (file, value) in order {
        if let Some(v) = value {
            write(&dir.join(file), v)?;
        }
    }
    Ok(())
}

/// A v1 devices cgroup as the kernel keeps it: a default (allow or deny everything) and the
/// exceptions to it, each (type, major, minor) with its access bits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DeviceCgroup {
    allow_all: bool,
    exceptions: Vec<(String, u8)>,
}

const ACCESS: [(char, u8); 3] = [('r', 1), ('w', 2), ('m', 4)];

fn access_bits(s: &str) -> u8 {
    ACCESS
        .iter()
        .filter(|(c, _)| s.contains(*c))
        .fold(0, |acc, (_, b)| acc | b)
}

fn access_str(bits: u8) -> String {
    ACCESS
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(c, _)| *c)
        .collect()
}

impl DeviceCgroup {
    /// From devices.list; `None` in allow-all mode, where the kernel lists "a *:* rwm" and
    /// hides the exceptions.
    fn read(dir: &Path) -> Option<DeviceCgroup> {
        let list = std::fs::read_to_string(dir.join("devices.list")).ok()?;
        let mut cg = DeviceCgroup {
            allow_all: false,
            exceptions: Vec::new(),
        };
        for line in list.lines() {
            let (key, access) = line.rsplit_once(' ')?;
            if key.starts_with('a') {
                return None;
            }
            cg.add(key, access_bits(access));
        }
        Some(cg)
    }

    fn add(&mut self, key: &str, bits: u8) {
        match self.exceptions.iter_mut().find(|(k, _)| k == key) {
            Some((_, b)) => *b |= bits,
            None => self.exceptions.push((key.to_string(), bits)),
        }
    }

    fn remove(&mut self, key: &str, bits: u8) {
        if let Some((_, b)) = self.exceptions.iter_mut().find(|(k, _)| k == key) {
            *b &= !bits;
        }
        self.exceptions.retain(|(_, b)| *b != 0);
    }

    /// What the kernel does with a line written to devices.allow (`allow`) or devices.deny:
    /// "a…" resets the default and drops the exceptions; a rule is an exception to the
    /// default, added or taken away (on its exact type, major and minor).
    fn apply(&mut self, allow: bool, rule: &str) {
        if rule.starts_with('a') {
            self.allow_all = allow;
            self.exceptions.clear();
            return;
        }
        let (key, access) = rule.rsplit_once(' ').unwrap_or((rule, "rwm"));
        if allow == self.allow_all {
            self.remove(key, access_bits(access));
        } else {
            self.add(key, access_bits(access));
        }
    }
}

/// Sets the device rules in the order the kernel takes them. A cgroup that already has a
/// deny-all list (a running container: `update`) is moved to the new list by its differences
/// alone, as runc's device emulator does: the kernel refuses an "a" rule in a cgroup with
/// sub-cgroups (EINVAL), and resetting to deny-all first would leave the container without
/// its devices for a moment. A new cgroup (allow-all, its exceptions hidden) gets the rules as
/// they are.
fn set_devices(dir: &Path, writes: &[&render::Write]) -> Result<()> {
    let is_allow = |w: &render::Write| w.file == "devices.allow";
    let current = DeviceCgroup::read(dir);
    if let Some(current) = current.filter(|c| !c.allow_all) {
        let mut target = current.clone();
        for w in writes {
            target.apply(is_allow(w), &w.value);
        }
        if !target.allow_all {
            for (key, bits) in &current.exceptions {
                let keep = target
                    .exceptions
                    .iter()
                    .find(|(k, _)| k == key)
                    .map_or(0, |(_, b)| *b);
                if bits & !keep != 0 {
                    let rule = format!("{key} {}", access_str(bits & !keep));
                    write(&dir.join("devices.deny"), &rule)?;
                }
            }
            for (key, bits) in &target.exceptions {
                let have = current
                    .exceptions
                    .iter()
                    .find(|(k, _)| k == key)
                    .map_or(0, |(_, b)| *b);
                if bits & !have != 0 {
                    let rule = format!("{key} {}", access_str(bits & !have));
                    write(&dir.join("devices.allow"), &rule)?;
                }
            }
            return Ok(());
        }
    }
    for w in writes {
        write(&dir.join(&w.file), &w.value)?;
    }
    Ok(())
}

/// Block IO weights live in blkio.weight with CFQ and in blkio.bfq.weight with BFQ (the only
/// proportional scheduler of current kernels): runc writes whichever the host has.
fn blkio_file(dir: &Path, file: &str) -> String {
    match file {
        "blkio.weight" | "blkio.weight_device" if !dir.join(file).exists() => {
            file.replacen("blkio.", "blkio.bfq.", 1)
        }
        _ => file.to_string(),
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
            crate::add_pid(dir, pid)?;
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
        let value = |file: &str| {
            writes
                .iter()
                .find(|w| w.file == file)
                .map(|w| w.value.as_str())
        };
        if value(LIMIT).is_some() || value(MEMSW).is_some() {
            set_memory_and_swap(self.require("memory")?, value(LIMIT), value(MEMSW))?;
        }
        let devices: Vec<&render::Write> = writes
            .iter()
            .filter(|w| w.controller == "devices")
            .collect();
        if !devices.is_empty() {
            set_devices(self.require("devices")?, &devices)?;
        }
        for w in writes
            .iter()
            .filter(|w| w.file != LIMIT && w.file != MEMSW && w.controller != "devices")
        {
            let dir = match self.require(w.controller) {
                Ok(d) => d,
                Err(_) if optional(&w.file) => continue,
                Err(e) => return Err(e),
            };
            if optional(&w.file) && !dir.join(&w.file).exists() {
                continue;
            }
            let file = if w.controller == "blkio" {
                blkio_file(dir, &w.file)
            } else {
                w.file.clone()
            };
            write(&dir.join(file), &w.value)?;
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
            Some(dir) => all_pids(dir),
            None => Ok(Vec::new()),
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
        // A hybrid host's unified hierarchy kills the whole subtree at once (runc 1.4 does
        // this too); an older kernel has no cgroup.kill there.
        if let Some(kill) = self.unified().map(|d| d.join("cgroup.kill")) {
            if signal == libc::SIGKILL && kill.exists() {
                return write(&kill, "1");
            }
        }
        let frozen = self.dir("freezer").is_some() && self.freeze().is_ok();
        for pid in self.pids()? {
            // A pid that exited meanwhile is fine.
            // A signal number rustix does not name (0, or not a signal) sends nothing, as before.
            if let (Some(pid), Some(sig)) = (
                rustix::process::Pid::from_raw(pid),
                rustix::process::Signal::from_named_raw(signal),
            ) {
                let _ = rustix::process::kill_process(pid, sig);
            }
        }
        if frozen {
            self.thaw()?;
        }
        Ok(())
    }

    fn destroy(&self) -> Result<()> {
        for (_, dir) in &self.paths {
            remove_tree(dir)?;
        }
        Ok(())
    }

    fn check_new(&self) -> Result<()> {
        for (_, dir) in &self.paths {
            check_empty(dir)?;
        }
        // A v1 freezer.state reads FROZEN (or FREEZING) when the cgroup or any ancestor is
        // frozen: the nearest level that exists tells for the container's cgroup.
        if let Some(dir) = self.dir("freezer") {
            let existing = dir.ancestors().find(|d| d.join("freezer.state").exists());
            if let Some(level) = existing {
                let state = std::fs::read_to_string(level.join("freezer.state"))
                    .map_err(|e| io("read", &level.join("freezer.state"), e))?;
                if state.trim() != "THAWED" {
                    // Name the level that was frozen, not one that is frozen through it.
                    let frozen = level
                        .ancestors()
                        .find(|a| {
                            std::fs::read_to_string(a.join("freezer.self_freezing"))
                                .is_ok_and(|s| s.trim() == "1")
                        })
                        .unwrap_or(level);
                    return Err(frozen_error(dir, frozen));
                }
            }
        }
        if let (Some(dir), Some(mount)) = (self.unified(), unified_mount()) {
            if let Some(frozen) = v2_frozen_level(&mount, dir) {
                return Err(frozen_error(dir, &frozen));
            }
        }
        Ok(())
    }

    fn handle(&self) -> Handle {
        Handle::V1 {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn state(allow_all: bool, ex: &[(&str, &str)]) -> DeviceCgroup {
        DeviceCgroup {
            allow_all,
            exceptions: ex
                .iter()
                .map(|(k, a)| (k.to_string(), access_bits(a)))
                .collect(),
        }
    }

    #[test]
    fn device_rules_as_the_kernel_keeps_them() {
        let mut cg = state(true, &[]);
        cg.apply(false, "a *:* rwm");
        assert_eq!(cg, state(false, &[]));
        cg.apply(true, "c 1:3 rw");
        cg.apply(true, "c 1:3 m");
        cg.apply(true, "c *:* m");
        assert_eq!(cg, state(false, &[("c 1:3", "rwm"), ("c *:*", "m")]));
        cg.apply(false, "c 1:3 w");
        assert_eq!(cg, state(false, &[("c 1:3", "rm"), ("c *:*", "m")]));
        cg.apply(false, "c 1:3 rm");
        assert_eq!(cg, state(false, &[("c *:*", "m")]));
        cg.apply(true, "a");
        assert_eq!(cg, state(true, &[]));
    }
}
