//! Root-only rootfs tests: cgroup v1 binds, hostile symlinks, bind options, tmpfs,
//! a read-only root and /dev, --no-pivot.

use super::*;

#[test]
fn cgroup_v1_binds_own_hierarchies_without_cgroupns() {
    require_root!();
    if crate::rootfs::cgroup::host_is_unified() {
        return skip("cgroup v1 hierarchies: this host is cgroup v2");
    }
    let b = Bundle::busybox("cgroup");
    let spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]);
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    let own = hull_cgroups::proc_cgroup::read_self().unwrap();
    let memory_path = hull_cgroups::proc_cgroup::of(&own, &["memory".to_string()])
        .unwrap_or(Path::new("/"))
        .display()
        .to_string();
    in_child(CloneFlags::empty(), || {
        setup(&rootfs)?;
        let mounts = mounts_inside()?;
        let memory = mount_at(&mounts, "/sys/fs/cgroup/memory")?;
        ensure!(memory.fstype == "cgroup", "memory is {}", memory.fstype);
        // A bind of our own cgroup: mountinfo's root is the cgroup's path on the host.
        ensure!(
            memory.root == Path::new(&memory_path),
            "memory root {:?}, want {memory_path}",
            memory.root
        );
        ensure!(has_option("/sys/fs/cgroup/memory", "ro")?, "memory not ro");
        ensure!(
            has_option("/sys/fs/cgroup/memory", "nosuid")?,
            "memory not nosuid"
        );
        ensure!(has_option("/sys/fs/cgroup", "ro")?, "cgroup tmpfs not ro");
        ensure!(
            mount_at(&mounts, "/sys/fs/cgroup/unified").is_err(),
            "the v2 hierarchy of a hybrid host is not one of the container's"
        );
        own_pid_in("/sys/fs/cgroup/memory/cgroup.procs")?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn hostile_symlinks_stay_inside_the_rootfs() {
    require_root!();
    let b = Bundle::busybox("hostile");
    let outside = b.dir.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(b.dir.join("file"), b"bind me").unwrap();
    // Absolute and `..` symlinks that would reach `outside` if followed on the host.
    symlink(&outside, b.root.join("abs")).unwrap();
    symlink(
        "../../../../../../../../..".to_string() + outside.to_str().unwrap(),
        b.root.join("rel"),
    )
    .unwrap();
    let mut spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/dev", "tmpfs", "tmpfs", &["mode=755"]),
        mount("/abs/tmp", "tmpfs", "tmpfs", &[]),
        mount("/rel/file", "bind", "file", &["bind", "ro"]),
    ]);
    let mut linux = spec.linux().clone().unwrap();
    linux.set_devices(Some(vec![LinuxDeviceBuilder::default()
        .path("/abs/zero")
        .typ(LinuxDeviceType::C)
        .major(1)
        .minor(5)
        .build()
        .unwrap()]));
    spec.set_linux(Some(linux));
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    let outside_in = outside.display().to_string();
    in_child(CloneFlags::empty(), || {
        setup(&rootfs)?;
        // Inside, the links resolve within the container's root.
        let mounts = mounts_inside()?;
        let tmp = mount_at(&mounts, &format!("{outside_in}/tmp"))?;
        ensure!(tmp.fstype == "tmpfs", "tmp is {}", tmp.fstype);
        let content = fs::read(format!("{outside_in}/file"))
            .map_err(|e| format!("{e} (line {})", line!()))?;
        ensure!(content == b"bind me", "bind content {content:?}");
        check_char_device(&format!("{outside_in}/zero"), 1, 5, 0o666, 0)?;
        Ok(())
    })
    .unwrap();
    // On the host, the directory the links point at was never touched...
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "mount escaped the rootfs"
    );
    // ...and what was created is inside the rootfs.
    let inside = b.root.join(outside.strip_prefix("/").unwrap());
    assert!(inside.join("tmp").is_dir());
    assert!(inside.join("file").is_file());
}

