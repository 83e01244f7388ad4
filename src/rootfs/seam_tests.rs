//! The rootfs plan, checked without root: `prepare` and `finalize` run through the recording
//! fake (`fake.rs`) on a temp directory rootfs, and the tests assert the operations they
//! would have performed, in order.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceBuilder, LinuxDeviceType, Spec};

use super::fake::Fake;
use super::testbundle::{mount, Bundle};
use super::Rootfs;

impl Bundle {
    fn fake(&self) -> Fake {
        Fake::new(&self.root, &self.dir.join("scratch"))
    }

    /// The plan, then `prepare` through the fake: what it recorded, or the error.
    fn prepare(&self, spec: &Spec) -> Result<Vec<String>, String> {
        let fake = self.fake();
        let plan = self.plan(spec).map_err(|e| e.to_string())?;
        Rootfs::new(&plan, Default::default())
            .prepare_with(&fake)
            .map_err(|e| e.to_string())?;
        Ok(fake.log())
    }
}

/// The operations every container ends with when /dev is a fresh one: the default
/// devices, /dev/ptmx and the standard links (/dev/core only where the host has kcore).
pub(super) fn default_devices() -> Vec<String> {
    let mut want = Vec::new();
    for &(path, major, minor) in super::testbundle::DEFAULT_DEVICES {
        want.push(format!("mknod {path} c {major}:{minor} 666"));
        want.push(format!("chown {path} 0:0"));
        want.push(format!("chmod {path} 666"));
    }
    want.extend(links());
    want
}

fn links() -> Vec<String> {
    let mut want: Vec<String> = [
        "symlink /dev/ptmx -> pts/ptmx",
        "symlink /dev/fd -> /proc/self/fd",
        "symlink /dev/stdin -> /proc/self/fd/0",
        "symlink /dev/stdout -> /proc/self/fd/1",
        "symlink /dev/stderr -> /proc/self/fd/2",
    ]
    .map(String::from)
    .to_vec();
    if Path::new("/proc/kcore").exists() {
        want.push("symlink /dev/core -> /proc/kcore".into());
    }
    want
}

/// The start of every prepare in a mount namespace of its own: / a slave, the rootfs bound
/// on itself.
pub(super) const ROOTFS_BIND: [&str; 3] = [
    "propagation / rslave",
    "tree1 = clone / recursive",
    "attach tree1 on /",
];

pub(super) fn lines(ops: &[&str]) -> Vec<String> {
    ops.iter().map(|s| s.to_string()).collect()
}

