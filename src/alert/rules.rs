//! The alert memory: what each device is known to have done (countries, ASNs), which devices
//! exist, when learning started, and the recent alerts; bounded, and saved in the state file
//! as opaque bytes (`Alerts::memory_bytes`: postcard's format like src/state.rs, written and read
//! by hand here, see `Reader`; the tests check it against serde + postcard).
//!
//! Bounds: `MAX_DEVICES` devices (least recently seen forgotten first, an eighth at a time),
//! each with at most `MAX_COUNTRIES` countries and `MAX_ASNS` ASNs (least recently seen
//! forgotten first: one contacted again after that fires again). An entry is 8 bytes (the
//! key and the hour it was last seen), so the memory is at most 1024 × (32 + 128) × 8 B =
//! 1.3 MB (plus ~100 B a device, and 512 B a device of stamps that spare the sweep most
//! searches of the lists, not saved: 0.5 MB more at most); a home network's devices
//! typically hold a few hundred bytes each.

use crate::packet::Addr;
#[cfg(test)]
use serde::{Deserialize, Serialize};

pub const MAX_DEVICES: usize = 1024;
pub const MAX_COUNTRIES: usize = 32;
pub const MAX_ASNS: usize = 128;
/// Alerts kept for alerts.json and the state file.
pub const MAX_RECENT: usize = 100;
/// Longest text kept from a restored memory (names, messages).
const MAX_TEXT: usize = 512;

/// A device: its MAC when known, else its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Serialize, Deserialize))]
pub enum DevKey {
    Mac([u8; 6]),
    Ip(Addr),
}

