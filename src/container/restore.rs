//! `restore`: a container made from a CRIU image instead of from the config's process.
//!
//! The story is create's with CRIU in init's place: the same checks of the bundle, config and
//! flags (`create::check`, which builds the plan), the state directory and the cgroup; then `criu swrk` is put into
//! the container's cgroup and asked to restore the image into the rootfs (bound at
//! `criu-root` in the state directory: CRIU wants a mount point there). CRIU makes the
//! namespaces and mounts, and tells hull when to run the prestart and createRuntime hooks
//! (setup-namespaces), the pty master of a terminal (sent on to --console-socket), and the
//! restored init, which becomes hull's child (`rst_sibling`). Afterwards the container is an
//! ordinary running one: state.json, pid file, `state`, `kill`, `exec`, `delete` as after
//! `create` and `start`. Any failure removes everything made so far.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxNamespaceType;

use super::cgroup;
use super::checkpoint::{self, make_dir, open_dir, with_log, CriuFlags, DESCRIPTORS};
use super::create;
use super::state::{self, Dir, State, Status, CRIU_ROOT};
use crate::criu::rpc;
use crate::hooks::{self, Point};
use crate::namespaces::{self, Joined};
use crate::plan::Terminal;
use crate::sys::Pid;
use crate::{Context, Error, Result};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// What `create` takes: root, id, bundle, pid file, console socket, foreground.
    pub create: create::Options,
    pub flags: CriuFlags,
}

/// A restored container, running.
pub struct Restored {
    pub dir: Dir,
    pub state: State,
    pub pid: Pid,
    /// The terminal's master, when the runtime relays it (foreground restore).
    pub console: Option<OwnedFd>,
}

