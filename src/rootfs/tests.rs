//! Real tests, as root: each one forks a child that unshares its mount namespace, builds a
//! busybox rootfs in a private temp dir, runs prepare/pivot/finalize and checks from inside
//! what the container would see, reporting through a pipe. The child's mount namespace dies
//! with it, so no mount outlives a test; the temp dir is removed when the test ends.

use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::Ordering;

use crate::sys::testing::{fork, ForkResult};
use rustix::process::{waitpid, WaitOptions};
use rustix::thread::UnshareFlags as CloneFlags;

use crate::sys::clone::unshare;
use oci_spec::runtime::{
    LinuxDeviceBuilder, LinuxDeviceType, LinuxNamespaceType, RootBuilder, Spec,
};

use super::mountinfo::{self, MountInfo};
use super::testbundle::{mount, ns, Bundle};
use super::Rootfs;

type Check = std::result::Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// The cgroup mounted in the container is its own: this process is listed in `procs`.
fn own_pid_in(procs: &str) -> Result<(), String> {
    let text = fs::read_to_string(procs).map_err(|e| format!("{procs}: {e}"))?;
    let me = std::process::id().to_string();
    ensure!(text.lines().any(|l| l == me), "own pid not in {procs}");
    Ok(())
}

use crate::security::testutil::{is_root, skip};

/// Skips a test that needs root (and a kernel with the new mount API) when not root, saying
/// so (`skip`). What these tests decide without root is covered by `seam_tests`.
macro_rules! require_root {
    () => {
        if !is_root() {
            return skip("needs root");
        }
    };
}

/// Runs `f` in a forked child that has its own mount namespace (and the extra namespaces
/// in `flags`); returns what it reported. A panic in the child is a failure, not a hang.
fn in_child(flags: CloneFlags, f: impl FnOnce() -> Check) -> Check {
    let (rd, wr): (OwnedFd, OwnedFd) = rustix::pipe::pipe().unwrap();
    // The child only runs the test closure and then leaves with exit_now.
    match fork().expect("fork") {
        ForkResult::Child => {
            drop(rd);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                unshare(CloneFlags::NEWNS | flags).map_err(|e| format!("unshare: {e}"))?;
                f()
            }))
            .unwrap_or_else(|_| Err("child panicked".into()));
            let msg = match &result {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("error: {e}"),
            };
            let mut w = fs::File::from(wr);
            let _ = w.write_all(msg.as_bytes());
            drop(w);
            crate::sys::clone::exit_now(0)
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut msg = String::new();
            fs::File::from(rd).read_to_string(&mut msg).unwrap();
            let (_, status) = waitpid(Some(child), WaitOptions::empty()).unwrap().unwrap();
            assert_eq!(status.exit_status(), Some(0), "child: {status:?}");
            match msg.strip_prefix("error: ") {
                Some(e) => Err(e.to_string()),
                None if msg == "ok" => Ok(()),
                None => Err(format!("child reported nothing ({msg:?})")),
            }
        }
    }
}

/// prepare, pivot and finalize, as init does them.
fn setup(rootfs: &Rootfs) -> Check {
    rootfs.prepare().map_err(|e| format!("prepare: {e}"))?;
    rootfs.pivot().map_err(|e| format!("pivot: {e}"))?;
    rootfs.finalize().map_err(|e| format!("finalize: {e}"))
}

fn mounts_inside() -> Result<Vec<MountInfo>, String> {
    mountinfo::read_self().map_err(|e| e.to_string())
}

/// The top mount at `path` (the last one listed there).
fn mount_at(mounts: &[MountInfo], path: &str) -> Result<MountInfo, String> {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == Path::new(path))
        .cloned()
        .ok_or_else(|| format!("nothing mounted at {path}"))
}

/// The per-mount options of the top mount at `path` (`ro`, `nosuid`...).
fn mount_options(path: &str) -> Result<Vec<String>, String> {
    let text = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("{e} (line {})", line!()))?;
    text.lines()
        .rev()
        .find_map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            (f.get(4) == Some(&path)).then(|| f[5].split(',').map(str::to_string).collect())
        })
        .ok_or_else(|| format!("nothing mounted at {path}"))
}

fn has_option(path: &str, option: &str) -> Result<bool, String> {
    Ok(mount_options(path)?.iter().any(|o| o == option))
}

