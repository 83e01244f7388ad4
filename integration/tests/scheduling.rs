//! How the kernel runs the container's processes, checked from inside by the probe:
//! process.scheduler (sched_getattr), process.ioPriority (ioprio_get), linux.personality
//! (personality(0xffffffff), uname), linux.memoryPolicy (get_mempolicy) and the CPU affinity
//! (process.execCPUAffinity and the reset into the cgroup's CPUs), for `run` and for `exec`.
//!
//! None of these is implemented by runc 1.1.5, the differential reference here (it ignores
//! the fields), so there is no differential comparison: the expected values come from the
//! runtime-spec 1.3 (config.md "Scheduler", "IOPriority", "CPU affinity"; config-linux.md
//! "Personality", "Memory policy") and runc 1.4's behaviour (libcontainer/specconv,
//! configs/validate `scheduler`/`ioPriority`, tests/integration/{scheduler,ioprio,
//! personality,cpu_affinity}.bats).

use std::process::Command;

use hull_integration::*;
use serde_json::{json, Value};

fn report(out: &std::process::Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// Runs a probe bundle with `edit` applied to its config; returns the probe's report.
fn probe_with(edit: impl FnOnce(&mut Value)) -> Value {
    let mut b = Bundle::probe(&[]);
    edit(&mut b.config);
    b.save();
    report(&Runtime::new().run(&unique("sched"), &b))
}

/// On this cgroup v1 host with RT_GROUP_SCHED a cgroup has no real-time budget unless its
/// config gives it one (runc's rule too: it writes cpu.rt_runtime_us only when asked).
fn rt_budget(c: &mut Value) {
    c["linux"]["resources"]["cpu"] = json!({"realtimeRuntime": 20000, "realtimePeriod": 1000000});
}

/// The create is refused, the message names `field`, nothing is left.
#[track_caller]
fn refused(edit: impl FnOnce(&mut Value), field: &str) {
    let mut b = Bundle::probe(&[]);
    edit(&mut b.config);
    b.save();
    let rt = Runtime::new();
    let id = unique("sched-bad");
    let out = rt.run(&id, &b);
    assert!(!out.status.success(), "{field}: accepted");
    assert!(
        stderr(&out).contains(field),
        "{field} not named in: {}",
        stderr(&out)
    );
    assert!(!rt.root.path().join(&id).exists(), "state dir left behind");
    assert!(
        !process_with(&id),
        "a process of the refused create remains"
    );
}

#[test]
fn scheduler_policies_reach_the_process() {
    // (config, policy, nice, priority, flags, runtime, deadline, period)
    let cases = [
        (json!({"policy": "SCHED_OTHER", "nice": 7}), 0, 7, 0, 0),
        (
            json!({"policy": "SCHED_BATCH", "nice": -5, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}),
            3,
            -5,
            0,
            0x01,
        ),
        (json!({"policy": "SCHED_IDLE"}), 5, 0, 0, 0),
        (json!({"policy": "SCHED_FIFO", "priority": 10}), 1, 0, 10, 0),
        (
            json!({"policy": "SCHED_RR", "priority": 20, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}),
            2,
            0,
            20,
            0x01,
        ),
    ];
    for (sched, policy, nice, priority, flags) in cases {
        let r = probe_with(|c| {
            c["process"]["scheduler"] = sched.clone();
            rt_budget(c);
        });
        let s = &r["sched"];
        assert_eq!(
            (&s["policy"], &s["nice"], &s["priority"], &s["flags"]),
            (
                &json!(policy),
                &json!(nice),
                &json!(priority),
                &json!(flags)
            ),
            "{sched} gave {s}"
        );
    }
}

#[test]
fn deadline_scheduling_reaches_the_process() {
    let r = probe_with(|c| {
        c["process"]["scheduler"] = json!({
            "policy": "SCHED_DEADLINE", "runtime": 1000000, "deadline": 10000000,
            "period": 20000000, "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN"]
        });
    });
    let s = &r["sched"];
    assert_eq!(s["policy"], 6, "{s}");
    assert_eq!(
        (&s["runtime"], &s["deadline"], &s["period"]),
        (&json!(1000000), &json!(10000000), &json!(20000000))
    );
    assert_eq!(s["flags"], 0x05, "RESET_ON_FORK | DL_OVERRUN: {s}");
}

#[test]
fn io_priority_reaches_the_process() {
    for (class, level, n) in [
        ("IOPRIO_CLASS_RT", 2, 1),
        ("IOPRIO_CLASS_BE", 6, 2),
        ("IOPRIO_CLASS_IDLE", 0, 3),
    ] {
        let r = probe_with(|c| {
            c["process"]["ioPriority"] = json!({"class": class, "priority": level});
        });
        assert_eq!(r["ioprio"], json!({"class": n, "level": level}), "{class}");
    }
}

