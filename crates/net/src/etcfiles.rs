//! The /etc/hosts, /etc/resolv.conf and /etc/hostname a container sees, written as Docker
//! writes them.

use std::net::Ipv4Addr;

const HOSTS_HEADER: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("invalid IP address in add-host: {0:?}")]
    BadExtraHost(String),
}

/// One `--add-host name:ip` entry ("host-gateway" is the network's gateway).
pub fn parse_extra_host(s: &str, gateway: Option<Ipv4Addr>) -> Result<(String, String), Error> {
    let bad = || Error::BadExtraHost(s.to_string());
    let (name, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(bad)?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if ip == "host-gateway" {
        return Ok((name.to_string(), gateway.ok_or_else(bad)?.to_string()));
    }
    if ip.parse::<std::net::IpAddr>().is_err() || name.is_empty() {
        return Err(bad());
    }
    Ok((name.to_string(), ip.to_string()))
}

/// /etc/hosts: localhost lines, the extra hosts, then the container's own address and names.
pub fn hosts(own: Option<(Ipv4Addr, &[String])>, extra: &[(String, String)]) -> String {
    let mut s = HOSTS_HEADER.to_string();
    for (name, ip) in extra {
        s += &format!("{ip}\t{name}\n");
    }
    if let Some((ip, names)) = own {
        s += &format!("{ip}\t{}\n", names.join(" "));
    }
    s
}

/// What resolv.conf is made from.
#[derive(Debug, Default, Clone)]
pub struct Resolv {
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl Resolv {
    /// Parse a resolv.conf file's text.
    pub fn parse(text: &str) -> Resolv {
        let mut r = Resolv::default();
        for line in text.lines() {
            let mut f = line.split_whitespace();
            match f.next() {
                Some("nameserver") => r.nameservers.extend(f.next().map(String::from)),
                Some("search") | Some("domain") => r.search = f.map(String::from).collect(),
                Some("options") => r.options.extend(f.map(String::from)),
                _ => {}
            }
        }
        r
    }

    /// The host's resolvers without loopback addresses (unreachable from a container), or
    /// Docker's public fallbacks when nothing is left.
    pub fn host_for_container(host: &Resolv) -> Resolv {
        let mut r = host.clone();
        r.nameservers.retain(|n| {
            n.parse::<std::net::IpAddr>()
                .map(|a| !a.is_loopback())
                .unwrap_or(false)
        });
        if r.nameservers.is_empty() {
            r.nameservers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
        }
        r
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        for n in &self.nameservers {
            s += &format!("nameserver {n}\n");
        }
        if !self.search.is_empty() {
            s += &format!("search {}\n", self.search.join(" "));
        }
        if !self.options.is_empty() {
            s += &format!("options {}\n", self.options.join(" "));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lists_extra_hosts_then_the_container() {
        let names = vec!["abc123".to_string(), "web".to_string()];
        let h = hosts(
            Some(("10.1.0.2".parse().unwrap(), &names)),
            &[("db".into(), "10.9.9.9".into())],
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.9.9.9\tdb\n10.1.0.2\tabc123 web\n"), "{h}");
    }

    #[test]
    fn extra_hosts_parse_both_forms_and_host_gateway() {
        let gw = Some("10.1.0.1".parse().unwrap());
        assert_eq!(
            parse_extra_host("db:10.0.0.9", gw).unwrap(),
            ("db".into(), "10.0.0.9".into())
        );
        assert_eq!(
            parse_extra_host("gw=host-gateway", gw).unwrap(),
            ("gw".into(), "10.1.0.1".into())
        );
        assert!(parse_extra_host("db:nope", gw).is_err());
    }

    #[test]
    fn loopback_resolvers_are_dropped() {
        let host = Resolv::parse("nameserver 127.0.0.53\nsearch example.org\noptions ndots:2\n");
        let r = Resolv::host_for_container(&host);
        assert_eq!(
            r.render(),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch example.org\noptions ndots:2\n"
        );
    }
}
