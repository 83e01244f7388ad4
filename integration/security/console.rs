//! The /dev/console symlink (CVE-2025-52565). With `terminal: true` the pty is mounted on
//! /dev/console; a rootfs (here one with no /dev tmpfs over it, so the image's /dev is what
//! the container gets) whose /dev/console is a symlink must not have the pty mounted over the
//! link's target, nor the target created. The target here is a dangling name in a host
//! directory the config binds in: following the link creates a file in that host directory.
//!
//! hull creates /dev/console itself with O_CREAT|O_EXCL|O_NOFOLLOW, refuses anything but a
//! regular file or a device node already there, and mounts the pty from its TIOCGPTPEER fd
//! onto that fd (src/io/tty.rs).
//!
//! runc 1.1.5: follows the link: creates the file in the host directory and mounts the pty
//! over it (create succeeds). runc 1.2.8+ refuses, as hull does.

use hull_integration::*;
use serde_json::{json, Value};

use crate::common::{assert_refused, snapshot};

fn console_bundle(hostdir: &TempDir) -> Bundle {
    let mut b = Bundle::busybox(&["true"]);
    b.config["process"]["terminal"] = true.into();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/dev");
    mounts.push(json!({"destination": "/hostdir", "type": "bind",
        "source": hostdir.path(), "options": ["rbind"]}));
    b.save();
    b
}

fn create_with_console(rt: &Runtime, b: &Bundle) -> std::process::Output {
    let socket = ConsoleSocket::new();
    let path = socket.path.to_str().unwrap().to_string();
    let out = rt.detached(&[
        "create",
        "--console-socket",
        &path,
        "-b",
        b.path().to_str().unwrap(),
        &unique("console"),
    ]);
    // A refused create sends no terminal.
    assert_eq!(socket.try_receive().is_some(), out.status.success());
    out
}

#[test]
fn dev_console_symlink_is_refused() {
    let hostdir = TempDir::new("hull-sec-consoledir");
    let b = console_bundle(&hostdir);
    std::os::unix::fs::symlink("/hostdir/console-target", b.rootfs().join("dev/console")).unwrap();
    let before = snapshot(hostdir.path());
    let rt = Runtime::new();
    let out = create_with_console(&rt, &b);
    assert_refused(&rt, &out, "/dev/console in the container is a symlink");
    assert_eq!(
        snapshot(hostdir.path()),
        before,
        "the link's target was created on the host"
    );
    assert!(before.is_empty());
}

#[test]
fn dev_console_directory_is_refused() {
    let hostdir = TempDir::new("hull-sec-consoledir");
    let b = console_bundle(&hostdir);
    std::fs::create_dir(b.rootfs().join("dev/console")).unwrap();
    let rt = Runtime::new();
    let out = create_with_console(&rt, &b);
    assert_refused(&rt, &out, "/dev/console in the container is a directory");
}

/// The control: the same bundle with no link gets its console, a fresh file in the image's
/// /dev with the pty on it.
#[test]
fn dev_console_is_created_when_missing() {
    let hostdir = TempDir::new("hull-sec-consoledir");
    let mut b = console_bundle(&hostdir);
    b.config["process"]["args"] = Value::from(vec!["sh", "-c", "stat -c %t /dev/console"]);
    b.save();
    let rt = Runtime::new();
    let socket = ConsoleSocket::new();
    let id = unique("console");
    let out = rt.detached(&[
        "run",
        "-d",
        "--console-socket",
        socket.path.to_str().unwrap(),
        "-b",
        b.path().to_str().unwrap(),
        &id,
    ]);
    ok(&out);
    let master = socket.receive();
    // 0x88 = 136, the first pty major.
    assert!(read_until(&master, "88").contains("88"));
    assert!(std::fs::symlink_metadata(b.rootfs().join("dev/console"))
        .unwrap()
        .is_file());
}
