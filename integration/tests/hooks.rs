//! Hooks: every kind, in order, in the namespaces the runtime-spec names, with the state on
//! stdin, their args and env; a failing poststop hook is only a warning.

use hull_integration::*;
use serde_json::json;

/// A hook that appends "NAME MNTNS STATE" to $LOG. Runs with only the env the config gives.
fn hook(name: &str, log: &str) -> serde_json::Value {
    json!({
        "path": "/bin/busybox",
        "args": ["busybox", "sh", "-c", "echo \"$0 $(busybox readlink /proc/self/ns/mnt) $(busybox cat)\" >> $LOG", name],
        "env": [format!("LOG={log}"), "PATH=/bin"],
    })
}

#[test]
fn every_hook_in_order_and_namespace() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("readlink /proc/self/ns/mnt");
    b.config["root"]["readonly"] = json!(false);
    let host_log = b.rootfs().join("hooks.log");
    let host_log = host_log.to_str().unwrap();
    b.config["hooks"] = json!({
        "prestart": [hook("prestart", host_log)],
        "createRuntime": [hook("createRuntime", host_log)],
        "createContainer": [hook("createContainer", host_log)],
        // startContainer runs in the container after pivot_root: paths are the container's.
        "startContainer": [hook("startContainer", "/hooks.log")],
        "poststart": [hook("poststart", host_log)],
        "poststop": [hook("poststop", host_log)],
    });
    b.save();
    let id = unique("hooks");
    let out = ok(&rt.run(&id, &b));
    let container_mnt = out.trim().to_string();
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt")
        .unwrap()
        .to_string_lossy()
        .into_owned();

    let log = std::fs::read_to_string(b.rootfs().join("hooks.log")).unwrap();
    let entries: Vec<(&str, &str, serde_json::Value)> = log
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let name = parts.next().unwrap();
            let mnt = parts.next().unwrap();
            let state: serde_json::Value = serde_json::from_str(parts.next().unwrap()).unwrap();
            (name, mnt, state)
        })
        .collect();
    let names: Vec<&str> = entries.iter().map(|e| e.0).collect();
    assert_eq!(
        names,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    for (name, mnt, state) in &entries {
        assert_eq!(state["id"], id.as_str(), "{name} got the state on stdin");
        let expected = if matches!(*name, "createContainer" | "startContainer") {
            &container_mnt
        } else {
            &host_mnt
        };
        assert_eq!(mnt, expected, "{name} ran in the wrong mount namespace");
    }
    assert_eq!(entries[0].2["status"], "creating");
    assert!(entries[0].2["pid"].as_i64().unwrap() > 0);
    assert_eq!(entries[5].2["status"], "stopped");
}

#[test]
fn hook_timeout_fails_create() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    // Checked by effect, not by the clock: the hook would mark its end after its sleep; killed
    // at its 1 s timeout, it never does.
    let dir = TempDir::new("hull-hookto");
    let (sleep_pid, finished) = (dir.path().join("sleep.pid"), dir.path().join("finished"));
    let script = format!(
        "sleep 20 & echo $! > {}; wait; touch {}",
        sleep_pid.display(),
        finished.display()
    );
    b.config["hooks"] = json!({"createRuntime": [
        {"path": "/bin/sh", "args": ["sh", "-c", script], "timeout": 1}]});
    b.save();
    let id = unique("hookto");
    let out = rt.create(&id, &b);
    if let Ok(pid) = std::fs::read_to_string(&sleep_pid) {
        let _ = kill(pid.trim().parse().unwrap(), rustix::process::Signal::KILL);
    }
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(
        !finished.exists(),
        "the hook ran to its end: not killed at its timeout"
    );
    assert!(rt.ids().is_empty());
}

#[test]
fn failing_poststop_hook_is_a_warning() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.config["hooks"] = json!({"poststop": [{"path": "/bin/false"}]});
    b.save();
    let id = unique("poststop");
    let out = rt.run(&id, &b);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("poststop hook"), "{}", stderr(&out));
    assert!(rt.ids().is_empty());
}
