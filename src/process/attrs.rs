//! Process attributes from `process`: environment, executable, user and groups, rlimits,
//! umask, cwd, LSM labels, and the last steps before execve. Init and exec both apply these,
//! in the container.
//!
//! The order of the last steps is runc's, tightened so that the seccomp filter is the very
//! last thing before execve: labels → the runtime's fds closed → cwd (as root) → bounding set
//! → stdio ownership → user → cwd (as the user, when root could not reach it) → capabilities →
//! no_new_privs → passed fds → seccomp → execve. Without no_new_privs loading the filter needs CAP_SYS_ADMIN, which the
//! capabilities step then keeps until [`Identity::after_seccomp`] drops it with one capset.

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::thread::{CapabilitySet, CapabilitySets};

use crate::plan::process::{Process, Rlimit, User};
use crate::plan::KernelAttrs;
use crate::security::seccomp::Program;
use crate::{Context, Error, Result};

/// Whether this user namespace was mapped with setgroups denied. Init and exec read it before
/// they close the runtime's fds (and only in a user namespace: elsewhere root may always
/// setgroups), and pass the answer to [`become_user`].
pub fn setgroups_denied() -> bool {
    crate::procfs::Proc::get()
        .and_then(|p| p.read(crate::procfs::Base::ProcSelf, "setgroups"))
        .is_ok_and(|s| s.trim() == "deny")
}

/// Sets every rlimit in the config. Raising a hard limit needs CAP_SYS_RESOURCE.
pub fn set_rlimits(rlimits: &[Rlimit]) -> Result<()> {
    for r in rlimits {
        let lim = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        crate::sys::process::setrlimit(r.resource, &lim)
            .with_ctx(|| format!("setrlimit {:?} (soft {}, hard {})", r.typ, r.soft, r.hard))?;
    }
    Ok(())
}

/// Switches to the config's user: supplementary groups, then gid, then uid. Capabilities
/// survive the switch (PR_SET_KEEPCAPS) so they can be set to the config's afterwards.
fn switch_user(user: &User, setgroups_denied: bool) -> Result<()> {
    let (uid, gid) = (user.uid, user.gid);
    let groups: &[u32] = &user.additional_gids;
    use crate::sys::process::{set_groups, set_res_gid, set_res_uid};
    match set_groups(groups) {
        // In a user namespace mapped without privilege setgroups(2) is denied for good; with
        // no additional groups asked for there is nothing to set (runc skips it too).
        Err(e)
            if e.raw_os_error() == Some(libc::EPERM) && groups.is_empty() && setgroups_denied => {}
        other => other.with_ctx(|| format!("setgroups {groups:?}"))?,
    }
    rustix::thread::set_keep_capabilities(true).ctx("set keepcaps")?;
    set_res_gid(gid).with_ctx(|| format!("setgid {gid}"))?;
    set_res_uid(uid).with_ctx(|| format!("setuid {uid}"))?;
    rustix::thread::set_keep_capabilities(false).ctx("clear keepcaps")?;
    Ok(())
}

/// The umask of the process (the plan has the config's, or 0022 as runc gives).
fn set_umask(mask: u32) {
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(mask));
}

/// chdir to cwd, runc's words on failure.
fn chdir(cwd: &Path) -> rustix::io::Result<()> {
    rustix::process::chdir(cwd)
}

fn chdir_failed(cwd: &Path, e: Errno) -> Error {
    Error::os(
        format!("chdir to cwd ({:?}) set in config.json failed", cwd),
        std::io::Error::from(e),
    )
}

/// Checks where chdir landed: a cwd outside the container's root (an fd leaked from the
/// host, a racing rename) must never reach the user process (CVE-2024-21626).
fn verify_cwd(cwd: &Path) -> Result<()> {
    let actual = rustix::process::getcwd(Vec::new())
        .ctx("getcwd")?
        .into_bytes();
    // The raw system call names a cwd outside our root "(unreachable)/...": ENOENT, as libc's
    // getcwd makes it.
    if !actual.starts_with(b"/") {
        return Err(Errno::NOENT).ctx("getcwd");
    }
    let actual = PathBuf::from(std::ffi::OsString::from_vec(actual));
    if actual != cwd && !cwd_equivalent(&actual, cwd) {
        return Err(Error::Other(format!(
            "cwd {}: landed in {} instead",
            cwd.display(),
            actual.display()
        )));
    }
    Ok(())
}

/// The same directory reached through a symlink inside the container counts as the cwd.
fn cwd_equivalent(actual: &Path, asked: &Path) -> bool {
    std::fs::canonicalize(asked).is_ok_and(|c| c == actual)
}

/// The process's final environment: the plan's, with HOME from the container's /etc/passwd
/// (or "/") when the config has none (call after pivot_root).
pub fn environment(p: &Process) -> Vec<String> {
    let mut env = p.env.clone();
    if !p.home {
        env.push(format!("HOME={}", home_dir(p.user.uid)));
    }
    env
}

/// The home directory of `uid` in the container's /etc/passwd (call after pivot_root).
fn home_dir(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
            })
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into())
}

