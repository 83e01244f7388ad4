//! The runtime's own binary, out of the container's reach (CVE-2019-5736).
//!
//! Init and exec children are forks of the runtime: until they execve the container's
//! program their `/proc/PID/exe` is the binary the runtime was started from, and a container
//! process can reach it there (with CAP_SYS_PTRACE, or without any capability by making the
//! runtime execve a script whose interpreter is `#!/proc/self/exe`). Whoever holds that file
//! open can write it once no runtime process runs any more, and the next `hull` anyone runs
//! on the host is theirs.
//!
//! So before create, run or exec forks anything, [`ensure`] makes sure the image this
//! process runs is one no write can reach:
//!
//! 1. already protected: the executable sits on a read-only mount (hull installed on a
//!    read-only filesystem or bind, or this is the re-executed image of step 2), or is a
//!    sealed memfd (step 3): nothing to do;
//! 2. otherwise re-execute through a read-only clone of the executable's mount: open_tree
//!    (OPEN_TREE_CLONE) of /proc/self/exe gives a detached bind mount of that one file,
//!    mount_setattr makes it read-only, and execveat runs it. The clone is in no mount
//!    namespace (no mount event, nothing in any mountinfo, no mount-table copy) and, once
//!    the exec closes our fd to it, not even in its own: nobody can remount it writable or
//!    bind it elsewhere. Opening /proc/PID/exe for writing then fails with EROFS (ETXTBSY
//!    while it runs). Nothing is copied: the page cache is the host file's.
//! 3. where cloning a mount is not allowed (an unprivileged caller, or the executable's
//!    mount is not in our mount namespace): nothing to do when the container cannot write
//!    the file anyway (an unprivileged caller and a binary owned by root that only root may
//!    write); else re-execute from a sealed memfd copy, as runc and crun do.
//!
//! The re-exec costs one execve of hull (the process keeps its pid, fds, environment and
//! argv); an installation on a read-only mount costs nothing.

use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{MemfdFlags, Mode, OFlags, SealFlags, StatVfsMountFlags};
use rustix::mount::OpenTreeFlags;

use crate::sys::mount::{
    mount_setattr, MountAttr, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
};
use crate::{Context, Error, Result};

/// Set in the environment of the re-executed image only: the task name (comm) to restore
/// (execveat names the task after the fd number), and the mark that this is the second
/// pass, so a protection that did not take is an error rather than an endless re-exec.
const MARK: &str = "_HULL_SEALED_EXE";

/// The seals that make a memfd immutable (runc checks the same four).
const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// Why the running image is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// The executable is on a read-only mount.
    ReadOnlyMount,
    /// The executable is a memfd no one can write (sealed).
    SealedMemfd,
    /// The caller is unprivileged and the binary is root's, writable by root alone: the
    /// container (at most the caller's ids) cannot write it.
    NotWritableByCaller,
}

