//! runtime.md: state, the lifecycle, the operations and their errors.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{fail, Case, Res};
use crate::check;
use crate::ctx::Ctx;

pub const CASES: &[Case] = &[
    Case {
        name: "state/required-fields",
        spec: "runtime.md#state",
        quote: "ociVersion (string, REQUIRED) ... id (string, REQUIRED) ... status (string, REQUIRED) ... bundle (string, REQUIRED)",
        run: state_required_fields,
    },
    Case {
        name: "state/oci-version-semver",
        spec: "runtime.md#state",
        quote: "ociVersion (string, REQUIRED) is version of the Open Container Initiative Runtime Specification with which the state complies.",
        run: state_oci_version,
    },
    Case {
        name: "state/id",
        spec: "runtime.md#state",
        quote: "id (string, REQUIRED) is the container's ID. This MUST be unique across all containers on this host.",
        run: state_id,
    },
    Case {
        name: "state/pid-created",
        spec: "runtime.md#state",
        quote: "pid (int, REQUIRED when status is created or running on Linux) is the ID of the container process. For hooks executed in the runtime namespace, it is the pid as seen by the runtime.",
        run: state_pid_created,
    },
    Case {
        name: "state/pid-running",
        spec: "runtime.md#state",
        quote: "pid (int, REQUIRED when status is created or running on Linux) is the ID of the container process.",
        run: state_pid_running,
    },
    Case {
        name: "state/bundle-absolute",
        spec: "runtime.md#state",
        quote: "bundle (string, REQUIRED) is the absolute path to the container's bundle directory.",
        run: state_bundle,
    },
    Case {
        name: "state/annotations",
        spec: "runtime.md#state",
        quote: "annotations (map, OPTIONAL) contains the list of annotations associated with the container.",
        run: state_annotations,
    },
    Case {
        name: "state/stopped",
        spec: "runtime.md#state",
        quote: "stopped: the container process has exited (step 10 in the lifecycle)",
        run: state_stopped,
    },
    Case {
        name: "state/no-id",
        spec: "runtime.md#query-state",
        quote: "This operation MUST generate an error if it is not provided the ID of a container.",
        run: state_no_id,
    },
    Case {
        name: "state/not-found",
        spec: "runtime.md#query-state",
        quote: "Attempting to query a container that does not exist MUST generate an error.",
        run: state_not_found,
    },
    Case {
        name: "lifecycle/create-does-not-run-process",
        spec: "runtime.md#lifecycle",
        quote: "While the resources requested in the config.json MUST be created, the user-specified program (from process) MUST NOT be run at this time.",
        run: create_does_not_run,
    },
    Case {
        name: "lifecycle/config-changes-after-create-ignored",
        spec: "runtime.md#lifecycle",
        quote: "Any updates to config.json after this step MUST NOT affect the container.",
        run: config_changes_ignored,
    },
    Case {
        name: "lifecycle/unable-to-create-environment",
        spec: "runtime.md#lifecycle",
        quote: "If the runtime is unable to create the environment specified in the config.json, it MUST generate an error.",
        run: unable_to_create,
    },
    Case {
        name: "errors/failed-create-leaves-nothing",
        spec: "runtime.md#errors",
        quote: "Unless otherwise stated, generating an error MUST leave the state of the environment as if the operation were never attempted",
        run: failed_create_leaves_nothing,
    },
    Case {
        name: "create/status-created",
        spec: "runtime.md#create",
        quote: "Upon successful completion of this operation the status property of this container MUST be created.",
        run: create_status_created,
    },
    Case {
        name: "create/no-id",
        spec: "runtime.md#create",
        quote: "This operation MUST generate an error if it is not provided a path to the bundle and the container ID to associate with the container.",
        run: create_no_id,
    },
    Case {
        name: "create/bad-bundle",
        spec: "runtime.md#create",
        quote: "This operation MUST generate an error if it is not provided a path to the bundle and the container ID to associate with the container.",
        run: create_bad_bundle,
    },
    Case {
        name: "create/duplicate-id",
        spec: "runtime.md#create",
        quote: "If the ID provided is not unique across all containers within the scope of the runtime, or is not valid in any other way, the implementation MUST generate an error and a new container MUST NOT be created.",
        run: create_duplicate_id,
    },
    Case {
        name: "create/invalid-id",
        spec: "runtime.md#create",
        quote: "If the ID provided is not unique ... or is not valid in any other way, the implementation MUST generate an error and a new container MUST NOT be created.",
        run: create_invalid_id,
    },
    Case {
        name: "create/missing-config",
        spec: "bundle.md",
        quote: "config.json: contains configuration data. This REQUIRED file MUST reside in the root of the bundle directory and MUST be named config.json.",
        run: create_missing_config,
    },
    Case {
        name: "start/runs-process",
        spec: "runtime.md#start",
        quote: "This operation MUST run the user-specified program as specified by process.",
        run: start_runs_process,
    },
    Case {
        name: "start/status-running",
        spec: "runtime.md#start",
        quote: "Upon successful completion of this operation the status property of this container MUST be running.",
        run: start_status_running,
    },
    Case {
        name: "start/no-id",
        spec: "runtime.md#start",
        quote: "This operation MUST generate an error if it is not provided the container ID.",
        run: start_no_id,
    },
    Case {
        name: "start/not-found",
        spec: "runtime.md#start",
        quote: "Attempting to start a container that does not exist MUST generate an error.",
        run: start_not_found,
    },
    Case {
        name: "start/twice",
        spec: "runtime.md#start",
        quote: "Attempting to start an already started container MUST have no effect on the container and MUST generate an error.",
        run: start_twice,
    },
    Case {
        name: "start/stopped",
        spec: "runtime.md#start",
        quote: "Attempting to start an already started container MUST have no effect on the container and MUST generate an error.",
        run: start_stopped,
    },
    Case {
        name: "kill/no-id",
        spec: "runtime.md#kill",
        quote: "This operation MUST generate an error if it is not provided the container ID.",
        run: kill_no_id,
    },
    Case {
        name: "kill/not-found",
        spec: "runtime.md#kill",
        quote: "Attempting to send a signal to a container that is neither created nor running MUST have no effect on the container and MUST generate an error.",
        run: kill_not_found,
    },
    Case {
        name: "kill/stopped",
        spec: "runtime.md#kill",
        quote: "Attempting to send a signal to a container that is neither created nor running MUST have no effect on the container and MUST generate an error.",
        run: kill_stopped,
    },
    Case {
        name: "kill/sends-signal",
        spec: "runtime.md#kill",
        quote: "This operation MUST send the specified signal to the container process.",
        run: kill_sends_signal,
    },
    Case {
        name: "kill/status-stopped",
        spec: "runtime.md#kill",
        quote: "When the process in the container is stopped, irrespective of it being as a result of a kill operation or any other reason, the status property of this container MUST be stopped.",
        run: kill_status_stopped,
    },
    Case {
        name: "kill/created",
        spec: "runtime.md#kill",
        quote: "Attempting to send a signal to a container that is neither created nor running MUST have no effect on the container and MUST generate an error. (a created container can be signalled)",
        run: kill_created,
    },
    Case {
        name: "delete/no-id",
        spec: "runtime.md#delete",
        quote: "This operation MUST generate an error if it is not provided the container ID.",
        run: delete_no_id,
    },
    Case {
        name: "delete/not-found",
        spec: "runtime.md#delete",
        quote: "Attempting to delete a container that does not exist MUST generate an error.",
        run: delete_not_found,
    },
    Case {
        name: "delete/running",
        spec: "runtime.md#delete",
        quote: "Attempting to delete a container that is not stopped MUST have no effect on the container and MUST generate an error.",
        run: delete_running,
    },
    Case {
        name: "delete/stopped",
        spec: "runtime.md#delete",
        quote: "Deleting a container MUST delete the resources that were created during the create step.",
        run: delete_stopped,
    },
    Case {
        name: "cli/delete-created",
        spec: "runc CLI",
        quote: "delete of a created container (without --force) kills its init and deletes it, as runc does and engines rely on when start fails; the spec's letter (\"not stopped MUST ... generate an error\") is stricter, see README",
        run: delete_created,
    },
    Case {
        name: "delete/removes-cgroup",
        spec: "runtime.md#delete",
        quote: "Deleting a container MUST delete the resources that were created during the create step.",
        run: delete_removes_cgroup,
    },
    Case {
        name: "delete/keeps-foreign-resources",
        spec: "runtime.md#delete",
        quote: "Note that resources associated with the container, but not created by this container, MUST NOT be deleted.",
        run: delete_keeps_foreign,
    },
    Case {
        name: "delete/id-reusable",
        spec: "runtime.md#delete",
        quote: "Once a container is deleted its ID MAY be used by a subsequent container.",
        run: delete_id_reusable,
    },
];

