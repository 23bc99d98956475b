//! Filter: which side of a packet is the LAN device and which is the remote.
//!
//! Third step of the data path (capture → packet → **filter** → geo → table → snapshot → http).
//! A packet matters when exactly one end is a LAN host (not excluded) and the other end is
//! *remote*: outside the LAN networks and not special-purpose (the IANA special-purpose
//! registries: the `special-addrs` crate, one table shared with geodb), unless `--remote`
//! names it. The same networks also make the kernel BPF filter (`bpf_filter`), so that on a live capture most LAN↔LAN traffic never
//! reaches user space at all.

use crate::packet::{Addr, LinkType, PacketInfo};
use ipnet::IpNet;
use std::net::IpAddr;

/// Which way a counted packet went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// LAN host → remote.
    Out,
    /// remote → LAN host (counted only for remotes the LAN already talked to).
    In,
}

/// A packet between a LAN host and a (candidate) remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub direction: Direction,
    pub host: Addr,
    pub remote: Addr,
    /// Port on the remote side (destination port of outbound TCP/UDP).
    pub remote_port: Option<u16>,
}

impl Flow {
    /// The packet seen in `direction`: outbound, the source is the LAN host; inbound, the
    /// destination.
    #[inline(always)]
    pub fn of(p: &PacketInfo, direction: Direction) -> Flow {
        match direction {
            Direction::Out => Flow {
                direction,
                host: p.src,
                remote: p.dst,
                remote_port: p.ports.map(|(_, d)| d),
            },
            Direction::In => Flow {
                direction,
                host: p.dst,
                remote: p.src,
                remote_port: p.ports.map(|(s, _)| s),
            },
        }
    }
}

/// Global-unicast IPv6 space; everything outside it (::/128, ::1, ::ffff:0:0/96, 64:ff9b::/96,
/// 100::/64, fc00::/7, fe80::/10, ff00::/8, ...) is special.
fn is_global_unicast_v6(ip: &std::net::Ipv6Addr) -> bool {
    ip.segments()[0] & 0xe000 == 0x2000
}

/// A set of networks as (address, mask) integers over [`Addr`] (IPv4 networks in their
/// IPv4-mapped form): the per-packet membership test is one AND and one compare per network,
/// with no enum matching or mask computation, and one loop for both families.
#[derive(Debug, Clone, Default)]
struct PrefixSet {
    nets: Vec<(u128, u128)>,
}

impl PrefixSet {
    fn new(nets: &[IpNet]) -> PrefixSet {
        let nets = nets
            .iter()
            .map(|n| {
                // IPv4 /len is ::ffff:0:0/(96 + len) in the mapped space.
                let (bits, len) = match n {
                    IpNet::V4(n) => (
                        Addr::from(IpAddr::V4(n.network())).bits(),
                        96 + n.prefix_len(),
                    ),
                    IpNet::V6(n) => (u128::from(n.network()), n.prefix_len()),
                };
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                (bits & mask, mask)
            })
            .collect();
        PrefixSet { nets }
    }

    #[inline(always)]
    fn contains(&self, a: Addr) -> bool {
        let a = a.bits();
        for &(net, mask) in &self.nets {
            if a & mask == net {
                return true;
            }
        }
        false
    }
}

/// The address plan connmap works with: LAN networks, forced-remote networks, excluded hosts.
#[derive(Debug, Clone)]
pub struct Networks {
    lan: Vec<IpNet>,
    lan_set: PrefixSet,
    remote: PrefixSet,
    exclude: PrefixSet,
    /// The special-purpose blocks (`special()`), looked up once here rather than through the
    /// `OnceLock` at every new remote.
    special: &'static Special,
}

impl Networks {
    pub fn new(lan: Vec<IpNet>, remote: Vec<IpNet>, exclude: Vec<IpNet>) -> Networks {
        let trunc = |v: Vec<IpNet>| v.into_iter().map(|n| n.trunc()).collect::<Vec<_>>();
        let lan = trunc(lan);
        Networks {
            lan_set: PrefixSet::new(&lan),
            lan,
            remote: PrefixSet::new(&trunc(remote)),
            exclude: PrefixSet::new(&trunc(exclude)),
            special: special(),
        }
    }

    pub fn lan(&self) -> &[IpNet] {
        &self.lan
    }

    #[inline(always)]
    pub fn is_lan(&self, ip: Addr) -> bool {
        self.lan_set.contains(ip)
    }

    #[inline(always)]
    fn is_excluded(&self, ip: Addr) -> bool {
        self.exclude.contains(ip)
    }

