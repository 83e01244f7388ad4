//! The cgroup v2 device filter on the real kernel: programs are built from rules, loaded,
//! attached to a cgroup made for the test under this process's own cgroup2 directory, and
//! judged by effect on a forked child moved into it (opening device nodes, mknod).
//!
//! Works on a pure v2 host and on a hybrid one (the cgroup2 mount there has no controllers,
//! but device programs attach to any cgroup2 directory). Needs root; elsewhere every test
//! reports "skipped" with the reason. Its own harness: tests run one at a time on the main
//! thread, which is also what makes fork() in them safe.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hull_cgroups::bpf::{self, load, program};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};
use rustix::fs::{makedev, mknodat, FileType, Mode, CWD};
use rustix::pipe::pipe;
use rustix::process::{kill_process, waitpid, Pid, Signal, WaitOptions, WaitStatus};
use serde_json::json;

const EPERM: i32 = libc::EPERM;

type Test = fn(&Host);

fn main() {
    let tests: &[(&str, Test)] = &[
        (
            "verifier_accepts_generated_programs",
            verifier_accepts_generated_programs,
        ),
        ("verifier_log_is_in_the_error", verifier_log_is_in_the_error),
        (
            "filter_decides_opens_and_mknod",
            filter_decides_opens_and_mknod,
        ),
        ("last_matching_rule_wins", last_matching_rule_wins),
        (
            "update_replaces_without_a_window",
            update_replaces_without_a_window,
        ),
        (
            "v2_manager_sets_and_replaces_the_filter",
            v2_manager_sets_and_replaces_the_filter,
        ),
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with('-'));
    let chosen: Vec<_> = tests
        .iter()
        .filter(|(name, _)| filter.is_none_or(|f| name.contains(f.as_str())))
        .collect();

    println!("\nrunning {} tests", chosen.len());
    let host = match Host::new() {
        Ok(h) => h,
        Err(why) => {
            for (name, _) in &chosen {
                println!("test {name} ... skipped: {why}");
            }
            println!(
                "\ntest result: skipped. 0 passed; 0 failed; {} skipped ({why})\n",
                chosen.len()
            );
            return;
        }
    };
    let mut failed = Vec::new();
    for (name, test) in &chosen {
        let t0 = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| test(&host)));
        let ms = t0.elapsed().as_millis();
        if r.is_ok() {
            println!("test {name} ... ok ({ms} ms)");
        } else {
            println!("test {name} ... FAILED ({ms} ms)");
            failed.push(*name);
        }
    }
    drop(host);
    let passed = chosen.len() - failed.len();
    if failed.is_empty() {
        println!("\ntest result: ok. {passed} passed; 0 failed\n");
    } else {
        println!(
            "\ntest result: FAILED. {passed} passed; {} failed: {}\n",
            failed.len(),
            failed.join(", ")
        );
        std::process::exit(101);
    }
}

/// Where the tests make their cgroups: a directory under this process's own cgroup2
/// directory, removed at the end.
struct Host {
    base: PathBuf,
    scratch: PathBuf,
}

impl Host {
    fn new() -> Result<Host, String> {
        if !rustix::process::geteuid().is_root() {
            return Err("needs root (bpf(2) and writes to cgroup2)".into());
        }
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mount = info
            .lines()
            .find_map(|l| {
                let (left, right) = l.split_once(" - ")?;
                (right.split(' ').next()? == "cgroup2").then(|| left.split(' ').nth(4))?
            })
            .ok_or("no cgroup2 hierarchy is mounted")?;
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("0::").map(String::from))
            .ok_or("this process has no cgroup2 line in /proc/self/cgroup")?;
        let pid = std::process::id();
        let base = Path::new(mount)
            .join(own.trim_start_matches('/'))
            .join(format!("hull-bpf-test-{pid}"));
        std::fs::create_dir(&base).map_err(|e| format!("create {}: {e}", base.display()))?;
        let scratch = std::env::temp_dir().join(format!("hull-bpf-test-{pid}"));
        std::fs::create_dir_all(&scratch)
            .map_err(|e| format!("create {}: {e}", scratch.display()))?;
        Ok(Host { base, scratch })
    }

    /// A fresh cgroup for one test, removed when dropped (pass or fail).
    fn cgroup(&self, name: &str) -> Cgroup {
        let dir = self.base.join(name);
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Cgroup(dir)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
        if let Err(e) = std::fs::remove_dir(&self.base) {
            eprintln!("warning: could not remove {}: {e}", self.base.display());
        }
    }
}

