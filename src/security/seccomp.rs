//! Seccomp filters from linux.seccomp, compiled with libseccomp in the runtime before the
//! clone (a bad profile fails `create` with nothing made) and loaded by init just before
//! execve.
//!
//! Like runc, syscalls the profile does not name and that are newer than every syscall it
//! does name return ENOSYS instead of the default action, so libc falls back to an older call
//! (clone3 → clone) rather than failing on a profile written before the syscall existed.
//! Compiled programs are cached by a hash of the profile, the architecture and the libseccomp
//! version: compiling a Docker-sized profile costs more than the rest of `create`.

use std::io::{Read, Seek};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};
use sha2::{Digest, Sha256};

use crate::{sys, Context, Error, Result};

/// A compiled filter, ready to load.
#[derive(Debug, Clone)]
pub struct Program {
    pub bpf: Vec<u8>,
    pub flags: u32,
    /// The profile uses SCMP_ACT_NOTIFY: loading returns a listener for the agent.
    pub notify: bool,
}

/// The JSON name serde gives an oci-spec enum value ("SCMP_ACT_ERRNO", "SCMP_CMP_EQ", ...).
fn name_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn action(a: LinuxSeccompAction, errno: Option<u32>, default_errno: u32) -> Result<ScmpAction> {
    Ok(match name_of(&a).as_str() {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno.unwrap_or(default_errno) as i32),
        "SCMP_ACT_TRACE" => ScmpAction::Trace(errno.unwrap_or(default_errno) as u16),
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_LOG" => ScmpAction::Log,
        "SCMP_ACT_NOTIFY" => ScmpAction::Notify,
        other => return Err(Error::invalid(format!("unknown seccomp action {other:?}"))),
    })
}

/// The comparison and the value compared. For MASKED_EQ the spec's `value` is the mask and
/// `valueTwo` what the masked argument must equal (runc's and libseccomp's order).
fn operator(op: &str, value: u64, value_two: Option<u64>) -> Result<(ScmpCompareOp, u64)> {
    let op = match op {
        "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
        "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
        "SCMP_CMP_GT" => ScmpCompareOp::Greater,
        "SCMP_CMP_MASKED_EQ" => {
            return Ok((ScmpCompareOp::MaskedEqual(value), value_two.unwrap_or(0)))
        }
        other => {
            return Err(Error::invalid(format!(
                "unknown seccomp operator {other:?}"
            )))
        }
    };
    Ok((op, value))
}

/// Every action, operator, architecture and flag hull takes (for `features`).
pub const ACTIONS: [&str; 9] = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];
pub const OPERATORS: [&str; 7] = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];
pub const FLAGS: [&str; 3] = [
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
];

pub fn features() -> serde_json::Value {
    serde_json::json!({
        "enabled": true,
        "actions": ACTIONS,
        "operators": OPERATORS,
        "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "knownFlags": FLAGS,
        "supportedFlags": FLAGS,
    })
}

/// Compiles `s` (from the cache when `cache` holds it).
pub fn compile(s: &LinuxSeccomp, cache: Option<&Path>) -> Result<Program> {
    let notify = s
        .syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|r| name_of(&r.action()) == "SCMP_ACT_NOTIFY")
        || name_of(&s.default_action()) == "SCMP_ACT_NOTIFY";
    let flags = filter_flags(s)?;
    if notify && s.listener_path().is_none() {
        return Err(Error::invalid(
            "linux.seccomp: SCMP_ACT_NOTIFY needs listenerPath",
        ));
    }
    let key = cache.map(|dir| dir.join(cache_key(s)));
    if let Some(path) = &key {
        if let Ok(bpf) = std::fs::read(path) {
            if !bpf.is_empty() && bpf.len() % 8 == 0 {
                return Ok(Program { bpf, flags, notify });
            }
        }
    }
    let bpf = build(s)?;
    if let Some(path) = &key {
        // A cache that cannot be written only costs the next create a compile.
        let _ = store(path, &bpf);
    }
    Ok(Program { bpf, flags, notify })
}

fn filter_flags(s: &LinuxSeccomp) -> Result<u32> {
    let mut flags = 0;
    for f in s.flags().as_deref().unwrap_or_default() {
        flags |= match name_of(f).as_str() {
            "SECCOMP_FILTER_FLAG_LOG" => sys::seccomp::FLAG_LOG,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => sys::seccomp::FLAG_SPEC_ALLOW,
            "SECCOMP_FILTER_FLAG_TSYNC" => sys::seccomp::FLAG_TSYNC,
            other => {
                return Err(Error::invalid(format!(
                    "linux.seccomp.flags: unsupported flag {other:?}"
                )))
            }
        };
    }
    Ok(flags)
}

