//! Applying layers: file types, metadata, whiteouts in both modes, and hostile layers that
//! try to write outside the target directory.

mod common;

use common::{gzip, is_root, Tar};
use image::layer::{apply, decompress, ApplyOptions, WhiteoutMode};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn opts(w: WhiteoutMode) -> ApplyOptions {
    ApplyOptions {
        whiteouts: w,
        ..ApplyOptions::default()
    }
}

fn apply_bytes(
    tar: &[u8],
    dir: &Path,
    w: WhiteoutMode,
) -> Result<image::layer::Applied, image::layer::LayerError> {
    let (_, r) = decompress(tar).unwrap();
    apply(r, dir, &opts(w))
}

#[test]
fn applies_every_entry_type_with_metadata() {
    let t = tempfile::tempdir().unwrap();
    let layer = Tar::new()
        .dir("etc/")
        .file_with("etc/shadow", b"secret", 0o4640, 1000, 42)
        .symlink("etc/link", "shadow")
        .hardlink("etc/hard", "etc/shadow")
        .node("run/fifo", tar::EntryType::Fifo, 0, 0)
        .node("dev/null", tar::EntryType::Char, 1, 3)
        .pax(&[
            ("SCHILY.xattr.user.note", b"hello"),
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ])
        .file("etc/xattr", b"x")
        .finish();
    let applied = apply_bytes(&gzip(&layer), t.path(), WhiteoutMode::Flatten).unwrap();
    assert_eq!(
        applied.diff_id,
        image::Digest::sha256(&layer),
        "diff id is of the plain tar"
    );
    let shadow = std::fs::metadata(t.path().join("etc/shadow")).unwrap();
    assert_eq!(
        std::fs::read(t.path().join("etc/shadow")).unwrap(),
        b"secret"
    );
    assert_eq!(shadow.mtime(), 1_600_000_000);
    assert_eq!(shadow.nlink(), 2);
    assert_eq!(
        std::fs::read_link(t.path().join("etc/link")).unwrap(),
        Path::new("shadow")
    );
    let fifo = std::fs::symlink_metadata(t.path().join("run/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    let xattr = read_xattr(&t.path().join("etc/xattr"), "user.note");
    assert_eq!(xattr.as_deref(), Some(&b"hello"[..]));
    assert_eq!(
        read_xattr(&t.path().join("etc/xattr"), "trusted.overlay.opaque"),
        None
    );
    if is_root() {
        assert_eq!((shadow.uid(), shadow.gid()), (1000, 42));
        assert_eq!(
            shadow.permissions().mode() & 0o7777,
            0o4640,
            "set-id survives chown"
        );
        let null = std::fs::symlink_metadata(t.path().join("dev/null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), libc::makedev(1, 3));
    }
}

fn read_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a writable buffer of the given size.
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        return None;
    }
    buf.truncate(r as usize);
    Some(buf)
}

#[test]
fn zstd_and_plain_layers_apply() {
    let layer = Tar::new().file("a", b"zz").finish();
    let z =
        ruzstd::encoding::compress_to_vec(&layer[..], ruzstd::encoding::CompressionLevel::Fastest);
    for input in [z, layer.clone()] {
        let t = tempfile::tempdir().unwrap();
        let a = apply_bytes(&input, t.path(), WhiteoutMode::Flatten).unwrap();
        assert_eq!(a.diff_id, image::Digest::sha256(&layer));
        assert_eq!(std::fs::read(t.path().join("a")).unwrap(), b"zz");
    }
}

#[test]
fn whiteouts_delete_when_flattening() {
    let t = tempfile::tempdir().unwrap();
    let lower = Tar::new()
        .file("keep", b"1")
        .file("gone", b"2")
        .dir("d/")
        .file("d/old", b"3")
        .dir("opq/")
        .file("opq/old", b"4")
        .finish();
    let upper = Tar::new()
        .file(".wh.gone", b"")
        .file("d/.wh.old", b"")
        .dir("opq/")
        .file("opq/.wh..wh..opq", b"")
        .file("opq/new", b"5")
        .finish();
    apply_bytes(&lower, t.path(), WhiteoutMode::Flatten).unwrap();
    apply_bytes(&upper, t.path(), WhiteoutMode::Flatten).unwrap();
    let got = common::tree(t.path());
    let want: Vec<PathBuf> = ["d", "keep", "opq", "opq/new"]
        .iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(got, want);
}

#[test]
fn whiteouts_become_overlay_markers() {
    if !is_root() {
        eprintln!("skipped: needs root for whiteout devices and trusted xattrs");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let upper = Tar::new()
        .file(".wh.gone", b"")
        .dir("opq/")
        .file("opq/.wh..wh..opq", b"")
        .file("opq/new", b"5")
        .finish();
    apply_bytes(&upper, t.path(), WhiteoutMode::Overlay).unwrap();
    let wh = std::fs::symlink_metadata(t.path().join("gone")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert_eq!(
        read_xattr(&t.path().join("opq"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!t.path().join(".wh.gone").exists());
    assert!(!t.path().join("opq/.wh..wh..opq").exists());
}

/// A target dir and a sibling "outside" dir holding one sentinel file.
struct Sandbox {
    _t: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let outside = t.path().join("outside");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("sentinel"), b"untouched").unwrap();
        Sandbox {
            _t: t,
            root,
            outside,
        }
    }

    fn outside_abs(&self) -> String {
        self.outside.display().to_string()
    }

    /// Apply in both modes (to fresh roots) and check that nothing outside changed.
    fn apply_and_check(&self, layer: &[u8]) {
        for mode in [WhiteoutMode::Flatten, WhiteoutMode::Overlay] {
            if mode == WhiteoutMode::Overlay && !is_root() {
                continue;
            }
            let _ = std::fs::remove_dir_all(&self.root);
            std::fs::create_dir(&self.root).unwrap();
            // The outcome may be an error or success; either way, nothing may leak out.
            let _ = apply_bytes(layer, &self.root, mode);
            let names: Vec<_> = std::fs::read_dir(&self.outside)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                names,
                vec![std::ffi::OsString::from("sentinel")],
                "{mode:?}"
            );
            let m = std::fs::metadata(self.outside.join("sentinel")).unwrap();
            assert_eq!(m.nlink(), 1, "no hard link to the outside file ({mode:?})");
            assert_eq!(
                std::fs::read(self.outside.join("sentinel")).unwrap(),
                b"untouched"
            );
            let parent = self.outside.parent().unwrap();
            let mut siblings: Vec<_> = std::fs::read_dir(parent)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            siblings.sort();
            assert_eq!(siblings, vec!["outside", "root"], "{mode:?}");
        }
    }
}

#[test]
fn hostile_dotdot_paths_stay_inside() {
    let s = Sandbox::new();
    let layer = Tar::new()
        .file("../outside/sentinel", b"pwned")
        .file("../../../../../../../tmp/tug-escape-test", b"pwned")
        .file("a/../../outside/new", b"pwned")
        .finish();
    s.apply_and_check(&layer);
    // Clamped at the root, like containerd does.
    assert_eq!(std::fs::read(s.root.join("outside/new")).unwrap(), b"pwned");
    assert!(!Path::new("/tmp/tug-escape-test").exists());
}

#[test]
fn hostile_absolute_paths_stay_inside() {
    let s = Sandbox::new();
    let abs = format!("{}/sentinel", s.outside_abs());
    let layer = Tar::new().file(&abs, b"pwned").finish();
    s.apply_and_check(&layer);
    let inside = s.root.join(abs.trim_start_matches('/'));
    assert_eq!(std::fs::read(inside).unwrap(), b"pwned");
}

#[test]
fn hostile_symlink_parent_stays_inside() {
    let s = Sandbox::new();
    let layer = Tar::new()
        .symlink("rel", "../outside")
        .file("rel/sentinel", b"pwned")
        .symlink("abs", &s.outside_abs())
        .file("abs/sentinel", b"pwned")
        .symlink("deep", "../../../../../../..")
        .file(&format!("deep{}/x", s.outside_abs()), b"pwned")
        .finish();
    s.apply_and_check(&layer);
}

#[test]
fn hostile_symlink_then_write_through_it() {
    let s = Sandbox::new();
    let target = format!("{}/sentinel", s.outside_abs());
    let layer = Tar::new()
        .symlink("victim", &target)
        .file("victim", b"pwned")
        .symlink("victim2", "../outside/sentinel")
        .file("victim2", b"pwned")
        .finish();
    s.apply_and_check(&layer);
    // The file replaced the symlink.
    assert_eq!(std::fs::read(s.root.join("victim")).unwrap(), b"pwned");
    assert!(!std::fs::symlink_metadata(s.root.join("victim"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn hostile_hardlinks_stay_inside() {
    let s = Sandbox::new();
    let layer = Tar::new()
        .hardlink("h1", "../outside/sentinel")
        .hardlink("h2", &format!("{}/sentinel", s.outside_abs()))
        .symlink("esc", &s.outside_abs())
        .hardlink("h3", "esc/sentinel")
        .finish();
    s.apply_and_check(&layer);
}

#[test]
fn hostile_hardlink_to_symlink_then_write() {
    let s = Sandbox::new();
    let layer = Tar::new()
        .symlink("sl", &format!("{}/sentinel", s.outside_abs()))
        .hardlink("hl", "sl")
        .file("hl", b"pwned")
        .finish();
    s.apply_and_check(&layer);
}

#[test]
fn hostile_whiteout_through_symlink_stays_inside() {
    let s = Sandbox::new();
    let layer = Tar::new()
        .symlink("esc", "../outside")
        .file("esc/.wh.sentinel", b"")
        .symlink("esc2", &s.outside_abs())
        .file("esc2/.wh..wh..opq", b"")
        .file(".wh...", b"")
        .finish();
    s.apply_and_check(&layer);
}

#[test]
fn truncated_layer_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let layer = Tar::new().file("big", &[1u8; 4096]).finish();
    let err = apply_bytes(&layer[..1500], t.path(), WhiteoutMode::Flatten).unwrap_err();
    assert!(
        err.to_string().starts_with("write big") || err.to_string().starts_with("read layer"),
        "{err}"
    );
}
