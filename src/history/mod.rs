//! History: bounded time series of who talked to what, per hour (last 48 h) and per day
//! (last 35 d), for `/history.json` (issue 18).
//!
//! Beside the data path. The tables count each (LAN host, remote) pair's traffic since the
//! last *sweep* (`Remote::pairs`, one counter update per packet). Once per snapshot (and at
//! each hour boundary of the capture clock) the daemon sweeps them ([`Tables::sweep_pairs`])
//! into [`History::add`], which sums them into the *open* hourly bucket: per device, per
//! remote, per country and per ASN. When the capture clock enters another hour, the open
//! bucket is *closed*: only the top `top` remotes per device are kept (the rest summed as
//! "other"), at most `devices` devices, `top` countries and `top` ASNs per device (the rest
//! in the "unknown" entry), in sorted boxed slices of small fixed-size records whose remotes
//! and places are interned (`Arc`s shared by every bucket that names them). A day's hourly
//! buckets make its daily bucket when the day is over. So memory is bounded by configuration
//! (hours + days) × devices × top records, never by traffic; the open bucket too is bounded
//! (`OPEN_FACTOR` × that, folded when full).
//!
//! Buckets are keyed by capture time (pcap timestamps in a replay). Closed buckets are
//! immutable and shared read-only with the HTTP threads: after every sweep the data path
//! publishes a [`View`] (the buckets' `Arc`s, the open one frozen) into a [`HistoryCell`];
//! `/history.json` is rendered from it on an HTTP thread (`json`), never in the data path.

pub mod json;
pub mod persist;

use crate::geo::GeoInfo;
use crate::packet::Addr;
use crate::table::{PairCount, PairDelta};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

pub const HOUR: u64 = 3600;
pub const DAY: u64 = 86_400;
/// Default `--history-top`: remotes (and countries, ASNs) per device per bucket.
pub const DEFAULT_TOP: usize = crate::cli::defaults::HISTORY_TOP;
/// Default `--history-devices`: devices per bucket (the rest summed in `other_devices`).
pub const DEFAULT_DEVICES: usize = crate::cli::defaults::HISTORY_DEVICES;
pub const DEFAULT_HOURS: u64 = crate::cli::defaults::HISTORY_HOURS;
pub const DEFAULT_DAYS: u64 = crate::cli::defaults::HISTORY_DAYS;
/// Capture times from here on (the year 36812) are not kept: bucket arithmetic never
/// overflows, whatever a capture file's timestamps say.
pub const MAX_TIME: u64 = 1 << 40;
/// The open bucket keeps up to this many times the closed bounds before folding the smallest.
const OPEN_FACTOR: usize = 4;

/// The bounds (`--history-top`, `--history-devices`, `--history-hours`, `--history-days`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub top: usize,
    pub devices: usize,
    pub hours: u64,
    pub days: u64,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            top: DEFAULT_TOP,
            devices: DEFAULT_DEVICES,
            hours: DEFAULT_HOURS,
            days: DEFAULT_DAYS,
        }
    }
}

impl Bounds {
    /// History is kept at all (`--history-top 0` turns it off).
    #[inline(always)]
    pub fn enabled(&self) -> bool {
        self.top > 0 && self.devices > 0 && (self.hours > 0 || self.days > 0)
    }
}

/// Where a remote is, as the database said at the sweep (a `Send` copy of [`GeoInfo`],
/// shared by every remote of the same database record).
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub position: Option<(f32, f32)>,
    pub country: Option<[u8; 2]>,
    pub city: Option<Box<str>>,
    pub asn: Option<u32>,
    pub org: Option<Arc<str>>,
}

impl Place {
    pub fn country_str(&self) -> Option<&str> {
        (self.country.as_ref()).and_then(|c| std::str::from_utf8(c).ok())
    }
}

/// A remote as the buckets name it: interned, one per (address, place, name) in use.
#[derive(Debug, PartialEq)]
pub struct RemoteInfo {
    pub ip: Addr,
    pub place: Option<Arc<Place>>,
    /// Its most recent learned name.
    pub name: Option<Arc<str>>,
}

/// Traffic in a bucket (packets saturate at 2^32).
pub type Count = PairCount;

/// Seconds since the bucket's start (`first` carries the "new" flag in its top bit).
const NEW_BIT: u32 = 1 << 31;

/// One device's traffic with one remote in a bucket: 40 bytes.
#[derive(Debug, Clone)]
pub struct RemoteRec {
    pub remote: Arc<RemoteInfo>,
    pub count: Count,
    first: u32,
    pub last: u32,
}

