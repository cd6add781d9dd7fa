//! What one container's network setup and teardown cost, step by step (root only):
//! `cargo run --release -p tug-net --example setup_cost [ROUNDS]`.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let br = format!("tsc{}", std::process::id() % 100000);
    let gw = Ipv4Addr::new(10, 253, 0, 1);
    net::bridge::ensure(&br, Some(gw), 24, None).expect("bridge");
    let dir = tempfile_dir();
    let mut t = [Duration::ZERO; 4];
    for i in 0..rounds {
        let ns = dir.join(format!("ns{i}"));
        let ip = Ipv4Addr::new(10, 253, 0, 2 + (i % 200) as u8);
        let veth = format!("{br}v{i}");
        let s = Instant::now();
        net::netns::create(&ns).expect("netns");
        t[0] += s.elapsed();
        let s = Instant::now();
        net::bridge::attach(
            &ns,
            &net::bridge::Attach {
                bridge: br.clone(),
                host_veth: veth.clone(),
                ip,
                prefix: 24,
                mac: net::ipam::mac_for(ip),
                gateway: Some(gw),
                ip6: None,
                gateway6: None,
            },
        )
        .expect("attach");
        t[1] += s.elapsed();
        let s = Instant::now();
        net::bridge::detach(&veth).expect("detach");
        t[2] += s.elapsed();
        let s = Instant::now();
        net::netns::delete(&ns).expect("delete");
        t[3] += s.elapsed();
    }
    let _ = net::bridge::delete(&br);
    let _ = std::fs::remove_dir_all(&dir);
    for (name, d) in [
        "netns create",
        "attach (veth, addr, route)",
        "detach veth",
        "netns delete",
    ]
    .iter()
    .zip(t)
    {
        println!(
            "{name:28} {:>8.3} ms",
            d.as_secs_f64() * 1000.0 / rounds as f64
        );
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tug-net-cost-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
