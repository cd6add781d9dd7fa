//! Per-request registry credentials (what a daemon gets in `X-Registry-Auth`) and their
//! separation between callers; prune while a pull is running; mirrors with fallback.

mod common;

use common::{busybox_layer, make_layout, skopeo, Registry, TestImage};
use image::gc::PruneOptions;
use image::progress::NoProgress;
use image::registry::auth::AuthConfig;
use image::registry::HostsConfig;
use image::{ErrorKind, ImageService, PullOptions, ServiceConfig};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn push(t: &std::path::Path, reg: &Registry, repo: &str, layers: Vec<Vec<u8>>, creds: bool) {
    let layout = t.join(format!("layout-{}", repo.replace('/', "-")));
    make_layout(
        &layout,
        "v1",
        &[TestImage {
            arch: "amd64",
            layers,
        }],
    );
    let src = format!("oci:{}:v1", layout.display());
    let dst = format!("docker://{}/{repo}:v1", reg.addr);
    let mut args = vec!["copy", "--dest-tls-verify=false"];
    if creds {
        args.push("--dest-creds=tug:secret");
    }
    args.extend([src.as_str(), dst.as_str()]);
    skopeo(&args);
}

fn pull_as(
    rt: &tokio::runtime::Runtime,
    svc: &ImageService,
    name: &str,
    auth: Option<AuthConfig>,
) -> Result<image::store::ImageRecord, image::ServiceError> {
    let opts = PullOptions {
        auth,
        ..Default::default()
    };
    rt.block_on(svc.pull(name, &opts, Arc::new(NoProgress)))
}

#[test]
fn request_credentials_are_used_and_kept_apart() {
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::start(true);
    push(t.path(), &reg, "team/bb", vec![busybox_layer()], true);
    // No credentials file at all: only what each request brings.
    let svc = ImageService::open(&t.path().join("store"), ServiceConfig::default()).unwrap();
    let rt = rt();
    let name = format!("{}/team/bb:v1", reg.addr);
    let good = AuthConfig {
        username: "tug".into(),
        password: "secret".into(),
        ..Default::default()
    };
    let wrong = AuthConfig {
        password: "nope".into(),
        ..good.clone()
    };
    let e = pull_as(&rt, &svc, &name, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    let e = pull_as(&rt, &svc, &name, Some(wrong.clone())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    pull_as(&rt, &svc, &name, Some(good.clone())).unwrap();
    // The authorization the good caller got is not handed to the others.
    svc.remove(&name, false).unwrap();
    svc.gc(&[]).unwrap();
    let e = pull_as(&rt, &svc, &name, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    let e = pull_as(&rt, &svc, &name, Some(wrong)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    // The header form a client sends decodes to the same credentials.
    let header = good.to_header();
    let back = AuthConfig::from_header(&header).unwrap().unwrap();
    pull_as(&rt, &svc, &name, Some(back)).unwrap();

    // The daemon's login check: right and wrong passwords.
    let host = reg.addr.clone();
    assert_eq!(
        rt.block_on(svc.registry().login(&host, &good)).unwrap(),
        None
    );
    let bad = AuthConfig {
        password: "x".into(),
        ..good
    };
    let e = rt.block_on(svc.registry().login(&host, &bad)).unwrap_err();
    assert!(
        e.to_string()
            .contains("failed with status: 401 Unauthorized"),
        "{e}"
    );
}

/// Relays loopback TCP at about `rate` bytes a second.
fn slow_proxy(upstream: String, rate: usize) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut client) = c else { return };
            let Ok(mut server) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
            });
            std::thread::spawn(move || {
                let mut buf = vec![0u8; rate / 20];
                while let Ok(n) = server.read(&mut buf) {
                    if n == 0 || client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    addr
}

#[test]
fn prune_waits_for_a_running_pull_then_removes_whole_images() {
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::start(false);
    let mut noise = vec![0u8; 6 << 20];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut noise)
        .unwrap();
    let big = common::Tar::new().file("noise", &noise).finish();
    push(
        t.path(),
        &reg,
        "slow/big",
        vec![busybox_layer(), big],
        false,
    );
    let svc = ImageService::open(&t.path().join("store"), ServiceConfig::default()).unwrap();
    let slow = slow_proxy(reg.addr.clone(), 3 << 20);
    let name = format!("{slow}/slow/big:v1");
    let (svc2, n2) = (svc.clone(), name.clone());
    let puller = std::thread::spawn(move || {
        let r = pull_as(&rt(), &svc2, &n2, None);
        (r, Instant::now())
    });
    // Once the pull has written part of its blobs, prune everything it can.
    let deadline = Instant::now() + Duration::from_secs(10);
    while svc.content().partials().unwrap().is_empty() && svc.content().list().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the pull did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let report = svc
        .prune(
            &PruneOptions {
                all: true,
                ..Default::default()
            },
            &[],
        )
        .unwrap();
    let (rec, _) = puller.join().unwrap();
    // The pull finished undisturbed, and only then did the prune run: it saw the new image
    // (unused, so `-a` removes it) and removed it whole.
    let rec = rec.unwrap();
    assert!(
        report
            .removed
            .contains(&image::gc::Pruned::Deleted(rec.config.clone())),
        "{:?}",
        report.removed
    );
    assert!(svc.inspect(&name).is_err());
    assert!(svc.content().list().unwrap().is_empty());
    assert!(svc.snapshots().list().unwrap().is_empty());
    assert!(report.space_reclaimed >= noise.len() as u64);
}

#[test]
fn mirror_first_then_the_registry() {
    let t = tempfile::tempdir().unwrap();
    let mirror = Registry::start(false);
    let upstream = Registry::start(false);
    push(
        t.path(),
        &mirror,
        "library/onmirror",
        vec![busybox_layer()],
        false,
    );
    push(
        t.path(),
        &upstream,
        "library/upstreamonly",
        vec![busybox_layer()],
        false,
    );
    let svc = ImageService::open(&t.path().join("store"), ServiceConfig::default()).unwrap();
    // The "registry" is another loopback registry standing in for Docker Hub.
    let mut hosts = HostsConfig::default();
    hosts
        .mirrors
        .insert(upstream.addr.clone(), vec![mirror.addr.clone()]);
    svc.registry().set_hosts(hosts);
    let rt = rt();
    pull_as(
        &rt,
        &svc,
        &format!("{}/library/onmirror:v1", upstream.addr),
        None,
    )
    .unwrap();
    pull_as(
        &rt,
        &svc,
        &format!("{}/library/upstreamonly:v1", upstream.addr),
        None,
    )
    .unwrap();
    // With the registry gone, what the mirror has still comes; the rest fails cleanly.
    let on_mirror = format!("{}/library/onmirror:v1", upstream.addr);
    let only_up = format!("{}/library/upstreamonly:v1", upstream.addr);
    svc.remove(&on_mirror, false).unwrap();
    svc.remove(&only_up, false).unwrap();
    svc.gc(&[]).unwrap();
    drop(upstream);
    pull_as(&rt, &svc, &on_mirror, None).unwrap();
    let e = pull_as(&rt, &svc, &only_up, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
}