/// A created container running `sleep 60` once started; returns its id.
fn created(ctx: &mut Ctx) -> anyhow::Result<String> {
    let b = ctx.bundle(&["sleep", "60"])?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    Ok(id)
}

fn running(ctx: &mut Ctx) -> anyhow::Result<String> {
    let id = created(ctx)?;
    let out = ctx.start(&id);
    anyhow::ensure!(out.ok(), "start failed: {}", out.describe());
    Ok(id)
}

/// A container whose process has exited.
fn stopped(ctx: &mut Ctx) -> anyhow::Result<String> {
    let b = ctx.bundle(&["true"])?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let out = ctx.start(&id);
    anyhow::ensure!(out.ok(), "start failed: {}", out.describe());
    anyhow::ensure!(ctx.wait_status(&id, "stopped"), "never reached stopped");
    Ok(id)
}

fn get_state(ctx: &mut Ctx, id: &str) -> Result<Value, super::Verdict> {
    ctx.state(id)
        .ok_or_else(|| super::Verdict::Fail(format!("state {id} failed")))
}

fn state_required_fields(ctx: &mut Ctx) -> Res {
    let id = created(ctx)?;
    let st = get_state(ctx, &id)?;
    for f in ["ociVersion", "id", "status", "bundle"] {
        check!(st[f].is_string(), "state lacks string {f}: {st}");
    }
    Ok(())
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn state_oci_version(ctx: &mut Ctx) -> Res {
    let id = created(ctx)?;
    let st = get_state(ctx, &id)?;
    let v = st["ociVersion"].as_str().unwrap_or_default();
    check!(is_semver(v), "ociVersion {v:?} is not SemVer");
    Ok(())
}

fn state_id(ctx: &mut Ctx) -> Res {
    let id = created(ctx)?;
    let st = get_state(ctx, &id)?;
    check!(st["id"] == id.as_str(), "state id {} != {id}", st["id"]);
    Ok(())
}

fn state_pid_created(ctx: &mut Ctx) -> Res {
    let id = created(ctx)?;
    let pid = ctx.pid(&id)?;
    // The host's view: the pid exists in our pid namespace and is in another pid namespace.
    let ns = crate::host::ns(&pid.to_string(), "pid");
    check!(!ns.is_empty(), "pid {pid} does not exist on the host");
    check!(
        ns != crate::host::ns("self", "pid"),
        "pid {pid} is not the container's process (same pid namespace as the host)"
    );
    Ok(())
}

fn state_pid_running(ctx: &mut Ctx) -> Res {
    let id = running(ctx)?;
    let pid = ctx.pid(&id)?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    check!(
        comm.starts_with("sleep"),
        "pid {pid} runs {comm:?}, not the container's process"
    );
    Ok(())
}

fn state_bundle(ctx: &mut Ctx) -> Res {
    let b = ctx.bundle(&["sleep", "60"])?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let st = get_state(ctx, &id)?;
    let want = std::fs::canonicalize(&b.dir).map_err(anyhow::Error::from)?;
    check!(
        st["bundle"] == want.to_str().unwrap_or_default(),
        "bundle {} != {}",
        st["bundle"],
        want.display()
    );
    Ok(())
}

fn state_annotations(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["sleep", "60"])?;
    b.config["annotations"] = serde_json::json!({"org.example.conformance": "yes"});
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let st = get_state(ctx, &id)?;
    check!(
        st["annotations"]["org.example.conformance"] == "yes",
        "state annotations: {}",
        st["annotations"]
    );
    Ok(())
}

