//! config.md#process: args, cwd, env, user, terminal, capabilities, rlimits, oomScoreAdj,
//! noNewPrivileges, and the Linux default devices that depend on the terminal.

use std::time::Duration;

use serde_json::{json, Value};

use super::{skip, Case, Res};
use crate::bundle::Bundle;
use crate::check;
use crate::console::{read_all, ConsoleSocket};
use crate::ctx::Ctx;
use crate::host;

pub const CASES: &[Case] = &[
    Case {
        name: "process/args",
        spec: "config.md#process",
        quote: "args (array of strings, OPTIONAL) with similar semantics to IEEE Std 1003.1-2008 execvp's argv.",
        run: args,
    },
    Case {
        name: "process/args-path-lookup",
        spec: "config.md#process",
        quote: "This specification extends the IEEE standard in that at least one entry is REQUIRED (non-Windows), and that entry is used with the same semantics as execvp's file.",
        run: args_path_lookup,
    },
    Case {
        name: "process/args-empty",
        spec: "config.md#process",
        quote: "This specification extends the IEEE standard in that at least one entry is REQUIRED (non-Windows)",
        run: args_empty,
    },
    Case {
        name: "process/executable-not-found",
        spec: "runtime.md#lifecycle",
        quote: "If the runtime is unable to create the environment specified in the config.json, it MUST generate an error.",
        run: executable_not_found,
    },
    Case {
        name: "process/cwd",
        spec: "config.md#process",
        quote: "cwd (string, REQUIRED) is the working directory that will be set for the executable.",
        run: cwd,
    },
    Case {
        name: "process/cwd-relative",
        spec: "config.md#process",
        quote: "cwd ... This value MUST be an absolute path. / Runtimes MUST generate an error when invalid or unsupported values are encountered.",
        run: cwd_relative,
    },
    Case {
        name: "process/env",
        spec: "config.md#process",
        quote: "env (array of strings, OPTIONAL) with the same semantics as IEEE Std 1003.1-2008's environ.",
        run: env,
    },
    Case {
        name: "process/user-uid-gid",
        spec: "config.md#posix-platform-user",
        quote: "uid (int, REQUIRED) specifies the user ID in the container namespace. gid (int, REQUIRED) specifies the group ID in the container namespace.",
        run: user,
    },
    Case {
        name: "process/user-additional-gids",
        spec: "config.md#posix-platform-user",
        quote: "additionalGids (array of ints, OPTIONAL) specifies additional group IDs in the container namespace to be added to the process.",
        run: additional_gids,
    },
    Case {
        name: "process/user-umask",
        spec: "config.md#posix-platform-user",
        quote: "umask (int, OPTIONAL) specifies the umask of the user.",
        run: umask,
    },
    Case {
        name: "process/user-umask-unset",
        spec: "config.md#posix-platform-user",
        quote: "If unspecified, the umask should not be changed from the calling process' umask.",
        run: umask_unset,
    },
    Case {
        name: "process/terminal-false-stdio",
        spec: "config.md#process",
        quote: "terminal (bool, OPTIONAL) specifies whether a terminal is attached to the process, defaults to false.",
        run: terminal_false,
    },
    Case {
        name: "process/terminal-true",
        spec: "config.md#process",
        quote: "As an example, if set to true on Linux a pseudoterminal pair is allocated for the process and the pseudoterminal pty is duplicated on the process's standard streams.",
        run: terminal_true,
    },
    Case {
        name: "process/console-size",
        spec: "config.md#process",
        quote: "consoleSize (object, OPTIONAL) specifies the console size in characters of the terminal.",
        run: console_size,
    },
    Case {
        name: "process/console-size-ignored-without-terminal",
        spec: "config.md#process",
        quote: "Runtimes MUST ignore consoleSize if terminal is false or unset.",
        run: console_size_ignored,
    },
    Case {
        name: "linux/dev-console",
        spec: "config-linux.md#default-devices",
        quote: "/dev/console is set up if terminal is enabled in the config by bind mounting the pseudoterminal pty to /dev/console.",
        run: dev_console,
    },
    Case {
        name: "process/capabilities-bounding",
        spec: "config.md#linux-process",
        quote: "bounding (array of strings, OPTIONAL) the bounding field is an array of bounding capabilities that are kept for the process.",
        run: caps_bounding,
    },
    Case {
        name: "process/capabilities-inheritable",
        spec: "config.md#linux-process",
        quote: "inheritable (array of strings, OPTIONAL) the inheritable field is an array of inheritable capabilities that are kept for the process.",
        run: caps_inheritable,
    },
    Case {
        name: "process/capabilities-ambient",
        spec: "config.md#linux-process",
        quote: "ambient (array of strings, OPTIONAL) the ambient field is an array of ambient capabilities that are kept for the process.",
        run: caps_ambient,
    },
    Case {
        name: "process/capabilities-non-root-effective",
        spec: "config.md#linux-process",
        quote: "effective (array of strings, OPTIONAL) the effective field is an array of effective capabilities that are kept for the process.",
        run: caps_non_root,
    },
    Case {
        name: "process/capabilities-unknown-not-fatal",
        spec: "config.md#linux-process",
        quote: "Any value which cannot be mapped to a relevant kernel interface, or cannot be granted otherwise MUST be logged as a warning by the runtime. Runtimes SHOULD NOT fail if the container configuration requests capabilities that cannot be granted",
        run: caps_unknown,
    },
    Case {
        name: "process/capabilities-ungrantable-not-fatal",
        spec: "config.md#linux-process",
        quote: "Runtimes SHOULD NOT fail if the container configuration requests capabilities that cannot be granted, for example, if the runtime operates in a restricted environment with a limited set of capabilities.",
        run: caps_ungrantable,
    },
    Case {
        name: "process/no-new-privileges-true",
        spec: "config.md#linux-process",
        quote: "noNewPrivileges (bool, OPTIONAL) setting noNewPrivileges to true prevents the process from gaining additional privileges.",
        run: nnp_true,
    },
    Case {
        name: "process/no-new-privileges-false",
        spec: "config.md#linux-process",
        quote: "noNewPrivileges (bool, OPTIONAL) setting noNewPrivileges to true prevents the process from gaining additional privileges.",
        run: nnp_false,
    },
    Case {
        name: "process/rlimits",
        spec: "config.md#posix-process",
        quote: "soft ... rlim.rlim_cur MUST match the configured value. hard ... rlim.rlim_max MUST match the configured value.",
        run: rlimits,
    },
    Case {
        name: "process/rlimits-invalid-type",
        spec: "config.md#posix-process",
        quote: "The runtime MUST generate an error for any values which cannot be mapped to a relevant kernel interface.",
        run: rlimits_invalid,
    },
    Case {
        name: "process/rlimits-duplicate",
        spec: "config.md#posix-process",
        quote: "If rlimits contains duplicated entries with same type, the runtime MUST generate an error.",
        run: rlimits_duplicate,
    },
    Case {
        name: "process/rlimits-raise-hard",
        spec: "config.md#posix-process",
        quote: "hard ... rlim.rlim_max MUST match the configured value. Only a privileged process (e.g. one with the CAP_SYS_RESOURCE capability) can raise a hard limit.",
        run: rlimits_raise,
    },
    Case {
        name: "process/oom-score-adj",
        spec: "config.md#linux-process",
        quote: "If oomScoreAdj is set, the runtime MUST set oom_score_adj to the given value.",
        run: oom_score_adj,
    },
    Case {
        name: "process/oom-score-adj-unset",
        spec: "config.md#linux-process",
        quote: "If oomScoreAdj is not set, the runtime MUST NOT change the value of oom_score_adj.",
        run: oom_score_adj_unset,
    },
    Case {
        name: "process/apparmor-profile",
        spec: "config.md#linux-process",
        quote: "apparmorProfile (string, OPTIONAL) specifies the name of the AppArmor profile for the process.",
        run: apparmor,
    },
    Case {
        name: "process/selinux-label",
        spec: "config.md#linux-process",
        quote: "selinuxLabel (string, OPTIONAL) specifies the SELinux label for the process.",
        run: selinux,
    },
];

