//! `exec`: a new process in a running container. It joins every namespace of the container's
//! init (pid and time through the runtime, before the fork; the rest in the child, mount
//! last), then gets the process's user, capabilities, no_new_privs, and execve.

use std::path::PathBuf;

use nix::unistd::Pid;
use oci_spec::runtime::Process;

use super::state::{self, Dir, State, Status};
use crate::namespaces::{self, ParentNamespaces};
use crate::process::channel::{self, Channel, FromInit, ToInit};
use crate::process::{attrs, init};
use crate::sys::clone::{exit_now, fork_into, Forked};
use crate::{Context, Error, Result};

pub struct Options {
    pub process: Process,
    pub pid_file: Option<PathBuf>,
    /// The fds the caller passed (`--preserve-fds`), claimed by the CLI.
    pub fds: crate::process::fds::Passed,
    pub ignore_paused: bool,
    pub terminal: Option<init::Terminal>,
    /// `--cgroup`: sub-cgroups of the container's to put the process in.
    pub sub_cgroups: Vec<String>,
    /// `--pidfd-socket`: where to send a pidfd of the process.
    pub pidfd_socket: Option<PathBuf>,
    /// The container's linux.seccomp, compiled: exec'd processes get the same filter.
    pub seccomp: Option<crate::security::seccomp::Program>,
}

/// A started exec process.
pub struct Started {
    pub pid: Pid,
    /// The terminal's master when the runtime relays it.
    pub console: Option<std::os::fd::OwnedFd>,
}

/// Starts the process; returns its pid once it has exec'd (or the error that stopped it).
pub fn exec(dir: &Dir, st: &State, opts: &Options) -> Result<Started> {
    match state::status(dir, st) {
        Status::Stopped => return Err(Error::Other("container not running".into())),
        Status::Paused if !opts.ignore_paused => {
            return Err(Error::Other(
                "cannot exec in a paused container (use --ignore-paused to override)".into(),
            ))
        }
        _ => {}
    }
    validate(&opts.process)?;
    attrs::check_labels(&opts.process, None)?;
    let ns = namespaces::Plan::of_process(st.pid)?;
    // The namespace files are open: if init still is who we think, they are its.
    if !state::init_alive(st) {
        return Err(Error::Other("container not running".into()));
    }

    // Before anything of the container's is joined: the child writes its LSM attributes and
    // reads /proc through this handle, never through the container's /proc.
    crate::procfs::Proc::get()?;
    let (ours, theirs) = channel::pair()?;
    let joined = ParentNamespaces::enter(&ns, &st.config)?;
    let forked = fork_into(nix::sched::CloneFlags::empty());
    let pid = match forked {
        Ok(Forked::Child) => {
            drop(joined);
            drop(ours);
            child(&ns, opts, theirs)
        }
        Ok(Forked::Parent(pid)) => {
            drop(theirs);
            joined.restore()?;
            pid
        }
        Err(e) => {
            let _ = joined.restore();
            return Err(e).ctx("fork the exec process");
        }
    };
    // Into the container's cgroup before the child runs anything; then let it go.
    let joined_cgroup = match super::cgroup::of(st) {
        Some(cg) => super::cgroup::call(cg.apply(pid.as_raw())),
        None => Ok(()),
    };
    let joined_cgroup = joined_cgroup.and_then(|_| match opts.sub_cgroups.is_empty() {
        true => Ok(()),
        false => super::cgroup::join_sub(st, pid.as_raw(), &opts.sub_cgroups),
    });
    if let Err(e) = joined_cgroup {
        crate::process::spawn::kill_and_reap(pid);
        return Err(e);
    }
    ours.send(&ToInit::Continue(None))?;
    // The child's end of the channel is close-on-exec: end of file means execve happened.
    let mut console = None;
    loop {
        match ours.recv::<FromInit>()? {
            None => break,
            Some((FromInit::Console, fd)) => console = fd,
            Some((FromInit::SeccompListener, Some(fd))) => {
                let s = st
                    .config
                    .linux()
                    .as_ref()
                    .and_then(|l| l.seccomp().as_ref());
                if let Some(path) = s.and_then(|s| s.listener_path().as_ref()) {
                    let metadata = s.and_then(|s| s.listener_metadata().as_deref());
                    let state = st.public(Status::Running);
                    let fd = std::os::fd::AsFd::as_fd(&fd);
                    crate::security::seccomp::send_listener(
                        path,
                        metadata,
                        pid.as_raw(),
                        &state,
                        fd,
                    )?;
                }
            }
            Some((FromInit::Failed(msg), _)) => {
                let _ = nix::sys::wait::waitpid(pid, None);
                return Err(Error::Init(msg));
            }
            Some((other, _)) => {
                return Err(Error::Other(format!(
                    "unexpected message from exec: {other:?}"
                )))
            }
        }
    }
    if let Some(pid_file) = &opts.pid_file {
        super::create::write_pid_file(pid_file, pid)?;
    }
    if let Some(socket) = &opts.pidfd_socket {
        super::create::send_pidfd(socket, pid.as_raw())?;
    }
    Ok(Started { pid, console })
}

