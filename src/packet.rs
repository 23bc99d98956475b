//! Packet: one captured frame → the few fields connmap counts.
//!
//! Second step of the data path (capture → **packet** → filter → geo → table → snapshot → http).
//! Each supported link type is peeled here by hand (it is a few bytes). The common IP headers
//! (IPv4; IPv6 without extension headers) are read at fixed offsets; everything else goes to
//! etherparse's zero-copy `LaxIpSlice`, extension headers included. "Lax" matters: the capture
//! keeps only the first bytes of each packet (a small snaplen), so the IP payload is almost
//! always cut short and a strict parser would refuse it. Addresses come out as [`Addr`], one
//! integer, which is what the filter and the tables work with.
//!
//! Nothing here allocates or panics, whatever the bytes: every length is checked by etherparse or
//! by `slice::get`. The fuzz target `fuzz/fuzz_targets/decode.rs` holds it to that.

use etherparse::{EtherType, IpNumber, Ipv6ExtensionSlice, LaxIpSlice};
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
    /// Every link type connmap reads.
    pub const ALL: [LinkType; 6] = [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::RawIp,
        LinkType::BsdNull,
        LinkType::BsdLoop,
    ];

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

/// An IP address as one integer: IPv6 as is, IPv4 as its IPv4-mapped form (`::ffff:a.b.c.d`).
///
/// The tables are keyed by it and the filter matches it: hashing and comparing one `u128`
/// costs a few instructions, where `IpAddr` (an enum) hashes its discriminant and bytes through
/// the hasher's byte path and compares by variant. The mapped range cannot collide with a real
/// IPv6 address: an IPv6 header carrying one is malformed (RFC 4291 2.5.5.2) and the decoder
/// refuses it.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Addr {
    // two halves rather than one `u128`: 8-byte alignment keeps `PacketInfo` at 48 bytes
    hi: u64,
    lo: u64,
}

impl std::hash::Hash for Addr {
    #[inline(always)]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(self.bits());
    }
}

/// The order of `IpAddr`: IPv4 before IPv6, then by address.
impl Ord for Addr {
    fn cmp(&self, other: &Addr) -> std::cmp::Ordering {
        (self.is_ipv6(), self.bits()).cmp(&(other.is_ipv6(), other.bits()))
    }
}

impl PartialOrd for Addr {
    fn partial_cmp(&self, other: &Addr) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

const V4_MAPPED: u128 = 0xffff_0000_0000;

impl Addr {
    #[inline(always)]
    pub fn from_v4_bytes(b: [u8; 4]) -> Addr {
        Addr::from_bits(V4_MAPPED | u128::from(u32::from_be_bytes(b)))
    }

    /// `None` for an IPv4-mapped IPv6 address, which never appears in a valid IPv6 header.
    #[inline(always)]
    pub fn from_v6_bytes(b: [u8; 16]) -> Option<Addr> {
        let a = u128::from_be_bytes(b);
        (a >> 32 != 0xffff).then_some(Addr::from_bits(a))
    }

    /// The integer (IPv4 mapped into IPv6).
    #[inline(always)]
    pub fn bits(self) -> u128 {
        (u128::from(self.hi) << 64) | u128::from(self.lo)
    }

    #[inline(always)]
    fn from_bits(a: u128) -> Addr {
        Addr {
            hi: (a >> 64) as u64,
            lo: a as u64,
        }
    }

    /// Both halves folded into one word: cheap input for a small direct-mapped cache.
    #[inline(always)]
    pub fn fold(self) -> u64 {
        self.hi.rotate_left(29) ^ self.lo
    }

    #[inline(always)]
    pub fn is_ipv4(self) -> bool {
        self.hi == 0 && self.lo >> 32 == 0xffff
    }

    pub fn is_ipv6(self) -> bool {
        !self.is_ipv4()
    }

