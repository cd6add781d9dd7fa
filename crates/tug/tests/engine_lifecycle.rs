//! Restart policies, health checks and events, through the real docker CLI against a
//! private `tug daemon`.

mod common;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;

mod daemon;
use daemon::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn setup() -> (img::Registry, tempfile::TempDir, String, Daemon) {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = busybox_in_registry(&reg, t.path());
    let d = Daemon::start();
    d.ok(&["pull", "-q", &image]);
    (reg, t, image, d)
}

fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    d.ok(&["inspect", "-f", format, name]).trim().to_string()
}

/// Poll `inspect -f format` until `want` holds (within `secs`); the last value.
fn wait_for(
    d: &Daemon,
    name: &str,
    format: &str,
    secs: u64,
    want: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = inspect(d, name, format);
        if want(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {format} is still {v:?} after {secs}s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One API call through curl: (status, body).
fn api(d: &Daemon, method: &str, path: &str, body: &str) -> (u16, String) {
    let o = Command::new("curl")
        .args([
            "-s",
            "-m",
            "10",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
            "--unix-socket",
        ])
        .arg(d.sock())
        .arg(format!("http://x/v1.44{path}"))
        .args(["-H", "Content-Type: application/json", "-d", body])
        .output()
        .unwrap();
    let out = stdout(&o);
    let (body, code) = out.trim_end().rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn restart_policies_restart_with_back_off_and_stop_cancels() {
    let (_reg, _t, image, d) = setup();
    // on-failure:2 → the first run and two restarts, then it stays exited.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "onf",
        "--restart",
        "on-failure:2",
        &image,
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    wait_for(&d, "onf", "{{.RestartCount}} {{.State.Status}}", 20, |v| {
        v == "2 exited"
    });
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        inspect(&d, "onf", "{{.RestartCount}} {{.State.ExitCode}}"),
        "2 3"
    );
    assert_eq!(
        d.ok(&["logs", "onf"])
            .lines()
            .filter(|l| *l == "run")
            .count(),
        3
    );

    // A successful exit is not a failure.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ok",
        "--restart",
        "on-failure",
        &image,
        "sh",
        "-c",
        "exit 0",
    ]);
    wait_for(&d, "ok", "{{.State.Status}}", 10, |v| v == "exited");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(inspect(&d, "ok", "{{.RestartCount}}"), "0");

    // always: restarts after a clean exit too, until `docker stop`.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "alw",
        "--restart",
        "always",
        &image,
        "sh",
        "-c",
        "sleep 0.3",
    ]);
    wait_for(&d, "alw", "{{.RestartCount}}", 20, |v| {
        v.parse::<u32>().unwrap() >= 2
    });
    d.ok(&["stop", "-t", "1", "alw"]);
    let stopped = inspect(&d, "alw", "{{.State.Status}} {{.RestartCount}}");
    assert!(stopped.starts_with("exited "), "{stopped}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        inspect(&d, "alw", "{{.State.Status}} {{.RestartCount}}"),
        stopped
    );
    // `docker start` resets the count, as Docker does.
    d.ok(&["start", "alw"]);
    let n: u32 = inspect(&d, "alw", "{{.RestartCount}}").parse().unwrap();
    assert!(n <= 1, "restart count after a manual start: {n}");
    d.ok(&["rm", "-f", "alw"]);

    // no (the default): stays exited.
    d.ok(&["run", "-d", "--name", "no", &image, "sh", "-c", "exit 1"]);
    wait_for(&d, "no", "{{.State.Status}}", 10, |v| v == "exited");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        inspect(
            &d,
            "no",
            "{{.RestartCount}} {{.HostConfig.RestartPolicy.Name}}"
        ),
        "0 no"
    );

    // Bad policies are refused with Docker's reasons, and nothing is created.
    let body = |policy: &str| {
        format!(r#"{{"Image":"{image}","Cmd":["sh"],"HostConfig":{{"RestartPolicy":{policy}}}}}"#)
    };
    let (code, msg) = api(
        &d,
        "POST",
        "/containers/create?name=bad1",
        &body(r#"{"Name":"sometimes"}"#),
    );
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("unknown policy 'sometimes'"), "{msg}");
    let (code, msg) = api(
        &d,
        "POST",
        "/containers/create?name=bad2",
        &body(r#"{"Name":"always","MaximumRetryCount":3}"#),
    );
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("only be used with 'on-failure'"), "{msg}");
    let (code, msg) = api(
        &d,
        "POST",
        "/containers/create?name=bad3",
        &format!(
            r#"{{"Image":"{image}","Cmd":["sh"],"HostConfig":{{"AutoRemove":true,"RestartPolicy":{{"Name":"always"}}}}}}"#
        ),
    );
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("AutoRemove"), "{msg}");
    let all = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!all.contains("bad"), "{all}");
}

