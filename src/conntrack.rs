//! Conntrack: a second counting source beside the capture, for flows that flow offloading
//! hides from `br-lan` (`--conntrack`).
//!
//! With OpenWrt's flow offloading, a connection's first packets take the normal path (the
//! capture sees them, and so names and ports are still learned there), the rest bypass it.
//! The kernel's connection tracking still counts every packet of a connection in both
//! directions when `nf_conntrack_acct` is on (fw4 gives its flowtable the `counter` flag, so
//! the fast path writes its bytes back). This module reads those counters over ctnetlink, in
//! the daemon's single-threaded loop, and adds them to the same tables:
//!
//! - **Which flows.** LAN-originated ones only: the original tuple's source is a LAN host
//!   (not excluded) and its destination can be a remote — the same `Networks` test as the
//!   capture's. Remote-originated flows (port forwards) are left out, as the capture only
//!   counts replies for remotes the LAN talked to.
//! - **Deltas.** Conntrack's counters are totals per connection; connmap remembers the last
//!   totals it saw per connection id (only for LAN-originated flows, ~48 bytes each, bounded
//!   by the kernel's own `nf_conntrack_max`) and adds the difference. The first dump after
//!   conntrack becomes the source is a *baseline*: it is remembered, not counted, so that
//!   connections older than the daemon (or than a restored state) are not counted again.
//! - **Who counts bytes.** When conntrack is the source (it answered, and accounting is
//!   on), it is *authoritative* for packets and bytes: the capture stops adding to the
//!   counters (`Tables::capture_counts` false) and keeps what only it can do — new remotes
//!   appear at their first packet, names, ports, MAC addresses, `last_seen`. A packet that
//!   both saw is therefore counted once, by conntrack. The page then shows **layer-3 bytes**
//!   (IP header and payload, as conntrack counts them), not wire bytes (the capture's, with
//!   the 14-byte Ethernet header). When conntrack cannot count (no CAP_NET_ADMIN, no
//!   ctnetlink, accounting off), the capture counts, as without `--conntrack`.
//! - **Cost: periodic dumps plus DESTROY events, no zeroing.** Events other than DESTROY do
//!   not carry counters, so a long transfer is only seen by dumps; a dump walks the whole
//!   conntrack table (the kernel cannot filter by LAN prefix), so it happens once per
//!   snapshot interval, and never takes more than 1/20 of the time (a huge table on a slow
//!   core is dumped less often, logged once). Flows that end between two dumps arrive as
//!   DESTROY events with their final counters. Dumps that zero the counters on read
//!   (`IPCTNL_MSG_CT_GET_CTRZERO`) would need no per-flow memory, but they would steal the
//!   counts of every other reader of conntrack (nlbwmon, `conntrack -L`, the final counters
//!   of DESTROY events) and cost the same per entry (BENCHMARKS.md): not used.
//! - **Lost events.** When the event socket's buffer overflows (ENOBUFS), the loss is
//!   counted (`conntrack.enobufs` in markers.json) and a resync dump follows at once; the
//!   bytes of flows that ended unseen since the previous dump are lost, nothing is counted
//!   twice. A flow missing from two consecutive dumps is forgotten.

#[path = "conntrack/netlink.rs"]
mod netlink;
#[path = "conntrack/parse.rs"]
pub mod parse;

use crate::filter::Networks;
use crate::hash::RandomState;
use crate::packet::Addr;
use crate::table::{Counters, Tables};
use parse::{Count, CtFlow, Msg};
use serde::Serialize;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where `nf_conntrack_acct` is read.
pub const ACCT_SYSCTL: &str = "/proc/sys/net/netfilter/nf_conntrack_acct";
const CONNTRACK_MAX_SYSCTL: &str = "/proc/sys/net/netfilter/nf_conntrack_max";
/// Kernel buffer of the event socket: ~3000 DESTROY events between two reads.
const EVENT_BUFFER: usize = 1 << 20;
const RECV_BUFFER: usize = 32 * 1024;
const RETRY: Duration = Duration::from_secs(60);
/// A dump takes at most 1/DUMP_SHARE of the time.
const DUMP_SHARE: u32 = 20;

