//! Table: per-remote and per-LAN-device counters, with hard bounds.
//!
//! Fifth step of the data path (capture → packet → filter → geo → **table** → snapshot →
//! http). Two hash maps keyed by address. Memory is bounded by `max_remotes` / `max_hosts`,
//! never by traffic: when a table is full, the least recently seen eighth is evicted in one
//! pass (amortised O(1) per insert, and no per-packet bookkeeping such as an LRU list). Lists
//! inside an entry are bounded too (`MAX_HOSTS_PER_REMOTE`, `MAX_PORTS`, `MAX_PROTOCOLS`).
//!
//! Per packet: one or two hash lookups, four counter updates, and for outbound packets a check
//! of the (short) host/port lists. Everything else — geolocation, classification of a new
//! remote — happens once per new entry.

use crate::filter::{Direction, Flow, Networks};
use crate::geo::{GeoDb, GeoInfo};
use crate::packet::{Addr, PacketInfo};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// foldhash with its `hash_one` forced inline: the release build optimises for size
/// (opt-level "z"), where the standard `BuildHasher::hash_one` stays an out-of-line call
/// around a one-multiply hash on every table lookup. Same hash, same random seeds.
#[derive(Clone, Default)]
pub struct RandomState(foldhash::fast::RandomState);

impl std::hash::BuildHasher for RandomState {
    type Hasher = foldhash::fast::FoldHasher<'static>;

    #[inline(always)]
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }

    // the point of this impl: the provided method, spelled out so it can be forced inline
    #[allow(clippy::manual_hash_one)]
    #[inline(always)]
    fn hash_one<T: std::hash::Hash>(&self, x: T) -> u64 {
        use std::hash::Hasher;
        let mut h = self.build_hasher();
        x.hash(&mut h);
        h.finish()
    }
}

/// Protocol and port as one nonzero number (bit 31: with a port, bit 30: without).
#[inline(always)]
fn proto_port_key(protocol: u8, port: Option<u16>) -> u32 {
    match port {
        Some(p) => 1 << 31 | u32::from(protocol) << 16 | u32::from(p),
        None => 1 << 30 | u32::from(protocol) << 16,
    }
}

/// Default bound of the name table (`--max-names`).
pub const DEFAULT_MAX_NAMES: usize = 20_000;

pub const MAX_HOSTS_PER_REMOTE: usize = 32;
pub const MAX_PORTS: usize = 24;
pub const MAX_PROTOCOLS: usize = 8;
/// Names kept per remote (most recent first) and per (LAN host, remote) in the name table.
pub const MAX_NAMES_PER_REMOTE: usize = 8;
pub const MAX_NAMES_PER_KEY: usize = 4;

/// Traffic totals of one direction pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
}

impl Counters {
    fn add(&mut self, dir: Direction, bytes: u32) {
        match dir {
            Direction::Out => {
                self.packets_out += 1;
                self.bytes_out += u64::from(bytes);
            }
            Direction::In => {
                self.packets_in += 1;
                self.bytes_in += u64::from(bytes);
            }
        }
    }

    pub fn total_bytes(&self) -> u64 {
        self.bytes_out + self.bytes_in
    }
}

/// One remote address that a LAN device sent to.
#[derive(Debug, Clone)]
pub struct Remote {
    pub counters: Counters,
    pub first_seen: u64,
    pub last_seen: u64,
    /// LAN addresses that sent to it, first seen first. Most remotes have one: no allocation.
    pub hosts: SmallVec<[Addr; 1]>,
    /// Remote ports of LAN-originated TCP/UDP, ascending (a few inline, then on the heap).
    pub ports: SmallVec<[u16; 4]>,
    /// IP protocol numbers seen, first seen first.
    pub protocols: SmallVec<[u8; 4]>,
    /// Protocol and remote port of the last outbound packet (`proto_port_key`; 0: none yet):
    /// packets of a flow repeat them, and the lists above are only searched when they change.
    pub last_proto_port: u32,
    /// Shared with other remotes of the same database record.
    pub geo: Option<Rc<GeoInfo>>,
    /// Names learned for it (DNS, TLS SNI, HTTP Host), most recent first, at most
    /// `MAX_NAMES_PER_REMOTE`; shared with the name table. Empty: no allocation.
    pub names: Box<[Rc<str>]>,
}

