//! `tug registry serve` killed with SIGKILL in the middle of uploads, then restarted on the same
//! root: what was acknowledged is there, no partial blob is visible, and pushes work again.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn serve(root: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tug"))
        .args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"])
        .arg(root)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().parse().unwrap();
    (child, addr)
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    s.write_all(format!("{head}\r\n").as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), raw[end + 4..].to_vec())
}

fn header(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn sha256_hex(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split(' ')
        .next()
        .unwrap()
        .to_string()
}

fn blob_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(blob_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn registry_kill_during_uploads_then_restart() {
    let root = tempfile::tempdir().unwrap();
    let (mut server, addr) = serve(root.path());
    // Acknowledged before the kill.
    let (status, head, _) = request(addr, "POST", "/v2/app/blobs/uploads/?digest=sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", &[], b"hello");
    assert_eq!(status, 201, "{head}");
    // Uploads cut off by the kill: a chunk and a single-POST monolithic upload, half sent.
    let (_, head, _) = request(addr, "POST", "/v2/app/blobs/uploads/", &[], b"");
    let loc = header(&head, "location");
    let data: Vec<u8> = (0..(8u32 << 20)).map(|i| (i % 253) as u8).collect();
    let digest = format!("sha256:{}", {
        let p = root.path().join("whole");
        std::fs::write(&p, &data).unwrap();
        let h = sha256_hex(&p);
        std::fs::remove_file(&p).unwrap();
        h
    });
    let mut patch = TcpStream::connect(addr).unwrap();
    write!(
        patch,
        "PATCH {loc} HTTP/1.1\r\nHost: {addr}\r\nContent-Range: 0-{}\r\nContent-Length: {}\r\n\r\n",
        data.len() - 1,
        data.len()
    )
    .unwrap();
    patch.write_all(&data[..data.len() / 2]).unwrap();
    let mut post = TcpStream::connect(addr).unwrap();
    write!(post, "POST /v2/app/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n", data.len()).unwrap();
    post.write_all(&data[..data.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    server.kill().unwrap();
    server.wait().unwrap();
    drop((patch, post));

    let (mut server, addr) = serve(root.path());
    let (status, _, body) = request(
        addr,
        "GET",
        "/v2/app/blobs/sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        &[],
        b"",
    );
    assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
    let (status, _, _) = request(addr, "HEAD", &format!("/v2/app/blobs/{digest}"), &[], b"");
    assert_eq!(
        status, 404,
        "a partial upload must not be visible as a blob"
    );
    for f in blob_files(&root.path().join("blobs")) {
        assert_eq!(
            f.file_name().unwrap().to_string_lossy(),
            sha256_hex(&f),
            "{} is not whole",
            f.display()
        );
    }
    // The interrupted upload still answers with a consistent state and can be finished.
    let (status, head, _) = request(addr, "GET", &loc, &[], b"");
    assert_eq!(status, 204, "{head}");
    let range = header(&head, "range");
    let have: usize = range.split('-').nth(1).unwrap().parse::<usize>().unwrap() + 1;
    assert!(have <= data.len() / 2, "{range}");
    let rest = format!("{have}-{}", data.len() - 1);
    let (status, head, _) = request(
        addr,
        "PUT",
        &format!("{loc}?digest={digest}"),
        &[("Content-Range", &rest)],
        &data[have..],
    );
    assert_eq!(status, 201, "{head}");
    let (status, _, body) = request(addr, "GET", &format!("/v2/app/blobs/{digest}"), &[], b"");
    assert_eq!(status, 200);
    assert!(body == data, "resumed blob differs");
    server.kill().unwrap();
    server.wait().unwrap();
}