fn state_stopped(ctx: &mut Ctx) -> Res {
    let id = stopped(ctx)?;
    let st = get_state(ctx, &id)?;
    check!(st["status"] == "stopped", "status {}", st["status"]);
    check!(
        st["id"] == id.as_str(),
        "a stopped container's state lost its id: {st}"
    );
    check!(
        st["bundle"].is_string(),
        "a stopped container's state lost its bundle: {st}"
    );
    Ok(())
}

fn state_no_id(ctx: &mut Ctx) -> Res {
    let out = ctx.rt(&["state"]);
    check!(!out.ok(), "state without an id succeeded");
    Ok(())
}

fn state_not_found(ctx: &mut Ctx) -> Res {
    let id = ctx.id();
    let out = ctx.rt(&["state", &id]);
    check!(
        !out.ok(),
        "state of a missing container succeeded: {}",
        out.stdout
    );
    Ok(())
}

fn create_does_not_run(ctx: &mut Ctx) -> Res {
    let mut b = ctx.sh_bundle("echo ran > /ran; sleep 60")?;
    b.writable();
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    std::thread::sleep(Duration::from_millis(300));
    check!(
        !b.rootfs().join("ran").exists(),
        "the process ran before start"
    );
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    check!(
        wait_file(&b.rootfs().join("ran")),
        "the process never ran after start"
    );
    Ok(())
}

