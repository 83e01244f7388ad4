//! The container's filesystem, checked from inside with the probe: every mount type, option
//! families (flags, data, recursive r* attributes, propagation, tmpcopyup, nosymfollow),
//! devices, masked and read-only paths, read-only root, --no-pivot, and symlinks in the
//! rootfs that try to send a mount outside it.

use hull_integration::*;
use serde_json::{json, Value};

fn run_probe(b: &Bundle, extra: &[&str]) -> Value {
    let rt = Runtime::new();
    let out = rt
        .command()
        .args(extra)
        .args(["run", "-b", b.path().to_str().unwrap(), &unique("rootfs")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn mount<'a>(r: &'a Value, target: &str) -> &'a Value {
    r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["target"] == target)
        .unwrap_or_else(|| panic!("no mount at {target}"))
}

fn add_mount(b: &mut Bundle, m: Value) {
    b.config["mounts"].as_array_mut().unwrap().push(m);
}

#[test]
fn mount_types_and_options() {
    let host = TempDir::new("hull-bindsrc");
    std::fs::create_dir_all(host.path().join("sub")).unwrap();
    std::fs::write(host.path().join("file"), "from host").unwrap();
    let mut b = Bundle::probe(&[
        "--write",
        "/ro-bind/file",
        "--write",
        "/rbind-rro/file",
        "--stat",
        "/copied/seed",
        "--stat",
        "/filebind",
    ]);
    std::fs::create_dir_all(b.rootfs().join("copied")).unwrap();
    std::fs::write(b.rootfs().join("copied/seed"), "seed").unwrap();
    let src = host.path().to_str().unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/ro-bind", "type": "bind", "source": src, "options": ["bind", "ro", "nosuid", "nodev"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/rbind-rro", "type": "bind", "source": src, "options": ["rbind", "rro", "rnoexec"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/filebind", "type": "bind", "source": host.path().join("file").to_str().unwrap(), "options": ["bind"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["noexec", "size=2m", "mode=1777", "nosymfollow"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/copied", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/private", "type": "tmpfs", "source": "tmpfs", "options": ["rprivate"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/mq2", "type": "mqueue", "source": "mqueue"}),
    );
    b.save();
    let r = run_probe(&b, &[]);

    let ro = mount(&r, "/ro-bind");
    assert!(ro["options"].as_str().unwrap().starts_with("ro,"), "{ro}");
    assert!(
        ro["options"].as_str().unwrap().contains("nosuid,nodev"),
        "{ro}"
    );
    assert_eq!(r["write"]["/ro-bind/file"], libc::EROFS);
    let rro = mount(&r, "/rbind-rro");
    assert!(
        rro["options"].as_str().unwrap().contains("ro")
            && rro["options"].as_str().unwrap().contains("noexec"),
        "{rro}"
    );
    assert_eq!(r["write"]["/rbind-rro/file"], libc::EROFS);
    assert_eq!(
        r["stat"]["/filebind"]["type"], "file",
        "a file source binds onto a file"
    );
    let scratch = mount(&r, "/scratch");
    assert_eq!(scratch["fstype"], "tmpfs");
    assert!(
        scratch["options"].as_str().unwrap().contains("noexec"),
        "{scratch}"
    );
    assert!(
        scratch["options"].as_str().unwrap().contains("nosymfollow"),
        "{scratch}"
    );
    assert!(
        scratch["super"].as_str().unwrap().contains("size=2048k"),
        "{scratch}"
    );
    assert_eq!(
        r["stat"]["/copied/seed"]["type"], "file",
        "tmpcopyup seeded the tmpfs"
    );
    assert_eq!(mount(&r, "/copied")["fstype"], "tmpfs");
    assert!(
        mount(&r, "/private")["propagation"]
            .as_str()
            .unwrap()
            .is_empty(),
        "rprivate: no shared/master tags"
    );
    assert_eq!(mount(&r, "/mq2")["fstype"], "mqueue");
    // The default mounts: proc, sysfs read-only, devpts with its options, cgroup read-only.
    assert_eq!(mount(&r, "/proc")["fstype"], "proc");
    assert!(mount(&r, "/sys")["options"]
        .as_str()
        .unwrap()
        .starts_with("ro"));
    assert!(mount(&r, "/dev/pts")["super"]
        .as_str()
        .unwrap()
        .contains("ptmxmode=666"));
    assert!(mount(&r, "/sys/fs/cgroup/memory")["options"]
        .as_str()
        .unwrap()
        .starts_with("ro"));
    assert!(
        mount(&r, "/")["options"]
            .as_str()
            .unwrap()
            .starts_with("ro"),
        "root.readonly"
    );
}

