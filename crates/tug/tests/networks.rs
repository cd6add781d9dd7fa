//! Networks through the real docker CLI against `tug daemon`: names and aliases on a user
//! network, isolation between networks, published TCP and UDP ports from the host and through
//! the host address (hairpin), `--internal`, live connect/disconnect, addresses kept across a
//! daemon crash, and nothing left behind (bridges, veths, nft tables, namespaces).
//!
//! Each test has its own default bridge and subnets ($TUG_BRIDGE/$TUG_BIP for the daemon), so
//! tests run in parallel without touching each other or the host's networks.

mod common;
#[path = "../../image/tests/common/mod.rs"]
#[allow(dead_code, unused_imports)]
mod img;

use common::*;

mod daemon;
use daemon::*;
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

/// The names a test's networks use, and their removal even when the test fails.
struct Names {
    tag: String,
    octet: u8,
    bridges: Vec<String>,
}

impl Names {
    fn new(test: u8) -> Names {
        let pid = std::process::id();
        let tag = format!("tn{test}{}", pid % 10000);
        let octet = (pid % 250) as u8 + 1;
        let n = Names {
            bridges: vec![format!("{tag}d")],
            tag,
            octet,
        };
        std::env::set_var("TUG_BRIDGE", &n.bridges[0]);
        std::env::set_var("TUG_BIP", format!("10.{}.{octet}.1/24", 190 + test * 3));
        n
    }

    /// A subnet (`k` in 1..3) and bridge name for a user network of this test.
    fn net(&mut self, test: u8, k: u8) -> (String, String) {
        let br = format!("{}n{k}", self.tag);
        self.bridges.push(br.clone());
        (format!("10.{}.{}.0/24", 190 + test * 3 + k, self.octet), br)
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        for b in &self.bridges {
            let _ = Command::new("ip").args(["link", "del", b]).output();
            let t = format!("tug_{b}");
            let _ = Command::new("nft")
                .args(["delete", "table", "ip", &t])
                .output();
        }
    }
}

fn links() -> String {
    String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string()
}

fn nft_tables() -> String {
    String::from_utf8_lossy(
        &Command::new("nft")
            .args(["list", "tables"])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string()
}

/// A busybox image imported into the daemon as `bb:net`.
fn image(d: &Daemon) -> &'static str {
    let root = d.dir.path().join("rootfs");
    for sub in ["bin", "etc", "proc", "sys", "dev", "tmp", "usr"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    // With the host's /usr bound in, its python3 runs (the UDP server: busybox has none).
    for l in ["lib", "lib64"] {
        std::os::unix::fs::symlink(format!("usr/{l}"), root.join(l)).unwrap();
    }
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "httpd", "nc", "nslookup", "ip", "cat", "sleep", "dnsd", "echo", "printf", "tail",
        "grep",
    ] {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
    }
    std::fs::write(root.join("etc/index.html"), "hello from tug\n").unwrap();
    let tar = d.dir.path().join("bb.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());
    d.ok(&["import", tar.to_str().unwrap(), "bb:net"]);
    "bb:net"
}

/// An HTTP GET from inside a container with nc (busybox wget crashes on literal addresses).
fn get_cmd(host: &str, port: u16) -> String {
    format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port}")
}

