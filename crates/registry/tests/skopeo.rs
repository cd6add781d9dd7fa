//! skopeo (Debian's) pushes and pulls images through the registry: without auth, with htpasswd
//! basic auth, with bearer tokens, and over TLS with a self-signed certificate.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// Pushes an OCI layout to `image`, pulls it back into a `dir:` copy, and checks the layer.
fn round_trip(work: &Path, image: &str, creds: &[&str]) {
    let layout = work.join("layout");
    let layer = oci_layout(&layout, 256 << 10);
    let src = format!("oci:{}:latest", layout.display());
    let dst = format!("docker://{image}");
    let with = |first: &[&str], flag: &str, rest: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = first.iter().map(|s| s.to_string()).collect();
        v.extend(creds.iter().map(|c| c.replace("CREDS", flag)));
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };
    let args = with(
        &["copy", "--dest-tls-verify=false"],
        "--dest-creds",
        &[&src, &dst],
    );
    let (ok, err) = skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "skopeo push: {err}");
    let out = work.join("pulled");
    let dir = format!("dir:{}", out.display());
    let args = with(
        &["copy", "--src-tls-verify=false"],
        "--src-creds",
        &[&dst, &dir],
    );
    let (ok, err) = skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "skopeo pull: {err}");
    let pulled = std::fs::read(out.join(layer.hex())).unwrap();
    assert_eq!(sha256(&pulled), layer);
    let original = std::fs::read(layout.join("blobs/sha256").join(layer.hex())).unwrap();
    assert_eq!(pulled, original);
}

#[test]
fn skopeo_push_pull_without_auth() {
    let s = Server::start(registry::Config::default());
    let work = tempfile::tempdir().unwrap();
    round_trip(work.path(), &format!("{}/library/busybox:1", s.host()), &[]);
    let (ok, err) = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}/library/busybox:1", s.host()),
    ]);
    assert!(ok, "{err}");
}

#[test]
fn skopeo_with_basic_auth() {
    let work = tempfile::tempdir().unwrap();
    let h = htpasswd(work.path(), &[("alice", "wonder")]);
    let s = Server::start(config(&format!(
        r#"{{"auth": {{"htpasswd": "{}"}}}}"#,
        h.display()
    )));
    let image = format!("{}/team/app:v1", s.host());
    // Wrong credentials fail.
    let layout = work.path().join("first");
    oci_layout(&layout, 1000);
    let src = format!("oci:{}:latest", layout.display());
    let (ok, _) = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:wrong",
        &src,
        &format!("docker://{image}"),
    ]);
    assert!(!ok, "push with a wrong password must fail");
    round_trip(work.path(), &image, &["CREDS", "alice:wonder"]);
}

#[test]
fn skopeo_with_bearer_tokens() {
    let work = tempfile::tempdir().unwrap();
    let h = htpasswd(work.path(), &[("alice", "wonder")]);
    let s = Server::start(config(&format!(
        r#"{{"auth": {{"htpasswd": "{}", "token": {{}}}}}}"#,
        h.display()
    )));
    let image = format!("{}/team/app:v1", s.host());
    let layout = work.path().join("first");
    oci_layout(&layout, 1000);
    let src = format!("oci:{}:latest", layout.display());
    let (ok, _) = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &src,
        &format!("docker://{image}"),
    ]);
    assert!(!ok, "anonymous push must fail");
    round_trip(work.path(), &image, &["CREDS", "alice:wonder"]);
}

#[test]
fn skopeo_over_tls() {
    let work = tempfile::tempdir().unwrap();
    let (cert, key) = (work.path().join("cert.pem"), work.path().join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let s = Server::start_tls(registry::Config::default(), Some((cert.clone(), key)));
    round_trip(work.path(), &format!("{}/secure/app:v1", s.host()), &[]);
    // Plain HTTP to the TLS port gets nothing useful; verified TLS with the cert as CA works.
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&cert)
        .arg(format!("https://{}/v2/secure/app/tags/list", s.host()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        r#"{"name":"secure/app","tags":["v1"]}"#
    );
}
