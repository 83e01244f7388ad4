//! A container's on-disk state: `<root>/<id>/state.json`, the exec fifo, and the lock that
//! serialises operations on one id.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};

use crate::{Context, Error, Result};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
/// Where a restore binds the rootfs for CRIU, in the state directory.
pub const CRIU_ROOT: &str = "criu-root";

/// What `start` writes to the exec fifo: init may go on.
pub const FIFO_GO: &[u8] = b"1";
/// What init answers once startContainer hooks are done and it is going to execve. Two bytes
/// (written at once, as pipes write up to PIPE_BUF bytes atomically), so `start` can tell from
/// the count of unread bytes alone whether init has taken its one byte (0 left, or 2 when init
/// has answered already) or not yet (1).
pub const FIFO_GOING: &[u8] = b"00";

/// Where containers live: `--root`, or the default runc callers expect of a runtime. Callers
/// never pass `--root` (podman) rely on runc's rule: /run/hull for the host's root, and
/// $XDG_RUNTIME_DIR/hull for an ordinary user and for root of a user namespace (rootless
/// podman) unless $USER says root.
pub fn default_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    let euid = rustix::process::geteuid();
    let honor_xdg = !euid.is_root()
        || (crate::namespaces::in_user_namespace()
            && std::env::var_os("USER").is_none_or(|u| u != "root"));
    match xdg {
        Some(dir) if honor_xdg => PathBuf::from(dir).join("hull"),
        _ if euid.is_root() => PathBuf::from("/run/hull"),
        _ => PathBuf::from(format!("/tmp/hull-{euid}")),
    }
}

/// runc's rule: letters, digits, `_ + - .`, and not `.` or `..`; so an id never names a path.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid container id format: {id:?}"
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What state.json holds: the runtime-spec state, plus what later operations need.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Start time of init (clock ticks since boot, /proc/PID/stat field 22): tells a live
    /// init from a reused pid.
    pub init_start_time: u64,
    /// The config the container was created with (hooks for start and delete, defaults for
    /// exec). A create's first record leaves it out (see [`Dir::record_creating`]).
    #[serde(default)]
    pub config: Spec,
    /// Where the container's cgroup is. Its JSON is the one earlier builds wrote (then kept
    /// untyped), so their containers' state.json files load as they are; one whose cgroup
    /// does not parse is refused loudly rather than read as "no cgroup" (delete would then
    /// leave the cgroup behind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<hull_cgroups::Handle>,
    /// The caller's NOTIFY_SOCKET, when it passed one: `start` relays READY=1 to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_socket: Option<PathBuf>,
    /// What stood behind the stdio the runtime's caller gave the container (`pipe:[1234]`, a
    /// path), as runc keeps them: a checkpoint saves them (descriptors.json) so that a restore
    /// can put its own caller's stdio in the place of those pipes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_descriptors: Vec<String>,
    /// Written by a create that has not finished: what it is about to make is recorded here
    /// (the cgroup) before it is made, so that `delete` can remove what a create killed part
    /// way left behind.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub creating: bool,
    /// linux.intelRdt: the container's resctrl groups (recorded before they are made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resctrl: Option<crate::resctrl::Saved>,
    /// A container without a mount namespace of its own has its mounts in the runtime's,
    /// under one rootfs bind: recorded before it is made, for delete to detach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_mount: Option<crate::rootfs::RootfsMount>,
}

/// A create's first record: the state without the config (nothing reads it before the
/// create is done), so the extra write on create's path stays small.
#[derive(Serialize)]
struct CreatingRecord<'a> {
    #[serde(rename = "ociVersion")]
    oci_version: &'a str,
    id: &'a str,
    pid: i32,
    bundle: &'a Path,
    rootfs: &'a Path,
    created: &'a str,
    owner: &'a str,
    init_start_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup: Option<&'a hull_cgroups::Handle>,
    creating: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    resctrl: Option<&'a crate::resctrl::Saved>,
    rootfs_mount: Option<crate::rootfs::RootfsMount>,
}

/// What `hull state` prints and hooks read on stdin: runc's field order.
#[derive(Debug, Serialize)]
pub struct Public<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'a str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
}

impl State {
    /// The record a create or restore writes before it makes anything ("creating", no pid
    /// yet), with the cgroup about to be made. The runtime's stdio are recorded as the
    /// container's: init is a fork of this process, and a restored tree's stdio are ours.
    /// The caller fills in what only it knows (notify socket, resctrl, rootfs mount).
    pub fn creating(
        id: &str,
        bundle: &Path,
        rootfs: &Path,
        config: &Spec,
        cgroup: Option<hull_cgroups::Handle>,
    ) -> State {
        State {
            oci_version: crate::OCI_VERSION.to_string(),
            id: id.to_string(),
            pid: 0,
            bundle: bundle.to_path_buf(),
            rootfs: rootfs.to_path_buf(),
            created: crate::clock::now_rfc3339(),
            owner: String::new(),
            annotations: config
                .annotations()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            init_start_time: 0,
            config: config.clone(),
            cgroup,
            notify_socket: None,
            external_descriptors: stdio_links(),
            creating: true,
            resctrl: None,
            rootfs_mount: None,
        }
    }