/// Makes sure this process runs from an executable the container cannot write; re-executes
/// this process (same argv and environment) when it does not. Returns only when protected.
pub fn ensure() -> Result<Protection> {
    let second_pass = take_mark();
    let exe = rustix::fs::open(
        "/proc/self/exe",
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx("open /proc/self/exe")?;
    if let Some(p) = protection(&exe)? {
        return Ok(p);
    }
    if second_pass {
        return Err(Error::Other(
            "runtime binary protection: re-executed, yet /proc/self/exe is still writable".into(),
        ));
    }
    let clone_err = match read_only_clone(&exe) {
        Ok(clone) => return Err(reexec(&clone, "a read-only clone of the runtime binary")),
        Err(e) => e,
    };
    if not_writable_by_caller(&exe)? {
        return Ok(Protection::NotWritableByCaller);
    }
    let copy = sealed_copy().map_err(|e| {
        Error::Other(format!(
            "runtime binary protection (CVE-2019-5736): cannot clone the executable \
             read-only ({clone_err}) nor make a sealed copy ({e})"
        ))
    })?;
    Err(reexec(&copy, "a sealed copy of the runtime binary"))
}

/// How the file behind `exe` (an O_PATH handle on /proc/self/exe) is protected, if it is.
pub fn protection(exe: &impl AsFd) -> Result<Option<Protection>> {
    let vfs = rustix::fs::fstatvfs(exe).ctx("statvfs /proc/self/exe")?;
    if vfs.f_flag.contains(StatVfsMountFlags::RDONLY) {
        return Ok(Some(Protection::ReadOnlyMount));
    }
    // A memfd lives on the kernel's internal tmpfs (or hugetlbfs) mount; only those can
    // carry seals. Seals are read through a real open (fcntl refuses O_PATH handles).
    let fs = rustix::fs::fstatfs(exe).ctx("statfs /proc/self/exe")?;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;
    if matches!(fs.f_type as i64, TMPFS_MAGIC | HUGETLBFS_MAGIC) {
        let file = reopen(exe, OFlags::RDONLY).ctx("open /proc/self/exe")?;
        if rustix::fs::fcntl_get_seals(&file).is_ok_and(|s| s.contains(SEALS)) {
            return Ok(Some(Protection::SealedMemfd));
        }
    }
    Ok(None)
}

/// A new open file description of what `fd` refers to (works on O_PATH handles).
fn reopen(fd: &impl AsFd, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    let path = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
    rustix::fs::open(path.as_str(), flags | OFlags::CLOEXEC, Mode::empty())
}

/// A detached, read-only bind mount of the executable alone (open_tree needs the right to
/// mount in our mount namespace, and the executable's mount to be in it).
fn read_only_clone(exe: &impl AsFd) -> Result<OwnedFd> {
    let clone = rustix::mount::open_tree(
        exe,
        "",
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH,
    )
    .ctx("open_tree /proc/self/exe")?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        ..Default::default()
    };
    mount_setattr(&clone, c"", false, &attr).ctx("make the clone of /proc/self/exe read-only")?;
    Ok(clone)
}

/// An unprivileged caller cannot give its containers more than its own ids (and subordinate
/// ones): a binary owned by root that only root may write is out of their reach.
fn not_writable_by_caller(exe: &impl AsFd) -> Result<bool> {
    if rustix::process::geteuid().is_root() {
        return Ok(false);
    }
    let st = rustix::fs::fstat(exe).ctx("stat /proc/self/exe")?;
    Ok(st.st_uid == 0 && st.st_mode & 0o022 == 0)
}

/// The executable copied into a memfd, sealed against every change.
fn sealed_copy() -> Result<OwnedFd> {
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // Since Linux 6.3 a memfd is executable only when asked (and vm.memfd_noexec may
    // refuse); older kernels do not know the flag.
    let memfd = match rustix::fs::memfd_create("hull-sealed-exe", flags | MemfdFlags::EXEC) {
        Err(rustix::io::Errno::INVAL) => rustix::fs::memfd_create("hull-sealed-exe", flags),
        other => other,
    }
    .ctx("memfd_create")?;
    let mut src = std::fs::File::open("/proc/self/exe").ctx("open /proc/self/exe")?;
    let mut dst = std::fs::File::from(memfd);
    std::io::copy(&mut src, &mut dst).ctx("copy /proc/self/exe into a memfd")?;
    let memfd = OwnedFd::from(dst);
    rustix::fs::fchmod(&memfd, Mode::from_raw_mode(0o555)).ctx("chmod the memfd")?;
    rustix::fs::fcntl_add_seals(&memfd, SEALS).ctx("seal the memfd")?;
    // execve refuses a file someone holds open for writing (ETXTBSY): run it through a
    // read-only handle and let the writable one go.
    let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&memfd));
    rustix::fs::open(
        path.as_str(),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx("reopen the sealed memfd read-only")
}

