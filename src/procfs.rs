//! The procfs the runtime writes through. Every write hull or init makes under /proc (sysctls,
//! oom_score_adj, setgroups and the id maps, LSM attributes, time namespace offsets) and the
//! few reads whose answer matters go through this one handle, never through a path string:
//! a container controls what is mounted at its /proc (a bind over /proc/sys/kernel, a tmpfs
//! with a fake attr/exec), and a write that follows such a mount lands in whatever file the
//! container chose (CVE-2019-16884, CVE-2019-19921, CVE-2025-52881).
//!
//! The handle is the root of a procfs, verified once when it is opened (pathrs: fstatfs
//! PROC_SUPER_MAGIC, inode 1, its mount id), and every lookup in it stays on that one mount:
//! one openat2 with RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS and no trailing
//! symlink followed. RESOLVE_NO_XDEV is the kernel's own guarantee that the file opened is on
//! the verified mount (nothing mounted over a file or directory below it can be reached), so
//! the result needs no second check. pathrs (libpathrs, what runc's pathrs-lite is modelled
//! on) opens the handle: where the kernel allows, the procfs is a new one of our own (fsopen),
//! which nothing mounted anywhere can cover; else a non-recursive clone of /proc (mounts on
//! top of it stay behind); else /proc as it is, which is the host's because the handle is
//! opened in the runtime before it clones init or joins anything of the container's. Where
//! openat2 is missing (before Linux 5.6) the lookups go through pathrs's own procfs resolver,
//! which emulates those rules and checks the mount id of every result.
//!
//! One handle per process, opened once and reused; init and exec children inherit it with the
//! rest of the runtime's memory. It is close-on-exec, so it never reaches the container's
//! process (and nothing between is dumpable or ptrace-able by the container).

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustix::fs::{OFlags, ResolveFlags};

use pathrs::flags::OpenFlags;
use pathrs::procfs::{ProcfsHandle, ProcfsHandleBuilder};

pub use pathrs::procfs::ProcfsBase as Base;

use crate::{Context, Result};

/// The runtime's verified procfs.
pub struct Proc {
    handle: ProcfsHandle,
}

static PROC: OnceLock<Proc> = OnceLock::new();

/// A path under `base`, relative to the procfs root.
fn subpath(base: Base, path: &str) -> Option<String> {
    Some(match base {
        Base::ProcRoot => path.to_string(),
        Base::ProcSelf => format!("self/{path}"),
        Base::ProcThreadSelf => format!("thread-self/{path}"),
        Base::ProcPid(pid) => format!("{pid}/{path}"),
        _ => return None,
    })
}

/// The scope of every lookup under the handle (see the module comment).
fn scope() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_XDEV | ResolveFlags::NO_MAGICLINKS
}

/// How a path under the handle is named in errors.
fn display(base: Base, path: &str) -> String {
    match base {
        Base::ProcRoot => format!("/proc/{path}"),
        Base::ProcSelf => format!("/proc/self/{path}"),
        Base::ProcThreadSelf => format!("/proc/thread-self/{path}"),
        Base::ProcPid(pid) => format!("/proc/{pid}/{path}"),
        _ => format!("/proc/?/{path}"),
    }
}

