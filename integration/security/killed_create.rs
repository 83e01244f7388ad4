//! SIGKILL during create: in 53 of 100 creates killed at a random moment, the state directory
//! and the cgroups (all 9 v1 hierarchies) stayed behind, sometimes a process, and `delete -f`
//! exited 0 leaving them. Create now records what it is about to make before making it, and
//! `delete` removes all of it, or fails saying what is left.
//!
//! Two ways in: the runtime's own fault points (debug builds: HULL_TEST_FAULT=<step> makes it
//! SIGKILL itself at that step of create), every one of them; and a bounded number of kills
//! at random moments from outside.

use std::process::Stdio;
use std::time::Duration;

use hull_integration::*;

use crate::leftovers::{assert_nothing_left, cgroup_dirs, marked_sleeper};

/// A NOTIFY_SOCKET for the runtime (so create also makes the notify directory and plans its
/// bind into the container).
struct Notify {
    _dir: TempDir,
    path: std::path::PathBuf,
    _sock: std::os::unix::net::UnixDatagram,
}

fn notify() -> Notify {
    let dir = TempDir::new("hull-notify");
    let path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    Notify {
        _dir: dir,
        path,
        _sock: sock,
    }
}

#[test]
fn delete_removes_what_a_create_killed_at_any_step_left() {
    let rt = Runtime::new();
    let marker = unique("killstep");
    let b = marked_sleeper(&marker);
    let n = notify();
    // A name the binary does not know makes create succeed, which fails the test.
    for step in create_fault_steps() {
        let id = unique("kill");
        let out = create_command(&rt, &b, &id)
            .env("HULL_TEST_FAULT", step)
            .env("NOTIFY_SOCKET", &n.path)
            .status()
            .unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out),
            Some(libc::SIGKILL),
            "create did not die at {step} (a release build has no fault points): {out:?}"
        );
        // What state and list say about it: not "running", never an error for a recorded one.
        // Init dies of its parent-death signal, which the kernel sends as the runtime exits;
        // on a busy machine init may not have run its exit yet when `state` looks, so a
        // "created" is waited out (bounded, and it fails loudly). Likewise a "creating": init
        // closes its copy of the runtime's lock as its first step, and a runtime killed right
        // after the clone can be gone before init has run at all.
        let mut status = rt.status(&id);
        let settle = std::time::Instant::now();
        while !matches!(step, "create:dir" | "create:released")
            && matches!(status.as_deref(), Some("created" | "creating"))
            && settle.elapsed() < std::time::Duration::from_secs(30)
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
            status = rt.status(&id);
        }
        match step {
            "create:dir" => assert_eq!(status, None, "{step}"),
            "create:released" => assert_eq!(status.as_deref(), Some("created"), "{step}"),
            _ => assert_eq!(status.as_deref(), Some("stopped"), "{step}"),
        }
        if status.is_some() {
            assert!(rt.ids().contains(&id), "{step}: not listed");
        }
        // Something mounted in the state directory is detached too (nothing of hull's is,
        // after a create in a mount namespace of its own, but delete must not reach into one).
        let state_dir = rt.root.path().join(&id);
        let mounted = state_dir.join("notify");
        if step == "create:ready" {
            let ok = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=4k", "hull-test-leftover"])
                .arg(&mounted)
                .status()
                .unwrap();
            assert!(
                ok.success(),
                "test setup: mount a tmpfs in the state directory"
            );
        }
        let out = rt.cmd(&["delete", "--force", &id]);
        assert!(out.status.success(), "{step}: delete: {}", stderr(&out));
        assert_nothing_left(&rt, &id, &id, &marker);
    }
}