impl Remote {
    /// Puts `name` first. Returns true when the list changed.
    pub fn add_name(&mut self, name: &Rc<str>) -> bool {
        if self.names.first().is_some_and(|n| n == name) {
            return false;
        }
        let mut v: Vec<Rc<str>> =
            Vec::with_capacity((self.names.len() + 1).min(MAX_NAMES_PER_REMOTE));
        v.push(Rc::clone(name));
        v.extend(self.names.iter().filter(|n| *n != name).cloned());
        v.truncate(MAX_NAMES_PER_REMOTE);
        self.names = v.into_boxed_slice();
        true
    }
}

/// Names learned for (LAN host, remote address) pairs, waiting for the host to talk to the
/// address (DNS answers come first), with expiry (the DNS TTL, clamped). Bounded by `max`
/// pairs; when full, the eighth that expires first goes.
pub struct NameTable {
    map: HashMap<(Addr, Addr), NameEntry, RandomState>,
    pub max: usize,
    pub evicted: u64,
    pub learned: u64,
}

pub struct NameEntry {
    pub names: SmallVec<[Rc<str>; 1]>,
    pub expires: u64,
}

impl NameTable {
    pub fn new(max: usize) -> NameTable {
        NameTable {
            map: HashMap::with_hasher(RandomState::default()),
            max: max.max(1),
            evicted: 0,
            learned: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, host: Addr, remote: Addr) -> Option<&NameEntry> {
        self.map.get(&(host, remote))
    }

    /// Remembers `name` for the pair until `expires`; returns the shared name.
    pub fn insert(&mut self, host: Addr, remote: Addr, name: &str, expires: u64) -> Rc<str> {
        self.learned += 1;
        let key = (host, remote);
        if !self.map.contains_key(&key) && self.map.len() >= self.max {
            let n = evict_oldest(&mut self.map, |e| e.expires);
            self.evicted += n as u64;
        }
        let e = self.map.entry(key).or_insert(NameEntry {
            names: SmallVec::new(),
            expires,
        });
        e.expires = e.expires.max(expires);
        if let Some(i) = e.names.iter().position(|n| &**n == name) {
            let n = e.names.remove(i);
            e.names.insert(0, Rc::clone(&n));
            return n;
        }
        let n: Rc<str> = Rc::from(name);
        e.names.insert(0, Rc::clone(&n));
        e.names.truncate(MAX_NAMES_PER_KEY);
        n
    }

    pub fn expire(&mut self, now: u64) {
        self.map.retain(|_, e| e.expires > now);
    }
}

/// One LAN device.
#[derive(Debug, Clone)]
pub struct Host {
    pub counters: Counters,
    pub first_seen: u64,
    pub last_seen: u64,
    pub mac: Option<[u8; 6]>,
}

/// Counts of what the tables had to drop or could not do, for `stats` in markers.json.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableStats {
    pub evicted_remotes: u64,
    pub evicted_hosts: u64,
    pub expired_remotes: u64,
    pub expired_hosts: u64,
    pub packets: u64,
    pub bytes: u64,
    pub geo_lookups: u64,
    pub geo_errors: u64,
}

/// Keyed by [`Addr`]: one `u128` to hash and compare per lookup.
pub type AddrMap<V> = HashMap<Addr, V, RandomState>;

/// Where a learned name came from (counted in `stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Dns,
    Sni,
    HttpHost,
}

/// The two tables and their bounds.
pub struct Tables {
    pub remotes: AddrMap<Remote>,
    pub hosts: AddrMap<Host>,
    pub max_remotes: usize,
    pub max_hosts: usize,
    pub stats: TableStats,
    /// Set by every change; cleared when a snapshot is taken.
    pub dirty: bool,
    /// When each table last logged an eviction (remotes, hosts).
    logged: [Option<Instant>; 2],
    /// Names learned from DNS answers, SNI and HTTP Host, not yet (or no longer) attached.
    pub learned: NameTable,
    /// Names learned, by kind: DNS answer records, SNI, HTTP Host.
    pub names_dns: u64,
    pub names_sni: u64,
    pub names_http: u64,
}

