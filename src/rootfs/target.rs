//! Mount targets: a destination is resolved inside the rootfs, judged by where it *landed*
//! (not by its string), and the mount is attached to the very fd that was judged.
//!
//! The rootfs belongs to the image, which is not trusted: a symlink in it can make an ordinary
//! destination land somewhere the config never named. `evil -> /proc` turns a bind at
//! `/evil/sys/kernel` into a bind over the container's /proc/sys/kernel, and then the sysctls
//! the runtime writes would go to the bind's host files (CVE-2019-19921, CVE-2023-27561,
//! CVE-2025-52881). So, by landing place:
//!
//! - the container's root itself takes no mount;
//! - /proc takes only a procfs (a new one, or a bind of one);
//! - nothing lands inside /proc, or anywhere on a procfs, but the few files lxcfs emulates;
//! - a destination that a symlink in the rootfs redirected must not land in /sys or /dev,
//!   on a sysfs, or on a device node: the config may mount there, the image may not send a
//!   mount there.
//!
//! runc makes the same /proc decision on the path it resolved (`checkProcMount`); hull makes it
//! on the fd, which stays what it was checked to be whatever happens to the path afterwards.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use pathrs::Handle;
use rustix::fs::{fstat, fstatfs, FileType, FsWord, PROC_SUPER_MAGIC};

use super::inroot::{self, clean, RootDir};
use crate::{Context, Error, Result};

const SYSFS_MAGIC: FsWord = 0x6265_6572;

/// Files under /proc that may be mounted over: what lxcfs emulates (runc's list).
pub const PROC_OVERMOUNTS: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// What is mounted, as far as the landing rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A procfs: a new one, a bind of one, or a remount of one.
    Procfs,
    Other,
}

/// Where a destination resolved to.
#[derive(Debug, Clone)]
pub struct Landing {
    /// Its place in the container.
    pub at: PathBuf,
    /// The filesystem there (f_type).
    pub fs: FsWord,
    /// What is there; None before it exists (a directory to be created).
    pub kind: Option<FileType>,
}

impl Landing {
    fn of(root: &RootDir, fd: impl AsFd) -> Result<Landing> {
        let fd = fd.as_fd();
        let fs = fstatfs(fd).ctx("fstatfs the mount target")?.f_type;
        let kind = FileType::from_raw_mode(fstat(fd).ctx("stat the mount target")?.st_mode);
        Ok(Landing {
            at: root.location(fd)?,
            fs,
            kind: Some(kind),
        })
    }
}

/// Resolves `dest` inside the rootfs, creating it (a directory, or an empty file when `dir`
/// is false) if missing, and checks where it landed. The caller names the mount in errors.
pub fn resolve(root: &RootDir, dest: &Path, dir: bool, source: Source) -> Result<Handle> {
    let wanted = clean(dest);
    if let Some(handle) = inroot::resolve(root, &wanted)? {
        let landing = Landing::of(root, &handle)?;
        // A file where a directory is wanted: ensure_dir below says why that fails.
        if !dir || landing.kind == Some(FileType::Directory) {
            check(&wanted, &landing, source)?;
            return Ok(handle);
        }
    } else {
        // Before creating anything: what exists of the path must not lead into /proc, so
        // that nothing is made there (the check of what was made decides in any case).
        check_ancestor(root, &wanted, source)?;
    }
    let handle = if dir {
        inroot::ensure_dir(root, &wanted)?
    } else {
        inroot::ensure_file(root, &wanted)?
    };
    check(&wanted, &Landing::of(root, &handle)?, source)?;
    Ok(handle)
}

/// An existing target (a remount's), checked where it landed. A remount changes what is
/// already there: on a procfs, that is a procfs.
pub fn existing(root: &RootDir, dest: &Path) -> Result<Handle> {
    let wanted = clean(dest);
    let handle = inroot::resolve(root, &wanted)?
        .ok_or_else(|| Error::invalid("remount: nothing at the destination"))?;
    let landing = Landing::of(root, &handle)?;
    let source = if landing.fs == PROC_SUPER_MAGIC {
        Source::Procfs
    } else {
        Source::Other
    };
    check(&wanted, &landing, source)?;
    Ok(handle)
}

/// The deepest existing ancestor of `wanted`, judged as if the rest were already created in
/// it.
fn check_ancestor(root: &RootDir, wanted: &Path, source: Source) -> Result<()> {
    let mut ancestor = wanted;
    while let Some(parent) = ancestor.parent() {
        ancestor = parent;
        if let Some(handle) = inroot::resolve(root, ancestor)? {
            let rest = wanted.strip_prefix(ancestor).unwrap_or(Path::new(""));
            let mut landing = Landing::of(root, &handle)?;
            landing.at = landing.at.join(rest);
            landing.kind = None;
            return check(wanted, &landing, source);
        }
    }
    Ok(())
}

