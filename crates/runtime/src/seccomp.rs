//! An OCI seccomp profile turned into a BPF filter (through libseccomp) and loaded.

use crate::error::{Error, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompArg, LinuxSeccompFilterFlag as F,
    LinuxSeccompOperator as Op,
};
use std::str::FromStr;

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
    Error::Seccomp(format!("{what}: {e}"))
}

fn action(a: A, errno: Option<u32>) -> Result<ScmpAction> {
    Ok(match a {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(errno.unwrap_or(libc::EPERM as u32) as i32),
        A::ScmpActTrace => ScmpAction::Trace(errno.unwrap_or(libc::EPERM as u32) as u16),
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActNotify => {
            return Err(Error::Unsupported(
                "seccomp action SCMP_ACT_NOTIFY is not supported by tug's runtime".into(),
            ))
        }
    })
}

fn compare(arg: &LinuxSeccompArg) -> ScmpArgCompare {
    let op = match arg.op() {
        Op::ScmpCmpNe => ScmpCompareOp::NotEqual,
        Op::ScmpCmpLt => ScmpCompareOp::Less,
        Op::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        Op::ScmpCmpEq => ScmpCompareOp::Equal,
        Op::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        Op::ScmpCmpGt => ScmpCompareOp::Greater,
        Op::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(arg.value()),
    };
    let datum = match arg.op() {
        Op::ScmpCmpMaskedEq => arg.value_two().unwrap_or(0),
        _ => arg.value(),
    };
    ScmpArgCompare::new(arg.index() as u32, op, datum)
}

/// Build the filter for a profile (not loaded yet).
pub fn build(profile: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| err("new filter", e))?;
    ctx.set_ctl_nnp(false).map_err(|e| err("ctl nnp", e))?;
    for arch in profile.architectures().iter().flatten() {
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(String::from));
        let name = name.unwrap_or_default();
        let a = ScmpArch::from_str(&name).map_err(|e| err(format!("architecture {name}"), e))?;
        ctx.add_arch(a)
            .map_err(|e| err(format!("add architecture {name}"), e))?;
    }
    for flag in profile.flags().iter().flatten() {
        match flag {
            F::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
            F::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            F::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
            F::SeccompFilterFlagWaitKillableRecv => ctx.set_ctl_waitkill(true),
        }
        .map_err(|e| err(format!("flag {flag:?}"), e))?;
    }
    for rule in profile.syscalls().iter().flatten() {
        if rule.action() == profile.default_action()
            && rule.errno_ret() == profile.default_errno_ret()
        {
            continue;
        }
        let act = action(rule.action(), rule.errno_ret())?;
        let args = rule.args().clone().unwrap_or_default();
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue; // unknown to this kernel/libseccomp: as runc, skip it
            };
            add_rule(&mut ctx, act, sc, &args).map_err(|e| err(format!("syscall {name}"), e))?;
        }
    }
    Ok(ctx)
}

fn add_rule(
    ctx: &mut ScmpFilterContext,
    act: ScmpAction,
    sc: ScmpSyscall,
    args: &[LinuxSeccompArg],
) -> std::result::Result<(), libseccomp::error::SeccompError> {
    if args.is_empty() {
        return ctx.add_rule(act, sc).map(|_| ());
    }
    let mut indexes: Vec<usize> = args.iter().map(|a| a.index()).collect();
    indexes.sort_unstable();
    indexes.dedup();
    if indexes.len() == args.len() {
        let cmps: Vec<ScmpArgCompare> = args.iter().map(compare).collect();
        return ctx.add_rule_conditional(act, sc, &cmps).map(|_| ());
    }
    // Several conditions on one argument: each becomes its own rule (any may match), as runc.
    for a in args {
        ctx.add_rule_conditional(act, sc, &[compare(a)])?;
    }
    Ok(())
}

pub fn load(profile: &LinuxSeccomp) -> Result<()> {
    build(profile)?.load().map_err(|e| err("load filter", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_profile_with_conditions_and_skips_unknown_syscalls() {
        let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [
                {"names": ["mkdir", "no_such_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                          {"index": 0, "value": 9, "op": "SCMP_CMP_EQ"}]},
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
            ]
        }))
        .unwrap();
        let ctx = build(&profile).unwrap();
        let mut file = tempfile::tempfile().unwrap();
        ctx.export_bpf(&file).unwrap();
        let len = std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0)).unwrap();
        // Each rule costs instructions of 8 bytes: a filter with the rules above is long.
        assert!(len > 8 * 8, "filter suspiciously short: {len} bytes");
    }

    #[test]
    fn notify_is_refused_clearly() {
        let profile: LinuxSeccomp =
            serde_json::from_value(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}))
                .unwrap();
        let e = build(&profile).err().unwrap().to_string();
        assert!(e.contains("SCMP_ACT_NOTIFY"), "{e}");
    }
}
