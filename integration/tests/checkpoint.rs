//! checkpoint and restore on this host, whose kernel criu cannot dump on (6.18: `criu check`
//! fails): `checkpoint --help` must say so with its exit status (podman's probe), a checkpoint
//! must fail with criu's reason and leave the container running as it was, and a restore must
//! fail the same way and leave nothing behind (state, rootfs bind, cgroup, process). Restore
//! runs create's checks first. Working checkpoints and restores are checked in the VM lane
//! (hack/vm/guest-criu.sh). Where `criu check` passes, the tests check the success side.

use std::path::{Path, PathBuf};
use std::process::Command;

use hull_integration::*;
use serde_json::json;

fn criu_works() -> bool {
    Command::new("criu")
        .arg("check")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// criu under a name of this test's own (a link to the real one in `dir`), so that a leak
/// check finds this test's criu and no other test's.
fn own_criu(dir: &TempDir) -> String {
    let link = dir.path().join(unique("criu"));
    let real = Command::new("sh")
        .args(["-c", "command -v criu"])
        .output()
        .unwrap();
    let real = String::from_utf8_lossy(&real.stdout).trim().to_string();
    assert!(
        !real.is_empty(),
        "criu must be installed (hack/setup.sh installs it)"
    );
    std::os::unix::fs::symlink(real, &link).unwrap();
    link.to_str().unwrap().to_string()
}

fn mountinfo_mentions(path: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(path.to_str().unwrap())
}

/// Where a relative cgroupsPath `rel` would be made in each hierarchy mounted under
/// /sys/fs/cgroup (hull's rule: below our own cgroup there), for a leak check.
fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mut out = Vec::new();
    for line in std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
    {
        let (left, right) = line.split_once(" - ").unwrap();
        let f: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        let (root, mount_point, fstype, opts) = (f[3], f[4], r[0], r[2]);
        if !mount_point.starts_with("/sys/fs/cgroup") {
            continue;
        }
        let own_path = own.lines().find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, ctrls, path) = (p.next()?, p.next()?, p.next()?);
            let matches = match fstype {
                "cgroup2" => ctrls.is_empty(),
                "cgroup" => {
                    !ctrls.is_empty() && ctrls.split(',').all(|c| opts.split(',').any(|o| o == c))
                }
                _ => false,
            };
            matches.then(|| path.to_string())
        });
        if let Some(path) = own_path {
            let below = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .trim_start_matches('/');
            out.push(Path::new(mount_point).join(below).join(rel));
        }
    }
    out
}

