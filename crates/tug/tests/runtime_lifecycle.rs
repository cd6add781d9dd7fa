//! The runtime's lifecycle as runc users see it: run, create/start/state/kill/delete, list,
//! errors for bad input, and nothing left behind on failure.

mod common;
use common::*;
use serde_json::json;

#[test]
fn run_prints_output_and_returns_the_exit_code() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sh", "-c", "echo hello from tug; exit 7"]);
    let out = rt.run_bundle(&b);
    assert_eq!(stdout(&out), "hello from tug\n");
    assert_eq!(out.status.code(), Some(7), "stderr: {}", stderr(&out));
    // `run` removes the container once it exits.
    assert_eq!(ok(rt.run(&["list", "-q"])), "");
}

#[test]
fn a_signal_death_is_128_plus_the_signal() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "60"]);
    let id = unique_id("sig");
    rt.track(&id);
    let mut run = rt
        .cmd()
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .spawn()
        .unwrap();
    rt.wait_status(&id, "running");
    ok(rt.run(&["kill", &id, "9"]));
    assert_eq!(run.wait().unwrap().code(), Some(137));
}

#[test]
fn create_start_state_kill_delete() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "60"]);
    let id = rt.create(&b, "life");
    let st = rt.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(
        st["bundle"],
        b.path().canonicalize().unwrap().to_str().unwrap()
    );
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 1);
    assert!(st["created"].as_str().unwrap().ends_with('Z'));
    // The init exists but has not run the program yet.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(!exe.to_string_lossy().contains("busybox"), "{exe:?}");

    ok(rt.run(&["start", &id]));
    assert_eq!(rt.status(&id), "running");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.to_string_lossy().ends_with("bin/busybox"), "{exe:?}");
    let again = rt.run(&["start", &id]);
    assert!(!again.status.success(), "second start succeeded");

    let del = rt.run(&["delete", &id]);
    assert_eq!(del.status.code(), Some(1));
    assert!(
        stderr(&del).contains("cannot delete container") && stderr(&del).contains("running"),
        "{}",
        stderr(&del)
    );

    let listed = ok(rt.run(&["list", "--format", "json"]));
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["status"], "running");
    let table = ok(rt.run(&["list"]));
    assert!(
        table.starts_with("ID") && table.contains(&id) && table.contains("running"),
        "{table}"
    );

    ok(rt.run(&["kill", &id, "KILL"]));
    rt.wait_status(&id, "stopped");
    assert_eq!(rt.state(&id)["pid"], 0);
    ok(rt.run(&["delete", &id]));
    let gone = rt.run(&["state", &id]);
    assert!(!gone.status.success());
    assert!(
        stderr(&gone).contains("container does not exist"),
        "{}",
        stderr(&gone)
    );
}

#[test]
fn delete_force_kills_a_running_container() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "60"]);
    let id = rt.create(&b, "force");
    ok(rt.run(&["start", &id]));
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    ok(rt.run(&["delete", "--force", &id]));
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/exe")).exists()
            || std::fs::read_link(format!("/proc/{pid}/exe")).is_err()
    );
    assert_eq!(ok(rt.run(&["list", "-q"])), "");
}

#[test]
fn a_created_container_can_be_deleted_without_force() {
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let id = rt.create(&b, "created-del");
    ok(rt.run(&["delete", &id]));
    assert!(!rt.root.path().join(&id).is_dir());
}

#[test]
fn pid_file_and_duplicate_ids() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "60"]);
    let id = unique_id("dup");
    rt.track(&id);
    let pidfile = b.path().join("pid");
    ok(rt.create_cmd(&["--pid-file", pidfile.to_str().unwrap()], &b, &id));
    let pid: i64 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    assert_eq!(pid, rt.state(&id)["pid"].as_i64().unwrap());
    let dup = rt.create_cmd(&[], &b, &id);
    assert!(!dup.status.success());
    assert!(
        stderr(&dup).contains("container with id exists"),
        "{}",
        stderr(&dup)
    );
}

#[test]
fn malformed_config_is_named_and_leaves_nothing() {
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    std::fs::write(
        b.path().join("config.json"),
        "{\"ociVersion\": \"1.2.0\", \"process\": ",
    )
    .unwrap();
    let out = rt.run_bundle(&b);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("config.json"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(rt.root.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "state left behind"
    );
}

#[test]
fn unknown_capabilities_are_rejected() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|c| c["process"]["capabilities"]["bounding"] = json!(["CAP_KILL", "CAP_NOT_A_THING"]));
    let out = rt.run_bundle(&b);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("NOT_A_THING") || stderr(&out).contains("unknown"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_program_fails_create_with_runc_message() {
    let rt = Runtime::new();
    let b = Bundle::new(&["no-such-program"]);
    let out = rt.run_bundle(&b);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("exec: \"no-such-program\": executable file not found in $PATH"),
        "{}",
        stderr(&out)
    );
    assert_eq!(ok(rt.run(&["list", "-q"])), "");
}

#[test]
fn bad_ids_and_unknown_containers() {
    let rt = Runtime::new();
    let out = rt.run(&["state", "../etc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid container id"),
        "{}",
        stderr(&out)
    );
    let out = rt.run(&["kill", "nope-tug-xyz"]);
    assert!(
        stderr(&out).contains("container does not exist"),
        "{}",
        stderr(&out)
    );
    let out = rt.run(&["kill", "x", "NOTASIGNAL"]);
    assert!(!out.status.success());
}

#[test]
fn log_file_gets_json_errors() {
    let rt = Runtime::new();
    let log = rt.root.path().join("log.json");
    let out = rt
        .cmd()
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "state", "nope-tug-abc"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let line: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("does not exist"));
}

#[test]
fn spec_and_features() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(TUG)
        .args(["runtime", "spec", "--rootless", "--bundle"])
        .arg(dir.path())
        .output()
        .unwrap();
    ok(out);
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert!(spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["type"] == "user"));
    assert!(spec["linux"]["uidMappings"].is_array());
    let again = std::process::Command::new(TUG)
        .args(["runtime", "spec", "--bundle"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
    let f: serde_json::Value = serde_json::from_str(&ok(std::process::Command::new(TUG)
        .args(["runtime", "features"])
        .output()
        .unwrap()))
    .unwrap();
    assert_eq!(f["ociVersionMax"], "1.2.0");
    assert!(f["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "CAP_SYS_ADMIN"));
}

#[test]
fn works_when_invoked_as_tug_runc() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("tug-runc");
    std::os::unix::fs::symlink(TUG, &link).unwrap();
    let rt = Runtime::new();
    let b = Bundle::new(&["echo", "via tug-runc"]);
    let id = unique_id("alias");
    rt.track(&id);
    let out = std::process::Command::new(&link)
        .arg("--root")
        .arg(rt.root.path())
        .args(["run", "-b"])
        .arg(b.path())
        .arg(&id)
        .output()
        .unwrap();
    assert_eq!(ok(out), "via tug-runc\n");
}
