//! Lifecycle hooks: run with the container state on stdin, with their args, env and timeout.
//!
//! Where each kind runs is the runtime-spec's: prestart, createRuntime, poststart and poststop
//! from the runtime's namespaces (the parent hull process); createContainer and startContainer
//! from inside the container's namespaces (init, before pivot_root and before execve).

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};

use crate::{Error, Result};

/// The lifecycle points with hooks, named as config.json names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Point {
    pub const ALL: [Point; 6] = [
        Point::Prestart,
        Point::CreateRuntime,
        Point::CreateContainer,
        Point::StartContainer,
        Point::Poststart,
        Point::Poststop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Point::Prestart => "prestart",
            Point::CreateRuntime => "createRuntime",
            Point::CreateContainer => "createContainer",
            Point::StartContainer => "startContainer",
            Point::Poststart => "poststart",
            Point::Poststop => "poststop",
        }
    }

    pub fn of(self, hooks: &Hooks) -> &[Hook] {
        #[allow(deprecated)]
        let list = match self {
            Point::Prestart => hooks.prestart(),
            Point::CreateRuntime => hooks.create_runtime(),
            Point::CreateContainer => hooks.create_container(),
            Point::StartContainer => hooks.start_container(),
            Point::Poststart => hooks.poststart(),
            Point::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }
}

/// Every hook path must be absolute and every timeout positive.
pub fn validate(hooks: &Hooks) -> Result<()> {
    for point in Point::ALL {
        for (i, hook) in point.of(hooks).iter().enumerate() {
            if !hook.path().is_absolute() {
                return Err(Error::invalid(format!(
                    "hooks.{}[{i}].path {}: must be an absolute path",
                    point.name(),
                    hook.path().display()
                )));
            }
            if let Some(t) = hook.timeout() {
                if t <= 0 {
                    return Err(Error::invalid(format!(
                        "hooks.{}[{i}].timeout {t}: must be greater than zero",
                        point.name()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Runs every hook of `point` in order; the first failure stops the rest.
pub fn run(hooks: Option<&Hooks>, point: Point, state_json: &str) -> Result<()> {
    let Some(hooks) = hooks else { return Ok(()) };
    for (i, hook) in point.of(hooks).iter().enumerate() {
        run_one(hook, state_json).map_err(|e| {
            Error::Other(format!(
                "{} hook #{i} ({}): {e}",
                point.name(),
                hook.path().display()
            ))
        })?;
    }
    Ok(())
}

/// Runs every hook of `point`, logging each failure as a warning: the spec's rule for
/// poststart and poststop ("the remaining hooks and lifecycle continue as if the hook had
/// succeeded").
pub fn run_warn(hooks: Option<&Hooks>, point: Point, state_json: &str) {
    let Some(hooks) = hooks else { return };
    for (i, hook) in point.of(hooks).iter().enumerate() {
        if let Err(e) = run_one(hook, state_json) {
            crate::log::warn(&format!(
                "{} hook #{i} ({}): {e}",
                point.name(),
                hook.path().display()
            ));
        }
    }
}

fn run_one(hook: &Hook, state_json: &str) -> std::result::Result<(), String> {
    let mut cmd = Command::new(hook.path());
    if let Some([argv0, rest @ ..]) = hook.args().as_deref() {
        cmd.arg0(argv0).args(rest);
    }
    // The spec gives hooks exactly the env in the config, nothing inherited.
    cmd.env_clear();
    for kv in hook.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that exits without reading its stdin is not an error (EPIPE is ignored).
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        if deadline.is_none() {
            break child.wait().map_err(|e| e.to_string())?;
        }
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break status,
            None => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("timed out after {}s", hook.timeout().unwrap_or(0)));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut out = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    let out = out.trim();
    Err(if out.is_empty() {
        format!("{status}")
    } else {
        format!("{status}, output: {out}")
    })
}
