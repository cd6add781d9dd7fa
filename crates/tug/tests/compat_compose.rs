//! Debian's docker-compose (1.29) against a private `tug daemon`: a project with a built
//! service and a client on a user network (reaching it by service name), a named volume, a
//! published port, environment, a health check gating depends_on; up, ps, logs, exec, stop,
//! start and down -v, after which nothing of the project remains.

mod common;
mod daemon;
#[path = "../../image/tests/common/mod.rs"]
mod img;

use common::*;
use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A busybox root filesystem tar with every applet linked.
fn busybox_rootfs() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        b.append_data(&mut h, d, std::io::empty()).unwrap();
    }
    let data = std::fs::read(BUSYBOX).unwrap();
    let mut h = header(tar::EntryType::Regular, 0o755, data.len() as u64);
    b.append_data(&mut h, "bin/busybox", data.as_slice())
        .unwrap();
    let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            b.append_link(&mut h, format!("bin/{applet}"), "busybox")
                .unwrap();
        }
    }
    let passwd = "root:x:0:0:root:/root:/bin/sh\n";
    let mut h = header(tar::EntryType::Regular, 0o644, passwd.len() as u64);
    b.append_data(&mut h, "etc/passwd", passwd.as_bytes())
        .unwrap();
    b.into_inner().unwrap()
}

struct Project {
    d: daemon::Daemon,
    dir: tempfile::TempDir,
    name: String,
    port: u16,
}

