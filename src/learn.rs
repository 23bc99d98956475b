//! Learn: names of remotes, read passively from the traffic the router already carries.
//!
//! Beside the data path (capture → packet → filter → geo → table → snapshot → http): the DNS
//! answers that resolvers send to LAN hosts (A, AAAA, CNAME chains; UDP and TCP), the server
//! name (SNI) of TLS ClientHellos from LAN hosts, and the `Host` header of plain HTTP requests.
//! No query ever leaves the router. Only packets whose ports say they may carry a name get
//! here (`wanted`); on a live capture they come from a second, narrow capture handle.
//!
//! The parsers are hand-written, allocation-light and bounded (`MAX_ANSWERS`, `MAX_CHAIN`,
//! `MAX_NAME_LEN`, `MAX_JUMPS`), and never panic whatever the bytes: the fuzz targets `dns`
//! and `tls_sni` hold them to that.

use crate::filter::Networks;
use crate::hash::RandomState;
use crate::packet::{self, be16, Addr, PacketInfo};
use crate::table::{NameKind, Tables};
use std::collections::HashMap;
use std::net::IpAddr;

/// A DNS name's longest textual form (RFC 1035).
pub const MAX_NAME_LEN: usize = 253;
/// CNAME records followed from an address back to the name the host asked for.
pub const MAX_CHAIN: usize = 8;
/// Resource records read from one DNS answer.
pub const MAX_ANSWERS: usize = 64;
/// Compression pointers followed inside one name.
const MAX_JUMPS: usize = 16;
/// Bytes of a ClientHello kept while waiting for the rest of it.
pub const MAX_HELLO_BYTES: usize = 4096;
/// Segments of one ClientHello put together at most.
pub const MAX_HELLO_SEGMENTS: u8 = 2;
/// Flows whose ClientHello is being put together at once.
pub const MAX_PENDING_HELLOS: usize = 64;
/// DNS TTLs are clamped to this range for the name table.
pub const MIN_TTL: u64 = 300;
pub const MAX_TTL: u64 = 86_400;

/// Reads names from the packets that may carry some into the tables: the dispatch by port to
/// the DNS, TLS, QUIC and HTTP parsers, and the ClientHellos being put together.
#[derive(Default)]
pub struct Learner {
    hellos: HelloAssembler,
    /// QUIC Initials being put together (`quic`).
    pub quic: crate::quic::QuicAssembler,
}

impl Learner {
    /// Whether a decoded packet may carry a name (`wanted`).
    #[inline(always)]
    pub fn wants(&self, p: &PacketInfo, frame: &[u8]) -> bool {
        wanted(p, frame, !self.hellos.is_empty())
    }

    /// Names from one packet that `wants` said may carry some, for the LAN hosts of `nets`.
    /// `ts` is the capture time. Kept out of line: the per-packet path stays small enough for
    /// its hash lookups to be inlined.
    #[inline(never)]
    pub fn packet(
        &mut self,
        frame: &[u8],
        ts: u64,
        p: &PacketInfo,
        nets: &Networks,
        tables: &mut Tables,
    ) {
        let (Some(l4), Some((sport, dport))) = (packet::transport(frame, p), p.ports) else {
            return;
        };
        if sport == 53 {
            dns_answer(l4, ts, p, nets, tables);
            return;
        }
        if !nets.is_host(p.src) || !nets.is_remote(p.dst) {
            return;
        }
        let key = (p.src, sport, p.dst, dport);
        if p.protocol == 17 {
            // QUIC: `wanted` let only client Initials to 443/8443 through.
            if let Some(data) = udp_payload(l4) {
                if let Some((n, ech)) = self.quic.datagram(key, data, ts).named() {
                    let kind = if ech {
                        NameKind::EchOuter
                    } else {
                        NameKind::Quic
                    };
                    tables.learn(p.src, p.dst, &n, kind, ts + MAX_TTL);
                }
            }
            return;
        }
        if p.protocol != 6 {
            return;
        }
        let Some((seq, data)) = tcp_payload(l4) else {
            return;
        };
        // Most segments to these ports carry no name: the cheap tests on the payload first.
        let (name, kind) = match (dport, data.first()) {
            (443, Some(&b)) => {
                if b != 22 && self.hellos.is_empty() {
                    return;
                }
                match self.hellos.segment(key, seq, data, ts).named() {
                    // An ECH outer name that the device looked up for this address (a DNS
                    // answer) is the site's own name: a GREASE ECH extension (browsers send
                    // one to sites without ECH), not a provider's front.
                    Some((n, true)) if !tables.has_learned(p.src, p.dst, &n) => {
                        (Some(n), NameKind::EchOuter)
                    }
                    Some((n, _)) => (Some(n), NameKind::Sni),
                    None => (None, NameKind::Sni),
                }
            }
            (80, Some(b'A'..=b'Z')) => (parse_http_host(data), NameKind::HttpHost),
            _ => return,
        };
        if let Some(n) = name {
            tables.learn(p.src, p.dst, &n, kind, ts + MAX_TTL);
        }
    }
}

