//! Helpers shared by the end-to-end tests: the hull binary, busybox bundles, a private
//! `--root` per test that is cleaned up (every container force-deleted) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The runtime under test: $HULL_BIN, or the workspace's debug build.
/// The unprivileged user the rootless tests run hull as.
pub const NOBODY: u32 = 65534;

/// hull as NOBODY with its state under `root`, stdin closed: the rootless tests' caller.
pub fn hull_as_nobody(root: &Path, args: &[&str]) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(hull_bin());
    cmd.args(["--root", root.to_str().unwrap()])
        .args(args)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(std::process::Stdio::null());
    cmd
}

pub fn hull_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HULL_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug/hull")
}

/// A name no other test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(prefix));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A bundle whose rootfs is busybox-static and whose config starts as `hull spec`'s.
pub struct Bundle {
    pub dir: TempDir,
    pub config: Value,
}

impl Bundle {
    /// A bundle running `args` (through busybox) with terminal off.
    pub fn busybox(args: &[&str]) -> Bundle {
        let dir = TempDir::new("hull-bundle");
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        link_or_copy(&busybox_bin(), &rootfs.join("bin/busybox"));
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let link = rootfs.join("bin").join(applet);
            if !link.exists() {
                std::os::unix::fs::symlink("busybox", link).unwrap();
            }
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        let spec = Command::new(hull_bin())
            .args(["spec", "-b"])
            .arg(dir.path())
            .output()
            .expect("run hull spec");
        assert!(spec.status.success(), "hull spec: {}", stderr(&spec));
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
                .unwrap();
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        let b = Bundle { dir, config };
        b.save();
        b
    }

    /// A bundle running a shell script.
    pub fn sh(script: &str) -> Bundle {
        Bundle::busybox(&["sh", "-c", script])
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Writes `config` to config.json (call after changing it).
    pub fn save(&self) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }
}

/// A runtime binary with a private `--root`; force-deletes every container left on drop.
pub struct Runtime {
    pub bin: PathBuf,
    pub root: TempDir,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    pub fn new() -> Runtime {
        Runtime::with_bin(hull_bin())
    }

    pub fn with_bin(bin: PathBuf) -> Runtime {
        Runtime {
            bin,
            root: TempDir::new("hull-root"),
        }
    }

