//! The CVE-2024-21626 pattern: fds of the runtime's reaching the container. `--preserve-fds N`
//! from a caller with fewer open fds handed the container hull's own fd 3 (the host state
//! directory: `openat(3, "../..")` walks the host) and fd 4 (the exec fifo); a created
//! container's init held runtime fds until `start`; and a process.cwd of /proc/self/fd/N
//! (create) or `exec --cwd /proc/self/fd/N` lands in whatever fd N is. hull now claims the
//! passed fds before it opens any (a missing one is an error, as in runc), and init and exec
//! close everything of the runtime's before the cwd and the user switch.

use hull_integration::*;

use crate::leftovers::{
    assert_nothing_left, exec, listing, marked_sleeper, without_extra_fds, without_extra_fds_env,
};

#[test]
fn preserved_fds_the_caller_does_not_have_are_refused() {
    let rt = Runtime::new();
    let marker = unique("pfdmark");
    let b = Bundle::sh(&format!(
        "ls -l /proc/self/fd /proc/self/fd/3/; echo RAN; : {marker}"
    ));
    let bundle = b.path().to_str().unwrap();
    for args in [
        vec!["create", "--preserve-fds", "10", "-b", bundle],
        vec!["run", "--preserve-fds", "10", "-b", bundle],
        vec!["run", "-d", "--preserve-fds", "2", "-b", bundle],
    ] {
        let id = unique("pfd");
        let mut full = args.clone();
        full.push(&id);
        let out = without_extra_fds(&rt, &full);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(
            stderr(&out).contains("preserved fd 0 (fd 3) is not open"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!stdout(&out).contains("RAN"), "{args:?}: the container ran");
        assert_nothing_left(&rt, &id, &id, &marker);
    }

    // LISTEN_FDS names fds as well: the same rule.
    let id = unique("listen");
    let out = without_extra_fds_env(&rt, &["run", "-b", bundle, &id], &[("LISTEN_FDS", "2")]);
    assert!(!out.status.success(), "LISTEN_FDS=2 accepted");
    assert!(
        stderr(&out).contains("LISTEN_FDS=2: fd 3 is not open"),
        "{}",
        stderr(&out)
    );
    assert_nothing_left(&rt, &id, &id, &marker);

    // exec: the same.
    let id = unique("pfdexec");
    ok(&rt.run_detached(&id, &marked_sleeper(&marker)));
    let out = without_extra_fds(
        &rt,
        &[
            "exec",
            "--preserve-fds",
            "3",
            &id,
            "sh",
            "-c",
            "ls -l /proc/self/fd; echo RAN",
        ],
    );
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(stderr(&out).contains("preserved fd 0 (fd 3) is not open"));
    assert!(!stdout(&out).contains("RAN"));

    // runc refuses too ("unable to stat preserved-fd"); 1.1.5 only from the first fd it does
    // not hold itself, having fds 3-6 of its own.
    let runc = Runtime::with_bin("/usr/sbin/runc".into());
    let id = unique("pfdrunc");
    let out = without_extra_fds(&runc, &["run", "--preserve-fds", "10", "-b", bundle, &id]);
    assert!(!out.status.success() && stderr(&out).contains("preserved-fd"));
}

#[test]
fn a_created_containers_init_holds_nothing_of_the_runtime() {
    let rt = Runtime::new();
    let marker = unique("initfds");
    let b = marked_sleeper(&marker);
    let id = unique("initfd");
    // A caller with stray fds of its own (not passed): they must not reach init either.
    let stray = std::fs::File::open(b.path()).unwrap();
    let stray_fd = std::os::fd::AsRawFd::as_raw_fd(&stray);
    let mut cmd = rt.command();
    cmd.args(["create", "-b", b.path().to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: fcntl only, in the child between fork and exec: the stray fd stays open.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            let stray = std::os::fd::BorrowedFd::borrow_raw(stray_fd);
            let _ = rustix::io::fcntl_setfd(stray, rustix::io::FdFlags::empty());
            Ok(())
        });
    }
    assert!(cmd.status().unwrap().success());
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let mut fds: Vec<(String, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path()).unwrap();
            (
                e.file_name().into_string().unwrap(),
                target.display().to_string(),
            )
        })
        .collect();
    fds.sort();
    let names: Vec<&str> = fds.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 4, "init's fds while created: {fds:?}");
    assert_eq!(&names[..3], ["0", "1", "2"], "{fds:?}");
    assert!(fds[3].1.ends_with("/exec.fifo"), "{fds:?}");

    // The attack from inside: a process exec'd into the created container with
    // CAP_SYS_PTRACE (so /proc/1/fd of the non-dumpable init is open to it) tries every fd
    // of init as a directory and as a place to write.
    let before = listing(rt.root.path());
    let bundle_before = listing(b.path());
    let script = format!(
        "ls -l /proc/1/fd; for f in /proc/1/fd/*; do \
           ls $f/ >/dev/null 2>&1 && echo DIR:$f; \
           touch $f/{marker}-pwned 2>/dev/null && echo WROTE:$f; \
           cat $f/../../etc/hostname 2>/dev/null && echo READ:$f; \
         done; true"
    );
    let out = ok(&exec(
        &rt,
        &["--cap", "CAP_SYS_PTRACE", &id, "sh", "-c", &script],
    ));
    assert!(
        out.contains("exec.fifo"),
        "the attacker could not even look: {out}"
    );
    for bad in ["DIR:", "WROTE:", "READ:"] {
        assert!(!out.contains(bad), "{bad} through init's fds:\n{out}");
    }
    assert_eq!(
        listing(rt.root.path()),
        before,
        "the runtime's root changed"
    );
    assert_eq!(listing(b.path()), bundle_before, "the bundle changed");
    drop(stray);
}