/// A DNS answer (UDP, or TCP messages) to a LAN device: its addresses that are remotes get the
/// question's name until the answer's TTL (clamped) runs out.
fn dns_answer(l4: &[u8], ts: u64, p: &PacketInfo, nets: &Networks, tables: &mut Tables) {
    if !nets.is_host(p.dst) {
        return;
    }
    let host = p.dst;
    let mut each = |msg: &[u8]| {
        if let Some(a) = parse_dns(msg) {
            for (addr, ttl) in a.addrs {
                let addr = Addr::from(addr);
                if nets.is_remote(addr) {
                    let ttl = u64::from(ttl).clamp(MIN_TTL, MAX_TTL);
                    tables.learn(host, addr, &a.qname, NameKind::Dns, ts + ttl);
                }
            }
        }
    };
    if p.protocol == 17 {
        if let Some(msg) = udp_payload(l4) {
            each(msg);
        }
    } else if let Some((_, data)) = tcp_payload(l4) {
        tcp_dns_messages(data, each);
    }
}

/// Whether a decoded packet may carry a name: DNS answers (source port 53), TLS to port 443
/// whose payload starts a handshake record (or continues a ClientHello being reassembled,
/// `hello_pending`), HTTP to port 80 whose payload starts with a method, UDP to 443/8443
/// whose first byte may start a QUIC Initial (`quic::maybe_initial`). Two compares for most
/// packets, and a look at one payload byte (through `PacketInfo::l4_at`, no second decode)
/// for the many acknowledgements and data segments to port 443 and QUIC's short-header data.
#[inline(always)]
pub fn wanted(p: &PacketInfo, frame: &[u8], hello_pending: bool) -> bool {
    match (p.protocol, p.ports) {
        (17 | 6, Some((53, _))) => true,
        (6, Some((_, 443))) => hello_pending || first_payload_byte(p, frame) == Some(22),
        (6, Some((_, 80))) => matches!(first_payload_byte(p, frame), Some(b'A'..=b'Z')),
        (17, Some((_, 443 | 8443))) => frame
            .get(usize::from(p.l4_at) + 8)
            .is_some_and(|&b| crate::quic::maybe_initial(b)),
        _ => false,
    }
}

/// The first byte after the TCP header (Ethernet padding may stand in for a missing payload:
/// `learn` bounds it by the IP length before it reads anything).
#[inline(always)]
fn first_payload_byte(p: &PacketInfo, frame: &[u8]) -> Option<u8> {
    let at = usize::from(p.l4_at);
    let data_offset = usize::from(*frame.get(at + 12)? >> 4) * 4;
    frame.get(at + data_offset).copied()
}

