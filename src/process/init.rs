//! The container's init: runs in the clone made by `spawn`, sets the container up step by
//! step, waits on the exec fifo, and becomes the user process with execve.
//!
//! Init is a copy of the runtime process, so it reads its plan from memory; there is no
//! re-exec of hull and nothing to deserialize. Until it reports `Ready` every failure goes to
//! the runtime over the channel; after that (the runtime may be gone) to `start` through the
//! exec fifo, and to stderr.
//!
//! The seccomp filter is the last step before execve: everything else (user, capabilities,
//! cwd, fds) is done before `Ready`, and after the fifo only the filter, the startContainer
//! hooks (which runc too runs under the filter) and the byte that releases `start` remain. A
//! notify filter is the exception: its listener must reach the agent through the runtime, so
//! it goes in just before `Ready`, when everything else is done (as runc loads it).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use super::attrs;
use super::channel::{Channel, FromInit, HookStates, ToInit};
use crate::hooks::{self, Point, Site};
use crate::log;
use crate::plan::process::{ConsoleSize, Process};
use crate::procfs::{Base, Proc};
use crate::rootfs::Rootfs;
use crate::sys;
use crate::{Context, Error, Result};

/// Everything init needs: the container's plan, and what only this run of the runtime has.
pub struct Plan<'a> {
    pub container: &'a crate::plan::Plan,
    pub rootfs: Rootfs<'a>,
    /// `<state dir>/exec.fifo`, open for reading and writing (see [`start`]).
    pub fifo: BorrowedFd<'a>,
    /// The runtime's lock on the state directory: init lets go of its copy first thing, so
    /// the lock is free exactly when the runtime is gone (that is how `state` tells a create
    /// under way from one that was killed).
    pub runtime_lock: Option<RawFd>,
    /// fds 3..3+keep_fds pass into the container (LISTEN_FDS and --preserve-fds).
    pub keep_fds: u32,
}

/// Who gets the master of the container's terminal.
pub use crate::plan::Terminal;

/// Init's entry point; never returns.
pub fn run(plan: &Plan, chan: Channel) -> ! {
    let ready = match prepare(plan, &chan) {
        Ok(ready) => ready,
        Err(e) => {
            let _ = chan.send(&FromInit::Failed(e.to_string()));
            sys::clone::exit_now(1);
        }
    };
    // Closing it tells the runtime init has let go of it (see `prepare`).
    drop(chan);
    let err = start(plan, ready);
    // The runtime has gone; the container's stderr is all that is left to tell.
    eprintln!("hull init: {err}");
    sys::clone::exit_now(127);
}

/// What `prepare` leaves for after the fifo.
struct Ready {
    exec: attrs::ExecArgs,
    /// Left for after the filter, when it was not loaded before `Ready` (a notify filter).
    identity: Option<attrs::Identity>,
    states: HookStates,
    /// startContainer hooks to run: the kept fds are passed only after them.
    start_hooks: bool,
}

