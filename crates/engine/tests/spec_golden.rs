//! Golden files: the OCI spec generated for representative `docker run` requests must equal
//! the checked-in `tests/golden/spec_<case>.json`. After an intended change, rewrite them
//! with `UPDATE_GOLDEN=1 cargo test -p tug-engine --test spec_golden` and review the diff.
//!
//! Requests are written as the docker CLI sends them (JSON bodies of `POST /containers/create`).
//! The host is a fixed [`StaticHost`] (cgroup v2, x86_64), the rootfs a temporary directory
//! with a small /etc/passwd and /etc/group; its path is written as `/ROOTFS`. Only the first
//! case shows the whole default seccomp profile; the others show a marker when their filter is
//! exactly the default profile for their capabilities.

use engine::spec::{self, seccomp, CreateRequest, ImageConfig, SpecInput, StaticHost};
use serde_json::Value;
use std::path::{Path, PathBuf};

const ID: &str = "3f4e5d6c7b8a99aabbccddeeff00112233445566778899aabbccddeeff001122";

const BUSYBOX: &str = r#"{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Cmd":["sh"]}"#;

const NGINX: &str = r#"{"ExposedPorts":{"80/tcp":{}},
    "Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NGINX_VERSION=1.27.0"],
    "Entrypoint":["/docker-entrypoint.sh"],"Cmd":["nginx","-g","daemon off;"],
    "Labels":{"maintainer":"NGINX"},"StopSignal":"SIGQUIT","WorkingDir":""}"#;

/// The fields `docker run` always sends, with a case's fields (JSON objects) put over them.
fn request(extra: &str, host_extra: &str) -> String {
    let mut base: Value = serde_json::from_str(&base_request()).unwrap();
    let extra: Value = serde_json::from_str(extra).unwrap();
    let host_extra: Value = serde_json::from_str(host_extra).unwrap();
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    for (k, v) in host_extra.as_object().unwrap() {
        base["HostConfig"][k] = v.clone();
    }
    base.to_string()
}

fn base_request() -> String {
    String::from(
        r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,
        "AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,
        "Cmd":null,"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,
        "OnBuild":null,"Labels":{},
        "HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
          "NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},
          "AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],
          "CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],
          "ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,
          "PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,
          "SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"",
          "CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,
          "BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],
          "BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,
          "CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"",
          "Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,
          "MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,
          "Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,
          "MaskedPaths":null,"ReadonlyPaths":null},
        "NetworkingConfig":{"EndpointsConfig":{}}}"#,
    )
}

struct Case {
    name: &'static str,
    /// What `docker run` was given, for the reader.
    _command: &'static str,
    image: &'static str,
    extra: &'static str,
    host_extra: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "run_busybox",
        _command: "docker run busybox",
        image: BUSYBOX,
        extra: "{}",
        host_extra: "{}",
    },
    Case {
        name: "user_workdir_env",
        _command: "docker run -u 1000:1000 -w /tmp -e A=1 busybox",
        image: BUSYBOX,
        extra: r#"{"User":"1000:1000","WorkingDir":"/tmp","Env":["A=1"]}"#,
        host_extra: "{}",
    },
    Case {
        name: "named_user_group_add",
        _command: "docker run -u app --group-add audio busybox id",
        image: BUSYBOX,
        extra: r#"{"User":"app","Cmd":["id"]}"#,
        host_extra: r#"{"GroupAdd":["audio"]}"#,
    },
    Case {
        name: "cap_add_drop",
        _command: "docker run --cap-add NET_ADMIN --cap-drop CHOWN busybox",
        image: BUSYBOX,
        extra: "{}",
        host_extra: r#"{"CapAdd":["NET_ADMIN"],"CapDrop":["CHOWN"]}"#,
    },
    Case {
        name: "cap_add_sys_admin",
        _command: "docker run --cap-add sys_admin busybox",
        image: BUSYBOX,
        extra: "{}",
        host_extra: r#"{"CapAdd":["sys_admin"]}"#,
    },
    Case {
        name: "privileged",
        _command: "docker run --privileged busybox",
        image: BUSYBOX,
        extra: "{}",
        host_extra: r#"{"Privileged":true}"#,
    },
    Case {
        name: "resources",
        _command: "docker run -m 64m --cpus 1.5 --pids-limit 10 --cpu-shares 512 --ulimit nofile=1024:2048 busybox",
        image: BUSYBOX,
        extra: "{}",
        host_extra: r#"{"Memory":67108864,"NanoCpus":1500000000,"PidsLimit":10,"CpuShares":512,
            "Ulimits":[{"Name":"nofile","Hard":2048,"Soft":1024}]}"#,
    },
    Case {
        name: "read_only_tmpfs",
        _command: "docker run --read-only --tmpfs /run:size=1m --shm-size 128m busybox",
        image: BUSYBOX,
        extra: "{}",
        host_extra: r#"{"ReadonlyRootfs":true,"Tmpfs":{"/run":"size=1m"},"ShmSize":134217728}"#,
    },
    Case {
        name: "no_new_privileges_unconfined",
        _command: "docker run --security-opt no-new-privileges --security-opt seccomp=unconfined busybox",
        image: BUSYBOX,
        extra: "{}",
        host_extra: r#"{"SecurityOpt":["no-new-privileges","seccomp=unconfined"]}"#,
    },
    Case {
        name: "entrypoint_drops_image_cmd",
        _command: "docker run --entrypoint /bin/sh nginx",
        image: NGINX,
        extra: r#"{"Image":"nginx","Entrypoint":["/bin/sh"]}"#,
        host_extra: "{}",
    },
    Case {
        name: "entrypoint_and_cmd",
        _command: "docker run --entrypoint /bin/echo nginx hello",
        image: NGINX,
        extra: r#"{"Image":"nginx","Entrypoint":["/bin/echo"],"Cmd":["hello"]}"#,
        host_extra: "{}",
    },
    Case {
        name: "image_entrypoint_request_cmd",
        _command: "docker run nginx nginx -T",
        image: NGINX,
        extra: r#"{"Image":"nginx","Cmd":["nginx","-T"]}"#,
        host_extra: "{}",
    },
    Case {
        name: "tty_interactive",
        _command: "docker run -t -i busybox",
        image: BUSYBOX,
        extra: r#"{"Tty":true,"OpenStdin":true,"StdinOnce":true,"AttachStdin":true}"#,
        host_extra: r#"{"ConsoleSize":[40,120]}"#,
    },
    Case {
        name: "devices_sysctls_host_network",
        _command: "docker run --network host --device /dev/fuse --device-cgroup-rule 'c 1:3 r' --sysctl kernel.shmmax=1000 --hostname web busybox",
        image: BUSYBOX,
        extra: r#"{"Hostname":"web"}"#,
        host_extra: r#"{"NetworkMode":"host","Devices":[{"PathOnHost":"/dev/fuse","PathInContainer":"/dev/fuse","CgroupPermissions":"rwm"}],
            "DeviceCgroupRules":["c 1:3 r"],"Sysctls":{"kernel.shmmax":"1000"}}"#,
    },
];

fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("tug-golden-")
        .tempdir()
        .unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1001:1001:app:/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("etc/group"),
        "root:x:0:\nwheel:x:10:root\naudio:x:29:\napp:x:1001:\n",
    )
    .unwrap();
    dir
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("spec_{name}.json"))
}

/// The spec for a case as the golden file holds it.
fn generate(case: &Case, rootfs: &Path, host: &StaticHost) -> String {
    let req: CreateRequest = serde_json::from_str(&request(case.extra, case.host_extra))
        .unwrap_or_else(|e| panic!("{}: request does not parse: {e}", case.name));
    let image: ImageConfig = serde_json::from_str(case.image).unwrap();
    let config = spec::merge(&req.config, &image).unwrap();
    let input = SpecInput::new(ID, &config, &req.host_config, rootfs, host);
    let generated = spec::to_oci(&input).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let mut json = spec::spec_json(&generated);
    if case.name != "run_busybox" {
        mark_default_seccomp(&mut json);
    }
    let text = serde_json::to_string_pretty(&json).unwrap() + "\n";
    text.replace(&rootfs.display().to_string(), "/ROOTFS")
}

/// Replace the filter with a marker when it is exactly tug's default for the caps it holds.
fn mark_default_seccomp(json: &mut Value) {
    let caps: Vec<String> = json["process"]["capabilities"]["bounding"]
        .as_array()
        .map(|a| a.iter().map(|c| c.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let default = seccomp::default_profile(&caps, "x86_64");
    if let Some(s) = json.pointer_mut("/linux/seccomp") {
        let this: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(s.clone()).unwrap();
        if this == default {
            *s = Value::String("<tug's default profile for these capabilities>".into());
        }
    }
}

#[test]
fn generated_specs_match_golden_files() {
    let rootfs = rootfs();
    let host = StaticHost::default();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for case in CASES {
        let got = generate(case, rootfs.path(), &host);
        let path = golden_path(case.name);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!("{}: differs\n{}", case.name, diff(&want, &got))),
            Err(e) => failures.push(format!(
                "{}: {} unreadable ({e}); run with UPDATE_GOLDEN=1",
                case.name,
                path.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The first differing lines, enough to see what changed.
fn diff(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let first = w
        .iter()
        .zip(&g)
        .position(|(a, b)| a != b)
        .unwrap_or(w.len().min(g.len()));
    let from = first.saturating_sub(3);
    format!(
        "golden (line {}):\n{}\ngenerated:\n{}",
        first + 1,
        w.iter()
            .skip(from)
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        g.iter()
            .skip(from)
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    )
}

#[test]
fn generation_is_deterministic() {
    let rootfs = rootfs();
    let host = StaticHost::default();
    for case in CASES {
        assert_eq!(
            generate(case, rootfs.path(), &host),
            generate(case, rootfs.path(), &host),
            "{}",
            case.name
        );
    }
}

#[test]
fn every_golden_file_belongs_to_a_case() {
    let dir = golden_path("x").parent().unwrap().to_path_buf();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(case) = name
            .strip_prefix("spec_")
            .and_then(|n| n.strip_suffix(".json"))
        {
            assert!(
                CASES.iter().any(|c| c.name == case),
                "stale golden file {name}: no case generates it"
            );
        }
    }
}