fn report(ctx: &mut Ctx, b: &Bundle) -> Result<Value, super::Verdict> {
    Ok(ctx.probe(b)?)
}

fn args(ctx: &mut Ctx) -> Res {
    let b = ctx.bundle(&[
        "/bin/sh",
        "-c",
        "for a; do echo \"[$a]\"; done",
        "sh",
        "a b",
        "",
        "c",
    ])?;
    let out = ctx.run_ok(&b)?;
    check!(out == "[a b]\n[]\n[c]\n", "the process saw {out:?}");
    Ok(())
}

fn args_path_lookup(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["echo", "found"])?;
    b.config["process"]["env"] = json!(["PATH=/nonexistent:/bin"]);
    b.save()?;
    let out = ctx.run_ok(&b)?;
    check!(out.trim() == "found", "stdout {out:?}");
    Ok(())
}

fn args_empty(ctx: &mut Ctx) -> Res {
    let b = ctx.bundle(&[])?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(!out.ok(), "create with empty args succeeded");
    Ok(())
}

fn executable_not_found(ctx: &mut Ctx) -> Res {
    let b = ctx.bundle(&["/no-such-executable"])?;
    let id = ctx.id();
    let out = ctx.run(&id, &b);
    check!(!out.ok(), "run of a missing executable succeeded");
    Ok(())
}

