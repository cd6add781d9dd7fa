//! The embedded DNS server of a user-defined network: it listens on the network's gateway
//! address over UDP and TCP, answers A queries for names the engine knows on that network
//! (containers, aliases, short ids), and relays every other query to the resolvers chosen
//! for the asking container (its `--dns` servers, else the host's). Local answers too big
//! for a UDP reply are truncated with the TC bit set, so that clients ask again over TCP.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Names → addresses, asked per query (the engine's records are the truth).
pub type Lookup = Arc<dyn Fn(&str) -> Option<Vec<IpAddr>> + Send + Sync>;

/// The resolvers other names go to, by the address of the client asking.
pub type Upstreams = Arc<dyn Fn(IpAddr) -> Vec<SocketAddr> + Send + Sync>;

/// A running server; dropping it stops it.
pub struct DnsServer {
    stop: Arc<AtomicBool>,
    pub addr: SocketAddrV4,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the TCP accept loop so that it sees the flag and closes its socket.
        let _ = TcpStream::connect_timeout(&self.addr.into(), Duration::from_millis(100));
    }
}

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
const TTL: u32 = 600;
/// The largest UDP reply to a client that does not announce more with EDNS.
const UDP_MAX: usize = 512;

struct Shared {
    lookup: Lookup,
    upstreams: Upstreams,
    stop: Arc<AtomicBool>,
}

impl DnsServer {
    /// Listen on `addr` (UDP and TCP) until dropped.
    pub fn start(
        addr: SocketAddrV4,
        lookup: Lookup,
        upstreams: Upstreams,
    ) -> std::io::Result<DnsServer> {
        let sock = UdpSocket::bind(addr)?;
        sock.set_read_timeout(Some(Duration::from_millis(200)))?;
        let tcp = TcpListener::bind(addr)?;
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            lookup,
            upstreams,
            stop: stop.clone(),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name(format!("dns {addr}"))
            .spawn(move || serve_udp(sock, s))?;
        std::thread::Builder::new()
            .name(format!("dns tcp {addr}"))
            .spawn(move || serve_tcp(tcp, shared))?;
        Ok(DnsServer { stop, addr })
    }
}

fn serve_udp(sock: UdpSocket, s: Arc<Shared>) {
    let mut buf = [0u8; 4096];
    while !s.stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let q = &buf[..n];
        let Some(question) = parse_question(q) else {
            continue;
        };
        if let Some(ips) = (s.lookup)(&question.name) {
            let r = truncate(answer(q, &question, &ips), udp_limit(q, &question));
            let _ = sock.send_to(&r, from);
            continue;
        }
        let (Ok(reply), q) = (sock.try_clone(), q.to_vec()) else {
            continue;
        };
        let up = (s.upstreams)(from.ip());
        std::thread::spawn(move || {
            let resp = forward_udp(&q, &up).unwrap_or_else(|| servfail(&q));
            let _ = reply.send_to(&resp, from);
        });
    }
}

fn serve_tcp(listener: TcpListener, s: Arc<Shared>) {
    for conn in listener.incoming() {
        if s.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else { continue };
        let s = s.clone();
        std::thread::spawn(move || serve_conn(conn, &s));
    }
}

/// One TCP client: length-prefixed queries until it closes or idles for 10 s.
fn serve_conn(mut conn: TcpStream, s: &Shared) {
    let Ok(peer) = conn.peer_addr() else { return };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    while let Some(q) = read_msg(&mut conn) {
        let resp = match parse_question(&q) {
            None => continue,
            Some(question) => match (s.lookup)(&question.name) {
                Some(ips) => answer(&q, &question, &ips),
                None => forward_tcp(&q, &(s.upstreams)(peer.ip())).unwrap_or_else(|| servfail(&q)),
            },
        };
        if write_msg(&mut conn, &resp).is_err() || s.stop.load(Ordering::SeqCst) {
            return;
        }
    }
}

fn read_msg(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    conn.read_exact(&mut len).ok()?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    conn.read_exact(&mut msg).ok()?;
    Some(msg)
}

