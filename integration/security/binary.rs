//! CVE-2019-5736: the runtime's own binary. Init (until `start`) and an exec'd process (until
//! its execve) are copies of the runtime in the container's pid namespace; a container
//! process that opens their /proc/PID/exe holds the runtime's file, and can write it as soon
//! as no runtime process runs it any more. hull re-executes create, run and exec through a
//! read-only clone of its executable first (src/security/sealed_exe.rs), so the file behind
//! /proc/PID/exe can never be opened for writing.
//!
//! Two ways in: the original exploit (the runtime execs a script starting `#!/proc/self/exe`,
//! which makes the exec'd process a copy of the runtime, with the container's credentials;
//! it needs the runtime's dynamic loader and libraries in the image, as any distribution
//! image has them), and, with CAP_SYS_PTRACE, /proc/PID/exe of a runtime process in the
//! container's pid namespace. The attacker is the probe (`hull-probe attack-exe`), and every
//! attack targets a private copy of a binary, never the build. The controls run the same
//! attacker against a runtime without the protection and must see the file overwritten: the
//! tests can tell a refusal from a miss. The VM lane runs the same attacks on Linux 6.1
//! (hack/vm/guest-security.sh).

use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hull_integration::*;
use serde_json::{json, Value};

/// What the probe appends when the attack works (crates/probe/src/exe_attack.rs).
const PAYLOAD: &[u8] = b"\n#hull-probe: overwritten through /proc/PID/exe (CVE-2019-5736)\n";

/// A private copy of a binary, and its bytes as they were.
struct Victim {
    _dir: TempDir,
    bin: PathBuf,
    original: Vec<u8>,
}

impl Victim {
    fn copy_of(src: &Path, name: &str) -> Victim {
        let dir = TempDir::new("hull-5736");
        let bin = dir.path().join(name);
        std::fs::copy(src, &bin).unwrap();
        let original = std::fs::read(&bin).unwrap();
        Victim {
            _dir: dir,
            bin,
            original,
        }
    }

    fn unchanged(&self) -> bool {
        std::fs::read(&self.bin).unwrap() == self.original
    }

    fn id(&self) -> (u64, u64) {
        let m = std::fs::metadata(&self.bin).unwrap();
        (m.dev(), m.ino())
    }
}

/// A container that idles, with the probe at /probe and a writable root for the reports.
fn target_bundle() -> Bundle {
    let mut b = Bundle::probe(&[]);
    b.config["process"]["args"] = json!(["sleep", "1000"]);
    b.config["root"]["readonly"] = json!(false);
    b.save();
    b
}

/// The libraries and dynamic loader of `bin` (as `ldd` lists them), copied into the rootfs:
/// a distribution image has them, and the kernel needs them to run the runtime's binary as
/// a script's interpreter inside the container.
fn with_libraries_of(b: &Bundle, bin: &Path) {
    let out = Command::new("ldd").arg(bin).output().unwrap();
    for lib in stdout(&out)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let to = b.rootfs().join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(lib, &to).unwrap();
    }
}

