//! Lifecycle hooks: run with the container state on stdin, with their args, env and timeout.
//!
//! Where each kind runs is the runtime-spec's: prestart, createRuntime, poststart and poststop
//! from the runtime's namespaces (the parent hull process); createContainer and startContainer
//! from inside the container's namespaces (init, before pivot_root and before execve).
//!
//! What a hook gets besides its state is runc's (see [`Site`]): stdin, stdout and stderr are
//! pipes (the output is shown when the hook fails) and no other fd (hull marks every fd it
//! holds close-on-exec); `env` is the hook's environment. The spec says nothing of a hook
//! without `env`: runc (1.1 and 1.4) starts one in the runtime with the runtime's own
//! environment, and one in the container with init's, which runc 1.4 has cleared; hull does
//! the same, so a container-side hook without `env` starts with none.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;

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

/// Where a hook runs: its working directory and whether it inherits the runtime's
/// environment when it has no `env` of its own.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    cwd: Option<&'a Path>,
    inherit_env: bool,
}

impl<'a> Site<'a> {
    /// In the runtime (prestart, createRuntime, poststart, poststop): in the bundle
    /// directory (runc changes into it for create and run) with the runtime's environment.
    pub fn runtime(bundle: &'a Path) -> Site<'a> {
        Site {
            cwd: Some(bundle),
            inherit_env: true,
        }
    }

    /// In the container's init: createContainer in the root filesystem's directory (runc
    /// changes into it before pivot_root), startContainer (`cwd` None) in the process's cwd,
    /// where init is by then. No inherited environment.
    pub fn container(cwd: Option<&'a Path>) -> Site<'a> {
        Site {
            cwd,
            inherit_env: false,
        }
    }
}

/// Runs every hook of `point` in order; the first failure stops the rest.
pub fn run(hooks: Option<&Hooks>, point: Point, state_json: &str, site: Site) -> Result<()> {
    let Some(hooks) = hooks else { return Ok(()) };
    for (i, hook) in point.of(hooks).iter().enumerate() {
        run_one(point, i, hook, state_json, site)
            .map_err(|e| Error::Other(failed(point, i, hook, &e)))?;
    }
    Ok(())
}

/// runc's words, so callers matching "error running createRuntime hook #1:" keep working;
/// hull adds the hook's path.
fn failed(point: Point, i: usize, hook: &Hook, e: &str) -> String {
    format!(
        "error running {} hook #{i}: {}: {e}",
        point.name(),
        hook.path().display()
    )
}

/// Runs every hook of `point`, logging each failure as a warning: the spec's rule for
/// poststart and poststop ("the remaining hooks and lifecycle continue as if the hook had
/// succeeded").
pub fn run_warn(hooks: Option<&Hooks>, point: Point, state_json: &str, site: Site) {
    let Some(hooks) = hooks else { return };
    for (i, hook) in point.of(hooks).iter().enumerate() {
        if let Err(e) = run_one(point, i, hook, state_json, site) {
            crate::log::warn(&failed(point, i, hook, &e));
        }
    }
}

fn run_one(
    point: Point,
    i: usize,
    hook: &Hook,
    state_json: &str,
    site: Site,
) -> std::result::Result<(), String> {
    crate::log::debug_with(
        "running hook",
        &[
            ("hook", &point.name()),
            ("index", &i),
            ("path", &hook.path().display()),
        ],
    );
    let mut cmd = Command::new(hook.path());
    if let Some([argv0, rest @ ..]) = hook.args().as_deref() {
        cmd.arg0(argv0).args(rest);
    }
    if let Some(dir) = site.cwd {
        cmd.current_dir(dir);
    }
    match hook.env() {
        Some(env) => {
            cmd.env_clear();
            for kv in env {
                if let Some((k, v)) = kv.split_once('=') {
                    cmd.env(k, v);
                }
            }
        }
        None if site.inherit_env => {}
        None => {
            cmd.env_clear();
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
    let timed_out = |child: &mut std::process::Child| {
        let _ = child.kill();
        let _ = child.wait();
        format!("timed out after {}s", hook.timeout().unwrap_or(0))
    };
    // Its output is read while it runs: a hook that says a lot must not block on a full pipe.
    let pipes = [
        child.stdout.take().map(OwnedFd::from),
        child.stderr.take().map(OwnedFd::from),
    ];
    let Some([stdout, stderr]) = drain(pipes, deadline) else {
        return Err(timed_out(&mut child));
    };
    let status = loop {
        if deadline.is_none() {
            break child.wait().map_err(|e| e.to_string())?;
        }
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break status,
            None if deadline.is_some_and(|d| Instant::now() >= d) => {
                return Err(timed_out(&mut child))
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    if status.success() {
        return Ok(());
    }
    // The end of what it said (where the error usually is), bounded: the message travels
    // over the init channel and into engines' logs.
    let text = |b: &[u8]| {
        const KEEP: usize = 16 * 1024;
        let cut = b.len().saturating_sub(KEEP);
        let tail = String::from_utf8_lossy(&b[cut..]).trim().to_string();
        if cut > 0 {
            format!("...{tail}")
        } else {
            tail
        }
    };
    let status = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("signal: {}", signal_name(sig)),
        _ => status.to_string(),
    };
    Err(format!(
        "{status}, stdout: {}, stderr: {}",
        text(&stdout),
        text(&stderr)
    ))
}

/// Reads both pipes until the hook has closed them (normally, by exiting); `None` once the
/// deadline has passed.
fn drain(mut pipes: [Option<OwnedFd>; 2], deadline: Option<Instant>) -> Option<[Vec<u8>; 2]> {
    let mut bufs = [Vec::new(), Vec::new()];
    let mut chunk = [0u8; 4096];
    while pipes.iter().any(Option::is_some) {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                Timespec::try_from(left.min(Duration::from_secs(60))).ok()
            }
        };
        let open: Vec<usize> = (0..2).filter(|&i| pipes[i].is_some()).collect();
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|&i| PollFd::new(pipes[i].as_ref().expect("open"), PollFlags::IN))
            .collect();
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) | Err(Errno::INTR) => continue,
            Err(_) => break,
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        for (&i, ready) in open.iter().zip(ready) {
            if !ready {
                continue;
            }
            match rustix::io::read(pipes[i].as_ref().expect("open"), &mut chunk) {
                Ok(0) => pipes[i] = None,
                Ok(n) => bufs[i].extend_from_slice(&chunk[..n]),
                Err(Errno::INTR | Errno::AGAIN) => {}
                Err(_) => pipes[i] = None,
            }
        }
    }
    Some(bufs)
}

fn signal_name(sig: i32) -> String {
    crate::sys::signal::name(sig)
        .map(str::to_string)
        .unwrap_or_else(|| sig.to_string())
}
