//! History in the state file (version 3, see `state`): the buckets as postcard records (written
//! and read by hand with the state file's `W` and `R`), with every string, place and remote
//! listed once and referred to by index, so a remote that appears in 80 buckets costs its
//! address once. Reading never trusts the bytes: bad indices drop the record, buckets of
//! another length or unaligned start are skipped, and every bucket goes through [`merge`]
//! again, which re-applies the configured bounds.
//!
//! The layout, as postcard wrote it for serde records in earlier builds (files written by
//! them read, and the fuzz seeds still apply):
//!   clock: u64, strings: [string],
//!   places: [(position: Option<(f32, f32)>, country: Option<[u8; 2]>, city, asn, org)]
//!           (city, org: Option<string index>, asn: Option<u32>),
//!   remotes: [(ip, place: Option<place index>, name: Option<string index>)],
//!   hourly: [bucket], daily: [bucket]
//!   bucket = start: u64, len: u64, other_devices: count, devices: [device]
//!   device = ip, mac: Option<[u8; 6]>, name: Option<string index>, count, other: (u64, u64),
//!            remotes_seen: u32, remotes: [(remote index, count, first (with the "new"
//!            bit), last)], countries: [([u8; 2], bytes out, bytes in)],
//!            asns: [(asn, org: Option<string index>, bytes out, bytes in)]
//!   count  = bytes out, bytes in, packets out, packets in

use super::{merge, Bounds, Bucket, Count, CountryRec, DeviceRec, Place, RemoteInfo, DAY, HOUR};
use super::{AsnRec, RemoteRec, View};
use crate::state::{R, W};
use std::collections::HashMap;
use std::sync::Arc;

fn write_count(w: &mut W, c: &Count) {
    w.vars(&[
        c.bytes_out,
        c.bytes_in,
        c.packets_out.into(),
        c.packets_in.into(),
    ]);
}

fn read_count(r: &mut R) -> Count {
    Count {
        bytes_out: r.u64(),
        bytes_in: r.u64(),
        packets_out: r.u32(),
        packets_in: r.u32(),
    }
}

/// The lists of what is written once, filled as the buckets are written: each list's
/// records and their count, and the indices by content (strings) or by shared record.
#[derive(Default)]
struct Interner {
    strings: (W, u32),
    places: (W, u32),
    remotes: (W, u32),
    string_at: HashMap<Box<str>, u32>,
    /// By address of the shared record (one map type for both: less code).
    at: HashMap<usize, u32, crate::hash::RandomState>,
}

impl Interner {
    fn string(&mut self, s: Option<&str>) -> Option<u32> {
        let s = s?;
        if let Some(&i) = self.string_at.get(s) {
            return Some(i);
        }
        let (w, n) = &mut self.strings;
        w.bytes(s.as_bytes());
        self.string_at.insert(s.into(), *n);
        *n += 1;
        Some(*n - 1)
    }

    fn place(&mut self, p: &Arc<Place>) -> u32 {
        let key = Arc::as_ptr(p) as usize;
        if let Some(&i) = self.at.get(&key) {
            return i;
        }
        let city = self.string(p.city.as_deref());
        let org = self.string(p.org.as_deref());
        let (w, n) = &mut self.places;
        match p.position {
            None => w.0.push(0),
            Some((a, b)) => {
                w.0.push(1);
                w.0.extend_from_slice(&a.to_le_bytes());
                w.0.extend_from_slice(&b.to_le_bytes());
            }
        }
        w.opt_raw(p.country.as_ref().map(|c| &c[..]));
        w.opt(city);
        w.opt(p.asn);
        w.opt(org);
        self.at.insert(key, *n);
        *n += 1;
        *n - 1
    }

    fn remote(&mut self, r: &Arc<RemoteInfo>) -> u32 {
        let key = Arc::as_ptr(r) as usize;
        if let Some(&i) = self.at.get(&key) {
            return i;
        }
        let place = r.place.as_ref().map(|p| self.place(p));
        let name = self.string(r.name.as_deref());
        let (w, n) = &mut self.remotes;
        w.addr(&r.ip);
        w.opt(place);
        w.opt(name);
        self.at.insert(key, *n);
        *n += 1;
        *n - 1
    }

    fn bucket(&mut self, w: &mut W, b: &Bucket) {
        w.vars(&[b.start, b.len]);
        write_count(w, &b.other_devices);
        w.var(b.devices.len() as u64);
        for d in b.devices.iter() {
            w.addr(&d.ip);
            w.opt_raw(d.mac.as_ref().map(|m| &m[..]));
            w.opt(self.string(d.name.as_deref()));
            write_count(w, &d.count);
            w.vars(&[
                d.other.0,
                d.other.1,
                d.remotes_seen.into(),
                d.remotes.len() as u64,
            ]);
            for r in d.remotes.iter() {
                w.var(self.remote(&r.remote).into());
                write_count(w, &r.count);
                w.vars(&[r.first.into(), r.last.into()]);
            }
            w.var(d.countries.len() as u64);
            for c in d.countries.iter() {
                w.0.extend_from_slice(&c.country);
                w.vars(&[c.bytes_out, c.bytes_in]);
            }
            w.var(d.asns.len() as u64);
            for a in d.asns.iter() {
                w.var(a.asn.into());
                w.opt(self.string(a.org.as_deref()));
                w.vars(&[a.bytes_out, a.bytes_in]);
            }
        }
    }
}

