//! The id maps of a new user namespace, written by the runtime for init (a process cannot map
//! itself beyond its own id). As root the maps are written directly. Unprivileged, the kernel
//! lets a process map only its own uid and gid, and only with setgroups denied; anything more
//! goes through the setuid helpers newuidmap/newgidmap, which check /etc/subuid and /etc/subgid
//! (what runc and podman do too).

use std::process::Command;

use oci_spec::runtime::LinuxIdMapping;

use crate::procfs::{Base, Proc};
use crate::{Error, Result};

/// The map file text: one `inside outside count` line per mapping.
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Whether the container's root (id 0 inside) is mapped: init then becomes it.
pub fn maps_root(maps: &[LinuxIdMapping]) -> bool {
    maps.iter().any(|m| m.container_id() == 0)
}

/// Writes uid_map and gid_map of `pid`, which was just cloned into a new user namespace.
pub fn write(pid: i32, uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<()> {
    let euid = rustix::process::geteuid();
    if euid.is_root() {
        write_map(pid, "uid_map", uids)?;
        return write_map(pid, "gid_map", gids);
    }
    let only_own = |maps: &[LinuxIdMapping], own: u32| matches!(maps, [m] if m.host_id() == own && m.size() == 1);
    if only_own(uids, euid.as_raw()) && only_own(gids, rustix::process::getegid().as_raw()) {
        // An unprivileged process may write a gid map only once setgroups is denied (else it
        // could drop a group that denies it access).
        Proc::get()?.write(proc_pid(pid), "setgroups", "deny")?;
        write_map(pid, "uid_map", uids)?;
        return write_map(pid, "gid_map", gids);
    }
    helper(pid, "newuidmap", "linux.uidMappings", uids)?;
    helper(pid, "newgidmap", "linux.gidMappings", gids)
}

fn write_map(pid: i32, file: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    Proc::get()?.write(proc_pid(pid), file, &map_text(maps))
}

/// /proc/PID of init: our child, not yet reaped, so the pid cannot have been reused.
fn proc_pid(pid: i32) -> Base {
    Base::ProcPid(pid as u32)
}

/// Runs newuidmap/newgidmap PID INSIDE OUTSIDE COUNT...
fn helper(pid: i32, tool: &str, field: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = Command::new(tool);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd.output().map_err(|e| {
        Error::Other(format!(
            "{field}: mapping more than the caller's own id needs {tool} (package uidmap): {e}"
        ))
    })?;
    if !out.status.success() {
        return Err(Error::Other(format!(
            "{field}: {tool} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    fn map(inside: u32, outside: u32, size: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(inside)
            .host_id(outside)
            .size(size)
            .build()
            .unwrap()
    }

    #[test]
    fn map_file_text() {
        let maps = [map(0, 100000, 65536), map(65536, 5000, 1)];
        assert_eq!(map_text(&maps), "0 100000 65536\n65536 5000 1\n");
        assert!(maps_root(&maps));
        assert!(!maps_root(&[map(1000, 1000, 1)]));
    }
}
