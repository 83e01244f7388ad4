//! `hull exec`: run a new process in a container, with runc's flags.

use std::path::PathBuf;

use oci_spec::runtime::{Capability, Process};

use super::Global;
use crate::container::exec::{self, Options};
use crate::process::foreground;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master
    /// end of the console's pseudoterminal
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Path to an AF_UNIX socket which will receive a pidfd of the process
    #[arg(long, value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
    /// Current working directory in the container
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Set environment variables
    #[arg(short = 'e', long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// UID (format: <uid>[:<gid>])
    #[arg(short = 'u', long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Additional gids
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Path to the process.json
    #[arg(short = 'p', long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Specify the file to write the process id to
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Set the asm process label for the process commonly used with selinux
    #[arg(long, value_name = "LABEL")]
    pub process_label: Option<String>,
    /// Set the apparmor profile for the process
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// Set the no new privileges value for the process
    #[arg(long)]
    pub no_new_privs: bool,
    /// Add a capability to the bounding set for the process
    #[arg(short = 'c', long = "cap", value_name = "CAP")]
    pub cap: Vec<String>,
    /// Pass N additional file descriptors to the process
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Run the process in an (existing) sub-cgroup(s)
    #[arg(long, value_name = "PATH")]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container
    #[arg(long)]
    pub ignore_paused: bool,
    pub id: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// runc's `exec` exits 255 when the runtime itself fails, so callers can tell that from the
/// process's own status.
const RUNTIME_FAILURE: i32 = 255;

pub fn run(
    g: &Global,
    a: Args,
    fds: crate::Result<crate::process::fds::Passed>,
) -> anyhow::Result<i32> {
    match fds
        .map_err(anyhow::Error::from)
        .and_then(|fds| exec(g, a, fds))
    {
        Ok(code) => Ok(code),
        Err(e) => Ok(super::fail(&e.context("exec failed"), RUNTIME_FAILURE)),
    }
}

fn exec(g: &Global, a: Args, fds: crate::process::fds::Passed) -> anyhow::Result<i32> {
    let (dir, state) = super::open(g, &a.id)?;
    let process = process(&a, &state.config)?;
    let terminal = crate::plan::terminal::terminal(
        process.terminal().unwrap_or(false),
        a.console_socket.as_deref(),
        a.detach,
    )?;
    let opts = Options {
        process,
        pid_file: a.pid_file.clone(),
        fds,
        ignore_paused: a.ignore_paused,
        terminal,
        sub_cgroups: a.cgroup.clone(),
        pidfd_socket: a.pidfd_socket.clone(),
        seccomp: crate::plan::compile_seccomp(&state.config, &g.root())?,
    };
    let blocked = if a.detach {
        None
    } else {
        Some(foreground::block_signals()?)
    };
    // exec releases the container's lock once the process is let go: other callers (kill,
    // state, resume, another exec) must not wait on us while the process runs.
    let started = exec::exec(dir, &state, &opts)?;
    let Some(set) = blocked else { return Ok(0) };
    let status = match started.console {
        Some(master) => crate::io::relay::relay_and_wait(started.pid, &set, master)?,
        None => foreground::wait_forwarding(started.pid, &set)?,
    };
    foreground::unblock_signals(&set)?;
    Ok(status)
}

