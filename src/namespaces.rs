//! Linux namespaces: which to create with the clone, which to join by path, and in what order.
//!
//! Most namespaces are created by the one clone that makes init. Three need care:
//! - pid and time namespaces given by path are joined by the *parent* before the clone
//!   (setns only changes what children get), and the parent returns to its own afterwards;
//! - a new time namespace is unshared by the parent, its offsets written, and init cloned into it
//!   (offsets cannot change once a process lives in the namespace);
//! - a new cgroup namespace is unshared by init once the parent has put it in its cgroup, so the
//!   container's cgroup root is its own cgroup.
//!
//! A user namespace given by path is joined before the clone, by an intermediate process
//! (`process::spawn`), so the namespaces the clone makes are owned by it.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, LinuxTimeOffset, Spec};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType, UnshareFlags};

use crate::sys::clone::CloneFlags;
use crate::{Context, Error, Result};

/// Every namespace type, in the order init joins those given by path. The user namespace comes
/// first (it changes what the others may do), then mount last so /proc paths above still work.
pub const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Mount,
];

/// The runtime-spec name of a namespace type (as `features` and errors print it).
pub fn name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

pub fn clone_flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // CLONE_NEWTIME (0x80) has no name in CloneFlags: for clone(2) it collides with CSIGNAL.
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The type setns(2) checks the joined file against.
fn link_type(typ: LinuxNamespaceType) -> LinkNameSpaceType {
    match typ {
        LinuxNamespaceType::Mount => LinkNameSpaceType::Mount,
        LinuxNamespaceType::Cgroup => LinkNameSpaceType::ControlGroup,
        LinuxNamespaceType::Uts => LinkNameSpaceType::HostNameAndNISDomainName,
        LinuxNamespaceType::Ipc => LinkNameSpaceType::InterProcessCommunication,
        LinuxNamespaceType::User => LinkNameSpaceType::User,
        LinuxNamespaceType::Pid => LinkNameSpaceType::ProcessID,
        LinuxNamespaceType::Network => LinkNameSpaceType::Network,
        LinuxNamespaceType::Time => LinkNameSpaceType::Time,
    }
}

/// A namespace the container joins: its type and an open handle on the path.
pub struct Joined {
    pub typ: LinuxNamespaceType,
    pub path: PathBuf,
    pub file: File,
}

/// The namespace plan of one container, worked out before the clone.
pub struct Plan {
    /// Namespaces the clone itself creates (no cgroup: see the module comment).
    pub clone_flags: CloneFlags,
    /// Joined by init, in JOIN_ORDER (pid and time excluded: the parent joins those).
    pub init_joins: Vec<Joined>,
    /// Joined by the parent around the clone.
    pub parent_joins: Vec<Joined>,
    pub new_cgroup: bool,
    pub new_time: bool,
    pub new_mount: bool,
    /// The clone creates a user namespace: the runtime writes its id maps before init goes on.
    pub new_user: bool,
    /// The clone creates a network namespace: init brings its loopback up.
    pub new_net: bool,
    /// linux.timeOffsets, written when the parent unshares a new time namespace.
    pub time_offsets: Option<HashMap<String, LinuxTimeOffset>>,
}

impl Plan {
    /// Whether the process ends up in a user namespace other than the runtime's.
    pub fn in_user_namespace(&self) -> bool {
        self.new_user
            || self
                .init_joins
                .iter()
                .any(|j| j.typ == LinuxNamespaceType::User)
    }

    /// Nothing to join or create: the process stays in the runtime's namespaces.
    pub fn empty() -> Plan {
        Plan {
            clone_flags: CloneFlags::empty(),
            init_joins: Vec::new(),
            parent_joins: Vec::new(),
            new_cgroup: false,
            new_time: false,
            new_mount: false,
            new_user: false,
            new_net: false,
            time_offsets: None,
        }
    }

    /// Opens every namespace path now, so a bad path fails before anything is created.
    pub fn new(spec: &Spec) -> Result<Plan> {
        let mut plan = Plan::empty();
        plan.time_offsets = spec.linux().as_ref().and_then(|l| l.time_offsets().clone());
        for typ in JOIN_ORDER {
            match crate::spec::query::namespace(spec, typ) {
                None => {}
                Some(None) => match typ {
                    LinuxNamespaceType::Cgroup => plan.new_cgroup = true,
                    LinuxNamespaceType::Time => plan.new_time = true,
                    _ => {
                        plan.new_mount |= typ == LinuxNamespaceType::Mount;
                        plan.new_user |= typ == LinuxNamespaceType::User;
                        plan.new_net |= typ == LinuxNamespaceType::Network;
                        plan.clone_flags |= clone_flag(typ);
                    }
                },
                Some(Some(path)) => {
                    let file = File::open(&path).map_err(|e| {
                        Error::invalid(format!(
                            "linux.namespaces: {} namespace path {}: {e}",
                            name(typ),
                            path.display()
                        ))
                    })?;
                    let joined = Joined { typ, path, file };
                    if typ == LinuxNamespaceType::User {
                        check_joined_maps(spec, &joined)?;
                    }
                    if matches!(typ, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                        plan.parent_joins.push(joined);
                    } else {
                        plan.init_joins.push(joined);
                    }
                }
            }
        }
        Ok(plan)
    }
}

