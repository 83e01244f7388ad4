//! Seccomp through real containers: actions, argument conditions, real-world profiles,
//! user notification with an agent written for the test, and bad profiles.

use std::os::fd::AsRawFd;

use hull_integration::*;
use serde_json::{json, Value};

fn with_seccomp(script: &str, seccomp: Value) -> Bundle {
    let mut b = Bundle::sh(script);
    b.config["linux"]["seccomp"] = seccomp;
    b.config["root"]["readonly"] = json!(false);
    b.save();
    b
}

#[test]
fn errno_rule_with_errno_ret() {
    let rt = Runtime::new();
    let b = with_seccomp(
        "mkdir /made 2>&1; echo rc=$?",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
        ]}),
    );
    let out = ok(&rt.run(&unique("errno"), &b));
    assert!(out.contains("Permission denied"), "{out}");
    assert!(!b.rootfs().join("made").exists());
}

#[test]
fn kill_process_action() {
    let rt = Runtime::new();
    let b = with_seccomp(
        "exec mkdir /made",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}
        ]}),
    );
    let out = rt.run(&unique("kill"), &b);
    assert_eq!(out.status.code(), Some(128 + libc::SIGSYS));
}

#[test]
fn masked_eq_conditions() {
    let rt = Runtime::new();
    // unshare with CLONE_NEWNS (0x20000) among its flags gets EXDEV from the filter; other
    // flags pass the filter (and the kernel refuses them for want of CAP_SYS_ADMIN: EPERM).
    let b = with_seccomp(
        "unshare -m true 2>&1; unshare -u true 2>&1; echo done",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18,
             "args": [{"index": 0, "value": 131072, "valueTwo": 131072, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]}),
    );
    let out = ok(&rt.run(&unique("masked"), &b));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("Invalid cross-device link"), "{out}");
    assert!(lines[1].contains("Operation not permitted"), "{out}");
}

/// Converts a Docker/podman-format profile (with includes/excludes by capability and
/// architecture) to the runtime-spec form an engine writes into config.json, for x86_64 and
/// the given capabilities: what dockerd and podman do before calling the runtime.
fn to_oci(profile: &Value, caps: &[&str]) -> Value {
    let arch_ok = |v: &Value| {
        v.as_array()
            .is_none_or(|a| a.is_empty() || a.iter().any(|x| x == "amd64" || x == "x86_64"))
    };
    let mut syscalls = Vec::new();
    for s in profile["syscalls"].as_array().unwrap() {
        let inc = &s["includes"];
        let exc = &s["excludes"];
        if !arch_ok(&inc["arches"]) {
            continue;
        }
        if let Some(need) = inc["caps"].as_array() {
            if !need.iter().all(|c| caps.contains(&c.as_str().unwrap())) {
                continue;
            }
        }
        if let Some(a) = exc["arches"].as_array() {
            if a.iter().any(|x| x == "amd64" || x == "x86_64") {
                continue;
            }
        }
        if let Some(ex) = exc["caps"].as_array() {
            if ex.iter().any(|c| caps.contains(&c.as_str().unwrap())) {
                continue;
            }
        }
        let mut rule = json!({"names": s["names"], "action": s["action"]});
        if let Some(args) = s["args"].as_array().filter(|a| !a.is_empty()) {
            rule["args"] = json!(args);
        }
        if let Some(e) = s.get("errnoRet").filter(|e| !e.is_null()) {
            rule["errnoRet"] = e.clone();
        }
        syscalls.push(rule);
    }
    let mut out = json!({
        "defaultAction": profile["defaultAction"],
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    });
    if let Some(e) = profile.get("defaultErrnoRet").filter(|e| !e.is_null()) {
        out["defaultErrnoRet"] = e.clone();
    }
    out
}

/// The bounding set of the default spec (`hull spec`), read from the runtime's one copy.
fn default_caps() -> Vec<String> {
    let spec: Value = serde_json::from_str(include_str!("../../src/spec/default.json")).unwrap();
    serde_json::from_value(spec["process"]["capabilities"]["bounding"].clone()).unwrap()
}

