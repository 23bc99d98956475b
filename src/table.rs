//! Table: per-remote and per-LAN-device counters, with hard bounds.
//!
//! Fifth step of the data path (capture → packet → filter → geo → **table** → snapshot →
//! http). Two tables keyed by address. Memory is bounded by `max_remotes` / `max_hosts`,
//! never by traffic: when a table is full, the least recently seen eighth is evicted in one
//! pass (amortised O(1) per insert, and no per-packet bookkeeping such as an LRU list). Lists
//! inside an entry are bounded too (`MAX_HOSTS_PER_REMOTE`, `MAX_PORTS`, `MAX_PROTOCOLS`).
//!
//! Entries live in vectors of slots with a hash index of their own beside them
//! ([`AddrTable`], `SlotIndex`); an entry never moves, and a removed one's slot is reused. So
//! a packet's place in both tables can be remembered per flow: a small direct-mapped *flow
//! cache* maps (source, destination) to the direction and the two slots. A packet of a flow
//! seen before costs one cache probe instead of classification and two hash lookups
//! ([`Tables::count`]). A cache slot is only a hint: it is used when the two table slots it
//! names still hold the packet's two addresses, so other flows sharing the slot and reused
//! table slots need no invalidation; only slots freed by evictions and expiry are forgotten
//! (one sweep of the cache per round).
//!
//! Each remote also counts its traffic per LAN host (`Remote::pairs`, beside `hosts`) since
//! the history's last sweep ([`Tables::sweep_pairs`], src/history): the flow cache remembers
//! the host's index in the remote's list as a third slot, checked by one comparison.
//!
//! Per packet: one cache probe (or, on a miss, classification and one or two hash lookups),
//! six counter updates (remote, host, pair), the pair hint's check, and for outbound packets
//! a check of the last (protocol, port).
//! Checking that a new remote can be one happens once per new entry, geolocation once per
//! remote at the next snapshot ([`Tables::locate_new`]).

use crate::filter::{Direction, Flow, Networks};
use crate::geo::GeoInfo;
use crate::hash::RandomState;
use crate::packet::{Addr, PacketInfo};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Counts from conntrack (`Tables::add_flow`).
#[path = "conntrack/table.rs"]
mod conntrack_counts;

/// Protocol and port as one nonzero number (bit 31: with a port, bit 30: without).
#[inline(always)]
fn proto_port_key(protocol: u8, port: Option<u16>) -> u32 {
    match port {
        Some(p) => 1 << 31 | u32::from(protocol) << 16 | u32::from(p),
        None => 1 << 30 | u32::from(protocol) << 16,
    }
}

/// Bound of the table of ECH outer names (few fronts, but one entry per device and remote).
pub const MAX_ECH_OUTER: usize = 4096;
/// Default bound of the name table (`--max-names`).
pub const DEFAULT_MAX_NAMES: usize = crate::cli::defaults::MAX_NAMES;

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
    #[inline(always)]
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
        self.bytes_out.saturating_add(self.bytes_in)
    }
}

/// Traffic of one (LAN host, remote) pair since the history's last sweep
/// ([`Tables::sweep_pairs`]): small, because every remote has one per host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairCount {
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub packets_out: u32,
    pub packets_in: u32,
}

impl PairCount {
    /// One packet (wrapping: a sweep drains it long before 2^32 packets).
    #[inline(always)]
    fn add(&mut self, dir: Direction, bytes: u32) {
        match dir {
            Direction::Out => {
                self.packets_out = self.packets_out.wrapping_add(1);
                self.bytes_out += u64::from(bytes);
            }
            Direction::In => {
                self.packets_in = self.packets_in.wrapping_add(1);
                self.bytes_in += u64::from(bytes);
            }
        }
    }

    /// Counts from elsewhere (conntrack, a merge), saturating.
    pub fn add_counts(&mut self, o: &PairCount) {
        self.bytes_out = self.bytes_out.saturating_add(o.bytes_out);
        self.bytes_in = self.bytes_in.saturating_add(o.bytes_in);
        self.packets_out = self.packets_out.saturating_add(o.packets_out);
        self.packets_in = self.packets_in.saturating_add(o.packets_in);
    }

    /// Counters (saturating the packets to 32 bits).
    pub fn of(c: &Counters) -> PairCount {
        PairCount {
            bytes_out: c.bytes_out,
            bytes_in: c.bytes_in,
            packets_out: u32::try_from(c.packets_out).unwrap_or(u32::MAX),
            packets_in: u32::try_from(c.packets_in).unwrap_or(u32::MAX),
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == PairCount::default()
    }

    pub fn total_bytes(&self) -> u64 {
        self.bytes_out.saturating_add(self.bytes_in)
    }
}

/// A remote's [`PairCount`]s, one per host of `Remote::hosts` (same index). The first host's
/// address and counter are inline, so that a packet's pair is checked and counted without
/// leaving the remote's entry (a `SmallVec`'s accessors stay out of line at opt-level "z");
/// the others (remotes that several devices talk to) in a boxed slice.
#[derive(Debug, Clone, Default)]
pub struct Pairs {
    /// `hosts[0]` (`::` while there is none: never a LAN host's address).
    host0: Addr,
    first: PairCount,
    rest: Box<[PairCount]>,
}

impl Pairs {
    /// Counters for these hosts, all zero.
    pub fn for_hosts(hosts: &[Addr]) -> Pairs {
        Pairs {
            host0: hosts.first().copied().unwrap_or_default(),
            first: PairCount::default(),
            rest: vec![PairCount::default(); hosts.len().saturating_sub(1)].into_boxed_slice(),
        }
    }

    /// The counter of host `i`.
    #[inline(always)]
    pub fn get_mut(&mut self, i: u32) -> Option<&mut PairCount> {
        match i {
            0 => Some(&mut self.first),
            _ => self.rest.get_mut(i as usize - 1),
        }
    }

    /// A host was added to the list at index `i` (rare: not per packet).
    #[cold]
    fn added(&mut self, i: usize, host: Addr) {
        if i == 0 {
            self.host0 = host;
        } else {
            let mut v = std::mem::take(&mut self.rest).into_vec();
            v.resize(i, PairCount::default());
            self.rest = v.into_boxed_slice();
        }
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
    /// Per host of `hosts` (same index): its traffic with this remote since the last sweep.
    pub pairs: Pairs,
    /// How many of `hosts` the history's sweep has seen: those after are first contacts.
    pub swept_hosts: u8,
    /// Remote ports of LAN-originated TCP/UDP, ascending (a few inline, then on the heap).
    pub ports: SmallVec<[u16; 4]>,
    /// IP protocol numbers seen, first seen first.
    pub protocols: SmallVec<[u8; 4]>,
    /// Protocol and remote port of the last outbound packet (`proto_port_key`; 0: none yet):
    /// packets of a flow repeat them, and the lists above are only searched when they change.
    last_proto_port: u32,
    /// Shared with other remotes of the same database record. Filled at the next snapshot
    /// ([`Tables::locate_new`]), not when the remote is first seen.
    geo: Option<Rc<GeoInfo>>,
    /// `geo` is the answer of the current database (false: not looked up yet, or looked up
    /// in a database since replaced).
    located: bool,
    /// Names learned for it (DNS, TLS SNI, HTTP Host), most recent first, at most
    /// `MAX_NAMES_PER_REMOTE`; shared with the name table. Empty: no allocation.
    pub names: Box<[Rc<str>]>,
    /// `NameKind::bit`s of the sources that named it (for `names_coverage`); the ECH bit
    /// means an outer name is in `Tables::ech_outer`.
    pub name_kinds: u8,
}

impl Remote {
    /// A remote first and last seen at these times, with no traffic, lists or place yet.
    pub fn new(first_seen: u64, last_seen: u64) -> Remote {
        Remote {
            counters: Counters::default(),
            first_seen,
            last_seen,
            hosts: SmallVec::new(),
            pairs: Pairs::default(),
            swept_hosts: 0,
            ports: SmallVec::new(),
            protocols: SmallVec::new(),
            last_proto_port: 0,
            geo: None,
            located: false,
            names: Box::default(),
            name_kinds: 0,
        }
    }

    /// A free table slot's stale remote made into `Remote::new(now, now)` in place, field by
    /// field: no new entry built and copied into the slot (a new remote's largest cost).
    fn renew(&mut self, now: u64) {
        self.counters = Counters::default();
        self.first_seen = now;
        self.last_seen = now;
        self.hosts = SmallVec::new();
        self.ports = SmallVec::new();
        self.protocols = SmallVec::new();
        self.last_proto_port = 0;
        self.geo = None;
        self.located = false;
        if !self.names.is_empty() {
            self.names = Box::default(); // (its drop is an out-of-line call)
        }
        self.name_kinds = 0;
    }