fn cwd(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.config["process"]["cwd"] = json!("/tmp");
    b.save()?;
    let r = report(ctx, &b)?;
    check!(r["cwd"] == "/tmp", "cwd {}", r["cwd"]);
    Ok(())
}

fn cwd_relative(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    b.config["process"]["cwd"] = json!("tmp");
    b.save()?;
    let id = ctx.id();
    let out = ctx.run(&id, &b);
    check!(!out.ok(), "a relative cwd was accepted");
    Ok(())
}

fn env(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.config["process"]["env"] = json!(["PATH=/bin", "CONFORMANCE=a=b c", "EMPTY="]);
    b.save()?;
    let r = report(ctx, &b)?;
    let env: Vec<&str> = r["env"]
        .as_array()
        .map(|l| l.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for want in ["PATH=/bin", "CONFORMANCE=a=b c", "EMPTY="] {
        check!(env.contains(&want), "env lacks {want:?}: {env:?}");
    }
    Ok(())
}

fn user(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1001});
    b.save()?;
    let r = report(ctx, &b)?;
    check!(r["uid"] == "1000\t1000\t1000\t1000", "uid {}", r["uid"]);
    check!(r["gid"] == "1001\t1001\t1001\t1001", "gid {}", r["gid"]);
    Ok(())
}

fn additional_gids(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 6]});
    b.save()?;
    let r = report(ctx, &b)?;
    let groups: Vec<&str> = r["groups"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    check!(
        groups.contains(&"5") && groups.contains(&"6"),
        "groups {groups:?}"
    );
    Ok(())
}

fn umask(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.config["process"]["user"]["umask"] = json!(0o077);
    b.save()?;
    let r = report(ctx, &b)?;
    check!(r["umask"] == "0077", "umask {}", r["umask"]);
    Ok(())
}

fn umask_unset(ctx: &mut Ctx) -> Res {
    let b = ctx.probe_bundle(&[])?;
    let id = ctx.id();
    // The caller's umask is 0027; the container should keep it.
    let out = ctx.rt_via_shell("umask 0027", &["run", "--bundle", b.path(), &id]);
    check!(out.ok(), "run: {}", out.describe());
    let r = crate::ctx::parse_report(&out.stdout)?;
    check!(
        r["umask"] == "0027",
        "umask {} (the caller's was 0027)",
        r["umask"]
    );
    Ok(())
}

