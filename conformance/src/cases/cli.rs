//! runc's command-line contract, which engines and other suites rely on beyond the
//! runtime-spec's abstract operations (see docs on engines): pid files, preserved fds,
//! flag placement, force-delete, exit codes, logs.

use serde_json::Value;

use super::{Case, Res};
use crate::check;
use crate::ctx::Ctx;

pub const CASES: &[Case] = &[
    Case {
        name: "cli/create-options-after-id",
        spec: "runc CLI",
        quote: "create [options] <container-id>: options given after the id are taken too (urfave/cli argument reordering callers rely on)",
        run: options_after_id,
    },
    Case {
        name: "cli/pid-file",
        spec: "runc CLI",
        quote: "create --pid-file FILE: the container process's pid is written to FILE before create returns",
        run: pid_file,
    },
    Case {
        name: "cli/pid-file-early-exit",
        spec: "runc CLI",
        quote: "run --detach --pid-file FILE: the pid file is written even when the process exits at once",
        run: pid_file_early_exit,
    },
    Case {
        name: "cli/preserve-fds",
        spec: "runtime-linux.md#file-descriptors",
        quote: "The runtime MAY pass additional file descriptors to the application (--preserve-fds N passes fds 3..3+N)",
        run: preserve_fds,
    },
    Case {
        name: "cli/no-leaked-fds",
        spec: "runtime-linux.md#file-descriptors",
        quote: "By default, only the stdin, stdout and stderr file descriptors are kept open for the application by the runtime.",
        run: no_leaked_fds,
    },
    Case {
        name: "cli/delete-force-missing",
        spec: "runc CLI",
        quote: "delete --force of a container that does not exist succeeds (engines clean up this way)",
        run: delete_force_missing,
    },
    Case {
        name: "cli/delete-force-running",
        spec: "runc CLI",
        quote: "delete --force kills and deletes a running container",
        run: delete_force_running,
    },
    Case {
        name: "cli/run-exit-status",
        spec: "runc CLI",
        quote: "run in the foreground exits with the container process's exit status",
        run: run_exit_status,
    },
    Case {
        name: "cli/kill-numeric-signal",
        spec: "runc CLI",
        quote: "kill <id> <signal>: signals by number as engines send them (kill ID 9)",
        run: kill_numeric,
    },
    Case {
        name: "cli/list",
        spec: "runc CLI",
        quote: "list --format json: the containers under --root with their status",
        run: list,
    },
    Case {
        name: "cli/log-json",
        spec: "runc CLI",
        quote: "--log FILE --log-format json: errors are JSON lines with level and msg",
        run: log_json,
    },
];

fn options_after_id(ctx: &mut Ctx) -> Res {
    let b = ctx.bundle(&["sleep", "60"])?;
    let id = ctx.id();
    let out = ctx.rt(&["create", &id, "--bundle", b.path()]);
    check!(out.ok(), "create ID --bundle B: {}", out.describe());
    check!(ctx.status(&id).as_deref() == Some("created"), "not created");
    Ok(())
}

fn pid_file(ctx: &mut Ctx) -> Res {
    let b = ctx.bundle(&["sleep", "60"])?;
    let id = ctx.id();
    let pf = ctx.path("init.pid");
    let out = ctx.rt(&[
        "create",
        "--bundle",
        b.path(),
        "--pid-file",
        pf.to_str().unwrap_or_default(),
        &id,
    ]);
    check!(out.ok(), "create: {}", out.describe());
    let written = std::fs::read_to_string(&pf).unwrap_or_default();
    let pid = ctx.pid(&id)?;
    check!(
        written.trim() == pid.to_string(),
        "pid file {written:?}, state pid {pid}"
    );
    Ok(())
}