    pub fn public(&self, status: Status) -> Public<'_> {
        Public {
            oci_version: &self.oci_version,
            id: &self.id,
            // runc reports pid 0 once the container has stopped.
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: &self.annotations,
        }
    }

    /// The state document hooks get on stdin.
    pub fn hook_json(&self, status: Status) -> String {
        serde_json::to_string(&self.public(status)).unwrap_or_default()
    }

    /// A state.json document, as `Dir::load` reads it.
    pub fn parse(data: &[u8]) -> std::result::Result<State, serde_json::Error> {
        serde_json::from_slice(data)
    }
}

/// One container's directory, locked for the life of this value (or only looked at, for
/// `state` and `list`: see [`Dir::peek`]).
pub struct Dir {
    pub path: PathBuf,
    lock: Option<Locked>,
}

/// An open file with a flock(2) on it, unlocked when dropped: explicitly, since a copy of the
/// fd (init's, until its execve) would otherwise keep the lock after the runtime let go.
struct Locked(File);

impl Locked {
    fn take(file: File, how: FlockOperation) -> rustix::io::Result<Locked> {
        rustix::fs::flock(&file, how)?;
        Ok(Locked(file))
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(&self.0, FlockOperation::Unlock);
    }
}

/// What is at `<root>/<id>`, for `delete`.
pub enum Found {
    /// A container (created, or recorded by a create that may have been killed).
    Container(Dir, Box<State>),
    /// A directory a create made and was killed before it recorded anything else: nothing
    /// but the directory exists.
    Empty(Dir),
}

impl Dir {
    /// Makes `<root>/<id>`; fails if the id is taken.
    pub fn create(root: &Path, id: &str) -> Result<Dir> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .with_ctx(|| format!("create root directory {}", root.display()))?;
        let path = root.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()))
            }
            Err(e) => return Err(Error::os(format!("create {}", path.display()), e)),
        }
        Self::lock(path)
    }

    /// Opens and locks an existing container's directory.
    pub fn open(root: &Path, id: &str) -> Result<Dir> {
        validate_id(id)?;
        let path = root.join(id);
        if !path.join(STATE_FILE).exists() {
            return Err(Error::NotExist);
        }
        Self::lock(path)
    }

    /// A container and its state for `state` and `list`. A create still running holds the
    /// lock until it returns, so its record is read without the lock (state.json is replaced
    /// atomically, so a reader sees one whole version) and shows as "creating". Any other
    /// container is read under the lock, as before: an operation under way (a delete freezing
    /// the cgroup to kill it, a start) is not seen half done.
    pub fn observe(root: &Path, id: &str) -> Result<(Dir, State)> {
        validate_id(id)?;
        let path = root.join(id);
        if !path.join(STATE_FILE).exists() {
            return Err(Error::NotExist);
        }
        let peek = Dir { path, lock: None };
        let state = peek.load()?;
        if state.creating && peek.creator_alive() {
            return Ok((peek, state));
        }
        let dir = Self::open(root, id)?;
        let state = dir.load()?;
        Ok((dir, state))
    }

    /// Whatever is at `<root>/<id>`, locked (waiting for a create still running there).
    pub fn find(root: &Path, id: &str) -> Result<Found> {
        validate_id(id)?;
        let path = root.join(id);
        if !path.is_dir() {
            return Err(Error::NotExist);
        }
        let dir = Self::lock(path)?;
        match dir.load() {
            Ok(state) => Ok(Found::Container(dir, Box::new(state))),
            // Checked under the lock: no create is adding to it any more.
            Err(Error::NotExist) => Ok(Found::Empty(dir)),
            Err(e) => Err(e),
        }
    }

    fn lock(path: PathBuf) -> Result<Dir> {
        let file = File::open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotExist
            } else {
                Error::os(format!("open {}", path.display()), e)
            }
        })?;
        let lock = Locked::take(file, FlockOperation::LockExclusive)
            .map_err(|e| Error::os(format!("lock {}", path.display()), e))?;
        Ok(Dir {
            path,
            lock: Some(lock),
        })
    }

    /// The fd holding the lock, if this value holds it.
    pub fn lock_fd(&self) -> Option<std::os::fd::RawFd> {
        self.lock
            .as_ref()
            .map(|l| std::os::fd::AsRawFd::as_raw_fd(&l.0))
    }

    /// Whether the create that recorded this directory still runs. It holds the directory's
    /// lock from the moment it made the directory until it returns, so a lock nobody holds
    /// means the create was killed part way.
    pub fn creator_alive(&self) -> bool {
        if self.lock.is_some() {
            return false;
        }
        let Ok(file) = File::open(&self.path) else {
            return false;
        };
        match Locked::take(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(_unlocked_on_drop) => false,
            Err(e) => e == rustix::io::Errno::WOULDBLOCK,
        }
    }

    pub fn load(&self) -> Result<State> {
        let file = self.path.join(STATE_FILE);
        let data = fs::read(&file).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotExist
            } else {
                Error::os(format!("read {}", file.display()), e)
            }
        })?;
        State::parse(&data).map_err(|e| Error::Other(format!("{}: {e}", file.display())))
    }

    pub fn save(&self, state: &State) -> Result<()> {
        let data = serde_json::to_vec(state).map_err(|e| Error::Other(e.to_string()))?;
        write_atomic(&self.path.join(STATE_FILE), &data, 0o600)
    }

    /// A create's first write: the container as it is about to be made (status "creating",
    /// its cgroup), without the config.
    pub fn record_creating(&self, state: &State) -> Result<()> {
        let record = CreatingRecord {
            oci_version: &state.oci_version,
            id: &state.id,
            pid: state.pid,
            bundle: &state.bundle,
            rootfs: &state.rootfs,
            created: &state.created,
            owner: &state.owner,
            init_start_time: state.init_start_time,
            cgroup: state.cgroup.as_ref(),
            creating: true,
            resctrl: state.resctrl.as_ref(),
            rootfs_mount: state.rootfs_mount,
        };
        let data = serde_json::to_vec(&record).map_err(|e| Error::Other(e.to_string()))?;
        write_atomic(&self.path.join(STATE_FILE), &data, 0o600)
    }

    pub fn fifo(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// Removes the directory and everything in it. Anything mounted at or under it (in this
    /// mount namespace) is detached first: removing files must never reach into a mount.
    pub fn remove(self) -> Result<()> {
        // (A restore killed while CRIU worked leaves the rootfs bound at criu-root.)
        unmount_under(&self.path)?;
        fs::remove_dir_all(&self.path).with_ctx(|| format!("remove {}", self.path.display()))
    }
}

