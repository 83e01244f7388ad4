//! `create`: validate → prepare → clone → init in the container → wait for start.
//!
//! The runtime process reads config.json once and checks everything before it touches the
//! system. It then makes the state directory and exec fifo, clones init into its namespaces,
//! puts it in its cgroup, runs the createRuntime hooks when init asks, and, once init reports
//! it is ready and waiting on the fifo, writes state.json and the pid file and returns.
//! Any failure on the way removes everything made so far.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use super::cgroup;
use super::state::{self, Dir, State, Status};
use crate::hooks::{self, Point};
use crate::plan::Plan;
use crate::process::channel::{HookStates, ToInit};
use crate::process::{init, spawn};
use crate::rootfs::Rootfs;
use crate::sys::Pid;
use crate::{Context, Error, Result};

/// The command line of `create`, `run` and `restore` (the plan is built from it).
pub use crate::plan::Options;

/// A created container: init waits on the exec fifo.
pub struct Created {
    pub dir: Dir,
    pub state: State,
    pub pid: Pid,
    /// The terminal's master, when the runtime relays it (foreground `run`).
    pub console: Option<std::os::fd::OwnedFd>,
}

/// Step 1, validate: the id, then config.json and the command line into the plan (`restore`
/// checks the same way). `notify`: the notify socket's directory, bound into the rootfs
/// (create under NOTIFY_SOCKET).
pub fn check(opts: &Options, notify: Option<crate::io::notify::Bind>) -> Result<Plan> {
    state::validate_id(&opts.id)?;
    crate::plan::build(opts, notify)
}

