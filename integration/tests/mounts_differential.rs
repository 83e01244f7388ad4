//! Mounts as runc does them, each case run under hull and under runc (Debian's 1.1.5) with the
//! same bundle: bind flags set and cleared, flags locked on the source in a user namespace,
//! recursive attributes, mounts in config order, a duplicate masked path, no mount namespace,
//! an empty namespace path. Where runc 1.1.5 and runc 1.4 differ, hull follows 1.4 and the
//! case says so; the check then is what 1.4 does, and what 1.1.5 did is asserted too, so the
//! difference is measured, not assumed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hull_integration::*;
use serde_json::{json, Value};

const RUNC: &str = "/usr/sbin/runc";

fn runc() -> Runtime {
    assert!(
        Path::new(RUNC).exists(),
        "runc is required for the differential tests (hack/setup.sh installs it)"
    );
    Runtime::with_bin(RUNC.into())
}

/// A tmpfs the test mounts on the host with `options` (and optionally one inside it, for the
/// recursive cases); detached and removed when dropped.
struct HostMount {
    dir: TempDir,
    mounts: Vec<PathBuf>,
}

impl HostMount {
    fn tmpfs(options: &str) -> HostMount {
        let dir = TempDir::new("hull-mntsrc");
        let mut m = HostMount {
            dir,
            mounts: Vec::new(),
        };
        let top = m.dir.path().to_path_buf();
        m.mount(&top, options);
        std::fs::write(top.join("file"), "x").unwrap();
        m
    }

    fn mount(&mut self, at: &Path, options: &str) {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(out.status.success(), "mount: {}", stderr(&out));
        self.mounts.push(at.to_path_buf());
    }

    /// A second tmpfs at `sub` inside the first.
    fn with_submount(mut self, options: &str) -> HostMount {
        let sub = self.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        self.mount(&sub, options);
        self
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let _ = rustix::mount::unmount(m, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

fn add_mount(b: &mut Bundle, m: Value) {
    b.config["mounts"].as_array_mut().unwrap().push(m);
}

fn with_user_namespace(b: &mut Bundle) {
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["uidMappings"] = map.clone();
    b.config["linux"]["gidMappings"] = map;
}

/// Runs the probe bundle; the report, or the runtime's error.
fn probe(rt: &Runtime, b: &Bundle) -> Result<Value, String> {
    let out = rt.run(&unique("mnt"), b);
    if !out.status.success() {
        return Err(format!("{}{}", stdout(&out), stderr(&out)));
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out))))
}

/// The per-mount options of the top mount at `target` in a probe report, sorted.
fn options_at(r: &Value, target: &str) -> String {
    let m = r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["target"] == target)
        .unwrap_or_else(|| panic!("no mount at {target}: {r}"));
    let mut opts: Vec<&str> = m["options"].as_str().unwrap().split(',').collect();
    opts.sort();
    opts.join(",")
}

fn mounts_at(r: &Value, target: &str) -> usize {
    r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["target"] == target)
        .count()
}