/// Everything up to waiting on the exec fifo: failures here fail `create`.
fn prepare(plan: &Plan, chan: &Channel) -> Result<Ready> {
    let (c, p) = (plan.container, &plan.container.process);
    if let Some(fd) = plan.runtime_lock {
        sys::exec::close_one(fd).ctx("close the runtime's lock")?;
    }
    sys::process::reset_signals().ctx("reset signal mask and dispositions")?;
    // Until the runtime has recorded it, init must not outlive a runtime that died mid-create.
    // Had the runtime died before this line, the signal never comes: its end of the channel
    // is closed then, which the check below sees.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .ctx("set pdeathsig")?;
    if chan.peer_gone() {
        return Err(Error::Other("the runtime went away during create".into()));
    }
    // Not dumpable: the container cannot ptrace or read /proc/1/mem of init (and so the
    // runtime's memory) before execve resets it. In a new user namespace this waits until the
    // runtime has written the id maps: an unprivileged runtime may write /proc/PID/uid_map only
    // while init is dumpable (it is still only the runtime's own process until then).
    if !c.ns.new_user {
        set_not_dumpable()?;
    }
    log::debug("init: child process started");

    super::spawn::join_in_child(&c.ns)?;
    // The runtime puts init in its cgroup, then says go, with the state hooks read.
    let states = match recv(chan)? {
        ToInit::Continue(states) => states.unwrap_or_default(),
        ToInit::Abort(why) => return Err(Error::Other(why)),
    };
    if c.ns.new_user {
        set_not_dumpable()?;
        become_namespace_root(c)?;
    } else if c.ns.in_user_namespace() {
        become_joined_root()?;
    }
    if c.ns.new_cgroup {
        sys::clone::unshare(rustix::thread::UnshareFlags::NEWCGROUP)
            .ctx("unshare cgroup namespace")?;
    }
    if c.ns.new_net {
        crate::netdev::loopback_up()?;
    }
    log::debug("init: namespaces joined");

    plan.rootfs.prepare()?;
    log::debug("init: rootfs prepared");

    let hooks = c.hooks.as_ref();
    let has = |p: Point| hooks.is_some_and(|h| !p.of(h).is_empty());
    if has(Point::Prestart) || has(Point::CreateRuntime) {
        chan.send(&FromInit::RunCreateHooks)?;
        if let ToInit::Abort(why) = recv(chan)? {
            return Err(Error::Other(why));
        }
    }
    hooks::run(
        hooks,
        Point::CreateContainer,
        &states.creating,
        Site::container(Some(&plan.rootfs.root)),
    )?;

    plan.rootfs.pivot()?;
    log::debug("init: pivoted into the rootfs");
    match &c.terminal {
        Some(terminal) => setup_terminal(p.console_size, terminal, chan, true)?,
        // A session of its own, with a terminal or without, as runc's init has: the caller's
        // terminal signals reach the runtime, not the container, and CRIU can dump the
        // container without --shell-job (a session leader outside it would stop it).
        None => {
            rustix::process::setsid().ctx("setsid")?;
        }
    }
    ensure_cwd(p)?;
    set_identity(c)?;
    write_sysctls(&c.sysctl)?;
    plan.rootfs.finalize()?;

    attrs::set_rlimits(&p.rlimits)?;
    if let Some(adj) = p.oom_score_adj {
        Proc::get()?
            .write(Base::ProcSelf, "oom_score_adj", &adj.to_string())
            .map_err(|e| Error::Other(format!("process.oomScoreAdj {adj}: {e}")))?;
    }
    if !c.no_new_keyring {
        join_session_keyring()?;
    }
    let env = attrs::environment(p);
    let exe = attrs::find_executable(p, &env)?;
    let exec = attrs::ExecArgs::new(&exe, &p.args, &env)?;

    // What needs the runtime's procfs or its log comes first. Then init holds only what the
    // container may see: stdio, the fds the caller passed, the channel (until Ready) and the
    // exec fifo (until execve). Everything else the runtime had open when it cloned init (the
    // console socket, namespace and cgroup handles, the log file, the caller's stray fds) is
    // closed before the user switch, so neither a cwd of /proc/self/fd/N nor a look at
    // /proc/1/fd while the container waits for `start` reaches the host (CVE-2024-21626).
    attrs::apply_labels(p)?;
    attrs::warn_ungrantable(p)?;
    // (the runtime itself may run in a user namespace mapped without setgroups: `unshare -r`)
    let setgroups_denied = (c.ns.in_user_namespace() || crate::namespaces::in_user_namespace())
        && attrs::setgroups_denied();
    log::debug("init: closing the runtime's fds; user, capabilities and cwd next");
    log::detach();
    crate::process::fds::close_others(plan.keep_fds, &[chan.as_raw_fd(), plan.fifo.as_raw_fd()])?;

    // Everything that can fail because of the config fails `create`, as runc's do: the
    // container's personality and memory policy and the process's scheduling (they need the
    // runtime's privileges; runc sets them before it reports ready too, so startContainer
    // hooks run under them), then user, capabilities and cwd.
    attrs::apply_kernel_attrs(p, &c.kernel)?;
    let seccomp = c.seccomp.as_ref();
    let identity = attrs::become_user(p, seccomp, setgroups_denied)?;
    // The passed fds open up now, unless startContainer hooks come first (they must not get
    // them).
    let start_hooks = has(Point::StartContainer);
    if !start_hooks {
        attrs::pass_fds(plan.keep_fds)?;
    }

    let mut identity = Some(identity);
    if let Some(prog) = seccomp.filter(|p| p.notifies()) {
        attrs::load_seccomp(prog, |fd| chan.hand_over_listener(fd))?;
        identity.take().expect("set above").after_seccomp()?;
    }

    chan.send_ready()?;
    // Init may outlive the runtime only once the runtime has recorded it (state.json, the
    // pid file): a runtime killed before that takes init with it, so no process it did not
    // write down is left behind.
    chan.wait_continue()?;
    rustix::process::set_parent_process_death_signal(None).ctx("clear pdeathsig")?;
    Ok(Ready {
        exec,
        identity,
        states,
        start_hooks,
    })
}