#[test]
fn default_spec_mounts_in_config_order() {
    let b = Bundle::empty("default");
    let spec = b.default_spec();
    let log = b.prepare(&spec).unwrap();
    let mut want = lines(&ROOTFS_BIND);
    want.extend(lines(&[
        "fs2 = new proc source=proc",
        "attach fs2 on /proc",
        "fs3 = new tmpfs source=tmpfs data=mode=755,size=65536k attrs=nosuid,strictatime",
        "attach fs3 on /dev",
        "fs4 = new devpts source=devpts data=newinstance,ptmxmode=0666,mode=0620,gid=5 \
         attrs=nosuid,noexec",
        "attach fs4 on /dev/pts",
        "fs5 = new tmpfs source=shm data=mode=1777,size=65536k attrs=nosuid,nodev,noexec",
        "attach fs5 on /dev/shm",
        "fs6 = new mqueue source=mqueue attrs=nosuid,nodev,noexec",
        "attach fs6 on /dev/mqueue",
        // sysfs shares its superblock: `ro` is the mount's only.
        "fs7 = new sysfs source=sysfs ro attrs=ro,nosuid,nodev,noexec",
        "attach fs7 on /sys",
    ]));
    assert_eq!(log[..want.len()], want[..]);

    // The cgroup mount: how depends on the host (v2, or v1 hierarchies in a tmpfs); the
    // default spec has a cgroup namespace, so every hierarchy is a fresh read-only mount.
    let rest = &log[want.len()..];
    let devices = default_devices();
    let (cgroup, tail) = rest.split_at(rest.len() - devices.len());
    assert_eq!(tail, &devices[..]);
    if super::cgroup::host_is_unified() {
        assert_eq!(
            cgroup,
            lines(&[
                "fs8 = new cgroup2 source=cgroup ro attrs=ro,nosuid,nodev,noexec",
                "attach fs8 on /sys/fs/cgroup",
            ])
        );
    } else {
        assert_eq!(
            cgroup[..2],
            lines(&[
                "fs8 = new tmpfs source=tmpfs data=mode=755 attrs=nosuid,nodev,noexec",
                "attach fs8 on /sys/fs/cgroup",
            ])
        );
        let hierarchies = &cgroup[2..cgroup.len() - 1];
        assert!(!hierarchies.is_empty() && hierarchies.len() % 2 == 0);
        for pair in hierarchies.chunks(2) {
            let (made, attached) = (&pair[0], &pair[1]);
            assert!(
                made.starts_with("fs") && made.contains(" = new cgroup source=cgroup "),
                "{made}"
            );
            assert!(made.ends_with(" attrs=ro,nosuid,nodev,noexec"), "{made}");
            let name = made.split(" = ").next().unwrap();
            assert!(attached.starts_with(&format!("attach {name} on fs8:/")));
        }
        assert_eq!(cgroup.last().unwrap(), "setattr fs8 +ro");
    }
    // The destinations were made as directories in the rootfs, the devices as nodes (here
    // files standing for them).
    for dir in ["proc", "dev/pts", "dev/shm", "dev/mqueue", "sys/fs/cgroup"] {
        assert!(b.root.join(dir).is_dir(), "{dir}");
    }
    assert!(b.root.join("dev/null").is_file());

    // After pivot: root.readonly (true in the default spec); the masked and read-only paths
    // do not exist in this rootfs, so they are skipped.
    let fake = b.fake();
    Rootfs::new(&b.plan(&spec).unwrap(), Default::default())
        .finalize_with(&fake)
        .unwrap();
    assert_eq!(fake.log(), lines(&["setattr / +ro"]));
}

#[test]
fn binds_with_flags_and_tmpfs() {
    let b = Bundle::empty("binds");
    fs::create_dir_all(b.dir.join("vol")).unwrap();
    fs::write(b.dir.join("file"), "x").unwrap();
    fs::create_dir_all(b.root.join("data/in")).unwrap();
    let spec = b.spec(vec![
        mount(
            "/data",
            "bind",
            "vol",
            &["rbind", "ro", "nosuid", "rprivate"],
        ),
        mount("/etc/f", "none", "file", &["bind", "noexec", "rw"]),
        // A source inside the rootfs is resolved there, after the mounts before it.
        mount("/y", "bind", "rootfs/data/in", &["bind", "nodev", "slave"]),
        mount("/run", "tmpfs", "tmpfs", &["nosuid", "size=1m", "mode=700"]),
        // A read-only tmpfs is filled first and made read-only before it is attached.
        mount("/ro", "tmpfs", "tmpfs", &["ro", "tmpcopyup"]),
    ]);
    let log = b.prepare(&spec).unwrap();
    let vol = b.dir.join("vol");
    let file = b.dir.join("file");
    let mut want = lines(&ROOTFS_BIND);
    want.extend([
        format!("tree2 = clone host:{} recursive", vol.display()),
        // A bind's flags are exactly those named (runc 1.2+).
        "setattr tree2 +ro,nosuid -nodev,noexec,nosymfollow".into(),
        "attach tree2 on /data".into(),
        "propagation tree2 rprivate".into(),
        format!("tree3 = clone host:{}", file.display()),
        "setattr tree3 +noexec -ro,nosuid,nodev,nosymfollow".into(),
        "attach tree3 on /etc/f".into(),
        "tree4 = clone /data/in".into(),
        "setattr tree4 +nodev -ro,nosuid,noexec,nosymfollow".into(),
        "attach tree4 on /y".into(),
        "propagation tree4 slave".into(),
        "fs5 = new tmpfs source=tmpfs data=size=1m,mode=700 attrs=nosuid".into(),
        "attach fs5 on /run".into(),
        "fs6 = new tmpfs source=tmpfs".into(),
        "readonly fs6".into(),
        "attach fs6 on /ro".into(),
    ]);
    want.extend(default_devices());
    assert_eq!(log, want);
    // A file bind gets a file to land on, a directory bind a directory.
    assert!(b.root.join("etc/f").is_file());
    assert!(b.root.join("data").is_dir());
}

