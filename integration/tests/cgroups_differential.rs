//! Cgroups and kill/delete, run the same way under hull and runc (Debian's 1.1.5): the same
//! bundle and commands, the same outcome. Where runc 1.1.5 and runc 1.4 (or the runtime-spec)
//! differ, hull follows 1.4 and the spec: the test says so and checks each runtime for what it
//! does.
//!
//! This host is cgroup v1-hybrid. Every container's cgroupsPath is relative (`hulltest-…/ctr`,
//! nested under the test's own cgroup in each hierarchy); the runtimes remove `ctr`, the test
//! removes the `hulltest-…` level it caused, by name, in each hierarchy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hull_integration::*;
use serde_json::{json, Value};

const RUNC: &str = "/usr/sbin/runc";

/// hull, then runc.
fn runtimes() -> [(&'static str, Runtime); 2] {
    assert!(
        Path::new(RUNC).exists(),
        "runc is required for the differential tests (hack/setup.sh installs it)"
    );
    [
        ("hull", Runtime::new()),
        ("runc", Runtime::with_bin(RUNC.into())),
    ]
}

/// The mounted cgroup hierarchies: (controllers as /proc/self/cgroup lists them, "" for the
/// unified one; mount point), from mountinfo.
fn hierarchies() -> Vec<(String, PathBuf)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for line in info.lines() {
        let (left, right) = line.split_once(" - ").unwrap();
        let mut r = right.split(' ');
        let fstype = r.next().unwrap();
        let opts = r.nth(1).unwrap_or_default();
        let mount = PathBuf::from(left.split(' ').nth(4).unwrap());
        let key = match fstype {
            "cgroup2" => String::new(),
            "cgroup" => opts
                .split(',')
                .filter(|o| {
                    !matches!(*o, "rw" | "ro" | "xattr" | "noprefix" | "clone_children")
                        && !o.starts_with("release_agent")
                })
                .collect::<Vec<_>>()
                .join(","),
            _ => continue,
        };
        if !out.iter().any(|(k, _)| *k == key) {
            out.push((key, mount));
        }
    }
    out
}

/// The directory of the relative cgroup path `rel` in the hierarchy `key` (its controllers as
/// listed in /proc/self/cgroup, "" for the unified one): below the test's own cgroup there.
fn cg_dir(key: &str, rel: &str) -> PathBuf {
    let (_, mount) = hierarchies()
        .into_iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no cgroup hierarchy {key:?} is mounted"));
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .unwrap()
        .lines()
        .find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, ctrls, path) = (p.next(), p.next()?, p.next()?);
            (ctrls == key).then(|| path.to_string())
        })
        .unwrap_or_else(|| "/".into());
    mount.join(own.trim_start_matches('/')).join(rel)
}

/// A `hulltest-…` cgroup level, removed (rmdir, in every hierarchy, by name) when dropped,
/// with every child it named: declare it before the runtimes, so that their containers are
/// deleted first.
struct CgParent(String, std::cell::RefCell<Vec<String>>);

impl CgParent {
    fn new(prefix: &str) -> CgParent {
        CgParent(unique(&format!("hulltest-{prefix}")), Default::default())
    }
    /// A cgroupsPath below this level.
    fn child(&self, name: &str) -> String {
        let mut children = self.1.borrow_mut();
        if !children.iter().any(|c| c == name) {
            children.push(name.to_string());
        }
        format!("{}/{name}", self.0)
    }
}

