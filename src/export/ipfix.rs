//! IPFIX (RFC 7011) export over UDP (`--ipfix HOST:PORT`).
//!
//! **What a flow is.** connmap's tables count per remote address (and per device), not per
//! 5-tuple: a remote's counters add up every device, port and protocol that talked to it. A
//! flow here is therefore one remote address over a stretch of time, exported as two
//! *uniflow* records (not RFC 5103 biflows, which few collectors decode):
//! - out: device → remote, the bytes and packets the LAN sent to it;
//! - in: remote → device, what came back.
//!
//! The device is the first LAN address that sent to the remote; the protocol the first one
//! seen, the remote port the lowest one seen (the tables keep at most `MAX_PORTS`); the LAN
//! side's port is not kept (0). Counts are deltas (`octetDeltaCount`, `packetDeltaCount`)
//! since the remote's previous record, so a collector's sums are the table's totals.
//!
//! **When.** Once per snapshot interval (`tick`, at most `MAX_RECORDS_PER_TICK` records, the
//! rest at the next ones), a remote with new traffic is exported when it
//! has been idle for `idle_timeout`, when its record has been open for `active_timeout`,
//! and every one at the end of a replay and on exit (`last`). Start and end times are the
//! remote's first and last packet where known, else the time of the previous record
//! (second resolution, as the tables keep). A remote evicted from a full table before its
//! record was sent loses that record (counted in `connmap_table_evicted_total`).
//!
//! **Information elements** (IANA): sourceIPv4Address(8)/sourceIPv6Address(27),
//! destinationIPv4Address(12)/destinationIPv6Address(28), sourceTransportPort(7),
//! destinationTransportPort(11), protocolIdentifier(4), octetDeltaCount(1),
//! packetDeltaCount(2), flowStartMilliseconds(152), flowEndMilliseconds(153),
//! bgpSourceAsNumber(16), bgpDestinationAsNumber(17) (the remote's AS on its side, 0 on the
//! device's), and two enterprise-specific elements under `PEN` = 32473: 1 = the remote's
//! country (ISO 3166-1 alpha-2, string, 2 octets), 2 = the name connmap learned for it
//! (string, variable length, ≤ 255 octets, empty when none). 32473 is the Private Enterprise
//! Number that RFC 5612 reserves for documentation: connmap has none registered; collectors
//! that do not know an enterprise element skip it by its length (RFC 7011, 8).
//!
//! **Transport.** A non-blocking connected UDP socket; messages are at most `MAX_MESSAGE`
//! octets (a 1500-byte MTU less IPv6 and UDP headers, with room); the templates are sent in
//! the first message and again every `TEMPLATE_REFRESH` seconds; the header's sequence number
//! counts the data records sent before the message. A bounded queue (`MAX_QUEUE` messages)
//! holds what the socket could not take at once: a slow or absent collector costs dropped
//! records (counted), never a wait on the data path.

use super::metrics::IpfixStats;
use crate::packet::Addr;
use crate::table::{Counters, Tables};
use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// IANA Private Enterprise Number of connmap's own elements (RFC 5612's documentation
/// number: see the module comment).
pub const PEN: u32 = 32473;
/// Enterprise element: the remote's country.
pub const IE_COUNTRY: u16 = 1;
/// Enterprise element: the learned name.
pub const IE_NAME: u16 = 2;
/// Template ids of the two record layouts.
pub const TEMPLATE_V4: u16 = 256;
pub const TEMPLATE_V6: u16 = 257;
/// Largest message (octets): 1500 − 40 (IPv6) − 8 (UDP) with room for tunnels.
pub const MAX_MESSAGE: usize = 1400;
/// Messages waiting for the socket, at most.
pub const MAX_QUEUE: usize = 64;
/// Templates are sent again after this many seconds.
pub const TEMPLATE_REFRESH: u64 = 60;
/// Longest learned name carried (octets; cut at a character boundary).
pub const MAX_NAME: usize = 255;
/// Records made per tick at most (about 170 messages): a burst of remotes going idle at once
/// is spread over the next ticks instead of holding the data path (they stay due). The last
/// tick (end of a replay, exit) has no limit.
pub const MAX_RECORDS_PER_TICK: usize = 4096;

