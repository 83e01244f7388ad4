//! openat2(2), as the rootfs lookups and the procfs handle use it: one system call per
//! lookup, with the kernel enforcing the scope (RESOLVE_IN_ROOT for a rootfs,
//! RESOLVE_BENEATH | RESOLVE_NO_XDEV for the procfs handle) and refusing magic links.
//!
//! openat2 exists since Linux 5.6. Where it does not (or a seccomp filter of the host refuses
//! it), the callers fall back to pathrs, which emulates the same rules in user space at a much
//! higher cost in system calls; `available` says which to use, decided once per process from
//! the first failure that looks like "no such system call".

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Set once a trivial openat2 has failed: the kernel lacks it or something filters it out.
static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// How often a scoped lookup is retried when the kernel reports a racing rename or mount
/// (EAGAIN: it could not prove that a `..` stayed in scope). pathrs's figure: with 128
/// retries an attacker renaming on every core makes it fail ~0.1% of the time.
const RETRIES: usize = 128;

/// Whether openat2 can be used in this process (false after it was found missing).
pub fn available() -> bool {
    #[cfg(test)]
    if FALLBACK.get() {
        return false;
    }
    !UNAVAILABLE.load(Ordering::Relaxed)
}

#[cfg(test)]
thread_local! {
    static FALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` as if this kernel had no openat2 (on this thread only): the tests of the callers'
/// fallbacks.
#[cfg(test)]
pub fn without<T>(f: impl FnOnce() -> T) -> T {
    FALLBACK.set(true);
    let out = f();
    FALLBACK.set(false);
    out
}

/// openat2 with O_CLOEXEC added and EAGAIN retried. `Err(None)` means openat2 itself is not
/// available (remembered for the rest of the process): the caller falls back.
pub fn open(
    dirfd: impl AsFd,
    path: &std::path::Path,
    flags: OFlags,
    resolve: ResolveFlags,
) -> Result<OwnedFd, Option<Errno>> {
    if !available() {
        return Err(None);
    }
    let dirfd = dirfd.as_fd();
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dirfd, path, flags | OFlags::CLOEXEC, Mode::empty(), resolve) {
            Ok(fd) => return Ok(fd),
            Err(Errno::AGAIN) if tries < RETRIES => tries += 1,
            // ENOSYS: no openat2; EPERM: a filter that refuses it (no lookup of an O_PATH
            // handle is refused with EPERM otherwise, but check before deciding).
            Err(e @ (Errno::NOSYS | Errno::PERM)) => {
                return Err(if works() { Some(e) } else { None });
            }
            Err(e) => return Err(Some(e)),
        }
    }
}

/// A trivial openat2 (of the working directory); false, and remembered, if it fails.
fn works() -> bool {
    let trivial = rustix::fs::openat2(
        rustix::fs::CWD,
        ".",
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::empty(),
    );
    if trivial.is_err() {
        UNAVAILABLE.store(true, Ordering::Relaxed);
    }
    trivial.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_scoped_and_reports_errors() {
        let dir = std::fs::File::open("/").unwrap();
        let fd = open(
            &dir,
            std::path::Path::new("proc/../etc/../proc"),
            OFlags::PATH | OFlags::DIRECTORY,
            ResolveFlags::IN_ROOT,
        )
        .unwrap();
        let st = rustix::fs::fstatfs(&fd).unwrap();
        assert_eq!(st.f_type, rustix::fs::PROC_SUPER_MAGIC);
        // A mount crossed under RESOLVE_NO_XDEV: an error with its errno, not "unavailable".
        let e = open(
            &dir,
            std::path::Path::new("proc/self"),
            OFlags::PATH,
            ResolveFlags::NO_XDEV,
        )
        .unwrap_err();
        assert_eq!(e, Some(Errno::XDEV));
        assert!(available());
    }
}