fn http_get_host(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(3)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn wait_http(addr: &str) -> String {
    for _ in 0..50 {
        if let Some(b) = http_get_host(addr).filter(|b| b.contains("hello from tug")) {
            return b;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{addr} never answered")
}

fn inspect(d: &Daemon, what: &str, fmt: &str) -> String {
    d.ok(&["inspect", "-f", fmt, what]).trim().to_string()
}

/// A UDP echo server ("got:" + the datagram) on port 9999.
const UDP_ECHO: &str = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
s.bind(('0.0.0.0', 9999))\nwhile True:\n    d, a = s.recvfrom(100)\n    s.sendto(b'got:' + d, a)\n";

#[test]
fn user_networks_names_isolation_ports_and_cleanup() {
    let mut names = Names::new(1);
    let (sub_a, br_a) = names.net(1, 1);
    let (sub_b, br_b) = names.net(1, 2);
    let mut d = Daemon::start();
    let img = image(&d);

    let opt_a = format!("com.docker.network.bridge.name={br_a}");
    let opt_b = format!("com.docker.network.bridge.name={br_b}");
    d.ok(&[
        "network", "create", "--subnet", &sub_a, "-o", &opt_a, "neta",
    ]);
    d.ok(&[
        "network", "create", "--subnet", &sub_b, "-o", &opt_b, "netb",
    ]);
    let ls = d.ok(&["network", "ls"]);
    for n in ["bridge", "host", "none", "neta", "netb"] {
        assert!(ls.contains(n), "{ls}");
    }
    // Same name twice, overlapping subnet: refused, nothing made.
    let dup = d.docker(&["network", "create", "neta"]);
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));
    let overlap = d.docker(&["network", "create", "--subnet", &sub_a, "neto"]);
    assert!(!overlap.status.success(), "overlapping subnet accepted");
    assert!(!d.ok(&["network", "ls"]).contains("neto"));

    let port = 20000 + (std::process::id() % 10000) as u16;
    let uport = port + 1;
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "neta",
        "--network-alias",
        "www",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "-p",
        &format!("{}:80", port + 2),
        img,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "udp",
        "--network",
        "neta",
        "-p",
        &format!("{uport}:9999/udp"),
        "-v",
        "/usr:/usr:ro",
        img,
        "/usr/bin/python3",
        "-c",
        UDP_ECHO,
    ]);
    let web_ip = inspect(&d, "web", "{{.NetworkSettings.Networks.neta.IPAddress}}");
    assert!(web_ip.starts_with(&sub_a[..sub_a.len() - 4]), "{web_ip}");
    assert_eq!(
        inspect(&d, "web", "{{.NetworkSettings.Networks.neta.MacAddress}}"),
        format!(
            "02:42:{}",
            web_ip
                .split('.')
                .map(|o| format!("{:02x}", o.parse::<u8>().unwrap()))
                .collect::<Vec<_>>()
                .join(":")
        )
    );
    let short = d.ok(&["inspect", "-f", "{{.Id}}", "web"])[..12].to_string();

    // Published TCP port from the host on 127.0.0.1; `port` shows it.
    assert!(wait_http(&format!("127.0.0.1:{port}")).contains("hello from tug"));
    let mut shown: Vec<String> = d
        .ok(&["port", "web", "80"])
        .lines()
        .map(String::from)
        .collect();
    shown.sort();
    assert_eq!(
        shown,
        [format!("0.0.0.0:{}", port + 2), format!("127.0.0.1:{port}")]
    );

    // Names, aliases and short ids on the same network.
    let same = d.ok(&[
        "run",
        "--rm",
        "--network",
        "neta",
        img,
        "sh",
        "-c",
        &format!(
            "{} && {} && {}",
            get_cmd("web", 80),
            get_cmd("www", 80),
            get_cmd(&short, 80)
        ),
    ]);
    assert_eq!(same.matches("hello from tug").count(), 3, "{same}");
    let hosts = d.ok(&[
        "run",
        "--rm",
        "--network",
        "neta",
        img,
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(
        hosts.contains(&format!("nameserver {}", &sub_a[..sub_a.len() - 4])),
        "{hosts}"
    );

    // Not from another network: no name, no route through the bridge.
    let other = d.docker(&[
        "run",
        "--rm",
        "--network",
        "netb",
        img,
        "sh",
        "-c",
        &format!("nslookup web; {}", get_cmd(&web_ip, 80)),
    ]);
    assert!(
        !stdout(&other).contains("hello from tug"),
        "{}",
        stdout(&other)
    );
    assert!(
        !stdout(&other).contains(&format!("Address: {web_ip}")),
        "{}",
        stdout(&other)
    );

    // Hairpin: from a container through the host's address to the published port, from the
    // same network and from another one.
    let gw_b = format!("{}1", &sub_b[..sub_b.len() - 4]);
    let gw_a = format!("{}1", &sub_a[..sub_a.len() - 4]);
    let hp = d.ok(&[
        "run",
        "--rm",
        "--network",
        "netb",
        img,
        "sh",
        "-c",
        &get_cmd(&gw_b, port + 2),
    ]);
    assert!(hp.contains("hello from tug"), "hairpin from netb: {hp}");
    let hp = d.ok(&[
        "run",
        "--rm",
        "--network",
        "neta",
        img,
        "sh",
        "-c",
        &get_cmd(&gw_a, port + 2),
    ]);
    assert!(hp.contains("hello from tug"), "hairpin from neta: {hp}");

    // UDP: a datagram to the published port comes back from the container's echo server.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut answer = None;
    for _ in 0..20 {
        sock.send_to(b"ping", ("127.0.0.1", uport)).unwrap();
        let mut buf = [0u8; 512];
        if let Ok(n) = sock.recv(&mut buf) {
            answer = Some(buf[..n].to_vec());
            break;
        }
    }
    let answer = answer.expect("no UDP answer through the published port");
    assert_eq!(answer, b"got:ping");

    // Live connect/disconnect: web joins netb and is reachable there, then leaves.
    d.ok(&["network", "connect", "--alias", "webb", "netb", "web"]);
    let web_ip_b = inspect(&d, "web", "{{.NetworkSettings.Networks.netb.IPAddress}}");
    assert!(
        web_ip_b.starts_with(&sub_b[..sub_b.len() - 4]),
        "{web_ip_b}"
    );
    let via_b = d.ok(&[
        "run",
        "--rm",
        "--network",
        "netb",
        img,
        "sh",
        "-c",
        &format!("{} && {}", get_cmd("webb", 80), get_cmd(&web_ip_b, 80)),
    ]);
    assert_eq!(via_b.matches("hello from tug").count(), 2, "{via_b}");
    let again = d.docker(&["network", "connect", "netb", "web"]);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    d.ok(&["network", "disconnect", "netb", "web"]);
    let gone = d.ok(&["exec", "web", "ip", "-o", "addr"]);
    assert!(!gone.contains(&web_ip_b), "{gone}");

    // A network in use cannot be removed.
    let busy = d.docker(&["network", "rm", "neta"]);
    assert!(
        stderr(&busy).contains("active endpoints"),
        "{}",
        stderr(&busy)
    );

    // Daemon crash: running containers keep their address, names and ports.
    d.kill9();
    d.spawn();
    assert_eq!(
        inspect(&d, "web", "{{.NetworkSettings.Networks.neta.IPAddress}}"),
        web_ip
    );
    assert!(wait_http(&format!("127.0.0.1:{port}")).contains("hello from tug"));
    let after = d.ok(&[
        "run",
        "--rm",
        "--network",
        "neta",
        img,
        "sh",
        "-c",
        &get_cmd("www", 80),
    ]);
    assert!(after.contains("hello from tug"), "{after}");

    // Everything goes: containers, networks, their bridges, veths, tables and namespaces.
    let veths: Vec<String> = links()
        .lines()
        .filter(|l| l.contains(&format!("master {br_a}")))
        .filter_map(|l| {
            l.split(':')
                .nth(1)
                .map(|s| s.trim().split('@').next().unwrap().to_string())
        })
        .collect();
    assert!(veths.len() >= 2, "{veths:?}");
    d.ok(&["rm", "-f", "web", "udp"]);
    assert!(!nft_tables().contains(&format!("tugp_{short}")));
    d.ok(&["network", "rm", "neta", "netb"]);
    // Host ends of veths go in the background (their deletion waits for the kernel).
    for _ in 0..50 {
        if veths.iter().all(|v| !links().contains(&format!(" {v}@"))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let l = links();
    for name in veths.iter().chain([&br_a, &br_b]) {
        assert!(
            !l.contains(&format!(" {name}:")) && !l.contains(&format!(" {name}@")),
            "{name} left: {l}"
        );
    }
    let t = nft_tables();
    assert!(
        !t.contains(&format!("tug_{br_a}")) && !t.contains(&format!("tug_{br_b}")),
        "{t}"
    );
    let ns_dir = d.dir.path().join("exec/netns");
    let left: Vec<_> = std::fs::read_dir(&ns_dir)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    drop(names);
}

#[test]
fn internal_networks_default_bridge_and_bad_input() {
    let mut names = Names::new(2);
    let (sub_i, br_i) = names.net(2, 1);
    let d = Daemon::start();
    let img = image(&d);

    // The default bridge: an address from $TUG_BIP, a default route, no name DNS.
    let out = d.ok(&[
        "run",
        "--rm",
        img,
        "sh",
        "-c",
        "ip -o -4 addr show eth0; ip route; cat /etc/hosts",
    ]);
    let prefix = format!("10.196.{}.", names.octet);
    assert!(out.contains(&prefix), "{out}");
    assert!(out.contains(&format!("default via {prefix}1")), "{out}");
    let hostname_line = out.lines().last().unwrap_or("");
    assert!(hostname_line.starts_with(&prefix), "{out}");

    // --network none: loopback only; --add-host and --dns reach the files.
    let none = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--add-host",
        "db:10.1.2.3",
        "--dns",
        "10.0.0.53",
        img,
        "sh",
        "-c",
        "ip -o link; cat /etc/hosts /etc/resolv.conf",
    ]);
    assert!(!none.contains("eth0"), "{none}");
    assert!(none.contains("10.1.2.3\tdb"), "{none}");

    // --internal: no default route, nothing outside the bridge reachable.
    let opt = format!("com.docker.network.bridge.name={br_i}");
    d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &sub_i,
        "-o",
        &opt,
        "inner",
    ]);
    let internal = d.ok(&["run", "--rm", "--network", "inner", img, "ip", "route"]);
    assert!(!internal.contains("default"), "{internal}");
    let inspect = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{.Internal}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
        "inner",
    ]);
    assert_eq!(inspect.trim(), format!("true {sub_i}"));

    // Bad input: clear errors, nothing half-made.
    let bad = d.docker(&["run", "--rm", "--network", "nosuchnet", img, "true"]);
    assert!(
        stderr(&bad).contains("network nosuchnet not found"),
        "{}",
        stderr(&bad)
    );
    let bad = d.docker(&["network", "create", "--subnet", "10.1.0.0/99", "badnet"]);
    assert!(stderr(&bad).contains("invalid subnet"), "{}", stderr(&bad));
    let bad = d.docker(&[
        "network",
        "create",
        "--subnet",
        &sub_i,
        "--gateway",
        "192.0.2.77",
        "badgw",
    ]);
    assert!(!bad.status.success());
    let bad = d.docker(&["run", "--rm", "--ip", "10.1.1.1", img, "true"]);
    assert!(
        stderr(&bad).contains("user configured subnets"),
        "{}",
        stderr(&bad)
    );
    let bad = d.docker(&["network", "rm", "bridge"]);
    assert!(
        stderr(&bad).contains("pre-defined network"),
        "{}",
        stderr(&bad)
    );
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!ls.contains("badnet") && !ls.contains("badgw"), "{ls}");
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");

    // Prune removes unused user networks (and their bridges).
    let pruned = d.ok(&["network", "prune", "-f"]);
    assert!(pruned.contains("inner"), "{pruned}");
    assert!(!links().contains(&format!(" {br_i}:")));
    drop(d);
    drop(names);
}
