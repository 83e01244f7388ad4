//! maskedPaths with the container's /dev/null replaced (CVE-2025-31133). A masked file gets
//! /dev/null bound over it; if /dev/null is a symlink (here to a host file the config binds
//! in; in the advisory, to /proc/sys/kernel/core_pattern) the "mask" becomes a writable alias
//! of the link's target, and the container writes through it.
//!
//! hull opens /dev/null with O_NOFOLLOW, checks the fd is the character device 1:3, and binds
//! that fd, never the path (src/rootfs/paths.rs); anything else is refused with the masked
//! path named.
//!
//! runc 1.1.5: follows the link. The container's `echo pwned > /proc/timer_list` wrote
//! "pwned" into the host file (create and run succeed).

use hull_integration::*;
use serde_json::json;

use crate::common::assert_refused;

/// /dev is bound from the bundle's `fakedev`, whose `null` is made by `plant`; /hostfile is a
/// host file bound in; /proc/timer_list is masked and the process writes to it.
fn masked_bundle(hostfile: &std::path::Path, plant: impl FnOnce(&std::path::Path)) -> Bundle {
    let mut b = Bundle::busybox(&["sh", "-c", "echo pwned > /proc/timer_list"]);
    let fakedev = b.path().join("fakedev");
    std::fs::create_dir(&fakedev).unwrap();
    plant(&fakedev.join("null"));
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
    mounts.push(
        json!({"destination": "/dev", "type": "bind", "source": fakedev, "options": ["rbind"]}),
    );
    mounts.push(json!({"destination": "/hostfile", "type": "bind", "source": hostfile, "options": ["bind"]}));
    b.config["linux"]["maskedPaths"] = json!(["/proc/timer_list"]);
    b.save();
    b
}

fn attack(plant: impl FnOnce(&std::path::Path), why: &str) {
    let host = TempDir::new("hull-sec-masked");
    let hostfile = host.path().join("file");
    std::fs::write(&hostfile, "original").unwrap();
    let b = masked_bundle(&hostfile, plant);
    let rt = Runtime::new();
    let out = rt.run(&unique("masked"), &b);
    assert_refused(
        &rt,
        &out,
        "maskedPaths[0] (/proc/timer_list): /dev/null in the container is",
    );
    assert!(stderr(&out).contains(why), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&hostfile).unwrap(), "original");
}

#[test]
fn dev_null_symlink_is_refused() {
    attack(
        |null| std::os::unix::fs::symlink("/hostfile", null).unwrap(),
        "a symlink, not the null device (1:3)",
    );
}

#[test]
fn dev_null_regular_file_is_refused() {
    attack(
        |null| std::fs::write(null, "").unwrap(),
        "something else, not the null device (1:3)",
    );
}
