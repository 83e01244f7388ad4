//! Capability sets of the container process (`process.capabilities`).
//!
//! Init runs as root with every capability. The order matters and follows runc:
//! 1. [`drop_bounding`] while init still has CAP_SETPCAP, before switching user;
//! 2. init sets PR_SET_KEEPCAPS, switches uid/gid, clears KEEPCAPS;
//! 3. [`apply`]: effective, permitted and inheritable in one capset(2), then ambient;
//! 4. with seccomp and no no_new_privs, CAP_SYS_ADMIN stays until the filter is in, then
//!    [`finish`] drops it: the filter is the last step before execve either way.
//!
//! Capabilities the running kernel does not know (newer than cap_last_cap) are
//! skipped, as runc skips them: the profile may come from a newer engine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};
use rustix::thread::{self, CapabilitySet, CapabilitySets};

use crate::{Context, Result};

/// Every capability hull knows, by kernel number.
const NAMES: &[&str] = &[
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

/// For `features`: every CAP_* name hull knows.
pub fn known() -> Vec<String> {
    NAMES.iter().map(|s| s.to_string()).collect()
}

/// The kernel number of a capability.
pub fn number(cap: Capability) -> u32 {
    // oci-spec serializes a capability as its CAP_* name.
    let name = match serde_json::to_value(cap) {
        Ok(serde_json::Value::String(s)) => s,
        _ => unreachable!("a capability serializes to its name"),
    };
    NAMES
        .iter()
        .position(|n| *n == name)
        .expect("NAMES lists every capability oci-spec knows") as u32
}

/// The kernel's highest capability number, found by asking the bounding set about
/// each number until the kernel answers EINVAL (no /proc needed, so this works
/// after pivot_root too). The same pass reads the bounding set, which is kept (and updated
/// by [`drop_bounding`]) rather than asked for again: init needs it twice more.
pub fn last_cap() -> u32 {
    static LAST: OnceLock<u32> = OnceLock::new();
    *LAST.get_or_init(|| {
        let mut last = 0;
        let mut bounding = 0u64;
        for n in 0..64u32 {
            match thread::capability_is_in_bounding_set(CapabilitySet::from_bits_retain(1 << n)) {
                Ok(held) => {
                    last = n;
                    bounding |= u64::from(held) << n;
                }
                Err(_) => break,
            }
        }
        BOUNDING.store(bounding, Ordering::Relaxed);
        last
    })
}

/// This process's bounding set, as read by [`last_cap`] less what [`drop_bounding`] removed
/// since (only hull changes it, and a fork inherits it with the memory).
static BOUNDING: AtomicU64 = AtomicU64::new(0);

/// A capability list as a kernel bit set, without the capabilities the kernel lacks.
fn set_of(caps: &Option<Capabilities>) -> CapabilitySet {
    let last = last_cap();
    let bits = caps
        .iter()
        .flatten()
        .map(|&c| number(c))
        .filter(|&n| n <= last)
        .fold(0u64, |acc, n| acc | (1 << n));
    CapabilitySet::from_bits_retain(bits)
}

fn name(n: u32) -> &'static str {
    NAMES.get(n as usize).copied().unwrap_or("CAP_?")
}

/// Remove from the bounding set every capability `caps.bounding` does not list. Needs
/// CAP_SETPCAP, so init calls it before it switches user.
pub fn drop_bounding(caps: &LinuxCapabilities) -> Result<()> {
    let keep = set_of(caps.bounding());
    for n in 0..=last_cap() {
        let cap = CapabilitySet::from_bits_retain(1 << n);
        if keep.contains(cap) {
            continue;
        }
        thread::remove_capability_from_bounding_set(cap)
            .with_ctx(|| format!("drop {} from the bounding set", name(n)))?;
        BOUNDING.fetch_and(!(1u64 << n), Ordering::Relaxed);
    }
    Ok(())
}

