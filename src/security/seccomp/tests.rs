//! Filters compiled here are loaded in forked children, which then make the calls and
//! report the errno they saw.

use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use oci_spec::runtime::LinuxSeccomp;

use super::*;
use crate::security::testutil::{in_child, is_root, skip, Outcome};

fn profile(json: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(json).expect("test profile parses")
}

/// A private directory for one test, removed by the guard.
struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!(
            "hull-seccomp-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// errno of a raw system call by its name (the ones these tests expect), or "ok".
fn sys(r: libc::c_long) -> String {
    if r >= 0 {
        return "ok".into();
    }
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    const NAMES: &[(i32, &str)] = &[
        (libc::E2BIG, "E2BIG"),
        (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
        (libc::EBADF, "EBADF"),
        (libc::ECHILD, "ECHILD"),
        (libc::EDOM, "EDOM"),
        (libc::EEXIST, "EEXIST"),
        (libc::EFBIG, "EFBIG"),
        (libc::EILSEQ, "EILSEQ"),
        (libc::EINVAL, "EINVAL"),
        (libc::ENOKEY, "ENOKEY"),
        (libc::ENOLCK, "ENOLCK"),
        (libc::ENOMSG, "ENOMSG"),
        (libc::ENOSYS, "ENOSYS"),
        (libc::EPERM, "EPERM"),
        (libc::EXDEV, "EXDEV"),
    ];
    match NAMES.iter().find(|(n, _)| *n == errno) {
        Some((_, name)) => name.to_string(),
        None => format!("errno {errno}"),
    }
}

/// Load `p` with no_new_privs in a child, then run `calls`.
fn run_under(p: &Program, calls: impl FnOnce() -> String) -> Outcome {
    let p = p.clone();
    in_child(move || {
        crate::security::set_no_new_privs().map_err(|e| e.to_string())?;
        load(&p).map_err(|e| e.to_string())?;
        Ok(calls())
    })
}

#[test]
fn errno_rule_with_default_and_explicit_errno() {
    let dir = TempDir::new("errno");
    let p = compile(
        &profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["rmdir", "unlinkat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV},
            ]
        })),
        None,
    )
    .unwrap();
    assert!(!p.notifies());
    let d = dir.0.clone();
    let out = run_under(&p, move || {
        let mk = std::fs::create_dir(d.join("new")).map_err(|e| e.raw_os_error());
        let rm = std::fs::remove_dir(&d).map_err(|e| e.raw_os_error());
        let pid = std::process::id() > 0;
        format!("mkdir={mk:?} rmdir={rm:?} getpid={pid}")
    });
    assert_eq!(
        out,
        Outcome::Exited(format!(
            "mkdir=Err(Some({})) rmdir=Err(Some({})) getpid=true",
            libc::EPERM,
            libc::EXDEV
        ))
    );
    assert!(!dir.0.join("new").exists());
}

