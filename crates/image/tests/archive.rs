//! Archives: `import` of rootfs tars (with `--change`), `save`/`load` round trips in
//! docker-archive and OCI layout formats, a legacy docker 20.10-style archive, skopeo reading
//! tug's archives, `history`, and hostile archives refused with nothing left behind.

mod common;

use common::{busybox_layer, gzip, is_root, Tar};
use image::archive::SaveFormat;
use image::manifest::{self, media};
use image::{Digest, ErrorKind, ImageService, ServiceConfig};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

fn service(dir: &Path) -> ImageService {
    ImageService::open(dir, ServiceConfig::default()).unwrap()
}

fn sha(b: &[u8]) -> Digest {
    Digest::sha256(b)
}

fn zstd(b: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(b, ruzstd::encoding::CompressionLevel::Fastest)
}

/// The members of a tar, by name (directories as empty entries ending in `/`).
fn members(tar: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut a = tar::Archive::new(tar);
    let mut out = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.insert(name, data);
    }
    out
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

fn raw_config(s: &ImageService, name: &str) -> Value {
    let rec = s.resolve(name).unwrap();
    json_of(&s.content().read(&rec.config).unwrap())
}

fn small_layer(name: &str, data: &[u8]) -> Vec<u8> {
    Tar::new().dir("etc/").file(name, data).finish()
}

