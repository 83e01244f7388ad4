//! process.scheduler and process.ioPriority: how the kernel schedules a container's process.
//! `check` runs before anything exists (create, and exec for its process.json), so that what the kernel would refuse for a reason the config shows fails
//! with the field named; `apply` runs in the container's process just before the user switch
//! (it needs the runtime's privileges, CAP_SYS_NICE for real-time policies, and must precede
//! a seccomp filter that may forbid these calls). process.execCPUAffinity is the runtime's,
//! around the process's move into the container's cgroup (`process::affinity`).

use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler,
};

use crate::sys::sched::SchedAttr;
use crate::{Context, Error, Result};

/// Scheduling policies: the spec's name and the kernel's number (none: Linux has no
/// SCHED_ISO, which the spec lists).
pub const POLICIES: &[(LinuxSchedulerPolicy, &str, Option<u32>)] = &[
    (LinuxSchedulerPolicy::SchedOther, "SCHED_OTHER", Some(0)),
    (LinuxSchedulerPolicy::SchedFifo, "SCHED_FIFO", Some(1)),
    (LinuxSchedulerPolicy::SchedRr, "SCHED_RR", Some(2)),
    (LinuxSchedulerPolicy::SchedBatch, "SCHED_BATCH", Some(3)),
    (LinuxSchedulerPolicy::SchedIso, "SCHED_ISO", None),
    (LinuxSchedulerPolicy::SchedIdle, "SCHED_IDLE", Some(5)),
    (
        LinuxSchedulerPolicy::SchedDeadline,
        "SCHED_DEADLINE",
        Some(6),
    ),
];

/// Scheduling flags: the spec's name, oci-spec's variant, the kernel's bit. oci-spec 0.10
/// serialises two variants under other names (SCHED_RESET_ON_FORK, SCHED_FLAG_D_L_OVERRUN);
/// config loading reads the spec's names through this table (`spec::parse`).
pub const FLAGS: &[(&str, LinuxSchedulerFlag, u64)] = &[
    (
        "SCHED_FLAG_RESET_ON_FORK",
        LinuxSchedulerFlag::SchedResetOnFork,
        0x01,
    ),
    (
        "SCHED_FLAG_RECLAIM",
        LinuxSchedulerFlag::SchedFlagReclaim,
        0x02,
    ),
    (
        "SCHED_FLAG_DL_OVERRUN",
        LinuxSchedulerFlag::SchedFlagDLOverrun,
        0x04,
    ),
    (
        "SCHED_FLAG_KEEP_POLICY",
        LinuxSchedulerFlag::SchedFlagKeepPolicy,
        0x08,
    ),
    (
        "SCHED_FLAG_KEEP_PARAMS",
        LinuxSchedulerFlag::SchedFlagKeepParams,
        0x10,
    ),
    (
        "SCHED_FLAG_UTIL_CLAMP_MIN",
        LinuxSchedulerFlag::SchedFlagUtilClampMin,
        0x20,
    ),
    (
        "SCHED_FLAG_UTIL_CLAMP_MAX",
        LinuxSchedulerFlag::SchedFlagUtilClampMax,
        0x40,
    ),
];

/// I/O scheduling classes and their kernel numbers (IOPRIO_CLASS_*).
pub const IO_CLASSES: &[(IOPriorityClass, &str, u32)] = &[
    (IOPriorityClass::IoprioClassRt, "IOPRIO_CLASS_RT", 1),
    (IOPriorityClass::IoprioClassBe, "IOPRIO_CLASS_BE", 2),
    (IOPriorityClass::IoprioClassIdle, "IOPRIO_CLASS_IDLE", 3),
];

/// The smallest SCHED_DEADLINE runtime the kernel takes (1 << DL_SCALE ns).
const DL_MIN_RUNTIME: u64 = 1 << 10;

fn policy(s: &Scheduler) -> (&'static str, Option<u32>) {
    POLICIES
        .iter()
        .find(|(p, ..)| p == s.policy())
        .map(|(_, name, n)| (*name, *n))
        .expect("every policy is in the table")
}

fn flag_bits(s: &Scheduler) -> u64 {
    s.flags()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|f| {
            FLAGS
                .iter()
                .find(|(_, v, _)| v == f)
                .map(|(.., bit)| *bit)
                .expect("every flag is in the table")
        })
        .fold(0, |a, b| a | b)
}