    pub fn ip(self) -> IpAddr {
        if self.is_ipv4() {
            IpAddr::V4(std::net::Ipv4Addr::from(self.lo as u32))
        } else {
            IpAddr::V6(std::net::Ipv6Addr::from(self.bits()))
        }
    }
}

impl From<IpAddr> for Addr {
    /// An IPv4-mapped IPv6 address becomes the IPv4 address it maps.
    fn from(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(a) => Addr::from_v4_bytes(a.octets()),
            IpAddr::V6(a) => Addr::from_bits(u128::from(a)),
        }
    }
}

impl PartialEq<IpAddr> for Addr {
    fn eq(&self, other: &IpAddr) -> bool {
        *self == Addr::from(*other)
    }
}

impl std::str::FromStr for Addr {
    type Err = std::net::AddrParseError;
    fn from_str(s: &str) -> Result<Addr, Self::Err> {
        s.parse::<IpAddr>().map(Addr::from)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ip().fmt(f)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ip().fmt(f)
    }
}

impl Addr {
    /// The text form, written into `buf` (45 bytes hold any IPv6 text): IPv4 by hand, since
    /// markers.json writes two or more addresses per remote and `fmt` is the costly part of a
    /// render (BENCHMARKS.md); IPv6 (rarer) through `Display`.
    pub fn text<'b>(&self, buf: &'b mut [u8; 45]) -> &'b str {
        use std::io::Write;
        let n = if self.is_ipv4() {
            let mut n = 0;
            for (i, o) in (self.lo as u32).to_be_bytes().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                if o >= 100 {
                    buf[n] = b'0' + o / 100;
                    n += 1;
                }
                if o >= 10 {
                    buf[n] = b'0' + o / 10 % 10;
                    n += 1;
                }
                buf[n] = b'0' + o % 10;
                n += 1;
            }
            n
        } else {
            let mut w = &mut buf[..];
            let _ = write!(w, "{}", self.ip());
            45 - w.len()
        };
        std::str::from_utf8(&buf[..n]).unwrap_or_default()
    }
}

impl serde::Serialize for Addr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(self.text(&mut [0; 45]))
        } else {
            self.ip().serialize(s) // binary formats (the state file): as `IpAddr`, 5 or 17 bytes
        }
    }
}

impl<'de> serde::Deserialize<'de> for Addr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Addr, D::Error> {
        IpAddr::deserialize(d).map(Addr::from)
    }
}

/// What the data path needs to know about one IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketInfo {
    pub src: Addr,
    pub dst: Addr,
    /// Upper-layer protocol number (for IPv6 the one after the extension headers).
    pub protocol: u8,
    /// Source and destination ports of TCP/UDP/SCTP/UDP-Lite; `None` for other protocols,
    /// non-first fragments, and packets cut before the ports.
    pub ports: Option<(u16, u16)>,
    /// Ethernet source address, when the link layer has one.
    pub src_mac: Option<[u8; 6]>,
    /// Where the upper-layer header starts in the frame, when `ports` is known (else 0): name
    /// learning looks there without decoding the frame again.
    pub l4_at: u16,
    /// Where the IP header starts in the frame (its length bounds the upper layer: see
    /// [`transport`]).
    pub ip_at: u16,
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
    let mut p = PacketInfo::default();
    Ok(decode_into(link, frame, &mut p)?.then_some(p))
}

/// [`decode`] into `out` (true when it is an IP packet): what the per-packet path calls, so
/// that the packet's fields are written once where they are read, not moved through a
/// `Result<Option<_>>` (measured: about 30 instructions per packet at opt-level "z").
#[inline(always)]
pub fn decode_into(
    link: LinkType,
    frame: &[u8],
    out: &mut PacketInfo,
) -> Result<bool, DecodeError> {
    match link {
        LinkType::Ethernet => decode_ethernet(frame, out),
        LinkType::LinuxSll => {
            // 16 bytes: packet type, ARPHRD, address length, 8 address bytes, protocol.
            let proto = be16(frame, 14).ok_or(DecodeError::Truncated)?;
            let mac = sll_mac(frame, 4, 2, 6);
            decode_ether_type(proto, frame, 16, mac, out)
        }
        LinkType::LinuxSll2 => {
            // 20 bytes: protocol, reserved, ifindex, ARPHRD, packet type, address length, address.
            if frame.len() < 20 {
                return Err(DecodeError::Truncated);
            }
            let proto = be16(frame, 0).ok_or(DecodeError::Truncated)?;
            let mac = sll_mac(frame, 8, 11, 12);
            decode_ether_type(proto, frame, 20, mac, out)
        }
        LinkType::RawIp => decode_ip(frame, 0, None, out).map(|()| true),
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
                2 | 10 | 24 | 28 | 30 => decode_ip(frame, 4, None, out).map(|()| true),
                _ => Ok(false),
            }
        }
    }
}

