//! History in the state file (version 3, see `state`): the buckets as postcard records (written
//! and read by hand, see `W` and `R`), with
//! every string, place and remote listed once and referred to by index, so a remote that
//! appears in 80 buckets costs its address once. Reading never trusts the bytes: bad indices
//! drop the record, buckets of another length or unaligned start are skipped, and every
//! bucket goes through [`merge`] again, which re-applies the configured bounds.

use super::{merge, Bounds, Bucket, Count, CountryRec, DeviceRec, Place, RemoteInfo, DAY, HOUR};
use super::{AsnRec, RemoteRec, View};
use crate::packet::Addr;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
struct HistoryRec {
    clock: u64,
    strings: Vec<String>,
    places: Vec<PlaceRec>,
    remotes: Vec<RemoteInfoRec>,
}

struct PlaceRec {
    position: Option<(f32, f32)>,
    country: Option<[u8; 2]>,
    city: Option<u32>,
    asn: Option<u32>,
    org: Option<u32>,
}

struct RemoteInfoRec {
    ip: Addr,
    place: Option<u32>,
    name: Option<u32>,
}

/// bytes out, bytes in, packets out, packets in
#[derive(Clone, Copy)]
struct CountRec(u64, u64, u32, u32);

struct DeviceRecRec {
    ip: Addr,
    mac: Option<[u8; 6]>,
    name: Option<u32>,
    count: CountRec,
    other: (u64, u64),
    remotes_seen: u32,
    /// (remote index, count, first (with the "new" bit), last)
    remotes: Vec<(u32, CountRec, u32, u32)>,
    countries: Vec<([u8; 2], u64, u64)>,
    /// (asn, org string index, bytes out, bytes in)
    asns: Vec<(u32, Option<u32>, u64, u64)>,
}

impl From<Count> for CountRec {
    fn from(c: Count) -> CountRec {
        CountRec(c.bytes_out, c.bytes_in, c.packets_out, c.packets_in)
    }
}

impl From<CountRec> for Count {
    fn from(c: CountRec) -> Count {
        Count {
            bytes_out: c.0,
            bytes_in: c.1,
            packets_out: c.2,
            packets_in: c.3,
        }
    }
}

// ---- the encoding: postcard's, written by hand ---------------------------------------------
//
// The records above, field by field, as postcard (serde) writes them: integers as LEB128
// varints (u8 and arrays of u8 as raw bytes), `f32` as 4 little-endian bytes, an `Option` as
// a 0/1 byte before its value, a sequence or string as its length (varint) before its items,
// an `Addr` as `IpAddr` (variant 0 + 4 bytes, or 1 + 16). Hand-written, because serde's
// derived code for these nested records cost ~30 KB of the router binary; the bytes are the
// same as before (files written by earlier builds read, and the fuzz seeds still apply).

/// The writer.
struct W(Vec<u8>);