fn pid_file_early_exit(ctx: &mut Ctx) -> Res {
    let b = ctx.bundle(&["true"])?;
    let id = ctx.id();
    let pf = ctx.path("init.pid");
    let out = ctx.rt(&[
        "run",
        "--detach",
        "--bundle",
        b.path(),
        "--pid-file",
        pf.to_str().unwrap_or_default(),
        &id,
    ]);
    check!(out.ok(), "run --detach: {}", out.describe());
    let written = std::fs::read_to_string(&pf).unwrap_or_default();
    check!(
        written.trim().parse::<u32>().is_ok_and(|p| p > 0),
        "pid file {written:?}"
    );
    Ok(())
}

fn fds_of(ctx: &mut Ctx, extra: &[&str]) -> Result<Value, super::Verdict> {
    let b = ctx.probe_bundle(&[])?;
    let id = ctx.id();
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend(["--bundle", b.path(), id.as_str()]);
    // fd 3 open (not close-on-exec) in the runtime's caller.
    let out = ctx.rt_via_shell("exec 3</etc/hostname", &args);
    check!(out.ok(), "run: {}", out.describe());
    Ok(crate::ctx::parse_report(&out.stdout)?["fds"].clone())
}

fn preserve_fds(ctx: &mut Ctx) -> Res {
    let fds = fds_of(ctx, &["--preserve-fds", "1"])?;
    check!(
        fds["3"].as_str().is_some_and(|t| t.ends_with("hostname")),
        "fd 3 not passed: {fds}"
    );
    Ok(())
}

fn no_leaked_fds(ctx: &mut Ctx) -> Res {
    let fds = fds_of(ctx, &[])?;
    let keys: Vec<&String> = fds
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    check!(keys.len() == 3, "open fds in the container: {fds}");
    Ok(())
}

fn delete_force_missing(ctx: &mut Ctx) -> Res {
    let id = ctx.id();
    let out = ctx.rt(&["delete", "--force", &id]);
    check!(
        out.ok(),
        "delete --force of a missing container: {}",
        out.describe()
    );
    Ok(())
}

fn delete_force_running(ctx: &mut Ctx) -> Res {
    let b = ctx.bundle(&["sleep", "60"])?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    let out = ctx.rt(&["delete", "--force", &id]);
    check!(out.ok(), "delete --force: {}", out.describe());
    check!(ctx.state(&id).is_none(), "still there after delete --force");
    Ok(())
}

fn run_exit_status(ctx: &mut Ctx) -> Res {
    let b = ctx.sh_bundle("exit 7")?;
    let id = ctx.id();
    let out = ctx.run(&id, &b);
    check!(
        out.code == Some(7),
        "run exited {:?}, the process 7",
        out.code
    );
    Ok(())
}

fn kill_numeric(ctx: &mut Ctx) -> Res {
    let b = ctx.bundle(&["sleep", "60"])?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    let out = ctx.kill(&id, "9");
    check!(out.ok(), "kill {id} 9: {}", out.describe());
    check!(ctx.wait_status(&id, "stopped"), "never stopped");
    Ok(())
}

fn list(ctx: &mut Ctx) -> Res {
    let b = ctx.bundle(&["sleep", "60"])?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let out = ctx.rt(&["list", "--format", "json"]);
    check!(out.ok(), "list: {}", out.describe());
    let v: Value = serde_json::from_str(&out.stdout).map_err(anyhow::Error::from)?;
    let found = v
        .as_array()
        .and_then(|l| l.iter().find(|c| c["id"] == id.as_str()))
        .cloned();
    check!(
        found.as_ref().is_some_and(|c| c["status"] == "created"),
        "list: {}",
        out.stdout
    );
    Ok(())
}

fn log_json(ctx: &mut Ctx) -> Res {
    let log = ctx.path("log.json");
    let id = ctx.id();
    let out = ctx.rt(&[
        "--log",
        log.to_str().unwrap_or_default(),
        "--log-format",
        "json",
        "start",
        &id,
    ]);
    check!(!out.ok(), "start of a missing container succeeded");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let v: Value = serde_json::from_str(last)
        .map_err(|e| anyhow::anyhow!("last log line is not JSON ({e}): {text:?}"))?;
    check!(
        v["level"] == "error" && v["msg"].is_string(),
        "log line {v}"
    );
    Ok(())
}