impl Project {
    fn new() -> Project {
        let d = daemon::Daemon::start();
        let mut ch = Command::new(TUG)
            .env_remove("DOCKER_HOST")
            .arg("-H")
            .arg(format!("unix://{}", d.sock().display()))
            .args(["import", "-", "busybox:latest"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        ch.stdin
            .take()
            .unwrap()
            .write_all(&busybox_rootfs())
            .unwrap();
        let o = ch.wait_with_output().unwrap();
        assert!(o.status.success(), "import: {}", stderr(&o));
        let dir = tempfile::tempdir().unwrap();
        let port = img::free_port();
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("tugc{}n{seq}", std::process::id());
        std::fs::create_dir(dir.path().join("web")).unwrap();
        std::fs::write(
            dir.path().join("web/Dockerfile"),
            "FROM busybox\nCOPY index.html /www/index.html\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("web/index.html"), "hello from compose\n").unwrap();
        std::fs::write(
            dir.path().join("docker-compose.yml"),
            format!(
                r#"version: "2.4"
services:
  web:
    build: ./web
    environment:
      GREETING: hello-env
    command: ["sh", "-c", "echo $$GREETING > /data/greeting; echo web up; exec httpd -f -p 80 -h /www"]
    ports:
      - "127.0.0.1:{port}:80"
    volumes:
      - data:/data
    networks: [backend]
    healthcheck:
      test: ["CMD-SHELL", "test -f /data/greeting"]
      interval: 1s
      timeout: 2s
      retries: 5
  client:
    image: busybox
    depends_on:
      web:
        condition: service_healthy
    networks: [backend]
    command: ["sh", "-c", "printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -w 3 web 80; exec sleep 600"]
networks:
  backend: {{}}
volumes:
  data: {{}}
"#
            ),
        )
        .unwrap();
        Project { d, dir, name, port }
    }

    fn compose(&self, args: &[&str]) -> Output {
        let host = format!("unix://{}", self.d.sock().display());
        Command::new("docker-compose")
            .arg("-H")
            .arg(&host)
            .args(args)
            .current_dir(self.dir.path())
            .env("DOCKER_HOST", &host)
            .env("COMPOSE_PROJECT_NAME", &self.name)
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.compose(args);
        assert!(
            o.status.success(),
            "docker-compose {args:?} failed ({:?}): {}{}\ndaemon log:\n{}",
            o.status,
            stdout(&o),
            stderr(&o),
            std::fs::read_to_string(self.d.dir.path().join("daemon.log")).unwrap_or_default()
        );
        stdout(&o) + &stderr(&o)
    }

    /// Everything of this project the daemon still has, as the docker CLI lists it.
    fn leftovers(&self) -> String {
        let label = format!("label=com.docker.compose.project={}", self.name);
        let mut all = self.d.ok(&["ps", "-aq", "--filter", &label]);
        all += &self.d.ok(&["network", "ls", "-q", "--filter", &label]);
        all += &self.d.ok(&["volume", "ls", "-q", "--filter", &label]);
        for n in self
            .d
            .ok(&["network", "ls", "--format", "{{.Name}}"])
            .lines()
        {
            if n.starts_with(&self.name) {
                all += n;
            }
        }
        for v in self
            .d
            .ok(&["volume", "ls", "--format", "{{.Name}}"])
            .lines()
        {
            if v.starts_with(&self.name) {
                all += v;
            }
        }
        all
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "-t", "1"]);
    }
}

fn http_get(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(3),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn until(what: &str, mut f: impl FnMut() -> Option<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn compose_up_ps_logs_exec_stop_start_down() {
    let p = Project::new();
    p.ok(&["up", "-d"]);

    let ps = p.ok(&["ps"]);
    let web = format!("{}_web_1", p.name);
    let client = format!("{}_client_1", p.name);
    assert!(ps.contains(&web) && ps.contains(&client), "{ps}");
    assert!(ps.contains("(healthy)"), "web not healthy in ps: {ps}");
    assert!(
        ps.contains(&format!("127.0.0.1:{}->80/tcp", p.port)),
        "{ps}"
    );
    assert_eq!(
        p.d.ok(&["inspect", "-f", "{{.State.Health.Status}}", &web])
            .trim(),
        "healthy"
    );

    // The published port from the host, the service name from the other service.
    let page = until("the published port", || {
        http_get(p.port).filter(|b| b.contains("200"))
    });
    assert!(page.ends_with("\r\n\r\nhello from compose\n"), "{page}");
    let logs = until("the client's request", || {
        let l = p.ok(&["logs", "--no-color", "client"]);
        l.contains("hello from compose").then_some(l)
    });
    assert!(logs.contains("200 OK"), "{logs}");
    assert!(p.ok(&["logs", "--no-color", "web"]).contains("web up"));

    // exec, environment and the named volume.
    let o = p.compose(&["exec", "-T", "web", "cat", "/data/greeting"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hello-env\n");
    let o = p.compose(&[
        "exec",
        "-T",
        "web",
        "sh",
        "-c",
        "echo kept >> /data/greeting; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));

    // stop, start: the same containers come back, the volume kept its content.
    p.ok(&["stop", "-t", "2"]);
    let ps = p.ok(&["ps"]);
    assert!(!ps.contains(" Up "), "{ps}");
    assert!(ps.contains("Exit"), "{ps}");
    assert_eq!(p.d.ok(&["ps", "-q"]), "");
    p.ok(&["start"]);
    until("web to run again", || {
        http_get(p.port).filter(|b| b.contains("hello from compose"))
    });
    let o = p.compose(&["exec", "-T", "web", "cat", "/data/greeting"]);
    assert_eq!(stdout(&o), "hello-env\n", "{}", stderr(&o));

    // down -v: no container, network or volume of the project is left.
    let down = p.ok(&["down", "-v", "-t", "2"]);
    assert!(down.contains("Removing network"), "{down}");
    assert_eq!(p.leftovers(), "", "left after down -v");
    assert_eq!(p.d.ok(&["ps", "-aq"]), "");
    assert!(
        http_get(p.port).is_none(),
        "port still published after down"
    );
}

#[test]
fn compose_reports_a_failing_build() {
    let p = Project::new();
    std::fs::write(
        p.dir.path().join("web/Dockerfile"),
        "FROM busybox\nRUN exit 7\n",
    )
    .unwrap();
    let o = p.compose(&["up", "-d"]);
    assert!(!o.status.success(), "up succeeded with a failing build");
    let err = stderr(&o);
    assert!(err.contains("returned a non-zero code: 7"), "{err}");
    assert_eq!(p.d.ok(&["ps", "-aq"]), "");
}
