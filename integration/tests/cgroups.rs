//! Cgroups through the CLI, checked by effect: limits hold, OOM kills are reported, pause
//! freezes, update changes what the container sees, delete leaves no cgroup behind.
//! (This host is cgroup v1-hybrid; relative cgroupsPath values nest under the test's own
//! cgroup, as runc's rule says.)

use hull_integration::*;
use serde_json::json;

fn saved_dirs(rt: &Runtime, id: &str) -> Vec<std::path::PathBuf> {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rt.root.path().join(id).join("state.json")).unwrap())
            .unwrap();
    state["cgroup"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| std::path::PathBuf::from(p[1].as_str().unwrap()))
        .collect()
}

/// A detached `sleep 60` container with a 16 MiB memory limit.
fn run_with_16m_limit(rt: &Runtime, prefix: &str) -> (Bundle, String) {
    let mut b = Bundle::sh("sleep 60");
    b.config["linux"]["resources"]["memory"] = json!({"limit": 16 * 1024 * 1024});
    b.save();
    let id = unique(prefix);
    ok(&rt.run_detached(&id, &b));
    (b, id)
}

/// Execs a dd that needs 64 MiB in the container: it must be OOM-killed.
fn oom_kill_a_dd(rt: &Runtime, id: &str) {
    let out = rt.cmd(&[
        "exec",
        id,
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "dd over the limit is OOM-killed: {}",
        stderr(&out)
    );
}

#[test]
fn memory_limit_oom_kills_and_events_report_it() {
    let rt = Runtime::new();
    let (_b, id) = run_with_16m_limit(&rt, "oom");
    oom_kill_a_dd(&rt, &id);
    let ev: serde_json::Value =
        serde_json::from_str(&ok(&rt.cmd(&["events", "--stats", &id]))).unwrap();
    assert_eq!(ev["type"], "stats");
    assert!(
        ev["data"]["memory"]["oom_kill"].as_u64().unwrap() >= 1,
        "{ev}"
    );
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 16 * 1024 * 1024);
}