/// Exporter settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub collector: SocketAddr,
    /// Seconds a record stays open while its remote is active.
    pub active_timeout: u64,
    /// Seconds of silence after which a remote's record is closed.
    pub idle_timeout: u64,
    /// Observation Domain ID in every message header.
    pub domain: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            collector: SocketAddr::from(([127, 0, 0, 1], 4739)),
            active_timeout: 60,
            idle_timeout: 15,
            domain: 1,
        }
    }
}

/// What was exported of one remote so far.
#[derive(Debug, Clone, Copy)]
struct Sent {
    /// The table entry's `first_seen`: another value means the remote was forgotten and
    /// seen again (new counters).
    first_seen: u64,
    counters: Counters,
    /// Start of the open record (s).
    start: u64,
    /// The remote had no new traffic at the last record: the next one starts with its next
    /// traffic (known to the interval: the time of the tick that saw it).
    closed: bool,
}

/// One data record, before encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
    pub protocol: u8,
    pub octets: u64,
    pub packets: u64,
    /// Milliseconds since the epoch.
    pub start_ms: u64,
    pub end_ms: u64,
    pub src_as: u32,
    pub dst_as: u32,
    pub country: [u8; 2],
    pub name: String,
}

/// The IPFIX exporting process.
pub struct Exporter {
    opts: Options,
    sock: UdpSocket,
    sent: HashMap<Addr, Sent>,
    enc: Encoder,
    queue: VecDeque<(Vec<u8>, u32)>,
    /// When the data path last ticked (on the tables' clock).
    last_tick: u64,
    pub stats: IpfixStats,
    logged_error: bool,
}

impl Exporter {
    pub fn new(opts: Options) -> Result<Exporter, String> {
        let bind: SocketAddr = if opts.collector.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let sock = UdpSocket::bind(bind).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
        sock.connect(opts.collector)
            .map_err(|e| format!("cannot reach {}: {e}", opts.collector))?;
        sock.set_nonblocking(true)
            .map_err(|e| format!("UDP socket: {e}"))?;
        Ok(Exporter {
            enc: Encoder::new(opts.domain),
            opts,
            sock,
            sent: HashMap::new(),
            queue: VecDeque::new(),
            last_tick: 0,
            stats: IpfixStats::default(),
            logged_error: false,
        })
    }

    /// The remotes of `tables` count as exported up to now (restored from `--state`: the
    /// previous run sent their records).
    pub fn already_counted(&mut self, tables: &Tables) {
        for (addr, r) in tables.remotes.iter() {
            self.sent.insert(
                *addr,
                Sent {
                    first_seen: r.first_seen,
                    counters: r.counters,
                    start: r.last_seen,
                    closed: true,
                },
            );
        }
    }