impl Tables {
    pub fn new(max_remotes: usize, max_hosts: usize) -> Tables {
        let max_remotes = max_remotes.max(1);
        let max_hosts = max_hosts.max(1);
        Tables {
            // Pre-size modestly: the map grows as needed, up to the bound.
            remotes: HashMap::with_capacity_and_hasher(
                max_remotes.min(1024),
                RandomState::default(),
            ),
            hosts: HashMap::with_capacity_and_hasher(max_hosts.min(64), RandomState::default()),
            max_remotes,
            max_hosts,
            stats: TableStats::default(),
            dirty: false,
            logged: [None; 2],
            learned: NameTable::new(DEFAULT_MAX_NAMES),
            names_dns: 0,
            names_sni: 0,
            names_http: 0,
        }
    }

    /// A name for what `host` talks (or will talk) to at `remote`: attached to the remote
    /// now if the host already sent to it, and kept in the name table until `expires`.
    /// Out of line and cold: names are rare next to packets.
    #[inline(never)]
    #[cold]
    pub fn learn(&mut self, host: Addr, remote: Addr, name: &str, kind: NameKind, expires: u64) {
        match kind {
            NameKind::Dns => self.names_dns += 1,
            NameKind::Sni => self.names_sni += 1,
            NameKind::HttpHost => self.names_http += 1,
        }
        let shared = self.learned.insert(host, remote, name, expires);
        if let Some(r) = self.remotes.get_mut(&remote) {
            if r.hosts.contains(&host) && r.add_name(&shared) {
                self.dirty = true;
            }
        }
    }

    /// Counts one packet of a flow. `now` is the capture timestamp in unix seconds.
    pub fn record(
        &mut self,
        flow: &Flow,
        packet: &PacketInfo,
        wire_len: u32,
        now: u64,
        nets: &Networks,
        geo: &GeoDb,
    ) {
        let protocol = packet.protocol;
        match flow.direction {
            Direction::Out => {
                let remote = match self.remotes.get_mut(&flow.remote) {
                    Some(r) => r,
                    None => {
                        // A new remote: the only place where classification and geolocation run.
                        if !nets.is_remote(flow.remote) {
                            return;
                        }
                        if self.remotes.len() >= self.max_remotes {
                            self.evict_remotes();
                        }
                        let info = self.locate(geo, flow.remote);
                        self.remotes.entry(flow.remote).or_insert(Remote {
                            counters: Counters::default(),
                            first_seen: now,
                            last_seen: now,
                            hosts: SmallVec::new(),
                            ports: SmallVec::new(),
                            protocols: SmallVec::new(),
                            last_proto_port: 0,
                            geo: info,
                            names: Box::default(),
                        })
                    }
                };
                remote.counters.add(Direction::Out, wire_len);
                remote.last_seen = now;
                if remote.hosts.first() != Some(&flow.host)
                    && !remote.hosts.contains(&flow.host)
                    && remote.hosts.len() < MAX_HOSTS_PER_REMOTE
                {
                    remote.hosts.push(flow.host);
                    // A host new to this remote: names it learned for it (rare, not per packet).
                    if !self.learned.is_empty() {
                        attach_learned(remote, &self.learned, flow.host, flow.remote);
                    }
                }
                let key = proto_port_key(protocol, flow.remote_port);
                if remote.last_proto_port != key {
                    remote.last_proto_port = key;
                    if let Some(port) = flow.remote_port {
                        if let Err(at) = remote.ports.binary_search(&port) {
                            if remote.ports.len() < MAX_PORTS {
                                remote.ports.insert(at, port);
                            }
                        }
                    }
                    if !remote.protocols.contains(&protocol)
                        && remote.protocols.len() < MAX_PROTOCOLS
                    {
                        remote.protocols.push(protocol);
                    }
                }
            }
            Direction::In => {
                // Replies count only for remotes the LAN already talked to.
                let Some(remote) = self.remotes.get_mut(&flow.remote) else {
                    return;
                };
                remote.counters.add(Direction::In, wire_len);
                remote.last_seen = now;
            }
        }
        self.count_host(flow, wire_len, packet.src_mac, now);
        self.stats.packets += 1;
        self.stats.bytes += u64::from(wire_len);
        self.dirty = true;
    }

