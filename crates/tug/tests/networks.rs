//! Networks through the real docker CLI against `tug daemon`: names and aliases on a user
//! network, isolation between networks, published TCP and UDP ports from the host and through
//! the host address (hairpin), `--internal`, live connect/disconnect, addresses kept across a
//! daemon crash, and nothing left behind (bridges, veths, nft tables, namespaces).
//!
//! Each test has its own default bridge and subnet (the harness gives the daemon
//! $TUG_BRIDGE/$TUG_BIP) and its own bridge names and subnets for user networks, so tests run
//! in parallel without touching each other or the host's networks.

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
        let _ = test;
        Names {
            bridges: vec![],
            tag,
            octet,
        }
    }

    /// A unique local IPv6 /64 (`k` in 1..3) of this test: never routed off the machine, and
    /// clear of the host's own fd00::/64.
    fn net6(&self, test: u8, k: u8) -> String {
        format!("fd00:7e{test:x}{k:x}:{:x}::/64", std::process::id() % 65536)
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
            let _ = Command::new("nft")
                .args(["delete", "table", "ip6", &format!("tug6_{b}")])
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
    let prefix = d.bridge_ip.rsplit_once('.').unwrap().0.to_string() + ".";
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

/// A process this test started, killed by its PID when the test ends (also on failure).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A UDP echo server on ports 90 and 91 that prefixes the port it got the datagram on.
const UDP_ECHO2: &str = "import socket, select\nss = []\nfor p in (90, 91):\n    \
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    s.bind(('0.0.0.0', p))\n    \
ss.append(s)\nwhile True:\n    r, _, _ = select.select(ss, [], [])\n    for s in r:\n        \
d, a = s.recvfrom(100)\n        s.sendto(b'%d:' % s.getsockname()[1] + d, a)\n";

fn udp_ask(port: u16, what: &[u8]) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for _ in 0..30 {
        sock.send_to(what, ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 512];
        if let Ok(n) = sock.recv(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

#[test]
fn port_ranges_ps_conflicts_self_hairpin_and_etc_paths() {
    let names = Names::new(3);
    let d = Daemon::start();
    let img = image(&d);
    let base = 30000 + (std::process::id() % 3000) as u16 * 10;
    let gw = d.bridge_ip.split('/').next().unwrap().to_string();

    // -p A-B:C-D publishes each port of the range to its partner, TCP and UDP.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "rng",
        "--expose",
        "7000",
        "-p",
        &format!("{base}-{}:80-82", base + 2),
        "-p",
        &format!("127.0.0.1:{}-{}:90-91/udp", base + 3, base + 4),
        "-v",
        "/usr:/usr:ro",
        img,
        "sh",
        "-c",
        &format!(
            "httpd -p 80 -h /etc; httpd -p 81 -h /etc; httpd -p 82 -h /etc; \
             exec /usr/bin/python3 -c \"{}\"",
            UDP_ECHO2.replace('"', "\\\"")
        ),
    ]);
    for p in base..=base + 2 {
        assert!(wait_http(&format!("127.0.0.1:{p}")).contains("hello from tug"));
    }
    assert_eq!(udp_ask(base + 3, b"a").as_deref(), Some(&b"90:a"[..]));
    assert_eq!(udp_ask(base + 4, b"b").as_deref(), Some(&b"91:b"[..]));
    assert_eq!(
        d.ok(&["port", "rng", "91/udp"]).trim(),
        format!("127.0.0.1:{}", base + 4)
    );

    // docker ps: each published port as docker prints it, exposed-only ports bare.
    let ps = d.ok(&["ps", "--filter", "name=rng", "--format", "{{.Ports}}"]);
    let mut want: Vec<String> = (0..3)
        .map(|i| format!("0.0.0.0:{}->{}/tcp", base + i, 80 + i))
        .collect();
    want.push(format!("127.0.0.1:{}->90/udp", base + 3));
    want.push(format!("127.0.0.1:{}->91/udp", base + 4));
    want.push("7000/tcp".into());
    for w in &want {
        assert!(ps.contains(w.as_str()), "{w} not in {ps}");
    }
    assert_eq!(ps.trim().split(", ").count(), want.len(), "{ps}");

    // A host range for one container port takes its first free port: the first one is
    // held by a host socket here, the second by the container above.
    let held = std::net::TcpListener::bind(("0.0.0.0", base + 5)).unwrap();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "pick",
        "-p",
        &format!("{}-{}:80", base + 5, base + 6),
        "-p",
        &format!("{}-{}:81", base + 2, base + 4),
        img,
        "sh",
        "-c",
        "httpd -p 81 -h /etc; exec httpd -f -p 80 -h /etc",
    ]);
    assert_eq!(
        d.ok(&["port", "pick", "80"]).trim(),
        format!("0.0.0.0:{}", base + 6)
    );
    assert_eq!(
        d.ok(&["port", "pick", "81"]).trim(),
        format!("0.0.0.0:{}", base + 3),
        "the range's first port is taken (and UDP on the next one is no clash)"
    );
    assert!(wait_http(&format!("127.0.0.1:{}", base + 6)).contains("hello from tug"));
    drop(held);

    // A fixed port another container publishes: start fails as Docker's does, nothing runs.
    let clash = d.docker(&[
        "run",
        "-d",
        "--name",
        "clash",
        "-p",
        &format!("{base}:80"),
        img,
        "httpd",
        "-f",
    ]);
    assert!(
        stderr(&clash).contains(&format!(
            "Bind for 0.0.0.0:{base} failed: port is already allocated"
        )),
        "{}",
        stderr(&clash)
    );
    assert_eq!(inspect(&d, "clash", "{{.State.Running}}"), "false");
    assert!(wait_http(&format!("127.0.0.1:{base}")).contains("hello from tug"));
    d.ok(&["rm", "clash"]);

    // A container reaches its own published port through the host's address.
    let own = d.ok(&["exec", "pick", "sh", "-c", &get_cmd(&gw, base + 6)]);
    assert!(own.contains("hello from tug"), "hairpin to itself: {own}");

    // Inspect: the host files behind /etc/hosts, resolv.conf, hostname, and the namespace.
    for (key, file) in [
        ("HostsPath", "/etc/hosts"),
        ("ResolvConfPath", "/etc/resolv.conf"),
        ("HostnamePath", "/etc/hostname"),
    ] {
        let path = inspect(&d, "pick", &format!("{{{{.{key}}}}}"));
        assert!(
            path.starts_with(d.dir.path().to_str().unwrap()),
            "{key}: {path}"
        );
        let inside = d.ok(&["exec", "pick", "cat", file]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), inside, "{key}");
    }
    let key = inspect(&d, "pick", "{{.NetworkSettings.SandboxKey}}");
    let ip = inspect(&d, "pick", "{{.NetworkSettings.IPAddress}}");
    let o = Command::new("nsenter")
        .arg(format!("--net={key}"))
        .args(["ip", "-o", "-4", "addr"])
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains(&format!("inet {ip}/")),
        "{key}: {}",
        stdout(&o)
    );

    // Stopped: published ports leave ps and their rules go; a restart publishes again.
    let short = d.ok(&["inspect", "-f", "{{.Id}}", "pick"])[..12].to_string();
    d.ok(&["stop", "-t", "0", "pick"]);
    assert!(!nft_tables().contains(&format!("tugp_{short}")));
    let ps = d.ok(&[
        "ps",
        "-a",
        "--filter",
        "name=pick",
        "--format",
        "{{.Ports}}",
    ]);
    assert_eq!(ps.trim(), "");
    d.ok(&["rm", "-f", "rng", "pick"]);
    assert!(nft_tables()
        .lines()
        .all(|l| !l.contains("tugp_") || !l.contains(&short)));
    drop(d);
    drop(names);
}

