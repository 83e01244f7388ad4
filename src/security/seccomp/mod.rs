//! Seccomp filters from `linux.seccomp`.
//!
//! The parent compiles the profile before it clones init ([`compile`]), so a bad
//! profile fails `create` with nothing left behind and init inherits a ready program;
//! init (or the exec'd process) installs it as its very last step before execve
//! ([`load`]). Compiling goes through libseccomp, as runc does, then prepends runc's
//! ENOSYS stub (see [`enosys`]); the result is cached by a hash of the profile
//! (see [`cache`]). With SCMP_ACT_NOTIFY, [`load`] returns the listener fd, which the
//! parent hands to the seccomp agent with [`send_listener`].

mod cache;
mod enosys;
mod notify;

use std::collections::HashSet;
use std::io::{Read, Seek};
use std::os::fd::OwnedFd;
use std::path::Path;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use crate::sys::seccomp as sys;
use crate::{Context, Error, Result};

pub use notify::{send_listener, ContainerProcessState};

/// One classic-BPF instruction, laid out as the kernel's `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// A compiled filter: the BPF program and the seccomp(2) flags to install it with.
/// Plain data, so it is cheap to keep across clone and fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
    flags: u32,
}

impl Program {
    /// Whether loading this program yields a notification listener (SCMP_ACT_NOTIFY).
    pub fn notifies(&self) -> bool {
        self.flags & sys::FLAG_NEW_LISTENER != 0
    }
    /// seccomp(2) filter flags the program is installed with.
    pub fn flags(&self) -> u32 {
        self.flags
    }
    pub fn instructions(&self) -> &[Insn] {
        &self.insns
    }
}

/// The kernel refuses longer programs (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

/// runc turns on libseccomp's binary-tree layout above this many rules; a linear
/// list is as fast for short profiles and libseccomp <= 2.5.4 mishandles empty trees.
const OPTIMIZE_ABOVE: usize = 32;

/// Every architecture name a profile may use, libseccomp's value for it, and the
/// AUDIT_ARCH value the kernel reports for its system calls.
const ARCHES: &[(&str, ScmpArch, u32)] = &[
    ("SCMP_ARCH_X86", ScmpArch::X86, 0x4000_0003),
    ("SCMP_ARCH_X86_64", ScmpArch::X8664, 0xc000_003e),
    // x32 shares x86_64's AUDIT_ARCH; its calls carry __X32_SYSCALL_BIT instead.
    ("SCMP_ARCH_X32", ScmpArch::X32, 0xc000_003e),
    ("SCMP_ARCH_ARM", ScmpArch::Arm, 0x4000_0028),
    ("SCMP_ARCH_AARCH64", ScmpArch::Aarch64, 0xc000_00b7),
    ("SCMP_ARCH_MIPS", ScmpArch::Mips, 0x0000_0008),
    ("SCMP_ARCH_MIPS64", ScmpArch::Mips64, 0x8000_0008),
    ("SCMP_ARCH_MIPS64N32", ScmpArch::Mips64N32, 0xa000_0008),
    ("SCMP_ARCH_MIPSEL", ScmpArch::Mipsel, 0x4000_0008),
    ("SCMP_ARCH_MIPSEL64", ScmpArch::Mipsel64, 0xc000_0008),
    ("SCMP_ARCH_MIPSEL64N32", ScmpArch::Mipsel64N32, 0xe000_0008),
    ("SCMP_ARCH_PPC", ScmpArch::Ppc, 0x0000_0014),
    ("SCMP_ARCH_PPC64", ScmpArch::Ppc64, 0x8000_0015),
    ("SCMP_ARCH_PPC64LE", ScmpArch::Ppc64Le, 0xc000_0015),
    ("SCMP_ARCH_S390", ScmpArch::S390, 0x0000_0016),
    ("SCMP_ARCH_S390X", ScmpArch::S390X, 0x8000_0016),
    ("SCMP_ARCH_PARISC", ScmpArch::Parisc, 0x0000_000f),
    ("SCMP_ARCH_PARISC64", ScmpArch::Parisc64, 0x8000_000f),
    ("SCMP_ARCH_RISCV64", ScmpArch::Riscv64, 0xc000_00f3),
    ("SCMP_ARCH_LOONGARCH64", ScmpArch::Loongarch64, 0xc000_0102),
    ("SCMP_ARCH_M68K", ScmpArch::M68k, 0x0000_0004),
    ("SCMP_ARCH_SH", ScmpArch::Sh, 0x4000_002a),
    ("SCMP_ARCH_SHEB", ScmpArch::Sheb, 0x0000_002a),
];