/// Waits up to 10 s for a file to exist.
pub fn wait_file(p: &std::path::Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if p.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn config_changes_ignored(ctx: &mut Ctx) -> Res {
    let mut b = ctx.sh_bundle("echo first > /which; sleep 60")?;
    b.writable();
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    b.config["process"]["args"] = serde_json::json!(["sh", "-c", "echo second > /which; sleep 60"]);
    b.save()?;
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    let which = b.rootfs().join("which");
    check!(wait_file(&which), "the process never ran");
    std::thread::sleep(Duration::from_millis(50));
    let got = std::fs::read_to_string(&which).unwrap_or_default();
    check!(
        got.trim() == "first",
        "the container ran the edited config: {got:?}"
    );
    Ok(())
}

fn unable_to_create(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["true"])?;
    b.add_mount(serde_json::json!({
        "destination": "/data", "type": "bind", "source": "/nonexistent-conformance-source",
        "options": ["rbind"]
    }));
    b.save()?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(
        !out.ok(),
        "create with a bind mount of a missing source succeeded"
    );
    Ok(())
}

fn failed_create_leaves_nothing(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["sleep", "60"])?;
    b.add_mount(serde_json::json!({
        "destination": "/data", "type": "bind", "source": "/nonexistent-conformance-source",
        "options": ["rbind"]
    }));
    let cg = ctx.cgroups_path();
    b.config["linux"]["cgroupsPath"] = serde_json::json!(cg);
    b.save()?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(!out.ok(), "create succeeded");
    check!(
        ctx.state(&id).is_none(),
        "a failed create left container {id} behind"
    );
    let list = ctx.rt(&["list", "-q"]);
    check!(!list.stdout.contains(&id), "list still shows {id}");
    for (controller, mount) in crate::host::v1_mounts() {
        let own = crate::host::own_cgroup(&controller);
        let dir = mount.join(own.trim_start_matches('/')).join(&cg);
        check!(
            !dir.exists(),
            "a failed create left cgroup {}",
            dir.display()
        );
    }
    // The id is free again.
    let b2 = ctx.bundle(&["sleep", "60"])?;
    let out = ctx.create(&id, &b2);
    check!(
        out.ok(),
        "the id of a failed create cannot be reused: {}",
        out.describe()
    );
    Ok(())
}

fn create_status_created(ctx: &mut Ctx) -> Res {
    let id = created(ctx)?;
    let st = get_state(ctx, &id)?;
    check!(st["status"] == "created", "status {}", st["status"]);
    Ok(())
}

fn create_no_id(ctx: &mut Ctx) -> Res {
    let b = ctx.bundle(&["true"])?;
    let out = ctx.rt(&["create", "--bundle", b.path()]);
    check!(!out.ok(), "create without an id succeeded");
    Ok(())
}

fn create_bad_bundle(ctx: &mut Ctx) -> Res {
    let id = ctx.id();
    let missing = ctx.path("no-such-bundle");
    let out = ctx.rt(&[
        "create",
        "--bundle",
        missing.to_str().unwrap_or_default(),
        &id,
    ]);
    check!(!out.ok(), "create with a missing bundle succeeded");
    check!(ctx.state(&id).is_none(), "a container was created anyway");
    Ok(())
}

fn create_duplicate_id(ctx: &mut Ctx) -> Res {
    let id = created(ctx)?;
    let pid = ctx.pid(&id)?;
    let b = ctx.bundle(&["sleep", "60"])?;
    let out = ctx.create(&id, &b);
    check!(!out.ok(), "a second create with the same id succeeded");
    let st = get_state(ctx, &id)?;
    check!(
        st["status"] == "created" && st["pid"] == pid,
        "the first container was affected: {st}"
    );
    Ok(())
}