pub fn restore(o: &Options) -> Result<Restored> {
    // 1. Validate: the config as create checks it, the flags, the image.
    let mut plan = create::check(&o.create, None)?;
    let cgroup = plan.cgroup.manager.take();
    let plan = plan;
    let (bundle, spec, rootfs, ns) = (&plan.bundle, &plan.config, &plan.rootfs, &plan.ns);
    // criu does not restore a task into a resctrl group, and hull does not move it there.
    if plan.resctrl.is_some() {
        return Err(Error::invalid(
            "linux.intelRdt: a restored container cannot be placed in a resctrl group (not supported by restore)",
        ));
    }
    // What create builds outside criu's reach is refused, naming the field: criu restores
    // mounts into a mount namespace of the container's own, and does not make id-mapped
    // binds (create makes those on detached trees before init exists).
    let has_mount_ns = ns.new_mount
        || ns
            .init_joins
            .iter()
            .any(|j| j.typ == LinuxNamespaceType::Mount);
    if !has_mount_ns {
        return Err(Error::invalid(
            "linux.namespaces: restore needs a mount namespace of the container's own",
        ));
    }
    if let Some(m) = rootfs.mounts.iter().find(|m| m.idmap.is_some()) {
        return Err(Error::invalid(format!(
            "{}: id-mapped mounts are not supported by restore",
            m.field
        )));
    }
    let f = &o.flags;
    f.check()?;
    let images = open_dir(&f.image_path, "--image-path")?;
    let descriptors = read_descriptors(&f.image_path)?;
    let (join_ns, inherit_ns) = joined_namespaces(ns)?;
    let inherit_fds: Vec<BorrowedFd> = inherit_ns.iter().map(|j| j.file.as_fd()).collect();

    // 2. Prepare: the state directory, recorded as "creating" with the cgroup about to be made
    // (as create does, so that `delete` finds all of it after a SIGKILL), mount points, the
    // root. The guard owns what is made.
    let dir = Dir::create(&o.create.root, &o.create.id)?;
    let mut guard = Guard {
        dir: Some(dir),
        cgroup: None,
        init: None,
        criu_root: None,
    };
    // A cgroup a new container must not join is refused before it is recorded as this
    // container's (a delete of what is left would otherwise treat it as ours).
    if let Some(cg) = &cgroup {
        cgroup::check_new(cg.as_ref())?;
    }
    let mut state = State::creating(
        &o.create.id,
        bundle,
        &rootfs.root,
        spec,
        cgroup.as_ref().map(|cg| cg.handle()),
    );
    guard
        .dir
        .as_ref()
        .expect("just set")
        .record_creating(&state)?;
    guard.cgroup = cgroup;
    let dir_path = guard.dir.as_ref().expect("just set").path.clone();
    rootfs.restore_mountpoints()?;
    let criu_root = dir_path.join(CRIU_ROOT);
    std::fs::create_dir(&criu_root).with_ctx(|| format!("create {}", criu_root.display()))?;
    crate::rootfs::criu::bind_root(&rootfs.root, &criu_root)?;
    guard.criu_root = Some(criu_root.clone());
    let work = match &f.work_path {
        Some(w) => {
            make_dir(w, "--work-path")?;
            Some(open_dir(w, "--work-path")?)
        }
        None => None,
    };

    let log = "restore.log";
    let mut opts = f.request_opts(spec, &images, work.as_ref(), log)?;
    opts.root = Some(criu_root.to_string_lossy().into_owned());
    opts.rst_sibling = Some(true);
    // A device of the image missing at its path here may be opened at another path.
    opts.evasive_devices = Some(true);
    opts.join_ns = join_ns;
    // The pipes and outside files that were the container's stdio are replaced by ours
    // (criu's fds 0-2).
    opts.inherit_fd = descriptors
        .iter()
        .enumerate()
        .filter(|(_, d)| d.starts_with("pipe:") || d.starts_with("file["))
        .map(|(fd, d)| rpc::InheritFd {
            key: d.clone(),
            fd: fd as i32,
        })
        .chain(inherit_ns.iter().map(|j| rpc::InheritFd {
            key: checkpoint::external_key(j.typ).into(),
            fd: j.file.as_raw_fd(),
        }))
        .collect();

    // 3. CRIU, in the container's cgroup before it restores anything: the restored tasks
    // go where it is (cg_root), with the config's limits already set.
    let session = f.criu().start(&inherit_fds, true)?;
    if let Some(cg) = &guard.cgroup {
        if !cgroup::apply(cg.as_ref(), &plan.cgroup, session.pid(), true)? {
            guard.drop_cgroup();
        } else {
            opts.cg_root = cgroup_roots(session.pid())?;
        }
    }
    opts.ext_mnt = crate::rootfs::criu::restore_externals(rootfs, session.pid())?
        .into_iter()
        .map(|(key, val)| rpc::ExtMountMap { key, val })
        .collect();

    state.cgroup = guard.cgroup.as_ref().map(|cg| cg.handle());

    // 4. Restore; hooks, the pty master and the pid come as notifications.
    let req = rpc::Req {
        r#type: rpc::ReqType::Restore as i32,
        opts: Some(opts),
        ..Default::default()
    };
    let site = hooks::Site::runtime(bundle);
    let mut console = None;
    let mut notified_pid = None;
    let resp = session
        .request(&req, |n| match n.script.as_str() {
            "setup-namespaces" => {
                let mut s = state.clone();
                s.pid = n.pid.unwrap_or(0);
                let json = s.hook_json(Status::Creating);
                let hooks = plan.hooks.as_ref();
                hooks::run(hooks, Point::Prestart, &json, site)?;
                hooks::run(hooks, Point::CreateRuntime, &json, site)
            }
            "post-restore" => {
                notified_pid = n.pid;
                Ok(())
            }
            "orphan-pts-master" => {
                let master =
                    n.fd.ok_or_else(|| Error::Other("criu sent no pty master".into()))?;
                match &plan.terminal {
                    Some(Terminal::Socket(sock)) => crate::io::tty::send_master(sock, &master),
                    Some(Terminal::Runtime) => {
                        console = Some(master);
                        Ok(())
                    }
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        })
        .map_err(|e| with_log(e, &f.log_dir().join(log)))?;
    let pid = resp
        .restore
        .map(|r| r.pid)
        .or(notified_pid)
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::Other("criu restore: no pid for the restored init".into()))?;
    guard.init = Some(Pid::from_raw(pid));
    crate::log::debug_with("criu restored container init", &[("pid", &pid)]);

    // 5. Record it, as create does.
    guard.unmount_root()?;
    state.pid = pid;
    state.init_start_time = state::proc_stat(pid)
        .map(|s| s.start_time)
        .ok_or_else(|| Error::Other("the restored init exited at once".into()))?;
    state.created = crate::clock::now_rfc3339();
    state.creating = false;
    let dir = guard.dir.as_ref().expect("still held");
    dir.save(&state)?;
    if let Some(pid_file) = &o.create.pid_file {
        create::write_pid_file(pid_file, Pid::from_raw(pid))?;
    }
    let dir = guard.disarm();
    crate::log::debug_with("container restored", &[("id", &o.create.id), ("pid", &pid)]);
    Ok(Restored {
        dir,
        state,
        pid: Pid::from_raw(pid),
        console,
    })
}

/// descriptors.json of the image: what the container's stdio were. An image without one
/// (not made by hull or runc) restores with none replaced.
fn read_descriptors(images: &Path) -> Result<Vec<String>> {
    let path = images.join(DESCRIPTORS);
    match std::fs::read(&path) {
        Ok(data) => serde_json::from_slice(&data)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::os(format!("read {}", path.display()), e)),
    }
}

