//! Image endpoints through the real docker CLI against a private `tug daemon`: push to a
//! local registry and pull back, save/load, history, untagged images, and a bad load.

mod common;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Daemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
    cgroup_parent: String,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("tug-e2e-")
            .tempdir()
            .unwrap();
        let mut d = Daemon {
            dir,
            child: None,
            cgroup_parent: format!("tug-e2e-{}", std::process::id()),
        };
        d.spawn();
        d
    }

    fn sock(&self) -> PathBuf {
        self.dir.path().join("tug.sock")
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let child = Command::new(TUG)
            .arg("daemon")
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock().display()))
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(d.join("daemon.log"))
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "tug daemon did not answer: {}",
                std::fs::read_to_string(d.join("daemon.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.sock().display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed ({:?}): {}{}",
            o.status,
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            for id in stdout(&ids).split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        self.kill9();
        // Anything still mounted under our directory (a failed test) goes too.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root = self.dir.path().to_string_lossy().to_string();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            for base in [
                h.path(),
                h.path().join(own_cgroup(&h.file_name().to_string_lossy())),
            ] {
                let _ = std::fs::remove_dir(base.join(&self.cgroup_parent));
            }
        }
        let _ = std::fs::remove_dir(PathBuf::from("/sys/fs/cgroup").join(&self.cgroup_parent));
    }
}

/// This process's cgroup path in one v1 hierarchy (relative, no leading '/').
fn own_cgroup(controller: &str) -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    text.lines()
        .find_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, c, path) = (p.next()?, p.next()?, p.next()?);
            c.split(',')
                .any(|x| x == controller)
                .then(|| path.trim_start_matches('/').to_string())
        })
        .unwrap_or_default()
}

/// A busybox image in a local registry, pushed by skopeo; returns its reference.
fn busybox_in_registry(reg: &img::Registry, t: &std::path::Path) -> String {
    let layout = t.join("layout");
    img::make_layout(
        &layout,
        "v1",
        &[img::TestImage {
            arch: "amd64",
            layers: vec![img::busybox_layer()],
        }],
    );
    let src = format!("oci:{}:v1", layout.display());
    let reference = format!("{}/tug/busybox:v1", reg.addr);
    img::skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &src,
        &format!("docker://{reference}"),
    ]);
    reference
}

fn skopeo_inspect(reference: &str) -> serde_json::Value {
    let o = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "skopeo inspect {reference}: {}",
        stderr(&o)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn image_id(d: &Daemon, name: &str) -> String {
    d.ok(&["inspect", "-f", "{{.Id}}", name]).trim().to_string()
}

#[test]
fn docker_push_then_pull_back() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = busybox_in_registry(&reg, t.path());
    let d = Daemon::start();
    d.ok(&["pull", "-q", &image]);

    let target = format!("{}/tug/pushed:v2", reg.addr);
    d.ok(&["tag", &image, &target]);
    let out = d.ok(&["push", &target]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/tug/pushed]",
            reg.addr
        )),
        "{out}"
    );
    // busybox's layer is mounted from tug/busybox (same registry) or uploaded.
    assert!(
        out.contains("Pushed") || out.contains("Mounted from tug/busybox"),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("v2: digest: sha256:"))
        .unwrap_or_else(|| panic!("no digest line: {out}"));
    let digest = line.split_whitespace().nth(2).unwrap().to_string();
    let remote = skopeo_inspect(&target);
    assert_eq!(remote["Digest"].as_str(), Some(digest.as_str()), "{remote}");
    let layers = remote["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{remote}");
    let local_layer = d
        .ok(&["inspect", "-f", "{{index .RootFS.Layers 0}}", &target])
        .trim()
        .to_string();
    assert!(local_layer.starts_with("sha256:"), "{local_layer}");

    // A second push finds everything there already.
    let again = d.ok(&["push", &target]);
    assert!(again.contains("Layer already exists"), "{again}");
    assert!(again.contains(&format!("v2: digest: {digest}")), "{again}");

    // To another registry nothing can be mounted: the layer is uploaded.
    let reg2 = img::Registry::start(false);
    let other = format!("{}/elsewhere/bb:v3", reg2.addr);
    d.ok(&["tag", &image, &other]);
    let out2 = d.ok(&["push", &other]);
    assert!(out2.contains("Pushed"), "{out2}");
    assert!(out2.contains(&format!("v3: digest: {digest}")), "{out2}");
    assert_eq!(
        skopeo_inspect(&other)["Digest"].as_str(),
        Some(digest.as_str())
    );
    d.ok(&["rmi", &other]);

    // Pushing a name that is not local is refused.
    let nope = d.docker(&["push", &format!("{}/tug/nothere:v1", reg.addr)]);
    assert!(!nope.status.success());
    assert!(
        stderr(&nope).contains("does not exist locally"),
        "{}",
        stderr(&nope)
    );

    d.ok(&["rmi", &target]);
    d.ok(&["rmi", &image]);
    assert!(!d.ok(&["images"]).contains("tug/"), "{}", d.ok(&["images"]));
    let pulled = d.ok(&["pull", &target]);
    assert!(pulled.contains(&format!("Digest: {digest}")), "{pulled}");
    assert_eq!(d.ok(&["run", "--rm", &target, "echo", "ok"]), "ok\n");
}

