//! Other OCI runtimes: runc from the daemon's config file (`--config-file`) and crun from
//! `--add-runtime` (listed), chosen per container with `docker run --runtime`; `docker info` lists
//! them with the registry settings of the file.

mod common;
#[path = "../../image/tests/common/mod.rs"]
#[allow(dead_code, unused_imports)]
mod img;

use common::*;
mod daemon;
use daemon::*;

const RUNC: &str = "/usr/sbin/runc";

#[test]
fn run_with_runc_from_the_config_file() {
    if !std::path::Path::new(RUNC).exists() {
        panic!("{RUNC} is missing: scripts/deps.sh runc");
    }
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = busybox_in_registry(&reg, t.path());
    let cfg = t.path().join("daemon.json");
    std::fs::write(
        &cfg,
        serde_json::json!({
            "runtimes": {"runc": {"path": RUNC, "runtimeArgs": ["--debug=false"]}},
            "registry-mirrors": ["https://mirror.example.test"],
            "insecure-registries": [reg.addr.clone()],
        })
        .to_string(),
    )
    .unwrap();
    let d = Daemon::start_with_args(&[
        "--config-file",
        cfg.to_str().unwrap(),
        "--add-runtime",
        "crun=/usr/bin/crun",
    ]);
    let info = d.ok(&[
        "info",
        "--format",
        "{{json .Runtimes}}|{{.DefaultRuntime}}|{{json .RegistryConfig.Mirrors}}",
    ]);
    assert!(
        info.contains(&format!("\"runc\":{{\"path\":\"{RUNC}\"")),
        "{info}"
    );
    assert!(
        info.contains("\"crun\":{\"path\":\"/usr/bin/crun\"}"),
        "{info}"
    );
    assert!(
        info.contains("|tug|[\"https://mirror.example.test/\"]"),
        "{info}"
    );
    let text = d.ok(&["info"]);
    assert!(
        text.contains("Runtimes:") && text.contains("runc"),
        "{text}"
    );
    assert!(text.contains(&reg.addr), "insecure registry listed: {text}");

    d.ok(&["pull", "-q", &image]);
    let o = d.docker(&[
        "run",
        "--runtime",
        "runc",
        "--name",
        "viarunc",
        &image,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    assert_eq!(d.ok(&["logs", "viarunc"]), "out\n");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.HostConfig.Runtime}}", "viarunc"])
            .trim(),
        "runc"
    );

    // Detached, seen by runc itself, and stopped with the stop signal.
    let id = d.ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        &image,
        "sh",
        "-c",
        "trap 'exit 7' TERM; while :; do sleep 0.1; done",
    ]);
    let id = id.trim();
    let root = d.dir.path().join("exec").join("runtime-runc");
    // runc's own view: the container runs (right after `run -d` it may still be starting).
    let mut state = std::process::Command::new(RUNC)
        .arg("--root")
        .arg(&root)
        .args(["state", id])
        .output()
        .unwrap();
    for _ in 0..100 {
        if stdout(&state).contains("\"status\": \"running\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        state = std::process::Command::new(RUNC)
            .arg("--root")
            .arg(&root)
            .args(["state", id])
            .output()
            .unwrap();
    }
    assert!(
        stdout(&state).contains("\"status\": \"running\""),
        "{}{}",
        stdout(&state),
        stderr(&state)
    );
    let runc_state = |id: &str| {
        let o = std::process::Command::new(RUNC)
            .arg("--root")
            .arg(&root)
            .args(["state", id])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        v["status"].as_str().unwrap_or_default().to_string()
    };
    // exec, top, stats, pause and unpause reach the container through runc too.
    assert_eq!(
        d.ok(&["exec", id, "sh", "-c", "echo in-$((6*7))"]),
        "in-42\n"
    );
    let o = d.docker(&["exec", id, "sh", "-c", "exit 4"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let top = d.ok(&["top", id]);
    assert!(top.contains("while :; do sleep 0.1; done"), "{top}");
    let mem = d.ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", id]);
    assert!(
        !mem.trim().is_empty() && !mem.starts_with("0B"),
        "memory of a runc container: {mem:?}"
    );
    d.ok(&["pause", id]);
    assert_eq!(runc_state(id), "paused");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", id]).trim(),
        "paused"
    );
    d.ok(&["unpause", id]);
    assert_eq!(runc_state(id), "running");
    d.ok(&["stop", "-t", "5", id]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.ExitCode}}", id]).trim(),
        "7"
    );
    let gone = std::process::Command::new(RUNC)
        .arg("--root")
        .arg(&root)
        .args(["state", id])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "runc still knows the container");

    let o = d.docker(&["run", "--rm", "--runtime", "nosuch", &image, "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("unknown or invalid runtime name: nosuch"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_config_files_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let run = |cfg: serde_json::Value| {
        let f = t.path().join("daemon.json");
        std::fs::write(&f, cfg.to_string()).unwrap();
        let o = std::process::Command::new(TUG)
            .args(["daemon", "--data-root"])
            .arg(t.path().join("data"))
            .arg("--exec-root")
            .arg(t.path().join("exec"))
            .arg("--config-file")
            .arg(&f)
            .args(["-H", "unix:///nonexistent-dir-tug/x.sock"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
        stderr(&o)
    };
    let e = run(serde_json::json!({"no-such-key": 1}));
    assert!(
        e.contains("the following directives don't match any configuration option: no-such-key"),
        "{e}"
    );
    let e = run(serde_json::json!({"hosts": ["unix:///tmp/x.sock"]}));
    assert!(
        e.contains("specified both as a flag and in the configuration file: hosts"),
        "{e}"
    );
    let e = run(serde_json::json!({"default-runtime": "nope"}));
    assert!(e.contains("unknown or invalid runtime name: nope"), "{e}");
}
