//! Device rules widened: every device in linux.devices was allowed rwm in the device cgroup,
//! even when linux.resources.devices denied everything, so a container wrote the host's
//! /dev/kmsg that its config denied. The device cgroup now allows exactly the config's rules
//! plus runc's fixed default list; linux.devices only makes the nodes.

use hull_integration::*;
use serde_json::json;

/// Every record in the host's kernel log, as text.
fn host_kmsg() -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .unwrap();
    let mut text = String::new();
    let mut buf = vec![0u8; 8192];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            // EPIPE: a record was overwritten while we read; go on with the next.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    text
}

/// A bundle whose config lists /dev/kmsg (char 1:11) as a device to create, with
/// linux.resources.devices as given, running `script`.
fn kmsg_bundle(script: &str, rules: Option<serde_json::Value>) -> Bundle {
    let mut b = Bundle::sh(script);
    b.config["linux"]["devices"] =
        json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438}]);
    match rules {
        Some(r) => b.config["linux"]["resources"]["devices"] = r,
        None => {
            b.config["linux"]["resources"]
                .as_object_mut()
                .unwrap()
                .remove("devices");
        }
    }
    b.save();
    b
}

#[test]
fn a_listed_device_the_rules_deny_cannot_be_opened() {
    let rt = Runtime::new();
    let marker = unique("hull-kmsg-attack");
    let script = format!(
        "ls -l /dev/kmsg; echo {marker} > /dev/kmsg && echo WROTE; \
         head -c 1 /dev/kmsg >/dev/null && echo READ; \
         head -c 1 /dev/null; echo null-ok"
    );
    // Deny-all (hull spec's default rules), and no rules at all (runc's defaults alone).
    for rules in [Some(json!([{"allow": false, "access": "rwm"}])), None] {
        let b = kmsg_bundle(&script, rules.clone());
        let out = rt.run(&unique("kmsg"), &b);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            text.contains("1,  11"),
            "the node was made ({rules:?}): {text}"
        );
        assert!(
            !text.contains("WROTE") && !text.contains("READ"),
            "{rules:?}: {text}"
        );
        assert!(
            text.contains("Operation not permitted"),
            "{rules:?}: {text}"
        );
        // The defaults still hold.
        assert!(text.contains("null-ok"), "{rules:?}: {text}");
    }
    assert!(
        !host_kmsg().contains(&marker),
        "the host's kernel log got the marker"
    );

    // Control: a rule that allows it opens it (the node and the cgroup are the only gates;
    // nothing is written, so the host's log stays as it is).
    let b = kmsg_bundle(
        "exec 3>/dev/kmsg && echo OPENED",
        Some(json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}
        ])),
    );
    assert!(ok(&rt.run(&unique("kmsg"), &b)).contains("OPENED"));
}

/// runc 1.1.5 refuses the same bundle the same way.
#[test]
fn listed_device_rules_match_runc() {
    let runc = std::path::Path::new("/usr/sbin/runc");
    assert!(
        runc.exists(),
        "runc is required (hack/setup.sh installs it)"
    );
    let b = kmsg_bundle(
        "exec 4>/dev/null && echo NULL; (exec 3>/dev/kmsg) 2>/dev/null && echo OPENED; true",
        Some(json!([{"allow": false, "access": "rwm"}])),
    );
    let mut seen = Vec::new();
    for rt in [Runtime::new(), Runtime::with_bin(runc.into())] {
        let out = rt.run(&unique("kmsgdiff"), &b);
        seen.push(stdout(&out));
    }
    assert_eq!(seen[0], seen[1], "hull, then runc");
    assert_eq!(seen[0].trim(), "NULL");
}