impl RemoteRec {
    /// Seconds after the bucket's start of its first traffic.
    pub fn first(&self) -> u32 {
        self.first & !NEW_BIT
    }

    /// The device's first contact with the remote lies in this bucket.
    pub fn is_new(&self) -> bool {
        self.first & NEW_BIT != 0
    }
}

/// A device's bytes to one country in a bucket (`[0, 0]`: unknown, or beyond the top).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountryRec {
    pub country: [u8; 2],
    pub bytes_out: u64,
    pub bytes_in: u64,
}

/// A device's bytes to one AS in a bucket (asn 0: unknown, or beyond the top).
#[derive(Debug, Clone)]
pub struct AsnRec {
    pub asn: u32,
    pub org: Option<Arc<str>>,
    pub bytes_out: u64,
    pub bytes_in: u64,
}

/// One device (LAN address) in a closed bucket. Lists sorted by key.
#[derive(Debug, Clone)]
pub struct DeviceRec {
    pub ip: Addr,
    pub mac: Option<[u8; 6]>,
    pub name: Option<Arc<str>>,
    pub count: Count,
    /// Bytes (out, in) of remotes beyond the top (in `countries`/`asns`, not in `remotes`).
    pub other: (u64, u64),
    /// Distinct remotes it talked to in the bucket (kept or not; a remote folded away and
    /// seen again counts twice).
    pub remotes_seen: u32,
    pub remotes: Box<[RemoteRec]>,
    pub countries: Box<[CountryRec]>,
    pub asns: Box<[AsnRec]>,
}

/// A bucket: one hour or one day of traffic, from `start` (capture time).
#[derive(Debug)]
pub struct Bucket {
    pub start: u64,
    /// `HOUR` or `DAY`.
    pub len: u64,
    /// Changes whenever the content does (the open bucket at each sweep): for ETags.
    pub version: u64,
    /// Sorted by address.
    pub devices: Box<[DeviceRec]>,
    /// Traffic of devices beyond the `devices` bound.
    pub other_devices: Count,
}

impl Bucket {
    /// Bytes of the records, for the memory figure (interned remotes counted apart).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.devices.len() * size_of::<DeviceRec>()
            + (self.devices.iter())
                .map(|d| {
                    d.remotes.len() * size_of::<RemoteRec>()
                        + d.countries.len() * size_of::<CountryRec>()
                        + d.asns.len() * size_of::<AsnRec>()
                })
                .sum::<usize>()
    }
}

/// Sorts `v` by `cmp` (unstable). Every sort of the history goes through one sort of `u32`
/// indices with a `dyn` comparator and one in-place permutation with a `dyn` swap: one copy
/// of the sort algorithm in the binary instead of one per record type and key (each is
/// several KB on the router).
pub fn sort_by<T>(v: &mut [T], cmp: &dyn Fn(&T, &T) -> std::cmp::Ordering) {
    let idx = sorted_indices(v.len(), &|a, b| cmp(&v[a as usize], &v[b as usize]));
    permute(idx, &mut |a, b| v.swap(a, b));
}

#[inline(never)]
fn sorted_indices(n: usize, cmp: &dyn Fn(u32, u32) -> std::cmp::Ordering) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..n as u32).collect();
    idx.sort_unstable_by(|&a, &b| cmp(a, b));
    idx
}

/// Puts the item at `idx[i]` at `i`, for every `i`, following the cycles of the permutation.
#[inline(never)]
fn permute(mut idx: Vec<u32>, swap: &mut dyn FnMut(usize, usize)) {
    for i in 0..idx.len() {
        let mut cur = i;
        loop {
            let next = idx[cur] as usize;
            idx[cur] = cur as u32;
            if next == i || next == cur {
                break;
            }
            swap(cur, next);
            cur = next;
        }
    }
}

/// Bytes out + in, the order of "the busiest first".
fn busiest(a: u64, b: u64) -> std::cmp::Reverse<u64> {
    std::cmp::Reverse(a.saturating_add(b))
}

/// The start of the bucket of `len` seconds holding `t`.
pub fn floor(t: u64, len: u64) -> u64 {
    t - t % len
}

// ---- the open bucket: sums, bounded, folded when full --------------------------------------

#[derive(Default)]
struct OpenRemote {
    info: Option<Arc<RemoteInfo>>,
    count: Count,
    first: u32,
    last: u32,
    new: bool,
}