// The derived order (every MAC before every address, MACs by their bytes), with a MAC
// compared as one integer: the derive compares the arrays through `memcmp`, twice per pair
// and sweep (callgrind: 16 % of a replay of new remotes).
impl Ord for DevKey {
    fn cmp(&self, other: &DevKey) -> std::cmp::Ordering {
        use std::cmp::Ordering::{Greater, Less};
        let mac = |m: &[u8; 6]| u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]]);
        match (self, other) {
            (DevKey::Mac(a), DevKey::Mac(b)) => mac(a).cmp(&mac(b)),
            (DevKey::Mac(_), DevKey::Ip(_)) => Less,
            (DevKey::Ip(_), DevKey::Mac(_)) => Greater,
            (DevKey::Ip(a), DevKey::Ip(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for DevKey {
    fn partial_cmp(&self, other: &DevKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl DevKey {
    pub fn of(ip: Addr, mac: Option<[u8; 6]>) -> DevKey {
        mac.map_or(DevKey::Ip(ip), DevKey::Mac)
    }
}

/// What is known of one device.
#[derive(Debug, Clone, Default)]
pub struct Device {
    pub first_seen: u64,
    pub last_seen: u64,
    /// (ISO code as `country_id`, hour last seen): a number like the ASNs, so that both
    /// lists share their code
    pub countries: Vec<(u32, u32)>,
    /// (ASN, hour last seen)
    pub asns: Vec<(u32, u32)>,
    /// Per rule (`Rule as usize`): when it last fired for this device (0: never).
    pub last_fired: [u64; 5],
    /// The upload rule's clock hour and the bytes sent in it, and whether it fired.
    pub upload_hour: u64,
    pub upload_bytes: u64,
    pub upload_fired: bool,
    /// The latest address and name (not saved: names come back from the lease files).
    pub ip: Option<Addr>,
    pub name: Option<Box<str>>,
    /// What is known to be in `countries` and `asns` (direct-mapped by `stamp_slot`; 0: none)
    /// with an hour of `stamp_hour` or later: remembering it again at that hour or before
    /// changes nothing, so the lists are not searched (most pairs of a sweep reach a country
    /// or ASN their device reached earlier in the hour). Not saved: a restored device
    /// starts without.
    pub stamp_hour: u32,
    pub country_stamps: Stamps,
    pub asn_stamps: Stamps,
}

/// A checked country code (`valid_country`) as a number (never 0), and back.
pub fn country_id(c: [u8; 2]) -> u32 {
    u32::from(u16::from_be_bytes(c))
}

pub fn country_code(id: u32) -> [u8; 2] {
    (id as u16).to_be_bytes()
}

/// 64 ids (two halves: `Default` is there for arrays of at most 32).
pub type Stamps = [[u32; 32]; 2];

fn stamp_slot(stamps: &mut Stamps, id: u32) -> &mut u32 {
    let slot = (id.wrapping_mul(0x9E37_79B1) >> 26) as usize;
    &mut stamps[slot >> 5][slot & 31]
}

/// `remember` of `id` (not 0), unless `stamps` knows it; `now`: `hour` is the stamps' hour.
fn remember_stamped(
    list: &mut Vec<(u32, u32)>,
    stamps: &mut Stamps,
    id: u32,
    hour: u32,
    max: usize,
    now: bool,
) -> bool {
    if *stamp_slot(stamps, id) == id {
        return false;
    }
    let new = remember(list, id, hour, max);
    if let Some(Some(gone)) = new {
        let s = stamp_slot(stamps, gone);
        if *s == gone {
            *s = 0;
        }
    }
    if now {
        *stamp_slot(stamps, id) = id;
    }
    new.is_some()
}

impl Device {
    /// Marks a checked country code (`valid_country`) seen at `hour`: true when it was not
    /// known (`remember`).
    pub fn remember_country(&mut self, c: [u8; 2], hour: u32) -> bool {
        let now = self.stamp(hour);
        let (list, stamps) = (&mut self.countries, &mut self.country_stamps);
        remember_stamped(list, stamps, country_id(c), hour, MAX_COUNTRIES, now)
    }

    /// The same for an ASN (not 0).
    pub fn remember_asn(&mut self, asn: u32, hour: u32) -> bool {
        let now = self.stamp(hour);
        remember_stamped(
            &mut self.asns,
            &mut self.asn_stamps,
            asn,
            hour,
            MAX_ASNS,
            now,
        )
    }

    /// Forgets the stamps of an earlier hour when `hour` is a later one; true when `hour` is
    /// the stamps' hour.
    fn stamp(&mut self, hour: u32) -> bool {
        if hour > self.stamp_hour {
            self.stamp_hour = hour;
            self.country_stamps = Stamps::default();
            self.asn_stamps = Stamps::default();
        }
        hour == self.stamp_hour
    }
}

/// `DevMap`'s cache: 2^11 slots of an index, by a hash of the key.
const SLOT_BITS: u32 = 11;

#[inline]
fn slot_of(k: &DevKey) -> usize {
    // 32-bit arithmetic (MIPS32): a MAC's last four bytes, an address's last word
    let h = match k {
        DevKey::Mac(m) => u32::from_le_bytes([m[2], m[3], m[4], m[5]]),
        DevKey::Ip(a) => a.fold() as u32,
    };
    (h.wrapping_mul(0x9E37_79B1) >> (32 - SLOT_BITS)) as usize
}

/// The devices by key: sorted by key and binary search (at most `MAX_DEVICES`, changed only when
/// a device is new or forgotten), so that no hash table code is made for this key type; a
/// direct-mapped cache of where a key was last found saves the search for most lookups (the
/// pairs of a sweep come by remote, so their devices alternate).
#[derive(Default)]
pub struct DevMap {
    /// by key (one vector: half the code of a vector of keys beside one of devices). Boxed:
    /// an insert or removal moves the entries behind it, and a flood of new devices (spoofed
    /// LAN sources) made that ~0.7 MB of copying per device with ~700-byte `Device`s inline
    /// (26 s for 1M packets from 50k sources; BENCHMARKS.md, tenth round)
    entries: Vec<(DevKey, Box<Device>)>,
    /// Where a key hashing to the slot was last found (2^`SLOT_BITS`, made at the first
    /// `index`): valid when `entries` holds that key there, so adding or removing keys
    /// needs no invalidation.
    slots: Vec<u16>,
}

impl DevMap {
    fn find(&self, k: &DevKey) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.0.cmp(k))
    }

    /// The index of `k` (for `at_mut` and `key_at`, valid until a key is added or removed):
    /// the cache's hit inline, the search out of line (`index_slow`).
    #[inline]
    pub fn index(&mut self, k: &DevKey) -> Option<usize> {
        let slot = slot_of(k);
        let i = usize::from(self.slots.get(slot).copied().unwrap_or(u16::MAX));
        if self.entries.get(i).is_some_and(|e| e.0 == *k) {
            return Some(i);
        }
        self.index_slow(k, slot)
    }

    fn index_slow(&mut self, k: &DevKey, slot: usize) -> Option<usize> {
        let i = self.find(k).ok()?;
        if self.slots.is_empty() {
            self.slots = vec![0; 1 << SLOT_BITS];
        }
        self.slots[slot] = i as u16; // a larger index is only a miss: the key is checked
        Some(i)
    }

    #[inline]
    pub fn at_mut(&mut self, i: usize) -> &mut Device {
        &mut self.entries[i].1
    }

    pub fn key_at(&self, i: usize) -> DevKey {
        self.entries[i].0
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, k: &DevKey) -> Option<&Device> {
        self.find(k).ok().map(|i| &*self.entries[i].1)
    }

    pub fn get_mut(&mut self, k: &DevKey) -> Option<&mut Device> {
        self.find(k).ok().map(|i| &mut *self.entries[i].1)
    }

    /// Adds or replaces; returns the index.
    pub fn insert(&mut self, k: DevKey, d: Device) -> usize {
        match self.find(&k) {
            Ok(i) => {
                *self.entries[i].1 = d;
                i
            }
            Err(i) => {
                self.entries.insert(i, (k, Box::new(d)));
                i
            }
        }
    }

    pub fn remove(&mut self, k: &DevKey) -> Option<Device> {
        let i = self.find(k).ok()?;
        Some(*self.entries.remove(i).1)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Keeps the devices `keep` says yes to, visited in key order.
    pub fn retain(&mut self, mut keep: impl FnMut(&Device) -> bool) {
        self.entries.retain(|e| keep(&e.1));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&DevKey, &Device)> {
        self.entries.iter().map(|(k, d)| (k, &**d))
    }

    pub fn values(&self) -> impl Iterator<Item = &Device> {
        self.entries.iter().map(|e| &*e.1)
    }
}

/// Marks `key` seen at `hour`: `None` when it was known, else `Some` of the entry a full list
/// forgot to make room (its least recently seen).
pub fn remember<K: Copy + PartialEq>(
    list: &mut Vec<(K, u32)>,
    key: K,
    hour: u32,
    max: usize,
) -> Option<Option<K>> {
    // one pass: the key, or else the first of the least recently seen
    let mut oldest = (0, u32::MAX);
    for (i, e) in list.iter_mut().enumerate() {
        if e.0 == key {
            e.1 = e.1.max(hour);
            return None;
        }
        if e.1 < oldest.1 {
            oldest = (i, e.1);
        }
    }
    let mut gone = None;
    if list.len() >= max && !list.is_empty() {
        gone = Some(list.swap_remove(oldest.0).0);
    }
    list.push((key, hour));
    Some(gone)
}

/// The `max` most recently seen of `entries`, each once (restoring a memory; no sort).
pub fn most_recent<K: Copy + PartialEq>(
    entries: impl Iterator<Item = (K, u32)>,
    max: usize,
) -> Vec<(K, u32)> {
    let mut list = Vec::new();
    for (k, h) in entries {
        if list.len() >= max && list.iter().all(|e: &(K, u32)| e.0 != k && e.1 >= h) {
            continue; // unknown and older than all that are kept
        }
        remember(&mut list, k, h, max);
    }
    list
}

pub fn hour_of(time: u64) -> u32 {
    (time / 3600).min(u64::from(u32::MAX)) as u32
}

/// The saved form of the memory.
#[cfg(test)]
#[derive(Serialize, Deserialize, Default)]
pub struct MemoryFile {
    pub version: u32,
    pub learning_start: Option<u64>,
    pub next_id: u64,
    pub devices: Vec<DeviceRec>,
    pub alerts: Vec<AlertRec>,
}

pub const MEMORY_VERSION: u32 = 1;

#[cfg_attr(test, derive(Serialize, Deserialize))]
pub struct DeviceRec {
    pub key: DevKey,
    pub first_seen: u64,
    pub last_seen: u64,
    pub countries: Vec<([u8; 2], u32)>,
    pub asns: Vec<(u32, u32)>,
    pub last_fired: [u64; 5],
}

/// An alert as saved (and as kept in RAM).
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(Serialize, Deserialize))]
pub struct AlertRec {
    pub id: u64,
    pub time: u64,
    pub rule: u8,
    pub device_ip: Option<Addr>,
    pub device_mac: Option<[u8; 6]>,
    pub device_name: Option<String>,
    pub remote: Option<RemoteRec>,
    pub list: Option<String>,
    pub bytes: Option<u64>,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(Serialize, Deserialize))]
pub struct RemoteRec {
    pub ip: Addr,
    pub country: Option<[u8; 2]>,
    pub asn: Option<u32>,
    pub org: Option<String>,
    pub name: Option<String>,
}

/// A country code as two ASCII capitals, or nothing.
#[inline]
pub fn valid_country(c: [u8; 2]) -> Option<[u8; 2]> {
    // clearing bit 5 upper-cases a letter and makes a capital of nothing else
    let up = [c[0] & !0x20, c[1] & !0x20];
    (up[0].is_ascii_uppercase() && up[1].is_ascii_uppercase()).then_some(up)
}

/// Text from an untrusted memory: bounded, no control characters.
pub fn clean_text(s: String) -> String {
    let mut s: String = s.chars().filter(|c| !c.is_control()).collect();
    if s.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl AlertRec {
    /// The record with its texts cleaned and bounded; `None` for an unknown rule.
    pub fn cleaned(mut self) -> Option<AlertRec> {
        if self.rule >= 5 {
            return None;
        }
        self.device_name = self.device_name.map(clean_text).filter(|s| !s.is_empty());
        self.list = self.list.map(clean_text);
        self.message = clean_text(self.message);
        if let Some(r) = &mut self.remote {
            r.country = r.country.and_then(valid_country);
            r.org = r.org.take().map(clean_text);
            r.name = r.name.take().map(clean_text);
        }
        Some(self)
    }
}

// The memory's bytes, written and read by hand in postcard's format (the state file's, so a
// memory saved by an older connmap reads the same): unsigned integers as LEB128 varints, `u8`
// and fixed arrays as raw bytes, an `Option` as 0 or 1 then the value, a `Vec`/`String` as its
// length then the items, an enum as its variant index then the value, an address as `IpAddr`
// (0 + 4 bytes or 1 + 16 bytes). No serde code for these types in the router binary.

/// Appends `v` as a varint.
pub fn put_uint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends the `Option` tag (and the value, when there is one, is written next).
pub fn put_tag(out: &mut Vec<u8>, some: bool) {
    out.push(u8::from(some));
}

pub fn put_opt_uint(out: &mut Vec<u8>, v: Option<u64>) {
    put_tag(out, v.is_some());
    if let Some(v) = v {
        put_uint(out, v);
    }
}

pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    put_tag(out, s.is_some());
    if let Some(s) = s {
        put_str(out, s);
    }
}

pub fn put_addr(out: &mut Vec<u8>, a: Addr) {
    match a.ip() {
        std::net::IpAddr::V4(v) => {
            out.push(0);
            out.extend_from_slice(&v.octets());
        }
        std::net::IpAddr::V6(v) => {
            out.push(1);
            out.extend_from_slice(&v.octets());
        }
    }
}

/// One device of the memory.
#[allow(clippy::too_many_arguments)]
pub fn put_device(
    out: &mut Vec<u8>,
    key: DevKey,
    first_seen: u64,
    last_seen: u64,
    countries: &[(u32, u32)],
    asns: &[(u32, u32)],
    last_fired: &[u64; 5],
) {
    match key {
        DevKey::Mac(m) => {
            out.push(0);
            out.extend_from_slice(&m);
        }
        DevKey::Ip(a) => {
            out.push(1);
            put_addr(out, a);
        }
    }
    put_uint(out, first_seen);
    put_uint(out, last_seen);
    put_uint(out, countries.len() as u64);
    for (c, h) in countries {
        out.extend_from_slice(&country_code(*c));
        put_uint(out, u64::from(*h));
    }
    put_uint(out, asns.len() as u64);
    for (a, h) in asns {
        put_uint(out, u64::from(*a));
        put_uint(out, u64::from(*h));
    }
    for t in last_fired {
        put_uint(out, *t);
    }
}

impl AlertRec {
    /// Appends the alert's saved form.
    pub fn put(&self, out: &mut Vec<u8>) {
        put_uint(out, self.id);
        put_uint(out, self.time);
        out.push(self.rule);
        put_tag(out, self.device_ip.is_some());
        if let Some(a) = self.device_ip {
            put_addr(out, a);
        }
        put_tag(out, self.device_mac.is_some());
        if let Some(m) = &self.device_mac {
            out.extend_from_slice(m);
        }
        put_opt_str(out, self.device_name.as_deref());
        put_tag(out, self.remote.is_some());
        if let Some(r) = &self.remote {
            put_addr(out, r.ip);
            put_tag(out, r.country.is_some());
            if let Some(c) = &r.country {
                out.extend_from_slice(c);
            }
            put_opt_uint(out, r.asn.map(u64::from));
            put_opt_str(out, r.org.as_deref());
            put_opt_str(out, r.name.as_deref());
        }
        put_opt_str(out, self.list.as_deref());
        put_opt_uint(out, self.bytes);
        put_str(out, &self.message);
    }
}

/// Reads the saved form, every read bounds-checked (`Err`: why the bytes are not a memory).
pub struct Reader<'a>(pub &'a [u8]);