/// An id map as (inside, outside, count) triples, sorted.
type IdMap = Vec<(u32, u32, u32)>;

/// Mappings given with a user namespace joined by path must be the namespace's own (runc
/// 1.4's rule: containerd and CRI-O write both); without any, the namespace's are used.
fn check_joined_maps(spec: &Spec, user: &Joined) -> Result<()> {
    let linux = spec.linux().as_ref();
    let given = [
        (
            "linux.uidMappings",
            linux.and_then(|l| l.uid_mappings().as_ref()),
        ),
        (
            "linux.gidMappings",
            linux.and_then(|l| l.gid_mappings().as_ref()),
        ),
    ];
    if given.iter().all(|(_, m)| m.is_none_or(|m| m.is_empty())) {
        return Ok(());
    }
    let (uid_map, gid_map) = joined_maps(user)?;
    for ((field, given), actual) in given.into_iter().zip([uid_map, gid_map]) {
        let mut given: IdMap = given
            .map(|m| {
                m.iter()
                    .map(|m| (m.container_id(), m.host_id(), m.size()))
                    .collect()
            })
            .unwrap_or_default();
        given.sort_unstable();
        if given != actual {
            return Err(Error::invalid(format!(
                "{field}: the user namespace {} is joined by path and maps {}; give no mappings \
                 or exactly its own",
                user.path.display(),
                map_text(&actual)
            )));
        }
    }
    Ok(())
}

/// The uid and gid maps of a user namespace as the runtime's sees them, sorted: read by a
/// child that joins it (a process reading its own map sees it relative to the parent
/// namespace, which is the runtime's when the runtime could join it).
fn joined_maps(user: &Joined) -> Result<(IdMap, IdMap)> {
    use crate::sys::clone::{exit_now, fork_into, Forked};
    use std::io::Read;
    let what = || {
        format!(
            "read the id maps of the user namespace {}",
            user.path.display()
        )
    };
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).with_ctx(what)?;
    match fork_into(CloneFlags::empty()).with_ctx(what)? {
        Forked::Child => {
            drop(rd);
            // (a runtime already in it reads its own)
            let joined = if is_current(user) { Ok(()) } else { join(user) };
            let read = joined.and_then(|_| {
                let uid = std::fs::read_to_string("/proc/self/uid_map").ctx("uid_map")?;
                let gid = std::fs::read_to_string("/proc/self/gid_map").ctx("gid_map")?;
                Ok(format!("{uid}-\n{gid}"))
            });
            let (text, code) = match read {
                Ok(text) => (text, 0),
                Err(e) => (e.to_string(), 1),
            };
            let _ = rustix::io::write(&wr, text.as_bytes());
            exit_now(code)
        }
        Forked::Parent(child) => {
            drop(wr);
            let mut text = String::new();
            let read = File::from(rd).read_to_string(&mut text);
            let child = rustix::process::Pid::from_raw(child.as_raw()).expect("a child's pid");
            let status =
                rustix::process::waitpid(Some(child), rustix::process::WaitOptions::empty())
                    .with_ctx(what)?;
            read.with_ctx(what)?;
            if status.and_then(|(_, s)| s.exit_status()) != Some(0) {
                return Err(Error::Other(format!("{}: {text}", what())));
            }
            let (uid, gid) = text.split_once("-\n").unwrap_or((&text, ""));
            Ok((parse_map(uid), parse_map(gid)))
        }
    }
}

/// /proc/PID/uid_map's text as sorted (inside, outside, count) triples.
fn parse_map(text: &str) -> IdMap {
    let mut map: IdMap = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(str::parse::<u32>);
            Some((f.next()?.ok()?, f.next()?.ok()?, f.next()?.ok()?))
        })
        .collect();
    map.sort_unstable();
    map
}

fn map_text(map: &[(u32, u32, u32)]) -> String {
    let parts: Vec<String> = map
        .iter()
        .map(|(c, h, n)| format!("{{containerID {c}, hostID {h}, size {n}}}"))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// The file name under /proc/PID/ns/ of a namespace type.
pub fn proc_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Network => "net",
        other => name(other),
    }
}

