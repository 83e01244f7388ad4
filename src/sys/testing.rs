//! Test-only wrappers: the unsafe calls the unit tests make (fork, raw system calls with
//! chosen arguments, adopting an fd the kernel passed), kept here so the rest of the crate
//! denies unsafe code without exception.

use std::ffi::{CStr, CString};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use rustix::process::Pid;

/// What [`fork`] returned in this process.
pub enum ForkResult {
    Parent { child: Pid },
    Child,
}

/// fork(2) for a test that runs a step in a child (libc's: rustix offers fork only in its
/// unstable runtime module, without glibc's atfork handling). The child must only run the
/// test's closure and leave through [`super::clone::exit_now`] or an exec, never return into
/// the test harness.
pub fn fork() -> rustix::io::Result<ForkResult> {
    // SAFETY: glibc's fork makes malloc usable in the child of a threaded process, and every
    // caller's child ends in exit_now or exec, so no other thread's state is relied on.
    match unsafe { libc::fork() } {
        -1 => Err(super::last_errno()),
        0 => Ok(ForkResult::Child),
        pid => Ok(ForkResult::Parent {
            child: Pid::from_raw(pid).expect("fork returned a positive pid"),
        }),
    }
}

/// alarm(2): a child that hangs dies of SIGALRM (rustix has no alarm).
pub fn alarm(secs: u32) {
    // SAFETY: alarm only arms a timer of this process; no memory is passed.
    unsafe { libc::alarm(secs) };
}

/// execv(3) with this process's environment (rustix has no execv outside its unstable
/// runtime module). Returns only on failure.
pub fn execv(path: &CStr, argv: &[CString]) -> std::io::Error {
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: `path` is a C string and `ptrs` a NULL-terminated array of pointers into
    // `argv`'s C strings, all alive across the call.
    unsafe { libc::execv(path.as_ptr(), ptrs.as_ptr()) };
    std::io::Error::last_os_error()
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
/// shows in every run. Stable Rust has no run-time `ignore`: the harness still lists the
/// test as passed; the line is what says it did not run. Call it and return.
///
/// The line goes out in one write, so it stays whole among the harness's own output; with
/// `-q` it may follow the progress dots on the same line, so count with
/// `grep -o 'SKIP [^ ]*: '` rather than `^SKIP`.
pub fn skip(why: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("?");
    let line = format!("SKIP {name}: {why}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Whether the tests run as root; a test that needs it calls `skip` otherwise.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// dup2(2) onto a chosen fd number that nothing in the test owns (rustix's dup2 wants the
/// target as an owned fd).
pub fn dup2_raw(from: RawFd, to: RawFd) -> std::io::Result<()> {
    // SAFETY: dup2 only changes the fd table; `to` is a number the test means to replace.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `check` in a forked child (libc's fork, so the child may allocate) and asserts it
/// returned true: fd tables and the like are per process, so the test's own stay as they are.
pub fn in_forked_child(check: impl FnOnce() -> bool) {
    match fork().unwrap() {
        ForkResult::Child => {
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check));
            let code = if matches!(ok, Ok(true)) { 0 } else { 1 };
            // SAFETY: _exit never returns and touches no memory of ours (sys::clone::exit_now
            // does the same, but the tests of sys::clone use this module: no circle).
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            let wait = rustix::process::WaitOptions::empty();
            let (_, status) = rustix::process::waitpid(Some(child), wait)
                .unwrap()
                .unwrap();
            assert_eq!(status.exit_status(), Some(0), "{status:?}");
        }
    }
}