#[test]
fn bind_options_recursive_and_propagation() {
    require_root!();
    let b = Bundle::busybox("bind");
    let src = b.dir.join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("hello"), b"hi").unwrap();
    let spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        // A tmpfs inside the source, so rbind has a submount to carry.
        mount("/src-holder", "tmpfs", "tmpfs", &[]),
        mount(
            "/plain",
            "bind",
            src.to_str().unwrap(),
            &["rbind", "ro", "nosuid"],
        ),
        mount(
            "/rec",
            "bind",
            src.to_str().unwrap(),
            &["rbind", "rro", "rnoexec", "rprivate"],
        ),
        mount(
            "/nosym",
            "bind",
            src.to_str().unwrap(),
            &["bind", "nosymfollow", "noatime"],
        ),
        mount(
            "/shared",
            "tmpfs",
            "tmpfs",
            &["shared", "strictatime", "nodev"],
        ),
        mount("/relsrc", "none", "src", &["bind"]),
    ]);
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    in_child(CloneFlags::empty(), || {
        // Give the source a submount in this namespace before the binds copy it.
        let sub = src.join("sub");
        rustix::mount::mount(
            "tmpfs",
            &sub,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            None,
        )
        .map_err(|e| format!("mount sub: {e}"))?;
        setup(&rootfs)?;
        ensure!(has_option("/plain", "ro")?, "/plain not ro");
        ensure!(has_option("/plain", "nosuid")?, "/plain not nosuid");
        // `ro` is for the top mount only; `rro` reaches the submount too.
        ensure!(has_option("/plain/sub", "rw")?, "/plain/sub should stay rw");
        ensure!(has_option("/rec", "ro")?, "/rec not ro");
        ensure!(has_option("/rec/sub", "ro")?, "/rec/sub not ro (rro)");
        ensure!(
            has_option("/rec/sub", "noexec")?,
            "/rec/sub not noexec (rnoexec)"
        );
        ensure!(
            has_option("/nosym", "nosymfollow")?,
            "/nosym lacks nosymfollow"
        );
        ensure!(has_option("/nosym", "noatime")?, "/nosym lacks noatime");
        ensure!(has_option("/shared", "nodev")?, "/shared lacks nodev");
        ensure!(
            !has_option("/shared", "relatime")?,
            "/shared should be strictatime"
        );
        let mounts = mounts_inside()?;
        let shared = mount_at(&mounts, "/shared")?;
        ensure!(
            shared.optional.iter().any(|o| o.starts_with("shared:")),
            "/shared is not shared: {:?}",
            shared.optional
        );
        let rec = mount_at(&mounts, "/rec")?;
        ensure!(
            rec.optional.is_empty(),
            "/rec is not private: {:?}",
            rec.optional
        );
        // The relative source came from the bundle.
        ensure!(
            fs::read("/relsrc/hello").map_err(|e| format!("{e} (line {})", line!()))? == b"hi",
            "relative bind source"
        );
        ensure!(
            errno_of_open_write("/plain/hello") == Some(libc::EROFS),
            "/plain/hello writable"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn tmpfs_copyup_mode_and_readonly() {
    require_root!();
    let b = Bundle::busybox("tmpfs");
    let data = b.root.join("etc/data");
    fs::create_dir_all(data.join("deep")).unwrap();
    fs::write(data.join("file"), b"image content").unwrap();
    fs::set_permissions(data.join("file"), fs::Permissions::from_mode(0o640)).unwrap();
    rustix::fs::chown(
        data.join("file"),
        Some(rustix::fs::Uid::from_raw(1)),
        Some(rustix::fs::Gid::from_raw(2)),
    )
    .unwrap();
    fs::write(data.join("deep/more"), b"deeper").unwrap();
    symlink("file", data.join("link")).unwrap();
    fs::set_permissions(&data, fs::Permissions::from_mode(0o750)).unwrap();
    let ro_dir = b.root.join("ro");
    fs::create_dir(&ro_dir).unwrap();
    fs::set_permissions(&ro_dir, fs::Permissions::from_mode(0o711)).unwrap();
    let spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/etc/data", "tmpfs", "tmpfs", &["tmpcopyup", "nosuid"]),
        mount("/ro", "tmpfs", "tmpfs", &["ro", "size=1m"]),
        mount(
            "/sized",
            "tmpfs",
            "tmpfs",
            &["mode=700", "size=2m", "nr_inodes=100"],
        ),
    ]);
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    in_child(CloneFlags::empty(), || {
        setup(&rootfs)?;
        let mounts = mounts_inside()?;
        ensure!(
            mount_at(&mounts, "/etc/data")?.fstype == "tmpfs",
            "/etc/data not tmpfs"
        );
        let file = fs::symlink_metadata("/etc/data/file")
            .map_err(|e| format!("{e} (line {})", line!()))?;
        ensure!(file.permissions().mode() & 0o7777 == 0o640, "copied mode");
        ensure!((file.uid(), file.gid()) == (1, 2), "copied owner");
        ensure!(
            fs::read("/etc/data/file").map_err(|e| format!("{e} (line {})", line!()))?
                == b"image content",
            "copied content"
        );
        ensure!(
            fs::read("/etc/data/deep/more").map_err(|e| format!("{e} (line {})", line!()))?
                == b"deeper",
            "copied subdirectory"
        );
        ensure!(
            fs::read_link("/etc/data/link").map_err(|e| format!("{e} (line {})", line!()))?
                == Path::new("file"),
            "copied symlink"
        );
        let root_mode = fs::metadata("/etc/data").map_err(|e| format!("{e} (line {})", line!()))?;
        ensure!(
            root_mode.permissions().mode() & 0o7777 == 0o750,
            "tmpfs kept the dir's mode"
        );
        fs::write("/etc/data/new", b"x").map_err(|e| format!("tmpfs not writable: {e}"))?;
        // A read-only tmpfs keeps the mode of what it covers, and refuses writes.
        ensure!(has_option("/ro", "ro")?, "/ro not ro");
        let ro_mode = fs::metadata("/ro").map_err(|e| format!("{e} (line {})", line!()))?;
        ensure!(ro_mode.permissions().mode() & 0o7777 == 0o711, "/ro mode");
        ensure!(errno_of_open_write("/ro/x").is_some(), "/ro writable");
        let sized = mount_at(&mounts, "/sized")?;
        ensure!(
            sized.super_options.iter().any(|o| o == "size=2048k"),
            "size: {:?}",
            sized.super_options
        );
        ensure!(
            sized.super_options.iter().any(|o| o == "mode=700"),
            "mode=700"
        );
        ensure!(
            sized.super_options.iter().any(|o| o == "nr_inodes=100"),
            "nr_inodes"
        );
        Ok(())
    })
    .unwrap();
    // The image's files under the tmpfs are untouched.
    assert!(!data.join("new").exists());
}

#[test]
fn readonly_root_and_dev() {
    require_root!();
    let b = Bundle::busybox("readonly");
    let mut spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "mode=755", "ro"]),
    ]);
    spec.set_root(Some(
        RootBuilder::default()
            .path(&b.root)
            .readonly(true)
            .build()
            .unwrap(),
    ));
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    in_child(CloneFlags::empty(), || {
        setup(&rootfs)?;
        ensure!(has_option("/", "ro")?, "/ not ro");
        let e = fs::write("/newfile", b"x")
            .err()
            .and_then(|e| e.raw_os_error());
        ensure!(e == Some(libc::EROFS), "write to / gave {e:?}");
        // /dev was filled before it became read-only.
        check_char_device("/dev/null", 1, 3, 0o666, 0)?;
        ensure!(has_option("/dev", "ro")?, "/dev not ro");
        let e = fs::write("/dev/newfile", b"x")
            .err()
            .and_then(|e| e.raw_os_error());
        ensure!(e == Some(libc::EROFS), "write to /dev gave {e:?}");
        // The device still works on a read-only /dev.
        fs::write("/dev/null", b"x").map_err(|e| format!("write /dev/null: {e}"))?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn no_pivot_moves_root_and_hides_host_proc() {
    require_root!();
    let b = Bundle::busybox("nopivot");
    let spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/dev", "tmpfs", "tmpfs", &["mode=755"]),
    ]);
    let mut plan = b.plan(&spec).unwrap();
    plan.no_pivot = true;
    let rootfs = Rootfs::new(&plan, Default::default());
    let host_tmp = b.dir.display().to_string();
    in_child(CloneFlags::empty(), || {
        setup(&rootfs)?;
        ensure!(Path::new("/bin/busybox").exists(), "not in the rootfs");
        ensure!(!Path::new(&host_tmp).exists(), "host dir visible");
        let mounts = mounts_inside()?;
        // The host's /proc and /sys were detached before the move.
        // Only the container's procfs (and its read-only sub-binds) are left.
        let procs: Vec<_> = mounts
            .iter()
            .filter(|m| m.fstype == "proc" && m.root == Path::new("/"))
            .collect();
        ensure!(procs.len() == 1, "full procfs mounts: {procs:?}");
        ensure!(
            procs[0].mount_point == Path::new("/proc"),
            "procfs at {procs:?}"
        );
        ensure!(
            !mounts.iter().any(|m| m.fstype == "sysfs"),
            "host sysfs still mounted"
        );
        check_char_device("/dev/null", 1, 3, 0o666, 0)?;
        ensure!(
            run_busybox(&["busybox", "true"])? == 0,
            "busybox true failed"
        );
        Ok(())
    })
    .unwrap();
}
