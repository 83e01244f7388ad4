//! The ENOSYS stub prepended to libseccomp's program.
//!
//! A profile lists the system calls its authors knew about. A system call added to the
//! kernel later gets the profile's default action, usually EPERM, and libc only falls
//! back to an older call (clone3 -> clone, faccessat2 -> faccessat, ...) on ENOSYS. So,
//! as runc does, every system call numbered above the largest one the profile names for
//! an architecture returns ENOSYS before libseccomp's filter is consulted.
//!
//! The stub, per filter architecture:
//! ```text
//!   ld  [arch]
//!   jeq #AUDIT_ARCH_i, 0, 1 ; ja section_i       (one pair per architecture)
//!   ja  filter                                   (an architecture we have no limit for)
//! section_i:
//!   ld  [nr]
//!   (s390/s390x) jeq #0, 0, 1 ; ret ENOSYS       (nr 0 carries unknown multiplexed calls)
//!   (x86_64)     jset #X32_BIT, 0, 1 ; ja x32_i  (x32 calls have their own limit)
//!   jgt #max, 0, 1 ; ret ENOSYS ; ja filter
//! x32_i:
//!   jgt #max_x32, 0, 1 ; ret ENOSYS ; ja filter
//! filter:
//!   <libseccomp's program>
//! ```
//! Far targets are reached through `ja` (32-bit offsets), so the stub never runs into
//! the 8-bit limit of conditional jumps, whatever the number of architectures.

use std::collections::BTreeMap;

use libseccomp::{ScmpArch, ScmpSyscall};

use super::Insn;

// Classic BPF opcodes (linux/bpf_common.h).
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JMP_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JMP_JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

// Offsets in struct seccomp_data.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;

const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

pub(super) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_S390: u32 = 0x0000_0016;
const AUDIT_ARCH_S390X: u32 = 0x8000_0016;

/// The largest system call number a profile names, for one kernel architecture.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Largest number for the architecture's main ABI.
    pub max: Option<u32>,
    /// On x86_64, largest number for the x32 ABI (numbers carry X32_SYSCALL_BIT).
    pub max_x32: Option<u32>,
}

/// Find, per kernel architecture, the largest system call number among `names`.
/// Names unknown on an architecture, and libseccomp's negative pseudo numbers for
/// calls an architecture multiplexes (socketcall, ipc), are skipped, as runc does.
pub fn limits<'a>(
    arches: &[ScmpArch],
    names: impl Iterator<Item = &'a str> + Clone,
) -> BTreeMap<u32, Limit> {
    let mut out: BTreeMap<u32, Limit> = BTreeMap::new();
    for &arch in arches {
        let arch = if arch == ScmpArch::Native {
            ScmpArch::native()
        } else {
            arch
        };
        let max = names
            .clone()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .map(|s| s.as_raw_syscall())
            .filter(|&nr| nr >= 0)
            .max()
            .map(|nr| nr as u32);
        let Some(max) = max else { continue };
        let entry = out.entry(super::audit_arch(arch)).or_default();
        if arch == ScmpArch::X32 {
            entry.max_x32 = Some(max);
        } else {
            entry.max = Some(max);
        }
    }
    out
}

/// Jump targets inside the stub, resolved once the layout is known.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    Section(usize),
    X32(usize),
    Filter,
}

enum Item {
    Insn(Insn),
    Jump(Label),
    Mark(Label),
}

fn stmt(code: u16, k: u32) -> Item {
    Item::Insn(Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    })
}

fn cond(code: u16, k: u32, jt: u8, jf: u8) -> Item {
    Item::Insn(Insn { code, jt, jf, k })
}

/// "if nr > max return ENOSYS, else go to the filter".
fn check_max(items: &mut Vec<Item>, max: Option<u32>) {
    if let Some(max) = max {
        items.push(cond(JMP_JGT_K, max, 0, 1));
        items.push(stmt(RET_K, RET_ENOSYS));
    }
    items.push(Item::Jump(Label::Filter));
}

/// Generate the stub for `limits`; an empty map yields an empty stub.
pub fn stub(limits: &BTreeMap<u32, Limit>) -> Vec<Insn> {
    if limits.is_empty() {
        return Vec::new();
    }
    let mut items = vec![stmt(LD_W_ABS, OFFSET_ARCH)];
    for (i, &arch) in limits.keys().enumerate() {
        items.push(cond(JMP_JEQ_K, arch, 0, 1));
        items.push(Item::Jump(Label::Section(i)));
    }
    items.push(Item::Jump(Label::Filter));

    for (i, (&arch, limit)) in limits.iter().enumerate() {
        items.push(Item::Mark(Label::Section(i)));
        items.push(stmt(LD_W_ABS, OFFSET_NR));
        if arch == AUDIT_ARCH_S390 || arch == AUDIT_ARCH_S390X {
            items.push(cond(JMP_JEQ_K, 0, 0, 1));
            items.push(stmt(RET_K, RET_ENOSYS));
        }
        if arch == AUDIT_ARCH_X86_64 {
            items.push(cond(JMP_JSET_K, X32_SYSCALL_BIT, 0, 1));
            items.push(Item::Jump(Label::X32(i)));
            check_max(&mut items, limit.max);
            items.push(Item::Mark(Label::X32(i)));
            check_max(&mut items, limit.max_x32);
        } else {
            check_max(&mut items, limit.max);
        }
    }
    items.push(Item::Mark(Label::Filter));
    assemble(&items)
}