fn cache_key(s: &LinuxSeccomp) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(s).unwrap_or_default());
    h.update(std::env::consts::ARCH);
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        h.update(format!("{}.{}.{}", v.major, v.minor, v.micro));
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.bpf")
}

fn store(path: &Path, bpf: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_ctx(|| format!("create {}", dir.display()))?;
    }
    crate::container::state::write_atomic(path, bpf, 0o600)
}

/// The rules for one syscall entry: conditions on the same argument are alternatives (one
/// rule each), conditions on different arguments must all hold (one rule), as runc reads them.
fn conditions(rule: &LinuxSyscall, i: usize) -> Result<Vec<Vec<ScmpArgCompare>>> {
    let args = rule.args().as_deref().unwrap_or_default();
    let mut cmps = Vec::new();
    for (j, a) in args.iter().enumerate() {
        if a.index() > 5 {
            return Err(Error::invalid(format!(
                "linux.seccomp.syscalls[{i}].args[{j}].index {}: must be 0-5",
                a.index()
            )));
        }
        let (op, datum) = operator(&name_of(&a.op()), a.value(), a.value_two())
            .map_err(|e| Error::invalid(format!("linux.seccomp.syscalls[{i}].args[{j}]: {e}")))?;
        cmps.push((a.index(), ScmpArgCompare::new(a.index() as u32, op, datum)));
    }
    let mut indexes: Vec<usize> = cmps.iter().map(|(ix, _)| *ix).collect();
    indexes.sort();
    indexes.dedup();
    if indexes.len() == cmps.len() {
        return Ok(vec![cmps.into_iter().map(|(_, c)| c).collect()]);
    }
    Ok(cmps.into_iter().map(|(_, c)| vec![c]).collect())
}

fn build(s: &LinuxSeccomp) -> Result<Vec<u8>> {
    let seccomp_err = |what: String| {
        move |e: libseccomp::error::SeccompError| Error::invalid(format!("{what}: {e}"))
    };
    let default_errno = s.default_errno_ret().unwrap_or(libc::EPERM as u32);
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        libc::EPERM as u32,
    )?;
    let mut ctx = ScmpFilterContext::new(default)
        .map_err(seccomp_err("linux.seccomp.defaultAction".into()))?;
    for (i, arch) in s
        .architectures()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let name = name_of(arch);
        let arch: ScmpArch = name.parse().map_err(|_| {
            Error::invalid(format!(
                "linux.seccomp.architectures[{i}]: unknown {name:?}"
            ))
        })?;
        ctx.add_arch(arch)
            .map_err(seccomp_err(format!("linux.seccomp.architectures[{i}]")))?;
    }
    let mut named: Vec<i32> = Vec::new();
    for (i, rule) in s
        .syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let act = action(rule.action(), rule.errno_ret(), default_errno)?;
        let conds = conditions(rule, i)?;
        for name in rule.names() {
            // A name this libseccomp does not know is skipped, as runc skips it.
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                continue;
            };
            named.push(i32::from(nr));
            if act == default {
                continue;
            }
            for c in &conds {
                let added = if c.is_empty() {
                    ctx.add_rule(act, nr)
                } else {
                    ctx.add_rule_conditional(act, nr, c)
                };
                added.map_err(seccomp_err(format!("linux.seccomp.syscalls[{i}] ({name})")))?;
            }
        }
    }
    add_enosys_for_newer(&mut ctx, &named, default)?;
    let mut memfd = memfd()?;
    ctx.export_bpf(&memfd)
        .map_err(seccomp_err("export seccomp program".into()))?;
    let mut bpf = Vec::new();
    memfd.rewind().ctx("rewind seccomp program")?;
    memfd.read_to_end(&mut bpf).ctx("read seccomp program")?;
    Ok(bpf)
}

/// Syscalls above the newest one the profile names get ENOSYS (see the module comment).
fn add_enosys_for_newer(
    ctx: &mut ScmpFilterContext,
    named: &[i32],
    default: ScmpAction,
) -> Result<()> {
    if matches!(default, ScmpAction::Allow | ScmpAction::Log) {
        return Ok(());
    }
    let Some(&newest) = named.iter().filter(|n| **n >= 0).max() else {
        return Ok(());
    };
    // The highest syscall number in use on any architecture hull runs on is below this.
    const LAST: i32 = 600;
    for nr in newest + 1..LAST {
        if named.contains(&nr) {
            continue;
        }
        // By name, so libseccomp maps it on every architecture of the filter; a syscall one
        // of those architectures lacks is refused there, and that is no loss.
        let Ok(name) = ScmpSyscall::from(nr).get_name_by_arch(ScmpArch::Native) else {
            continue;
        };
        if let Ok(sc) = ScmpSyscall::from_name(&name) {
            let _ = ctx.add_rule(ScmpAction::Errno(libc::ENOSYS), sc);
        }
    }
    Ok(())
}