#[test]
fn policies_apply_when_the_daemon_starts_again() {
    let (_reg, _t, image, mut d) = setup();
    for (name, policy) in [("aa", "always"), ("uu", "unless-stopped")] {
        d.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            &image,
            "sh",
            "-c",
            "sleep 1000",
        ]);
        d.ok(&["stop", "-t", "1", name]);
    }
    d.ok(&[
        "run",
        "-d",
        "--name",
        "u2",
        "--restart",
        "unless-stopped",
        &image,
        "sh",
        "-c",
        "sleep 1000",
    ]);
    d.kill9();
    // Its process dies while the daemon is away.
    let pid: i32 = std::fs::read_dir(d.dir.path().join("data/containers"))
        .unwrap()
        .flatten()
        .find_map(|e| {
            let rec: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path().join("config.v2.json")).ok()?)
                    .ok()?;
            (rec["name"] == "/u2").then(|| rec["state"]["pid"].as_i64().unwrap() as i32)
        })
        .expect("u2's record");
    assert!(pid > 0);
    // SAFETY: kill(2) of the container process this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(300));
    d.spawn();
    // always: started again even though it was stopped by hand; unless-stopped: not.
    wait_for(&d, "aa", "{{.State.Status}}", 15, |v| v == "running");
    wait_for(&d, "u2", "{{.State.Status}}", 15, |v| v == "running");
    assert_eq!(inspect(&d, "uu", "{{.State.Status}}"), "exited");
}

