//! Facts about the host the suite runs on: cgroup hierarchies, capabilities, namespaces.
//! Cases read these to decide between checking and skipping with the reason named.

use std::path::PathBuf;

/// Mount points of cgroup v1 hierarchies, by controller (or `name=` for named ones).
pub fn v1_mounts() -> Vec<(String, PathBuf)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let r: Vec<&str> = right.split(' ').collect();
        if r.first() != Some(&"cgroup") {
            continue;
        }
        let target = left.split(' ').nth(4).unwrap_or_default();
        for opt in r.get(2).unwrap_or(&"").split(',') {
            if matches!(opt, "rw" | "ro") || opt.starts_with("release_agent") {
                continue;
            }
            out.push((opt.to_string(), PathBuf::from(target)));
        }
    }
    out
}

/// The v1 hierarchy that carries `controller`, if mounted.
pub fn v1_mount(controller: &str) -> Option<PathBuf> {
    v1_mounts()
        .into_iter()
        .find(|(c, _)| c == controller)
        .map(|(_, p)| p)
}

/// Whether the host has a cgroup v1 hierarchy with `controller`.
pub fn has_v1(controller: &str) -> bool {
    v1_mount(controller).is_some()
}

/// The controllers the cgroup v2 (unified) hierarchy offers, empty when it offers none.
pub fn v2_controllers() -> Vec<String> {
    for p in [
        "/sys/fs/cgroup/cgroup.controllers",
        "/sys/fs/cgroup/unified/cgroup.controllers",
    ] {
        if let Ok(s) = std::fs::read_to_string(p) {
            return s.split_whitespace().map(String::from).collect();
        }
    }
    Vec::new()
}

/// The cgroup directory of `pid` in the v1 hierarchy carrying `controller`.
pub fn cgroup_dir(pid: i64, controller: &str) -> Option<PathBuf> {
    let mount = v1_mount(controller)?;
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        if ctrls.split(',').any(|c| c == controller) {
            return Some(mount.join(path.trim_start_matches('/')));
        }
    }
    None
}

/// The mount point of the cgroup v2 (unified) hierarchy.
pub fn v2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        right
            .starts_with("cgroup2 ")
            .then(|| PathBuf::from(left.split(' ').nth(4).unwrap_or_default()))
    })
}

/// The cgroup v2 directory of `pid`.
pub fn cgroup_dir_v2(pid: i64) -> Option<PathBuf> {
    let mount = v2_mount()?;
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(mount.join(path.trim_start_matches('/')))
}

/// The caller's own cgroup path in the hierarchy of `controller` ("/" when at the root).
pub fn own_cgroup(controller: &str) -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        // The v2 line ("0::/path") has no controllers: asked for as "".
        if ctrls.split(',').any(|c| c == controller) {
            return path.to_string();
        }
    }
    "/".into()
}

/// Whether capability number `cap` is in this process's bounding set.
pub fn has_cap(cap: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|mask| mask & (1u64 << cap) != 0)
}

pub const CAP_SYS_RESOURCE: u32 = 24;

/// The namespace link of `pid` (e.g. `net:[4026531840]`).
pub fn ns(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Whether a LSM is active on the host.
pub fn lsm_enabled(name: &str) -> bool {
    std::fs::read_to_string("/sys/kernel/security/lsm")
        .map(|s| s.split(',').any(|l| l.trim() == name))
        .unwrap_or(false)
}

/// A block device of the host as (major, minor), for blkio cases.
pub fn a_block_device() -> Option<(u32, u32)> {
    let dir = std::fs::read_dir("/sys/block").ok()?;
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("loop") || name.starts_with("ram") {
            continue;
        }
        let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
        let (ma, mi) = dev.trim().split_once(':')?;
        return Some((ma.parse().ok()?, mi.parse().ok()?));
    }
    None
}

/// Capability names in kernel bit order (capability.h).
const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Whether the host can grant capability `name` (it is in our bounding set).
pub fn can_grant(name: &str) -> bool {
    CAP_NAMES
        .iter()
        .position(|n| *n == name)
        .is_some_and(|bit| has_cap(bit as u32))
}