#[test]
fn podman_profile_runs_a_shell_and_denies_what_it_denies() {
    let path = "/usr/share/containers/seccomp.json";
    let profile: Value = serde_json::from_slice(
        &std::fs::read(path)
            .expect("hack/setup.sh installs podman's profile (golang-github-containers-common)"),
    )
    .unwrap();
    let rt = Runtime::new();
    let b = with_seccomp(
        "echo $(echo hello) > /out; cat /out; ls / >/dev/null && echo ls-ok; unshare -m true 2>&1; mount -t tmpfs none /mnt 2>&1; echo done",
        to_oci(
            &profile,
            &default_caps().iter().map(String::as_str).collect::<Vec<_>>(),
        ),
    );
    let out = ok(&rt.run(&unique("podman"), &b));
    assert!(
        out.contains("hello") && out.contains("ls-ok") && out.contains("done"),
        "{out}"
    );
    assert!(
        out.contains("unshare") && out.contains("Operation not permitted"),
        "{out}"
    );
}

/// A profile in the shape of Docker's default (an allow list under ERRNO(EPERM), clone only
/// without namespace flags, clone3 answered with ENOSYS, socket without AF_VSOCK), written
/// for these tests.
fn docker_like() -> Value {
    let allowed = [
        "access",
        "arch_prctl",
        "brk",
        "capget",
        "capset",
        "chdir",
        "close",
        "close_range",
        "dup",
        "dup2",
        "dup3",
        "execve",
        "exit",
        "exit_group",
        "faccessat",
        "faccessat2",
        "fchdir",
        "fcntl",
        "fstat",
        "fstatfs",
        "futex",
        "getcwd",
        "getdents64",
        "getegid",
        "geteuid",
        "getgid",
        "getgroups",
        "getpgrp",
        "getpid",
        "getppid",
        "getrandom",
        "getrlimit",
        "gettid",
        "getuid",
        "ioctl",
        "kill",
        "lseek",
        "lstat",
        "madvise",
        "mkdir",
        "mkdirat",
        "mmap",
        "mprotect",
        "munmap",
        "nanosleep",
        "clock_nanosleep",
        "newfstatat",
        "open",
        "openat",
        "pipe",
        "pipe2",
        "poll",
        "prctl",
        "pread64",
        "prlimit64",
        "read",
        "readlink",
        "readlinkat",
        "rseq",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "rt_sigsuspend",
        "set_robust_list",
        "set_tid_address",
        "setgid",
        "setgroups",
        "setresgid",
        "setresuid",
        "setsid",
        "setuid",
        "stat",
        "statfs",
        "statx",
        "sysinfo",
        "umask",
        "uname",
        "unlink",
        "unlinkat",
        "vfork",
        "wait4",
        "write",
        "writev",
        "fork",
    ];
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": allowed.to_vec(), "action": "SCMP_ACT_ALLOW"},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
        ]
    })
}

#[test]
fn docker_like_profile_runs_a_shell_and_denies_the_rest() {
    let rt = Runtime::new();
    let b = with_seccomp(
        "x=$(echo sub); echo $x; mkdir /d && echo mkdir-ok; unshare -m true 2>&1; mount -t tmpfs none /mnt 2>&1; hostname x 2>&1; echo done",
        docker_like(),
    );
    b.save();
    let out = ok(&rt.run(&unique("docker"), &b));
    assert!(
        out.contains("sub") && out.contains("mkdir-ok") && out.contains("done"),
        "{out}"
    );
    // unshare, mount and sethostname are not in the list: the default EPERM.
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[2].starts_with("unshare") && lines[2].contains("Operation not permitted"),
        "{out}"
    );
    assert!(
        lines[3].starts_with("mount") && lines[3].contains("permission denied"),
        "{out}"
    );
    assert!(
        lines[4].contains("hostname") && lines[4].contains("Operation not permitted"),
        "{out}"
    );
}