/// One rule per operator, each on an argument-less call so the raw register values
/// seccomp sees are whatever the test passes.
#[test]
fn every_operator_and_combined_conditions() {
    let rule = |name: &str, op: &str, value: u64, errno: i32| {
        serde_json::json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": errno,
            "args": [{"index": 0, "value": value, "op": op}]})
    };
    let p = compile(
        &profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                rule("getppid", "SCMP_CMP_EQ", 5, libc::E2BIG),
                rule("getuid", "SCMP_CMP_NE", 5, libc::EBADF),
                rule("getgid", "SCMP_CMP_LT", 5, libc::ECHILD),
                rule("geteuid", "SCMP_CMP_LE", 5, libc::EDOM),
                rule("getegid", "SCMP_CMP_GT", 5, libc::EEXIST),
                rule("getpgrp", "SCMP_CMP_GE", 5, libc::EFBIG),
                // MASKED_EQ: value is the mask, valueTwo the expected bits.
                {"names": ["gettid"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EILSEQ,
                 "args": [{"index": 0, "value": 0xf0, "valueTwo": 0x30, "op": "SCMP_CMP_MASKED_EQ"}]},
                // Two arguments: both must match.
                {"names": ["sched_yield"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOLCK,
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                          {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]},
                // One argument tested twice: runc turns it into one rule per condition.
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOMSG,
                 "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"},
                          {"index": 0, "value": 9, "op": "SCMP_CMP_EQ"}]},
            ]
        })),
        None,
    )
    .unwrap();
    let out = run_under(&p, || {
        // Argument-less calls ignore their registers.
        let c = |nr: libc::c_long, a: u64, b: u64| sys(crate::sys::testing::syscall(nr, &[a, b]));
        [
            ("eq5", c(libc::SYS_getppid, 5, 0)),
            ("eq6", c(libc::SYS_getppid, 6, 0)),
            ("ne5", c(libc::SYS_getuid, 5, 0)),
            ("ne6", c(libc::SYS_getuid, 6, 0)),
            ("lt4", c(libc::SYS_getgid, 4, 0)),
            ("lt5", c(libc::SYS_getgid, 5, 0)),
            ("le5", c(libc::SYS_geteuid, 5, 0)),
            ("le6", c(libc::SYS_geteuid, 6, 0)),
            ("gt6", c(libc::SYS_getegid, 6, 0)),
            ("gt5", c(libc::SYS_getegid, 5, 0)),
            ("ge5", c(libc::SYS_getpgrp, 5, 0)),
            ("ge4", c(libc::SYS_getpgrp, 4, 0)),
            ("m3f", c(libc::SYS_gettid, 0x3f, 0)),
            ("m4f", c(libc::SYS_gettid, 0x4f, 0)),
            ("and12", c(libc::SYS_sched_yield, 1, 2)),
            ("and13", c(libc::SYS_sched_yield, 1, 3)),
            ("or7", c(libc::SYS_getpid, 7, 0)),
            ("or9", c(libc::SYS_getpid, 9, 0)),
            ("or8", c(libc::SYS_getpid, 8, 0)),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
    });
    assert_eq!(
        out,
        Outcome::Exited(
            "eq5=E2BIG eq6=ok ne5=ok ne6=EBADF lt4=ECHILD lt5=ok le5=EDOM le6=ok \
             gt6=EEXIST gt5=ok ge5=EFBIG ge4=ok m3f=EILSEQ m4f=ok and12=ENOLCK and13=ok \
             or7=ENOMSG or9=ENOMSG or8=ok"
                .into()
        )
    );
}

fn one_rule(action: &str) -> Program {
    compile(
        &profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": action}]
        })),
        None,
    )
    .unwrap()
}

fn call_getppid() -> String {
    sys(crate::sys::testing::syscall(libc::SYS_getppid, &[]))
}

#[test]
fn kill_actions_kill_with_sigsys() {
    for action in [
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL",
        "SCMP_ACT_TRAP",
    ] {
        let out = run_under(&one_rule(action), call_getppid);
        assert_eq!(out, Outcome::Signaled(libc::SIGSYS), "{action}");
    }
}

#[test]
fn log_allows_and_trace_without_tracer_is_enosys() {
    assert_eq!(
        run_under(&one_rule("SCMP_ACT_LOG"), call_getppid),
        Outcome::Exited("ok".into())
    );
    // With no tracer attached the kernel fails a TRACE call with ENOSYS.
    assert_eq!(
        run_under(&one_rule("SCMP_ACT_TRACE"), call_getppid),
        Outcome::Exited("ENOSYS".into())
    );
}

/// What a Rust child needs to report back: memory, signals, write and exit.
const BASICS: &[&str] = &[
    "read",
    "write",
    "close",
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "madvise",
    "mprotect",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "futex",
    "exit",
    "exit_group",
    "getpid",
    "gettid",
    "tgkill",
];

/// clone3 is newer than every call the profile names: it must fail with ENOSYS, so
/// libc falls back to clone, while an older unnamed call gets the default EPERM.
#[test]
fn newer_syscalls_get_enosys_older_get_the_default() {
    let p = compile(
        &profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": BASICS, "action": "SCMP_ACT_ALLOW"},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["no_such_syscall_in_any_kernel"], "action": "SCMP_ACT_ALLOW"},
            ]
        })),
        None,
    )
    .unwrap();
    let out = run_under(&p, || {
        let mut args = [0u64; 11];
        // clone3 with a zeroed clone_args is never reached when filtered; if it were, a
        // zeroed args struct with size 0 is rejected with EINVAL.
        let clone3 = sys(crate::sys::testing::syscall(
            libc::SYS_clone3,
            &[args.as_mut_ptr() as u64, 0],
        ));
        // getppid/faccessat2 with harmless arguments.
        let getppid = sys(crate::sys::testing::syscall(libc::SYS_getppid, &[]));
        let faccessat2 = sys(crate::sys::testing::syscall(
            libc::SYS_faccessat2,
            &[libc::AT_FDCWD as u64, c"/".as_ptr() as u64, 0, 0],
        ));
        format!("clone3={clone3} getppid={getppid} faccessat2={faccessat2}")
    });
    assert_eq!(
        out,
        Outcome::Exited("clone3=ENOSYS getppid=EPERM faccessat2=ENOSYS".into())
    );
}