/// The runtime with `args`, holding a directory of the host's at fd `at` that its caller
/// leaked to it (not close-on-exec, not passed with --preserve-fds).
fn with_stray_dir(
    rt: &Runtime,
    args: &[&str],
    dir: &std::path::Path,
    at: i32,
) -> std::process::Output {
    let stray = std::fs::File::open(dir).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stray);
    let mut cmd = rt.command();
    cmd.args(args).stdin(std::process::Stdio::null());
    // SAFETY: dup2 only, in the child between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::dup2(fd, at) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// process.cwd (create) and `exec --cwd` set to /proc/self/fd/N, and a directory under it,
/// for every N a runtime fd or a directory its caller leaked could have.
#[test]
fn cwd_through_proc_self_fd_is_refused() {
    let rt = Runtime::new();
    let marker = unique("cwdfd");
    let host = TempDir::new("hull-host-dir");
    let stray_at = 7;
    let mut b = Bundle::sh(&format!("echo RAN; touch {marker}-pwned; ls ../../.."));
    let before = listing(rt.root.path());
    for n in 3..=12 {
        for cwd in [
            format!("/proc/self/fd/{n}"),
            format!("/proc/self/fd/{n}/{marker}"),
        ] {
            b.config["process"]["cwd"] = cwd.clone().into();
            b.save();
            let bundle_before = listing(b.path());
            let id = unique("cwd");
            let args = ["run", "-b", b.path().to_str().unwrap(), &id];
            let out = with_stray_dir(&rt, &args, host.path(), stray_at);
            assert!(!out.status.success(), "cwd {cwd} accepted");
            assert!(
                !stdout(&out).contains("RAN"),
                "cwd {cwd}: the container ran"
            );
            assert_nothing_left(&rt, &id, &id, &marker);
            let mut after = listing(b.path());
            after.retain(|l| !l.contains("config.json"));
            let mut expected = bundle_before.clone();
            expected.retain(|l| !l.contains("config.json"));
            assert_eq!(after, expected, "cwd {cwd}: the bundle changed");
            assert!(
                listing(host.path()).is_empty(),
                "cwd {cwd}: wrote to the host"
            );
        }
    }
    assert_eq!(listing(rt.root.path()), before);

    b.config["process"]["cwd"] = "/".into();
    b.config["process"]["args"] =
        serde_json::json!(["sh", "-c", format!("sleep 1000; : {marker}")]);
    b.save();
    let id = unique("cwdexec");
    ok(&rt.run_detached(&id, &b));
    let before = listing(rt.root.path());
    for n in 3..=12 {
        let cwd = format!("/proc/self/fd/{n}");
        let script = format!("echo RAN; touch {marker}-pwned; ls ../../..");
        let args = ["exec", "--cwd", &cwd, &id, "sh", "-c", &script];
        let out = with_stray_dir(&rt, &args, host.path(), stray_at);
        assert_eq!(
            out.status.code(),
            Some(255),
            "exec --cwd {cwd}: {}",
            stderr(&out)
        );
        assert!(!stdout(&out).contains("RAN"), "exec --cwd {cwd} ran");
        assert!(
            listing(host.path()).is_empty(),
            "exec --cwd {cwd}: wrote to the host"
        );
    }
    assert_eq!(
        listing(rt.root.path()),
        before,
        "the runtime's root changed"
    );
}