/// `--process FILE`: a runtime-spec `process` object. As with runc, `user` may be left out
/// (uid and gid 0), and without `capabilities` the process gets the container's.
fn process_json(
    path: &std::path::Path,
    config: &oci_spec::runtime::Spec,
) -> anyhow::Result<Process> {
    let text = std::fs::read(path).map_err(|e| anyhow::anyhow!("open {}: {e}", path.display()))?;
    let mut doc: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let caps_given = doc.get("capabilities").is_some_and(|c| !c.is_null());
    if let Some(obj) = doc.as_object_mut() {
        obj.entry("user")
            .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    // The same parse as config.json's process (the spec's scheduler flag names, unknown
    // capabilities left out).
    let mut p = crate::spec::parse_process(doc.to_string().as_bytes())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if !caps_given {
        let container = config
            .process()
            .as_ref()
            .and_then(|c| c.capabilities().clone());
        p.set_capabilities(container);
    }
    Ok(p)
}

/// The process to run: process.json as given, or the container's process with the flags'
/// changes (runc's rules).
fn process(a: &Args, config: &oci_spec::runtime::Spec) -> anyhow::Result<Process> {
    if let Some(path) = &a.process {
        return process_json(path, config);
    }
    if a.command.is_empty() {
        anyhow::bail!("exec: a command to run is required (or --process)");
    }
    let mut p = config.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(a.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut user = p.user().clone();
    if let Some(spec) = &a.user {
        let (uid, gid) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec.as_str(), None),
        };
        user.set_uid(
            uid.parse()
                .map_err(|_| anyhow::anyhow!("--user {spec:?}: uid must be a number"))?,
        );
        if let Some(g) = gid {
            user.set_gid(
                g.parse()
                    .map_err(|_| anyhow::anyhow!("--user {spec:?}: gid must be a number"))?,
            );
        }
    }
    if !a.additional_gids.is_empty() {
        user.set_additional_gids(Some(a.additional_gids.clone()));
    }
    p.set_user(user);
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &a.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &a.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    if !a.cap.is_empty() {
        // No capabilities in the process means none (oci-spec's Default would bring a set,
        // inheritable included).
        let caps = add_caps(p.capabilities().clone().unwrap_or_else(no_sets), &a.cap)?;
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

/// `--cap`: runc's rule since CVE-2022-29162. A capability goes into the bounding, effective
/// and permitted sets only; never into the inheritable set, which would let it survive an
/// execve of a file with inheritable file capabilities. Ambient follows runc too: the
/// capability is added there only when the process lists an inheritable set at all (the kernel
/// raises an ambient capability only if it is also inheritable, so this adds nothing the
/// process spec did not already allow).
fn add_caps(
    mut caps: oci_spec::runtime::LinuxCapabilities,
    names: &[String],
) -> anyhow::Result<oci_spec::runtime::LinuxCapabilities> {
    for name in names {
        let cap: Capability = name
            .trim_start_matches("CAP_")
            .parse()
            .map_err(|_| anyhow::anyhow!("--cap {name:?}: unknown capability"))?;
        let add = |set: &Option<oci_spec::runtime::Capabilities>| {
            let mut s = set.clone().unwrap_or_default();
            s.insert(cap);
            Some(s)
        };
        let (b, e, pm) = (
            add(caps.bounding()),
            add(caps.effective()),
            add(caps.permitted()),
        );
        caps.set_bounding(b);
        caps.set_effective(e);
        caps.set_permitted(pm);
        if caps.inheritable().is_some() {
            let am = add(caps.ambient());
            caps.set_ambient(am);
        }
    }
    Ok(caps)
}

fn no_sets() -> oci_spec::runtime::LinuxCapabilities {
    let mut c = oci_spec::runtime::LinuxCapabilities::default();
    c.set_bounding(None);
    c.set_effective(None);
    c.set_permitted(None);
    c.set_inheritable(None);
    c.set_ambient(None);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxCapabilities;

    fn caps(json: serde_json::Value) -> LinuxCapabilities {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn cap_never_reaches_inheritable() {
        let base = caps(serde_json::json!({
            "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]
        }));
        let out = add_caps(base, &["CAP_SYS_ADMIN".into()]).unwrap();
        for set in [out.bounding(), out.effective(), out.permitted()] {
            assert!(set.as_ref().unwrap().contains(&Capability::SysAdmin));
        }
        assert!(out.inheritable().is_none());
        assert!(!out
            .ambient()
            .as_ref()
            .unwrap()
            .contains(&Capability::SysAdmin));
    }

    #[test]
    fn cap_goes_to_ambient_only_beside_an_inheritable_set() {
        let base = caps(serde_json::json!({"inheritable": ["CAP_SYS_ADMIN"]}));
        let out = add_caps(base, &["SYS_ADMIN".into()]).unwrap();
        assert!(out
            .ambient()
            .as_ref()
            .unwrap()
            .contains(&Capability::SysAdmin));
        assert_eq!(out.inheritable().as_ref().unwrap().len(), 1);
        assert!(add_caps(no_sets(), &["CAP_NOPE".into()]).is_err());
    }

    #[test]
    fn cap_on_a_process_without_capabilities_adds_only_itself() {
        let out = add_caps(no_sets(), &["CAP_SYS_ADMIN".into()]).unwrap();
        assert_eq!(out.bounding().as_ref().unwrap().len(), 1);
        assert!(out.inheritable().is_none() && out.ambient().is_none());
    }
}
