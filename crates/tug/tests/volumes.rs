//! Volumes and bind mounts through the real docker CLI (and `tug volume`) against a private
//! `tug daemon`: named volumes shared by containers, anonymous volumes from an image `VOLUME`
//! with copy-up, `rm -v`/`--rm`, `volume ls/inspect/rm/prune` and their errors, read-only
//! binds, propagation, and `--mount` checks.

mod common;
#[path = "../../image/tests/common/mod.rs"]
#[allow(dead_code, unused_imports)]
mod img;

use common::*;
mod daemon;
use daemon::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A busybox rootfs with every applet, `/data/seed` (owned 1234:1234, mode 0640) and an
/// empty `/empty`, imported as `name` with `VOLUME ["/data", "/empty"]`.
fn import_image(d: &Daemon, dir: &Path, name: &str) {
    let tar = dir.join("rootfs.tar");
    std::fs::write(&tar, rootfs_tar()).unwrap();
    d.ok(&[
        "import",
        "-c",
        "VOLUME [\"/data\", \"/empty\"]",
        "-c",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        name,
    ]);
}

fn header(kind: tar::EntryType, mode: u32, size: u64, id: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(id);
    h.set_gid(id);
    h.set_mtime(1_700_000_000);
    h
}

fn rootfs_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let dirs = [
        "bin/", "etc/", "tmp/", "data/", "empty/", "proc/", "sys/", "dev/",
    ];
    for p in dirs {
        let mut h = header(tar::EntryType::Directory, 0o755, 0, 0);
        b.append_data(&mut h, p, &[][..]).unwrap();
    }
    let busybox = std::fs::read(BUSYBOX).unwrap();
    let file = |b: &mut tar::Builder<Vec<u8>>, p: &str, data: &[u8], mode: u32, id: u64| {
        let mut h = header(tar::EntryType::Regular, mode, data.len() as u64, id);
        b.append_data(&mut h, p, data).unwrap();
    };
    file(&mut b, "bin/busybox", &busybox, 0o755, 0);
    file(
        &mut b,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\n",
        0o644,
        0,
    );
    file(&mut b, "data/seed", b"from image\n", 0o640, 1234);
    let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|a| *a != "busybox")
    {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0, 0);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    b.into_inner().unwrap()
}

fn fails_with(d: &Daemon, args: &[&str], want: &str) {
    let o = d.docker(args);
    assert!(
        !o.status.success() && stderr(&o).contains(want),
        "docker {args:?}: expected failure with {want:?}, got {:?}: {}{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
}

fn volume_names(d: &Daemon) -> Vec<String> {
    d.ok(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect()
}

/// `tug -H unix://… args`.
fn tug(d: &Daemon, args: &[&str]) -> std::process::Output {
    Command::new(TUG)
        .env_remove("DOCKER_HOST")
        .arg("-H")
        .arg(format!("unix://{}", d.sock().display()))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn named_volume_is_shared_and_cannot_be_removed_in_use() {
    let t = tempfile::tempdir().unwrap();
    let d = Daemon::start();
    import_image(&d, t.path(), "vt:1");

    assert_eq!(
        d.ok(&["volume", "create", "--label", "team=a", "data"]),
        "data\n"
    );
    // Creating it again returns the same volume, as Docker does.
    assert_eq!(d.ok(&["volume", "create", "data"]), "data\n");
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/d",
        "vt:1",
        "sh",
        "-c",
        "echo kept > /d/f",
    ]);
    assert_eq!(
        d.ok(&["run", "--rm", "-v", "data:/x", "vt:1", "cat", "/x/f"]),
        "kept\n"
    );

    let mp = d.ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Mountpoint}} {{.Driver}} {{.Labels.team}}",
        "data",
    ]);
    let want = d.dir.path().join("data/volumes/data/_data");
    assert_eq!(mp.trim(), format!("{} local a", want.display()));
    assert_eq!(std::fs::read_to_string(want.join("f")).unwrap(), "kept\n");
    let ls = d.ok(&["volume", "ls"]);
    assert!(
        ls.starts_with("DRIVER    VOLUME NAME\n") && ls.contains("local     data\n"),
        "{ls}"
    );
    assert_eq!(
        d.ok(&["volume", "ls", "-q", "-f", "label=team=a"]),
        "data\n"
    );
    assert_eq!(d.ok(&["volume", "ls", "-q", "-f", "label=team=b"]), "");
    // tug's own verbs print the same.
    assert_eq!(stdout(&tug(&d, &["volume", "ls"])), ls);

    let id = d.ok(&[
        "create", "--name", "holder", "-v", "data:/d", "vt:1", "true",
    ]);
    let mounts = d.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Source}} {{.Destination}} {{.Driver}} {{.RW}}|{{end}}",
        "holder",
    ]);
    assert!(
        mounts.contains(&format!("volume data {} /d local true|", want.display())),
        "{mounts}"
    );
    fails_with(
        &d,
        &["volume", "rm", "data"],
        &format!("remove data: volume is in use - [{}]", id.trim()),
    );
    let o = tug(&d, &["volume", "rm", "data"]);
    assert!(
        !o.status.success() && stderr(&o).contains("volume is in use"),
        "{}",
        stderr(&o)
    );
    // Not even prune -a takes a volume in use.
    d.ok(&["volume", "prune", "-af"]);
    assert!(volume_names(&d).contains(&"data".to_string()));

    d.ok(&["rm", "-v", "holder"]);
    assert_eq!(d.ok(&["volume", "rm", "data"]), "data\n");
    assert!(!want.exists());
    fails_with(&d, &["volume", "inspect", "data"], "no such volume");
    fails_with(&d, &["volume", "rm", "data"], "get data: no such volume");
    d.ok(&["volume", "rm", "-f", "data"]);
    fails_with(
        &d,
        &["volume", "create", "a/b"],
        "includes invalid characters for a local volume name",
    );
    fails_with(
        &d,
        &["volume", "create", "-d", "nfs", "x1"],
        "plugin \"nfs\" not found",
    );
    assert!(volume_names(&d).is_empty());
}