#[derive(Default)]
struct OpenDevice {
    mac: Option<[u8; 6]>,
    name: Option<Arc<str>>,
    count: Count,
    other: (u64, u64),
    remotes_seen: u32,
    /// Sorted by address (few: `top` × `OPEN_FACTOR` at most between folds; a sorted
    /// `Vec` is less code than one more `HashMap` type).
    remotes: Vec<(Addr, OpenRemote)>,
    /// Countries (`KEY_COUNTRY`) and ASNs (`KEY_ASN`), few (`top` × `OPEN_FACTOR` at
    /// most): searched in order, no hash map per kind.
    keys: [Vec<KeyRec>; 2],
}

const KEY_COUNTRY: usize = 0;
const KEY_ASN: usize = 1;

/// A country's or an AS's bytes in an open device: one type for both, so that they are
/// summed and bounded by the same code. Key 0: unknown, or beyond the top.
#[derive(Clone, Default)]
struct KeyRec {
    /// The country's two letters as a big-endian number (their order), or the AS number.
    key: u32,
    /// The AS's name.
    org: Option<Arc<str>>,
    out: u64,
    inb: u64,
}

fn country_key(c: [u8; 2]) -> u32 {
    u16::from_be_bytes(c).into()
}

/// Adds bytes to the entry of `key` (added when missing; the first name kept).
fn add_key(v: &mut Vec<KeyRec>, key: u32, org: Option<&Arc<str>>, out: u64, inb: u64) {
    let at = match v.iter().position(|e| e.key == key) {
        Some(at) => at,
        None => {
            v.push(KeyRec {
                key,
                ..Default::default()
            });
            v.len() - 1
        }
    };
    let Some(e) = v.get_mut(at) else { return };
    if e.org.is_none() {
        e.org = org.cloned();
    }
    e.out = e.out.saturating_add(out);
    e.inb = e.inb.saturating_add(inb);
}

/// The top `top` entries (most bytes, then by key), the rest summed into the unknown entry
/// (key 0, no name), sorted by key.
fn top_keys(v: &[KeyRec], top: usize) -> Vec<KeyRec> {
    let mut v = v.to_vec();
    sort_by(&mut v, &|a, b| {
        let key = |e: &KeyRec| (busiest(e.out, e.inb), e.key);
        key(a).cmp(&key(b))
    });
    if v.len() > top {
        let rest = v.split_off(top);
        let mut unknown = KeyRec::default();
        for e in rest.iter().chain(v.iter().filter(|e| e.key == 0)) {
            unknown.out = unknown.out.saturating_add(e.out);
            unknown.inb = unknown.inb.saturating_add(e.inb);
        }
        v.retain(|e| e.key != 0);
        v.push(unknown);
    }
    sort_by(&mut v, &|a, b| a.key.cmp(&b.key));
    v
}

/// The entry of `key` in a list sorted by address, and whether it was added now (`None`:
/// not there, and the list holds `cap` entries already).
fn entry<V: Default>(v: &mut Vec<(Addr, V)>, key: Addr, cap: usize) -> Option<(usize, bool)> {
    match v.binary_search_by(|e| e.0.cmp(&key)) {
        Ok(at) => Some((at, false)),
        Err(at) if v.len() < cap => {
            v.insert(at, (key, V::default()));
            Some((at, true))
        }
        Err(_) => None,
    }
}

/// Sums of one bucket being filled (the open hour, or a merge of closed buckets).
struct Acc {
    start: u64,
    len: u64,
    /// Sorted by address.
    devices: Vec<(Addr, OpenDevice)>,
    other_devices: Count,
}

fn add2(to: &mut (u64, u64), out: u64, inb: u64) {
    to.0 = to.0.saturating_add(out);
    to.1 = to.1.saturating_add(inb);
}

impl Acc {
    fn new(start: u64, len: u64) -> Acc {
        Acc {
            start,
            len,
            devices: Vec::new(),
            other_devices: Count::default(),
        }
    }

    fn is_empty(&self) -> bool {
        self.devices.is_empty() && self.other_devices.is_zero()
    }

    /// The device's sums; `None` when the bucket holds its bound of devices already.
    fn device(&mut self, ip: Addr, b: &Bounds) -> Option<&mut OpenDevice> {
        let cap = b.devices.saturating_mul(OPEN_FACTOR);
        let (at, _) = entry(&mut self.devices, ip, cap)?;
        Some(&mut self.devices.get_mut(at)?.1)
    }