/// The `conntrack` object of markers.json (null without `--conntrack`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConntrackInfo {
    /// Conntrack is counting now (the baseline dump is done, accounting is on).
    pub active: bool,
    /// `nf_conntrack_acct` (null when it cannot be read).
    pub accounting: Option<bool>,
    /// LAN-originated connections remembered, and the bound (the kernel's nf_conntrack_max).
    pub flows: usize,
    pub max_flows: usize,
    pub dumps: u64,
    /// Duration of the last dump, milliseconds, and the connections it listed (all, not
    /// only LAN-originated).
    pub last_dump_ms: u64,
    pub last_dump_entries: u64,
    /// DESTROY events read.
    pub events: u64,
    /// Times the kernel dropped events (ENOBUFS on the event socket), and resync dumps.
    pub enobufs: u64,
    pub resyncs: u64,
    /// LAN-originated connections without counters (created while accounting was off).
    pub without_counters: u64,
    /// Connections not remembered because the table was full (not counted).
    pub untracked: u64,
    /// Messages that could not be parsed.
    pub parse_errors: u64,
    /// Why conntrack is not counting, or null.
    pub error: Option<String>,
}

/// Last totals seen of one connection.
#[derive(Clone, Copy)]
struct Seen {
    /// Fingerprint of the original tuple: a reused id with another tuple is another flow.
    tuple: u32,
    /// Dump generation that last listed it.
    generation: u32,
    orig: Count,
    reply: Count,
}

fn fingerprint(f: &CtFlow) -> u32 {
    let (s, d) = (f.src.map_or(0, Addr::fold), f.dst.map_or(0, Addr::fold));
    let p = f
        .ports
        .map_or(0, |(a, b)| u64::from(a) << 16 | u64::from(b));
    let x = (s ^ d.rotate_left(21) ^ p.rotate_left(42) ^ u64::from(f.protocol))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 32) as u32
}

/// The two netlink sockets: DESTROY events (non-blocking, polled by the daemon's loop) and
/// dump requests.
struct Sockets {
    events: netlink::Socket,
    dumps: netlink::Socket,
}

/// The conntrack source.
pub struct Conntrack {
    sockets: Option<Sockets>,
    flows: HashMap<u32, Seen, RandomState>,
    generation: u32,
    /// The next dump only remembers (after start, after accounting came on, after an error).
    baseline: bool,
    interval: Duration,
    next_dump: Instant,
    next_open: Instant,
    throttled: bool,
    seq: u32,
    /// LAN-originated connections with and without counters in the current dump.
    counted_in_dump: (u64, u64),
    warned_no_counters: bool,
    acct_path: PathBuf,
    buf: Vec<u8>,
    pub info: ConntrackInfo,
}

impl Conntrack {
    /// Dumps every `interval` (or less often when a dump is slow). Opens the sockets at the
    /// first `step`.
    pub fn new(interval: Duration) -> Conntrack {
        Conntrack {
            sockets: None,
            flows: HashMap::with_hasher(RandomState::default()),
            generation: 0,
            baseline: true,
            interval,
            next_dump: Instant::now(),
            next_open: Instant::now(),
            throttled: false,
            seq: 1,
            counted_in_dump: (0, 0),
            warned_no_counters: false,
            acct_path: ACCT_SYSCTL.into(),
            buf: vec![0; RECV_BUFFER],
            info: ConntrackInfo::default(),
        }
    }