#[test]
fn anonymous_volumes_copy_up_image_content_and_go_with_rm_v() {
    let t = tempfile::tempdir().unwrap();
    let d = Daemon::start();
    import_image(&d, t.path(), "vt:1");

    let o = d.ok(&[
        "run",
        "--name",
        "ca",
        "vt:1",
        "sh",
        "-c",
        "cat /data/seed; ls -ln /data; echo new > /data/n",
    ]);
    assert!(o.starts_with("from image\n"), "{o}");
    assert!(o.contains("-rw-r-----    1 1234     1234"), "{o}");
    let vols = volume_names(&d);
    assert_eq!(vols.len(), 2, "{vols:?}");
    let data_vol = d.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{if eq .Destination \"/data\"}}{{.Name}}{{end}}{{end}}",
        "ca",
    ]);
    let data_vol = data_vol.trim();
    assert_eq!(data_vol.len(), 64, "{data_vol}");
    let host = d
        .dir
        .path()
        .join("data/volumes")
        .join(data_vol)
        .join("_data");
    let seed = std::fs::metadata(host.join("seed")).unwrap();
    assert_eq!((seed.uid(), seed.mode() & 0o7777), (1234, 0o640));
    assert_eq!(std::fs::read_to_string(host.join("n")).unwrap(), "new\n");
    let labels = d.ok(&["volume", "inspect", "-f", "{{json .Labels}}", data_vol]);
    assert_eq!(labels.trim(), "{\"com.docker.volume.anonymous\":\"\"}");

    // A user mount over an image volume replaces it; nocopy leaves a new volume empty.
    let o = d.ok(&[
        "run",
        "--rm",
        "-v",
        "fresh:/data:nocopy",
        "vt:1",
        "ls",
        "/data",
    ]);
    assert_eq!(o, "");
    let o = d.ok(&[
        "run",
        "--rm",
        "-v",
        "seeded:/data",
        "vt:1",
        "cat",
        "/data/seed",
    ]);
    assert_eq!(o, "from image\n");

    // `rm` without -v keeps anonymous volumes, `rm -v` removes them, named ones stay.
    d.ok(&["rm", "-v", "ca"]);
    let left = volume_names(&d);
    assert_eq!(left, ["fresh", "seeded"], "{left:?}");
    assert!(!host.exists());
    d.ok(&["create", "--name", "cb", "vt:1"]);
    d.ok(&["rm", "cb"]);
    assert_eq!(volume_names(&d).len(), 4);
    // --rm removes the container's anonymous volumes.
    d.ok(&["run", "--rm", "vt:1", "true"]);
    assert_eq!(volume_names(&d).len(), 4);

    let o = d.ok(&["volume", "prune", "-f"]);
    assert!(
        o.starts_with("Deleted Volumes:\n") && o.contains("Total reclaimed space:"),
        "{o}"
    );
    assert_eq!(volume_names(&d), ["fresh", "seeded"]);
    d.ok(&["volume", "prune", "-af", "--filter", "label!=nothing"]);
    assert!(volume_names(&d).is_empty());
}