impl Plan {
    /// The namespaces of a running process (a container's init) that differ from ours: what
    /// `exec` joins. Opening them all first pins them even if init exits meanwhile.
    pub fn of_process(pid: i32) -> Result<Plan> {
        let mut plan = Plan::empty();
        for typ in JOIN_ORDER {
            let theirs = PathBuf::from(format!("/proc/{pid}/ns/{}", proc_name(typ)));
            let ours = format!("/proc/self/ns/{}", proc_name(typ));
            let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else {
                continue;
            };
            use std::os::unix::fs::MetadataExt;
            if (a.dev(), a.ino()) == (b.dev(), b.ino()) {
                continue;
            }
            let file = File::open(&theirs).with_ctx(|| format!("open {}", theirs.display()))?;
            let joined = Joined {
                typ,
                path: theirs,
                file,
            };
            if matches!(typ, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                plan.parent_joins.push(joined);
            } else {
                plan.init_joins.push(joined);
            }
        }
        Ok(plan)
    }
}

/// Whether this process is in `ns` already (setns into one's own user namespace is EINVAL).
pub fn is_current(ns: &Joined) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata(format!("/proc/self/ns/{}", proc_name(ns.typ)));
    match (ns.file.metadata(), ours) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Enters `ns`; the error names the namespace and its path.
pub fn join(ns: &Joined) -> Result<()> {
    move_into_link_name_space(ns.file.as_fd(), Some(link_type(ns.typ)))
        .with_ctx(|| format!("join {} namespace {}", name(ns.typ), ns.path.display()))
}

/// The parent's own pid and time namespaces, to come back to after cloning init.
pub struct ParentNamespaces {
    saved: Vec<(LinuxNamespaceType, File)>,
}

impl ParentNamespaces {
    /// Joins what the parent must join (or unshares a new time namespace and writes its
    /// offsets) so the next clone lands init there.
    pub fn enter(plan: &Plan) -> Result<ParentNamespaces> {
        let mut saved = Vec::new();
        for ns in &plan.parent_joins {
            saved.push((ns.typ, open_own(ns.typ)?));
            join(ns)?;
        }
        if plan.new_time {
            saved.push((
                LinuxNamespaceType::Time,
                open_own(LinuxNamespaceType::Time)?,
            ));
            crate::sys::clone::unshare(UnshareFlags::NEWTIME).ctx("unshare time namespace")?;
            write_time_offsets(plan.time_offsets.as_ref())?;
        }
        Ok(ParentNamespaces { saved })
    }

    /// Returns to the namespaces the parent started in (hooks it runs later must not land in
    /// the container's pid or time namespace).
    pub fn restore(self) -> Result<()> {
        for (typ, file) in self.saved.into_iter().rev() {
            move_into_link_name_space(file.as_fd(), Some(link_type(typ)))
                .with_ctx(|| format!("return to the runtime's {} namespace", name(typ)))?;
        }
        Ok(())
    }
}

fn open_own(typ: LinuxNamespaceType) -> Result<File> {
    let path = format!("/proc/self/ns/{}", proc_name(typ));
    File::open(&path).with_ctx(|| format!("open {path}"))
}

fn write_time_offsets(offsets: Option<&HashMap<String, LinuxTimeOffset>>) -> Result<()> {
    let Some(offsets) = offsets else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, off) in offsets.iter() {
        let clock = match clock.as_str() {
            "monotonic" => "monotonic",
            "boottime" => "boottime",
            other => {
                return Err(Error::invalid(format!(
                    "linux.timeOffsets: unknown clock {other:?} (monotonic or boottime)"
                )))
            }
        };
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    crate::procfs::Proc::get()?
        .write(crate::procfs::Base::ProcSelf, "timens_offsets", &text)
        .map_err(|e| Error::Other(format!("linux.timeOffsets: {e}")))
}

/// Whether this process runs in a user namespace other than the host's: its uid_map is not
/// the identity map of every id (runc's `userns.RunningInUserNS`).
pub fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|map| !is_initial_map(&map))
}

fn is_initial_map(map: &str) -> bool {
    let fields: Vec<&str> = map.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

/// Rootless as runc means it: not root, or root only of a user namespace (podman runs the
/// runtime as root of the user namespace it made for an ordinary user), where cgroups and
/// /run belong to someone else.
pub fn rootless() -> bool {
    !rustix::process::geteuid().is_root() || in_user_namespace()
}

#[cfg(test)]
mod userns_tests {
    use super::is_initial_map;

    #[test]
    fn maps_parse_sorted() {
        assert_eq!(
            super::parse_map(
                "         1     100001      65535\n         0       1000          1\n"
            ),
            [(0, 1000, 1), (1, 100001, 65535)]
        );
        assert!(super::parse_map("").is_empty());
    }

    #[test]
    fn initial_uid_map() {
        assert!(is_initial_map("         0          0 4294967295\n"));
        assert!(!is_initial_map("         0       1000          1\n"));
        assert!(!is_initial_map("0 1000 1\n1 100000 65536\n"));
    }
}