#[test]
fn symlinked_destination_lands_inside_the_rootfs() {
    let b = Bundle::empty("symlinked");
    fs::create_dir_all(b.root.join("var")).unwrap();
    // An absolute link, and one that tries to climb out: both resolve inside the root.
    symlink("/run", b.root.join("var/run")).unwrap();
    symlink(
        "../../../../../../tmp/hull-seam-outside",
        b.root.join("escape"),
    )
    .unwrap();
    let spec = b.spec(vec![
        mount("/var/run", "tmpfs", "tmpfs", &[]),
        mount("/escape/x", "tmpfs", "tmpfs", &[]),
    ]);
    let log = b.prepare(&spec).unwrap();
    let mut want = lines(&ROOTFS_BIND);
    want.extend(lines(&[
        "fs2 = new tmpfs source=tmpfs",
        "attach fs2 on /run",
        "fs3 = new tmpfs source=tmpfs",
        "attach fs3 on /tmp/hull-seam-outside/x",
    ]));
    want.extend(default_devices());
    assert_eq!(log, want);
    assert!(b.root.join("run").is_dir());
    assert!(b.root.join("tmp/hull-seam-outside/x").is_dir());
    assert!(!Path::new("/tmp/hull-seam-outside").exists());
}

#[test]
fn destination_through_a_symlink_to_proc_is_refused() {
    let b = Bundle::empty("evil");
    fs::create_dir_all(b.dir.join("vol")).unwrap();
    symlink("/proc", b.root.join("evil")).unwrap();
    let spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/evil/sys/kernel", "bind", "vol", &["rbind"]),
    ]);
    let fake = b.fake();
    let err = Rootfs::new(&b.plan(&spec).unwrap(), Default::default())
        .prepare_with(&fake)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "mounts[1] (/evil/sys/kernel): resolves through a symlink in the rootfs to \
         /proc/sys/kernel, inside /proc: cannot be mounted there"
    );
    // The bind source was cloned, but nothing was attached after /proc, and nothing made
    // inside it.
    let log = fake.log();
    let attached: Vec<_> = log.iter().filter(|l| l.starts_with("attach")).collect();
    assert_eq!(attached, ["attach tree1 on /", "attach fs2 on /proc"]);
    assert!(!b.root.join("proc/sys").exists());

    // The bind straight onto /proc: only a procfs may go there.
    let spec = b.spec(vec![mount("/evil", "bind", "vol", &["rbind"])]);
    let err = b.prepare(&spec).unwrap_err();
    assert!(
        err.ends_with(
            "resolves through a symlink in the rootfs to /proc, where only a procfs \
                       can be mounted"
        ),
        "{err}"
    );
}

fn device(path: &str, typ: LinuxDeviceType, major: i64, minor: i64) -> LinuxDeviceBuilder {
    LinuxDeviceBuilder::default()
        .path(path)
        .typ(typ)
        .major(major)
        .minor(minor)
}

fn with_devices(mut spec: Spec, devices: Vec<oci_spec::runtime::LinuxDevice>) -> Spec {
    let mut linux = spec.linux().clone().unwrap();
    linux.set_devices(Some(devices));
    spec.set_linux(Some(linux));
    spec
}