    /// Adds a closed bucket's records (a merge: hours into a day, a restored bucket).
    fn absorb(&mut self, bucket: &Bucket, b: &Bounds) {
        let shift = bucket.start.saturating_sub(self.start);
        let off = |t: u32| u32::try_from(u64::from(t) + shift).unwrap_or(u32::MAX >> 1);
        self.other_devices.add_counts(&bucket.other_devices);
        for dev in bucket.devices.iter() {
            let Some(d) = self.device(dev.ip, b) else {
                self.other_devices.add_counts(&dev.count);
                continue;
            };
            d.mac = d.mac.or(dev.mac);
            if d.name.is_none() {
                d.name = dev.name.clone();
            }
            d.count.add_counts(&dev.count);
            add2(&mut d.other, dev.other.0, dev.other.1);
            d.remotes_seen = d.remotes_seen.max(dev.remotes_seen);
            let [countries, asns] = &mut d.keys;
            for c in dev.countries.iter() {
                let key = country_key(c.country);
                add_key(countries, key, None, c.bytes_out, c.bytes_in);
            }
            for a in dev.asns.iter() {
                add_key(asns, a.asn, a.org.as_ref(), a.bytes_out, a.bytes_in);
            }
            for r in dev.remotes.iter() {
                let Some((at, fresh)) = entry(&mut d.remotes, r.remote.ip, usize::MAX) else {
                    continue;
                };
                let Some((_, o)) = d.remotes.get_mut(at) else {
                    continue;
                };
                if fresh {
                    (o.first, o.last) = (off(r.first()), off(r.last));
                }
                o.info = Some(Arc::clone(&r.remote));
                o.count.add_counts(&r.count);
                o.first = o.first.min(off(r.first()));
                o.last = o.last.max(off(r.last));
                o.new |= r.is_new();
            }
        }
    }

    /// The closed, bounded form.
    fn freeze(&self, b: &Bounds, version: u64) -> Bucket {
        let mut devices: Vec<(&Addr, &OpenDevice)> =
            self.devices.iter().map(|(a, d)| (a, d)).collect();
        // the busiest devices stay; ties by address, so that output is reproducible
        sort_by(&mut devices, &|a, b| {
            let key =
                |(ip, d): &(&Addr, &OpenDevice)| (std::cmp::Reverse(d.count.total_bytes()), **ip);
            key(a).cmp(&key(b))
        });
        let mut other_devices = self.other_devices;
        for (_, d) in devices.iter().skip(b.devices) {
            other_devices.add_counts(&d.count);
        }
        devices.truncate(b.devices);
        sort_by(&mut devices, &|a, b| a.0.cmp(b.0));
        let devices = devices
            .into_iter()
            .map(|(ip, d)| freeze_device(*ip, d, b))
            .collect();
        Bucket {
            start: self.start,
            len: self.len,
            version,
            devices,
            other_devices,
        }
    }
}

/// Adds one pair's traffic (its remote interned as `info`, `off` seconds into the bucket)
/// to a device of the open bucket.
fn add_remote(d: &mut OpenDevice, pd: &PairDelta, info: &Arc<RemoteInfo>, off: u32, b: &Bounds) {
    let (count, first, last, new) = (&pd.count, off, off, pd.new);
    d.mac = d.mac.or(pd.mac);
    d.count.add_counts(count);
    let place = info.place.as_deref();
    let cap = b.top.saturating_mul(OPEN_FACTOR).max(16);
    let keys = [
        (place.and_then(|p| p.country).map_or(0, country_key), None),
        (
            place.and_then(|p| p.asn).unwrap_or(0),
            place.and_then(|p| p.org.as_ref()),
        ),
    ];
    for (v, (key, org)) in d.keys.iter_mut().zip(keys) {
        // beyond the bound: into the unknown entry
        let key = if v.len() < cap || v.iter().any(|e| e.key == key) {
            key
        } else {
            0
        };
        let org = org.filter(|_| key != 0);
        add_key(v, key, org, count.bytes_out, count.bytes_in);
    }
    // a new remote when there are `cap` already: the smallest are folded first
    let found = entry(&mut d.remotes, info.ip, cap).or_else(|| {
        fold_smallest(d, cap / 2);
        entry(&mut d.remotes, info.ip, usize::MAX)
    });
    let Some((at, fresh)) = found else {
        return;
    };
    let Some((_, r)) = d.remotes.get_mut(at) else {
        return;
    };
    if fresh {
        d.remotes_seen = d.remotes_seen.saturating_add(1);
        (r.first, r.last) = (first, last);
    }
    // the latest name and place
    r.info = Some(Arc::clone(info));
    r.count.add_counts(count);
    r.first = r.first.min(first);
    r.last = r.last.max(last);
    r.new |= new;
}