#[test]
fn overlay_mount() {
    let layers = TempDir::new("hull-overlay");
    for d in ["lower", "upper", "work"] {
        std::fs::create_dir_all(layers.path().join(d)).unwrap();
    }
    std::fs::write(layers.path().join("lower/from-lower"), "x").unwrap();
    let mut b = Bundle::probe(&["--stat", "/ov/from-lower", "--write", "/ov/from-lower"]);
    let p = |d: &str| layers.path().join(d).to_str().unwrap().to_string();
    add_mount(
        &mut b,
        json!({"destination": "/ov", "type": "overlay", "source": "overlay",
        "options": [format!("lowerdir={}", p("lower")), format!("upperdir={}", p("upper")), format!("workdir={}", p("work"))]}),
    );
    b.save();
    let r = run_probe(&b, &[]);
    assert_eq!(mount(&r, "/ov")["fstype"], "overlay");
    assert_eq!(r["stat"]["/ov/from-lower"]["type"], "file");
    assert_eq!(
        r["write"]["/ov/from-lower"], 0,
        "writes go to the upper layer"
    );
    assert!(layers.path().join("upper/from-lower").exists());
}

#[test]
fn devices_masked_and_readonly_paths() {
    let mut b = Bundle::probe(&[
        "--stat",
        "/dev/null",
        "--stat",
        "/dev/tty",
        "--stat",
        "/dev/ptmx",
        "--stat",
        "/dev/stdout",
        "--stat",
        "/dev/fuse",
        "--stat",
        "/proc/timer_list",
        "--stat",
        "/sys/firmware",
        "--write",
        "/proc/sys/kernel/hostname",
        "--write",
        "/proc/timer_list",
    ]);
    b.config["linux"]["devices"] = json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 384, "uid": 7, "gid": 8}]);
    b.save();
    let r = run_probe(&b, &[]);
    let st = &r["stat"];
    assert_eq!(
        (
            st["/dev/null"]["major"].clone(),
            st["/dev/null"]["minor"].clone()
        ),
        (json!(1), json!(3))
    );
    assert_eq!(st["/dev/null"]["mode"], 0o666);
    assert_eq!(st["/dev/tty"]["minor"], 0);
    assert_eq!(st["/dev/ptmx"]["link"], "pts/ptmx");
    assert_eq!(st["/dev/stdout"]["link"], "/proc/self/fd/1");
    assert_eq!(
        st["/dev/fuse"],
        json!({"type": "char", "mode": 0o600, "uid": 7, "gid": 8, "major": 10, "minor": 229, "link": null, "readable": false})
    );
    assert_eq!(
        st["/proc/timer_list"]["type"], "char",
        "a masked file is /dev/null"
    );
    assert_eq!(
        mount(&r, "/sys/firmware")["fstype"],
        "tmpfs",
        "a masked directory is an empty tmpfs"
    );
    assert!(mount(&r, "/sys/firmware")["options"]
        .as_str()
        .unwrap()
        .starts_with("ro"));
    assert_eq!(
        r["write"]["/proc/sys/kernel/hostname"],
        libc::EROFS,
        "/proc/sys is read-only"
    );
}

#[test]
fn no_pivot_moves_the_root() {
    let b = Bundle::probe(&[]);
    let rt = Runtime::new();
    let out = rt
        .command()
        .args([
            "run",
            "--no-pivot",
            "-b",
            b.path().to_str().unwrap(),
            &unique("nopivot"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(mount(&r, "/proc")["fstype"], "proc");
    assert_eq!(r["cwd"], "/");
}

#[test]
fn symlinks_in_the_rootfs_cannot_send_mounts_outside() {
    // /rel -> ../../.. (relative, climbing past the root) and /evil -> an absolute host path:
    // a runtime following them on the host would mount over host directories.
    let victim = TempDir::new("hull-victim");
    let v = victim
        .path()
        .strip_prefix("/")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();

    let mut b = Bundle::probe(&[]);
    std::os::unix::fs::symlink("../../../../../../..", b.rootfs().join("rel")).unwrap();
    std::fs::create_dir_all(b.rootfs().join(&v)).unwrap();
    add_mount(
        &mut b,
        json!({"destination": format!("/rel/{v}/y"), "type": "tmpfs", "source": "tmpfs"}),
    );
    b.save();
    let r = run_probe(&b, &[]);
    assert!(
        !victim.path().join("y").exists(),
        "a mount destination escaped through a relative symlink"
    );
    assert!(
        b.rootfs().join(&v).join("y").exists(),
        "resolved inside the rootfs instead"
    );
    let targets: Vec<&str> = r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["target"].as_str().unwrap())
        .collect();
    assert!(targets.iter().any(|t| t.ends_with("/y")), "{targets:?}");

    // An absolute link to a path the rootfs lacks: refused with the mount named, never made
    // on the host.
    let mut b = Bundle::probe(&[]);
    std::os::unix::fs::symlink(victim.path(), b.rootfs().join("evil")).unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"}),
    );
    b.save();
    let rt = Runtime::new();
    let out = rt.create(&unique("evil"), &b);
    if out.status.success() {
        assert!(b.rootfs().join(&v).join("x").exists());
    } else {
        assert!(stderr(&out).contains("/evil/x"), "{}", stderr(&out));
        assert!(rt.ids().is_empty());
    }
    assert!(
        !victim.path().join("x").exists(),
        "a mount destination escaped through an absolute symlink"
    );
}