type Read<T> = Result<T, &'static str>;

impl<'a> Reader<'a> {
    pub fn bytes(&mut self, n: usize) -> Read<&'a [u8]> {
        if n > self.0.len() {
            return Err("it ends too early");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    pub fn byte(&mut self) -> Read<u8> {
        Ok(self.bytes(1)?[0])
    }

    pub fn array<const N: usize>(&mut self) -> Read<[u8; N]> {
        self.bytes(N)?.try_into().map_err(|_| "it ends too early")
    }

    pub fn uint(&mut self, max: u64) -> Read<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                break;
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                return if v <= max {
                    Ok(v)
                } else {
                    Err("a number is too large")
                };
            }
        }
        Err("a number is too large")
    }

    pub fn u64(&mut self) -> Read<u64> {
        self.uint(u64::MAX)
    }

    pub fn u32(&mut self) -> Read<u32> {
        Ok(self.uint(u64::from(u32::MAX))? as u32)
    }

    /// An `Option`'s tag, or an enum's variant index among two.
    pub fn tag(&mut self) -> Read<bool> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("a tag is neither 0 nor 1"),
        }
    }

    pub fn count(&mut self) -> Read<usize> {
        let n = self.uint(u64::from(u32::MAX))? as usize;
        if n > self.0.len() {
            return Err("a length is past the end");
        }
        Ok(n)
    }

    pub fn string(&mut self) -> Read<String> {
        let n = self.count()?;
        let b = self.bytes(n)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| "a text is not UTF-8")
    }

    pub fn opt_string(&mut self) -> Read<Option<String>> {
        Ok(if self.tag()? {
            Some(self.string()?)
        } else {
            None
        })
    }

    pub fn opt_u64(&mut self) -> Read<Option<u64>> {
        Ok(if self.tag()? { Some(self.u64()?) } else { None })
    }

    pub fn addr(&mut self) -> Read<Addr> {
        Ok(if self.tag()? {
            Addr::from(std::net::IpAddr::from(self.array::<16>()?))
        } else {
            Addr::from(std::net::IpAddr::from(self.array::<4>()?))
        })
    }

    pub fn device(&mut self) -> Read<DeviceRec> {
        let key = if self.tag()? {
            DevKey::Ip(self.addr()?)
        } else {
            DevKey::Mac(self.array()?)
        };
        let first_seen = self.u64()?;
        let last_seen = self.u64()?;
        let mut countries = Vec::new();
        for _ in 0..self.count()? {
            countries.push((self.array()?, self.u32()?));
        }
        let mut asns = Vec::new();
        for _ in 0..self.count()? {
            asns.push((self.u32()?, self.u32()?));
        }
        let mut last_fired = [0; 5];
        for t in &mut last_fired {
            *t = self.u64()?;
        }
        Ok(DeviceRec {
            key,
            first_seen,
            last_seen,
            countries,
            asns,
            last_fired,
        })
    }

    pub fn alert(&mut self) -> Read<AlertRec> {
        Ok(AlertRec {
            id: self.u64()?,
            time: self.u64()?,
            rule: self.byte()?,
            device_ip: if self.tag()? {
                Some(self.addr()?)
            } else {
                None
            },
            device_mac: if self.tag()? {
                Some(self.array()?)
            } else {
                None
            },
            device_name: self.opt_string()?,
            remote: if self.tag()? {
                Some(RemoteRec {
                    ip: self.addr()?,
                    country: if self.tag()? {
                        Some(self.array()?)
                    } else {
                        None
                    },
                    asn: if self.tag()? { Some(self.u32()?) } else { None },
                    org: self.opt_string()?,
                    name: self.opt_string()?,
                })
            } else {
                None
            },
            list: self.opt_string()?,
            bytes: self.opt_u64()?,
            message: self.string()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remember_is_bounded_and_forgets_the_least_recently_seen() {
        let mut l = Vec::new();
        assert_eq!(remember(&mut l, 1u32, 10, 3), Some(None));
        assert_eq!(remember(&mut l, 2, 5, 3), Some(None));
        assert_eq!(remember(&mut l, 3, 7, 3), Some(None));
        assert_eq!(remember(&mut l, 2, 20, 3), None); // known, now seen at 20
        assert_eq!(remember(&mut l, 4, 21, 3), Some(Some(3))); // full: 3 (hour 7) goes
        assert_eq!(l.len(), 3);
        assert!(l.iter().all(|e| e.0 != 3));
        assert_eq!(remember(&mut l, 3, 22, 3), Some(Some(1)));
    }

    /// `remember` as it was written first (two passes: find, then the least recently seen).
    fn two_pass_remember<K: Copy + PartialEq>(
        list: &mut Vec<(K, u32)>,
        key: K,
        hour: u32,
        max: usize,
    ) -> bool {
        if let Some(e) = list.iter_mut().find(|e| e.0 == key) {
            e.1 = e.1.max(hour);
            return false;
        }
        if list.len() >= max {
            if let Some(i) = (0..list.len()).min_by_key(|&i| list[i].1) {
                list.swap_remove(i);
            }
        }
        list.push((key, hour));
        true
    }

    /// The stamps and the one pass only save work: the lists (order, hours) and the answers
    /// are those of the first `remember`, with full lists, ties, repeats within an hour and
    /// hours out of order.
    #[test]
    fn stamped_remember_is_plain_remember() {
        let (mut d, mut countries, mut asns) = (Device::default(), Vec::new(), Vec::new());
        let mut x = 12345u32;
        for step in 0..50_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // mostly forward in time, sometimes an hour or two back
            let hour = step / 1250 + 3 - (x >> 30).min(2);
            let n = x % 45; // more countries than MAX_COUNTRIES
            let c = [b'A' + (n % 26) as u8, b'A' + (n / 26 * 7) as u8];
            let id = country_id(c);
            let asn = 1 + (x >> 8) % 200; // more ASNs than MAX_ASNS
            let plain = two_pass_remember(&mut countries, id, hour, MAX_COUNTRIES);
            assert_eq!(d.remember_country(c, hour), plain, "step {step}");
            let plain = two_pass_remember(&mut asns, asn, hour, MAX_ASNS);
            assert_eq!(d.remember_asn(asn, hour), plain, "step {step}");
            assert_eq!(d.countries, countries);
            assert_eq!(d.asns, asns);
        }
    }

    #[test]
    fn devices_are_found_after_inserts_and_removals() {
        let mut m = DevMap::default();
        let key = |i: u32| {
            if i % 3 == 0 {
                DevKey::Ip(Addr::from(std::net::IpAddr::from([
                    10,
                    0,
                    (i >> 8) as u8,
                    i as u8,
                ])))
            } else {
                DevKey::Mac([2, 0, 0, 0, (i >> 8) as u8, i as u8])
            }
        };
        for i in 0..3000 {
            m.insert(key(i), Device::default());
            assert_eq!(m.index(&key(i)).map(|j| m.key_at(j)), Some(key(i)));
        }
        for i in (0..3000).step_by(2) {
            assert!(m.remove(&key(i)).is_some());
        }
        for i in 0..3000 {
            assert_eq!(
                m.index(&key(i)).map(|j| m.key_at(j)),
                (i % 2 == 1).then(|| key(i))
            );
        }
        assert_eq!(m.len(), 1500);
    }

    #[test]
    fn most_recent_keeps_the_latest_of_each_key() {
        let l = most_recent([(1u32, 5), (2, 9), (3, 1), (1, 7), (4, 8)].into_iter(), 2);
        let mut l = l;
        l.sort_unstable();
        assert_eq!(l, [(2, 9), (4, 8)]);
        let l = most_recent([(1u32, 5), (1, 7), (1, 2)].into_iter(), 3);
        assert_eq!(l, [(1, 7)]);
    }

    #[test]
    fn restored_text_is_cleaned() {
        let r = AlertRec {
            rule: 9,
            ..Default::default()
        };
        assert!(r.cleaned().is_none());
        let r = AlertRec {
            rule: 1,
            message: format!("a\u{7}b{}", "x".repeat(2000)),
            remote: Some(RemoteRec {
                country: Some(*b"c1"),
                ..Default::default()
            }),
            ..Default::default()
        }
        .cleaned()
        .unwrap();
        assert!(r.message.starts_with("abx") && r.message.len() == MAX_TEXT);
        assert_eq!(r.remote.unwrap().country, None);
        assert_eq!(valid_country(*b"cn"), Some(*b"CN"));
        for c in (0..=u16::MAX).map(u16::to_be_bytes) {
            let letters = c.iter().all(u8::is_ascii_alphabetic);
            let want = letters.then(|| c.map(|b| b.to_ascii_uppercase()));
            assert_eq!(valid_country(c), want, "{c:?}");
        }
    }
}
