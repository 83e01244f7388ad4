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
        for &(path, major, minor) in super::testbundle::DEFAULT_DEVICES {
            check_char_device(path, major.into(), minor.into(), 0o666, 0)?;
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

mod devices_paths;
mod mounts;
mod symlinks;