/// Bind flags without a user namespace: exactly the flags named are set and the source's
/// others cleared (`mount --bind -o` semantics, runc 1.1 and 1.4 alike), the access time
/// kept unless an access-time option is set, no flag option keeps the source's flags,
/// recursive `r*` attributes reach submounts. One difference: `rw` (or any clearing option)
/// alone makes runc 1.2+ apply the flags too, where 1.1 left the source's.
#[test]
fn bind_flags_match_runc() {
    let src = HostMount::tmpfs("nosuid,nodev,noexec").with_submount("nosuid");
    let s = src.path().to_str().unwrap();
    let cases: &[(&str, &[&str], &str)] = &[
        ("/b-ro", &["bind", "ro"], "relatime,ro"),
        (
            "/b-nosuid",
            &["bind", "nosuid", "nodev"],
            "nodev,nosuid,relatime,rw",
        ),
        ("/b-noatime", &["bind", "noatime"], "noatime,rw"),
        ("/b-strict", &["bind", "strictatime"], "rw"),
        (
            "/b-nodiratime",
            &["bind", "nodiratime", "noexec"],
            "nodiratime,noexec,relatime,rw",
        ),
        ("/b-plain", &["rbind"], "nodev,noexec,nosuid,relatime,rw"),
        (
            "/b-rec",
            &["rbind", "rro", "rnodev"],
            "nodev,noexec,nosuid,relatime,ro",
        ),
        ("/b-rw", &["bind", "rw"], "relatime,rw"),
    ];
    let mut b = Bundle::probe(&[]);
    for (dest, opts, _) in cases {
        add_mount(
            &mut b,
            json!({"destination": dest, "type": "bind", "source": s, "options": opts}),
        );
    }
    b.save();
    let hull = probe(&Runtime::new(), &b).unwrap();
    let runc = probe(&runc(), &b).unwrap();
    for (dest, _, want) in cases {
        assert_eq!(&options_at(&hull, dest), want, "hull {dest}");
        if *dest == "/b-rw" {
            // runc 1.1.5 made the remount only when a flag was set; runc 1.2+ counts the
            // clearing options too (libcontainer/rootfs_linux.go: `m.Flags&^(MS_BIND|MS_REC|
            // MS_REMOUNT) != 0 || m.ClearedFlags != 0`). hull follows 1.2+.
            assert_eq!(
                options_at(&runc, dest),
                "nodev,noexec,nosuid,relatime,rw",
                "runc 1.1.5 {dest}"
            );
            continue;
        }
        assert_eq!(options_at(&runc, dest), options_at(&hull, dest), "{dest}");
    }
    // `rro`/`rnodev` reach the submount, `ro` alone does not.
    for r in [&hull, &runc] {
        assert_eq!(options_at(r, "/b-rec/sub"), "nodev,nosuid,relatime,ro");
        assert_eq!(options_at(r, "/b-ro"), "relatime,ro");
    }
    assert_eq!(options_at(&hull, "/b-plain/sub"), "nosuid,relatime,rw");
}

/// In a user namespace the host's mounts come in with nosuid, nodev, noexec, ro and the
/// access time locked, and the kernel refuses a remount that clears them. runc 1.2+ then
/// keeps the locked flags (a retry with the source's lockable flags added), unless the config
/// itself asked to clear one or for another access time; runc 1.1 kept only `ro` and failed
/// otherwise. hull follows 1.2+: where 1.1.5 fails, hull must succeed with the source's
/// locked flags kept; where the config's own request cannot be had, both fail.
#[test]
fn locked_flags_in_a_user_namespace() {
    let src = HostMount::tmpfs("nosuid,nodev");
    let s = src.path().to_str().unwrap();
    // (options, hull's mount or None for a failure, whether runc 1.1.5 succeeds)
    let cases: &[(&[&str], Option<&str>, bool)] = &[
        (&["bind", "ro"], Some("nodev,nosuid,relatime,ro"), false),
        (
            &["bind", "noexec"],
            Some("nodev,noexec,nosuid,relatime,rw"),
            false,
        ),
        (&["rbind"], Some("nodev,nosuid,relatime,rw"), true),
        (&["rbind", "rro"], Some("nodev,nosuid,relatime,ro"), true),
        (&["bind", "ro", "suid"], None, false),
        (&["bind", "nosuid", "noatime"], None, false),
    ];
    for (opts, want, runc_ok) in cases {
        let mut b = Bundle::probe(&[]);
        with_user_namespace(&mut b);
        // The image's directory: the container's root may not create one in this rootfs.
        std::fs::create_dir(b.rootfs().join("locked")).unwrap();
        add_mount(
            &mut b,
            json!({"destination": "/locked", "type": "bind", "source": s, "options": opts}),
        );
        b.save();
        let hull = probe(&Runtime::new(), &b);
        match (want, &hull) {
            (Some(want), Ok(r)) => assert_eq!(&options_at(r, "/locked"), want, "{opts:?}"),
            (None, Err(e)) => assert!(
                e.contains("mounts[") && e.contains("(/locked)"),
                "{opts:?}: the error names the mount: {e}"
            ),
            _ => panic!("{opts:?}: hull gave {hull:?}, want {want:?}"),
        }
        let runc = probe(&runc(), &b);
        assert_eq!(runc.is_ok(), *runc_ok, "runc 1.1.5 with {opts:?}: {runc:?}");
        if let (Ok(h), Ok(r)) = (&hull, &runc) {
            assert_eq!(
                options_at(h, "/locked"),
                options_at(r, "/locked"),
                "{opts:?}"
            );
        }
    }
}

