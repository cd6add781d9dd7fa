//! Real bridges, namespaces and veths (as root): two namespaces on a bridge reach each other,
//! a published port answers through nftables, and teardown leaves nothing behind.

use net::{bridge, firewall, netns};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

/// Everything a test made, removed in Drop even when the test fails.
struct Made {
    dir: tempfile::TempDir,
    bridge: String,
    veths: Vec<String>,
    tables: Vec<String>,
}

impl Made {
    fn ns(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for v in &self.veths {
            let _ = bridge::detach(v);
        }
        for n in ["a", "b"] {
            let _ = netns::delete(&self.ns(n));
        }
        // A pool's namespaces (and their veth pairs) go too.
        for e in std::fs::read_dir(self.dir.path().join("pool"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = netns::delete(&e.path());
        }
        let _ = bridge::delete(&self.bridge);
        let fw = firewall::Nftables;
        use firewall::Firewall;
        let _ = fw.remove_network(&self.bridge);
        for t in &self.tables {
            let _ = fw.remove_ports(t);
        }
    }
}

fn unique() -> (String, u8) {
    let pid = std::process::id();
    (format!("tnt{}", pid % 100000), (pid % 200) as u8 + 20)
}

/// Run a command inside a namespace (nsenter, as a user would check).
fn inside(ns: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args(args)
        .output()
        .unwrap()
}

fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn two_namespaces_on_a_bridge_reach_each_other_and_teardown_is_complete() {
    let (br, octet) = unique();
    let mut m = Made {
        dir: tempfile::tempdir().unwrap(),
        bridge: br.clone(),
        veths: vec![],
        tables: vec![],
    };
    let gw = Ipv4Addr::new(10, 213, octet, 1);
    bridge::ensure(&br, Some(gw), 24, None).unwrap();
    // Idempotent: a second ensure on an existing bridge is fine.
    bridge::ensure(&br, Some(gw), 24, None).unwrap();
    let mut ips = vec![];
    for (i, n) in ["a", "b"].iter().enumerate() {
        netns::create(&m.ns(n)).unwrap();
        assert!(netns::exists(&m.ns(n)));
        let ip = Ipv4Addr::new(10, 213, octet, 2 + i as u8);
        let veth = format!("{br}{n}");
        m.veths.push(veth.clone());
        let ifname = bridge::attach(
            &m.ns(n),
            &bridge::Attach {
                bridge: br.clone(),
                host_veth: veth,
                ip,
                prefix: 24,
                mac: net::ipam::mac_for(ip),
                gateway: Some(gw),
                ip6: None,
                gateway6: None,
            },
        )
        .unwrap();
        assert_eq!(ifname, "eth0");
        // Hairpin on the bridge port: a container reaches its own published ports.
        let hairpin =
            std::fs::read_to_string(format!("/sys/class/net/{br}{n}/brport/hairpin_mode")).unwrap();
        assert_eq!(hairpin.trim(), "1");
        ips.push(ip);
    }
    let addr = inside(&m.ns("a"), &["ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(
        String::from_utf8_lossy(&addr.stdout).contains(&format!("{}/24", ips[0])),
        "{addr:?}"
    );
    let route = inside(&m.ns("a"), &["ip", "route"]);
    assert!(
        String::from_utf8_lossy(&route.stdout).contains(&format!("default via {gw}")),
        "{route:?}"
    );
    let mac = inside(&m.ns("b"), &["ip", "-o", "link", "show", "eth0"]);
    let want = net::ipam::mac_string(&net::ipam::mac_for(ips[1]));
    assert!(
        String::from_utf8_lossy(&mac.stdout).contains(&format!("link/ether {want}")),
        "{mac:?}"
    );
    let ping = inside(
        &m.ns("a"),
        &[
            "/bin/busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            &ips[1].to_string(),
        ],
    );
    assert!(ping.status.success(), "a cannot reach b: {ping:?}");

    // Teardown: veths, namespaces and bridge go, and doing it twice is fine.
    for v in &m.veths {
        bridge::detach(v).unwrap();
        bridge::detach(v).unwrap();
        assert!(!link_exists(v));
    }
    for n in ["a", "b"] {
        netns::delete(&m.ns(n)).unwrap();
        netns::delete(&m.ns(n)).unwrap();
        assert!(!netns::exists(&m.ns(n)));
    }
    bridge::delete(&br).unwrap();
    bridge::delete(&br).unwrap();
    assert!(!link_exists(&br));
}

#[test]
fn a_failed_attach_leaves_no_link() {
    let (br, _) = unique();
    let br = format!("{br}x");
    let m = Made {
        dir: tempfile::tempdir().unwrap(),
        bridge: br.clone(),
        veths: vec![format!("{br}v")],
        tables: vec![],
    };
    netns::create(&m.ns("a")).unwrap();
    // No such bridge: the veth made inside must be gone again.
    let err = bridge::attach(
        &m.ns("a"),
        &bridge::Attach {
            bridge: br.clone(),
            host_veth: format!("{br}v"),
            ip: Ipv4Addr::new(10, 214, 0, 2),
            prefix: 24,
            mac: [2, 0x42, 10, 214, 0, 2],
            gateway: None,
            ip6: None,
            gateway6: None,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains(&br), "{err}");
    assert!(!link_exists(&format!("{br}v")));
    let links = inside(&m.ns("a"), &["ip", "-o", "link"]);
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains("eth0"),
        "{links:?}"
    );
}

#[test]
fn pooled_namespaces_are_plugged_in_and_leftovers_go() {
    let (br, _) = unique();
    let br = format!("{br}p");
    let m = Made {
        dir: tempfile::tempdir().unwrap(),
        bridge: br.clone(),
        veths: vec![format!("{br}v")],
        tables: vec![],
    };
    let gw = Ipv4Addr::new(10, 215, 0, 1);
    bridge::ensure(&br, Some(gw), 24, None).unwrap();
    let pool_dir = m.dir.path().join("pool");
    let pool = net::pool::Pool::new(pool_dir.clone(), 2);
    // Nothing is made before the first take.
    assert_eq!(pool.ready(), 0);
    assert!(pool.take().is_none());
    for _ in 0..100 {
        if pool.ready() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(pool.ready(), 2);
    let slot = pool.take().unwrap();
    assert!(link_exists(&slot.host_veth));
    let ns = m.ns("a");
    net::pool::adopt(&slot, &ns).unwrap();
    assert!(!slot.path.exists(), "the pool path goes");
    let ip = Ipv4Addr::new(10, 215, 0, 2);
    let ifname = bridge::attach_prepared(
        &ns,
        &slot.host_veth,
        &bridge::Attach {
            bridge: br.clone(),
            host_veth: format!("{br}v"),
            ip,
            prefix: 24,
            mac: net::ipam::mac_for(ip),
            gateway: Some(gw),
            ip6: None,
            gateway6: None,
        },
    )
    .unwrap();
    assert_eq!(ifname, "eth0");
    assert!(!link_exists(&slot.host_veth), "renamed");
    let master = Command::new("ip")
        .args(["-o", "link", "show", &format!("{br}v")])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&master.stdout).contains(&format!("master {br}")),
        "{master:?}"
    );
    let ping = inside(
        &ns,
        &[
            "/bin/busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            &gw.to_string(),
        ],
    );
    assert!(ping.status.success(), "no route to the gateway: {ping:?}");

    // A new pool on the same directory (a daemon after a crash) removes what it finds, and
    // the veth pairs go with their namespaces.
    for _ in 0..100 {
        if pool.ready() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The daemon's pool is lost without draining (a crash): its slots stay behind.
    let left: Vec<String> = std::fs::read_dir(&pool_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let out = inside(&p, &["ip", "-o", "link", "show", "eth0"]);
            String::from_utf8_lossy(&out.stdout).to_string()
        })
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    let veths: Vec<String> = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap()
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap().to_string())
        .filter(|n| n.starts_with(&format!("tp{:x}", std::process::id())))
        .collect();
    assert_eq!(veths.len(), 2, "{veths:?}");
    std::mem::forget(pool);
    let _again = net::pool::Pool::new(pool_dir.clone(), 2);
    assert_eq!(std::fs::read_dir(&pool_dir).unwrap().count(), 0);
    for _ in 0..100 {
        if veths.iter().all(|v| !link_exists(v)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for v in &veths {
        assert!(!link_exists(v), "{v} left");
    }
    let _ = netns::delete(&ns);
}
