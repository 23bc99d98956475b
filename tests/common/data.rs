//! Test data shared by the end-to-end tests and `examples/fixtures.rs`: capture files
//! written through the real libpcap (pcapng by hand, following the spec), frames built with
//! etherparse, and MaxMind databases written with the real writer in both schemas.
//!
//! Public addresses appear only inside these files; nothing is ever sent anywhere.
#![allow(dead_code)]

#[path = "payloads.rs"]
pub mod payloads;
pub use payloads::*;

// the database record schema, one place with the demo's world database
#[path = "../../src/demo/record.rs"]
mod record;

use etherparse::PacketBuilder;
use std::net::IpAddr;
use std::path::Path;

pub const LAN4: &str = "192.168.1.0/24";
pub const LAN6: &str = "fd00:1::/64";
pub const ROUTER: &str = "192.168.1.1";
pub const MAC_LAPTOP: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];
pub const MAC_PHONE: [u8; 6] = [0x02, 0, 0, 0, 0, 0x11];
pub const MAC_ROUTER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const LAPTOP: &str = "192.168.1.10";
pub const PHONE: &str = "192.168.1.11";
pub const LAPTOP6: &str = "fd00:1::10";
pub const T0: u64 = 1_764_000_000;

/// One frame of a capture file.
#[derive(Clone)]
pub struct Rec {
    pub ts: u64,
    pub wire_len: u32,
    pub data: Vec<u8>,
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An Ethernet frame, TCP/UDP/ICMP, `payload` bytes of payload on the wire (only 32 kept).
// A frame is exactly these eight facts; the call sites read like tcpdump lines.
#[allow(clippy::too_many_arguments)]
pub fn eth(
    smac: [u8; 6],
    dmac: [u8; 6],
    src: &str,
    dst: &str,
    proto: u8,
    sport: u16,
    dport: u16,
    payload: usize,
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(smac, dmac);
    let (s, d) = (ip(src), ip(dst));
    let body = vec![0x5a; payload];
    let mut out = Vec::new();
    let ipb = match (s, d) {
        (IpAddr::V4(a), IpAddr::V4(b2)) => b.ipv4(a.octets(), b2.octets(), 64),
        (IpAddr::V6(a), IpAddr::V6(b2)) => b.ipv6(a.octets(), b2.octets(), 64),
        _ => panic!("mixed families"),
    };
    match proto {
        6 => ipb
            .tcp(sport, dport, 1, 1000)
            .write(&mut out, &body)
            .unwrap(),
        17 => ipb.udp(sport, dport).write(&mut out, &body).unwrap(),
        _ if s.is_ipv4() => ipb
            .icmpv4_echo_request(1, 1)
            .write(&mut out, &body)
            .unwrap(),
        _ => ipb
            .icmpv6_echo_request(1, 1)
            .write(&mut out, &body)
            .unwrap(),
    }
    out
}

/// An Ethernet frame carrying `payload` (kept whole): a UDP datagram, or a TCP segment with
/// sequence number `seq`.
#[allow(clippy::too_many_arguments)]
pub fn eth_data(
    smac: [u8; 6],
    dmac: [u8; 6],
    src: &str,
    dst: &str,
    proto: u8,
    sport: u16,
    dport: u16,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(smac, dmac);
    let mut out = Vec::new();
    let ipb = match (ip(src), ip(dst)) {
        (IpAddr::V4(a), IpAddr::V4(b2)) => b.ipv4(a.octets(), b2.octets(), 64),
        (IpAddr::V6(a), IpAddr::V6(b2)) => b.ipv6(a.octets(), b2.octets(), 64),
        _ => panic!("mixed families"),
    };
    match proto {
        6 => ipb
            .tcp(sport, dport, seq, 1000)
            .psh()
            .ack(1)
            .write(&mut out, payload)
            .unwrap(),
        _ => ipb.udp(sport, dport).write(&mut out, payload).unwrap(),
    }
    out
}

pub const ROUTER6: &str = "fd00:1::1";

/// DNS answers from the router's resolver to the scenario's devices, for remotes of the
/// scenario; LAN-to-LAN, so they name markers without changing any count. Kept whole.
pub fn scenario_names() -> Vec<(u64, Vec<u8>)> {
    let (l, p, r) = (MAC_LAPTOP, MAC_PHONE, MAC_ROUTER);
    let cf = dns_response(
        "www.cloudflare.example",
        1,
        &[
            (
                "www.cloudflare.example",
                5,
                dns_name("cdn.cloudflare.example"),
            ),
            ("cdn.cloudflare.example", 1, addr_bytes("1.1.1.1")),
        ],
    );
    let g = dns_response("dns.google", 1, &[("@", 1, addr_bytes("8.8.8.8"))]);
    let g6 = dns_response(
        "dns.google",
        28,
        &[("@", 28, addr_bytes("2001:4860:4860::8888"))],
    );
    vec![
        (T0, eth_data(r, l, ROUTER, LAPTOP, 17, 53, 41000, 0, &cf)),
        (T0, eth_data(r, p, ROUTER, PHONE, 17, 53, 41001, 0, &g)),
        (T0, eth_data(r, l, ROUTER6, LAPTOP6, 17, 53, 41002, 0, &g6)),
    ]
}

/// A record whose wire length is the full frame and whose captured bytes are cut at `snap`.
pub fn rec(ts: u64, frame: Vec<u8>, snap: usize) -> Rec {
    let wire_len = frame.len() as u32;
    let mut data = frame;
    data.truncate(snap);
    Rec { ts, wire_len, data }
}

/// Writes a classic pcap file through libpcap (`pcap_dump`).
pub fn write_pcap(path: &Path, linktype: i32, recs: &[Rec]) {
    let cap = pcap::Capture::dead(pcap::Linktype(linktype)).unwrap();
    let mut out = cap.savefile(path).unwrap();
    for r in recs {
        let h = pcap::PacketHeader {
            ts: libc::timeval {
                tv_sec: r.ts as libc::time_t,
                tv_usec: 0,
            },
            caplen: r.data.len() as u32,
            len: r.wire_len,
        };
        out.write(&pcap::Packet::new(&h, &r.data));
    }
    out.flush().unwrap();
}

/// Writes a pcapng file (section header, one interface, enhanced packet blocks).
pub fn write_pcapng(path: &Path, linktype: u16, recs: &[Rec]) {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let pad = (4 - body.len() % 4) % 4;
        let total = (12 + body.len() + pad) as u32;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(body);
        out.extend(std::iter::repeat_n(0u8, pad));
        out.extend_from_slice(&total.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0A0D_0D0A, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&linktype.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&65535u32.to_le_bytes());
    block(&mut out, 1, &idb);
    for r in recs {
        let usec = r.ts * 1_000_000;
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((usec >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(usec as u32).to_le_bytes());
        epb.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&r.wire_len.to_le_bytes());
        epb.extend_from_slice(&r.data);
        block(&mut out, 6, &epb);
    }
    std::fs::write(path, out).unwrap();
}

/// Re-frames an Ethernet frame for another link type (the IP packet stays the same).
pub fn relink(frame: &[u8], linktype: i32) -> Vec<u8> {
    let ether_type = [frame[12], frame[13]];
    let ip = &frame[14..];
    let is_v6 = ether_type == [0x86, 0xdd];
    let mut out = Vec::new();
    match linktype {
        1 => return frame.to_vec(),
        113 => {
            // SLL: packet type (4 = outgoing), ARPHRD_ETHER, addr len 6, addr (8), protocol
            out.extend_from_slice(&[0, 4, 0, 1, 0, 6]);
            out.extend_from_slice(&frame[6..12]);
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&ether_type);
        }
        276 => {
            // SLL2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type, addr len, addr (8)
            out.extend_from_slice(&ether_type);
            out.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 4, 6]);
            out.extend_from_slice(&frame[6..12]);
            out.extend_from_slice(&[0, 0]);
        }
        101 | 12 => {}
        0 => out.extend_from_slice(&(if is_v6 { 30u32 } else { 2 }).to_ne_bytes()), // macOS AF_INET6
        108 => out.extend_from_slice(&(if is_v6 { 24u32 } else { 2 }).to_be_bytes()),
        other => panic!("no framing for link type {other}"),
    }
    out.extend_from_slice(ip);
    out
}

