//! The plan: config.json and the command line, validated, resolved and typed once, before
//! anything on the system changes. Everything after validation reads the plan: `create`
//! prepares from it, init applies it (and computes nothing again), `restore` checks with it.
//! `exec` builds its process part with the same constructor ([`Process::new`]) and the
//! container-level parts it needs ([`KernelAttrs::of`], [`Notify::of`]) from the stored
//! config with the same code.

use std::path::PathBuf;

use oci_spec::runtime::{Hooks, LinuxIdMapping, LinuxIntelRdt, LinuxMemoryPolicy};
use oci_spec::runtime::{LinuxPersonality, Spec};

use crate::namespaces;
use crate::security::seccomp::Program;
use crate::{Error, Result};

pub mod cgroup;
pub mod process;
pub mod terminal;

pub use cgroup::{Cgroup, Driver};
pub use process::{Process, ProcessOf};
pub use terminal::Terminal;

/// What the caller asked for on the command line (`create`, `run`, `restore`).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Where to send a pidfd of init (runc 1.2's `--pidfd-socket`).
    pub pidfd_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// The fds the caller passed (LISTEN_FDS, `--preserve-fds`), claimed by the CLI.
    pub fds: crate::process::fds::Passed,
    /// `run` in the foreground: a terminal is relayed by hull, not sent to a socket.
    pub foreground: bool,
    pub cgroup_driver: Driver,
}

/// A container, planned.
pub struct Plan {
    /// The bundle's canonical path.
    pub bundle: PathBuf,
    /// config.json as loaded, unedited: saved as state.json's `config` (runc stores it too;
    /// start and delete hooks read it). Nothing else reads it after `build`.
    pub config: Spec,
    /// The rootfs part: root.path, mounts (with the runtime's notify bind), devices, paths,
    /// propagation, parsed and checked once.
    pub rootfs: crate::rootfs::Plan,

    pub process: Process,
    pub ns: namespaces::Plan,
    /// Non-empty hostname and domainname (a uts namespace of the container's was checked).
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    /// linux.sysctl, its keys resolved to paths under /proc/sys, in key order.
    pub sysctl: Vec<crate::spec::sysctl::Entry>,
    pub hooks: Option<Hooks>,
    pub uid_mappings: Vec<LinuxIdMapping>,
    pub gid_mappings: Vec<LinuxIdMapping>,
    pub kernel: KernelAttrs,
    /// linux.netDevices: (host name, name in the container), in name order.
    pub net_devices: Vec<(String, String)>,
    pub cgroup: Cgroup,
    /// linux.seccomp, compiled (cached under the root).
    pub seccomp: Option<Program>,
    pub notify: Notify,
    /// Whether init may give memory back while it waits for `start` (`process::idle`).
    pub idle_trim: bool,
    /// linux.intelRdt: the group planned, and what to write in it.
    pub resctrl: Option<crate::resctrl::Saved>,
    pub intel_rdt: Option<LinuxIntelRdt>,
    /// Where the terminal's master goes, when process.terminal is set.
    pub terminal: Option<Terminal>,
    pub no_new_keyring: bool,
}

/// How the kernel runs every process of the container: linux.personality and
/// linux.memoryPolicy (checked by `spec::validate_container`).
#[derive(Debug, Clone, Default)]
pub struct KernelAttrs {
    pub personality: Option<LinuxPersonality>,
    pub memory_policy: Option<LinuxMemoryPolicy>,
}

impl KernelAttrs {
    pub fn of(config: &Spec) -> KernelAttrs {
        let linux = config.linux().as_ref();
        KernelAttrs {
            personality: linux.and_then(|l| l.personality().clone()),
            memory_policy: linux.and_then(|l| l.memory_policy().clone()),
        }
    }
}

/// What the seccomp notify relay needs: where the agent listens and what it is told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    pub listener_path: Option<PathBuf>,
    pub listener_metadata: Option<String>,
}

