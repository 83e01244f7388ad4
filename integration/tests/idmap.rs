//! Id-mapped bind mounts (runtime-spec 1.2 `uidMappings`/`gidMappings` on a mount, the
//! `idmap`/`ridmap` options): what the container sees through the mount and what lands on the
//! host when it writes, with and without a user namespace of the container's, as Kubernetes'
//! user-namespaced pods use them; bad mappings refused naming the mount; `features`.
//!
//! A mount's mapping reads like a user namespace's: containerID is the id on disk, hostID the
//! id it shows as in the runtime's namespace (which a container user namespace maps again).
//! The sources live under the temp dir, on this host's ext4 (id-mapped since Linux 5.12).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use hull_integration::*;
use serde_json::{json, Value};

/// A source directory, world-writable and owned by 0:0, holding `f` owned by 1000:1000.
fn source() -> TempDir {
    let dir = TempDir::new("hull-idmap-src");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, "x").unwrap();
    std::os::unix::fs::chown(&f, Some(1000), Some(1000)).unwrap();
    dir
}

fn maps(list: &[(u32, u32, u32)]) -> Value {
    list.iter()
        .map(|(c, h, n)| json!({"containerID": c, "hostID": h, "size": n}))
        .collect()
}

fn add_mount(b: &mut Bundle, m: Value) {
    b.config["mounts"].as_array_mut().unwrap().push(m);
}

fn with_user_namespace(b: &mut Bundle) {
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = maps(&[(0, 100000, 65536)]);
    b.config["linux"]["gidMappings"] = maps(&[(0, 100000, 65536)]);
}

/// Lines of output with runs of blanks made single.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn owner(path: &Path) -> (u32, u32) {
    let md = std::fs::metadata(path).unwrap();
    (md.uid(), md.gid())
}

/// Without a user namespace: on-disk 1000 shows as 0 through the mount, on-disk 0 as 5000; a
/// plain bind of the same directory shows the disk's ids; root's new file is written as 1000.
#[test]
fn an_idmapped_bind_without_a_user_namespace() {
    let src = source();
    let mut b =
        Bundle::sh("stat -c '%u %g' /v/f /v /plain/f; touch /v/new && stat -c '%u %g' /v/new");
    let mapping = maps(&[(1000, 0, 1), (0, 5000, 1)]);
    add_mount(
        &mut b,
        json!({"destination": "/v", "type": "bind", "source": src.path(), "options": ["bind"],
               "uidMappings": mapping, "gidMappings": mapping}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/plain", "type": "bind", "source": src.path(), "options": ["bind"]}),
    );
    b.save();
    let out = ok(&Runtime::new().run(&unique("idmap"), &b));
    assert_eq!(lines(&out), ["0 0", "5000 5000", "1000 1000", "0 0"]);
    assert_eq!(owner(&src.path().join("new")), (1000, 1000));

    // runc 1.1.5 predates id-mapped mounts (runc 1.2, runtime-spec 1.2) and ignores the
    // mappings without a word: the disk's ids show through. hull follows 1.2+.
    std::fs::remove_file(src.path().join("new")).unwrap();
    let out = ok(&Runtime::with_bin("/usr/sbin/runc".into()).run(&unique("idmap"), &b));
    assert_eq!(lines(&out)[0], "1000 1000");
}

/// In a user namespace (0 → 100000), as a Kubernetes user-namespaced pod mounts a volume:
/// `idmap` without mappings takes the container's, so the volume's ids read the same inside
/// as on disk and what the container's root writes is stored as 0; explicit mappings put
/// on-disk 1000 at the container's root.
#[test]
fn an_idmap_in_a_user_namespace() {
    let src = source();
    let mut b = Bundle::sh(
        "stat -c '%u %g' /v/f; touch /v/k8s && stat -c '%u %g' /v/k8s; \
         stat -c '%u %g' /w/f; touch /w/mapped && stat -c '%u %g' /w/mapped; \
         stat -c '%u %g' /plain/f",
    );
    with_user_namespace(&mut b);
    for d in ["v", "w", "plain"] {
        // The image's mount points: the container's root may not create them in this rootfs.
        std::fs::create_dir(b.rootfs().join(d)).unwrap();
    }
    add_mount(
        &mut b,
        json!({"destination": "/v", "type": "bind", "source": src.path(), "options": ["rbind", "idmap"]}),
    );
    let mapping = maps(&[(1000, 100000, 1), (0, 100001, 1)]);
    add_mount(
        &mut b,
        json!({"destination": "/w", "type": "bind", "source": src.path(), "options": ["rbind", "idmap"],
               "uidMappings": mapping, "gidMappings": mapping}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/plain", "type": "bind", "source": src.path(), "options": ["rbind"]}),
    );
    b.save();
    let out = ok(&Runtime::new().run(&unique("idmap-userns"), &b));
    assert_eq!(
        lines(&out),
        ["1000 1000", "0 0", "0 0", "0 0", "65534 65534"],
        "the container's mapping, then the mount's own; unmapped through a plain bind"
    );
    assert_eq!(owner(&src.path().join("k8s")), (0, 0));
    assert_eq!(owner(&src.path().join("mapped")), (1000, 1000));
}

/// A Kubernetes pod's second container: it joins the pod's user namespace by path (no
/// mappings of its own) with mount, pid and other namespaces of its own, and mounts a volume
/// with `idmap`, which takes the joined namespace's mapping, so the volume reads inside as it
/// is on disk, and what its root writes is stored as 0.
#[test]
fn an_idmap_in_a_joined_user_namespace() {
    let rt = Runtime::new();
    let src = source();
    let mut pod = Bundle::sh("sleep 30");
    with_user_namespace(&mut pod);
    pod.save();
    let pod_id = unique("idmap-pod");
    ok(&rt.run_detached(&pod_id, &pod));
    let pid = rt.state(&pod_id).unwrap()["pid"].as_i64().unwrap();

    let mut b = Bundle::sh("id -u; stat -c '%u %g' /v/f; touch /v/k8s && stat -c '%u %g' /v/k8s");
    for ns in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        // Only the user namespace is the pod's; the rest are the container's own.
        assert_ne!(ns["type"], "user");
    }
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}));
    std::fs::create_dir(b.rootfs().join("v")).unwrap();
    add_mount(
        &mut b,
        json!({"destination": "/v", "type": "bind", "source": src.path(), "options": ["rbind", "idmap"]}),
    );
    b.save();
    let out = ok(&rt.run(&unique("idmap-joined"), &b));
    assert_eq!(lines(&out), ["0", "1000 1000", "0 0"]);
    assert_eq!(owner(&src.path().join("k8s")), (0, 0));
    ok(&rt.cmd(&["delete", "-f", &pod_id]));
}

