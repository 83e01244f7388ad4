//! CVE-2022-29162: `exec --cap` put the capability in the inheritable set too (and runc before
//! 1.1.2 did the same). A non-root process in the container then gains it by executing any
//! file that carries it as an inheritable file capability: the kernel adds P(inheritable) &
//! F(inheritable) to the new permitted set. hull, like runc, adds `--cap` to the bounding,
//! effective and permitted sets only.

use hull_integration::*;

use crate::leftovers::exec;

const CAP_SYS_ADMIN: u64 = 1 << 21;

/// The capability sets of /proc/self/status, as numbers.
fn caps(status: &str) -> std::collections::BTreeMap<String, u64> {
    status
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.starts_with("Cap"))
        .map(|(k, v)| (k.to_string(), u64::from_str_radix(v.trim(), 16).unwrap()))
        .collect()
}

/// Copies busybox to `path` in the rootfs with CAP_SYS_ADMIN as an inheritable (and
/// effective) file capability: what `setcap cap_sys_admin+ei` writes.
fn file_with_inheritable_sys_admin(b: &Bundle, path: &str) {
    let dest = b.rootfs().join(path.trim_start_matches('/'));
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    // A copy, not a link: the capability goes on this inode only.
    std::fs::copy(b.rootfs().join("bin/busybox"), &dest).unwrap();
    // struct vfs_cap_data, revision 2 with the effective flag: permitted 0, inheritable
    // CAP_SYS_ADMIN (low word), then the high words.
    let mut data = Vec::new();
    for word in [0x0200_0001u32, 0, CAP_SYS_ADMIN as u32, 0, 0] {
        data.extend_from_slice(&word.to_le_bytes());
    }
    let set = rustix::fs::setxattr(
        &dest,
        "security.capability",
        &data,
        rustix::fs::XattrFlags::empty(),
    );
    assert_eq!(set, Ok(()), "setxattr");
}

#[test]
fn exec_cap_never_reaches_the_inheritable_set() {
    let rt = Runtime::new();
    let marker = unique("capmark");
    let b = crate::leftovers::marked_sleeper(&marker);
    file_with_inheritable_sys_admin(&b, "/capbin/grep");
    file_with_inheritable_sys_admin(&b, "/capbin/mount");
    let id = unique("cap");
    ok(&rt.run_detached(&id, &b));

    // As root, the command: CapInh stays what the config says (empty here).
    let root = caps(&ok(&exec(
        &rt,
        &[
            "--cap",
            "CAP_SYS_ADMIN",
            &id,
            "grep",
            "Cap",
            "/proc/self/status",
        ],
    )));
    assert_eq!(root["CapInh"], 0, "{root:?}");
    assert_eq!(root["CapAmb"], 0, "{root:?}");
    for set in ["CapBnd", "CapEff", "CapPrm"] {
        assert_ne!(
            root[set] & CAP_SYS_ADMIN,
            0,
            "{set} lacks CAP_SYS_ADMIN: {root:?}"
        );
    }

    // The attack: a non-root user runs a file with CAP_SYS_ADMIN inheritable. With the
    // capability in its inheritable set it would come out with CAP_SYS_ADMIN permitted and
    // effective, and could mount.
    let user = ["--cap", "CAP_SYS_ADMIN", "--user", "1000:1000", &id];
    let mut args = user.to_vec();
    args.extend(["/capbin/grep", "Cap", "/proc/self/status"]);
    let after = caps(&ok(&exec(&rt, &args)));
    assert_eq!(after["CapPrm"] & CAP_SYS_ADMIN, 0, "gained: {after:?}");
    assert_eq!(after["CapEff"] & CAP_SYS_ADMIN, 0, "gained: {after:?}");
    let mut args = user.to_vec();
    args.extend([
        "/capbin/mount",
        "-t",
        "tmpfs",
        "-o",
        "size=1k",
        &marker,
        "/tmp",
    ]);
    let mounted = exec(&rt, &args);
    assert!(!mounted.status.success(), "the user could mount");

    // Control: the file capability does work here (no nosuid in the way). A process whose
    // spec lists CAP_SYS_ADMIN as inheritable gains it through the same file.
    let process = serde_json::json!({
        "args": ["/capbin/grep", "Cap", "/proc/self/status"],
        "cwd": "/",
        "env": ["PATH=/bin"],
        "user": {"uid": 1000, "gid": 1000},
        "capabilities": {
            "bounding": ["CAP_SYS_ADMIN"], "effective": ["CAP_SYS_ADMIN"],
            "permitted": ["CAP_SYS_ADMIN"], "inheritable": ["CAP_SYS_ADMIN"]
        }
    });
    let json = b.path().join("process.json");
    std::fs::write(&json, process.to_string()).unwrap();
    let control = caps(&ok(&exec(&rt, &["--process", json.to_str().unwrap(), &id])));
    assert_ne!(control["CapPrm"] & CAP_SYS_ADMIN, 0, "control: {control:?}");

    // Nothing was mounted, in the container or on the host.
    let state = rt.state(&id).unwrap();
    let pid = state["pid"].as_i64().unwrap();
    let inside = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!inside.contains(&marker) && !host.contains(&marker));
}

/// The same command under runc 1.1.5 (fixed in 1.1.2) shows the same sets.
#[test]
fn exec_cap_sets_match_runc() {
    let runc = std::path::Path::new("/usr/sbin/runc");
    assert!(
        runc.exists(),
        "runc is required (hack/setup.sh installs it)"
    );
    let b = Bundle::sh("sleep 1000");
    let mut seen = Vec::new();
    for rt in [Runtime::new(), Runtime::with_bin(runc.into())] {
        let id = unique("capdiff");
        ok(&rt.run_detached(&id, &b));
        let out = ok(&exec(
            &rt,
            &[
                "--cap",
                "CAP_SYS_ADMIN",
                &id,
                "grep",
                "Cap",
                "/proc/self/status",
            ],
        ));
        seen.push(caps(&out));
    }
    assert_eq!(seen[0], seen[1], "hull, then runc");
}
