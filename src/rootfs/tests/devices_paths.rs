//! Root-only rootfs tests: devices, masking, kernel rejections, overlay, root propagation,
//! what the plan refuses.

use super::*;

#[test]
fn devices_from_config() {
    require_root!();
    let b = Bundle::busybox("devices");
    let mut spec = b.spec(vec![mount("/dev", "tmpfs", "tmpfs", &["mode=755"])]);
    let dev = |path: &str, typ, major, minor, mode: u32, uid: u32, gid: u32| {
        LinuxDeviceBuilder::default()
            .path(path)
            .typ(typ)
            .major(major)
            .minor(minor)
            .file_mode(mode)
            .uid(uid)
            .gid(gid)
            .build()
            .unwrap()
    };
    let mut linux = spec.linux().clone().unwrap();
    linux.set_devices(Some(vec![
        dev("/dev/fuse", LinuxDeviceType::C, 10, 229, 0o600, 1000, 1001),
        dev("/dev/null", LinuxDeviceType::C, 1, 3, 0o640, 0, 5),
        dev(
            "/dev/disk/loop-test",
            LinuxDeviceType::B,
            7,
            250,
            0o660,
            0,
            6,
        ),
        dev("/dev/myfifo", LinuxDeviceType::P, 0, 0, 0o620, 0, 0),
    ]));
    spec.set_linux(Some(linux));
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    // The umask must not leak into the modes.
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let result = in_child(CloneFlags::empty(), || {
        setup(&rootfs)?;
        check_char_device("/dev/fuse", 10, 229, 0o600, 1000)?;
        ensure!(fs::metadata("/dev/fuse").unwrap().gid() == 1001, "fuse gid");
        check_char_device("/dev/null", 1, 3, 0o640, 0)?;
        check_char_device("/dev/zero", 1, 5, 0o666, 0)?;
        let blk =
            fs::metadata("/dev/disk/loop-test").map_err(|e| format!("{e} (line {})", line!()))?;
        ensure!(
            blk.file_type().is_block_device(),
            "loop-test not a block device"
        );
        ensure!(blk.rdev() == libc::makedev(7, 250), "loop-test number");
        ensure!(
            (blk.permissions().mode() & 0o7777, blk.gid()) == (0o660, 6),
            "loop-test"
        );
        let fifo = fs::metadata("/dev/myfifo").map_err(|e| format!("{e} (line {})", line!()))?;
        ensure!(fifo.file_type().is_fifo(), "myfifo not a fifo");
        ensure!(fifo.permissions().mode() & 0o7777 == 0o620, "myfifo mode");
        Ok(())
    });
    rustix::process::umask(old);
    result.unwrap();
}

#[test]
fn devices_bound_from_host_in_a_user_namespace_config() {
    require_root!();
    let b = Bundle::busybox("binddev");
    let mut spec = b.spec(vec![mount("/dev", "tmpfs", "tmpfs", &["mode=755"])]);
    let mut linux = spec.linux().clone().unwrap();
    // Only the config says user namespace: the code must not rely on mknod.
    linux.set_namespaces(Some(vec![
        ns(LinuxNamespaceType::Mount),
        ns(LinuxNamespaceType::User),
    ]));
    spec.set_linux(Some(linux));
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    in_child(CloneFlags::empty(), || {
        setup(&rootfs)?;
        let md = fs::metadata("/dev/urandom").map_err(|e| format!("{e} (line {})", line!()))?;
        ensure!(md.file_type().is_char_device(), "/dev/urandom not a device");
        ensure!(md.rdev() == libc::makedev(1, 9), "/dev/urandom number");
        let mut buf = [0u8; 8];
        fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut buf))
            .map_err(|e| format!("read /dev/urandom: {e}"))?;
        Ok(())
    })
    .unwrap();
    // Bound, not made: on the host side the rootfs holds plain empty files at most.
    let null = b.root.join("dev/null");
    assert!(!null.exists() || fs::metadata(&null).unwrap().is_file());
}

#[test]
fn masking_checks_dev_null() {
    require_root!();
    let b = Bundle::busybox("fakenull");
    // A /dev bound from the bundle whose "null" is a plain file: masking must refuse it
    // instead of binding an attacker's file over /proc/version.
    let fake_dev = b.dir.join("fakedev");
    fs::create_dir(&fake_dev).unwrap();
    fs::write(fake_dev.join("null"), b"not null").unwrap();
    let mut spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/dev", "bind", "fakedev", &["rbind"]),
    ]);
    let mut linux = spec.linux().clone().unwrap();
    linux.set_masked_paths(Some(vec!["/proc/version".into()]));
    linux.set_readonly_paths(Some(vec![]));
    spec.set_linux(Some(linux));
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    let err = in_child(CloneFlags::empty(), || setup(&rootfs)).unwrap_err();
    assert!(err.contains("not the null device"), "{err}");
    // A bind-mounted /dev gets no devices made in it.
    assert_eq!(fs::read_dir(&fake_dev).unwrap().count(), 1);
}