    /// A command for this runtime with `--root` set.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.root.path());
        c
    }

    /// Runs the runtime with `args`, stdin closed; returns its output.
    pub fn cmd(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the runtime")
    }

    /// `run` in the foreground: the container's output and status.
    pub fn run(&self, id: &str, bundle: &Bundle) -> Output {
        self.cmd(&["run", "-b", bundle.path().to_str().unwrap(), id])
    }

    /// `create`.
    pub fn create(&self, id: &str, bundle: &Bundle) -> Output {
        self.detached(&["create", "-b", bundle.path().to_str().unwrap(), id])
    }

    /// `run -d`.
    pub fn run_detached(&self, id: &str, bundle: &Bundle) -> Output {
        self.detached(&["run", "-d", "-b", bundle.path().to_str().unwrap(), id])
    }

    /// A command that leaves a container behind: the container inherits the runtime's stdio,
    /// so stderr goes through a file (a pipe would stay open, held by the container, after
    /// the runtime returns) and stdout to /dev/null.
    pub fn detached(&self, args: &[&str]) -> Output {
        let err_path = std::env::temp_dir().join(unique("hull-stderr"));
        let err_file = std::fs::File::create(&err_path).unwrap();
        let mut out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err_file)
            .output()
            .expect("run the runtime");
        out.stderr = std::fs::read(&err_path).unwrap_or_default();
        let _ = std::fs::remove_file(&err_path);
        out
    }

    /// `state ID` parsed, or None when the runtime says no.
    pub fn state(&self, id: &str) -> Option<Value> {
        let out = self.cmd(&["state", id]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    pub fn status(&self, id: &str) -> Option<String> {
        self.state(id)
            .map(|s| s["status"].as_str().unwrap().to_string())
    }

    /// Ids under this runtime's root.
    pub fn ids(&self) -> Vec<String> {
        let out = self.cmd(&["list", "-q"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect()
    }

    /// Waits (up to 10 s) for the container to reach `status`.
    pub fn wait_status(&self, id: &str, status: &str) -> bool {
        for _ in 0..1000 {
            if self.status(id).as_deref() == Some(status) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.ids() {
            let _ = self.cmd(&["delete", "--force", &id]);
        }
    }
}

/// stdout as a string.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as a string.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success, showing both streams otherwise.
#[track_caller]
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed with {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// `key=value` lines printed by a container, as a map.
pub fn kv(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Whether any process's command line contains `marker` (a leak check for failed creates).
pub fn process_with(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(marker))
            .unwrap_or(false)
    })
}

/// A `--console-socket` receiver, as containerd's shim and conmon have: listens on a unix
/// socket and takes the pty master the runtime sends over SCM_RIGHTS.
pub struct ConsoleSocket {
    pub path: PathBuf,
    listener: std::os::unix::net::UnixListener,
    _dir: TempDir,
}

impl Default for ConsoleSocket {
    fn default() -> Self {
        Self::new()
    }
}

impl ConsoleSocket {
    pub fn new() -> ConsoleSocket {
        let dir = TempDir::new("hull-console");
        let path = dir.path().join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        ConsoleSocket {
            path,
            listener,
            _dir: dir,
        }
    }

    /// Waits for the runtime's connection and returns the master it sends.
    pub fn receive(&self) -> std::os::fd::OwnedFd {
        let (conn, _) = self.listener.accept().unwrap();
        let (_, fd) = recv_with_fd(&conn).unwrap();
        fd.unwrap_or_else(|| panic!("no fd received on the console socket"))
    }

    /// Like `receive`, for a runtime that may fail instead: None when no connection comes
    /// within 10 s, or the connection closes without an fd.
    pub fn try_receive(&self) -> Option<std::os::fd::OwnedFd> {
        use std::os::fd::AsFd;
        let ready = |fd: std::os::fd::BorrowedFd| {
            let mut fds = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            let timeout = rustix::event::Timespec {
                tv_sec: 10,
                tv_nsec: 0,
            };
            rustix::event::poll(&mut fds, Some(&timeout)).unwrap_or(0) > 0
        };
        if !ready(self.listener.as_fd()) {
            return None;
        }
        let (conn, _) = self.listener.accept().ok()?;
        if !ready(conn.as_fd()) {
            return None;
        }
        recv_with_fd(&conn).ok()?.1
    }
}

/// Receives one message on a unix socket with the fd it carries (SCM_RIGHTS), as the runtime
/// sends a console master or a seccomp listener: the message's bytes (up to 64 KiB), and the
/// fd, if one came.
pub fn recv_with_fd(
    conn: &std::os::unix::net::UnixStream,
) -> std::io::Result<(Vec<u8>, Option<std::os::fd::OwnedFd>)> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut buf = vec![0u8; 65536];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(conn, &mut iov, &mut control, RecvFlags::empty())?;
    let mut fd = None;
    for c in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = c {
            fd = fds.next();
        }
    }
    let len = msg.bytes;
    buf.truncate(len);
    Ok((buf, fd))
}

/// A new pty pair as openpty(3) makes it (master and slave opened O_RDWR | O_NOCTTY, neither
/// close-on-exec): (master, slave).
pub fn openpty() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use rustix::fs::{Mode, OFlags};
    let master =
        rustix::pty::openpt(rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY)
            .unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY,
        Mode::empty(),
    )
    .unwrap();
    (master, slave)
}

/// kill(2) of one process by its pid.
pub fn kill(pid: i32, signal: rustix::process::Signal) -> std::io::Result<()> {
    let pid = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| std::io::Error::other(format!("not a process id: {pid}")))?;
    Ok(rustix::process::kill_process(pid, signal)?)
}

/// mount_setattr(2), which rustix does not wrap: sets and clears the MOUNT_ATTR_* bits
/// `set` and `clr` on the mount at `path` from `dirfd` (`flags`: AT_*).
pub fn mount_setattr(
    dirfd: std::os::fd::BorrowedFd,
    path: &std::ffi::CStr,
    flags: u32,
    set: u64,
    clr: u64,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // struct mount_attr, as the kernel defines it (size MOUNT_ATTR_SIZE_VER0).
    #[repr(C)]
    struct MountAttr {
        set: u64,
        clr: u64,
        propagation: u64,
        userns: u64,
    }
    let attr = MountAttr {
        set,
        clr,
        propagation: 0,
        userns: 0,
    };
    // SAFETY: an fd borrowed for the call, a NUL-terminated path, and a mount_attr that
    // outlives the call, passed with its size.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    match ret {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// fork(2), which rustix does not wrap: the child runs `child`, then `_exit(0)`s; the parent
/// gets the child's pid.
///
/// # Safety
/// This test process is threaded: `child` may only make raw system calls (rustix's are) on
/// memory prepared before the fork: no allocation, no locks, no std I/O.
pub unsafe fn fork_child(child: impl FnOnce()) -> std::io::Result<rustix::process::Pid> {
    // SAFETY: fork has no preconditions in the parent; the child keeps to the caller's
    // promise above and leaves by _exit, which runs no atexit handler or destructor.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            child();
            unsafe { libc::_exit(0) }
        }
        pid => Ok(rustix::process::Pid::from_raw(pid).expect("fork returns a pid")),
    }
}