struct Cgroup(PathBuf);

impl Drop for Cgroup {
    fn drop(&mut self) {
        // A child left behind by a failed test: kill it and move it out, so rmdir works.
        let procs = std::fs::read_to_string(self.0.join("cgroup.procs")).unwrap_or_default();
        let parent = self.0.parent().unwrap().join("cgroup.procs");
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            if let Some(pid) = Pid::from_raw(pid) {
                let _ = kill_process(pid, Signal::KILL);
            }
            let _ = std::fs::write(&parent, pid.to_string());
        }
        for _ in 0..100 {
            match std::fs::remove_dir(&self.0) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(e) => {
                    eprintln!("warning: could not remove {}: {e}", self.0.display());
                    return;
                }
                Ok(()) => return,
            }
        }
    }
}

fn dev(
    allow: bool,
    typ: &str,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    serde_json::from_value(json!({
        "allow": allow, "type": typ, "major": major, "minor": minor, "access": access,
    }))
    .unwrap()
}

/// What a probe child tries, in the cgroup.
#[derive(Debug, Clone, Copy)]
enum Op {
    Read(&'static str),
    Write(&'static str),
    ReadWrite(&'static str),
    /// mknod of a character device node with this major:minor in a scratch directory.
    MknodChar(u64, u64),
}

fn errno(r: std::io::Result<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => e.raw_os_error().unwrap_or(-1),
    }
}

fn attempt(op: Op, scratch: &Path) -> i32 {
    let open = |path: &str, read: bool, write: bool| {
        errno(
            OpenOptions::new()
                .read(read)
                .write(write)
                .open(path)
                .map(drop),
        )
    };
    match op {
        Op::Read(p) => open(p, true, false),
        Op::Write(p) => open(p, false, true),
        Op::ReadWrite(p) => open(p, true, true),
        Op::MknodChar(major, minor) => {
            let node = scratch.join(format!("node-{}", std::process::id()));
            let r = mknodat(
                CWD,
                &node,
                FileType::CharacterDevice,
                Mode::from_bits_truncate(0o600),
                makedev(major.try_into().unwrap(), minor.try_into().unwrap()),
            );
            let _ = std::fs::remove_file(&node);
            errno(r.map_err(std::io::Error::from))
        }
    }
}

/// A forked child running a probe inside a cgroup.
struct Child {
    pid: Pid,
    out: File,
    reaped: bool,
}

impl Child {
    /// Forks a child that waits until `join` has put it in a cgroup, then runs `body` there
    /// and sends back its numbers.
    fn start(join: impl FnOnce(i32), body: impl FnOnce() -> Vec<i64>) -> Child {
        let (go_r, go_w): (OwnedFd, OwnedFd) = pipe().unwrap();
        let (out_r, out_w): (OwnedFd, OwnedFd) = pipe().unwrap();
        // SAFETY: this harness runs tests one at a time on its only thread, so the child is
        // a complete copy; it only runs the closure and leaves with _exit.
        match unsafe { libc::fork() } {
            -1 => panic!("fork: {}", std::io::Error::last_os_error()),
            0 => {
                drop((go_w, out_r));
                let mut byte = [0u8; 1];
                let code = match File::from(go_r).read_exact(&mut byte) {
                    Ok(()) => {
                        let out: Vec<u8> = body().iter().flat_map(|v| v.to_le_bytes()).collect();
                        i32::from(File::from(out_w).write_all(&out).is_err())
                    }
                    // The parent gave up (its end closed): do nothing in the wrong cgroup.
                    Err(_) => 2,
                };
                // SAFETY: ends the forked child without running exit handlers or unwinding
                // into the harness's copy.
                unsafe { libc::_exit(code) }
            }
            child => {
                let child = Pid::from_raw(child).unwrap();
                drop((go_r, out_w));
                // Made before `join` runs, so a failing join still kills and reaps it.
                let c = Child {
                    pid: child,
                    out: File::from(out_r),
                    reaped: false,
                };
                join(child.as_raw_pid());
                File::from(go_w).write_all(b"g").unwrap();
                c
            }
        }
    }

    fn finish(mut self) -> Vec<i64> {
        let mut out = Vec::new();
        self.out.read_to_end(&mut out).unwrap();
        let status = wait(self.pid);
        self.reaped = true;
        assert_eq!(status.exit_status(), Some(0), "probe child: {status:?}");
        out.chunks(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Not reaped yet only when a test failed on the way: make sure it is gone. (After
        // finish() the pid may already belong to someone else.)
        if !self.reaped {
            let _ = kill_process(self.pid, Signal::KILL);
            let _ = waitpid(Some(self.pid), WaitOptions::empty());
        }
    }
}

fn wait(pid: Pid) -> WaitStatus {
    let (_, status) = waitpid(Some(pid), WaitOptions::empty())
        .unwrap()
        .expect("a status");
    status
}

fn in_child(join: impl FnOnce(i32), body: impl FnOnce() -> Vec<i64>) -> Vec<i64> {
    Child::start(join, body).finish()
}

fn join_dir(dir: &Path) -> impl FnOnce(i32) + '_ {
    move |pid| std::fs::write(dir.join("cgroup.procs"), pid.to_string()).unwrap()
}

/// Each op's errno (0: it worked), tried by a child inside the cgroup at `dir`.
fn probe(host: &Host, dir: &Path, ops: &[Op]) -> Vec<i32> {
    in_child(join_dir(dir), || {
        ops.iter()
            .map(|op| i64::from(attempt(*op, &host.scratch)))
            .collect()
    })
    .into_iter()
    .map(|v| v as i32)
    .collect()
}

/// runc's usual list: deny everything, then the devices every container gets.
fn runc_like() -> Vec<LinuxDeviceCgroup> {
    let mut v = vec![dev(false, "a", None, None, "rwm")];
    v.extend([
        dev(true, "c", None, None, "m"),
        dev(true, "b", None, None, "m"),
        dev(true, "c", Some(1), Some(3), "rwm"),
        dev(true, "c", Some(1), Some(5), "rwm"),
        dev(true, "c", Some(1), Some(7), "rwm"),
        dev(true, "c", Some(1), Some(8), "rwm"),
        dev(true, "c", Some(1), Some(9), "rwm"),
        dev(true, "c", Some(5), Some(0), "rwm"),
        dev(true, "c", Some(5), Some(1), "rwm"),
        dev(true, "c", Some(5), Some(2), "rwm"),
        dev(true, "c", Some(136), None, "rwm"),
        dev(true, "c", Some(10), Some(200), "rwm"),
    ]);
    v
}

fn verifier_accepts_generated_programs(_: &Host) {
    let many: Vec<_> = (0..2000)
        .map(|i| {
            dev(
                i % 3 != 0,
                ["a", "b", "c"][i % 3],
                Some(i as i64 % 300),
                (i % 7 != 0).then_some(i as i64),
                ["r", "w", "m", "rw", "rwm", "wm"][i % 6],
            )
        })
        .collect();
    // Every mix of allow/deny and access on the same few devices: the paths that go on
    // past a matching rule are the verifier's hard case.
    let same: Vec<_> = (0..2000)
        .map(|i| {
            let access = ["r", "w", "m", "rw", "wm", "rm"][i % 6];
            dev(i % 4 != 1, "c", Some(1), Some(3 + (i % 2) as i64), access)
        })
        .collect();
    let wild: Vec<_> = (0..2000)
        .map(|i| {
            dev(
                i % 5 < 2,
                ["a", "b", "c"][i % 3],
                None,
                None,
                ["r", "w", "m", "rw", "wm"][i % 5],
            )
        })
        .collect();
    let lists: Vec<(&str, Vec<LinuxDeviceCgroup>)> = vec![
        ("empty", vec![]),
        ("runc's defaults", runc_like()),
        ("allow all", vec![dev(true, "a", None, None, "rwm")]),
        (
            "allow all, then holes",
            vec![
                dev(true, "a", None, None, "rwm"),
                dev(false, "c", Some(1), Some(5), "rwm"),
                dev(false, "b", None, None, "w"),
            ],
        ),
        (
            "ends in deny all",
            vec![
                dev(true, "c", Some(1), Some(3), "rwm"),
                dev(false, "a", None, None, "rwm"),
            ],
        ),
        (
            "split access",
            vec![
                dev(true, "c", Some(1), Some(3), "r"),
                dev(true, "c", Some(1), Some(3), "w"),
                dev(false, "c", Some(1), None, "m"),
            ],
        ),
        ("2000 rules", many),
        ("2000 partial rules on one device", same),
        ("2000 partial rules, all wildcards", wild),
    ];
    for (what, rules) in lists {
        if let Err(e) = bpf::check(&rules) {
            panic!("{what}: {e}");
        }
    }
}

fn verifier_log_is_in_the_error(_: &Host) {
    // Returns without setting R0: the verifier must refuse it and say so.
    let bad = [program::Insn {
        code: program::EXIT,
        regs: 0,
        off: 0,
        imm: 0,
    }];
    let e = load::load(&bad).unwrap_err().to_string();
    assert!(e.contains("verifier log") && e.contains("R0"), "{e}");
}

fn filter_decides_opens_and_mknod(host: &Host) {
    let cg = host.cgroup("opens");
    let before = probe(host, &cg.0, &[Op::Read("/dev/zero"), Op::MknodChar(1, 3)]);
    assert_eq!(before, [0, 0], "no filter yet");

    bpf::set_devices(
        &cg.0,
        &[
            dev(false, "a", None, None, "rwm"),
            dev(true, "c", Some(1), Some(3), "rw"),
        ],
    )
    .unwrap();
    assert_eq!(bpf::attached(&cg.0).unwrap().len(), 1);
    let got = probe(
        host,
        &cg.0,
        &[
            Op::Read("/dev/null"),
            Op::ReadWrite("/dev/null"),
            Op::Read("/dev/zero"),
            Op::Write("/dev/full"),
            Op::MknodChar(1, 3),
            Op::MknodChar(1, 5),
        ],
    );
    assert_eq!(
        got,
        [0, 0, EPERM, EPERM, EPERM, EPERM],
        "null rw; zero, full refused; no m, so no mknod"
    );

    // m granted on every char device: mknod works, opening what was not granted still not.
    bpf::set_devices(
        &cg.0,
        &[
            dev(false, "a", None, None, "rwm"),
            dev(true, "c", None, None, "m"),
            dev(true, "c", Some(1), Some(3), "rw"),
        ],
    )
    .unwrap();
    let got = probe(
        host,
        &cg.0,
        &[
            Op::MknodChar(1, 5),
            Op::Read("/dev/zero"),
            Op::Read("/dev/null"),
        ],
    );
    assert_eq!(got, [0, EPERM, 0]);

    // The process outside the cgroup is not affected.
    assert_eq!(attempt(Op::Read("/dev/zero"), &host.scratch), 0);
}

fn last_matching_rule_wins(host: &Host) {
    let cg = host.cgroup("order");
    // Allowed, then w taken back, then m given to all char devices.
    bpf::set_devices(
        &cg.0,
        &[
            dev(true, "c", Some(1), Some(3), "rwm"),
            dev(false, "c", Some(1), Some(3), "w"),
            dev(true, "c", None, None, "m"),
        ],
    )
    .unwrap();
    let got = probe(
        host,
        &cg.0,
        &[
            Op::Read("/dev/null"),
            Op::Write("/dev/null"),
            Op::ReadWrite("/dev/null"),
            Op::MknodChar(1, 3),
            Op::Read("/dev/zero"),
        ],
    );
    assert_eq!(got, [0, EPERM, EPERM, 0, EPERM]);

    // The same rules the other way round: the allow comes last and wins.
    bpf::set_devices(
        &cg.0,
        &[
            dev(false, "c", Some(1), Some(3), "w"),
            dev(true, "c", Some(1), Some(3), "rwm"),
        ],
    )
    .unwrap();
    let got = probe(
        host,
        &cg.0,
        &[Op::ReadWrite("/dev/null"), Op::Read("/dev/zero")],
    );
    assert_eq!(got, [0, EPERM]);

    // Allow everything, then a hole: the later deny wins over the earlier wildcard.
    bpf::set_devices(
        &cg.0,
        &[
            dev(true, "a", None, None, "rwm"),
            dev(false, "c", Some(1), Some(5), "rwm"),
        ],
    )
    .unwrap();
    let got = probe(
        host,
        &cg.0,
        &[
            Op::Read("/dev/zero"),
            Op::Read("/dev/null"),
            Op::Write("/dev/full"),
            Op::MknodChar(1, 5),
        ],
    );
    assert_eq!(got, [EPERM, 0, 0, EPERM]);
    assert_eq!(
        bpf::attached(&cg.0).unwrap().len(),
        1,
        "each set replaced the one before"
    );
}

fn update_replaces_without_a_window(host: &Host) {
    let cg = host.cgroup("update");
    // Both programs allow null and refuse zero; they differ on full. While the child opens
    // null and zero as fast as it can, the programs are swapped over and over: null must
    // never fail (no moment with a wrong filter) and zero never open (no moment without one).
    let a = [
        dev(false, "a", None, None, "rwm"),
        dev(true, "c", Some(1), Some(3), "rw"),
        dev(true, "c", Some(1), Some(7), "rw"),
    ];
    let b = [
        dev(false, "a", None, None, "rwm"),
        dev(true, "c", Some(1), Some(3), "rw"),
    ];
    bpf::set_devices(&cg.0, &a).unwrap();
    let first = bpf::attached(&cg.0).unwrap();
    assert_eq!(first.len(), 1);

    // Counted, not timed (a busy machine must not fail it): the child tries until the parent
    // has made its swaps and says stop, and at least 100 times.
    let (stop_r, stop_w): (OwnedFd, OwnedFd) = pipe().unwrap();
    let child = Child::start(join_dir(&cg.0), move || {
        let stopped = || {
            use rustix::event::{poll, PollFd, PollFlags, Timespec};
            let mut fds = [PollFd::new(&stop_r, PollFlags::IN)];
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            poll(&mut fds, Some(&zero)).unwrap_or(0) > 0
        };
        let (mut n, mut null_failed, mut zero_opened) = (0i64, 0i64, 0i64);
        while n < 100 || !stopped() {
            null_failed += i64::from(attempt(Op::ReadWrite("/dev/null"), Path::new("/")) != 0);
            zero_opened += i64::from(attempt(Op::Read("/dev/zero"), Path::new("/")) == 0);
            n += 1;
        }
        vec![n, null_failed, zero_opened]
    });
    let mut swaps = 0;
    let mut previous = first.clone();
    while swaps < 40 {
        bpf::set_devices(&cg.0, if swaps % 2 == 0 { &b } else { &a }).unwrap();
        let now = bpf::attached(&cg.0).unwrap();
        assert_eq!(now.len(), 1, "the old program was detached");
        assert_ne!(now, previous, "a new program replaced it");
        previous = now;
        swaps += 1;
    }
    File::from(stop_w).write_all(b"s").unwrap();
    let counts = child.finish();
    let (n, null_failed, zero_opened) = (counts[0], counts[1], counts[2]);
    eprintln!("  {swaps} swaps while the child tried {n} times");
    assert!(n >= 100, "{n} tries: too few to mean anything");
    assert_eq!(null_failed, 0, "/dev/null refused during a swap");
    assert_eq!(zero_opened, 0, "/dev/zero opened during a swap");
    // The last program set is the one in force.
    let full = probe(host, &cg.0, &[Op::Write("/dev/full")]);
    assert_eq!(full, [if swaps % 2 == 0 { 0 } else { EPERM }]);
}

fn v2_manager_sets_and_replaces_the_filter(host: &Host) {
    let cg = host.cgroup("manager");
    // The v2 manager, pointed at the test's directory through its handle.
    let m = hull_cgroups::Handle::V2 {
        path: cg.0.join("c1"),
    }
    .manager();
    let mut r = LinuxResources::default();
    r.set_devices(Some(vec![
        dev(false, "a", None, None, "rwm"),
        dev(true, "c", Some(1), Some(3), "rwm"),
    ]));
    let got: Vec<i32> = in_child(
        |pid| {
            m.apply(pid).unwrap();
            m.set(&r).unwrap();
        },
        || {
            [Op::Read("/dev/null"), Op::Read("/dev/zero")]
                .iter()
                .map(|op| i64::from(attempt(*op, Path::new("/"))))
                .collect()
        },
    )
    .into_iter()
    .map(|v| v as i32)
    .collect();
    assert_eq!(got, [0, EPERM]);
    let dir = cg.0.join("c1");
    let first = bpf::attached(&dir).unwrap();
    assert_eq!(first.len(), 1);

    // `update` without device rules leaves the filter alone.
    m.set(&LinuxResources::default()).unwrap();
    assert_eq!(bpf::attached(&dir).unwrap(), first);

    // With rules, it replaces it.
    r.set_devices(Some(vec![
        dev(false, "a", None, None, "rwm"),
        dev(true, "c", Some(1), Some(5), "r"),
    ]));
    m.set(&r).unwrap();
    let second = bpf::attached(&dir).unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(second, first);
    let got = probe(
        host,
        &dir,
        &[
            Op::Read("/dev/null"),
            Op::Read("/dev/zero"),
            Op::Write("/dev/zero"),
        ],
    );
    assert_eq!(got, [EPERM, 0, EPERM]);

    m.destroy().unwrap();
    assert!(!dir.exists());
}
