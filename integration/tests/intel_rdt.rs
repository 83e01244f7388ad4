//! linux.intelRdt (runtime-spec 1.3 config-linux.md "IntelRdt"; runc 1.4). "If no mounted
//! resctrl pseudo-filesystem is available in the runtime mount namespace, the runtime MUST
//! generate an error." The development and CI hosts have no resctrl: there the test checks
//! that error (and that nothing is left); on a host with resctrl it runs a container in a
//! group of its own and checks the group while it runs and after delete. The rules on the
//! fields and the writes are unit-tested against a directory laid out like resctrl
//! (`resctrl::tests`). No differential run: runc 1.1.5 runs this config on a host without
//! resctrl and says nothing (it refuses only l3CacheSchema/memBwSchema there, "Intel RDT/CAT
//! is not enabled"); hull follows the spec's MUST.

use hull_integration::*;
use serde_json::json;

fn resctrl_mount() -> Option<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split(' ').next()? == "resctrl")
                .then(|| left.split(' ').nth(4).unwrap().to_string())
        })
}

#[test]
fn intel_rdt_needs_resctrl() {
    let mut b = Bundle::sh("sleep 30");
    b.config["linux"]["intelRdt"] = json!({"enableMonitoring": false});
    b.save();
    let rt = Runtime::new();
    let id = unique("rdt");
    match resctrl_mount() {
        None => {
            let out = rt.create(&id, &b);
            assert!(!out.status.success(), "intelRdt accepted without resctrl");
            assert!(
                stderr(&out).contains("linux.intelRdt: no resctrl filesystem is mounted"),
                "{}",
                stderr(&out)
            );
            assert!(!rt.root.path().join(&id).exists(), "state dir left behind");
            assert!(!process_with(&id));
        }
        Some(mount) => {
            ok(&rt.run_detached(&id, &b));
            let pid = rt.state(&id).unwrap()["pid"].to_string();
            let group = std::path::Path::new(&mount).join(&id);
            let tasks = std::fs::read_to_string(group.join("tasks")).unwrap();
            assert!(tasks.lines().any(|t| t == pid), "init {pid} in {tasks}");
            ok(&rt.cmd(&["delete", "-f", &id]));
            assert!(!group.exists(), "delete removes the group it made");
        }
    }
}