/// The namespaces the config joins by path: CRIU joins most itself (join_ns); the network
/// and pid namespaces were dumped as external and are handed over by fd (inherit_fd).
fn joined_namespaces(ns: &namespaces::Plan) -> Result<(Vec<rpc::JoinNamespace>, Vec<&Joined>)> {
    let mut join = Vec::new();
    let mut inherit = Vec::new();
    for j in ns.parent_joins.iter().chain(&ns.init_joins) {
        match j.typ {
            LinuxNamespaceType::Network | LinuxNamespaceType::Pid => inherit.push(j),
            LinuxNamespaceType::Cgroup => {
                return Err(Error::invalid(format!(
                    "linux.namespaces: a cgroup namespace given by path ({}) cannot be restored into (criu cannot join one)",
                    j.path.display()
                )))
            }
            typ => join.push(rpc::JoinNamespace {
                ns: namespaces::proc_name(typ).into(),
                ns_file: j.path.to_string_lossy().into_owned(),
            }),
        }
    }
    Ok((join, inherit))
}

/// criu's own cgroups (it was just moved into the container's), as the roots it restores
/// the tasks' cgroups under: one per v1 hierarchy, named by its controllers; "" for v2.
fn cgroup_roots(pid: i32) -> Result<Vec<rpc::CgroupRoot>> {
    let file = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&file).ctx(&file)?;
    Ok(hull_cgroups::proc_cgroup::parse(&text)
        .into_iter()
        .map(|c| rpc::CgroupRoot {
            ctrl: Some(c.controllers.join(",")),
            path: c.path.to_string_lossy().into_owned(),
        })
        .collect())
}

/// Undoes a half-made restore: kills and reaps the restored init, unbinds the root, removes
/// the cgroup and the state directory.
struct Guard {
    dir: Option<Dir>,
    cgroup: Option<Box<dyn cgroup::Manager>>,
    init: Option<Pid>,
    criu_root: Option<PathBuf>,
}

impl Guard {
    fn drop_cgroup(&mut self) {
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.destroy();
        }
    }

    fn unmount_root(&mut self) -> Result<()> {
        if let Some(root) = self.criu_root.take() {
            state::remove_criu_root(&root)?;
        }
        Ok(())
    }

    fn disarm(&mut self) -> Dir {
        self.init = None;
        self.cgroup = None;
        self.dir.take().expect("disarmed once")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(pid) = self.init.take() {
            crate::process::spawn::kill_and_reap(pid);
        }
        // The rootfs must be unbound before the directory holding it is removed.
        let unbound = self.unmount_root().is_ok();
        self.drop_cgroup();
        if let Some(dir) = self.dir.take() {
            if unbound {
                let _ = dir.remove();
            }
        }
    }
}