/// Reads from a pty master until `needle` shows up (or 60 s pass: a bound for a busy machine,
/// not a measure); returns all read.
pub fn read_until(master: &std::os::fd::OwnedFd, needle: &str) -> String {
    read_for(master, needle, std::time::Duration::from_secs(60))
}

/// What a pty master shows until `needle` appears or `within` has passed (or the other side
/// is gone).
pub fn read_for(
    master: &std::os::fd::OwnedFd,
    needle: &str,
    within: std::time::Duration,
) -> String {
    let deadline = std::time::Instant::now() + within;
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains(needle) && std::time::Instant::now() < deadline {
        let mut fds = [rustix::event::PollFd::new(
            master,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        if rustix::event::poll(&mut fds, Some(&timeout)).unwrap_or(0) == 0 {
            continue;
        }
        match rustix::io::read(master, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    text
}

/// Writes all of `data` to a pty master.
pub fn type_in(master: &std::os::fd::OwnedFd, data: &str) {
    let mut rest = data.as_bytes();
    while !rest.is_empty() {
        let n = rustix::io::write(master, rest).unwrap();
        rest = &rest[n..];
    }
}

/// Puts a binary into a rootfs as a hard link where it can: a copy holds a writable fd on the
/// new file, a child forked meanwhile by a parallel test keeps that fd until its own exec, and
/// exec of the copy then fails with ETXTBSY. A link never opens the file for writing.
fn link_or_copy(from: &Path, to: &Path) {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    }
}

/// A private copy of the host's busybox-static (so that links to it never reach the host's
/// own file), made once per test run under target/.
fn busybox_bin() -> PathBuf {
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-rootfs");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("busybox");
        let tmp = dir.join(format!("busybox.{}", std::process::id()));
        std::fs::copy("/bin/busybox", &tmp)
            .expect("busybox-static must be installed (hack/setup.sh)");
        std::fs::rename(&tmp, &path).unwrap();
        path
    })
    .clone()
}

/// The static probe binary (crates/probe), built once per test run into target/probe.
pub fn probe_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("HULL_PROBE") {
                return PathBuf::from(p);
            }
            let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let target = ws.join("target/probe");
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "-q", "-p", "hull-probe", "--target-dir"])
                .arg(&target)
                .current_dir(&ws)
                .env("RUSTFLAGS", "-C target-feature=+crt-static")
                .status()
                .expect("build the probe");
            assert!(status.success(), "building hull-probe failed");
            target.join("debug/hull-probe")
        })
        .clone()
}

impl Bundle {
    /// A bundle whose process is the probe (at /probe in the rootfs) with `args`.
    pub fn probe(args: &[&str]) -> Bundle {
        let mut all = vec!["/probe"];
        all.extend_from_slice(args);
        let b = Bundle::busybox(&all);
        link_or_copy(&probe_bin(), &b.rootfs().join("probe"));
        b
    }
}

/// The runtime's fault points in create, in create's order: the list src/fault.rs exports
/// (`HULL_TEST_FAULT=<step>` in a debug build SIGKILLs create there), read from its source so
/// that the tests and the runtime share one list.
pub fn create_fault_steps() -> Vec<&'static str> {
    let source = include_str!("../../src/fault.rs");
    let list = source
        .split("pub const CREATE_STEPS: &[&str] = &[")
        .nth(1)
        .and_then(|rest| rest.split("];").next())
        .expect("src/fault.rs defines CREATE_STEPS");
    let steps: Vec<&str> = list.split('"').skip(1).step_by(2).collect();
    assert!(
        steps.len() > 1 && steps.iter().all(|s| s.starts_with("create:")),
        "src/fault.rs's CREATE_STEPS did not parse: {steps:?}"
    );
    steps
}
