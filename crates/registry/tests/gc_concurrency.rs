//! Concurrent pushes of one blob, and garbage collection while the registry serves: uploads in
//! progress and recently pushed blobs are kept, retention rules apply, dry runs delete nothing.

mod common;

use common::*;
use registry::storage::Store;
use std::path::Path;
use std::time::{Duration, SystemTime};

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Makes every file under `dir` look two hours old.
fn backdate(dir: &Path) {
    let old = SystemTime::now() - Duration::from_secs(7200);
    for p in files(dir) {
        std::fs::File::open(&p).unwrap().set_modified(old).unwrap();
    }
}

#[test]
fn concurrent_pushes_of_the_same_blob() {
    let s = Server::start(registry::Config::default());
    let data: Vec<u8> = (0..(3u32 << 20)).map(|i| (i * 7 % 251) as u8).collect();
    let d = sha256(&data);
    let addr = s.addr();
    std::thread::scope(|scope| {
        let mut joins = Vec::new();
        for i in 0..8 {
            let (data, d) = (&data, &d);
            joins.push(scope.spawn(move || {
                let repo = format!("r{}", i % 3);
                if i % 2 == 0 {
                    let r = request(
                        addr,
                        "POST",
                        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                        &[],
                        data,
                    );
                    return r.status;
                }
                let r = request(
                    addr,
                    "POST",
                    &format!("/v2/{repo}/blobs/uploads/"),
                    &[],
                    b"",
                );
                let mut loc = r.header("location").unwrap().to_string();
                let half = data.len() / 2;
                let range = format!("0-{}", half - 1);
                let r = request(
                    addr,
                    "PATCH",
                    &loc,
                    &[("Content-Range", &range)],
                    &data[..half],
                );
                assert_eq!(r.status, 202);
                loc = r.header("location").unwrap().to_string();
                let range = format!("{half}-{}", data.len() - 1);
                request(
                    addr,
                    "PUT",
                    &format!("{loc}?digest={d}"),
                    &[("Content-Range", &range)],
                    &data[half..],
                )
                .status
            }));
        }
        for j in joins {
            assert_eq!(j.join().unwrap(), 201);
        }
    });
    for repo in ["r0", "r1", "r2"] {
        let r = request(addr, "GET", &format!("/v2/{repo}/blobs/{d}"), &[], b"");
        assert_eq!(r.status, 200);
        assert!(r.body == data, "{repo}: content differs");
    }
    let blobs = files(&s.root.path().join("blobs"));
    assert_eq!(blobs.len(), 1, "one copy: {blobs:?}");
    assert!(files(&s.root.path().join("uploads")).is_empty());
    assert!(files(&s.root.path().join("tmp")).is_empty());
}

#[test]
fn gc_while_pushing_keeps_uploads_and_recent_blobs() {
    let s = Server::start(registry::Config::default());
    let addr = s.addr();
    let root = s.root.path();
    // An old image whose manifest was deleted: its layer is garbage.
    let old_layer = b"old layer".to_vec();
    let m = push_image(addr, "app", "old", &old_layer);
    assert_eq!(
        request(addr, "DELETE", &format!("/v2/app/manifests/{m}"), &[], b"").status,
        202
    );
    let kept = push_image(addr, "app", "kept", b"kept layer");
    backdate(root);
    // A push in progress: one blob done (no manifest yet), one upload half way.
    let recent = push_blob(addr, "app", b"recent blob");
    let r = request(addr, "POST", "/v2/app/blobs/uploads/", &[], b"");
    let loc = r.header("location").unwrap().to_string();
    let r = request(addr, "PATCH", &loc, &[("Content-Range", "0-4")], b"half ");
    assert_eq!(r.status, 202);
    let config = registry::Config::default();
    let store = Store::open(root, true).unwrap();
    let report = registry::gc::collect(&store, &config, false).unwrap();
    assert!(
        report.blobs.contains(&sha256(&old_layer).to_string()),
        "{report:?}"
    );
    assert!(report.uploads.is_empty(), "{report:?}");
    assert_eq!(
        request(
            addr,
            "GET",
            &format!("/v2/app/blobs/{}", sha256(&old_layer)),
            &[],
            b""
        )
        .status,
        404
    );
    assert_eq!(
        request(addr, "GET", "/v2/app/manifests/kept", &[], b"").status,
        200
    );
    assert_eq!(
        request(addr, "HEAD", &format!("/v2/app/blobs/{recent}"), &[], b"").status,
        200
    );
    // The push goes on and completes.
    let r = request(addr, "GET", &loc, &[], b"");
    assert_eq!((r.status, r.header("range")), (204, Some("0-4")));
    let whole = sha256(b"half done");
    let r = request(
        addr,
        "PUT",
        &format!("{loc}?digest={whole}"),
        &[("Content-Range", "5-8")],
        b"done",
    );
    assert_eq!(r.status, 201, "{r:?}");
    let manifest = image_manifest(&recent, 11, &[(whole.clone(), 9)]);
    let r = request(
        addr,
        "PUT",
        "/v2/app/manifests/new",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        &manifest,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        request(addr, "GET", &format!("/v2/app/blobs/{whole}"), &[], b"").body,
        b"half done"
    );
    let _ = kept;
}

#[test]
fn retention_rules_and_dry_run() {
    let s = Server::start(registry::Config::default());
    let addr = s.addr();
    let root = s.root.path();
    let mut layers = Vec::new();
    for (i, t) in ["t1", "t2", "t3", "t4"].iter().enumerate() {
        let layer = format!("layer {t}").into_bytes();
        push_image(addr, "ret", t, &layer);
        let tag = root.join("repositories/ret/_tags").join(t);
        let at = SystemTime::now() - Duration::from_secs(1000 - i as u64 * 100);
        std::fs::File::open(&tag).unwrap().set_modified(at).unwrap();
        layers.push(sha256(&layer));
    }
    let config = config(
        r#"{"gc": {"grace_secs": 0}, "retention": [{"repository": "ret", "keep_tags": 2, "delete_untagged": true}]}"#,
    );
    let store = Store::open(root, true).unwrap();
    let before = files(root).len();
    let dry = registry::gc::collect(&store, &config, true).unwrap();
    assert_eq!(dry.tags, vec!["ret:t2", "ret:t1"]);
    assert_eq!(dry.manifests.len(), 2);
    assert!(dry.blobs.contains(&layers[0].to_string()));
    assert_eq!(files(root).len(), before, "a dry run deletes nothing");
    let real = registry::gc::collect(&store, &config, false).unwrap();
    assert_eq!(real.tags, dry.tags);
    let r = request(addr, "GET", "/v2/ret/tags/list", &[], b"");
    assert_eq!(r.json()["tags"], serde_json::json!(["t3", "t4"]));
    for (i, l) in layers.iter().enumerate() {
        let status = request(addr, "HEAD", &format!("/v2/ret/blobs/{l}"), &[], b"").status;
        assert_eq!(status, if i < 2 { 404 } else { 200 }, "layer of t{}", i + 1);
        assert_eq!(store.blob_size(l).unwrap().is_some(), i >= 2);
    }
    assert_eq!(
        request(addr, "GET", "/v2/ret/manifests/t4", &[], b"").status,
        200
    );
}
