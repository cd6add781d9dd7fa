//! Image endpoints through the real docker CLI against a private `tug daemon`: push to a
//! local registry and pull back, save/load, history, untagged images, and a bad load.

mod common;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;

mod daemon;
use daemon::*;
use std::process::Command;

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
