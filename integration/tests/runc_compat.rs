//! The same bundles and commands under runc (Debian's 1.1.5) and hull, expecting the same
//! outcome: the process's last steps under seccomp, terminals, the process's attributes,
//! hooks, debug logging and --pidfd-socket. Where runc 1.1.5 differs from runc 1.4 or the
//! runtime-spec and hull follows those, the test says so and checks each side for what it
//! does.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use hull_integration::*;
use serde_json::{json, Value};

const RUNC: &str = "/usr/sbin/runc";

/// Both runtimes, each with a private root: ("hull", ..), ("runc", ..).
fn runtimes() -> [(&'static str, Runtime); 2] {
    assert!(
        std::path::Path::new(RUNC).exists(),
        "runc is required for the differential tests (hack/setup.sh installs it)"
    );
    [
        ("hull", Runtime::new()),
        ("runc", Runtime::with_bin(RUNC.into())),
    ]
}

fn bpath(b: &Bundle) -> &str {
    b.path().to_str().unwrap()
}

/// Threads reading the child's stdout and stderr, each to its end (one after the other could
/// leave the child blocked on the other pipe).
fn readers(child: &mut std::process::Child) -> std::thread::JoinHandle<(Vec<u8>, Vec<u8>)> {
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let e = std::thread::spawn(move || {
        let mut e = Vec::new();
        let _ = err.read_to_end(&mut e);
        e
    });
    std::thread::spawn(move || {
        let mut o = Vec::new();
        let _ = out.read_to_end(&mut o);
        (o, e.join().unwrap())
    })
}

/// Runs `cmd` with a deadline: a runtime that deadlocks fails the test instead of hanging it.
fn output_within(cmd: Command, secs: u64) -> Output {
    let what = format!("{cmd:?}");
    try_output_within(cmd, secs)
        .unwrap_or_else(|| panic!("{what} did not finish in {secs} s (deadlock?)"))
}

/// [`output_within`], with `None` (the command killed) past the deadline.
fn try_output_within(mut cmd: Command, secs: u64) -> Option<Output> {
    cmd.stdin(Stdio::null());
    run_within(cmd, secs)
}

/// Runs `cmd` with its stdin as the caller set it, stdout and stderr on pipes; `None` (the
/// command killed) past the deadline.
fn run_within(mut cmd: Command, secs: u64) -> Option<Output> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = readers(&mut child);
    for _ in 0..secs * 20 {
        if let Some(status) = child.try_wait().unwrap() {
            let (stdout, stderr) = reader.join().unwrap();
            return Some(Output {
                status,
                stdout,
                stderr,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

// ---- 1. Seccomp and the process's last steps ----------------------------------------------

/// Older Docker profiles and runtime-tools' default do not list close_range (Linux 5.9): the
/// runtime must not need it once the filter is in. Both with no_new_privs (filter loaded
/// last) and without (runc loads it before the user switch; hull keeps CAP_SYS_ADMIN and
/// still loads it last).
#[test]
fn profile_without_close_range_runs() {
    for nnp in [true, false] {
        let mut b = Bundle::sh("echo last-steps-ok");
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["close_range"], "action": "SCMP_ACT_ERRNO"}],
        });
        b.save();
        for (name, rt) in runtimes() {
            let out = rt.run(&unique("closerange"), &b);
            assert!(
                out.status.success() && stdout(&out).contains("last-steps-ok"),
                "{name} (noNewPrivileges {nnp}): {}",
                stderr(&out)
            );
        }
    }
}

/// A seccomp agent for the tests: takes each listener sent to `path` and answers every
/// notification: getcwd with EROFS, anything else by letting the call through. Returns the
/// socket's directory guard and a handle counting the notifications answered.
struct Agent {
    _dir: TempDir,
    path: std::path::PathBuf,
}

impl Agent {
    fn start() -> Agent {
        let dir = TempDir::new("hull-agent");
        let path = dir.path().join("agent.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                std::thread::spawn(move || serve(conn));
            }
        });
        Agent { _dir: dir, path }
    }
}

fn serve(conn: std::os::unix::net::UnixStream) {
    let Ok((_, listener)) = recv_with_fd(&conn) else {
        return;
    };
    let Some(fd) = listener else { return };
    let getcwd = libseccomp::ScmpSyscall::from_name("getcwd").unwrap();
    loop {
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 200_000_000,
        };
        if rustix::event::poll(&mut fds, Some(&timeout)).is_err() {
            return;
        }
        let revents = fds[0].revents();
        if revents.contains(rustix::event::PollFlags::HUP) {
            return;
        }
        if !revents.contains(rustix::event::PollFlags::IN) {
            continue;
        }
        let Ok(req) = libseccomp::ScmpNotifReq::receive(fd.as_raw_fd()) else {
            return;
        };
        let resp = if req.data.syscall == getcwd {
            libseccomp::ScmpNotifResp::new_error(
                req.id,
                -libc::EROFS,
                libseccomp::ScmpNotifRespFlags::empty(),
            )
        } else {
            libseccomp::ScmpNotifResp::new_continue(req.id, libseccomp::ScmpNotifRespFlags::empty())
        };
        let _ = resp.respond(fd.as_raw_fd());
    }
}