/// A rootless runtime may not id-map a mount (the kernel wants CAP_SYS_ADMIN over the
/// source's filesystem): a config that asks is refused naming the mount, with nothing left
/// behind. `features` still says the kernel can make them (it follows the kernel, not the
/// caller's privileges; see src/features.rs).
#[test]
fn a_rootless_runtime_has_no_idmapped_mounts() {
    let root = TempDir::new("hull-rootless");
    std::os::unix::fs::chown(root.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let as_nobody = |args: &[&str]| {
        hull_as_nobody(root.path(), args)
            .env("XDG_RUNTIME_DIR", root.path())
            .output()
            .unwrap()
    };
    let f: Value = serde_json::from_str(&ok(&as_nobody(&["features"]))).unwrap();
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    // Root in a user namespace of its own (rootless podman's runtime) is told the same.
    let out = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user"])
        .arg(hull_bin())
        .arg("features")
        .output()
        .unwrap();
    let f: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);

    let src = source();
    let mut b = Bundle::sh("true");
    for m in b.config["mounts"].as_array_mut().unwrap() {
        // One gid mapped: no gid=5 on /dev/pts (as `spec --rootless` writes it).
        if m["destination"] == "/dev/pts" {
            m["options"]
                .as_array_mut()
                .unwrap()
                .retain(|o| o != "gid=5");
        }
    }
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = maps(&[(0, NOBODY, 1)]);
    b.config["linux"]["gidMappings"] = maps(&[(0, NOBODY, 1)]);
    add_mount(
        &mut b,
        json!({"destination": "/v", "type": "bind", "source": src.path(), "options": ["rbind", "idmap"]}),
    );
    b.save();
    let n = b.config["mounts"].as_array().unwrap().len() - 1;
    let id = unique("idmap-rootless");
    let out = as_nobody(&["run", "-b", b.path().to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "mounts[{n}] (/v): id-mapped mounts need the runtime to run as root"
        )),
        "{err}"
    );
    assert!(
        std::fs::read_dir(root.path()).unwrap().next().is_none(),
        "run leaves no state behind"
    );
}

