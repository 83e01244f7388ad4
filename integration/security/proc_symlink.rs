//! /proc reached through a symlink in the rootfs (CVE-2019-19921, CVE-2023-27561, the
//! CVE-2025-52881 class). The image holds `evil -> /proc`; the config has an ordinary bind
//! whose destination passes through it. Followed, the bind covers the container's procfs (or
//! a part of it) with host files, and the runtime's own writes of linux.sysctl and
//! oomScoreAdj land in those host files.
//!
//! hull judges a destination by where it resolved to (src/rootfs/target.rs) and writes /proc
//! only through its verified procfs handle (src/procfs.rs). The last test's bind is allowed
//! (an lxcfs-style file) but its sysctl is not namespaced, so the config is refused outright.

use std::path::Path;

use hull_integration::*;
use serde_json::json;

use crate::common::{assert_refused, snapshot};

/// A host directory shaped like the parts of /proc the runtime writes.
fn fake_proc() -> TempDir {
    let host = TempDir::new("hull-sec-fakeproc");
    for (file, text) in [
        ("sys/kernel/domainname", "host-domain"),
        ("kernel/domainname", "host-domain"),
        ("1/oom_score_adj", "0"),
        ("self/oom_score_adj", "0"),
    ] {
        let path = host.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    host
}

/// A bundle with `evil -> /proc` in its rootfs and a bind of `source` at `dest`.
fn evil_bundle(dest: &str, source: &Path) -> Bundle {
    let mut b = Bundle::busybox(&["true"]);
    std::os::unix::fs::symlink("/proc", b.rootfs().join("evil")).unwrap();
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": dest, "type": "bind", "source": source, "options": ["rbind"]}));
    b.save();
    b
}

fn refused_and_unchanged(b: &Bundle, dest: &str, why: &str, host: &TempDir) {
    let before = snapshot(host.path());
    let rt = Runtime::new();
    let out = rt.create(&unique("evilproc"), b);
    assert_refused(
        &rt,
        &out,
        &format!("({dest}): resolves through a symlink in the rootfs to {why}"),
    );
    assert_eq!(snapshot(host.path()), before, "a host file changed");
}

/// The bind would replace the container's /proc itself.
/// runc 1.1.5: refuses ("/proc cannot be mounted because it is not of type proc").
#[test]
fn bind_at_evil_is_refused() {
    let host = fake_proc();
    let mut b = evil_bundle("/evil", host.path());
    b.config["linux"]["sysctl"] = json!({"kernel.domainname": "pwned"});
    b.config["process"]["oomScoreAdj"] = json!(500);
    b.save();
    refused_and_unchanged(
        &b,
        "/evil",
        "/proc, where only a procfs can be mounted",
        &host,
    );
}

/// linux.sysctl under a bind at /evil/sys/kernel: hull wrote "pwned" into the host's
/// kernel/domainname file before the fix.
/// runc 1.1.5: refuses ("/proc/sys/kernel cannot be mounted because it is inside /proc").
#[test]
fn sysctl_under_a_bind_at_evil_sys_kernel_is_refused() {
    let host = fake_proc();
    let mut b = evil_bundle("/evil/sys/kernel", &host.path().join("kernel"));
    b.config["linux"]["sysctl"] = json!({"kernel.domainname": "pwned"});
    b.save();
    refused_and_unchanged(
        &b,
        "/evil/sys/kernel",
        "/proc/sys/kernel, inside /proc",
        &host,
    );
}

/// oomScoreAdj under a bind at /evil/1 (init is pid 1 in its pid namespace): hull wrote 500
/// into the host's 1/oom_score_adj file before the fix.
/// runc 1.1.5: refuses ("/proc/1 cannot be mounted because it is inside /proc").
#[test]
fn oom_score_adj_under_a_bind_at_evil_1_is_refused() {
    let host = fake_proc();
    let mut b = evil_bundle("/evil/1", &host.path().join("1"));
    b.config["process"]["oomScoreAdj"] = json!(500);
    b.save();
    refused_and_unchanged(&b, "/evil/1", "/proc/1, inside /proc", &host);
}

/// Deeper, and through a directory that does not exist yet: nothing is created in the
/// container's procfs either.
/// runc 1.1.5: refuses ("/proc/1/fd cannot be mounted because it is inside /proc").
#[test]
fn bind_at_evil_1_fd_is_refused() {
    let host = fake_proc();
    let b = evil_bundle("/evil/1/fd", host.path());
    refused_and_unchanged(&b, "/evil/1/fd", "/proc/1/fd, inside /proc", &host);
}

/// A bind that is allowed inside /proc (an lxcfs-style file) over the very sysctl the config
/// sets. kernel.ns_last_pid is not one of the sysctls a container may set (runc's rule, now
/// hull's: see spec/sysctl.rs), so the config is refused before anything exists and the host
/// file keeps its content. (Before the namespace rules, hull ran it and the write went through
/// the verified procfs to the kernel, not into the bind; that mechanism stays covered by the
/// unit test `procfs::tests::writes_ignore_what_is_mounted_on_proc`. Before the procfs fix the
/// host file got the value.)
/// runc 1.1.5: refuses the sysctl itself ("kernel.ns_last_pid is not in a separate kernel
/// namespace"); with a sysctl it accepts, it writes through the container's /proc/sys.
#[test]
fn sysctl_under_a_bind_over_proc_sys_is_refused() {
    let host = TempDir::new("hull-sec-nslastpid");
    let file = host.path().join("ns_last_pid");
    std::fs::write(&file, "12345").unwrap();
    let mut b = Bundle::busybox(&["cat", "/proc/sys/kernel/ns_last_pid"]);
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/proc/sys/kernel/ns_last_pid", "type": "bind",
        "source": file, "options": ["bind"]}));
    b.config["linux"]["sysctl"] = json!({"kernel.ns_last_pid": "4242"});
    b.save();
    let rt = Runtime::new();
    let id = unique("nslastpid");
    let out = rt.run(&id, &b);
    assert!(!out.status.success(), "kernel.ns_last_pid was accepted");
    assert!(
        stderr(&out).contains("kernel.ns_last_pid")
            && stderr(&out).contains("not in a separate kernel namespace"),
        "{}",
        stderr(&out)
    );
    assert!(!rt.root.path().join(&id).exists(), "state dir left behind");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "12345",
        "the host file was written"
    );
}
