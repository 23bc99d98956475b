//! Packet: one captured frame → the few fields connmap counts.
//!
//! Second step of the data path (capture → **packet** → filter → geo → table → snapshot → http).
//! Each supported link type is peeled here by hand (it is a few bytes), then etherparse's
//! zero-copy `LaxIpSlice` reads the IPv4/IPv6 header, extension headers included. "Lax" matters:
//! the capture keeps only the first bytes of each packet (a small snaplen), so the IP payload is
//! almost always cut short and a strict parser would refuse it.
//!
//! Nothing here allocates or panics, whatever the bytes: every length is checked by etherparse or
//! by `slice::get`. The fuzz target `fuzz/fuzz_targets/decode.rs` holds it to that.

use etherparse::{
    EtherType, Ethernet2HeaderSlice, IpNumber, Ipv6ExtensionSlice, LaxIpSlice,
    SingleVlanHeaderSlice,
};
use std::fmt;
use std::net::IpAddr;

/// The link-layer framings connmap decodes (libpcap DLT values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// DLT_EN10MB: Ethernet II, with up to three 802.1Q/802.1ad tags.
    Ethernet,
    /// DLT_LINUX_SLL: Linux "cooked" capture v1 (16-byte header), e.g. `-i any`.
    LinuxSll,
    /// DLT_LINUX_SLL2: Linux cooked capture v2 (20-byte header).
    LinuxSll2,
    /// DLT_RAW / LINKTYPE_IPV4 / LINKTYPE_IPV6: the frame is the IP packet.
    RawIp,
    /// DLT_NULL: BSD loopback, a 4-byte address family in the capturing host's byte order.
    BsdNull,
    /// DLT_LOOP: OpenBSD loopback, the same family in network byte order.
    BsdLoop,
}

impl LinkType {
    /// Maps a libpcap data link type to a decoder, or `None` for an unsupported one.
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        Some(match dlt {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            // DLT_RAW is 12 on most systems, 14 on OpenBSD; 101 is its LINKTYPE_ in files.
            12 | 14 | 101 | 228 | 229 => LinkType::RawIp,
            0 => LinkType::BsdNull,
            108 => LinkType::BsdLoop,
            _ => return None,
        })
    }
}

/// What the data path needs to know about one IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Upper-layer protocol number (for IPv6 the one after the extension headers).
    pub protocol: u8,
    /// Source and destination ports of TCP/UDP/SCTP/UDP-Lite; `None` for other protocols,
    /// non-first fragments, and packets cut before the ports.
    pub ports: Option<(u16, u16)>,
    /// Ethernet source address, when the link layer has one.
    pub src_mac: Option<[u8; 6]>,
}

/// Why a frame could not be decoded. Counted, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame ends inside a link-layer or IP header.
    Truncated,
    /// A header is present but invalid (bad version, header length, ...).
    Malformed,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::Truncated => "truncated frame",
            DecodeError::Malformed => "malformed header",
        })
    }
}

/// Decodes one frame. `Ok(None)` means "not IP" (ARP, LLDP, ...), which is simply not counted.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Option<PacketInfo>, DecodeError> {
    match link {
        LinkType::Ethernet => decode_ethernet(frame),
        LinkType::LinuxSll => {
            // 16 bytes: packet type, ARPHRD, address length, 8 address bytes, protocol.
            let proto = be16(frame, 14).ok_or(DecodeError::Truncated)?;
            let mac = sll_mac(frame, 4, 2, 6);
            decode_ether_type(EtherType(proto), &frame[16..], mac)
        }
        LinkType::LinuxSll2 => {
            // 20 bytes: protocol, reserved, ifindex, ARPHRD, packet type, address length, address.
            if frame.len() < 20 {
                return Err(DecodeError::Truncated);
            }
            let proto = be16(frame, 0).ok_or(DecodeError::Truncated)?;
            let mac = sll_mac(frame, 8, 11, 12);
            decode_ether_type(EtherType(proto), &frame[20..], mac)
        }
        LinkType::RawIp => decode_ip(frame, None).map(Some),
        LinkType::BsdNull | LinkType::BsdLoop => {
            let family: [u8; 4] = frame
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(DecodeError::Truncated)?;
            let family = if link == LinkType::BsdLoop {
                u32::from_be_bytes(family)
            } else {
                // Written in the capturing host's order, which need not be ours: a real family
                // value is small, so the order that yields a small number is the right one.
                let le = u32::from_le_bytes(family);
                if le < 256 {
                    le
                } else {
                    u32::from_be_bytes(family)
                }
            };
            match family {
                // AF_INET everywhere; AF_INET6 is 10 on Linux, 24/28/30 on the BSDs and macOS.
                2 | 10 | 24 | 28 | 30 => decode_ip(&frame[4..], None).map(Some),
                _ => Ok(None),
            }
        }
    }
}