#[test]
fn kernel_rejections_name_the_mount() {
    require_root!();
    let b = Bundle::busybox("reject");
    let spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/bad", "tmpfs", "tmpfs", &["size=lots"]),
    ]);
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    let err = in_child(CloneFlags::empty(), || setup(&rootfs)).unwrap_err();
    assert!(err.contains("mounts[1] (/bad)"), "{err}");
    assert!(err.contains("size=lots"), "{err}");

    let spec = b.spec(vec![mount("/x", "nosuchfs", "none", &[])]);
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    let err = in_child(CloneFlags::empty(), || setup(&rootfs)).unwrap_err();
    assert!(
        err.contains("mounts[0] (/x)") && err.contains("nosuchfs"),
        "{err}"
    );

    // The plan, made in the parent, names the field before anything exists.
    let spec = b.spec(vec![mount("/y", "tmpfs", "tmpfs", &["foo"])]);
    let err = b.plan(&spec).unwrap_err().to_string();
    assert_eq!(err, "mounts[0] (/y): unknown mount option \"foo\"");
    let mut spec = b.spec(vec![]);
    let mut linux = spec.linux().clone().unwrap();
    linux.set_rootfs_propagation(Some("sideways".into()));
    spec.set_linux(Some(linux));
    let err = b.plan(&spec).unwrap_err().to_string();
    assert!(err.contains("rootfsPropagation"), "{err}");
}

#[test]
fn overlay_with_many_layers() {
    require_root!();
    let b = Bundle::busybox("overlay");
    // Enough lower layers with long names that the lowerdir string passes fsconfig's limit.
    let mut lowers = Vec::new();
    for i in 0..12 {
        let dir = b.dir.join(format!("lower-layer-with-a-long-name-{i:02}"));
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join(format!("f{i}")), format!("{i}")).unwrap();
        lowers.push(dir.display().to_string());
    }
    let lowerdir = lowers.join(":");
    assert!(lowerdir.len() > 255);
    let upper = b.dir.join("upper");
    let work = b.dir.join("work");
    fs::create_dir(&upper).unwrap();
    fs::create_dir(&work).unwrap();
    let spec = b.spec(vec![mount(
        "/merged",
        "overlay",
        "overlay",
        &[
            &format!("lowerdir={lowerdir}"),
            &format!("upperdir={}", upper.display()),
            &format!("workdir={}", work.display()),
        ],
    )]);
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    in_child(CloneFlags::empty(), || {
        setup(&rootfs)?;
        for i in 0..12 {
            let got = fs::read_to_string(format!("/merged/f{i}"))
                .map_err(|e| format!("{e} (line {})", line!()))?;
            ensure!(got == i.to_string(), "layer {i}: {got}");
        }
        fs::write("/merged/new", b"up").map_err(|e| format!("write to overlay: {e}"))?;
        Ok(())
    })
    .unwrap();
    assert_eq!(fs::read(upper.join("new")).unwrap(), b"up");
}

#[test]
fn root_propagation_applies_to_the_container_root() {
    require_root!();
    let b = Bundle::busybox("propagation");
    for (setting, want_shared) in [("rshared", true), ("private", false)] {
        let mut spec = b.spec(vec![mount("/proc", "proc", "proc", &[])]);
        let mut linux = spec.linux().clone().unwrap();
        linux.set_rootfs_propagation(Some(setting.into()));
        spec.set_linux(Some(linux));
        let plan = b.plan(&spec).unwrap();
        let rootfs = Rootfs::new(&plan, Default::default());
        in_child(CloneFlags::empty(), || {
            setup(&rootfs)?;
            let root = mount_at(&mounts_inside()?, "/")?;
            let shared = root.optional.iter().any(|o| o.starts_with("shared:"));
            ensure!(
                shared == want_shared,
                "{setting}: / has {:?}",
                root.optional
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{setting}: {e}"));
    }
}

#[test]
fn features_lists_the_parser_table() {
    let names = crate::rootfs::mount_options();
    for option in &names {
        // Every listed option is understood, not passed to a filesystem as data.
        let parsed = crate::rootfs::MountOptions::parse(&[option]);
        assert!(parsed.data.is_empty(), "{option} is listed but not parsed");
    }
    assert!(names.contains(&"rro") && names.contains(&"tmpcopyup"));
}

#[test]
fn validate_checks_paths_and_devices() {
    let b = Bundle::busybox("validate");
    let mut spec = b.spec(vec![]);
    let mut linux = spec.linux().clone().unwrap();
    linux.set_masked_paths(Some(vec!["relative/path".into()]));
    spec.set_linux(Some(linux.clone()));
    let err = b.plan(&spec).unwrap_err().to_string();
    assert!(err.contains("linux.maskedPaths[0]"), "{err}");
    linux.set_masked_paths(None);
    linux.set_devices(Some(vec![LinuxDeviceBuilder::default()
        .path("/dev/bad")
        .typ(LinuxDeviceType::A)
        .build()
        .unwrap()]));
    spec.set_linux(Some(linux));
    let err = b.plan(&spec).unwrap_err().to_string();
    assert!(err.contains("linux.devices[0] (/dev/bad)"), "{err}");
    let mut root = spec.root().clone().unwrap();
    root.set_path(b.dir.join("missing"));
    spec.set_root(Some(root));
    assert!(b.plan(&spec).unwrap_err().to_string().contains("root.path"));
}
