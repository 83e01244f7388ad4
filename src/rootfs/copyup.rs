//! `tmpcopyup`: before a tmpfs is attached over a directory, what the directory held is
//! copied into it (mode, owner and times kept), so the container sees the image's files on
//! a writable tmpfs. Everything works on directory fds; symlinks are copied, never followed.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{
    chmodat, chownat, fchmod, fchown, futimens, mkdirat, mknodat, openat, readlinkat, statat,
    symlinkat, utimensat, AtFlags, Dir, FileType, Mode, OFlags, Stat, Timespec, Timestamps,
};
use rustix::process::{Gid, Uid};

use crate::{Context, Result};

/// Copies the contents of directory `from` into directory `to` (both readable dir fds).
pub fn copy_dir(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<()> {
    let mut dir = Dir::read_from(from).ctx("read directory for tmpcopyup")?;
    while let Some(entry) = dir.read() {
        let entry = entry.ctx("read directory for tmpcopyup")?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        copy_entry(from, to, name)
            .map_err(|e| crate::Error::Other(format!("tmpcopyup {name:?}: {e}")))?;
    }
    Ok(())
}

fn copy_entry(from: BorrowedFd<'_>, to: BorrowedFd<'_>, name: &std::ffi::CStr) -> Result<()> {
    let st = statat(from, name, AtFlags::SYMLINK_NOFOLLOW).ctx("stat")?;
    let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            mkdirat(to, name, Mode::from_raw_mode(0o700)).ctx("mkdir")?;
            let src = open_nofollow(from, name, OFlags::RDONLY | OFlags::DIRECTORY)?;
            let dst = open_nofollow(to, name, OFlags::RDONLY | OFlags::DIRECTORY)?;
            copy_dir(src.as_fd(), dst.as_fd())?;
            set_meta(&dst, &st, mode)
        }
        FileType::RegularFile => {
            let src = open_nofollow(from, name, OFlags::RDONLY)?;
            let dst = openat(
                to,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .ctx("create")?;
            let (mut src, mut dst) = (File::from(src), File::from(dst));
            std::io::copy(&mut src, &mut dst).ctx("copy")?;
            set_meta(&dst, &st, mode)
        }
        FileType::Symlink => {
            let target = readlinkat(from, name, Vec::new()).ctx("readlink")?;
            symlinkat(target.as_c_str(), to, name).ctx("symlink")?;
            owner_and_times_nofollow(to, name, &st)
        }
        kind => {
            // Devices, fifos and sockets: a node of the same kind and number.
            mknodat(to, name, kind, mode, st.st_rdev).ctx("mknod")?;
            owner_and_times_nofollow(to, name, &st)?;
            chmodat(to, name, mode, AtFlags::empty()).ctx("chmod")
        }
    }
}

fn open_nofollow(dir: BorrowedFd<'_>, name: &std::ffi::CStr, flags: OFlags) -> Result<OwnedFd> {
    openat(
        dir,
        name,
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx("open")
}

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

/// Owner first: chown clears set-id bits, which the chmod after it restores.
fn set_meta(fd: impl AsFd, st: &Stat, mode: Mode) -> Result<()> {
    let fd = fd.as_fd();
    fchown(
        fd,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )
    .ctx("chown")?;
    fchmod(fd, mode).ctx("chmod")?;
    futimens(fd, &times(st)).ctx("set times")
}

fn owner_and_times_nofollow(dir: BorrowedFd<'_>, name: &std::ffi::CStr, st: &Stat) -> Result<()> {
    chownat(
        dir,
        name,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .ctx("chown")?;
    utimensat(dir, name, &times(st), AtFlags::SYMLINK_NOFOLLOW).ctx("set times")
}