/// A notify rule on getcwd (and on calls any process makes): every getcwd the agent answers
/// must be the process's own. The agent answers getcwd with EROFS, so the process's `pwd -P`
/// prints nothing (busybox prints an empty line); had the runtime called getcwd after loading
/// the filter, it would have got EROFS itself. hull used to (its cwd check), and so does runc
/// without no_new_privs: it loads the filter before the user switch and checks its cwd with
/// getcwd after it (CVE-2024-21626's verifyCwd, in Debian's 1.1.5 as in 1.4), so runc fails
/// that case, which is recorded. hull loads the filter after its last own step.
#[test]
fn notify_filter_traps_only_the_process() {
    let agent = Agent::start();
    for nnp in [true, false] {
        let mut b = Bundle::sh("cd /tmp && pwd -P; echo rc=$?");
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": agent.path,
            "syscalls": [{"names": ["getcwd", "openat", "close", "read"], "action": "SCMP_ACT_NOTIFY"}],
        });
        b.save();
        for (name, rt) in runtimes() {
            let out = rt.run(&unique("notify"), &b);
            if name == "runc" && !nnp {
                assert!(
                    !out.status.success(),
                    "runc checks its cwd under the filter"
                );
                assert!(
                    stderr(&out).contains("current working directory"),
                    "{}",
                    stderr(&out)
                );
                continue;
            }
            assert!(
                out.status.success(),
                "{name} (noNewPrivileges {nnp}): {}",
                stderr(&out)
            );
            assert_eq!(
                stdout(&out),
                "\nrc=0\n",
                "{name} (noNewPrivileges {nnp}): the agent's answer reached the process"
            );
        }
    }
}

/// exec --ignore-paused into a paused container: the process waits frozen until `resume`,
/// which must not wait on a lock held by that exec.
#[test]
fn exec_into_paused_container_waits_for_resume() {
    for (name, rt) in runtimes() {
        let mut b = Bundle::sh("sleep 60");
        let id = unique("paused");
        b.config["linux"]["cgroupsPath"] = json!(format!("hull-compat-{id}"));
        b.save();
        ok(&rt.run_detached(&id, &b));
        let init = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
        ok(&rt.cmd(&["pause", &id]));
        let mut exec = rt.command();
        exec.args(["exec", "--ignore-paused", &id, "echo", "exec-ran"]);
        let exec = std::thread::spawn(move || output_within(exec, 60));
        // Let the exec reach the frozen cgroup (whether or not it has, resume must work).
        std::thread::sleep(Duration::from_millis(500));
        let mut resume = rt.command();
        resume.args(["resume", &id]);
        let Some(resumed) = try_output_within(resume, 20) else {
            // Deadlocked: thaw the test's own cgroup so everything can be cleaned up.
            thaw(init);
            let _ = exec.join();
            panic!("{name}: resume did not finish: exec holds the container's lock");
        };
        assert!(
            resumed.status.success(),
            "{name}: resume: {}",
            stderr(&resumed)
        );
        let out = exec.join().unwrap();
        assert!(
            out.status.success() && stdout(&out).contains("exec-ran"),
            "{name}: exec: {}",
            stderr(&out)
        );
    }
}

/// Thaws the freezer cgroup of process `pid` (a container of the test's own).
fn thaw(pid: i64) {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    if let Some(path) = cgroups
        .lines()
        .find_map(|l| l.split_once(":freezer:").map(|(_, p)| p.to_string()))
    {
        let file = std::path::Path::new("/sys/fs/cgroup/freezer")
            .join(path.trim_start_matches('/'))
            .join("freezer.state");
        let _ = std::fs::write(file, "THAWED");
    }
}

// ---- 2. Terminals -------------------------------------------------------------------------

fn tty_bundle(script: &str) -> Bundle {
    let mut b = Bundle::sh(script);
    b.config["process"]["terminal"] = json!(true);
    b.save();
    b
}

/// `cmd` with stdin on a new pty (the caller's terminal) and stdout, stderr on pipes; the
/// pty's master is kept open until the command is done.
fn on_tty(mut cmd: Command) -> Output {
    let (master, slave) = openpty();
    cmd.stdin(Stdio::from(slave));
    let out = output_within_stdin(cmd, 30);
    drop(master);
    out
}