/// Finds args[0] the way runc does: a name with a `/` is taken as a path, any other is looked
/// up in the PATH of `env` (the prepared environment), inside the container (call this after
/// pivot_root).
pub fn find_executable(p: &Process, env: &[String]) -> Result<PathBuf> {
    let name = &p.args[0];
    let not_found = || {
        Error::Init(format!(
            "unable to start container process: exec: {name:?}: executable file not found in $PATH"
        ))
    };
    if name.contains('/') {
        let path = if Path::new(name).is_absolute() {
            PathBuf::from(name)
        } else {
            p.cwd.join(name)
        };
        return match check_executable(&path) {
            Ok(()) => Ok(path),
            Err(e) => Err(Error::Init(format!(
                "unable to start container process: exec: {name:?}: stat {}: {}",
                path.display(),
                describe(e)
            ))),
        };
    }
    let path_var = env
        .iter()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(name);
        let candidate = if candidate.is_absolute() {
            candidate
        } else {
            p.cwd.join(candidate)
        };
        if check_executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(not_found())
}

fn check_executable(path: &Path) -> std::result::Result<(), Errno> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Errno::from_raw_os_error(e.raw_os_error().unwrap_or(libc::ENOENT)))?;
    if meta.is_dir() {
        return Err(Errno::ISDIR);
    }
    rustix::fs::access(path, rustix::fs::Access::EXEC_OK)
}

/// Lower-case errno text, as Go prints it (callers match on "no such file or directory").
fn describe(e: Errno) -> String {
    let s = std::io::Error::from(e).to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().collect::<String>() + chars.as_str(),
        None => s,
    }
}

/// execve's arguments, built before the last steps: after the seccomp filter nothing may be
/// allocated (an allocation can be a system call the profile did not ask for).
pub struct ExecArgs {
    exe: CString,
    _strings: Vec<CString>,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
}