impl W {
    fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn opt(&mut self, v: Option<u32>) {
        match v {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.var(v.into());
            }
        }
    }

    fn opt_raw(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.0.extend_from_slice(v);
            }
        }
    }

    fn addr(&mut self, a: &Addr) {
        match a.ip() {
            std::net::IpAddr::V4(ip) => {
                self.0.push(0);
                self.0.extend_from_slice(&ip.octets());
            }
            std::net::IpAddr::V6(ip) => {
                self.0.push(1);
                self.0.extend_from_slice(&ip.octets());
            }
        }
    }

    fn count(&mut self, c: &CountRec) {
        for v in [c.0, c.1, c.2.into(), c.3.into()] {
            self.var(v);
        }
    }

    fn bucket(&mut self, b: &Bucket, i: &Interner) {
        self.var(b.start);
        self.var(b.len);
        self.count(&b.other_devices.into());
        self.var(b.devices.len() as u64);
        for d in b.devices.iter() {
            self.addr(&d.ip);
            self.opt_raw(d.mac.as_ref().map(|m| &m[..]));
            self.opt(i.string_at(d.name.as_ref()));
            self.count(&d.count.into());
            self.var(d.other.0);
            self.var(d.other.1);
            self.var(d.remotes_seen.into());
            self.var(d.remotes.len() as u64);
            for r in d.remotes.iter() {
                let at = i.remotes.get(&(Arc::as_ptr(&r.remote) as usize));
                self.var(at.copied().unwrap_or(0).into());
                self.count(&r.count.into());
                self.var(r.first.into());
                self.var(r.last.into());
            }
            self.var(d.countries.len() as u64);
            for c in d.countries.iter() {
                self.0.extend_from_slice(&c.country);
                self.var(c.bytes_out);
                self.var(c.bytes_in);
            }
            self.var(d.asns.len() as u64);
            for a in d.asns.iter() {
                self.var(a.asn.into());
                self.opt(i.string_at(a.org.as_ref()));
                self.var(a.bytes_out);
                self.var(a.bytes_in);
            }
        }
    }

    /// Everything before the buckets.
    fn history(&mut self, h: &HistoryRec) {
        self.var(h.clock);
        self.var(h.strings.len() as u64);
        for s in &h.strings {
            self.var(s.len() as u64);
            self.0.extend_from_slice(s.as_bytes());
        }
        self.var(h.places.len() as u64);
        for p in &h.places {
            match p.position {
                None => self.0.push(0),
                Some((a, b)) => {
                    self.0.push(1);
                    self.0.extend_from_slice(&a.to_le_bytes());
                    self.0.extend_from_slice(&b.to_le_bytes());
                }
            }
            self.opt_raw(p.country.as_ref().map(|c| &c[..]));
            self.opt(p.city);
            self.opt(p.asn);
            self.opt(p.org);
        }
        self.var(h.remotes.len() as u64);
        for r in &h.remotes {
            self.addr(&r.ip);
            self.opt(r.place);
            self.opt(r.name);
        }
    }
}