    fn count_host(&mut self, flow: &Flow, wire_len: u32, src_mac: Option<[u8; 6]>, now: u64) {
        let host = match self.hosts.get_mut(&flow.host) {
            Some(h) => h,
            None => {
                if self.hosts.len() >= self.max_hosts {
                    self.evict_hosts();
                }
                self.hosts.entry(flow.host).or_insert(Host {
                    counters: Counters::default(),
                    first_seen: now,
                    last_seen: now,
                    mac: None,
                })
            }
        };
        host.counters.add(flow.direction, wire_len);
        host.last_seen = now;
        // The frame's source MAC is the device's own only when the device sent it.
        if flow.direction == Direction::Out && host.mac.is_none() {
            host.mac = src_mac;
        }
    }

    fn locate(&mut self, geo: &GeoDb, ip: Addr) -> Option<Rc<GeoInfo>> {
        if !geo.is_open() {
            return None;
        }
        self.stats.geo_lookups += 1;
        match geo.lookup(ip.ip()) {
            Ok(info) => info,
            Err(e) => {
                self.stats.geo_errors += 1;
                if self.stats.geo_errors <= 10 || self.stats.geo_errors.is_power_of_two() {
                    log::warn!(
                        "geo lookup of {ip} failed: {e} ({} so far)",
                        self.stats.geo_errors
                    );
                }
                None
            }
        }
    }

    /// Looks every remote up again (after the database was reloaded or the state restored).
    pub fn relocate_all(&mut self, geo: &GeoDb) {
        let ips: Vec<Addr> = self.remotes.keys().copied().collect();
        for ip in ips {
            let info = self.locate(geo, ip);
            if let Some(r) = self.remotes.get_mut(&ip) {
                r.geo = info;
            }
        }
        self.dirty = true;
    }

    fn evict_remotes(&mut self) {
        let n = evict_oldest(&mut self.remotes, |r| r.last_seen);
        self.stats.evicted_remotes += n as u64;
        log_eviction(
            &mut self.logged[0],
            "remotes",
            n,
            self.stats.evicted_remotes,
            self.max_remotes,
        );
    }

    fn evict_hosts(&mut self) {
        let n = evict_oldest(&mut self.hosts, |h| h.last_seen);
        self.stats.evicted_hosts += n as u64;
        log_eviction(
            &mut self.logged[1],
            "hosts",
            n,
            self.stats.evicted_hosts,
            self.max_hosts,
        );
    }

    /// Forgets entries idle for longer than `retention` seconds.
    pub fn expire(&mut self, now: u64, retention: u64) {
        let cutoff = now.saturating_sub(retention);
        let before = self.remotes.len();
        self.remotes.retain(|_, r| r.last_seen >= cutoff);
        let removed = (before - self.remotes.len()) as u64;
        self.learned.expire(now);
        let before_h = self.hosts.len();
        self.hosts.retain(|_, h| h.last_seen >= cutoff);
        let removed_h = (before_h - self.hosts.len()) as u64;
        if removed + removed_h > 0 {
            self.stats.expired_remotes += removed;
            self.stats.expired_hosts += removed_h;
            self.dirty = true;
            log::debug!("expired {removed} remotes and {removed_h} hosts idle for {retention} s");
        }
    }

    /// Number of distinct remotes each host talked to (computed per snapshot, not per packet).
    pub fn remotes_per_host(&self) -> AddrMap<u32> {
        let mut counts: AddrMap<u32> = HashMap::with_hasher(RandomState::default());
        for r in self.remotes.values() {
            for h in &r.hosts {
                *counts.entry(*h).or_default() += 1;
            }
        }
        counts
    }
}

/// Gives `remote` the names its new host `host` learned for it (out of line: rare).
#[inline(never)]
#[cold]
fn attach_learned(remote: &mut Remote, learned: &NameTable, host: Addr, ip: Addr) {
    if let Some(e) = learned.get(host, ip) {
        for n in e.names.iter().rev() {
            remote.add_name(n);
        }
    }
}

/// The first time, then at most once a minute per table: a flood must not flood the router's
/// small in-memory log too. The running totals are always in markers.json (`stats`).
fn log_eviction(last: &mut Option<Instant>, what: &str, n: usize, total: u64, bound: usize) {
    if last.is_some_and(|t| t.elapsed() < Duration::from_secs(60)) {
        return;
    }
    *last = Some(Instant::now());
    log::warn!("{what} table full ({bound}): evicted the {n} least recently seen ({total} so far)");
}

