//! `exec`: a new process in a running container. It joins every namespace of the container's
//! init (the user namespace, then pid and time, through a short-lived intermediate process
//! before the fork; the rest in the child, mount last), then gets the process's user,
//! capabilities, no_new_privs, and execve.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::sched::CloneFlags;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

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
///
/// The container's lock is held only until the process is in the container's cgroup and let
/// go: a process exec'd into a paused container (`--ignore-paused`) waits frozen until
/// `resume`, which must be able to take the lock meanwhile.
pub fn exec(dir: Dir, st: &State, opts: &Options) -> Result<Started> {
    match state::status(&dir, st) {
        Status::Stopped => return Err(Error::Other("container not running".into())),
        Status::Paused if !opts.ignore_paused => {
            return Err(Error::Other(
                "cannot exec in a paused container (use --ignore-paused to override)".into(),
            ))
        }
        _ => {}
    }
    validate(&opts.process)?;
    crate::process::sched::check(&opts.process)?;
    attrs::check_labels(&opts.process, None)?;
    let ns = namespaces::Plan::of_process(st.pid)?;
    // Before anything of the container's is joined: the child writes its LSM attributes and
    // reads /proc through this handle, never through the container's /proc.
    let proc = crate::procfs::Proc::get()?;
    // A container without a mount namespace of its own shares ours: its root is where init
    // chrooted, and the process goes there too. (runc leaves an exec'd process in the host's
    // root: there it sees the host, not the container.)
    let root = match st.rootfs_mount {
        Some(_) => Some(proc.open_link(crate::procfs::Base::ProcPid(st.pid as u32), "root")?),
        None => None,
    };
    // The namespace files and the root are open: if init still is who we think, they are its.
    if !state::init_alive(st) {
        return Err(Error::Other("container not running".into()));
    }

    let (ours, theirs) = channel::pair()?;
    crate::process::affinity::runtime_initial(&opts.process)?;
    let pid = if ns.parent_joins.is_empty() {
        match fork_into(CloneFlags::empty()).ctx("fork the exec process")? {
            Forked::Child => {
                drop(ours);
                child(&ns, root, opts, &st.config, theirs)
            }
            Forked::Parent(pid) => {
                drop(theirs);
                pid
            }
        }
    } else {
        fork_in_pid_namespace(&ns, st, root, opts, ours.as_fd(), theirs)?
    };
    crate::log::debug_with("spawned exec process", &[("pid", &pid)]);
    // Into the container's cgroup before the child runs anything (on the CPUs
    // execCPUAffinity.initial names), then on the CPUs it ends on; then let it go.
    if let Err(e) = crate::process::affinity::exec_initial(&opts.process, pid.as_raw()) {
        crate::process::spawn::kill_and_reap(pid);
        return Err(e);
    }
    let joined_cgroup = match super::cgroup::of(st) {
        Some(cg) => super::cgroup::call(cg.apply(pid.as_raw())),
        None => Ok(()),
    };
    let joined_cgroup = joined_cgroup.and_then(|_| match opts.sub_cgroups.is_empty() {
        true => Ok(()),
        false => super::cgroup::join_sub(st, pid.as_raw(), &opts.sub_cgroups),
    });
    // linux.intelRdt: every process of the container is in its resctrl groups.
    let joined_cgroup = joined_cgroup.and_then(|_| match &st.resctrl {
        Some(saved) => crate::resctrl::add(saved, pid.as_raw()),
        None => Ok(()),
    });
    let joined_cgroup = joined_cgroup
        .and_then(|_| crate::process::affinity::exec_final(&opts.process, pid.as_raw()));
    if let Err(e) = joined_cgroup {
        crate::process::spawn::kill_and_reap(pid);
        return Err(e);
    }
    ours.send(&ToInit::Continue(None))?;
    drop(dir);
    // The child's end of the channel is close-on-exec: end of file means execve happened.
    let mut console = None;
    loop {
        match ours.recv::<FromInit>()? {
            None => break,
            Some((FromInit::Console, fd)) => console = fd,
            Some((FromInit::SeccompListenerFd(n), _)) => {
                let state = st.public(Status::Running);
                let passed = super::create::pass_listener(&st.config, pid.as_raw(), n, &state);
                if let Err(e) = passed {
                    let _ = ours.send(&ToInit::Abort(e.to_string()));
                    crate::process::spawn::kill_and_reap(pid);
                    return Err(e);
                }
                ours.send(&ToInit::Continue(None))?;
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
    crate::process::affinity::validate(p)
}

/// Forks the exec process into the container's pid (and time) namespace without the runtime
/// entering it: an intermediate process joins them and clones the exec process as the
/// runtime's own child (CLONE_PARENT), reports its pid and exits. The runtime itself could
/// join and come back only with CAP_SYS_ADMIN over its own pid namespace, which root of a
/// user namespace (the runtime under rootless podman) does not have. crun does the same.
fn fork_in_pid_namespace(
    ns: &namespaces::Plan,
    st: &State,
    root: Option<OwnedFd>,
    opts: &Options,
    ours: BorrowedFd,
    theirs: Channel,
) -> Result<Pid> {
    let (report_rd, report_wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx("pipe for the exec process's pid")?;
    match fork_into(CloneFlags::empty()).ctx("fork the exec process")? {
        Forked::Child => {
            drop(report_rd);
            // The runtime's end of the channel stays with the runtime (this copy would
            // reach the exec process until its execve).
            let _ = nix::unistd::close(ours.as_raw_fd());
            // A rootless runtime may join the pid namespace only from inside the container's
            // user namespace (setns needs CAP_SYS_ADMIN over the pid namespace's owner).
            let user = ns
                .init_joins
                .iter()
                .find(|j| j.typ == LinuxNamespaceType::User);
            let forked = user
                .map_or(Ok(()), namespaces::join)
                .and_then(|_| ParentNamespaces::enter(ns, &st.config))
                .and_then(|_joined| {
                    fork_into(CloneFlags::CLONE_PARENT).ctx("fork the exec process")
                });
            let (report, code) = match forked {
                Ok(Forked::Child) => {
                    drop(report_wr);
                    child(ns, root, opts, &st.config, theirs)
                }
                Ok(Forked::Parent(pid)) => (format!("pid {pid}"), 0),
                Err(e) => (e.to_string(), 1),
            };
            let _ = nix::unistd::write(&report_wr, report.as_bytes());
            exit_now(code)
        }
        Forked::Parent(mid) => {
            drop(report_wr);
            drop(theirs);
            let mut report = String::new();
            let read = std::fs::File::from(report_rd).read_to_string(&mut report);
            let _ = nix::sys::wait::waitpid(mid, None);
            read.ctx("read the exec process's pid")?;
            match report.strip_prefix("pid ").map(str::parse::<i32>) {
                Some(Ok(pid)) => Ok(Pid::from_raw(pid)),
                _ => Err(Error::Other(report)),
            }
        }
    }
}

/// The exec'd process, in the child; never returns.
fn child(
    ns: &namespaces::Plan,
    root: Option<OwnedFd>,
    opts: &Options,
    config: &Spec,
    chan: Channel,
) -> ! {
    let err = match prepare(ns, root, opts, config, &chan) {
        // The channel stays open: execve closes it (close-on-exec), which tells the runtime
        // the process is running.
        Ok(exec) => exec.exec(),
        Err(e) => e,
    };
    let _ = chan.send(&FromInit::Failed(err.to_string()));
    exit_now(255)
}

/// The same steps as init's, in the same order, ending with the seccomp filter.
fn prepare(
    ns: &namespaces::Plan,
    root: Option<OwnedFd>,
    opts: &Options,
    config: &Spec,
    chan: &Channel,
) -> Result<attrs::ExecArgs> {
    match chan.recv::<ToInit>()? {
        Some((ToInit::Continue(_), _)) => {}
        _ => return Err(Error::Other("the runtime went away during exec".into())),
    }
    crate::sys::process::reset_signals().ctx("reset signal mask and dispositions")?;
    nix::sys::prctl::set_dumpable(false).ctx("set non-dumpable")?;
    for j in &ns.init_joins {
        // (the user namespace was joined on the way to the pid namespace)
        if !(j.typ == LinuxNamespaceType::User && namespaces::is_current(j)) {
            namespaces::join(j)?;
        }
    }
    if let Some(root) = root {
        rustix::process::fchdir(&root).ctx("chdir to the container's root")?;
        rustix::process::chroot(".").ctx("chroot into the container's root")?;
    }
    let p = &opts.process;
    if let Some(terminal) = &opts.terminal {
        init::setup_terminal(p, terminal, chan, false)?;
    }
    if let Some(rlimits) = p.rlimits() {
        attrs::set_rlimits(rlimits)?;
    }
    let env = attrs::environment(p, &[])?;
    let exe = attrs::find_executable(p, &env)?;
    let exec = attrs::ExecArgs::new(&exe, p.args().as_deref().unwrap_or_default(), &env)?;
    // Only stdio, the passed fds and the channel from here: the runtime's own fds (the state
    // directory's lock, namespace and procfs handles, the caller's stray fds) are closed
    // before the cwd is entered and the user switched, so a cwd of /proc/self/fd/N reaches
    // nothing of the host (CVE-2024-21626). What needs the runtime's procfs or its log comes
    // first.
    attrs::apply_labels(p)?;
    attrs::warn_ungrantable(p)?;
    let setgroups_denied =
        (ns.in_user_namespace() || namespaces::in_user_namespace()) && attrs::setgroups_denied();
    crate::log::debug("setns_init: about to exec");
    crate::log::detach();
    crate::process::fds::close_others(opts.fds.count, &[std::os::fd::AsRawFd::as_raw_fd(chan)])?;
    // The container's personality and memory policy, and this process's scheduling.
    attrs::apply_kernel_attrs(p, config.linux().as_ref())?;
    let seccomp = opts.seccomp.as_ref();
    let identity = attrs::become_user(p, seccomp, setgroups_denied)?;
    attrs::pass_fds(opts.fds.count)?;
    if let Some(prog) = seccomp {
        attrs::load_seccomp(prog, |fd| chan.hand_over_listener(fd))?;
    }
    identity.after_seccomp()?;
    Ok(exec)
}