/// Nothing in the store: no records, blobs, snapshots or temp files.
fn assert_store_empty(s: &ImageService, root: &Path) {
    assert!(s.meta().images().unwrap().is_empty(), "no image records");
    assert!(s.content().list().unwrap().is_empty(), "no blobs");
    assert!(
        s.content().partials().unwrap().is_empty(),
        "no partial blobs"
    );
    assert!(s.snapshots().list().unwrap().is_empty(), "no snapshots");
    assert!(
        s.snapshots().leftovers().unwrap().is_empty(),
        "no temp snapshots"
    );
    let tmp: Vec<_> = std::fs::read_dir(root.join("tmp"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "no staging left: {tmp:?}");
}

#[test]
fn import_busybox_rootfs_then_mount_and_run() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let s = service(&root);
    let layer = busybox_layer();
    let gz = gzip(&layer);
    let rec = s
        .import_rootfs(&gz[..], Some("tugtest/busybox:1"), &[], None)
        .unwrap();
    assert_eq!(rec.name, "docker.io/tugtest/busybox:1");
    assert!(!rec.is_untagged());

    let info = s.inspect("tugtest/busybox:1").unwrap();
    assert_eq!(manifest::diff_ids(&info.config).unwrap(), vec![sha(&layer)]);
    let l = &info.manifest.layers()[0];
    assert_eq!(
        manifest::digest_of(l).unwrap(),
        sha(&gz),
        "blob is the tar as given"
    );
    assert_eq!(l.size(), gz.len() as u64);
    assert_eq!(l.media_type().to_string(), media::OCI_LAYER_GZIP);
    let cfg = raw_config(&s, "tugtest/busybox:1");
    assert_eq!(cfg["os"], "linux");
    assert_eq!(
        cfg["architecture"],
        manifest::Platform::host().architecture.as_str()
    );
    assert_eq!(cfg["rootfs"]["type"], "layers");
    assert_eq!(cfg["history"][0]["created_by"], "import");
    assert_eq!(cfg["history"][0]["comment"], "Imported from -");
    assert_eq!(rec.config, sha(&s.content().read(&rec.config).unwrap()));
    assert!(root.join("tmp").read_dir().unwrap().next().is_none());

    if !is_root() {
        eprintln!("skipped mount: needs root");
        return;
    }
    let m = s.mount("tugtest/busybox:1", &t.path().join("c1")).unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .find(|p| Path::new(p).exists())
        .unwrap();
    assert_eq!(
        std::fs::read(m.path().join("bin/busybox")).unwrap(),
        std::fs::read(busybox).unwrap()
    );
    assert_eq!(
        std::fs::read_link(m.path().join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        std::fs::read(m.path().join("etc/hostname")).unwrap(),
        b"tug\n"
    );
    let out = std::process::Command::new("chroot")
        .arg(m.path())
        .args(["/bin/sh", "-c", "echo hi from $(cat /etc/hostname)"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hi from tug\n");
    m.unmount().unwrap();
}

#[test]
fn import_plain_and_zstd_untagged_by_id_with_history() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let s = service(&root);
    let plain = small_layer("etc/os-release", b"ID=tug\n");
    let rec = s
        .import_rootfs(&plain[..], None, &[], Some("from a test"))
        .unwrap();
    assert!(rec.is_untagged());
    assert_eq!(rec.name, rec.config.to_string());
    let by_prefix = s.resolve(&rec.config.hex()[..12]).unwrap();
    assert_eq!(by_prefix, rec);
    let info = s.inspect(&rec.config.to_string()).unwrap();
    let l = &info.manifest.layers()[0];
    assert_eq!(l.media_type().to_string(), media::OCI_LAYER);
    assert_eq!(manifest::digest_of(l).unwrap(), sha(&plain));
    assert_eq!(
        raw_config(&s, &rec.config.to_string())["comment"],
        "from a test"
    );

    let h = s.history(&rec.config.hex()[..12]).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].id, rec.config.to_string());
    assert_eq!(h[0].created_by, "import");
    assert_eq!(h[0].comment, "from a test");
    assert_eq!(h[0].tags, None);
    assert_eq!(h[0].size, 7, "the layer holds 7 bytes of files");
    assert!((h[0].created - rec.created).abs() <= 1);
    let api = serde_json::to_value(&h[0]).unwrap();
    for k in ["Id", "Created", "CreatedBy", "Tags", "Size", "Comment"] {
        assert!(api.get(k).is_some(), "docker field {k}");
    }

    let z = zstd(&plain);
    let zrec = s.import_rootfs(&z[..], Some("zimg:1"), &[], None).unwrap();
    let zinfo = s.inspect("zimg:1").unwrap();
    let zl = &zinfo.manifest.layers()[0];
    assert_eq!(zl.media_type().to_string(), media::OCI_LAYER_ZSTD);
    assert_eq!(manifest::digest_of(zl).unwrap(), sha(&z));
    assert_eq!(
        manifest::diff_ids(&zinfo.config).unwrap(),
        vec![sha(&plain)]
    );
    assert_eq!(
        s.history("zimg:1").unwrap()[0].tags,
        Some(vec!["zimg:1".to_string()])
    );
    assert_ne!(zrec.config, rec.config, "created times and comments differ");
    assert_eq!(
        s.snapshots().list().unwrap().len(),
        1,
        "one shared snapshot"
    );

    // Compressions tug does not read are refused by name, and leave nothing.
    let blobs = s.content().list().unwrap().len();
    let e = s
        .import_rootfs(&b"BZh91AY&SY\x01\x02\x03"[..], Some("bz:1"), &[], None)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("import bz:1: unsupported compression bzip2"),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(s.content().list().unwrap().len(), blobs);
    let e = s.import_rootfs(&b"not a tar at all, no"[..], Some("junk:1"), &[], None);
    assert!(e.is_err());
    assert_eq!(s.content().list().unwrap().len(), blobs);
    assert!(s.resolve("junk:1").is_err());
}

