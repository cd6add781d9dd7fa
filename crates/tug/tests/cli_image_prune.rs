//! `image prune` (dangling, `-a`, `--filter until/label`, the prompt) and the `images`
//! filters (`dangling`, `label`, `before`, `since`, `reference`), through `tug` and the docker
//! CLI against a private daemon: what is listed, what is removed, and what is freed on disk.

mod common;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;
mod daemon;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tug_in(d: &daemon::Daemon, args: &[&str], input: &str) -> Output {
    let mut c = Command::new(TUG)
        .env_remove("DOCKER_HOST")
        .arg("-H")
        .arg(format!("unix://{}", d.sock().display()))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = c.stdin.take().unwrap().write_all(input.as_bytes());
    c.wait_with_output().unwrap()
}

fn tug(d: &daemon::Daemon, args: &[&str]) -> String {
    let o = tug_in(d, args, "");
    assert!(
        o.status.success(),
        "tug {args:?}: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// A busybox rootfs with one file of its own, so each image has its own layer blob.
fn rootfs(dir: &Path, marker: &str) -> PathBuf {
    let base = img::busybox_layer();
    let mut out = base[..base.len() - 1024].to_vec();
    out.extend(img::Tar::new().file("marker", marker.as_bytes()).finish());
    let p = dir.join(format!("{marker}.tar"));
    std::fs::write(&p, out).unwrap();
    p
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|r| r.filter(|e| e.is_ok()).count())
        .unwrap_or(0)
}

fn lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(String::from).collect();
    v.sort();
    v
}

#[test]
fn images_filters_and_prune() {
    let d = daemon::Daemon::start();
    let t = tempfile::tempdir().unwrap();
    let data = d.dir.path().join("data/image");
    let imp = |marker: &str, extra: &[&str]| -> String {
        let tar = rootfs(t.path(), marker);
        let mut args = vec!["import"];
        args.extend_from_slice(extra);
        args.push(tar.to_str().unwrap());
        let id = tug(&d, &args).trim().to_string();
        // Image times are in seconds: keep the imports apart for before/since.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        id
    };
    let a = imp("a", &["-c", "LABEL team=blue"]);
    tug(&d, &["tag", &a, "alpha:1"]);
    tug(&d, &["tag", &a, "alpha:2"]);
    let b = imp("b", &["-c", "LABEL team=red"]);
    tug(&d, &["tag", &b, "beta:1"]);
    let dangling = imp("c", &[]);
    let short = |id: &str| id.trim_start_matches("sha256:")[..12].to_string();

    // images --filter, through tug and through the docker CLI (the daemon filters).
    assert_eq!(
        tug(&d, &["images", "-q", "--filter", "dangling=true"]),
        format!("{}\n", short(&dangling))
    );
    assert_eq!(
        lines(&tug(
            &d,
            &[
                "images",
                "--format",
                "{{.Repository}}:{{.Tag}}",
                "--filter",
                "dangling=false"
            ]
        )),
        ["alpha:1", "alpha:2", "beta:1"]
    );
    assert_eq!(
        tug(
            &d,
            &[
                "images",
                "--format",
                "{{.Repository}}",
                "--filter",
                "label=team=red"
            ]
        ),
        "beta\n"
    );
    assert_eq!(
        lines(&tug(
            &d,
            &[
                "images",
                "--format",
                "{{.Repository}}:{{.Tag}}",
                "--filter",
                "label=team"
            ]
        )),
        ["alpha:1", "alpha:2", "beta:1"]
    );
    assert_eq!(
        tug(&d, &["images", "-q", "--filter", "since=beta:1"]),
        format!("{}\n", short(&dangling))
    );
    assert_eq!(
        lines(&tug(
            &d,
            &[
                "images",
                "--format",
                "{{.Tag}}",
                "--filter",
                "before=beta:1"
            ]
        )),
        ["1", "2"]
    );
    assert_eq!(
        tug(
            &d,
            &[
                "images",
                "--format",
                "{{.Repository}}:{{.Tag}}",
                "--filter",
                "reference=alpha:2"
            ]
        ),
        "alpha:2\n"
    );
    let o = d.docker(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "--filter",
        "reference=al*",
    ]);
    assert_eq!(lines(&stdout(&o)), ["alpha:1", "alpha:2"], "{}", stderr(&o));
    let o = d.docker(&["images", "-q", "--filter", "dangling=true"]);
    assert_eq!(stdout(&o), format!("{}\n", short(&dangling)));
    let o = d.docker(&["images", "--filter", "colour=blue"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("invalid filter 'colour'"),
        "{}",
        stderr(&o)
    );
    let o = d.docker(&["images", "--filter", "before=nothing:here"]);
    assert!(
        stderr(&o).contains("No such image: nothing:here"),
        "{}",
        stderr(&o)
    );

    // A container keeps beta's image from `prune -a`.
    let o = d.docker(&["create", "--network", "none", "beta:1", "true"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // The prompt: anything but yes leaves everything.
    let o = tug_in(&d, &["image", "prune"], "n\n");
    assert!(stderr(&o).contains("WARNING! This will remove all dangling images."));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        tug(&d, &["images", "-q", "--filter", "dangling=true"])
            .lines()
            .count(),
        1
    );

    // Dangling prune: only the untagged image goes, its layer with it.
    let blobs = data.join("blobs/sha256");
    let snaps = count(&data.join("snapshots"));
    let before = count(&blobs);
    let o = tug_in(&d, &["image", "prune"], "y\n");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!(
            "Deleted Images:\ndeleted: {dangling}\n\nTotal reclaimed space: "
        )),
        "{out}"
    );
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
    assert!(count(&blobs) < before, "blobs freed");
    assert!(count(&data.join("snapshots")) < snaps, "snapshot removed");
    assert_eq!(tug(&d, &["images", "-q", "--filter", "dangling=true"]), "");

    // -a with a label filter: only the matching, unused image.
    let out = tug(
        &d,
        &["image", "prune", "-a", "-f", "--filter", "label=team=red"],
    );
    assert_eq!(out, "Total reclaimed space: 0B\n", "beta is in use");
    let out = tug(&d, &["image", "prune", "-a", "-f", "--filter", "until=1h"]);
    assert_eq!(out, "Total reclaimed space: 0B\n", "nothing is an hour old");
    let o = d.docker(&["image", "prune", "-af"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("untagged: alpha:1\n") && out.contains("untagged: alpha:2\n"),
        "{out}"
    );
    assert!(out.contains(&format!("deleted: {a}\n")), "{out}");
    assert!(!out.contains(&b), "{out}");
    assert_eq!(
        lines(&tug(&d, &["images", "--format", "{{.Repository}}"])),
        ["beta"]
    );
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "beta:1",
        "cat",
        "/marker",
    ]);
    assert_eq!(stdout(&o), "b", "{}", stderr(&o));

    let o = tug_in(&d, &["image", "prune", "--filter", "nonsense"], "");
    assert!(!o.status.success());
    let o = d.docker(&["image", "prune", "-f", "--filter", "until=soon"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("failed to parse value as time or duration: \"soon\""),
        "{}",
        stderr(&o)
    );
}