/// Set the effective, permitted and inheritable sets in one capset(2) (setting them
/// one by one could fail on the way, e.g. effective above permitted), then the ambient set:
/// `caps.ambient` limited to what is both permitted and inheritable. The kernel refuses
/// anything else, and runc's own default spec lists ambient capabilities without
/// inheritable ones: runc leaves those out, so the same configs run the same here.
///
/// `keep` is held in the effective and permitted sets on top of the config's (CAP_SYS_ADMIN
/// to load a seccomp filter without no_new_privs, as the last step before execve). When it
/// adds anything, the sets to end with are returned, for [`finish`] after that step.
pub fn apply(caps: &LinuxCapabilities, keep: CapabilitySet) -> Result<Option<CapabilitySets>> {
    let mut sets = CapabilitySets {
        effective: set_of(caps.effective()),
        permitted: set_of(caps.permitted()),
        inheritable: set_of(caps.inheritable()),
    };
    let held = grantable_only(&mut sets)?;
    let keep = keep & held;
    let extra = keep - (sets.effective & sets.permitted);
    let now = CapabilitySets {
        effective: sets.effective | extra,
        permitted: sets.permitted | extra,
        inheritable: sets.inheritable,
    };
    thread::set_capabilities(None, now)
        .ctx("set the effective, permitted and inheritable capabilities")?;

    thread::clear_ambient_capability_set().ctx("clear the ambient capabilities")?;
    let ambient = set_of(caps.ambient()) & sets.permitted & sets.inheritable;
    for n in 0..=last_cap() {
        let cap = CapabilitySet::from_bits_retain(1 << n);
        if !ambient.contains(cap) {
            continue;
        }
        thread::configure_capability_in_ambient_set(cap, true)
            .with_ctx(|| format!("raise ambient {}", name(n)))?;
    }
    Ok((!extra.is_empty()).then_some(sets))
}

/// Drops what [`apply`] kept beyond the config: one capset(2), nothing allocated, so it can
/// follow the seccomp filter. Lowering the permitted set leaves the ambient set alone (it
/// only ever holds capabilities the config permits).
pub fn finish(sets: CapabilitySets) -> Result<()> {
    thread::set_capabilities(None, sets).ctx("drop the capabilities kept for seccomp")
}

/// Whether `caps` leaves the process CAP_SYS_ADMIN (effective and permitted).
pub fn grants_sys_admin(caps: &LinuxCapabilities) -> bool {
    let admin = CapabilitySet::SYS_ADMIN;
    set_of(caps.effective()).contains(admin) && set_of(caps.permitted()).contains(admin)
}

/// What of `caps` this process cannot grant: a runtime whose own bounding set lacks a
/// capability (e.g. CAP_SYS_RESOURCE on some hosts) cannot give it. `bounding` is the bounding
/// set the process will have.
fn ungrantable(sets: &CapabilitySets, bounding: CapabilitySet) -> Result<CapabilitySet> {
    let held = thread::capabilities(None)
        .ctx("read the capabilities")?
        .permitted;
    Ok(((sets.effective | sets.permitted) - held) | (sets.inheritable - bounding))
}

fn current_bounding() -> CapabilitySet {
    last_cap();
    CapabilitySet::from_bits_retain(BOUNDING.load(Ordering::Relaxed))
}

/// Logs a warning for each capability of `caps` that [`apply`] will leave out. The spec: such
/// capabilities MUST be logged as a warning and runtimes SHOULD NOT fail. Called by init and
/// exec before they close the runtime's fds (the log file among them), while still root.
pub fn warn_ungrantable(caps: &LinuxCapabilities) -> Result<()> {
    let sets = CapabilitySets {
        effective: set_of(caps.effective()),
        permitted: set_of(caps.permitted()),
        inheritable: set_of(caps.inheritable()),
    };
    // The bounding set after [`drop_bounding`].
    let bounding = current_bounding() & set_of(caps.bounding());
    let lacking = ungrantable(&sets, bounding)?;
    for n in 0..=last_cap() {
        if lacking.contains(CapabilitySet::from_bits_retain(1 << n)) {
            crate::log::warn(&format!("{} cannot be granted: left out", name(n)));
        }
    }
    Ok(())
}