    /// Exports what is due (see the module comment); `last`: everything, and waits (at most
    /// a few seconds) for the socket to take it all.
    pub fn tick(&mut self, tables: &Tables, now: u64, last: bool) {
        let prev_tick = if self.last_tick == 0 {
            now
        } else {
            self.last_tick
        };
        self.last_tick = now;
        let mut records = Vec::new();
        for (addr, r) in tables.remotes.iter() {
            if !last && records.len() + 2 > MAX_RECORDS_PER_TICK {
                break; // the rest stay due: next tick
            }
            let s = self.sent.entry(*addr).or_insert(Sent {
                first_seen: r.first_seen,
                counters: Counters::default(),
                start: r.first_seen,
                closed: false,
            });
            if s.first_seen != r.first_seen {
                *s = Sent {
                    first_seen: r.first_seen,
                    counters: Counters::default(),
                    start: r.first_seen,
                    closed: false,
                };
            }
            let c = &r.counters;
            let d = Counters {
                packets_out: c.packets_out.saturating_sub(s.counters.packets_out),
                bytes_out: c.bytes_out.saturating_sub(s.counters.bytes_out),
                packets_in: c.packets_in.saturating_sub(s.counters.packets_in),
                bytes_in: c.bytes_in.saturating_sub(s.counters.bytes_in),
            };
            if d.packets_out == 0 && d.packets_in == 0 {
                continue;
            }
            if s.closed {
                // New traffic after a closed record: it began after the previous tick.
                s.closed = false;
                s.start = prev_tick.min(r.last_seen);
            }
            let idle = now.saturating_sub(r.last_seen) >= self.opts.idle_timeout;
            let active = now.saturating_sub(s.start) >= self.opts.active_timeout;
            if !(last || idle || active) {
                continue;
            }
            let geo = r.geo();
            let host = r.hosts.first().copied().unwrap_or(if addr.is_ipv4() {
                Addr::from_v4_bytes([0; 4])
            } else {
                Addr::from(std::net::IpAddr::from([0u16; 8]))
            });
            let asn = geo.and_then(|g| g.asn).unwrap_or(0);
            let country = geo.and_then(|g| g.country).unwrap_or([0, 0]);
            let name = r.names.first().map(|n| n.to_string()).unwrap_or_default();
            let protocol = r.protocols.first().copied().unwrap_or(0);
            let port = if matches!(protocol, 6 | 17 | 132 | 136) {
                r.ports.first().copied().unwrap_or(0)
            } else {
                0
            };
            let (start_ms, end_ms) = (s.start * 1000, r.last_seen.max(s.start) * 1000);
            if d.packets_out > 0 {
                records.push(Record {
                    src: host,
                    dst: *addr,
                    sport: 0,
                    dport: port,
                    protocol,
                    octets: d.bytes_out,
                    packets: d.packets_out,
                    start_ms,
                    end_ms,
                    src_as: 0,
                    dst_as: asn,
                    country,
                    name: name.clone(),
                });
            }
            if d.packets_in > 0 {
                records.push(Record {
                    src: *addr,
                    dst: host,
                    sport: port,
                    dport: 0,
                    protocol,
                    octets: d.bytes_in,
                    packets: d.packets_in,
                    start_ms,
                    end_ms,
                    src_as: asn,
                    dst_as: 0,
                    country,
                    name,
                });
            }
            s.counters = *c;
            if idle {
                s.closed = true;
            } else {
                s.start = r.last_seen.max(s.start);
            }
        }
        // Forget what the tables forgot: bounded by the remote table.
        if self.sent.len() > tables.remotes.len() {
            self.sent.retain(|a, _| tables.remotes.contains_key(a));
        }
        let wall = crate::daemon::unix_now();
        for (msg, n) in self.enc.messages(&records, wall) {
            self.enqueue(msg, n, last);
        }
        self.flush(last);
    }

    fn enqueue(&mut self, msg: Vec<u8>, records: u32, wait: bool) {
        if self.queue.len() >= MAX_QUEUE {
            self.flush(wait);
        }
        if self.queue.len() >= MAX_QUEUE {
            // the oldest go first: the collector is behind anyway
            if let Some((_, n)) = self.queue.pop_front() {
                self.stats.dropped_records += u64::from(n);
            }
        }
        self.queue.push_back((msg, records));
    }

    /// Sends what the socket takes; `wait`: retries a full socket for up to 5 s.
    fn flush(&mut self, wait: bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Some((msg, n)) = self.queue.front() {
            match self.sock.send(msg) {
                Ok(_) => {
                    self.stats.messages += 1;
                    self.stats.records += u64::from(*n);
                    self.queue.pop_front();
                    if wait {
                        // a burst at the end: give a collector on a small socket buffer a chance
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if wait && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(1));
                        continue;
                    }
                    return;
                }
                Err(e) => {
                    // ECONNREFUSED (no collector yet) and the like: this message is lost.
                    self.stats.send_errors += 1;
                    self.stats.dropped_records += u64::from(*n);
                    if !self.logged_error || self.stats.send_errors.is_power_of_two() {
                        self.logged_error = true;
                        log::warn!(
                            "ipfix: cannot send to {}: {e} ({} messages so far)",
                            self.opts.collector,
                            self.stats.send_errors
                        );
                    }
                    self.queue.pop_front();
                }
            }
        }
    }
}

/// Field specifiers: (element id, length, enterprise number).
const VARIABLE: u16 = 65535;