#[test]
fn personality_sets_the_execution_domain() {
    let r = probe_with(|c| c["linux"]["personality"] = json!({"domain": "LINUX32"}));
    assert_eq!(r["personality"], 8, "PER_LINUX32");
    assert_eq!(r["machine"], "i686", "uname under LINUX32");
    let r = probe_with(|c| c["linux"]["personality"] = json!({"domain": "LINUX"}));
    assert_eq!(r["personality"], 0);
    assert_eq!(r["machine"], std::env::consts::ARCH);
}

#[test]
fn memory_policy_reaches_the_process() {
    // This host has one NUMA node, 0. (mode, nodes, flags) -> (mode number, flag bits, nodes).
    let cases = [
        (json!({"mode": "MPOL_DEFAULT"}), 0, 0, ""),
        (json!({"mode": "MPOL_PREFERRED", "nodes": "0"}), 1, 0, "0"),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            2,
            1 << 15,
            "0",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}),
            2,
            1 << 13,
            "0",
        ),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]}),
            3,
            1 << 14,
            "0",
        ),
        (json!({"mode": "MPOL_LOCAL"}), 4, 0, ""),
        (
            json!({"mode": "MPOL_PREFERRED_MANY", "nodes": "0"}),
            5,
            0,
            "0",
        ),
        (
            json!({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0"}),
            6,
            0,
            "0",
        ),
    ];
    for (policy, mode, flags, nodes) in cases {
        let r = probe_with(|c| c["linux"]["memoryPolicy"] = policy.clone());
        let m = &r["mempolicy"];
        assert_eq!(
            (&m["mode"], &m["flags"], &m["nodes"]),
            (&json!(mode), &json!(flags), &json!(nodes)),
            "{policy} gave {m}"
        );
    }
}

