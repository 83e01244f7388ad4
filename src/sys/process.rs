//! Process-wide settings rustix lacks or wraps in a form that does not fit.

/// setrlimit(2) with the raw resource number from the config's RLIMIT_* name (rustix takes
/// its own `Resource` enum, which has no conversion from the number).
pub fn setrlimit(resource: i32, lim: &libc::rlimit) -> std::io::Result<()> {
    // SAFETY: `lim` points to a valid rlimit for the duration of the call.
    let ret = unsafe { libc::setrlimit(resource as libc::__rlimit_resource_t, lim) };
    if ret == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// setdomainname(2).
pub fn setdomainname(name: &str) -> std::io::Result<()> {
    Ok(rustix::system::setdomainname(name.as_bytes())?)
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): a new anonymous session keyring (rustix has no
/// keyctl).
pub fn join_session_keyring() -> std::io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: a NULL name asks for an anonymous keyring; no memory is passed.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, 0usize) };
    if ret == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Signal state the user process must not inherit from the runtime: the runtime's blocked
/// signals (`run` blocks the ones it forwards) and Rust's ignored SIGPIPE (an ignored signal
/// stays ignored across execve). rustix has neither sigprocmask nor signal handlers outside
/// its unstable runtime module.
pub fn reset_signals() -> std::io::Result<()> {
    // SAFETY: `empty` is a sigset_t that sigemptyset initialises before pthread_sigmask reads
    // it; no old mask is asked for.
    let ret = unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut())
    };
    if ret != 0 {
        return Err(std::io::Error::from_raw_os_error(ret));
    }
    // SAFETY: installing SIG_DFL runs no handler code; init is single-threaded.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) } == libc::SIG_ERR {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// setgroups(2), setresgid(2) and setresuid(2) as libc makes them: for every thread of the
/// process. rustix has only the raw per-thread system calls (`rustix::thread::set_thread_*`).
pub fn set_groups(groups: &[u32]) -> std::io::Result<()> {
    // SAFETY: the pointer and length describe `groups` for the duration of the call.
    if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// See [`set_groups`].
pub fn set_res_gid(gid: u32) -> std::io::Result<()> {
    // SAFETY: integer arguments only.
    if unsafe { libc::setresgid(gid, gid, gid) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// See [`set_groups`].
pub fn set_res_uid(uid: u32) -> std::io::Result<()> {
    // SAFETY: integer arguments only.
    if unsafe { libc::setresuid(uid, uid, uid) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// What Rust's runtime does before `main` that hull keeps (the binary provides its own C
/// `main`, see src/main.rs): fds 0, 1 and 2 are made open (on /dev/null) so that no file hull
/// opens takes a stdio number, and SIGPIPE is ignored so that a write to a closed pipe or
/// socket is an EPIPE error rather than death (`cli::out` turns EPIPE on stdout back into
/// runc's quiet SIGPIPE).
pub fn startup() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfds for the duration of the call.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if polled >= 0 {
        for p in &fds {
            if p.revents & libc::POLLNVAL != 0 {
                // SAFETY: a constant NUL-terminated path; the fd is the lowest free number,
                // which is `p.fd` since the lower ones are open or opened in this loop.
                unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            }
        }
    }
    // SAFETY: SIG_IGN runs no handler code; nothing else runs yet.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Ends the process by SIGPIPE, as a Go program (runc) does when it writes to a stdout whose
/// reader is gone: no message, and the caller's shell sees 128+13.
pub fn die_of_sigpipe() -> ! {
    // SAFETY: restoring SIG_DFL and raising a signal run no handler code of ours.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(libc::SIGPIPE);
        libc::_exit(128 + libc::SIGPIPE)
    }
}