fn fields(v6: bool) -> Vec<(u16, u16, u32)> {
    let (src, dst, alen) = if v6 { (27, 28, 16) } else { (8, 12, 4) };
    vec![
        (src, alen, 0),
        (dst, alen, 0),
        (7, 2, 0),
        (11, 2, 0),
        (4, 1, 0),
        (1, 8, 0),
        (2, 8, 0),
        (152, 8, 0),
        (153, 8, 0),
        (16, 4, 0),
        (17, 4, 0),
        (IE_COUNTRY, 2, PEN),
        (IE_NAME, VARIABLE, PEN),
    ]
}

/// Builds messages: header, template set when due, data sets; tracks the sequence number.
pub struct Encoder {
    domain: u32,
    /// Data records sent before the next message (RFC 7011, 3.1).
    pub sequence: u32,
    /// When the templates were last sent (wall clock s); `None`: never.
    templates_sent: Option<u64>,
}

impl Encoder {
    pub fn new(domain: u32) -> Encoder {
        Encoder {
            domain,
            sequence: 0,
            templates_sent: None,
        }
    }

    fn template_set() -> Vec<u8> {
        let mut s = vec![0, 2, 0, 0];
        for (id, v6) in [(TEMPLATE_V4, false), (TEMPLATE_V6, true)] {
            let f = fields(v6);
            s.extend_from_slice(&id.to_be_bytes());
            s.extend_from_slice(&(f.len() as u16).to_be_bytes());
            for (ie, len, pen) in f {
                if pen != 0 {
                    s.extend_from_slice(&(ie | 0x8000).to_be_bytes());
                    s.extend_from_slice(&len.to_be_bytes());
                    s.extend_from_slice(&pen.to_be_bytes());
                } else {
                    s.extend_from_slice(&ie.to_be_bytes());
                    s.extend_from_slice(&len.to_be_bytes());
                }
            }
        }
        let len = s.len() as u16;
        s[2..4].copy_from_slice(&len.to_be_bytes());
        s
    }

    fn encode(r: &Record, out: &mut Vec<u8>) {
        let addr = |a: &Addr, out: &mut Vec<u8>| match a.ip() {
            std::net::IpAddr::V4(v) => out.extend_from_slice(&v.octets()),
            std::net::IpAddr::V6(v) => out.extend_from_slice(&v.octets()),
        };
        addr(&r.src, out);
        addr(&r.dst, out);
        out.extend_from_slice(&r.sport.to_be_bytes());
        out.extend_from_slice(&r.dport.to_be_bytes());
        out.push(r.protocol);
        out.extend_from_slice(&r.octets.to_be_bytes());
        out.extend_from_slice(&r.packets.to_be_bytes());
        out.extend_from_slice(&r.start_ms.to_be_bytes());
        out.extend_from_slice(&r.end_ms.to_be_bytes());
        out.extend_from_slice(&r.src_as.to_be_bytes());
        out.extend_from_slice(&r.dst_as.to_be_bytes());
        out.extend_from_slice(&r.country);
        let mut n = r.name.len().min(MAX_NAME);
        while !r.name.is_char_boundary(n) {
            n -= 1;
        }
        // variable length, short form (< 255)
        out.push(n as u8);
        out.extend_from_slice(&r.name.as_bytes()[..n]);
    }