#[test]
fn checkpoint_help_says_whether_checkpointing_works() {
    let rt = Runtime::new();
    let works = criu_works();
    for sub in ["checkpoint", "restore"] {
        let out = rt.cmd(&[sub, "--help"]);
        assert!(
            stdout(&out).contains("--image-path"),
            "{sub} --help prints the help"
        );
        assert_eq!(
            out.status.success(),
            works,
            "{sub} --help must exit 0 exactly where `criu check` passes: {}",
            stderr(&out)
        );
        if !works {
            assert!(
                stderr(&out).contains("checkpoint/restore cannot work on this host")
                    && stderr(&out).contains("criu"),
                "{sub}: {}",
                stderr(&out)
            );
        }
    }
    // Without criu at all it says so, and the exit status too.
    let out = rt.cmd(&["--criu", "/nonexistent/criu", "checkpoint", "--help"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot run /nonexistent/criu"),
        "{}",
        stderr(&out)
    );
    // Other commands' help is not affected.
    assert!(rt.cmd(&["run", "--help"]).status.success());
    // `features` makes no checkpoint claim (runc 1.2 has the annotation
    // org.opencontainers.runc.checkpoint.enabled): engines probe `checkpoint --help`.
    let features: serde_json::Value =
        serde_json::from_slice(&rt.cmd(&["features"]).stdout).unwrap();
    let mut keys: Vec<String> = features.as_object().unwrap().keys().cloned().collect();
    keys.extend(features["annotations"].as_object().unwrap().keys().cloned());
    assert!(!keys.iter().any(|k| k.contains("checkpoint")), "{keys:?}");
}

#[test]
fn checkpoint_fails_clearly_and_leaves_the_container_as_it_was() {
    let rt = Runtime::new();
    let b = Bundle::sh("sleep 60");
    let id = unique("cp");
    ok(&rt.run_detached(&id, &b));
    let before = rt.state(&id).unwrap();
    let scratch = TempDir::new("hull-cp");
    let image = scratch.path().join("image");
    let work = scratch.path().join("work");
    let criu = own_criu(&scratch);
    let out = rt.cmd(&[
        "--criu",
        &criu,
        "checkpoint",
        "--image-path",
        image.to_str().unwrap(),
        "--work-path",
        work.to_str().unwrap(),
        &id,
    ]);
    if criu_works() {
        ok(&out);
        assert!(rt.state(&id).is_none(), "checkpoint deletes the container");
        assert!(image.join("inventory.img").exists());
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // criu's own words, from its log, and where the log is.
    let err = stderr(&out);
    assert!(err.contains("criu dump failed"), "{err}");
    assert!(err.contains("Error (criu/"), "the log's error lines: {err}");
    assert!(
        err.contains(work.join("dump.log").to_str().unwrap()),
        "{err}"
    );
    // The container runs on, untouched; no criu is left; the half image is gone, the log kept.
    assert_eq!(rt.state(&id).unwrap(), before);
    assert!(!process_with(&criu), "a criu process is left");
    assert!(!image.exists(), "the image directory hull made is removed");
    assert!(
        work.join("dump.log").exists(),
        "the log stays in --work-path"
    );
    // An image directory that was there before stays.
    std::fs::create_dir(&image).unwrap();
    let out = rt.cmd(&["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(image.is_dir());
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
}

#[test]
fn checkpoint_refuses_bad_flags_and_states_before_criu_runs() {
    let rt = Runtime::new();
    let b = Bundle::sh("sleep 60");
    let id = unique("cpflags");
    ok(&rt.create(&id, &b));
    let scratch = TempDir::new("hull-cpflags");
    let image = scratch.path().join("image");
    let img = image.to_str().unwrap();
    let refused = |args: &[&str], expect: &str| {
        let out = rt.cmd(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{args:?}: {}", stderr(&out));
        assert!(!image.exists(), "{args:?} made the image directory");
    };
    refused(
        &["checkpoint", "--image-path", img, &id],
        "container cannot be checkpointed in created state",
    );
    ok(&rt.cmd(&["start", &id]));
    refused(
        &["checkpoint", "--image-path", img, "nope"],
        "container does not exist",
    );
    refused(
        &[
            "checkpoint",
            "--image-path",
            img,
            "--manage-cgroups-mode",
            "props",
            &id,
        ],
        "--manage-cgroups-mode",
    );
    refused(
        &["checkpoint", "--image-path", img, "--empty-ns", "pid", &id],
        "only the network namespace",
    );
    refused(
        &[
            "checkpoint",
            "--image-path",
            img,
            "--parent-path",
            "/abs",
            &id,
        ],
        "--parent-path must be relative",
    );
    refused(
        &["checkpoint", "--image-path", img, "--lazy-pages", &id],
        "--lazy-pages is not supported",
    );
    refused(
        &[
            "checkpoint",
            "--image-path",
            img,
            "--page-server",
            "127.0.0.1:1",
            &id,
        ],
        "--page-server is not supported",
    );
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
}

#[test]
fn restore_fails_clearly_and_leaves_nothing_behind() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("sleep 60");
    let id = unique("rs");
    let rel = format!("hull-test-{id}");
    b.config["linux"]["cgroupsPath"] = json!(format!("{rel}/ctr"));
    b.save();
    let image = TempDir::new("hull-rs-image");
    let criu = own_criu(&image);
    let out = rt.detached(&[
        "--criu",
        &criu,
        "restore",
        "-d",
        "-b",
        b.path().to_str().unwrap(),
        "--image-path",
        image.path().to_str().unwrap(),
        &id,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("criu restore"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Error (criu/") || stderr(&out).contains("criu exited"),
        "criu's reason: {}",
        stderr(&out)
    );
    assert!(rt.ids().is_empty(), "{:?}", rt.ids());
    assert!(!rt.root.path().join(&id).exists(), "state dir left behind");
    assert!(
        !mountinfo_mentions(&rt.root.path().join(&id)),
        "the rootfs bind for criu is left"
    );
    assert!(!process_with(&criu), "a criu process is left");
    let dirs = cgroup_dirs(&rel);
    assert!(!dirs.is_empty(), "no cgroup hierarchy found to check");
    for d in &dirs {
        assert!(
            !d.join("ctr").exists(),
            "{} left behind",
            d.join("ctr").display()
        );
        // The level above was made for the test; remove it as the cgroup tests do.
        let _ = std::fs::remove_dir(d);
    }
    // The rootfs itself is intact (the bind was removed before the state dir).
    assert!(b.rootfs().join("bin/busybox").exists());
}

#[test]
fn restore_runs_creates_checks_first() {
    let rt = Runtime::new();
    let image = TempDir::new("hull-rs-image");
    let img = image.path().to_str().unwrap();
    // A criu that cannot run: had a restore got as far as starting it, its error would say so.
    let no_criu = format!("/nonexistent/{}", unique("criu"));
    let refused = |b: &Bundle, id: &str, extra: &[&str], expect: &str| {
        let mut args = vec![
            "--criu",
            &no_criu,
            "restore",
            "-d",
            "-b",
            b.path().to_str().unwrap(),
        ];
        args.extend(extra);
        args.push(id);
        let out = rt.detached(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("cannot run"),
            "criu was started: {}",
            stderr(&out)
        );
    };
    let mut bad = Bundle::sh("sleep 60");
    bad.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["bogus-option"]}));
    bad.save();
    refused(&bad, &unique("rs"), &["--image-path", img], "mounts[");
    let mut tty = Bundle::sh("sleep 60");
    tty.config["process"]["terminal"] = json!(true);
    tty.save();
    refused(
        &tty,
        &unique("rs"),
        &["--image-path", img],
        "cannot allocate tty if runc will detach without setting console socket",
    );
    // What criu cannot rebuild is refused naming the field: no mount namespace of its own,
    // an id-mapped bind.
    let mut no_mntns = Bundle::sh("sleep 60");
    no_mntns.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "mount");
    no_mntns.config["linux"]["maskedPaths"] = json!([]);
    no_mntns.config["linux"]["readonlyPaths"] = json!([]);
    no_mntns.save();
    refused(
        &no_mntns,
        &unique("rs"),
        &["--image-path", img],
        "linux.namespaces: restore needs a mount namespace",
    );
    let src = TempDir::new("hull-rs-idmap");
    let mut idmapped = Bundle::sh("sleep 60");
    idmapped.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "destination": "/v", "type": "bind", "source": src.path(), "options": ["rbind"],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        }));
    idmapped.save();
    refused(
        &idmapped,
        &unique("rs"),
        &["--image-path", img],
        "id-mapped mounts are not supported by restore",
    );
    let b = Bundle::sh("sleep 60");
    refused(&b, "a/b", &["--image-path", img], "invalid container id");
    refused(
        &b,
        &unique("rs"),
        &["--image-path", "/nonexistent/image"],
        "--image-path /nonexistent/image",
    );
    refused(
        &b,
        &unique("rs"),
        &["--image-path", img, "--lazy-pages"],
        "--lazy-pages is not supported",
    );
    refused(
        &b,
        &unique("rs"),
        &["--image-path", img, "--lsm-profile", "apparmor:x"],
        "--lsm-profile",
    );
    assert!(rt.ids().is_empty(), "{:?}", rt.ids());
    // An id in use is refused, and the container using it is untouched.
    let id = unique("rs");
    ok(&rt.run_detached(&id, &b));
    refused(&b, &id, &["--image-path", img], "container with id exists");
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
}
