//! Pull and push against Debian's docker-registry on a free loopback port, with skopeo as the
//! independent client on the other side.

mod common;

use common::{busybox_layer, is_root, make_layout, skopeo, Registry, Tar, TestImage};
use image::progress::{NoProgress, ProgressEvent};
use image::{ErrorKind, ImageService, PullOptions, PushOptions, ServiceConfig};
use std::sync::{Arc, Mutex};

fn service(dir: &std::path::Path) -> ImageService {
    ImageService::open(&dir.join("store"), ServiceConfig::default()).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn upper_layer() -> Vec<u8> {
    Tar::new()
        .file("etc/.wh.hostname", b"")
        .file("etc/motd", b"hello from layer 2\n")
        .finish()
}

/// Push a two-layer busybox image with skopeo; returns its manifest digest.
fn skopeo_push(t: &std::path::Path, reg: &Registry, repo: &str, creds: Option<&str>) -> String {
    let layout = t.join(format!("layout-{}", repo.replace('/', "-")));
    let digests = make_layout(
        &layout,
        "v1",
        &[TestImage {
            arch: "amd64",
            layers: vec![busybox_layer(), upper_layer()],
        }],
    );
    let src = format!("oci:{}:v1", layout.display());
    let dst = format!("docker://{}/{repo}:v1", reg.addr);
    let mut args = vec!["copy", "--dest-tls-verify=false", &src, &dst];
    let c;
    if let Some(cr) = creds {
        c = format!("--dest-creds={cr}");
        args.insert(1, &c);
    }
    skopeo(&args);
    digests[0].clone()
}

#[derive(Default)]
struct Events(Mutex<Vec<ProgressEvent>>);

impl image::Progress for Events {
    fn event(&self, e: ProgressEvent) {
        self.0.lock().unwrap().push(e);
    }
}

#[test]
fn skopeo_push_then_tug_pull_unpacks_and_runs() {
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::start(false);
    let digest = skopeo_push(t.path(), &reg, "test/busybox", None);
    let svc = service(t.path());
    let events = Arc::new(Events::default());
    let reference = format!("{}/test/busybox:v1", reg.addr);
    let rec = rt()
        .block_on(svc.pull(&reference, &PullOptions::default(), events.clone()))
        .unwrap();
    assert_eq!(rec.target.to_string(), digest);
    assert_eq!(rec.name, reference);
    let info = svc.inspect(&reference).unwrap();
    assert_eq!(info.chain_ids.len(), 2);
    let bottom = svc.snapshots().fs(&info.chain_ids[0]);
    assert!(bottom.join("bin/busybox").is_file());
    let ev = events.0.lock().unwrap().clone();
    assert!(ev.iter().any(|e| matches!(e, ProgressEvent::Done { .. })));
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, ProgressEvent::LayerDone { .. }))
            .count(),
        2
    );
    // A second pull finds everything present.
    let events2 = Arc::new(Events::default());
    rt().block_on(svc.pull(&reference, &PullOptions::default(), events2.clone()))
        .unwrap();
    let ev2 = events2.0.lock().unwrap().clone();
    assert_eq!(
        ev2.iter()
            .filter(|e| matches!(e, ProgressEvent::LayerExists { .. }))
            .count(),
        2
    );
    if is_root() {
        let m = svc.mount(&reference, &t.path().join("ctr")).unwrap();
        assert!(!m.path().join("etc/hostname").exists(), "whiteout applied");
        assert_eq!(
            std::fs::read(m.path().join("etc/motd")).unwrap(),
            b"hello from layer 2\n"
        );
        let out = std::process::Command::new("chroot")
            .arg(m.path())
            .args(["/bin/sh", "-c", "cat /etc/motd; echo ran"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello from layer 2\nran\n"
        );
    }
}

