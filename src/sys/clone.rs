//! clone(2) used like fork(2), with namespace flags: one call creates init and its namespaces.

use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::io::{Errno, Result};

use super::{last_errno, Pid};

// rustix has no clone (only an unsafe fork in its unstable runtime module), and so no flags
// type for it: these calls stay on libc, with the flags the runtime passes named here as the
// kernel names them.
bitflags::bitflags! {
    /// clone(2) flags: the namespaces a clone creates, and CLONE_PARENT.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct CloneFlags: libc::c_int {
        const CLONE_NEWNS = libc::CLONE_NEWNS;
        const CLONE_NEWCGROUP = libc::CLONE_NEWCGROUP;
        const CLONE_NEWUTS = libc::CLONE_NEWUTS;
        const CLONE_NEWIPC = libc::CLONE_NEWIPC;
        const CLONE_NEWUSER = libc::CLONE_NEWUSER;
        const CLONE_NEWPID = libc::CLONE_NEWPID;
        const CLONE_NEWNET = libc::CLONE_NEWNET;
        const CLONE_PARENT = libc::CLONE_PARENT;
    }
}

/// What a fork-like clone returned in this process.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// clone(2) with a NULL stack: the child runs on a copy of the caller's stack, as with fork.
///
/// The caller must be single-threaded (the child gets only the calling thread) and the child
/// must end in execve or `_exit`, never by returning into code that assumes the parent's state.
pub fn fork_into(flags: CloneFlags) -> Result<Forked> {
    let flags = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: a NULL stack makes clone behave like fork: the child continues on its own
    // copy-on-write copy of this stack. No parent/child TID pointers or TLS are passed.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match ret {
        -1 => Err(last_errno()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// The kernel's `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Like [`fork_into`], with the child born in the cgroup v2 directory `cgroup` (clone3 with
/// CLONE_INTO_CGROUP, Linux 5.7): it never runs a moment in the caller's cgroup, and the
/// runtime skips the migration through cgroup.procs. ENOSYS, E2BIG or EINVAL mean the kernel
/// (or a seccomp filter around us) does not offer this; callers fall back to `fork_into`.
pub fn fork_into_cgroup(flags: CloneFlags, cgroup: BorrowedFd) -> Result<Forked> {
    let args = CloneArgs {
        flags: flags.bits() as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: `args` is a valid clone_args of the size passed; stack 0 makes clone3 behave
    // like fork (the child runs on its copy-on-write copy of this stack); no pointers for the
    // kernel to write through (pidfd, tids, set_tid) are passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(last_errno()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Whether a [`fork_into_cgroup`] error means "not available here", not "failed".
pub fn clone3_unavailable(e: Errno) -> bool {
    matches!(e, Errno::NOSYS | Errno::TOOBIG | Errno::INVAL)
}

/// unshare(2). rustix's is `unshare_unsafe` (a CLONE_FILES unshare leaves other threads'
/// fds unusable to this one); the runtime never unshares its fd table, which is refused here.
pub fn unshare(flags: rustix::thread::UnshareFlags) -> rustix::io::Result<()> {
    use rustix::thread::UnshareFlags;
    assert!(
        !flags.contains(UnshareFlags::FILES),
        "unshare of the fd table"
    );
    // SAFETY: without CLONE_FILES no thread can be left with fds it cannot use.
    unsafe { rustix::thread::unshare_unsafe(flags) }
}

/// Ends the calling process at once, without running destructors or atexit handlers (which
/// belong to the parent's copy of the state).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no memory of ours.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The cgroup2 mount and this process's cgroup in it, when there is one.
    fn own_unified() -> Option<PathBuf> {
        let mount = hull_cgroups::mountinfo::read_self()
            .ok()?
            .into_iter()
            .find(|m| m.fstype == "cgroup2")?
            .mount_point;
        let own = hull_cgroups::proc_cgroup::read_self().ok()?;
        let own = hull_cgroups::proc_cgroup::of(&own, &[])?;
        Some(mount.join(own.strip_prefix("/").unwrap_or(own)))
    }

    #[test]
    fn child_is_born_in_the_cgroup() {
        if !crate::sys::testing::is_root() {
            return crate::sys::testing::skip("needs root to create a cgroup");
        }
        let Some(own) = own_unified() else {
            return crate::sys::testing::skip("no cgroup2 mount");
        };
        let dir = own.join(format!("hull-clone3-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let fd = std::fs::File::open(&dir).unwrap();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        // The child only waits for a signal (no allocation after fork in a threaded test).
        match fork_into_cgroup(CloneFlags::empty(), std::os::fd::AsFd::as_fd(&fd)) {
            Ok(Forked::Child) => loop {
                // SAFETY: pause only waits for a signal.
                unsafe { libc::pause() };
            },
            Ok(Forked::Parent(pid)) => {
                let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
                let pid = pid.to_rustix().unwrap();
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
                std::fs::remove_dir(&dir).unwrap();
                assert!(
                    cg.lines()
                        .any(|l| l.starts_with("0::") && l.ends_with(&format!("/{name}"))),
                    "child's cgroups: {cg}"
                );
            }
            Err(e) => {
                std::fs::remove_dir(&dir).unwrap();
                assert!(clone3_unavailable(e), "clone3: {e}");
                crate::sys::testing::skip(&format!(
                    "clone3 with CLONE_INTO_CGROUP unavailable ({e})"
                ));
            }
        }
    }
}