/// `#!/proc/self/exe` at /evil.
fn with_evil_script(b: &Bundle) {
    let evil = b.rootfs().join("evil");
    std::fs::write(&evil, "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(&evil, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// Starts the attacker in the container: an exec'd probe with CAP_SYS_PTRACE.
fn start_attacker(rt: &Runtime, id: &str, target: &str, report: &str) {
    let out = rt.detached(&[
        "exec",
        "-d",
        "--cap",
        "CAP_SYS_PTRACE",
        id,
        "/probe",
        "attack-exe",
        target,
        &format!("/{report}"),
        "30",
    ]);
    ok(&out);
}

/// The attacker's report so far, one JSON object per step.
fn events(b: &Bundle, report: &str) -> Vec<Value> {
    std::fs::read_to_string(b.rootfs().join(report))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits for an event named one of `names` in the report.
fn wait_event(b: &Bundle, report: &str, names: &[&str], secs: u64) -> Option<Value> {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if let Some(e) = events(b, report)
            .into_iter()
            .find(|e| names.contains(&e["event"].as_str().unwrap_or_default()))
        {
            return Some(e);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The handle the attacker took is on the victim's own file (same device and inode): the
/// attack reached the runtime's binary and only the write was refused.
fn assert_holds(handle: &Value, victim: &Victim, b: &Bundle, report: &str) {
    assert_eq!(
        (handle["dev"].as_u64(), handle["ino"].as_u64()),
        (Some(victim.id().0), Some(victim.id().1)),
        "the attacker's handle is on the runtime's binary: {:?}",
        events(b, report)
    );
}

/// The end of an attack that reached the binary: refused with EROFS, and the file as it was.
fn assert_refused(victim: &Victim, b: &Bundle, report: &str) {
    let end = wait_event(b, report, &["refused", "overwritten", "timeout"], 40);
    assert!(victim.unchanged(), "the runtime binary was modified");
    let end = end.unwrap_or_else(|| panic!("no outcome: {:?}", events(b, report)));
    assert_eq!(end["event"], "refused", "{:?}", events(b, report));
    assert_eq!(end["errno"], libc::EROFS, "{:?}", events(b, report));
}

/// The original exploit: the container's init (the attacker) waits for a process whose
/// argv[0] is /proc/self/exe, which `exec` of /evil makes out of the runtime's exec'd child.
#[test]
fn exec_of_a_proc_self_exe_script_cannot_write_the_runtime() {
    let victim = Victim::copy_of(&hull_bin(), "hull");
    let rt = Runtime::with_bin(victim.bin.clone());
    let mut b = target_bundle();
    b.config["process"]["args"] = json!(["/probe", "attack-exe", "interp", "/report", "60"]);
    b.save();
    with_libraries_of(&b, &victim.bin);
    with_evil_script(&b);
    let id = unique("5736-interp");
    ok(&rt.run_detached(&id, &b));
    wait_event(&b, "report", &["waiting"], 15).expect("the attacker started");
    // The victim lives only as long as hull takes to refuse its argv: exec until the
    // attacker has caught one.
    for _ in 0..40 {
        // (Against an unprotected runtime the attacker may already hold the file open for
        // writing: then the binary cannot even be started.)
        let _ = rt
            .command()
            .args(["exec", &id, "/evil"])
            .stdin(Stdio::null())
            .output();
        if wait_event(&b, "report", &["handle"], 0).is_some() {
            break;
        }
    }
    let handle = wait_event(&b, "report", &["handle"], 1)
        .unwrap_or_else(|| panic!("no handle in 40 execs: {:?}", events(&b, "report")));
    assert_holds(&handle, &victim, &b, "report");
    assert_refused(&victim, &b, "report");
}

#[test]
fn created_init_cannot_be_written_through_proc_exe() {
    let victim = Victim::copy_of(&hull_bin(), "hull");
    let rt = Runtime::with_bin(victim.bin.clone());
    let b = target_bundle();
    let id = unique("5736-init");
    ok(&rt.create(&id, &b));
    // Init waits for `start` as a copy of the runtime: pid 1 in the container.
    start_attacker(&rt, &id, "pid:1", "report");
    let handle = wait_event(&b, "report", &["handle"], 15)
        .unwrap_or_else(|| panic!("no handle on init's exe: {:?}", events(&b, "report")));
    assert_holds(&handle, &victim, &b, "report");
    // Init execs the container's program: no process runs the runtime binary any more.
    ok(&rt.cmd(&["start", &id]));
    assert_refused(&victim, &b, "report");
}

#[test]
fn exec_process_cannot_be_written_through_proc_exe() {
    let victim = Victim::copy_of(&hull_bin(), "hull");
    let rt = Runtime::with_bin(victim.bin.clone());
    let dir = TempDir::new("hull-5736-agent");
    let sock = dir.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // A seccomp agent holds the exec'd process at its capset (after it joined the
    // container, before its execve) while the attacker looks for it: no race.
    let mut b = target_bundle();
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock,
        "syscalls": [{"names": ["capset"], "action": "SCMP_ACT_NOTIFY"}]});
    b.save();
    let (go, held) = std::sync::mpsc::channel::<()>();
    // Listeners arrive in order: init, the attacker's exec, the victim exec (held).
    let agent = std::thread::spawn(move || seccomp_agent(listener, 3, held));
    let id = unique("5736-exec");
    ok(&rt.create(&id, &b));
    ok(&rt.cmd(&["start", &id]));
    let marker = unique("victim-exec");
    start_attacker(&rt, &id, &format!("cmdline:{marker}"), "report");
    let mut exec = rt
        .command()
        .args(["exec", &id, "/bin/true", &marker])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let handle = wait_event(&b, "report", &["handle"], 15);
    let _ = go.send(());
    let status = exec.wait().unwrap();
    let handle = handle.unwrap_or_else(|| {
        panic!(
            "no handle on the exec'd process: {:?}",
            events(&b, "report")
        )
    });
    assert!(status.success(), "the held exec went on once released");
    assert_holds(&handle, &victim, &b, "report");
    assert_refused(&victim, &b, "report");
    drop(rt);
    let _ = agent.join();
}

/// What init runs is a detached read-only clone of hull: not even the host's root (with
/// CAP_SYS_ADMIN, which a privileged container would have) can make it writable, clone it,
/// or bind it anywhere, and writing through it fails.
#[test]
fn the_clone_cannot_be_made_writable_even_by_root() {
    let victim = Victim::copy_of(&hull_bin(), "hull");
    let rt = Runtime::with_bin(victim.bin.clone());
    let b = target_bundle();
    let id = unique("5736-unwrap");
    ok(&rt.create(&id, &b));
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    let exe = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(format!("/proc/{pid}/exe"))
        .unwrap();
    let fd = exe.as_raw_fd();
    // Clearing MOUNT_ATTR_RDONLY on the binary's own mount.
    let set = mount_setattr(
        std::os::fd::AsFd::as_fd(&exe),
        c"",
        libc::AT_EMPTY_PATH as u32,
        0,
        0x1,
    );
    assert_eq!(
        set.err().and_then(|e| e.raw_os_error()),
        Some(libc::EINVAL),
        "mount_setattr clearing read-only"
    );
    let cloned = rustix::mount::open_tree(
        &exe,
        "",
        rustix::mount::OpenTreeFlags::OPEN_TREE_CLONE | rustix::mount::OpenTreeFlags::AT_EMPTY_PATH,
    );
    assert_eq!(
        cloned.err(),
        Some(rustix::io::Errno::INVAL),
        "open_tree cloning it"
    );
    let path = format!("/proc/self/fd/{fd}");
    let remount = rustix::mount::mount_remount(path.as_str(), rustix::mount::MountFlags::BIND, c"");
    assert_eq!(
        remount,
        Err(rustix::io::Errno::INVAL),
        "remounting it writable"
    );
    let dir = TempDir::new("hull-5736-bind");
    let target = dir.path().join("exe");
    std::fs::write(&target, b"").unwrap();
    let bind = rustix::mount::mount_bind(path.as_str(), &target);
    if bind.is_ok() {
        let _ = rustix::mount::unmount(&target, rustix::mount::UnmountFlags::empty());
    }
    assert_eq!(bind, Err(rustix::io::Errno::INVAL), "binding it elsewhere");
    let write = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| e.raw_os_error());
    assert_eq!(
        write.err(),
        Some(Some(libc::EROFS)),
        "opening it for writing"
    );
    assert!(victim.unchanged());
}

/// The controls: the same attackers against what a runtime without the protection does
/// (fork, join the container's namespaces, exec), with a copy of the probe as that runtime.
/// The file must be overwritten, or the tests above prove nothing.
#[test]
fn control_proc_self_exe_script_overwrites_an_unprotected_runtime() {
    let victim = Victim::copy_of(&probe_bin(), "unprotected-runtime");
    let rt = Runtime::new();
    let mut b = target_bundle();
    b.config["process"]["args"] = json!(["/probe", "attack-exe", "interp", "/report", "60"]);
    b.save();
    with_evil_script(&b);
    let id = unique("5736-control-interp");
    ok(&rt.run_detached(&id, &b));
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap().to_string();
    wait_event(&b, "report", &["waiting"], 15).expect("the attacker started");
    // Its child drops every capability (as a container's process) and execs /evil.
    for _ in 0..40 {
        let _ = Command::new(&victim.bin)
            .args(["enter", &pid, "--drop-caps", "--", "/evil"])
            .stdin(Stdio::null())
            .output();
        if wait_event(&b, "report", &["handle"], 0).is_some() {
            break;
        }
    }
    assert_overwritten(&victim, &b, "report");
}

#[test]
fn control_ptrace_overwrites_an_unprotected_runtime() {
    let victim = Victim::copy_of(&probe_bin(), &unique("unprotected-runtime"));
    let name = victim
        .bin
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let rt = Runtime::new();
    let b = target_bundle();
    let id = unique("5736-control");
    ok(&rt.run_detached(&id, &b));
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    start_attacker(&rt, &id, &format!("cmdline:{name}"), "report");
    // Give the attacker a moment to be scanning, then run the unprotected "runtime": its
    // child sits in the container's pid namespace as a copy of that binary for 1.5 s.
    wait_event(&b, "report", &["waiting"], 15).expect("the attacker started");
    let out = Command::new(&victim.bin)
        .args([
            "enter",
            &pid.to_string(),
            "--delay",
            "1500",
            "--",
            "/bin/true",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "enter: {}", stderr(&out));
    assert_overwritten(&victim, &b, "report");
}

/// The end of an attack on an unprotected runtime: the payload is in the file.
fn assert_overwritten(victim: &Victim, b: &Bundle, report: &str) {
    let end = wait_event(b, report, &["refused", "overwritten", "timeout"], 40);
    assert_eq!(
        end.as_ref().map(|e| e["event"].clone()),
        Some(json!("overwritten")),
        "{:?}",
        events(b, report)
    );
    let now = std::fs::read(&victim.bin).unwrap();
    assert!(
        !victim.unchanged() && now.ends_with(PAYLOAD),
        "the copy was written"
    );
}

/// A seccomp agent: takes the listeners as they arrive and lets every notified call go on,
/// except that the first call on listener number `hold` waits for `go`.
fn seccomp_agent(
    listener: std::os::unix::net::UnixListener,
    hold: usize,
    go: std::sync::mpsc::Receiver<()>,
) {
    let mut go = Some(go);
    for n in 1..=hold {
        let Ok((conn, _)) = listener.accept() else {
            return;
        };
        let Some((_, Some(fd))) = recv_with_fd(&conn).ok() else {
            return;
        };
        let wait = if n == hold { go.take() } else { None };
        std::thread::spawn(move || {
            let mut wait = wait;
            while let Ok(req) = libseccomp::ScmpNotifReq::receive(fd.as_raw_fd()) {
                if let Some(go) = wait.take() {
                    let _ = go.recv_timeout(Duration::from_secs(30));
                }
                let resp = libseccomp::ScmpNotifResp::new_continue(
                    req.id,
                    libseccomp::ScmpNotifRespFlags::empty(),
                );
                if resp.respond(fd.as_raw_fd()).is_err() {
                    break;
                }
            }
        });
    }
}