#[test]
fn devices_with_modes_and_owners() {
    let b = Bundle::empty("devices");
    let devices = vec![
        // Replaces the default /dev/null.
        device("/dev/null", LinuxDeviceType::C, 1, 3)
            .file_mode(0o600u32)
            .uid(7u32)
            .build()
            .unwrap(),
        device("/dev/fuse", LinuxDeviceType::C, 10, 229)
            .file_mode(0o640u32)
            .uid(1000u32)
            .gid(5u32)
            .build()
            .unwrap(),
        device("/dev/disk/sda", LinuxDeviceType::B, 8, 0)
            .build()
            .unwrap(),
        device("/dev/pipe", LinuxDeviceType::P, 0, 0)
            .file_mode(0o620u32)
            .build()
            .unwrap(),
    ];
    let spec = with_devices(b.spec(vec![]), devices);
    let log = b.prepare(&spec).unwrap();
    let mut want = lines(&ROOTFS_BIND);
    for (path, major, minor) in [
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ] {
        want.push(format!("mknod {path} c {major}:{minor} 666"));
        want.push(format!("chown {path} 0:0"));
        want.push(format!("chmod {path} 666"));
    }
    want.extend(lines(&[
        "mknod /dev/null c 1:3 600",
        "chown /dev/null 7:0",
        "chmod /dev/null 600",
        "mknod /dev/fuse c 10:229 640",
        "chown /dev/fuse 1000:5",
        "chmod /dev/fuse 640",
        "mknod /dev/disk/sda b 8:0 666",
        "chown /dev/disk/sda 0:0",
        "chmod /dev/disk/sda 666",
        "mknod /dev/pipe p 0:0 620",
        "chown /dev/pipe 0:0",
        "chmod /dev/pipe 620",
    ]));
    want.extend(links());
    assert_eq!(log, want);
}

#[test]
fn devices_are_bound_from_the_host_in_a_user_namespace() {
    use oci_spec::runtime::{LinuxNamespaceBuilder, LinuxNamespaceType};
    let b = Bundle::empty("userns");
    let mut spec = with_devices(
        b.spec(vec![]),
        vec![device("/dev/fuse", LinuxDeviceType::C, 10, 229)
            .build()
            .unwrap()],
    );
    let mut linux = spec.linux().clone().unwrap();
    let mut namespaces = linux.namespaces().clone().unwrap();
    namespaces.push(
        LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::User)
            .build()
            .unwrap(),
    );
    linux.set_namespaces(Some(namespaces));
    spec.set_linux(Some(linux));
    let log = b.prepare(&spec).unwrap();
    let mut want = lines(&ROOTFS_BIND);
    for (n, path) in (2..).zip([
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/fuse",
    ]) {
        want.push(format!("tree{n} = clone host:{path}"));
        want.push(format!("attach tree{n} on {path}"));
    }
    want.extend(links());
    assert_eq!(log, want);
    // Each lands on an empty file made for it.
    assert!(b.root.join("dev/fuse").is_file());
}

#[test]
fn an_existing_node_must_be_the_device_asked_for() {
    let b = Bundle::empty("existing");
    fs::create_dir_all(b.root.join("dev")).unwrap();
    fs::write(b.root.join("dev/fuse"), "").unwrap();
    let spec = with_devices(
        b.spec(vec![]),
        vec![device("/dev/fuse", LinuxDeviceType::C, 10, 229)
            .build()
            .unwrap()],
    );
    let err = b.prepare(&spec).unwrap_err();
    assert!(
        err.starts_with("device /dev/fuse: a RegularFile 0:0 already exists there"),
        "{err}"
    );
}

fn paths(spec: &mut Spec, masked: &[&str], readonly: &[&str]) {
    let mut linux = spec.linux().clone().unwrap();
    linux.set_masked_paths(Some(masked.iter().map(|s| s.to_string()).collect()));
    linux.set_readonly_paths(Some(readonly.iter().map(|s| s.to_string()).collect()));
    spec.set_linux(Some(linux));
}