impl Notify {
    pub fn of(config: &Spec) -> Notify {
        let s = config.linux().as_ref().and_then(|l| l.seccomp().as_ref());
        Notify {
            listener_path: s.and_then(|s| s.listener_path().clone()),
            listener_metadata: s.and_then(|s| s.listener_metadata().clone()),
        }
    }
}

/// Step 1 of create and restore: loads `<bundle>/config.json` and builds the plan. Nothing on
/// the system changes until the whole config has been checked. (The container id is the
/// caller's to check first: it is the state directory's business.)
///
/// `notify`: the notify socket's directory (create under NOTIFY_SOCKET), bound into the
/// rootfs, with NOTIFY_SOCKET added to the process's env; the config itself is not edited.
pub fn build(opts: &Options, notify: Option<crate::io::notify::Bind>) -> Result<Plan> {
    let bundle = std::fs::canonicalize(&opts.bundle)
        .map_err(|e| Error::invalid(format!("bundle {}: {e}", opts.bundle.display())))?;
    let config = crate::spec::load(&bundle)?;
    of_config(config, bundle, opts, notify)
}

/// The plan of a loaded config (`bundle`: its canonical path).
pub fn of_config(
    config: Spec,
    bundle: PathBuf,
    opts: &Options,
    notify: Option<crate::io::notify::Bind>,
) -> Result<Plan> {
    crate::spec::validate_head(&config, true)?;
    let linux = config.linux().as_ref();
    // What the runtime adds to process.env: NOTIFY_SOCKET after the config's entries, then
    // LISTEN_FDS (a later entry wins).
    let extra_env: Vec<String> = notify
        .iter()
        .map(|_| crate::io::notify::container_env())
        .chain(opts.fds.env.iter().cloned())
        .collect();
    let process = Process::new(
        config
            .process()
            .as_ref()
            .expect("validated: process is present"),
        ProcessOf::Init,
        linux.and_then(|l| l.mount_label().as_deref()),
        &extra_env,
    )?;
    let sysctl = crate::spec::validate_container(&config)?;
    let terminal = terminal::terminal(
        process.terminal,
        opts.console_socket.as_deref(),
        !opts.foreground,
    )?;
    let rootfs_opts = crate::rootfs::Options {
        no_pivot: opts.no_pivot,
        notify,
    };
    let rootfs = crate::rootfs::Plan::new(&config, &bundle, rootfs_opts)?;

    let ns = namespaces::Plan::new(&config)?;
    let cgroup = Cgroup::new(&config, &opts.id, opts.cgroup_driver)?;
    let resctrl = crate::resctrl::plan(&config, &opts.id)?;
    let seccomp_config = linux.and_then(|l| l.seccomp().as_ref());
    let seccomp = compile_seccomp(&config, &opts.root)?;
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    Ok(Plan {
        process,
        ns,
        hostname: nonempty(config.hostname()),
        domainname: nonempty(config.domainname()),
        sysctl,
        hooks: config.hooks().clone(),
        uid_mappings: linux
            .and_then(|l| l.uid_mappings().clone())
            .unwrap_or_default(),
        gid_mappings: linux
            .and_then(|l| l.gid_mappings().clone())
            .unwrap_or_default(),
        kernel: KernelAttrs::of(&config),
        net_devices: crate::netdev::devices(&config),
        cgroup,
        seccomp,
        notify: Notify::of(&config),
        idle_trim: crate::process::idle::may_trim(seccomp_config),
        resctrl,
        intel_rdt: linux.and_then(|l| l.intel_rdt().clone()),
        terminal,
        no_new_keyring: opts.no_new_keyring,
        rootfs,
        bundle,
        config,
    })
}

/// linux.seccomp compiled now (cached under the root), so a bad profile fails before
/// anything exists. Exec compiles the stored config's with it too.
pub fn compile_seccomp(config: &Spec, root: &std::path::Path) -> Result<Option<Program>> {
    let Some(s) = config.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    crate::security::seccomp::compile(s, Some(&root.join(".seccomp-cache")))
        .map(Some)
        .map_err(|e| Error::invalid(format!("linux.seccomp: {e}")))
}

#[cfg(test)]
mod tests;
