//! Id-mapped bind mounts (runtime-spec 1.2 `uidMappings`/`gidMappings` on a mount, the
//! `idmap` and `ridmap` options): the source is cloned detached (open_tree), given
//! MOUNT_ATTR_IDMAP with a user namespace that carries the mapping, and attached by init like
//! any other bind.
//!
//! A mount's mapping reads as a user namespace's: `containerID` is the id on the filesystem,
//! `hostID` the id it shows as (and is written as) through the mount, in the runtime's user
//! namespace. So with the container's own mappings (0 → 100000), a file owned by 0 on disk
//! is owned by 100000 through the mount, which is root inside the container, and what root
//! there creates is stored as 0.
//!
//! The trees are made by the runtime before it clones init: the kernel lets only a process
//! with CAP_SYS_ADMIN over the filesystem's user namespace (the host's) idmap a mount, which
//! init in a user namespace of its own is not. runc does the same on the host side. A source
//! inside the rootfs is resolved inside it, as for other binds, but before any mount is made:
//! an idmapped bind cannot take its source from an earlier mount.
//!
//! The user namespace for a mapping comes from a short-lived child cloned into a new one: the
//! runtime writes its maps (through the verified procfs), opens its `ns/user`, and lets it
//! go. `idmap` without mappings takes the container's: its mappings when it gets a new user
//! namespace, the namespace itself when it joins one by path (what Kubernetes' user-namespaced
//! pods ask for).

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::LinuxIdMapping;

use super::fdmount;
use super::inroot::RootDir;
use super::mount_plan::{in_mount, Kind, Mapping, MountPlan};
use super::Plan;
use crate::procfs::{Base, Proc};
use crate::sys::clone::{exit_now, fork_into, CloneFlags, Forked};
use crate::sys::mount::{MountAttr, MOUNT_ATTR_IDMAP};
use crate::{Context, Error, Result};

/// Whether the kernel lets this runtime make id-mapped mounts: mount_setattr and
/// MOUNT_ATTR_IDMAP came together, in Linux 5.12, and id-mapping a mount takes CAP_SYS_ADMIN
/// in the user namespace of the filesystem, the host's for every source an engine binds,
/// which a rootless runtime (an unprivileged user, or root in a user namespace, as under
/// rootless podman) does not have. Whether a given filesystem supports it is only known by
/// trying (tmpfs since 6.3; ext4, xfs, btrfs since 5.12, overlayfs since 5.19).
/// (`features` does not ask: it describes the runtime, not the host.)
#[cfg(test)]
pub fn supported() -> bool {
    crate::sys::mount::mount_setattr_exists() && root_of_the_host()
}

/// Whether the runtime is root in the initial user namespace: euid 0, and a uid_map that
/// maps every id onto itself (what only the initial namespace has).
fn root_of_the_host() -> bool {
    rustix::process::geteuid().is_root()
        && Proc::get()
            .and_then(|proc| proc.read(Base::ProcSelf, "uid_map"))
            .is_ok_and(|map| is_identity_map(&map))
}

/// Whether a uid_map's text is the initial user namespace's: all 2^32 - 1 ids, onto themselves.
fn is_identity_map(text: &str) -> bool {
    text.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"]
}

/// The id-mapped trees of one container, by mount index, made before init is cloned; init
/// attaches them.
#[derive(Debug, Default)]
pub struct Trees {
    trees: Vec<(usize, OwnedFd)>,
}

impl Trees {
    pub fn get(&self, index: usize) -> Option<&OwnedFd> {
        self.trees.iter().find(|(i, _)| *i == index).map(|(_, t)| t)
    }

    /// Makes every id-mapped tree the plan has (none, and nothing done, for a config
    /// without any). Errors name the mount.
    pub fn make(plan: &Plan) -> Result<Trees> {
        let mut trees = Trees::default();
        let mut userns = Namespaces::default();
        let mut root = None;
        for mount in plan.mounts.iter().filter(|m| m.idmap.is_some()) {
            let tree = make_tree(mount, &plan.root, &mut root, &mut userns)
                .map_err(|e| in_mount(&mount.field, e))?;
            trees.trees.push((mount.index, tree));
        }
        Ok(trees)
    }
}