#[test]
fn docker_save_load_history() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = busybox_in_registry(&reg, t.path());
    let d = Daemon::start();
    d.ok(&["pull", "-q", &image]);
    let id = image_id(&d, &image);

    let hist = d.ok(&["history", &image]);
    assert!(hist.lines().count() >= 2, "{hist}");
    assert!(hist.contains(&id[7..19]), "{hist}");
    let nohist = d.docker(&["history", "nosuch:tag"]);
    assert!(!nohist.status.success());
    assert!(
        stderr(&nohist).contains("No such image"),
        "{}",
        stderr(&nohist)
    );

    let tar = t.path().join("f.tar");
    d.ok(&["save", "-o", tar.to_str().unwrap(), &image]);
    let listing = Command::new("tar").arg("-tf").arg(&tar).output().unwrap();
    assert!(
        stdout(&listing).lines().any(|l| l == "manifest.json"),
        "{}",
        stdout(&listing)
    );
    let nosave = d.docker(&[
        "save",
        "-o",
        t.path().join("x.tar").to_str().unwrap(),
        "nosuch:tag",
    ]);
    assert!(!nosave.status.success());
    assert!(
        stderr(&nosave).contains("No such image"),
        "{}",
        stderr(&nosave)
    );

    d.ok(&["rmi", &image]);
    assert!(!d.ok(&["images"]).contains("tug/busybox"));
    let loaded = d.ok(&["load", "-i", tar.to_str().unwrap()]);
    assert!(
        loaded.contains(&format!("Loaded image: {image}")),
        "{loaded}"
    );
    assert_eq!(image_id(&d, &image), id);
    assert_eq!(d.ok(&["run", "--rm", &image, "echo", "ok"]), "ok\n");
}

#[test]
fn untagged_image_shows_as_none_until_tagged() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = busybox_in_registry(&reg, t.path());
    let d = Daemon::start();
    d.ok(&["pull", "-q", &image]);
    let id = image_id(&d, &image);

    // Saved by ID: the archive has no names, so it loads untagged.
    let tar = t.path().join("byid.tar");
    d.ok(&["save", "-o", tar.to_str().unwrap(), &id]);
    d.ok(&["rmi", &image]);
    let loaded = d.ok(&["load", "-i", tar.to_str().unwrap()]);
    assert!(
        loaded.contains(&format!("Loaded image ID: {id}")),
        "{loaded}"
    );
    let listed = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert_eq!(
        listed.trim(),
        format!("<none>:<none> {}", &id[7..19]),
        "{listed}"
    );
    assert_eq!(d.ok(&["run", "--rm", &id, "echo", "ok"]), "ok\n");

    d.ok(&["tag", &id, "named:v1"]);
    let listed = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert_eq!(
        listed.trim(),
        format!("named:v1 {}", &id[7..19]),
        "{listed}"
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{json .RepoTags}}", &id]).trim(),
        "[\"named:v1\"]"
    );
}

#[test]
fn loading_garbage_fails_cleanly() {
    let reg = img::Registry::start(false);
    let t = tempfile::tempdir().unwrap();
    let image = busybox_in_registry(&reg, t.path());
    let d = Daemon::start();
    d.ok(&["pull", "-q", &image]);
    let before = d.ok(&["images", "-q"]);

    let junk = t.path().join("junk.tar");
    let mut bytes = vec![0u8; 70_000];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(2_654_435_761).rotate_left(7) as u8;
    }
    std::fs::write(&junk, &bytes).unwrap();
    let o = d.docker(&["load", "-i", junk.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("load archive: archive: invalid tar"), "{err}");
    assert!(!err.contains('\u{fffd}'), "{err}");
    assert_eq!(d.ok(&["images", "-q"]), before);

    // A tar that is not an image archive is refused too.
    let plain = t.path().join("plain.tar");
    std::fs::write(&plain, img::Tar::new().file("hello.txt", b"hi").finish()).unwrap();
    let o = d.docker(&["load", "-i", plain.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));
    assert_eq!(d.ok(&["images", "-q"]), before);
    // Nothing left behind in the daemon's temp dir.
    let tmp = d.dir.path().join("data").join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