fn assemble(items: &[Item]) -> Vec<Insn> {
    let mut at = Vec::new();
    let mut pc = 0u32;
    for item in items {
        match item {
            Item::Mark(label) => at.push((*label, pc)),
            _ => pc += 1,
        }
    }
    let target = |label: Label| {
        at.iter()
            .find(|(l, _)| *l == label)
            .map(|(_, pc)| *pc)
            .expect("every jump target is marked")
    };
    let mut out = Vec::with_capacity(pc as usize);
    for item in items {
        match item {
            Item::Insn(insn) => out.push(*insn),
            // `ja k` continues at pc + 1 + k; jumps only go forward here.
            Item::Jump(label) => {
                let from = out.len() as u32 + 1;
                out.push(Insn {
                    code: JMP_JA,
                    jt: 0,
                    jf: 0,
                    k: target(*label) - from,
                })
            }
            Item::Mark(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny classic-BPF interpreter for the instructions the stub uses, so the
    /// stub's logic is checked without loading it into a kernel.
    fn run(prog: &[Insn], arch: u32, nr: u32) -> Option<u32> {
        let mut pc = 0usize;
        let mut acc = 0u32;
        while pc < prog.len() {
            let i = prog[pc];
            pc += 1;
            match i.code {
                LD_W_ABS if i.k == OFFSET_NR => acc = nr,
                LD_W_ABS if i.k == OFFSET_ARCH => acc = arch,
                JMP_JA => pc += i.k as usize,
                JMP_JEQ_K | JMP_JGT_K | JMP_JSET_K => {
                    let hit = match i.code {
                        JMP_JEQ_K => acc == i.k,
                        JMP_JGT_K => acc > i.k,
                        _ => acc & i.k != 0,
                    };
                    pc += if hit { i.jt } else { i.jf } as usize;
                }
                RET_K => return Some(i.k),
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
        // Fell off the stub: libseccomp's filter would decide.
        None
    }

    #[test]
    fn stub_returns_enosys_above_the_limit_only() {
        let mut limits = BTreeMap::new();
        limits.insert(
            AUDIT_ARCH_X86_64,
            Limit {
                max: Some(300),
                max_x32: Some(X32_SYSCALL_BIT | 200),
            },
        );
        limits.insert(
            0x4000_0003,
            Limit {
                max: Some(100),
                max_x32: None,
            },
        );
        limits.insert(
            AUDIT_ARCH_S390X,
            Limit {
                max: Some(50),
                max_x32: None,
            },
        );
        let prog = stub(&limits);
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 300), None);
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 301), Some(RET_ENOSYS));
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 435), Some(RET_ENOSYS));
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 200), None);
        assert_eq!(
            run(&prog, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 201),
            Some(RET_ENOSYS)
        );
        assert_eq!(run(&prog, 0x4000_0003, 100), None);
        assert_eq!(run(&prog, 0x4000_0003, 101), Some(RET_ENOSYS));
        assert_eq!(run(&prog, AUDIT_ARCH_S390X, 0), Some(RET_ENOSYS));
        assert_eq!(run(&prog, AUDIT_ARCH_S390X, 7), None);
        // An architecture without a limit is left to the filter.
        assert_eq!(run(&prog, 0xc000_00b7, 1000), None);
    }

    #[test]
    fn x32_calls_are_left_to_the_filter_when_the_profile_has_no_x32() {
        let mut limits = BTreeMap::new();
        limits.insert(
            AUDIT_ARCH_X86_64,
            Limit {
                max: Some(10),
                max_x32: None,
            },
        );
        let prog = stub(&limits);
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 11), Some(RET_ENOSYS));
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 999), None);
    }

    #[test]
    fn limits_follow_libseccomp_numbers() {
        let names = ["read", "clone", "socketcall", "no_such_call"];
        let l = limits(
            &[ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32],
            names.iter().copied(),
        );
        // x86_64: read=0, clone=56; socketcall does not exist there.
        assert_eq!(l[&AUDIT_ARCH_X86_64].max, Some(56));
        assert_eq!(l[&AUDIT_ARCH_X86_64].max_x32, Some(X32_SYSCALL_BIT | 56));
        // i386: read=3, socketcall=102, clone=120.
        assert_eq!(l[&0x4000_0003].max, Some(120));
        let only_old = limits(&[ScmpArch::X86], ["read", "socketcall"].iter().copied());
        assert_eq!(only_old[&0x4000_0003].max, Some(102));
    }
}