    /// Special-purpose: never a remote unless `--remote` says so.
    pub fn is_special(ip: IpAddr) -> bool {
        match ip {
            IpAddr::V6(v6) if !is_global_unicast_v6(&v6) => true,
            _ => special().contains(Addr::from(ip)),
        }
    }

    /// A LAN device connmap counts: inside the LAN networks and not excluded.
    pub fn is_host(&self, ip: Addr) -> bool {
        self.is_lan(ip) && !self.is_excluded(ip)
    }

    /// Could `ip` be a remote? Called once per new remote, not per packet.
    pub fn is_remote(&self, ip: Addr) -> bool {
        if self.is_lan(ip) {
            return false;
        }
        // `--remote` overrides the special-purpose blocks: asked first, it spares their walk
        if self.remote.contains(ip) {
            return true;
        }
        // (an `Addr` that is IPv6 is never IPv4-mapped: IPv6 outside 2000::/3 is special)
        if ip.is_ipv6() {
            ip.bits() >> 125 == 1 && !self.special.contains(ip)
        } else {
            !self.special.contains(ip)
        }
    }

    /// Sorts a packet into outbound / inbound / not ours. Cheap: a few prefix compares. The
    /// remote side is only *checked* for being remote by the caller, when it is new.
    #[inline(always)]
    pub fn classify(&self, p: &PacketInfo) -> Option<Flow> {
        let direction = match (self.is_lan(p.src), self.is_lan(p.dst)) {
            (true, false) => Direction::Out,
            (false, true) => Direction::In,
            _ => return None,
        };
        let flow = Flow::of(p, direction);
        (!self.is_excluded(flow.host)).then_some(flow)
    }

