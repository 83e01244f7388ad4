//! config.md#posix-platform-hooks and runtime.md#lifecycle steps 3-13: when each hook runs,
//! in which namespace, with what on stdin, and what its failure does.

use std::time::Duration;

use serde_json::{json, Value};

use super::{Case, Res};
use crate::bundle::Bundle;
use crate::check;
use crate::ctx::Ctx;

pub const CASES: &[Case] = &[
    Case {
        name: "hooks/prestart-during-create",
        spec: "config.md#prestart",
        quote: "The prestart hooks MUST be called as part of the create operation after the runtime environment has been created (according to the configuration in config.json) but before the pivot_root or any equivalent operation has been executed.",
        run: prestart_during_create,
    },
    Case {
        name: "hooks/createRuntime-during-create",
        spec: "config.md#createruntime-hooks",
        quote: "The createRuntime hooks MUST be called as part of the create operation after the runtime environment has been created ... but before the pivot_root or any equivalent operation has been executed.",
        run: create_runtime_during_create,
    },
    Case {
        name: "hooks/createContainer-during-create",
        spec: "config.md#createcontainer-hooks",
        quote: "The createContainer hooks MUST be called as part of the create operation after the runtime environment has been created ... but before the pivot_root or any equivalent operation has been executed.",
        run: create_container_during_create,
    },
    Case {
        name: "hooks/startContainer-during-start",
        spec: "config.md#startcontainer-hooks",
        quote: "The startContainer hooks MUST be called before the user-specified process is executed as part of the start operation.",
        run: start_container_during_start,
    },
    Case {
        name: "hooks/poststart-before-start-returns",
        spec: "config.md#poststart",
        quote: "The poststart hooks MUST be called after the user-specified process is executed but before the start operation returns.",
        run: poststart_before_return,
    },
    Case {
        name: "hooks/poststop-before-delete-returns",
        spec: "config.md#poststop",
        quote: "The poststop hooks MUST be called after the container is deleted but before the delete operation returns.",
        run: poststop_before_return,
    },
    Case {
        name: "hooks/listed-order",
        spec: "config.md#posix-platform-hooks",
        quote: "Hooks MUST be called in the listed order.",
        run: listed_order,
    },
    Case {
        name: "hooks/phase-order",
        spec: "config.md#prestart",
        quote: "The prestart hooks MUST be called before the createRuntime hooks. ... The createContainer hooks MUST be called after the createRuntime hooks.",
        run: phase_order,
    },
    Case {
        name: "hooks/state-on-stdin",
        spec: "config.md#posix-platform-hooks",
        quote: "The state of the container MUST be passed to hooks over stdin so that they may do work appropriate to the current state of the container.",
        run: state_on_stdin,
    },
    Case {
        name: "hooks/poststop-state-on-stdin",
        spec: "config.md#posix-platform-hooks",
        quote: "The state of the container MUST be passed to hooks over stdin so that they may do work appropriate to the current state of the container.",
        run: poststop_state_on_stdin,
    },
    Case {
        name: "hooks/args-and-env",
        spec: "config.md#posix-platform-hooks",
        quote: "args (array of strings, OPTIONAL) with the same semantics as IEEE Std 1003.1-2008 execv's argv. env (array of strings, OPTIONAL) with the same semantics as IEEE Std 1003.1-2008's environ.",
        run: args_and_env,
    },
    Case {
        name: "hooks/prestart-runtime-namespace",
        spec: "config.md#prestart",
        quote: "The prestart hooks MUST be executed in the runtime namespace.",
        run: prestart_ns,
    },
    Case {
        name: "hooks/createRuntime-runtime-namespace",
        spec: "config.md#createruntime-hooks",
        quote: "The createRuntime hooks MUST be executed in the runtime namespace.",
        run: create_runtime_ns,
    },
    Case {
        name: "hooks/createContainer-container-namespace",
        spec: "config.md#createcontainer-hooks",
        quote: "The createContainer hooks MUST be executed in the container namespace.",
        run: create_container_ns,
    },
    Case {
        name: "hooks/startContainer-container-namespace",
        spec: "config.md#startcontainer-hooks",
        quote: "The startContainer hooks' path MUST resolve in the container namespace. The startContainer hooks MUST be executed in the container namespace.",
        run: start_container_ns,
    },
    Case {
        name: "hooks/poststart-runtime-namespace",
        spec: "config.md#poststart",
        quote: "The poststart hooks MUST be executed in the runtime namespace.",
        run: poststart_ns,
    },
    Case {
        name: "hooks/poststop-runtime-namespace",
        spec: "config.md#poststop",
        quote: "The poststop hooks MUST be executed in the runtime namespace.",
        run: poststop_ns,
    },
    Case {
        name: "hooks/prestart-failure",
        spec: "runtime.md#lifecycle",
        quote: "If any prestart hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
        run: prestart_failure,
    },
    Case {
        name: "hooks/createRuntime-failure",
        spec: "runtime.md#lifecycle",
        quote: "If any createRuntime hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
        run: create_runtime_failure,
    },
    Case {
        name: "hooks/createContainer-failure",
        spec: "runtime.md#lifecycle",
        quote: "If any createContainer hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
        run: create_container_failure,
    },
    Case {
        name: "hooks/startContainer-failure",
        spec: "runtime.md#lifecycle",
        quote: "If any startContainer hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
        run: start_container_failure,
    },
    Case {
        name: "hooks/poststart-failure-warns",
        spec: "runtime.md#lifecycle",
        quote: "If any poststart hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue as if the hook had succeeded.",
        run: poststart_failure,
    },
    Case {
        name: "hooks/poststop-failure-warns",
        spec: "runtime.md#lifecycle",
        quote: "If any poststop hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue as if the hook had succeeded.",
        run: poststop_failure,
    },
    Case {
        name: "hooks/timeout",
        spec: "config.md#posix-platform-hooks",
        quote: "timeout (int, OPTIONAL) is the number of seconds before aborting the hook. If set, timeout MUST be greater than zero.",
        run: timeout,
    },
];

