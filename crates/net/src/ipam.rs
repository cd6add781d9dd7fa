//! Address management: IPv4 and IPv6 subnets, gateways, ranges, the next free address, and
//! subnets for new networks that collide neither with each other nor with the host's routes.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("invalid subnet {0:?}: want an IPv4 CIDR such as 10.1.0.0/24")]
    BadSubnet(String),
    #[error("invalid address {0:?}")]
    BadAddress(String),
    #[error("{what} {addr} is not in subnet {subnet}")]
    Outside {
        what: &'static str,
        addr: String,
        subnet: String,
    },
    #[error("no available IPv4 addresses on this network's address pools: {0}")]
    Exhausted(Subnet),
    #[error("address {0} is already in use")]
    InUse(std::net::IpAddr),
    #[error("invalid IPv6 subnet {0:?}: want an IPv6 CIDR such as fd00:1::/64 (prefix 64 to 124)")]
    BadSubnet6(String),
    #[error("no available IPv6 addresses on this network's address pools: {0}")]
    Exhausted6(Subnet6),
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoPool,
    #[error("invalid pool request: Pool overlaps with other one on this address space")]
    Overlaps,
}

/// An IPv4 subnet in CIDR form; the address is the network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl serde::Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Subnet {
    type Err = Error;
    /// "10.1.0.0/24"; host bits are cleared as Docker does ("10.1.0.5/24" → 10.1.0.0/24).
    fn from_str(s: &str) -> Result<Subnet, Error> {
        let bad = || Error::BadSubnet(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 30 {
            return Err(bad());
        }
        Ok(Subnet::new(addr, prefix))
    }
}

impl Subnet {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Subnet {
        Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    fn first(&self) -> u32 {
        u32::from(self.addr)
    }

    fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    /// The first host address: Docker's default gateway.
    pub fn default_gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first() + 1)
    }

    /// Check that `ip` lies in this subnet, naming it `what` in the error.
    pub fn check(&self, what: &'static str, ip: Ipv4Addr) -> Result<(), Error> {
        if self.contains(ip) {
            Ok(())
        } else {
            Err(Error::Outside {
                what,
                addr: ip.to_string(),
                subnet: self.to_string(),
            })
        }
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

pub fn parse_ip(s: &str) -> Result<Ipv4Addr, Error> {
    s.parse().map_err(|_| Error::BadAddress(s.to_string()))
}

/// The lowest free host address of `range` (default: the whole subnet), skipping the network
/// and broadcast addresses and everything in `used` (which holds the gateway).
pub fn allocate(
    subnet: &Subnet,
    range: Option<&Subnet>,
    used: &BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr, Error> {
    let r = range.unwrap_or(subnet);
    let lo = r.first().max(subnet.first() + 1);
    let hi = r.last().min(subnet.last() - 1);
    (lo..=hi)
        .map(Ipv4Addr::from)
        .find(|ip| !used.contains(ip))
        .ok_or(Error::Exhausted(*subnet))
}

/// The host's IPv4 routes (destination subnets), from /proc/net/route.
pub fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines().skip(1).filter_map(parse_route_line).collect()
}

fn parse_route_line(line: &str) -> Option<Subnet> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let dst = u32::from_str_radix(f.get(1)?, 16).ok()?;
    let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
    if mask == 0 {
        return None; // the default route collides with nothing
    }
    // The file prints the address bytes as a native (little-endian) integer.
    Some(Subnet::new(
        Ipv4Addr::from(dst.to_le_bytes()),
        mask.count_ones() as u8,
    ))
}