#[test]
fn tug_push_then_skopeo_pull_chunked_and_monolithic() {
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::start(false);
    skopeo_push(t.path(), &reg, "src/busybox", None);
    let svc = service(t.path());
    let rt = rt();
    let src = format!("{}/src/busybox:v1", reg.addr);
    let rec = rt
        .block_on(svc.pull(&src, &PullOptions::default(), Arc::new(NoProgress)))
        .unwrap();
    for (repo, chunk) in [("mono/busybox", None), ("chunked/busybox", Some(64 * 1024))] {
        let dst = format!("{}/{repo}:v2", reg.addr);
        svc.tag(&src, &dst).unwrap();
        let events = Arc::new(Events::default());
        let opts = PushOptions {
            chunk_size: chunk,
            ..Default::default()
        };
        let pushed = rt.block_on(svc.push(&dst, &opts, events.clone())).unwrap();
        assert_eq!(pushed, rec.manifest);
        let ev = events.0.lock().unwrap().clone();
        // The layers and config exist in src/busybox on the same registry: mounted, not uploaded.
        let mounted = ev
            .iter()
            .filter(|e| matches!(e, ProgressEvent::LayerMounted { .. }))
            .count();
        assert_eq!(mounted, 3, "{repo}: {ev:?}");
        let out = t.path().join(format!("out-{}", repo.replace('/', "-")));
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{dst}"),
            &format!("oci:{}:x", out.display()),
        ]);
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][0]["digest"], rec.manifest.to_string());
    }
    // A push to a new registry uploads everything (no mount source there), chunked.
    let reg2 = Registry::start(false);
    let dst = format!("{}/fresh/busybox:v3", reg2.addr);
    svc.tag(&src, &dst).unwrap();
    let events = Arc::new(Events::default());
    rt.block_on(svc.push(
        &dst,
        &PushOptions {
            chunk_size: Some(256 * 1024),
            ..Default::default()
        },
        events.clone(),
    ))
    .unwrap();
    let ev = events.0.lock().unwrap().clone();
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, ProgressEvent::LayerDone { .. }))
            .count(),
        3
    );
    let out = t.path().join("out-fresh");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{dst}"),
        &format!("oci:{}:x", out.display()),
    ]);
    // Pushing again skips every blob (HEAD finds them).
    let events = Arc::new(Events::default());
    rt.block_on(svc.push(&dst, &PushOptions::default(), events.clone()))
        .unwrap();
    let ev = events.0.lock().unwrap().clone();
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, ProgressEvent::LayerExists { .. }))
            .count(),
        3
    );
}

