//! hull-probe: run inside a container, prints one JSON object with what the process sees.
//! Built static (`RUSTFLAGS="-C target-feature=+crt-static"`) so it runs in any rootfs.
//!
//! `hull-probe [--stat PATH]... [--sysctl NAME]... [--write PATH]... [--notify MSG]`
//!
//! Besides what the arguments ask for, it reports how the kernel runs it: scheduling
//! attributes (sched_getattr), I/O priority (ioprio_get), execution domain
//! (personality(0xffffffff)) and uname's machine, CPU affinity, NUMA memory policy
//! (get_mempolicy), and the network interfaces of its namespace.
//!
//! `hull-probe attack-exe ...` and `hull-probe enter ...`: see `exe_attack`.

mod exe_attack;

use std::collections::BTreeMap;

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
    use rustix::process::Resource as R;
    let resources = [
        ("CPU", R::Cpu),
        ("FSIZE", R::Fsize),
        ("DATA", R::Data),
        ("STACK", R::Stack),
        ("CORE", R::Core),
        ("RSS", R::Rss),
        ("NPROC", R::Nproc),
        ("NOFILE", R::Nofile),
        ("MEMLOCK", R::Memlock),
        ("AS", R::As),
        ("LOCKS", R::Locks),
        ("SIGPENDING", R::Sigpending),
        ("MSGQUEUE", R::Msgqueue),
        ("NICE", R::Nice),
        ("RTPRIO", R::Rtprio),
        ("RTTIME", R::Rttime),
    ];
    // rustix reads RLIM_INFINITY as None; reported as the kernel's number, all ones.
    let raw = |v: Option<u64>| v.unwrap_or(u64::MAX);
    let mut out = serde_json::Map::new();
    for (n, r) in resources {
        let l = rustix::process::getrlimit(r);
        out.insert(
            format!("RLIMIT_{n}"),
            json!([raw(l.current), raw(l.maximum)]),
        );
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
    use rustix::fs::FileType;
    let st = match rustix::fs::lstat(path) {
        Ok(st) => st,
        Err(e) => return json!({"error": e.raw_os_error()}),
    };
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::CharacterDevice => "char",
        FileType::BlockDevice => "block",
        FileType::Directory => "dir",
        FileType::Symlink => "symlink",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        _ => "file",
    };
    // Only regular files are read (a device such as /dev/zero never ends).
    let readable = kind == "file" && std::fs::File::open(path).is_ok();
    json!({
        "type": kind,
        "mode": st.st_mode & 0o7777,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "major": rustix::fs::major(st.st_rdev),
        "minor": rustix::fs::minor(st.st_rdev),
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

/// sched_getattr(2) of this thread.
fn sched() -> Value {
    #[repr(C)]
    #[derive(Default)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
        util_min: u32,
        util_max: u32,
    }
    let mut a = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `a` is writable for `size` bytes for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut a as *mut SchedAttr,
            size,
            0,
        )
    };
    if ret != 0 {
        return json!({"error": std::io::Error::last_os_error().raw_os_error()});
    }
    json!({
        "policy": a.policy, "flags": a.flags, "nice": a.nice, "priority": a.priority,
        "runtime": a.runtime, "deadline": a.deadline, "period": a.period,
    })
}

/// ioprio_get(IOPRIO_WHO_PROCESS, 0): class and level.
fn ioprio() -> Value {
    // SAFETY: integer arguments only.
    let v = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, 0) };
    if v < 0 {
        return json!({"error": std::io::Error::last_os_error().raw_os_error()});
    }
    json!({"class": v >> 13, "level": v & 0x1fff})
}

/// get_mempolicy(2) of this thread: mode, mode flags, nodes.
fn mempolicy() -> Value {
    let mut mode: libc::c_int = 0;
    let mut mask = [0u64; 16];
    // SAFETY: `mode` and `mask` (1024 bits, maxnode 1025 as the kernel reads one bit less)
    // are writable for the call; no address is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut mode as *mut libc::c_int,
            mask.as_mut_ptr(),
            1025u64,
            std::ptr::null::<u8>(),
            0u64,
        )
    };
    if ret != 0 {
        return json!({"error": std::io::Error::last_os_error().raw_os_error()});
    }
    let nodes: Vec<String> = (0..1024)
        .filter(|n| mask[n / 64] & (1 << (n % 64)) != 0)
        .map(|n| n.to_string())
        .collect();
    json!({"mode": mode & 0xff, "flags": mode & !0xff, "nodes": nodes.join(",")})
}

fn machine() -> String {
    rustix::system::uname()
        .machine()
        .to_string_lossy()
        .into_owned()
}

/// The interfaces of this network namespace (from /proc/net/dev), each with what SIOCGIF*
/// tells: index, flags, MTU, MAC and IPv4 address.
fn interfaces() -> Value {
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        data: [u8; 24],
    }
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let Ok(socket) = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    ) else {
        return Value::Null;
    };
    let sock = std::os::fd::AsRawFd::as_raw_fd(&socket);
    let mut out = serde_json::Map::new();
    for line in read("/proc/net/dev").unwrap_or_default().lines().skip(2) {
        let Some((name, _)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let ask = |req: libc::c_ulong| -> Option<[u8; 24]> {
            let mut r = IfReq {
                name: [0; 16],
                data: [0; 24],
            };
            let n = name.len().min(15);
            r.name[..n].copy_from_slice(&name.as_bytes()[..n]);
            // SAFETY: `r` is a struct ifreq-sized buffer, writable for the call.
            (unsafe { libc::ioctl(sock, req as _, &mut r as *mut IfReq) } == 0).then_some(r.data)
        };
        let int = |d: [u8; 24]| i32::from_ne_bytes([d[0], d[1], d[2], d[3]]);
        let mac = ask(libc::SIOCGIFHWADDR).map(|d| {
            d[2..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        });
        let ipv4 = ask(libc::SIOCGIFADDR).map(|d| format!("{}.{}.{}.{}", d[4], d[5], d[6], d[7]));
        out.insert(
            name.to_string(),
            json!({
                "index": ask(libc::SIOCGIFINDEX).map(int),
                "flags": ask(libc::SIOCGIFFLAGS).map(|d| u16::from_ne_bytes([d[0], d[1]])),
                "mtu": ask(libc::SIOCGIFMTU).map(int),
                "mac": mac,
                "ipv4": ipv4,
            }),
        );
    }
    Value::Object(out)
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
    // What gethostname(3) reads.
    let hostname = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let report = json!({
        "pid": std::process::id(),
        // 0 for a parent outside this pid namespace, as getppid(2) answers.
        "ppid": rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get()),
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
        "sched": sched(),
        "ioprio": ioprio(),
        // SAFETY: 0xffffffff only queries the execution domain.
        "personality": unsafe { libc::personality(0xffffffff) },
        "machine": machine(),
        "cpus": st.get("Cpus_allowed_list"),
        "mempolicy": mempolicy(),
        "net": interfaces(),
        "sysctl": sysctls,
        "write": writes,
    });
    println!("{report}");
}