/// `idmap` maps the top mount only, `ridmap` every mount below it too (runc's rule): a tmpfs
/// inside the source shows its ids unmapped (the overflow id) through `idmap`.
#[test]
fn ridmap_maps_the_mounts_below() {
    let src = source();
    let sub = src.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "mode=0777", "tmpfs"])
        .arg(&sub)
        .status()
        .unwrap();
    assert!(status.success());
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = rustix::mount::unmount(self.0, rustix::mount::UnmountFlags::DETACH);
        }
    }
    let _unmount = Unmount(&sub);
    let g = sub.join("g");
    std::fs::write(&g, "y").unwrap();
    std::os::unix::fs::chown(&g, Some(1000), Some(1000)).unwrap();

    let mut b = Bundle::sh("stat -c '%u %g' /top/sub/g /rec/sub/g /rec/f");
    with_user_namespace(&mut b);
    for d in ["top", "rec"] {
        std::fs::create_dir(b.rootfs().join(d)).unwrap();
    }
    add_mount(
        &mut b,
        json!({"destination": "/top", "type": "bind", "source": src.path(), "options": ["rbind", "idmap"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/rec", "type": "bind", "source": src.path(), "options": ["rbind", "ridmap"]}),
    );
    b.save();
    let out = ok(&Runtime::new().run(&unique("ridmap"), &b));
    assert_eq!(lines(&out), ["65534 65534", "1000 1000", "1000 1000"]);
}

/// Bad mappings and impossible id-mapped mounts fail the create with the mount named, and
/// leave nothing behind.
#[test]
fn bad_idmapped_mounts_are_refused() {
    let src = source();
    let s = src.path().to_str().unwrap();
    let ok_map = maps(&[(0, 100000, 65536)]);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"destination": "/v", "type": "bind", "source": s, "options": ["bind"], "uidMappings": ok_map}),
            "(/v): uidMappings and gidMappings go together",
        ),
        (
            json!({"destination": "/v", "type": "bind", "source": s, "options": ["bind"],
                   "uidMappings": maps(&[(0, 100000, 0)]), "gidMappings": ok_map}),
            "(/v): uidMappings[0]: size must not be 0",
        ),
        (
            json!({"destination": "/v", "type": "bind", "source": s, "options": ["bind"],
                   "uidMappings": ok_map, "gidMappings": maps(&[(0, 100000, 10), (5, 200000, 10)])}),
            "(/v): gidMappings[1] overlaps gidMappings[0]",
        ),
        (
            json!({"destination": "/v", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
                   "uidMappings": ok_map, "gidMappings": ok_map}),
            "(/v): id-mapped mounts are only for bind mounts",
        ),
        (
            json!({"destination": "/v", "type": "bind", "source": s, "options": ["rbind", "idmap"]}),
            "(/v): idmap needs uidMappings and gidMappings, or a user namespace",
        ),
        // sysfs cannot be id-mapped: the kernel says no, and hull says where.
        (
            json!({"destination": "/v", "type": "bind", "source": "/sys/kernel", "options": ["bind"],
                   "uidMappings": ok_map, "gidMappings": ok_map}),
            "the filesystem may not support id-mapped mounts",
        ),
    ];
    for (mount, want) in cases {
        let rt = Runtime::new();
        let mut b = Bundle::sh("true");
        add_mount(&mut b, mount);
        b.save();
        let n = b.config["mounts"].as_array().unwrap().len() - 1;
        let out = rt.run(&unique("idmap-bad"), &b);
        assert!(!out.status.success(), "{want}: accepted");
        let err = stderr(&out);
        assert!(err.contains(&format!("mounts[{n}] ")), "{want}: {err}");
        assert!(err.contains(want), "{want}: {err}");
        assert!(rt.ids().is_empty(), "{want}: a container is left");
        assert_eq!(
            std::fs::read_dir(rt.root.path()).unwrap().count(),
            0,
            "{want}: the state directory is left"
        );
    }
}

/// `features` says id-mapped mounts work on this kernel, and lists their options.
#[test]
fn features_reports_idmapped_mounts() {
    let out = ok(&Runtime::new().cmd(&["features"]));
    let f: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    let options = f["mountOptions"].as_array().unwrap();
    for o in ["idmap", "ridmap"] {
        assert!(options.contains(&json!(o)), "{o} missing");
    }
}