#[test]
fn import_changes_are_in_the_config_and_bad_ones_named() {
    let t = tempfile::tempdir().unwrap();
    let s = service(t.path());
    let plain = small_layer("etc/motd", b"hi\n");
    let changes: Vec<String> = [
        "ENV PATH=/usr/bin:/bin GREETING=\"hello world\"",
        "CMD [\"/bin/sh\", \"-c\", \"echo $GREETING\"]",
        "ENTRYPOINT [\"/bin/busybox\"]",
        "EXPOSE 8080 53/udp",
        "LABEL org.example.team=tug \"with space\"=yes",
        "USER nobody",
        "VOLUME /data",
        "WORKDIR /srv",
        "WORKDIR app",
        "STOPSIGNAL SIGUSR1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    s.import_rootfs(&plain[..], Some("changed:1"), &changes, Some("msg"))
        .unwrap();
    let c = &raw_config(&s, "changed:1")["config"];
    assert_eq!(
        c["Env"],
        json!(["PATH=/usr/bin:/bin", "GREETING=hello world"])
    );
    assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo $GREETING"]));
    assert_eq!(c["Entrypoint"], json!(["/bin/busybox"]));
    assert_eq!(c["ExposedPorts"], json!({"8080/tcp": {}, "53/udp": {}}));
    assert_eq!(
        c["Labels"],
        json!({"org.example.team": "tug", "with space": "yes"})
    );
    assert_eq!(c["User"], "nobody");
    assert_eq!(c["Volumes"], json!({"/data": {}}));
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(c["StopSignal"], "SIGUSR1");
    // The typed view (what `run` uses) sees the same.
    let info = s.inspect("changed:1").unwrap();
    let typed = info.config.config().as_ref().unwrap();
    assert_eq!(typed.user().as_deref(), Some("nobody"));
    assert_eq!(typed.working_dir().as_deref(), Some("/srv/app"));

    let shell = s
        .import_rootfs(&plain[..], Some("shell:1"), &["CMD echo hi".into()], None)
        .unwrap();
    assert_eq!(
        json_of(&s.content().read(&shell.config).unwrap())["config"]["Cmd"],
        json!(["/bin/sh", "-c", "echo hi"])
    );

    let blobs = s.content().list().unwrap().len();
    for (change, want) in [
        (
            "RUN echo",
            "import bad:1: invalid change \"RUN echo\": run is not a valid change command",
        ),
        ("FROGS 1", "unknown instruction: FROGS"),
        ("EXPOSE 70000", "invalid containerPort: 70000"),
        ("STOPSIGNAL SIGNOPE", "invalid signal: SIGNOPE"),
        ("ENV A=1 B", "can't find = in \"B\""),
    ] {
        let e = s
            .import_rootfs(&plain[..], Some("bad:1"), &[change.to_string()], None)
            .unwrap_err();
        assert!(e.to_string().contains(want), "{change}: {e}");
        assert_eq!(e.kind(), ErrorKind::Invalid);
    }
    let pinned = format!("pinned@{}", sha(b"x"));
    let e = s
        .import_rootfs(&plain[..], Some(&pinned), &[], None)
        .unwrap_err();
    assert!(e.to_string().contains("cannot import to a digest"), "{e}");
    assert!(s.resolve("bad:1").is_err());
    assert_eq!(s.content().list().unwrap().len(), blobs, "nothing stored");
}

/// Three images: busybox (gzip, two tags), a zstd one, and an untagged one.
fn three_images(s: &ImageService) -> Digest {
    let bb = gzip(&busybox_layer());
    s.import_rootfs(
        &bb[..],
        Some("tugtest/busybox:1"),
        &["CMD [\"sh\"]".into()],
        None,
    )
    .unwrap();
    s.tag("tugtest/busybox:1", "tugtest/busybox:2").unwrap();
    let z = zstd(&small_layer("etc/z", b"zstd layer\n"));
    s.import_rootfs(&z[..], Some("tugtest/other:1"), &[], None)
        .unwrap();
    let plain = small_layer("etc/u", b"untagged\n");
    s.import_rootfs(&plain[..], None, &[], None).unwrap().config
}

fn same_image(
    a: &ImageService,
    b: &ImageService,
    name: &str,
) -> (image::ImageInfo, image::ImageInfo) {
    let (x, y) = (a.inspect(name).unwrap(), b.inspect(name).unwrap());
    assert_eq!(x.record.config, y.record.config, "{name}: same image ID");
    assert_eq!(
        manifest::diff_ids(&x.config).unwrap(),
        manifest::diff_ids(&y.config).unwrap(),
        "{name}: same layers"
    );
    (x, y)
}

#[test]
fn save_load_docker_archive_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let (r1, r2) = (t.path().join("a"), t.path().join("b"));
    let (s1, s2) = (service(&r1), service(&r2));
    let untagged = three_images(&s1);
    let path = t.path().join("out.tar");
    let f = std::fs::File::create(&path).unwrap();
    s1.save(
        &["tugtest/busybox", "tugtest/other:1", &untagged.hex()[..12]],
        f,
        SaveFormat::Docker,
    )
    .unwrap();

    let tar = std::fs::read(&path).unwrap();
    let m = members(&tar);
    for name in m.keys() {
        assert!(
            name.starts_with("blobs/")
                || ["manifest.json", "repositories", "index.json", "oci-layout"]
                    .contains(&name.as_str()),
            "unexpected member {name}"
        );
    }
    let manifest = json_of(&m["manifest.json"]);
    assert_eq!(manifest.as_array().unwrap().len(), 3, "one entry per image");
    let bb = s1.inspect("tugtest/busybox:1").unwrap();
    let other = s1.inspect("tugtest/other:1").unwrap();
    let item = |id: &Digest| {
        manifest
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["Config"] == format!("blobs/sha256/{}", id.hex()))
            .unwrap()
            .clone()
    };
    let bb_item = item(&bb.record.config);
    let mut tags: Vec<String> = serde_json::from_value(bb_item["RepoTags"].clone()).unwrap();
    tags.sort();
    assert_eq!(tags, ["tugtest/busybox:1", "tugtest/busybox:2"]);
    assert_eq!(item(&untagged)["RepoTags"], Value::Null);
    // The zstd layer is written plain, named by its diff ID, for older docker load.
    let other_diff = manifest::diff_ids(&other.config).unwrap()[0].clone();
    assert_eq!(
        item(&other.record.config)["Layers"],
        json!([format!("blobs/sha256/{}", other_diff.hex())])
    );
    for i in manifest.as_array().unwrap() {
        for l in i["Layers"].as_array().unwrap() {
            let data = &m[l.as_str().unwrap()];
            assert!(
                data.starts_with(&[0x1f, 0x8b]) || data.len() % 512 == 0,
                "gzip or plain tar"
            );
        }
    }
    let repos = json_of(&m["repositories"]);
    let top = manifest::diff_ids(&bb.config).unwrap()[0].hex().to_string();
    assert_eq!(repos["tugtest/busybox"], json!({"1": top, "2": top}));
    assert_eq!(
        json_of(&m["index.json"])["manifests"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(json_of(&m["oci-layout"])["imageLayoutVersion"], "1.0.0");

    let mut loaded = s2.load(std::fs::File::open(&path).unwrap()).unwrap();
    loaded.sort();
    assert_eq!(
        loaded,
        [
            untagged.to_string(),
            "tugtest/busybox:1".into(),
            "tugtest/busybox:2".into(),
            "tugtest/other:1".into()
        ]
    );
    let (x, y) = same_image(&s1, &s2, "tugtest/busybox:2");
    assert_eq!(x.record.manifest, y.record.manifest, "manifest kept as is");
    same_image(&s1, &s2, "tugtest/other:1");
    let u = s2.resolve(&untagged.to_string()).unwrap();
    assert!(u.is_untagged());
    assert_eq!(
        s2.history("tugtest/busybox:1").unwrap()[0].created_by,
        "import"
    );
    assert!(
        r2.join("tmp").read_dir().unwrap().next().is_none(),
        "staging removed"
    );

    // Loading again changes nothing and fails nothing.
    let again = s2.load(&tar[..]).unwrap();
    assert_eq!(again.len(), 4);
    assert_eq!(s2.meta().images().unwrap().len(), 4);

    if is_root() {
        let m = s2.mount("tugtest/other:1", &t.path().join("c1")).unwrap();
        assert_eq!(
            std::fs::read(m.path().join("etc/z")).unwrap(),
            b"zstd layer\n"
        );
        m.unmount().unwrap();
        let m = s2.mount("tugtest/busybox:1", &t.path().join("c2")).unwrap();
        assert!(m.path().join("bin/busybox").is_file());
        m.unmount().unwrap();
    }
}

#[test]
fn save_load_oci_layout_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let (s1, s2) = (service(&t.path().join("a")), service(&t.path().join("b")));
    three_images(&s1);
    let mut tar = Vec::new();
    s1.save(
        &["tugtest/busybox:1", "tugtest/other:1"],
        &mut tar,
        SaveFormat::Oci,
    )
    .unwrap();
    let m = members(&tar);
    assert!(!m.contains_key("manifest.json") && !m.contains_key("repositories"));
    let index = json_of(&m["index.json"]);
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["annotations"]["io.containerd.image.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        names,
        ["docker.io/tugtest/busybox:1", "docker.io/tugtest/other:1"]
    );
    // Layers are kept as stored: the zstd blob is there under its own digest.
    let other = s1.inspect("tugtest/other:1").unwrap();
    let zblob = manifest::digest_of(&other.manifest.layers()[0]).unwrap();
    assert!(m.contains_key(&format!("blobs/sha256/{}", zblob.hex())));

    let mut loaded = s2.load(&gzip(&tar)[..]).unwrap();
    loaded.sort();
    assert_eq!(
        loaded,
        ["tugtest/busybox:1", "tugtest/other:1"],
        "a gzipped archive loads too"
    );
    for n in ["tugtest/busybox:1", "tugtest/other:1"] {
        let (x, y) = same_image(&s1, &s2, n);
        assert_eq!(x.record.manifest, y.record.manifest, "{n}: same manifest");
    }
}

