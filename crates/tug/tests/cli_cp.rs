//! `tug cp` both ways against a private `tug daemon`, with docker cp's naming rules.

mod common;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;

mod daemon;
use daemon::*;
use std::process::{Command, Output, Stdio};

fn tug(d: &Daemon, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = Command::new(TUG);
    c.arg("-H")
        .arg(format!("unix://{}", d.sock().display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = c.spawn().unwrap();
    if let Some(data) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn ok(d: &Daemon, args: &[&str]) -> String {
    let o = tug(d, args, None);
    assert!(o.status.success(), "tug {args:?}: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn cp_out_of_and_into_a_container() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = busybox_in_registry(&reg, t.path());
    let d = Daemon::start();
    d.ok(&["pull", "-q", &image]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        &image,
        "sh",
        "-c",
        "mkdir -p /data/sub && echo one > /data/a.txt && echo two > /data/sub/b.txt && sleep 1000",
    ]);
    // The container's writes are done once the files appear.
    for _ in 0..100 {
        if tug(&d, &["cp", "box:/data/sub/b.txt", "-"], None)
            .status
            .success()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let host = t.path().join("host");
    std::fs::create_dir(&host).unwrap();
    let h = |p: &str| host.join(p).to_string_lossy().into_owned();

    // A file to a new name, a file into a directory, a directory, a directory's contents.
    ok(&d, &["cp", "box:/data/a.txt", &h("renamed.txt")]);
    assert_eq!(
        std::fs::read_to_string(host.join("renamed.txt")).unwrap(),
        "one\n"
    );
    ok(&d, &["cp", "box:/data/a.txt", &h("")]);
    assert_eq!(
        std::fs::read_to_string(host.join("a.txt")).unwrap(),
        "one\n"
    );
    ok(&d, &["cp", "box:/data", &h("")]);
    assert_eq!(
        std::fs::read_to_string(host.join("data/sub/b.txt")).unwrap(),
        "two\n"
    );
    ok(&d, &["cp", "box:/data", &h("copy")]);
    assert_eq!(
        std::fs::read_to_string(host.join("copy/a.txt")).unwrap(),
        "one\n"
    );
    std::fs::create_dir(host.join("flat")).unwrap();
    ok(&d, &["cp", "box:/data/.", &h("flat")]);
    assert_eq!(
        std::fs::read_to_string(host.join("flat/sub/b.txt")).unwrap(),
        "two\n"
    );
    // To stdout as a tar.
    let o = tug(&d, &["cp", "box:/data/a.txt", "-"], None);
    let mut ar = tar::Archive::new(o.stdout.as_slice());
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a.txt"]);
    // No scratch directories left behind.
    assert!(!std::fs::read_dir(&host)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(".tug-cp")));

    // Into the container: a file under a new name, a directory into a directory, a tar on stdin.
    std::fs::write(host.join("up.txt"), "up\n").unwrap();
    ok(&d, &["cp", &h("up.txt"), "box:/data/new.txt"]);
    assert_eq!(d.ok(&["exec", "box", "cat", "/data/new.txt"]), "up\n");
    std::fs::create_dir_all(host.join("tree/x")).unwrap();
    std::fs::write(host.join("tree/x/y"), "deep\n").unwrap();
    ok(&d, &["cp", &h("tree"), "box:/data"]);
    assert_eq!(d.ok(&["exec", "box", "cat", "/data/tree/x/y"]), "deep\n");
    ok(&d, &["cp", &h("tree"), "box:/fresh"]);
    assert_eq!(d.ok(&["exec", "box", "cat", "/fresh/x/y"]), "deep\n");
    let mut b = tar::Builder::new(Vec::new());
    let mut hd = tar::Header::new_gnu();
    hd.set_size(6);
    hd.set_mode(0o644);
    hd.set_cksum();
    b.append_data(&mut hd, "piped.txt", &b"piped\n"[..])
        .unwrap();
    let o = tug(
        &d,
        &["cp", "-", "box:/data"],
        Some(&b.into_inner().unwrap()),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(d.ok(&["exec", "box", "cat", "/data/piped.txt"]), "piped\n");

    // Errors as docker cp words them.
    let o = tug(&d, &["cp", "box:/no/such", &h("x")], None);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Could not find the file /no/such"),
        "{}",
        stderr(&o)
    );
    let o = tug(&d, &["cp", "box:/data", &h("a.txt")], None);
    assert!(
        stderr(&o).contains("cannot copy a directory to a file"),
        "{}",
        stderr(&o)
    );
    let o = tug(&d, &["cp", &h("up.txt"), &h("z")], None);
    assert!(
        stderr(&o).contains("must specify at least one container source"),
        "{}",
        stderr(&o)
    );
    let o = tug(&d, &["cp", &h("up.txt"), "nosuch:/x"], None);
    assert!(
        stderr(&o).contains("No such container: nosuch"),
        "{}",
        stderr(&o)
    );
}