/// Docker's default pools: 172.17–31.0.0/16, then 192.168.0–240.0/20. tug starts at 172.18 so
/// its default bridge stays clear of a Docker installation's docker0.
pub fn default_pools() -> impl Iterator<Item = Subnet> {
    let big = (18..=31).map(|b| Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let small = (0..16).map(|i| Subnet::new(Ipv4Addr::new(192, 168, i * 16, 0), 20));
    big.chain(small)
}

/// The first default pool overlapping neither `taken` nor the host's routes.
pub fn pick_subnet(taken: &[Subnet], routes: &[Subnet]) -> Result<Subnet, Error> {
    default_pools()
        .find(|p| !taken.iter().chain(routes).any(|t| t.overlaps(p)))
        .ok_or(Error::NoPool)
}

/// Docker's MAC for an address: 02:42 followed by the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An IPv6 subnet in CIDR form; the address is the network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet6 {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

impl std::fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl serde::Serialize for Subnet6 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Subnet6 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet6, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Subnet6 {
    type Err = Error;
    /// "fd00:1::/64"; host bits are cleared. Prefixes from /64 (SLAAC-sized, Docker's usual)
    /// to /124 are accepted.
    fn from_str(s: &str) -> Result<Subnet6, Error> {
        let bad = || Error::BadSubnet6(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv6Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if !(16..=124).contains(&prefix) {
            return Err(bad());
        }
        Ok(Subnet6::new(addr, prefix))
    }
}

fn mask6(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix as u32)
    }
}

impl Subnet6 {
    pub fn new(addr: Ipv6Addr, prefix: u8) -> Subnet6 {
        Subnet6 {
            addr: Ipv6Addr::from(u128::from(addr) & mask6(prefix)),
            prefix,
        }
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & mask6(self.prefix) == u128::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet6) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// The first address after the network address: Docker's default gateway.
    pub fn default_gateway(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) + 1)
    }

    pub fn check(&self, what: &'static str, ip: Ipv6Addr) -> Result<(), Error> {
        if self.contains(ip) {
            Ok(())
        } else {
            Err(Error::Outside {
                what,
                addr: ip.to_string(),
                subnet: self.to_string(),
            })
        }
    }

    /// A unique local /64 for a network without one: fd00::/8 followed by 40 bits of `seed`
    /// (the network's id) and a zero subnet id, as RFC 4193 suggests.
    pub fn ula_from(seed: &str) -> Subnet6 {
        let hex: String = seed
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .take(10)
            .collect();
        let global = u64::from_str_radix(&format!("{hex:0<10}"), 16).unwrap_or(0);
        let addr = (0xfdu128 << 120) | ((global as u128) << 80);
        Subnet6::new(Ipv6Addr::from(addr), 64)
    }
}

/// The lowest free address of `subnet` after its network address, skipping `used` (which
/// holds the gateway). Only the first 2^16 addresses are searched: plenty for one host.
pub fn allocate6(subnet: &Subnet6, used: &BTreeSet<Ipv6Addr>) -> Result<Ipv6Addr, Error> {
    let first = u128::from(subnet.addr);
    let last = first | !mask6(subnet.prefix);
    let hi = last.min(first + 0xffff);
    (first + 1..=hi)
        .map(Ipv6Addr::from)
        .find(|ip| !used.contains(ip))
        .ok_or(Error::Exhausted6(*subnet))
}

/// The host's IPv6 routes (destination subnets), from /proc/net/ipv6_route.
pub fn host_routes6() -> Vec<Subnet6> {
    let text = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    text.lines().filter_map(parse_route6_line).collect()
}