/// The kernel filter of the names handle: DNS answers (UDP and TCP from port 53), TLS
/// segments to port 443 that start a handshake record (0x16) or are a small segment ending a
/// write (PSH, at most one Ethernet frame: the last segment of a split ClientHello; a bulk
/// upload's merged GSO/GRO packets are bigger and stay out), and HTTP segments to port 80
/// with PSH; QUIC client Initials: UDP to 443/8443 of at least 1200 bytes (RFC 9000 §14.1)
/// whose first byte is a long header of type Initial, with the version that gives that type
/// code (v1: 0b00, v2: 0b01), so 1-RTT data (short header) and the other long-header packets
/// stay out. IPv6 with the transport header right after the fixed header (no extension
/// headers).
///
/// No `vlan and (...)` copy of it: Linux takes a received frame's VLAN tag out of the data
/// before the capture sockets see it (`skb_vlan_untag`; the tag travels as metadata), so these
/// tests match tagged frames as they are, and the copy (libpcap writes `vlan` for Linux as
/// an ancillary-data test plus a test of the data) made the program 3.5× bigger: 14.4 KB of
/// kernel memory against 4.1 KB. A socket filter must fit `net.core.optmem_max`, which is
/// 10,240 bytes on 32-bit kernels before Linux 6.9 (OpenWrt's MIPS routers): the bigger
/// program did not fit, libpcap then filtered in user space, every frame was copied whole to
/// the names handle, and that alone cost 2.6 µs of a 24Kc per packet (BENCHMARKS.md,
/// "mipsperf").
pub fn bpf_filter(_link: crate::packet::LinkType) -> String {
    let one = "(udp src port 53 or tcp src port 53 \
        or (ip and tcp dst port 443 and ((tcp[13] & 8 != 0 and ip[2:2] <= 1500) \
            or tcp[((tcp[12] & 0xf0) >> 2)] = 0x16)) \
        or (ip6 and tcp dst port 443 and ((ip6[53] & 8 != 0 and ip6[4:2] <= 1460) \
            or ip6[40 + ((ip6[52] & 0xf0) >> 2)] = 0x16)) \
        or (ip and tcp dst port 80 and tcp[13] & 8 != 0) \
        or (ip6 and tcp dst port 80 and ip6[53] & 8 != 0) \
        or (ip and (udp dst port 443 or udp dst port 8443) and udp[4:2] >= 1208 \
            and ((udp[8] & 0xb0 = 0x80 and udp[9:4] = 1) \
                or (udp[8] & 0xb0 = 0x90 and udp[9:4] = 0x6b3343cf))) \
        or (ip6 and ip6[6] = 17 and (udp dst port 443 or udp dst port 8443) \
            and ip6[44:2] >= 1208 \
            and ((ip6[48] & 0xb0 = 0x80 and ip6[49:4] = 1) \
                or (ip6[48] & 0xb0 = 0x90 and ip6[49:4] = 0x6b3343cf))))";
    one.to_string()
}

/// A name as connmap keeps it: lower case, no trailing dot, letters, digits, `-`, `_` and
/// `.` only, at most `MAX_NAME_LEN` bytes, not an address literal.
pub fn clean_name(raw: &[u8]) -> Option<String> {
    let raw = raw.strip_suffix(b".").unwrap_or(raw);
    if raw.is_empty() || raw.len() > MAX_NAME_LEN {
        return None;
    }
    let ok = raw
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok || raw.starts_with(b".") || raw.windows(2).any(|w| w == b"..") {
        return None;
    }
    let s = String::from_utf8_lossy(raw).to_ascii_lowercase();
    if s.parse::<IpAddr>().is_ok() {
        return None;
    }
    Some(s)
}

#[inline(always)]
fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads the DNS name at `at`. Returns the name (`None` when it is not a usable host name:
/// odd characters, too long) and the offset after it in the record; `None` when the bytes
/// end or the compression pointers loop.
fn read_name(msg: &[u8], mut at: usize) -> Option<(Option<String>, usize)> {
    let mut out: Vec<u8> = Vec::with_capacity(64);
    let mut end = None;
    let mut jumps = 0;
    let mut usable = true;
    loop {
        let len = *msg.get(at)? as usize;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    let end = end.unwrap_or(at + 1);
                    let name = if usable { clean_name(&out) } else { None };
                    return Some((name, end));
                }
                let label = msg.get(at + 1..at + 1 + len)?;
                if !out.is_empty() {
                    out.push(b'.');
                }
                out.extend_from_slice(label);
                if out.len() > MAX_NAME_LEN {
                    usable = false;
                    out.clear();
                }
                at += 1 + len;
            }
            0xc0 => {
                let target = usize::from(be16(msg, at)? & 0x3fff);
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return None;
                }
                if end.is_none() {
                    end = Some(at + 2);
                }
                at = target;
            }
            _ => return None, // extended label types (RFC 6891 left them dead)
        }
    }
}

/// What one DNS answer says: the name the host asked for, and the addresses it resolves to
/// (directly or through CNAMEs), each with its TTL in seconds.
#[derive(Debug, Default, PartialEq)]
pub struct DnsAnswer {
    pub qname: String,
    pub addrs: Vec<(IpAddr, u32)>,
}