#[test]
fn no_stub_when_the_default_allows_or_is_already_enosys() {
    let stub_len = |default: serde_json::Value| {
        let mut j =
            serde_json::json!({"syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL"}]});
        j.as_object_mut()
            .unwrap()
            .extend(default.as_object().unwrap().clone());
        let s = profile(j);
        enosys_stub(&s, &validate(&s).unwrap()).len()
    };
    assert!(stub_len(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO"})) > 0);
    assert!(stub_len(serde_json::json!({"defaultAction": "SCMP_ACT_KILL_PROCESS"})) > 0);
    assert_eq!(
        stub_len(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"})),
        0
    );
    assert_eq!(
        stub_len(serde_json::json!({"defaultAction": "SCMP_ACT_LOG"})),
        0
    );
    assert_eq!(
        stub_len(serde_json::json!({"defaultAction": "SCMP_ACT_TRACE"})),
        0
    );
    assert_eq!(
        stub_len(
            serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": libc::ENOSYS})
        ),
        0
    );
}

#[test]
fn invalid_profiles_name_the_field() {
    let err = |j: serde_json::Value| compile(&profile(j), None).unwrap_err().to_string();
    assert_eq!(
        err(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"})),
        "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"
    );
    assert_eq!(
        err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]})),
        "linux.seccomp.syscalls[1].args[0].index: 6 is out of range (system calls have 6 arguments)"
    );
    assert_eq!(
        err(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["write"], "action": "SCMP_ACT_NOTIFY"}], "listenerPath": "/x"})
        ),
        "linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY cannot be used for the write system call"
    );
    assert_eq!(
        err(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]})
        ),
        "linux.seccomp.listenerPath: required when a rule uses SCMP_ACT_NOTIFY"
    );
    assert_eq!(
        err(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000})),
        "linux.seccomp.defaultErrnoRet: errnoRet 70000 does not fit in 16 bits"
    );
    assert_eq!(
        err(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": [""], "action": "SCMP_ACT_ERRNO"}]})
        ),
        "linux.seccomp.syscalls[0].names[0]: empty system call name"
    );
    // An architecture libseccomp 2.5 cannot filter for.
    if libseccomp::ScmpVersion::current().is_ok_and(|v| (v.major, v.minor) < (2, 6)) {
        let e = err(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_M68K"]}),
        );
        assert!(
            e.starts_with(
                "linux.seccomp.architectures: SCMP_ARCH_M68K is not supported by libseccomp"
            ),
            "{e}"
        );
    }
    // An unknown action or operator never gets this far: config.json fails to parse,
    // and the message names the bad value.
    let bad: Result<LinuxSeccomp, _> = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_EXPLODE"}]}));
    assert!(bad.unwrap_err().to_string().contains("SCMP_ACT_EXPLODE"));
    let bad: Result<LinuxSeccomp, _> = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_APPROX"}]}]}));
    assert!(bad.unwrap_err().to_string().contains("SCMP_CMP_APPROX"));
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let p = compile(
        &profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["definitely_not_a_syscall", "getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOKEY}]})),
        None,
    )
    .unwrap();
    assert_eq!(
        run_under(&p, call_getppid),
        Outcome::Exited("ENOKEY".into())
    );
}

#[test]
fn flags_reach_the_kernel() {
    let p = compile(
        &profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]})),
        None,
    )
    .unwrap();
    assert_eq!(
        p.flags(),
        sys::FLAG_LOG | sys::FLAG_SPEC_ALLOW | sys::FLAG_TSYNC
    );
    assert_eq!(run_under(&p, call_getppid), Outcome::Exited("EPERM".into()));
    let e = compile(
        &profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]})),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("needs a rule with SCMP_ACT_NOTIFY"), "{e}");
}