/// A DNS responder for every name (A: 192.0.2.55) on `ip`:53 over UDP.
const FAKE_DNS: &str = "import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
s.bind((sys.argv[1], 53))\nwhile True:\n    q, a = s.recvfrom(512)\n    i = 12\n    \
while q[i] != 0:\n        i += 1 + q[i]\n    qtype = q[i + 1] * 256 + q[i + 2]\n    \
end = i + 5\n    ans = b''\n    if qtype == 1:\n        \
ans = b'\\xc0\\x0c\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x3c\\x00\\x04' + bytes([192, 0, 2, 55])\n    \
r = q[:2] + b'\\x81\\x80\\x00\\x01' + bytes([0, 1 if ans else 0]) + b'\\x00\\x00\\x00\\x00' + q[12:end] + ans\n    \
s.sendto(r, a)\n";

fn dns_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[test]
fn dns_forwards_to_the_containers_servers_and_answers_over_tcp() {
    use std::io::{Read, Write};
    let mut names = Names::new(4);
    let (sub, br) = names.net(4, 1);
    let d = Daemon::start();
    let img = image(&d);
    let opt = format!("com.docker.network.bridge.name={br}");
    d.ok(&["network", "create", "--subnet", &sub, "-o", &opt, "dnsnet"]);
    let gw = format!("{}1", &sub[..sub.len() - 4]);

    // The container's own --dns server: a responder on a loopback address of the host.
    let pid = std::process::id();
    let server = format!(
        "127.{}.{}.{}",
        50 + pid % 100,
        (pid / 100) % 250,
        1 + names.octet % 250
    );
    let _fake = Child(
        Command::new("python3")
            .args(["-c", FAKE_DNS, &server])
            .spawn()
            .unwrap(),
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let up = (0..50).any(|_| {
        let _ = sock.send_to(&dns_query("probe.example"), (server.as_str(), 53));
        sock.recv(&mut [0u8; 512]).is_ok()
    });
    assert!(up, "the fake DNS server never answered");

    d.ok(&[
        "run",
        "-d",
        "--name",
        "dnsweb",
        "--network",
        "dnsnet",
        img,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let ip = inspect(
        &d,
        "dnsweb",
        "{{.NetworkSettings.Networks.dnsnet.IPAddress}}",
    );
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "dnsnet",
        "--dns",
        &server,
        img,
        "sh",
        "-c",
        "cat /etc/resolv.conf; nslookup ext.example; nslookup dnsweb",
    ]);
    // The embedded server stays the container's resolver; it asks the --dns server for
    // names it does not know, and still answers container names itself.
    assert!(out.contains(&format!("nameserver {gw}")), "{out}");
    assert!(!out.contains(&format!("nameserver {server}")), "{out}");
    assert!(out.contains("Address: 192.0.2.55"), "{out}");
    assert!(out.contains(&format!("Address: {ip}")), "{out}");

    // Over TCP (as a client asks after a truncated reply): the same answers.
    let mut c = std::net::TcpStream::connect_timeout(
        &format!("{gw}:53").parse().unwrap(),
        Duration::from_secs(3),
    )
    .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let q = dns_query("dnsweb");
    c.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
    c.write_all(&q).unwrap();
    let mut len = [0u8; 2];
    c.read_exact(&mut len).unwrap();
    let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut r).unwrap();
    assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
    let got: std::net::Ipv4Addr = <[u8; 4]>::try_from(&r[r.len() - 4..]).unwrap().into();
    assert_eq!(got.to_string(), ip);

    d.ok(&["rm", "-f", "dnsweb"]);
    d.ok(&["network", "rm", "dnsnet"]);
    drop(d);
    drop(names);
}