#[test]
fn load_legacy_docker_archive_with_shared_layer_links() {
    let t = tempfile::tempdir().unwrap();
    let s = service(t.path());
    let l1 = small_layer("etc/one", b"1\n");
    let l2 = small_layer("etc/two", b"22\n");
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "created": "2020-01-02T03:04:05.123Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(&l1), sha(&l2), sha(&l1)]},
        "history": [
            {"created": "2020-01-01T00:00:00Z", "created_by": "one"},
            {"created": "2020-01-02T00:00:00Z", "created_by": "nothing", "empty_layer": true},
            {"created": "2020-01-02T03:04:05Z", "created_by": "two", "comment": "c"},
            {"created_by": "one again"}
        ],
    }))
    .unwrap();
    let id = sha(&config);
    let manifest = json!([{
        "Config": format!("{}.json", id.hex()),
        "RepoTags": ["legacy:1"],
        "Layers": ["aaa/layer.tar", "bbb/layer.tar", "./ccc/layer.tar"],
    }]);
    let tar = Tar::new()
        .dir("aaa/")
        .file("aaa/VERSION", b"1.0")
        .file("aaa/layer.tar", &l1)
        .dir("bbb/")
        .file("bbb/layer.tar", &l2)
        .dir("ccc/")
        .symlink("ccc/layer.tar", "../aaa/layer.tar")
        .file(&format!("{}.json", id.hex()), &config)
        .file("manifest.json", manifest.to_string().as_bytes())
        .file("repositories", br#"{"legacy":{"1":"ccc"}}"#)
        .finish();
    assert_eq!(s.load(&tar[..]).unwrap(), ["legacy:1"]);
    let info = s.inspect("legacy:1").unwrap();
    assert_eq!(info.record.config, id);
    assert_eq!(info.manifest.layers().len(), 3);
    assert_eq!(
        manifest::digest_of(&info.manifest.layers()[2]).unwrap(),
        sha(&l1)
    );

    let h = s.history("legacy:1").unwrap();
    let by: Vec<&str> = h.iter().map(|e| e.created_by.as_str()).collect();
    assert_eq!(by, ["one again", "two", "nothing", "one"]);
    assert_eq!(h[0].id, id.to_string());
    assert_eq!(h[0].tags, Some(vec!["legacy:1".to_string()]));
    assert_eq!(
        h[0].created, 1_577_934_245,
        "image created time when a step has none"
    );
    assert_eq!(h[1].id, "<missing>");
    assert_eq!(
        h.iter().map(|e| e.size).collect::<Vec<_>>(),
        [2, 3, 0, 2],
        "file bytes per layer"
    );
    assert_eq!(h[1].comment, "c");

    if is_root() {
        let m = s.mount("legacy:1", &t.path().join("c")).unwrap();
        assert_eq!(std::fs::read(m.path().join("etc/two")).unwrap(), b"22\n");
        assert_eq!(std::fs::read(m.path().join("etc/one")).unwrap(), b"1\n");
        m.unmount().unwrap();
    }
}

