//! `exec`: a new process joins every namespace of the container, gets the flags' identity,
//! and the caller gets its exit status (255 when the runtime fails).

use hull_integration::*;

fn running(rt: &Runtime) -> (Bundle, String) {
    let b = Bundle::sh("sleep 60");
    let id = unique("exec");
    ok(&rt.run_detached(&id, &b));
    (b, id)
}

#[test]
fn exec_joins_every_namespace() {
    let rt = Runtime::new();
    let (_b, id) = running(&rt);
    let init = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let script = "for n in pid net ipc uts mnt cgroup; do echo $n=$(readlink /proc/self/ns/$n); done; echo host=$(hostname); echo mypid=$$";
    let r = kv(&ok(&rt.cmd(&["exec", &id, "sh", "-c", script])));
    for n in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        let init_ns = std::fs::read_link(format!("/proc/{init}/ns/{n}")).unwrap();
        assert_eq!(
            r[n],
            init_ns.to_string_lossy(),
            "{n} namespace differs from init's"
        );
    }
    assert_eq!(r["host"], "hull");
    assert!(
        r["mypid"].parse::<i32>().unwrap() > 1,
        "a pid in the container's pid namespace"
    );
}

#[test]
fn exec_exit_status_and_errors() {
    let rt = Runtime::new();
    let (_b, id) = running(&rt);
    let out = rt.cmd(&["exec", &id, "sh", "-c", "echo out; exit 9"]);
    assert_eq!(out.status.code(), Some(9));
    assert_eq!(stdout(&out), "out\n");

    let out = rt.cmd(&["exec", &id, "no-such-binary"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("executable file not found in $PATH"),
        "{}",
        stderr(&out)
    );

    let out = rt.cmd(&["exec", "no-such-container", "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("container does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exec_flags_set_identity() {
    let rt = Runtime::new();
    let (_b, id) = running(&rt);
    let out = ok(&rt.cmd(&[
        "exec", "--user", "65534:65534", "--additional-gids", "7", "--cwd", "/tmp", "--env", "FOO=bar", "--no-new-privs", &id,
        "sh", "-c", "echo uid=$(id -u); echo gid=$(id -g); echo groups=$(id -G); echo cwd=$(pwd); echo foo=$FOO; grep NoNewPrivs /proc/self/status | tr -d '\\t' | sed 's/:/=/'",
    ]));
    let r = kv(&out);
    assert_eq!(r["uid"], "65534");
    assert_eq!(r["gid"], "65534");
    assert_eq!(r["groups"], "65534 7");
    assert_eq!(r["cwd"], "/tmp");
    assert_eq!(r["foo"], "bar");
    assert_eq!(r["NoNewPrivs"], "1");
}

#[test]
fn exec_process_json() {
    let rt = Runtime::new();
    let (b, id) = running(&rt);
    let p = serde_json::json!({
        "args": ["sh", "-c", "echo $A $(id -u)"],
        "env": ["PATH=/bin", "A=from-json"],
        "cwd": "/",
        "user": {"uid": 123, "gid": 0}
    });
    let path = b.path().join("process.json");
    std::fs::write(&path, p.to_string()).unwrap();
    assert_eq!(
        ok(&rt.cmd(&["exec", "--process", path.to_str().unwrap(), &id])),
        "from-json 123\n"
    );
}

#[test]
fn exec_detached_with_pid_file() {
    let rt = Runtime::new();
    let (b, id) = running(&rt);
    let pid_file = b.path().join("exec.pid");
    ok(&rt.detached(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "30",
    ]));
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, "sleep\x0030\x00");
    let init = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap(),
        std::fs::read_link(format!("/proc/{init}/ns/pid")).unwrap()
    );
}

#[test]
fn exec_into_a_stopped_container_fails() {
    let rt = Runtime::new();
    let b = Bundle::sh("true");
    let id = unique("stopped");
    ok(&rt.cmd(&["run", "--keep", "-b", b.path().to_str().unwrap(), &id]));
    let out = rt.cmd(&["exec", &id, "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        stderr(&out).contains("container not running"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn many_concurrent_execs() {
    let rt = Runtime::new();
    let (_b, id) = running(&rt);
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let mut c = rt.command();
            c.args([
                "exec",
                &id,
                "sh",
                "-c",
                &format!("echo {i}; exit {}", i % 4),
            ]);
            c.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped());
            (i, c.spawn().unwrap())
        })
        .collect();
    for (i, child) in handles {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(i % 4));
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{i}\n"));
    }
}

#[test]
fn exec_into_a_sub_cgroup() {
    let rt = Runtime::new();
    let (_b, id) = running(&rt);
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(rt.root.path().join(&id).join("state.json")).unwrap(),
    )
    .unwrap();
    let mem = state["cgroup"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0] == "memory")
        .unwrap()[1]
        .as_str()
        .unwrap()
        .to_string();
    let sub = std::path::Path::new(&mem).join("sub");
    std::fs::create_dir(&sub).unwrap();
    let out = rt.cmd(&[
        "exec",
        "--cgroup",
        "memory:sub",
        &id,
        "cat",
        "/proc/self/cgroup",
    ]);
    let _ = std::fs::remove_dir(&sub);
    let text = ok(&out);
    assert!(text.lines().any(|l| l.ends_with(":memory:/sub")), "{text}");
    assert!(
        text.lines().any(|l| l.ends_with(":pids:/")),
        "other hierarchies stay at the container's root: {text}"
    );
    let bad = rt.cmd(&["exec", "--cgroup", "../up", &id, "true"]);
    assert_eq!(bad.status.code(), Some(255));
}

#[test]
fn pidfd_socket_receives_a_pidfd_of_init() {
    let rt = Runtime::new();
    let b = Bundle::sh("sleep 60");
    let sock = ConsoleSocket::new();
    let id = unique("pidfd");
    let path = sock.path.to_str().unwrap().to_string();
    let creator = std::thread::spawn({
        let mut c = rt.command();
        c.args([
            "create",
            "--pidfd-socket",
            &path,
            "-b",
            b.path().to_str().unwrap(),
            &id,
        ]);
        c.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        move || c.status().unwrap()
    });
    let fd = sock.receive();
    assert!(creator.join().unwrap().success());
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let info = std::fs::read_to_string(format!(
        "/proc/self/fdinfo/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .unwrap();
    assert!(info.lines().any(|l| l == format!("Pid:\t{pid}")), "{info}");
}
