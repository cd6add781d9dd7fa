//! `docker cp` both ways, `docker export` and `docker diff` through the real docker CLI against
//! a private `tug daemon`: running and stopped containers, directories, symlinks, copies into
//! a volume, and hostile paths that must never reach the host.

mod common;
#[path = "../../image/tests/common/mod.rs"]
#[allow(dead_code, unused_imports)]
mod img;

use common::*;
mod daemon;
use daemon::*;
use std::path::Path;
use std::process::Command;

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

/// A busybox rootfs with every applet, `/etc/conf`, a symlink `/etc/link -> conf` and a
/// symlink `/escape -> /` … `/host -> ../../..`, imported as `name` with `VOLUME /vol`.
fn import_image(d: &Daemon, dir: &Path, name: &str) {
    let mut b = tar::Builder::new(Vec::new());
    for p in ["bin/", "etc/", "tmp/", "vol/", "proc/", "sys/", "dev/"] {
        b.append_data(&mut header(tar::EntryType::Directory, 0o755, 0), p, &[][..])
            .unwrap();
    }
    let busybox = std::fs::read(BUSYBOX).unwrap();
    let mut h = header(tar::EntryType::Regular, 0o755, busybox.len() as u64);
    b.append_data(&mut h, "bin/busybox", &busybox[..]).unwrap();
    let mut h = header(tar::EntryType::Regular, 0o644, 5);
    b.append_data(&mut h, "etc/conf", &b"conf\n"[..]).unwrap();
    let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
    let links = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|a| *a != "busybox")
        .map(|a| (format!("bin/{a}"), "busybox".to_string()))
        .chain([("etc/link".to_string(), "conf".to_string())])
        .chain([("up".to_string(), "../../../../..".to_string())])
        .collect::<Vec<_>>();
    for (p, target) in links {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, p, target).unwrap();
    }
    let tar = dir.join("rootfs.tar");
    std::fs::write(&tar, b.into_inner().unwrap()).unwrap();
    d.ok(&[
        "import",
        "-c",
        "VOLUME /vol",
        "-c",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        name,
    ]);
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn cp_both_ways_running_and_stopped() {
    let t = tempfile::tempdir().unwrap();
    let d = Daemon::start();
    import_image(&d, t.path(), "cpt:1");
    d.ok(&["run", "-d", "--name", "run1", "cpt:1", "sleep", "60"]);
    d.ok(&["create", "--name", "stop1", "cpt:1", "true"]);

    for c in ["run1", "stop1"] {
        let out = t.path().join(c);
        std::fs::create_dir_all(&out).unwrap();
        // A file, a directory, a directory's contents (/.), and a symlink (kept as a link).
        d.ok(&["cp", &format!("{c}:/etc/conf"), out.to_str().unwrap()]);
        assert_eq!(read(&out.join("conf")), "conf\n");
        d.ok(&[
            "cp",
            &format!("{c}:/etc"),
            out.join("etcdir").to_str().unwrap(),
        ]);
        assert_eq!(read(&out.join("etcdir/conf")), "conf\n");
        assert_eq!(
            std::fs::read_link(out.join("etcdir/link")).unwrap(),
            Path::new("conf")
        );
        std::fs::create_dir_all(out.join("into")).unwrap();
        d.ok(&[
            "cp",
            &format!("{c}:/etc/."),
            out.join("into").to_str().unwrap(),
        ]);
        assert_eq!(read(&out.join("into/conf")), "conf\n");
        d.ok(&[
            "cp",
            &format!("{c}:/etc/link"),
            out.join("l").to_str().unwrap(),
        ]);
        assert_eq!(
            std::fs::read_link(out.join("l")).unwrap(),
            Path::new("conf")
        );
        d.ok(&[
            "cp",
            "-L",
            &format!("{c}:/etc/link"),
            out.join("followed").to_str().unwrap(),
        ]);
        assert_eq!(read(&out.join("followed")), "conf\n");

        // Into the container: a file renamed, a directory, and into the volume.
        let src = t.path().join(format!("src-{c}"));
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), "in\n").unwrap();
        std::fs::write(src.join("one"), "one\n").unwrap();
        d.ok(&[
            "cp",
            src.join("one").to_str().unwrap(),
            &format!("{c}:/tmp/renamed"),
        ]);
        d.ok(&["cp", src.to_str().unwrap(), &format!("{c}:/tmp/tree")]);
        d.ok(&[
            "cp",
            src.join("one").to_str().unwrap(),
            &format!("{c}:/vol/"),
        ]);
        let back = t.path().join(format!("back-{c}"));
        d.ok(&["cp", &format!("{c}:/tmp"), back.to_str().unwrap()]);
        assert_eq!(read(&back.join("renamed")), "one\n");
        assert_eq!(read(&back.join("tree/sub/f")), "in\n");
        let o = d.docker(&["cp", &format!("{c}:/no/such"), t.path().to_str().unwrap()]);
        assert!(
            !o.status.success() && stderr(&o).contains("Could not find the file /no/such"),
            "{}",
            stderr(&o)
        );
    }
    // The copy into the volume landed in the volume, not in the rootfs.
    let vol = d.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Source}}{{end}}",
        "run1",
    ]);
    assert_eq!(read(&Path::new(vol.trim()).join("one")), "one\n");
    assert_eq!(
        d.ok(&["exec", "run1", "cat", "/vol/one", "/tmp/tree/sub/f"]),
        "one\nin\n"
    );
    let vol = d.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Source}}{{end}}",
        "stop1",
    ]);
    assert_eq!(read(&Path::new(vol.trim()).join("one")), "one\n");
}