const ACTIONS: &[&str] = &[
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

const OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// The flags hull accepts, with their seccomp(2) bits.
const FLAGS: &[(&str, LinuxSeccompFilterFlag, u32)] = &[
    (
        "SECCOMP_FILTER_FLAG_TSYNC",
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
        sys::FLAG_TSYNC,
    ),
    (
        "SECCOMP_FILTER_FLAG_LOG",
        LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        sys::FLAG_LOG,
    ),
    (
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        sys::FLAG_SPEC_ALLOW,
    ),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
        sys::FLAG_WAIT_KILLABLE_RECV,
    ),
];

fn arch_entry(arch: ScmpArch) -> Option<&'static (&'static str, ScmpArch, u32)> {
    let arch = if arch == ScmpArch::Native {
        ScmpArch::native()
    } else {
        arch
    };
    ARCHES.iter().find(|(_, a, _)| *a == arch)
}

/// The AUDIT_ARCH value the kernel puts in seccomp_data.arch for `arch`.
fn audit_arch(arch: ScmpArch) -> u32 {
    arch_entry(arch).map_or(0, |e| e.2)
}

/// The profile's name for an oci-spec enum value ("SCMP_ARCH_X86_64", "SCMP_ACT_LOG").
fn spec_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::from("?"),
    }
}

fn scmp_arch(arch: Arch) -> Option<ScmpArch> {
    if arch == Arch::ScmpArchNative {
        return Some(ScmpArch::native());
    }
    let name = spec_name(&arch);
    ARCHES.iter().find(|(n, _, _)| *n == name).map(|e| e.1)
}

/// The libseccomp action for a profile action; ERRNO and TRACE default to EPERM, as
/// in runc. SCMP_ACT_KILL is the historical name of KILL_THREAD.
fn scmp_action(action: LinuxSeccompAction, errno_ret: Option<u32>) -> Result<ScmpAction, String> {
    let ret = || -> Result<u16, String> {
        let v = errno_ret.unwrap_or(libc::EPERM as u32);
        u16::try_from(v).map_err(|_| format!("errnoRet {v} does not fit in 16 bits"))
    };
    // The spec: "When the action doesn't support an errno, the runtime MUST print and error
    // and fail."
    let takes_errno = matches!(
        action,
        LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
    );
    if let (Some(v), false) = (errno_ret, takes_errno) {
        let name = serde_json::to_value(action).unwrap_or_default();
        return Err(format!("errnoRet {v}: {name} does not take an errno"));
    }
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(ret()?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret()?),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    })
}

fn scmp_compare(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
) -> ScmpArgCompare {
    let index = index as u32;
    match op {
        LinuxSeccompOperator::ScmpCmpNe => {
            ScmpArgCompare::new(index, ScmpCompareOp::NotEqual, value)
        }
        LinuxSeccompOperator::ScmpCmpLt => ScmpArgCompare::new(index, ScmpCompareOp::Less, value),
        LinuxSeccompOperator::ScmpCmpLe => {
            ScmpArgCompare::new(index, ScmpCompareOp::LessOrEqual, value)
        }
        LinuxSeccompOperator::ScmpCmpEq => ScmpArgCompare::new(index, ScmpCompareOp::Equal, value),
        LinuxSeccompOperator::ScmpCmpGe => {
            ScmpArgCompare::new(index, ScmpCompareOp::GreaterEqual, value)
        }
        LinuxSeccompOperator::ScmpCmpGt => {
            ScmpArgCompare::new(index, ScmpCompareOp::Greater, value)
        }
        // runtime-spec: `value` is the mask, `valueTwo` the value compared with.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            ScmpArgCompare::new(index, ScmpCompareOp::MaskedEqual(value), value_two)
        }
    }
}

