//! linux.sysctl keys against the container's namespaces: a key whose namespace the container
//! shares with the host, or that is not namespaced at all, is refused before anything is
//! made; an allowed key is written and the probe reads it back inside. Every case is run
//! under runc 1.1.5 too, which has the same rules (libcontainer/configs/validate `sysctl`,
//! unchanged in 1.4): both must accept or both refuse.

use hull_integration::*;
use serde_json::{json, Value};

const RUNC: &str = "/usr/sbin/runc";

/// A probe bundle setting `sysctl`, with the default namespaces minus `drop`, and with
/// `extra` namespaces (type, path) added.
fn bundle(sysctl: Value, drop: &[&str], extra: &[(&str, &str)], read: &[&str]) -> Bundle {
    let mut args = Vec::new();
    for k in read {
        args.extend(["--sysctl", k]);
    }
    let mut b = Bundle::probe(&args);
    let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| !drop.contains(&n["type"].as_str().unwrap()));
    for (typ, path) in extra {
        ns.retain(|n| n["type"] != *typ);
        ns.push(json!({"type": typ, "path": path}));
    }
    if drop.contains(&"uts") {
        // A hostname needs a uts namespace of its own.
        b.config.as_object_mut().unwrap().remove("hostname");
    }
    b.config["linux"]["sysctl"] = sysctl;
    b.save();
    b
}

/// Runs the bundle under both runtimes; returns hull's output and whether runc agreed.
fn both(b: &Bundle) -> (std::process::Output, bool) {
    assert!(
        std::path::Path::new(RUNC).exists(),
        "runc is required for the differential tests (hack/setup.sh installs it)"
    );
    let hull = Runtime::new();
    let id = unique("sysctl");
    let out = hull.run(&id, b);
    if !out.status.success() {
        // Refused at validation: nothing of the container was made.
        assert!(
            !hull.root.path().join(&id).exists(),
            "state dir left behind"
        );
        assert!(
            !process_with(&id),
            "a process of the refused create remains"
        );
    }
    let runc = Runtime::with_bin(RUNC.into()).run(&unique("sysctl"), b);
    (out.clone(), out.status.success() == runc.status.success())
}

#[track_caller]
fn refused(b: &Bundle, key: &str, why: &str) {
    let (out, agree) = both(b);
    assert!(!out.status.success(), "{key} was accepted");
    let err = stderr(&out);
    assert!(
        err.contains("linux.sysctl") && err.contains(key) && err.contains(why),
        "expected the key and {why:?} in: {err}"
    );
    assert!(agree, "runc 1.1.5 accepted {key}, hull refused it");
}

#[track_caller]
fn accepted(b: &Bundle, expect: &[(&str, &str)]) {
    let (out, agree) = both(b);
    let report: Value = serde_json::from_str(&ok(&out)).unwrap();
    for (k, v) in expect {
        assert_eq!(report["sysctl"][k], *v, "{k} inside the container");
    }
    assert!(agree, "runc 1.1.5 refused what hull accepted");
}

#[test]
fn keys_that_are_not_namespaced_are_refused() {
    for key in ["kernel.core_pattern", "kernel.ns_last_pid", "vm.swappiness"] {
        let b = bundle(json!({key: "1"}), &[], &[], &[]);
        refused(&b, key, "not in a separate kernel namespace");
    }
}

#[test]
fn ipc_keys_need_an_ipc_namespace() {
    let b = bundle(json!({"kernel.shmmax": "123456"}), &["ipc"], &[], &[]);
    refused(&b, "kernel.shmmax", "host's ipc namespace");
    let b = bundle(json!({"fs.mqueue.msg_max": "20"}), &["ipc"], &[], &[]);
    refused(&b, "fs.mqueue.msg_max", "host's ipc namespace");
    let b = bundle(
        json!({"kernel.shmmax": "123456", "fs.mqueue.msg_max": "20"}),
        &[],
        &[],
        &["kernel.shmmax", "fs.mqueue.msg_max"],
    );
    accepted(
        &b,
        &[("kernel.shmmax", "123456"), ("fs.mqueue.msg_max", "20")],
    );
}

#[test]
fn net_keys_need_a_network_namespace_of_the_containers_own() {
    let b = bundle(json!({"net.ipv4.ip_forward": "1"}), &["network"], &[], &[]);
    refused(&b, "net.ipv4.ip_forward", "host's network namespace");
    // Joining the runtime's own network namespace by path is the host's too.
    let b = bundle(
        json!({"net.ipv4.ip_forward": "1"}),
        &[],
        &[("network", "/proc/self/ns/net")],
        &[],
    );
    refused(&b, "net.ipv4.ip_forward", "host's network namespace");
    // sysctl(8)'s slash form, with a dot inside a component.
    let b = bundle(
        json!({"net/ipv4/ip_forward": "1", "net/ipv4/conf/lo/forwarding": "1"}),
        &[],
        &[],
        &["net.ipv4.ip_forward", "net.ipv4.conf.lo.forwarding"],
    );
    accepted(
        &b,
        &[
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.lo.forwarding", "1"),
        ],
    );
}

#[test]
fn uts_keys_domainname_yes_hostname_no() {
    let b = bundle(
        json!({"kernel.domainname": "sysctl.example"}),
        &[],
        &[],
        &["kernel.domainname"],
    );
    accepted(&b, &[("kernel.domainname", "sysctl.example")]);
    let b = bundle(json!({"kernel.hostname": "x"}), &[], &[], &[]);
    refused(&b, "kernel.hostname", "conflicts with the hostname field");
    let b = bundle(json!({"kernel.domainname": "x"}), &["uts"], &[], &[]);
    refused(
        &b,
        "kernel.domainname",
        "not in a separate kernel namespace",
    );
}
