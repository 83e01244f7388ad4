//! hull-probe: run inside a container, prints one JSON object with what the process sees.
//! Built static (`RUSTFLAGS="-C target-feature=+crt-static"`) so it runs in any rootfs.
//!
//! `hull-probe [--stat PATH]... [--sysctl NAME]... [--write PATH]... [--notify MSG]`
//! `hull-probe attack-exe ...` and `hull-probe enter ...`: see `exe_attack`.

mod exe_attack;

use std::collections::BTreeMap;
use std::ffi::CString;

use serde_json::{json, Value};

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// /proc/self/status fields (Cap*, NoNewPrivs, Seccomp, Uid, Gid, Groups, Umask).
fn status() -> BTreeMap<String, String> {
    read("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn mounts() -> Value {
    let text = read("/proc/self/mountinfo").unwrap_or_default();
    let list: Vec<Value> = text
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Some(json!({
                "target": l.get(4)?,
                "options": l.get(5)?,
                "propagation": l.get(6..).map(|o| o.join(" ")).unwrap_or_default(),
                "fstype": r.first()?,
                "source": r.get(1)?,
                "super": r.get(2)?,
            }))
        })
        .collect();
    Value::Array(list)
}

fn rlimits() -> Value {
    let names = [
        "CPU",
        "FSIZE",
        "DATA",
        "STACK",
        "CORE",
        "RSS",
        "NPROC",
        "NOFILE",
        "MEMLOCK",
        "AS",
        "LOCKS",
        "SIGPENDING",
        "MSGQUEUE",
        "NICE",
        "RTPRIO",
        "RTTIME",
    ];
    let mut out = serde_json::Map::new();
    for (i, n) in names.iter().enumerate() {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into `r`, valid for the call.
        if unsafe { libc::getrlimit(i as _, &mut r) } == 0 {
            out.insert(format!("RLIMIT_{n}"), json!([r.rlim_cur, r.rlim_max]));
        }
    }
    Value::Object(out)
}

fn fds() -> Value {
    let mut out = serde_json::Map::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let target = std::fs::read_link(e.path())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            // The directory handle read_dir itself holds shows up too; leave it out.
            if target.starts_with("/proc/") && target.ends_with("/fd") {
                continue;
            }
            out.insert(name, json!(target));
        }
    }
    Value::Object(out)
}

fn namespaces() -> Value {
    let mut out = serde_json::Map::new();
    for ns in ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"] {
        if let Ok(l) = std::fs::read_link(format!("/proc/self/ns/{ns}")) {
            out.insert(ns.into(), json!(l.display().to_string()));
        }
    }
    Value::Object(out)
}

fn stat(path: &str) -> Value {
    let Ok(c) = CString::new(path) else {
        return Value::Null;
    };
    // SAFETY: an all-zero stat is a valid out-buffer for lstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` is writable for the call.
    if unsafe { libc::lstat(c.as_ptr(), &mut st) } != 0 {
        return json!({"error": std::io::Error::last_os_error().raw_os_error()});
    }
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFCHR => "char",
        libc::S_IFBLK => "block",
        libc::S_IFDIR => "dir",
        libc::S_IFLNK => "symlink",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        _ => "file",
    };
    // Only regular files are read (a device such as /dev/zero never ends).
    let readable = kind == "file" && std::fs::File::open(path).is_ok();
    json!({
        "type": kind,
        "mode": st.st_mode & 0o7777,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "major": libc::major(st.st_rdev),
        "minor": libc::minor(st.st_rdev),
        "link": std::fs::read_link(path).ok().map(|p| p.display().to_string()),
        "readable": readable,
    })
}

/// What writing to `path` gives: 0, or the errno.
fn try_write(path: &str) -> i32 {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => 0,
        Err(e) => e.raw_os_error().unwrap_or(-1),
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    match argv.get(1).map(String::as_str) {
        Some("attack-exe") => std::process::exit(exe_attack::attack(&argv[2..])),
        Some("enter") => std::process::exit(exe_attack::enter(&argv[2..])),
        _ => {}
    }
    let mut stats = serde_json::Map::new();
    let mut sysctls = serde_json::Map::new();
    let mut writes = serde_json::Map::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(v) = it.next() else { break };
        match a.as_str() {
            "--stat" => {
                stats.insert(v.clone(), stat(v));
            }
            "--sysctl" => {
                let path = format!("/proc/sys/{}", v.replace('.', "/"));
                sysctls.insert(v.clone(), json!(read(&path).map(|s| s.trim().to_string())));
            }
            "--write" => {
                writes.insert(v.clone(), json!(try_write(v)));
            }
            "--notify" => {
                // sd_notify: one datagram to $NOTIFY_SOCKET.
                let path = std::env::var("NOTIFY_SOCKET").unwrap_or_default();
                let sent = std::os::unix::net::UnixDatagram::unbound()
                    .and_then(|s| s.send_to(v.as_bytes(), &path));
                writes.insert(format!("notify:{path}"), json!(sent.is_ok()));
            }
            _ => {}
        }
    }
    let st = status();
    let mut host = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into `host`.
    unsafe { libc::gethostname(host.as_mut_ptr().cast(), host.len()) };
    let hostname =
        String::from_utf8_lossy(host.split(|b| *b == 0).next().unwrap_or_default()).into_owned();
    let report = json!({
        "pid": std::process::id(),
        // SAFETY: getppid has no preconditions.
        "ppid": unsafe { libc::getppid() },
        "uid": st.get("Uid"),
        "gid": st.get("Gid"),
        "groups": st.get("Groups"),
        "umask": st.get("Umask"),
        "cwd": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
        "hostname": hostname,
        "domainname": read("/proc/sys/kernel/domainname").map(|s| s.trim().to_string()),
        "env": std::env::vars().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "caps": {
            "bounding": st.get("CapBnd"), "effective": st.get("CapEff"), "permitted": st.get("CapPrm"),
            "inheritable": st.get("CapInh"), "ambient": st.get("CapAmb"),
        },
        "no_new_privs": st.get("NoNewPrivs"),
        "seccomp": st.get("Seccomp"),
        "rlimits": rlimits(),
        "oom_score_adj": read("/proc/self/oom_score_adj").map(|s| s.trim().to_string()),
        "fds": fds(),
        "mounts": mounts(),
        "namespaces": namespaces(),
        "cgroup": read("/proc/self/cgroup"),
        "stat": stats,
        "sysctl": sysctls,
        "write": writes,
    });
    println!("{report}");
}