    /// The kernel filter: IP packets with exactly one end inside the LAN networks (and, on
    /// Ethernet, the same inside one or two VLAN tags). Without LAN networks, all IP.
    /// pcap-filter gives `and` and `or` the same precedence: every group is parenthesised.
    pub fn bpf_filter(&self, link: LinkType) -> String {
        if self.lan.is_empty() {
            return "ip or ip6".to_string();
        }
        let nets = |dir: &str| {
            self.lan
                .iter()
                .map(|n| format!("{dir} net {n}"))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        let (src, dst) = (nets("src"), nets("dst"));
        let one =
            format!("((ip or ip6) and (((({src}) and not ({dst})) or (({dst}) and not ({src})))))");
        if link != LinkType::Ethernet {
            return one;
        }
        // `vlan` shifts the offsets of everything after it: the usual idiom repeats the test.
        format!("{one} or (vlan and ({one} or (vlan and {one})))")
    }
}

/// The special-purpose blocks as one prefix set, and the first octets that begin an IPv4
/// block: most IPv4 addresses are cleared by one bit test instead of a walk over all blocks.
#[derive(Debug)]
struct Special {
    set: PrefixSet,
    v4_first_octets: [u64; 4],
}

impl Special {
    fn contains(&self, a: Addr) -> bool {
        if a.is_ipv4() {
            let first = (a.bits() >> 24) as u8;
            if self.v4_first_octets[usize::from(first >> 6)] & (1 << (first & 63)) == 0 {
                return false;
            }
        }
        self.set.contains(a)
    }
}

/// The tables above, parsed once (they are constants: a parse failure is a bug caught by tests).
fn special() -> &'static Special {
    static SPECIAL: std::sync::OnceLock<Special> = std::sync::OnceLock::new();
    SPECIAL.get_or_init(|| {
        // one table with the geodb tool: the `special-addrs` crate (IANA registries)
        let v4 = special_addrs::V4.iter().filter_map(|b| {
            ipnet::Ipv4Net::new(b.addr.into(), b.len)
                .ok()
                .map(IpNet::V4)
        });
        let v6 = special_addrs::V6.iter().filter_map(|b| {
            ipnet::Ipv6Net::new(b.addr.into(), b.len)
                .ok()
                .map(IpNet::V6)
        });
        let nets: Vec<IpNet> = v4.chain(v6).collect();
        let mut v4_first_octets = [0u64; 4];
        for n in &nets {
            if let IpNet::V4(n) = n {
                // a /len with len < 8 spans several first octets
                let lo = n.network().octets()[0];
                let hi = n.broadcast().octets()[0];
                for o in lo..=hi {
                    v4_first_octets[usize::from(o >> 6)] |= 1 << (o & 63);
                }
            }
        }
        Special {
            set: PrefixSet::new(&nets),
            v4_first_octets,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets() -> Networks {
        Networks::new(
            vec![
                "192.168.1.0/24".parse().unwrap(),
                "fd00:1::/64".parse().unwrap(),
            ],
            vec!["198.51.100.0/24".parse().unwrap()],
            vec!["192.168.1.1/32".parse().unwrap()],
        )
    }

    fn pkt(src: &str, dst: &str) -> PacketInfo {
        PacketInfo {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            protocol: 6,
            ports: Some((50000, 443)),
            src_mac: None,
            l4_at: 0,
            ip_at: 0,
        }
    }

    #[test]
    fn special_purpose() {
        for ip in [
            "10.1.2.3",
            "172.20.0.1",
            "192.168.5.5",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "224.0.0.251",
            "255.255.255.255",
            "240.0.0.1",
            "0.1.2.3",
            "192.0.2.1",
            "198.18.0.1",
            "203.0.113.9",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::fb",
            "2001:db8::1",
            "::ffff:8.8.8.8",
            "2002:c000:0204::1",
            "2001::1",
            "3fff::1",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.99.1",
            "192.175.48.1",
            "2620:4f:8000::1",
        ] {
            assert!(Networks::is_special(ip.parse().unwrap()), "{ip}");
        }
        let plain = Networks::new(vec!["192.168.1.0/24".parse().unwrap()], vec![], vec![]);
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "151.101.1.140",
            "2001:4860:4860::8888",
            "2a00::1",
        ] {
            assert!(!Networks::is_special(ip.parse().unwrap()), "{ip}");
            assert!(plain.is_remote(ip.parse().unwrap()), "{ip}");
        }
        // is_remote's own test on `Addr`s agrees (an IPv4-mapped address is no `Addr`)
        for ip in [
            "10.1.2.3",
            "224.0.0.251",
            "240.0.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
        ] {
            assert!(!plain.is_remote(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "ff02::fb",
            "2001:db8::1",
            "2002:c000:0204::1",
            "2001::1",
            "3fff::1",
            "::",
        ] {
            assert!(!plain.is_remote(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn classify_directions() {
        let n = nets();
        let out = n.classify(&pkt("192.168.1.10", "1.1.1.1")).unwrap();
        assert_eq!(out.direction, Direction::Out);
        assert_eq!(out.remote_port, Some(443));
        let inn = n.classify(&pkt("1.1.1.1", "192.168.1.10")).unwrap();
        assert_eq!(inn.direction, Direction::In);
        assert_eq!(inn.host, "192.168.1.10".parse::<IpAddr>().unwrap());
        assert_eq!(inn.remote_port, Some(50000));
        // LAN↔LAN, WAN↔WAN and the excluded router are not flows.
        assert!(n.classify(&pkt("192.168.1.10", "192.168.1.11")).is_none());
        assert!(n.classify(&pkt("1.1.1.1", "8.8.8.8")).is_none());
        assert!(n.classify(&pkt("192.168.1.1", "1.1.1.1")).is_none());
    }

    #[test]
    fn remote_overrides() {
        let n = nets();
        assert!(n.is_remote("198.51.100.7".parse().unwrap()));
        assert!(!n.is_remote("203.0.113.7".parse().unwrap()));
        assert!(!n.is_remote("192.168.1.50".parse().unwrap()));
        assert!(n.is_remote("9.9.9.9".parse().unwrap()));
    }

    #[test]
    fn bpf_text() {
        let f = nets().bpf_filter(LinkType::Ethernet);
        assert!(f.contains("((src net 192.168.1.0/24 or src net fd00:1::/64) and not (dst net"));
        assert!(f.contains("vlan and"));
        assert!(!nets().bpf_filter(LinkType::LinuxSll).contains("vlan"));
        assert_eq!(
            Networks::new(vec![], vec![], vec![]).bpf_filter(LinkType::Ethernet),
            "ip or ip6"
        );
    }

    #[test]
    fn special_tables_parse() {
        assert_eq!(
            special().set.nets.len(),
            special_addrs::V4.len() + special_addrs::V6.len()
        );
    }

    #[test]
    fn the_first_octet_test_agrees_with_the_prefix_walk() {
        let s = special();
        for first in 0..=255u8 {
            for rest in [
                [0, 0, 0],
                [1, 2, 3],
                [255, 255, 255],
                [88, 99, 0],
                [18, 0, 1],
            ] {
                let a = Addr::from_v4_bytes([first, rest[0], rest[1], rest[2]]);
                assert_eq!(s.contains(a), s.set.contains(a), "{a}");
            }
        }
    }
}