#[inline(always)]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The sender address of a cooked header, when it is a 6-byte (Ethernet) one.
fn sll_mac(frame: &[u8], hatype_at: usize, len_at: usize, addr_at: usize) -> Option<[u8; 6]> {
    let hatype = be16(frame, hatype_at)?;
    let len = *frame.get(len_at)?;
    // ARPHRD_ETHER = 1
    if hatype != 1 || len != 6 {
        return None;
    }
    frame.get(addr_at..addr_at + 6)?.try_into().ok()
}

fn decode_ethernet(frame: &[u8]) -> Result<Option<PacketInfo>, DecodeError> {
    let eth = Ethernet2HeaderSlice::from_slice(frame).map_err(|_| DecodeError::Truncated)?;
    let mac = Some(eth.source());
    let mut ether_type = eth.ether_type();
    let mut rest = &frame[eth.slice().len()..];
    // 802.1Q, 802.1ad (QinQ) and the old 0x9100 tag; three deep is more than any home network.
    for _ in 0..3 {
        if !matches!(
            ether_type,
            EtherType::VLAN_TAGGED_FRAME
                | EtherType::PROVIDER_BRIDGING
                | EtherType::VLAN_DOUBLE_TAGGED_FRAME
        ) {
            break;
        }
        let vlan = SingleVlanHeaderSlice::from_slice(rest).map_err(|_| DecodeError::Truncated)?;
        ether_type = vlan.ether_type();
        rest = &rest[4..];
    }
    decode_ether_type(ether_type, rest, mac)
}

fn decode_ether_type(
    ether_type: EtherType,
    rest: &[u8],
    mac: Option<[u8; 6]>,
) -> Result<Option<PacketInfo>, DecodeError> {
    match ether_type {
        EtherType::IPV4 | EtherType::IPV6 => decode_ip(rest, mac).map(Some),
        _ => Ok(None),
    }
}

/// Reads the ports at the start of an upper-layer header, if the protocol has them.
#[inline]
fn ports_at(protocol: IpNumber, l4: Option<&[u8]>) -> Option<(u16, u16)> {
    if !has_ports(protocol) {
        return None;
    }
    match l4? {
        [a, b, c, d, ..] => Some((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))),
        _ => None,
    }
}

/// IPv6 next-header values that are extension headers (the general path handles them).
fn is_ipv6_extension(p: IpNumber) -> bool {
    matches!(p.0, 0 | 43 | 44 | 51 | 60 | 135 | 139 | 140 | 253 | 254)
}

/// The common cases — an IPv4 header, or an IPv6 header followed directly by the upper
/// layer — read with etherparse's plain header slices; everything else (IPv6 extension
/// headers, IPv4 with total length 0 from segmentation offload, invalid headers) takes the
/// general `LaxIpSlice` path below.
#[inline]
fn decode_ip(bytes: &[u8], src_mac: Option<[u8; 6]>) -> Result<PacketInfo, DecodeError> {
    match bytes.first().map(|b| b >> 4) {
        Some(4) => {
            if let Ok(h) = etherparse::Ipv4HeaderSlice::from_slice(bytes) {
                let protocol = h.protocol();
                let first = h.fragments_offset().value() == 0;
                let l4 = bytes.get(h.slice().len()..);
                return Ok(PacketInfo {
                    src: IpAddr::V4(h.source_addr()),
                    dst: IpAddr::V4(h.destination_addr()),
                    protocol: protocol.0,
                    ports: if first { ports_at(protocol, l4) } else { None },
                    src_mac,
                });
            }
        }
        Some(6) => {
            if let Ok(h) = etherparse::Ipv6HeaderSlice::from_slice(bytes) {
                let protocol = h.next_header();
                if !is_ipv6_extension(protocol) {
                    return Ok(PacketInfo {
                        src: IpAddr::V6(h.source_addr()),
                        dst: IpAddr::V6(h.destination_addr()),
                        protocol: protocol.0,
                        ports: ports_at(protocol, bytes.get(40..)),
                        src_mac,
                    });
                }
            }
        }
        _ => {}
    }
    decode_ip_general(bytes, src_mac)
}