pub fn create(opts: &Options) -> Result<Created> {
    // 1. Validate. With NOTIFY_SOCKET the rootfs gets the socket's directory and the
    // process its NOTIFY_SOCKET, as planned entries: the config is not edited.
    let notify_socket = crate::io::notify::from_env();
    let notify = notify_socket
        .as_ref()
        .map(|_| crate::io::notify::bind(&opts.root.join(&opts.id)));
    let mut plan = check(opts, notify)?;
    let cgroup = plan.cgroup.manager.take();
    let plan = plan;
    let (spec, bundle) = (&plan.config, &plan.bundle);
    // Id-mapped binds are made here, by the runtime: init in a user namespace of its own may
    // not (nothing is done for a config without them).
    let idmapped = crate::rootfs::IdMappedTrees::make(&plan.rootfs)?;
    let rootfs = Rootfs::new(&plan.rootfs, idmapped);

    // 2. Prepare: the state directory (locked until create returns), recorded as "creating"
    // with the cgroup about to be made before anything else exists, so that `delete` can
    // find all of it after a SIGKILL at any later point; then the exec fifo init will wait on.
    let dir = Dir::create(&opts.root, &opts.id)?;
    crate::fault::point("create:dir");
    let mut guard = Cleanup {
        dir: Some(dir),
        init: None,
        cgroup: None,
        netdevs: None,
        resctrl: None,
        rootfs_mount: None,
    };
    // Without a mount namespace of its own the container's mounts go into ours, under one
    // rootfs bind: what is at the rootfs now is recorded, so that only what this create
    // stacks on it is ever detached.
    let rootfs_mount = match rootfs.own_mount_namespace() {
        true => None,
        false => Some(crate::rootfs::RootfsMount::before(&rootfs.root)?),
    };
    let dir = guard.dir.as_ref().expect("just set");
    // A cgroup a new container must not join is refused before it is recorded as this
    // container's (a delete of what is left would otherwise treat it as ours).
    if let Some(cg) = &cgroup {
        cgroup::check_new(cg.as_ref())?;
    }
    let mut state = State::creating(
        &opts.id,
        bundle,
        &rootfs.root,
        spec,
        cgroup.as_ref().map(|cg| cg.handle()),
    );
    state.notify_socket = notify_socket;
    state.resctrl = plan.resctrl.clone();
    state.rootfs_mount = rootfs_mount;
    dir.record_creating(&state)?;
    guard.rootfs_mount = rootfs_mount.map(|m| (state.rootfs.clone(), m));
    crate::fault::point("create:recorded");
    if state.notify_socket.is_some() {
        let notify_dir = crate::io::notify::dir(&dir.path);
        std::fs::create_dir(&notify_dir).with_ctx(|| format!("create {}", notify_dir.display()))?;
    }
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.fifo(),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o622),
        0,
    )
    .with_ctx(|| format!("mkfifo {}", dir.fifo().display()))?;
    // 0622 whatever the umask: init may write it after switching to any user.
    std::fs::set_permissions(
        dir.fifo(),
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .with_ctx(|| format!("chmod {}", dir.fifo().display()))?;
    let fifo = state::open_fifo(&dir.fifo())?;
    crate::fault::point("create:fifo");

    // 3. Clone init into its namespaces.
    let init_plan = init::Plan {
        container: &plan,
        rootfs,
        fifo: fifo.as_fd(),
        runtime_lock: dir.lock_fd(),
        keep_fds: opts.fds.count,
    };
    // On cgroup v2 init is born in its cgroup (clone3 CLONE_INTO_CGROUP), so the cgroup is
    // made first; the guard owns it from here.
    let mut clone_target = None;
    if let Some(cg) = cgroup {
        match guard.cgroup.insert(cg).clone_target() {
            Ok(fd) => clone_target = fd,
            Err(e) => {
                cgroup::skip_unwritable(e, plan.cgroup.has_limits)?;
                guard.drop_cgroup();
            }
        }
    }
    crate::fault::point("create:cgroup");
    // Init dies with the runtime until the runtime has recorded it (its parent-death signal
    // stays set until the end of create), so a pid nobody wrote down never outlives a killed
    // create; until then `delete` finds what init made through the recorded cgroup.
    let how = spawn::Spawn {
        name: "init",
        ns: &plan.ns,
        cgroup: clone_target.as_ref().map(|fd| fd.as_fd()),
        runtime_enters: true,
    };
    let mut child = spawn::spawn(&how, |chan| init::run(&init_plan, chan))?;
    let (pid, in_cgroup) = (child.pid, child.in_cgroup);
    drop(clone_target);
    guard.init = Some(pid);
    crate::fault::point("create:cloned");
    crate::log::debug_with("spawned container init", &[("pid", &pid)]);
    state.pid = pid.as_raw();
    state.init_start_time = state::proc_stat(pid.as_raw())
        .map(|s| s.start_time)
        .ok_or_else(|| Error::Other("init exited during create".into()))?;

    // 4. Init is in its cgroup, with the limits set, before it runs anything of the
    // container's (it waits for the Continue below).
    if let Some(cg) = &guard.cgroup {
        if !cgroup::apply(cg.as_ref(), &plan.cgroup, pid.as_raw(), !in_cgroup)? {
            guard.drop_cgroup();
        }
    }
    state.cgroup = guard.cgroup.as_ref().map(|cg| cg.handle());
    // linux.intelRdt: the resctrl group (made as recorded) with init in it.
    if let Some(saved) = &plan.resctrl {
        guard.resctrl = Some(saved.clone());
        crate::resctrl::prepare(plan.intel_rdt.as_ref(), saved)?;
        crate::resctrl::add(saved, pid.as_raw())?;
    }
    crate::fault::point("create:in-cgroup");
    // In its cgroup, init gets every CPU the cgroup allows, not the runtime's affinity.
    crate::process::affinity::reset(pid.as_raw());

    // A new user namespace gets its id maps before init goes on: until then nobody is
    // anybody inside it.
    if plan.ns.new_user {
        crate::process::idmap::write(pid.as_raw(), &plan.uid_mappings, &plan.gid_mappings)?;
    }
    // linux.netDevices go into init's network namespace before init sets anything up; a
    // failed create puts them back (the guard).
    if !plan.net_devices.is_empty() {
        let netns = match plan
            .ns
            .init_joins
            .iter()
            .find(|j| j.typ == oci_spec::runtime::LinuxNamespaceType::Network)
        {
            Some(joined) => joined.file.try_clone(),
            None => std::fs::File::open(format!("/proc/{pid}/ns/net")),
        }
        .with_ctx(|| format!("open the network namespace of init ({pid})"))?;
        let moved = crate::netdev::move_in(&plan.net_devices, netns.as_fd())?;
        guard.netdevs = Some((moved, netns));
    }

    // 5. Init runs its setup; answer its requests until it is ready.
    let creating = state.hook_json(Status::Creating);
    let states = HookStates {
        creating: creating.clone(),
        created: state.hook_json(Status::Created),
    };
    child.chan.send(&ToInit::Continue(Some(states)))?;
    let site = hooks::Site::runtime(bundle);
    crate::fault::point("create:continued");
    // A notify listener's agent gets the state as the hooks see it.
    let notify_state = || serde_json::from_str::<serde_json::Value>(&creating).unwrap_or_default();
    loop {
        match child.next(&plan.notify, &notify_state)? {
            spawn::Event::RunCreateHooks => {
                let hooks = plan.hooks.as_ref();
                let ran = hooks::run(hooks, Point::Prestart, &creating, site)
                    .and_then(|_| hooks::run(hooks, Point::CreateRuntime, &creating, site));
                match ran {
                    Ok(()) => child.chan.send(&ToInit::Continue(None))?,
                    Err(e) => {
                        let _ = child.chan.send(&ToInit::Abort(e.to_string()));
                        return Err(e);
                    }
                }
            }
            spawn::Event::Ready => break,
            spawn::Event::Closed => {
                return Err(child.vanished("container init exited during create"))
            }
        }
    }

    crate::fault::point("create:ready");

    // 6. Record it: state.json, then the pid file the caller waits for. Then init may outlive
    // us: it clears its parent-death signal and lets go of the channel (the end of file says
    // it has, so our exit cannot beat it).
    state.creating = false;
    if let Some(m) = &mut state.rootfs_mount {
        m.made(&state.rootfs)?;
    }
    let dir = guard.dir.as_ref().expect("still held");
    dir.save(&state)?;
    crate::fault::point("create:saved");
    if let Some(pid_file) = &opts.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    if let Some(socket) = &opts.pidfd_socket {
        send_pidfd(socket, pid.as_raw())?;
    }
    crate::fault::point("create:pid-file");
    child.chan.send(&ToInit::Continue(None))?;
    while !matches!(
        child.next(&plan.notify, &notify_state)?,
        spawn::Event::Closed
    ) {}
    crate::fault::point("create:released");
    let dir = guard.disarm();
    crate::log::debug_with("container created", &[("id", &opts.id), ("pid", &pid)]);
    Ok(Created {
        dir,
        state,
        pid,
        console: child.console,
    })
}