/// Unbinds a restore's root (every mount stacked there) and removes its directory; an error
/// if it cannot, since the directory then still shows the rootfs.
pub fn remove_criu_root(path: &Path) -> Result<()> {
    use rustix::mount::{unmount, UnmountFlags};
    for _ in 0..16 {
        match unmount(path, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW) {
            Ok(()) => continue,
            // EINVAL: not a mount point (any more).
            Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => break,
            Err(e) => return Err(e).with_ctx(|| format!("unmount {}", path.display())),
        }
    }
    match fs::remove_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::os(format!("remove {}", path.display()), e)),
    }
}

/// Writes `data` to `path` so readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_ctx(|| format!("create {}", tmp.display()))?;
    file.write_all(data)
        .with_ctx(|| format!("write {}", tmp.display()))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::os(format!("rename {} to {}", tmp.display(), path.display()), e)
    })
}

/// Detaches every mount at or under `dir` in this mount namespace, deepest first (mounts
/// stacked on one point one by one).
fn unmount_under(dir: &Path) -> Result<()> {
    let Ok(dir) = fs::canonicalize(dir) else {
        return Ok(());
    };
    for _ in 0..100 {
        let mut points: Vec<PathBuf> = crate::rootfs::mountinfo::read_self()?
            .into_iter()
            .map(|m| m.mount_point)
            .filter(|p| p.starts_with(&dir))
            .collect();
        if points.is_empty() {
            return Ok(());
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        points.dedup();
        for point in points {
            match rustix::mount::unmount(&point, rustix::mount::UnmountFlags::DETACH) {
                Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => {
                    return Err(Error::os(
                        format!("unmount {} (in the state directory)", point.display()),
                        e,
                    ))
                }
            }
        }
    }
    Err(Error::Other(format!(
        "{}: mounts keep appearing in the state directory",
        dir.display()
    )))
}

/// What this process's fds 0, 1 and 2 are, as /proc shows them (empty for a closed one).
pub fn stdio_links() -> Vec<String> {
    (0..3)
        .map(|fd| {
            fs::read_link(format!("/proc/self/fd/{fd}"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect()
}

/// Facts about a live process read from /proc/PID/stat.
pub struct ProcStat {
    pub state: char,
    pub start_time: u64,
}

pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parens: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // Field 22 (starttime) is the 20th after the state (field 3).
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// Whether init is still the process we created (not exited, not a zombie, pid not reused).
pub fn init_alive(state: &State) -> bool {
    state.pid > 0
        && proc_stat(state.pid).is_some_and(|s| {
            s.start_time == state.init_start_time && s.state != 'Z' && s.state != 'X'
        })
}

/// The container's status, derived from init, the exec fifo and the cgroup freezer; for a
/// create not finished, from whether that create still runs ("stopped" once it was killed,
/// as runc shows a container whose init is gone).
pub fn status(dir: &Dir, state: &State) -> Status {
    if state.creating {
        return if dir.creator_alive() {
            Status::Creating
        } else {
            Status::Stopped
        };
    }
    let frozen = || {
        state
            .cgroup
            .as_ref()
            .is_some_and(|h| h.manager().is_frozen().unwrap_or(false))
    };
    if !init_alive(state) {
        return Status::Stopped;
    }
    if dir.fifo().exists() {
        return Status::Created;
    }
    if frozen() {
        return Status::Paused;
    }
    Status::Running
}

/// Ids of every container under `root` (directories holding a state file).
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::os(format!("read {}", root.display()), e)),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// Opens the exec fifo for reading and writing: init's end (Linux opens a FIFO this way
/// without waiting for a peer). Refuses anything that is not a FIFO.
pub fn open_fifo(path: &Path) -> Result<File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .with_ctx(|| format!("open {}", path.display()))?;
    let meta = file
        .metadata()
        .with_ctx(|| format!("stat {}", path.display()))?;
    if !std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()) {
        return Err(Error::Other(format!("{}: not a fifo", path.display())));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "web-1", "x_y.z+1"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// A state.json as the build before the typed cgroup handle wrote it (the cgroup kept as
    /// untyped JSON in the same shape): a container created then is still found, and its
    /// cgroup is the same when the state is written again.
    #[test]
    fn state_of_an_earlier_build_loads_with_its_cgroup() {
        let old = br#"{"ociVersion":"1.3.0","id":"web","pid":4242,"bundle":"/b","rootfs":"/b/rootfs",
            "created":"2026-11-18T11:06:40.000000005Z","owner":"","init_start_time":99,
            "config":{"ociVersion":"1.0.2"},
            "cgroup":{"version":"systemd","unit":"hull-web.scope","slice":"system.slice",
                "fs":{"version":"v1","paths":[["cpu,cpuacct","/sys/fs/cgroup/cpu,cpuacct/system.slice/hull-web.scope"],
                ["freezer","/sys/fs/cgroup/freezer/system.slice/hull-web.scope"]]}}}"#;
        let state = State::parse(old).unwrap();
        let handle = state.cgroup.clone().expect("the cgroup is read");
        assert_eq!(
            handle.freezer_dir(),
            Some(Path::new(
                "/sys/fs/cgroup/freezer/system.slice/hull-web.scope"
            ))
        );
        let again: serde_json::Value =
            serde_json::from_slice(&serde_json::to_vec(&state).unwrap()).unwrap();
        let before: serde_json::Value = serde_json::from_slice(old).unwrap();
        let mut want = before["cgroup"].clone();
        want["user"] = false.into();
        assert_eq!(again["cgroup"], want);

        let v2 = State::parse(
            br#"{"ociVersion":"1.3.0","id":"a","pid":1,"bundle":"/b","rootfs":"/r","created":"x",
                "owner":"","init_start_time":1,"cgroup":{"version":"v2","path":"/sys/fs/cgroup/a"}}"#,
        )
        .unwrap();
        assert_eq!(
            v2.cgroup,
            Some(hull_cgroups::Handle::V2 {
                path: "/sys/fs/cgroup/a".into()
            })
        );
    }

    #[test]
    fn remove_unbinds_a_restores_root_first() {
        if !crate::sys::testing::is_root() {
            return crate::sys::testing::skip("needs root to bind a directory");
        }
        let base = std::env::temp_dir().join(format!("hull-criu-root-{}", std::process::id()));
        let rootfs = base.join("rootfs");
        fs::create_dir_all(&rootfs).unwrap();
        fs::write(rootfs.join("keep"), "x").unwrap();
        let dir = Dir::create(&base.join("state"), "c").unwrap();
        let at = dir.path.join(CRIU_ROOT);
        fs::create_dir(&at).unwrap();
        rustix::mount::mount_bind(&rootfs, &at).unwrap();
        assert!(at.join("keep").exists());
        // What a restore killed mid-way leaves; removing it must not empty the rootfs.
        dir.remove().unwrap();
        assert!(!base.join("state/c").exists());
        assert_eq!(fs::read_to_string(rootfs.join("keep")).unwrap(), "x");
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn own_start_time_is_read() {
        let me = proc_stat(std::process::id() as i32).unwrap();
        assert!(me.start_time > 0);
        assert!(me.state == 'R' || me.state == 'S');
    }
}
