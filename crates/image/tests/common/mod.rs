//! Test helpers: layer tars built by hand (so hostile names are possible), busybox images,
//! and a docker-registry process on a free loopback port.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// Builds a tar entry by entry, writing header fields directly so that names such as
/// `../x` or `/abs` (which the tar crate's setters refuse) can be made.
pub struct Tar {
    out: Vec<u8>,
}

impl Default for Tar {
    fn default() -> Self {
        Self::new()
    }
}

impl Tar {
    pub fn new() -> Tar {
        Tar { out: Vec::new() }
    }

    fn header(path: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        let name = path.as_bytes();
        assert!(name.len() < 100, "test names are short");
        h.as_ustar_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h
    }

    fn push(&mut self, mut h: tar::Header, data: &[u8]) {
        h.set_cksum();
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
    }

    pub fn file(mut self, path: &str, data: &[u8]) -> Tar {
        let h = Self::header(path, tar::EntryType::Regular, data.len() as u64, 0o644);
        self.push(h, data);
        self
    }

    pub fn file_with(mut self, path: &str, data: &[u8], mode: u32, uid: u64, gid: u64) -> Tar {
        let mut h = Self::header(path, tar::EntryType::Regular, data.len() as u64, mode);
        h.set_uid(uid);
        h.set_gid(gid);
        self.push(h, data);
        self
    }

    pub fn dir(mut self, path: &str) -> Tar {
        let h = Self::header(path, tar::EntryType::Directory, 0, 0o755);
        self.push(h, &[]);
        self
    }

    fn link(mut self, path: &str, target: &str, kind: tar::EntryType) -> Tar {
        let mut h = Self::header(path, kind, 0, 0o777);
        let t = target.as_bytes();
        h.as_ustar_mut().unwrap().linkname[..t.len()].copy_from_slice(t);
        self.push(h, &[]);
        self
    }

    pub fn symlink(self, path: &str, target: &str) -> Tar {
        self.link(path, target, tar::EntryType::Symlink)
    }

    pub fn hardlink(self, path: &str, target: &str) -> Tar {
        self.link(path, target, tar::EntryType::Link)
    }

    pub fn node(mut self, path: &str, kind: tar::EntryType, major: u32, minor: u32) -> Tar {
        let mut h = Self::header(path, kind, 0, 0o640);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.push(h, &[]);
        self
    }

