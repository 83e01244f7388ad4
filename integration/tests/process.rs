//! The process: args, env, cwd, user, umask, rlimits, capabilities, no_new_privs,
//! oom_score_adj, fds. Each checked from inside the container.

use hull_integration::*;
use serde_json::json;

#[test]
fn env_cwd_user_umask() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("echo cwd=$(pwd); echo foo=$FOO; echo uid=$(id -u); echo gid=$(id -g); echo groups=$(id -G); echo umask=$(umask)");
    b.config["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
    b.config["process"]["cwd"] = json!("/work/dir");
    b.config["process"]["user"] =
        json!({"uid": 65534, "gid": 65534, "additionalGids": [3, 4], "umask": 23});
    b.save();
    let r = kv(&ok(&rt.run(&unique("proc"), &b)));
    assert_eq!(
        r["cwd"], "/work/dir",
        "a missing cwd is created, as runc does"
    );
    assert_eq!(r["foo"], "bar baz");
    assert_eq!(r["uid"], "65534");
    assert_eq!(r["gid"], "65534");
    assert_eq!(r["groups"], "65534 3 4");
    assert_eq!(r["umask"], "0027");
}

/// runc enters the cwd as root, before the user switch, so `docker run -u 1000 -w /root` (a
/// 0700 directory the user may not enter) starts there; init and exec both.
#[test]
fn cwd_entered_before_the_user_switch() {
    use std::os::unix::fs::PermissionsExt;
    let rt = Runtime::new();
    let mut b = Bundle::sh("sleep 60");
    std::fs::set_permissions(
        b.rootfs().join("root"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    b.config["process"]["cwd"] = json!("/root");
    b.config["process"]["user"] = json!({"uid": 65534, "gid": 65534});
    b.save();
    let id = unique("cwd");
    ok(&rt.run_detached(&id, &b));
    let r = kv(&ok(&rt.cmd(&[
        "exec",
        "--user",
        "65534:65534",
        "--cwd",
        "/root",
        &id,
        "sh",
        "-c",
        "echo cwd=$(pwd); echo uid=$(id -u); ls . >/dev/null 2>&1 || echo list=denied",
    ])));
    assert_eq!(r["cwd"], "/root");
    assert_eq!(r["uid"], "65534");
    assert_eq!(r["list"], "denied", "the user itself may not read /root");
}

#[test]
fn rlimits_oom_score_and_no_new_privs() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("echo nofile=$(ulimit -n); echo core=$(ulimit -c); echo oom=$(cat /proc/self/oom_score_adj); grep NoNewPrivs /proc/self/status | tr -d '\\t' | sed 's/:/=/'");
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
    ]);
    b.config["process"]["oomScoreAdj"] = json!(200);
    b.config["process"]["noNewPrivileges"] = json!(true);
    b.save();
    let r = kv(&ok(&rt.run(&unique("rlim"), &b)));
    assert_eq!(r["nofile"], "321");
    assert_eq!(r["core"], "0");
    assert_eq!(r["oom"], "200");
    assert_eq!(r["NoNewPrivs"], "1");

    b.config["process"]["noNewPrivileges"] = json!(false);
    b.save();
    let r = kv(&ok(&rt.run(&unique("nnp"), &b)));
    assert_eq!(r["NoNewPrivs"], "0");
}

fn cap_hex(status: &str, field: &str) -> u64 {
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn capability_sets() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("cat /proc/self/status");
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_KILL", "CAP_CHOWN"],
        "permitted": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_KILL"],
        "ambient": ["CAP_KILL"]
    });
    b.save();
    let status = ok(&rt.run(&unique("caps"), &b));
    let (chown, kill, nbs) = (1u64 << 0, 1u64 << 5, 1u64 << 10);
    assert_eq!(cap_hex(&status, "CapBnd:"), chown | kill | nbs);
    // sh is exec'd by uid 0: its effective and permitted sets are recomputed from the
    // bounding set; ambient survives as given.
    assert_eq!(cap_hex(&status, "CapAmb:"), kill);
    assert_eq!(cap_hex(&status, "CapInh:"), kill);

    // As a non-root user only the sets given (ambient) survive execve.
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.save();
    let status = ok(&rt.run(&unique("caps"), &b));
    assert_eq!(cap_hex(&status, "CapEff:"), kill);
    assert_eq!(cap_hex(&status, "CapPrm:"), kill);
    assert_eq!(cap_hex(&status, "CapBnd:"), chown | kill | nbs);
}

#[test]
fn only_stdio_and_preserved_fds_reach_the_process() {
    let rt = Runtime::new();
    // The probe reports its own open fds (a shell would show its pipeline's pipes too).
    let b = Bundle::probe(&[]);
    let fds = |out: &std::process::Output| -> (Vec<String>, serde_json::Value) {
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut keys: Vec<String> = r["fds"].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        (keys, r["env"].clone())
    };
    let (open, _) = fds(&rt.run(&unique("fds"), &b));
    assert_eq!(open, ["0", "1", "2"]);

    // One preserved fd and one LISTEN_FDS fd: fds 3 and 4 pass, LISTEN_FDS=1 is set.
    // Both pipes stay open (owned here) until the command is done.
    let (read3, _w3) = rustix::pipe::pipe().unwrap();
    let (read4, _w4) = rustix::pipe::pipe().unwrap();
    let r3 = std::os::fd::AsRawFd::as_raw_fd(&read3);
    let r4 = std::os::fd::AsRawFd::as_raw_fd(&read4);
    let mut cmd = rt.command();
    cmd.args([
        "run",
        "--preserve-fds",
        "1",
        "-b",
        b.path().to_str().unwrap(),
        &unique("fds"),
    ])
    .env("LISTEN_FDS", "1");
    // SAFETY: dup2 in the forked child before exec, onto fds 3 and 4.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::dup2(r3, 3) < 0 || libc::dup2(r4, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let (open, env) = fds(&out);
    assert_eq!(open, ["0", "1", "2", "3", "4"]);
    assert!(
        env.as_array().unwrap().iter().any(|e| e == "LISTEN_FDS=1"),
        "{env}"
    );
}

#[test]
fn hostname_domainname_sysctl() {
    let rt = Runtime::new();
    let mut b = Bundle::sh("echo host=$(hostname); echo domain=$(cat /proc/sys/kernel/domainname); echo shmmni=$(cat /proc/sys/kernel/shmmni)");
    b.config["hostname"] = json!("web1");
    b.config["domainname"] = json!("example.org");
    b.config["linux"]["sysctl"] = json!({"kernel.shmmni": "1234"});
    b.save();
    let r = kv(&ok(&rt.run(&unique("uts"), &b)));
    assert_eq!(r["host"], "web1");
    assert_eq!(r["domain"], "example.org");
    assert_eq!(r["shmmni"], "1234");
    assert_ne!(
        std::fs::read_to_string("/proc/sys/kernel/shmmni")
            .unwrap()
            .trim(),
        "1234"
    );
}
