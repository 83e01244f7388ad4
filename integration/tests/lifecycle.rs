//! The container lifecycle through the CLI: create → created → start → running → stopped →
//! delete, with runc's state JSON, pid file, exec fifo and exit codes.

use std::path::Path;

use hull_integration::*;

#[test]
fn create_waits_until_start_then_runs() {
    let rt = Runtime::new();
    // The process leaves a mark in its rootfs: it must not exist before `start`.
    let mut b = Bundle::sh("echo ran > /ran; sleep 30");
    b.config["root"]["readonly"] = serde_json::json!(false);
    b.save();
    let id = unique("life");
    let pid_file = b.path().join("init.pid");
    ok(&rt.detached(&[
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]));

    let state = rt.state(&id).expect("state of a created container");
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(
        state["bundle"],
        b.path().canonicalize().unwrap().to_str().unwrap()
    );
    let pid = state["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "init is alive");
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        !b.rootfs().join("ran").exists(),
        "the process ran before start"
    );

    ok(&rt.cmd(&["start", &id]));
    assert!(rt.wait_status(&id, "running"));
    for _ in 0..500 {
        if b.rootfs().join("ran").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        std::fs::read_to_string(b.rootfs().join("ran")).unwrap(),
        "ran\n"
    );

    // A second start is refused.
    assert!(!rt.cmd(&["start", &id]).status.success());

    ok(&rt.cmd(&["kill", &id, "KILL"]));
    assert!(rt.wait_status(&id, "stopped"));
    let stopped = rt.state(&id).unwrap();
    assert_eq!(stopped["pid"], 0, "runc reports pid 0 once stopped");
    let err = rt.cmd(&["kill", &id, "TERM"]);
    assert!(!err.status.success());
    assert!(
        stderr(&err).contains("container not running"),
        "{}",
        stderr(&err)
    );

    ok(&rt.cmd(&["delete", &id]));
    assert!(rt.state(&id).is_none());
    assert!(!rt.root.path().join(&id).exists(), "state dir left behind");
}

#[test]
fn run_exits_with_the_container_status() {
    let rt = Runtime::new();
    let b = Bundle::sh("echo out; echo err >&2; exit 7");
    let out = rt.run(&unique("exit"), &b);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stdout(&out), "out\n");
    assert!(stderr(&out).contains("err"));
    assert!(
        rt.ids().is_empty(),
        "run deletes the container when it exits"
    );
}

#[test]
fn run_reports_death_by_signal_as_128_plus() {
    let rt = Runtime::new();
    let b = Bundle::sh("sleep 30");
    let id = unique("sig");
    let mut child = rt
        .command()
        .args(["run", "-b", b.path().to_str().unwrap(), &id])
        .spawn()
        .unwrap();
    assert!(rt.wait_status(&id, "running"));
    // pid 1 of a pid namespace ignores signals it has no handler for, except SIGKILL from
    // outside: the runtime's kill delivers it.
    ok(&rt.cmd(&["kill", &id, "KILL"]));
    assert_eq!(child.wait().unwrap().code(), Some(128 + 9));
}