#[test]
fn basic_auth_with_docker_config_credentials() {
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::start(true);
    skopeo_push(t.path(), &reg, "private/busybox", Some("tug:secret"));
    let reference = format!("{}/private/busybox:v1", reg.addr);
    let rt = rt();
    let anon = service(t.path());
    let err = rt
        .block_on(anon.pull(&reference, &PullOptions::default(), Arc::new(NoProgress)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(
        err.to_string().starts_with(&format!("pull {reference}: ")),
        "{err}"
    );
    let cfg = t.path().join("docker/config.json");
    let creds = image::registry::auth::CredentialStore::new(&cfg);
    let bad = image::registry::auth::Credential {
        username: "tug".into(),
        password: "wrong".into(),
    };
    creds.set(&reg.addr, &bad).unwrap();
    let config = ServiceConfig {
        credentials: Some(cfg.clone()),
        ..Default::default()
    };
    let svc = ImageService::open(&t.path().join("store2"), config.clone()).unwrap();
    let err = rt
        .block_on(svc.pull(&reference, &PullOptions::default(), Arc::new(NoProgress)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    let good = image::registry::auth::Credential {
        username: "tug".into(),
        password: "secret".into(),
    };
    creds.set(&reg.addr, &good).unwrap();
    let svc = ImageService::open(&t.path().join("store3"), config).unwrap();
    rt.block_on(svc.pull(&reference, &PullOptions::default(), Arc::new(NoProgress)))
        .unwrap();
    // and push with the same credentials
    let dst = format!("{}/private/copy:v1", reg.addr);
    svc.tag(&reference, &dst).unwrap();
    rt.block_on(svc.push(&dst, &PushOptions::default(), Arc::new(NoProgress)))
        .unwrap();
}

#[test]
fn index_pull_selects_platform() {
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::start(false);
    let layout = t.path().join("multi");
    let arm_layer = Tar::new().file("arch", b"arm64").finish();
    let amd_layer = Tar::new().file("arch", b"amd64").finish();
    let digests = make_layout(
        &layout,
        "m",
        &[
            TestImage {
                arch: "arm64",
                layers: vec![arm_layer],
            },
            TestImage {
                arch: "amd64",
                layers: vec![amd_layer],
            },
        ],
    );
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:m", layout.display()),
        &format!("docker://{}/multi:m", reg.addr),
    ]);
    let rt = rt();
    let reference = format!("{}/multi:m", reg.addr);
    for (platform, want, idx) in [(None, "amd64", 1), (Some("linux/arm64"), "arm64", 0)] {
        let svc = service(&t.path().join(want));
        let opts = PullOptions {
            platform: platform.map(|p| image::manifest::Platform::parse(p).unwrap()),
            ..Default::default()
        };
        let rec = rt
            .block_on(svc.pull(&reference, &opts, Arc::new(NoProgress)))
            .unwrap();
        assert_eq!(rec.manifest.to_string(), digests[idx]);
        assert!(image::manifest::is_index(&rec.media_type));
        let info = svc.inspect(&reference).unwrap();
        assert_eq!(
            std::fs::read(svc.snapshots().fs(&info.chain_ids[0]).join("arch")).unwrap(),
            want.as_bytes()
        );
    }
    let svc = service(&t.path().join("s390x"));
    let opts = PullOptions {
        platform: Some(image::manifest::Platform::parse("linux/s390x").unwrap()),
        ..Default::default()
    };
    let err = rt
        .block_on(svc.pull(&reference, &opts, Arc::new(NoProgress)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string()
            .contains("no matching manifest for linux/s390x"),
        "{err}"
    );
}

#[test]
fn corrupt_blob_in_registry_is_rejected() {
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::start(false);
    skopeo_push(t.path(), &reg, "bad/busybox", None);
    // Flip bytes of the second layer blob in the registry's storage.
    let layout = t.path().join("layout-bad-busybox");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let md = index["manifests"][0]["digest"].as_str().unwrap();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(&md[7..])).unwrap())
            .unwrap();
    let layer = m["layers"][1]["digest"].as_str().unwrap().to_string();
    let data_root = std::fs::read_dir(reg.data_dir()).unwrap().next().is_some();
    assert!(data_root);
    let blob = reg.blob_path(&layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let svc = service(t.path());
    let reference = format!("{}/bad/busybox:v1", reg.addr);
    let err = rt()
        .block_on(svc.pull(&reference, &PullOptions::default(), Arc::new(NoProgress)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataLoss, "{err}");
    assert!(
        err.to_string()
            .contains(&format!("blob {layer}: digest mismatch")),
        "{err}"
    );
    let d: image::Digest = layer.parse().unwrap();
    assert!(!svc.content().contains(&d), "no corrupt blob is visible");
    let partials = svc.content().partials().unwrap();
    assert!(
        !partials
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains(d.hex())),
        "corrupt partial removed"
    );
    assert!(svc.snapshots().leftovers().unwrap().is_empty());
    assert!(svc.resolve(&reference).is_err(), "no image record");
}

#[test]
fn interrupted_pull_resumes_with_range() {
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::start(false);
    // A big incompressible layer so the cut lands mid-blob.
    let mut noise = vec![0u8; 3 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let layout = t.path().join("big");
    make_layout(
        &layout,
        "v1",
        &[TestImage {
            arch: "amd64",
            layers: vec![Tar::new().file("noise", &noise).finish()],
        }],
    );
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{}/big:v1", reg.addr),
    ]);
    let proxy = common::CuttingProxy::start(&reg.addr, 1 << 20);
    let svc = service(t.path());
    let rt = rt();
    let via_proxy = format!("{}/big:v1", proxy.addr);
    let err = rt
        .block_on(svc.pull(&via_proxy, &PullOptions::default(), Arc::new(NoProgress)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let partials = svc.content().partials().unwrap();
    assert_eq!(partials.len(), 1, "the partial blob is kept");
    assert!(std::fs::metadata(&partials[0].0).unwrap().len() > 0);
    assert!(svc.snapshots().list().unwrap().is_empty());
    let events = Arc::new(Events::default());
    let direct = format!("{}/big:v1", reg.addr);
    rt.block_on(svc.pull(&direct, &PullOptions::default(), events.clone()))
        .unwrap();
    let ev = events.0.lock().unwrap().clone();
    assert!(
        ev.iter()
            .any(|e| matches!(e, ProgressEvent::LayerResumed { offset, .. } if *offset > 0)),
        "{ev:?}"
    );
    let info = svc.inspect(&direct).unwrap();
    assert_eq!(
        std::fs::read(svc.snapshots().fs(&info.chain_ids[0]).join("noise")).unwrap(),
        noise
    );
    assert!(svc.content().partials().unwrap().is_empty());
}

#[test]
fn gc_removes_only_unreferenced_blobs_and_snapshots() {
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::start(false);
    skopeo_push(t.path(), &reg, "gc/busybox", None);
    let svc = service(t.path());
    let rt = rt();
    let a = format!("{}/gc/busybox:v1", reg.addr);
    let b = format!("{}/gc/other:v1", reg.addr);
    rt.block_on(svc.pull(&a, &PullOptions::default(), Arc::new(NoProgress)))
        .unwrap();
    svc.tag(&a, &b).unwrap();
    let stray = svc
        .content()
        .write_all(None, b"nobody references me")
        .unwrap();
    let blobs_before = svc.content().list().unwrap().len();
    let report = svc.gc(&[]).unwrap();
    assert_eq!(report.blobs_removed, vec![stray]);
    assert!(report.snapshots_removed.is_empty());
    svc.remove(&a, false).unwrap();
    assert!(
        svc.gc(&[]).unwrap().blobs_removed.is_empty(),
        "still named by the tag"
    );
    let info = svc.inspect(&b).unwrap();
    svc.remove(&b, false).unwrap();
    let report = svc.gc(&[]).unwrap();
    assert_eq!(report.blobs_removed.len(), blobs_before - 1);
    assert_eq!(report.snapshots_removed.len(), 2);
    assert!(svc.content().list().unwrap().is_empty());
    assert!(!svc.snapshots().exists(&info.chain_ids[0]));
    assert_eq!(svc.resolve(&a).unwrap_err().kind(), ErrorKind::NotFound);
}
