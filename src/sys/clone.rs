//! clone(2) used like fork(2), with namespace flags: one call creates init and its namespaces.

use nix::sched::CloneFlags;
use nix::unistd::Pid;

/// What a fork-like clone returned in this process.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// clone(2) with a NULL stack: the child runs on a copy of the caller's stack, as with fork.
///
/// The caller must be single-threaded (the child gets only the calling thread) and the child
/// must end in execve or `_exit`, never by returning into code that assumes the parent's state.
pub fn fork_into(flags: CloneFlags) -> nix::Result<Forked> {
    let flags = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: a NULL stack makes clone behave like fork: the child continues on its own
    // copy-on-write copy of this stack. No parent/child TID pointers or TLS are passed.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match ret {
        -1 => Err(nix::errno::Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Ends the calling process at once, without running destructors or atexit handlers (which
/// belong to the parent's copy of the state).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no memory of ours.
    unsafe { libc::_exit(code) }
}