/// A minimal valid docker-archive with one layer, its parts replaceable per test.
struct Parts {
    layer: Vec<u8>,
    config_diff: Digest,
    layers_field: Vec<String>,
}

impl Parts {
    fn new() -> Parts {
        let layer = small_layer("etc/x", b"x");
        Parts {
            config_diff: sha(&layer),
            layers_field: vec![format!("blobs/sha256/{}", sha(&layer).hex())],
            layer,
        }
    }

    fn config(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [self.config_diff]},
        }))
        .unwrap()
    }

    fn tar(&self, extra: impl FnOnce(Tar) -> Tar) -> Vec<u8> {
        let config = self.config();
        let manifest = json!([{
            "Config": format!("blobs/sha256/{}", sha(&config).hex()),
            "RepoTags": ["hostile:1"],
            "Layers": self.layers_field,
        }]);
        let t = Tar::new()
            .file(
                &format!("blobs/sha256/{}", sha(&self.layer).hex()),
                &self.layer,
            )
            .file(&format!("blobs/sha256/{}", sha(&config).hex()), &config)
            .file("manifest.json", manifest.to_string().as_bytes());
        extra(t).finish()
    }
}

#[test]
fn hostile_archives_are_refused_and_leave_nothing() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("store");
    let s = service(&root);
    // The baseline loads; remove it again so each case starts from an empty store.
    assert_eq!(s.load(&Parts::new().tar(|t| t)[..]).unwrap(), ["hostile:1"]);
    s.remove("hostile:1", false).unwrap();
    s.gc(&[]).unwrap();
    assert_store_empty(&s, &root);

    let other = small_layer("etc/y", b"y");
    let wrong_blob = format!("blobs/sha256/{}", sha(&other).hex());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dot-dot member",
            Parts::new().tar(|t| t.file("../evil", b"x")),
            "unsafe member \"../evil\": path leaves the archive",
        ),
        (
            "absolute member",
            Parts::new().tar(|t| t.file("/evil", b"x")),
            "unsafe member \"/evil\": absolute path",
        ),
        (
            "symlink to an absolute path",
            Parts::new().tar(|t| t.symlink("etc-passwd", "/etc/passwd")),
            "symlink to an absolute path",
        ),
        (
            "symlink out of the archive",
            Parts::new().tar(|t| t.symlink("a/b", "../../../etc/shadow")),
            "symlink points outside the archive",
        ),
        (
            "hard link out of the archive",
            Parts::new().tar(|t| t.hardlink("h", "../etc/shadow")),
            "hard link points outside the archive",
        ),
        (
            "device node",
            Parts::new().tar(|t| t.node("dev/sda", tar::EntryType::Block, 8, 0)),
            "not a file, directory or link",
        ),
        (
            "manifest names a blob outside",
            Parts {
                layers_field: vec!["../../../../etc/passwd".into()],
                ..Parts::new()
            }
            .tar(|t| t),
            "path leaves the archive",
        ),
        (
            "manifest names an absolute path",
            Parts {
                layers_field: vec!["/etc/passwd".into()],
                ..Parts::new()
            }
            .tar(|t| t),
            "absolute path",
        ),
        (
            "manifest names a missing member",
            Parts {
                layers_field: vec!["nope/layer.tar".into()],
                ..Parts::new()
            }
            .tar(|t| t),
            "archive: missing nope/layer.tar",
        ),
        (
            "blob whose content is not its name",
            Parts {
                layers_field: vec![wrong_blob.clone()],
                ..Parts::new()
            }
            .tar(|t| t.file(&wrong_blob, b"something else")),
            "digest mismatch",
        ),
        (
            "layer whose diff id is not the config's",
            Parts {
                config_diff: sha(&other),
                ..Parts::new()
            }
            .tar(|t| t),
            "diff id mismatch",
        ),
        (
            "more layers than diff ids",
            {
                let p = Parts::new();
                let l = p.layers_field[0].clone();
                Parts {
                    layers_field: vec![l.clone(), l],
                    ..p
                }
                .tar(|t| t)
            },
            "config has 1 layer diff ids but the manifest has 2 layers",
        ),
        (
            "duplicate member",
            Parts::new().tar(|t| t.file("manifest.json", b"[]")),
            "member appears twice",
        ),
        (
            "not an archive of images",
            Tar::new().file("hello", b"x").finish(),
            "archive: missing manifest.json or index.json",
        ),
        (
            "oci index naming a missing blob",
            Tar::new()
                .file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
                .file(
                    "index.json",
                    json!({"schemaVersion": 2, "manifests": [{
                        "mediaType": media::OCI_MANIFEST,
                        "digest": sha(b"gone"), "size": 4}]})
                    .to_string()
                    .as_bytes(),
                )
                .finish(),
            "archive: missing blobs/sha256/",
        ),
    ];
    for (what, tar, want) in cases {
        let e = s.load(&tar[..]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("load archive: "), "{what}: {msg}");
        assert!(msg.contains(want), "{what}: {msg}");
        assert!(
            matches!(e.kind(), ErrorKind::Invalid | ErrorKind::DataLoss),
            "{what}: {:?}",
            e.kind()
        );
        assert_store_empty(&s, &root);
        assert!(!t.path().join("evil").exists() && !Path::new("/evil").exists());
    }
}