/// Parses a DNS response message (UDP payload, or a TCP message without its length prefix).
/// A message cut short (snaplen, TC bit, a TCP segment) yields the records before the cut.
/// `None` for queries, errors, and anything that is not a usable answer.
pub fn parse_dns(msg: &[u8]) -> Option<DnsAnswer> {
    let flags = be16(msg, 2)?;
    // QR = response, opcode 0 (QUERY), RCODE 0.
    if flags & 0x8000 == 0 || flags & 0x7800 != 0 || flags & 0x000f != 0 {
        return None;
    }
    if be16(msg, 4)? != 1 {
        return None;
    }
    let ancount = usize::from(be16(msg, 6)?).min(MAX_ANSWERS);
    let (qname, mut at) = read_name(msg, 12)?;
    let qname = qname?;
    let qtype = be16(msg, at)?;
    if !matches!(qtype, 1 | 28 | 255) {
        return None; // not an address question (PTR, TXT, HTTPS ... name nothing we count)
    }
    at += 4;
    let mut cnames: Vec<(String, String)> = Vec::new();
    let mut found: Vec<(String, IpAddr, u32)> = Vec::new();
    for _ in 0..ancount {
        let Some((owner, next)) = read_name(msg, at) else {
            break;
        };
        let (Some(rtype), Some(class), Some(ttl), Some(rdlen)) = (
            be16(msg, next),
            be16(msg, next + 2),
            be32(msg, next + 4),
            be16(msg, next + 8),
        ) else {
            break;
        };
        let rdata_at = next + 10;
        let Some(rdata) = msg.get(rdata_at..rdata_at + usize::from(rdlen)) else {
            break;
        };
        at = rdata_at + usize::from(rdlen);
        let Some(owner) = owner else { continue };
        if class != 1 {
            continue;
        }
        match (rtype, rdata.len()) {
            (1, 4) => {
                let a: [u8; 4] = rdata.try_into().ok()?;
                found.push((owner, IpAddr::from(a), ttl));
            }
            (28, 16) => {
                let a: [u8; 16] = rdata.try_into().ok()?;
                found.push((owner, IpAddr::from(a), ttl));
            }
            (5, _) if cnames.len() < MAX_ANSWERS => {
                if let Some((Some(target), _)) = read_name(msg, rdata_at) {
                    cnames.push((owner, target));
                }
            }
            _ => {}
        }
    }
    let mut addrs = Vec::new();
    for (owner, addr, ttl) in found {
        // Follow the chain back from the address's owner to the question.
        let mut cur = owner.as_str();
        for _ in 0..=MAX_CHAIN {
            if cur == qname {
                if !addrs.iter().any(|(a, _)| *a == addr) {
                    addrs.push((addr, ttl));
                }
                break;
            }
            match cnames.iter().find(|(_, t)| t == cur) {
                Some((o, _)) => cur = o,
                None => break,
            }
        }
    }
    (!addrs.is_empty()).then_some(DnsAnswer { qname, addrs })
}

/// What the first bytes of a TLS connection say.
#[derive(Debug, PartialEq, Eq)]
pub enum Hello {
    /// A ClientHello with this server name.
    Name(String),
    /// A ClientHello with the `encrypted_client_hello` extension (ECH, outer form): its server
    /// name is the provider's public front (or, for a GREASE ECH extension, the site: the two
    /// look alike on the wire by design), never taken for the site's name.
    Ech(String),
    /// A complete ClientHello without a (usable) server name, or not TLS at all.
    None,
    /// The start of a ClientHello whose server name is not in these bytes yet.
    NeedMore,
}

impl Hello {
    /// The name and whether it is an ECH outer name.
    pub fn named(self) -> Option<(String, bool)> {
        match self {
            Hello::Name(n) => Some((n, false)),
            Hello::Ech(n) => Some((n, true)),
            _ => None,
        }
    }
}

