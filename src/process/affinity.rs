//! CPU affinity of the container's processes, as runc 1.2+ sets it.
//!
//! A process inherits the affinity of whoever forked it, and the runtime may run pinned (a
//! systemd unit's CPUAffinity=, `taskset`). Since Linux 6.2 joining a cpuset cgroup no longer
//! widens it, so runc resets init's affinity, and an exec'd process's, to every CPU once the
//! process is in its cgroup; the kernel clamps that to the CPUs the cgroup allows.
//! `process.execCPUAffinity` (runtime-spec 1.2, exec only) changes it for exec: `initial` is
//! where the process runs before it joins the cgroup, `final` where it runs after; with
//! `initial` alone the affinity is left as the kernel makes it.

use rustix::process::Pid;
use rustix::thread::{sched_setaffinity, CpuSet};

use crate::{Context, Error, Result};

/// Every CPU the kernel can name: the kernel keeps those online and in the cgroup's cpuset.
fn all() -> CpuSet {
    let mut set = CpuSet::new();
    for cpu in 0..CpuSet::MAX_CPU {
        set.set(cpu);
    }
    set
}

/// A CPU list as the spec writes it: "0-3,7".
pub fn parse(list: &str) -> std::result::Result<CpuSet, String> {
    let mut set = CpuSet::new();
    for part in list.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("{list:?}: {s:?} is not a CPU number"))
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi || hi >= CpuSet::MAX_CPU {
            return Err(format!("{list:?}: bad CPU range {part:?}"));
        }
        for cpu in lo..=hi {
            set.set(cpu);
        }
    }
    Ok(set)
}

fn pid(pid: i32) -> Pid {
    Pid::from_raw(pid).expect("a child's pid is positive")
}

/// Init, in its cgroup: every CPU. A failure is only a warning, as runc's is.
pub fn reset(child: i32) {
    if let Err(e) = sched_setaffinity(Some(pid(child)), &all()) {
        crate::log::warn(&format!(
            "resetting the CPU affinity of pid {child} failed ({e}): the container process may inherit the runtime's"
        ));
    }
}

/// A CPU list the plan checked (non-empty lists only): the list as written, and its CPUs.
fn cpus(list: Option<&str>) -> Result<Option<(&str, CpuSet)>> {
    match list {
        Some(list) => Ok(Some((list, parse(list).map_err(Error::invalid)?))),
        None => Ok(None),
    }
}

/// The runtime itself, before it joins the container's namespaces for exec: on the CPUs
/// `execCPUAffinity.initial` names, so that its steps inside the container (the joins, the
/// fork) run there too, not only the exec'd process until its cgroup move.
pub fn runtime_initial(initial: Option<&str>) -> Result<()> {
    if let Some((list, set)) = cpus(initial)? {
        sched_setaffinity(None, &set)
            .with_ctx(|| format!("set the runtime's CPUs to execCPUAffinity.initial {list}"))?;
        crate::log::debug(&format!(
            "exec: the runtime runs on CPUs {list} (process.execCPUAffinity.initial)"
        ));
    }
    Ok(())
}

/// An exec'd process, before it joins the cgroup: `execCPUAffinity.initial`, if given.
pub fn exec_initial(initial: Option<&str>, child: i32) -> Result<()> {
    if let Some((list, set)) = cpus(initial)? {
        sched_setaffinity(Some(pid(child)), &set)
            .with_ctx(|| format!("set execCPUAffinity.initial {list}"))?;
    }
    Ok(())
}

/// An exec'd process, in its cgroup: `execCPUAffinity.final`; or every CPU when
/// execCPUAffinity says nothing.
pub fn exec_final(initial: Option<&str>, last: Option<&str>, child: i32) -> Result<()> {
    match (initial, cpus(last)?) {
        (_, Some((list, set))) => sched_setaffinity(Some(pid(child)), &set)
            .with_ctx(|| format!("set execCPUAffinity.final {list}")),
        // The spec: without `final` the runtime SHOULD NOT change the affinity.
        (Some(_), None) => Ok(()),
        (None, None) => {
            reset(child);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        let s = parse("0-2,5").unwrap();
        assert!(s.is_set(0) && s.is_set(1) && s.is_set(2) && s.is_set(5));
        assert!(!s.is_set(3) && !s.is_set(4) && !s.is_set(6));
        assert_eq!(parse("7").unwrap().count(), 1);
        for bad in ["", "a", "3-1", "1-", "99999"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(all().count() as usize, CpuSet::MAX_CPU);
    }
}