fn skopeo_json(args: &[&str]) -> Value {
    let out = std::process::Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_of(&out.stdout)
}

#[test]
fn skopeo_reads_tug_saved_archives() {
    let t = tempfile::tempdir().unwrap();
    let s = service(&t.path().join("store"));
    let bb = gzip(&busybox_layer());
    s.import_rootfs(
        &bb[..],
        Some("tugtest/busybox:1"),
        &["CMD [\"sh\"]".into()],
        None,
    )
    .unwrap();
    let z = zstd(&small_layer("etc/z", b"z\n"));
    s.import_rootfs(&z[..], Some("tugtest/zstd:1"), &[], None)
        .unwrap();
    let info = s.inspect("tugtest/busybox:1").unwrap();
    let diff_ids: Vec<String> = manifest::diff_ids(&info.config)
        .unwrap()
        .iter()
        .map(|d| d.to_string())
        .collect();

    let docker = t.path().join("docker.tar");
    s.save(
        &["tugtest/busybox:1"],
        std::fs::File::create(&docker).unwrap(),
        SaveFormat::Docker,
    )
    .unwrap();
    let src = format!("docker-archive:{}", docker.display());
    let i = skopeo_json(&["inspect", &src]);
    assert_eq!(
        i["Layers"],
        json!(diff_ids),
        "docker-archive layers are their diff ids"
    );
    assert_eq!(i["Os"], "linux");
    let cfg = skopeo_json(&["inspect", "--config", &src]);
    assert_eq!(cfg["rootfs"]["diff_ids"], json!(diff_ids));
    let dir = t.path().join("copied");
    common::skopeo(&["copy", &src, &format!("dir:{}", dir.display())]);
    assert!(
        dir.join(info.record.config.hex()).is_file(),
        "config copied under the image ID"
    );

    // A zstd image in a docker-archive becomes plain layers that skopeo reads too.
    let zdocker = t.path().join("zstd.tar");
    s.save(
        &["tugtest/zstd:1"],
        std::fs::File::create(&zdocker).unwrap(),
        SaveFormat::Docker,
    )
    .unwrap();
    let zi = skopeo_json(&["inspect", &format!("docker-archive:{}", zdocker.display())]);
    assert_eq!(zi["Layers"], json!([sha(&small_layer("etc/z", b"z\n"))]));

    let ocitar = t.path().join("oci.tar");
    s.save(
        &["tugtest/busybox:1"],
        std::fs::File::create(&ocitar).unwrap(),
        SaveFormat::Oci,
    )
    .unwrap();
    let osrc = format!("oci-archive:{}", ocitar.display());
    let oi = skopeo_json(&["inspect", &osrc]);
    let blobs: Vec<String> = info
        .manifest
        .layers()
        .iter()
        .map(|l| l.digest().to_string())
        .collect();
    assert_eq!(
        oi["Layers"],
        json!(blobs),
        "oci layers are the stored blobs"
    );
    assert_eq!(oi["Digest"], info.record.manifest.to_string());
    let odir = t.path().join("oci-copied");
    common::skopeo(&["copy", &osrc, &format!("oci:{}:x", odir.display())]);
    for b in &blobs {
        assert!(odir.join("blobs/sha256").join(&b[7..]).is_file());
    }
}

