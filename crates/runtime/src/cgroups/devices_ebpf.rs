//! Generating the BPF_PROG_TYPE_CGROUP_DEVICE program that enforces OCI device
//! rules on cgroup v2. Semantics: the last rule matching a request decides;
//! no match allows (a leading deny-all rule therefore makes the default deny).
//!
//! The program reads `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }` where access_type = (access << 16) | type, and returns 1 to
//! allow or 0 to deny.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::{Error, Result};

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    pub(crate) code: u8,
    /// dst register in the low nibble, src register in the high nibble.
    pub(crate) regs: u8,
    pub(crate) off: i16,
    pub(crate) imm: i32,
}

// Opcodes (class | op | source) from linux/bpf.h and linux/bpf_common.h.
pub(crate) const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
pub(crate) const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub(crate) const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
pub(crate) const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
pub(crate) const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
pub(crate) const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
pub(crate) const JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
pub(crate) const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// Device types and access bits of bpf_cgroup_dev_ctx.
pub(crate) const DEV_BLOCK: u32 = 1;
pub(crate) const DEV_CHAR: u32 = 2;
pub(crate) const ACC_MKNOD: u32 = 1;
pub(crate) const ACC_READ: u32 = 2;
pub(crate) const ACC_WRITE: u32 = 4;
const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

// Registers: r1 = ctx, r2 = type, r3 = access, r4 = major, r5 = minor, r6 = scratch.
const R0: u8 = 0;
const R1: u8 = 1;
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;
const R_TMP: u8 = 6;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// A device rule reduced to what the program checks; `None` is a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) allow: bool,
    pub(crate) typ: Option<u32>,
    pub(crate) access: u32,
    pub(crate) major: Option<u32>,
    pub(crate) minor: Option<u32>,
}

impl Rule {
    /// `None` for rules that can never match a device check (fifos).
    pub(crate) fn from_oci(r: &LinuxDeviceCgroup) -> Result<Option<Rule>> {
        let typ = match r.typ() {
            None | Some(LinuxDeviceType::A) => None,
            Some(LinuxDeviceType::B) => Some(DEV_BLOCK),
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => Some(DEV_CHAR),
            Some(LinuxDeviceType::P) => return Ok(None),
        };
        let num = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok());
        Ok(Some(Rule {
            allow: r.allow(),
            typ,
            access: parse_access(r.access().as_deref().unwrap_or(""))?,
            major: num(r.major()),
            minor: num(r.minor()),
        }))
    }

    /// Whether the rule applies to a request (requested access ⊆ rule access);
    /// the reference semantics the generated program is tested against.
    #[cfg(test)]
    pub(crate) fn matches(&self, typ: u32, access: u32, major: u32, minor: u32) -> bool {
        self.typ.is_none_or(|t| t == typ)
            && access & self.access == access
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
    }

    fn is_unconditional(&self) -> bool {
        self.typ.is_none() && self.access == ACC_ALL && self.major.is_none() && self.minor.is_none()
    }
}

fn parse_access(s: &str) -> Result<u32> {
    if s.is_empty() {
        return Ok(ACC_ALL);
    }
    s.chars().try_fold(0, |acc, c| match c {
        'r' => Ok(acc | ACC_READ),
        'w' => Ok(acc | ACC_WRITE),
        'm' => Ok(acc | ACC_MKNOD),
        _ => Err(Error::Invalid {
            what: "device access",
            value: s.to_string(),
            reason: "only r, w and m are allowed",
        }),
    })
}