/// Folds all but the `keep` largest remotes of an open device into its `other`.
#[cold]
fn fold_smallest(d: &mut OpenDevice, keep: usize) {
    let mut sizes: Vec<u64> = d.remotes.iter().map(|r| r.1.count.total_bytes()).collect();
    if sizes.len() <= keep {
        return;
    }
    let cut = sizes.len() - keep;
    sizes.sort_unstable();
    let pivot = sizes[cut - 1];
    let mut drop = cut;
    let other = &mut d.other;
    d.remotes.retain(|(_, r)| {
        if drop > 0 && r.count.total_bytes() <= pivot {
            drop -= 1;
            add2(other, r.count.bytes_out, r.count.bytes_in);
            false
        } else {
            true
        }
    });
}

fn freeze_device(ip: Addr, d: &OpenDevice, b: &Bounds) -> DeviceRec {
    let mut remotes: Vec<(&Addr, &OpenRemote)> = d.remotes.iter().map(|(a, r)| (a, r)).collect();
    sort_by(&mut remotes, &|a, b| {
        let key = |(ip, r): &(&Addr, &OpenRemote)| (std::cmp::Reverse(r.count.total_bytes()), **ip);
        key(a).cmp(&key(b))
    });
    let mut other = d.other;
    for (_, r) in remotes.iter().skip(b.top) {
        add2(&mut other, r.count.bytes_out, r.count.bytes_in);
    }
    remotes.truncate(b.top);
    sort_by(&mut remotes, &|a, b| a.0.cmp(b.0));
    let remotes = (remotes.into_iter())
        .filter_map(|(_, r)| {
            Some(RemoteRec {
                remote: Arc::clone(r.info.as_ref()?),
                count: r.count,
                first: r.first.min(NEW_BIT - 1) | if r.new { NEW_BIT } else { 0 },
                last: r.last,
            })
        })
        .collect();
    // countries and ASNs: the top ones, the rest into the unknown entry
    let countries = (top_keys(&d.keys[KEY_COUNTRY], b.top).into_iter())
        .map(|e| CountryRec {
            country: (e.key as u16).to_be_bytes(),
            bytes_out: e.out,
            bytes_in: e.inb,
        })
        .collect();
    let asns = (top_keys(&d.keys[KEY_ASN], b.top).into_iter())
        .map(|e| AsnRec {
            asn: e.key,
            org: e.org,
            bytes_out: e.out,
            bytes_in: e.inb,
        })
        .collect();
    DeviceRec {
        ip,
        mac: d.mac,
        name: d.name.clone(),
        count: d.count,
        other,
        remotes_seen: d.remotes_seen,
        remotes,
        countries,
        asns,
    }
}

/// Merges buckets into one of `len` seconds from `start`, bounded. Out of line and not
/// generic: one copy for its five callers.
#[inline(never)]
pub fn merge(
    start: u64,
    len: u64,
    buckets: &mut dyn Iterator<Item = &Bucket>,
    b: &Bounds,
    version: u64,
) -> Bucket {
    let mut acc = Acc::new(start, len);
    for x in buckets {
        acc.absorb(x, b);
    }
    acc.freeze(b, version)
}

// ---- the history: the open bucket, the closed ones, the interned remotes ------------------

/// What the HTTP threads read: every bucket (the open one frozen as of the last sweep).
#[derive(Debug, Default)]
pub struct View {
    /// Oldest first.
    pub hourly: Vec<Arc<Bucket>>,
    pub daily: Vec<Arc<Bucket>>,
    /// The capture clock at the last sweep (unix s): `now` for `/history.json`.
    pub clock: u64,
    pub bounds: Option<Bounds>,
}

/// The latest [`View`] and a few rendered `/history.json` bodies (see `json`).
#[derive(Clone, Default)]
pub struct HistoryCell {
    view: crate::latest::Latest<View>,
    pub(crate) cache: Arc<Mutex<json::Cache>>,
}

impl HistoryCell {
    pub fn get(&self) -> Arc<View> {
        self.view.get()
    }

    pub fn set(&self, v: View) {
        self.view.set(v)
    }
}

impl std::fmt::Debug for HistoryCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HistoryCell")
    }
}

