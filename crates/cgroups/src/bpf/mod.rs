//! The cgroup v2 device controller. cgroup2 has no devices.allow/deny files: device access is
//! decided by BPF_PROG_TYPE_CGROUP_DEVICE programs attached to the cgroup. [`program`] turns
//! the config's rules into instructions (pure); [`load`] holds the bpf(2) calls (they live in
//! the crate's `sys` module, with the crate's other unsafe code).
//!
//! The rules arrive complete: the runtime has already appended runc's default rules (null,
//! zero, tty, ...) after the config's own, for v1 and v2 alike. Nothing here adds to them.

pub use crate::sys::bpf as load;
pub mod program;

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::{io, Error, Result};

fn open_dir(dir: &Path) -> Result<File> {
    File::open(dir).map_err(|e| io("open", dir, e))
}

/// Puts the program for `devices` on the cgroup at `dir`, replacing hull's earlier one.
///
/// As runc does, the new program is attached first and the old ones are detached after, so
/// there is never a moment without a filter (for that moment both apply and both must
/// allow). Only programs loaded by hull are detached: one someone else attached can only
/// restrict further, and is theirs to remove.
pub fn set_devices(dir: &Path, devices: &[LinuxDeviceCgroup]) -> Result<()> {
    let insns = program::build(&program::rules(devices)?);
    let prog = load::load(&insns).map_err(|e| io("load the device filter for", dir, e))?;
    let cgroup = open_dir(dir)?;
    let old = hull_programs(&cgroup, dir)?;
    load::attach(cgroup.as_fd(), prog.as_fd())
        .map_err(|e| io("attach the device filter to", dir, e))?;
    for (_, old) in old {
        match load::detach(cgroup.as_fd(), old.as_fd()) {
            // Detached meanwhile: that is what we wanted.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            r => r.map_err(|e| io("detach the previous device filter from", dir, e))?,
        }
    }
    Ok(())
}

/// The ids of, and handles on, the hull device programs attached to the cgroup itself.
fn hull_programs(cgroup: &File, dir: &Path) -> Result<Vec<(u32, OwnedFd)>> {
    let ids = load::query(cgroup.as_fd()).map_err(|e| io("list the device filters of", dir, e))?;
    let mut out = Vec::new();
    for id in ids {
        let prog = match load::open(id) {
            Ok(p) => p,
            // Gone since the query, or kept from us by an LSM policy (systemd's programs on
            // some distributions): either way not one of ours to replace.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::EPERM | libc::EACCES)
                ) =>
            {
                continue
            }
            Err(e) => return Err(io("open a device filter attached to", dir, e)),
        };
        if load::info(prog.as_fd()).is_ok_and(|(_, name)| name == load::PROG_NAME) {
            out.push((id, prog));
        }
    }
    Ok(out)
}

/// The ids of hull's device programs attached to the cgroup at `dir`.
pub fn attached(dir: &Path) -> Result<Vec<u32>> {
    let cgroup = open_dir(dir)?;
    Ok(hull_programs(&cgroup, dir)?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

/// Loads the program for `devices` without attaching it anywhere: the kernel verifier's
/// verdict on it, with its log when it says no.
pub fn check(devices: &[LinuxDeviceCgroup]) -> Result<()> {
    let insns = program::build(&program::rules(devices)?);
    load::load(&insns)
        .map(drop)
        .map_err(|e| Error::Invalid(format!("the kernel refused the device filter: {e}")))
}

/// Whether a failure to set the device program may be ignored: inside a user namespace,
/// as runc and crun decide, since bpf(2) is out of reach there and the namespace already
/// keeps the container from making device nodes. (runc also lets it go when every rule
/// allows rwm; hull does not, because the program also refuses every device not listed.)
pub fn can_skip_error() -> bool {
    in_user_namespace()
}

fn in_user_namespace() -> bool {
    // The initial namespace maps every uid onto itself.
    std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
}
