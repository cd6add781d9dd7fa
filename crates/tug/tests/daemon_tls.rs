//! `tug daemon -H tcp://…` with TLS client certificates, driven by the real docker CLI:
//! a client with a certificate signed by the CA works (version, ps, run), one without is
//! refused, and TCP without `--tlsverify` is refused at start-up.

mod common;
#[path = "../../image/tests/common/mod.rs"]
#[allow(dead_code, unused_imports)]
mod img;

use common::*;
mod daemon;
use daemon::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "openssl {args:?}: {}", stderr(&o));
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=tug test ca",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for who in ["server", "client"] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={who}"),
                "-keyout",
                &format!("{who}-key.pem"),
                "-out",
                &format!("{who}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{who}.ext"),
                "-out",
                &format!("{who}.pem"),
            ],
        );
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn docker_tcp(port: u16, tls: &[String], args: &[&str]) -> Output {
    Command::new("docker")
        .env_remove("DOCKER_HOST")
        .env(
            "DOCKER_CONFIG",
            std::env::temp_dir().join("tug-tls-test-docker-config"),
        )
        .args(tls)
        .arg("-H")
        .arg(format!("tcp://127.0.0.1:{port}"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn tcp_with_client_certificates_only() {
    let certs = tempfile::tempdir().unwrap();
    let c = certs.path();
    certificates(c);
    let p = |f: &str| c.join(f).display().to_string();
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with_args(&[
        "-H",
        &host,
        "--tlsverify",
        "--tlscacert",
        &p("ca.pem"),
        "--tlscert",
        &p("server.pem"),
        "--tlskey",
        &p("server-key.pem"),
    ]);
    let tls = vec![
        "--tlsverify".to_string(),
        format!("--tlscacert={}", p("ca.pem")),
        format!("--tlscert={}", p("client.pem")),
        format!("--tlskey={}", p("client-key.pem")),
    ];

    let o = docker_tcp(port, &tls, &["version", "--format", "{{.Server.Version}}"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), env!("CARGO_PKG_VERSION"));

    // The unix socket serves at the same time: a container made there is seen over TCP.
    let tar = c.join("rootfs.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&tar).unwrap());
    b.append_path_with_name(BUSYBOX, "bin/busybox").unwrap();
    b.finish().unwrap();
    d.ok(&[
        "import",
        "-c",
        r#"ENTRYPOINT ["/bin/busybox"]"#,
        tar.to_str().unwrap(),
        "tlsbox:v1",
    ]);
    d.ok(&[
        "create",
        "--name",
        "made-on-unix",
        "--network",
        "none",
        "tlsbox:v1",
        "true",
    ]);
    let o = docker_tcp(port, &tls, &["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(stdout(&o), "made-on-unix\n", "{}", stderr(&o));
    let o = docker_tcp(
        port,
        &tls,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "tlsbox:v1",
            "echo",
            "over tls",
        ],
    );
    assert_eq!(stdout(&o), "over tls\n", "{}", stderr(&o));
    let o = docker_tcp(
        port,
        &tls,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "tlsbox:v1",
            "sh",
            "-c",
            "exit 4",
        ],
    );
    assert_eq!(o.status.code(), Some(4));

    // No client certificate: the handshake fails, nothing is answered.
    let no_cert = vec!["--tls".to_string(), format!("--tlscacert={}", p("ca.pem"))];
    let o = docker_tcp(port, &no_cert, &["ps"]);
    assert!(
        !o.status.success(),
        "a client without a certificate got in: {}",
        stdout(&o)
    );
    // A certificate from another CA is refused too.
    let other = tempfile::tempdir().unwrap();
    certificates(other.path());
    let q = |f: &str| other.path().join(f).display().to_string();
    let foreign = vec![
        "--tlsverify".to_string(),
        format!("--tlscacert={}", p("ca.pem")),
        format!("--tlscert={}", q("client.pem")),
        format!("--tlskey={}", q("client-key.pem")),
    ];
    let o = docker_tcp(port, &foreign, &["ps"]);
    assert!(
        !o.status.success(),
        "a foreign certificate got in: {}",
        stdout(&o)
    );
    // Plain HTTP on the TLS port gets nothing either.
    let o = docker_tcp(port, &[], &["ps"]);
    assert!(!o.status.success());
}

#[test]
fn tcp_without_tlsverify_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let o = Command::new(TUG)
        .args(["daemon", "--data-root"])
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("exec"))
        .args(["-H", &format!("tcp://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("refusing to listen on tcp://127.0.0.1:") && err.contains("--tlsverify"),
        "{err}"
    );
    let o = Command::new(TUG)
        .args(["daemon", "--data-root"])
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("exec"))
        .args(["-H", &format!("tcp://127.0.0.1:{port}"), "--tlsverify"])
        .output()
        .unwrap();
    assert!(
        stderr(&o).contains("--tlsverify needs --tlscacert, --tlscert and --tlskey"),
        "{}",
        stderr(&o)
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