/// What [`validate`] learned about a profile.
struct Checked {
    default: ScmpAction,
    arches: Vec<ScmpArch>,
    flags: u32,
}

/// Check everything that does not need libseccomp's compiler, naming the field at
/// fault. This runs on every create, cache hit or not.
fn validate(s: &LinuxSeccomp) -> Result<Checked> {
    let field = "linux.seccomp";
    let default = scmp_action(s.default_action(), s.default_errno_ret())
        .map_err(|e| Error::invalid(format!("{field}.defaultErrnoRet: {e}")))?;
    // Init reports to the parent after loading the filter; a notifying default action
    // would block it forever, as would a notifying write (runc refuses both).
    if default == ScmpAction::Notify {
        return Err(Error::invalid(format!(
            "{field}.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"
        )));
    }

    let mut arches = vec![ScmpArch::native()];
    for (i, &arch) in s.architectures().iter().flatten().enumerate() {
        let a = scmp_arch(arch).ok_or_else(|| {
            Error::invalid(format!(
                "{field}.architectures[{i}]: unknown architecture {}",
                spec_name(&arch)
            ))
        })?;
        if !arches.contains(&a) {
            arches.push(a);
        }
    }

    let mut flags = 0;
    for (i, flag) in s.flags().iter().flatten().enumerate() {
        let (name, _, bit) = FLAGS
            .iter()
            .find(|(_, f, _)| f == flag)
            .expect("FLAGS covers every flag oci-spec knows");
        flags |= bit;
        // WAIT_KILLABLE_RECV is only valid together with a listener.
        let probe = if *bit == sys::FLAG_WAIT_KILLABLE_RECV {
            bit | sys::FLAG_NEW_LISTENER
        } else {
            *bit
        };
        if !sys::flags_supported(probe) {
            return Err(Error::invalid(format!(
                "{field}.flags[{i}]: {name} is not supported by this kernel"
            )));
        }
    }

    let mut notify = false;
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let at = format!("{field}.syscalls[{i}]");
        scmp_action(sc.action(), sc.errno_ret())
            .map_err(|e| Error::invalid(format!("{at}.errnoRet: {e}")))?;
        for (j, name) in sc.names().iter().enumerate() {
            if name.is_empty() {
                return Err(Error::invalid(format!(
                    "{at}.names[{j}]: empty system call name"
                )));
            }
            if sc.action() == LinuxSeccompAction::ScmpActNotify && name == "write" {
                return Err(Error::invalid(format!(
                    "{at}: SCMP_ACT_NOTIFY cannot be used for the write system call"
                )));
            }
        }
        for (j, arg) in sc.args().iter().flatten().enumerate() {
            if arg.index() >= 6 {
                return Err(Error::invalid(format!(
                    "{at}.args[{j}].index: {} is out of range (system calls have 6 arguments)",
                    arg.index()
                )));
            }
        }
        notify |= sc.action() == LinuxSeccompAction::ScmpActNotify;
    }
    if notify {
        if s.listener_path()
            .as_deref()
            .is_none_or(|p| p.as_os_str().is_empty())
        {
            return Err(Error::invalid(format!(
                "{field}.listenerPath: required when a rule uses SCMP_ACT_NOTIFY"
            )));
        }
        flags |= sys::FLAG_NEW_LISTENER;
    }
    if flags & sys::FLAG_WAIT_KILLABLE_RECV != 0 && !notify {
        return Err(Error::invalid(format!(
            "{field}.flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a rule with SCMP_ACT_NOTIFY"
        )));
    }
    Ok(Checked {
        default,
        arches,
        flags,
    })
}