/// Inserts VLAN tags after the MAC addresses: one 802.1Q tag, or 802.1ad + 802.1Q (QinQ).
pub fn vlan_tag(frame: &[u8], ids: &[u16]) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    for (i, id) in ids.iter().enumerate() {
        out.extend_from_slice(if i == 0 && ids.len() > 1 {
            &[0x88, 0xa8]
        } else {
            &[0x81, 0x00]
        });
        out.extend_from_slice(&id.to_be_bytes());
    }
    out.extend_from_slice(&frame[12..]);
    out
}

/// (ip/network, city, country, lat, lng, asn, org)
pub const PLACES: &[(&str, &str, &str, f64, f64, u32, &str)] = &[
    (
        "1.1.1.0/24",
        "Sydney",
        "AU",
        -33.8688,
        151.2093,
        13335,
        "Cloudflare, Inc.",
    ),
    (
        "8.8.8.0/24",
        "Mountain View",
        "US",
        37.386,
        -122.0838,
        15169,
        "Google LLC",
    ),
    (
        "9.9.9.0/24",
        "Zurich",
        "CH",
        47.3769,
        8.5417,
        19281,
        "Quad9",
    ),
    (
        "151.101.0.0/16",
        "San Francisco",
        "US",
        37.7749,
        -122.4194,
        54113,
        "Fastly, Inc.",
    ),
    (
        "2001:4860::/32",
        "Mountain View",
        "US",
        37.386,
        -122.0838,
        15169,
        "Google LLC",
    ),
    (
        "2a00:1450::/32",
        "Dublin",
        "IE",
        53.3498,
        -6.2603,
        15169,
        "Google LLC",
    ),
    // Test networks used by the live namespace test (made remote there with --remote).
    (
        "198.18.0.0/15",
        "Lisbon",
        "PT",
        38.7223,
        -9.1393,
        64496,
        "Test Net Benchmark",
    ),
];