    /// The event socket, for the daemon's loop to wait on (none while the sockets are not
    /// open).
    pub fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.sockets.as_ref().map(|s| s.events.raw_fd())
    }

    /// When `step` has something to do without an event: the next dump, or the next attempt
    /// to open the sockets.
    pub fn next_deadline(&self) -> Instant {
        if self.sockets.is_none() {
            self.next_open
        } else {
            self.next_dump
        }
    }

    fn open(&mut self) -> Result<(), String> {
        let group = 1u32 << (parse::NFNLGRP_CONNTRACK_DESTROY - 1);
        let why = |e: io::Error| {
            let hint = if e.raw_os_error() == Some(libc::EPERM) {
                " (conntrack needs CAP_NET_ADMIN)"
            } else if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) {
                " (no ctnetlink in this kernel: kmod-nf-conntrack-netlink)"
            } else {
                ""
            };
            format!("conntrack: {e}{hint}")
        };
        let events = netlink::Socket::open(group, true).map_err(why)?;
        events.set_receive_buffer(EVENT_BUFFER);
        let dumps = netlink::Socket::open(0, false).map_err(why)?;
        dumps
            .set_receive_timeout(Duration::from_secs(5))
            .map_err(why)?;
        self.sockets = Some(Sockets { events, dumps });
        self.info.max_flows = std::fs::read_to_string(CONNTRACK_MAX_SYSCTL)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65_536usize)
            .clamp(1024, 1 << 20);
        Ok(())
    }

    fn close(&mut self) {
        self.sockets = None;
    }

    /// Stops counting from conntrack (the capture counts again) and says why.
    fn fail(&mut self, tables: &mut Tables, why: String) {
        if self.info.error.as_deref() != Some(&why) {
            log::error!(
                "{why}; the capture counts bytes (retrying every {} s)",
                RETRY.as_secs()
            );
        }
        self.info.error = Some(why);
        self.stop(tables);
        self.close();
        self.next_open = Instant::now() + RETRY;
    }

    fn stop(&mut self, tables: &mut Tables) {
        if self.info.active {
            tables.mark_changed();
        }
        self.info.active = false;
        tables.capture_counts = true;
        self.flows.clear();
        self.info.flows = 0;
        self.baseline = true;
    }

    /// `nf_conntrack_acct` now, if readable.
    fn accounting(&self) -> Option<bool> {
        std::fs::read_to_string(&self.acct_path)
            .ok()
            .map(|s| s.trim() != "0")
    }

    /// One turn of the daemon's loop: DESTROY events queued, and a dump when one is due.
    pub fn step(&mut self, nets: &Networks, tables: &mut Tables, now: u64) {
        if self.sockets.is_none() {
            if Instant::now() < self.next_open {
                return;
            }
            if let Err(e) = self.open() {
                self.fail(tables, e);
                return;
            }
            log::info!("conntrack: reading connection counters over ctnetlink");
        }
        if let Err(e) = self.drain_events(nets, tables, now) {
            self.fail(tables, e);
            return;
        }
        if Instant::now() >= self.next_dump {
            self.dump_now(nets, tables, now);
        }
    }

    fn dump_now(&mut self, nets: &Networks, tables: &mut Tables, now: u64) {
        let acct = self.accounting();
        if acct != self.info.accounting {
            if acct == Some(false) {
                log::warn!(
                    "conntrack: accounting is off (net.netfilter.nf_conntrack_acct = 0): \
                     the capture counts bytes; turn it on (UCI connmap.main.conntrack_acct) \
                     to count offloaded flows"
                );
            }
            self.info.accounting = acct;
        }
        if acct == Some(false) {
            self.stop(tables);
            self.next_dump = Instant::now() + self.interval;
            return;
        }
        let started = Instant::now();
        match self.dump(nets, tables, now) {
            Ok(entries) => {
                let took = started.elapsed();
                self.info.dumps += 1;
                self.info.last_dump_ms = took.as_millis() as u64;
                self.info.last_dump_entries = entries;
                self.info.error = None;
                let wait = self.interval.max(took * DUMP_SHARE);
                if wait > self.interval && !self.throttled {
                    log::warn!(
                        "conntrack: a dump of {entries} connections takes {} ms: dumping every \
                         {} s instead of {} s",
                        took.as_millis() as u64, // (no u128 formatting code)
                        crate::daemon::ceil_secs(wait),
                        self.interval.as_secs()
                    );
                }
                self.throttled = wait > self.interval;
                self.next_dump = Instant::now() + wait;
            }
            Err(e) => self.fail(tables, e),
        }
    }

    /// Dumps the table: deltas of known connections, new ones in full (or remembered only,
    /// for a baseline), then the DESTROY events that arrived meanwhile, then forgets what two
    /// dumps in a row did not list. Returns the number of connections listed.
    fn dump(&mut self, nets: &Networks, tables: &mut Tables, now: u64) -> Result<u64, String> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        match &self.sockets {
            Some(s) => s.dumps.send(&parse::dump_request(seq, false)),
            None => return Ok(0),
        }
        .map_err(|e| format!("conntrack dump: {e}"))?;
        self.generation = self.generation.wrapping_add(1);
        self.counted_in_dump = (0, 0);
        let mut entries = 0u64;
        let mut buf = std::mem::take(&mut self.buf);
        let result = 'read: loop {
            let Some(s) = &self.sockets else {
                break 'read Ok(());
            };
            let n = match s.dumps.recv(&mut buf) {
                Ok(n) => n,
                Err(e) => break 'read Err(format!("conntrack dump: {e}")),
            };
            for (mseq, m) in parse::messages(&buf[..n]) {
                if mseq != seq {
                    continue;
                }
                match m {
                    Ok(Msg::Flow { flow, .. }) => {
                        entries += 1;
                        self.seen(&flow, false, nets, tables, now);
                    }
                    Ok(Msg::Done) => break 'read Ok(()),
                    Ok(Msg::Error(0)) | Ok(Msg::Other) => {}
                    Ok(Msg::Error(e)) => {
                        let why = io::Error::from_raw_os_error(e);
                        let hint = if e == libc::EPERM {
                            " (conntrack needs CAP_NET_ADMIN)"
                        } else {
                            ""
                        };
                        break 'read Err(format!("conntrack dump: {why}{hint}"));
                    }
                    Err(_) => self.info.parse_errors += 1,
                }
            }
        };
        self.buf = buf;
        result?;
        // DESTROY events of connections that vanished during the dump come before the sweep
        self.drain_events(nets, tables, now)?;
        let g = self.generation;
        self.flows.retain(|_, f| g.wrapping_sub(f.generation) < 2);
        self.info.flows = self.flows.len();
        if self.counted_in_dump == (0, self.counted_in_dump.1) && self.counted_in_dump.1 > 0 {
            // LAN connections, none with counters: accounting is off whatever the sysctl
            // said (or it could not be read)
            if !self.warned_no_counters {
                self.warned_no_counters = true;
                log::warn!(
                    "conntrack: no connection has byte counters (nf_conntrack_acct off?): \
                     the capture counts bytes"
                );
            }
            self.info.accounting = Some(false);
            self.stop(tables);
            return Ok(entries);
        }
        if self.baseline {
            self.baseline = false;
            self.info.active = true;
            tables.capture_counts = false;
            tables.mark_changed();
            log::info!(
                "conntrack: counting from conntrack ({} LAN connections open, {entries} in all)",
                self.flows.len()
            );
        }
        Ok(entries)
    }

    /// Reads all queued DESTROY events.
    fn drain_events(
        &mut self,
        nets: &Networks,
        tables: &mut Tables,
        now: u64,
    ) -> Result<(), String> {
        let mut buf = std::mem::take(&mut self.buf);
        let mut result = Ok(());
        while let Some(s) = &self.sockets {
            match s.events.recv(&mut buf) {
                Ok(n) => {
                    for (_, m) in parse::messages(&buf[..n]) {
                        match m {
                            Ok(Msg::Flow { flow, destroy }) => {
                                self.info.events += 1;
                                if destroy {
                                    self.seen(&flow, true, nets, tables, now);
                                }
                            }
                            Ok(_) => {}
                            Err(_) => self.info.parse_errors += 1,
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.info.enobufs += 1;
                    tables.mark_changed(); // (the next snapshot reports it)
                    if self.info.enobufs <= 3 || self.info.enobufs.is_power_of_two() {
                        log::warn!(
                            "conntrack: the kernel dropped events (ENOBUFS, {} times): resync dump",
                            self.info.enobufs
                        );
                    }
                    if !self.baseline {
                        self.info.resyncs += 1;
                        // the dump right after this drain (in `step`) is the resync
                        self.next_dump = Instant::now();
                    }
                }
                Err(e) => {
                    result = Err(format!("conntrack events: {e}"));
                    break;
                }
            }
        }
        self.buf = buf;
        result
    }

    /// One connection listed by a dump (`destroy` false) or ended (`destroy` true).
    fn seen(&mut self, f: &CtFlow, destroy: bool, nets: &Networks, tables: &mut Tables, now: u64) {
        let (Some(host), Some(remote)) = (f.src, f.dst) else {
            return;
        };
        if !nets.is_host(host) || !nets.is_remote(remote) {
            return;
        }
        let (Some(orig), Some(reply)) = (f.orig, f.reply) else {
            self.info.without_counters += 1;
            self.counted_in_dump.1 += 1;
            return;
        };
        self.counted_in_dump.0 += 1;
        let tuple = fingerprint(f);
        let generation = self.generation;
        // a known connection is updated in place: one hash lookup per dump entry
        let known = match self.flows.get_mut(&f.id) {
            Some(s)
                if s.tuple == tuple
                    && s.orig.bytes <= orig.bytes
                    && s.reply.bytes <= reply.bytes =>
            {
                let b = (s.orig, s.reply);
                (s.orig, s.reply, s.generation) = (orig, reply, generation);
                Some(b)
            }
            // another connection under a reused id: a new one
            _ => None,
        };
        let before = match known {
            Some(b) => {
                if destroy {
                    self.flows.remove(&f.id);
                }
                b
            }
            None if self.baseline && !destroy => {
                // remembered, not counted: it began before conntrack became the source
                self.remember(f.id, tuple, orig, reply);
                return;
            }
            None if self.baseline => return,
            None if !destroy
                && !self.flows.contains_key(&f.id)
                && self.flows.len() >= self.info.max_flows =>
            {
                self.info.untracked += 1;
                return;
            }
            None => {
                if destroy {
                    self.flows.remove(&f.id);
                } else {
                    self.remember(f.id, tuple, orig, reply);
                }
                (Count::default(), Count::default())
            }
        };
        if self.baseline {
            return;
        }
        let delta = Counters {
            packets_out: orig.packets.saturating_sub(before.0.packets),
            bytes_out: orig.bytes - before.0.bytes,
            packets_in: reply.packets.saturating_sub(before.1.packets),
            bytes_in: reply.bytes - before.1.bytes,
        };
        if delta != Counters::default() {
            let port = if f.ports.is_some() && matches!(f.protocol, 6 | 17 | 33 | 132 | 136) {
                f.ports.map(|(_, d)| d)
            } else {
                None
            };
            tables.add_flow(host, remote, f.protocol, port, delta, now, nets);
        }
    }

    fn remember(&mut self, id: u32, tuple: u32, orig: Count, reply: Count) {
        self.flows.insert(
            id,
            Seen {
                tuple,
                generation: self.generation,
                orig,
                reply,
            },
        );
    }

    /// For tests and benchmarks: a dump's or an event's messages read from a buffer instead
    /// of a socket (`dump` true: one dump, with its sweep).
    pub fn feed(&mut self, buf: &[u8], dump: bool, nets: &Networks, tables: &mut Tables, now: u64) {
        if dump {
            self.generation = self.generation.wrapping_add(1);
        }
        for (_, m) in parse::messages(buf) {
            match m {
                Ok(Msg::Flow { flow, destroy }) => self.seen(&flow, destroy, nets, tables, now),
                Ok(_) => {}
                Err(_) => self.info.parse_errors += 1,
            }
        }
        if dump {
            let g = self.generation;
            self.flows.retain(|_, f| g.wrapping_sub(f.generation) < 2);
            if self.baseline {
                self.baseline = false;
                self.info.active = true;
                tables.capture_counts = false;
            }
        }
        self.info.flows = self.flows.len();
    }

    /// For tests and benchmarks: a source without sockets, bounded at `max_flows`.
    pub fn detached(max_flows: usize) -> Conntrack {
        let mut c = Conntrack::new(Duration::from_secs(5));
        c.info.max_flows = max_flows;
        c.next_open = Instant::now() + Duration::from_secs(1 << 30);
        c
    }

    /// For tests and benchmarks: one dump over the real socket (zeroing counters with
    /// `zero`), the messages parsed and counted; returns the connections listed and the bytes
    /// read, and appends the raw messages to `keep` if given.
    pub fn bench_dump(zero: bool, mut keep: Option<&mut Vec<u8>>) -> io::Result<(u64, usize)> {
        let s = netlink::Socket::open(0, false)?;
        s.set_receive_timeout(Duration::from_secs(5))?;
        s.send(&parse::dump_request(1, zero))?;
        let mut buf = vec![0u8; RECV_BUFFER];
        let (mut entries, mut bytes) = (0u64, 0usize);
        loop {
            let n = s.recv(&mut buf)?;
            bytes += n;
            if let Some(k) = keep.as_deref_mut() {
                k.extend_from_slice(&buf[..n]);
            }
            for (_, m) in parse::messages(&buf[..n]) {
                match m {
                    Ok(Msg::Flow { .. }) => entries += 1,
                    Ok(Msg::Done) => return Ok((entries, bytes)),
                    Ok(Msg::Error(e)) if e != 0 => return Err(io::Error::from_raw_os_error(e)),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parse::encode_flow;

    fn nets() -> Networks {
        Networks::new(vec!["192.168.1.0/24".parse().unwrap()], vec![], vec![])
    }

    fn flow(id: u32, out: u64, inb: u64) -> CtFlow {
        CtFlow {
            id,
            src: Some(Addr::from_v4_bytes([192, 168, 1, 10])),
            dst: Some(Addr::from_v4_bytes([8, 8, 4, 4])),
            protocol: 6,
            ports: Some((40000 + id as u16, 443)),
            orig: Some(Count {
                packets: out / 100,
                bytes: out,
            }),
            reply: Some(Count {
                packets: inb / 100,
                bytes: inb,
            }),
        }
    }

    fn counted(t: &Tables) -> (u64, u64) {
        let r = t.remotes.get(&Addr::from_v4_bytes([8, 8, 4, 4]));
        r.map_or((0, 0), |r| (r.counters.bytes_out, r.counters.bytes_in))
    }

    #[test]
    fn baseline_then_deltas_then_destroy() {
        let (n, mut t) = (nets(), Tables::new(100, 10));
        let mut c = Conntrack::detached(1000);
        c.feed(
            &encode_flow(false, 1, &flow(1, 1000, 5000)),
            true,
            &n,
            &mut t,
            10,
        );
        assert_eq!(counted(&t), (0, 0), "the baseline is not counted");
        assert!(!t.capture_counts);
        c.feed(
            &encode_flow(false, 2, &flow(1, 1500, 9000)),
            true,
            &n,
            &mut t,
            11,
        );
        assert_eq!(counted(&t), (500, 4000));
        // the same totals again: nothing more
        c.feed(
            &encode_flow(false, 3, &flow(1, 1500, 9000)),
            true,
            &n,
            &mut t,
            12,
        );
        assert_eq!(counted(&t), (500, 4000));
        // a new connection after the baseline counts in full, its end too
        c.feed(
            &encode_flow(false, 4, &flow(2, 100, 200)),
            true,
            &n,
            &mut t,
            13,
        );
        assert_eq!(counted(&t), (600, 4200));
        c.feed(
            &encode_flow(true, 0, &flow(2, 150, 260)),
            false,
            &n,
            &mut t,
            14,
        );
        assert_eq!(counted(&t), (650, 4260));
        // a connection that began and ended between two dumps: its DESTROY counts it all
        c.feed(
            &encode_flow(true, 0, &flow(3, 70, 80)),
            false,
            &n,
            &mut t,
            15,
        );
        assert_eq!(counted(&t), (720, 4340));
        let r = t.remotes.get(&Addr::from_v4_bytes([8, 8, 4, 4])).unwrap();
        assert_eq!(r.ports.as_slice(), &[443]);
        assert_eq!(r.protocols.as_slice(), &[6]);
        assert_eq!(r.last_seen, 15);
    }

    #[test]
    fn forgotten_after_two_dumps_and_reused_ids() {
        let (n, mut t) = (nets(), Tables::new(100, 10));
        let mut c = Conntrack::detached(1000);
        c.feed(
            &encode_flow(false, 1, &flow(1, 1000, 1000)),
            true,
            &n,
            &mut t,
            10,
        );
        c.feed(&[], true, &n, &mut t, 11);
        assert_eq!(c.info.flows, 1, "one missed dump is not enough");
        c.feed(&[], true, &n, &mut t, 12);
        assert_eq!(c.info.flows, 0);
        // id 1 again with another tuple: another connection, counted from zero
        let mut f = flow(1, 300, 400);
        f.ports = Some((1, 2));
        c.feed(&encode_flow(false, 1, &f), true, &n, &mut t, 13);
        assert_eq!(counted(&t), (300, 400));
    }

    #[test]
    fn only_lan_originated_and_with_counters() {
        let (n, mut t) = (nets(), Tables::new(100, 10));
        let mut c = Conntrack::detached(1000);
        c.feed(&[], true, &n, &mut t, 1);
        let mut inbound = flow(1, 100, 100);
        std::mem::swap(&mut inbound.src, &mut inbound.dst);
        let mut lan = flow(2, 100, 100);
        lan.dst = Some(Addr::from_v4_bytes([192, 168, 1, 20]));
        let mut bare = flow(3, 100, 100);
        bare.orig = None;
        for f in [inbound, lan, bare] {
            c.feed(&encode_flow(false, 2, &f), true, &n, &mut t, 2);
        }
        assert_eq!(t.remotes.len(), 0);
        assert_eq!(c.info.without_counters, 1);
    }

    /// Found by the fuzzer: counters that no kernel sends (near 2^64) saturate instead of
    /// overflowing.
    #[test]
    fn absurd_counters_saturate() {
        let (n, mut t) = (nets(), Tables::new(100, 10));
        let mut c = Conntrack::detached(1000);
        c.feed(&[], true, &n, &mut t, 1);
        let mut buf = Vec::new();
        for id in 1..=3 {
            buf.extend(encode_flow(false, 2, &flow(id, u64::MAX - 1, u64::MAX)));
        }
        c.feed(&buf, true, &n, &mut t, 2);
        assert_eq!(counted(&t), (u64::MAX, u64::MAX));
        assert_eq!(t.stats.bytes, u64::MAX);
    }

    #[test]
    fn bounded() {
        let (n, mut t) = (nets(), Tables::new(100, 10));
        let mut c = Conntrack::detached(2);
        c.feed(&[], true, &n, &mut t, 1);
        let mut buf = Vec::new();
        for id in 1..=5 {
            buf.extend(encode_flow(false, 2, &flow(id, 100, 100)));
        }
        c.feed(&buf, true, &n, &mut t, 2);
        assert_eq!(c.info.flows, 2);
        assert_eq!(c.info.untracked, 3);
        // the untracked ones are not counted again and again
        c.feed(&buf, true, &n, &mut t, 3);
        assert_eq!(counted(&t), (200, 200));
    }
}