#[test]
fn delete_removes_what_a_create_killed_at_a_random_moment_left() {
    let rt = Runtime::new();
    let marker = unique("killrand");
    let b = marked_sleeper(&marker);
    // A small linear congruential generator: no dependency, and the seed is printed so that
    // a failure can be replayed.
    let mut seed = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    eprintln!("seed {seed}");
    let mut next = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        seed >> 33
    };
    for i in 0..25 {
        let id = unique("rand");
        let mut child = create_command(&rt, &b, &id).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(next() % 40_000));
        let _ = child.kill();
        let _ = child.wait();
        let out = rt.cmd(&["delete", "--force", &id]);
        assert!(
            out.status.success(),
            "iteration {i}: delete: {}",
            stderr(&out)
        );
        assert_nothing_left(&rt, &id, &id, &marker);
    }
}

/// When something cannot be removed, delete says what and exits non-zero, keeping the state
/// directory; once the obstacle is gone, delete finishes the job.
#[test]
fn delete_fails_loudly_when_it_cannot_remove_everything() {
    let rt = Runtime::new();
    let marker = unique("killfail");
    let b = marked_sleeper(&marker);
    let id = unique("stuck");
    let status = create_command(&rt, &b, &id)
        .env("HULL_TEST_FAULT", "create:ready")
        .status()
        .unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    // A child cgroup (ours) with a mount on it keeps the container's cgroup from being
    // removed: delete removes sub-cgroups (as runc does), but not a mount point.
    let dir = cgroup_dirs(&id)
        .into_iter()
        .find(|d| d.exists())
        .expect("the killed create made its cgroup");
    let child = dir.join("held-by-test");
    std::fs::create_dir(&child).unwrap();
    rustix::mount::mount(
        "none",
        &child,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        None,
    )
    .unwrap();
    let out = rt.cmd(&["delete", "--force", &id]);
    let unmounted = rustix::mount::unmount(&child, rustix::mount::UnmountFlags::empty());
    let removed_child = unmounted
        .map_err(std::io::Error::from)
        .and_then(|()| std::fs::remove_dir(&child));
    assert!(!out.status.success(), "delete claimed success");
    assert!(
        stderr(&out).contains("cgroup") && stderr(&out).contains("kept"),
        "{}",
        stderr(&out)
    );
    assert!(rt.root.path().join(&id).exists(), "state directory gone");
    removed_child.unwrap();
    ok(&rt.cmd(&["delete", "--force", &id]));
    assert_nothing_left(&rt, &id, &id, &marker);
}

/// While a create runs, `state` and `list` show the container as "creating" (pid 0), without
/// waiting for it; once it is done, "created". A createRuntime hook holds the create until the
/// test lets it go.
#[test]
fn a_create_under_way_shows_as_creating() {
    let rt = Runtime::new();
    let gate = TempDir::new("hull-gate");
    let go = gate.path().join("go");
    let mut b = marked_sleeper(&unique("creating"));
    b.config["hooks"] = serde_json::json!({"createRuntime": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("while [ ! -e {} ]; do sleep 0.02; done", go.display())]
    }]});
    b.save();
    let id = unique("slow");
    let mut create = create_command(&rt, &b, &id).spawn().unwrap();
    let mut seen = None;
    for _ in 0..1000 {
        if let Some(s) = rt.state(&id) {
            seen = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let listed = ok(&rt.cmd(&["list", "-f", "json"]));
    std::fs::write(&go, "").unwrap();
    let status = create.wait().unwrap();
    let seen = seen.expect("no state while the create ran");
    assert_eq!(seen["status"], "creating", "{seen}");
    assert_eq!(seen["pid"], 0, "{seen}");
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["status"], "creating", "{listed}");
    assert!(status.success());
    assert_eq!(rt.status(&id).as_deref(), Some("created"));
}

/// `create -b B ID` with the runtime's stdio closed off, to be spawned or waited for.
fn create_command(rt: &Runtime, b: &Bundle, id: &str) -> std::process::Command {
    let mut cmd = rt.command();
    cmd.args(["create", "-b", b.path().to_str().unwrap(), id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}
