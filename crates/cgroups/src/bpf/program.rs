//! Device rules → a BPF_PROG_TYPE_CGROUP_DEVICE program. Pure: no syscalls here.
//!
//! The kernel runs the program on every device open and mknod in the cgroup with a
//! `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, where
//! `access_type` is `(access << 16) | type`; returning 1 allows, 0 refuses with EPERM.
//!
//! The rules mean what the config's order says: for each access bit asked for (an open for
//! reading and writing asks for r and w at once), the LAST rule that matches the device and
//! names that bit decides it, and a bit no rule names is refused. The request is allowed only
//! if every bit is allowed. The program walks the rules from last to first, keeping the bits
//! not decided yet in a register:
//!
//! - an allow rule that matches clears the bits it grants; when none are left, allow;
//! - a deny rule that matches refuses if it names any bit still undecided (a bit a later
//!   allow rule already granted is not its business);
//! - after the first rule (the last one walked), refuse.
//!
//! crun (and runc before it ran rules through its v1 emulator) emits whole rules in reverse
//! with "first match returns", which agrees with this except for split access: with
//! `allow c 1:3 r` and `allow c 1:3 w` an O_RDWR open matches neither rule there but is
//! allowed here (as v1 allows it, having merged the two); with `allow c 1:3 rw` then
//! `deny c 1:3 w` it is allowed there and refused here (as v1 refuses it).
//!
//! Where this departs from cgroup v1's own lists (and so from today's runc, which emulates
//! them) it does so on purpose, in the direction of refusing:
//! - in v1's default-deny mode a deny rule only removes an exception equal to it, so
//!   `allow c *:* rwm; deny c 1:5 rwm` leaves 1:5 open there; here the later deny wins;
//! - v1 allows an access only if a single exception names all its bits; here the bits may
//!   come from different rules (`allow c 1:* r; allow c 1:3 w` allows O_RDWR of 1:3), which
//!   is the one case where this allows more.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::{Error, Result};

// From <linux/bpf.h>.
pub const ACC_MKNOD: u32 = 1;
pub const ACC_READ: u32 = 2;
pub const ACC_WRITE: u32 = 4;
const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;
pub const DEV_BLOCK: u32 = 1;
pub const DEV_CHAR: u32 = 2;

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    /// dst register in the low nibble, src in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcodes: class | operation | source.
pub const LDX_MEM_W: u8 = 0x01 | 0x60; // BPF_LDX | BPF_MEM | BPF_W
pub const AND32_K: u8 = 0x04 | 0x50; // BPF_ALU | BPF_AND | BPF_K
pub const RSH32_K: u8 = 0x04 | 0x70; // BPF_ALU | BPF_RSH | BPF_K
pub const MOV32_X: u8 = 0x04 | 0xb0 | 0x08; // BPF_ALU | BPF_MOV | BPF_X
pub const MOV64_K: u8 = 0x07 | 0xb0; // BPF_ALU64 | BPF_MOV | BPF_K
pub const JEQ_K: u8 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
pub const JNE_K: u8 = 0x05 | 0x50; // BPF_JMP | BPF_JNE | BPF_K
pub const EXIT: u8 = 0x05 | 0x90; // BPF_JMP | BPF_EXIT

// Registers: R1 keeps the context throughout (blocks reload from it, see `block`); R0 is
// the scratch register until it is given the verdict.
const R0: u8 = 0;
const R1: u8 = 1;
const TYPE: u8 = 2;
const ACCESS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// One rule in the program's terms; `None` matches anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub typ: Option<u32>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// ACC_* bits.
    pub access: u32,
}

impl Rule {
    /// Matches every device and names every access bit: nothing before it can matter.
    fn is_total(&self) -> bool {
        self.typ.is_none() && self.major.is_none() && self.minor.is_none() && self.access == ACC_ALL
    }
}

/// Checks and converts the config's rules, with runc's readings: no type means `a`, a
/// missing or negative major/minor means any, no access means `rwm`.
pub fn rules(devices: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let bad =
                |what: String| Error::Invalid(format!("linux.resources.devices[{i}]: {what}"));
            let typ = match d.typ() {
                None | Some(LinuxDeviceType::A) => None,
                Some(LinuxDeviceType::C) => Some(DEV_CHAR),
                Some(LinuxDeviceType::B) => Some(DEV_BLOCK),
                Some(other) => {
                    return Err(bad(format!(
                        "type {:?} is not a cgroup device type (a, b or c)",
                        other.as_str()
                    )))
                }
            };
            let number = |n: Option<i64>, what: &str| match n {
                None => Ok(None),
                Some(n) if n < 0 => Ok(None),
                // The program compares against a sign-extended 32-bit immediate; real
                // majors have 12 bits and minors 20.
                Some(n) if n <= i64::from(i32::MAX) => Ok(Some(n as u32)),
                Some(n) => Err(bad(format!("{what} {n} is out of range"))),
            };
            let mut access = 0;
            for c in d.access().as_deref().unwrap_or("rwm").chars() {
                access |= match c {
                    'r' => ACC_READ,
                    'w' => ACC_WRITE,
                    'm' => ACC_MKNOD,
                    other => return Err(bad(format!("unknown access {other:?} (r, w or m)"))),
                };
            }
            Ok(Rule {
                allow: d.allow(),
                typ,
                major: number(d.major(), "major")?,
                minor: number(d.minor(), "minor")?,
                access,
            })
        })
        .collect()
}

