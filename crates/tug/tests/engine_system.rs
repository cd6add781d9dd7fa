//! `system df`, `container prune` and `system prune` through the real docker CLI and the tug
//! CLI against a private `tug daemon`: sizes, counts and what is removed (and what is kept).

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

/// The row of `docker system df` for `kind`, split into its columns.
fn row(table: &str, kind: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|l| l.starts_with(kind))
        .unwrap_or_else(|| panic!("no {kind} row in {table}"));
    line[kind.len()..]
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn df_and_prunes() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = busybox_in_registry(&reg, t.path());
    let d = Daemon::start();
    d.ok(&["pull", "-q", &image]);

    let big = d.ok(&[
        "run",
        "--name",
        "big",
        "--label",
        "prune=yes",
        &image,
        "sh",
        "-c",
        "head -c 300000 /dev/zero > /big",
    ]);
    assert_eq!(big, "");
    d.ok(&["create", "--name", "keep", &image, "sh", "-c", "true"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        &image,
        "sh",
        "-c",
        "exec sleep 600",
    ]);
    d.ok(&["volume", "create", "data"]);
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        &image,
        "sh",
        "-c",
        "head -c 50000 /dev/zero > /data/f",
    ]);

    let df = d.ok(&["system", "df"]);
    assert!(df.starts_with("TYPE "), "{df}");
    let images = row(&df, "Images");
    assert_eq!(images[..2], ["1", "1"], "{df}");
    let containers = row(&df, "Containers");
    assert_eq!(containers[..3], ["3", "1", "300kB"], "{df}");
    // Only the stopped containers' layers are reclaimable: `big`'s 300 kB (the running one
    // holds a few bytes of its own).
    assert_eq!(containers[3], "300kB", "{df}");
    assert_eq!(images[3..], ["0B", "(0%)"], "the image is in use: {df}");
    let volumes = row(&df, "Local Volumes");
    assert_eq!(volumes[..3], ["1", "0", "50kB"], "{df}");
    assert!(df.contains("Build Cache"), "{df}");

    let v = d.ok(&["system", "df", "-v"]);
    assert!(v.contains("Images space usage:"), "{v}");
    let img_line = v.lines().find(|l| l.contains("tug/busybox")).unwrap();
    assert!(
        img_line.trim_end().ends_with(" 3"),
        "three containers use it: {v}"
    );
    assert!(
        v.lines()
            .any(|l| l.starts_with("data ") && l.contains("50kB")),
        "{v}"
    );

    // Container prune: the label filter keeps `keep`; running `live` is never touched.
    let big_id = d.ok(&["inspect", "-f", "{{.Id}}", "big"]);
    let o = d.ok(&["container", "prune", "-f", "--filter", "label=prune=yes"]);
    assert_eq!(
        o,
        format!(
            "Deleted Containers:\n{}\n\nTotal reclaimed space: 300kB\n",
            big_id.trim()
        )
    );
    let names = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["keep", "live"]);
    let o = d.docker(&["container", "prune", "-f", "--filter", "until=soon"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("failed to parse value as time or duration"),
        "{}",
        stderr(&o)
    );

    // tug system prune: stopped containers, unused anonymous volumes and (with -a) unused images go;
    // the running container and its image stay.
    d.ok(&["tag", &image, "spare:v1"]);
    d.ok(&["commit", "keep", "unused:v1"]);
    let o = tug(&d, &["system", "prune", "-a", "-f", "--volumes"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("Deleted Containers:\n"), "{text}");
    assert!(text.contains("untagged: unused:v1"), "{text}");
    assert!(text.contains("Total reclaimed space: "), "{text}");
    assert_eq!(d.ok(&["ps", "-a", "--format", "{{.Names}}"]), "live\n");
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        images.contains("tug/busybox") && !images.contains("unused"),
        "{images}"
    );
    // As docker's: named volumes stay (only anonymous ones are pruned without `all`).
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "data\n");

    // Without -f, a refusal at the prompt removes nothing.
    d.ok(&["create", "--name", "again", &image, "sh", "-c", "true"]);
    let o = tug(&d, &["container", "prune"]);
    assert!(stderr(&o).contains("WARNING! This will remove all stopped containers."));
    assert!(d.ok(&["ps", "-a"]).contains("again"));
}