fn check_char_device(path: &str, major: u64, minor: u64, mode: u32, uid: u32) -> Check {
    let md = fs::symlink_metadata(path).map_err(|e| format!("{path}: {e}"))?;
    ensure!(
        md.file_type().is_char_device(),
        "{path} is not a char device"
    );
    let rdev = md.rdev();
    ensure!(
        (libc::major(rdev) as u64, libc::minor(rdev) as u64) == (major, minor),
        "{path} is {}:{}, want {major}:{minor}",
        libc::major(rdev),
        libc::minor(rdev)
    );
    ensure!(
        md.permissions().mode() & 0o7777 == mode,
        "{path} mode {:o}, want {mode:o}",
        md.permissions().mode() & 0o7777
    );
    ensure!(md.uid() == uid, "{path} uid {}, want {uid}", md.uid());
    Ok(())
}

fn errno_of_open_write(path: &str) -> Option<i32> {
    // Opening for write is enough to see EROFS; nothing is ever written.
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .err()
        .and_then(|e| e.raw_os_error())
}

/// Runs a command from the container's busybox and returns its exit status.
fn run_busybox(args: &[&str]) -> Result<i32, String> {
    let argv: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
    // The grandchild only calls execv or exit_now.
    match fork().map_err(|e| format!("{e} (line {})", line!()))? {
        ForkResult::Child => {
            let _ = crate::sys::testing::execv(c"/bin/busybox", &argv);
            // exec failed; leave without running any handler.
            crate::sys::clone::exit_now(127)
        }
        ForkResult::Parent { child } => {
            let waited = waitpid(Some(child), WaitOptions::empty())
                .map_err(|e| format!("{e} (line {})", line!()))?;
            match waited.map(|(_, s)| (s, s.exit_status())) {
                Some((_, Some(code))) => Ok(code),
                other => Err(format!("busybox: {other:?}")),
            }
        }
    }
}

