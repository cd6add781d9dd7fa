//! `--security-opt`: `no-new-privileges[=true|false]`, `seccomp=unconfined|builtin|<profile>`,
//! `apparmor=<profile>`, `label=disable` (other SELinux labels are refused: tug has no SELinux
//! support), `systempaths=unconfined` and `writable-cgroups=true|false`. Docker's legacy
//! `key:value` spelling is accepted too.

use super::seccomp::{self, Target};
use super::SpecError;
use oci_spec::runtime::LinuxSeccomp;

/// Which seccomp filter the container gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SeccompChoice {
    /// tug's default profile.
    #[default]
    Default,
    /// No filter.
    Unconfined,
    /// A Docker-format profile: its JSON text, and where it came from (for errors).
    Profile { json: String, source: String },
}

/// The parsed security options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp: SeccompChoice,
    pub apparmor: Option<String>,
    /// `systempaths=unconfined`: no masked or read-only /proc and /sys paths.
    pub unconfined_paths: bool,
    pub writable_cgroups: bool,
}

fn bool_value(option: &str, v: &str) -> Result<bool, SpecError> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(SpecError::SecurityOpt {
            option: option.to_string(),
            reason: "want true or false".into(),
        }),
    }
}

/// Parse every `--security-opt`. A seccomp value that is not JSON is read as a file path.
pub fn parse(options: &[String]) -> Result<SecurityOpts, SpecError> {
    let mut out = SecurityOpts::default();
    for option in options {
        let bad = |reason: &str| SpecError::SecurityOpt {
            option: option.clone(),
            reason: reason.to_string(),
        };
        if option == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        let (key, value) = option
            .split_once('=')
            .or_else(|| option.split_once(':'))
            .ok_or_else(|| bad("want key=value"))?;
        match key {
            "no-new-privileges" => out.no_new_privileges = bool_value(option, value)?,
            "seccomp" => out.seccomp = seccomp_choice(value)?,
            "apparmor" if value.is_empty() => return Err(bad("empty AppArmor profile")),
            "apparmor" => out.apparmor = Some(value.to_string()),
            "label" if value == "disable" => {}
            "label" => return Err(bad("SELinux is not supported")),
            "systempaths" if value == "unconfined" => out.unconfined_paths = true,
            "systempaths" => return Err(bad("the only value is unconfined")),
            "writable-cgroups" => out.writable_cgroups = bool_value(option, value)?,
            _ => return Err(bad("unknown option")),
        }
    }
    Ok(out)
}

fn seccomp_choice(value: &str) -> Result<SeccompChoice, SpecError> {
    Ok(match value {
        "unconfined" => SeccompChoice::Unconfined,
        "builtin" | "" => SeccompChoice::Default,
        v if v.trim_start().starts_with('{') => SeccompChoice::Profile {
            json: v.to_string(),
            source: "from the request".to_string(),
        },
        path => {
            let json = std::fs::read_to_string(path).map_err(|e| SpecError::SeccompProfile {
                source_name: path.to_string(),
                reason: e.to_string(),
            })?;
            SeccompChoice::Profile {
                json,
                source: path.to_string(),
            }
        }
    })
}

/// The filter for a container with the final capabilities in `target`; `None` when
/// unconfined or privileged.
pub fn seccomp_filter(
    choice: &SeccompChoice,
    privileged: bool,
    target: &Target,
) -> Result<Option<LinuxSeccomp>, SpecError> {
    if privileged {
        return Ok(None);
    }
    match choice {
        SeccompChoice::Unconfined => Ok(None),
        SeccompChoice::Default => Ok(Some(seccomp::default_profile(target.caps, target.arch))),
        SeccompChoice::Profile { json, source } => {
            let profile = seccomp::parse(json, source)?;
            seccomp::resolve(&profile, target, source).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<SecurityOpts, SpecError> {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn no_new_privileges_in_all_spellings() {
        assert!(p(&["no-new-privileges"]).unwrap().no_new_privileges);
        assert!(p(&["no-new-privileges=true"]).unwrap().no_new_privileges);
        assert!(p(&["no-new-privileges:true"]).unwrap().no_new_privileges);
        assert!(!p(&["no-new-privileges=false"]).unwrap().no_new_privileges);
        assert!(p(&["no-new-privileges=maybe"]).is_err());
    }

    #[test]
    fn seccomp_choices() {
        assert_eq!(
            p(&["seccomp=unconfined"]).unwrap().seccomp,
            SeccompChoice::Unconfined
        );
        assert_eq!(
            p(&["seccomp=builtin"]).unwrap().seccomp,
            SeccompChoice::Default
        );
        let inline = p(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#]).unwrap();
        assert!(matches!(inline.seccomp, SeccompChoice::Profile { .. }));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.json");
        std::fs::write(&file, r#"{"defaultAction":"SCMP_ACT_LOG"}"#).unwrap();
        let opt = format!("seccomp={}", file.display());
        let from_file = parse(&[opt]).unwrap();
        let t = Target {
            caps: &[],
            arch: "x86_64",
            kernel: (6, 1),
        };
        let f = seccomp_filter(&from_file.seccomp, false, &t)
            .unwrap()
            .unwrap();
        assert_eq!(
            f.default_action(),
            oci_spec::runtime::LinuxSeccompAction::ScmpActLog
        );
        let e = p(&["seccomp=/no/such/profile.json"]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("seccomp profile /no/such/profile.json:"),
            "{e}"
        );
    }

    #[test]
    fn privileged_and_unconfined_have_no_filter() {
        let t = Target {
            caps: &[],
            arch: "x86_64",
            kernel: (6, 1),
        };
        assert!(seccomp_filter(&SeccompChoice::Default, true, &t)
            .unwrap()
            .is_none());
        assert!(seccomp_filter(&SeccompChoice::Unconfined, false, &t)
            .unwrap()
            .is_none());
        assert!(seccomp_filter(&SeccompChoice::Default, false, &t)
            .unwrap()
            .is_some());
    }

    #[test]
    fn apparmor_label_and_unknown_options() {
        assert_eq!(
            p(&["apparmor=my-profile"]).unwrap().apparmor.as_deref(),
            Some("my-profile")
        );
        assert!(p(&["label=disable"]).is_ok());
        assert!(p(&["label:disable"]).is_ok());
        let e = p(&["label=user:USER"]).unwrap_err();
        assert!(e.to_string().contains("SELinux is not supported"), "{e}");
        assert!(p(&["bogus=1"]).is_err());
        assert!(p(&["nonsense"]).is_err());
        assert!(p(&["systempaths=unconfined"]).unwrap().unconfined_paths);
        assert!(p(&["writable-cgroups=true"]).unwrap().writable_cgroups);
    }
}
