//! Bad input: a clear error naming the field or path, a non-zero exit, and nothing left
//! behind (no state dir, no process).

use hull_integration::*;
use serde_json::json;

/// Creates with a broken bundle; checks the message and that nothing remains.
#[track_caller]
fn refused(b: &Bundle, expect: &str) {
    let rt = Runtime::new();
    let id = unique("bad");
    let out = rt.create(&id, b);
    assert_eq!(
        out.status.code(),
        Some(1),
        "create should fail: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(expect),
        "expected {expect:?} in: {}",
        stderr(&out)
    );
    assert!(!rt.root.path().join(&id).exists(), "state dir left behind");
    assert!(rt.ids().is_empty());
    assert!(!process_with(&id), "a process of the failed create remains");
}

#[test]
fn malformed_json() {
    let b = Bundle::sh("true");
    std::fs::write(b.path().join("config.json"), "{ not json").unwrap();
    refused(&b, "config.json");
}

#[test]
fn missing_config_names_the_file_and_the_cause_once() {
    let b = Bundle::sh("true");
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    refused(&b, "config.json: No such file or directory");
    let out = Runtime::new().create(&unique("bad"), &b);
    assert_eq!(
        stderr(&out).matches("No such file").count(),
        1,
        "{}",
        stderr(&out)
    );
}

#[test]
fn device_over_an_existing_file() {
    let mut b = Bundle::sh("true");
    std::fs::write(b.rootfs().join("existing"), "a regular file").unwrap();
    b.config["linux"]["devices"] =
        json!([{"path": "/existing", "type": "c", "major": 1, "minor": 3}]);
    b.save();
    refused(
        &b,
        "device /existing: a RegularFile 0:0 already exists there",
    );
}

#[test]
fn wrong_type_names_the_field() {
    let mut b = Bundle::sh("true");
    b.config["process"]["user"]["uid"] = json!("root");
    b.save();
    refused(&b, "process.user.uid");
}

#[test]
fn unknown_namespace_type() {
    let mut b = Bundle::sh("true");
    b.config["linux"]["namespaces"][0]["type"] = json!("bogus");
    b.save();
    refused(&b, "linux.namespaces[0]");
}

#[test]
fn missing_rootfs() {
    let mut b = Bundle::sh("true");
    b.config["root"]["path"] = json!("no-such-rootfs");
    b.save();
    refused(&b, "root.path");
}

#[test]
fn empty_args() {
    let mut b = Bundle::sh("true");
    b.config["process"]["args"] = json!([]);
    b.save();
    refused(&b, "process.args");
}

#[test]
fn missing_executable_uses_runcs_words() {
    let b = Bundle::busybox(&["no-such-binary"]);
    refused(&b, "executable file not found in $PATH");
    let b = Bundle::busybox(&["/no/such/path"]);
    refused(&b, "no such file or directory");
}

#[test]
fn relative_hook_path() {
    let mut b = Bundle::sh("true");
    b.config["hooks"] = json!({"createRuntime": [{"path": "bin/true"}]});
    b.save();
    refused(&b, "hooks.createRuntime[0].path");
}

#[test]
fn failing_hook_fails_create_and_cleans_up() {
    let mut b = Bundle::sh("true");
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}]});
    b.save();
    refused(&b, "createRuntime hook");
}

#[test]
fn mount_the_kernel_rejects() {
    let mut b = Bundle::sh("true");
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/data", "type": "nosuchfs", "source": "none"}));
    b.save();
    refused(&b, "/data");
}

#[test]
fn bad_ids() {
    let rt = Runtime::new();
    let b = Bundle::sh("true");
    for id in ["a/b", "..", "../escape", "x y"] {
        let out = rt.create(id, &b);
        assert_eq!(out.status.code(), Some(1), "{id}");
        assert!(
            stderr(&out).contains("invalid container id"),
            "{}",
            stderr(&out)
        );
    }
    assert!(
        std::fs::read_dir(rt.root.path())
            .map(|d| d.count())
            .unwrap_or(0)
            == 0
    );
}

#[test]
fn duplicate_id() {
    let rt = Runtime::new();
    let b = Bundle::sh("true");
    let id = unique("dup");
    ok(&rt.create(&id, &b));
    let out = rt.create(&id, &b);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("container with id exists"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        rt.status(&id).as_deref(),
        Some("created"),
        "the first one is untouched"
    );
}

#[test]
fn unknown_id() {
    let rt = Runtime::new();
    for cmd in ["state", "start", "kill", "delete"] {
        let out = rt.cmd(&[cmd, "nope"]);
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        assert!(
            stderr(&out).contains("container does not exist"),
            "{cmd}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn terminal_without_console_socket_when_detached() {
    let mut b = Bundle::sh("true");
    b.config["process"]["terminal"] = json!(true);
    b.save();
    refused(
        &b,
        "cannot allocate tty if runc will detach without setting console socket",
    );
}