/// A host directory made a shared mount point of its own (so mounts under it propagate),
/// unmounted on drop.
struct SharedDir(PathBuf);

impl SharedDir {
    fn new(p: &Path) -> SharedDir {
        std::fs::create_dir_all(p).unwrap();
        let run =
            |args: &[&str]| assert!(Command::new("mount").args(args).status().unwrap().success());
        run(&["--bind", p.to_str().unwrap(), p.to_str().unwrap()]);
        let g = SharedDir(p.to_path_buf());
        run(&["--make-shared", p.to_str().unwrap()]);
        g
    }
}

impl Drop for SharedDir {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-R")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn binds_read_only_propagation_and_checks() {
    let t = tempfile::tempdir().unwrap();
    let d = Daemon::start();
    import_image(&d, t.path(), "vt:1");
    let host = t.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "from host\n").unwrap();
    let h = host.to_str().unwrap();

    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{h}:/h:ro"),
        "vt:1",
        "sh",
        "-c",
        "cat /h/f; touch /h/new",
    ]);
    assert_eq!(stdout(&o), "from host\n");
    assert!(
        !o.status.success() && stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    assert!(!host.join("new").exists());
    d.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{h}:/h"),
        "vt:1",
        "touch",
        "/h/new",
    ]);
    assert!(host.join("new").exists());
    let ro = d.ok(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,src={h},dst=/m,readonly"),
        "vt:1",
        "sh",
        "-c",
        "touch /m/x 2>&1; true",
    ]);
    assert!(ro.contains("Read-only file system"), "{ro}");

    // -v creates a missing host directory; --mount refuses it.
    let missing = t.path().join("made/by/v");
    d.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/x", missing.display()),
        "vt:1",
        "true",
    ]);
    assert!(missing.is_dir());
    fails_with(
        &d,
        &[
            "run",
            "--rm",
            "--mount",
            &format!("type=bind,src={}/nope,dst=/x", h),
            "vt:1",
            "true",
        ],
        "bind source path does not exist",
    );
    fails_with(
        &d,
        &["create", "-v", "/tmp:/x", "-v", "v1:/x", "vt:1"],
        "Duplicate mount point: /x",
    );
    assert!(
        volume_names(&d).is_empty(),
        "a refused create left a volume"
    );

    // rslave: a mount made on the host after start shows inside; rprivate (default) not.
    let shared = SharedDir::new(&t.path().join("shared"));
    let s = shared.0.to_str().unwrap();
    std::fs::create_dir_all(shared.0.join("sub")).unwrap();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "slave",
        "--mount",
        &format!("type=bind,src={s},dst=/s,bind-propagation=rslave"),
        "vt:1",
        "sleep",
        "60",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "private",
        "-v",
        &format!("{s}:/s"),
        "vt:1",
        "sleep",
        "60",
    ]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Propagation}}{{end}}",
            "slave",
            "private"
        ]),
        "rslave\nrprivate\n"
    );
    let sub = shared.0.join("sub");
    assert!(Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs", sub.to_str().unwrap()])
        .status()
        .unwrap()
        .success());
    std::fs::write(sub.join("late"), "propagated\n").unwrap();
    let seen = d.ok(&["exec", "slave", "cat", "/s/sub/late"]);
    assert_eq!(seen, "propagated\n");
    let o = d.docker(&["exec", "private", "cat", "/s/sub/late"]);
    assert!(!o.status.success(), "rprivate bind saw a later host mount");
    d.ok(&["rm", "-f", "slave", "private"]);
    drop(shared);
}