/// A private dockerd (Debian's docker.io) on its own socket, data root and containerd
/// namespace, stopped on drop.
struct Dockerd {
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Dockerd {
    fn start() -> Option<Dockerd> {
        let have = |b: &str| {
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !is_root() || !have("dockerd") || !have("docker") {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("tug-image-dockerd-")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let pid = std::process::id();
        let config = json!({
            "bridge": "none", "iptables": false, "ip-masq": false, "ip-forward": false,
            "storage-driver": "vfs",
            "data-root": d.join("data"), "exec-root": d.join("exec"),
            "pidfile": d.join("docker.pid"),
            "hosts": [format!("unix://{}", d.join("docker.sock").display())],
            "containerd-namespace": format!("tugimg{pid}"),
            "containerd-plugins-namespace": format!("tugimgp{pid}"),
        });
        std::fs::write(d.join("daemon.json"), config.to_string()).unwrap();
        let child = std::process::Command::new("dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .stdout(std::fs::File::create(d.join("dockerd.log")).unwrap())
            .stderr(std::fs::File::create(d.join("dockerd.err")).unwrap())
            .spawn()
            .unwrap();
        let dk = Dockerd { dir, child };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !dk.docker(&["version"]).status.success() {
            assert!(
                std::time::Instant::now() < deadline,
                "dockerd did not start: {}",
                std::fs::read_to_string(dk.dir.path().join("dockerd.err")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        Some(dk)
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new("docker")
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.path().join("docker.sock").display()),
            )
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SAFETY: SIGTERM to the dockerd this test started; it stops its containerd too.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::process::Command::new("umount")
            .arg("-R")
            .arg(self.dir.path().join("exec"))
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn docker_load_reads_tug_archives_and_tug_loads_docker_save() {
    let Some(dk) = Dockerd::start() else {
        eprintln!("skipped: needs root, dockerd and docker");
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let s = service(&t.path().join("store"));
    let bb = gzip(&busybox_layer());
    s.import_rootfs(
        &bb[..],
        Some("tugtest/busybox:1"),
        &["CMD [\"sh\"]".into()],
        None,
    )
    .unwrap();
    let z = zstd(&small_layer("etc/z", b"z\n"));
    s.import_rootfs(&z[..], Some("tugtest/zstd:1"), &[], None)
        .unwrap();
    let archive = t.path().join("tug.tar");
    s.save(
        &["tugtest/busybox:1", "tugtest/zstd:1"],
        std::fs::File::create(&archive).unwrap(),
        SaveFormat::Docker,
    )
    .unwrap();

    let out = dk.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: tugtest/busybox:1"), "{out}");
    assert!(out.contains("Loaded image: tugtest/zstd:1"), "{out}");
    for name in ["tugtest/busybox:1", "tugtest/zstd:1"] {
        let info = s.inspect(name).unwrap();
        let got = dk.ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{json .RootFS.Layers}}",
            name,
        ]);
        let diff_ids: Vec<String> = manifest::diff_ids(&info.config)
            .unwrap()
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            got.trim(),
            format!("{} {}", info.record.config, json!(diff_ids)),
            "{name}: docker sees tug's image ID and layers"
        );
    }

    // And back: what dockerd 20.10 saves (legacy layout), tug loads to the same image.
    let back = t.path().join("docker.tar");
    dk.ok(&["save", "-o", back.to_str().unwrap(), "tugtest/busybox:1"]);
    let s2 = service(&t.path().join("store2"));
    assert_eq!(
        s2.load(std::fs::File::open(&back).unwrap()).unwrap(),
        ["tugtest/busybox:1"]
    );
    same_image(&s, &s2, "tugtest/busybox:1");
    let m = s2.mount("tugtest/busybox:1", &t.path().join("c")).unwrap();
    assert!(m.path().join("bin/busybox").is_file());
    m.unmount().unwrap();
}