/// Not dumpable: see `prepare`.
fn set_not_dumpable() -> Result<()> {
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .ctx("set init non-dumpable")
}

/// In a new user namespace, now mapped: init takes the ids of the namespace's root, when the
/// maps have one, so what it creates while setting up is root's inside (the clone left it with
/// every capability in the namespace, and uid 0 keeps them).
fn become_namespace_root(c: &crate::plan::Plan) -> Result<()> {
    use crate::process::idmap::maps_root;
    if maps_root(&c.gid_mappings) {
        sys::process::set_res_gid(0).ctx("become gid 0 in the user namespace")?;
    }
    if maps_root(&c.uid_mappings) {
        sys::process::set_res_uid(0).ctx("become uid 0 in the user namespace")?;
    }
    Ok(())
}

/// In a user namespace joined by path: init takes the ids of its root, as runc's init does,
/// so the mounts and files it makes while setting up the namespaces it owns are root's inside
/// (its own ids, the runtime's, are unmapped there: the kernel refuses to create files as an
/// unmapped id). A namespace without a root leaves init as it is (EINVAL: 0 is not mapped).
fn become_joined_root() -> Result<()> {
    let einval = |e: &std::io::Error| e.raw_os_error() == Some(libc::EINVAL);
    match sys::process::set_res_gid(0) {
        Err(e) if !einval(&e) => return Err(e).ctx("become gid 0 in the joined user namespace"),
        _ => {}
    }
    match sys::process::set_res_uid(0) {
        Err(e) if !einval(&e) => Err(e).ctx("become uid 0 in the joined user namespace"),
        _ => Ok(()),
    }
}

/// Waits for `start`, then becomes the user process. Returns only on failure.
///
/// Init holds the exec fifo open for reading and writing (which never blocks, and needs no
/// path or /proc handle that would lead out of the container): `start` writes a byte that
/// init's read waits for. Init answers (`state::FIFO_GOING`) once startContainer hooks are
/// done and it is going; then the end of file (its close-on-exec fd closing) tells `start`
/// that execve happened, so poststart hooks run after the user process has started, as the
/// spec orders. When a step fails in between, init answers `E` and why instead: that is
/// `start`'s error (a failed startContainer hook's output must not be lost, least of all into
/// a terminal nobody reads yet).
fn start(plan: &Plan, ready: Ready) -> Error {
    let c = plan.container;
    crate::process::idle::before_wait(c.idle_trim);
    if let Err(e) = wait_for_start(plan.fifo) {
        return e;
    }
    let fail = |e: Error| -> Error {
        let msg = format!("E{e}");
        let _ = rustix::io::write(plan.fifo, msg.as_bytes());
        e
    };
    if let Some(identity) = ready.identity {
        if let Some(prog) = c.seccomp.as_ref() {
            if let Err(e) = attrs::load_seccomp(prog, |_| Ok(())) {
                return fail(e);
            }
        }
        if let Err(e) = identity.after_seccomp() {
            return fail(e);
        }
    }
    if ready.start_hooks {
        // runc runs these after the filter, as the container's user, in its cwd.
        let ran = hooks::run(
            c.hooks.as_ref(),
            Point::StartContainer,
            &ready.states.created,
            Site::container(None),
        )
        .and_then(|_| attrs::pass_fds(plan.keep_fds));
        if let Err(e) = ran {
            return fail(e);
        }
    }
    let going = crate::container::state::FIFO_GOING;
    if let Err(e) = rustix::io::write(plan.fifo, going).ctx("write exec fifo") {
        return e;
    }
    ready.exec.exec()
}