#[test]
fn container_network_mode_and_connect_with_an_address() {
    let mut names = Names::new(5);
    let (sub, br) = names.net(5, 1);
    let d = Daemon::start();
    let img = image(&d);
    let opt = format!("com.docker.network.bridge.name={br}");
    d.ok(&["network", "create", "--subnet", &sub, "-o", &opt, "fixed"]);
    let net_prefix = &sub[..sub.len() - 4];

    d.ok(&[
        "run", "-d", "--name", "host1", img, "httpd", "-f", "-p", "80", "-h", "/etc",
    ]);
    let ip = inspect(&d, "host1", "{{.NetworkSettings.IPAddress}}");

    // --network container:<name>: the same namespace (address, and localhost reaches it).
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:host1",
        img,
        "sh",
        "-c",
        &format!("ip -o -4 addr show eth0; {}", get_cmd("127.0.0.1", 80)),
    ]);
    assert!(out.contains(&format!("inet {ip}/")), "{out}");
    assert!(out.contains("hello from tug"), "{out}");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "side",
        "--network",
        "container:host1",
        img,
        "sleep",
        "60",
    ]);
    assert_eq!(
        inspect(&d, "side", "{{.HostsPath}}"),
        inspect(&d, "host1", "{{.HostsPath}}")
    );
    let refused = d.docker(&["network", "connect", "fixed", "side"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("sharing network namespace"),
        "{}",
        stderr(&refused)
    );

    // connect --ip: the address asked for, reachable on that network; bad ones refused.
    let want = format!("{net_prefix}77");
    d.ok(&["network", "connect", "--ip", &want, "fixed", "host1"]);
    assert_eq!(
        inspect(&d, "host1", "{{.NetworkSettings.Networks.fixed.IPAddress}}"),
        want
    );
    let via = d.ok(&[
        "run",
        "--rm",
        "--network",
        "fixed",
        img,
        "sh",
        "-c",
        &get_cmd(&want, 80),
    ]);
    assert!(via.contains("hello from tug"), "{via}");
    d.ok(&["run", "-d", "--name", "other", img, "sleep", "60"]);
    let taken = d.docker(&["network", "connect", "--ip", &want, "fixed", "other"]);
    assert!(
        stderr(&taken).contains("already in use"),
        "{}",
        stderr(&taken)
    );
    let outside = d.docker(&["network", "connect", "--ip", "192.0.2.9", "fixed", "other"]);
    assert!(
        stderr(&outside).contains("not in subnet"),
        "{}",
        stderr(&outside)
    );
    let default = d.docker(&["network", "connect", "--ip", &want, "bridge", "other"]);
    assert!(!default.status.success());
    let nets = inspect(
        &d,
        "other",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
    );
    assert_eq!(nets, "bridge", "a refused connect leaves nothing");
    // Started on the default bridge (no name server), then connected: names resolve now.
    d.ok(&["network", "connect", "fixed", "other"]);
    let found = d.ok(&["exec", "other", "nslookup", "host1"]);
    assert!(found.contains(&want), "{found}");

    d.ok(&["rm", "-f", "side", "other", "host1"]);
    d.ok(&["network", "rm", "fixed"]);
    drop(d);
    drop(names);
}