/// A host hook running a shell script (hooks get only the env they are given).
fn hook(script: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", script],
        "env": ["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"],
    })
}

fn add_hook(b: &mut Bundle, phase: &str, h: Value) {
    let hooks = &mut b.config["hooks"];
    if hooks.is_null() {
        *hooks = json!({});
    }
    if hooks[phase].is_null() {
        hooks[phase] = json!([]);
    }
    if let Some(list) = hooks[phase].as_array_mut() {
        list.push(h);
    }
}

/// A bundle (writable rootfs, `sleep 60` with a mark it ran) with a `phase` hook touching
/// `mark` on the host.
fn marked(ctx: &mut Ctx, phase: &str, mark: &std::path::Path) -> anyhow::Result<Bundle> {
    let mut b = ctx.sh_bundle("touch /ran; sleep 60")?;
    b.writable();
    add_hook(&mut b, phase, hook(&format!("touch {}", mark.display())));
    b.save()?;
    Ok(b)
}

fn during_create(ctx: &mut Ctx, phase: &str) -> Res {
    let mark = ctx.path("hook-ran");
    let b = marked(ctx, phase, &mark)?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    check!(
        mark.exists(),
        "the {phase} hook had not run when create returned"
    );
    check!(
        !b.rootfs().join("ran").exists(),
        "the process ran before start"
    );
    Ok(())
}

fn prestart_during_create(ctx: &mut Ctx) -> Res {
    during_create(ctx, "prestart")
}

fn create_runtime_during_create(ctx: &mut Ctx) -> Res {
    during_create(ctx, "createRuntime")
}

fn create_container_during_create(ctx: &mut Ctx) -> Res {
    during_create(ctx, "createContainer")
}