/// The program for OCI device rules.
pub(crate) fn program(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>> {
    let mut parsed = Vec::with_capacity(rules.len());
    for r in rules {
        parsed.extend(Rule::from_oci(r)?);
    }
    Ok(program_for(&parsed))
}

/// The program for reduced rules: checks the rules last to first and returns
/// at the first match; stops after a rule that matches everything (code
/// after it would be unreachable, which the verifier rejects).
pub(crate) fn program_for(rules: &[Rule]) -> Vec<Insn> {
    let mut out = prologue();
    for rule in rules.iter().rev() {
        out.extend(rule_block(rule));
        if rule.is_unconditional() {
            return out;
        }
    }
    out.push(insn(ALU64_MOV_K, R0, 0, 0, 1));
    out.push(insn(JMP_EXIT, 0, 0, 0, 0));
    out
}

fn prologue() -> Vec<Insn> {
    vec![
        insn(LDX_MEM_W, R_TYPE, R1, 0, 0),
        insn(ALU32_AND_K, R_TYPE, 0, 0, 0xffff),
        insn(LDX_MEM_W, R_ACCESS, R1, 0, 0),
        insn(ALU32_RSH_K, R_ACCESS, 0, 0, 16),
        insn(LDX_MEM_W, R_MAJOR, R1, 4, 0),
        insn(LDX_MEM_W, R_MINOR, R1, 8, 0),
    ]
}

/// Checks for one rule, each jumping past the block on mismatch, then
/// "return allow". Jump offsets are patched once the block length is known.
fn rule_block(rule: &Rule) -> Vec<Insn> {
    let mut block = Vec::new();
    if let Some(t) = rule.typ {
        block.push(insn(JMP_JNE_K, R_TYPE, 0, 0, t as i32));
    }
    if rule.access != ACC_ALL {
        block.push(insn(ALU32_MOV_X, R_TMP, R_ACCESS, 0, 0));
        block.push(insn(ALU32_AND_K, R_TMP, 0, 0, rule.access as i32));
        block.push(insn(JMP_JNE_X, R_TMP, R_ACCESS, 0, 0));
    }
    if let Some(m) = rule.major {
        block.push(insn(JMP_JNE_K, R_MAJOR, 0, 0, m as i32));
    }
    if let Some(m) = rule.minor {
        block.push(insn(JMP_JNE_K, R_MINOR, 0, 0, m as i32));
    }
    block.push(insn(ALU64_MOV_K, R0, 0, 0, i32::from(rule.allow)));
    block.push(insn(JMP_EXIT, 0, 0, 0, 0));
    let len = block.len();
    for (i, ins) in block.iter_mut().enumerate() {
        if ins.code == JMP_JNE_K || ins.code == JMP_JNE_X {
            ins.off = (len - 1 - i) as i16;
        }
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALU32_AND_X: u8 = 0x5c; // BPF_ALU | BPF_AND | BPF_X

    /// A tiny interpreter for exactly the instructions `program_for` emits.
    fn run(prog: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads only from ctx");
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU32_AND_K => r[dst] = u64::from(r[dst] as u32 & i.imm as u32),
                ALU32_AND_X => r[dst] = u64::from(r[dst] as u32 & r[src] as u32),
                ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                JMP_JNE_K if r[dst] != i.imm as i64 as u64 => pc += i.off as usize,
                JMP_JNE_X if r[dst] != r[src] => pc += i.off as usize,
                JMP_JNE_K | JMP_JNE_X => {}
                JMP_EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn rule(
        allow: bool,
        typ: Option<u32>,
        access: u32,
        major: Option<u32>,
        minor: Option<u32>,
    ) -> Rule {
        Rule {
            allow,
            typ,
            access,
            major,
            minor,
        }
    }

    /// Reference semantics: last matching rule wins, default allow.
    fn expected(rules: &[Rule], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let last = rules
            .iter()
            .rev()
            .find(|r| r.matches(typ, access, major, minor));
        u64::from(last.is_none_or(|r| r.allow))
    }

    fn rule_sets() -> Vec<Vec<Rule>> {
        let deny_all = rule(false, None, ACC_ALL, None, None);
        vec![
            vec![],
            vec![deny_all],
            vec![
                deny_all,
                rule(true, Some(DEV_CHAR), ACC_ALL, Some(1), Some(3)),
                rule(true, Some(DEV_CHAR), ACC_READ, Some(1), Some(5)),
                rule(true, Some(DEV_BLOCK), ACC_MKNOD, None, None),
                rule(true, None, ACC_MKNOD, Some(136), None),
                rule(
                    false,
                    Some(DEV_CHAR),
                    ACC_WRITE | ACC_READ,
                    Some(1),
                    Some(3),
                ),
            ],
            vec![
                rule(false, Some(DEV_CHAR), ACC_WRITE, Some(10), Some(200)),
                rule(true, Some(DEV_CHAR), ACC_ALL, Some(10), None),
            ],
            vec![
                rule(true, Some(DEV_CHAR), ACC_ALL, Some(1), Some(3)),
                deny_all,
                rule(true, Some(DEV_CHAR), ACC_READ, Some(5), Some(0)),
            ],
        ]
    }

    #[test]
    fn program_agrees_with_last_match_wins_on_all_requests() {
        for rules in rule_sets() {
            let prog = program_for(&rules);
            for typ in [DEV_BLOCK, DEV_CHAR] {
                for access in 1..=ACC_ALL {
                    for major in [0, 1, 5, 10, 136] {
                        for minor in [0, 3, 5, 200] {
                            let got = run(&prog, typ, access, major, minor);
                            let want = expected(&rules, typ, access, major, minor);
                            assert_eq!(got, want, "{rules:?} t{typ} a{access} {major}:{minor}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn deny_all_ends_program_and_encoding_is_bpf_insn() {
        let deny_all = rule(false, None, ACC_ALL, None, None);
        let allow_null = rule(true, Some(DEV_CHAR), ACC_ALL, Some(1), Some(3));
        let prog = program_for(&[deny_all, allow_null]);
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        // prologue 6, null block 3 checks + 2, deny-all block 2, no epilogue
        assert_eq!(prog.len(), 6 + 5 + 2);
        assert_eq!(prog[6], insn(JMP_JNE_K, R_TYPE, 0, 4, DEV_CHAR as i32));
        assert_eq!(prog[6].regs, 0x02);
        assert_eq!(prog[0].regs, 0x12, "dst r2, src r1");
        assert_eq!(prog[11], insn(ALU64_MOV_K, R0, 0, 0, 0));
        assert_eq!(prog[12].code, JMP_EXIT);
    }

    #[test]
    fn oci_rules_convert() {
        let rules: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},
                {"allow":true,"type":"p"}]"#,
        )
        .unwrap();
        let parsed: Vec<Option<Rule>> = rules.iter().map(|r| Rule::from_oci(r).unwrap()).collect();
        assert_eq!(parsed[0], Some(rule(false, None, ACC_ALL, None, None)));
        assert_eq!(
            parsed[1],
            Some(rule(
                true,
                Some(DEV_CHAR),
                ACC_READ | ACC_WRITE,
                Some(1),
                Some(3)
            ))
        );
        assert_eq!(parsed[2], None);
        let bad: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"access":"rx"}"#).unwrap();
        assert!(Rule::from_oci(&bad).is_err());
    }
}