fn terminal_false(ctx: &mut Ctx) -> Res {
    let b = ctx.sh_bundle("echo to-stdout; echo to-stderr >&2")?;
    let id = ctx.id();
    let out = ctx.run(&id, &b);
    check!(out.ok(), "run: {}", out.describe());
    check!(out.stdout == "to-stdout\n", "stdout {:?}", out.stdout);
    check!(out.stderr.contains("to-stderr"), "stderr {:?}", out.stderr);
    Ok(())
}

/// Creates with a console socket, starts, and returns what the container wrote to its pty.
fn tty_output(ctx: &mut Ctx, b: &mut Bundle) -> Result<String, super::Verdict> {
    b.config["process"]["terminal"] = json!(true);
    b.save()?;
    let mut sock = ConsoleSocket::listen(&ctx.path("console.sock"))?;
    let id = ctx.id();
    let sock_path = sock.path.display().to_string();
    let out = ctx.rt(&[
        "create",
        "--bundle",
        b.path(),
        "--console-socket",
        &sock_path,
        &id,
    ]);
    let master = sock.master();
    check!(out.ok(), "create with a terminal: {}", out.describe());
    let master = master?;
    let reader = std::thread::spawn(move || read_all(master, Duration::from_secs(10)));
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    let text = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
    Ok(text.replace('\r', ""))
}

fn terminal_true(ctx: &mut Ctx) -> Res {
    let mut b = ctx.sh_bundle("tty; for f in 0 1 2; do readlink /proc/self/fd/$f; done")?;
    let text = tty_output(ctx, &mut b)?;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    check!(lines.len() >= 4, "terminal output {text:?}");
    check!(
        lines[0].starts_with("/dev/pts/"),
        "stdin is not a pty: {}",
        lines[0]
    );
    check!(
        lines[1..4].iter().all(|l| l.starts_with("/dev/pts/")),
        "stdio not all on the pty: {lines:?}"
    );
    Ok(())
}

fn console_size(ctx: &mut Ctx) -> Res {
    let mut b = ctx.sh_bundle("stty size")?;
    b.config["process"]["consoleSize"] = json!({"height": 33, "width": 111});
    let text = tty_output(ctx, &mut b)?;
    check!(text.trim() == "33 111", "stty size: {text:?}");
    Ok(())
}

fn console_size_ignored(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["echo", "ok"])?;
    b.config["process"]["consoleSize"] = json!({"height": 33, "width": 111});
    b.save()?;
    let out = ctx.run_ok(&b)?;
    check!(out.trim() == "ok", "stdout {out:?}");
    Ok(())
}

fn dev_console(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&["--stat", "/dev/console"])?;
    let text = tty_output(ctx, &mut b)?;
    let r = crate::ctx::parse_report(&text)?;
    let st = &r["stat"]["/dev/console"];
    // The pty slave: a char device of the unix98 pty majors (136-143).
    let major = st["major"].as_u64().unwrap_or_default();
    check!(
        st["type"] == "char" && (136..=143).contains(&major),
        "/dev/console: {st}"
    );
    Ok(())
}

/// Capability bit numbers of the names used here.
fn cap_bit(name: &str) -> u32 {
    match name {
        "CAP_CHOWN" => 0,
        "CAP_KILL" => 5,
        "CAP_NET_BIND_SERVICE" => 10,
        "CAP_NET_RAW" => 13,
        "CAP_SYS_RESOURCE" => 24,
        _ => 63,
    }
}

fn mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |m, n| m | (1u64 << cap_bit(n)))
}