/// Looks for the server name in the first bytes a client sent (one TLS record, possibly
/// spread over several segments: `buf` is what has arrived so far).
pub fn parse_client_hello(buf: &[u8]) -> Hello {
    // Record: type 22 (handshake), version 3.x, length.
    if buf.len() < 5 {
        return if buf.first().is_none_or(|&b| b == 22) {
            Hello::NeedMore
        } else {
            Hello::None
        };
    }
    if buf[0] != 22 || buf[1] != 3 {
        return Hello::None;
    }
    let rec_len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
    let complete = buf.len() >= 5 + rec_len;
    let rec = &buf[5..buf.len().min(5 + rec_len)];
    // Any read past what has arrived: more is needed if the record is not complete yet.
    let short = if complete {
        Hello::None
    } else {
        Hello::NeedMore
    };
    match hello_sni(rec) {
        Ok((Some(name), false)) => Hello::Name(name),
        Ok((Some(name), true)) => Hello::Ech(name),
        Ok((None, _)) => Hello::None,
        Err(()) => short,
    }
}

/// The extension type of `encrypted_client_hello` (ECH).
pub const EXT_ECH: u16 = 0xfe0d;

/// The server name and whether an outer ECH extension is there. All extensions are read (the
/// ECH extension may come after the server name). `Err` when the bytes end before the answer
/// is known.
fn hello_sni(h: &[u8]) -> Result<(Option<String>, bool), ()> {
    let get = |at: usize| h.get(at).copied().ok_or(());
    let get16 = |at: usize| be16(h, at).ok_or(());
    if get(0)? != 1 {
        return Ok((None, false)); // not a ClientHello
    }
    // type(1) length(3) version(2) random(32)
    let mut at = 38;
    at += 1 + usize::from(get(at)?); // session id
    at += 2 + usize::from(get16(at)?); // cipher suites
    at += 1 + usize::from(get(at)?); // compression methods
    let ext_end = at + 2 + usize::from(get16(at)?);
    at += 2;
    let (mut name, mut ech, mut seen_name) = (None, false, false);
    while at + 4 <= ext_end {
        let kind = get16(at)?;
        let len = usize::from(get16(at + 2)?);
        if kind == 0 && !seen_name {
            seen_name = true;
            // server_name: list length, then entries of (type, length, name)
            let mut e = at + 6;
            let list_end = at + 4 + len;
            while e + 3 <= list_end {
                let name_type = get(e)?;
                let n = usize::from(get16(e + 1)?);
                let raw = h.get(e + 3..e + 3 + n).ok_or(())?;
                if name_type == 0 {
                    name = clean_name(raw);
                    break;
                }
                e += 3 + n;
            }
        } else if kind == EXT_ECH && len > 0 {
            ech = get(at + 4)? == 0; // ECHClientHello type 0: outer
        }
        at += 4 + len;
    }
    if at > h.len() {
        return Err(());
    }
    Ok((name, ech))
}

/// The `Host` of a plain HTTP request (the first segment of it), without its port.
pub fn parse_http_host(p: &[u8]) -> Option<String> {
    const METHODS: &[&[u8]] = &[
        b"GET ",
        b"POST ",
        b"HEAD ",
        b"PUT ",
        b"DELETE ",
        b"OPTIONS ",
        b"PATCH ",
        b"CONNECT ",
    ];
    if !METHODS.iter().any(|m| p.starts_with(m)) {
        return None;
    }
    let head = &p[..p.len().min(4096)];
    let mut lines = head.split(|&b| b == b'\n').skip(1);
    lines.find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        if !line[..colon].eq_ignore_ascii_case(b"host") {
            return None;
        }
        let v = line[colon + 1..].trim_ascii();
        // host[:port]; an IPv6 literal in brackets is no name.
        let host = match v.iter().rposition(|&b| b == b':') {
            Some(i) if v[i + 1..].iter().all(u8::is_ascii_digit) => &v[..i],
            _ => v,
        };
        clean_name(host)
    })
}

/// A TCP segment's sequence number and payload.
#[inline]
pub fn tcp_payload(l4: &[u8]) -> Option<(u32, &[u8])> {
    let seq = be32(l4, 4)?;
    let off = usize::from(*l4.get(12)? >> 4) * 4;
    if off < 20 {
        return None;
    }
    Some((seq, l4.get(off..)?))
}

/// The payload of a UDP datagram.
pub fn udp_payload(l4: &[u8]) -> Option<&[u8]> {
    l4.get(8..)
}

