//! Process attributes from `process`: user and groups, rlimits, umask, cwd, the executable.
//! Init and exec both apply these, in the container, before execve.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{PosixRlimit, Process};

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
pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for r in rlimits {
        let resource = r.typ() as i32;
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        rustix_setrlimit(resource, lim).with_ctx(|| {
            format!(
                "setrlimit {:?} (soft {}, hard {})",
                r.typ(),
                r.soft(),
                r.hard()
            )
        })?;
    }
    Ok(())
}

fn rustix_setrlimit(resource: i32, lim: libc::rlimit) -> std::io::Result<()> {
    crate::sys::process::setrlimit(resource, &lim)
}

/// Switches to the config's user: supplementary groups, then gid, then uid. Capabilities
/// survive the switch (PR_SET_KEEPCAPS) so they can be set to the config's afterwards.
pub fn switch_user(p: &Process, setgroups_denied: bool) -> Result<()> {
    let user = p.user();
    let uid = Uid::from_raw(user.uid());
    let gid = Gid::from_raw(user.gid());
    let groups: Vec<Gid> = user
        .additional_gids()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    match nix::unistd::setgroups(&groups) {
        // In a user namespace mapped without privilege setgroups(2) is denied for good; with
        // no additional groups asked for there is nothing to set (runc skips it too).
        Err(nix::errno::Errno::EPERM) if groups.is_empty() && setgroups_denied => {}
        other => other.with_ctx(|| format!("setgroups {groups:?}"))?,
    }
    nix::sys::prctl::set_keepcaps(true).ctx("set keepcaps")?;
    nix::unistd::setresgid(gid, gid, gid).with_ctx(|| format!("setgid {gid}"))?;
    nix::unistd::setresuid(uid, uid, uid).with_ctx(|| format!("setuid {uid}"))?;
    nix::sys::prctl::set_keepcaps(false).ctx("clear keepcaps")?;
    Ok(())
}

/// The umask of the process: the config's, or 0022 as runc gives.
pub fn set_umask(p: &Process) {
    let mask = p.user().umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        mask as libc::mode_t,
    ));
}

/// chdir into cwd and check where we landed: a cwd outside the container's root (an fd
/// leaked from the host, a racing rename) must never reach the user process.
pub fn enter_cwd(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).with_ctx(|| format!("chdir to cwd ({})", cwd.display()))?;
    let actual = nix::unistd::getcwd().ctx("getcwd")?;
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

/// The process's environment: the config's, with the extras the runtime adds, and HOME
/// when the config has none — from the container's /etc/passwd, or "/" — as runc sets it.
pub fn environment(p: &Process, extra: &[String]) -> Vec<CString> {
    let env = p.env().as_deref().unwrap_or_default();
    let home = (!env.iter().any(|kv| kv.starts_with("HOME=")))
        .then(|| format!("HOME={}", home_dir(p.user().uid())));
    env.iter()
        .chain(extra)
        .chain(home.as_ref())
        .filter_map(|kv| CString::new(kv.as_str()).ok())
        .collect()
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
/// up in the process's PATH, inside the container (call this after pivot_root).
pub fn find_executable(p: &Process) -> Result<PathBuf> {
    let name = &p.args().as_deref().unwrap_or_default()[0];
    let not_found = || {
        Error::Init(format!(
            "unable to start container process: exec: {name:?}: executable file not found in $PATH"
        ))
    };
    if name.contains('/') {
        let path = if Path::new(name).is_absolute() {
            PathBuf::from(name)
        } else {
            p.cwd().join(name)
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
    let path_var = p
        .env()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(name);
        let candidate = if candidate.is_absolute() {
            candidate
        } else {
            p.cwd().join(candidate)
        };
        if check_executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(not_found())
}

fn check_executable(path: &Path) -> std::result::Result<(), nix::errno::Errno> {
    let meta = std::fs::metadata(path)
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT)))?;
    if meta.is_dir() {
        return Err(nix::errno::Errno::EISDIR);
    }
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK)
}

/// Lower-case errno text, as Go prints it (callers match on "no such file or directory").
fn describe(e: nix::errno::Errno) -> String {
    let s = std::io::Error::from(e).to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().collect::<String>() + chars.as_str(),
        None => s,
    }
}

pub fn cstring(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap_or_default()
}