/// Removes the least recently seen eighth (at least one) of a full map. Exactly that many go,
/// even when many entries share a timestamp (a flood inside one second).
fn evict_oldest<K: Eq + std::hash::Hash + Ord + Copy, V>(
    map: &mut HashMap<K, V, RandomState>,
    last_seen: impl Fn(&V) -> u64,
) -> usize {
    let k = (map.len() / 8).max(1);
    let mut stamps: Vec<u64> = map.values().map(&last_seen).collect();
    if stamps.is_empty() {
        return 0;
    }
    let (_, cutoff, _) = stamps.select_nth_unstable(k - 1);
    let cutoff = *cutoff;
    let older = stamps.iter().filter(|&&s| s < cutoff).count();
    drop(stamps);
    // Among entries last seen in the cutoff second, the lowest keys go: the same ones in
    // every run (the maps' iteration order is randomly seeded), so replays are reproducible.
    let mut ties: Vec<K> = map
        .iter()
        .filter(|(_, v)| last_seen(v) == cutoff)
        .map(|(k, _)| *k)
        .collect();
    let last_tie = {
        let (_, t, _) = ties.select_nth_unstable(k - older - 1);
        *t
    };
    drop(ties);
    map.retain(|key, v| {
        let s = last_seen(v);
        s > cutoff || (s == cutoff && *key > last_tie)
    });
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets() -> Networks {
        Networks::new(vec!["192.168.1.0/24".parse().unwrap()], vec![], vec![])
    }

    fn pkt(protocol: u8, src_mac: Option<[u8; 6]>) -> PacketInfo {
        PacketInfo {
            src: Addr::from_v4_bytes([0, 0, 0, 0]),
            dst: Addr::from_v4_bytes([0, 0, 0, 0]),
            protocol,
            ports: None,
            src_mac,
            l4_at: 0,
        }
    }

    fn flow(dir: Direction, host: &str, remote: &str, port: Option<u16>) -> Flow {
        Flow {
            direction: dir,
            host: host.parse().unwrap(),
            remote: remote.parse().unwrap(),
            remote_port: port,
        }
    }

    #[test]
    fn ports_and_protocols_when_flows_interleave() {
        // the last (protocol, port) shortcut must not hide a change
        let (n, g) = (nets(), GeoDb::none());
        let mut t = Tables::new(100, 10);
        let out = |t: &mut Tables, proto: u8, port: Option<u16>| {
            let f = flow(Direction::Out, "192.168.1.2", "1.1.1.1", port);
            t.record(&f, &pkt(proto, None), 60, 1, &n, &g);
        };
        for (proto, port) in [
            (6, Some(443)),
            (6, Some(443)),
            (17, Some(443)),
            (6, Some(80)),
            (6, Some(443)),
            (1, None),
            (1, None),
            (17, Some(53)),
        ] {
            out(&mut t, proto, port);
        }
        let r = &t.remotes[&"1.1.1.1".parse::<Addr>().unwrap()];
        assert_eq!(r.ports.as_slice(), &[53, 80, 443]);
        assert_eq!(r.protocols.as_slice(), &[6, 17, 1]);
        assert_eq!(r.counters.packets_out, 8);
    }

    #[test]
    fn inbound_only_after_outbound() {
        let (n, g) = (nets(), GeoDb::none());
        let mut t = Tables::new(100, 10);
        t.record(
            &flow(Direction::In, "192.168.1.2", "1.1.1.1", Some(443)),
            &pkt(6, None),
            60,
            1,
            &n,
            &g,
        );
        assert!(t.remotes.is_empty() && t.hosts.is_empty());
        t.record(
            &flow(Direction::Out, "192.168.1.2", "1.1.1.1", Some(443)),
            &pkt(6, Some([2; 6])),
            100,
            2,
            &n,
            &g,
        );
        t.record(
            &flow(Direction::In, "192.168.1.2", "1.1.1.1", Some(443)),
            &pkt(6, None),
            1500,
            3,
            &n,
            &g,
        );
        let r = &t.remotes[&"1.1.1.1".parse::<Addr>().unwrap()];
        assert_eq!(
            r.counters,
            Counters {
                packets_out: 1,
                bytes_out: 100,
                packets_in: 1,
                bytes_in: 1500
            }
        );
        assert_eq!((r.first_seen, r.last_seen), (2, 3));
        assert_eq!(r.ports.as_slice(), &[443]);
        let h = &t.hosts[&"192.168.1.2".parse::<Addr>().unwrap()];
        assert_eq!(h.mac, Some([2; 6]));
        assert_eq!(h.counters.bytes_in, 1500);
    }

    #[test]
    fn special_destinations_make_no_remote() {
        let (n, g) = (nets(), GeoDb::none());
        let mut t = Tables::new(100, 10);
        for dst in ["224.0.0.251", "10.0.0.1", "255.255.255.255", "100.64.1.1"] {
            t.record(
                &flow(Direction::Out, "192.168.1.2", dst, None),
                &pkt(17, None),
                60,
                1,
                &n,
                &g,
            );
        }
        assert!(t.remotes.is_empty());
        assert!(t.hosts.is_empty());
    }

    #[test]
    fn bounded_and_lru_eviction() {
        let (n, g) = (nets(), GeoDb::none());
        let mut t = Tables::new(64, 4);
        for i in 0..10_000u32 {
            let ip = Addr::from_v4_bytes((0x0101_0000u32 + i).to_be_bytes());
            let host = format!("192.168.1.{}", i % 7 + 1);
            let f = Flow {
                direction: Direction::Out,
                host: host.parse().unwrap(),
                remote: ip,
                remote_port: Some((i % 1000) as u16),
            };
            t.record(&f, &pkt(6, None), 60, u64::from(i), &n, &g);
            assert!(t.remotes.len() <= 64 && t.hosts.len() <= 4);
        }
        // The newest remote survives, the oldest went first.
        assert!(t
            .remotes
            .contains_key(&Addr::from_v4_bytes((0x0101_0000u32 + 9_999).to_be_bytes())));
        assert!(!t
            .remotes
            .contains_key(&Addr::from_v4_bytes(0x0101_0000u32.to_be_bytes())));
        assert!(t.stats.evicted_remotes >= 10_000 - 64);
        assert!(t.stats.evicted_hosts > 0);
    }

    #[test]
    fn eviction_with_equal_timestamps_removes_an_eighth() {
        let mut m: AddrMap<u64> = HashMap::with_hasher(RandomState::default());
        for i in 0..80u32 {
            m.insert(Addr::from_v4_bytes(i.to_be_bytes()), 7);
        }
        assert_eq!(evict_oldest(&mut m, |v| *v), 10);
        assert_eq!(m.len(), 70);
    }

    #[test]
    fn lists_are_bounded() {
        let (n, g) = (nets(), GeoDb::none());
        let mut t = Tables::new(10, 300);
        for i in 0..200u16 {
            let host = format!("192.168.1.{}", i + 1);
            t.record(
                &flow(Direction::Out, &host, "9.9.9.9", Some(i)),
                &pkt((i % 20) as u8, None),
                60,
                1,
                &n,
                &g,
            );
        }
        let r = &t.remotes[&"9.9.9.9".parse::<Addr>().unwrap()];
        assert_eq!(r.hosts.len(), MAX_HOSTS_PER_REMOTE);
        assert_eq!(r.ports.len(), MAX_PORTS);
        assert_eq!(r.protocols.len(), MAX_PROTOCOLS);
        assert_eq!(r.counters.packets_out, 200);
    }

    #[test]
    fn expiry() {
        let (n, g) = (nets(), GeoDb::none());
        let mut t = Tables::new(10, 10);
        t.record(
            &flow(Direction::Out, "192.168.1.2", "1.1.1.1", None),
            &pkt(1, None),
            60,
            100,
            &n,
            &g,
        );
        t.record(
            &flow(Direction::Out, "192.168.1.3", "8.8.8.8", None),
            &pkt(1, None),
            60,
            5000,
            &n,
            &g,
        );
        t.expire(5000, 1000);
        assert_eq!(t.remotes.len(), 1);
        assert_eq!(t.hosts.len(), 1);
        assert_eq!(t.stats.expired_remotes, 1);
    }
}