impl Proc {
    /// The process's handle, opened on first use. The runtime calls this before it clones
    /// init or forks an exec child, so that the handle never comes from a mount table the
    /// container can touch.
    pub fn get() -> Result<&'static Proc> {
        if let Some(proc) = PROC.get() {
            return Ok(proc);
        }
        // Unmasked (no subset=pid): sysctls live in /proc/sys.
        let handle = ProcfsHandleBuilder::new()
            .unmasked()
            .build()
            .ctx("open a verified procfs handle")?;
        Ok(PROC.get_or_init(|| Proc { handle }))
    }

    /// Opens a file under the handle (never following a trailing symlink): one openat2 on
    /// the verified mount, or pathrs's procfs resolver where openat2 is missing.
    /// `what` names the operation in errors.
    fn open(
        &self,
        base: Base,
        path: &str,
        flags: OFlags,
        what: impl Fn() -> String,
    ) -> Result<File> {
        if let Some(sub) = subpath(base, path) {
            match crate::openat2::open(
                &self.handle,
                Path::new(&sub),
                flags | OFlags::NOFOLLOW,
                scope(),
            ) {
                Ok(fd) => return Ok(File::from(fd)),
                Err(Some(e)) => return Err(e).with_ctx(what),
                Err(None) => {}
            }
        }
        let flags = OpenFlags::from_bits_retain(u64::from(flags.bits())) | OpenFlags::O_CLOEXEC;
        self.handle.open(base, path, flags).with_ctx(what)
    }

    /// Writes `value` to an existing file under the handle, in one write(2) (the id maps and
    /// timens_offsets take nothing else).
    pub fn write(&self, base: Base, path: &str, value: &str) -> Result<()> {
        let what = || format!("write {value:?} to {}", display(base, path));
        let mut file = self.open(base, path, OFlags::WRONLY, what)?;
        file.write_all(value.as_bytes()).with_ctx(what)
    }

    /// The whole of a file under the handle.
    pub fn read(&self, base: Base, path: &str) -> Result<String> {
        let what = || format!("read {}", display(base, path));
        let mut file = self.open(base, path, OFlags::RDONLY, what)?;
        let mut text = String::new();
        file.read_to_string(&mut text).with_ctx(what)?;
        Ok(text)
    }

    /// A magic link under the handle opened where it points, read-only (`ns/user` of a
    /// helper process, `root` of a container's init): only the last component is followed
    /// (pathrs's `open_follow`, which checks the mount of everything up to it).
    pub fn open_link(&self, base: Base, path: &str) -> Result<OwnedFd> {
        self.handle
            .open_follow(base, path, OpenFlags::O_RDONLY | OpenFlags::O_CLOEXEC)
            .map(OwnedFd::from)
            .with_ctx(|| format!("open {}", display(base, path)))
    }

    /// Whether the path exists under the handle.
    pub fn exists(&self, base: Base, path: &str) -> bool {
        self.open(base, path, OFlags::PATH, String::new).is_ok()
    }

    /// Where an open file is in this process's mount tree: the target of /proc/self/fd/N, as
    /// the kernel computes it from the file's mount and dentry (not from any path string).
    /// The link itself is opened on the verified mount (O_PATH | O_NOFOLLOW, which
    /// RESOLVE_NO_MAGICLINKS allows for the last component) and read through that fd.
    pub fn fd_path(&self, fd: impl AsFd) -> Result<PathBuf> {
        let link = format!("fd/{}", fd.as_fd().as_raw_fd());
        let what = || format!("readlink {}", display(Base::ProcSelf, &link));
        match crate::openat2::open(
            &self.handle,
            Path::new(&format!("self/{link}")),
            OFlags::PATH | OFlags::NOFOLLOW,
            scope(),
        ) {
            Ok(at) => {
                let target = rustix::fs::readlinkat(&at, "", Vec::new()).with_ctx(what)?;
                return Ok(PathBuf::from(OsString::from_vec(target.into_bytes())));
            }
            Err(Some(e)) => return Err(e).with_ctx(what),
            Err(None) => {}
        }
        self.handle.readlink(Base::ProcSelf, &link).with_ctx(what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_is_the_root_of_a_procfs() {
        let proc = Proc::get().unwrap();
        let st = rustix::fs::fstatfs(proc.handle.as_fd()).unwrap();
        assert_eq!(st.f_type, rustix::fs::PROC_SUPER_MAGIC);
        let meta = rustix::fs::fstat(proc.handle.as_fd()).unwrap();
        assert_eq!(
            meta.st_ino, 1,
            "the root of the procfs, not a directory in it"
        );
        // Reused, not reopened.
        assert!(std::ptr::eq(proc, Proc::get().unwrap()));
    }

    #[test]
    fn reads_writes_and_errors_name_the_file() {
        let proc = Proc::get().unwrap();
        let adj = proc.read(Base::ProcSelf, "oom_score_adj").unwrap();
        proc.write(Base::ProcSelf, "oom_score_adj", adj.trim())
            .unwrap();
        assert!(proc
            .read(Base::ProcRoot, "sys/kernel/ostype")
            .unwrap()
            .starts_with("Linux"));
        let e = proc
            .write(Base::ProcSelf, "no-such-file", "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/proc/self/no-such-file"), "{e}");
        // A magic link is never followed by an open (fd/N, exe, root...).
        assert!(proc.read(Base::ProcSelf, "root/etc/hostname").is_err());
        let file = std::fs::File::open("/").unwrap();
        assert_eq!(proc.fd_path(&file).unwrap(), PathBuf::from("/"));
    }

    /// A /proc the process does not control the mounts of (a tmpfs with fake sysctl and
    /// oom_score_adj files, as a hostile rootfs could arrange): writes through the handle
    /// reach the kernel, and the fake files stay as they were.
    #[test]
    fn writes_ignore_what_is_mounted_on_proc() {
        if !crate::security::testutil::is_root() {
            return crate::security::testutil::skip("needs root to mount over /proc");
        }
        let outcome = crate::security::testutil::in_child(|| {
            use crate::sys::clone::unshare;
            use rustix::mount::{mount, mount_change, MountFlags, MountPropagationFlags};
            use rustix::thread::UnshareFlags;
            let err = |e: &dyn std::fmt::Display| e.to_string();
            // The uts namespace keeps the domainname write away from the host's.
            unshare(UnshareFlags::NEWNS | UnshareFlags::NEWUTS).map_err(|e| err(&e))?;
            mount_change(
                "/",
                MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
            )
            .map_err(|e| err(&e))?;
            mount("tmpfs", "/proc", "tmpfs", MountFlags::empty(), None).map_err(|e| err(&e))?;
            for dir in ["/proc/sys/kernel", "/proc/self"] {
                std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
            }
            std::fs::write("/proc/sys/kernel/domainname", b"fake").map_err(|e| err(&e))?;
            std::fs::write("/proc/self/oom_score_adj", b"fake").map_err(|e| err(&e))?;

            let proc = Proc::get().map_err(|e| err(&e))?;
            proc.write(Base::ProcRoot, "sys/kernel/domainname", "hull-test")
                .map_err(|e| err(&e))?;
            let adj = proc
                .read(Base::ProcSelf, "oom_score_adj")
                .map_err(|e| err(&e))?;
            proc.write(Base::ProcSelf, "oom_score_adj", adj.trim())
                .map_err(|e| err(&e))?;
            for fake in ["/proc/sys/kernel/domainname", "/proc/self/oom_score_adj"] {
                let now = std::fs::read(fake).map_err(|e| err(&e))?;
                if now != b"fake" {
                    return Err(format!("{fake} was written: {now:?}"));
                }
            }
            let uts = rustix::system::uname();
            if uts.domainname().to_bytes() != b"hull-test" {
                return Err(format!("domainname is {:?}", uts.domainname()));
            }
            Ok(String::new())
        });
        match outcome {
            crate::security::testutil::Outcome::Exited(_) => {}
            other => panic!("{other:?}"),
        }
    }
}