#[test]
fn run_forwards_signals() {
    let rt = Runtime::new();
    // pid 1 ignores SIGTERM unless it installs a handler: the trap proves delivery.
    let b =
        Bundle::sh("trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done");
    let id = unique("fwd");
    let mut child = rt
        .command()
        .args(["run", "-b", b.path().to_str().unwrap(), &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    kill(child.id() as i32, rustix::process::Signal::TERM).unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(rest.contains("got-term"), "{rest}");
    assert_eq!(status.code(), Some(42));
}

#[test]
fn run_detached_and_keep() {
    let rt = Runtime::new();
    let b = Bundle::sh("exit 0");
    let id = unique("keep");
    let out = rt
        .command()
        .args(["run", "--keep", "-b", b.path().to_str().unwrap(), &id])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(
        rt.status(&id).as_deref(),
        Some("stopped"),
        "--keep leaves it"
    );
    ok(&rt.cmd(&["delete", &id]));

    let b = Bundle::sh("sleep 30");
    let id = unique("detach");
    ok(&rt.run_detached(&id, &b));
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    let err = rt.cmd(&["delete", &id]);
    assert!(
        !err.status.success(),
        "delete of a running container needs --force"
    );
    assert!(
        stderr(&err).contains("is not stopped: running"),
        "{}",
        stderr(&err)
    );
    ok(&rt.cmd(&["delete", "--force", &id]));
    assert!(rt.state(&id).is_none());
}

#[test]
fn run_by_bundle_path_names_the_container_after_it() {
    let rt = Runtime::new();
    let b = Bundle::sh("hostname");
    let out = rt
        .command()
        .current_dir(b.path().parent().unwrap())
        .args([
            "run",
            &format!("./{}/", b.path().file_name().unwrap().to_str().unwrap()),
        ])
        .output()
        .unwrap();
    assert_eq!(ok(&out), "hull\n");
}

#[test]
fn delete_of_a_created_container_and_force_of_a_missing_one() {
    let rt = Runtime::new();
    let b = Bundle::sh("echo never");
    let id = unique("created");
    ok(&rt.create(&id, &b));
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    ok(&rt.cmd(&["delete", &id]));
    assert!(
        !Path::new(&format!("/proc/{pid}/stat")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap()
                .contains(") Z")
    );
    ok(&rt.cmd(&["delete", "--force", "no-such-container"]));
    let err = rt.cmd(&["delete", "no-such-container"]);
    assert_eq!(err.status.code(), Some(1));
    assert!(
        stderr(&err).contains("container does not exist"),
        "{}",
        stderr(&err)
    );
}

#[test]
fn kill_a_created_container() {
    let rt = Runtime::new();
    let b = Bundle::sh("echo never");
    let id = unique("killc");
    ok(&rt.create(&id, &b));
    ok(&rt.cmd(&["kill", &id, "9"]));
    assert!(rt.wait_status(&id, "stopped"));
    ok(&rt.cmd(&["delete", &id]));
}

#[test]
fn kill_all_reaches_every_process() {
    let rt = Runtime::new();
    let b = Bundle::sh("sleep 100 & sleep 101 & wait");
    let id = unique("killall");
    ok(&rt.run_detached(&id, &b));
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    // Find the sleeps: children of init.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let kids: Vec<i32> = children
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{children}");
    ok(&rt.cmd(&["kill", "--all", &id, "KILL"]));
    assert!(rt.wait_status(&id, "stopped"));
    for k in kids {
        let alive = std::fs::read_to_string(format!("/proc/{k}/stat"))
            .map(|s| !s.contains(") Z"))
            .unwrap_or(false);
        assert!(!alive, "process {k} survived kill --all");
    }
}

#[test]
fn list_formats() {
    let rt = Runtime::new();
    let b = Bundle::sh("echo never");
    let id = unique("list");
    ok(&rt.create(&id, &b));
    assert_eq!(rt.ids(), vec![id.clone()]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&rt.cmd(&["list", "--format", "json"]))).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    assert_eq!(json[0]["status"], "created");
    let table = ok(&rt.cmd(&["list"]));
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("ID "));
    assert!(lines.next().unwrap().starts_with(&id));
}

/// A reader that has gone away (`hull list | head -0`): runc (a Go program) dies of SIGPIPE
/// with nothing on stderr, and so must hull: no panic, no abort, no error message. The same
/// commands under runc are checked first, on runc's own root, so the test says what runc does.
#[test]
fn output_to_a_closed_pipe_ends_quietly_by_sigpipe() {
    use std::os::unix::process::ExitStatusExt;
    let b = Bundle::sh("echo never");
    let closed_pipe = || {
        let (reader, writer) = rustix::pipe::pipe().unwrap();
        drop(reader);
        std::process::Stdio::from(writer)
    };
    let runc = Runtime::with_bin("/usr/sbin/runc".into());
    let hull = Runtime::new();
    for rt in [&runc, &hull] {
        let id = unique("pipe");
        ok(&rt.create(&id, &b));
        let pid = rt.state(&id).unwrap()["pid"].to_string();
        for args in [
            &["list"][..],
            &["list", "-q"],
            &["list", "--format", "json"],
            &["state", &id],
            &["ps", "--format", "json", &id],
            &["ps", &id],
        ] {
            let out = rt
                .command()
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(closed_pipe())
                .output()
                .unwrap();
            let who = format!("{} {args:?}", rt.bin.display());
            assert_eq!(
                out.status.signal(),
                Some(libc::SIGPIPE),
                "{who}: {:?}",
                out.status
            );
            assert_eq!(stderr(&out), "", "{who}");
        }
        // The container is there and intact: nothing was left half-done.
        assert_eq!(rt.state(&id).unwrap()["pid"].to_string(), pid);
    }
}

#[test]
fn version_and_features() {
    let rt = Runtime::new();
    let v = ok(&rt.cmd(&["--version"]));
    let lines: Vec<&str> = v.lines().collect();
    assert!(lines[0].starts_with("hull version "), "{v}");
    assert!(lines[1].starts_with("commit: "), "{v}");
    assert!(lines[2].starts_with("spec: 1."), "{v}");
    let f: serde_json::Value = serde_json::from_str(&ok(&rt.cmd(&["features"]))).unwrap();
    assert!(f["ociVersionMax"].as_str().unwrap().starts_with("1."));
    let hooks: Vec<&str> = f["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(hooks.contains(&"createContainer") && hooks.contains(&"poststop"));
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "time"));
}

/// runtime-spec 1.3 configs run: the version `features` says it reads up to, and a later patch
/// release of it (patch releases add no fields a runtime must know).
#[test]
fn configs_of_runtime_spec_1_3_run() {
    let rt = Runtime::new();
    let f: serde_json::Value = serde_json::from_str(&ok(&rt.cmd(&["features"]))).unwrap();
    assert_eq!(f["ociVersionMax"], "1.3.0");
    for v in ["1.3.0", "1.3.2"] {
        let mut b = Bundle::sh("echo ran");
        b.config["ociVersion"] = serde_json::json!(v);
        b.save();
        let out = rt.run(&unique("v13"), &b);
        assert_eq!(
            out.status.code(),
            Some(0),
            "ociVersion {v}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "ran\n", "ociVersion {v}");
    }
}

#[test]
fn go_style_single_dash_flags_and_json_log() {
    let rt = Runtime::new();
    let log = TempDir::new("hull-log");
    let log_file = log.path().join("log.json");
    let out = rt
        .command()
        .args([
            "-log",
            log_file.to_str().unwrap(),
            "-log-format=json",
            "state",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log_file).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert_eq!(last["msg"], "container does not exist");
    assert!(last["time"].as_str().unwrap().contains('T'));
    assert!(stderr(&out).contains("container does not exist"));
}
