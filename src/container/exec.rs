//! `exec`: a new process in a running container, create's story with a running container in
//! place of the bundle: the process planned as config.json's is (`plan::Process::new`), with
//! the container's kernel attributes and seccomp notify settings planned from its stored config
//! by the same code (`plan::KernelAttrs::of`, `plan::Notify::of`),
//! the child spawned by create's spawn path (`process::spawn`; it joins every namespace of the
//! container's init: the user namespace, then pid and time, through a short-lived intermediate
//! process before the clone, the rest in the child, mount last), put in the container's cgroup,
//! then init's last steps (`process::attrs`): user, capabilities, no_new_privs, the seccomp
//! filter, and execve.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::Process;

use super::state::{self, Dir, State, Status};
use crate::namespaces;
use crate::plan::{self, KernelAttrs, ProcessOf};
use crate::process::channel::{Channel, FromInit, ToInit};
use crate::process::{attrs, init, spawn};
use crate::sys::clone::exit_now;
use crate::{Context, Error, Result};

pub struct Options {
    pub process: Process,
    pub pid_file: Option<PathBuf>,
    /// The fds the caller passed (`--preserve-fds`), claimed by the CLI.
    pub fds: crate::process::fds::Passed,
    pub ignore_paused: bool,
    pub terminal: Option<plan::Terminal>,
    /// `--cgroup`: sub-cgroups of the container's to put the process in.
    pub sub_cgroups: Vec<String>,
    /// `--pidfd-socket`: where to send a pidfd of the process.
    pub pidfd_socket: Option<PathBuf>,
    /// The container's linux.seccomp, compiled: exec'd processes get the same filter.
    pub seccomp: Option<crate::security::seccomp::Program>,
}

/// A started exec process: its pid, and the terminal's master when the runtime relays it
/// (the channel's end of file said it exec'd).
pub use crate::process::spawn::Child as Started;

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
    // The plan config.json's process gets, with exec's exceptions (see ProcessOf::Exec).
    let process = plan::Process::new(&opts.process, ProcessOf::Exec, None, &[])?;
    let kernel = KernelAttrs::of(&st.config);
    let notify = plan::Notify::of(&st.config);
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

    let cpus = &process.cpu_affinity;
    crate::process::affinity::runtime_initial(cpus.initial.as_deref())?;
    let how = spawn::Spawn {
        name: "the exec process",
        ns: &ns,
        cgroup: None,
        // The runtime may not be able to come back from the container's pid namespace.
        runtime_enters: false,
    };
    let steps = Steps {
        ns: &ns,
        process: &process,
        kernel: &kernel,
        opts,
    };
    let mut child = spawn::spawn(&how, |chan| child(&steps, root, chan))?;
    let pid = child.pid;
    crate::log::debug_with("spawned exec process", &[("pid", &pid)]);
    // Into the container's cgroup before the child runs anything (on the CPUs
    // execCPUAffinity.initial names), then on the CPUs it ends on; then let it go.
    let joined_cgroup =
        crate::process::affinity::exec_initial(cpus.initial.as_deref(), pid.as_raw())
            .and_then(|_| match super::cgroup::of(st) {
                Some(cg) => super::cgroup::call(cg.apply(pid.as_raw())),
                None => Ok(()),
            })
            .and_then(|_| match opts.sub_cgroups.is_empty() {
                true => Ok(()),
                false => super::cgroup::join_sub(st, pid.as_raw(), &opts.sub_cgroups),
            })
            // linux.intelRdt: every process of the container is in its resctrl groups.
            .and_then(|_| match &st.resctrl {
                Some(saved) => crate::resctrl::add(saved, pid.as_raw()),
                None => Ok(()),
            })
            .and_then(|_| {
                crate::process::affinity::exec_final(
                    cpus.initial.as_deref(),
                    cpus.last.as_deref(),
                    pid.as_raw(),
                )
            })
            .and_then(|_| child.chan.send(&ToInit::Continue(None)));
    if let Err(e) = joined_cgroup {
        spawn::kill_and_reap(pid);
        return Err(e);
    }
    drop(dir);
    // The child's end of the channel is close-on-exec: end of file means execve happened.
    let notify_state = || st.public(Status::Running);
    let done = match child.next(&notify, &notify_state) {
        Ok(spawn::Event::Closed) => Ok(()),
        Ok(other) => Err(Error::Other(format!(
            "unexpected message from the exec process: {other:?}"
        ))),
        Err(e) => Err(e),
    };
    if let Err(e) = done {
        spawn::kill_and_reap(pid);
        return Err(e);
    }
    if let Some(pid_file) = &opts.pid_file {
        super::create::write_pid_file(pid_file, pid)?;
    }
    if let Some(socket) = &opts.pidfd_socket {
        super::create::send_pidfd(socket, pid.as_raw())?;
    }
    Ok(child)
}

/// What the exec'd process applies, planned by the runtime.
struct Steps<'a> {
    ns: &'a namespaces::Plan,
    process: &'a plan::Process,
    kernel: &'a KernelAttrs,
    opts: &'a Options,
}

/// The exec'd process, in the child; never returns.
fn child(steps: &Steps, root: Option<OwnedFd>, chan: Channel) -> ! {
    let err = match prepare(steps, root, &chan) {
        // The channel stays open: execve closes it (close-on-exec), which tells the runtime
        // the process is running.
        Ok(exec) => exec.exec(),
        Err(e) => e,
    };
    let _ = chan.send(&FromInit::Failed(err.to_string()));
    exit_now(255)
}

/// The same steps as init's, in the same order, ending with the seccomp filter.
fn prepare(steps: &Steps, root: Option<OwnedFd>, chan: &Channel) -> Result<attrs::ExecArgs> {
    let (ns, p, opts) = (steps.ns, steps.process, steps.opts);
    match chan.recv::<ToInit>()? {
        Some((ToInit::Continue(_), _)) => {}
        _ => return Err(Error::Other("the runtime went away during exec".into())),
    }
    crate::sys::process::reset_signals().ctx("reset signal mask and dispositions")?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .ctx("set non-dumpable")?;
    spawn::join_in_child(ns)?;
    if let Some(root) = root {
        rustix::process::fchdir(&root).ctx("chdir to the container's root")?;
        rustix::process::chroot(".").ctx("chroot into the container's root")?;
    }
    if let Some(terminal) = &opts.terminal {
        init::setup_terminal(p.console_size, terminal, chan, false)?;
    }
    attrs::set_rlimits(&p.rlimits)?;
    let env = attrs::environment(p);
    let exe = attrs::find_executable(p, &env)?;
    let exec = attrs::ExecArgs::new(&exe, &p.args, &env)?;
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
    attrs::apply_kernel_attrs(p, steps.kernel)?;
    let seccomp = opts.seccomp.as_ref();
    let identity = attrs::become_user(p, seccomp, setgroups_denied)?;
    attrs::pass_fds(opts.fds.count)?;
    if let Some(prog) = seccomp {
        attrs::load_seccomp(prog, |fd| chan.hand_over_listener(fd))?;
    }
    identity.after_seccomp()?;
    Ok(exec)
}
