//! linux.netDevices on this host, with veth pairs (the host has no dummy module; the VM lane
//! moves a dummy device, hack/vm/checks-v2.sh `check_netdevices`). The probe inside reads the
//! interfaces of its namespace. runc 1.1.5 has no netDevices (it ignores the field), so the
//! expected behaviour is runc 1.3+'s (libcontainer/network_linux.go devChangeNetNamespace,
//! tests/integration/netdev.bats) and the runtime-spec 1.3 (config-linux.md "Network
//! Devices"): moved and renamed, permanent global addresses and MTU kept, set up; nothing
//! done at delete (the namespace's owner owns the devices).

use std::path::Path;
use std::process::Command;

use hull_integration::*;
use serde_json::{json, Value};

fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2)")
}

#[track_caller]
fn ip_ok(args: &[&str]) {
    let out = ip(args);
    assert!(out.status.success(), "ip {args:?}: {}", stderr(&out));
}

/// A veth pair of unique names, deleted (if still on the host) when dropped.
struct Veth {
    a: String,
    b: String,
}

impl Veth {
    fn new() -> Veth {
        // Interface names have at most 15 bytes.
        let n = unique("v");
        let n = n.rsplit('-').next().unwrap().to_string();
        let pid = std::process::id() % 10000;
        let (a, b) = (format!("hva{pid}x{n}"), format!("hvb{pid}x{n}"));
        ip_ok(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        Veth { a, b }
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        if Path::new("/sys/class/net").join(&self.a).exists() {
            let _ = ip(&["link", "del", &self.a]);
        }
    }
}

fn on_host(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn sysfs(name: &str, attr: &str) -> String {
    std::fs::read_to_string(Path::new("/sys/class/net").join(name).join(attr))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn probe(
    net_devices: Value,
    edit: impl FnOnce(&mut Value),
) -> (Runtime, String, std::process::Output) {
    let mut b = Bundle::probe(&[]);
    b.config["linux"]["netDevices"] = net_devices;
    edit(&mut b.config);
    b.save();
    let rt = Runtime::new();
    let id = unique("netdev");
    let out = rt.run(&id, &b);
    (rt, id, out)
}

fn report(out: &std::process::Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}

const IFF_UP: u64 = 1;

#[test]
fn a_device_moves_in_renamed_with_its_addresses_and_mtu() {
    let v = Veth::new();
    ip_ok(&["addr", "add", "10.231.7.1/24", "dev", &v.a]);
    ip_ok(&["link", "set", &v.a, "mtu", "1400"]);
    let mac = sysfs(&v.a, "address");
    let (_rt, _, out) = probe(json!({&v.a: {"name": "ctr0"}}), |_| {});
    let r = report(&out);
    let ctr0 = &r["net"]["ctr0"];
    assert_eq!(ctr0["ipv4"], "10.231.7.1", "{}", r["net"]);
    assert_eq!(ctr0["mtu"], 1400);
    assert_eq!(ctr0["mac"], json!(mac));
    assert_eq!(ctr0["flags"].as_u64().unwrap() & IFF_UP, IFF_UP, "set up");
    assert!(r["net"].get(&v.a).is_none(), "renamed");
    // The container's own namespace is gone with it, and the veth with it (its peer too).
    // The kernel tears a dead network namespace down in a work queue, after the last process
    // has gone: the pair is waited for (a bound on a busy machine, not a timing claim).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while (on_host(&v.a) || on_host(&v.b)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !on_host(&v.a) && !on_host(&v.b),
        "the pair went with the namespace"
    );
}

#[test]
fn without_a_name_it_keeps_its_own() {
    let v = Veth::new();
    let (_rt, _, out) = probe(json!({&v.a: {}}), |_| {});
    let r = report(&out);
    assert!(r["net"].get(&v.a).is_some(), "{}", r["net"]);
}

/// runc 1.3 leaves a failed create's devices in the dying namespace; hull puts them back.
#[test]
fn a_failed_create_puts_the_device_back() {
    let v = Veth::new();
    ip_ok(&["addr", "add", "10.231.8.1/24", "dev", &v.a]);
    ip_ok(&["link", "set", &v.a, "mtu", "1300", "up"]);
    let (rt, id, out) = probe(json!({&v.a: {"name": "ctr0"}}), |c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    });
    assert!(!out.status.success(), "the hook fails the create");
    assert!(!rt.root.path().join(&id).exists(), "state dir left behind");
    assert!(
        on_host(&v.a),
        "the device is back on the host under its name"
    );
    assert_eq!(sysfs(&v.a, "mtu"), "1300");
    assert_eq!(
        u64::from_str_radix(sysfs(&v.a, "flags").trim_start_matches("0x"), 16).unwrap() & IFF_UP,
        IFF_UP,
        "up again"
    );
    let addrs =
        String::from_utf8_lossy(&ip(&["-br", "addr", "show", "dev", &v.a]).stdout).into_owned();
    assert!(addrs.contains("10.231.8.1/24"), "{addrs}");
}

/// A network namespace joined by path keeps the device after delete (runc 1.3: "the network
/// namespace owner controls the lifecycle of the interface").
#[test]
fn a_joined_namespace_keeps_the_device() {
    let v = Veth::new();
    let ns = format!("hull-{}", unique("ns"));
    ip_ok(&["netns", "add", &ns]);
    struct Netns(String);
    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = ip(&["netns", "del", &self.0]);
        }
    }
    let _ns = Netns(ns.clone());
    let (rt, id, out) = probe(json!({&v.a: {"name": "ctr1"}}), |c| {
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "network");
        list.push(json!({"type": "network", "path": format!("/run/netns/{ns}")}));
    });
    assert!(report(&out)["net"].get("ctr1").is_some());
    assert!(
        !rt.root.path().join(&id).exists(),
        "run removed the container"
    );
    let inside = ip(&["-n", &ns, "-br", "link", "show", "ctr1"]);
    assert!(
        inside.status.success(),
        "ctr1 is still in the namespace: {}",
        stderr(&inside)
    );
    assert!(!on_host(&v.a));
}

#[test]
fn bad_configs_are_refused_before_anything_moves() {
    let v = Veth::new();
    let refused = |devs: Value, edit: &dyn Fn(&mut Value), expect: &str| {
        let (rt, id, out) = probe(devs, |c| edit(c));
        assert!(!out.status.success(), "{expect}: accepted");
        assert!(
            stderr(&out).contains(expect),
            "{expect} not in {}",
            stderr(&out)
        );
        assert!(!rt.root.path().join(&id).exists(), "state dir left behind");
        assert!(on_host(&v.a), "the device stays on the host");
    };
    let no_netns = |c: &mut Value| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network")
    };
    refused(
        json!({&v.a: {}}),
        &no_netns,
        "linux.netDevices: moving network devices needs a network namespace",
    );
    refused(
        json!({"hull-nodev0": {}}),
        &|_| {},
        "linux.netDevices.hull-nodev0: no such device",
    );
    refused(
        json!({&v.a: {"name": "a/b"}}),
        &|_| {},
        "not a valid interface name",
    );
    let host_ns = |c: &mut Value| {
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "network");
        list.push(json!({"type": "network", "path": "/proc/self/ns/net"}));
    };
    refused(json!({&v.a: {}}), &host_ns, "is the runtime's own");
}