fn memfd() -> Result<std::fs::File> {
    let fd = nix::sys::memfd::memfd_create(c"hull-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .ctx("memfd_create")?;
    Ok(std::fs::File::from(fd))
}

/// Installs the program; returns the notify listener when the profile has one.
pub fn load(p: &Program) -> Result<Option<OwnedFd>> {
    let flags = p.flags
        | if p.notify {
            sys::seccomp::FLAG_NEW_LISTENER
        } else {
            0
        };
    sys::seccomp::load(&p.bpf, flags).ctx("load seccomp filter")
}

/// Sends the listener to the agent at listenerPath, as the runtime-spec describes: one
/// message with the container process state and the fd.
pub fn send_listener(
    s: &LinuxSeccomp,
    state: &serde_json::Value,
    pid: i32,
    fd: &OwnedFd,
) -> Result<()> {
    let path: PathBuf = s.listener_path().clone().unwrap_or_default();
    let what = || format!("linux.seccomp.listenerPath {}", path.display());
    let msg = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": s.listener_metadata().clone().unwrap_or_default(),
        "state": state,
    });
    let sock = std::os::unix::net::UnixStream::connect(&path).with_ctx(what)?;
    sys::socket::send_packet(
        std::os::fd::AsFd::as_fd(&sock),
        msg.to_string().as_bytes(),
        Some(std::os::fd::AsRawFd::as_raw_fd(fd)),
    )
    .with_ctx(what)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    /// Loads `prog` in a forked child and returns the errno of each raw syscall it makes.
    fn errnos_under(prog: &Program, calls: &[(libc::c_long, [usize; 2])]) -> Vec<i32> {
        let mut fds = [0; 2];
        // SAFETY: pipe fills two fds; fork gives a child that only makes raw syscalls and
        // writes to the pipe before _exit.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let pid = libc::fork();
            if pid == 0 {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                let mut out = [0i32; 8];
                if sys::seccomp::load(&prog.bpf, prog.flags).is_ok() {
                    for (i, (nr, args)) in calls.iter().enumerate() {
                        let r = libc::syscall(*nr, args[0], args[1]);
                        out[i] = if r < 0 { *libc::__errno_location() } else { 0 };
                    }
                } else {
                    out[0] = -1;
                }
                libc::write(fds[1], out.as_ptr().cast(), std::mem::size_of_val(&out));
                libc::_exit(0);
            }
            libc::close(fds[1]);
            let mut out = [0i32; 8];
            libc::read(fds[0], out.as_mut_ptr().cast(), std::mem::size_of_val(&out));
            libc::close(fds[0]);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
            out[..calls.len()].to_vec()
        }
    }

    #[test]
    fn newer_syscalls_get_enosys_older_get_the_default() {
        // The newest syscall named is exit_group (231 on x86_64): mkdir (83) gets the default
        // EPERM, mkdirat (258) and clone3 (435) get ENOSYS.
        let s = profile(
            serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["read", "write", "exit", "exit_group", "getpid", "rt_sigreturn"], "action": "SCMP_ACT_ALLOW"}
            ]}),
        );
        let prog = compile(&s, None).unwrap();
        let path = c"/nonexistent-dir".as_ptr() as usize;
        let got = errnos_under(
            &prog,
            &[
                (libc::SYS_mkdir, [path, 0o755]),
                (libc::SYS_mkdirat, [libc::AT_FDCWD as usize, path]),
                (libc::SYS_clone3, [0, 0]),
            ],
        );
        assert_eq!(got, vec![libc::EPERM, libc::ENOSYS, libc::ENOSYS]);
    }

    #[test]
    fn cache_hit_gives_the_same_program() {
        let dir = std::env::temp_dir().join(format!("hull-seccomp-cache-{}", std::process::id()));
        let s = profile(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5}
            ]}),
        );
        let first = compile(&s, Some(&dir)).unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1, "one cached program");
        let second = compile(&s, Some(&dir)).unwrap();
        assert_eq!(first.bpf, second.bpf);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