/// The big-endian 16-bit number at `at`, if `b` holds it.
#[inline(always)]
pub fn be16(b: &[u8], at: usize) -> Option<u16> {
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

#[inline(always)]
fn decode_ethernet(frame: &[u8], out: &mut PacketInfo) -> Result<bool, DecodeError> {
    if frame.len() < 14 {
        return Err(DecodeError::Truncated);
    }
    let f = frame;
    let mac = [f[6], f[7], f[8], f[9], f[10], f[11]];
    let mut ether_type = u16::from_be_bytes([f[12], f[13]]);
    let mut at = 14;
    // 802.1Q, 802.1ad (QinQ) and the old 0x9100 tag; three deep is more than any home network.
    for _ in 0..3 {
        if !matches!(ether_type, 0x8100 | 0x88a8 | 0x9100) {
            break;
        }
        ether_type = be16(frame, at + 2).ok_or(DecodeError::Truncated)?;
        at += 4;
    }
    decode_ether_type(ether_type, frame, at, Some(mac), out)
}

#[inline(always)]
fn decode_ether_type(
    ether_type: u16,
    frame: &[u8],
    at: usize,
    mac: Option<[u8; 6]>,
    out: &mut PacketInfo,
) -> Result<bool, DecodeError> {
    match EtherType(ether_type) {
        EtherType::IPV4 | EtherType::IPV6 => decode_ip(frame, at, mac, out).map(|()| true),
        _ => Ok(false),
    }
}

/// The ports at `at`, if the protocol has them and the capture holds them.
#[inline(always)]
fn ports_at(protocol: u8, f: &[u8], at: usize) -> Option<(u16, u16)> {
    if !has_ports(IpNumber(protocol)) || f.len() < at + 4 {
        return None;
    }
    Some((
        u16::from_be_bytes([f[at], f[at + 1]]),
        u16::from_be_bytes([f[at + 2], f[at + 3]]),
    ))
}

/// IPv6 next-header values that are extension headers (the general path handles them).
#[inline(always)]
fn is_ipv6_extension(p: u8) -> bool {
    matches!(p, 0 | 43 | 44 | 51 | 60 | 135 | 139 | 140 | 253 | 254)
}

#[inline(always)]
fn v4_at(f: &[u8], at: usize) -> Addr {
    Addr::from_v4_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]])
}

#[inline(always)]
fn v6_at(f: &[u8], at: usize) -> Result<Addr, DecodeError> {
    let mut b = [0u8; 16];
    b.copy_from_slice(&f[at..at + 16]);
    Addr::from_v6_bytes(b).ok_or(DecodeError::Malformed)
}