/// When a process's seccomp filter goes in. Without no_new_privs loading a filter needs
/// CAP_SYS_ADMIN, so it must precede the user switch; with it, it comes last, just before
/// execve, so the filter constrains as little of the runtime's own work as possible. A notify
/// filter goes in while the runtime is still there to pass its listener on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeccompStage {
    Early,
    BeforeUser,
    Last,
}

pub fn seccomp_stage(p: &Process, prog: &crate::security::seccomp::Program) -> SeccompStage {
    if prog.notifies() {
        SeccompStage::Early
    } else if p.no_new_privileges() == Some(true) {
        SeccompStage::Last
    } else {
        SeccompStage::BeforeUser
    }
}

/// Loads `prog` if `stage` is its stage; returns the notify listener, if any.
pub fn load_seccomp_at(
    p: &Process,
    prog: Option<&crate::security::seccomp::Program>,
    stage: SeccompStage,
) -> Result<Option<std::os::fd::OwnedFd>> {
    match prog {
        Some(prog) if seccomp_stage(p, prog) == stage => crate::security::seccomp::load(prog),
        _ => Ok(None),
    }
}

fn no_capabilities() -> oci_spec::runtime::LinuxCapabilities {
    let mut c = oci_spec::runtime::LinuxCapabilities::default();
    let empty = Some(Default::default());
    c.set_bounding(empty.clone());
    c.set_effective(empty.clone());
    c.set_permitted(empty.clone());
    c.set_inheritable(empty.clone());
    c.set_ambient(empty);
    c
}

/// The LSM labels of a process, checked against what the host has (before anything exists).
pub fn check_labels(p: &Process, mount_label: Option<&str>) -> Result<()> {
    let labels = crate::security::lsm::Labels {
        apparmor_profile: p.apparmor_profile().as_deref(),
        selinux_label: p.selinux_label().as_deref(),
        mount_label,
    };
    crate::security::lsm::check(&labels, crate::security::lsm::Host::detect())
}

/// Warns about the capabilities [`become_user`] will leave out (call while the log is open).
pub fn warn_ungrantable(p: &Process) -> Result<()> {
    let none = no_capabilities();
    let caps = p.capabilities().as_ref().unwrap_or(&none);
    crate::security::capabilities::warn_ungrantable(caps)
}

/// Capabilities, user, umask, cwd: the process's identity.
pub fn become_user(p: &Process, setgroups_denied: bool) -> Result<()> {
    // No `capabilities` means none at all (oci-spec's Default would bring a default set).
    let none = no_capabilities();
    let caps = p.capabilities().as_ref().unwrap_or(&none);
    crate::security::capabilities::drop_bounding(caps)?;
    switch_user(p, setgroups_denied)?;
    crate::security::capabilities::apply(caps)?;
    set_umask(p);
    enter_cwd(p.cwd())
}

/// The AppArmor profile and SELinux label the next execve takes on. As in runc, they are set
/// before init waits for `start` (and so before startContainer hooks), and before init and
/// exec close the runtime's fds: the writes need the runtime's procfs.
pub fn apply_labels(p: &Process) -> Result<()> {
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        crate::security::apparmor::apply(profile)?;
    }
    if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        crate::security::selinux::set_exec_label(label)?;
    }
    Ok(())
}

/// The last steps: no_new_privs, seccomp (when it comes last), fds, execve. Returns only on
/// failure.
pub fn exec(
    p: &Process,
    exe: &CString,
    env: &[CString],
    keep_fds: u32,
    seccomp: Option<&crate::security::seccomp::Program>,
) -> Error {
    if p.no_new_privileges() == Some(true) {
        if let Err(e) = crate::security::set_no_new_privs() {
            return e;
        }
    }
    if let Err(e) = load_seccomp_at(p, seccomp, SeccompStage::Last) {
        return e;
    }
    if let Err(e) = pass_fds(keep_fds) {
        return e;
    }
    let args: Vec<CString> = p
        .args()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|a| CString::new(a.as_str()).ok())
        .collect();
    match nix::unistd::execve(exe, &args, env) {
        Err(e) => Error::os(format!("exec {}", exe.to_string_lossy()), e),
    }
}

/// Only stdio and the preserved fds reach the user process.
fn pass_fds(keep: u32) -> Result<()> {
    for fd in 3..3 + keep as i32 {
        crate::sys::exec::clear_cloexec(fd).with_ctx(|| format!("pass preserved fd {fd}"))?;
    }
    crate::sys::exec::cloexec_from(3 + keep).ctx("close_range")
}