fn create_invalid_id(ctx: &mut Ctx) -> Res {
    let b = ctx.bundle(&["true"])?;
    for bad in ["../escape", "a/b"] {
        let out = ctx.create(bad, &b);
        if out.ok() {
            let _ = ctx.rt(&["delete", "--force", bad]);
            return fail(format!("create with id {bad:?} succeeded"));
        }
    }
    check!(
        !ctx.dir.parent().unwrap_or(&ctx.dir).join("escape").exists(),
        "id escaped root"
    );
    Ok(())
}

fn create_missing_config(ctx: &mut Ctx) -> Res {
    let b = ctx.bundle(&["true"])?;
    std::fs::remove_file(b.dir.join("config.json")).map_err(anyhow::Error::from)?;
    let id = ctx.id();
    let out = ctx.create(&id, &b);
    check!(!out.ok(), "create without config.json succeeded");
    Ok(())
}

fn start_runs_process(ctx: &mut Ctx) -> Res {
    let mut b = ctx.sh_bundle("echo hello > /out")?;
    b.writable();
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    let f = b.rootfs().join("out");
    check!(wait_file(&f), "the process did not run");
    Ok(())
}

fn start_status_running(ctx: &mut Ctx) -> Res {
    let id = running(ctx)?;
    let st = get_state(ctx, &id)?;
    check!(st["status"] == "running", "status {}", st["status"]);
    Ok(())
}

fn start_no_id(ctx: &mut Ctx) -> Res {
    let out = ctx.rt(&["start"]);
    check!(!out.ok(), "start without an id succeeded");
    Ok(())
}

fn start_not_found(ctx: &mut Ctx) -> Res {
    let id = ctx.id();
    let out = ctx.start(&id);
    check!(!out.ok(), "start of a missing container succeeded");
    Ok(())
}

fn start_twice(ctx: &mut Ctx) -> Res {
    let id = running(ctx)?;
    let pid = ctx.pid(&id)?;
    let out = ctx.start(&id);
    check!(!out.ok(), "a second start succeeded");
    let st = get_state(ctx, &id)?;
    check!(
        st["status"] == "running" && st["pid"] == pid,
        "the container was affected: {st}"
    );
    Ok(())
}

fn start_stopped(ctx: &mut Ctx) -> Res {
    let id = stopped(ctx)?;
    let out = ctx.start(&id);
    check!(!out.ok(), "start of a stopped container succeeded");
    check!(
        ctx.status(&id).as_deref() == Some("stopped"),
        "the container changed"
    );
    Ok(())
}

fn kill_no_id(ctx: &mut Ctx) -> Res {
    let out = ctx.rt(&["kill"]);
    check!(!out.ok(), "kill without an id succeeded");
    Ok(())
}

fn kill_not_found(ctx: &mut Ctx) -> Res {
    let id = ctx.id();
    let out = ctx.kill(&id, "KILL");
    check!(!out.ok(), "kill of a missing container succeeded");
    Ok(())
}

fn kill_stopped(ctx: &mut Ctx) -> Res {
    let id = stopped(ctx)?;
    let out = ctx.kill(&id, "KILL");
    check!(!out.ok(), "kill of a stopped container succeeded");
    check!(
        ctx.status(&id).as_deref() == Some("stopped"),
        "the container changed"
    );
    Ok(())
}

fn kill_sends_signal(ctx: &mut Ctx) -> Res {
    let mut b = ctx.sh_bundle(
        "trap 'echo got > /usr1; exit 0' USR1; echo ready > /ready; while true; do sleep 0.1; done",
    )?;
    b.writable();
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    check!(
        wait_file(&b.rootfs().join("ready")),
        "the process never got ready"
    );
    let out = ctx.kill(&id, "USR1");
    check!(out.ok(), "kill USR1: {}", out.describe());
    check!(
        wait_file(&b.rootfs().join("usr1")),
        "the process never saw SIGUSR1"
    );
    Ok(())
}

fn kill_status_stopped(ctx: &mut Ctx) -> Res {
    let id = running(ctx)?;
    let out = ctx.kill(&id, "KILL");
    check!(out.ok(), "kill: {}", out.describe());
    check!(
        ctx.wait_status(&id, "stopped"),
        "status never became stopped"
    );
    Ok(())
}