    /// A PAX header carrying records for the next entry.
    pub fn pax(mut self, records: &[(&str, &[u8])]) -> Tar {
        let mut data = Vec::new();
        for (k, v) in records {
            let body_len = k.len() + v.len() + 3; // space, '=', newline
            let mut len = body_len + 1;
            while len != body_len + len.to_string().len() {
                len = body_len + len.to_string().len();
            }
            write!(data, "{len} {k}=").unwrap();
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let h = Self::header("pax", tar::EntryType::XHeader, data.len() as u64, 0o644);
        self.push(h, &data);
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend(std::iter::repeat_n(0u8, 1024));
        self.out
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A layer tar holding a static busybox as /bin/busybox plus a few applet links.
pub fn busybox_layer() -> Vec<u8> {
    let bin = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("busybox is installed (scripts/deps.sh)");
    let data = std::fs::read(bin).unwrap();
    let mut t = Tar::new().dir("bin/").dir("etc/").dir("tmp/");
    let mut h = Tar::header(
        "bin/busybox",
        tar::EntryType::Regular,
        data.len() as u64,
        0o755,
    );
    h.set_cksum();
    t.out.extend_from_slice(h.as_bytes());
    t.out.extend_from_slice(&data);
    t.out
        .extend(std::iter::repeat_n(0u8, (512 - data.len() % 512) % 512));
    for applet in ["sh", "ls", "cat", "echo"] {
        t = t.symlink(&format!("bin/{applet}"), "busybox");
    }
    t.file("etc/hostname", b"tug\n").finish()
}

/// A docker-registry (distribution 2.x) on a free 127.0.0.1 port, killed on drop.
pub struct Registry {
    pub addr: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Start one; with `htpasswd`, basic auth is required (user `tug`, password `secret`).
    pub fn start(htpasswd: bool) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if htpasswd {
            let hash = bcrypt::hash("secret", 4).unwrap();
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, format!("tug:{hash}\n")).unwrap();
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: tug-test\n    path: {}\n",
                file.display()
            ));
        }
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let child = std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .spawn()
            .expect("docker-registry is installed");
        let reg = Registry {
            addr,
            child,
            _dir: dir,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(&reg.addr).is_ok() {
                return reg;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("docker-registry did not listen on {}", reg.addr);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every path under `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_path_buf());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// One image to put in an OCI layout: its platform arch and its (uncompressed) layer tars.
pub struct TestImage {
    pub arch: &'static str,
    pub layers: Vec<Vec<u8>>,
}

fn sha(b: &[u8]) -> String {
    image::Digest::sha256(b).to_string()
}

fn put_blob(dir: &Path, b: &[u8]) -> String {
    let d = sha(b);
    let p = dir.join("blobs/sha256").join(&d[7..]);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, b).unwrap();
    d
}

/// Write an OCI image layout at `dir` tagged `tag`: one manifest, or an index when there are
/// several images. Layers are gzipped. Returns the manifest digests.
pub fn make_layout(dir: &Path, tag: &str, images: &[TestImage]) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut descs = Vec::new();
    for img in images {
        let diff_ids: Vec<String> = img.layers.iter().map(|l| sha(l)).collect();
        let config = serde_json::json!({
            "architecture": img.arch, "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "tug test"}]
        });
        let cb = serde_json::to_vec(&config).unwrap();
        let cd = put_blob(dir, &cb);
        let layers: Vec<serde_json::Value> = img
            .layers
            .iter()
            .map(|l| {
                let gz = gzip(l);
                let d = put_blob(dir, &gz);
                serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": gz.len()})
            })
            .collect();
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cb.len()},
            "layers": layers
        });
        let mb = serde_json::to_vec(&m).unwrap();
        let md = put_blob(dir, &mb);
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mb.len(),
            "platform": {"architecture": img.arch, "os": "linux"}}));
    }
    let digests: Vec<String> = descs
        .iter()
        .map(|d| d["digest"].as_str().unwrap().to_string())
        .collect();
    let top = if descs.len() == 1 {
        let mut d = descs[0].clone();
        d.as_object_mut().unwrap().remove("platform");
        d
    } else {
        let ix = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs});
        let ib = serde_json::to_vec(&ix).unwrap();
        let id = put_blob(dir, &ib);
        serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": id, "size": ib.len()})
    };
    let mut top = top;
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    digests
}

/// Run skopeo with these arguments; panics with its output on failure.
pub fn skopeo(args: &[&str]) {
    let out = std::process::Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Registry {
    /// The registry's storage root.
    pub fn data_dir(&self) -> PathBuf {
        self._dir.path().join("data")
    }

    /// Where the registry keeps a blob's bytes.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = &digest[7..];
        self.data_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

/// A loopback TCP proxy that closes each connection after relaying `limit` response bytes,
/// like a network that drops mid-download.
pub struct CuttingProxy {
    pub addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CuttingProxy {
    pub fn start(upstream: &str, limit: usize) -> CuttingProxy {
        use std::io::{Read, Write};
        use std::net::{Shutdown, TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (up, st) = (upstream.to_string(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(mut client) = client else { continue };
                let Ok(mut server) = TcpStream::connect(&up) else {
                    continue;
                };
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut s2);
                    let _ = s2.shutdown(Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let mut sent = 0usize;
                    let mut buf = [0u8; 16384];
                    loop {
                        let n = match server.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let n = n.min(limit - sent);
                        if client.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        sent += n;
                        if sent >= limit {
                            break;
                        }
                    }
                    let _ = client.shutdown(Shutdown::Both);
                    let _ = server.shutdown(Shutdown::Both);
                });
            }
        });
        CuttingProxy { addr, stop }
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(&self.addr);
    }
}
