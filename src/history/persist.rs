//! History in the state file (version 3, see `state`): the buckets as postcard records, with
//! every string, place and remote listed once and referred to by index, so a remote that
//! appears in 80 buckets costs its address once. Reading never trusts the bytes: bad indices
//! drop the record, buckets of another length or unaligned start are skipped, and every
//! bucket goes through [`merge`] again, which re-applies the configured bounds.

use super::{merge, Bounds, Bucket, Count, CountryRec, DeviceRec, Place, RemoteInfo, DAY, HOUR};
use super::{AsnRec, RemoteRec, View};
use crate::packet::Addr;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Serialize, Deserialize, Default)]
struct HistoryRec {
    clock: u64,
    strings: Vec<String>,
    places: Vec<PlaceRec>,
    remotes: Vec<RemoteInfoRec>,
    hourly: Vec<BucketRec>,
    daily: Vec<BucketRec>,
}

#[derive(Serialize, Deserialize)]
struct PlaceRec {
    position: Option<(f32, f32)>,
    country: Option<[u8; 2]>,
    city: Option<u32>,
    asn: Option<u32>,
    org: Option<u32>,
}

#[derive(Serialize, Deserialize)]
struct RemoteInfoRec {
    ip: Addr,
    place: Option<u32>,
    name: Option<u32>,
}

/// bytes out, bytes in, packets out, packets in
#[derive(Serialize, Deserialize, Clone, Copy)]
struct CountRec(u64, u64, u32, u32);

#[derive(Serialize, Deserialize)]
struct BucketRec {
    start: u64,
    len: u64,
    other_devices: CountRec,
    devices: Vec<DeviceRecRec>,
}

#[derive(Serialize, Deserialize)]
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

/// Indices of what is listed once.
#[derive(Default)]
struct Interner {
    rec: HistoryRec,
    strings: HashMap<String, u32>,
    places: HashMap<*const Place, u32>,
    remotes: HashMap<*const RemoteInfo, u32>,
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
        if let Some(&i) = self.places.get(&Arc::as_ptr(p)) {
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
        self.places.insert(Arc::as_ptr(p), i);
        i
    }

    fn remote(&mut self, r: &Arc<RemoteInfo>) -> u32 {
        if let Some(&i) = self.remotes.get(&Arc::as_ptr(r)) {
            return i;
        }
        let rec = RemoteInfoRec {
            ip: r.ip,
            place: r.place.as_ref().map(|p| self.place(p)),
            name: r.name.as_deref().map(|s| self.string(s)),
        };
        let i = self.rec.remotes.len() as u32;
        self.rec.remotes.push(rec);
        self.remotes.insert(Arc::as_ptr(r), i);
        i
    }

    fn bucket(&mut self, b: &Bucket) -> BucketRec {
        let devices = (b.devices.iter())
            .map(|d| DeviceRecRec {
                ip: d.ip,
                mac: d.mac,
                name: d.name.as_deref().map(|s| self.string(s)),
                count: d.count.into(),
                other: d.other,
                remotes_seen: d.remotes_seen,
                remotes: (d.remotes.iter())
                    .map(|r| (self.remote(&r.remote), r.count.into(), r.first, r.last))
                    .collect(),
                countries: (d.countries.iter())
                    .map(|c| (c.country, c.bytes_out, c.bytes_in))
                    .collect(),
                asns: (d.asns.iter())
                    .map(|a| {
                        let org = a.org.as_deref().map(|s| self.string(s));
                        (a.asn, org, a.bytes_out, a.bytes_in)
                    })
                    .collect(),
            })
            .collect();
        BucketRec {
            start: b.start,
            len: b.len,
            other_devices: b.other_devices.into(),
            devices,
        }
    }
}

/// The history's bytes for the state file (the buckets of `view`, the open one included).
pub fn encode(view: &View) -> Vec<u8> {
    let mut i = Interner::default();
    i.rec.clock = view.clock;
    i.rec.hourly = view.hourly.iter().map(|b| i.bucket(b)).collect();
    i.rec.daily = view.daily.iter().map(|b| i.bucket(b)).collect();
    // writing to a Vec fails only for lengths past u32, which bounded buckets never reach
    postcard::to_allocvec(&i.rec).unwrap_or_default()
}

/// What a state file's history holds: (hourly, daily, clock), bounded by `bounds`.
pub type Decoded = (Vec<Bucket>, Vec<Bucket>, u64);

/// Reads the history's bytes (`encode`); `bytes` past the record are an error.
pub fn decode(bytes: &[u8], bounds: &Bounds) -> Result<Decoded, String> {
    let rec: HistoryRec =
        postcard::from_bytes(bytes).map_err(|e| format!("the history is damaged ({e})"))?;
    let string = |i: Option<u32>| -> Option<Arc<str>> {
        rec.strings.get(i? as usize).map(|s| Arc::from(s.as_str()))
    };
    let places: Vec<Arc<Place>> = (rec.places.iter())
        .map(|p| {
            Arc::new(Place {
                position: p.position.filter(|(a, b)| a.is_finite() && b.is_finite()),
                country: p.country.filter(|c| c.iter().all(u8::is_ascii_uppercase)),
                city: string(p.city).map(|s| Box::from(&*s)),
                asn: p.asn,
                org: string(p.org),
            })
        })
        .collect();
    let remotes: Vec<Arc<RemoteInfo>> = (rec.remotes.iter())
        .map(|r| {
            Arc::new(RemoteInfo {
                ip: r.ip,
                place: r.place.and_then(|i| places.get(i as usize).cloned()),
                name: string(r.name),
            })
        })
        .collect();
    let bucket = |b: &BucketRec, len: u64| -> Option<Bucket> {
        if b.len != len || b.start % len != 0 || b.start >= super::MAX_TIME {
            return None;
        }
        // offsets past the bucket's end are clamped (the "new" bit kept)
        let max = (len - 1) as u32;
        let devices: Vec<DeviceRec> = (b.devices.iter())
            .map(|d| DeviceRec {
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
                            first: (first & super::NEW_BIT) | (first & !super::NEW_BIT).min(max),
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
            })
            .collect();
        let raw = Bucket {
            start: b.start,
            len,
            version: 0,
            devices: devices.into_boxed_slice(),
            other_devices: b.other_devices.into(),
        };
        // again through the bounds (and the sorting) of this configuration
        Some(merge(b.start, len, [&raw], bounds, 0))
    };
    let newest = |v: &mut Vec<Bucket>, n: u64| {
        super::sort_by(v, &|a, b| a.start.cmp(&b.start));
        v.dedup_by_key(|b| b.start);
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if v.len() > n {
            v.drain(..v.len() - n);
        }
    };
    let mut hourly: Vec<Bucket> = (rec.hourly.iter())
        .filter_map(|b| bucket(b, HOUR))
        .collect();
    newest(&mut hourly, bounds.hours);
    let mut daily: Vec<Bucket> = (rec.daily.iter()).filter_map(|b| bucket(b, DAY)).collect();
    newest(&mut daily, bounds.days);
    Ok((hourly, daily, rec.clock.min(super::MAX_TIME - 1)))
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