fn cap_set(r: &Value, set: &str) -> u64 {
    u64::from_str_radix(r["caps"][set].as_str().unwrap_or("x"), 16).unwrap_or(u64::MAX)
}

fn caps_bounding(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    let set = ["CAP_CHOWN", "CAP_KILL"];
    b.config["process"]["capabilities"] =
        json!({"bounding": set, "effective": set, "permitted": set});
    b.save()?;
    let r = report(ctx, &b)?;
    check!(
        cap_set(&r, "bounding") == mask(&set),
        "CapBnd {:x}",
        cap_set(&r, "bounding")
    );
    Ok(())
}

fn caps_inheritable(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    let set = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"];
    b.config["process"]["capabilities"] = json!({
        "bounding": set, "effective": set, "permitted": set, "inheritable": ["CAP_KILL"]
    });
    b.save()?;
    let r = report(ctx, &b)?;
    check!(
        cap_set(&r, "inheritable") == mask(&["CAP_KILL"]),
        "CapInh {:x}",
        cap_set(&r, "inheritable")
    );
    Ok(())
}

fn caps_ambient(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    let set = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["process"]["capabilities"] = json!({
        "bounding": set, "effective": set, "permitted": set, "inheritable": set,
        "ambient": ["CAP_NET_BIND_SERVICE"]
    });
    b.save()?;
    let r = report(ctx, &b)?;
    check!(
        cap_set(&r, "ambient") == mask(&["CAP_NET_BIND_SERVICE"]),
        "CapAmb {:x}",
        cap_set(&r, "ambient")
    );
    Ok(())
}

fn caps_non_root(ctx: &mut Ctx) -> Res {
    // A non-root process keeps after execve exactly its ambient set: effective and permitted
    // are observable there (for uid 0 the kernel raises them to the bounding set).
    let mut b = ctx.probe_bundle(&[])?;
    let set = ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"];
    let kept = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["process"]["capabilities"] = json!({
        "bounding": set, "effective": kept, "permitted": kept, "inheritable": kept, "ambient": kept
    });
    b.save()?;
    let r = report(ctx, &b)?;
    check!(
        cap_set(&r, "effective") == mask(&kept),
        "CapEff {:x}",
        cap_set(&r, "effective")
    );
    check!(
        cap_set(&r, "permitted") == mask(&kept),
        "CapPrm {:x}",
        cap_set(&r, "permitted")
    );
    Ok(())
}

fn caps_unknown(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    let set = ["CAP_KILL", "CAP_CONFORMANCE_UNKNOWN"];
    b.config["process"]["capabilities"] =
        json!({"bounding": set, "effective": set, "permitted": set});
    b.save()?;
    let r = report(ctx, &b)?;
    check!(
        cap_set(&r, "bounding") & mask(&["CAP_KILL"]) != 0,
        "CAP_KILL was dropped too"
    );
    Ok(())
}

fn caps_ungrantable(ctx: &mut Ctx) -> Res {
    if host::has_cap(host::CAP_SYS_RESOURCE) {
        return skip("the host grants CAP_SYS_RESOURCE: no capability here is ungrantable");
    }
    let mut b = ctx.probe_bundle(&[])?;
    let set = ["CAP_KILL", "CAP_SYS_RESOURCE"];
    b.config["process"]["capabilities"] =
        json!({"bounding": set, "effective": set, "permitted": set});
    b.save()?;
    let r = report(ctx, &b)?;
    check!(
        cap_set(&r, "bounding") & mask(&["CAP_KILL"]) != 0,
        "CAP_KILL was dropped too"
    );
    Ok(())
}

fn nnp(ctx: &mut Ctx, on: bool) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.config["process"]["noNewPrivileges"] = json!(on);
    b.save()?;
    let r = report(ctx, &b)?;
    let want = if on { "1" } else { "0" };
    check!(
        r["no_new_privs"] == want,
        "NoNewPrivs {}",
        r["no_new_privs"]
    );
    Ok(())
}

