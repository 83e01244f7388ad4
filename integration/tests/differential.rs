//! The same bundles under runc (Debian's 1.1.5) and hull: what the probe sees inside must
//! agree, except where the two legitimately differ (pids, namespace and cgroup ids).

use hull_integration::*;
use serde_json::{json, Value};

const RUNC: &str = "/usr/sbin/runc";

/// Runs the probe bundle under a runtime and returns its report.
fn report(rt: &Runtime, b: &Bundle) -> Value {
    let out = rt.run(&unique("diff"), b);
    assert!(
        out.status.success(),
        "{} failed: {}",
        rt.bin.display(),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// Mounts as (target, fstype, per-mount options, super options), sorted. The tmpfs under
/// /sys/fs/cgroup is left out: runc leaves it writable under a read-only cgroup mount, hull
/// makes it read-only too (the cgroup hierarchies in it are read-only under both). The
/// superblock options of /sys are left out too: runc's mount(2) with MS_RDONLY also makes
/// sysfs's superblock read-only, hull's `ro` is a per-mount attribute only, because without a
/// new network namespace that superblock is the host's (the mount is read-only under both).
fn mounts(r: &Value) -> Vec<String> {
    let mut m: Vec<String> = r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !(m["target"] == "/sys/fs/cgroup" && m["fstype"] == "tmpfs"))
        .map(|m| {
            let sup = if m["target"] == "/sys" {
                &Value::Null
            } else {
                &m["super"]
            };
            format!("{} {} {} {}", m["target"], m["fstype"], m["options"], sup)
        })
        .collect();
    m.sort();
    m
}

/// Where hull knowingly differs from runc 1.1.5, the value each has, for the test to check
/// separately: (JSON pointer into the report, hull's value).
type Known<'a> = &'a [(&'a str, Value)];

fn compare(b: &Bundle, known: Known) {
    if !std::path::Path::new(RUNC).exists() {
        panic!("runc is required for the differential tests (hack/setup.sh installs it)");
    }
    let mut hull = report(&Runtime::new(), b);
    let mut runc = report(&Runtime::with_bin(RUNC.into()), b);
    for (pointer, expected) in known {
        assert_eq!(hull.pointer(pointer), Some(expected), "hull's {pointer}");
        *hull.pointer_mut(pointer).unwrap() = Value::Null;
        *runc.pointer_mut(pointer).unwrap() = Value::Null;
    }
    for key in [
        "uid",
        "gid",
        "groups",
        "umask",
        "cwd",
        "hostname",
        "domainname",
        "env",
        "caps",
        "no_new_privs",
        "seccomp",
        "rlimits",
        "oom_score_adj",
        "stat",
        "sysctl",
        "write",
        // The interfaces of the network namespace: runc brings lo up in a new one.
        "net",
    ] {
        assert_eq!(
            hull[key], runc[key],
            "{key} differs: hull {} / runc {}",
            hull[key], runc[key]
        );
    }
    // The same fd numbers reach the process. (What stands behind stdio differs by design:
    // runc's foreground `run` puts pipes of its own there, hull passes its stdio through.)
    let fd_numbers = |r: &Value| {
        r["fds"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(fd_numbers(&hull), fd_numbers(&runc));
    assert_eq!(hull["pid"], 1);
    assert_eq!(mounts(&hull), mounts(&runc), "mounts differ");
}

fn paths() -> Vec<&'static str> {
    vec![
        "--stat",
        "/dev/null",
        "--stat",
        "/dev/zero",
        "--stat",
        "/dev/full",
        "--stat",
        "/dev/random",
        "--stat",
        "/dev/urandom",
        "--stat",
        "/dev/tty",
        "--stat",
        "/dev/ptmx",
        "--stat",
        "/dev/fd",
        "--stat",
        "/dev/stdin",
        "--stat",
        "/dev/shm",
        "--stat",
        "/proc/kcore",
        "--stat",
        "/proc/keys",
        "--stat",
        "/proc/timer_list",
        "--stat",
        "/sys/firmware",
        "--write",
        "/proc/sys/kernel/hostname",
        "--write",
        "/proc/sysrq-trigger",
        "--write",
        "/etc/passwd",
    ]
}

#[test]
fn default_spec_matches_runc() {
    let b = Bundle::probe(&paths());
    compare(&b, &[]);
}

#[test]
fn process_settings_match_runc() {
    let mut b = Bundle::probe(&paths());
    b.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 6], "umask": 63});
    b.config["process"]["cwd"] = json!("/tmp");
    b.config["process"]["env"] = json!(["PATH=/bin", "A=1"]);
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}, {"type": "RLIMIT_NPROC", "soft": 50, "hard": 60}]);
    b.config["process"]["oomScoreAdj"] = json!(100);
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"], "effective": ["CAP_KILL"],
        "permitted": ["CAP_KILL", "CAP_CHOWN"], "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]
    });
    b.config["hostname"] = json!("differential");
    b.config["root"]["readonly"] = json!(false);
    b.config["linux"]["sysctl"] = json!({"kernel.shmmax": "123456"});
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "size=1m", "mode=700"]}));
    b.config["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 432, "uid": 0, "gid": 0}]);
    b.save();
    let mut args = paths();
    args.extend([
        "--stat",
        "/dev/fuse",
        "--stat",
        "/data",
        "--sysctl",
        "kernel.shmmax",
    ]);
    b.config["process"]["args"] = std::iter::once("/probe")
        .chain(args)
        .map(Value::from)
        .collect();
    b.save();
    // mode=700 on a tmpfs: the spec passes options to the filesystem, so hull's /data is
    // 0700; runc 1.1.5 leaves it 0755.
    compare(&b, &[("/stat/~1data/mode", json!(0o700))]);
}