/// Like [`output_within`] for a command whose stdin is already set.
fn output_within_stdin(cmd: Command, secs: u64) -> Output {
    let what = format!("{cmd:?}");
    run_within(cmd, secs).unwrap_or_else(|| panic!("{what} did not finish in {secs} s"))
}

/// Output relayed from a `terminal: true` process keeps its `\n`: runc turns the pty's ONLCR
/// off (and leaves OPOST on the caller's terminal), so a pipe gets what the process wrote.
#[test]
fn terminal_output_keeps_plain_newlines() {
    let b = tty_bundle("printf 'one\\ntwo\\n'");
    for (name, rt) in runtimes() {
        let mut cmd = rt.command();
        cmd.args(["run", "-b", bpath(&b), &unique("nl")]);
        let out = on_tty(cmd);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), "one\ntwo\n", "{name}");
    }
}

/// The pty's peer is the process's: owned by its uid (the group stays devpts' gid=5), as
/// runc's fixStdioPermissions leaves it.
#[test]
fn pty_is_owned_by_the_process_user() {
    let b = {
        let mut b = tty_bundle("stat -L -c owner=%u:%g /proc/self/fd/0; sleep 1");
        b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        b.save();
        b
    };
    let mut seen = Vec::new();
    for (name, rt) in runtimes() {
        let sock = ConsoleSocket::new();
        let id = unique("ptyown");
        let path = sock.path.to_str().unwrap().to_string();
        let create = std::thread::spawn({
            let mut c = rt.command();
            c.args(["create", "--console-socket", &path, "-b", bpath(&b), &id]);
            c.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            move || c.status().unwrap()
        });
        let master = sock.receive();
        assert!(create.join().unwrap().success(), "{name}: create");
        ok(&rt.cmd(&["start", &id]));
        let text = read_until(&master, "\n");
        let owner = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("owner="))
            .unwrap_or_else(|| panic!("{name}: {text:?}"))
            .to_string();
        assert!(owner.starts_with("1000:"), "{name}: {owner}");
        seen.push(owner);
    }
    assert_eq!(seen[0], seen[1]);
}

/// A failing startContainer hook's output reaches the caller when the container has a
/// terminal (runc's error goes into the relayed pty; hull's through `start`).
#[test]
fn hook_output_is_not_lost_with_a_terminal() {
    let mut b = tty_bundle("echo main-ran");
    b.config["hooks"] = json!({"startContainer": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", "echo hook-said-out; echo hook-said-err >&2; exit 3"],
    }]});
    b.save();
    for (name, rt) in runtimes() {
        let mut cmd = rt.command();
        cmd.args(["run", "-b", bpath(&b), &unique("hooktty")]);
        let out = on_tty(cmd);
        let all = stdout(&out) + &stderr(&out);
        assert!(!out.status.success(), "{name}: {all}");
        assert!(
            all.contains("hook-said-out") && all.contains("hook-said-err"),
            "{name}: {all}"
        );
        assert!(
            all.contains("startContainer hook #0") || all.contains("error running hook #0"),
            "{name}: {all}"
        );
        assert!(!all.contains("main-ran"), "{name}: {all}");
    }
}

// ---- 3. The process -----------------------------------------------------------------------

/// cwd in a directory only root can enter: runc changes into it before dropping
/// privileges (and tries again after, for the reverse case).
#[test]
fn cwd_only_root_can_reach() {
    let mut b = Bundle::sh("pwd; echo uid=$(id -u)");
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["process"]["cwd"] = json!("/secret");
    b.save();
    let secret = b.rootfs().join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    for (name, rt) in runtimes() {
        let out = rt.run(&unique("cwd"), &b);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), "/secret\nuid=1000\n", "{name}");
    }
}

/// runc's test "exec --user with no access to cwd": the container's user owns a 0700 cwd;
/// exec as root without CAP_DAC_OVERRIDE gets there because the chdir comes first.
#[test]
fn exec_as_root_into_a_cwd_owned_by_the_user() {
    let mut b = Bundle::sh("sleep 60");
    b.config["process"]["user"] = json!({"uid": 42, "gid": 42});
    b.config["process"]["cwd"] = json!("/home42");
    b.save();
    let home = b.rootfs().join("home42");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(42), Some(42)).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    for (name, rt) in runtimes() {
        let id = unique("execcwd");
        ok(&rt.run_detached(&id, &b));
        let out = rt.cmd(&["exec", "--user", "0", &id, "pwd"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), "/home42\n", "{name}");
    }
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(String::from).collect();
    v.sort();
    v
}