fn nnp_true(ctx: &mut Ctx) -> Res {
    nnp(ctx, true)
}

fn nnp_false(ctx: &mut Ctx) -> Res {
    nnp(ctx, false)
}

fn rlimits(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 768},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
    ]);
    b.save()?;
    let r = report(ctx, &b)?;
    check!(
        r["rlimits"]["RLIMIT_NOFILE"] == json!([512, 768]),
        "NOFILE {}",
        r["rlimits"]["RLIMIT_NOFILE"]
    );
    check!(
        r["rlimits"]["RLIMIT_CORE"] == json!([0, 4096]),
        "CORE {}",
        r["rlimits"]["RLIMIT_CORE"]
    );
    Ok(())
}

fn rlimits_invalid(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_CONFORMANCE", "soft": 1, "hard": 1}]);
    b.save()?;
    let id = ctx.id();
    let out = ctx.run(&id, &b);
    check!(!out.ok(), "an unknown rlimit type was accepted");
    Ok(())
}

fn rlimits_duplicate(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512},
        {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 256},
    ]);
    b.save()?;
    let id = ctx.id();
    let out = ctx.run(&id, &b);
    check!(!out.ok(), "duplicated rlimits were accepted");
    Ok(())
}

fn rlimits_raise(ctx: &mut Ctx) -> Res {
    if !host::has_cap(host::CAP_SYS_RESOURCE) {
        return skip("the host lacks CAP_SYS_RESOURCE: no hard limit can be raised");
    }
    // None is RLIM_INFINITY.
    let max = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    let hard = max.unwrap_or(u64::MAX) + 1024;
    let mut b = ctx.probe_bundle(&[])?;
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard}]);
    b.save()?;
    let r = report(ctx, &b)?;
    check!(
        r["rlimits"]["RLIMIT_NOFILE"] == json!([1024, hard]),
        "NOFILE {}",
        r["rlimits"]["RLIMIT_NOFILE"]
    );
    Ok(())
}

fn oom_score_adj(ctx: &mut Ctx) -> Res {
    let mut b = ctx.probe_bundle(&[])?;
    b.config["process"]["oomScoreAdj"] = json!(345);
    b.save()?;
    let r = report(ctx, &b)?;
    check!(
        r["oom_score_adj"] == "345",
        "oom_score_adj {}",
        r["oom_score_adj"]
    );
    Ok(())
}

fn oom_score_adj_unset(ctx: &mut Ctx) -> Res {
    let b = ctx.probe_bundle(&[])?;
    let id = ctx.id();
    let out = ctx.rt_via_shell(
        "echo 123 > /proc/self/oom_score_adj",
        &["run", "--bundle", b.path(), &id],
    );
    check!(out.ok(), "run: {}", out.describe());
    let r = crate::ctx::parse_report(&out.stdout)?;
    check!(
        r["oom_score_adj"] == "123",
        "oom_score_adj {} (the caller's was 123)",
        r["oom_score_adj"]
    );
    Ok(())
}

fn apparmor(ctx: &mut Ctx) -> Res {
    if !host::lsm_enabled("apparmor") {
        return skip("the host has no AppArmor");
    }
    let mut b = ctx.sh_bundle("cat /proc/self/attr/current")?;
    b.config["process"]["apparmorProfile"] = json!("unconfined");
    b.save()?;
    let out = ctx.run_ok(&b)?;
    check!(out.contains("unconfined"), "profile {out:?}");
    Ok(())
}

fn selinux(ctx: &mut Ctx) -> Res {
    if !host::lsm_enabled("selinux") {
        return skip("the host has no SELinux");
    }
    let mut b = ctx.sh_bundle("cat /proc/self/attr/current")?;
    b.config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    b.save()?;
    let out = ctx.run_ok(&b)?;
    check!(out.contains("container_t"), "label {out:?}");
    Ok(())
}
