//! Root-only rootfs tests: remounts, /proc and cgroup2 targets, symlinks in the image,
//! bind sources inside the rootfs.

use super::*;

#[test]
fn remount_changes_an_earlier_mount() {
    require_root!();
    let b = Bundle::busybox("remount");
    let spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/data", "tmpfs", "tmpfs", &["size=1m"]),
        mount(
            "/data",
            "tmpfs",
            "tmpfs",
            &["remount", "ro", "nosuid", "size=2m"],
        ),
    ]);
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    in_child(CloneFlags::empty(), || {
        setup(&rootfs)?;
        let mounts = mounts_inside()?;
        let data: Vec<_> = mounts
            .iter()
            .filter(|m| m.mount_point == Path::new("/data"))
            .collect();
        ensure!(data.len() == 1, "remount stacked a new mount: {data:?}");
        ensure!(has_option("/data", "ro")?, "/data not ro");
        ensure!(has_option("/data", "nosuid")?, "/data not nosuid");
        ensure!(
            data[0].super_options.iter().any(|o| o == "ro"),
            "superblock not ro: {:?}",
            data[0].super_options
        );
        ensure!(
            data[0].super_options.iter().any(|o| o == "size=2048k"),
            "size not changed: {:?}",
            data[0].super_options
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn proc_must_go_on_a_plain_directory() {
    require_root!();
    let b = Bundle::busybox("procsymlink");
    // A symlink that stays inside the rootfs is still refused for /proc.
    fs::create_dir(b.root.join("elsewhere")).unwrap();
    symlink("/elsewhere", b.root.join("proc")).unwrap();
    let spec = b.spec(vec![mount("/proc", "proc", "proc", &[])]);
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    let err = in_child(CloneFlags::empty(), || setup(&rootfs)).unwrap_err();
    assert!(err.contains("mounts[0] (/proc)"), "{err}");
    assert!(err.contains("ordinary directory"), "{err}");
}

#[test]
fn cgroup2_mount_in_a_cgroup_namespace() {
    require_root!();
    let b = Bundle::busybox("cgroup2");
    let mut spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]);
    let mut linux = spec.linux().clone().unwrap();
    linux.set_namespaces(Some(vec![
        ns(LinuxNamespaceType::Mount),
        ns(LinuxNamespaceType::Cgroup),
    ]));
    spec.set_linux(Some(linux));
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    in_child(CloneFlags::NEWCGROUP, || {
        // The v2 path, on whatever host: the cgroup2 hierarchy exists on hybrid ones too.
        crate::rootfs::cgroup::ASSUME_UNIFIED.store(true, Ordering::Relaxed);
        setup(&rootfs)?;
        let m = mount_at(&mounts_inside()?, "/sys/fs/cgroup")?;
        ensure!(m.fstype == "cgroup2", "/sys/fs/cgroup is {}", m.fstype);
        // Rooted at the namespace's root: our own cgroup.
        ensure!(m.root == Path::new("/"), "root {:?}", m.root);
        for o in ["ro", "nosuid", "nodev", "noexec"] {
            ensure!(has_option("/sys/fs/cgroup", o)?, "cgroup2 not {o}");
        }
        own_pid_in("/sys/fs/cgroup/cgroup.procs")?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn proc_reached_through_a_symlink_is_refused() {
    require_root!();
    // The image's `evil -> /proc`; each bind's destination passes through it. Whatever the
    // order (before or after the procfs is mounted), the landing place decides.
    let b = Bundle::busybox("evilproc");
    symlink("/proc", b.root.join("evil")).unwrap();
    let host = b.dir.join("host");
    fs::create_dir_all(host.join("kernel")).unwrap();
    fs::write(host.join("kernel/domainname"), b"untouched").unwrap();
    let before = fs::read_dir(&host).unwrap().count();
    let proc_mount = mount("/proc", "proc", "proc", &[]);
    let cases = [
        (
            "/evil",
            true,
            "to /proc, where only a procfs can be mounted",
        ),
        (
            "/evil/sys/kernel",
            true,
            "to /proc/sys/kernel, inside /proc",
        ),
        ("/evil/1", true, "to /proc/1, inside /proc"),
        ("/evil/1/fd", false, "to /proc/1/fd, inside /proc"),
        (
            "/evil/sys/kernel",
            false,
            "to /proc/sys/kernel, inside /proc",
        ),
    ];
    for (dest, proc_first, why) in cases {
        let source = if dest.ends_with("kernel") {
            "host/kernel"
        } else {
            "host"
        };
        let bind = mount(dest, "bind", source, &["rbind"]);
        let mounts = if proc_first {
            vec![proc_mount.clone(), bind]
        } else {
            vec![bind, proc_mount.clone()]
        };
        let spec = b.spec(mounts);
        let plan = b.plan(&spec).unwrap();
        let rootfs = Rootfs::new(&plan, Default::default());
        let err = in_child(CloneFlags::empty(), || setup(&rootfs)).unwrap_err();
        let index = if proc_first { 1 } else { 0 };
        assert!(
            err.contains(&format!(
                "mounts[{index}] ({dest}): resolves through a symlink in the rootfs {why}"
            )),
            "{dest}: {err}"
        );
    }
    assert_eq!(
        fs::read(host.join("kernel/domainname")).unwrap(),
        b"untouched"
    );
    assert_eq!(fs::read_dir(&host).unwrap().count(), before);
    // Nothing was created in the rootfs's /proc directory either.
    assert_eq!(
        fs::read_dir(b.root.join("proc"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

#[test]
fn mount_targets_outside_proc_through_symlinks_still_work() {
    require_root!();
    // The usual image links (/var/run -> /run, a relative one) keep working, and the mount
    // goes where the link leads, inside the rootfs.
    let b = Bundle::busybox("links");
    fs::create_dir_all(b.root.join("var")).unwrap();
    fs::create_dir_all(b.root.join("run")).unwrap();
    symlink("/run", b.root.join("var/run")).unwrap();
    symlink("../run", b.root.join("var/rel")).unwrap();
    let spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/var/run/a", "tmpfs", "tmpfs", &[]),
        mount("/var/rel/b", "tmpfs", "tmpfs", &[]),
    ]);
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    in_child(CloneFlags::empty(), || {
        setup(&rootfs)?;
        let mounts = mounts_inside()?;
        ensure!(
            mount_at(&mounts, "/run/a")?.fstype == "tmpfs",
            "no tmpfs at /run/a"
        );
        ensure!(
            mount_at(&mounts, "/run/b")?.fstype == "tmpfs",
            "no tmpfs at /run/b"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn image_symlinks_cannot_send_mounts_into_sys_dev_or_the_root() {
    require_root!();
    let b = Bundle::busybox("redirects");
    symlink("/sys/kernel", b.root.join("k")).unwrap();
    symlink("/dev", b.root.join("d")).unwrap();
    symlink("/", b.root.join("top")).unwrap();
    fs::write(b.dir.join("file"), b"x").unwrap();
    let sys = mount("/sys", "sysfs", "sysfs", &["ro"]);
    let dev = mount("/dev", "tmpfs", "tmpfs", &[]);
    let cases = [
        (
            mount("/k/mm", "tmpfs", "tmpfs", &[]),
            "to /sys/kernel/mm, inside /sys",
        ),
        (
            mount("/d/null", "bind", "file", &["bind"]),
            "to /dev/null, inside /dev",
        ),
        (
            mount("/top", "tmpfs", "tmpfs", &[]),
            "to the container's root",
        ),
    ];
    for (m, why) in cases {
        let spec = b.spec(vec![
            mount("/proc", "proc", "proc", &[]),
            sys.clone(),
            dev.clone(),
            m,
        ]);
        let plan = b.plan(&spec).unwrap();
        let rootfs = Rootfs::new(&plan, Default::default());
        let err = in_child(CloneFlags::NEWNET, || setup(&rootfs)).unwrap_err();
        assert!(err.contains("mounts[3] ("), "{err}");
        assert!(err.contains(why), "{why}: {err}");
    }
}

/// Mounts are made in config order and a bind's source inside the rootfs is looked up when
/// it is bound, through what the earlier mounts put there (runc resolves it then too); inside
/// the root, so an image symlink on the way cannot turn it into a host path.
#[test]
fn bind_sources_inside_the_rootfs_see_earlier_mounts() {
    require_root!();
    let b = Bundle::busybox("order");
    let vol = b.dir.join("vol");
    fs::create_dir_all(vol.join("x")).unwrap();
    fs::write(vol.join("x/file"), b"from the volume").unwrap();
    fs::create_dir_all(b.root.join("seed/z")).unwrap();
    fs::write(b.root.join("seed/z/file"), b"copied up").unwrap();
    fs::create_dir_all(b.root.join("etc")).unwrap();
    fs::write(b.root.join("etc/marker"), b"the image's etc").unwrap();
    symlink("/etc", b.root.join("evil")).unwrap();
    let inside = |p: &str| b.root.join(p).to_str().unwrap().to_string();
    let spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/data", "bind", vol.to_str().unwrap(), &["rbind"]),
        mount("/y", "bind", &inside("data/x"), &["bind", "ro"]),
        mount("/seed", "tmpfs", "tmpfs", &["tmpcopyup"]),
        mount("/z", "bind", "rootfs/seed/z", &["bind"]),
        mount("/w", "bind", &inside("evil"), &["rbind"]),
    ]);
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    in_child(CloneFlags::empty(), || {
        setup(&rootfs)?;
        let read = |p: &str| fs::read_to_string(p).map_err(|e| format!("{p}: {e}"));
        ensure!(read("/y/file")? == "from the volume", "/y");
        ensure!(has_option("/y", "ro")?, "/y not ro");
        ensure!(read("/z/file")? == "copied up", "/z");
        ensure!(
            read("/w/marker")? == "the image's etc",
            "/w is not the image's /etc"
        );
        Ok(())
    })
    .unwrap();
    // Missing at mount time: the error names the mount.
    let spec = b.spec(vec![mount("/q", "bind", &inside("nowhere/x"), &["bind"])]);
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    let err = in_child(CloneFlags::empty(), || setup(&rootfs)).unwrap_err();
    assert!(err.contains("mounts[0] (/q): bind source"), "{err}");
    assert!(err.contains("not found in the rootfs"), "{err}");
}