/// A key given twice in process.env: the last value wins, once. (Where it ends up in the list
/// differs: runc 1.1.5 keeps the first one's place, runc 1.4's prepareEnv and hull the last
/// one's; the tests compare the sets.)
#[test]
fn duplicate_env_keys_last_wins() {
    let mut b = Bundle::busybox(&["env"]);
    b.config["process"]["env"] = json!(["PATH=/bin", "DUP=first", "OTHER=x", "DUP=last"]);
    b.save();
    let mut seen = Vec::new();
    for (name, rt) in runtimes() {
        let out = rt.run(&unique("dupenv"), &b);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let env = sorted_lines(&stdout(&out));
        assert_eq!(
            env.iter()
                .filter(|l| l.starts_with("DUP="))
                .collect::<Vec<_>>(),
            ["DUP=last"],
            "{name}: {env:?}"
        );
        seen.push(env);
    }
    assert_eq!(seen[0], seen[1]);
}

/// `exec --env` overrides the config's value for the same key, and a process.json may leave
/// `user` out (uid and gid 0, as runc takes it).
#[test]
fn exec_env_overrides_and_process_json_without_user() {
    let mut b = Bundle::sh("sleep 60");
    b.config["process"]["env"] = json!(["PATH=/bin", "FOO=from-spec"]);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.save();
    let dir = TempDir::new("hull-procjson");
    let pj = dir.path().join("process.json");
    std::fs::write(
        &pj,
        json!({"args": ["/bin/sh", "-c", "echo ids=$(id -u):$(id -g)"], "cwd": "/", "env": ["PATH=/bin"]})
            .to_string(),
    )
    .unwrap();
    let mut seen = Vec::new();
    for (name, rt) in runtimes() {
        let id = unique("execenv");
        ok(&rt.run_detached(&id, &b));
        let out = rt.cmd(&["exec", "--env", "FOO=from-exec", &id, "env"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let env = sorted_lines(&stdout(&out));
        assert_eq!(
            env.iter()
                .filter(|l| l.starts_with("FOO="))
                .collect::<Vec<_>>(),
            ["FOO=from-exec"],
            "{name}: {env:?}"
        );
        let out = rt.cmd(&["exec", "--process", pj.to_str().unwrap(), &id]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), "ids=0:0\n", "{name}");
        seen.push(env);
    }
    assert_eq!(seen[0], seen[1]);
}

/// ociVersion MUST be SemVer 2.0.0 (config.md, "Specification version"); runtime-tools'
/// misc_props validation checks that an invalid one is an error. runc 1.1.5 accepts any
/// string (runc issue #1846): hull follows the spec here, and the test records runc's side.
#[test]
fn invalid_oci_version_is_an_error() {
    let mut b = Bundle::sh("echo ran");
    b.config["ociVersion"] = json!("invalid");
    b.save();
    let [(_, hull), (_, runc)] = runtimes();
    let id = unique("ociver");
    let out = hull.create(&id, &b);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ociVersion"), "{}", stderr(&out));
    assert!(hull.ids().is_empty(), "nothing is left behind");
    let out = runc.run(&unique("ociver"), &b);
    assert!(out.status.success(), "runc 1.1.5 does not check ociVersion");

    // A valid version of this major passes both.
    b.config["ociVersion"] = json!("1.0.2-dev");
    b.save();
    for (name, rt) in runtimes() {
        let out = rt.run(&unique("ociver"), &b);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
    }
}

/// `kill ID 0` sends nothing and says whether the container is alive: 0 for a created or
/// running container, an error once it has stopped (kill(2)'s signal 0, as runc has it).
#[test]
fn kill_with_signal_zero_checks_liveness() {
    let b = Bundle::sh("sleep 60");
    for (name, rt) in runtimes() {
        let id = unique("kill0");
        ok(&rt.create(&id, &b));
        let out = rt.cmd(&["kill", &id, "0"]);
        assert!(out.status.success(), "{name} created: {}", stderr(&out));
        ok(&rt.cmd(&["start", &id]));
        let out = rt.cmd(&["kill", &id, "0"]);
        assert!(out.status.success(), "{name} running: {}", stderr(&out));
        assert_eq!(
            rt.status(&id).as_deref(),
            Some("running"),
            "{name}: 0 sent nothing"
        );
        ok(&rt.cmd(&["kill", &id, "KILL"]));
        assert!(rt.wait_status(&id, "stopped"), "{name}");
        let out = rt.cmd(&["kill", &id, "0"]);
        assert!(
            !out.status.success(),
            "{name}: kill 0 of a stopped container"
        );
        assert!(
            stderr(&out).contains("not running"),
            "{name}: {}",
            stderr(&out)
        );
    }
}

/// The CPUs this host has online, as the kernel lists them ("0-1").
fn online_cpus() -> String {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .unwrap()
        .trim()
        .to_string()
}

/// A runtime pinned to CPU 0 (`taskset -c 0`, as a systemd unit with CPUAffinity= runs it):
/// runc 1.2+ resets the affinity of init and of exec'd processes to every CPU once they are in
/// their cgroup (Linux 6.2 stopped widening it on cgroup attach); runc 1.1.5 leaves the
/// runtime's, so its side is recorded as it is. execCPUAffinity (runtime-spec 1.2, runc
/// 1.3+) sets exec's instead; runc 1.1.5 does not know the field.
#[test]
fn cpu_affinity_of_the_runtime_is_not_inherited() {
    let all = online_cpus();
    let b = Bundle::sh("grep Cpus_allowed_list /proc/self/status; sleep 60");
    for (name, rt) in runtimes() {
        let id = unique("affinity");
        let mut run = Command::new("taskset");
        run.args(["-c", "0"])
            .arg(&rt.bin)
            .arg("--root")
            .arg(rt.root.path())
            .args(["run", "-d", "-b", bpath(&b), &id]);
        // The container keeps the runtime's stdio: none of it may be a pipe we wait on.
        let status = run
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{name}: run -d under taskset");
        let mut exec = Command::new("taskset");
        exec.args(["-c", "0"])
            .arg(&rt.bin)
            .arg("--root")
            .arg(rt.root.path())
            .args([
                "exec",
                &id,
                "grep",
                "Cpus_allowed_list",
                "/proc/self/status",
            ]);
        let out = exec.stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let got = stdout(&out);
        let got = got.split_whitespace().last().unwrap_or_default();
        match name {
            "hull" => assert_eq!(got, all, "hull resets exec's affinity"),
            _ => assert_eq!(got, "0", "runc 1.1.5 leaves the runtime's affinity"),
        }
        let init = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
        let init_cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_string();
        match name {
            "hull" => assert_eq!(init_cpus, all, "hull resets init's affinity"),
            _ => assert_eq!(init_cpus, "0", "runc 1.1.5 leaves the runtime's affinity"),
        }
        if name == "hull" {
            // execCPUAffinity.final: the exec'd process ends on CPU 0 even from an unpinned
            // runtime.
            let dir = TempDir::new("hull-affinity");
            let pj = dir.path().join("process.json");
            std::fs::write(
                &pj,
                json!({"args": ["grep", "Cpus_allowed_list", "/proc/self/status"], "cwd": "/",
                       "env": ["PATH=/bin"], "execCPUAffinity": {"final": "0"}})
                .to_string(),
            )
            .unwrap();
            let out = rt.cmd(&["exec", "--process", pj.to_str().unwrap(), &id]);
            assert!(out.status.success(), "{}", stderr(&out));
            assert!(stdout(&out).trim().ends_with("\t0"), "{}", stdout(&out));
        }
    }
}

// ---- 7. Hooks -------------------------------------------------------------------------

/// Every hook reports where it ran: cwd, whether it inherited the runtime's environment,
/// its own env, how many fds it has, its seccomp mode, uid and the state's status.
fn report_hook(name: &str, log: &str, env: Option<&[&str]>) -> Value {
    let script = format!(
        "exec >> {log}; s=$(cat); echo \"{name} cwd=$(pwd) mark=${{HULL_COMPAT_MARK:-none}} \
         given=${{GIVEN:-none}} fds=$(ls /proc/self/fd | wc -l) \
         seccomp=$(grep ^Seccomp: /proc/self/status | tr -dc 0-9) uid=$(id -u) \
         status=$(echo \"$s\" | grep -o '\"status\":\"[a-z]*\"' | cut -d'\"' -f4)\""
    );
    let mut h = json!({"path": "/bin/busybox", "args": ["busybox", "sh", "-c", script]});
    if let Some(env) = env {
        h["env"] = json!(env);
    }
    h
}

/// Per hook, the report of [`report_hook`]: name → fields.
fn hook_reports(
    text: &str,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            let name = parts.next()?.to_string();
            let fields = parts
                .filter_map(|f| f.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Some((name, fields))
        })
        .collect()
}