fn write_msg(conn: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(msg.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&msg[..len as usize]);
    conn.write_all(&out)
}

/// The first question of a query.
#[derive(Debug, PartialEq, Eq)]
pub struct Question {
    /// Lower-case, without the trailing dot.
    pub name: String,
    pub qtype: u16,
    /// Where the question ends in the packet.
    pub end: usize,
}

pub fn parse_question(p: &[u8]) -> Option<Question> {
    if p.len() < 12 || p[2] & 0x80 != 0 || u16::from_be_bytes([p[4], p[5]]) == 0 {
        return None;
    }
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *p.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // compression is not used in questions
        }
        labels.push(String::from_utf8_lossy(p.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]);
    Some(Question {
        name: labels.join("."),
        qtype,
        end: at + 4,
    })
}

/// The reply to `query`: A records for the IPv4 addresses of `ips`, AAAA records for the
/// IPv6 ones (none for other types: the name exists).
pub fn answer(query: &[u8], q: &Question, ips: &[IpAddr]) -> Vec<u8> {
    let records: Vec<Vec<u8>> = ips
        .iter()
        .filter_map(|ip| match ip {
            IpAddr::V4(v4) if q.qtype == TYPE_A => Some(v4.octets().to_vec()),
            IpAddr::V6(v6) if q.qtype == TYPE_AAAA => Some(v6.octets().to_vec()),
            _ => None,
        })
        .collect();
    let mut r = query[..q.end.min(query.len())].to_vec();
    r[2] = 0x80 | (query[2] & 0x01) | 0x04; // response, authoritative, copy RD
    r[3] = 0x80; // recursion available, NOERROR
    r[4..6].copy_from_slice(&1u16.to_be_bytes());
    r[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    r[8..12].fill(0);
    for data in records {
        r.extend_from_slice(&[0xc0, 0x0c]);
        r.extend_from_slice(&q.qtype.to_be_bytes());
        r.extend_from_slice(&CLASS_IN.to_be_bytes());
        r.extend_from_slice(&TTL.to_be_bytes());
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend_from_slice(&data);
    }
    r
}

/// The UDP reply size a query allows: 512 bytes, or what its EDNS record announces.
pub fn udp_limit(query: &[u8], q: &Question) -> usize {
    let ar = u16::from_be_bytes([query[10], query[11]]);
    // An OPT record right after the question: root name, type, then the size as its class.
    let at = q.end;
    if ar > 0 && query.get(at) == Some(&0) {
        if let (Some(t), Some(c)) = (query.get(at + 1..at + 3), query.get(at + 3..at + 5)) {
            if u16::from_be_bytes([t[0], t[1]]) == TYPE_OPT {
                return (u16::from_be_bytes([c[0], c[1]]) as usize).clamp(UDP_MAX, 4096);
            }
        }
    }
    UDP_MAX
}

/// A reply of ours cut to `max` bytes: whole A records dropped from the end, TC set.
pub fn truncate(mut r: Vec<u8>, max: usize) -> Vec<u8> {
    if r.len() <= max {
        return r;
    }
    // Our answers are fixed-size (16 bytes each) after the question.
    let answers = u16::from_be_bytes([r[6], r[7]]) as usize;
    let head = r.len() - answers * 16;
    let keep = max.saturating_sub(head) / 16;
    r.truncate(head + keep * 16);
    r[6..8].copy_from_slice(&(keep as u16).to_be_bytes());
    r[2] |= 0x02;
    r
}

fn servfail(query: &[u8]) -> Vec<u8> {
    let mut r = query.to_vec();
    if r.len() >= 4 {
        r[2] = 0x80 | (query[2] & 0x01);
        r[3] = 0x82;
    }
    r
}

/// Relay a query over UDP to the first upstream that answers.
fn forward_udp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let local: SocketAddr = match up {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let Ok(s) = UdpSocket::bind(local) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.send_to(query, up).is_err() {
            continue;
        }
        let mut buf = [0u8; 4096];
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

/// Relay a query over TCP (a client asking again after a truncated reply).
fn forward_tcp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let Ok(mut s) = TcpStream::connect_timeout(up, Duration::from_secs(2)) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if write_msg(&mut s, query).is_ok() {
            if let Some(r) = read_msg(&mut s) {
                return Some(r);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    #[test]
    fn a_queries_are_answered_from_the_lookup_over_udp() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = match sock.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        drop(sock);
        let lookup: Lookup =
            Arc::new(|n: &str| (n == "web").then(|| vec![Ipv4Addr::new(10, 3, 0, 2).into()]));
        let _srv = DnsServer::start(addr, lookup, Arc::new(|_| vec![])).unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send_to(&query("WEB", TYPE_A), addr).unwrap();
        let mut buf = [0u8; 512];
        let n = c.recv(&mut buf).unwrap();
        let r = &buf[..n];
        assert_eq!(&r[0..2], &[0x12, 0x34]);
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        assert_eq!(&r[n - 4..], &[10, 3, 0, 2]);
        // Unknown names with no upstream: SERVFAIL.
        c.send_to(&query("elsewhere", TYPE_A), addr).unwrap();
        let n = c.recv(&mut buf).unwrap();
        assert_eq!(buf[3] & 0x0f, 2);
        assert!(n >= 12);
    }

    fn free_addr() -> SocketAddrV4 {
        // A port free for both UDP and TCP (other tests run at once: try again when the TCP
        // side of a free UDP port is taken).
        for _ in 0..100 {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let a = match sock.local_addr().unwrap() {
                SocketAddr::V4(a) => a,
                _ => unreachable!(),
            };
            if TcpListener::bind(a).is_ok() {
                return a;
            }
        }
        panic!("no port free for both UDP and TCP on 127.0.0.1")
    }

    fn tcp_ask(addr: SocketAddrV4, q: &[u8]) -> Vec<u8> {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write_msg(&mut c, q).unwrap();
        read_msg(&mut c).expect("a TCP reply")
    }

    #[test]
    fn big_answers_are_truncated_over_udp_and_whole_over_tcp() {
        let addr = free_addr();
        let many: Vec<IpAddr> = (1..=60)
            .map(|i| Ipv4Addr::new(10, 4, 0, i).into())
            .collect();
        let lookup: Lookup = Arc::new(move |n: &str| (n == "many").then(|| many.clone()));
        let _srv = DnsServer::start(addr, lookup, Arc::new(|_| vec![])).unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send_to(&query("many", TYPE_A), addr).unwrap();
        let mut buf = [0u8; 4096];
        let n = c.recv(&mut buf).unwrap();
        assert!(n <= 512, "{n} bytes over UDP");
        assert_ne!(buf[2] & 0x02, 0, "TC set");
        let kept = u16::from_be_bytes([buf[6], buf[7]]) as usize;
        assert!(kept > 0 && kept < 60, "{kept}");
        assert_eq!(n, 12 + "many".len() + 2 + 4 + kept * 16);

        // With EDNS announcing 4096 bytes, everything fits.
        let mut q = query("many", TYPE_A);
        q[11] = 1;
        q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        c.send_to(&q, addr).unwrap();
        c.recv(&mut buf).unwrap();
        assert_eq!(buf[2] & 0x02, 0);
        assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), 60);

        // Over TCP (two queries on one connection): all 60, no TC.
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for _ in 0..2 {
            write_msg(&mut conn, &query("many", TYPE_A)).unwrap();
            let r = read_msg(&mut conn).unwrap();
            assert_eq!(r[2] & 0x02, 0);
            assert_eq!(u16::from_be_bytes([r[6], r[7]]), 60);
            assert_eq!(&r[r.len() - 4..], &[10, 4, 0, 60]);
        }
    }

    /// A fake upstream answering every query (UDP and TCP) with `ip`.
    fn fake_upstream(ip: [u8; 4]) -> SocketAddr {
        let addr = SocketAddr::V4(free_addr());
        let udp = UdpSocket::bind(addr).unwrap();
        let tcp = TcpListener::bind(addr).unwrap();
        std::thread::spawn(move || loop {
            let mut buf = [0u8; 512];
            let Ok((n, from)) = udp.recv_from(&mut buf) else {
                return;
            };
            let q = parse_question(&buf[..n]).unwrap();
            let _ = udp.send_to(&answer(&buf[..n], &q, &[Ipv4Addr::from(ip).into()]), from);
        });
        std::thread::spawn(move || {
            for mut c in tcp.incoming().flatten() {
                let q = read_msg(&mut c).unwrap();
                let parsed = parse_question(&q).unwrap();
                let _ = write_msg(&mut c, &answer(&q, &parsed, &[Ipv4Addr::from(ip).into()]));
            }
        });
        addr
    }

    #[test]
    fn other_names_go_to_the_upstreams_of_the_client() {
        let addr = free_addr();
        let mine = fake_upstream([192, 0, 2, 7]);
        let lookup: Lookup = Arc::new(|_: &str| None);
        // Clients from 127.0.0.1 have their own resolver; nobody else has any.
        let ups: Upstreams = Arc::new(move |ip: IpAddr| {
            if ip == IpAddr::from([127, 0, 0, 1]) {
                vec![mine]
            } else {
                vec![]
            }
        });
        let _srv = DnsServer::start(addr, lookup, ups).unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send_to(&query("ext.example", TYPE_A), addr).unwrap();
        let mut buf = [0u8; 512];
        let n = c.recv(&mut buf).unwrap();
        assert_eq!(&buf[n - 4..n], &[192, 0, 2, 7]);
        let r = tcp_ask(addr, &query("ext.example", TYPE_A));
        assert_eq!(&r[r.len() - 4..], &[192, 0, 2, 7]);
        // From another address: no upstream, SERVFAIL.
        let other = UdpSocket::bind("127.0.0.2:0").unwrap();
        other
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        other.send_to(&query("ext.example", TYPE_A), addr).unwrap();
        other.recv(&mut buf).unwrap();
        assert_eq!(buf[3] & 0x0f, 2);
    }

    #[test]
    fn other_types_of_known_names_get_an_empty_answer() {
        let q = query("web", TYPE_AAAA);
        let parsed = parse_question(&q).unwrap();
        let r = answer(&q, &parsed, &[Ipv4Addr::new(10, 3, 0, 2).into()]);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);
        assert_eq!(r.len(), q.len());
        let q = query("web", 16); // TXT
        let parsed = parse_question(&q).unwrap();
        let both: [IpAddr; 2] = [
            Ipv4Addr::new(10, 3, 0, 2).into(),
            "fd00:1::2".parse::<std::net::Ipv6Addr>().unwrap().into(),
        ];
        let r = answer(&q, &parsed, &both);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);
    }

    #[test]
    fn aaaa_queries_get_the_ipv6_addresses_only() {
        let both: [IpAddr; 2] = [
            Ipv4Addr::new(10, 3, 0, 2).into(),
            "fd00:1::2".parse::<std::net::Ipv6Addr>().unwrap().into(),
        ];
        let q = query("web", TYPE_AAAA);
        let r = answer(&q, &parsed_or_panic(&q), &both);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        let IpAddr::V6(v6) = both[1] else {
            unreachable!()
        };
        assert_eq!(&r[r.len() - 16..], &v6.octets());
        assert_eq!(&r[r.len() - 26..r.len() - 24], &TYPE_AAAA.to_be_bytes());
        let q = query("web", TYPE_A);
        let r = answer(&q, &parsed_or_panic(&q), &both);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        assert_eq!(&r[r.len() - 4..], &[10, 3, 0, 2]);
    }

    fn parsed_or_panic(q: &[u8]) -> Question {
        parse_question(q).unwrap()
    }

    #[test]
    fn responses_and_truncated_packets_are_not_questions() {
        let mut q = query("web", 1);
        assert!(parse_question(&q[..14]).is_none());
        q[2] |= 0x80;
        assert!(parse_question(&q).is_none());
    }
}