/// execveat(fd) with our own argv and environment plus the mark; returns only on failure.
fn reexec(fd: &impl AsFd, what: &str) -> Error {
    let argv: Vec<CString> = std::env::args_os().map(cstring).collect();
    let comm = rustix::thread::name()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != MARK)
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            cstring(kv)
        })
        .collect();
    env.push(cstring(format!("{MARK}={comm}").into()));
    let err = crate::sys::exec::execveat_fd(fd.as_fd(), &argv, &env);
    Error::os(format!("execveat {what}"), err)
}

/// Removes the mark from the environment (nothing after us may see it: hooks and the
/// container get their own environment, but the runtime's children of other kinds would
/// inherit it); restores the task name. Returns whether the mark was there.
fn take_mark() -> bool {
    let Some(comm) = std::env::var_os(MARK) else {
        return false;
    };
    // Single-threaded here: the CLI calls this before anything starts a thread.
    std::env::remove_var(MARK);
    if let Ok(name) = CString::new(comm.as_bytes()) {
        if !name.as_bytes().is_empty() {
            let _ = rustix::thread::set_name(&name);
        }
    }
    true
}

/// argv and environment strings come from the kernel, NUL-free.
fn cstring(s: OsString) -> CString {
    CString::new(s.into_vec()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_exe() -> OwnedFd {
        rustix::fs::open(
            "/proc/self/exe",
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }

    #[test]
    fn read_only_clone_refuses_writes() {
        if !crate::security::testutil::is_root() {
            return crate::security::testutil::skip("open_tree needs root");
        }
        let clone = read_only_clone(&self_exe()).unwrap();
        assert_eq!(protection(&clone).unwrap(), Some(Protection::ReadOnlyMount));
        // O_TRUNC asks the mount for write access before anything else: EROFS, where a
        // plain O_WRONLY would first meet ETXTBSY (this binary is running).
        let err = reopen(&clone, OFlags::WRONLY | OFlags::TRUNC).unwrap_err();
        assert_eq!(err, rustix::io::Errno::ROFS);
        // Same file, so the same pages: nothing was copied.
        let (a, b) = (
            rustix::fs::fstat(&clone).unwrap(),
            rustix::fs::fstat(self_exe()).unwrap(),
        );
        assert_eq!((a.st_dev, a.st_ino), (b.st_dev, b.st_ino));
        // The clone is in no mount namespace: ours does not list it.
        let id = rustix::fs::statx(
            &clone,
            "",
            rustix::fs::AtFlags::EMPTY_PATH,
            rustix::fs::StatxFlags::MNT_ID,
        )
        .unwrap()
        .stx_mnt_id;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mountinfo
            .lines()
            .any(|l| l.split(' ').next() == Some(id.to_string().as_str())));
    }

    #[test]
    fn sealed_copy_is_a_whole_copy_and_recognised() {
        let copy = sealed_copy().unwrap();
        assert_eq!(protection(&copy).unwrap(), Some(Protection::SealedMemfd));
        let (a, b) = (
            rustix::fs::fstat(&copy).unwrap(),
            rustix::fs::fstat(self_exe()).unwrap(),
        );
        assert_eq!(a.st_size, b.st_size);
    }

    #[test]
    fn sealed_copy_refuses_writes_even_to_root() {
        if !crate::security::testutil::is_root() {
            return crate::security::testutil::skip(
                "needs root: mode bits stop any other uid before the seal does",
            );
        }
        let copy = sealed_copy().unwrap();
        // Root may open it for writing (mode bits do not stop root); F_SEAL_WRITE refuses
        // the write itself.
        let w = reopen(&copy, OFlags::WRONLY).unwrap();
        assert_eq!(
            rustix::io::write(&w, b"x").unwrap_err(),
            rustix::io::Errno::PERM
        );
    }

    #[test]
    fn a_writable_file_is_not_protected() {
        let dir = std::env::temp_dir().join(format!("hull-sealed-exe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"x").unwrap();
        let fd = rustix::fs::open(&path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).unwrap();
        let got = protection(&fd).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, None);
    }
}