/// The reader: every read checks the bytes left; `None` is "damaged".
struct R<'a>(&'a [u8]);

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// A varint of at most `bits` bits (postcard refuses longer or overflowing ones).
    fn var_bits(&mut self, bits: u32) -> Option<u64> {
        let max_bytes = bits.div_ceil(7);
        let mut out: u64 = 0;
        for i in 0..max_bytes {
            let b = self.byte()?;
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == max_bytes - 1 && u32::from(b) >= 1 << (bits - 7 * i) {
                    return None;
                }
                return Some(out);
            }
        }
        None
    }

    fn u64(&mut self) -> Option<u64> {
        self.var_bits(64)
    }

    fn u32(&mut self) -> Option<u32> {
        self.var_bits(32).map(|v| v as u32)
    }

    /// A sequence's length: no more items than bytes left (every item takes one at least),
    /// so a damaged length never allocates more than the input.
    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?)
            .ok()
            .filter(|&n| n <= self.0.len())
    }

    /// An `Option` tag: `Some(true)` for a value.
    fn some(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn opt_u32(&mut self) -> Option<Option<u32>> {
        Some(if self.some()? {
            Some(self.u32()?)
        } else {
            None
        })
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn addr(&mut self) -> Option<Addr> {
        Some(match self.u32()? {
            0 => Addr::from_v4_bytes(self.array::<4>()?),
            1 => Addr::from(std::net::IpAddr::from(self.array::<16>()?)),
            _ => return None,
        })
    }

    fn count(&mut self) -> Option<CountRec> {
        Some(CountRec(self.u64()?, self.u64()?, self.u32()?, self.u32()?))
    }

    fn device(&mut self) -> Option<DeviceRecRec> {
        let ip = self.addr()?;
        let mac = if self.some()? {
            Some(self.array::<6>()?)
        } else {
            None
        };
        let name = self.opt_u32()?;
        let count = self.count()?;
        let other = (self.u64()?, self.u64()?);
        let remotes_seen = self.u32()?;
        let mut remotes = Vec::with_capacity(self.len()?.min(4096));
        for _ in 0..remotes.capacity() {
            remotes.push((self.u32()?, self.count()?, self.u32()?, self.u32()?));
        }
        let mut countries = Vec::with_capacity(self.len()?.min(4096));
        for _ in 0..countries.capacity() {
            countries.push((self.array::<2>()?, self.u64()?, self.u64()?));
        }
        let mut asns = Vec::with_capacity(self.len()?.min(4096));
        for _ in 0..asns.capacity() {
            asns.push((self.u32()?, self.opt_u32()?, self.u64()?, self.u64()?));
        }
        Some(DeviceRecRec {
            ip,
            mac,
            name,
            count,
            other,
            remotes_seen,
            remotes,
            countries,
            asns,
        })
    }
}

/// Indices of what is listed once.
#[derive(Default)]
struct Interner {
    rec: HistoryRec,
    strings: HashMap<String, u32>,
    /// By address of the shared record (one map type for both: less code).
    places: HashMap<usize, u32, crate::hash::RandomState>,
    remotes: HashMap<usize, u32, crate::hash::RandomState>,
}

impl Interner {
    fn string(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.rec.strings.len() as u32;
        self.rec.strings.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    fn place(&mut self, p: &Arc<Place>) -> u32 {
        if let Some(&i) = self.places.get(&(Arc::as_ptr(p) as usize)) {
            return i;
        }
        let rec = PlaceRec {
            position: p.position,
            country: p.country,
            city: p.city.as_deref().map(|s| self.string(s)),
            asn: p.asn,
            org: p.org.as_deref().map(|s| self.string(s)),
        };
        let i = self.rec.places.len() as u32;
        self.rec.places.push(rec);
        self.places.insert(Arc::as_ptr(p) as usize, i);
        i
    }

    fn remote(&mut self, r: &Arc<RemoteInfo>) -> u32 {
        if let Some(&i) = self.remotes.get(&(Arc::as_ptr(r) as usize)) {
            return i;
        }
        let rec = RemoteInfoRec {
            ip: r.ip,
            place: r.place.as_ref().map(|p| self.place(p)),
            name: r.name.as_deref().map(|s| self.string(s)),
        };
        let i = self.rec.remotes.len() as u32;
        self.rec.remotes.push(rec);
        self.remotes.insert(Arc::as_ptr(r) as usize, i);
        i
    }

    /// Lists what a bucket names (in the order the writer meets it: the indices are the same
    /// as when the records were built in one pass).
    fn bucket(&mut self, b: &Bucket) {
        for d in b.devices.iter() {
            if let Some(n) = &d.name {
                self.string(n);
            }
            for r in d.remotes.iter() {
                self.remote(&r.remote);
            }
            for a in d.asns.iter() {
                if let Some(o) = &a.org {
                    self.string(o);
                }
            }
        }
    }

    fn string_at(&self, s: Option<&Arc<str>>) -> Option<u32> {
        self.strings.get(&**s?).copied()
    }
}

/// The history's bytes for the state file (the buckets of `view`, the open one included).
pub fn encode(view: &View) -> Vec<u8> {
    let mut i = Interner::default();
    i.rec.clock = view.clock;
    for b in view.hourly.iter().chain(view.daily.iter()) {
        i.bucket(b);
    }
    let mut w = W(Vec::new());
    w.history(&i.rec);
    for list in [&view.hourly, &view.daily] {
        w.var(list.len() as u64);
        for b in list.iter() {
            w.bucket(b, &i);
        }
    }
    w.0
}

/// What a state file's history holds: (hourly, daily, clock), bounded by `bounds`.
pub type Decoded = (Vec<Bucket>, Vec<Bucket>, u64);

/// Reads the history's bytes (`encode`); `bytes` past the record are an error.
pub fn decode(bytes: &[u8], bounds: &Bounds) -> Result<Decoded, String> {
    read(&mut R(bytes), bounds)
        .ok_or_else(|| "the history is damaged (it ends early or holds a bad value)".to_string())
}

/// The records read straight into buckets (no intermediate copy of the whole history).
fn read(r: &mut R, bounds: &Bounds) -> Option<Decoded> {
    let clock = r.u64()?;
    let mut strings: Vec<Arc<str>> = Vec::new();
    for _ in 0..r.len()? {
        let n = r.len()?;
        strings.push(Arc::from(std::str::from_utf8(r.take(n)?).ok()?));
    }
    let string = |i: Option<u32>| -> Option<Arc<str>> { strings.get(i? as usize).cloned() };
    let mut places: Vec<Arc<Place>> = Vec::new();
    for _ in 0..r.len()? {
        let position = if r.some()? {
            let a = f32::from_le_bytes(r.array::<4>()?);
            Some((a, f32::from_le_bytes(r.array::<4>()?)))
        } else {
            None
        };
        let country = if r.some()? {
            Some(r.array::<2>()?)
        } else {
            None
        };
        let (city, asn, org) = (r.opt_u32()?, r.opt_u32()?, r.opt_u32()?);
        places.push(Arc::new(Place {
            position: position.filter(|(a, b)| a.is_finite() && b.is_finite()),
            country: country.filter(|c| c.iter().all(u8::is_ascii_uppercase)),
            city: string(city).map(|s| Box::from(&*s)),
            asn,
            org: string(org),
        }));
    }
    let mut remotes: Vec<Arc<RemoteInfo>> = Vec::new();
    for _ in 0..r.len()? {
        let ip = r.addr()?;
        let (place, name) = (r.opt_u32()?, r.opt_u32()?);
        remotes.push(Arc::new(RemoteInfo {
            ip,
            place: place.and_then(|i| places.get(i as usize).cloned()),
            name: string(name),
        }));
    }
    let mut lists: [Vec<Bucket>; 2] = [Vec::new(), Vec::new()];
    for (list, len) in lists.iter_mut().zip([HOUR, DAY]) {
        for _ in 0..r.len()? {
            let (start, b_len, other_devices) = (r.u64()?, r.u64()?, r.count()?);
            // offsets past the bucket's end are clamped (the "new" bit kept)
            let max = (len - 1) as u32;
            let mut devices: Vec<DeviceRec> = Vec::new();
            for _ in 0..r.len()? {
                let d = r.device()?;
                devices.push(DeviceRec {
                    ip: d.ip,
                    mac: d.mac,
                    name: string(d.name),
                    count: d.count.into(),
                    other: d.other,
                    remotes_seen: d.remotes_seen,
                    remotes: (d.remotes.iter())
                        .filter_map(|&(i, c, first, last)| {
                            Some(RemoteRec {
                                remote: remotes.get(i as usize)?.clone(),
                                count: c.into(),
                                first: (first & super::NEW_BIT)
                                    | (first & !super::NEW_BIT).min(max),
                                last: last.min(max),
                            })
                        })
                        .collect(),
                    countries: (d.countries.iter())
                        .map(|&(country, o, i)| CountryRec {
                            country,
                            bytes_out: o,
                            bytes_in: i,
                        })
                        .collect(),
                    asns: (d.asns.iter())
                        .map(|&(asn, org, o, i)| AsnRec {
                            asn,
                            org: string(org),
                            bytes_out: o,
                            bytes_in: i,
                        })
                        .collect(),
                });
            }
            // buckets of another length or unaligned start are skipped
            if b_len != len || start % len != 0 || start >= super::MAX_TIME {
                continue;
            }
            let raw = Bucket {
                start,
                len,
                version: 0,
                devices: devices.into_boxed_slice(),
                other_devices: other_devices.into(),
            };
            // again through the bounds (and the sorting) of this configuration
            list.push(merge(start, len, [&raw], bounds, 0));
        }
    }
    let [mut hourly, mut daily] = lists;
    for (v, n) in [(&mut hourly, bounds.hours), (&mut daily, bounds.days)] {
        super::sort_by(v, &|a, b| a.start.cmp(&b.start));
        v.dedup_by_key(|b| b.start);
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if v.len() > n {
            v.drain(..v.len() - n);
        }
    }
    Some((hourly, daily, clock.min(super::MAX_TIME - 1)))
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    fn filled() -> History {
        let mut h = History::new(Bounds::default());
        let geo = Rc::new(GeoInfo {
            position: Some((1.5, 2.5)),
            country: Some(*b"AU"),
            city: Some("Sydney".into()),
            asn: Some(13335),
            org: Some("Cloudflare".into()),
        });
        let mut r = crate::table::Remote::new(0, 0);
        r.set_location(Some(geo));
        r.names = vec![Rc::from("one.one.one.one")].into_boxed_slice();
        for (i, t) in [100u64, 4000, 90_000].into_iter().enumerate() {
            r.last_seen = t;
            h.add(
                &PairDelta {
                    host: Addr::from_v4_bytes([192, 168, 1, 2 + i as u8]),
                    mac: Some([2, 0, 0, 0, 0, i as u8]),
                    remote_ip: Addr::from_v4_bytes([1, 1, 1, 1]),
                    remote: &r,
                    count: Count {
                        bytes_out: 10,
                        bytes_in: 20,
                        packets_out: 1,
                        packets_in: 2,
                    },
                    new: i == 0,
                },
                Some("laptop"),
            );
        }
        h.publish();
        h
    }

    #[test]
    fn round_trip() {
        let h = filled();
        let view = h.cell.get();
        let bytes = encode(&view);
        let (hourly, daily, clock) = decode(&bytes, &h.bounds).unwrap();
        assert_eq!(clock, 90_000);
        assert_eq!(hourly.len(), 3);
        assert_eq!(daily.len(), 1);
        let d = &hourly[0].devices[0];
        assert_eq!(d.name.as_deref(), Some("laptop"));
        let r = &d.remotes[0];
        assert!(r.is_new());
        assert_eq!(r.remote.name.as_deref(), Some("one.one.one.one"));
        let p = r.remote.place.as_ref().unwrap();
        assert_eq!((p.country_str(), p.asn), (Some("AU"), Some(13335)));
        // into another history: the same document
        let mut g = History::new(Bounds::default());
        g.restore(hourly, daily, clock);
        let q = json::Query {
            from: Some(0),
            to: Some(100_000),
            host: None,
        };
        let a = json::get(&h.cell.get(), &q, &Default::default());
        let b = json::get(&g.cell.get(), &q, &Default::default());
        assert_eq!(
            String::from_utf8_lossy(&a.json),
            String::from_utf8_lossy(&b.json)
        );
    }

    /// The committed fuzz seeds (scripts/fuzz-seeds.py) are histories this reader accepts.
    #[test]
    fn the_fuzz_seeds_decode() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/history_state");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            let (hourly, _, clock) = decode(&bytes, &Bounds::default()).unwrap();
            assert!(!hourly.is_empty() && clock > 0);
            n += 1;
        }
        assert!(n > 0);
    }

    #[test]
    fn damaged_bytes_are_refused_or_read_within_bounds() {
        let h = filled();
        let good = encode(&h.cell.get());
        let small = Bounds {
            top: 1,
            devices: 1,
            hours: 24,
            days: 1,
        };
        let mut x: u32 = 7;
        for round in 0..4000 {
            let mut bad = good.clone();
            for _ in 0..1 + round % 4 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let at = x as usize % bad.len();
                bad[at] = (x >> 8) as u8;
            }
            if round % 7 == 0 {
                bad.truncate(x as usize % bad.len());
            }
            if let Ok((hourly, daily, _)) = decode(&bad, &small) {
                assert!(hourly.len() <= 24 && daily.len() <= 1);
                for b in hourly.iter().chain(&daily) {
                    assert!(b.devices.len() <= 1);
                    assert!(b.devices.iter().all(|d| d.remotes.len() <= 1));
                }
            }
        }
    }
}