/// The history's bytes for the state file (the buckets of `view`, the open one included).
pub fn encode(view: &View) -> Vec<u8> {
    let mut i = Interner::default();
    let mut buckets = W::default();
    for list in [&view.hourly, &view.daily] {
        buckets.var(list.len() as u64);
        for b in list.iter() {
            i.bucket(&mut buckets, b);
        }
    }
    let mut w = W::default();
    w.var(view.clock);
    for (list, n) in [&i.strings, &i.places, &i.remotes] {
        w.var((*n).into());
        w.0.extend_from_slice(&list.0);
    }
    w.0.extend_from_slice(&buckets.0);
    w.0
}

/// What a state file's history holds: (hourly, daily, clock), bounded by `bounds`.
pub type Decoded = (Vec<Bucket>, Vec<Bucket>, u64);

/// Reads the history's bytes (`encode`); `bytes` past the record are an error.
pub fn decode(bytes: &[u8], bounds: &Bounds) -> Result<Decoded, String> {
    read(&mut R::new(bytes), bounds)
        .ok_or_else(|| "the history is damaged (it ends early or holds a bad value)".to_string())
}

/// An entry of a list read before (`None`: no entry, or a bad index: the field is dropped).
fn index<T: Clone>(r: &mut R, list: &[T]) -> Option<T> {
    r.opt_u32().and_then(|i| list.get(i as usize).cloned())
}

/// The records read straight into buckets (no intermediate copy of the whole history).
#[inline(never)]
fn read(r: &mut R, bounds: &Bounds) -> Option<Decoded> {
    let clock = r.u64();
    let mut strings: Vec<Arc<str>> = Vec::new();
    for _ in 0..r.len() {
        strings.push(Arc::from(r.str()));
    }
    let mut places: Vec<Arc<Place>> = Vec::new();
    for _ in 0..r.len() {
        let position = r.some().then(|| {
            let a = f32::from_le_bytes(r.array::<4>());
            (a, f32::from_le_bytes(r.array::<4>()))
        });
        let country = r.opt_array::<2>();
        let city = index(r, &strings);
        let asn = r.opt_u32();
        let org = index(r, &strings);
        places.push(Arc::new(Place {
            position: position.filter(|(a, b)| a.is_finite() && b.is_finite()),
            country: country.filter(|c| c.iter().all(u8::is_ascii_uppercase)),
            city: city.map(|s| Box::from(&*s)),
            asn,
            org,
        }));
    }
    let mut remotes: Vec<Arc<RemoteInfo>> = Vec::new();
    for _ in 0..r.len() {
        let ip = r.addr();
        let place = index(r, &places);
        let name = index(r, &strings);
        remotes.push(Arc::new(RemoteInfo { ip, place, name }));
    }
    let mut lists: [Vec<Bucket>; 2] = [Vec::new(), Vec::new()];
    for (list, len) in lists.iter_mut().zip([HOUR, DAY]) {
        for _ in 0..r.len() {
            let (start, b_len, other_devices) = (r.u64(), r.u64(), read_count(r));
            // offsets past the bucket's end are clamped (the "new" bit kept)
            let max = (len - 1) as u32;
            let mut devices: Vec<DeviceRec> = Vec::new();
            for _ in 0..r.len() {
                let ip = r.addr();
                let mac = r.opt_array::<6>();
                let name = index(r, &strings);
                let count = read_count(r);
                let other = (r.u64(), r.u64());
                let remotes_seen = r.u32();
                let mut recs: Vec<RemoteRec> = Vec::new();
                for _ in 0..r.len() {
                    let remote = r.u32();
                    let (count, first, last) = (read_count(r), r.u32(), r.u32());
                    if let Some(remote) = remotes.get(remote as usize) {
                        recs.push(RemoteRec {
                            remote: Arc::clone(remote),
                            count,
                            first: (first & super::NEW_BIT) | (first & !super::NEW_BIT).min(max),
                            last: last.min(max),
                        });
                    }
                }
                let mut countries: Vec<CountryRec> = Vec::new();
                for _ in 0..r.len() {
                    countries.push(CountryRec {
                        country: r.array::<2>(),
                        bytes_out: r.u64(),
                        bytes_in: r.u64(),
                    });
                }
                let mut asns: Vec<AsnRec> = Vec::new();
                for _ in 0..r.len() {
                    asns.push(AsnRec {
                        asn: r.u32(),
                        org: index(r, &strings),
                        bytes_out: r.u64(),
                        bytes_in: r.u64(),
                    });
                }
                devices.push(DeviceRec {
                    ip,
                    mac,
                    name,
                    count,
                    other,
                    remotes_seen,
                    remotes: recs.into_boxed_slice(),
                    countries: countries.into_boxed_slice(),
                    asns: asns.into_boxed_slice(),
                });
            }
            // a damaged bucket ends the reading; buckets of another length or unaligned
            // start are skipped
            r.ok()?;
            if b_len != len || start % len != 0 || start >= super::MAX_TIME {
                continue;
            }
            let raw = Bucket {
                start,
                len,
                version: 0,
                devices: devices.into_boxed_slice(),
                other_devices,
            };
            // again through the bounds (and the sorting) of this configuration
            list.push(merge(start, len, &mut [&raw].into_iter(), bounds, 0));
        }
    }
    r.ok()?;
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