/// The landing rules (see the module comment). `wanted` is the destination as the config
/// wrote it, cleaned.
pub fn check(wanted: &Path, landing: &Landing, source: Source) -> Result<()> {
    let at = &landing.at;
    let refuse = |why: String| Err(Error::invalid(why));
    let redirected = at != wanted;
    let through = if redirected {
        "through a symlink in the rootfs "
    } else {
        ""
    };
    if at == Path::new("/") {
        return refuse(format!("resolves {through}to the container's root"));
    }
    if at == Path::new("/proc") {
        if source == Source::Procfs {
            return Ok(());
        }
        return refuse(format!(
            "resolves {through}to /proc, where only a procfs can be mounted"
        ));
    }
    let in_proc = at.starts_with("/proc") || landing.fs == PROC_SUPER_MAGIC;
    if in_proc && !PROC_OVERMOUNTS.iter().any(|p| at == Path::new(p)) {
        let where_ = if at.starts_with("/proc") {
            "inside /proc"
        } else {
            "on a procfs"
        };
        return refuse(format!(
            "resolves {through}to {}, {where_}: cannot be mounted there",
            at.display()
        ));
    }
    if redirected {
        let special = if at.starts_with("/sys") || landing.fs == SYSFS_MAGIC {
            Some("inside /sys")
        } else if at.starts_with("/dev") {
            Some("inside /dev")
        } else if matches!(
            landing.kind,
            Some(FileType::CharacterDevice | FileType::BlockDevice)
        ) {
            Some("onto a device node")
        } else {
            None
        };
        if let Some(where_) = special {
            return refuse(format!(
                "resolves {through}to {}, {where_}: the image may not send a mount there",
                at.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn landing(at: &str, fs: FsWord, kind: Option<FileType>) -> Landing {
        Landing {
            at: at.into(),
            fs,
            kind,
        }
    }

    const EXT4: FsWord = 0xef53;
    const DIR: Option<FileType> = Some(FileType::Directory);

    fn verdict(wanted: &str, l: &Landing, source: Source) -> std::result::Result<(), String> {
        check(Path::new(wanted), l, source).map_err(|e| e.to_string())
    }

    #[test]
    fn proc_reached_through_a_symlink_is_refused() {
        let e = verdict("/evil", &landing("/proc", EXT4, DIR), Source::Other).unwrap_err();
        assert_eq!(
            e,
            "resolves through a symlink in the rootfs to /proc, where only a procfs can be mounted"
        );
        let e = verdict(
            "/evil/sys/kernel",
            &landing("/proc/sys/kernel", PROC_SUPER_MAGIC, DIR),
            Source::Other,
        )
        .unwrap_err();
        assert!(e.contains("to /proc/sys/kernel, inside /proc"), "{e}");
        // Before /proc is mounted the landing is a plain directory: the place decides.
        let e = verdict(
            "/evil/1/fd",
            &landing("/proc/1/fd", EXT4, None),
            Source::Other,
        )
        .unwrap_err();
        assert!(e.contains("inside /proc"), "{e}");
        // A procfs mounted elsewhere is procfs all the same.
        let e = verdict(
            "/other/sys",
            &landing("/other/sys", PROC_SUPER_MAGIC, DIR),
            Source::Other,
        )
        .unwrap_err();
        assert!(e.contains("to /other/sys, on a procfs"), "{e}");
    }

    #[test]
    fn proc_takes_only_procfs_and_the_lxcfs_files() {
        verdict("/proc", &landing("/proc", EXT4, DIR), Source::Procfs).unwrap();
        let e = verdict("/proc", &landing("/proc", EXT4, DIR), Source::Other).unwrap_err();
        assert!(
            e.ends_with("resolves to /proc, where only a procfs can be mounted"),
            "{e}"
        );
        let file = Some(FileType::RegularFile);
        verdict(
            "/proc/meminfo",
            &landing("/proc/meminfo", PROC_SUPER_MAGIC, file),
            Source::Other,
        )
        .unwrap();
        // Even reached through a link: it is still only that file.
        verdict(
            "/m",
            &landing("/proc/meminfo", PROC_SUPER_MAGIC, file),
            Source::Other,
        )
        .unwrap();
        let e = verdict(
            "/proc/sys",
            &landing("/proc/sys", PROC_SUPER_MAGIC, DIR),
            Source::Procfs,
        )
        .unwrap_err();
        assert!(e.contains("inside /proc"), "{e}");
    }

    #[test]
    fn the_root_takes_no_mount() {
        let e = verdict("/vol/x", &landing("/", EXT4, DIR), Source::Other).unwrap_err();
        assert!(
            e.contains("through a symlink in the rootfs to the container's root"),
            "{e}"
        );
    }

    #[test]
    fn redirects_into_sys_and_dev_are_refused_literal_ones_are_not() {
        let sysfs = landing("/sys/kernel/mm", SYSFS_MAGIC, DIR);
        verdict("/sys/kernel/mm", &sysfs, Source::Other).unwrap();
        let e = verdict("/data", &sysfs, Source::Other).unwrap_err();
        assert!(e.contains("to /sys/kernel/mm, inside /sys"), "{e}");
        let null = landing("/dev/null", 0x0102_1994, Some(FileType::CharacterDevice));
        verdict("/dev/null", &null, Source::Other).unwrap();
        assert!(verdict("/x", &null, Source::Other)
            .unwrap_err()
            .contains("inside /dev"));
        let node = landing("/opt/node", EXT4, Some(FileType::CharacterDevice));
        assert!(verdict("/n", &node, Source::Other)
            .unwrap_err()
            .contains("onto a device node"));
        // Redirected somewhere ordinary (an image's /var/run -> /run): fine.
        verdict("/var/run/x", &landing("/run/x", EXT4, DIR), Source::Other).unwrap();
    }
}