/// Loads the device's type, major and minor from the context (R1) into their registers.
fn load_device(out: &mut Vec<Insn>, typ: bool, major: bool, minor: bool) {
    if typ {
        out.push(insn(LDX_MEM_W, TYPE, R1, 0, 0));
        out.push(insn(AND32_K, TYPE, 0, 0, 0xffff));
    }
    if major {
        out.push(insn(LDX_MEM_W, MAJOR, R1, 4, 0));
    }
    if minor {
        out.push(insn(LDX_MEM_W, MINOR, R1, 8, 0));
    }
}

/// The program for `rules` (see the module comment for what it decides).
pub fn build(rules: &[Rule]) -> Vec<Insn> {
    let mut p = Vec::new();
    load_device(&mut p, true, false, false);
    p.push(insn(LDX_MEM_W, ACCESS, R1, 0, 0));
    p.push(insn(RSH32_K, ACCESS, 0, 0, 16));
    load_device(&mut p, false, true, true);
    for rule in rules.iter().rev() {
        // A rule naming no access decides nothing.
        if rule.access == 0 {
            continue;
        }
        p.extend(block(rule));
        // The verifier refuses unreachable instructions, and nothing after a rule that
        // matches everything can run.
        if rule.is_total() {
            return p;
        }
    }
    p.push(insn(MOV64_K, R0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// One rule's instructions: the device tests, each jumping to the end of the block (on to
/// the next rule) when it fails, then the access part.
///
/// A rule that names only some access bits can match the device and still go on to the next
/// rule. On that path the verifier knows the registers tested equal the rule's numbers, so
/// the states reaching the next rule would differ from rule to rule and it would walk every
/// later rule once per such path (2000 mixed rules went over its budget of a million
/// processed instructions). Reloading the tested registers from the context before going on
/// makes those states the same as the ones of the "no match" path, so it walks each rule a
/// few times at most (the same 2000 rules: 178 000).
fn block(rule: &Rule) -> Vec<Insn> {
    const TO_END: i16 = -1;
    const TO_RELOAD: i16 = -2;
    let mut b = Vec::new();
    if let Some(t) = rule.typ {
        b.push(insn(JNE_K, TYPE, 0, TO_END, t as i32));
    }
    if let Some(m) = rule.major {
        b.push(insn(JNE_K, MAJOR, 0, TO_END, m as i32));
    }
    if let Some(m) = rule.minor {
        b.push(insn(JNE_K, MINOR, 0, TO_END, m as i32));
    }
    let partial = rule.access != ACC_ALL;
    if rule.allow {
        if partial {
            // Grant this rule's bits; if some are still undecided, earlier rules decide them.
            b.push(insn(AND32_K, ACCESS, 0, 0, !(rule.access as i32)));
            b.push(insn(JNE_K, ACCESS, 0, TO_RELOAD, 0));
        }
        b.push(insn(MOV64_K, R0, 0, 0, 1));
    } else {
        if partial {
            // Refuse only if this rule names a bit no later rule has granted.
            b.push(insn(MOV32_X, R0, ACCESS, 0, 0));
            b.push(insn(AND32_K, R0, 0, 0, rule.access as i32));
            b.push(insn(JEQ_K, R0, 0, TO_RELOAD, 0));
        }
        b.push(insn(MOV64_K, R0, 0, 0, 0));
    }
    b.push(insn(EXIT, 0, 0, 0, 0));
    let reload = b.len();
    if partial {
        load_device(
            &mut b,
            rule.typ.is_some(),
            rule.major.is_some(),
            rule.minor.is_some(),
        );
    }
    // Blocks are a few instructions long, so the offsets always fit.
    let end = b.len();
    for (i, ins) in b.iter_mut().enumerate() {
        let target = match ins.off {
            TO_END => end,
            TO_RELOAD => reload,
            _ => continue,
        };
        if matches!(ins.code, JNE_K | JEQ_K) {
            ins.off = (target - i - 1) as i16;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a program the way the kernel would, for the instructions `build` emits.
    fn run(p: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            let jump = |taken: bool, pc: &mut usize| {
                if taken {
                    *pc = (*pc as i64 + i64::from(i.off)) as usize;
                }
            };
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                AND32_K => r[dst] = u64::from((r[dst] as u32) & (i.imm as u32)),
                RSH32_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                MOV32_X => r[dst] = u64::from(r[src] as u32),
                MOV64_K => r[dst] = i.imm as i64 as u64,
                JEQ_K => jump(r[dst] == i.imm as i64 as u64, &mut pc),
                JNE_K => jump(r[dst] != i.imm as i64 as u64, &mut pc),
                EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn dev(
        allow: bool,
        typ: &str,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        serde_json::from_value(serde_json::json!({
            "allow": allow, "type": typ, "major": major, "minor": minor, "access": access,
        }))
        .unwrap()
    }

    fn program(devs: &[LinuxDeviceCgroup]) -> Vec<Insn> {
        build(&rules(devs).unwrap())
    }

    const R: u32 = ACC_READ;
    const W: u32 = ACC_WRITE;
    const M: u32 = ACC_MKNOD;

    #[test]
    fn prologue_and_one_rule() {
        let p = program(&[dev(true, "c", Some(1), Some(3), "rw")]);
        let want = vec![
            insn(LDX_MEM_W, TYPE, R1, 0, 0),
            insn(AND32_K, TYPE, 0, 0, 0xffff),
            insn(LDX_MEM_W, ACCESS, R1, 0, 0),
            insn(RSH32_K, ACCESS, 0, 0, 16),
            insn(LDX_MEM_W, MAJOR, R1, 4, 0),
            insn(LDX_MEM_W, MINOR, R1, 8, 0),
            // c 1:3: a mismatch jumps past the end of the block
            insn(JNE_K, TYPE, 0, 10, DEV_CHAR as i32),
            insn(JNE_K, MAJOR, 0, 9, 1),
            insn(JNE_K, MINOR, 0, 8, 3),
            // grant r and w; if anything else was asked for, go on to earlier rules
            insn(AND32_K, ACCESS, 0, 0, !((R | W) as i32)),
            insn(JNE_K, ACCESS, 0, 2, 0),
            insn(MOV64_K, R0, 0, 0, 1),
            insn(EXIT, 0, 0, 0, 0),
            // ...with the tested registers reloaded (for the verifier's sake)
            insn(LDX_MEM_W, TYPE, R1, 0, 0),
            insn(AND32_K, TYPE, 0, 0, 0xffff),
            insn(LDX_MEM_W, MAJOR, R1, 4, 0),
            insn(LDX_MEM_W, MINOR, R1, 8, 0),
            // default: refuse
            insn(MOV64_K, R0, 0, 0, 0),
            insn(EXIT, 0, 0, 0, 0),
        ];
        assert_eq!(p, want);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, R | W, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, M, 1, 3), 0, "no m");
        assert_eq!(run(&p, DEV_CHAR, R, 1, 5), 0);
        assert_eq!(run(&p, DEV_BLOCK, R, 1, 3), 0);
    }

    #[test]
    fn deny_block_and_rwm_shortcuts() {
        let p = program(&[
            dev(false, "b", Some(8), None, "w"),
            dev(true, "a", None, None, "rwm"),
        ]);
        // The last rule matches everything with every bit: it is the whole program.
        assert_eq!(p.len(), 6 + 2);
        assert_eq!(p[6], insn(MOV64_K, R0, 0, 0, 1));
        let p = program(&[
            dev(true, "a", None, None, "rwm"),
            dev(false, "b", Some(8), None, "w"),
        ]);
        assert_eq!(
            p[6..],
            [
                insn(JNE_K, TYPE, 0, 9, DEV_BLOCK as i32),
                insn(JNE_K, MAJOR, 0, 8, 8),
                insn(MOV32_X, R0, ACCESS, 0, 0),
                insn(AND32_K, R0, 0, 0, W as i32),
                insn(JEQ_K, R0, 0, 2, 0),
                insn(MOV64_K, R0, 0, 0, 0),
                insn(EXIT, 0, 0, 0, 0),
                insn(LDX_MEM_W, TYPE, R1, 0, 0),
                insn(AND32_K, TYPE, 0, 0, 0xffff),
                insn(LDX_MEM_W, MAJOR, R1, 4, 0),
                // then "a *:* rwm" allow ends the program: no default block after it
                insn(MOV64_K, R0, 0, 0, 1),
                insn(EXIT, 0, 0, 0, 0),
            ]
        );
        assert_eq!(run(&p, DEV_BLOCK, R, 8, 1), 1);
        assert_eq!(run(&p, DEV_BLOCK, W, 8, 1), 0);
        assert_eq!(
            run(&p, DEV_BLOCK, R | W, 8, 1),
            0,
            "one denied bit refuses the open"
        );
        assert_eq!(run(&p, DEV_CHAR, W, 8, 1), 1);
    }

    #[test]
    fn last_matching_rule_wins() {
        // runc's usual list: deny all, then allow some.
        let p = program(&[
            dev(false, "a", None, None, "rwm"),
            dev(true, "c", Some(1), Some(3), "rwm"),
            dev(true, "c", Some(136), None, "rwm"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, R | W, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, R | W, 136, 7), 1);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 5), 0);
        assert_eq!(run(&p, DEV_BLOCK, R, 136, 7), 0);

        // The same allow, then taken back: the later deny wins.
        let p = program(&[
            dev(true, "c", Some(1), Some(3), "rwm"),
            dev(false, "c", Some(1), Some(3), "rwm"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 0);
        // ...and given again.
        let p = program(&[
            dev(true, "c", Some(1), Some(3), "rwm"),
            dev(false, "c", Some(1), Some(3), "rwm"),
            dev(true, "c", Some(1), None, "r"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, W, 1, 3), 0);

        // Allow everything, deny one: a hole in the wildcard.
        let p = program(&[
            dev(true, "a", None, None, "rwm"),
            dev(false, "c", Some(1), Some(5), "rwm"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 5), 0);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 1);
        assert_eq!(run(&p, DEV_BLOCK, R, 1, 5), 1);
    }

    #[test]
    fn access_bits_are_decided_one_by_one() {
        // Split grants add up.
        let p = program(&[
            dev(true, "c", Some(1), Some(3), "r"),
            dev(true, "c", Some(1), Some(3), "w"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, R | W, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, M, 1, 3), 0);
        // A later partial deny takes back only its bit.
        let p = program(&[
            dev(true, "c", Some(1), Some(3), "rw"),
            dev(false, "c", Some(1), Some(3), "w"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 1);
        assert_eq!(run(&p, DEV_CHAR, W, 1, 3), 0);
        assert_eq!(run(&p, DEV_CHAR, R | W, 1, 3), 0);
        // An earlier deny does not take back what a later allow gave.
        let p = program(&[
            dev(false, "c", Some(1), Some(3), "w"),
            dev(true, "c", Some(1), None, "rw"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, R | W, 1, 3), 1);
        // mknod is its own bit.
        let p = program(&[
            dev(true, "c", None, None, "m"),
            dev(true, "c", Some(1), Some(3), "rw"),
        ]);
        assert_eq!(run(&p, DEV_CHAR, M, 4, 64), 1);
        assert_eq!(run(&p, DEV_CHAR, M, 1, 3), 1);
        assert_eq!(run(&p, DEV_BLOCK, M, 8, 0), 0);
        assert_eq!(run(&p, DEV_CHAR, R, 4, 64), 0);
    }

    #[test]
    fn empty_list_and_no_op_rules_refuse() {
        let p = program(&[]);
        assert_eq!(p.len(), 8);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 0);
        // No access named: the rule is skipped, not read as "everything".
        let p = program(&[dev(true, "a", None, None, "")]);
        assert_eq!(p.len(), 8);
        assert_eq!(run(&p, DEV_CHAR, R, 1, 3), 0);
    }

    #[test]
    fn readings_of_the_config() {
        let d: LinuxDeviceCgroup =
            serde_json::from_value(serde_json::json!({"allow": true})).unwrap();
        assert_eq!(
            rules(&[d]).unwrap(),
            [Rule {
                allow: true,
                typ: None,
                major: None,
                minor: None,
                access: R | W | M
            }]
        );
        let r = rules(&[dev(false, "c", Some(-1), Some(3), "mr")]).unwrap();
        assert_eq!(
            r[0],
            Rule {
                allow: false,
                typ: Some(DEV_CHAR),
                major: None,
                minor: Some(3),
                access: R | M
            }
        );
        let e = rules(&[dev(true, "c", Some(1), Some(3), "rwx")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("devices[0]") && e.contains("'x'"), "{e}");
        let e = rules(&[dev(true, "p", None, None, "rwm")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"p\""), "{e}");
        let e = rules(&[dev(true, "c", Some(1 << 40), None, "r")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("major"), "{e}");
    }

    #[test]
    fn instructions_are_eight_bytes() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        let i = insn(MOV32_X, R0, ACCESS, 0, 0);
        assert_eq!(i.regs, 0x30);
    }
}