    /// The records as messages of at most `MAX_MESSAGE` octets, each with its record count.
    /// `now`: wall clock (s), the messages' export time and the template refresh clock.
    pub fn messages(&mut self, records: &[Record], now: u64) -> Vec<(Vec<u8>, u32)> {
        let mut out = Vec::new();
        let mut msg = Vec::new();
        let mut count = 0u32;
        // The open data set: (template id, offset of its header in `msg`).
        let mut set: Option<(u16, usize)> = None;
        let mut templates_due = self
            .templates_sent
            .is_none_or(|t| now.saturating_sub(t) >= TEMPLATE_REFRESH);
        let mut rec = Vec::with_capacity(64);
        let close_set = |msg: &mut Vec<u8>, set: &mut Option<(u16, usize)>| {
            if let Some((_, at)) = set.take() {
                let len = (msg.len() - at) as u16;
                msg[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
            }
        };
        let mut finish = |msg: &mut Vec<u8>,
                          set: &mut Option<(u16, usize)>,
                          count: &mut u32,
                          enc: &mut Encoder| {
            close_set(msg, set);
            if msg.len() > 16 {
                let len = msg.len() as u16;
                msg[2..4].copy_from_slice(&len.to_be_bytes());
                out.push((std::mem::take(msg), *count));
                enc.sequence = enc.sequence.wrapping_add(*count);
            }
            msg.clear();
            *count = 0;
        };
        let start = |msg: &mut Vec<u8>, enc: &Encoder, templates: bool| {
            msg.extend_from_slice(&10u16.to_be_bytes());
            msg.extend_from_slice(&0u16.to_be_bytes());
            msg.extend_from_slice(&(now as u32).to_be_bytes());
            msg.extend_from_slice(&enc.sequence.to_be_bytes());
            msg.extend_from_slice(&enc.domain.to_be_bytes());
            if templates {
                msg.extend_from_slice(&Encoder::template_set());
            }
        };
        start(&mut msg, self, templates_due);
        if templates_due {
            self.templates_sent = Some(now);
            templates_due = false;
        }
        for r in records {
            rec.clear();
            Encoder::encode(r, &mut rec);
            let id = if r.src.is_ipv4() {
                TEMPLATE_V4
            } else {
                TEMPLATE_V6
            };
            let need = rec.len() + if set.map(|s| s.0) == Some(id) { 0 } else { 4 };
            if msg.len() + need > MAX_MESSAGE {
                finish(&mut msg, &mut set, &mut count, self);
                start(&mut msg, self, templates_due);
            }
            if set.map(|s| s.0) != Some(id) {
                close_set(&mut msg, &mut set);
                set = Some((id, msg.len()));
                msg.extend_from_slice(&id.to_be_bytes());
                msg.extend_from_slice(&[0, 0]);
            }
            msg.extend_from_slice(&rec);
            count += 1;
        }
        finish(&mut msg, &mut set, &mut count, self);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u32, v6: bool) -> Record {
        let (src, dst): (Addr, Addr) = if v6 {
            ("fd00::10".parse().unwrap(), "2001:db8::1".parse().unwrap())
        } else {
            (
                Addr::from_v4_bytes([192, 168, 1, 10]),
                Addr::from_v4_bytes([1, 2, 3, (i % 250) as u8]),
            )
        };
        Record {
            src,
            dst,
            sport: 0,
            dport: 443,
            protocol: 6,
            octets: 1000 + u64::from(i),
            packets: 3,
            start_ms: 1_000,
            end_ms: 2_000,
            src_as: 0,
            dst_as: 64496,
            country: *b"DE",
            name: format!("host{i}.example"),
        }
    }

    /// Walks a message as a collector would: (sequence, sets as (id, length)).
    fn parse(m: &[u8]) -> (u32, Vec<(u16, usize)>) {
        assert_eq!(u16::from_be_bytes([m[0], m[1]]), 10);
        assert_eq!(u16::from_be_bytes([m[2], m[3]]) as usize, m.len());
        assert!(m.len() <= MAX_MESSAGE);
        let seq = u32::from_be_bytes(m[8..12].try_into().unwrap());
        let mut sets = Vec::new();
        let mut at = 16;
        while at < m.len() {
            let id = u16::from_be_bytes([m[at], m[at + 1]]);
            let len = u16::from_be_bytes([m[at + 2], m[at + 3]]) as usize;
            assert!(len >= 4 && at + len <= m.len());
            sets.push((id, len));
            at += len;
        }
        assert_eq!(at, m.len());
        (seq, sets)
    }

    #[test]
    fn messages_are_mtu_sized_with_sequence_numbers_and_templates() {
        let mut e = Encoder::new(7);
        let records: Vec<Record> = (0..200).map(|i| rec(i, i % 3 == 0)).collect();
        let msgs = e.messages(&records, 1000);
        assert!(msgs.len() > 5);
        let mut expected_seq = 0u32;
        for (i, (m, n)) in msgs.iter().enumerate() {
            let (seq, sets) = parse(m);
            assert_eq!(seq, expected_seq);
            assert_eq!(u32::from_be_bytes(m[12..16].try_into().unwrap()), 7);
            // templates in the first message only (refresh is by time)
            assert_eq!(sets[0].0 == 2, i == 0, "message {i}");
            expected_seq += n;
        }
        assert_eq!(expected_seq, 200);
        assert_eq!(e.sequence, 200);
        // within the refresh time: no templates; after it: templates again
        let (m, _) = &e.messages(&records[..1], 1000 + TEMPLATE_REFRESH - 1)[0];
        assert_ne!(parse(m).1[0].0, 2);
        let (m, _) = &e.messages(&records[..1], 1000 + TEMPLATE_REFRESH)[0];
        assert_eq!(parse(m).1[0].0, 2);
        assert_eq!(e.sequence, 202);
    }

    #[test]
    fn record_layout() {
        let mut out = Vec::new();
        Encoder::encode(&rec(1, false), &mut out);
        // 4+4+2+2+1+8+8+8+8+4+4+2 fixed, 1 length, the name
        assert_eq!(out.len(), 55 + 1 + "host1.example".len());
        assert_eq!(&out[0..4], &[192, 168, 1, 10]);
        assert_eq!(&out[10..12], &443u16.to_be_bytes());
        assert_eq!(out[12], 6);
        assert_eq!(&out[13..21], &1001u64.to_be_bytes());
        let long = Record {
            name: "é".repeat(200),
            ..rec(1, true)
        };
        out.clear();
        Encoder::encode(&long, &mut out);
        let n = out[79] as usize;
        assert!(n <= MAX_NAME && n % 2 == 0);
        assert!(std::str::from_utf8(&out[80..80 + n]).is_ok());
        assert_eq!(out.len(), 80 + n);
    }

    #[test]
    fn template_set_describes_both_layouts() {
        let t = Encoder::template_set();
        assert_eq!(u16::from_be_bytes([t[0], t[1]]), 2);
        assert_eq!(u16::from_be_bytes([t[2], t[3]]) as usize, t.len());
        assert_eq!(u16::from_be_bytes([t[4], t[5]]), TEMPLATE_V4);
        assert_eq!(u16::from_be_bytes([t[6], t[7]]), 13);
    }

    /// IPv4 data records of the messages: (src, dst, octets, packets, start s, end s, AS).
    fn v4_records(msgs: &[Vec<u8>]) -> Vec<(String, String, u64, u64, u64, u64, u32)> {
        let mut out = Vec::new();
        for m in msgs {
            let (_, sets) = parse(m);
            let mut at = 16;
            for (id, len) in sets {
                if id == TEMPLATE_V4 {
                    let mut r = at + 4;
                    while r < at + len {
                        let b = &m[r..];
                        let ip =
                            |o: usize| std::net::Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]);
                        let u64at = |o: usize| u64::from_be_bytes(b[o..o + 8].try_into().unwrap());
                        let asn = |o: usize| u32::from_be_bytes(b[o..o + 4].try_into().unwrap());
                        out.push((
                            ip(0).to_string(),
                            ip(4).to_string(),
                            u64at(13),
                            u64at(21),
                            u64at(29) / 1000,
                            u64at(37) / 1000,
                            asn(45).max(asn(49)),
                        ));
                        r += 55 + 1 + b[55] as usize;
                    }
                }
                at += len;
            }
        }
        out
    }

    #[test]
    fn ticks_export_idle_and_active_flows_as_deltas() {
        use crate::filter::{Direction, Flow, Networks};
        use crate::packet::PacketInfo;
        let nets = Networks::new(vec!["192.168.1.0/24".parse().unwrap()], vec![], vec![]);
        let mut t = Tables::new(100, 10);
        let send = |t: &mut Tables, dir: Direction, remote: &str, bytes: u32, now: u64| {
            let p = PacketInfo {
                src: "192.168.1.2".parse().unwrap(),
                dst: remote.parse().unwrap(),
                protocol: 6,
                ports: None,
                src_mac: None,
                ..Default::default()
            };
            let f = Flow {
                direction: dir,
                host: p.src,
                remote: p.dst,
                remote_port: Some(443),
            };
            t.record(&f, &p, bytes, now, &nets);
        };
        let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
        collector
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut x = Exporter::new(Options {
            collector: collector.local_addr().unwrap(),
            ..Default::default()
        })
        .unwrap();
        let mut msgs = Vec::new();
        let recv = |msgs: &mut Vec<Vec<u8>>| {
            let mut buf = [0u8; 2048];
            while let Ok(n) = collector.recv(&mut buf) {
                msgs.push(buf[..n].to_vec());
            }
        };
        // a short exchange with 1.1.1.1, then silence
        send(&mut t, Direction::Out, "1.1.1.1", 100, 100);
        send(&mut t, Direction::In, "1.1.1.1", 1000, 101);
        // 8.8.8.8 busy for 150 s: records every active timeout
        for now in (100..=250).step_by(5) {
            send(&mut t, Direction::Out, "8.8.8.8", 10, now);
            x.tick(&t, now, false);
        }
        recv(&mut msgs);
        let r = v4_records(&msgs);
        // 1.1.1.1: went idle at 101 + 15, both directions, once
        let one: Vec<_> = r
            .iter()
            .filter(|r| r.1 == "1.1.1.1" || r.0 == "1.1.1.1")
            .collect();
        assert_eq!(one.len(), 2, "{r:?}");
        assert_eq!((one[0].2, one[0].3, one[0].4, one[0].5), (100, 1, 100, 101));
        assert_eq!((one[1].0.as_str(), one[1].2), ("1.1.1.1", 1000));
        // 8.8.8.8: active records at 160 and 220 so far
        let eight: Vec<_> = r.iter().filter(|r| r.1 == "8.8.8.8").collect();
        assert_eq!(eight.len(), 2, "{r:?}");
        assert_eq!(eight[0].4, 100);
        assert_eq!(eight[1].4, eight[0].5);
        // the end: the rest, and the sums are the table's
        x.tick(&t, 250, true);
        recv(&mut msgs);
        let r = v4_records(&msgs);
        let sum: u64 = r.iter().filter(|r| r.1 == "8.8.8.8").map(|r| r.2).sum();
        assert_eq!(sum, 31 * 10);
        assert_eq!(
            r.iter().filter(|r| r.1 == "1.1.1.1").count(),
            1,
            "no second record"
        );
        assert_eq!(x.stats.records as usize, r.len());
        assert_eq!(x.stats.dropped_records, 0);
        // after a restart with --state: what was restored is not sent again, new traffic is
        let mut y = Exporter::new(Options {
            collector: collector.local_addr().unwrap(),
            ..Default::default()
        })
        .unwrap();
        y.already_counted(&t);
        y.tick(&t, 260, true);
        assert_eq!(y.stats.records, 0);
        send(&mut t, Direction::Out, "1.1.1.1", 77, 270);
        y.tick(&t, 270, true);
        assert_eq!(y.stats.records, 1);
        recv(&mut msgs);
        assert_eq!(v4_records(&msgs).last().unwrap().2, 77);
        // a remote forgotten by the table is forgotten here too
        t.expire(10_000, 10);
        x.tick(&t, 10_000, false);
        assert!(x.sent.is_empty());
    }

    #[test]
    fn an_absent_collector_never_blocks() {
        // a port nobody listens on: sends fail or vanish, tick returns
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut x = Exporter::new(Options {
            collector: SocketAddr::from(([127, 0, 0, 1], port)),
            ..Default::default()
        })
        .unwrap();
        let mut e = Encoder::new(1);
        for _ in 0..3 * MAX_QUEUE {
            for (m, n) in e.messages(&[rec(1, false)], 5) {
                x.enqueue(m, n, false);
            }
            x.flush(false);
        }
        assert!(x.queue.len() <= MAX_QUEUE);
        assert_eq!(
            x.stats.records + x.stats.dropped_records + x.queue.len() as u64,
            3 * MAX_QUEUE as u64
        );
    }
}