/// Hooks get runc's cwd, env and fds, at runc's point relative to seccomp: prestart,
/// createRuntime, poststart and poststop in the bundle (runc changes into it); createContainer
/// in the root filesystem; startContainer in the process's cwd, as its user, under its seccomp
/// filter. stdin, stdout and stderr and nothing else (`ls` adds its directory: 4). A hook's
/// `env` is its environment; without one a runtime-side hook has the runtime's.
#[test]
fn hooks_run_with_runcs_cwd_env_and_fds() {
    let mut b = Bundle::sh("true");
    b.config["root"]["readonly"] = json!(false);
    b.config["process"]["cwd"] = json!("/tmp");
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["swapon"], "action": "SCMP_ACT_ERRNO"}],
    });
    let host_log = b.rootfs().join("hooks.log");
    std::fs::write(&host_log, "").unwrap();
    std::fs::set_permissions(
        &host_log,
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    let host_log = host_log.to_str().unwrap().to_string();
    let given: &[&str] = &["GIVEN=yes", "PATH=/bin"];
    b.config["hooks"] = json!({
        "prestart": [report_hook("prestart", &host_log, None)],
        "createRuntime": [report_hook("createRuntime", &host_log, Some(given))],
        "createContainer": [report_hook("createContainer", &host_log, Some(given))],
        "startContainer": [report_hook("startContainer", "/hooks.log", Some(given))],
        "poststart": [report_hook("poststart", &host_log, None)],
        "poststop": [report_hook("poststop", &host_log, Some(given))],
    });
    b.save();
    let mut all = Vec::new();
    for (name, rt) in runtimes() {
        std::fs::write(b.rootfs().join("hooks.log"), "").unwrap();
        let out = rt
            .command()
            .args(["run", "-b", bpath(&b), &unique("hookenv")])
            .env("HULL_COMPAT_MARK", "inherited")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let reports = hook_reports(&std::fs::read_to_string(b.rootfs().join("hooks.log")).unwrap());
        assert_eq!(reports.len(), 6, "{name}: {reports:?}");
        all.push(reports);
    }
    let bundle = std::fs::canonicalize(b.path()).unwrap();
    let rootfs = std::fs::canonicalize(b.rootfs()).unwrap();
    let hull = &all[0];
    for (hook, cwd) in [
        ("prestart", bundle.to_str().unwrap()),
        ("createRuntime", bundle.to_str().unwrap()),
        ("createContainer", rootfs.to_str().unwrap()),
        ("startContainer", "/tmp"),
        ("poststart", bundle.to_str().unwrap()),
        ("poststop", bundle.to_str().unwrap()),
    ] {
        assert_eq!(hull[hook]["cwd"], cwd, "hull {hook}");
        assert_eq!(hull[hook]["fds"], "4", "hull {hook}: extra fds");
    }
    assert_eq!(hull["prestart"]["mark"], "inherited");
    assert_eq!(hull["createRuntime"]["mark"], "none");
    assert_eq!(hull["startContainer"]["given"], "yes");
    assert_eq!(hull["startContainer"]["uid"], "1000");
    assert_eq!(hull["startContainer"]["seccomp"], "2");
    assert_eq!(hull["startContainer"]["status"], "created");
    assert_eq!(hull["createContainer"]["status"], "creating");
    // Two known differences, each checked on both sides, then left out of the comparison:
    // runc 1.1.5 gives the createContainer hook its init's sync pipes too (they become
    // close-on-exec only later, in finalizeNamespace), and gives poststart the state of a
    // "created" container although the process has started (the spec orders poststart after
    // the process started: "running", which runc 1.4's start passes).
    let mut runc = all[1].clone();
    let runc_fds: u32 = runc["createContainer"]["fds"].parse().unwrap();
    assert!(runc_fds > 4, "runc 1.1.5's createContainer fds: {runc_fds}");
    assert_eq!(runc["poststart"]["status"], "created");
    assert_eq!(hull["poststart"]["status"], "running");
    let hull_cmp = {
        let mut h = hull.clone();
        h.get_mut("poststart").unwrap().remove("status");
        h
    };
    runc.get_mut("poststart").unwrap().remove("status");
    runc.get_mut("createContainer")
        .unwrap()
        .insert("fds".into(), "4".into());
    assert_eq!(hull_cmp, runc, "hull and runc differ");
}