#[test]
fn fields_the_kernel_or_the_rules_refuse_are_errors_naming_them() {
    // (section, field, value, the field the error names)
    let cases = [
        (
            "process",
            "scheduler",
            json!({"policy": "SCHED_ISO"}),
            "process.scheduler.policy",
        ),
        (
            "process",
            "scheduler",
            json!({"policy": "SCHED_FIFO", "priority": 5, "nice": 3}),
            "process.scheduler.nice",
        ),
        (
            "process",
            "scheduler",
            json!({"policy": "SCHED_OTHER", "priority": 5}),
            "process.scheduler.priority",
        ),
        (
            "process",
            "scheduler",
            json!({"policy": "SCHED_FLAG_NOPE"}),
            "process.scheduler.policy",
        ),
        (
            "process",
            "scheduler",
            json!({"policy": "SCHED_OTHER", "flags": ["SCHED_RESET_ON_FORK"]}),
            "process.scheduler.flags[0]",
        ),
        // Allowed by the rules, refused by the kernel (no real-time budget in the cgroup): init
        // reports it, the create fails.
        (
            "process",
            "scheduler",
            json!({"policy": "SCHED_FIFO", "priority": 5}),
            "process.scheduler: sched_setattr SCHED_FIFO",
        ),
        (
            "process",
            "ioPriority",
            json!({"class": "IOPRIO_CLASS_BE", "priority": 8}),
            "process.ioPriority.priority",
        ),
        (
            "linux",
            "personality",
            json!({"domain": "LINUX", "flags": ["X"]}),
            "linux.personality.flags[0]",
        ),
        (
            "linux",
            "personality",
            json!({"domain": "LINUX64"}),
            "linux.personality.domain",
        ),
        (
            "linux",
            "memoryPolicy",
            json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            "linux",
            "memoryPolicy",
            json!({"mode": "MPOL_BIND"}),
            "linux.memoryPolicy.nodes",
        ),
        // Node 7 does not exist here: set_mempolicy refuses it in init.
        (
            "linux",
            "memoryPolicy",
            json!({"mode": "MPOL_BIND", "nodes": "7"}),
            "linux.memoryPolicy: set_mempolicy MPOL_BIND",
        ),
        (
            "process",
            "execCPUAffinity",
            json!({"final": "1-0"}),
            "process.execCPUAffinity",
        ),
    ];
    for (section, field, value, names) in cases {
        refused(move |c| c[section][field] = value, names);
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPU list of a process as the kernel shows it.
fn cpus_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// runc 1.2+: init does not keep the affinity the runtime was started with; it gets every
/// CPU its cgroup allows. (runc 1.1.5, on this 6.18 kernel, leaves init on the runtime's
/// CPUs: since Linux 6.2 joining a cpuset no longer resets the affinity.)
#[test]
fn init_affinity_is_reset_to_the_cgroups_cpus() {
    assert!(cpus() >= 2, "this test needs at least two CPUs");
    let all = cpus_of(std::process::id());
    let mut b = Bundle::probe(&[]);
    b.save();
    let rt = Runtime::new();
    let out = Command::new("taskset")
        .args(["-c", "0"])
        .arg(&rt.bin)
        .arg("--root")
        .arg(rt.root.path())
        .args(["run", "-b", b.path().to_str().unwrap(), &unique("aff")])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(report(&out)["cpus"], json!(all), "not the runtime's CPU 0");
    // With a cpuset, its CPUs.
    b.config["linux"]["resources"]["cpu"] = json!({"cpus": "1", "mems": "0"});
    b.save();
    let out = Command::new("taskset")
        .args(["-c", "0"])
        .arg(&rt.bin)
        .arg("--root")
        .arg(rt.root.path())
        .args(["run", "-b", b.path().to_str().unwrap(), &unique("aff")])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(report(&out)["cpus"], "1");
}

/// exec: process.scheduler, process.ioPriority and process.execCPUAffinity from
/// process.json, the container's personality and memory policy, all in the exec'd process;
/// the affinity rules of runc 1.2+ (final, or every CPU of the cgroup; initial for the
/// runtime's own steps before the cgroup move).
#[test]
fn exec_applies_the_same_attributes() {
    assert!(cpus() >= 2, "this test needs at least two CPUs");
    let all = cpus_of(std::process::id());
    let mut b = Bundle::probe(&[]);
    b.config["process"]["args"] = json!(["sleep", "60"]);
    b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    b.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_PREFERRED", "nodes": "0"});
    rt_budget(&mut b.config);
    b.save();
    let rt = Runtime::new();
    let id = unique("sched-exec");
    ok(&rt.run_detached(&id, &b));
    let exec = |process: Value, taskset: Option<&str>| {
        let path = b.path().join(format!("{}.json", unique("process")));
        std::fs::write(&path, process.to_string()).unwrap();
        let mut cmd = match taskset {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus]).arg(&rt.bin);
                c
            }
            None => Command::new(&rt.bin),
        };
        cmd.arg("--root")
            .arg(rt.root.path())
            .args(["exec", "-p", path.to_str().unwrap(), &id])
            .stdin(std::process::Stdio::null());
        report(&cmd.output().unwrap())
    };
    let base = json!({"cwd": "/", "args": ["/probe"], "user": {"uid": 0, "gid": 0}});
    let mut p = base.clone();
    p["scheduler"] = json!({"policy": "SCHED_RR", "priority": 7});
    p["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    p["execCPUAffinity"] = json!({"final": "1"});
    let r = exec(p, None);
    assert_eq!(
        (&r["sched"]["policy"], &r["sched"]["priority"]),
        (&json!(2), &json!(7))
    );
    assert_eq!(r["ioprio"], json!({"class": 3, "level": 0}));
    assert_eq!(r["cpus"], "1", "execCPUAffinity.final");
    assert_eq!(
        (&r["personality"], &r["machine"]),
        (&json!(8), &json!("i686"))
    );
    assert_eq!(r["mempolicy"]["mode"], 1, "the container's memory policy");
    // No execCPUAffinity: every CPU of the cgroup, not the runtime's (runc 1.2+).
    let r = exec(base.clone(), Some("0"));
    assert_eq!(r["cpus"], json!(all));
    // initial only: the runtime runs its steps there, the process gets the cgroup's CPUs.
    let mut p = base.clone();
    p["execCPUAffinity"] = json!({"initial": "1"});
    p["args"] = json!(["sleep", "2"]);
    let path = b.path().join("initial.json");
    std::fs::write(&path, p.to_string()).unwrap();
    let child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(&rt.bin)
        .arg("--root")
        .arg(rt.root.path())
        .args(["--debug", "exec", "-p", path.to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The foreground runtime stays while the process sleeps: its own CPUs are `initial`.
    let mut seen = String::new();
    for _ in 0..100 {
        seen = cpus_of(child.id());
        if seen == "1" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(seen, "1", "the runtime's affinity while exec runs");
    assert!(
        stderr(&out).contains("execCPUAffinity.initial"),
        "debug log: {}",
        stderr(&out)
    );
}

/// execCPUAffinity in config.json is the default for exec, as in runc 1.2+ ("This setting
/// is not applicable to the container's init process": init gets the cgroup's CPUs).
#[test]
fn exec_affinity_from_config_is_the_default_for_exec() {
    assert!(cpus() >= 2, "this test needs at least two CPUs");
    let all = cpus_of(std::process::id());
    let mut b = Bundle::probe(&[]);
    b.config["process"]["args"] = json!(["sleep", "60"]);
    b.config["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "1"});
    b.save();
    let rt = Runtime::new();
    let id = unique("aff-exec");
    ok(&rt.run_detached(&id, &b));
    let pid = rt.state(&id).unwrap()["pid"].as_u64().unwrap() as u32;
    assert_eq!(cpus_of(pid), all, "init");
    let r = report(&rt.cmd(&["exec", &id, "/probe"]));
    assert_eq!(r["cpus"], "1");
}