/// Checks process.scheduler and process.ioPriority.
pub fn check(scheduler: Option<&Scheduler>, io: Option<&LinuxIOPriority>) -> Result<()> {
    if let Some(s) = scheduler {
        check_scheduler(s)?;
    }
    if let Some(io) = io {
        // runc's range for every class; the kernel ignores the level of the idle class.
        if !(0..=7).contains(&io.priority()) {
            return Err(Error::invalid(format!(
                "process.ioPriority.priority {}: must be between 0 and 7",
                io.priority()
            )));
        }
    }
    Ok(())
}

/// sched_setattr(2)'s rules, as far as the config alone decides them (the kernel checks the
/// rest when init applies it: permissions, bandwidth). runc 1.4 checks the same, except that
/// it takes `nice` with a policy that ignores it; hull refuses what it cannot apply.
fn check_scheduler(s: &Scheduler) -> Result<()> {
    let (name, number) = policy(s);
    let Some(number) = number else {
        return Err(Error::invalid(format!(
            "process.scheduler.policy {name}: Linux has no such policy"
        )));
    };
    let nice = s.nice().unwrap_or(0);
    if nice != 0 && !matches!(name, "SCHED_OTHER" | "SCHED_BATCH") {
        return Err(Error::invalid(format!(
            "process.scheduler.nice {nice}: only SCHED_OTHER and SCHED_BATCH have a nice value, not {name}"
        )));
    }
    if !(-20..=19).contains(&nice) {
        return Err(Error::invalid(format!(
            "process.scheduler.nice {nice}: must be between -20 and 19"
        )));
    }
    let priority = s.priority().unwrap_or(0);
    if matches!(name, "SCHED_FIFO" | "SCHED_RR") {
        let (min, max) = crate::sys::sched::priority_range(number)
            .with_ctx(|| format!("process.scheduler.policy {name}: priority range"))?;
        if !(min..=max).contains(&priority) {
            return Err(Error::invalid(format!(
                "process.scheduler.priority {priority}: {name} needs a priority between {min} and {max}"
            )));
        }
    } else if priority != 0 {
        return Err(Error::invalid(format!(
            "process.scheduler.priority {priority}: only SCHED_FIFO and SCHED_RR have a static priority, not {name}"
        )));
    }
    let (runtime, deadline, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if name != "SCHED_DEADLINE" {
        if runtime != 0 || deadline != 0 || period != 0 {
            return Err(Error::invalid(format!(
                "process.scheduler: runtime, deadline and period are only for SCHED_DEADLINE, not {name}"
            )));
        }
        return Ok(());
    }
    if runtime < DL_MIN_RUNTIME {
        return Err(Error::invalid(format!(
            "process.scheduler.runtime {runtime}: SCHED_DEADLINE needs at least {DL_MIN_RUNTIME} ns"
        )));
    }
    if deadline < runtime {
        return Err(Error::invalid(format!(
            "process.scheduler.deadline {deadline}: must not be less than runtime {runtime}"
        )));
    }
    if period != 0 && period < deadline {
        return Err(Error::invalid(format!(
            "process.scheduler.period {period}: must not be less than deadline {deadline}"
        )));
    }
    Ok(())
}

/// The kernel's form of a checked process.scheduler.
pub fn sched_attr(s: &Scheduler) -> SchedAttr {
    SchedAttr {
        sched_policy: policy(s).1.unwrap_or_default(),
        sched_flags: flag_bits(s),
        sched_nice: s.nice().unwrap_or(0),
        sched_priority: s.priority().unwrap_or(0) as u32,
        sched_runtime: s.runtime().unwrap_or(0),
        sched_deadline: s.deadline().unwrap_or(0),
        sched_period: s.period().unwrap_or(0),
        ..Default::default()
    }
}

/// ioprio_set's value: the class in the top bits, the level below (IOPRIO_PRIO_VALUE).
pub fn ioprio_value(io: &LinuxIOPriority) -> u32 {
    let class = IO_CLASSES
        .iter()
        .find(|(c, ..)| *c == io.class())
        .map(|(.., n)| *n)
        .expect("every class is in the table");
    (class << 13) | io.priority() as u32
}

/// Applies process.scheduler and process.ioPriority to the calling process.
pub fn apply(scheduler: Option<&Scheduler>, io: Option<&LinuxIOPriority>) -> Result<()> {
    if let Some(s) = scheduler {
        crate::sys::sched::sched_setattr(&sched_attr(s)).with_ctx(|| {
            format!(
                "process.scheduler: sched_setattr {} (flags {:#x}, nice {}, priority {}, runtime {}, deadline {}, period {})",
                policy(s).0,
                flag_bits(s),
                s.nice().unwrap_or(0),
                s.priority().unwrap_or(0),
                s.runtime().unwrap_or(0),
                s.deadline().unwrap_or(0),
                s.period().unwrap_or(0),
            )
        })?;
    }
    if let Some(io) = io {
        crate::sys::sched::ioprio_set(ioprio_value(io)).with_ctx(|| {
            format!(
                "process.ioPriority: ioprio_set {} level {}",
                IO_CLASSES
                    .iter()
                    .find(|(c, ..)| *c == io.class())
                    .map(|(_, n, _)| *n)
                    .unwrap_or_default(),
                io.priority()
            )
        })?;
    }
    Ok(())
}

/// A CPU (or NUMA node) list as the spec writes it, "0-3,7", as the numbers it names.
pub fn parse_list(list: &str) -> std::result::Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in list.split(',') {
        let part = part.trim();
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("{s:?} is not a number"))
        };
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(part)?;
                (n, n)
            }
        };
        if a > b {
            return Err(format!("range {part:?} runs backwards"));
        }
        out.extend(a..=b);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(v: serde_json::Value) -> Scheduler {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn lists_parse_as_the_spec_writes_them() {
        assert_eq!(parse_list("0-3,7").unwrap(), vec![0, 1, 2, 3, 7]);
        assert_eq!(parse_list("5").unwrap(), vec![5]);
        for bad in ["", "a", "3-1", "1,,2", "-1"] {
            assert!(parse_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scheduler_rules() {
        let ok = |v| check_scheduler(&sched(v)).is_ok();
        assert!(ok(serde_json::json!({"policy": "SCHED_OTHER", "nice": 5})));
        assert!(ok(
            serde_json::json!({"policy": "SCHED_BATCH", "nice": -20})
        ));
        assert!(ok(serde_json::json!({"policy": "SCHED_IDLE"})));
        assert!(ok(
            serde_json::json!({"policy": "SCHED_FIFO", "priority": 10})
        ));
        assert!(ok(
            serde_json::json!({"policy": "SCHED_RR", "priority": 99})
        ));
        assert!(ok(
            serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 10000000, "deadline": 20000000, "period": 40000000})
        ));
        for bad in [
            serde_json::json!({"policy": "SCHED_ISO"}),
            serde_json::json!({"policy": "SCHED_OTHER", "nice": 20}),
            serde_json::json!({"policy": "SCHED_FIFO", "nice": 1, "priority": 1}),
            serde_json::json!({"policy": "SCHED_FIFO"}),
            serde_json::json!({"policy": "SCHED_RR", "priority": 100}),
            serde_json::json!({"policy": "SCHED_OTHER", "priority": 1}),
            serde_json::json!({"policy": "SCHED_BATCH", "runtime": 1}),
            serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 100, "deadline": 1000}),
            serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 2000, "deadline": 1000}),
            serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 2000, "deadline": 4000, "period": 3000}),
        ] {
            let err = check_scheduler(&sched(bad.clone()))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("process.scheduler"), "{bad}: {err}");
        }
    }

    #[test]
    fn kernel_values() {
        let s = sched(
            serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 1, "deadline": 2, "period": 3}),
        );
        let mut s2 = s.clone();
        s2.set_flags(Some(vec![
            LinuxSchedulerFlag::SchedResetOnFork,
            LinuxSchedulerFlag::SchedFlagDLOverrun,
        ]));
        let a = sched_attr(&s2);
        assert_eq!((a.sched_policy, a.sched_flags), (6, 0x05));
        assert_eq!(
            (a.sched_runtime, a.sched_deadline, a.sched_period),
            (1, 2, 3)
        );
        let io: LinuxIOPriority =
            serde_json::from_value(serde_json::json!({"class": "IOPRIO_CLASS_RT", "priority": 3}))
                .unwrap();
        assert_eq!(ioprio_value(&io), (1 << 13) | 3);
        assert_eq!(SchedAttr::SIZE, 56);
    }
}