/// Validate and compile a profile. With `cache_dir`, a program compiled earlier for
/// the same profile, architecture, kernel and libseccomp is reused (see [`cache`]).
/// Errors name the field at fault ("linux.seccomp.syscalls[2].args[0].index: ...").
pub fn compile(s: &LinuxSeccomp, cache_dir: Option<&Path>) -> Result<Program> {
    let checked = validate(s)?;
    let Some(dir) = cache_dir else {
        return build(s, &checked);
    };
    let key = cache::key(s);
    if let Some(p) = cache::lookup(dir, &key, checked.flags) {
        return Ok(p);
    }
    let program = build(s, &checked)?;
    // A cache that cannot be written only costs time on the next create.
    let _ = cache::store(dir, &key, &program);
    Ok(program)
}

/// Run libseccomp's compiler and prepend the ENOSYS stub.
fn build(s: &LinuxSeccomp, checked: &Checked) -> Result<Program> {
    let field = "linux.seccomp";
    let lib = |what: String| {
        move |e: libseccomp::error::SeccompError| Error::Other(format!("{what}: {e}"))
    };

    let mut filter = ScmpFilterContext::new(checked.default)
        .map_err(lib(format!("{field}.defaultAction: creating the filter")))?;
    // no_new_privs is the runtime's decision (process.noNewPrivileges), not the filter's.
    filter.set_ctl_nnp(false).map_err(lib(format!(
        "{field}: clearing the filter's no_new_privs bit"
    )))?;
    // arches[0] is the native architecture, which every filter starts with.
    for &arch in checked.arches.iter().skip(1) {
        filter.add_arch(arch).map_err(|e| {
            Error::invalid(format!(
                "{field}.architectures: {} is not supported by libseccomp {}: {e}",
                arch_entry(arch).map_or("?", |e| e.0),
                libseccomp_version(),
            ))
        })?;
    }
    let syscalls = s.syscalls().as_deref().unwrap_or_default();
    if syscalls.iter().map(|sc| sc.names().len()).sum::<usize>() > OPTIMIZE_ABOVE {
        // Not fatal: an older libseccomp simply keeps the linear layout.
        let _ = filter.set_ctl_optimize(2);
    }

    for (i, sc) in syscalls.iter().enumerate() {
        let at = format!("{field}.syscalls[{i}]");
        let action = scmp_action(sc.action(), sc.errno_ret()).map_err(Error::invalid)?;
        // libseccomp refuses a rule that repeats the default action; it is a no-op.
        if action == checked.default {
            continue;
        }
        let args = sc.args().as_deref().unwrap_or_default();
        let conds: Vec<ScmpArgCompare> = args
            .iter()
            .map(|a| scmp_compare(a.index(), a.op(), a.value(), a.value_two().unwrap_or(0)))
            .collect();
        // libseccomp compares each argument once per rule. When a profile tests one
        // argument twice, runc adds one rule per condition instead; do the same.
        let mut seen = HashSet::new();
        let split = args.iter().any(|a| !seen.insert(a.index()));
        for name in sc.names() {
            // Names this libseccomp does not know are skipped, as runc does: profiles
            // list calls newer than the library (or the kernel) on purpose.
            let Ok(nr) = libseccomp::ScmpSyscall::from_name(name) else {
                continue;
            };
            let res = if split {
                conds
                    .iter()
                    .try_for_each(|c| filter.add_rule_conditional(action, nr, &[*c]).map(|_| ()))
            } else {
                filter.add_rule_conditional(action, nr, &conds).map(|_| ())
            };
            res.map_err(|e| Error::invalid(format!("{at}: adding the rule for {name}: {e}")))?;
        }
    }

    let mut insns = enosys_stub(s, checked);
    insns.extend(export(&filter)?);
    if insns.len() > MAX_INSNS {
        return Err(Error::invalid(format!(
            "{field}: the compiled filter has {} instructions, more than the kernel's limit of {MAX_INSNS}",
            insns.len()
        )));
    }
    Ok(Program {
        insns,
        flags: checked.flags,
    })
}