fn make_tree(
    plan: &MountPlan,
    rootfs: &Path,
    root: &mut Option<RootDir>,
    userns: &mut Namespaces,
) -> Result<OwnedFd> {
    let idmap = plan.idmap.as_ref().expect("an id-mapped plan");
    let source = plan.source.as_deref().expect("a bind has a source");
    let recursive = matches!(plan.kind, Kind::Bind { recursive: true });
    // What `features` says, refused up front rather than as an EPERM from the kernel.
    if !root_of_the_host() {
        return Err(Error::invalid(
            "id-mapped mounts need the runtime to run as root in the host's user namespace",
        ));
    }
    let root = match root {
        Some(root) => root,
        None => root.insert(RootDir::open(rootfs)?),
    };
    let tree = match root.contains(source) {
        Some(inside) => {
            let found = super::inroot::resolve(root, &inside)?.ok_or_else(|| {
                Error::invalid(format!(
                    "bind source {}: not found in the rootfs",
                    source.display()
                ))
            })?;
            fdmount::clone_fd(&found, recursive)?
        }
        None => fdmount::clone_tree(source, recursive)?,
    };
    let ns = userns.get(&idmap.mapping)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: ns.as_raw_fd() as u64,
        ..MountAttr::default()
    };
    fdmount::set_mount_attr(&tree, &attr, idmap.recursive).map_err(|e| {
        let fs = rustix::fs::fstatfs(&tree)
            .map(|st| fs_name(st.f_type))
            .unwrap_or("?");
        Error::Other(format!(
            "idmap {} ({fs}): {e}{}",
            source.display(),
            if e.errno() == Some(libc::EINVAL) {
                "; the filesystem may not support id-mapped mounts on this kernel"
            } else {
                ""
            }
        ))
    })?;
    Ok(tree)
}

/// A name for the filesystems whose idmap support differs by kernel.
fn fs_name(magic: rustix::fs::FsWord) -> &'static str {
    match magic {
        0xef53 => "ext4",
        0x0102_1994 => "tmpfs",
        0x5846_5342 => "xfs",
        0x9123_683e => "btrfs",
        0x794c_7630 => "overlay",
        0x0102_1997 => "9p",
        0x6969 => "nfs",
        _ => "filesystem",
    }
}

/// User namespaces for the mappings in use, one per distinct mapping.
#[derive(Default)]
struct Namespaces {
    made: HashMap<Mapping, OwnedFd>,
}

impl Namespaces {
    fn get(&mut self, mapping: &Mapping) -> Result<&OwnedFd> {
        if !self.made.contains_key(mapping) {
            let fd = match mapping {
                Mapping::Maps { uids, gids } => userns_with(uids, gids)?,
                Mapping::Namespace(path) => File::open(path)
                    .with_ctx(|| format!("open user namespace {}", path.display()))?
                    .into(),
            };
            self.made.insert(mapping.clone(), fd);
        }
        Ok(&self.made[mapping])
    }
}

/// A user namespace with these maps, held by an fd: a child is cloned into a new one and
/// waits (reading a pipe) while the runtime writes its maps and opens its namespace, then
/// exits. It dies with the runtime if that goes first.
fn userns_with(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd> {
    use crate::process::idmap::map_text;
    let (wait_r, wait_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ctx("pipe")?;
    let pid =
        // The child only holds the namespace open for the runtime: it waits, then exits.
        match fork_into(CloneFlags::CLONE_NEWUSER).ctx("clone a user namespace")? {
            Forked::Child => {
                // Only raw system calls here: the runtime may have other threads.
                drop(wait_w);
                let _ = rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ));
                let mut byte = [0u8; 1];
                let _ = rustix::io::read(&wait_r, &mut byte);
                exit_now(0)
            }
            Forked::Parent(pid) => pid,
        };
    drop(wait_r);
    let opened = (|| {
        let proc = Proc::get()?;
        let base = Base::ProcPid(pid.as_raw() as u32);
        proc.write(base, "uid_map", &map_text(uids))?;
        proc.write(base, "gid_map", &map_text(gids))?;
        proc.open_link(base, "ns/user")
    })();
    drop(wait_w);
    if let Some(pid) = rustix::process::Pid::from_raw(pid.as_raw()) {
        let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
    }
    opened
}