/// Without no_new_privs and without CAP_SYS_ADMIN the kernel refuses the filter.
#[test]
fn loading_needs_no_new_privs_or_cap_sys_admin() {
    let p = one_rule("SCMP_ACT_KILL");
    let out = in_child(move || {
        let mut caps = rustix::thread::capabilities(None).map_err(|e| e.to_string())?;
        caps.effective
            .remove(rustix::thread::CapabilitySet::SYS_ADMIN);
        rustix::thread::set_capabilities(None, caps).map_err(|e| e.to_string())?;
        load(&p).map(|_| String::new()).map_err(|e| e.to_string())
    });
    assert_eq!(
        out,
        Outcome::Failed(
            "load the seccomp filter (neither no_new_privs nor CAP_SYS_ADMIN): Permission denied (os error 13)"
                .into()
        )
    );
}

/// With CAP_SYS_ADMIN (no_new_privs off), as init runs when noNewPrivileges is false.
#[test]
fn loading_with_cap_sys_admin_needs_no_no_new_privs() {
    if !is_root() {
        return skip("needs root (CAP_SYS_ADMIN)");
    }
    let p = one_rule("SCMP_ACT_KILL");
    let out = in_child(move || load(&p).map(|_| call_getppid()).map_err(|e| e.to_string()));
    assert_eq!(out, Outcome::Signaled(libc::SIGSYS));
}