/// A container-side hook without `env`: runc 1.1.5 gives it the container process's
/// environment; runc 1.4 clears init's environment before it runs them (libcontainer
/// init_linux.go: os.Clearenv, and prepareEnv sets only PATH), and the spec gives a hook the
/// `env` it lists. hull gives such a hook no environment; runc 1.1.5's side is recorded.
#[test]
fn container_side_hook_without_env() {
    let mut b = Bundle::sh("true");
    b.config["root"]["readonly"] = json!(false);
    b.config["process"]["env"] = json!(["PATH=/bin", "HULL_COMPAT_MARK=process"]);
    let log = b.rootfs().join("hooks.log");
    b.config["hooks"] = json!({
        "createContainer": [report_hook("createContainer", log.to_str().unwrap(), None)],
    });
    b.save();
    for (name, rt) in runtimes() {
        std::fs::write(&log, "").unwrap();
        ok(&rt.run(&unique("hooknoenv"), &b));
        let reports = hook_reports(&std::fs::read_to_string(&log).unwrap());
        let mark = &reports["createContainer"]["mark"];
        match name {
            "hull" => assert_eq!(mark, "none"),
            _ => assert_eq!(mark, "process", "runc 1.1.5 passes the process env"),
        }
    }
}

/// A failing hook that writes more than a pipe holds is not left blocked on a full pipe: its
/// output is read while it runs (runc copies it in goroutines), and the error quotes it.
#[test]
fn talkative_failing_hook_fails_create_with_its_output() {
    let mut b = Bundle::sh("true");
    b.config["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x; echo tail-of-stderr >&2; exit 1"],
    }]});
    b.save();
    for (name, rt) in runtimes() {
        let mut cmd = rt.command();
        cmd.args(["create", "-b", bpath(&b), &unique("talk")]);
        let out = output_within(cmd, 60);
        assert!(!out.status.success(), "{name}");
        let err = stderr(&out);
        assert!(
            err.contains("exit status 1"),
            "{name}: {}",
            &err[..err.len().min(300)]
        );
        assert!(err.contains("tail-of-stderr"), "{name}");
        assert!(rt.ids().is_empty(), "{name}: nothing is left behind");
    }
}

