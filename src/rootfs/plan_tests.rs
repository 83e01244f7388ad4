//! The rootfs plan, without root: what `Plan::new` makes of a config and the runtime's
//! options, and that `prepare` needs nothing but the plan (run through the recording fake).

use std::fs;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceBuilder, LinuxDeviceType, LinuxNamespaceType, Spec};

use super::fake::Fake;
use super::mount_plan::Kind;
use super::seam_tests::{default_devices, lines, ROOTFS_BIND};
use super::testbundle::{mount, ns, Bundle};
use super::{Options, Plan, Rootfs};
use crate::io::notify;

fn with_notify(b: &Bundle, spec: &Spec, state_dir: &Path) -> crate::Result<Plan> {
    let opts = Options {
        no_pivot: false,
        notify: Some(notify::bind(state_dir)),
    };
    Plan::new(spec, &b.dir, opts)
}

#[test]
fn the_notify_bind_is_the_last_mount_and_the_spec_is_not_edited() {
    let b = Bundle::empty("notify");
    fs::create_dir_all(b.dir.join("vol")).unwrap();
    let spec = b.spec(vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/data", "bind", "vol", &["rbind"]),
    ]);
    let state_dir = b.dir.join("state");
    // The notify directory is made with the state directory, after validation: the plan
    // does not look for it.
    let plan = with_notify(&b, &spec, &state_dir).unwrap();
    assert_eq!(spec.mounts().as_ref().unwrap().len(), 2);
    let dests: Vec<_> = plan
        .mounts
        .iter()
        .map(|m| m.dest.display().to_string())
        .collect();
    assert_eq!(dests, ["/proc", "/data", "/run/notify"]);
    let entry = plan.mounts.last().unwrap();
    assert!(entry.from_runtime);
    assert_eq!(entry.field, "mounts[2] (/run/notify)");
    assert_eq!(entry.kind, Kind::Bind { recursive: false });
    assert_eq!(
        entry.source.as_deref(),
        Some(notify::dir(&state_dir).as_path())
    );
    assert_eq!(entry.opts.readonly, Some(true));
    assert!(!plan.mounts[..2].iter().any(|m| m.from_runtime));

    // In init, after the state directory was made: bound last, read-only, no exec, no
    // devices, no setuid.
    fs::create_dir_all(notify::dir(&state_dir)).unwrap();
    let fake = Fake::new(&b.root, &b.dir.join("scratch"));
    Rootfs::new(&plan, Default::default())
        .prepare_with(&fake)
        .unwrap();
    let mut want = lines(&ROOTFS_BIND);
    want.extend([
        "fs2 = new proc source=proc".to_string(),
        "attach fs2 on /proc".into(),
        format!(
            "tree3 = clone host:{} recursive",
            b.dir.join("vol").display()
        ),
        "attach tree3 on /data".into(),
        format!("tree4 = clone host:{}", notify::dir(&state_dir).display()),
        "setattr tree4 +ro,nosuid,nodev,noexec -nosymfollow".into(),
        "attach tree4 on /run/notify".into(),
    ]);
    want.extend(default_devices());
    assert_eq!(fake.log(), want);

    // The variable the process gets points into that directory.
    assert_eq!(
        notify::container_env(),
        "NOTIFY_SOCKET=/run/notify/notify.sock"
    );
}

#[test]
fn a_bad_config_mount_is_named_before_the_notify_entry() {
    let b = Bundle::empty("notifybad");
    let spec = b.spec(vec![mount("/y", "tmpfs", "tmpfs", &["foo"])]);
    let err = with_notify(&b, &spec, &b.dir.join("state")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mounts[0] (/y): unknown mount option \"foo\""
    );
}

#[test]
fn devices_are_parsed_once_into_the_plan() {
    let b = Bundle::empty("devplan");
    // The plan outlives the config it was made from: prepare cannot parse it again.
    let plan = {
        let mut spec = b.spec(vec![]);
        let mut linux = spec.linux().clone().unwrap();
        linux.set_devices(Some(vec![LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .file_mode(0o600u32)
            .build()
            .unwrap()]));
        spec.set_linux(Some(linux));
        b.plan(&spec).unwrap()
    };
    let fuse = plan.devices.last().unwrap();
    assert_eq!(fuse.path, Path::new("/dev/fuse"));
    assert_eq!((fuse.major, fuse.minor, fuse.mode), (10, 229, 0o600));
    assert_eq!(plan.devices.len(), 7, "the six defaults and /dev/fuse");
    let fake = Fake::new(&b.root, &b.dir.join("scratch"));
    Rootfs::new(&plan, Default::default())
        .prepare_with(&fake)
        .unwrap();
    let log = fake.log();
    assert!(
        log.contains(&"mknod /dev/fuse c 10:229 600".to_string()),
        "{log:?}"
    );

    // A bad entry is named by its index and path.
    let mut spec = b.spec(vec![]);
    let mut linux = spec.linux().clone().unwrap();
    linux.set_devices(Some(vec![LinuxDeviceBuilder::default()
        .path("/dev/neg")
        .typ(LinuxDeviceType::B)
        .major(-1)
        .build()
        .unwrap()]));
    spec.set_linux(Some(linux));
    let err = b.plan(&spec).unwrap_err().to_string();
    assert!(err.starts_with("linux.devices[0] (/dev/neg): "), "{err}");
}