/// The IP packet starting at `frame[at..]`. The common cases — an IPv4 header, or an IPv6
/// header followed directly by the upper layer — are read at their fixed offsets (as
/// smoltcp's `wire` views do), after one length check each; everything else (IPv6 extension
/// headers, headers shorter than they claim, wrong versions) takes etherparse's general
/// `LaxIpSlice` path, which also says what is wrong. BENCHMARKS.md has the measured cost.
#[inline(always)]
fn decode_ip(
    frame: &[u8],
    at: usize,
    src_mac: Option<[u8; 6]>,
    out: &mut PacketInfo,
) -> Result<(), DecodeError> {
    let f = frame;
    if f.len() >= at + 20 {
        let b0 = f[at];
        let ihl = usize::from(b0 & 0x0f) * 4;
        // bytes after the packet's own length (Ethernet padding) are not its payload
        let total = usize::from(u16::from_be_bytes([f[at + 2], f[at + 3]]));
        // (AH, 51, is an extension header to etherparse: the general path reads past it)
        if b0 >> 4 == 4 && ihl >= 20 && f.len() >= at + ihl && total >= ihl && f[at + 9] != 51 {
            let protocol = f[at + 9];
            // not a later fragment: fragment offset 0
            let first = (f[at + 6] & 0x1f) | f[at + 7] == 0;
            let ports = if first {
                ports_at(protocol, &f[..f.len().min(at + total)], at + ihl)
            } else {
                None
            };
            *out = PacketInfo {
                src: v4_at(f, at + 12),
                dst: v4_at(f, at + 16),
                protocol,
                ports,
                src_mac,
                l4_at: if ports.is_some() {
                    (at + ihl) as u16
                } else {
                    0
                },
                ip_at: at as u16,
            };
            return Ok(());
        }
        let payload = usize::from(u16::from_be_bytes([f[at + 4], f[at + 5]]));
        if b0 >> 4 == 6 && f.len() >= at + 40 && !is_ipv6_extension(f[at + 6]) && payload > 0 {
            let protocol = f[at + 6];
            let ports = ports_at(protocol, &f[..f.len().min(at + 40 + payload)], at + 40);
            *out = PacketInfo {
                src: v6_at(f, at + 8)?,
                dst: v6_at(f, at + 24)?,
                protocol,
                ports,
                src_mac,
                l4_at: if ports.is_some() { (at + 40) as u16 } else { 0 },
                ip_at: at as u16,
            };
            return Ok(());
        }
    }
    *out = decode_ip_general(frame, at, src_mac)?;
    Ok(())
}

/// The IP packet at `frame[at..]`, by the path `decode` takes (the fixed offsets where they
/// apply) and by etherparse's general path alone: the two must agree on every frame (the
/// differential tests here and in tests/replay.rs).
#[doc(hidden)]
pub fn decode_ip_both_ways(
    frame: &[u8],
    at: usize,
) -> (
    Result<PacketInfo, DecodeError>,
    Result<PacketInfo, DecodeError>,
) {
    let mut fast = PacketInfo::default();
    let fast = decode_ip(frame, at, None, &mut fast).map(|()| fast);
    (fast, decode_ip_general(frame, at, None))
}

#[cold]
fn decode_ip_general(
    frame: &[u8],
    at: usize,
    src_mac: Option<[u8; 6]>,
) -> Result<PacketInfo, DecodeError> {
    use etherparse::err::ip::LaxHeaderSliceError;
    let bytes = frame.get(at..).ok_or(DecodeError::Truncated)?;
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
    let addr = |ip: IpAddr| match ip {
        IpAddr::V4(a) => Ok(Addr::from_v4_bytes(a.octets())),
        IpAddr::V6(a) => Addr::from_v6_bytes(a.octets()).ok_or(DecodeError::Malformed),
    };
    // where the payload starts in the frame (it is a subslice of it)
    let l4 = payload.payload.as_ptr() as usize - frame.as_ptr() as usize;
    Ok(PacketInfo {
        src: addr(ip.source_addr())?,
        dst: addr(ip.destination_addr())?,
        protocol: protocol.0,
        ports,
        src_mac,
        l4_at: match (ports, u16::try_from(l4)) {
            (Some(_), Ok(l4)) => l4,
            _ => 0,
        },
        ip_at: at as u16,
    })
}

#[inline(always)]
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