fn decode_ip_general(bytes: &[u8], src_mac: Option<[u8; 6]>) -> Result<PacketInfo, DecodeError> {
    use etherparse::err::ip::LaxHeaderSliceError;
    let (ip, _ext_error) = LaxIpSlice::from_slice(bytes).map_err(|e| match e {
        LaxHeaderSliceError::Len(_) => DecodeError::Truncated,
        LaxHeaderSliceError::Content(_) => DecodeError::Malformed,
    })?;
    let payload = ip.payload();
    let protocol = payload.ip_number;
    let first_fragment = !payload.fragmented || fragment_offset(&ip) == 0;
    let ports = if first_fragment && has_ports(protocol) {
        match payload.payload {
            [a, b, c, d, ..] => Some((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))),
            _ => None,
        }
    } else {
        None
    };
    Ok(PacketInfo {
        src: ip.source_addr(),
        dst: ip.destination_addr(),
        protocol: protocol.0,
        ports,
        src_mac,
    })
}

fn has_ports(p: IpNumber) -> bool {
    matches!(
        p,
        IpNumber::TCP | IpNumber::UDP | IpNumber::SCTP | IpNumber::UDP_LITE
    )
}

/// Fragment offset (in 8-byte units) of a fragmented packet; 0 for the first fragment.
fn fragment_offset(ip: &LaxIpSlice<'_>) -> u16 {
    match ip {
        LaxIpSlice::Ipv4(v4) => v4.header().fragments_offset().value(),
        LaxIpSlice::Ipv6(v6) => v6
            .extensions()
            .clone()
            .into_iter()
            .find_map(|ext| match ext {
                Ipv6ExtensionSlice::Fragment(f) => Some(f.fragment_offset().value()),
                _ => None,
            })
            .unwrap_or(0),
    }
}