// ---- 8. Logging ---------------------------------------------------------------------------

/// One log line parsed: (level, msg, fields), or None when it is not in logrus's format.
fn parse_line(line: &str, json_format: bool) -> Option<(String, String, Value)> {
    if json_format {
        let v: Value = serde_json::from_str(line).ok()?;
        v["time"].as_str()?;
        return Some((
            v["level"].as_str()?.to_string(),
            v["msg"].as_str()?.to_string(),
            v,
        ));
    }
    let rest = line.strip_prefix("time=\"")?;
    let (_, rest) = rest.split_once("\" level=")?;
    let (level, rest) = rest.split_once(" msg=")?;
    // msg is a Go-quoted string: read it as JSON, up to its closing quote.
    let mut de = serde_json::Deserializer::from_str(rest).into_iter::<String>();
    let msg = de.next()?.ok()?;
    let tail = &rest[de.byte_offset()..];
    let mut fields = serde_json::Map::new();
    for f in tail.split_whitespace() {
        let (k, v) = f.split_once('=')?;
        fields.insert(k.to_string(), Value::from(v.trim_matches('"')));
    }
    Some((level.to_string(), msg, Value::Object(fields)))
}

/// `--debug --log FILE` in text and json: every line in logrus's format, debug lines for
/// create and exec, runc's "process exited" line for a foreground run; none without --debug.
#[test]
fn debug_lines_in_the_log_as_runc_writes_them() {
    let b = Bundle::sh("sleep 60");
    let fg = Bundle::sh("true");
    for json_format in [false, true] {
        let format = if json_format { "json" } else { "text" };
        for (name, rt) in runtimes() {
            let dir = TempDir::new("hull-log");
            let log = dir.path().join("log");
            let log_s = log.to_str().unwrap();
            let with = |debug: bool, args: &[&str]| {
                let mut all = vec!["--log", log_s, "--log-format", format];
                if debug {
                    all.insert(0, "--debug");
                }
                all.extend_from_slice(args);
                rt.detached(&all)
            };
            let lines = |text: &str| -> Vec<(String, String, Value)> {
                text.lines()
                    .map(|l| {
                        parse_line(l, json_format)
                            .unwrap_or_else(|| panic!("{name} {format}: not a log line: {l:?}"))
                    })
                    .collect()
            };
            let id = unique("dbg");
            ok(&with(true, &["run", "-d", "-b", bpath(&b), &id]));
            let created = std::fs::read_to_string(&log).unwrap();
            let parsed = lines(&created);
            assert!(
                parsed.iter().any(|l| l.0 == "debug"),
                "{name} {format}: no debug line for create: {created}"
            );
            std::fs::write(&log, "").unwrap();
            ok(&with(true, &["exec", &id, "true"]));
            let exec = std::fs::read_to_string(&log).unwrap();
            let parsed = lines(&exec);
            assert!(
                parsed.iter().any(|l| l.0 == "debug"),
                "{name} {format}: no debug line for exec: {exec}"
            );
            assert!(
                parsed
                    .iter()
                    .any(|l| l.1 == "process exited" && l.2["status"].to_string().contains('0')),
                "{name} {format}: exec's process exited: {exec}"
            );
            std::fs::write(&log, "").unwrap();
            ok(&with(true, &["run", "-b", bpath(&fg), &unique("dbgfg")]));
            let run = std::fs::read_to_string(&log).unwrap();
            assert!(
                lines(&run).iter().any(|l| l.1 == "process exited"),
                "{name} {format}: {run}"
            );
            std::fs::write(&log, "").unwrap();
            ok(&with(false, &["exec", &id, "true"]));
            ok(&with(false, &["run", "-b", bpath(&fg), &unique("dbgfg")]));
            let quiet = std::fs::read_to_string(&log).unwrap();
            assert!(
                lines(&quiet).iter().all(|l| l.0 != "debug"),
                "{name} {format}: debug lines without --debug: {quiet}"
            );
            // An error is a line of its own in the same format.
            let out = with(false, &["kill", "no-such-container"]);
            assert!(!out.status.success());
            let errors = std::fs::read_to_string(&log).unwrap();
            assert!(
                lines(&errors).iter().any(|l| l.0 == "error"),
                "{name} {format}: {errors}"
            );
        }
    }
}