#[test]
fn ipv6_dual_stack_networks_addresses_routes_dns_and_cleanup() {
    let mut names = Names::new(6);
    let (sub, br) = names.net(6, 1);
    let sub6 = names.net6(6, 1);
    let prefix6 = sub6.trim_end_matches("::/64").to_string();
    let (_, br_auto) = names.net(6, 2);
    let mut d = Daemon::start();
    let img = image(&d);

    // Bad input first: nothing is made.
    let no_flag = d.docker(&["network", "create", "--subnet", &sub6, "v6bad"]);
    assert!(stderr(&no_flag).contains("--ipv6"), "{}", stderr(&no_flag));
    let gw_out = d.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &sub6,
        "--gateway",
        "fd00:dead::1",
        "v6bad",
    ]);
    // The docker CLI refuses it itself; sent to the API, the daemon refuses it too.
    assert!(
        stderr(&gw_out).contains("no matching subnet for gateway fd00:dead::1"),
        "{}",
        stderr(&gw_out)
    );
    let body = format!(
        r#"{{"Name":"v6bad","EnableIPv6":true,"IPAM":{{"Config":[{{"Subnet":"{sub6}","Gateway":"fd00:dead::1"}}]}}}}"#
    );
    let api = Command::new("curl")
        .args(["-s", "--unix-socket"])
        .arg(d.sock())
        .args(["-H", "Content-Type: application/json", "-d", &body])
        .arg("http://tug/networks/create")
        .output()
        .unwrap();
    let api = String::from_utf8_lossy(&api.stdout).to_string();
    assert!(api.contains("fd00:dead::1 is not in subnet"), "{api}");
    let bad = d.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:1::/200",
        "v6bad",
    ]);
    assert!(
        stderr(&bad).contains("invalid IPv6 subnet"),
        "{}",
        stderr(&bad)
    );
    assert!(!d.ok(&["network", "ls"]).contains("v6bad"));

    let opt = format!("com.docker.network.bridge.name={br}");
    let gw6 = format!("{prefix6}::1");
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &sub,
        "--subnet",
        &sub6,
        "--gateway",
        &gw6,
        "-o",
        &opt,
        "net6",
    ]);
    assert_eq!(
        d.ok(&["network", "inspect", "-f", "{{.EnableIPv6}}", "net6"])
            .trim(),
        "true"
    );
    let cfg = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}};{{end}}",
        "net6",
    ]);
    let gw4 = format!("{}1", &sub[..sub.len() - 4]);
    assert_eq!(cfg.trim(), format!("{sub} {gw4};{sub6} {gw6};"));
    assert!(nft_tables().contains(&format!("table ip6 tug6_{br}")));

    d.ok(&[
        "run",
        "-d",
        "--name",
        "web6",
        "--network",
        "net6",
        img,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let ip6 = inspect(
        &d,
        "web6",
        "{{.NetworkSettings.Networks.net6.GlobalIPv6Address}}",
    );
    assert_eq!(ip6, format!("{prefix6}::2"));
    assert_eq!(
        inspect(
            &d,
            "web6",
            "{{.NetworkSettings.Networks.net6.GlobalIPv6PrefixLen}}"
        ),
        "64"
    );
    assert_eq!(
        inspect(&d, "web6", "{{.NetworkSettings.Networks.net6.IPv6Gateway}}"),
        gw6
    );
    let shown = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.IPv6Address}}{{end}}",
        "net6",
    ]);
    assert_eq!(shown.trim(), format!("{ip6}/64"));

    // From the host over the bridge's IPv6 gateway address.
    assert!(wait_http(&format!("[{ip6}]:80")).contains("hello from tug"));

    // A daemon crash keeps the address; the restarted daemon serves it again.
    d.kill9();
    d.spawn();
    d.ok(&["start", "web6"]);
    assert_eq!(
        inspect(
            &d,
            "web6",
            "{{.NetworkSettings.Networks.net6.GlobalIPv6Address}}"
        ),
        ip6
    );
    assert!(wait_http(&format!("[{ip6}]:80")).contains("hello from tug"));

    // A second container: its v6 default route, the first one by its v6 address at once (no
    // duplicate address detection wait), and its name's AAAA record from the embedded DNS.
    let t0 = std::time::Instant::now();
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "net6",
        img,
        "sh",
        "-c",
        &format!(
            "ip -6 route show default; {}; nslookup -type=aaaa web6",
            get_cmd(&ip6, 80)
        ),
    ]);
    let took = t0.elapsed();
    assert!(out.contains(&format!("default via {gw6}")), "{out}");
    assert!(out.contains("hello from tug"), "{out}");
    assert!(out.contains(&ip6), "no AAAA for web6: {out}");
    assert!(took < Duration::from_millis(1500), "run took {took:?}");

    // First on an IPv4-only network: its IPv4 route from there, its IPv6 one from net6.
    let (sub4, br4) = names.net(6, 3);
    let opt4 = format!("com.docker.network.bridge.name={br4}");
    d.ok(&[
        "network", "create", "--subnet", &sub4, "-o", &opt4, "v4only",
    ]);
    let two = d.ok(&[
        "run",
        "--rm",
        "--network",
        "v4only",
        "--network",
        "net6",
        img,
        "sh",
        "-c",
        "ip route show default; ip -6 route show default",
    ]);
    assert!(two.contains(&format!("default via {gw6}")), "{two}");
    let gw4only = format!("default via {}1", &sub4[..sub4.len() - 4]);
    assert!(two.contains(&gw4only), "{two}");
    assert_eq!(two.matches("default via").count(), 2, "{two}");
    d.ok(&["network", "rm", "v4only"]);

    // --ipv6 without a subnet: a unique local /64 of its own.
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "-o",
        &format!("com.docker.network.bridge.name={br_auto}"),
        "auto6",
    ]);
    let auto = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}};{{end}}",
        "auto6",
    ]);
    let v6 = auto
        .trim()
        .split(';')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(v6.starts_with("fd") && v6.ends_with("::/64"), "{auto}");
    d.ok(&["network", "rm", "auto6"]);

    d.ok(&["rm", "-f", "web6"]);
    d.ok(&["network", "rm", "net6"]);
    let t = nft_tables();
    assert!(
        !t.contains(&format!("tug_{br}")) && !t.contains(&format!("tug6_{br}")),
        "{t}"
    );
    for _ in 0..50 {
        if !links().contains(&format!(" {br}:")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!links().contains(&format!(" {br}:")), "bridge {br} left");
    drop(names);
}