/// Leaves out what this process cannot grant ([`warn_ungrantable`] said which); returns what
/// it holds.
fn grantable_only(sets: &mut CapabilitySets) -> Result<CapabilitySet> {
    let held = thread::capabilities(None)
        .ctx("read the capabilities")?
        .permitted;
    sets.effective &= held;
    sets.permitted &= held;
    sets.inheritable &= current_bounding();
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::testutil::{in_child, is_root, skip, Outcome};

    fn caps(list: &[Capability]) -> Capabilities {
        list.iter().copied().collect()
    }

    #[test]
    fn names_match_kernel_numbers() {
        assert_eq!(number(Capability::Chown), 0);
        assert_eq!(number(Capability::SysAdmin), 21);
        assert_eq!(number(Capability::CheckpointRestore), 40);
        // Every name round-trips through oci-spec's parser.
        for (i, n) in NAMES.iter().enumerate() {
            let c: Capability = serde_json::from_value(serde_json::json!(n)).unwrap();
            assert_eq!(number(c) as usize, i, "{n}");
        }
        assert_eq!(known().len(), NAMES.len());
    }

    /// The bounding set as the kernel answers it, one capability at a time.
    fn asked() -> CapabilitySet {
        (0..=last_cap())
            .map(|n| CapabilitySet::from_bits_retain(1 << n))
            .filter(|&c| thread::capability_is_in_bounding_set(c).unwrap())
            .fold(CapabilitySet::empty(), |a, c| a | c)
    }

    #[test]
    fn kept_bounding_set_is_the_kernels() {
        assert_eq!(current_bounding(), asked());
    }

    /// The same after a drop (in a child: the drop is for good).
    #[test]
    fn kept_bounding_set_is_the_kernels_after_a_drop() {
        if !is_root() {
            return skip("dropping from the bounding set needs root (CAP_SETPCAP)");
        }
        let outcome = in_child(|| {
            let mut caps = LinuxCapabilities::default();
            caps.set_bounding(Some([Capability::Chown, Capability::Kill].into()));
            drop_bounding(&caps).map_err(|e| e.to_string())?;
            if current_bounding() != asked() || asked() != set_of(caps.bounding()) {
                return Err(format!("{:?} {:?}", current_bounding(), asked()));
            }
            Ok(String::new())
        });
        assert!(matches!(outcome, Outcome::Exited(_)), "{outcome:?}");
    }

    #[test]
    fn last_cap_matches_proc() {
        let proc: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(last_cap(), proc);
    }

    /// Root keeps uid 0 but loses CAP_CHOWN: chown to another owner must fail.
    #[test]
    fn dropped_capability_is_enforced() {
        if !is_root() {
            return skip("dropping from the bounding set needs root (CAP_SETPCAP)");
        }
        let dir = tempdir();
        let file = dir.join("f");
        std::fs::write(&file, b"x").unwrap();
        let keep = caps(&[Capability::Kill, Capability::Setpcap]);
        let mut lc = LinuxCapabilities::default();
        lc.set_bounding(Some(keep.clone()));
        lc.set_effective(Some(keep.clone()));
        lc.set_permitted(Some(keep.clone()));
        lc.set_inheritable(Some(caps(&[])));
        lc.set_ambient(Some(caps(&[])));
        let f2 = file.clone();
        let out = in_child(move || {
            drop_bounding(&lc).map_err(|e| e.to_string())?;
            apply(&lc, CapabilitySet::empty()).map_err(|e| e.to_string())?;
            let now = thread::capabilities(None).map_err(|e| e.to_string())?;
            let bound_chown = thread::capability_is_in_bounding_set(CapabilitySet::CHOWN)
                .map_err(|e| e.to_string())?;
            let chown = rustix::fs::chown(&f2, Some(rustix::fs::Uid::from_raw(1234)), None);
            let chown_eperm = chown == Err(rustix::io::Errno::PERM);
            Ok(format!(
                "eff={:#x} perm={:#x} inh={:#x} bound_chown={bound_chown} chown_eperm={chown_eperm}",
                now.effective.bits(),
                now.permitted.bits(),
                now.inheritable.bits()
            ))
        });
        std::fs::remove_dir_all(&dir).unwrap();
        let want = (1u64 << 5) | (1 << 8);
        assert_eq!(
            out,
            Outcome::Exited(format!(
                "eff={want:#x} perm={want:#x} inh=0x0 bound_chown=false chown_eperm=true"
            ))
        );
    }

    /// The full sequence for a non-root user: bounding, keepcaps, setuid, apply. An
    /// ambient capability must survive execve of an ordinary binary.
    #[test]
    fn ambient_capability_survives_execve_as_non_root() {
        if !is_root() {
            return skip("needs root to drop capabilities and switch to uid 1000");
        }
        let set = caps(&[Capability::NetBindService, Capability::Chown]);
        let mut lc = LinuxCapabilities::default();
        lc.set_bounding(Some(set.clone()));
        lc.set_effective(Some(set.clone()));
        lc.set_permitted(Some(set.clone()));
        lc.set_inheritable(Some(set.clone()));
        lc.set_ambient(Some(caps(&[Capability::NetBindService])));
        let out = crate::security::testutil::exec_in_child(
            move || {
                drop_bounding(&lc).map_err(|e| e.to_string())?;
                thread::set_keep_capabilities(true).map_err(|e| e.to_string())?;
                crate::sys::process::set_res_gid(1000).map_err(|e| e.to_string())?;
                crate::sys::process::set_res_uid(1000).map_err(|e| e.to_string())?;
                thread::set_keep_capabilities(false).map_err(|e| e.to_string())?;
                apply(&lc, CapabilitySet::empty())
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            },
            &["/bin/busybox", "grep", "^Cap", "/proc/self/status"],
        );
        // After execve as uid 1000: ambient NET_BIND_SERVICE (bit 10) becomes
        // permitted and effective; CHOWN (bit 0) stays only inheritable.
        let want = "CapInh:\t0000000000000401\nCapPrm:\t0000000000000400\nCapEff:\t0000000000000400\nCapBnd:\t0000000000000401\nCapAmb:\t0000000000000400\n";
        assert_eq!(out, Outcome::Exited(want.to_string()));
    }

    /// CAP_SYS_ADMIN kept through the user switch for the seccomp filter, then dropped by
    /// `finish`, leaving the config's sets (and the ambient one) as they would have been.
    #[test]
    fn kept_capability_is_dropped_by_finish() {
        if !is_root() {
            return skip("needs root to drop capabilities and switch to uid 1000");
        }
        let set = caps(&[Capability::NetBindService]);
        let mut lc = LinuxCapabilities::default();
        lc.set_bounding(Some(set.clone()));
        lc.set_effective(Some(set.clone()));
        lc.set_permitted(Some(set.clone()));
        lc.set_inheritable(Some(set.clone()));
        lc.set_ambient(Some(set.clone()));
        assert!(!grants_sys_admin(&lc));
        let out = in_child(move || {
            drop_bounding(&lc).map_err(|e| e.to_string())?;
            thread::set_keep_capabilities(true).map_err(|e| e.to_string())?;
            crate::sys::process::set_res_uid(1000).map_err(|e| e.to_string())?;
            thread::set_keep_capabilities(false).map_err(|e| e.to_string())?;
            let after = apply(&lc, CapabilitySet::SYS_ADMIN)
                .map_err(|e| e.to_string())?
                .ok_or("nothing kept")?;
            let kept = thread::capabilities(None).map_err(|e| e.to_string())?;
            finish(after).map_err(|e| e.to_string())?;
            let now = thread::capabilities(None).map_err(|e| e.to_string())?;
            let amb = thread::capability_is_in_ambient_set(CapabilitySet::NET_BIND_SERVICE)
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "kept={:#x} now={:#x}/{:#x} ambient={amb}",
                kept.effective.bits(),
                now.effective.bits(),
                now.permitted.bits()
            ))
        });
        let nbs = 1u64 << 10;
        let admin = 1u64 << 21;
        assert_eq!(
            out,
            Outcome::Exited(format!(
                "kept={:#x} now={nbs:#x}/{nbs:#x} ambient=true",
                nbs | admin
            ))
        );
    }

    #[test]
    fn ambient_outside_inheritable_is_left_out_as_runc_does() {
        if !is_root() {
            return skip("needs root to hold CAP_NET_RAW");
        }
        let mut lc = LinuxCapabilities::default();
        lc.set_bounding(Some(caps(&[Capability::NetRaw])));
        lc.set_effective(Some(caps(&[Capability::NetRaw])));
        lc.set_permitted(Some(caps(&[Capability::NetRaw])));
        lc.set_inheritable(Some(caps(&[])));
        lc.set_ambient(Some(caps(&[Capability::NetRaw])));
        let out = in_child(move || {
            apply(&lc, CapabilitySet::empty()).map_err(|e| e.to_string())?;
            let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
            Ok(status
                .lines()
                .filter(|l| l.starts_with("CapAmb") || l.starts_with("CapPrm"))
                .collect::<Vec<_>>()
                .join("\n"))
        });
        assert_eq!(
            out,
            Outcome::Exited("CapPrm:\t0000000000002000\nCapAmb:\t0000000000000000".to_string())
        );
    }

    fn tempdir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "hull-caps-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