/// Mounts are made in config order and a bind's source is looked up when it is bound: a
/// source inside the rootfs sees what the earlier mounts put there (a volume, a tmpfs with
/// tmpcopyup). runc resolves it at mount time too.
#[test]
fn mounts_are_made_in_config_order() {
    let vol = TempDir::new("hull-vol");
    std::fs::create_dir_all(vol.path().join("x")).unwrap();
    std::fs::write(vol.path().join("x/file"), "from the volume\n").unwrap();
    let mut b = Bundle::sh("cat /y/file /z/file");
    std::fs::create_dir_all(b.rootfs().join("seed/z")).unwrap();
    std::fs::write(b.rootfs().join("seed/z/file"), "copied up\n").unwrap();
    let inside = |p: &str| b.rootfs().join(p).to_str().unwrap().to_string();
    let (data_x, seed_z) = (inside("data/x"), inside("seed/z"));
    add_mount(
        &mut b,
        json!({"destination": "/data", "type": "bind", "source": vol.path(), "options": ["rbind"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/y", "type": "bind", "source": data_x, "options": ["bind"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/seed", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}),
    );
    add_mount(
        &mut b,
        json!({"destination": "/z", "type": "bind", "source": seed_z, "options": ["bind"]}),
    );
    b.save();
    let want = "from the volume\ncopied up\n";
    assert_eq!(ok(&Runtime::new().run(&unique("order"), &b)), want);
    assert_eq!(ok(&runc().run(&unique("order"), &b)), want);
    // Nothing of either run is left in the rootfs on the host side.
    assert!(!b.rootfs().join("data/x").exists());
}

/// A path listed twice in maskedPaths (engines merge their defaults with the user's) is
/// masked once: one mount there, no error.
#[test]
fn a_duplicate_masked_path_is_masked_once() {
    let mut b = Bundle::probe(&["--stat", "/proc/timer_list", "--stat", "/sys/firmware"]);
    let masked = b.config["linux"]["maskedPaths"].as_array_mut().unwrap();
    for p in [
        "/proc/timer_list",
        "/sys/firmware",
        "/proc/timer_list",
        "/sys//firmware/",
    ] {
        masked.push(json!(p));
    }
    b.save();
    let hull = probe(&Runtime::new(), &b).unwrap();
    let runc = probe(&runc(), &b).unwrap();
    for (path, kind) in [("/proc/timer_list", "char"), ("/sys/firmware", "dir")] {
        assert_eq!(mounts_at(&hull, path), 1, "hull masks {path} once");
        assert_eq!(hull["stat"][path]["type"], kind);
        assert_eq!(runc["stat"][path]["type"], kind);
        // runc 1.1.5 mounts over the path each time it is listed (three times here: the
        // default list's entry and the two added), without error; the spec asks for the path
        // to be masked, which one mount does.
        assert_eq!(mounts_at(&runc, path), 3, "runc masks {path} per listing");
    }
}

/// An empty namespace `path` is no path at all: a new namespace, as runc reads it.
#[test]
fn an_empty_namespace_path_means_a_new_namespace() {
    let mut b = Bundle::probe(&[]);
    for ns in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        ns["path"] = json!("");
    }
    b.save();
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    for rt in [Runtime::new(), runc()] {
        let r = probe(&rt, &b).unwrap_or_else(|e| panic!("{}: {e}", rt.bin.display()));
        assert_ne!(
            r["namespaces"]["net"],
            json!(host_net.display().to_string())
        );
        assert_ne!(
            r["namespaces"]["mnt"],
            json!(host_mnt.display().to_string())
        );
        assert_eq!(
            r["pid"],
            1,
            "{}: a pid namespace of its own",
            rt.bin.display()
        );
    }
}