#[cfg(test)]
mod tests {
    use super::super::mount_plan::check_maps;
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    fn map(inside: u32, outside: u32, size: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(inside)
            .host_id(outside)
            .size(size)
            .build()
            .unwrap()
    }

    #[test]
    fn bad_mappings_are_named() {
        let check = |maps: &[LinuxIdMapping]| {
            check_maps("mounts[2] (/v)", "uidMappings", maps).map_err(|e| e.to_string())
        };
        check(&[map(0, 100000, 65536), map(65536, 5000, 1)]).unwrap();
        assert_eq!(
            check(&[map(0, 1, 0)]).unwrap_err(),
            "mounts[2] (/v): uidMappings[0]: size must not be 0"
        );
        assert_eq!(
            check(&[]).unwrap_err(),
            "mounts[2] (/v): uidMappings: empty"
        );
        assert!(check(&[map(0, 100, 10), map(5, 1000, 10)])
            .unwrap_err()
            .ends_with("uidMappings[1] overlaps uidMappings[0]"));
        assert!(check(&[map(0, 100, 10), map(50, 105, 10)])
            .unwrap_err()
            .ends_with("uidMappings[1] overlaps uidMappings[0]"));
        assert!(check(&[map(u32::MAX, 0, 2)])
            .unwrap_err()
            .contains("containerID + size is beyond the last id"));
    }

    #[test]
    fn this_kernel_has_idmapped_mounts() {
        // Every kernel hull is tested on (6.1 and later) has mount_setattr; the tests run as
        // the host's root, which may id-map a mount.
        if !crate::security::testutil::is_root() {
            return crate::security::testutil::skip("needs root");
        }
        assert!(supported());
    }

    #[test]
    fn only_the_initial_user_namespace_has_the_identity_map() {
        assert!(is_identity_map("         0          0 4294967295\n"));
        // Root in a rootless user namespace, and a namespace with a mapping of its own.
        assert!(!is_identity_map("         0       1000          1\n"));
        assert!(!is_identity_map("0 0 65536\n"));
        assert!(!is_identity_map("0 100000 65536\n65536 0 1\n"));
        assert!(!is_identity_map(""));
    }

    /// A user namespace made for a mapping carries exactly that mapping.
    #[test]
    fn a_mapping_gets_its_own_user_namespace() {
        if !crate::security::testutil::is_root() {
            return crate::security::testutil::skip("needs root");
        }
        let fd = userns_with(
            &[map(0, 100000, 1000)],
            &[map(0, 200000, 10), map(10, 7, 1)],
        )
        .unwrap();
        // Join it in a child and read the maps as its members see them.
        let outcome = crate::security::testutil::in_child(|| {
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&fd),
                Some(rustix::thread::LinkNameSpaceType::User),
            )
            .map_err(|e| e.to_string())?;
            let uid = std::fs::read_to_string("/proc/self/uid_map").map_err(|e| e.to_string())?;
            let gid = std::fs::read_to_string("/proc/self/gid_map").map_err(|e| e.to_string())?;
            Ok(format!("{uid} | {gid}"))
        });
        let crate::security::testutil::Outcome::Exited(text) = outcome else {
            panic!("{outcome:?}");
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(
            words,
            ["0", "100000", "1000", "|", "0", "200000", "10", "10", "7", "1"],
            "{text}"
        );
    }
}