#[test]
fn health_checks_report_status_in_inspect_ps_and_events() {
    let (_reg, _t, image, d) = setup();
    let t0 = unix_now();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok && echo fine",
        "--health-interval",
        "1s",
        "--health-retries",
        "2",
        "--health-timeout",
        "5s",
        &image,
        "sh",
        "-c",
        "sleep 1000",
    ]);
    assert_eq!(inspect(&d, "hc", "{{.State.Health.Status}}"), "starting");
    assert!(d
        .ok(&["ps", "--filter", "name=hc", "--format", "{{.Status}}"])
        .contains("(health: starting)"));
    wait_for(&d, "hc", "{{.State.Health.Status}}", 20, |v| {
        v == "unhealthy"
    });
    let streak: u32 = inspect(&d, "hc", "{{.State.Health.FailingStreak}}")
        .parse()
        .unwrap();
    assert!(streak >= 2, "{streak}");
    assert!(d
        .ok(&["ps", "--filter", "name=hc", "--format", "{{.Status}}"])
        .contains("(unhealthy)"));
    d.ok(&["exec", "hc", "sh", "-c", "touch /tmp/ok"]);
    wait_for(&d, "hc", "{{.State.Health.Status}}", 20, |v| v == "healthy");
    let log = d.ok(&["inspect", "-f", "{{json .State.Health.Log}}", "hc"]);
    let log: Vec<serde_json::Value> = serde_json::from_str(&log).unwrap();
    assert!(log.len() <= 5 && log.len() >= 3, "{log:?}");
    let last = log.last().unwrap();
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "fine\n");
    assert_eq!(log[0]["ExitCode"], 1);
    // The probes ran as execs and are gone.
    assert_eq!(inspect(&d, "hc", "{{len .ExecIDs}}"), "0");

    let events = d.ok(&[
        "events",
        "--since",
        &format!("{t0:.3}"),
        "--until",
        &format!("{:.3}", unix_now()),
        "--filter",
        "container=hc",
        "--filter",
        "event=health_status",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(
        events.lines().collect::<Vec<_>>(),
        ["health_status: unhealthy", "health_status: healthy"]
    );

    // A probe that outlives its timeout fails.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 30",
        "--health-interval",
        "1s",
        "--health-timeout",
        "1s",
        "--health-retries",
        "1",
        &image,
        "sh",
        "-c",
        "sleep 1000",
    ]);
    wait_for(&d, "slow", "{{.State.Health.Status}}", 20, |v| {
        v == "unhealthy"
    });
    let out = inspect(&d, "slow", "{{(index .State.Health.Log 0).Output}}");
    assert!(out.contains("exceeded timeout"), "{out}");
    // The probe's process did not stay behind in the container.
    let top = d.ok(&["top", "slow"]);
    assert!(!top.contains("sleep 30"), "{top}");

    // A stopped container's monitor ends; the health shows its last state.
    d.ok(&["stop", "-t", "1", "hc"]);
    let after = inspect(&d, "hc", "{{len .State.Health.Log}}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(inspect(&d, "hc", "{{len .State.Health.Log}}"), after);
}

