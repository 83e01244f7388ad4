//! Test-only wrappers: the unsafe calls the unit tests make (fork, raw system calls with
//! chosen arguments, adopting an fd the kernel passed), kept here so the rest of the crate
//! denies unsafe code without exception.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

pub use nix::unistd::ForkResult;

/// fork(2) for a test that runs a step in a child. The child must only run the test's
/// closure and leave through [`super::clone::exit_now`] or an exec, never return into the
/// test harness.
pub fn fork() -> nix::Result<ForkResult> {
    // SAFETY: glibc's fork makes malloc usable in the child of a threaded process, and every
    // caller's child ends in exit_now or exec, so no other thread's state is relied on.
    unsafe { nix::unistd::fork() }
}

/// syscall(2) with up to five integer arguments, returning its raw result (-1 and errno on
/// failure). Tests use it to probe what a seccomp filter lets through.
pub fn syscall(nr: libc::c_long, args: &[u64]) -> libc::c_long {
    let a = |i: usize| args.get(i).copied().unwrap_or(0);
    assert!(args.len() <= 5, "at most five syscall arguments");
    // SAFETY: test code only: callers pass integers, or pointers (as integers) to buffers and
    // C strings that live across the call; the calls probed affect only the forked child
    // they run in.
    unsafe { libc::syscall(nr, a(0), a(1), a(2), a(3), a(4)) }
}

/// Takes ownership of an fd the kernel has just installed (e.g. received with SCM_RIGHTS).
pub fn adopt_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller hands over a new descriptor that nothing else owns or closes.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Whether `fd` has FD_CLOEXEC set (false when it is not open).
pub fn is_cloexec(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the flags of the fd, whatever number it is.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags != -1 && flags & libc::FD_CLOEXEC != 0
}

/// A test that cannot run on this host says so instead of passing quietly: a `SKIP` line
/// naming the test and why, written to stderr directly, past the harness's capture, so it
/// shows in every run (`grep -c '^SKIP '` counts them). Stable Rust has no run-time
/// `ignore`: the harness still lists the test as passed; the line is what says it did not
/// run. Call it and return.
pub fn skip(why: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("?");
    let _ = writeln!(std::io::stderr().lock(), "SKIP {name}: {why}");
}

/// Whether the tests run as root; a test that needs it calls `skip` otherwise.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
