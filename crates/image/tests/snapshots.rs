//! Overlay snapshots, as root: a 3-layer image mounted, whiteouts hiding lower files, and a
//! mount of many layers.

mod common;

use common::{is_root, Tar};
use image::layer::{apply, ApplyOptions, WhiteoutMode};
use image::manifest::chain_ids;
use image::snapshot::Snapshotter;
use image::Digest;

/// Unpack layers into snapshots; returns the chain IDs (bottom first).
fn unpack(s: &Snapshotter, layers: &[Vec<u8>]) -> Vec<Digest> {
    let diff_ids: Vec<Digest> = layers.iter().map(|l| Digest::sha256(l)).collect();
    let chains = chain_ids(&diff_ids);
    for (layer, chain) in layers.iter().zip(&chains) {
        if let Some(p) = s.prepare(chain).unwrap() {
            let opts = ApplyOptions {
                whiteouts: WhiteoutMode::Overlay,
                chown: true,
            };
            apply(&layer[..], &p.fs(), &opts).unwrap();
            p.commit().unwrap();
        }
    }
    chains
}

#[test]
fn three_layers_mount_with_whiteouts() {
    if !is_root() {
        eprintln!("skipped: mounting overlayfs needs root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let s = Snapshotter::open(t.path()).unwrap();
    let l1 = Tar::new()
        .file("a", b"1")
        .file("b", b"1")
        .dir("d/")
        .file("d/x", b"1")
        .dir("keep/")
        .file("keep/y", b"1")
        .finish();
    let l2 = Tar::new()
        .file(".wh.a", b"")
        .dir("d/")
        .file("d/.wh..wh..opq", b"")
        .file("d/z", b"2")
        .file("b", b"2")
        .finish();
    let l3 = Tar::new().file("c", b"3").file("keep/.wh.y", b"").finish();
    let chains = unpack(&s, &[l1, l2, l3]);
    let container = t.path().join("c1");
    let m = s.mount(&chains, &container).unwrap();
    let root = m.path().to_path_buf();
    assert!(!root.join("a").exists(), "whiteout hides a");
    assert_eq!(
        std::fs::read(root.join("b")).unwrap(),
        b"2",
        "upper layer wins"
    );
    assert!(!root.join("d/x").exists(), "opaque dir hides d/x");
    assert_eq!(std::fs::read(root.join("d/z")).unwrap(), b"2");
    assert_eq!(std::fs::read(root.join("c")).unwrap(), b"3");
    assert!(root.join("keep").is_dir() && !root.join("keep/y").exists());
    std::fs::write(root.join("new"), b"w").unwrap();
    assert_eq!(std::fs::read(container.join("upper/new")).unwrap(), b"w");
    // the shared snapshot is untouched
    assert!(!s.fs(&chains[2]).join("new").exists());
    drop(m);
    assert!(!root.join("c").exists(), "unmounted on drop");
}

#[test]
fn many_layers_fit_in_the_mount_options() {
    if !is_root() {
        eprintln!("skipped: mounting overlayfs needs root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let s = Snapshotter::open(t.path()).unwrap();
    let layers: Vec<Vec<u8>> = (0..120)
        .map(|i| {
            Tar::new()
                .file(&format!("f{i}"), format!("{i}").as_bytes())
                .finish()
        })
        .collect();
    let chains = unpack(&s, &layers);
    let m = s.mount(&chains, &t.path().join("c")).unwrap();
    assert_eq!(std::fs::read(m.path().join("f0")).unwrap(), b"0");
    assert_eq!(std::fs::read(m.path().join("f119")).unwrap(), b"119");
    m.unmount().unwrap();
}