#[test]
fn hostile_paths_stay_in_the_container() {
    let t = tempfile::tempdir().unwrap();
    let d = Daemon::start();
    import_image(&d, t.path(), "cpt:1");
    d.ok(&["run", "-d", "--name", "h1", "cpt:1", "sleep", "60"]);
    let marker = t.path().join("marker");
    std::fs::write(&marker, "host secret\n").unwrap();
    let m = marker.to_str().unwrap().trim_start_matches('/').to_string();

    // Reading through `..` and a symlink that climbs out finds the container's files only.
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = d.docker(&["cp", &format!("h1:/../../../../{m}"), out.to_str().unwrap()]);
    assert!(!o.status.success(), "read a host file through ..");
    let o = d.docker(&["cp", &format!("h1:/up/{m}"), out.to_str().unwrap()]);
    assert!(!o.status.success(), "read a host file through a symlink");
    d.ok(&["cp", "h1:/up/etc/conf", out.to_str().unwrap()]);
    assert_eq!(read(&out.join("conf")), "conf\n");

    // Writing through them lands inside the rootfs.
    std::fs::create_dir_all(t.path().join("srcdir")).unwrap();
    let src = t.path().join("srcdir/evil");
    std::fs::write(&src, "evil\n").unwrap();
    let parent = marker.parent().unwrap().to_str().unwrap().to_string();
    let _ = d.docker(&["cp", src.to_str().unwrap(), &format!("h1:/up{parent}/")]);
    let _ = d.docker(&[
        "cp",
        src.to_str().unwrap(),
        &format!("h1:/../../..{parent}/"),
    ]);
    assert!(
        !marker.parent().unwrap().join("evil").exists(),
        "cp wrote on the host"
    );
    assert_eq!(read(&marker), "host secret\n");
}

#[test]
fn export_and_diff() {
    let t = tempfile::tempdir().unwrap();
    let d = Daemon::start();
    import_image(&d, t.path(), "cpt:1");
    d.ok(&[
        "run",
        "--name",
        "e1",
        "cpt:1",
        "sh",
        "-c",
        "echo x > /tmp/new; echo y >> /etc/conf; rm /etc/link",
    ]);
    let diff = d.ok(&["diff", "e1"]);
    for want in [
        "C /etc\n",
        "C /etc/conf\n",
        "D /etc/link\n",
        "C /tmp\n",
        "A /tmp/new\n",
    ] {
        assert!(diff.contains(want), "missing {want:?} in:\n{diff}");
    }
    let tar = t.path().join("e1.tar");
    d.ok(&["export", "-o", tar.to_str().unwrap(), "e1"]);
    let list = Command::new("tar").arg("tf").arg(&tar).output().unwrap();
    let names = stdout(&list);
    for want in ["bin/busybox\n", "etc/conf\n", "tmp/new\n"] {
        assert!(names.contains(want), "missing {want:?} in export");
    }
    assert!(!names.contains("etc/link"), "export shows a deleted file");
    let x = Command::new("tar")
        .arg("xOf")
        .arg(&tar)
        .arg("etc/conf")
        .output()
        .unwrap();
    assert_eq!(stdout(&x), "conf\ny\n");
    // tug's own verbs print and write the same.
    let tug = |args: &[&str]| {
        let o = Command::new(TUG)
            .env_remove("DOCKER_HOST")
            .arg("-H")
            .arg(format!("unix://{}", d.sock().display()))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "tug {args:?}: {}", stderr(&o));
        o.stdout
    };
    assert_eq!(String::from_utf8(tug(&["diff", "e1"])).unwrap(), diff);
    let mine = t.path().join("mine.tar");
    tug(&["export", "-o", mine.to_str().unwrap(), "e1"]);
    let list = Command::new("tar").arg("tf").arg(&mine).output().unwrap();
    assert_eq!(stdout(&list), names);
}