/// The interned form of a name.
fn intern_name(names: &mut HashMap<Box<str>, Arc<str>>, name: &str) -> Arc<str> {
    if let Some(n) = names.get(name) {
        return Arc::clone(n);
    }
    let n: Arc<str> = Arc::from(name);
    names.insert(name.into(), Arc::clone(&n));
    n
}

/// Entries of `History::hints`.
const HINTS: usize = 256;
/// A hint's index: the device is not in the open bucket, which is full.
const NOT_KEPT: u32 = u32::MAX;

/// The history kept by the data path.
pub struct History {
    pub bounds: Bounds,
    open: Acc,
    /// The open bucket's last frozen form (republished unchanged when nothing was added).
    open_frozen: Option<Arc<Bucket>>,
    /// Closed buckets, oldest first.
    pub hourly: Vec<Arc<Bucket>>,
    pub daily: Vec<Arc<Bucket>>,
    /// The newest capture time seen.
    pub clock: u64,
    /// Bumped by every change: bucket versions.
    version: u64,
    /// Something was added since the last publish.
    changed: bool,
    remotes: HashMap<Addr, Arc<RemoteInfo>, crate::hash::RandomState>,
    /// Places by the tables' shared record (kept alive here, so the pointer stays unique).
    places: HashMap<*const GeoInfo, (Rc<GeoInfo>, Arc<Place>), crate::hash::RandomState>,
    /// std's hasher: string hashing with it is in the binary already (foldhash's for long
    /// strings is 3 KB more on MIPS); names are interned per sweep, not per packet.
    names: HashMap<Box<str>, Arc<str>>,
    /// See `boundary`.
    boundary: u64,
    /// Interned remotes past which unused ones are pruned (a flood within one hour folds
    /// remotes out of the open bucket faster than hours roll).
    intern_limit: usize,
    /// Interned places past which unused ones are pruned.
    place_limit: usize,
    /// Per hashed address: a device and its index in the open bucket (`NOT_KEPT`: not
    /// there, the bucket is full), as the last lookup found it. Cleared with the bucket.
    hints: Vec<(Addr, u32)>,
    pub cell: HistoryCell,
}

impl History {
    pub fn new(bounds: Bounds) -> History {
        History {
            bounds,
            open: Acc::new(0, HOUR),
            open_frozen: None,
            hourly: Vec::new(),
            daily: Vec::new(),
            clock: 0,
            version: 0,
            changed: true,
            remotes: HashMap::default(),
            places: HashMap::default(),
            names: HashMap::default(),
            intern_limit: 1024,
            place_limit: 1024,
            boundary: u64::MAX,
            hints: Vec::new(),
            cell: HistoryCell::default(),
        }
    }

    #[inline(always)]
    pub fn enabled(&self) -> bool {
        self.bounds.enabled()
    }

    /// When the open hour ends (capture time; `u64::MAX` while it is empty): the data path
    /// sweeps before counting a packet at or after it, so that every bucket gets exactly its
    /// hour's packets. A field: the replay loop reads it per packet.
    #[inline]
    pub fn boundary(&self) -> u64 {
        self.boundary
    }

    fn place(&mut self, geo: &Rc<GeoInfo>) -> Arc<Place> {
        let e = self.places.entry(Rc::as_ptr(geo)).or_insert_with(|| {
            let place = Place {
                position: geo.position,
                country: geo.country,
                city: geo.city.clone(),
                asn: geo.asn,
                org: geo.org.as_deref().map(Arc::from),
            };
            (Rc::clone(geo), Arc::new(place))
        });
        Arc::clone(&e.1)
    }