fn kill_created(ctx: &mut Ctx) -> Res {
    let id = created(ctx)?;
    let out = ctx.kill(&id, "KILL");
    check!(out.ok(), "kill of a created container: {}", out.describe());
    check!(
        ctx.wait_status(&id, "stopped"),
        "status never became stopped"
    );
    Ok(())
}

fn delete_no_id(ctx: &mut Ctx) -> Res {
    let out = ctx.rt(&["delete"]);
    check!(!out.ok(), "delete without an id succeeded");
    Ok(())
}

fn delete_not_found(ctx: &mut Ctx) -> Res {
    let id = ctx.id();
    let out = ctx.delete(&id);
    check!(!out.ok(), "delete of a missing container succeeded");
    Ok(())
}

fn delete_running(ctx: &mut Ctx) -> Res {
    let id = running(ctx)?;
    let out = ctx.delete(&id);
    check!(!out.ok(), "delete of a running container succeeded");
    check!(
        ctx.status(&id).as_deref() == Some("running"),
        "the container changed"
    );
    Ok(())
}

fn delete_stopped(ctx: &mut Ctx) -> Res {
    let id = stopped(ctx)?;
    let out = ctx.delete(&id);
    check!(out.ok(), "delete: {}", out.describe());
    check!(ctx.state(&id).is_none(), "state still answers after delete");
    Ok(())
}

fn delete_created(ctx: &mut Ctx) -> Res {
    let id = created(ctx)?;
    let pid = ctx.pid(&id)?;
    let out = ctx.delete(&id);
    check!(
        out.ok(),
        "delete of a created container: {}",
        out.describe()
    );
    check!(ctx.state(&id).is_none(), "state still answers after delete");
    // Its init is gone too (reaped by whoever is its parent, or a zombie at worst).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let alive = stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'));
        if !alive {
            return Ok(());
        }
        check!(Instant::now() < deadline, "init {pid} survived delete");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn delete_removes_cgroup(ctx: &mut Ctx) -> Res {
    let mut b = ctx.bundle(&["sleep", "60"])?;
    let cg = ctx.cgroups_path();
    b.config["linux"]["cgroupsPath"] = serde_json::json!(cg);
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let pid = ctx.pid(&id)?;
    let dir = crate::host::cgroup_dir(pid, "pids")
        .ok_or_else(|| anyhow::anyhow!("no pids cgroup for {pid}"))?;
    check!(dir.exists(), "no cgroup {}", dir.display());
    let out = ctx.rt(&["delete", "--force", &id]);
    check!(out.ok(), "delete --force: {}", out.describe());
    check!(!dir.exists(), "delete left cgroup {}", dir.display());
    Ok(())
}

fn delete_keeps_foreign(ctx: &mut Ctx) -> Res {
    let data = ctx.path("data");
    std::fs::create_dir_all(&data).map_err(anyhow::Error::from)?;
    std::fs::write(data.join("keep"), "mine").map_err(anyhow::Error::from)?;
    let mut b = ctx.bundle(&["true"])?;
    b.add_mount(serde_json::json!({
        "destination": "/data", "type": "bind", "source": data, "options": ["rbind", "rw"]
    }));
    b.save()?;
    let id = ctx.id();
    ctx.must_create(&id, &b)?;
    let out = ctx.start(&id);
    check!(out.ok(), "start: {}", out.describe());
    check!(ctx.wait_status(&id, "stopped"), "never stopped");
    let out = ctx.delete(&id);
    check!(out.ok(), "delete: {}", out.describe());
    check!(
        std::fs::read_to_string(data.join("keep")).ok().as_deref() == Some("mine"),
        "delete removed the bind mount's source"
    );
    check!(
        b.rootfs().join("bin/busybox").exists(),
        "delete removed the rootfs"
    );
    Ok(())
}

fn delete_id_reusable(ctx: &mut Ctx) -> Res {
    let id = stopped(ctx)?;
    let out = ctx.delete(&id);
    check!(out.ok(), "delete: {}", out.describe());
    let b = ctx.bundle(&["sleep", "60"])?;
    let out = ctx.create(&id, &b);
    check!(out.ok(), "create with a deleted id: {}", out.describe());
    Ok(())
}