#[test]
fn root_path_errors_are_named() {
    let b = Bundle::empty("rootpath");
    let err = |spec: &Spec| b.plan(spec).unwrap_err().to_string();
    let mut spec = b.spec(vec![]);
    spec.set_root(None);
    assert_eq!(err(&spec), "root: missing (root.path is required on Linux)");
    let with_path = |path: &Path| {
        let mut spec = b.spec(vec![]);
        let mut root = spec.root().clone().unwrap();
        root.set_path(path.to_path_buf());
        spec.set_root(Some(root));
        spec
    };
    assert_eq!(
        err(&with_path(Path::new(""))),
        "root.path: must not be empty"
    );
    let missing = b.dir.join("missing");
    let e = err(&with_path(&missing));
    assert!(
        e.starts_with(&format!("root.path {}: ", missing.display())),
        "{e}"
    );
    fs::write(b.dir.join("file"), "").unwrap();
    assert_eq!(
        err(&with_path(Path::new("file"))),
        format!(
            "root.path {}: not a directory",
            b.dir.join("file").display()
        )
    );
    // A relative root.path is the bundle's.
    fs::create_dir_all(b.dir.join("other")).unwrap();
    let plan = b.plan(&with_path(Path::new("other"))).unwrap();
    assert_eq!(plan.root, b.dir.join("other"));
}

#[test]
fn the_plan_holds_what_the_mount_code_asks() {
    let b = Bundle::empty("facts");
    let mut spec = b.spec(vec![mount("/dev", "tmpfs", "tmpfs", &["ro"])]);
    let mut linux = spec.linux().clone().unwrap();
    linux.set_namespaces(Some(vec![
        ns(LinuxNamespaceType::Mount),
        ns(LinuxNamespaceType::Cgroup),
    ]));
    linux.set_masked_paths(Some(vec!["/proc/kcore".into()]));
    linux.set_readonly_paths(Some(vec!["/proc/sys".into()]));
    linux.set_rootfs_propagation(Some("rprivate".into()));
    spec.set_linux(Some(linux.clone()));
    let mut root = spec.root().clone().unwrap();
    root.set_readonly(Some(true));
    spec.set_root(Some(root));
    let plan = b.plan(&spec).unwrap();
    assert!(plan.readonly && plan.dev_readonly() && plan.makes_dev());
    assert!(plan.own_mount_namespace() && plan.cgroup_namespace && !plan.user_namespace);
    assert_eq!(plan.masked_paths, ["/proc/kcore"]);
    assert_eq!(plan.readonly_paths, ["/proc/sys"]);
    use rustix::mount::MountPropagationFlags as P;
    assert_eq!(plan.root_propagation, Some(P::PRIVATE | P::REC));

    // Without a mount namespace of its own, what needs one is refused, by field.
    linux.set_namespaces(Some(vec![]));
    spec.set_linux(Some(linux));
    let err = b.plan(&spec).unwrap_err().to_string();
    assert_eq!(
        err,
        "linux.maskedPaths: needs a mount namespace of the container's own (linux.namespaces)"
    );
}

#[test]
fn criu_externals_come_from_the_plan() {
    let b = Bundle::empty("criu");
    fs::create_dir_all(b.dir.join("vol")).unwrap();
    let mut spec = b.spec(vec![
        mount("/data", "bind", "vol", &["rbind"]),
        mount("/run", "tmpfs", "tmpfs", &[]),
    ]);
    let mut linux = spec.linux().clone().unwrap();
    linux.set_masked_paths(Some(vec!["/proc/kcore".into()]));
    spec.set_linux(Some(linux));
    let state_dir = b.dir.join("state");
    let plan = with_notify(&b, &spec, &state_dir).unwrap();
    let pid = std::process::id() as i32;
    let restore = super::criu::restore_externals(&plan, pid).unwrap();
    let mut want = vec![
        ("/data".to_string(), b.dir.join("vol").display().to_string()),
        (
            "/run/notify".into(),
            notify::dir(&state_dir).display().to_string(),
        ),
        ("/dev/null".into(), "/dev/null".into()),
    ];
    for d in ["null", "zero", "full", "random", "urandom", "tty"] {
        want.push((format!("/dev/{d}"), format!("/dev/{d}")));
    }
    assert_eq!(restore, want);
}
