//! Shared by the registry's integration tests: an in-process server on a free port, a raw
//! HTTP/1.1 client (std TcpStream, so requests can be anything, even wrong), pushes, and OCI
//! image layouts made by hand for skopeo.
#![allow(dead_code)]

use registry::digest::{Algorithm, Digest};
use registry::{Config, Handle, Options};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Server {
    pub handle: Handle,
    pub root: tempfile::TempDir,
}

impl Server {
    pub fn start(config: Config) -> Server {
        Self::start_tls(config, None)
    }

    pub fn start_tls(config: Config, tls: Option<(PathBuf, PathBuf)>) -> Server {
        let root = tempfile::tempdir().unwrap();
        let opts = Options {
            root: root.path().to_path_buf(),
            config,
            tls,
        };
        let handle = registry::start("127.0.0.1:0", opts).unwrap();
        Server { handle, root }
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.addr
    }

    pub fn host(&self) -> String {
        self.handle.addr.to_string()
    }
}

pub fn config(json: &str) -> Config {
    serde_json::from_str(json).unwrap()
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The spec error code of an error response.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// One request on a fresh connection; the body is sent with a Content-Length unless a header
/// overrides it.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    if !headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
    }) {
        head += &format!("Content-Length: {}\r\n", body.len());
    }
    head += "\r\n";
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_response(&mut s, method == "HEAD")
}

pub fn read_response(s: &mut impl Read, head: bool) -> Resp {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let text = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = text.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked && !head {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

pub fn sha256(data: &[u8]) -> Digest {
    Digest::of(Algorithm::Sha256, data)
}

/// Monolithic push of a blob (POST then PUT); returns its digest.
pub fn push_blob(addr: SocketAddr, repo: &str, data: &[u8]) -> Digest {
    let d = sha256(data);
    let r = request(
        addr,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    );
    assert_eq!(r.status, 202, "{r:?}");
    let loc = r.header("location").unwrap().to_string();
    let r = request(
        addr,
        "PUT",
        &format!("{loc}?digest={d}"),
        &[("Content-Type", "application/octet-stream")],
        data,
    );
    assert_eq!(r.status, 201, "{r:?}");
    d
}

/// An image manifest over a config and layers (all pushed to `repo`); returns (bytes, digest).
pub fn image_manifest(config: &Digest, config_len: usize, layers: &[(Digest, usize)]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(d, n)| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d.to_string(), "size": n}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": config_len},
        "layers": layers,
    }))
    .unwrap()
}

/// Pushes a small image (config + one layer) and its manifest under `tag`; returns the manifest digest.
pub fn push_image(addr: SocketAddr, repo: &str, tag: &str, layer: &[u8]) -> Digest {
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let c = push_blob(addr, repo, config);
    let l = push_blob(addr, repo, layer);
    let m = image_manifest(&c, config.len(), &[(l, layer.len())]);
    let r = request(
        addr,
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        &m,
    );
    assert_eq!(r.status, 201, "{r:?}");
    sha256(&m)
}

/// Writes an OCI image layout at `dir` tagged `latest`: one gzip layer holding busybox and
/// `extra` bytes of random data. Returns the layer's digest.
pub fn oci_layout(dir: &Path, extra: usize) -> Digest {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let mut data = vec![0u8; extra];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut data)
        .unwrap();
    std::fs::write(root.join("data"), data).unwrap();
    let tgz = dir.join("layer.tgz");
    let ok = Command::new("tar")
        .args([
            "-C",
            root.to_str().unwrap(),
            "-czf",
            tgz.to_str().unwrap(),
            ".",
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let layer = std::fs::read(&tgz).unwrap();
    std::fs::remove_file(&tgz).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let d = sha256(data);
        std::fs::write(blobs.join(d.hex()), data).unwrap();
        d
    };
    let ld = put(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{ld}"]}},"config":{{"Cmd":["/bin/busybox","true"]}}}}"#
    );
    let cd = put(config.as_bytes());
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld.to_string(), "size": layer.len()}],
    }))
    .unwrap();
    let md = put(&manifest);
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    ld
}

/// Runs skopeo with `args`; returns (success, stderr).
pub fn skopeo(args: &[&str]) -> (bool, String) {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo (Debian package skopeo) is installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A bcrypt htpasswd file with the given users.
pub fn htpasswd(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    let p = dir.join("htpasswd");
    let text: String = users
        .iter()
        .map(|(u, pw)| format!("{u}:{}\n", bcrypt::hash(pw, 5).unwrap()))
        .collect();
    std::fs::write(&p, text).unwrap();
    p
}

pub fn basic(user: &str, pass: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}