impl Drop for CgParent {
    fn drop(&mut self) {
        let dirs: Vec<PathBuf> = hierarchies()
            .into_iter()
            .map(|(key, _)| cg_dir(&key, &self.0))
            .filter(|d| d.exists())
            .collect();
        let children = self.1.borrow();
        // Thaw what a test froze: a failed test may have left a runtime's init frozen in a
        // child, which exits once thawed (its runtime is gone).
        for dir in &dirs {
            for level in children.iter().map(|c| dir.join(c)).chain([dir.clone()]) {
                let _ = std::fs::write(level.join("freezer.state"), "THAWED");
                let _ = std::fs::write(level.join("cgroup.freeze"), "0");
            }
        }
        // Then remove the children this level named (a runtime's cgroup, left by a failure
        // or by a runtime that removes it late, as runc 1.1.5 can after `delete -f` without
        // a pid namespace) and this level, by name.
        for dir in &dirs {
            for child in children.iter().map(|c| dir.join(c)) {
                for _ in 0..250 {
                    if std::fs::remove_dir(&child).is_ok() || !child.exists() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A cgroup directory a test made, removed when dropped, pass or fail.
struct RmDir(PathBuf);

impl Drop for RmDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn sleeper(path: &str) -> Bundle {
    let mut b = Bundle::sh("sleep 1000");
    b.config["linux"]["cgroupsPath"] = json!(path);
    b.save();
    b
}

fn pids_in(rel: &str) -> Vec<i32> {
    std::fs::read_to_string(cg_dir("pids", rel).join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !matches!(
            s.rsplit(')').next().unwrap_or("").split_whitespace().next(),
            Some("Z")
        )
    })
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting until {what}");
}

/// `create`, failed if it has not returned within 30 s: a runtime that joins a frozen cgroup
/// hangs there, and the test must fail rather than hang with it.
fn create_or_hang(rt: &Runtime, id: &str, b: &Bundle) -> std::process::Output {
    let err_path = std::env::temp_dir().join(unique("hull-stderr"));
    let mut child = rt
        .command()
        .args(["create", "-b", b.path().to_str().unwrap(), id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    for _ in 0..3000 {
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = std::fs::read(&err_path).unwrap_or_default();
            let _ = std::fs::remove_file(&err_path);
            return std::process::Output {
                status,
                stdout: Vec::new(),
                stderr,
            };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&err_path);
    panic!("{} create {id} hung (its init frozen?)", rt.bin.display());
}

fn init_pid(rt: &Runtime, id: &str) -> i32 {
    rt.state(id).unwrap()["pid"].as_i64().unwrap() as i32
}

/// runc 1.2+ (and hull) refuse a cgroup that already holds processes: "container's cgroup is
/// not empty". runc 1.1.5 prints the same words as a warning and goes on (runc issue 3132
/// announced the refusal).
#[test]
fn a_cgroup_with_processes_is_refused() {
    let parent = CgParent::new("busy");
    for (name, rt) in runtimes() {
        let path = parent.child(&format!("ctr-{name}"));
        let b = sleeper(&path);
        let first = unique("busy1");
        ok(&rt.run_detached(&first, &b));
        let second = unique("busy2");
        let out = rt.create(&second, &b);
        let err = stderr(&out);
        assert!(
            err.contains("container's cgroup is not empty"),
            "{name}: {err}"
        );
        if name == "hull" {
            assert!(!out.status.success(), "hull refuses it");
            assert!(
                rt.state(&second).is_none(),
                "nothing is left: {:?}",
                rt.ids()
            );
            assert_eq!(
                pids_in(&path),
                [init_pid(&rt, &first)],
                "the first is alone"
            );
        } else {
            assert!(out.status.success(), "runc 1.1.5 only warns: {err}");
        }
        let _ = rt.cmd(&["delete", "-f", &second]);
        ok(&rt.cmd(&["delete", "-f", &first]));
        assert!(!cg_dir("pids", &path).exists(), "{name} removed its cgroup");
    }
    // The runtimes' own `ctr-*` levels are gone; CgParent removes the level above.
}

/// A frozen cgroup is refused by both: "container's cgroup unexpectedly frozen" (runc's
/// check, in 1.1.5 and 1.4). The cgroup was not the runtime's, so it is left as it was.
#[test]
fn a_frozen_cgroup_is_refused() {
    let parent = CgParent::new("frz");
    for (name, rt) in runtimes() {
        let path = parent.child("ctr");
        let freezer = cg_dir("freezer", &path);
        std::fs::create_dir_all(&freezer).unwrap();
        std::fs::write(freezer.join("freezer.state"), "FROZEN").unwrap();
        let id = unique("frz");
        let out = create_or_hang(&rt, &id, &sleeper(&path));
        assert!(!out.status.success(), "{name} refuses a frozen cgroup");
        assert!(
            stderr(&out).contains("container's cgroup unexpectedly frozen"),
            "{name}: {}",
            stderr(&out)
        );
        assert!(rt.state(&id).is_none(), "{name} left {:?}", rt.ids());
        assert_eq!(
            std::fs::read_to_string(freezer.join("freezer.state"))
                .unwrap()
                .trim(),
            "FROZEN",
            "{name} left the cgroup as it was"
        );
        std::fs::write(freezer.join("freezer.state"), "THAWED").unwrap();
        std::fs::remove_dir(&freezer).unwrap();
    }
}

/// Below a frozen cgroup, init would be frozen as soon as it joined: hull refuses it up front.
/// runc checks only the container's own cgroup (1.1.5 and 1.4 alike), so its create blocks
/// with its init frozen until the parent is thawed: the test shows it, then thaws.
#[test]
fn a_cgroup_below_a_frozen_one_is_refused() {
    let parent = CgParent::new("frzp");
    let path = parent.child("ctr");
    let frozen = cg_dir("freezer", &parent.0);
    std::fs::create_dir_all(&frozen).unwrap();
    std::fs::write(frozen.join("freezer.state"), "FROZEN").unwrap();
    let b = sleeper(&path);

    let hull = Runtime::new();
    let id = unique("frzp");
    let out = create_or_hang(&hull, &id, &b);
    assert!(!out.status.success(), "hull refuses it");
    let err = stderr(&out);
    assert!(
        err.contains("container's cgroup unexpectedly frozen"),
        "{err}"
    );
    assert!(
        err.contains(&parent.0),
        "the error names the frozen level: {err}"
    );
    assert!(
        hull.state(&id).is_none(),
        "nothing is left: {:?}",
        hull.ids()
    );
    assert!(!cg_dir("freezer", &path).exists(), "no cgroup was made");

    let runc = Runtime::with_bin(RUNC.into());
    let id = unique("frzp");
    let mut create = runc
        .command()
        .args(["create", "-b", b.path().to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // runc's init joins the cgroup and freezes there; runc waits for it.
    wait_until("runc's init is in the frozen cgroup", || {
        !pids_in(&path).is_empty()
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        create.try_wait().unwrap().is_none(),
        "runc create is held by its frozen init"
    );
    std::fs::write(frozen.join("freezer.state"), "THAWED").unwrap();
    let status = create.wait().unwrap();
    assert!(status.success(), "runc goes on once thawed: {status}");
    ok(&runc.cmd(&["delete", "-f", &id]));

    // A hybrid host's unified hierarchy has the v2 freezer (cgroup.freeze), which holds the
    // container's processes as well: hull checks it too.
    if hierarchies().iter().any(|(k, _)| k.is_empty()) {
        let unified = cg_dir("", &parent.0);
        std::fs::create_dir_all(&unified).unwrap();
        std::fs::write(unified.join("cgroup.freeze"), "1").unwrap();
        let id = unique("frzu");
        let out = create_or_hang(&hull, &id, &b);
        assert!(!out.status.success(), "hull refuses it");
        let err = stderr(&out);
        assert!(
            err.contains("container's cgroup unexpectedly frozen"),
            "{err}"
        );
        assert!(err.contains(&unified.display().to_string()), "{err}");
        assert!(
            hull.state(&id).is_none(),
            "nothing is left: {:?}",
            hull.ids()
        );
    }
}

/// On a hybrid host runc places init in the unified (cgroup2) hierarchy too, at the same
/// relative path; hull does the same, and both remove it at delete.
#[test]
fn hybrid_hosts_place_the_container_in_the_unified_hierarchy() {
    if !hierarchies().iter().any(|(k, _)| k.is_empty()) {
        return; // no unified hierarchy on this host
    }
    let parent = CgParent::new("uni");
    for (name, rt) in runtimes() {
        let path = parent.child(&format!("ctr-{name}"));
        let id = unique("uni");
        ok(&rt.run_detached(&id, &sleeper(&path)));
        let pid = init_pid(&rt, &id);
        let unified = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("0::").map(String::from))
            .unwrap();
        let dir = cg_dir("", &path);
        assert!(
            dir.ends_with(unified.trim_start_matches('/')),
            "{name}: init's unified cgroup {unified} is {}",
            dir.display()
        );
        assert!(std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap()
            .lines()
            .any(|l| l == pid.to_string()));
        ok(&rt.cmd(&["delete", "-f", &id]));
        assert!(!dir.exists(), "{name} removed {}", dir.display());
    }
}

/// The BFQ scheduler names its weight blkio.bfq.weight; there is no blkio.weight without CFQ
/// (gone from current kernels). runc writes whichever the host has; so does hull.
#[test]
fn blkio_weight_goes_where_the_host_has_it() {
    let parent = CgParent::new("blkio");
    let mut seen = Vec::new();
    for (name, rt) in runtimes() {
        let mut b = Bundle::sh(
            "cat /sys/fs/cgroup/blkio/blkio.weight 2>/dev/null || cat /sys/fs/cgroup/blkio/blkio.bfq.weight",
        );
        b.config["linux"]["cgroupsPath"] = json!(parent.child(&format!("ctr-{name}")));
        b.config["linux"]["resources"]["blockIO"] = json!({"weight": 500});
        b.save();
        let out = rt.run(&unique("blkio"), &b);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        seen.push(stdout(&out));
    }
    assert_eq!(seen[0], seen[1], "hull and runc wrote the same weight");
    assert!(seen[0].contains("500"), "{:?}", seen[0]);
}

/// pids.limit: a positive limit and "-1 means max" are the same under both. runtime-spec 1.3
/// (opencontainers/runtime-spec#1279) made the limit optional and 0 a real limit; runc 1.4
/// writes it as 1 (systemd's TasksMax cannot be 0), runc 1.1.5 took 0 as "unset" and leaves
/// the cgroup at max. hull follows the spec and runc 1.4.
#[test]
fn pids_limits_as_runtime_spec_1_3() {
    let parent = CgParent::new("pids");
    let cases: [(&str, Value, &str, &str); 5] = [
        ("five", json!({"limit": 5}), "5", "5"),
        ("minus-one", json!({"limit": -1}), "max", "max"),
        ("minus-five", json!({"limit": -5}), "max", "max"),
        ("no-limit", json!({}), "max", "max"),
        ("zero", json!({"limit": 0}), "1", "max"),
    ];
    for (name, rt) in runtimes() {
        for (case, pids, hull_wants, runc_wants) in &cases {
            let mut b = Bundle::sh("cat /sys/fs/cgroup/pids/pids.max");
            b.config["linux"]["cgroupsPath"] = json!(parent.child(&format!("{case}-{name}")));
            b.config["linux"]["resources"]["pids"] = pids.clone();
            b.save();
            let out = rt.run(&unique("pids"), &b);
            assert!(out.status.success(), "{name} {case}: {}", stderr(&out));
            let want = if name == "hull" {
                hull_wants
            } else {
                runc_wants
            };
            assert_eq!(stdout(&out).trim(), *want, "{name}: pids {pids}");
        }
    }
    // The per-case levels are the runtimes' and gone; remove none of ours but the parent.
}

/// `update` of memory with swap (v1: memsw is memory+swap, and the kernel refuses a limit
/// above memsw or a memsw below the limit at every write): raising, lowering, swap alone and
/// memory -1 end with the same files under both runtimes.
#[test]
fn update_memory_and_swap_in_the_order_the_kernel_needs() {
    if !cg_dir("memory", "")
        .join("memory.memsw.limit_in_bytes")
        .exists()
    {
        return; // no swap accounting on this host
    }
    let parent = CgParent::new("swap");
    // Raise both (swap first), lower both (limit first), swap alone (against the current
    // limit), an unlimited limit while memsw is limited (which lifts memsw too), then limits
    // again from unlimited.
    let steps: [&[&str]; 5] = [
        &["--memory", "256m", "--memory-swap", "512m"],
        &["--memory", "32m", "--memory-swap", "64m"],
        &["--memory-swap", "96m"],
        &["--memory", "-1"],
        &["--memory", "128m", "--memory-swap", "256m"],
    ];
    let mut seen: Vec<Vec<String>> = Vec::new();
    for (name, rt) in runtimes() {
        let path = parent.child(&format!("ctr-{name}"));
        let mut b = sleeper(&path);
        b.config["linux"]["resources"]["memory"] =
            json!({"limit": 64 * 1024 * 1024, "swap": 128 * 1024 * 1024});
        b.save();
        let id = unique("swap");
        ok(&rt.run_detached(&id, &b));
        let dir = cg_dir("memory", &path);
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .unwrap()
                .trim()
                .to_string()
        };
        let mut log = vec![format!(
            "{} {}",
            read("memory.limit_in_bytes"),
            read("memory.memsw.limit_in_bytes")
        )];
        for step in steps {
            let mut args = vec!["update"];
            args.extend_from_slice(step);
            args.push(&id);
            let out = rt.cmd(&args);
            assert!(
                out.status.success(),
                "{name} update {step:?}: {}",
                stderr(&out)
            );
            log.push(format!(
                "{step:?}: {} {}",
                read("memory.limit_in_bytes"),
                read("memory.memsw.limit_in_bytes")
            ));
        }
        seen.push(log);
        ok(&rt.cmd(&["delete", "-f", &id]));
    }
    assert_eq!(seen[0], seen[1], "hull (left) and runc (right) differ");
    assert!(
        seen[0][1].ends_with(&format!("{} {}", 256 << 20, 512 << 20)),
        "{:?}",
        seen[0]
    );
}

/// `update` of cpuset.cpus and cpuset.mems while the container has processes in its cgroup.
#[test]
fn update_cpuset_with_processes_inside() {
    let parent = CgParent::new("cpuset");
    let steps: [&[&str]; 3] = [
        &["--cpuset-cpus", "0"],
        &["--cpuset-cpus", "0-1", "--cpuset-mems", "0"],
        &["--cpuset-mems", "0", "--cpuset-cpus", "1"],
    ];
    let cpus_online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    if cpus_online.trim() == "0" {
        return; // one CPU: nothing to move between
    }
    let mut seen: Vec<Vec<String>> = Vec::new();
    for (name, rt) in runtimes() {
        let path = parent.child(&format!("ctr-{name}"));
        let mut b = Bundle::sh("sleep 1000 & sleep 1001 & wait");
        b.config["linux"]["cgroupsPath"] = json!(path);
        b.save();
        let id = unique("cpuset");
        ok(&rt.run_detached(&id, &b));
        wait_until("three processes", || pids_in(&path).len() == 3);
        let dir = cg_dir("cpuset", &path);
        let mut log = Vec::new();
        for step in steps {
            let mut args = vec!["update"];
            args.extend_from_slice(step);
            args.push(&id);
            let out = rt.cmd(&args);
            let read = |f: &str| {
                std::fs::read_to_string(dir.join(f))
                    .unwrap()
                    .trim()
                    .to_string()
            };
            log.push(format!(
                "{step:?}: ok={} cpus={} mems={}",
                out.status.success(),
                read("cpuset.cpus"),
                read("cpuset.mems")
            ));
        }
        seen.push(log);
        ok(&rt.cmd(&["delete", "-f", &id]));
    }
    assert_eq!(seen[0], seen[1], "hull (left) and runc (right) differ");
    assert!(
        seen[0].iter().all(|l| l.contains("ok=true")),
        "{:?}",
        seen[0]
    );
}

/// `events` reports an OOM kill as runc does: a line {"type":"oom","id":ID} (no data), and
/// `--stats` counts it in memory.usage.failcnt with the limit.
#[test]
fn events_report_an_oom_kill_in_runcs_shape() {
    use std::io::{BufRead, BufReader};
    let parent = CgParent::new("oom");
    for (name, rt) in runtimes() {
        let path = parent.child(&format!("ctr-{name}"));
        let mut b = sleeper(&path);
        b.config["linux"]["resources"]["memory"] = json!({"limit": 16 * 1024 * 1024});
        b.save();
        let id = unique("oom");
        ok(&rt.run_detached(&id, &b));
        let mut events = rt
            .command()
            .args(["events", "--interval", "1s", &id])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(events.stdout.take().unwrap()).lines();
        // The first stats line (one interval in): the watcher is set up.
        let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(first["type"], "stats", "{name}: {first}");
        let out = rt.cmd(&[
            "exec",
            &id,
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=64M",
            "count=1",
        ]);
        assert_eq!(out.status.code(), Some(137), "{name}: dd is OOM-killed");
        let oom = loop {
            let line = lines.next().expect("events ended").unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["type"] != "stats" {
                break v;
            }
        };
        assert_eq!(oom, json!({"type": "oom", "id": id}), "{name}");
        let stats: Value = serde_json::from_str(&ok(&rt.cmd(&["events", "--stats", &id]))).unwrap();
        assert_eq!(stats["type"], "stats");
        assert_eq!(stats["id"], id.as_str());
        let usage = &stats["data"]["memory"]["usage"];
        assert_eq!(usage["limit"], 16 * 1024 * 1024, "{name}: {usage}");
        assert!(usage["failcnt"].as_u64().unwrap() > 0, "{name}: {usage}");
        let _ = events.kill();
        let _ = events.wait();
        ok(&rt.cmd(&["delete", "-f", &id]));
    }
}

/// A container without its own pid namespace, with processes beside init (exec'd ones).
fn no_pidns(rt: &Runtime, parent: &CgParent, name: &str) -> (String, String, Vec<i32>) {
    let path = parent.child(&format!("ctr-{name}-{}", unique("n")));
    let mut b = sleeper(&path);
    let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "pid");
    b.save();
    let id = unique("nopid");
    ok(&rt.run_detached(&id, &b));
    ok(&rt.detached(&["exec", "-d", &id, "sleep", "1001"]));
    ok(&rt.detached(&["exec", "-d", &id, "sh", "-c", "sleep 1002 & sleep 1003"]));
    // Init and the three sleeps, once the runtimes' own helpers have left the cgroup.
    let sleeps = || {
        let pids = pids_in(&path);
        let all_sleep = pids.iter().all(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep")
        });
        (pids.len() == 4 && all_sleep).then_some(pids)
    };
    wait_until("init and three sleeps", || sleeps().is_some());
    let pids = sleeps().expect("still there");
    (id, path, pids)
}

fn all_gone(pids: &[i32]) -> bool {
    pids.iter().all(|p| !alive(*p))
}

/// `kill --all` reaches every process of the cgroup, with SIGKILL and with SIGTERM (the
/// freeze, signal, thaw path), under both runtimes.
#[test]
fn kill_all_without_a_pid_namespace_reaches_every_process() {
    let parent = CgParent::new("killall");
    for (name, rt) in runtimes() {
        for sig in ["KILL", "TERM"] {
            let (id, path, pids) = no_pidns(&rt, &parent, name);
            ok(&rt.cmd(&["kill", "--all", &id, sig]));
            wait_until(
                &format!("{name}: kill --all {sig} leaves none of {pids:?}"),
                || all_gone(&pids),
            );
            ok(&rt.cmd(&["delete", &id]));
            assert!(!cg_dir("pids", &path).exists(), "{name} removed its cgroup");
        }
    }
}

/// runc 1.4: SIGKILL to a container without its own pid namespace kills every process of its
/// cgroup (libcontainer's Container.Signal), since killing its init does not take the others
/// with it as it does in a namespace of its own. runc 1.1.5 signals init alone and leaves the
/// others running; hull follows 1.4.
#[test]
fn kill_kill_without_a_pid_namespace_kills_every_process() {
    let parent = CgParent::new("killkill");
    for (name, rt) in runtimes() {
        let (id, _path, pids) = no_pidns(&rt, &parent, name);
        let init = init_pid(&rt, &id);
        ok(&rt.cmd(&["kill", &id, "KILL"]));
        wait_until("init is gone", || !alive(init));
        if name == "hull" {
            wait_until(&format!("hull leaves none of {pids:?}"), || all_gone(&pids));
        } else {
            std::thread::sleep(Duration::from_millis(200));
            let left: Vec<_> = pids.iter().filter(|p| alive(**p)).collect();
            assert_eq!(
                left.len(),
                3,
                "runc 1.1.5 kills init alone: {left:?} are left"
            );
        }
        ok(&rt.cmd(&["delete", "-f", &id]));
        assert!(all_gone(&pids), "{name}: delete -f reaches them all");
    }
}

/// Init dies (killed from outside); its siblings are left, and the container is stopped.
/// `kill --all` still reaches them (runc 1.1.5 signals a stopped container's cgroup; runc 1.4
/// kills it with SIGKILL), and `delete` (runc's destroy) kills what is left and removes the
/// cgroup, with or without --force.
#[test]
fn after_init_dies_without_a_pid_namespace_kill_all_and_delete_reach_the_rest() {
    let parent = CgParent::new("initgone");
    for (name, rt) in runtimes() {
        for how in ["kill --all", "delete", "delete -f"] {
            let (id, path, pids) = no_pidns(&rt, &parent, name);
            let init = init_pid(&rt, &id);
            kill(init, rustix::process::Signal::KILL).unwrap();
            wait_until("stopped", || rt.status(&id).as_deref() == Some("stopped"));
            let left: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
            assert_eq!(
                left.len(),
                3,
                "{name}: init's death leaves the others: {left:?}"
            );
            match how {
                "kill --all" => {
                    ok(&rt.cmd(&["kill", "--all", &id, "KILL"]));
                    wait_until(&format!("{name}: {how} reaches {left:?}"), || {
                        all_gone(&left)
                    });
                    ok(&rt.cmd(&["delete", &id]));
                }
                "delete" => {
                    ok(&rt.cmd(&["delete", &id]));
                }
                _ => {
                    ok(&rt.cmd(&["delete", "-f", &id]));
                }
            }
            // SIGKILL is sent; the processes are gone a moment later.
            wait_until(&format!("{name}: after {how}, {left:?} are gone"), || {
                all_gone(&left)
            });
            assert!(
                rt.state(&id).is_none(),
                "{name}: {how} removed the container"
            );
            for (key, _) in hierarchies() {
                let dir = cg_dir(&key, &path);
                if name == "hull" {
                    assert!(!dir.exists(), "{name}: {how} removed {}", dir.display());
                } else {
                    // runc 1.1.5 does not wait for the processes it killed: its rmdir can race
                    // with their exit and give up, leaving the (now empty) cgroup.
                    let _ = std::fs::remove_dir(&dir);
                }
            }
        }
    }
}

/// `update` while the container has a cgroup of its own below its devices cgroup (systemd in a
/// container makes them): the kernel refuses an "a" rule in a v1 devices cgroup with children
/// (EINVAL), so a list that starts from "deny all" cannot be written again as it stands.
/// runc moves the cgroup to the new list by its differences (its devices emulator); so does
/// hull. A plain update succeeds under both; `update -r` with device rules too, and the
/// container keeps its default devices. runc (1.1.5 and 1.4) leaves device rules in `-r`
/// alone; hull applies them rather than drop them silently (here: /dev/kmsg readable).
#[test]
fn update_with_a_sub_cgroup_moves_device_rules_by_their_differences() {
    let parent = CgParent::new("devupd");
    let rules = r#"{"devices": [{"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}]}"#;
    for (name, rt) in runtimes() {
        let path = parent.child(&format!("ctr-{name}"));
        let id = unique("devupd");
        let b = sleeper(&path);
        ok(&rt.run_detached(&id, &b));
        let devices = cg_dir("devices", &path);
        let sub = RmDir(devices.join("sub"));
        std::fs::create_dir(&sub.0).unwrap();
        let list = || std::fs::read_to_string(devices.join("devices.list")).unwrap();
        let before = list();
        assert!(before.contains("c 1:3 rwm"), "{name}: {before}");
        ok(&rt.cmd(&["update", "--pids-limit", "50", &id]));
        assert_eq!(
            list(),
            before,
            "{name}: a plain update leaves the device list"
        );
        let mut c = rt.command();
        c.args(["update", "-r", "-", &id])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), rules.as_bytes()).unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{name}: update -r: {}", stderr(&out));
        let after = list();
        for default in ["c 1:3 rwm", "c 1:5 rwm", "c 136:* rwm"] {
            assert!(after.contains(default), "{name} kept {default}: {after}");
        }
        assert_eq!(
            after.contains("c 1:11 r"),
            name == "hull",
            "{name}: the new rule (runc leaves device rules alone): {after}"
        );
        let out = rt.cmd(&[
            "exec",
            &id,
            "sh",
            "-c",
            "echo x > /dev/null && head -c1 /dev/zero | wc -c",
        ]);
        assert_eq!(
            stdout(&out).trim(),
            "1",
            "{name}: the defaults still work: {}",
            stderr(&out)
        );
        drop(sub);
        ok(&rt.cmd(&["delete", "-f", &id]));
    }
}
