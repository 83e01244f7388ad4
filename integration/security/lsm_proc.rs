//! A mount over /proc meant to redirect the runtime's LSM attribute writes (CVE-2019-16884:
//! an image VOLUME at /proc made runc write the AppArmor profile into a plain file, so the
//! container ran unconfined). Here the config binds a host directory laid out like /proc
//! (thread-self/attr/exec, self/attr/..., sys/kernel/...) at /proc, or mounts a tmpfs there;
//! the config also sets a sysctl and oomScoreAdj, the writes this host can make (it has no
//! AppArmor or SELinux to take a label).
//!
//! hull refuses anything but a procfs at /proc (the config's word is checked before anything
//! exists, the resolved target again when mounting), and writes LSM attributes, sysctls and
//! oom_score_adj only through its verified procfs handle; the unit test
//! `security::lsm::tests::attribute_writes_ignore_what_is_mounted_on_proc` shows the label
//! write itself ignoring a tmpfs over /proc.
//!
//! runc 1.1.5: refuses the bind ("/proc cannot be mounted because it is not of type proc"),
//! but accepts the tmpfs, then fails writing the sysctl into it ("open
//! /proc/sys/kernel/domainname: no such file or directory"): its writes follow whatever is
//! mounted at the container's /proc.

use hull_integration::*;
use serde_json::json;

use crate::common::{assert_refused, snapshot};

fn fake_proc() -> TempDir {
    let host = TempDir::new("hull-sec-lsmproc");
    for file in [
        "thread-self/attr/exec",
        "thread-self/attr/apparmor/exec",
        "self/attr/exec",
        "self/oom_score_adj",
        "sys/kernel/domainname",
    ] {
        let path = host.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }
    host
}

fn over_proc(mount: serde_json::Value) -> Bundle {
    let mut b = Bundle::busybox(&["true"]);
    b.config["mounts"].as_array_mut().unwrap().push(mount);
    b.config["linux"]["sysctl"] = json!({"kernel.domainname": "pwned"});
    b.config["process"]["oomScoreAdj"] = json!(500);
    b.save();
    b
}

#[test]
fn bind_of_a_fake_proc_tree_at_proc_is_refused() {
    let host = fake_proc();
    let before = snapshot(host.path());
    let b = over_proc(json!({"destination": "/proc", "type": "bind",
        "source": host.path(), "options": ["rbind"]}));
    let rt = Runtime::new();
    let out = rt.create(&unique("lsmproc"), &b);
    assert_refused(&rt, &out, "is not a procfs");
    assert!(stderr(&out).contains("(/proc)"), "{}", stderr(&out));
    assert_eq!(snapshot(host.path()), before);
}

#[test]
fn tmpfs_at_proc_is_refused() {
    let b = over_proc(json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}));
    let rt = Runtime::new();
    let out = rt.create(&unique("lsmproc"), &b);
    assert_refused(&rt, &out, "(/proc): only a procfs can be mounted on /proc");
}