/// The transport-layer bytes (from the TCP/UDP header on) of a frame's IP packet, bounded by
/// the IP total length when the capture holds it all; `None` for non-IP frames, non-first
/// fragments and undecodable headers. Used only by name learning (`learn`), for the few
/// packets whose ports say they may carry a name, never on the counting path.
pub fn transport_bytes(link: LinkType, frame: &[u8]) -> Option<&[u8]> {
    let ip = match link {
        LinkType::Ethernet => {
            let mut ether_type = be16(frame, 12)?;
            let mut at = 14;
            for _ in 0..3 {
                if !matches!(ether_type, 0x8100 | 0x88a8 | 0x9100) {
                    break;
                }
                ether_type = be16(frame, at + 2)?;
                at += 4;
            }
            if !matches!(ether_type, 0x0800 | 0x86dd) {
                return None;
            }
            frame.get(at..)?
        }
        LinkType::LinuxSll => frame.get(16..)?,
        LinkType::LinuxSll2 => frame.get(20..)?,
        LinkType::RawIp => frame,
        LinkType::BsdNull | LinkType::BsdLoop => frame.get(4..)?,
    };
    // The common cases by hand: IPv4 (not a later fragment), IPv6 without extension headers.
    match ip.first().map(|b| b >> 4) {
        Some(4) => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(be16(ip, 2)?);
            if be16(ip, 6)? & 0x1fff != 0 {
                return None;
            }
            if ihl >= 20 {
                let end = if total >= ihl {
                    total.min(ip.len())
                } else {
                    ip.len()
                };
                return ip.get(ihl..end);
            }
        }
        Some(6) if matches!(ip.get(6), Some(6 | 17)) => {
            let end = (40 + usize::from(be16(ip, 4)?)).min(ip.len());
            return ip.get(40..end);
        }
        _ => {}
    }
    let (ip, _) = LaxIpSlice::from_slice(ip).ok()?;
    if ip.payload().fragmented && fragment_offset(&ip) != 0 {
        return None;
    }
    Some(ip.payload().payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn tcp4() -> Vec<u8> {
        let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([192, 168, 1, 10], [1, 1, 1, 1], 64)
            .tcp(40000, 443, 1, 1000);
        let mut v = Vec::new();
        b.write(&mut v, &[0u8; 100]).unwrap();
        v
    }

    #[test]
    fn ethernet_tcp() {
        let p = decode(LinkType::Ethernet, &tcp4()).unwrap().unwrap();
        assert_eq!(p.src, "192.168.1.10".parse::<IpAddr>().unwrap());
        assert_eq!(p.dst, "1.1.1.1".parse::<IpAddr>().unwrap());
        assert_eq!(p.protocol, 6);
        assert_eq!(p.ports, Some((40000, 443)));
        assert_eq!(p.src_mac, Some(MAC_A));
    }

    #[test]
    fn snaplen_cut_still_decodes() {
        let f = tcp4();
        // 14 (eth) + 20 (ip) + 4 (ports): the rest of TCP is gone.
        let p = decode(LinkType::Ethernet, &f[..38]).unwrap().unwrap();
        assert_eq!(p.ports, Some((40000, 443)));
        let p = decode(LinkType::Ethernet, &f[..36]).unwrap().unwrap();
        assert_eq!(p.ports, None);
        assert_eq!(
            decode(LinkType::Ethernet, &f[..30]),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn vlan_and_qinq() {
        let b = PacketBuilder::ethernet2(MAC_A, MAC_B)
            .double_vlan(
                etherparse::VlanId::try_new(10).unwrap(),
                etherparse::VlanId::try_new(20).unwrap(),
            )
            .ipv6([0xfd; 16], [0x26; 16], 64)
            .udp(5353, 53);
        let mut v = Vec::new();
        b.write(&mut v, &[1, 2, 3]).unwrap();
        let p = decode(LinkType::Ethernet, &v).unwrap().unwrap();
        assert_eq!(p.protocol, 17);
        assert_eq!(p.ports, Some((5353, 53)));
    }

    #[test]
    fn non_ip_is_none() {
        let mut f = tcp4();
        f[12] = 0x08;
        f[13] = 0x06; // ARP
        assert_eq!(decode(LinkType::Ethernet, &f), Ok(None));
    }

    #[test]
    fn ipv4_fragments() {
        let mut f = tcp4();
        // Set MF, offset 0: the first fragment keeps its ports.
        f[14 + 6] = 0x20;
        f[14 + 7] = 0;
        assert_eq!(
            decode(LinkType::Ethernet, &f).unwrap().unwrap().ports,
            Some((40000, 443))
        );
        // Offset 185 (x8 bytes): no ports, still counted.
        f[14 + 6] = 0x00;
        f[14 + 7] = 185;
        let p = decode(LinkType::Ethernet, &f).unwrap().unwrap();
        assert_eq!(p.ports, None);
        assert_eq!(p.protocol, 6);
    }

    #[test]
    fn bsd_null_both_orders() {
        let ip = &tcp4()[14..];
        for fam in [[2u8, 0, 0, 0], [0, 0, 0, 2]] {
            let mut f = fam.to_vec();
            f.extend_from_slice(ip);
            let p = decode(LinkType::BsdNull, &f).unwrap().unwrap();
            assert_eq!(p.ports, Some((40000, 443)));
        }
    }

    #[test]
    fn transport_bytes_of_frames() {
        let f = tcp4();
        let l4 = transport_bytes(LinkType::Ethernet, &f).unwrap();
        assert_eq!(&l4[..4], &[0x9c, 0x40, 0x01, 0xbb]);
        // Ethernet padding after the IP packet is not payload.
        let mut padded = f.clone();
        padded.extend_from_slice(&[0; 8]);
        assert_eq!(
            transport_bytes(LinkType::Ethernet, &padded).unwrap().len(),
            l4.len()
        );
        for cut in 0..f.len() {
            let _ = transport_bytes(LinkType::Ethernet, &f[..cut]);
        }
        assert_eq!(transport_bytes(LinkType::Ethernet, &[0u8; 60]), None);
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u32 = 0x1234_5678;
        for len in 0..200usize {
            let mut buf = vec![0u8; len];
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            if len > 14 {
                buf[12] = 0x08;
                buf[13] = 0x00;
                buf[14] = 0x45;
            }
            for link in [
                LinkType::Ethernet,
                LinkType::LinuxSll,
                LinkType::LinuxSll2,
                LinkType::RawIp,
                LinkType::BsdNull,
                LinkType::BsdLoop,
            ] {
                let _ = decode(link, &buf);
            }
        }
    }
}