#[test]
fn bad_profiles_fail_create_with_nothing_left() {
    for (seccomp, field) in [
        (
            json!({"defaultAction": "SCMP_ACT_BOGUS"}),
            "linux.seccomp.defaultAction",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_WHAT"}]}]}),
            "linux.seccomp.syscalls[0].args[0].op",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"]}),
            "linux.seccomp.architectures[0]",
        ),
    ] {
        let rt = Runtime::new();
        let b = with_seccomp("true", seccomp);
        let id = unique("badsc");
        let out = rt.create(&id, &b);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains(field),
            "expected {field} in {}",
            stderr(&out)
        );
        assert!(rt.ids().is_empty());
        assert!(!rt.root.path().join(&id).exists());
    }
}

/// The agent's answer: the next notification on `listener` fails its syscall with EROFS.
fn refuse_one_with_erofs(listener: &impl AsRawFd) {
    let req = libseccomp::ScmpNotifReq::receive(listener.as_raw_fd()).unwrap();
    libseccomp::ScmpNotifResp::new_error(
        req.id,
        -libc::EROFS,
        libseccomp::ScmpNotifRespFlags::empty(),
    )
    .respond(listener.as_raw_fd())
    .unwrap();
}

#[test]
fn notify_sends_the_listener_to_the_agent_which_answers() {
    let rt = Runtime::new();
    let dir = TempDir::new("hull-agent");
    let sock_path = dir.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let b = with_seccomp(
        "mkdir /notified 2>&1; echo rc=$?",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock_path, "listenerMetadata": "from-test",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    let id = unique("notify");
    // The agent: take the state and the listener, then refuse each mkdir with EROFS.
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (msg, fd) = recv_with_fd(&conn).unwrap();
        let state: Value = serde_json::from_slice(&msg).unwrap();
        let fd = fd.expect("listener fd");
        refuse_one_with_erofs(&fd);
        state
    });
    let out = ok(&rt.run(&id, &b));
    let state = agent.join().unwrap();
    assert!(
        out.contains("Read-only file system"),
        "the agent's answer reached the process: {out}"
    );
    assert_eq!(state["metadata"], "from-test");
    assert_eq!(state["fds"][0], "seccompFd");
    assert_eq!(state["state"]["id"], id.as_str());
    assert!(state["pid"].as_i64().unwrap() > 0);
}

/// An exec'd process gets the container's notify filter, and its own listener goes to the
/// agent (through the same relay as init's), with the running container's state and the exec'd
/// process's pid.
#[test]
fn exec_sends_its_own_listener_to_the_agent() {
    let rt = Runtime::new();
    let dir = TempDir::new("hull-agent");
    let sock_path = dir.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let b = with_seccomp(
        "sleep 60",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock_path,
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    let id = unique("notifyexec");
    // The agent: keeps init's listener, then answers the exec'd process's mkdir with EROFS.
    let agent = std::thread::spawn(move || {
        let (init_conn, _) = listener.accept().unwrap();
        let (_, init_fd) = recv_with_fd(&init_conn).unwrap();
        let (conn, _) = listener.accept().unwrap();
        let (msg, fd) = recv_with_fd(&conn).unwrap();
        let state: Value = serde_json::from_slice(&msg).unwrap();
        let fd = fd.expect("listener fd");
        refuse_one_with_erofs(&fd);
        drop(init_fd);
        state
    });
    ok(&rt.run_detached(&id, &b));
    let init = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let out = ok(&rt.cmd(&["exec", &id, "sh", "-c", "mkdir /made 2>&1; echo rc=$?"]));
    let state = agent.join().unwrap();
    assert!(out.contains("Read-only file system"), "{out}");
    assert_eq!(state["fds"][0], "seccompFd");
    assert_eq!(state["state"]["id"], id.as_str());
    assert_eq!(state["state"]["status"], "running");
    let pid = state["pid"].as_i64().unwrap();
    assert!(
        pid > 0 && pid != init,
        "the exec'd process's pid: {pid}, init's {init}"
    );
}