pub fn write_pid_file(path: &Path, pid: Pid) -> Result<()> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ctx("getcwd")?.join(path)
    };
    state::write_atomic(&path, pid.to_string().as_bytes(), 0o644)
        .map_err(|e| Error::Other(format!("pid file {}: {e}", path.display())))
}

/// Sends a pidfd of `pid` over the unix socket at `path` (SCM_RIGHTS), as runc's
/// `--pidfd-socket` does.
pub fn send_pidfd(path: &Path, pid: i32) -> Result<()> {
    let what = || format!("--pidfd-socket {}", path.display());
    let fd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid).ok_or_else(|| Error::Other("no pid".into()))?,
        rustix::process::PidfdFlags::empty(),
    )
    .with_ctx(what)?;
    let sock = std::os::unix::net::UnixStream::connect(path).with_ctx(what)?;
    // A receiver that never reads must not hang the runtime.
    sock.set_write_timeout(Some(std::time::Duration::from_secs(10)))
        .with_ctx(what)?;
    crate::sys::socket::send_packet(sock.as_fd(), b"pidfd", Some(fd.as_raw_fd())).with_ctx(what)?;
    Ok(())
}

/// Undoes a half-made create: kills and reaps init, removes its cgroup and the state
/// directory.
struct Cleanup {
    dir: Option<Dir>,
    init: Option<Pid>,
    cgroup: Option<Box<dyn cgroup::Manager>>,
    /// linux.netDevices moved into init's network namespace, and that namespace.
    netdevs: Option<(Vec<crate::netdev::Moved>, std::fs::File)>,
    /// linux.intelRdt groups made for the container.
    resctrl: Option<crate::resctrl::Saved>,
    /// The rootfs bind init makes in our mount namespace (no mount namespace of its own).
    rootfs_mount: Option<(PathBuf, crate::rootfs::RootfsMount)>,
}

impl Cleanup {
    /// Goes on without a cgroup (rootless, where the caller may not make one): whatever part
    /// of it was made is removed.
    fn drop_cgroup(&mut self) {
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.destroy();
        }
    }

    fn disarm(&mut self) -> Dir {
        self.init = None;
        self.cgroup = None;
        self.netdevs = None;
        self.resctrl = None;
        self.rootfs_mount = None;
        self.dir.take().expect("disarmed once")
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // While init still holds its network namespace: a namespace of its own dies with it,
        // and the devices with it.
        if let Some((moved, netns)) = self.netdevs.take() {
            crate::netdev::move_back(&moved, netns.as_fd());
        }
        if let Some(pid) = self.init.take() {
            spawn::kill_and_reap(pid);
        }
        if let Some((rootfs, m)) = self.rootfs_mount.take() {
            if let Err(e) = m.detach(&rootfs) {
                // Its record stays, so that `delete` can finish the job.
                crate::log::warn(&format!(
                    "create failed and could not remove its rootfs mount ({e}); `delete` \
                     removes it and the state directory"
                ));
                self.drop_cgroup();
                self.dir = None;
                return;
            }
        }
        self.drop_cgroup();
        if let Some(saved) = self.resctrl.take() {
            let _ = crate::resctrl::remove(&saved);
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
    }
}