/// The DNS messages of a TCP segment from port 53 (two-byte length prefixes). A message cut
/// by the end of the segment is parsed as far as it goes.
pub fn tcp_dns_messages(mut p: &[u8], mut each: impl FnMut(&[u8])) {
    for _ in 0..8 {
        let Some(len) = be16(p, 0) else { return };
        let end = (2 + usize::from(len)).min(p.len());
        each(&p[2..end]);
        p = &p[end..];
    }
}

type FlowKey = (Addr, u16, Addr, u16);

struct Pending {
    buf: Vec<u8>,
    next_seq: u32,
    segments: u8,
    since: u64,
}

/// ClientHellos spread over segments: at most `MAX_PENDING_HELLOS` flows, `MAX_HELLO_BYTES`
/// and `MAX_HELLO_SEGMENTS` each, in order only (a gap drops the flow).
#[derive(Default)]
pub struct HelloAssembler {
    pending: HashMap<FlowKey, Pending, RandomState>,
}

impl HelloAssembler {
    /// One data segment from a LAN host to port 443. Returns the server name (`Hello::Name`, or `Hello::Ech`) when
    /// known; `Hello::None` or `Hello::NeedMore` otherwise.
    pub fn segment(&mut self, key: FlowKey, seq: u32, data: &[u8], now: u64) -> Hello {
        if data.is_empty() {
            return Hello::None;
        }
        if let Some(p) = self.pending.get_mut(&key) {
            if p.next_seq != seq {
                self.pending.remove(&key);
                return Hello::None;
            }
            let room = MAX_HELLO_BYTES.saturating_sub(p.buf.len());
            p.buf.extend_from_slice(&data[..data.len().min(room)]);
            p.segments += 1;
            p.next_seq = seq.wrapping_add(data.len() as u32);
            let r = parse_client_hello(&p.buf);
            if r != Hello::NeedMore
                || p.segments >= MAX_HELLO_SEGMENTS
                || p.buf.len() >= MAX_HELLO_BYTES
            {
                self.pending.remove(&key);
            }
            return r;
        }
        match parse_client_hello(data) {
            Hello::NeedMore => {
                if self.pending.len() >= MAX_PENDING_HELLOS {
                    // Forget the stale ones; if none is stale, the oldest.
                    self.pending.retain(|_, p| p.since + 10 > now);
                    if self.pending.len() >= MAX_PENDING_HELLOS {
                        if let Some(k) = self
                            .pending
                            .iter()
                            .min_by_key(|(_, p)| p.since)
                            .map(|(k, _)| *k)
                        {
                            self.pending.remove(&k);
                        }
                    }
                }
                let keep = data.len().min(MAX_HELLO_BYTES);
                self.pending.insert(
                    key,
                    Pending {
                        buf: data[..keep].to_vec(),
                        next_seq: seq.wrapping_add(data.len() as u32),
                        segments: 1,
                        since: now,
                    },
                );
                Hello::NeedMore
            }
            r => r,
        }
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The test payload builders, shared with the end-to-end tests.
#[cfg(test)]
#[path = "../tests/common/payloads.rs"]
pub mod payloads;

#[cfg(test)]
mod tests {
    use super::payloads::*;
    use super::*;

    fn addr(s: &str) -> Addr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_and_aaaa() {
        let m = dns_response(
            "Example.COM",
            1,
            &[
                ("@", 1, vec![93, 184, 216, 34]),
                ("example.com", 28, addr_bytes("2606:2800:220:1::1")),
            ],
        );
        let a = parse_dns(&m).unwrap();
        assert_eq!(a.qname, "example.com");
        assert_eq!(
            a.addrs,
            vec![
                (ip("93.184.216.34"), 3600),
                (ip("2606:2800:220:1::1"), 3600)
            ]
        );
    }

    #[test]
    fn cname_chain_gives_the_question() {
        let m = dns_response(
            "www.shop.example",
            1,
            &[
                ("www.shop.example", 5, dns_name("shop.cdn.example")),
                ("shop.cdn.example", 5, dns_name("e1.edge.example")),
                ("e1.edge.example", 1, vec![151, 101, 1, 140]),
                ("unrelated.example", 1, vec![1, 2, 3, 4]),
            ],
        );
        let a = parse_dns(&m).unwrap();
        assert_eq!(a.qname, "www.shop.example");
        assert_eq!(a.addrs, vec![(ip("151.101.1.140"), 3600)]);
    }

    #[test]
    fn chain_longer_than_the_bound_is_not_followed() {
        let names: Vec<String> = (0..12).map(|i| format!("c{i}.example")).collect();
        let mut recs: Vec<(&str, u16, Vec<u8>)> = Vec::new();
        recs.push(("q.example", 5, dns_name(&names[0])));
        for i in 0..11 {
            recs.push((&names[i], 5, dns_name(&names[i + 1])));
        }
        recs.push((&names[11], 1, vec![8, 8, 4, 4]));
        assert_eq!(parse_dns(&dns_response("q.example", 1, &recs)), None);
    }

    #[test]
    fn many_answers_are_bounded() {
        let recs: Vec<(&str, u16, Vec<u8>)> = (0..200u32)
            .map(|i| ("@", 1, vec![1, 0, (i >> 8) as u8, i as u8]))
            .collect();
        let a = parse_dns(&dns_response("many.example", 1, &recs)).unwrap();
        assert_eq!(a.addrs.len(), MAX_ANSWERS);
    }

    #[test]
    fn truncated_and_malformed_answers() {
        let m = dns_response(
            "t.example",
            1,
            &[("@", 1, vec![1, 1, 1, 1]), ("@", 1, vec![1, 0, 0, 1])],
        );
        // Cut inside the second record: the first still counts.
        let a = parse_dns(&m[..m.len() - 2]).unwrap();
        assert_eq!(a.addrs, vec![(ip("1.1.1.1"), 3600)]);
        for cut in 0..m.len() {
            let _ = parse_dns(&m[..cut]);
        }
        // A query, an error, a pointer loop, a bad label type, a wrong A length.
        let mut q = m.clone();
        q[2] = 0x01;
        assert_eq!(parse_dns(&q), None);
        let mut e = m.clone();
        e[3] = 0x83;
        assert_eq!(parse_dns(&e), None);
        let mut l = m.clone();
        l[12] = 0xc0;
        l[13] = 12;
        assert_eq!(parse_dns(&l), None);
        let mut b = m.clone();
        b[12] = 0x80;
        assert_eq!(parse_dns(&b), None);
        let odd = dns_response("x.example", 1, &[("@", 1, vec![1, 2, 3])]);
        assert_eq!(parse_dns(&odd), None);
        let bad_name = dns_response("b<a>d.example", 1, &[("@", 1, vec![1, 2, 3, 4])]);
        assert_eq!(parse_dns(&bad_name), None);
        let ptr = dns_response(
            "4.3.2.1.in-addr.arpa",
            12,
            &[("@", 12, dns_name("x.example"))],
        );
        assert_eq!(parse_dns(&ptr), None);
    }

    #[test]
    fn tcp_messages_split_by_length() {
        let m = dns_response("t.example", 1, &[("@", 1, vec![1, 1, 1, 1])]);
        let mut seg = (m.len() as u16).to_be_bytes().to_vec();
        seg.extend_from_slice(&m);
        seg.extend_from_slice(&(m.len() as u16).to_be_bytes());
        seg.extend_from_slice(&m[..20]);
        let mut n = 0;
        tcp_dns_messages(&seg, |msg| {
            if parse_dns(msg).is_some() {
                n += 1
            }
        });
        assert_eq!(n, 1);
    }

    #[test]
    fn sni_whole_split_and_absent() {
        let h = client_hello(Some("Video.Example.NET"), 0);
        assert_eq!(
            parse_client_hello(&h),
            Hello::Name("video.example.net".into())
        );
        assert_eq!(parse_client_hello(&client_hello(None, 0)), Hello::None);
        assert_eq!(parse_client_hello(b"GET / HTTP/1.1\r\n"), Hello::None);
        let big = client_hello(Some("big.example"), 1800);
        assert_eq!(parse_client_hello(&big[..1400]), Hello::NeedMore);
        for cut in 0..big.len() {
            let _ = parse_client_hello(&big[..cut]);
        }
        let key = (addr("192.168.1.10"), 50000, addr("1.1.1.1"), 443);
        let mut asm = HelloAssembler::default();
        assert_eq!(asm.segment(key, 1000, &big[..1400], 1), Hello::NeedMore);
        assert_eq!(asm.len(), 1);
        assert_eq!(
            asm.segment(key, 2400, &big[1400..], 1),
            Hello::Name("big.example".into())
        );
        assert!(asm.is_empty());
        // Out of order: dropped, no name.
        assert_eq!(asm.segment(key, 1000, &big[..1400], 1), Hello::NeedMore);
        assert_eq!(asm.segment(key, 9999, &big[1400..], 1), Hello::None);
        assert!(asm.is_empty());
        // Bounded.
        for i in 0..1000u16 {
            let k = (addr("192.168.1.10"), i, addr("1.1.1.1"), 443);
            asm.segment(k, 0, &big[..1400], u64::from(i));
        }
        assert!(asm.len() <= MAX_PENDING_HELLOS);
    }

    #[test]
    fn ech_outer_is_not_the_name() {
        let h = client_hello_with(Some("cloudflare-ech.com"), 0, true);
        assert_eq!(
            parse_client_hello(&h),
            Hello::Ech("cloudflare-ech.com".into())
        );
        // The ECH extension after the name, in a second segment: the name waits for it.
        let h = client_hello_with(Some("cloudflare-ech.com"), 0, true);
        let cut = h.len() - 20;
        assert_eq!(parse_client_hello(&h[..cut]), Hello::NeedMore);
        let key = (addr("192.168.1.10"), 50001, addr("1.1.1.1"), 443);
        let mut asm = HelloAssembler::default();
        assert_eq!(asm.segment(key, 0, &h[..cut], 1), Hello::NeedMore);
        assert_eq!(
            asm.segment(key, cut as u32, &h[cut..], 1).named(),
            Some(("cloudflare-ech.com".into(), true))
        );
        // An inner-type ECH extension (1) is no outer hello.
        let mut inner = client_hello_with(Some("site.example"), 0, true);
        let at = inner.windows(2).position(|w| w == [0xfe, 0x0d]).unwrap();
        inner[at + 4] = 1;
        assert_eq!(
            parse_client_hello(&inner),
            Hello::Name("site.example".into())
        );
    }

    #[test]
    fn http_host() {
        assert_eq!(
            parse_http_host(
                b"GET /x HTTP/1.1\r\nUser-Agent: a\r\nhost: Plain.Example:8080\r\n\r\n"
            ),
            Some("plain.example".into())
        );
        assert_eq!(
            parse_http_host(b"POST / HTTP/1.1\r\nHost: 1.2.3.4\r\n\r\n"),
            None
        );
        assert_eq!(parse_http_host(b"\x16\x03\x01"), None);
        assert_eq!(parse_http_host(b"GET / HTTP/1.0\r\n\r\n"), None);
    }

    #[test]
    fn names_filter_compiles() {
        use crate::packet::LinkType;
        for (link, dlt) in [
            (LinkType::Ethernet, 1),
            (LinkType::LinuxSll, 113),
            (LinkType::RawIp, 12),
        ] {
            let cap = pcap::Capture::dead(pcap::Linktype(dlt)).unwrap();
            let f = bpf_filter(link);
            cap.compile(&f, true).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }

    /// The kernel takes a socket filter only if it fits `net.core.optmem_max` (10,240 bytes
    /// on 32-bit kernels before 6.9); otherwise libpcap filters in user space and every frame
    /// is copied to the names handle. 85 instructions took 4.1 KB of kernel memory (x86_64,
    /// Linux 6.18), the old 171 (with a `vlan` copy) 14.4 KB: keep well under the limit.
    #[test]
    fn names_filter_is_small_enough_for_a_32_bit_kernel() {
        let cap = pcap::Capture::dead(pcap::Linktype(1)).unwrap();
        let prog = cap.compile(&bpf_filter(crate::packet::LinkType::Ethernet), true);
        let n = prog.unwrap().get_instructions().len();
        assert!(n <= 100, "{n} instructions");
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name(b"A.b-c_d."), Some("a.b-c_d".into()));
        assert_eq!(clean_name(b""), None);
        assert_eq!(clean_name(b"a..b"), None);
        assert_eq!(clean_name(b"a b"), None);
        assert_eq!(clean_name(&[b'a'; 254]), None);
        assert_eq!(clean_name(b"10.0.0.1"), None);
    }
}