#[test]
fn masked_and_readonly_paths() {
    let b = Bundle::empty("masked");
    fs::create_dir_all(b.root.join("proc/acpi")).unwrap();
    fs::create_dir_all(b.root.join("proc/sys")).unwrap();
    fs::write(b.root.join("proc/kcore"), "").unwrap();
    fs::write(b.root.join("proc/timer_list"), "").unwrap();
    let mut spec = b.spec(vec![]);
    paths(
        &mut spec,
        // Listed twice (engines merge lists): masked once. Missing: skipped.
        &[
            "/proc/kcore",
            "/proc/acpi",
            "/proc/kcore",
            "/proc/nothing",
            "/proc/timer_list",
        ],
        &["/proc/sys", "/proc/absent"],
    );
    let mut root = spec.root().clone().unwrap();
    root.set_readonly(Some(false));
    spec.set_root(Some(root));
    let fake = b.fake();
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    rootfs.prepare_with(&fake).unwrap();
    let before = fake.log().len();
    rootfs.finalize_with(&fake).unwrap();
    let log = fake.log()[before..].to_vec();
    assert_eq!(
        log,
        lines(&[
            "tree2 = clone /proc/sys recursive",
            "setattr tree2 +ro",
            "attach tree2 on /proc/sys",
            // Files get the container's /dev/null, checked to be the null device, cloned.
            "tree3 = clone /dev/null",
            "attach tree3 on /proc/kcore",
            "fs4 = new tmpfs source=tmpfs ro attrs=ro",
            "attach fs4 on /proc/acpi",
            "tree5 = clone /dev/null",
            "attach tree5 on /proc/timer_list",
        ])
    );
}

#[test]
fn masking_refuses_a_dev_null_that_is_not_the_null_device() {
    let b = Bundle::empty("badnull");
    fs::create_dir_all(b.root.join("dev")).unwrap();
    fs::create_dir_all(b.root.join("proc")).unwrap();
    fs::write(b.root.join("proc/kcore"), "").unwrap();
    fs::write(b.root.join("etc-passwd"), "").unwrap();
    // The image ships /dev/null as a link to a file: the default device is kept (lenient,
    // like runc), and masking must not bind its target.
    symlink("/etc-passwd", b.root.join("dev/null")).unwrap();
    let mut spec = b.spec(vec![]);
    paths(&mut spec, &["/proc/kcore"], &[]);
    let fake = b.fake();
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    rootfs.prepare_with(&fake).unwrap();
    let err = rootfs.finalize_with(&fake).unwrap_err().to_string();
    assert!(
        err.contains("/dev/null in the container is a symlink, not the null device"),
        "{err}"
    );
    assert!(!fake.log().iter().any(|l| l.contains("/proc/kcore")));
}

#[test]
fn rootfs_propagation() {
    let b = Bundle::empty("propagation");
    for (setting, first, parent) in [
        // Recursive slave or private from / covers the rootfs's parent too.
        ("rslave", "propagation / rslave", None),
        ("rprivate", "propagation / rprivate", None),
        // Otherwise the parent is made private (private, unbindable asked) or a slave.
        ("private", "propagation / private", Some("private")),
        ("rshared", "propagation / rshared", Some("slave")),
        ("unbindable", "propagation / unbindable", Some("private")),
    ] {
        let mut spec = b.spec(vec![]);
        let mut linux = spec.linux().clone().unwrap();
        linux.set_rootfs_propagation(Some(setting.into()));
        spec.set_linux(Some(linux));
        let log = b.prepare(&spec).unwrap();
        assert_eq!(log[0], first, "{setting}");
        let rest = match parent {
            None => &log[1..],
            Some(flag) => {
                // The host mount the temp dir is on.
                assert!(
                    log[1].starts_with("propagation /") && log[1].ends_with(&format!(" {flag}")),
                    "{setting}: {}",
                    log[1]
                );
                &log[2..]
            }
        };
        assert!(
            rest[0].ends_with(" = clone / recursive"),
            "{setting}: {rest:?}"
        );
        // After pivot the setting is applied to the container's root mount.
        let fake = b.fake();
        Rootfs::new(&b.plan(&spec).unwrap(), Default::default())
            .container_root_propagation(&fake)
            .unwrap();
        assert_eq!(fake.log(), [first.to_string()], "{setting}");
        // The next round makes its devices afresh.
        fs::remove_dir_all(b.root.join("dev")).unwrap();
    }
    // Without the setting, only the rslave of / before the rootfs bind, nothing after pivot.
    let spec = b.spec(vec![]);
    let fake = b.fake();
    Rootfs::new(&b.plan(&spec).unwrap(), Default::default())
        .container_root_propagation(&fake)
        .unwrap();
    assert!(fake.log().is_empty());
}