fn start_container_during_start(ctx: &mut Ctx) -> Res {
    // The hook runs in the container: its path and the mark resolve in the container's root.
    let mut b = ctx.sh_bundle("test -e /hooked && touch /ran-after-hook; sleep 60")?;
    b.writable();
    add_hook(
        &mut b,
        "startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "touch /hooked"], "env": ["PATH=/bin"]}),
    );
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    check!(
        !b.rootfs().join("hooked").exists(),
        "startContainer ran during create"
    );
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    check!(
        super::lifecycle::wait_file(&b.rootfs().join("ran-after-hook")),
        "the process did not see the startContainer hook's mark (hook not run, or run after the process)"
    );
    Ok(())
}

fn poststart_before_return(ctx: &mut Ctx) -> Res {
    let mark = ctx.path("hook-ran");
    let b = marked(ctx, "poststart", &mark)?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    check!(!mark.exists(), "poststart ran during create");
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    check!(
        mark.exists(),
        "the poststart hook had not run when start returned"
    );
    Ok(())
}

fn poststop_before_return(ctx: &mut Ctx) -> Res {
    let mark = ctx.path("hook-ran");
    let b = marked(ctx, "poststop", &mark)?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    check!(!mark.exists(), "poststop ran before delete");
    let out = ctx.rt(&["delete", "--force", &id]);
    check!(out.ok(), "delete --force: {}", out.describe());
    check!(
        mark.exists(),
        "the poststop hook had not run when delete returned"
    );
    Ok(())
}

fn listed_order(ctx: &mut Ctx) -> Res {
    let log = ctx.path("order");
    let mut b = ctx.bundle(&["sleep", "60"])?;
    for n in 1..=3 {
        add_hook(
            &mut b,
            "createRuntime",
            hook(&format!("echo {n} >> {}", log.display())),
        );
    }
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let got = std::fs::read_to_string(&log).unwrap_or_default();
    check!(got == "1\n2\n3\n", "hooks ran as {got:?}");
    Ok(())
}

fn phase_order(ctx: &mut Ctx) -> Res {
    let log = ctx.path("order");
    let mut b = ctx.bundle(&["sleep", "60"])?;
    for phase in ["createContainer", "createRuntime", "prestart"] {
        add_hook(
            &mut b,
            phase,
            hook(&format!("echo {phase} >> {}", log.display())),
        );
    }
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let got = std::fs::read_to_string(&log).unwrap_or_default();
    check!(
        got == "prestart\ncreateRuntime\ncreateContainer\n",
        "hooks ran as {got:?}"
    );
    Ok(())
}

fn read_json(p: &std::path::Path) -> Result<Value, super::Verdict> {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    serde_json::from_str(&text)
        .map_err(|e| super::Verdict::Fail(format!("hook stdin is not JSON ({e}): {text:?}")))
}

fn state_on_stdin(ctx: &mut Ctx) -> Res {
    let file = ctx.path("state.json");
    let mut b = ctx.bundle(&["sleep", "60"])?;
    add_hook(
        &mut b,
        "createRuntime",
        hook(&format!("cat > {}", file.display())),
    );
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let st = read_json(&file)?;
    let pid = ctx.pid(&id)?;
    check!(st["id"] == id.as_str(), "hook state id: {st}");
    check!(st["pid"] == pid, "hook state pid {} != {pid}", st["pid"]);
    check!(
        st["ociVersion"].is_string(),
        "hook state lacks ociVersion: {st}"
    );
    let bundle = std::fs::canonicalize(&b.dir).map_err(anyhow::Error::from)?;
    check!(
        st["bundle"] == bundle.to_str().unwrap_or_default(),
        "hook state bundle: {}",
        st["bundle"]
    );
    Ok(())
}

fn poststop_state_on_stdin(ctx: &mut Ctx) -> Res {
    let file = ctx.path("state.json");
    let mut b = ctx.bundle(&["true"])?;
    add_hook(
        &mut b,
        "poststop",
        hook(&format!("cat > {}", file.display())),
    );
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    check!(ctx.wait_status(&id, "stopped"), "never stopped");
    let out = ctx.delete(&id);
    check!(out.ok(), "delete: {}", out.describe());
    let st = read_json(&file)?;
    check!(st["id"] == id.as_str(), "poststop state: {st}");
    Ok(())
}