/// runc prepends the stub unless the default action lets calls through anyway (ALLOW,
/// LOG, and TRACE, whose tracer should handle new calls) or already returns ENOSYS.
fn enosys_stub(s: &LinuxSeccomp, checked: &Checked) -> Vec<Insn> {
    match checked.default {
        ScmpAction::Allow | ScmpAction::Log | ScmpAction::Trace(_) => return Vec::new(),
        ScmpAction::Errno(e) if e == libc::ENOSYS => return Vec::new(),
        _ => {}
    }
    let names = s
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|sc| sc.names().iter().map(String::as_str));
    enosys::stub(&enosys::limits(&checked.arches, names))
}

/// libseccomp 2.5 can only write its program to a file descriptor.
fn export(filter: &ScmpFilterContext) -> Result<Vec<Insn>> {
    let fd = rustix::fs::memfd_create("hull-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .ctx("create a memfd for the seccomp program")?;
    filter
        .export_bpf(&fd)
        .map_err(|e| Error::Other(format!("linux.seccomp: exporting the BPF program: {e}")))?;
    let mut file = std::fs::File::from(fd);
    file.rewind().ctx("rewind the seccomp program memfd")?;
    let mut raw = Vec::new();
    file.read_to_end(&mut raw).ctx("read the seccomp program")?;
    decode(&raw).ok_or_else(|| Error::Other("libseccomp exported a truncated program".into()))
}

/// Instructions from their in-memory form (native endian, 8 bytes each).
fn decode(raw: &[u8]) -> Option<Vec<Insn>> {
    if raw.len() % 8 != 0 {
        return None;
    }
    Some(
        raw.chunks_exact(8)
            .map(|c| Insn {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

fn encode(insns: &[Insn], out: &mut Vec<u8>) {
    for i in insns {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
}

/// Install the program on the calling thread: the last step before execve. The caller
/// has set no_new_privs, or still holds CAP_SYS_ADMIN. Returns the notification
/// listener when the profile uses SCMP_ACT_NOTIFY.
pub fn load(p: &Program) -> Result<Option<OwnedFd>> {
    let mut flags = p.flags;
    // With a listener, TSYNC must report a failed sync as ESRCH, since the return
    // value is taken by the listener fd.
    if flags & sys::FLAG_TSYNC != 0 && flags & sys::FLAG_NEW_LISTENER != 0 {
        flags |= sys::FLAG_TSYNC_ESRCH;
    }
    let prog: Vec<sys::SockFilter> = p
        .insns
        .iter()
        .map(|i| sys::SockFilter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    sys::set_mode_filter(flags, &prog).map_err(|e| {
        let hint = if e.raw_os_error() == Some(libc::EACCES) {
            " (neither no_new_privs nor CAP_SYS_ADMIN)"
        } else {
            ""
        };
        Error::os(format!("load the seccomp filter{hint}"), e)
    })
}

fn libseccomp_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| v.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The "seccomp" object of the `features` document (runtime-spec features.md).
pub fn features() -> serde_json::Value {
    let supported: Vec<&str> = FLAGS
        .iter()
        .filter(|(_, _, bit)| {
            let probe = if *bit == sys::FLAG_WAIT_KILLABLE_RECV {
                bit | sys::FLAG_NEW_LISTENER
            } else {
                *bit
            };
            sys::flags_supported(probe)
        })
        .map(|f| f.0)
        .collect();
    // Architectures this libseccomp can put in a filter.
    let archs: Vec<&str> = ARCHES
        .iter()
        .filter(|(_, arch, _)| {
            *arch == ScmpArch::native()
                || ScmpFilterContext::new(ScmpAction::Allow)
                    .and_then(|mut f| f.add_arch(*arch).map(|_| ()))
                    .is_ok()
        })
        .map(|a| a.0)
        .collect();
    serde_json::json!({
        "enabled": true,
        "actions": ACTIONS,
        "operators": OPERATORS,
        "archs": archs,
        "knownFlags": FLAGS.iter().map(|f| f.0).collect::<Vec<_>>(),
        "supportedFlags": supported,
    })
}

#[cfg(test)]
mod tests;
