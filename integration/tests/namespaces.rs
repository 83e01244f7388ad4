//! Namespaces: created by the clone, joined by path, time offsets; checked from inside.

use hull_integration::*;
use serde_json::json;

const REPORT: &str = "for n in pid net ipc uts mnt cgroup time; do echo $n=$(readlink /proc/self/ns/$n); done; echo pid=$$; echo hostname=$(hostname)";

fn host_ns(name: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{name}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn new_namespaces_from_the_default_config() {
    let rt = Runtime::new();
    let b = Bundle::sh(REPORT);
    let r = kv(&ok(&rt.run(&unique("ns"), &b)));
    for n in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        assert_ne!(r[n], host_ns(n), "{n} namespace is the host's");
    }
    assert_eq!(
        r["time"],
        host_ns("time"),
        "no time namespace was asked for"
    );
    assert_eq!(r["pid"], "1");
    assert_eq!(r["hostname"], "hull");
}

#[test]
fn join_namespaces_by_path() {
    let rt = Runtime::new();
    let a = Bundle::sh("sleep 60");
    let a_id = unique("nsa");
    ok(&rt.run_detached(&a_id, &a));
    let a_pid = rt.state(&a_id).unwrap()["pid"].as_i64().unwrap();
    let a_ns = |n: &str| {
        std::fs::read_link(format!("/proc/{a_pid}/ns/{n}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };

    let mut b = Bundle::sh(REPORT);
    let nss = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    for ns in nss.iter_mut() {
        if ns["type"] == "network" {
            ns["path"] = json!(format!("/proc/{a_pid}/ns/net"));
        }
        if ns["type"] == "pid" {
            ns["path"] = json!(format!("/proc/{a_pid}/ns/pid"));
        }
    }
    b.save();
    let r = kv(&ok(&rt.run(&unique("nsb"), &b)));
    assert_eq!(r["net"], a_ns("net"), "joined A's network namespace");
    assert!(
        r["pid"].parse::<i32>().unwrap() > 1,
        "in A's pid namespace, B is not pid 1"
    );
    assert_ne!(
        r["mnt"],
        a_ns("mnt"),
        "the mount namespace is still B's own"
    );
    ok(&rt.cmd(&["delete", "-f", &a_id]));
}

#[test]
fn time_namespace_with_offsets() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("readlink /proc/self/ns/time; cut -d. -f1 /proc/uptime");
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 1_000_000, "nanosecs": 0}});
    b.save();
    // The host's uptime before the container reads its own: no slack for a slow machine.
    let host: u64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let out = ok(&rt.run(&unique("time"), &b));
    let mut lines = out.lines();
    assert_ne!(lines.next().unwrap(), host_ns("time"));
    let uptime: u64 = lines.next().unwrap().parse().unwrap();
    assert!(uptime >= host + 1_000_000, "uptime {uptime} vs host {host}");
}

#[test]
fn bad_namespace_path_fails_cleanly() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("true");
    b.config["linux"]["namespaces"][1]["path"] = json!("/no/such/ns");
    b.save();
    let id = unique("nsbad");
    let out = rt.create(&id, &b);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/no/such/ns"), "{}", stderr(&out));
    assert!(rt.ids().is_empty());
}