/// The whole notify path: the filter yields a listener, the listener goes to an agent
/// over listenerPath with the containerProcessState, and the agent answers.
#[test]
fn notify_reaches_the_agent_which_answers() {
    let dir = TempDir::new("notify");
    let sock = dir.0.join("agent.sock");
    let p = compile(
        &profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "listenerMetadata": "answer=fake-success",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        })),
        None,
    )
    .unwrap();
    assert!(p.notifies());

    let listener = UnixListener::bind(&sock).unwrap();
    let agent = std::thread::spawn(move || agent(listener));

    let target = dir.0.join("made-by-child");
    let (t1, sockc) = (target.clone(), sock.clone());
    let out = in_child(move || {
        crate::security::set_no_new_privs().map_err(|e| e.to_string())?;
        let fd = load(&p).map_err(|e| e.to_string())?.ok_or("no listener")?;
        let state = serde_json::json!({"ociVersion": crate::OCI_VERSION, "id": "notify-test",
            "status": "creating", "pid": std::process::id(), "bundle": "/b"});
        send_listener(
            &sockc,
            Some("answer=fake-success"),
            std::process::id() as i32,
            &state,
            fd.as_fd(),
        )
        .map_err(|e| e.to_string())?;
        drop(fd);
        // The agent says the first mkdir succeeded (without running it) and fails the
        // second with EXDEV.
        let first = std::fs::create_dir(&t1).map_err(|e| e.raw_os_error());
        let second = std::fs::create_dir(&t1).map_err(|e| e.raw_os_error());
        Ok(format!(
            "first={first:?} second={second:?} exists={}",
            t1.exists()
        ))
    });
    let (msg, seen) = agent.join().unwrap();
    assert_eq!(
        out,
        Outcome::Exited(format!(
            "first=Ok(()) second=Err(Some({})) exists=false",
            libc::EXDEV
        ))
    );
    // The agent got the runtime-spec containerProcessState.
    assert_eq!(msg["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(msg["metadata"], "answer=fake-success");
    assert_eq!(msg["state"]["id"], "notify-test");
    assert_eq!(msg["ociVersion"], crate::OCI_VERSION);
    assert_eq!(msg["pid"], msg["state"]["pid"]);
    assert_eq!(seen, vec![libc::SYS_mkdir as i32, libc::SYS_mkdir as i32]);
}

/// A minimal seccomp agent: receive the state and the listener, answer two calls.
fn agent(listener: UnixListener) -> (serde_json::Value, Vec<i32>) {
    let (conn, _) = listener.accept().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let (n, fd) = crate::sys::socket::recv_packet(conn.as_fd(), &mut buf).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
    let fd = fd.expect("listener fd attached");
    let mut seen = Vec::new();
    for answer in [sys::Response::Value(0), sys::Response::Errno(libc::EXDEV)] {
        let n = sys::notif_recv(fd.as_fd()).unwrap();
        seen.push(n.nr);
        sys::notif_send(fd.as_fd(), n.id, answer).unwrap();
    }
    (json, seen)
}

#[test]
fn cache_returns_the_same_program_and_survives_garbage() {
    let dir = TempDir::new("cache");
    let s = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": BASICS, "action": "SCMP_ACT_ALLOW"}]}));
    let fresh = compile(&s, None).unwrap();
    let first = compile(&s, Some(&dir.0)).unwrap();
    let entries: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(first, fresh);
    let hit = compile(&s, Some(&dir.0)).unwrap();
    assert_eq!(hit, fresh);

    // The listener path and metadata are not part of the key; the rules are.
    let mut other = s.clone();
    other.set_listener_metadata(Some("per-container".into()));
    assert_eq!(cache::key(&other), cache::key(&s));
    other.set_default_errno_ret(Some(libc::EACCES as u32));
    assert_ne!(cache::key(&other), cache::key(&s));
    // Every part of a rule is in the key: names, action, errno and each argument.
    let base = profile(
        serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]}]}),
    );
    let variants = [
        serde_json::json!({"names": ["readwrite"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]}),
        serde_json::json!({"names": ["read", "write"], "action": "SCMP_ACT_LOG",
         "args": [{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]}),
        serde_json::json!({"names": ["read", "write"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"}]}),
        serde_json::json!({"names": ["read", "write"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_EQ"}]}),
        serde_json::json!({"names": ["read", "write"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 1, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]}),
    ];
    for v in variants {
        let other =
            profile(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [v]}));
        assert_ne!(cache::key(&other), cache::key(&base), "{v}");
    }

    // A damaged entry is ignored and replaced.
    std::fs::write(&entries[0], b"HULLBPF1garbage").unwrap();
    assert_eq!(compile(&s, Some(&dir.0)).unwrap(), fresh);
    assert_ne!(std::fs::read(&entries[0]).unwrap(), b"HULLBPF1garbage");

    // The cached program really filters.
    let out = run_under(&hit, call_getppid);
    assert_eq!(out, Outcome::Exited("EPERM".into()));
}

#[test]
fn features_document() {
    let f = features();
    assert_eq!(f["enabled"], true);
    assert_eq!(f["actions"].as_array().unwrap().len(), 9);
    assert_eq!(f["operators"].as_array().unwrap().len(), 7);
    let archs = f["archs"].as_array().unwrap();
    assert!(archs.contains(&"SCMP_ARCH_X86_64".into()));
    assert!(archs.contains(&"SCMP_ARCH_AARCH64".into()));
    assert_eq!(f["knownFlags"].as_array().unwrap().len(), 4);
    // Kernel 5.19+ supports all four.
    let supported = f["supportedFlags"].as_array().unwrap();
    assert!(supported.contains(&"SECCOMP_FILTER_FLAG_LOG".into()));
    assert!(supported.contains(&"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV".into()));
}

// ---- Real-world profiles -------------------------------------------------------

const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// containers.conf's default_capabilities.
const PODMAN_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

const PODMAN_PROFILE: &str = "/usr/share/containers/seccomp.json";

fn docker_profile() -> LinuxSeccomp {
    serde_json::from_str(include_str!("../testdata/docker-default.json")).unwrap()
}

/// Resolve a profile in the Docker/containers format (archMap, includes, excludes) to
/// the runtime-spec form for amd64, a 6.x kernel and `caps`, as dockerd and podman do.
fn resolve_engine_profile(p: &serde_json::Value, caps: &[&str]) -> LinuxSeccomp {
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let arch = "amd64";
    let mut out = serde_json::json!({"defaultAction": p["defaultAction"]});
    if !p["defaultErrnoRet"].is_null() {
        out["defaultErrnoRet"] = p["defaultErrnoRet"].clone();
    }
    for a in p["archMap"].as_array().into_iter().flatten() {
        if a["architecture"] == "SCMP_ARCH_X86_64" {
            let mut list = vec!["SCMP_ARCH_X86_64".to_string()];
            list.extend(strs(&a["subArchitectures"]));
            out["architectures"] = serde_json::json!(list);
        }
    }
    let mut syscalls = Vec::new();
    for c in p["syscalls"].as_array().unwrap() {
        let (inc, exc) = (&c["includes"], &c["excludes"]);
        if strs(&exc["arches"]).iter().any(|a| a == arch)
            || strs(&exc["caps"])
                .iter()
                .any(|c| caps.contains(&c.as_str()))
            || (!inc["arches"].is_null() && !strs(&inc["arches"]).iter().any(|a| a == arch))
            || !strs(&inc["caps"])
                .iter()
                .all(|c| caps.contains(&c.as_str()))
        {
            continue;
        }
        let mut s = serde_json::json!({"names": c["names"], "action": c["action"]});
        if !c["errnoRet"].is_null() {
            s["errnoRet"] = c["errnoRet"].clone();
        }
        if c["args"].as_array().is_some_and(|a| !a.is_empty()) {
            s["args"] = c["args"].clone();
        }
        syscalls.push(s);
    }
    out["syscalls"] = serde_json::json!(syscalls);
    serde_json::from_value(out).unwrap()
}

fn podman_profile() -> Option<LinuxSeccomp> {
    let raw = std::fs::read(PODMAN_PROFILE).ok()?;
    Some(resolve_engine_profile(
        &serde_json::from_slice(&raw).unwrap(),
        PODMAN_CAPS,
    ))
}

fn cap_set(names: &[&str]) -> oci_spec::runtime::Capabilities {
    names
        .iter()
        .map(|n| serde_json::from_value(serde_json::json!(n)).unwrap())
        .collect()
}

/// What init does before execve for a container with these caps and profile.
fn confine(caps: &[&str], p: &Program) -> Result<(), String> {
    let set = cap_set(caps);
    let mut lc = oci_spec::runtime::LinuxCapabilities::default();
    lc.set_bounding(Some(set.clone()));
    lc.set_effective(Some(set.clone()));
    lc.set_permitted(Some(set.clone()));
    lc.set_inheritable(Some(cap_set(&[])));
    lc.set_ambient(Some(cap_set(&[])));
    let s = |e: crate::Error| e.to_string();
    crate::security::capabilities::drop_bounding(&lc).map_err(s)?;
    crate::security::capabilities::apply(&lc, rustix::thread::CapabilitySet::empty()).map_err(s)?;
    crate::security::set_no_new_privs().map_err(s)?;
    load(p).map_err(s)?;
    Ok(())
}

/// A busybox shell under a profile: files, directories, pipes, subshells.
fn busybox_shell(caps: &'static [&'static str], p: &Program) -> Outcome {
    let dir = TempDir::new("busybox");
    let script = format!(
        "cd {} && echo hello > f && cat f && mkdir d && ls && rmdir d && rm f && \
         echo $(echo sub) | tr a-z A-Z && (exit 3); echo rc=$?; \
         unshare -m true 2>&1; echo unshare=$?",
        dir.0.display()
    );
    let p = p.clone();
    crate::security::testutil::exec_in_child(
        move || confine(caps, &p),
        &["/bin/busybox", "sh", "-c", &script],
    )
}

/// The calls the tests probe, with the errno each returned.
fn probe_calls(mount_target: &std::ffi::CStr) -> String {
    type Call<'a> = (&'static str, Box<dyn Fn() -> libc::c_long + 'a>);
    // Valid or deliberately bogus-but-harmless arguments; the namespace and mount calls
    // affect only this short-lived child.
    let call = |nr: libc::c_long, args: &[u64]| crate::sys::testing::syscall(nr, args);
    let calls: [Call; 10] = [
        (
            "unshare",
            Box::new(move || call(libc::SYS_unshare, &[libc::CLONE_NEWNS as u64])),
        ),
        (
            "mount",
            Box::new(move || {
                call(
                    libc::SYS_mount,
                    &[
                        c"none".as_ptr() as u64,
                        mount_target.as_ptr() as u64,
                        c"tmpfs".as_ptr() as u64,
                        0,
                        0,
                    ],
                )
            }),
        ),
        // KEYCTL_GET_KEYRING_ID of the session keyring.
        (
            "keyctl",
            Box::new(move || call(libc::SYS_keyctl, &[0, -3i64 as u64, 0])),
        ),
        (
            "add_key",
            Box::new(move || {
                let (user, k) = (c"user".as_ptr() as u64, c"k".as_ptr() as u64);
                call(libc::SYS_add_key, &[user, k, 0, 0, -3i64 as u64])
            }),
        ),
        ("clone3", Box::new(move || call(libc::SYS_clone3, &[0, 0]))),
        (
            "setns",
            Box::new(move || call(libc::SYS_setns, &[-1i64 as u64, 0])),
        ),
        (
            "userfaultfd",
            Box::new(move || call(libc::SYS_userfaultfd, &[0])),
        ),
        // AF_VSOCK
        (
            "vsock",
            Box::new(move || call(libc::SYS_socket, &[40, libc::SOCK_STREAM as u64, 0])),
        ),
        // personality(0xffffffff) only queries.
        (
            "personality",
            Box::new(move || call(libc::SYS_personality, &[0xffff_ffff])),
        ),
        // fchmodat2 is system call 452 on x86_64 (Linux 6.6).
        (
            "fchmodat2",
            Box::new(move || call(452, &[libc::AT_FDCWD as u64, c"/".as_ptr() as u64, 0, 0])),
        ),
    ];
    calls
        .iter()
        .map(|(k, f)| format!("{k}={}", sys(f())))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn docker_default_profile_denies_and_allows_as_docker() {
    let p = compile(&docker_profile(), None).unwrap();
    if !is_root() {
        return skip("confining needs root to drop capabilities from the bounding set");
    }
    let target = TempDir::new("mnt");
    let t = std::ffi::CString::new(target.0.to_str().unwrap()).unwrap();
    let out = in_child({
        let p = p.clone();
        move || {
            confine(DOCKER_CAPS, &p)?;
            Ok(probe_calls(&t))
        }
    });
    // unshare, mount, keyctl, add_key, setns: not in the profile (no CAP_SYS_ADMIN),
    // so the default EPERM. clone3: the profile's explicit ENOSYS. fchmodat2 (452) is
    // newer than any call the profile names: the stub's ENOSYS. AF_VSOCK sockets are
    // refused, personality(0xffffffff) (a query) is allowed.
    assert_eq!(
        out,
        Outcome::Exited(
            "unshare=EPERM mount=EPERM keyctl=EPERM add_key=EPERM clone3=ENOSYS setns=EPERM \
             userfaultfd=EPERM vsock=EPERM personality=ok fchmodat2=ENOSYS"
                .into()
        )
    );
    let sh = busybox_shell(DOCKER_CAPS, &p);
    assert_eq!(
        sh,
        Outcome::Exited(
            "hello\nd\nf\nSUB\nrc=3\nunshare: unshare(0x20000): Operation not permitted\nunshare=1\n"
                .into()
        )
    );
}

#[test]
fn podman_profile_denies_and_allows_as_podman() {
    let Some(profile) = podman_profile() else {
        panic!("{PODMAN_PROFILE} is missing: apt-get install golang-github-containers-common");
    };
    let p = compile(&profile, None).unwrap();
    if !is_root() {
        return skip("confining needs root to drop capabilities from the bounding set");
    }
    let target = TempDir::new("mnt");
    let t = std::ffi::CString::new(target.0.to_str().unwrap()).unwrap();
    let out = in_child({
        let p = p.clone();
        move || {
            confine(PODMAN_CAPS, &p)?;
            Ok(probe_calls(&t))
        }
    });
    // Debian's containers-common profile allows unshare, mount, keyctl, clone3 and
    // sockets of any family, and leaves them to the capability checks: without
    // CAP_SYS_ADMIN the kernel refuses unshare and mount with EPERM. clone3 reaches
    // the kernel (EINVAL for a zero size). setns is both in the allow list and in a
    // CAP_SYS_ADMIN-excluded errno rule: libseccomp keeps the first rule, as under
    // runc and crun, so the kernel answers (EBADF for fd -1). Calls the profile does
    // not name get its defaultErrnoRet, ENOSYS; userfaultfd is listed: EPERM.
    let Outcome::Exited(out) = out else {
        panic!("{out:?}")
    };
    let vsock = out.split(' ').find(|kv| kv.starts_with("vsock=")).unwrap();
    // The socket exists or not depending on the kernel's vsock support; never EPERM.
    assert!(
        vsock == "vsock=ok" || vsock == "vsock=EAFNOSUPPORT",
        "{vsock}"
    );
    assert_eq!(
        out.replace(&format!(" {vsock}"), ""),
        "unshare=EPERM mount=EPERM keyctl=ok add_key=ENOSYS clone3=EINVAL setns=EBADF \
         userfaultfd=EPERM personality=ok fchmodat2=ENOSYS"
    );
    let sh = busybox_shell(PODMAN_CAPS, &p);
    assert_eq!(
        sh,
        Outcome::Exited(
            "hello\nd\nf\nSUB\nrc=3\nunshare: unshare(0x20000): Operation not permitted\nunshare=1\n"
                .into()
        )
    );
}
