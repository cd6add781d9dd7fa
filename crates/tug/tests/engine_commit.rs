//! `commit` through the real docker CLI and the tug CLI against a private `tug daemon`: a
//! container's added, changed and deleted files become a layer of the new image, `--change`
//! instructions reach its config, and its history shows the commit.

mod common;
#[path = "../../image/tests/common/mod.rs"]
#[allow(dead_code, unused_imports)]
mod img;

use common::*;
mod daemon;
use daemon::*;
use std::process::{Command, Output, Stdio};

fn tug(d: &Daemon, args: &[&str]) -> Output {
    Command::new(TUG)
        .arg("-H")
        .arg(format!("unix://{}", d.sock().display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn commit_keeps_changes_and_applies_instructions() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = busybox_in_registry(&reg, t.path());
    let d = Daemon::start();
    d.ok(&["pull", "-q", &image]);

    // Added, changed and deleted files; the container stays running (paused while committed).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "src",
        "-e",
        "FROM_RUN=1",
        &image,
        "sh",
        "-c",
        "echo new > /added; mkdir -p /etc/dir && echo changed > /etc/dir/f; rm /bin/vi; touch /ready; exec sleep 600",
    ]);
    for _ in 0..100 {
        if d.docker(&["exec", "src", "test", "-e", "/ready"])
            .status
            .success()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let id = d.ok(&[
        "commit",
        "-m",
        "first commit",
        "-a",
        "tug tester",
        "src",
        "committed:v1",
    ]);
    assert!(
        id.trim().starts_with("sha256:") && id.trim().len() == 71,
        "{id}"
    );
    let state = d.ok(&["inspect", "-f", "{{.State.Status}}", "src"]);
    assert_eq!(
        state.trim(),
        "running",
        "the container runs on after a commit"
    );

    let out = d.ok(&[
        "run",
        "--rm",
        "committed:v1",
        "sh",
        "-c",
        "cat /added /etc/dir/f; test -e /bin/vi && echo vi-present || echo vi-gone; echo $FROM_RUN",
    ]);
    assert_eq!(out, "new\nchanged\nvi-gone\n1\n");

    // The image ID printed is the one listed, with the author in inspect.
    let inspect = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}|{{.Author}}",
        "committed:v1",
    ]);
    assert_eq!(inspect.trim(), format!("{}|tug tester", id.trim()));
    let history = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        "committed:v1",
    ]);
    let first = history.lines().next().unwrap_or_default();
    assert!(
        first.contains("sleep 600") && first.ends_with("|first commit"),
        "{history}"
    );
    let comment = d.ok(&["image", "inspect", "-f", "{{.Comment}}", "committed:v1"]);
    assert_eq!(comment.trim(), "first commit");
    let layers = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{len .RootFS.Layers}}",
        "committed:v1",
    ]);
    let base = d.ok(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", &image]);
    assert_eq!(
        layers.trim().parse::<u32>().unwrap(),
        base.trim().parse::<u32>().unwrap() + 1
    );

    // --change through the tug CLI: CMD, ENV, WORKDIR, LABEL take effect; no pause.
    let o = tug(
        &d,
        &[
            "commit",
            "--pause=false",
            "-c",
            r#"CMD ["sh","-c","echo hi $GREETING from $(pwd)"]"#,
            "-c",
            "ENV GREETING=hello",
            "-c",
            "WORKDIR /etc",
            "-c",
            "LABEL stage=committed",
            "src",
            "committed:v2",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("sha256:"), "{}", stdout(&o));
    assert_eq!(
        d.ok(&["run", "--rm", "committed:v2"]),
        "hi hello from /etc\n"
    );
    let label = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.Labels.stage}}",
        "committed:v2",
    ]);
    assert_eq!(label.trim(), "committed");

    // A stopped container commits too; the docker CLI's --change works the same.
    d.ok(&["stop", "-t", "1", "src"]);
    d.ok(&[
        "commit",
        "--change",
        "CMD echo from-shell-form",
        "src",
        "committed:v3",
    ]);
    assert_eq!(d.ok(&["run", "--rm", "committed:v3"]), "from-shell-form\n");

    // Bad input: clear errors, no image made.
    let o = d.docker(&["commit", "-c", "RUN true", "src", "committed:bad"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("RUN is not a valid change command"),
        "{}",
        stderr(&o)
    );
    let o = d.docker(&["commit", "nosuch", "committed:bad"]);
    assert!(
        stderr(&o).contains("No such container: nosuch"),
        "{}",
        stderr(&o)
    );
    // By name: an image ID's hex digits may spell "bad".
    let names = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(names.contains("committed:v3"), "{names}");
    assert!(!names.contains("committed:bad"), "{names}");
}