fn args_and_env(ctx: &mut Ctx) -> Res {
    let file = ctx.path("out");
    let mut b = ctx.bundle(&["sleep", "60"])?;
    add_hook(
        &mut b,
        "createRuntime",
        json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo \"$1 $HOOKVAR\" > {}", file.display()), "sh", "first-arg"],
            "env": ["HOOKVAR=from-env"],
        }),
    );
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let got = std::fs::read_to_string(&file).unwrap_or_default();
    check!(got.trim() == "first-arg from-env", "hook saw {got:?}");
    Ok(())
}

/// The network namespace a `phase` hook ran in, and the container's.
fn hook_net_ns(ctx: &mut Ctx, phase: &str) -> Result<(String, String), super::Verdict> {
    let file = ctx.path("ns");
    let mut b = ctx.bundle(&["sleep", "60"])?;
    add_hook(
        &mut b,
        phase,
        hook(&format!("readlink /proc/self/ns/net > {}", file.display())),
    );
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let pid = ctx.pid(&id)?;
    let container = crate::host::ns(&pid.to_string(), "net");
    if matches!(phase, "poststart" | "poststop") {
        let out = ctx.start(&id);
        check!(out.ok(), "start: {}", out.describe());
    }
    if phase == "poststop" {
        let out = ctx.rt(&["delete", "--force", &id]);
        check!(out.ok(), "delete: {}", out.describe());
    }
    let got = std::fs::read_to_string(&file).unwrap_or_default();
    check!(!got.is_empty(), "the {phase} hook did not run");
    Ok((got.trim().to_string(), container))
}

fn in_runtime_ns(ctx: &mut Ctx, phase: &str) -> Res {
    let (hook, container) = hook_net_ns(ctx, phase)?;
    let runtime = crate::host::ns("self", "net");
    check!(
        hook == runtime,
        "{phase} hook ran in {hook}, runtime's is {runtime} (container's {container})"
    );
    Ok(())
}

fn prestart_ns(ctx: &mut Ctx) -> Res {
    in_runtime_ns(ctx, "prestart")
}

fn create_runtime_ns(ctx: &mut Ctx) -> Res {
    in_runtime_ns(ctx, "createRuntime")
}

fn poststart_ns(ctx: &mut Ctx) -> Res {
    in_runtime_ns(ctx, "poststart")
}

fn poststop_ns(ctx: &mut Ctx) -> Res {
    in_runtime_ns(ctx, "poststop")
}

fn create_container_ns(ctx: &mut Ctx) -> Res {
    let (hook, container) = hook_net_ns(ctx, "createContainer")?;
    check!(
        hook == container,
        "createContainer hook ran in {hook}, the container's is {container}"
    );
    Ok(())
}

fn start_container_ns(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["sleep", "60"])?;
    b.writable();
    add_hook(
        &mut b,
        "startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "readlink /proc/self/ns/net > /ns"], "env": ["PATH=/bin"]}),
    );
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let pid = ctx.pid(&id)?;
    let container = crate::host::ns(&pid.to_string(), "net");
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    // start may return before init has run the hook: wait for its mark.
    let mark = b.rootfs().join("ns");
    super::lifecycle::wait_file(&mark);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let got = std::fs::read_to_string(&mark).unwrap_or_default();
    check!(!got.is_empty(), "the startContainer hook did not run");
    check!(
        got.trim() == container,
        "startContainer hook ran in {}, the container's is {container}",
        got.trim()
    );
    Ok(())
}

