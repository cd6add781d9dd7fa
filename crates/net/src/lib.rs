//! tug's network layer: Linux bridges and veth pairs over netlink, network namespaces, IP
//! address management, firewall rules (nftables) for NAT, isolation and published ports, an
//! embedded DNS server per user-defined network, and the /etc files a container sees.
//!
//! Nothing here knows about containers or images: the engine passes names, addresses and
//! paths, and keeps the records.

pub mod bridge;
pub mod dns;
pub mod etcfiles;
pub mod firewall;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod pool;
pub mod ports;