/// The transport-layer bytes (from the TCP/UDP header on) of a decoded packet, bounded by the
/// IP length when the capture holds it all (Ethernet padding is not payload); `None` when the
/// packet has no ports (not TCP/UDP, a later fragment, cut before the ports). No second walk
/// over the link and IP headers: `decode` noted where they are. Used only by name learning
/// (`learn`), for the few packets whose ports say they may carry a name.
pub fn transport<'f>(frame: &'f [u8], p: &PacketInfo) -> Option<&'f [u8]> {
    p.ports?;
    let (ip_at, l4_at) = (usize::from(p.ip_at), usize::from(p.l4_at));
    let ip = frame.get(ip_at..)?;
    // the IP packet's own length: IPv4's total length, IPv6's fixed header and payload
    let len = match ip.first()? >> 4 {
        4 => usize::from(be16(ip, 2)?),
        _ => 40 + usize::from(be16(ip, 4)?),
    };
    let end = if ip_at + len >= l4_at {
        (ip_at + len).min(frame.len())
    } else {
        frame.len()
    };
    frame.get(l4_at..end)
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

    fn transport_of(link: LinkType, f: &[u8]) -> Option<&[u8]> {
        transport(f, &decode(link, f).ok()??)
    }

    #[test]
    fn transport_bytes_of_frames() {
        let f = tcp4();
        let l4 = transport_of(LinkType::Ethernet, &f).unwrap();
        assert_eq!(&l4[..4], &[0x9c, 0x40, 0x01, 0xbb]);
        // Ethernet padding after the IP packet is not payload.
        let mut padded = f.clone();
        padded.extend_from_slice(&[0; 8]);
        assert_eq!(
            transport_of(LinkType::Ethernet, &padded).unwrap().len(),
            l4.len()
        );
        for cut in 0..f.len() {
            let _ = transport_of(LinkType::Ethernet, &f[..cut]);
        }
        assert_eq!(transport_of(LinkType::Ethernet, &[0u8; 60]), None);
        // IPv6: bounded by the payload length, extension headers included
        let mut v6 = Vec::new();
        PacketBuilder::ipv6([0x20; 16], [0x26; 16], 64)
            .udp(5353, 53)
            .write_to_vec(&mut v6, &[1, 2, 3, 4])
            .unwrap();
        v6.extend_from_slice(&[0; 6]);
        assert_eq!(transport_of(LinkType::RawIp, &v6).unwrap().len(), 8 + 4);
        let mut ext = v6[..40].to_vec();
        ext[6] = 0;
        ext[5] += 8;
        ext.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        ext.extend_from_slice(&v6[40..]);
        let l4 = transport_of(LinkType::RawIp, &ext).unwrap();
        assert_eq!((l4.len(), &l4[..2]), (8 + 4, &[0x14, 0xe9][..]));
    }

    #[test]
    fn l4_at_points_at_the_ports() {
        // Ethernet, VLAN-tagged, raw IP, IPv6 with and without an extension header
        let f = tcp4();
        let p = decode(LinkType::Ethernet, &f).unwrap().unwrap();
        assert_eq!(p.l4_at, 14 + 20);
        let mut tagged = f[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        tagged.extend_from_slice(&f[12..]);
        let p = decode(LinkType::Ethernet, &tagged).unwrap().unwrap();
        assert_eq!(p.l4_at, 18 + 20);
        let p = decode(LinkType::RawIp, &f[14..]).unwrap().unwrap();
        assert_eq!(p.l4_at, 20);
        let mut v6 = Vec::new();
        PacketBuilder::ipv6([0x20; 16], [0x26; 16], 64)
            .udp(5353, 53)
            .write_to_vec(&mut v6, &[1, 2, 3, 4])
            .unwrap();
        let p = decode(LinkType::RawIp, &v6).unwrap().unwrap();
        assert_eq!((p.l4_at, p.ports), (40, Some((5353, 53))));
        // a hop-by-hop options header (8 bytes) before UDP: the general path
        let mut ext = v6[..40].to_vec();
        ext[6] = 0;
        ext.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        ext.extend_from_slice(&v6[40..]);
        let p = decode(LinkType::RawIp, &ext).unwrap().unwrap();
        assert_eq!((p.l4_at, p.ports, p.protocol), (48, Some((5353, 53)), 17));
        // no ports, no offset
        let mut icmp = f.clone();
        icmp[14 + 9] = 1;
        assert_eq!(decode(LinkType::Ethernet, &icmp).unwrap().unwrap().l4_at, 0);
    }

    #[test]
    fn ipv4_mapped_ipv6_header_is_malformed() {
        // ::ffff:192.168.1.10 would alias the IPv4 host in the tables
        let mut src = [0u8; 16];
        src[10] = 0xff;
        src[11] = 0xff;
        src[12..].copy_from_slice(&[192, 168, 1, 10]);
        let mut v6 = Vec::new();
        PacketBuilder::ipv6(src, [0x26; 16], 64)
            .udp(5353, 53)
            .write_to_vec(&mut v6, &[])
            .unwrap();
        assert_eq!(decode(LinkType::RawIp, &v6), Err(DecodeError::Malformed));
        let a: Addr = "::ffff:192.168.1.10".parse().unwrap();
        assert_eq!(a, "192.168.1.10".parse::<IpAddr>().unwrap());
        assert!(a.is_ipv4());
        let b: Addr = "2001:db8::1".parse().unwrap();
        assert!(b.is_ipv6() && a < b);
        assert_eq!(b.to_string(), "2001:db8::1");
    }

    #[test]
    fn address_text_is_the_display_form() {
        let mut buf = [0; 45];
        for s in [
            "0.0.0.0",
            "1.2.3.4",
            "10.100.200.255",
            "255.255.255.255",
            "192.168.1.9",
            "2001:db8::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fd00::10",
        ] {
            let a: Addr = s.parse().unwrap();
            assert_eq!(a.text(&mut buf), s);
            assert_eq!(a.text(&mut buf), a.ip().to_string());
        }
        for i in 0..=255u8 {
            let a = Addr::from_v4_bytes([i, 255 - i, i / 3, 7]);
            assert_eq!(a.text(&mut buf), a.ip().to_string());
        }
    }

    /// Random IP headers (IPv4 with and without options, fragments, IPv6, short and long,
    /// lengths that lie): the fixed-offset path and etherparse's agree on every one.
    #[test]
    fn fast_path_and_etherparse_agree_on_random_packets() {
        let mut x: u32 = 0x9e37_79b9;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let mut differ = Vec::new();
        for i in 0..200_000u32 {
            let len = (next() % 100) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(b0) = buf.first_mut() {
                // mostly plausible versions and header lengths
                *b0 = match i % 4 {
                    0 => 0x45,
                    1 => 0x40 | (*b0 & 0x0f),
                    2 => 0x60 | (*b0 & 0x0f),
                    _ => *b0,
                };
            }
            if i % 3 == 0 && len > 9 {
                buf[9] = [6, 17, 132, 136, 1][(next() % 5) as usize]; // IPv4 protocol
            }
            if i % 3 == 0 && len > 6 {
                buf[6] &= 0xe0; // IPv4: mostly first fragments
            }
            if i % 5 == 0 && len > 5 {
                // a total (IPv4) or payload (IPv6) length shorter than the bytes captured
                let short = (next() % 64) as u8;
                (buf[2], buf[3], buf[4], buf[5]) = (0, short, 0, short);
            }
            let (fast, general) = decode_ip_both_ways(&buf, 0);
            if fast != general {
                differ.push(format!("{buf:02x?}: fast {fast:?}, etherparse {general:?}"));
            }
        }
        assert!(
            differ.is_empty(),
            "{} of 200000 differ, e.g.\n{}",
            differ.len(),
            differ[..differ.len().min(5)].join("\n")
        );
    }

    /// Garbage frames of every link type: no panic, and where the garbage is an IPv4 header
    /// after Ethernet, both paths read it alike.
    #[test]
    fn garbage_never_panics_and_both_paths_agree() {
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
            for link in LinkType::ALL {
                let _ = decode(link, &buf);
            }
            if len >= 14 {
                let (fast, general) = decode_ip_both_ways(&buf, 14);
                assert_eq!(fast, general, "{buf:02x?}");
            }
        }
    }
}