fn create_hook_failure(ctx: &mut Ctx, phase: &str) -> Res {
    let mut b = ctx.sh_bundle("touch /ran; sleep 60")?;
    b.writable();
    add_hook(&mut b, phase, hook("exit 1"));
    b.save()?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(!out.ok(), "create succeeded although a {phase} hook failed");
    // Stopped and destroyed (step 12): nothing left to query, and the process never ran.
    let st = ctx.state(&id);
    check!(
        st.as_ref().is_none_or(|s| s["status"] == "stopped"),
        "the container is still alive: {st:?}"
    );
    check!(!b.rootfs().join("ran").exists(), "the user process ran");
    Ok(())
}

fn prestart_failure(ctx: &mut Ctx) -> Res {
    create_hook_failure(ctx, "prestart")
}

fn create_runtime_failure(ctx: &mut Ctx) -> Res {
    create_hook_failure(ctx, "createRuntime")
}

fn create_container_failure(ctx: &mut Ctx) -> Res {
    create_hook_failure(ctx, "createContainer")
}

fn start_container_failure(ctx: &mut Ctx) -> Res {
    let mut b = ctx.sh_bundle("touch /ran; sleep 60")?;
    b.writable();
    add_hook(
        &mut b,
        "startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 1"], "env": ["PATH=/bin"]}),
    );
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let out = ctx.start(&id);
    check!(
        !out.ok(),
        "start succeeded although a startContainer hook failed"
    );
    std::thread::sleep(Duration::from_millis(200));
    check!(!b.rootfs().join("ran").exists(), "the user process ran");
    let st = ctx.state(&id);
    check!(
        st.as_ref().is_none_or(|s| s["status"] == "stopped"),
        "the container is still alive: {st:?}"
    );
    Ok(())
}

fn poststart_failure(ctx: &mut Ctx) -> Res {
    let mark = ctx.path("second");
    let mut b = ctx.bundle(&["sleep", "60"])?;
    add_hook(&mut b, "poststart", hook("exit 1"));
    add_hook(
        &mut b,
        "poststart",
        hook(&format!("touch {}", mark.display())),
    );
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let out = ctx.start(&id);
    check!(
        out.ok(),
        "start failed on a poststart hook failure: {}",
        out.describe()
    );
    check!(mark.exists(), "the next poststart hook did not run");
    check!(
        ctx.status(&id).as_deref() == Some("running"),
        "the container is not running"
    );
    Ok(())
}

fn poststop_failure(ctx: &mut Ctx) -> Res {
    let mark = ctx.path("second");
    let mut b = ctx.bundle(&["true"])?;
    add_hook(&mut b, "poststop", hook("exit 1"));
    add_hook(
        &mut b,
        "poststop",
        hook(&format!("touch {}", mark.display())),
    );
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    check!(ctx.wait_status(&id, "stopped"), "never stopped");
    let out = ctx.delete(&id);
    check!(
        out.ok(),
        "delete failed on a poststop hook failure: {}",
        out.describe()
    );
    check!(mark.exists(), "the next poststop hook did not run");
    check!(ctx.state(&id).is_none(), "the container was not deleted");
    Ok(())
}

/// Checked by effect, not by the clock (a busy machine must not fail it): the hook would
/// mark its end after a 20 s sleep; a runtime that kills it at its 1 s timeout leaves no mark.
fn timeout(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["sleep", "60"])?;
    let finished = ctx.path("hook-finished");
    let sleep_pid = ctx.path("hook-sleep.pid");
    let mut h = hook(&format!(
        "sleep 20 & echo $! > {}; wait; touch {}",
        sleep_pid.display(),
        finished.display()
    ));
    h["timeout"] = json!(1);
    add_hook(&mut b, "createRuntime", h);
    b.save()?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    // The hook's own sleep outlives a killed hook: end it.
    if let Ok(pid) = std::fs::read_to_string(&sleep_pid) {
        if let Some(pid) = pid
            .trim()
            .parse()
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
    check!(
        !out.ok(),
        "create succeeded although its hook ran past its timeout"
    );
    check!(
        !finished.exists(),
        "the hook was not killed at its 1 s timeout: it ran to its end"
    );
    Ok(())
}