    /// Where it is, as far as the database knows (until the next snapshot after a database
    /// change: the old database's answer).
    pub fn geo(&self) -> Option<&GeoInfo> {
        self.geo.as_deref()
    }

    /// The shared record behind `geo` (the history interns places by it).
    pub fn geo_rc(&self) -> Option<&Rc<GeoInfo>> {
        self.geo.as_ref()
    }

    /// Whether `geo` is the current database's answer.
    pub fn is_located(&self) -> bool {
        self.located
    }

    /// Sets the database's answer.
    pub fn set_location(&mut self, geo: Option<Rc<GeoInfo>>) {
        self.geo = geo;
        self.located = true;
    }

    /// Puts `name` first. Returns true when the list changed.
    /// Adds `host` to `hosts` (with its pair counter), unless the list is full; returns its
    /// index, `u32::MAX` when full.
    pub fn push_host(&mut self, host: Addr) -> u32 {
        if self.hosts.len() >= MAX_HOSTS_PER_REMOTE {
            return u32::MAX;
        }
        self.hosts.push(host);
        let i = self.hosts.len() - 1;
        self.pairs.added(i, host);
        i as u32
    }

    /// The index of `host` in `hosts`, `u32::MAX` when absent.
    pub fn host_index(&self, host: Addr) -> u32 {
        (self.hosts.iter().position(|h| *h == host)).map_or(u32::MAX, |i| i as u32)
    }

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
pub struct RemoteNameTable {
    map: HashMap<(Addr, Addr), NameEntry, RandomState>,
    pub max: usize,
    pub evicted: u64,
}

pub struct NameEntry {
    pub names: SmallVec<[Rc<str>; 1]>,
    pub expires: u64,
    /// `NameKind::bit`s of the sources that gave them.
    pub kinds: u8,
}

impl RemoteNameTable {
    pub fn new(max: usize) -> RemoteNameTable {
        RemoteNameTable {
            map: HashMap::with_hasher(RandomState::default()),
            max: max.max(1),
            evicted: 0,
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
        let key = (host, remote);
        if !self.map.contains_key(&key) && self.map.len() >= self.max {
            if let Some(cut) = EvictionCut::of(self.map.iter().map(|(k, e)| (*k, e.expires))) {
                self.map.retain(|k, e| cut.keeps(k, e.expires));
                self.evicted += cut.evicted as u64;
            }
        }
        let e = self.map.entry(key).or_insert(NameEntry {
            names: SmallVec::new(),
            expires,
            kinds: 0,
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

    /// Whether `name` is among the names learned for the pair.
    pub fn has(&self, host: Addr, remote: Addr, name: &str) -> bool {
        self.get(host, remote)
            .is_some_and(|e| e.names.iter().any(|n| &**n == name))
    }

    /// Notes the source of the pair's latest name.
    pub fn add_kind(&mut self, host: Addr, remote: Addr, bit: u8) {
        if let Some(e) = self.map.get_mut(&(host, remote)) {
            e.kinds |= bit;
        }
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

impl Host {
    /// A device first and last seen at these times, with no traffic and no MAC yet.
    pub fn new(first_seen: u64, last_seen: u64) -> Host {
        Host {
            counters: Counters::default(),
            first_seen,
            last_seen,
            mac: None,
        }
    }
}

/// The name table's figures, for `stats` in markers.json.
#[derive(Debug, Clone, Copy, Default)]
pub struct NameStats {
    /// (LAN host, remote) pairs with names, and their bound.
    pub pairs: usize,
    pub max_pairs: usize,
    pub evicted: u64,
    /// Names learned, by kind: DNS answer records, SNI, HTTP Host, QUIC SNI, ECH outer names.
    pub dns: u64,
    pub sni: u64,
    pub http: u64,
    pub quic: u64,
    pub ech_outer: u64,
}

/// Counts of what the tables had to drop or could not do, for `stats` in markers.json.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableStats {
    pub evicted_remotes: u64,
    pub evicted_hosts: u64,
    pub expired_remotes: u64,
    /// Devices forgotten after `--retention` (for /metrics).
    pub expired_hosts: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// Keyed by [`Addr`]: one `u128` to hash and compare per lookup.
pub type AddrMap<V> = HashMap<Addr, V, RandomState>;

/// Entries keyed by address in one vector of slots, found through a hash index (address →
/// slot). An entry keeps its slot until it is removed, which is what lets the flow cache hold
/// slots; a removed entry's slot is reused by a later insert (the last freed first), so
/// nothing is ever moved: removing an entry costs one index removal, no copy of the entry
/// and no renumbering. Iteration order is the slot order, the same in every run (unlike a
/// hash map's, which is randomly seeded). The vector never grows beyond `bound` slots of
/// capacity.
pub struct AddrTable<V> {
    index: SlotIndex,
    /// Slot → address and value. A free slot keeps its last entry (stale, not in the index,
    /// dropped when the slot is reused or the table is).
    entries: Vec<(Addr, V)>,
    /// Per slot: it holds an entry (false: it is in `free`).
    live: Vec<bool>,
    /// Free slots, reused last freed first.
    free: Vec<u32>,
    bound: usize,
}

impl<V> AddrTable<V> {
    fn new(bound: usize, initial: usize) -> AddrTable<V> {
        AddrTable {
            index: SlotIndex::new(initial),
            entries: Vec::with_capacity(initial),
            live: Vec::with_capacity(initial),
            free: Vec::new(),
            bound,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline(always)]
    fn slot(&self, a: &Addr) -> Option<u32> {
        self.index.find(*a, &self.entries)
    }

    pub fn get(&self, a: &Addr) -> Option<&V> {
        let i = self.slot(a)?;
        Some(&self.entries[i as usize].1)
    }

    pub fn get_mut(&mut self, a: &Addr) -> Option<&mut V> {
        let i = self.slot(a)?;
        Some(&mut self.entries[i as usize].1)
    }

    pub fn contains_key(&self, a: &Addr) -> bool {
        self.slot(a).is_some()
    }

    /// Adds or replaces the entry of `a`; returns its slot. One hash probe.
    pub fn insert(&mut self, a: Addr, v: V) -> u32 {
        if let Some(i) = self.slot(&a) {
            self.entries[i as usize].1 = v;
            return i;
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = (a, v);
                self.live[i as usize] = true;
                i
            }
            None => {
                let i = self.entries.len() as u32;
                self.push(a, v);
                i
            }
        };
        self.index.insert(a, i, &self.entries);
        i
    }

    /// Adds the entry of `a`, which is not in the table (the caller just looked): in a free
    /// slot, whose stale value `reuse` turns into the new one in place (no entry built and
    /// copied), or else in a new slot with the value `fresh` makes. Returns its slot.
    #[inline]
    fn insert_new(
        &mut self,
        a: Addr,
        reuse: impl FnOnce(&mut V),
        fresh: impl FnOnce() -> V,
    ) -> u32 {
        let i = match self.free.pop() {
            Some(i) => {
                let e = &mut self.entries[i as usize];
                e.0 = a;
                reuse(&mut e.1);
                self.live[i as usize] = true;
                i
            }
            None => {
                let i = self.entries.len() as u32;
                self.push(a, fresh());
                i
            }
        };
        self.index.insert(a, i, &self.entries);
        i
    }

    /// A new slot at the end.
    fn push(&mut self, a: Addr, v: V) {
        if self.entries.len() == self.entries.capacity() {
            // doubling, but never past the bound: a full table wastes no capacity (the
            // caller keeps the bound; past it, this grows one entry at a time)
            let room = self.bound.saturating_sub(self.entries.len()).max(1);
            let grow = self.entries.capacity().max(16).min(room);
            self.entries.reserve_exact(grow);
            self.live.reserve_exact(grow);
        }
        self.entries.push((a, v));
        self.live.push(true);
    }

    /// Keeps the entries `keep` says yes to (each entry is offered once). A removed entry's
    /// slot becomes free: nothing moves. Returns how many were removed.
    pub fn retain(&mut self, mut keep: impl FnMut(&Addr, &mut V) -> bool) -> usize {
        let mut gone: Vec<u32> = Vec::new();
        // slices: built-in indexing (a `Vec` index is an out-of-line call at opt-level "z")
        let (entries, live): (&mut [(Addr, V)], &[bool]) = (&mut self.entries, &self.live);
        for i in 0..entries.len() {
            let (a, v) = &mut entries[i];
            if live[i] && !keep(a, v) {
                gone.push(i as u32);
            }
        }
        for &i in &gone {
            self.free_slot(i);
        }
        gone.len()
    }

    /// Removes the entry in `slot` (which holds one).
    fn free_slot(&mut self, slot: u32) {
        let (entries, live): (&[(Addr, V)], &mut [bool]) = (&self.entries, &mut self.live);
        self.index.remove(slot, entries);
        live[slot as usize] = false;
        self.free.push(slot);
    }

    /// Whether `slot` holds an entry.
    #[inline]
    fn is_live(&self, slot: u32) -> bool {
        self.live.get(slot as usize).copied().unwrap_or(false)
    }

    /// The entries, in slot order.
    fn live_entries(&self) -> impl Iterator<Item = (u32, &(Addr, V))> + Clone {
        (self.entries.iter().zip(&self.live).enumerate())
            .filter(|(_, (_, live))| **live)
            .map(|(i, (e, _))| (i as u32, e))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Addr, &V)> + Clone {
        self.live_entries().map(|(_, (a, v))| (a, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Addr> {
        self.live_entries().map(|(_, (a, _))| a)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.live_entries().map(|(_, (_, v))| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        (self.entries.iter_mut().zip(&self.live))
            .filter(|(_, live)| **live)
            .map(|((_, v), _)| v)
    }

    /// The address in `slot`, if there is such a slot. A free slot answers its last entry's
    /// address: the flow cache forgets free slots when they are freed (`forget_free`).
    #[inline(always)]
    fn key_at(&self, slot: u32) -> Option<Addr> {
        let entries: &[(Addr, V)] = &self.entries;
        entries.get(slot as usize).map(|e| e.0)
    }

    /// The entry in `slot` (one that `key_at` or `insert` just vouched for).
    #[inline(always)]
    fn at(&mut self, slot: u32) -> &mut V {
        // built-in slice indexing: no out-of-line `Vec` index call at opt-level "z"
        let entries: &mut [(Addr, V)] = &mut self.entries;
        &mut entries[slot as usize].1
    }
}

/// The hash index of an `AddrTable`: address → slot, by open addressing with linear probing
/// over a power-of-two array of slot numbers, at most half full; the addresses themselves are
/// the table's (one `u32` per bucket: 128 KB at the default 10,000 remotes, where a
/// `HashMap<Addr, u32>` had 400 KB). Removal shifts the entries behind back (no tombstones).
/// Written for the new-remote path: a lookup is a hash, one or two probes and an inlined
/// compare, where `HashMap::get` stays an out-of-line call of ~80 instructions at opt-level
/// "z" (BENCHMARKS.md).
struct SlotIndex {
    buckets: Vec<u32>,
    /// Slot → its bucket: a removal starts there, without hashing and probing.
    bucket_of: Vec<u32>,
    /// Buckets in use.
    len: usize,
    /// 64 - log2(buckets.len()): the bucket of a hash is its top bits.
    shift: u32,
    hasher: RandomState,
}

const NO_SLOT: u32 = u32::MAX;

/// The bucket of `a`: the top bits of its hash, multiplied once more (Fibonacci hashing) so
/// that they depend on all of foldhash's output bits.
#[inline(always)]
fn home(hasher: &RandomState, shift: u32, a: Addr) -> usize {
    use std::hash::BuildHasher;
    (hasher.hash_one(a).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize
}

impl SlotIndex {
    fn new(entries: usize) -> SlotIndex {
        let n = (entries * 2).next_power_of_two().max(16);
        SlotIndex {
            buckets: vec![NO_SLOT; n],
            bucket_of: Vec::with_capacity(entries),
            len: 0,
            shift: 64 - n.trailing_zeros(),
            hasher: RandomState::default(),
        }
    }

    #[inline(always)]
    fn home(&self, a: Addr) -> usize {
        home(&self.hasher, self.shift, a)
    }

    /// The slot of `a`, whose entry is in `entries`.
    #[inline]
    fn find<V>(&self, a: Addr, entries: &[(Addr, V)]) -> Option<u32> {
        let buckets: &[u32] = &self.buckets;
        let mask = buckets.len() - 1;
        let mut b = self.home(a);
        loop {
            let s = buckets[b];
            if s == NO_SLOT {
                return None;
            }
            if entries[s as usize].0 == a {
                return Some(s);
            }
            b = (b + 1) & mask;
        }
    }

    /// Adds `a` (not in the index) → `slot`; `entries` holds the addresses of the others.
    fn insert<V>(&mut self, a: Addr, slot: u32, entries: &[(Addr, V)]) {
        if (self.len + 1) * 2 > self.buckets.len() {
            self.grow(entries);
        }
        let mut b = self.home(a);
        let buckets: &mut [u32] = &mut self.buckets;
        let mask = buckets.len() - 1;
        while buckets[b] != NO_SLOT {
            b = (b + 1) & mask;
        }
        buckets[b] = slot;
        self.set_bucket_of(slot, b);
        self.len += 1;
    }

    #[inline]
    fn set_bucket_of(&mut self, slot: u32, b: usize) {
        let slot = slot as usize;
        if slot >= self.bucket_of.len() {
            self.bucket_of.resize(slot + 1, 0);
        }
        let bucket_of: &mut [u32] = &mut self.bucket_of;
        bucket_of[slot] = b as u32;
    }

    /// Twice the buckets, every slot put in again.
    #[cold]
    fn grow<V>(&mut self, entries: &[(Addr, V)]) {
        let n = self.buckets.len() * 2;
        let old = std::mem::replace(&mut self.buckets, vec![NO_SLOT; n]);
        self.shift -= 1;
        let mask = self.buckets.len() - 1;
        for s in old.into_iter().filter(|&s| s != NO_SLOT) {
            let mut b = self.home(entries[s as usize].0);
            while self.buckets[b] != NO_SLOT {
                b = (b + 1) & mask;
            }
            self.buckets[b] = s;
            self.bucket_of[s as usize] = b as u32;
        }
    }

    /// Removes the entry of `slot` (in the index), moving the buckets behind it back where
    /// their probe sequences allow; `entries` holds the addresses of the others.
    fn remove<V>(&mut self, slot: u32, entries: &[(Addr, V)]) {
        // slices: built-in indexing (a `Vec` index is an out-of-line call at opt-level "z")
        let (buckets, bucket_of): (&mut [u32], &mut [u32]) =
            (&mut self.buckets, &mut self.bucket_of);
        let (hasher, shift) = (&self.hasher, self.shift);
        let mask = buckets.len() - 1;
        let mut hole = bucket_of[slot as usize] as usize;
        debug_assert_eq!(buckets[hole], slot);
        let mut b = hole;
        loop {
            b = (b + 1) & mask;
            let s = buckets[b];
            if s == NO_SLOT {
                break;
            }
            // `s` may fill the hole when the hole is on its probe path: at or after its home
            let home = home(hasher, shift, entries[s as usize].0);
            if b.wrapping_sub(home) & mask >= b.wrapping_sub(hole) & mask {
                buckets[hole] = s;
                bucket_of[s as usize] = hole as u32;
                hole = b;
            }
        }
        buckets[hole] = NO_SLOT;
        self.len -= 1;
    }
}

/// For tests: `table[&addr]`, panicking when absent (the daemon uses `get`).
#[cfg(test)]
impl<V> std::ops::Index<&Addr> for AddrTable<V> {
    type Output = V;

    fn index(&self, a: &Addr) -> &V {
        self.get(a).expect("no entry for this address")
    }
}

/// Flow cache size (slots, a power of two): 4096 × 8 bytes. A home network has a few hundred
/// active flows; a miss (or two flows in one slot) only costs the uncached path. Measured on
/// the `flows` bench capture (1M packets, 100k remotes): 44 % of packets missed at 1024 slots,
/// 37 % at 2048, 30 % at 4096 while the two directions of a flow had a slot each; with one
/// slot for both (`flow_slot`), 14 % at 4096 (12 % at 8192), 10 % being a new remote's first
/// packet.
const FLOW_SLOTS: usize = 4096;

/// One flow cache slot: packets between the addresses in these two table slots, either way
/// (host → remote outbound, remote → host inbound). Valid for a packet only while the slots
/// hold its two addresses.
#[derive(Clone, Copy)]
struct FlowSlot {
    remote: u32,
    host: u32,
    /// The host's index in the remote's `hosts` (and `pairs`): a hint, checked per packet.
    pair: u32,
}

const EMPTY_SLOT: FlowSlot = FlowSlot {
    remote: u32::MAX,
    host: u32::MAX,
    pair: u32::MAX,
};

/// The slot of the flow between `a` and `b`: the same for both directions, so that a reply
/// finds the slot its request filled. XOR of the two addresses, then Fibonacci hashing: on the
/// `flows` capture as few conflicts as a random hash of the pair (simulated: 13.6 % misses at
/// 4096 slots, 10 % being new remotes; 20.4 % with the sum of the two).
#[inline(always)]
fn flow_slot(a: Addr, b: Addr) -> usize {
    let x = a.fold() ^ b.fold();
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - FLOW_SLOTS.trailing_zeros())) as usize
}

/// Where a learned name came from (counted in `stats`, kept per remote as `name_kinds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Dns = 0,
    Sni = 1,
    HttpHost = 2,
    /// The SNI of a QUIC Initial (`quic`).
    Quic = 3,
    /// The outer server name of an ECH ClientHello (TLS or QUIC): the provider's front, not
    /// the site. Kept apart (`Tables::ech_outer`), never among the remote's `names`.
    EchOuter = 4,
}

impl NameKind {
    pub const ALL: [NameKind; 5] = [
        NameKind::Dns,
        NameKind::Sni,
        NameKind::Quic,
        NameKind::HttpHost,
        NameKind::EchOuter,
    ];

    /// Its bit in `Remote::name_kinds` and `NameEntry::kinds`.
    pub fn bit(self) -> u8 {
        match self {
            NameKind::Dns => 1,
            NameKind::Sni => 2,
            NameKind::HttpHost => 4,
            NameKind::Quic => 8,
            NameKind::EchOuter => 16,
        }
    }

    /// As markers.json names it.
    pub fn label(self) -> &'static str {
        match self {
            NameKind::Dns => "dns",
            NameKind::Sni => "sni",
            NameKind::HttpHost => "host",
            NameKind::Quic => "quic",
            NameKind::EchOuter => "ech-outer",
        }
    }
}

/// The two tables and their bounds.
pub struct Tables {
    pub remotes: AddrTable<Remote>,
    pub hosts: AddrTable<Host>,
    /// Direct-mapped by (source, destination): see the module comment.
    flows: Box<[FlowSlot; FLOW_SLOTS]>,
    /// Some remote is not located yet.
    geo_pending: bool,
    pub max_remotes: usize,
    pub max_hosts: usize,
    pub stats: TableStats,
    /// Set by every change; cleared when a snapshot is taken (`published`).
    dirty: bool,
    /// The capture adds packets and bytes (true), or only notes remotes, hosts, ports and
    /// times while conntrack counts (`--conntrack`, see `conntrack`).
    pub capture_counts: bool,
    /// When each table last logged an eviction (remotes, hosts).
    logged: [Option<Instant>; 2],
    /// Names learned from DNS answers, SNI and HTTP Host, not yet (or no longer) attached.
    learned: RemoteNameTable,
    /// Names learned, by kind: DNS answer records, SNI, HTTP Host.
    names_by_kind: [u64; 5],
    /// ECH outer names by (LAN host, remote), apart from `learned`: never a site's name.
    pub ech_outer: RemoteNameTable,
}

impl Tables {
    pub fn new(max_remotes: usize, max_hosts: usize) -> Tables {
        let max_remotes = max_remotes.max(1);
        let max_hosts = max_hosts.max(1);
        Tables {
            // Pre-size modestly: the tables grow as needed, up to the bound.
            remotes: AddrTable::new(max_remotes, max_remotes.min(1024)),
            hosts: AddrTable::new(max_hosts, max_hosts.min(64)),
            flows: Box::new([EMPTY_SLOT; FLOW_SLOTS]),
            geo_pending: false,
            max_remotes,
            max_hosts,
            stats: TableStats::default(),
            dirty: false,
            capture_counts: true,
            logged: [None; 2],
            learned: RemoteNameTable::new(DEFAULT_MAX_NAMES),
            names_by_kind: [0; 5],
            ech_outer: RemoteNameTable::new(MAX_ECH_OUTER),
        }
    }

    /// Whether `host` learned `name` for `remote` (DNS, SNI, HTTP Host or QUIC).
    pub fn has_learned(&self, host: Addr, remote: Addr, name: &str) -> bool {
        self.learned.has(host, remote, name)
    }

    /// Sets the bound of the name table (`--max-names`), emptying it.
    pub fn set_max_names(&mut self, max: usize) {
        self.learned = RemoteNameTable::new(max);
    }

    /// Empty tables with the same bounds (remotes, hosts, names).
    pub fn empty_like(&self) -> Tables {
        let mut t = Tables::new(self.max_remotes, self.max_hosts);
        t.set_max_names(self.learned.max);
        t
    }

    /// Something changed since the last snapshot (`published`).
    pub fn changed(&self) -> bool {
        self.dirty
    }

    /// Something outside the packet path (conntrack's counts) changed them.
    pub fn mark_changed(&mut self) {
        self.dirty = true;
    }

    /// A snapshot of the tables as they are now was taken.
    pub fn published(&mut self) {
        self.dirty = false;
    }

    /// The name table's figures.
    pub fn name_stats(&self) -> NameStats {
        let [dns, sni, http, quic, ech_outer] = self.names_by_kind;
        NameStats {
            pairs: self.learned.len(),
            max_pairs: self.learned.max,
            evicted: self.learned.evicted,
            dns,
            sni,
            http,
            quic,
            ech_outer,
        }
    }

    /// A device read back from a state file (the caller keeps the bound).
    pub fn restore_host(&mut self, ip: Addr, h: Host) {
        self.hosts.insert(ip, h);
        self.dirty = true;
    }

    /// A remote read back from a state file (the caller keeps the bound), located at the
    /// next snapshot.
    pub fn restore_remote(&mut self, ip: Addr, r: Remote) {
        self.remotes.insert(ip, r);
        self.geo_pending = true;
        self.dirty = true;
    }

    /// A name for what `host` talks (or will talk) to at `remote`: attached to the remote
    /// now if the host already sent to it, and kept in the name table until `expires`.
    /// Out of line and cold: names are rare next to packets.
    #[inline(never)]
    #[cold]
    pub fn learn(&mut self, host: Addr, remote: Addr, name: &str, kind: NameKind, expires: u64) {
        self.names_by_kind[kind as usize] += 1;
        let table = if kind == NameKind::EchOuter {
            &mut self.ech_outer
        } else {
            &mut self.learned
        };
        let shared = table.insert(host, remote, name, expires);
        table.add_kind(host, remote, kind.bit());
        if let Some(r) = self.remotes.get_mut(&remote) {
            if r.hosts.contains(&host) {
                let bits = r.name_kinds | kind.bit();
                let added = kind != NameKind::EchOuter && r.add_name(&shared);
                let changed = added || bits != r.name_kinds;
                r.name_kinds = bits;
                self.dirty |= changed;
            }
        }
    }

    /// Counts one decoded packet, if it is between a LAN host and a remote. `now` is the
    /// capture timestamp in unix seconds. A packet of a flow counted before takes the flow
    /// cache: no classification, no hash lookup.
    #[inline(always)]
    pub fn count(&mut self, packet: &PacketInfo, wire_len: u32, now: u64, nets: &Networks) {
        let i = flow_slot(packet.src, packet.dst);
        let s = self.flows[i];
        // Classification depends on the two addresses only: the slots holding exactly this
        // (host, remote) pair, either way round, mean this packet was classified the same way
        // before.
        let (host, remote) = (self.hosts.key_at(s.host), self.remotes.key_at(s.remote));
        let dir = if host == Some(packet.src) && remote == Some(packet.dst) {
            Direction::Out
        } else if host == Some(packet.dst) && remote == Some(packet.src) {
            Direction::In
        } else {
            self.count_uncached(i, packet, wire_len, now, nets);
            return;
        };
        let flow = Flow::of(packet, dir);
        let hit = Hit {
            direction: dir,
            host: flow.host,
            remote_port: flow.remote_port,
            remote: s.remote,
            host_slot: s.host,
            pair: s.pair,
        };
        let pair = self.add(&hit, packet, wire_len, now);
        self.flows[i].pair = pair;
    }

    /// A flow cache miss: classification and the hash tables, then the slot is filled.
    #[inline(never)]
    fn count_uncached(
        &mut self,
        i: usize,
        packet: &PacketInfo,
        wire_len: u32,
        now: u64,
        nets: &Networks,
    ) {
        let Some(flow) = nets.classify(packet) else {
            return;
        };
        if let Some(hit) = self.record(&flow, packet, wire_len, now, nets) {
            self.flows[i] = FlowSlot {
                remote: hit.remote,
                host: hit.host_slot,
                pair: hit.pair,
            };
        }
    }

    /// Counts one packet of a classified flow (no flow cache). Returns where it was counted,
    /// or `None` when it was not (a reply from a remote the LAN never talked to, or a
    /// destination that cannot be remote).
    pub fn record(
        &mut self,
        flow: &Flow,
        packet: &PacketInfo,
        wire_len: u32,
        now: u64,
        nets: &Networks,
    ) -> Option<Hit> {
        let remote = match self.remotes.slot(&flow.remote) {
            Some(r) => r,
            // Replies count only for remotes the LAN already talked to.
            None if flow.direction == Direction::In => return None,
            None => {
                // A new remote: the only place where it is checked for being one. It is
                // located at the next snapshot: one that a flood evicts before then costs
                // no lookup at all.
                if !nets.is_remote(flow.remote) {
                    return None;
                }
                if self.remotes.len() >= self.max_remotes {
                    self.evict_remotes();
                }
                self.geo_pending = true;
                let (reuse, fresh) = (|r: &mut Remote| r.renew(now), || Remote::new(now, now));
                self.remotes.insert_new(flow.remote, reuse, fresh)
            }
        };
        let host_slot = match self.hosts.slot(&flow.host) {
            Some(h) => h,
            None => {
                if self.hosts.len() >= self.max_hosts {
                    self.evict_hosts();
                }
                let new = || Host::new(now, now);
                self.hosts.insert_new(flow.host, |h| *h = new(), new)
            }
        };
        let mut hit = Hit {
            direction: flow.direction,
            host: flow.host,
            remote_port: flow.remote_port,
            remote,
            host_slot,
            pair: u32::MAX,
        };
        hit.pair = self.add(&hit, packet, wire_len, now);
        Some(hit)
    }

    /// The counting itself, shared by the cached and the uncached path. Returns the host's
    /// index in the remote's `hosts` (`u32::MAX`: not there), for the flow cache.
    #[inline(always)]
    fn add(&mut self, hit: &Hit, packet: &PacketInfo, wire_len: u32, now: u64) -> u32 {
        let counts = self.capture_counts;
        let remote = self.remotes.at(hit.remote);
        if counts {
            remote.counters.add(hit.direction, wire_len);
        }
        remote.last_seen = now;
        // The pair: the flow cache's hint when it still names this host (one comparison),
        // else a search of the short list, which adds an outbound packet's host.
        let mut pair = hit.pair;
        let known = match pair {
            0 => remote.pairs.host0 == hit.host,
            _ => remote.hosts.get(pair as usize) == Some(&hit.host),
        };
        if !known {
            pair = self.find_pair(hit);
        }
        let remote = self.remotes.at(hit.remote);
        if counts {
            if let Some(p) = remote.pairs.get_mut(pair) {
                p.add(hit.direction, wire_len);
            }
        }
        if hit.direction == Direction::Out {
            let key = proto_port_key(packet.protocol, hit.remote_port);
            if remote.last_proto_port != key {
                remote.last_proto_port = key;
                note_proto_port(remote, packet.protocol, hit.remote_port);
            }
        }
        let host = self.hosts.at(hit.host_slot);
        if counts {
            host.counters.add(hit.direction, wire_len);
        }
        host.last_seen = now;
        // The frame's source MAC is the device's own only when the device sent it.
        if hit.direction == Direction::Out && host.mac.is_none() {
            host.mac = packet.src_mac;
        }
        if counts {
            self.stats.packets += 1;
            self.stats.bytes += u64::from(wire_len);
        }
        self.dirty = true;
        pair
    }

    /// The host's index in the remote's `hosts` without the cache's hint: a new flow, or a
    /// host new to the remote (outbound: added, with the names it learned for the remote).
    #[inline(never)]
    fn find_pair(&mut self, hit: &Hit) -> u32 {
        let remote = self.remotes.at(hit.remote);
        let found = remote.host_index(hit.host);
        if found != u32::MAX || hit.direction != Direction::Out {
            return found;
        }
        let pair = remote.push_host(hit.host);
        // A host new to this remote: names it learned for it (rare, not per packet).
        if pair != u32::MAX && (!self.learned.is_empty() || !self.ech_outer.is_empty()) {
            let ip = self.remotes.entries[hit.remote as usize].0;
            let r = self.remotes.at(hit.remote);
            attach_learned(r, &self.learned, hit.host, ip);
            attach_learned(r, &self.ech_outer, hit.host, ip);
        }
        pair
    }

    /// The history's sweep: hands `each` every (LAN host, remote) pair's traffic since the
    /// last sweep, then zeroes it. Per snapshot, not per packet: one pass over the remotes.
    pub fn sweep_pairs(&mut self, mut each: impl FnMut(&PairDelta)) {
        let mut taken: SmallVec<[(usize, PairCount); 4]> = SmallVec::new();
        for (ip, r) in self.remotes.entries.iter_mut() {
            taken.clear();
            for i in 0..r.hosts.len() {
                if let Some(p) = r.pairs.get_mut(i as u32).filter(|p| !p.is_zero()) {
                    taken.push((i, std::mem::take(p)));
                }
            }
            let Some(&(last, _)) = taken.last() else {
                continue;
            };
            let swept = usize::from(r.swept_hosts);
            r.swept_hosts = r.swept_hosts.max((last + 1) as u8);
            let r = &*r;
            for &(i, count) in &taken {
                let Some(&host) = r.hosts.get(i) else {
                    continue;
                };
                each(&PairDelta {
                    host,
                    mac: self.hosts.get(&host).and_then(|h| h.mac),
                    remote_ip: *ip,
                    remote: r,
                    count,
                    new: i >= swept,
                });
            }
        }
    }

    /// Gives the remotes that are not located yet their place, from `locate` (the daemon's
    /// database lookup): once per snapshot, before it is rendered. The table knows nothing of
    /// the database.
    pub fn locate_new(&mut self, mut locate: impl FnMut(Addr) -> Option<Rc<GeoInfo>>) {
        if !self.geo_pending {
            return;
        }
        self.geo_pending = false;
        // Grouped by the first byte the tree walk reads (an IPv4 address's first octet, an
        // IPv6 address's first byte): one group's lookups walk the same subtree, which the
        // database lays out contiguously, so they touch the same pages of the mapped file
        // instead of jumping all over it. A counting sort: two passes, no comparisons.
        let first = |ip: &Addr| {
            let b = ip.bits();
            (if b >> 64 == 0 { b >> 24 } else { b >> 120 }) as u8 as usize
        };
        let todo = || {
            (self.remotes.live_entries())
                .filter(|(_, (_, r))| !r.located)
                .map(|(i, (ip, _))| (first(ip), i))
        };
        let mut start = [0u32; 257];
        todo().for_each(|(k, _)| start[k + 1] += 1);
        for k in 1..start.len() {
            start[k] += start[k - 1];
        }
        let mut order = vec![0u32; start[256] as usize];
        todo().for_each(|(k, i)| {
            order[start[k] as usize] = i;
            start[k] += 1;
        });
        for i in order {
            let info = locate(self.remotes.entries[i as usize].0);
            self.remotes.at(i).set_location(info);
        }
    }

    /// Every remote is to be looked up again, at the next snapshot (the database was
    /// replaced, or the state restored). Until then a remote keeps its old position.
    pub fn relocate_all(&mut self) {
        self.remotes.values_mut().for_each(|r| r.located = false);
        self.geo_pending = true;
        self.dirty = true;
    }

    /// The flow cache after entries were removed: cache slots that name a slot freed since
    /// forget it, so that a free slot (which still holds its last address) is never taken
    /// for its old entry. The flows of the entries that stay keep their cache slots.
    fn forget_free(&mut self, remotes: bool) {
        for s in self.flows.iter_mut() {
            if remotes {
                if !self.remotes.is_live(s.remote) {
                    s.remote = u32::MAX;
                }
            } else if !self.hosts.is_live(s.host) {
                s.host = u32::MAX;
            }
        }
    }

    fn evict_remotes(&mut self) {
        let n = evict_oldest(&mut self.remotes, |r| r.last_seen);
        self.evicted(true, n);
    }

    fn evict_hosts(&mut self) {
        let n = evict_oldest(&mut self.hosts, |h| h.last_seen);
        self.evicted(false, n);
    }

    /// After an eviction round of the remotes (or of the devices): the flow cache forgets the
    /// freed slots, the round is counted and (at most once a minute) logged.
    fn evicted(&mut self, remotes: bool, n: usize) {
        self.forget_free(remotes);
        let (i, what, total, bound) = if remotes {
            self.stats.evicted_remotes += n as u64;
            (0, "remotes", self.stats.evicted_remotes, self.max_remotes)
        } else {
            self.stats.evicted_hosts += n as u64;
            (1, "hosts", self.stats.evicted_hosts, self.max_hosts)
        };
        log_eviction(&mut self.logged[i], what, n, total, bound);
    }

    /// Forgets entries idle for longer than `retention` seconds.
    pub fn expire(&mut self, now: u64, retention: u64) {
        let cutoff = now.saturating_sub(retention);
        let removed = self.remotes.retain(|_, r| r.last_seen >= cutoff) as u64;
        if removed > 0 {
            self.forget_free(true);
        }
        self.learned.expire(now);
        self.ech_outer.expire(now);
        let removed_h = self.hosts.retain(|_, h| h.last_seen >= cutoff) as u64;
        if removed_h > 0 {
            self.forget_free(false);
        }
        if removed + removed_h > 0 {
            self.stats.expired_remotes += removed;
            self.stats.expired_hosts += removed_h;
            self.dirty = true;
            log::debug!("expired {removed} remotes and {removed_h} hosts idle for {retention} s");
        }
    }
}

/// One (LAN host, remote) pair's traffic since the last sweep ([`Tables::sweep_pairs`]).
pub struct PairDelta<'a> {
    pub host: Addr,
    /// The host's MAC, if its table entry knows it.
    pub mac: Option<[u8; 6]>,
    pub remote_ip: Addr,
    /// The remote's entry: its place (`geo`), names and `last_seen` (the delta's time).
    pub remote: &'a Remote,
    pub count: PairCount,
    /// The host's first contact with this remote, as far as the tables remember.
    pub new: bool,
}

/// Where a packet was counted: direction, LAN host, remote port, and the two table slots.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    pub direction: Direction,
    pub host: Addr,
    pub remote_port: Option<u16>,
    remote: u32,
    host_slot: u32,
    /// The host's index in the remote's `hosts` (`u32::MAX`: unknown or not there).
    pair: u32,
}

/// A (protocol, port) the remote had not shown last time: into its bounded lists.
#[inline(never)]
fn note_proto_port(remote: &mut Remote, protocol: u8, port: Option<u16>) {
    if remote.protocols.is_empty() {
        // a new remote (its first outbound packet): one-element lists built inline, no
        // search and no out-of-line `insert`/`push`
        remote.protocols = SmallVec::from_buf_and_len([protocol, 0, 0, 0], 1);
        if let Some(port) = port {
            remote.ports = SmallVec::from_buf_and_len([port, 0, 0, 0], 1);
        }
        return;
    }
    if let Some(port) = port {
        if let Err(at) = remote.ports.binary_search(&port) {
            if remote.ports.len() < MAX_PORTS {
                remote.ports.insert(at, port);
            }
        }
    }
    if !remote.protocols.contains(&protocol) && remote.protocols.len() < MAX_PROTOCOLS {
        remote.protocols.push(protocol);
    }
}

/// Gives `remote` the names its new host `host` learned for it (out of line: rare).
#[inline(never)]
#[cold]
fn attach_learned(remote: &mut Remote, learned: &RemoteNameTable, host: Addr, ip: Addr) {
    if let Some(e) = learned.get(host, ip) {
        if e.kinds & NameKind::EchOuter.bit() == 0 {
            for n in e.names.iter().rev() {
                remote.add_name(n);
            }
        }
        remote.name_kinds |= e.kinds;
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

/// Removes the least recently seen eighth (at least one) of a full table. Exactly that many go,
/// even when many entries share a timestamp (a flood inside one second): among the entries
/// stamped with the cut-off time, the lowest addresses go, the same ones in every run (as
/// `EvictionCut` does for the name table). Returns how many.
///
/// Once per `bound / 8` new entries, over plain slices (no iterator chains: at opt-level "z"
/// their `next` stays out of line): the stamps, a histogram of 1,024 buckets over their range
/// to find the cut-off (no selection over all of them), then one pass that frees the slots.
fn evict_oldest<V>(table: &mut AddrTable<V>, last_seen: impl Fn(&V) -> u64) -> usize {
    const BUCKETS: usize = 1024;
    let live_count = table.len();
    if live_count == 0 {
        return 0;
    }
    let k = (live_count / 8).max(1);
    // Stamps by slot, `FREE` for free slots (a live entry stamped u64::MAX counts as one
    // second less). Loops over slices: built-in indexing and iterators that inline (a `Vec`
    // index or push is an out-of-line call at opt-level "z").
    const FREE: u64 = u64::MAX;
    let entries: &[(Addr, V)] = &table.entries;
    let (mut lo, mut hi) = (FREE, 0);
    let stamps: Vec<u64> = (entries.iter().zip(&table.live))
        .map(|(e, &live)| {
            if live {
                let s = last_seen(&e.1).min(FREE - 1);
                lo = lo.min(s);
                hi = hi.max(s);
                s
            } else {
                FREE
            }
        })
        .collect();
    let mut shift = 0;
    while (hi - lo) >> shift >= BUCKETS as u64 {
        shift += 1;
    }
    let bucket = |s: u64| ((s - lo) >> shift) as usize;
    let mut counts = [0u32; BUCKETS];
    for &s in &stamps {
        if s != FREE {
            counts[bucket(s)] += 1;
        }
    }
    // the bucket of the k-th oldest, and how many are in the buckets before it
    let (mut b, mut before) = (0, 0);
    while before + (counts[b] as usize) < k {
        before += counts[b] as usize;
        b += 1;
    }
    // the k-th oldest stamp, and how many are older than it
    // (and how many share it: the room for the ties below, pushed without regrowing)
    let (cutoff, older, tied) = if shift == 0 {
        (lo + b as u64, before, counts[b] as usize)
    } else {
        let mut inside: Vec<u64> = (stamps.iter())
            .filter(|&&s| s != FREE && bucket(s) == b)
            .copied()
            .collect();
        // (a sort, not a selection: one bucket holds few stamps, and the sort's code is a
        // tenth of the selection's on mipsel)
        inside.sort_unstable();
        let cutoff = inside[k - before - 1];
        let older = inside.iter().filter(|&&s| s < cutoff).count();
        let tied = inside.iter().filter(|&&s| s == cutoff).count();
        (cutoff, before + older, tied)
    };
    // the older ones go; of those stamped `cutoff`, the lowest addresses
    let mut ties: Vec<(u128, u32)> = Vec::with_capacity(tied);
    for (i, &s) in stamps.iter().enumerate() {
        if s < cutoff {
            table.free_slot(i as u32);
        } else if s == cutoff {
            ties.push((order_key(table.entries[i].0), i as u32));
        }
    }
    let need = k - older;
    lowest_first(&mut ties, need);
    for t in &ties[..need] {
        table.free_slot(t.1);
    }
    k
}

/// Puts the `need` (address order key, slot) pairs of the lowest keys first, in no particular
/// order. Not generic: one copy of the selection for both tables (~2.5 KB each on mipsel).
#[inline(never)]
fn lowest_first(ties: &mut [(u128, u32)], need: usize) {
    if ties.len() > need {
        ties.select_nth_unstable_by_key(need - 1, |t| t.0);
    }
}

/// `Addr`'s order (IPv4 before IPv6, then by address) as one integer: IPv4 addresses are
/// 0..2^32, IPv6 ones below the IPv4-mapped block follow them, those above keep their value
/// (the mapped block, 2^32 addresses, is exactly the room IPv4 takes).
#[inline]
fn order_key(a: Addr) -> u128 {
    const MAPPED: u128 = 0xffff_0000_0000;
    let b = a.bits();
    if a.is_ipv4() {
        b - MAPPED
    } else if b < MAPPED {
        b + (1 << 32)
    } else {
        b
    }
}

/// What an eviction of the oldest eighth keeps: entries stamped after `cutoff`, and among
/// those stamped exactly `cutoff`, the keys above `last_tie` — the lowest keys go, the same
/// ones in every run, so replays are reproducible.
struct EvictionCut<K> {
    cutoff: u64,
    last_tie: K,
    evicted: usize,
}

impl<K: Ord + Copy> EvictionCut<K> {
    /// The cut for (key, stamp) pairs; `None` when there are none.
    fn of(entries: impl Iterator<Item = (K, u64)> + Clone) -> Option<EvictionCut<K>> {
        let mut stamps: Vec<u64> = entries.clone().map(|(_, s)| s).collect();
        if stamps.is_empty() {
            return None;
        }
        let k = (stamps.len() / 8).max(1);
        // (sorts, not selections, as in `evict_oldest`: a name table's eviction is rare)
        stamps.sort_unstable();
        let cutoff = stamps[k - 1];
        let older = stamps.iter().filter(|&&s| s < cutoff).count();
        drop(stamps);
        let mut ties: Vec<K> = entries
            .filter(|&(_, s)| s == cutoff)
            .map(|(key, _)| key)
            .collect();
        ties.sort_unstable();
        Some(EvictionCut {
            cutoff,
            last_tie: ties[k - older - 1],
            evicted: k,
        })
    }

    #[inline]
    fn keeps(&self, key: &K, stamp: u64) -> bool {
        stamp > self.cutoff || (stamp == self.cutoff && *key > self.last_tie)
    }
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
            ip_at: 0,
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
        let n = nets();
        let mut t = Tables::new(100, 10);
        let out = |t: &mut Tables, proto: u8, port: Option<u16>| {
            let f = flow(Direction::Out, "192.168.1.2", "1.1.1.1", port);
            t.record(&f, &pkt(proto, None), 60, 1, &n);
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
        let n = nets();
        let mut t = Tables::new(100, 10);
        t.record(
            &flow(Direction::In, "192.168.1.2", "1.1.1.1", Some(443)),
            &pkt(6, None),
            60,
            1,
            &n,
        );
        assert!(t.remotes.is_empty() && t.hosts.is_empty());
        t.record(
            &flow(Direction::Out, "192.168.1.2", "1.1.1.1", Some(443)),
            &pkt(6, Some([2; 6])),
            100,
            2,
            &n,
        );
        t.record(
            &flow(Direction::In, "192.168.1.2", "1.1.1.1", Some(443)),
            &pkt(6, None),
            1500,
            3,
            &n,
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
        let n = nets();
        let mut t = Tables::new(100, 10);
        for dst in ["224.0.0.251", "10.0.0.1", "255.255.255.255", "100.64.1.1"] {
            t.record(
                &flow(Direction::Out, "192.168.1.2", dst, None),
                &pkt(17, None),
                60,
                1,
                &n,
            );
        }
        assert!(t.remotes.is_empty());
        assert!(t.hosts.is_empty());
    }

    #[test]
    fn bounded_and_lru_eviction() {
        let n = nets();
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
            t.record(&f, &pkt(6, None), 60, u64::from(i), &n);
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
    fn tables_grow_to_any_bound_and_no_further_by_themselves() {
        // bounds just past a power of two, and past the initial capacity by less than the
        // growth step
        for (bound, initial) in [(1030, 1024), (70, 64), (17, 16), (1, 1), (5000, 1024)] {
            let mut t: AddrTable<u32> = AddrTable::new(bound, initial);
            for i in 0..bound as u32 {
                t.insert(Addr::from_v4_bytes(i.to_be_bytes()), i);
            }
            assert_eq!(t.len(), bound);
            assert!(
                t.entries.capacity() <= bound.max(16),
                "{bound}: {}",
                t.entries.capacity()
            );
            // past the bound (the caller evicts first, but an insert must not fail)
            t.insert(Addr::from_v4_bytes([255; 4]), 0);
            assert_eq!(t.len(), bound + 1);
            for i in 0..bound as u32 {
                assert_eq!(t.get(&Addr::from_v4_bytes(i.to_be_bytes())), Some(&i));
            }
        }
    }

    #[test]
    fn eviction_with_equal_timestamps_removes_an_eighth() {
        let mut m: AddrTable<u64> = AddrTable::new(100, 0);
        for i in 0..80u32 {
            m.insert(Addr::from_v4_bytes(i.to_be_bytes()), 7);
        }
        assert_eq!(evict_oldest(&mut m, |v| *v), 10);
        assert_eq!(m.len(), 70);
        // the lowest addresses went, and the index still finds every survivor
        assert!(!m.contains_key(&Addr::from_v4_bytes(9u32.to_be_bytes())));
        for i in 10..80u32 {
            assert_eq!(m.get(&Addr::from_v4_bytes(i.to_be_bytes())), Some(&7));
        }
    }

    #[test]
    fn the_slot_index_agrees_with_a_hash_map() {
        // random inserts and removals over few addresses (long probe runs, wrap-around,
        // growth from the smallest index): every address found exactly where a map says
        let mut t: AddrTable<u32> = AddrTable::new(1000, 0);
        let mut m: HashMap<Addr, u32> = HashMap::new();
        let mut state = 0x1234_5678_u64;
        for step in 0..20_000u32 {
            let a = Addr::from_v4_bytes(((rng(&mut state) % 300) as u32).to_be_bytes());
            if rng(&mut state) % 3 == 0 {
                t.retain(|k, _| *k != a);
                m.remove(&a);
            } else {
                t.insert(a, step);
                m.insert(a, step);
            }
            assert_eq!(t.len(), m.len());
        }
        for i in 0..300u32 {
            let a = Addr::from_v4_bytes(i.to_be_bytes());
            assert_eq!(t.get(&a), m.get(&a), "{a}");
        }
        assert_eq!(t.iter().count(), m.len());
    }

    #[test]
    fn order_key_orders_as_addr() {
        let mut addrs: Vec<Addr> = [
            "0.0.0.0",
            "1.2.3.4",
            "255.255.255.255",
            "::",
            "::1",
            "::fffe:ffff:ffff",
            "::1:0:0:0",
            "2001:db8::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let v6 = |b: u128| Addr::from(std::net::IpAddr::V6(b.into()));
        addrs.push(v6(0xffff_0000_0000 - 1));
        addrs.push(v6(0x1_0000_0000_0000));
        addrs.push("::ffff:1.2.3.5".parse().unwrap()); // the IPv4 1.2.3.5
        addrs.sort();
        addrs.dedup();
        let mut by_key = addrs.clone();
        by_key.reverse();
        by_key.sort_by_key(|a| order_key(*a));
        assert_eq!(addrs, by_key);
        let keys: std::collections::HashSet<u128> = addrs.iter().map(|a| order_key(*a)).collect();
        assert_eq!(keys.len(), addrs.len());
    }

    #[test]
    fn lists_are_bounded() {
        let n = nets();
        let mut t = Tables::new(10, 300);
        for i in 0..200u16 {
            let host = format!("192.168.1.{}", i + 1);
            t.record(
                &flow(Direction::Out, &host, "9.9.9.9", Some(i)),
                &pkt((i % 20) as u8, None),
                60,
                1,
                &n,
            );
        }
        let r = &t.remotes[&"9.9.9.9".parse::<Addr>().unwrap()];
        assert_eq!(r.hosts.len(), MAX_HOSTS_PER_REMOTE);
        assert_eq!(r.ports.len(), MAX_PORTS);
        assert_eq!(r.protocols.len(), MAX_PROTOCOLS);
        assert_eq!(r.counters.packets_out, 200);
    }

    /// A small deterministic generator (xorshift), so the test needs no crate.
    fn rng(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    fn sorted<V: Clone>(t: &AddrTable<V>) -> Vec<(Addr, V)> {
        let mut v: Vec<(Addr, V)> = t.iter().map(|(a, v)| (*a, v.clone())).collect();
        v.sort_by_key(|(a, _)| *a);
        v
    }

    #[test]
    fn flow_cache_counts_exactly_as_the_uncached_path() {
        // Random traffic (both directions, both families, replies before requests, excluded
        // and LAN-to-LAN packets) into tiny tables, so that evictions and expiry renumber
        // slots all the time: the cached path must leave the same tables as the uncached one.
        let n = Networks::new(
            vec![
                "192.168.1.0/24".parse().unwrap(),
                "fd00::/64".parse().unwrap(),
            ],
            vec![],
            vec!["192.168.1.250/32".parse().unwrap()],
        );
        let hosts: Vec<Addr> = [
            "192.168.1.2",
            "192.168.1.3",
            "192.168.1.250",
            "fd00::2",
            "fd00::3",
        ]
        .iter()
        .map(|h| h.parse().unwrap())
        .collect();
        let mut remotes: Vec<Addr> = (0..40u8)
            .map(|i| Addr::from_v4_bytes([1, 1, i, 1]))
            .collect();
        remotes.extend((0..20u16).map(|i| format!("2001:4860::{i:x}").parse::<Addr>().unwrap()));
        remotes.push("192.168.1.9".parse().unwrap()); // LAN to LAN: not counted
        let (mut cached, mut plain) = (Tables::new(24, 3), Tables::new(24, 3));
        let mut seed = 0x2545_f491_4f6c_dd1d;
        for i in 0..20_000u64 {
            let r = rng(&mut seed);
            let host = hosts[(r % 5) as usize];
            let mut remote = remotes[(r >> 8) as usize % remotes.len()];
            if host.is_ipv4() != remote.is_ipv4() {
                remote = if host.is_ipv4() {
                    remotes[0]
                } else {
                    remotes[45]
                };
            }
            let ports = Some((
                40_000 + (r >> 20) as u16 % 4,
                [443, 53, 80][(r >> 30) as usize % 3],
            ));
            let mac = Some([(r >> 40) as u8; 6]);
            let (src, dst, ports) = if r >> 50 & 1 == 0 {
                (host, remote, ports)
            } else {
                (remote, host, ports.map(|(a, b)| (b, a)))
            };
            let p = PacketInfo {
                src,
                dst,
                protocol: [6, 17, 1][(r >> 33) as usize % 3],
                ports,
                src_mac: mac,
                l4_at: 0,
                ip_at: 0,
            };
            let now = i / 50;
            cached.count(&p, 60 + (r >> 55) as u32, now, &n);
            if let Some(f) = n.classify(&p) {
                plain.record(&f, &p, 60 + (r >> 55) as u32, now, &n);
            }
            if i % 3_000 == 2_999 {
                cached.expire(now, 20);
                plain.expire(now, 20);
            }
        }
        assert!(cached.stats.evicted_remotes > 100 && cached.stats.evicted_hosts > 10);
        assert_eq!(cached.stats.packets, plain.stats.packets);
        assert_eq!(cached.stats.bytes, plain.stats.bytes);
        assert_eq!(cached.stats.evicted_remotes, plain.stats.evicted_remotes);
        assert_eq!(cached.stats.expired_remotes, plain.stats.expired_remotes);
        let key = |r: &Remote| {
            (
                r.counters,
                r.first_seen,
                r.last_seen,
                r.hosts.to_vec(),
                r.ports.to_vec(),
                r.protocols.to_vec(),
                // the per-host counters (the flow cache's third slot) too
                (0..r.hosts.len() as u32)
                    .map(|i| r.pairs.clone().get_mut(i).copied())
                    .collect::<Vec<_>>(),
            )
        };
        let (a, b) = (sorted(&cached.remotes), sorted(&plain.remotes));
        assert_eq!(a.len(), b.len());
        for ((ia, ra), (ib, rb)) in a.iter().zip(&b) {
            assert_eq!((ia, key(ra)), (ib, key(rb)));
        }
        let key = |h: &Host| (h.counters, h.first_seen, h.last_seen, h.mac);
        let (a, b) = (sorted(&cached.hosts), sorted(&plain.hosts));
        assert_eq!(
            a.iter().map(|(i, h)| (*i, key(h))).collect::<Vec<_>>(),
            b.iter().map(|(i, h)| (*i, key(h))).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_flow_cache_slot_whose_table_slots_moved_on_is_not_used() {
        let n = nets();
        let mut t = Tables::new(10, 10);
        let packet = |src: &str, dst: &str| {
            let mut p = pkt(6, None);
            p.src = src.parse().unwrap();
            p.dst = dst.parse().unwrap();
            p
        };
        let a = packet("192.168.1.2", "1.1.1.1");
        let b = packet("192.168.1.3", "8.8.8.8");
        t.count(&a, 60, 1, &n);
        t.count(&a, 60, 2, &n);
        assert_eq!(t.remotes[&a.dst].counters.packets_out, 2);
        // everything expires; B takes slot 0 of both tables, where A's cache slot points
        t.expire(1000, 10);
        assert!(t.remotes.is_empty() && t.hosts.is_empty());
        t.count(&b, 60, 1000, &n);
        t.count(&a, 60, 1001, &n);
        assert_eq!(t.remotes[&b.dst].counters.packets_out, 1);
        assert_eq!(t.remotes[&a.dst].counters.packets_out, 1);
        assert_eq!(t.remotes[&a.dst].hosts.as_slice(), &[a.src]);
        assert_eq!(t.hosts[&a.src].counters.packets_out, 1);
        assert_eq!(t.hosts[&b.src].counters.packets_out, 1);
        // and the reply of a counted flow is counted inbound, for the same two entries
        t.count(&packet("1.1.1.1", "192.168.1.2"), 1500, 1002, &n);
        assert_eq!(t.remotes[&a.dst].counters.bytes_in, 1500);
        assert_eq!(t.hosts[&a.src].counters.bytes_in, 1500);
        assert_eq!(t.stats.packets, 5);
    }

    #[test]
    #[cfg(feature = "demo")] // the demo's world database
    fn remotes_are_located_at_the_snapshot_and_only_those_still_there() {
        let geo = crate::geo::GeoDb::from_bytes(crate::demo::world_db().unwrap()).unwrap();
        let n = Networks::new(
            vec!["192.168.1.0/24".parse().unwrap()],
            vec![
                "203.0.113.0/24".parse().unwrap(),
                "198.51.100.0/24".parse().unwrap(),
            ],
            vec![],
        );
        let ips: Vec<Addr> = crate::demo::remotes()
            .into_iter()
            .filter(|(ip, city)| ip.is_ipv4() && *city != usize::MAX)
            .map(|(ip, _)| Addr::from(ip))
            .collect();
        assert!(ips.len() > 16);
        // more remotes than the table holds: the first ones go before any snapshot
        let mut t = Tables::new(8, 10);
        for (i, ip) in ips.iter().enumerate() {
            let f = flow(Direction::Out, "192.168.1.2", &ip.to_string(), None);
            t.record(&f, &pkt(1, None), 60, i as u64, &n);
        }
        assert!(t.stats.evicted_remotes > 0);
        let mut lookups = 0;
        let mut locate = |ip: Addr| {
            lookups += 1;
            geo.lookup(ip.ip()).unwrap()
        };
        t.locate_new(&mut locate);
        assert!(t
            .remotes
            .values()
            .all(|r| r.located && r.geo.as_ref().is_some_and(|g| g.position.is_some())));
        // nothing new: no lookup; after a database reload: every remote again
        t.locate_new(&mut locate);
        t.relocate_all();
        assert!(t.remotes.values().all(|r| !r.located && r.geo.is_some()));
        t.locate_new(&mut locate);
        assert_eq!(lookups, 2 * t.remotes.len());
    }

    #[test]
    fn pairs_count_per_host_and_the_sweep_drains_them() {
        let n = nets();
        let mut t = Tables::new(10, 10);
        let remote: Addr = "1.1.1.1".parse().unwrap();
        let packet = |src: &str, dst: &str| {
            let mut p = pkt(6, Some([2; 6]));
            p.src = src.parse().unwrap();
            p.dst = dst.parse().unwrap();
            p
        };
        for _ in 0..3 {
            t.count(&packet("192.168.1.2", "1.1.1.1"), 100, 1, &n);
        }
        t.count(&packet("1.1.1.1", "192.168.1.2"), 1500, 2, &n);
        t.count(&packet("192.168.1.3", "1.1.1.1"), 60, 3, &n);
        // conntrack's counts go to the pair as well
        let delta = Counters {
            packets_out: 1,
            bytes_out: 7,
            packets_in: 0,
            bytes_in: 0,
        };
        t.add_flow(
            "192.168.1.3".parse().unwrap(),
            remote,
            6,
            Some(443),
            delta,
            4,
            &n,
        );
        let mut seen = Vec::new();
        t.sweep_pairs(|d| seen.push((d.host.to_string(), d.count, d.new, d.mac)));
        let pc = |po, bo, pi, bi| PairCount {
            packets_out: po,
            bytes_out: bo,
            packets_in: pi,
            bytes_in: bi,
        };
        assert_eq!(
            seen,
            [
                (
                    "192.168.1.2".to_string(),
                    pc(3, 300, 1, 1500),
                    true,
                    Some([2; 6])
                ),
                (
                    "192.168.1.3".to_string(),
                    pc(2, 67, 0, 0),
                    true,
                    Some([2; 6])
                ),
            ]
        );
        // drained: nothing until more traffic, which is no first contact any more
        t.sweep_pairs(|_| panic!("nothing to sweep"));
        t.count(&packet("192.168.1.2", "1.1.1.1"), 100, 5, &n);
        let mut seen = Vec::new();
        t.sweep_pairs(|d| seen.push((d.count.bytes_out, d.new, d.remote.last_seen)));
        assert_eq!(seen, [(100, false, 5)]);
    }

    #[test]
    fn expiry() {
        let n = nets();
        let mut t = Tables::new(10, 10);
        t.record(
            &flow(Direction::Out, "192.168.1.2", "1.1.1.1", None),
            &pkt(1, None),
            60,
            100,
            &n,
        );
        t.record(
            &flow(Direction::Out, "192.168.1.3", "8.8.8.8", None),
            &pkt(1, None),
            60,
            5000,
            &n,
        );
        t.expire(5000, 1000);
        assert_eq!(t.remotes.len(), 1);
        assert_eq!(t.hosts.len(), 1);
        assert_eq!(t.stats.expired_remotes, 1);
    }
}