/// Streaming `events` reports an OOM as it happens, between stats ticks, and ends when the
/// container stops.
#[test]
fn streaming_events_report_an_oom_when_it_happens() {
    use std::io::{BufRead, BufReader};
    let rt = Runtime::new();
    let (_b, id) = run_with_16m_limit(&rt, "oomev");
    let mut events = rt
        .command()
        .args(["events", "--interval", "1s", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(events.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(&l.unwrap()).unwrap());
    // As runc's, the first stats come one interval in, after the OOM watch is set up.
    let first = lines.next().unwrap();
    assert_eq!(first["type"], "stats", "{first}");
    oom_kill_a_dd(&rt, &id);
    let next = lines.find(|e| e["type"] != "stats").unwrap();
    assert_eq!(next["type"], "oom", "{next}");
    assert_eq!(next["id"], id.as_str());
    assert!(
        next.get("data").is_none(),
        "runc's oom event has no data: {next}"
    );
    ok(&rt.cmd(&["kill", &id, "KILL"]));
    let status = events.wait().unwrap();
    assert!(status.success(), "events ends with the container: {status}");
    ok(&rt.cmd(&["delete", "-f", &id]));
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    let rt = Runtime::new();
    // Each successful fork records its number; the shell dies at the first refused fork.
    let mut b = Bundle::sh("for i in $(seq 30); do sleep 30 & echo $i > /forked; done");
    b.config["linux"]["resources"]["pids"] = json!({"limit": 10});
    b.config["root"]["readonly"] = json!(false);
    b.save();
    let out = rt.run(&unique("pids"), &b);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("can't fork"), "{}", stderr(&out));
    let forked: u32 = std::fs::read_to_string(b.rootfs().join("forked"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(forked, 9, "the shell and 9 sleeps fill pids.max 10");
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let rt = Runtime::new();
    let b = Bundle::sh("while :; do sleep 0.01; done");
    let id = unique("pause");
    ok(&rt.run_detached(&id, &b));
    ok(&rt.cmd(&["pause", &id]));
    assert_eq!(rt.status(&id).as_deref(), Some("paused"));
    let freezer = saved_dirs(&rt, &id)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("/freezer/"))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(freezer.join("freezer.state"))
            .unwrap()
            .trim(),
        "FROZEN"
    );
    let out = rt.cmd(&["exec", &id, "true"]);
    assert_eq!(
        out.status.code(),
        Some(255),
        "exec into a paused container is refused"
    );
    ok(&rt.cmd(&["resume", &id]));
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    assert_eq!(
        std::fs::read_to_string(freezer.join("freezer.state"))
            .unwrap()
            .trim(),
        "THAWED"
    );
}

#[test]
fn update_changes_what_the_container_sees() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("sleep 60");
    b.config["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024});
    b.config["linux"]["resources"]["pids"] = json!({"limit": 100});
    b.save();
    let id = unique("update");
    ok(&rt.run_detached(&id, &b));
    let read = |f: &str| ok(&rt.cmd(&["exec", &id, "cat", f])).trim().to_string();
    assert_eq!(
        read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        (64 * 1024 * 1024).to_string()
    );
    ok(&rt.cmd(&["update", "--memory", "32m", "--pids-limit", "20", &id]));
    assert_eq!(
        read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        (32 * 1024 * 1024).to_string()
    );
    assert_eq!(read("/sys/fs/cgroup/pids/pids.max"), "20");
    // -r with LinuxResources JSON; 0 leaves a value as it is.
    let mut c = rt.command();
    c.args(["update", "-r", "-", &id])
        .stdin(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        br#"{"memory": {"limit": 0}, "pids": {"limit": 30}}"#,
    )
    .unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert_eq!(
        read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        (32 * 1024 * 1024).to_string()
    );
    assert_eq!(read("/sys/fs/cgroup/pids/pids.max"), "30");
}

#[test]
fn ps_lists_the_container_processes() {
    let rt = Runtime::new();
    let b = Bundle::sh("sleep 60 & sleep 61 & wait");
    let id = unique("ps");
    ok(&rt.run_detached(&id, &b));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let pids: Vec<i64> =
        serde_json::from_str(&ok(&rt.cmd(&["ps", "--format", "json", &id]))).unwrap();
    assert_eq!(pids.len(), 3, "{pids:?}");
    let init = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    assert!(pids.contains(&init));
    let table = ok(&rt.cmd(&["ps", &id]));
    assert!(table.lines().next().unwrap().contains("PID"));
    assert_eq!(table.lines().count(), 4, "{table}");
}

#[test]
fn relative_cgroups_path_nests_under_ours_and_delete_removes_it() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("sleep 60");
    let id = unique("cgpath");
    b.config["linux"]["cgroupsPath"] = json!(format!("hull-test-{id}/ctr"));
    b.save();
    ok(&rt.run_detached(&id, &b));
    let dirs = saved_dirs(&rt, &id);
    let own_memory = std::fs::read_to_string("/proc/self/cgroup")
        .unwrap()
        .lines()
        .find(|l| l.contains(":memory:"))
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let mem = dirs
        .iter()
        .find(|p| p.to_string_lossy().contains("/memory/"))
        .unwrap();
    assert_eq!(
        mem,
        &std::path::Path::new("/sys/fs/cgroup/memory")
            .join(own_memory.trim_start_matches('/'))
            .join(format!("hull-test-{id}/ctr"))
    );
    let init = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    assert!(std::fs::read_to_string(mem.join("cgroup.procs"))
        .unwrap()
        .contains(&init.to_string()));
    ok(&rt.cmd(&["delete", "-f", &id]));
    for d in &dirs {
        assert!(!d.exists(), "{} left behind", d.display());
        // The parent level was made for the test; remove it (delete removes only its own).
        let _ = std::fs::remove_dir(d.parent().unwrap());
    }
}

#[test]
fn escaping_cgroups_path_is_refused() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.config["linux"]["cgroupsPath"] = json!("../../escape");
    b.save();
    let out = rt.create(&unique("esc"), &b);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cgroupsPath"), "{}", stderr(&out));
}

/// This host has no systemd as PID 1: `--systemd-cgroup` fails up front, saying what is
/// missing, and leaves no container behind. (The driver itself is tested in the systemd VM.)
#[test]
fn systemd_cgroup_without_systemd_is_a_clear_error() {
    if std::path::Path::new("/run/systemd/system").exists() {
        return; // a systemd host: the VM lane covers the driver
    }
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.config["linux"]["cgroupsPath"] = json!("system.slice:hull:nosd");
    b.save();
    let id = unique("nosd");
    let out = rt.cmd(&[
        "--systemd-cgroup",
        "create",
        "-b",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("--systemd-cgroup") && err.contains("systemd is not running"),
        "{err}"
    );
    assert!(rt.state(&id).is_none(), "nothing is left: {:?}", rt.ids());
}
