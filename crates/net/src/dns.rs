//! The embedded DNS server of a user-defined network: it listens on the network's gateway
//! address, answers A queries for names the engine knows on that network (containers,
//! aliases, short ids), and relays every other query to the host's resolvers.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Names → addresses, asked per query (the engine's records are the truth).
pub type Lookup = Arc<dyn Fn(&str) -> Option<Vec<Ipv4Addr>> + Send + Sync>;

/// A running server; dropping it stops it.
pub struct DnsServer {
    stop: Arc<AtomicBool>,
    pub addr: SocketAddrV4,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
const TTL: u32 = 600;

impl DnsServer {
    /// Listen on `addr` (UDP) until dropped.
    pub fn start(
        addr: SocketAddrV4,
        lookup: Lookup,
        upstreams: Vec<SocketAddr>,
    ) -> std::io::Result<DnsServer> {
        let sock = UdpSocket::bind(addr)?;
        sock.set_read_timeout(Some(Duration::from_millis(200)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let upstreams = Arc::new(upstreams);
        std::thread::Builder::new()
            .name(format!("dns {addr}"))
            .spawn(move || serve(sock, lookup, upstreams, flag))?;
        Ok(DnsServer { stop, addr })
    }
}

fn serve(sock: UdpSocket, lookup: Lookup, upstreams: Arc<Vec<SocketAddr>>, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let q = &buf[..n];
        let Some(question) = parse_question(q) else {
            continue;
        };
        if let Some(ips) = lookup(&question.name) {
            let _ = sock.send_to(&answer(q, &question, &ips), from);
            continue;
        }
        let (Ok(reply), q) = (sock.try_clone(), q.to_vec()) else {
            continue;
        };
        let up = upstreams.clone();
        std::thread::spawn(move || {
            let resp = forward(&q, &up).unwrap_or_else(|| servfail(&q));
            let _ = reply.send_to(&resp, from);
        });
    }
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

/// The reply to `query`: A records for `ips` (none for other types: the name exists).
pub fn answer(query: &[u8], q: &Question, ips: &[Ipv4Addr]) -> Vec<u8> {
    let ips: &[Ipv4Addr] = if q.qtype == TYPE_A { ips } else { &[] };
    let mut r = query[..q.end.min(query.len())].to_vec();
    r[2] = 0x80 | (query[2] & 0x01) | 0x04; // response, authoritative, copy RD
    r[3] = 0x80; // recursion available, NOERROR
    r[4..6].copy_from_slice(&1u16.to_be_bytes());
    r[6..8].copy_from_slice(&(ips.len() as u16).to_be_bytes());
    r[8..12].fill(0);
    for ip in ips {
        r.extend_from_slice(&[0xc0, 0x0c]);
        r.extend_from_slice(&TYPE_A.to_be_bytes());
        r.extend_from_slice(&CLASS_IN.to_be_bytes());
        r.extend_from_slice(&TTL.to_be_bytes());
        r.extend_from_slice(&4u16.to_be_bytes());
        r.extend_from_slice(&ip.octets());
    }
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

/// Relay a query to the first upstream that answers.
fn forward(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let Ok(s) = UdpSocket::bind(("0.0.0.0", 0)) else {
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
            Arc::new(|n: &str| (n == "web").then(|| vec![Ipv4Addr::new(10, 3, 0, 2)]));
        let _srv = DnsServer::start(addr, lookup, vec![]).unwrap();
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

    #[test]
    fn other_types_of_known_names_get_an_empty_answer() {
        let q = query("web", 28);
        let parsed = parse_question(&q).unwrap();
        let r = answer(&q, &parsed, &[Ipv4Addr::new(10, 3, 0, 2)]);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);
        assert_eq!(r.len(), q.len());
    }

    #[test]
    fn responses_and_truncated_packets_are_not_questions() {
        let mut q = query("web", 1);
        assert!(parse_question(&q[..14]).is_none());
        q[2] |= 0x80;
        assert!(parse_question(&q).is_none());
    }
}