#[test]
fn events_stream_live_and_since_until_with_filters() {
    let (_reg, _t, image, d) = setup();
    let t0 = unix_now();
    let mut watcher = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", d.sock().display()))
        .args([
            "events",
            "--filter",
            "type=container",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = watcher.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let o = d.docker(&[
        "run", "--name", "ev", "--label", "tier=web", &image, "sh", "-c", "exit 4",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    d.ok(&["rename", "ev", "ev2"]);
    d.ok(&["rm", "ev2"]);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !got.iter().any(|l: &String| l.contains("destroy")) && Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            got.push(l);
        }
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    let want = [
        "container create ev <no value>",
        "container start ev <no value>",
        "container die ev 4",
        "container rename ev2 <no value>",
        "container destroy ev2 <no value>",
    ];
    let got: Vec<&str> = got
        .iter()
        .map(|l| l.as_str())
        .filter(|l| !l.contains(" attach "))
        .collect();
    assert_eq!(got, want);

    // The past, filtered, ends at --until.
    let until = format!("{:.3}", unix_now());
    let since = format!("{t0:.3}");
    let dies = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=die",
        "--filter",
        "label=tier=web",
        "--format",
        "{{.Actor.Attributes.exitCode}} {{.Actor.Attributes.image}}",
    ]);
    assert_eq!(dies.trim(), format!("4 {image}"));
    let json = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "{{json .}}",
    ]);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["Type"], "container");
    assert_eq!(first["status"], "create");
    assert!(first["timeNano"].as_i64().unwrap() >= (t0 * 1e9) as i64);

    let o = d.docker(&[
        "events", "--since", &since, "--until", &until, "--filter", "bogus=1",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("invalid filter 'bogus'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn init_runs_as_pid_1_reaps_orphans_and_forwards_signals() {
    let (_reg, _t, image, d) = setup();
    // PID 1 is tug's init; the command is its child; exit codes pass through.
    let o = d.docker(&[
        "run",
        "--rm",
        "--init",
        &image,
        "sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo parent=$PPID; exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("/sbin/docker-init init -- sh -c"), "{out}");
    assert!(out.contains("parent=1\n"), "{out}");
    // The init binary is read-only inside.
    let o = d.docker(&[
        "run",
        "--rm",
        "--init",
        &image,
        "sh",
        "-c",
        "echo x >> /sbin/docker-init && echo wrote",
    ]);
    assert!(!stdout(&o).contains("wrote"), "{}", stdout(&o));
    // Orphans are reaped: no zombie is left after their parent exits.
    let o = d.docker(&[
        "run", "--rm", "--init", &image, "sh", "-c",
        "sh -c 'sleep 0.2 & sleep 0.2 & exit 0'; sleep 1; cat /proc/[0-9]*/stat | grep -c ') Z ' || true",
    ]);
    assert_eq!(stdout(&o).trim(), "0", "{}", stderr(&o));
    // docker stop's SIGTERM reaches the command through init.
    d.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        "trapper",
        &image,
        "sh",
        "-c",
        "trap 'echo got-term; exit 3' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.ok(&["logs", "trapper"]).contains("ready") {
        assert!(Instant::now() < deadline, "not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let t = Instant::now();
    d.ok(&["stop", "-t", "20", "trapper"]);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "stop waited for the timeout"
    );
    assert_eq!(inspect(&d, "trapper", "{{.State.ExitCode}}"), "3");
    assert!(d.ok(&["logs", "trapper"]).contains("got-term"));
}

#[test]
fn an_image_healthcheck_applies_to_its_containers() {
    let (_reg, t, image, d) = setup();
    let ctx = t.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {image}\nHEALTHCHECK --interval=1s --retries=1 CMD sh -c 'test -e /tmp/up'\n"
        ),
    )
    .unwrap();
    let o = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", d.sock().display()))
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", "hcimg"])
        .arg(&ctx)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let test = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Healthcheck}}",
        "hcimg",
    ]);
    assert!(
        test.contains(r#""Test":["CMD-SHELL","sh -c 'test -e /tmp/up'"]"#),
        "{test}"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "fromimg",
        "hcimg",
        "sh",
        "-c",
        "sleep 1000",
    ]);
    wait_for(&d, "fromimg", "{{.State.Health.Status}}", 20, |v| {
        v == "unhealthy"
    });
    d.ok(&["exec", "fromimg", "sh", "-c", "touch /tmp/up"]);
    wait_for(&d, "fromimg", "{{.State.Health.Status}}", 20, |v| {
        v == "healthy"
    });
    // --no-healthcheck turns it off.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "nohc",
        "--no-healthcheck",
        "hcimg",
        "sh",
        "-c",
        "sleep 1000",
    ]);
    assert_eq!(inspect(&d, "nohc", "{{.State.Health}}"), "<nil>");
}

#[test]
fn image_volume_and_network_events() {
    let (_reg, _t, image, d) = setup();
    let t0 = unix_now();
    d.ok(&["tag", &image, "evtag:1"]);
    d.ok(&["rmi", "evtag:1"]);
    d.ok(&["volume", "create", "evvol"]);
    d.ok(&["volume", "rm", "evvol"]);
    d.ok(&["network", "create", "evnet"]);
    d.ok(&["create", "--name", "evc", &image, "sh"]);
    d.ok(&["network", "connect", "evnet", "evc"]);
    d.ok(&["network", "disconnect", "evnet", "evc"]);
    d.ok(&["network", "rm", "evnet"]);
    let until = format!("{:.3}", unix_now());
    let since = format!("{t0:.3}");
    let got = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=image",
        "--filter",
        "type=volume",
        "--filter",
        "type=network",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert_eq!(
        got.lines().collect::<Vec<_>>(),
        [
            "image tag evtag:1",
            "image untag evtag:1",
            "volume create <no value>",
            "volume destroy <no value>",
            "network create evnet",
            "network connect evnet",
            "network disconnect evnet",
            "network destroy evnet",
        ]
    );
    let vols = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "volume=evvol",
        "--format",
        "{{.Actor.ID}} {{.Action}}",
    ]);
    assert_eq!(vols, "evvol create\nevvol destroy\n");
}