fn parse_route6_line(line: &str) -> Option<Subnet6> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let dst = u128::from_str_radix(f.first()?, 16).ok()?;
    let prefix = u8::from_str_radix(f.get(1)?, 16).ok()?;
    let dev = f.get(9).copied().unwrap_or("");
    // The default route, host routes, multicast and link-local ones collide with nothing.
    let addr = Ipv6Addr::from(dst);
    if prefix == 0 || prefix == 128 || dev == "lo" || addr.segments()[0] & 0xff00 == 0xff00 {
        return None;
    }
    if addr.segments()[0] & 0xffc0 == 0xfe80 {
        return None;
    }
    Some(Subnet6::new(addr, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Subnet {
        x.parse().unwrap()
    }

    #[test]
    fn subnets_parse_normalise_and_refuse_nonsense() {
        assert_eq!(s("10.1.0.5/24").to_string(), "10.1.0.0/24");
        for bad in ["10.1.0.0", "10.1.0.0/33", "x/24", "10.1.0.0/31", "::1/64"] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
        assert!(s("10.0.0.0/8").overlaps(&s("10.9.0.0/16")));
        assert!(!s("10.1.0.0/24").overlaps(&s("10.1.1.0/24")));
    }

    #[test]
    fn allocation_skips_network_gateway_used_and_broadcast() {
        let net = s("10.1.0.0/29");
        let mut used: BTreeSet<_> = [net.default_gateway()].into();
        let mut got = vec![];
        while let Ok(ip) = allocate(&net, None, &used) {
            used.insert(ip);
            got.push(ip.to_string());
        }
        assert_eq!(
            got,
            ["10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6"]
        );
        assert_eq!(allocate(&net, None, &used), Err(Error::Exhausted(net)));
    }

    #[test]
    fn allocation_stays_in_the_ip_range() {
        let net = s("10.2.0.0/16");
        let used = [net.default_gateway()].into();
        let ip = allocate(&net, Some(&s("10.2.5.0/24")), &used).unwrap();
        assert_eq!(ip.to_string(), "10.2.5.0");
    }

    #[test]
    fn picked_subnets_avoid_taken_pools_and_host_routes() {
        let p = pick_subnet(&[s("172.18.0.0/16")], &[s("172.19.3.0/24")]).unwrap();
        assert_eq!(p.to_string(), "172.20.0.0/16");
    }

    #[test]
    fn route_lines_are_little_endian_hex() {
        // 192.0.2.0/24 on eth0, as /proc/net/route prints it on x86.
        let l = "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0";
        assert_eq!(parse_route_line(l), Some(s("192.0.2.0/24")));
    }

    #[test]
    fn ipv6_subnets_parse_allocate_and_read_routes() {
        let n: Subnet6 = "fd00:1::5/64".parse().unwrap();
        assert_eq!(n.to_string(), "fd00:1::/64");
        for bad in [
            "fd00::",
            "fd00::/130",
            "10.0.0.0/24",
            "fd00::/8",
            "fd00::/126",
            "x/64",
        ] {
            assert!(bad.parse::<Subnet6>().is_err(), "{bad}");
        }
        let mut used: BTreeSet<_> = [n.default_gateway()].into();
        assert_eq!(n.default_gateway().to_string(), "fd00:1::1");
        let a = allocate6(&n, &used).unwrap();
        assert_eq!(a.to_string(), "fd00:1::2");
        used.insert(a);
        assert_eq!(allocate6(&n, &used).unwrap().to_string(), "fd00:1::3");
        let tiny: Subnet6 = "fd00:2::/124".parse().unwrap();
        let used: BTreeSet<_> = (1..=15)
            .map(|i| Ipv6Addr::from(u128::from(tiny.addr) + i))
            .collect();
        assert_eq!(allocate6(&tiny, &used), Err(Error::Exhausted6(tiny)));
        assert!(n.overlaps(&"fd00:1::/48".parse().unwrap()));
        assert!(!n.overlaps(&"fd00::/64".parse().unwrap()));
        let l = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0";
        assert_eq!(parse_route6_line(l), Some("fd00::/64".parse().unwrap()));
        let ula = Subnet6::ula_from("0123456789abcdef");
        assert_eq!(ula.to_string(), "fd01:2345:6789::/64");
    }

    #[test]
    fn macs_follow_docker() {
        assert_eq!(
            mac_string(&mac_for("172.18.0.2".parse().unwrap())),
            "02:42:ac:12:00:02"
        );
    }
}