    /// The interned form of a remote as the tables have it now (`only_known`: `None` unless
    /// it is interned already).
    fn remote_info(
        &mut self,
        ip: Addr,
        remote: &crate::table::Remote,
        only_known: bool,
    ) -> Option<Arc<RemoteInfo>> {
        let known = self.remotes.get(&ip).cloned();
        if only_known && known.is_none() {
            return None;
        }
        let place = remote.geo_rc().map(|g| self.place(g));
        let name = (remote.names.first()).map(|n| intern_name(&mut self.names, n));
        if let Some(i) = known {
            let same_place = match (&i.place, &place) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
                (None, None) => true,
                _ => false,
            };
            if same_place && i.name == name {
                return Some(i);
            }
        }
        let i = Arc::new(RemoteInfo { ip, place, name });
        self.remotes.insert(ip, Arc::clone(&i));
        Some(i)
    }

    /// One pair's traffic from the sweep, with the LAN host's name.
    #[cfg(test)]
    pub fn add(&mut self, d: &PairDelta, device_name: Option<&str>) {
        self.add_named(d, || device_name)
    }

    /// One pair's traffic from the sweep; `device_name` names the LAN host (asked only when
    /// the open bucket has no name for it yet). Time: the remote's last packet (capture time).
    #[inline(never)]
    pub fn add_named<'n>(&mut self, d: &PairDelta, device_name: impl FnOnce() -> Option<&'n str>) {
        if !self.enabled() {
            return;
        }
        let t = d.remote.last_seen;
        if t >= MAX_TIME {
            return;
        }
        if t.wrapping_sub(self.open.start) < HOUR {
            self.clock = self.clock.max(t); // all `roll_to` would do
        } else {
            self.roll_to(t);
        }
        self.boundary = self.open.start + HOUR;
        self.changed = true;
        let at = self.open_device(d.host);
        // A device beyond the bound is only counted. Its remote is not interned for it (no
        // bucket would name it); one interned already is brought up to date as before.
        let info = self.remote_info(d.remote_ip, d.remote, at.is_none());
        let (Some(at), Some(info)) = (at, info) else {
            self.open.other_devices.add_counts(&d.count);
            return;
        };
        let off = u32::try_from(t.saturating_sub(self.open.start)).unwrap_or(0);
        if self.remotes.len() > self.intern_limit {
            self.prune_interned();
        }
        let Some((_, dev)) = self.open.devices.get_mut(at) else {
            return;
        };
        // the first name sticks: asked and interned only while the device has none
        if dev.name.is_none() {
            dev.name = device_name().map(|n| intern_name(&mut self.names, n));
        }
        add_remote(dev, d, &info, off, &self.bounds);
    }

    /// The index of a device in the open bucket, added when there is room; `None` when the
    /// bucket holds its bound of devices, not this one. Each pair of the sweep asks, so the
    /// answer is remembered per hashed address (`hints`, checked before it is believed).
    fn open_device(&mut self, ip: Addr) -> Option<usize> {
        let cap = self.bounds.devices.saturating_mul(OPEN_FACTOR);
        let devices = &mut self.open.devices;
        let bits = ip.bits();
        let h = ((bits as u64 ^ (bits >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56)
            as usize;
        if self.hints.is_empty() {
            self.hints = vec![(Addr::default(), u32::MAX - 1); HINTS];
        }
        let hint = self.hints.get_mut(h)?;
        if hint.0 == ip {
            if hint.1 == NOT_KEPT && devices.len() >= cap {
                // the bucket was full without it, and devices only leave with the bucket
                return None;
            }
            let at = hint.1 as usize;
            if devices.get(at).is_some_and(|e| e.0 == ip) {
                return Some(at);
            }
        }
        let at = entry(devices, ip, cap).map(|e| e.0);
        *hint = (ip, at.map_or(NOT_KEPT, |a| a as u32));
        at
    }

    /// Moves the open bucket to the hour of `t`, closing the one before: packets late by
    /// less than an hour go into the open bucket; a clock that jumped further (back or
    /// forward) starts a new one.
    pub fn roll_to(&mut self, t: u64) {
        let t = t.min(MAX_TIME - 1);
        self.clock = self.clock.max(t);
        let start = floor(t, HOUR);
        if start == self.open.start
            || (start < self.open.start && self.open.start - start <= HOUR && !self.open.is_empty())
        {
            return;
        }
        if self.open.is_empty() {
            // nothing to close (a start, or a restored state): the retention still applies
            self.open.start = start;
            self.daily_and_prune();
            self.changed = true;
            return;
        }
        self.close_open();
        self.boundary = u64::MAX;
        self.open = Acc::new(start, HOUR);
        self.hints.clear();
        self.open_frozen = None;
        self.daily_and_prune();
        self.changed = true;
    }

    /// The open bucket into the closed hourly ones (merged with one of the same hour, as
    /// when a restored state had it).
    fn close_open(&mut self) {
        self.version += 1;
        let mut bucket = self.open.freeze(&self.bounds, self.version);
        if let Some(i) = self.hourly.iter().position(|b| b.start == bucket.start) {
            let old = self.hourly.remove(i);
            let (start, pair) = (bucket.start, [&*old, &bucket]);
            let merged = merge(
                start,
                HOUR,
                &mut pair.into_iter(),
                &self.bounds,
                self.version,
            );
            bucket = merged;
        }
        let at = self.hourly.partition_point(|b| b.start < bucket.start);
        self.hourly.insert(at, Arc::new(bucket));
    }

    /// Days over (before the open bucket's day) with hourly buckets and no daily one get it;
    /// buckets past their retention go; interned remotes no bucket names any more go.
    fn daily_and_prune(&mut self) {
        let today = floor(self.open.start, DAY);
        // the hourly buckets are sorted: a day's hours are next to each other
        let mut k = 0;
        while let Some(first) = self.hourly.get(k) {
            let day = floor(first.start, DAY);
            let hours = self.hourly.get(k..).unwrap_or_default();
            let n = hours.partition_point(|b| floor(b.start, DAY) == day);
            k += n.max(1);
            if day >= today || self.daily.iter().any(|x| x.start == day) {
                continue;
            }
            self.version += 1;
            let hours = &mut hours.iter().take(n).map(|b| &**b);
            let bucket = merge(day, DAY, hours, &self.bounds, self.version);
            let at = self.daily.partition_point(|b| b.start < day);
            self.daily.insert(at, Arc::new(bucket));
        }
        let hours = self.bounds.hours.saturating_mul(HOUR);
        let days = self.bounds.days.saturating_mul(DAY);
        let open = self.open.start;
        // the last `hours` hours counting the open one; buckets "in the future" of a clock
        // that went back are dropped too
        self.hourly
            .retain(|b| b.start <= open && b.start + hours > open);
        self.daily
            .retain(|b| b.start < today && b.start + days >= today);
        self.prune_interned();
    }

    /// Forgets interned remotes, places and names that no bucket names any more.
    /// Places go only when there are twice as many as the last time: a remote that goes
    /// often leaves a place that the next one takes again (one per database record).
    fn prune_interned(&mut self) {
        self.remotes.retain(|_, i| Arc::strong_count(i) > 1);
        if self.places.len() > self.place_limit {
            self.places.retain(|_, (_, p)| Arc::strong_count(p) > 1);
            self.place_limit = (2 * self.places.len()).max(1024);
        }
        self.names.retain(|_, n| Arc::strong_count(n) > 1);
        self.intern_limit = (2 * self.remotes.len()).max(1024);
    }

    /// Publishes the buckets to the HTTP side if anything changed since the last time.
    pub fn publish(&mut self) {
        if !self.changed {
            return;
        }
        self.changed = false;
        let mut hourly = self.hourly.clone();
        if !self.open.is_empty() {
            self.version += 1;
            let frozen = Arc::new(self.open.freeze(&self.bounds, self.version));
            let at = hourly.partition_point(|b| b.start < frozen.start);
            match hourly.get(at) {
                Some(b) if b.start == frozen.start => {
                    let merged = merge(
                        b.start,
                        HOUR,
                        &mut [&**b, &*frozen].into_iter(),
                        &self.bounds,
                        self.version,
                    );
                    hourly[at] = Arc::new(merged);
                }
                _ => hourly.insert(at, Arc::clone(&frozen)),
            }
            self.open_frozen = Some(frozen);
        }
        self.cell.set(View {
            hourly,
            daily: self.daily.clone(),
            clock: self.clock,
            bounds: Some(self.bounds),
        });
    }

    /// Buckets read back from a state file: they become closed buckets (the open hour is
    /// merged with the restored one of the same hour when it closes).
    pub fn restore(&mut self, hourly: Vec<Bucket>, daily: Vec<Bucket>, clock: u64) {
        for mut b in hourly {
            self.version += 1;
            b.version = self.version;
            let at = self.hourly.partition_point(|x| x.start < b.start);
            if self.hourly.get(at).is_some_and(|x| x.start == b.start) {
                continue;
            }
            self.hourly.insert(at, Arc::new(b));
        }
        for mut b in daily {
            self.version += 1;
            b.version = self.version;
            let at = self.daily.partition_point(|x| x.start < b.start);
            if self.daily.get(at).is_some_and(|x| x.start == b.start) {
                continue;
            }
            self.daily.insert(at, Arc::new(b));
        }
        self.clock = self.clock.max(clock.min(MAX_TIME - 1));
        // intern the restored remotes again, so that new traffic shares them
        for b in self.hourly.iter().chain(self.daily.iter()) {
            for d in b.devices.iter() {
                for r in d.remotes.iter() {
                    self.remotes
                        .entry(r.remote.ip)
                        .or_insert_with(|| Arc::clone(&r.remote));
                }
            }
        }
        self.changed = true;
        self.publish();
    }

    /// Interned remotes alive (for the memory figure).
    pub fn interned(&self) -> usize {
        self.remotes.len()
    }
}

#[cfg(test)]
mod tests;