/// `iptables -S` (or ip6tables) of one table.
fn ipt_rules(tool: &str, table: &str) -> String {
    let out = Command::new(tool)
        .args(["-w", "-t", table, "-S"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Removes, even when a test fails, the iptables chains (and the jumps to them) whose names
/// hold one of `keys` (bridge names, container short ids).
struct IptablesGuard {
    keys: Vec<String>,
    /// The nftables tables that back iptables before the test ("table ip nat", …): those
    /// the test made are removed again when empty.
    tables_before: String,
}

const IPTABLES_TABLES: [&str; 4] = ["ip nat", "ip filter", "ip6 nat", "ip6 filter"];

impl Drop for IptablesGuard {
    fn drop(&mut self) {
        for tool in ["iptables", "ip6tables"] {
            for table in ["nat", "filter"] {
                let rules = ipt_rules(tool, table);
                let ours = |name: &str| {
                    name.starts_with("TUG") && self.keys.iter().any(|k| name.contains(k.as_str()))
                };
                for l in rules.lines() {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    if f.len() == 4 && f[0] == "-A" && f[2] == "-j" && ours(f[3]) {
                        let _ = Command::new(tool)
                            .args(["-w", "-t", table, "-D", f[1], "-j", f[3]])
                            .output();
                    }
                }
                for l in rules.lines() {
                    if let Some(chain) = l.strip_prefix("-N ").filter(|c| ours(c)) {
                        for op in ["-F", "-X"] {
                            let _ = Command::new(tool)
                                .args(["-w", "-t", table, op, chain])
                                .output();
                        }
                    }
                }
            }
        }
        for t in IPTABLES_TABLES {
            if self.tables_before.contains(&format!("table {t}\n")) {
                continue;
            }
            let (family, name) = t.split_once(' ').unwrap();
            let tool = if family == "ip" {
                "iptables"
            } else {
                "ip6tables"
            };
            let rules = ipt_rules(tool, name);
            if rules
                .lines()
                .all(|l| l.starts_with("-P ") && l.ends_with(" ACCEPT"))
            {
                let _ = Command::new("nft")
                    .args(["delete", "table", family, name])
                    .output();
            }
        }
    }
}

#[test]
fn iptables_driver_masquerade_isolation_internal_ports_hairpin_and_teardown() {
    let mut names = Names::new(7);
    let (sub_a, br_a) = names.net(7, 1);
    let (sub_b, br_b) = names.net(7, 2);
    let (sub_i, br_i) = names.net(7, 3);
    let sub6 = names.net6(7, 1);
    let mut guard = IptablesGuard {
        keys: vec![names.tag.clone()],
        tables_before: nft_tables(),
    };
    let d = Daemon::start_with_env(&[("TUG_FIREWALL", "iptables")]);
    guard.keys.push(d.bridge.clone());
    let img = image(&d);
    let ident = |b: &str| b.replace('-', "_");

    let opt = |br: &str| format!("com.docker.network.bridge.name={br}");
    d.ok(&[
        "network",
        "create",
        "--subnet",
        &sub_a,
        "-o",
        &opt(&br_a),
        "ipta",
    ]);
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &sub_b,
        "--subnet",
        &sub6,
        "-o",
        &opt(&br_b),
        "iptb",
    ]);
    d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &sub_i,
        "-o",
        &opt(&br_i),
        "ipti",
    ]);
    // The iptables chains, not nftables tables.
    let nat = ipt_rules("iptables", "nat");
    let filter = ipt_rules("iptables", "filter");
    assert!(
        nat.contains(&format!(
            "-A TUGN-{a} -s {sub_a} ! -o {br_a} -j MASQUERADE",
            a = ident(&br_a)
        )),
        "{nat}"
    );
    assert!(
        nat.contains(&format!("-A POSTROUTING -j TUGN-{}", ident(&br_a))),
        "{nat}"
    );
    assert!(
        filter.contains(&format!(
            "-A TUGF-{} -i {br_i} ! -o {br_i} -j DROP",
            ident(&br_i)
        )),
        "{filter}"
    );
    assert!(
        !nat.contains(&format!("-A TUGN-{} -s {sub_i} ! -o", ident(&br_i))),
        "internal network masqueraded: {nat}"
    );
    let nat6 = ipt_rules("ip6tables", "nat");
    assert!(
        nat6.contains(&format!(
            "-A TUGN-{b} -s {sub6} ! -o {br_b} -j MASQUERADE",
            b = ident(&br_b)
        )),
        "{nat6}"
    );
    assert!(!nft_tables().contains(&format!("tug_{br_a}")));

    let port = 30000 + (std::process::id() % 10000) as u16;
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "ipta",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "-p",
        &format!("{}:80", port + 1),
        img,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let short = d.ok(&["inspect", "-f", "{{.Id}}", "web"])[..12].to_string();
    guard.keys.push(short.clone());
    let web_ip = inspect(&d, "web", "{{.NetworkSettings.Networks.ipta.IPAddress}}");

    // Published port from the host on 127.0.0.1.
    assert!(wait_http(&format!("127.0.0.1:{port}")).contains("hello from tug"));
    // Isolation: not from the other network by address; hairpin through the host address
    // from both networks.
    let gw_a = format!("{}1", &sub_a[..sub_a.len() - 4]);
    let gw_b = format!("{}1", &sub_b[..sub_b.len() - 4]);
    let other = d.docker(&[
        "run",
        "--rm",
        "--network",
        "iptb",
        img,
        "sh",
        "-c",
        &get_cmd(&web_ip, 80),
    ]);
    assert!(
        !stdout(&other).contains("hello from tug"),
        "reached across networks: {}",
        stdout(&other)
    );
    for (net, gw) in [("iptb", &gw_b), ("ipta", &gw_a)] {
        let hp = d.ok(&[
            "run",
            "--rm",
            "--network",
            net,
            img,
            "sh",
            "-c",
            &get_cmd(gw, port + 1),
        ]);
        assert!(hp.contains("hello from tug"), "hairpin from {net}: {hp}");
    }
    // --internal: nothing beyond its bridge, not even the other networks' containers.
    let inner = d.docker(&[
        "run",
        "--rm",
        "--network",
        "ipti",
        img,
        "sh",
        "-c",
        &format!("ip route; {}", get_cmd(&web_ip, 80)),
    ]);
    assert!(!stdout(&inner).contains("default"), "{}", stdout(&inner));
    assert!(
        !stdout(&inner).contains("hello from tug"),
        "{}",
        stdout(&inner)
    );

    // Teardown: the container's chain goes at rm, the networks' chains at network rm.
    assert!(ipt_rules("iptables", "nat").contains(&format!("-N TUGP-{short}")));
    d.ok(&["rm", "-f", "web"]);
    assert!(!ipt_rules("iptables", "nat").contains(&format!("TUGP-{short}")));
    d.ok(&["network", "rm", "ipta", "iptb", "ipti"]);
    for tool in ["iptables", "ip6tables"] {
        for table in ["nat", "filter"] {
            let rules = ipt_rules(tool, table);
            for br in [&br_a, &br_b, &br_i] {
                assert!(
                    !rules.contains(&ident(br)) && !rules.contains(br.as_str()),
                    "{tool} -t {table} keeps rules of {br}: {rules}"
                );
            }
        }
    }
    drop(d);
    drop(guard);
    drop(names);
}