#[test]
fn default_config_works() {
    require_root!();
    let b = Bundle::busybox("default");
    // The config `hull spec` writes: proc, /dev tmpfs, devpts, shm, mqueue, sysfs, cgroup,
    // the masked and read-only paths, and a cgroup namespace.
    let mut spec = Spec::default();
    spec.set_root(Some(
        RootBuilder::default()
            .path(&b.root)
            .readonly(true)
            .build()
            .unwrap(),
    ));
    // A file that exists on every kernel, to see a file masked (/proc/kcore may not).
    let mut linux = spec.linux().clone().unwrap();
    let mut masked = linux.masked_paths().clone().unwrap();
    masked.push("/proc/version".into());
    linux.set_masked_paths(Some(masked));
    spec.set_linux(Some(linux));
    let plan = b.plan(&spec).unwrap();
    let rootfs = Rootfs::new(&plan, Default::default());
    let host_tmp = b.dir.display().to_string();
    let result = in_child(CloneFlags::NEWCGROUP, || {
        setup(&rootfs)?;
        ensure!(
            std::env::current_dir().map_err(|e| format!("getcwd: {e}"))? == Path::new("/"),
            "cwd is not /"
        );
        ensure!(
            Path::new("/bin/busybox").exists(),
            "/bin/busybox missing: not in the rootfs"
        );
        for (path, major, minor) in [
            ("/dev/null", 1, 3),
            ("/dev/zero", 1, 5),
            ("/dev/full", 1, 7),
            ("/dev/random", 1, 8),
            ("/dev/urandom", 1, 9),
            ("/dev/tty", 5, 0),
        ] {
            check_char_device(path, major, minor, 0o666, 0)?;
        }
        for (path, target) in [
            ("/dev/ptmx", "pts/ptmx"),
            ("/dev/fd", "/proc/self/fd"),
            ("/dev/stdin", "/proc/self/fd/0"),
            ("/dev/stdout", "/proc/self/fd/1"),
            ("/dev/stderr", "/proc/self/fd/2"),
        ] {
            let link = fs::read_link(path).map_err(|e| format!("{path}: {e}"))?;
            ensure!(link == Path::new(target), "{path} links to {link:?}");
        }
        // The null device works, and ptmx leads to the container's own devpts.
        ensure!(
            fs::read("/dev/null")
                .map_err(|e| format!("read /dev/null: {e}"))?
                .is_empty(),
            "read null"
        );
        let mounts = mounts_inside()?;
        for (path, fstype) in [
            ("/proc", "proc"),
            ("/dev", "tmpfs"),
            ("/dev/pts", "devpts"),
            ("/dev/shm", "tmpfs"),
            ("/dev/mqueue", "mqueue"),
            ("/sys", "sysfs"),
            ("/sys/fs/cgroup", "tmpfs"),
        ] {
            let m = mount_at(&mounts, path)?;
            ensure!(m.fstype == fstype, "{path} is {}, want {fstype}", m.fstype);
        }
        let devpts = mount_at(&mounts, "/dev/pts")?;
        for o in ["gid=5", "mode=620", "ptmxmode=666"] {
            ensure!(
                devpts.super_options.iter().any(|s| s == o),
                "devpts lacks {o}"
            );
        }
        fs::metadata("/dev/pts/ptmx").map_err(|e| format!("/dev/pts/ptmx: {e}"))?;
        let shm = fs::metadata("/dev/shm").map_err(|e| format!("/dev/shm: {e}"))?;
        ensure!(shm.permissions().mode() & 0o7777 == 0o1777, "/dev/shm mode");
        for o in ["nosuid", "nodev", "noexec"] {
            ensure!(has_option("/dev/shm", o)?, "/dev/shm not {o}");
        }
        ensure!(has_option("/dev", "nosuid")?, "/dev not nosuid");
        ensure!(
            has_option("/dev", "strictatime")? || !has_option("/dev", "relatime")?,
            "/dev atime"
        );
        ensure!(has_option("/sys", "ro")?, "/sys is not read-only");
        ensure!(
            has_option("/sys/fs/cgroup", "ro")?,
            "/sys/fs/cgroup is not read-only"
        );
        // With a cgroup namespace each v1 hierarchy is mounted afresh, rooted at our cgroup.
        let memory = mount_at(&mounts, "/sys/fs/cgroup/memory")?;
        ensure!(
            memory.fstype == "cgroup",
            "cgroup/memory is {}",
            memory.fstype
        );
        ensure!(
            memory.root == Path::new("/"),
            "cgroup/memory root {:?}",
            memory.root
        );
        ensure!(
            has_option("/sys/fs/cgroup/memory", "ro")?,
            "cgroup/memory not ro"
        );
        own_pid_in("/sys/fs/cgroup/memory/cgroup.procs")?;
        // Masked: a file reads empty, a directory is empty and read-only.
        for file in ["/proc/version", "/proc/kcore"] {
            if Path::new(file).exists() {
                let content = fs::read(file).map_err(|e| format!("{file}: {e}"))?;
                ensure!(content.is_empty(), "{file} not masked");
                check_char_device(file, 1, 3, 0o666, 0)?;
            }
        }
        ensure!(Path::new("/proc/version").exists(), "/proc/version gone");
        for dir in ["/proc/acpi", "/sys/firmware"] {
            if Path::new(dir).exists() {
                let n = fs::read_dir(dir)
                    .map_err(|e| format!("{dir}: {e}"))?
                    .count();
                ensure!(n == 0, "{dir} is not masked ({n} entries)");
                ensure!(has_option(dir, "ro")?, "{dir} mask is not read-only");
            }
        }
        // Read-only paths.
        ensure!(has_option("/proc/sys", "ro")?, "/proc/sys not read-only");
        ensure!(
            errno_of_open_write("/proc/sys/kernel/hostname") == Some(libc::EROFS),
            "/proc/sys/kernel/hostname writable"
        );
        // A file (only where the kernel has sysrq).
        if Path::new("/proc/sysrq-trigger").exists() {
            ensure!(
                has_option("/proc/sysrq-trigger", "ro")?,
                "sysrq-trigger not ro"
            );
            ensure!(
                errno_of_open_write("/proc/sysrq-trigger") == Some(libc::EROFS),
                "/proc/sysrq-trigger writable"
            );
        }
        // Nothing of the host's tree is left.
        for m in &mounts {
            let p = m.mount_point.display().to_string();
            ensure!(!p.contains(&host_tmp), "host path visible: {p}");
        }
        ensure!(!Path::new(&host_tmp).exists(), "host temp dir visible");
        // The default config has a read-only root; /dev/shm stays writable; programs run.
        let e = fs::write("/written", b"x")
            .err()
            .and_then(|e| e.raw_os_error());
        ensure!(e == Some(libc::EROFS), "write to / gave {e:?}");
        fs::write("/dev/shm/x", b"x").map_err(|e| format!("write /dev/shm: {e}"))?;
        ensure!(
            run_busybox(&["busybox", "true"])? == 0,
            "busybox true failed"
        );
        ensure!(
            run_busybox(&[
                "busybox",
                "sh",
                "-c",
                "test -c /dev/null && test -d /proc/self"
            ])? == 0,
            "busybox sh checks failed"
        );
        Ok(())
    });
    result.unwrap();
    // Nothing was written into the image; the devices lived on the container's /dev tmpfs.
    assert!(!b.root.join("written").exists());
    assert!(
        b.root.join("dev").read_dir().unwrap().next().is_none(),
        "devices leaked"
    );
}

#[test]
fn cgroup_v1_binds_own_hierarchies_without_cgroupns() {
    require_root!();
    if super::cgroup::host_is_unified() {
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
    let names = super::mount_options();
    for option in &names {
        // Every listed option is understood, not passed to a filesystem as data.
        let parsed = super::MountOptions::parse(&[option]);
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
        super::cgroup::ASSUME_UNIFIED.store(true, Ordering::Relaxed);
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
