//! The engine's OCI spec for a plain `docker run busybox …`, run by tug's runtime: a process
//! inside must observe Docker's defaults (capabilities, seccomp, masked and read-only /proc
//! paths, /dev/shm size, host name, environment) and be unable to mount or unshare.

mod common;

use common::*;
use engine::spec::{self, CreateRequest, ImageConfig, RealHost, SpecInput};

const ID: &str = "e2e0c0ffee0123456789abcdef0123456789abcdef0123456789abcdef012345";

const SCRIPT: &str = r#"
grep -E '^(CapEff|CapBnd|CapPrm|CapInh|Seccomp):' /proc/self/status
for f in /proc/kcore /proc/keys /proc/timer_list /proc/interrupts; do
    [ -e $f ] && echo "masked $f $(wc -c < $f)"
done
echo "acpi=$(ls -A /proc/acpi | wc -l)"
if echo x > /proc/sys/kernel/domainname; then echo procsys=writable; else echo procsys=readonly; fi
echo "mount=$(mount -t tmpfs none /tmp 2>&1 && echo ok)"
echo "unshare=$(unshare -n true 2>&1 && echo ok)"
echo "hostname=$(hostname)"
echo "home=$HOME"
echo "path=$PATH"
echo "ids=$(id -u):$(id -g)"
echo "shm=$(df -k /dev/shm | tail -n 1 | awk '{print $2}')"
ls /bin > /dev/null && echo ls=ok
echo hi > /tmp/file && cat /tmp/file
"#;

/// The spec the engine would make for `docker run [flags] busybox sh -c script`, for
/// `bundle`; `config` and `host_config` are the request's fields for the flags.
fn docker_run_spec(
    bundle: &Bundle,
    script: &str,
    mut config: serde_json::Value,
    host_config: serde_json::Value,
) -> serde_json::Value {
    config["Image"] = "busybox".into();
    config["Cmd"] = serde_json::json!(["sh", "-c", script]);
    config["HostConfig"] = host_config;
    let body = config;
    let req: CreateRequest = serde_json::from_value(body).unwrap();
    let image: ImageConfig = serde_json::from_str(r#"{"Env":["PATH=/bin"],"Cmd":["sh"]}"#).unwrap();
    let config = spec::merge(&req.config, &image).unwrap();
    let rootfs = bundle.rootfs();
    let mut input = SpecInput::new(ID, &config, &req.host_config, &rootfs, &RealHost);
    // A relative path: the container's cgroup nests under the test's own, and goes with it.
    input.cgroup_parent = String::new();
    spec::spec_json(&spec::to_oci(&input).unwrap())
}

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in output:\n{out}"))
}

#[test]
fn plain_docker_run_observes_docker_s_defaults() {
    let mut bundle = Bundle::new(&["true"]);
    let host_config = serde_json::json!({"NetworkMode": "default", "CapAdd": null});
    let config = docker_run_spec(
        &bundle,
        SCRIPT,
        serde_json::json!({"Env": null}),
        host_config,
    );
    bundle.edit(|c| *c = config);
    let rt = Runtime::new();
    let out = ok(rt.run_bundle(&bundle));

    for set in ["CapEff", "CapBnd", "CapPrm"] {
        assert_eq!(cap_mask(&out, set), 0xa80425fb, "{set}:\n{out}");
    }
    assert_eq!(cap_mask(&out, "CapInh"), 0, "{out}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().eq(["Seccomp:", "2"])),
        "{out}"
    );
    // Masked files read as empty; this kernel may lack some (e.g. /proc/kcore), so every
    // one the host has must be masked, and the host must have some.
    let masked: Vec<&str> = out.lines().filter(|l| l.starts_with("masked ")).collect();
    for path in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/interrupts",
    ] {
        if std::path::Path::new(path).exists() {
            let want = format!("masked {path} 0");
            assert!(
                masked.contains(&want.as_str()),
                "{path} is not masked:\n{out}"
            );
        }
    }
    assert!(!masked.is_empty(), "no masked path to check:\n{out}");
    if std::path::Path::new("/proc/acpi").exists() {
        assert_eq!(value(&out, "acpi").trim(), "0", "/proc/acpi is not masked");
    }
    assert_eq!(value(&out, "procsys"), "readonly");
    let mount = value(&out, "mount");
    assert!(
        !mount.ends_with("ok") && mount.contains("denied"),
        "mount: {mount}"
    );
    let unshare = value(&out, "unshare");
    assert!(
        unshare.contains("Operation not permitted"),
        "unshare: {unshare}"
    );
    assert_eq!(value(&out, "hostname"), &ID[..12]);
    assert_eq!(value(&out, "home"), "/root");
    assert_eq!(value(&out, "path"), "/bin");
    assert_eq!(value(&out, "ids"), "0:0");
    assert_eq!(value(&out, "shm"), "65536");
    assert_eq!(value(&out, "ls"), "ok");
    assert!(
        out.lines().any(|l| l == "hi"),
        "writing /tmp failed:\n{out}"
    );
}

#[test]
fn non_root_user_has_no_effective_capabilities() {
    let mut bundle = Bundle::new(&["true"]);
    let script = "grep -E '^Cap(Eff|Bnd):' /proc/self/status; echo ids=$(id -u):$(id -g)";
    let config = serde_json::json!({"User": "1000:1000"});
    let config = docker_run_spec(&bundle, script, config, serde_json::json!({}));
    bundle.edit(|c| *c = config);
    let out = ok(Runtime::new().run_bundle(&bundle));
    assert_eq!(cap_mask(&out, "CapEff"), 0, "{out}");
    assert_eq!(cap_mask(&out, "CapBnd"), 0xa80425fb, "{out}");
    assert_eq!(value(&out, "ids"), "1000:1000");
}

#[test]
fn cap_sys_admin_unlocks_mount_and_unshare_through_seccomp() {
    let mut bundle = Bundle::new(&["true"]);
    let script = "grep '^Seccomp:' /proc/self/status; \
        echo mount=$(mount -t tmpfs none /tmp 2>&1 && echo ok); \
        echo unshare=$(unshare -n true 2>&1 && echo ok)";
    let host_config = serde_json::json!({"CapAdd": ["SYS_ADMIN"]});
    let config = docker_run_spec(&bundle, script, serde_json::json!({}), host_config);
    bundle.edit(|c| *c = config);
    let out = ok(Runtime::new().run_bundle(&bundle));
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().eq(["Seccomp:", "2"])),
        "{out}"
    );
    assert_eq!(value(&out, "mount"), "ok", "{out}");
    assert_eq!(value(&out, "unshare"), "ok", "{out}");
}