// ---- 9. --pidfd-socket --------------------------------------------------------------------

/// `run --pidfd-socket`: the socket receives a pidfd of init, which signals it. runc added the
/// flag in 1.2 for create, run and exec (runc's pidfd-socket.bats "runc run [ --pidfd-socket ]");
/// runc 1.1.5 does not know it and refuses the command, which is recorded.
#[test]
fn pidfd_socket_on_run() {
    let b = Bundle::sh("sleep 60");
    for (name, rt) in runtimes() {
        let sock = ConsoleSocket::new();
        let path = sock.path.to_str().unwrap().to_string();
        let id = unique("pidfdrun");
        let pidfd = std::thread::scope(|scope| {
            let run = scope.spawn(|| {
                rt.detached(&["run", "-d", "--pidfd-socket", &path, "-b", bpath(&b), &id])
            });
            if name == "runc" {
                let out = run.join().unwrap();
                assert!(!out.status.success(), "runc 1.1.5 has no --pidfd-socket");
                assert!(stderr(&out).contains("pidfd-socket"), "{}", stderr(&out));
                return None;
            }
            let pidfd = sock.receive();
            let out = run.join().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            Some(pidfd)
        });
        if let Some(pidfd) = pidfd {
            let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd()))
                .unwrap();
            assert!(info.lines().any(|l| l == format!("Pid:\t{pid}")), "{info}");
            rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL).unwrap();
            assert!(rt.wait_status(&id, "stopped"));
        }
    }
}

// ---- 10. exec's process checked as create's -----------------------------------------------

/// `exec --process` and exec's flags go through the checks config.json's process gets: what
/// runc 1.1.5 refuses for exec hull refuses too (before anything is spawned, naming the field
/// as create does), and what runc accepts hull accepts with the same result: rlimits given
/// twice (the last wins) and an oomScoreAdj out of range, which exec does not apply.
#[test]
fn exec_process_checked_as_create_is() {
    let b = Bundle::sh("sleep 60");
    let env = json!(["PATH=/bin"]);
    let nofile =
        |soft: u64, hard: u64| json!({"type": "RLIMIT_NOFILE", "soft": soft, "hard": hard});
    // (document, hull's error when refused)
    let cases = [
        (
            json!({"args": ["true"], "cwd": "/", "env": ["PATH=/bin", "FOO"]}),
            Some("process.env[1]"),
        ),
        (
            json!({"args": ["true"], "cwd": "/", "env": ["=x"]}),
            Some("process.env"),
        ),
        (
            json!({"args": ["true"], "cwd": "/", "env": env, "rlimits": [nofile(30, 20)]}),
            Some("process.rlimits[0]: soft limit 30 is above hard limit 20"),
        ),
        (
            json!({"args": [""], "cwd": "/", "env": env}),
            Some("process.args[0]: must not be empty"),
        ),
        (
            json!({"args": ["true"], "cwd": "tmp", "env": env}),
            Some("process.cwd tmp"),
        ),
        (
            json!({"args": ["sh", "-c", "ulimit -Hn"], "cwd": "/", "env": env, "rlimits": [nofile(10, 21), nofile(10, 20)]}),
            None,
        ),
        (
            json!({"args": ["cat", "/proc/self/oom_score_adj"], "cwd": "/", "env": env, "oomScoreAdj": 5000}),
            None,
        ),
    ];
    let mut outputs = Vec::new();
    for (name, rt) in runtimes() {
        let id = unique("execcheck");
        ok(&rt.run_detached(&id, &b));
        let mut seen = Vec::new();
        for (i, (doc, refused)) in cases.iter().enumerate() {
            let path = b.path().join(format!("process-{name}-{i}.json"));
            std::fs::write(&path, doc.to_string()).unwrap();
            let out = rt.cmd(&["exec", "--process", path.to_str().unwrap(), &id]);
            match refused {
                Some(field) => {
                    assert_eq!(
                        out.status.code(),
                        Some(255),
                        "{name} {doc}: {}",
                        stderr(&out)
                    );
                    if name == "hull" {
                        assert!(stderr(&out).contains(field), "{doc}: {}", stderr(&out));
                    }
                }
                None => seen.push(ok(&out)),
            }
        }
        // The flags: `-e` without a value is refused by both.
        let out = rt.cmd(&["exec", "-e", "FOO", &id, "true"]);
        assert_eq!(out.status.code(), Some(255), "{name}: {}", stderr(&out));
        if name == "hull" {
            assert!(stderr(&out).contains("process.env["), "{}", stderr(&out));
        }
        outputs.push(seen);
    }
    assert_eq!(outputs[0], outputs[1], "hull, runc");
    assert_eq!(outputs[0], ["20\n", "0\n"]);
}