/// A GeoIP2-City-schema database (with ASN fields) of `PLACES`.
pub fn geoip2_db() -> Vec<u8> {
    use mmdb_writer::Writer;
    let mut w = Writer::builder("GeoIP2-City")
        .description(&[("en", "connmap test database")])
        .build();
    for &(net, city, cc, lat, lng, asn, org) in PLACES {
        let rec = record::city_record(city, cc, lat, lng, asn, org);
        w.insert_value(net.parse::<ipnet::IpNet>().unwrap(), rec)
            .unwrap();
    }
    w.to_bytes().unwrap()
}

/// The same places in ip-location-db's flat DB-IP schema (float32 coordinates, no ASN).
pub fn flat_db() -> Vec<u8> {
    use mmdb_writer::{Value, Writer};
    let mut w = Writer::new("dbip-city");
    for &(net, city, cc, lat, lng, _, _) in PLACES {
        let rec = Value::map([
            ("country_code", Value::from(cc)),
            ("city", Value::from(city)),
            ("latitude", Value::Float(lat as f32)),
            ("longitude", Value::Float(lng as f32)),
        ]);
        w.insert_value(net.parse::<ipnet::IpNet>().unwrap(), rec)
            .unwrap();
    }
    w.to_bytes().unwrap()
}

/// The main scenario: two LAN devices, IPv4 and IPv6, replies, noise that must not count.
/// Returns Ethernet frames (uncut) with timestamps.
pub fn scenario() -> Vec<(u64, Vec<u8>)> {
    let (l, p, r) = (MAC_LAPTOP, MAC_PHONE, MAC_ROUTER);
    vec![
        // laptop → 1.1.1.1:443 and the reply
        (T0, eth(l, r, LAPTOP, "1.1.1.1", 6, 50000, 443, 100)),
        (T0 + 1, eth(r, l, "1.1.1.1", LAPTOP, 6, 443, 50000, 1400)),
        // laptop → 8.8.8.8:53 (UDP), phone → 8.8.8.8:443
        (T0 + 2, eth(l, r, LAPTOP, "8.8.8.8", 17, 40000, 53, 40)),
        (T0 + 2, eth(r, l, "8.8.8.8", LAPTOP, 17, 53, 40000, 120)),
        (T0 + 3, eth(p, r, PHONE, "8.8.8.8", 6, 51000, 443, 200)),
        // phone pings 9.9.9.9
        (T0 + 4, eth(p, r, PHONE, "9.9.9.9", 1, 0, 0, 56)),
        // unsolicited inbound from 151.101.1.140 to the laptop: no marker
        (
            T0 + 5,
            eth(r, l, "151.101.1.140", LAPTOP, 6, 443, 50001, 500),
        ),
        // laptop over IPv6 to Google DNS, and the reply
        (
            T0 + 6,
            eth(l, r, LAPTOP6, "2001:4860:4860::8888", 6, 50002, 443, 300),
        ),
        (
            T0 + 7,
            eth(r, l, "2001:4860:4860::8888", LAPTOP6, 6, 443, 50002, 900),
        ),
        // to an address the database does not know
        (T0 + 8, eth(l, r, LAPTOP, "203.0.114.1", 6, 50003, 8443, 10)),
        // noise: LAN→LAN, LAN→router, multicast, broadcast, CGNAT, documentation, ULA
        (T0 + 9, eth(l, p, LAPTOP, PHONE, 6, 1, 2, 10)),
        (T0 + 9, eth(l, r, LAPTOP, ROUTER, 17, 5353, 53, 10)),
        (T0 + 9, eth(l, r, LAPTOP, "224.0.0.251", 17, 5353, 5353, 10)),
        (T0 + 9, eth(l, r, LAPTOP, "255.255.255.255", 17, 68, 67, 10)),
        (T0 + 9, eth(l, r, LAPTOP, "100.64.0.1", 6, 1, 2, 10)),
        (T0 + 9, eth(l, r, LAPTOP, "192.0.2.1", 6, 1, 2, 10)),
        (T0 + 9, eth(l, r, LAPTOP6, "fd00:2::1", 6, 1, 2, 10)),
        (T0 + 9, eth(l, r, LAPTOP6, "ff02::fb", 17, 5353, 5353, 10)),
        (T0 + 9, eth(l, r, LAPTOP6, "2001:db8::1", 6, 1, 2, 10)),
        // the router itself (excluded with --exclude) talking to the internet
        (T0 + 10, eth(r, r, ROUTER, "9.9.9.9", 17, 123, 123, 48)),
    ]
}

/// The scenario cut at a 96-byte snaplen, as records, with the DNS answers of
/// `scenario_names` kept whole (what the names handle of a live capture sees) first.
pub fn scenario_recs() -> Vec<Rec> {
    scenario_names()
        .into_iter()
        .map(|(ts, f)| rec(ts, f, 65535))
        .chain(scenario().into_iter().map(|(ts, f)| rec(ts, f, 96)))
        .collect()
}

/// The address plan of the scenario, as flags.
pub fn plan_args() -> Vec<String> {
    ["--lan", LAN4, "--lan", LAN6, "--exclude", ROUTER]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Options that keep the test machine's own lease, DHCP and firewall files out of a run.
pub const NO_HOST_FILES: [&str; 12] = [
    "--leases",
    "",
    "--ethers",
    "",
    "--dhcp-config",
    "",
    "--odhcpd",
    "",
    "--firewall-config",
    "",
    "--nft",
    "",
];

/// Args that replay the scenario (no lease files: the test machine's own must not matter).
pub fn scenario_args() -> Vec<String> {
    let mut a = plan_args();
    a.extend(NO_HOST_FILES.map(String::from));
    a
}