/// A pty from the container's devpts: master to its receiver, peer as our stdio and
/// controlling terminal (and /dev/console for init).
pub fn setup_terminal(
    size: Option<ConsoleSize>,
    to: &Terminal,
    chan: &Channel,
    console: bool,
) -> Result<()> {
    let pty = crate::io::tty::open()?;
    crate::io::tty::apply_size(&pty, size.map(|s| (s.rows, s.cols)))?;
    if console {
        crate::io::tty::bind_console(&pty)?;
    }
    match to {
        Terminal::Socket(sock) => crate::io::tty::send_master(sock, &pty.master)?,
        Terminal::Runtime => {
            // The runtime relays it as runc relays its own: `\n` stays `\n`. Done here,
            // before the process can write anything.
            crate::io::relay::clear_onlcr(pty.master.as_fd());
            chan.send_with_fd(
                &FromInit::Console,
                Some(std::os::fd::AsRawFd::as_raw_fd(&pty.master)),
            )?
        }
    }
    crate::io::tty::take_as_stdio(&pty.peer)
}

fn recv(chan: &Channel) -> Result<ToInit> {
    match chan.recv::<ToInit>()? {
        Some((msg, _)) => Ok(msg),
        None => Err(Error::Other("the runtime went away during create".into())),
    }
}

/// hostname and domainname, in the container's uts namespace.
fn set_identity(c: &crate::plan::Plan) -> Result<()> {
    if let Some(h) = &c.hostname {
        rustix::system::sethostname(h.as_bytes()).with_ctx(|| format!("set hostname {h:?}"))?;
    }
    if let Some(d) = &c.domainname {
        sys::process::setdomainname(d).with_ctx(|| format!("set domainname {d:?}"))?;
    }
    Ok(())
}

/// linux.sysctl, written through the runtime's verified procfs: whatever the container has
/// mounted at its /proc/sys, the write reaches the kernel's sysctl (for init's namespaces).
/// Which keys are allowed was checked against the namespaces at validation.
fn write_sysctls(sysctl: &[crate::spec::sysctl::Entry]) -> Result<()> {
    if sysctl.is_empty() {
        return Ok(());
    }
    let proc = Proc::get()?;
    for e in sysctl {
        proc.write(Base::ProcRoot, &format!("sys/{}", e.path), &e.value)
            .map_err(|err| Error::Other(format!("linux.sysctl {}={:?}: {err}", e.key, e.value)))?;
    }
    Ok(())
}

/// A new session keyring, so the container does not share the caller's keys.
fn join_session_keyring() -> Result<()> {
    match sys::process::join_session_keyring() {
        // No keyring support, or keyrings refused (e.g. by seccomp of a nested runtime): runc
        // goes on without one too.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOSYS) | Some(libc::EACCES) | Some(libc::EPERM)
            ) =>
        {
            Ok(())
        }
        other => other.ctx("join a new session keyring"),
    }
}

/// runc creates a missing cwd (as root, before the user switch and before the root is made
/// read-only). Called after pivot_root: the path is resolved inside the container's root, where
/// magic links are not followed, so a cwd of /proc/self/fd/N (CVE-2024-21626) cannot lead to a
/// directory of the runtime's, let alone create one there.
fn ensure_cwd(p: &Process) -> Result<()> {
    let cwd = &p.cwd;
    let root = pathrs::Root::open("/").with_ctx(|| "open / to create process.cwd".to_string())?;
    crate::rootfs::inroot::ensure_dir(&root, cwd)
        .map(drop)
        .map_err(|e| Error::Other(format!("process.cwd {}: {e}", cwd.display())))
}

/// Blocks until `start` writes its byte to the fifo (`state::FIFO_GO`).
fn wait_for_start(fifo: BorrowedFd) -> Result<()> {
    let mut byte = [0u8; 1];
    loop {
        match rustix::io::read(fifo, &mut byte) {
            Ok(1) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => return Err(Error::Other("exec fifo: end of file".into())),
            Err(e) => return Err(e).ctx("read exec fifo"),
        }
    }
}