/// Runs `script` in a mount namespace of its own whose mounts are all shared (peers only of
/// each other, nothing reaches the host's): the "host" a container without a mount namespace
/// shares. $RT is the runtime (with its --root), $BUNDLE the bundle.
fn in_scratch_mount_ns(rt: &Runtime, b: &Bundle, script: &str) -> Output {
    let full = format!("mount --make-rshared / && {script}");
    let rt_cmd = format!("{} --root {}", rt.bin.display(), rt.root.path().display());
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &full])
        .env("RT", rt_cmd)
        .env("BUNDLE", b.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// The `/` line and every line naming the bundle in a mountinfo dump.
fn root_and_bundle_mounts(mountinfo: &str, bundle: &Path) -> (String, Vec<String>) {
    let bundle = bundle.to_str().unwrap();
    let root = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .map(|l| {
            // Optional fields (shared:N, master:N) say the propagation.
            let head = l.split(" - ").next().unwrap();
            head.split(' ').skip(6).collect::<Vec<_>>().join(" ")
        })
        .unwrap_or_default();
    let ours = mountinfo
        .lines()
        .filter(|l| l.contains(bundle))
        .map(str::to_string)
        .collect();
    (root, ours)
}

/// A config without a mount namespace runs in the runtime's: its rootfs is set up there and
/// the process chroots into it (runc 1.1.5 runs it the same way). hull also leaves the
/// propagation of the host's mounts as it was and detaches the container's mounts on delete,
/// which runc 1.4's host-mntns tests expect and 1.1.5 did not do (it made `/` a slave and
/// left every mount behind). What cannot work there is refused, as runc 1.4 refuses it.
#[test]
fn no_mount_namespace_runs_as_with_runc() {
    let mut b = Bundle::sh("ls /; readlink /proc/self/ns/mnt; echo; sleep 30");
    std::fs::write(b.rootfs().join("marker"), "").unwrap();
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|ns| ns["type"] != "mount");
    b.config["linux"]["maskedPaths"] = json!([]);
    b.config["linux"]["readonlyPaths"] = json!([]);
    b.save();
    // Created, exec'd into, deleted; the namespace's mount table around it.
    let script = "cat /proc/self/mountinfo; echo ===; readlink /proc/self/ns/mnt; echo ===; \
         $RT run -d -b $BUNDLE c1 >/dev/null 2>&1 || exit 3; sleep 0.5; \
         $RT exec c1 sh -c 'ls /; readlink /proc/self/ns/mnt'; echo ===; \
         cat /proc/self/mountinfo | grep -c \"$BUNDLE/rootfs \"; echo ===; \
         $RT delete -f c1; cat /proc/self/mountinfo";
    let mut seen = Vec::new();
    for rt in [Runtime::new(), runc()] {
        let out = in_scratch_mount_ns(&rt, &b, script);
        assert!(
            out.status.success(),
            "{}: {}",
            rt.bin.display(),
            stderr(&out)
        );
        let text = stdout(&out);
        let parts: Vec<&str> = text.split("===\n").collect();
        assert_eq!(parts.len(), 5, "{text}");
        let (before, ns, exec, during, after) = (parts[0], parts[1], parts[2], parts[3], parts[4]);
        // The container's root is its rootfs, mounted in the runtime's mount namespace.
        assert_eq!(
            during.trim(),
            "1",
            "{}: the rootfs bind while running",
            rt.bin.display()
        );
        seen.push((
            before.to_string(),
            ns.to_string(),
            exec.to_string(),
            after.to_string(),
        ));
    }
    let (hull, runc_seen) = (&seen[0], &seen[1]);
    for (what, (_, ns, exec, _)) in [("hull", hull), ("runc", runc_seen)] {
        // Both run the process in the runtime's mount namespace.
        assert!(
            exec.contains(ns.trim()),
            "{what}: exec is in the same mount namespace"
        );
    }
    // hull's exec'd process is in the container's root; runc 1.1.5 leaves it in the host's
    // (its exec does not chroot), which the spec's "process in the container" does not allow.
    assert!(
        hull.2.lines().any(|l| l == "marker"),
        "hull exec: {}",
        hull.2
    );
    assert!(
        !runc_seen.2.lines().any(|l| l == "marker"),
        "runc 1.1.5's exec sees the host's root: {}",
        runc_seen.2
    );
    // hull: the host's propagation and mount table are as they were.
    let (root_before, ours_before) = root_and_bundle_mounts(&hull.0, b.path());
    let (root_after, ours_after) = root_and_bundle_mounts(&hull.3, b.path());
    assert_eq!(root_before, root_after, "hull changed the propagation of /");
    assert!(root_before.contains("shared:"), "{root_before}");
    assert!(ours_before.is_empty());
    assert!(ours_after.is_empty(), "hull left mounts: {ours_after:?}");
    // runc 1.1.5: `/` made a slave, the container's mounts left behind.
    let (runc_root_after, runc_left) = root_and_bundle_mounts(&runc_seen.3, b.path());
    assert!(!runc_root_after.contains("shared:"), "{runc_root_after}");
    assert!(!runc_left.is_empty());

    // A foreground run sees its rootfs, and leaves nothing when it ends.
    let rt = Runtime::new();
    let mut fg = Bundle::sh("ls /");
    fg.config = b.config.clone();
    fg.config["process"]["args"] = json!(["ls", "/"]);
    std::fs::write(fg.rootfs().join("marker"), "").unwrap();
    fg.save();
    let out = in_scratch_mount_ns(
        &rt,
        &fg,
        "$RT run -b $BUNDLE c2; grep -c \"$BUNDLE\" /proc/self/mountinfo || true",
    );
    let text = stdout(&out);
    assert!(text.lines().any(|l| l == "marker"), "{text}");
    assert_eq!(text.lines().last(), Some("0"), "{text}");

    // Refused without a mount namespace of the container's own (runc 1.4's rules; the
    // error names the field). runc 1.1.5 refuses masked paths the same way.
    let refusals: &[(&str, Value, &str)] = &[
        ("maskedPaths", json!(["/proc/kcore"]), "linux.maskedPaths"),
        ("readonlyPaths", json!(["/proc/sys"]), "linux.readonlyPaths"),
        (
            "rootfsPropagation",
            json!("rslave"),
            "linux.rootfsPropagation",
        ),
    ];
    for (field, value, named) in refusals {
        let mut bad = Bundle::sh("true");
        bad.config = b.config.clone();
        bad.config["linux"][field] = value.clone();
        bad.save();
        let out = in_scratch_mount_ns(&rt, &bad, "$RT run -b $BUNDLE c3");
        assert!(!out.status.success(), "{field} accepted");
        assert!(stderr(&out).contains(named), "{}", stderr(&out));
        assert!(rt.ids().is_empty(), "{field}: state left behind");
    }
    let mut masked = Bundle::sh("true");
    masked.config = b.config.clone();
    masked.config["linux"]["maskedPaths"] = json!(["/proc/kcore"]);
    masked.save();
    let out = in_scratch_mount_ns(&runc(), &masked, "$RT run -b $BUNDLE c4");
    assert!(stderr(&out).contains("unable to restrict sys entries without a private MNT namespace"));
    let out = in_scratch_mount_ns(&rt, &b, "$RT run --no-pivot -b $BUNDLE c5");
    assert!(stderr(&out).contains("--no-pivot"), "{}", stderr(&out));

    // A create killed at any step after its first record (the debug build's fault points;
    // before it nothing is mounted) leaves the mounts it made in the host's namespace to
    // `delete -f`, which removes them all.
    for step in create_fault_steps()
        .into_iter()
        .skip_while(|s| *s != "create:recorded")
    {
        let script = format!(
            "HULL_TEST_FAULT={step} $RT create -b $BUNDLE c6 >/dev/null 2>&1; echo rc=$?; \
             $RT delete -f c6 || echo delete failed; \
             grep -c \"$BUNDLE\" /proc/self/mountinfo || true"
        );
        let out = in_scratch_mount_ns(&rt, &b, &script);
        let text = stdout(&out);
        // 137: killed by SIGKILL at the step (a step the binary does not know would let the
        // create finish, and the check would prove nothing).
        assert_eq!(text.trim(), "rc=137\n0", "{step}: {text}{}", stderr(&out));
        assert!(rt.ids().is_empty(), "{step}: state left behind");
    }
}