impl ExecArgs {
    pub fn new(exe: &Path, args: &[String], env: &[String]) -> Result<ExecArgs> {
        let cstr = |s: &[u8], what: &str| {
            CString::new(s).map_err(|_| Error::invalid(format!("{what}: contains a NUL byte")))
        };
        let exe = cstr(exe.as_os_str().as_bytes(), "process.args[0]")?;
        let args: Vec<CString> = args
            .iter()
            .map(|a| cstr(a.as_bytes(), "process.args"))
            .collect::<Result<_>>()?;
        let env: Vec<CString> = env
            .iter()
            .map(|e| cstr(e.as_bytes(), "process.env"))
            .collect::<Result<_>>()?;
        // The pointers stay valid when `ExecArgs` moves: they point into each CString's
        // own heap buffer, which the vectors keep.
        let ptrs = |v: &[CString]| {
            v.iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        let argv = ptrs(&args);
        let envp = ptrs(&env);
        let mut strings = args;
        strings.extend(env);
        Ok(ExecArgs {
            exe,
            _strings: strings,
            argv,
            envp,
        })
    }

    pub fn exe(&self) -> &CStr {
        &self.exe
    }

    /// execve. Returns only on failure; allocates only then.
    pub fn exec(&self) -> Error {
        let e = crate::sys::exec::execve(&self.exe, &self.argv, &self.envp);
        Error::os(format!("exec {}", self.exe.to_string_lossy()), e)
    }
}

/// How the kernel runs the process: linux.personality, linux.memoryPolicy, process.scheduler
/// and process.ioPriority, all inherited across execve. Called just before the user switch:
/// real-time policies and I/O classes need the runtime's privileges, and the seccomp filter
/// loaded after it may forbid these calls (runc orders them the same way).
pub fn apply_kernel_attrs(p: &Process, container: &KernelAttrs) -> Result<()> {
    if let Some(persona) = &container.personality {
        super::personality::apply(persona)?;
    }
    if let Some(policy) = &container.memory_policy {
        super::mempolicy::apply(policy)?;
    }
    super::sched::apply(p.scheduler.as_ref(), p.io_priority.as_ref())
}

/// The AppArmor profile and SELinux label the next execve takes on. As in runc, they are set
/// before init waits for `start` (and so before startContainer hooks), and before init and
/// exec close the runtime's fds: the writes need the runtime's procfs.
pub fn apply_labels(p: &Process) -> Result<()> {
    if let Some(profile) = &p.apparmor_profile {
        crate::security::apparmor::apply(profile)?;
    }
    if let Some(label) = &p.selinux_label {
        crate::security::selinux::set_exec_label(label)?;
    }
    Ok(())
}

/// Warns about the capabilities [`become_user`] will leave out (call while the log is open).
pub fn warn_ungrantable(p: &Process) -> Result<()> {
    crate::security::capabilities::warn_ungrantable(&p.capabilities)
}

/// runc's fixStdioPermissions: stdio the runtime set up (a terminal's peer, pipes) is owned
/// by the process's uid, so it can use its terminal. /dev/null is left alone, and so is what
/// this user namespace cannot chown (EINVAL, EPERM) or a read-only /dev (EROFS). Only the uid
/// changes: the gid is the devpts mount's (gid=5 in the default spec).
fn own_stdio(uid: u32) -> Result<()> {
    use std::os::fd::AsFd;
    let null = rustix::fs::stat("/dev/null").ok().map(|s| s.st_rdev);
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let stdio = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
    for (n, fd) in stdio.into_iter().enumerate() {
        let st = match rustix::fs::fstat(fd) {
            Ok(st) => st,
            Err(Errno::BADF) => continue,
            Err(e) => return Err(e).with_ctx(|| format!("fstat fd {n}")),
        };
        let is_null = st.st_mode & libc::S_IFMT == libc::S_IFCHR && Some(st.st_rdev) == null;
        if st.st_uid == uid || is_null {
            continue;
        }
        match rustix::fs::fchown(fd, Some(rustix::fs::Uid::from_raw(uid)), None) {
            Ok(()) => {}
            Err(Errno::INVAL | Errno::PERM | Errno::ROFS) => {}
            Err(e) => return Err(e).with_ctx(|| format!("chown fd {n} to uid {uid}")),
        }
    }
    Ok(())
}

/// What is left to do after the seccomp filter: drop CAP_SYS_ADMIN when it was kept only to
/// load the filter.
#[must_use]
pub struct Identity {
    after_filter: Option<CapabilitySets>,
}

impl Identity {
    /// One capset(2) at most; nothing else.
    pub fn after_seccomp(self) -> Result<()> {
        match self.after_filter {
            Some(sets) => crate::security::capabilities::finish(sets),
            None => Ok(()),
        }
    }
}

/// The process's identity: cwd, bounding set, stdio ownership, user, capabilities, umask, then
/// no_new_privs (the exec labels and the runtime's fds are done before: see [`apply_labels`]).
/// `seccomp`: the filter that will follow; without no_new_privs it needs CAP_SYS_ADMIN, kept
/// here until [`Identity::after_seccomp`]. `setgroups_denied`: see [`setgroups_denied`].
///
/// The cwd is entered as root first, which reaches a directory only root may enter; when root
/// may not (a directory of the container's user on a root-squashing filesystem), again once
/// the user is set (runc's order, both ways).
pub fn become_user(
    p: &Process,
    seccomp: Option<&Program>,
    setgroups_denied: bool,
) -> Result<Identity> {
    let cwd = &p.cwd;
    let mut cwd_pending = false;
    match chdir(cwd) {
        Ok(()) => {}
        Err(Errno::ACCESS | Errno::PERM) => cwd_pending = true,
        Err(e) => return Err(chdir_failed(cwd, e)),
    }
    let caps = &p.capabilities;
    let nnp = p.no_new_privileges;
    let keep =
        if seccomp.is_some() && !nnp && !crate::security::capabilities::grants_sys_admin(caps) {
            CapabilitySet::SYS_ADMIN
        } else {
            CapabilitySet::empty()
        };
    crate::security::capabilities::drop_bounding(caps)?;
    own_stdio(p.user.uid)?;
    switch_user(&p.user, setgroups_denied)?;
    if cwd_pending {
        chdir(cwd).map_err(|e| chdir_failed(cwd, e))?;
    }
    verify_cwd(cwd)?;
    let after_filter = crate::security::capabilities::apply(caps, keep)?;
    set_umask(p.user.umask);
    if nnp {
        crate::security::set_no_new_privs()?;
    }
    Ok(Identity { after_filter })
}

/// Lets the fds the caller passed (3..3+keep, close-on-exec since hull claimed them) through
/// execve. Everything else is closed by then ([`crate::process::fds::close_others`]).
pub fn pass_fds(keep: u32) -> Result<()> {
    for fd in 3..3 + keep as i32 {
        crate::sys::exec::clear_cloexec(fd).with_ctx(|| format!("pass preserved fd {fd}"))?;
    }
    Ok(())
}

/// Loads the seccomp filter. A notify filter's listener goes to `hand_over` before anything
/// else runs under the filter (the listener is closed after it returns).
pub fn load_seccomp(
    prog: &Program,
    hand_over: impl FnOnce(std::os::fd::RawFd) -> Result<()>,
) -> Result<()> {
    if let Some(listener) = crate::security::seccomp::load(prog)? {
        hand_over(std::os::fd::AsRawFd::as_raw_fd(&listener))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_args_are_null_terminated_and_outlive_moves() {
        let a = ExecArgs::new(
            Path::new("/bin/sh"),
            &["sh".into(), "-c".into()],
            &["A=1".into()],
        )
        .unwrap();
        let moved = Box::new(a);
        assert_eq!(moved.argv.len(), 3);
        assert!(moved.argv[2].is_null() && moved.envp[1].is_null());
        assert_eq!(moved.argv[1], moved._strings[1].as_ptr());
        assert_eq!(moved.envp[0], moved._strings[2].as_ptr());
        assert_eq!(moved.exe().to_str().unwrap(), "/bin/sh");
    }
}