fn validate(p: &Process) -> Result<()> {
    if p.args().as_deref().unwrap_or_default().is_empty() {
        return Err(Error::invalid("process.args: must not be empty"));
    }
    if !p.cwd().is_absolute() {
        return Err(Error::invalid(format!(
            "process.cwd {}: must be an absolute path",
            p.cwd().display()
        )));
    }
    Ok(())
}

/// The exec'd process, in the child; never returns.
fn child(ns: &namespaces::Plan, opts: &Options, chan: Channel) -> ! {
    let err = match prepare(ns, opts, &chan) {
        Ok((exe, env)) => attrs::exec(
            &opts.process,
            &exe,
            &env,
            opts.fds.count,
            opts.seccomp.as_ref(),
        ),
        Err(e) => e,
    };
    let _ = chan.send(&FromInit::Failed(err.to_string()));
    exit_now(255)
}

fn prepare(
    ns: &namespaces::Plan,
    opts: &Options,
    chan: &Channel,
) -> Result<(std::ffi::CString, Vec<std::ffi::CString>)> {
    match chan.recv::<ToInit>()? {
        Some((ToInit::Continue(_), _)) => {}
        _ => return Err(Error::Other("the runtime went away during exec".into())),
    }
    crate::sys::process::reset_signals().ctx("reset signal mask and dispositions")?;
    nix::sys::prctl::set_dumpable(false).ctx("set non-dumpable")?;
    for j in &ns.init_joins {
        namespaces::join(j)?;
    }
    let p = &opts.process;
    if let Some(terminal) = &opts.terminal {
        init::setup_terminal(p, terminal, chan, false)?;
    }
    if let Some(rlimits) = p.rlimits() {
        attrs::set_rlimits(rlimits)?;
    }
    let exe = attrs::cstring(&attrs::find_executable(p)?);
    let env = attrs::environment(p, &[]);
    let seccomp = opts.seccomp.as_ref();
    if let Some(listener) = attrs::load_seccomp_at(p, seccomp, attrs::SeccompStage::Early)? {
        chan.send_with_fd(
            &FromInit::SeccompListener,
            Some(std::os::fd::AsRawFd::as_raw_fd(&listener)),
        )?;
    }
    // Only stdio, the passed fds and the channel from here: the runtime's own fds (the state
    // directory's lock, namespace and procfs handles, the caller's stray fds) are closed
    // before the cwd is entered and the user switched, so a cwd of /proc/self/fd/N reaches
    // nothing of the host (CVE-2024-21626). What needs the runtime's procfs or its log comes
    // first.
    attrs::apply_labels(p)?;
    attrs::warn_ungrantable(p)?;
    let setgroups_denied = ns.in_user_namespace() && attrs::setgroups_denied();
    crate::process::fds::close_others(opts.fds.count, &[std::os::fd::AsRawFd::as_raw_fd(chan)])?;
    attrs::load_seccomp_at(p, seccomp, attrs::SeccompStage::BeforeUser)?;
    attrs::become_user(p, setgroups_denied)?;
    Ok((exe, env))
}
