//! `/history.json?from=UNIX&to=UNIX[&host=IP]`: the buckets of a time range summed into the
//! markers.json shapes (docs/history-json.md). Runs on an HTTP thread, from a published
//! [`View`]; a few rendered bodies are kept (`Cache`), keyed by an ETag made from the query
//! and the versions of the buckets it reads, so a range that did not change costs nothing.

use super::{floor, merge, Bucket, Count, RemoteInfo, View, DAY, HOUR};
use crate::devnames::format_mac;
use crate::packet::Addr;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

/// Version of the history.json layout.
pub const SCHEMA_VERSION: u32 = 1;
/// Rendered bodies kept, and their total size at most (a body larger than that is sent,
/// not kept).
const CACHE_ENTRIES: usize = 8;
const CACHE_BYTES: usize = 1 << 20;

/// A parsed query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    pub from: Option<u64>,
    pub to: Option<u64>,
    pub host: Option<Addr>,
}

/// Parses the query string (after `?`); the error is the 400's one-line body.
pub fn parse_query(q: &str) -> Result<Query, String> {
    let mut out = Query {
        from: None,
        to: None,
        host: None,
    };
    for part in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let v = crate::http::percent_decode(v).ok_or_else(|| format!("bad value for {k}"))?;
        let slot_taken = |set: bool| {
            if set {
                Err(format!("{k} given twice"))
            } else {
                Ok(())
            }
        };
        let time = |v: &str| {
            v.parse::<u64>()
                .ok()
                .filter(|t| *t < 1 << 40)
                .ok_or_else(|| format!("{k} must be unix seconds, not {}", crate::cli::quote(v)))
        };
        match k {
            "from" => {
                slot_taken(out.from.is_some())?;
                out.from = Some(time(&v)?);
            }
            "to" => {
                slot_taken(out.to.is_some())?;
                out.to = Some(time(&v)?);
            }
            "host" => {
                slot_taken(out.host.is_some())?;
                let ip: std::net::IpAddr = (v.parse()).map_err(|_| {
                    format!("host must be an IP address, not {}", crate::cli::quote(&v))
                })?;
                out.host = Some(Addr::from(ip));
            }
            _ => {
                return Err(format!(
                    "unknown parameter {} (from, to, host)",
                    crate::cli::quote(&k)
                ))
            }
        }
    }
    if let (Some(f), Some(t)) = (out.from, out.to) {
        if f >= t {
            return Err("from must be before to".into());
        }
    }
    Ok(out)
}

/// One rendered body.
pub struct Rendered {
    pub etag: String,
    pub json: Vec<u8>,
    gzip: OnceLock<Vec<u8>>,
}

impl Rendered {
    pub fn gzip(&self) -> &[u8] {
        self.gzip.get_or_init(|| crate::gz::gzip(&self.json, 6))
    }
}

/// The last few rendered bodies, most recent last.
#[derive(Default)]
pub struct Cache(VecDeque<Arc<Rendered>>);

/// What a query reads: the range, its resolution and buckets.
struct Plan {
    from: u64,
    to: u64,
    resolution: u64,
    /// Per step of the range that has data: (start, buckets summed for it).
    steps: Vec<(u64, Vec<Arc<Bucket>>)>,
    etag: String,
}

/// FNV-1a, for ETags (stable across runs and builds).
fn fnv(h: &mut u64, v: u64) {
    for b in v.to_le_bytes() {
        *h ^= u64::from(b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

fn plan(view: &View, q: &Query) -> Plan {
    let to = q.to.unwrap_or(view.clock + 1); // now, its hour included
    let from = q
        .from
        .unwrap_or(to.saturating_sub(DAY))
        .min(to.saturating_sub(1));
    let hours = view.bounds.map_or(super::DEFAULT_HOURS, |b| b.hours);
    let hourly_limit = (floor(view.clock, HOUR) + HOUR).saturating_sub(hours.saturating_mul(HOUR));
    let resolution = if from >= hourly_limit { HOUR } else { DAY };
    let from = floor(from, resolution);
    let to = floor(to - 1, resolution) + resolution;
    let mut steps: Vec<(u64, Vec<Arc<Bucket>>)> = Vec::new();
    let in_range = |b: &&Arc<Bucket>| b.start >= from && b.start < to;
    if resolution == HOUR {
        for b in view.hourly.iter().filter(in_range) {
            steps.push((b.start, vec![Arc::clone(b)]));
        }
    } else {
        // a day: its daily bucket, or (today, or before it closed) its hours
        let mut days: Vec<u64> = (view.daily.iter().filter(in_range).map(|b| b.start))
            .chain(view.hourly.iter().map(|b| floor(b.start, DAY)))
            .filter(|d| *d >= from && *d < to)
            .collect();
        days.sort_unstable();
        days.dedup();
        for day in days {
            match view.daily.iter().find(|b| b.start == day) {
                Some(b) => steps.push((day, vec![Arc::clone(b)])),
                None => {
                    let hours = view.hourly.iter().filter(|b| floor(b.start, DAY) == day);
                    steps.push((day, hours.cloned().collect()));
                }
            }
        }
    }
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for v in [from, to, resolution, u64::from(SCHEMA_VERSION)] {
        fnv(&mut h, v);
    }
    if let Some(ip) = q.host {
        fnv(&mut h, ip.bits() as u64);
        fnv(&mut h, (ip.bits() >> 64) as u64);
    }
    for (start, bs) in &steps {
        fnv(&mut h, *start);
        for b in bs {
            fnv(&mut h, b.version);
        }
    }
    fnv(&mut h, view.hourly.first().map_or(0, |b| b.start));
    fnv(&mut h, view.daily.first().map_or(0, |b| b.start));
    Plan {
        from,
        to,
        resolution,
        steps,
        etag: format!("\"h{h:016x}\""),
    }
}

/// The ETag a query would get (no rendering), to answer `If-None-Match` cheaply.
pub fn etag(view: &View, q: &Query) -> String {
    plan(view, q).etag
}

/// The body for a query: from the cache, or rendered now (and cached).
pub fn get(view: &View, q: &Query, cache: &std::sync::Mutex<Cache>) -> Arc<Rendered> {
    let p = plan(view, q);
    fn lock(c: &std::sync::Mutex<Cache>) -> std::sync::MutexGuard<'_, Cache> {
        match c.lock() {
            Ok(g) => g,
            Err(e) => e.into_inner(),
        }
    }
    if let Some(r) = lock(cache).0.iter().find(|r| r.etag == p.etag) {
        return Arc::clone(r);
    }
    let json = render(view, q, &p);
    let r = Arc::new(Rendered {
        etag: p.etag,
        json,
        gzip: OnceLock::new(),
    });
    if r.json.len() > CACHE_BYTES {
        return r;
    }
    let mut c = lock(cache);
    let mut total: usize = c.0.iter().map(|r| r.json.len()).sum::<usize>() + r.json.len();
    while c.0.len() >= CACHE_ENTRIES || total > CACHE_BYTES {
        let Some(old) = c.0.pop_front() else { break };
        total -= old.json.len();
    }
    c.0.push_back(Arc::clone(&r));
    r
}

/// An interned string, serialised as a string (serde's `rc` feature stays off).
#[derive(Clone)]
struct Text(Arc<str>);

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[derive(Serialize)]
struct Doc {
    version: u32,
    generated: u64,
    from: u64,
    to: u64,
    resolution: u64,
    available: Available,
    hosts: Vec<HostOut>,
    markers: Vec<MarkerOut>,
    countries: Vec<CountryOut>,
    asns: Vec<AsnOut>,
    other: Bytes,
}

#[derive(Serialize)]
struct Available {
    hourly_from: Option<u64>,
    daily_from: Option<u64>,
}

#[derive(Serialize, Default, Clone, Copy)]
struct Bytes {
    bytes_out: u64,
    bytes_in: u64,
}

#[derive(Serialize)]
struct HostOut {
    ip: Addr,
    ips: Vec<Addr>,
    name: Option<Text>,
    mac: Option<String>,
    packets_out: u64,
    bytes_out: u64,
    packets_in: u64,
    bytes_in: u64,
    remotes: u32,
    first_seen: Option<u64>,
    last_seen: Option<u64>,
    timeline: Vec<(u64, u64, u64)>,
}

#[derive(Serialize)]
struct MarkerOut {
    ip: Addr,
    lat: Option<f32>,
    lng: Option<f32>,
    country: Option<String>,
    city: Option<String>,
    asn: Option<u32>,
    org: Option<Text>,
    hosts: Vec<Addr>,
    names: Vec<Text>,
    packets_out: u64,
    bytes_out: u64,
    packets_in: u64,
    bytes_in: u64,
    first_seen: u64,
    last_seen: u64,
    new: bool,
}

#[derive(Serialize)]
struct CountryOut {
    country: Option<String>,
    bytes_out: u64,
    bytes_in: u64,
}

#[derive(Serialize)]
struct AsnOut {
    asn: Option<u32>,
    org: Option<Text>,
    bytes_out: u64,
    bytes_in: u64,
}

/// Sums of one LAN address over the range.
#[derive(Default)]
struct IpSum {
    mac: Option<[u8; 6]>,
    name: Option<Arc<str>>,
    count: Count,
    /// Most distinct remotes in one step, and those kept (distinct over the range).
    remotes_max: u32,
    first: Option<u64>,
    last: Option<u64>,
    timeline: Vec<(u64, u64, u64)>,
}

#[derive(Default)]
struct MarkerSum {
    info: Option<Arc<RemoteInfo>>,
    count: Count,
    hosts: Vec<Addr>,
    first: u64,
    last: u64,
    new: bool,
}

fn render(view: &View, q: &Query, p: &Plan) -> Vec<u8> {
    let bounds = view.bounds.unwrap_or_default();
    // each step as one bucket (a day made of hours is merged now)
    let steps: Vec<Arc<Bucket>> = (p.steps.iter())
        .map(|(start, bs)| match bs.as_slice() {
            [one] => Arc::clone(one),
            many => Arc::new(merge(
                *start,
                p.resolution,
                many.iter().map(|b| &**b),
                &bounds,
                0,
            )),
        })
        .collect();
    // per LAN address
    let mut ips: HashMap<Addr, IpSum> = HashMap::new();
    for b in &steps {
        for d in b.devices.iter() {
            let s = ips.entry(d.ip).or_default();
            s.mac = s.mac.or(d.mac);
            if d.name.is_some() {
                s.name = d.name.clone();
            }
            s.count.add_counts(&d.count);
            s.remotes_max = s.remotes_max.max(d.remotes_seen);
            let first = d
                .remotes
                .iter()
                .map(|r| b.start + u64::from(r.first()))
                .min();
            let last = d.remotes.iter().map(|r| b.start + u64::from(r.last)).max();
            s.first = s.first.into_iter().chain(first).min();
            s.last = s.last.into_iter().chain(last).max();
            if d.count.total_bytes() > 0 {
                s.timeline
                    .push((b.start, d.count.bytes_out, d.count.bytes_in));
            }
        }
    }
    // devices: addresses sharing a MAC are one (an IPv6 address joins; a second IPv4 does
    // not), as in markers.json
    let mut sorted: Vec<Addr> = ips.keys().copied().collect();
    sorted.sort_unstable();
    let mut groups: Vec<Vec<Addr>> = Vec::new();
    let mut by_mac: HashMap<[u8; 6], usize> = HashMap::new();
    for ip in sorted {
        let mac = ips[&ip].mac;
        let joined = mac
            .and_then(|m| by_mac.get(&m).copied())
            .filter(|&i| ip.is_ipv6() || !groups[i].iter().any(|a: &Addr| a.is_ipv4()));
        match joined {
            Some(i) => groups[i].push(ip),
            None => {
                if let Some(m) = mac {
                    by_mac.entry(m).or_insert(groups.len());
                }
                groups.push(vec![ip]);
            }
        }
    }
    if let Some(h) = q.host {
        groups.retain(|g| g.contains(&h));
    }
    let wanted: std::collections::HashSet<Addr> = groups.iter().flatten().copied().collect();
    // markers, countries, ASNs, other: over the wanted addresses
    let mut markers: HashMap<Addr, MarkerSum> = HashMap::new();
    let mut countries: HashMap<[u8; 2], Bytes> = HashMap::new();
    let mut asns: HashMap<u32, (Option<Arc<str>>, Bytes)> = HashMap::new();
    let mut other = Bytes::default();
    let mut kept: HashMap<Addr, std::collections::HashSet<Addr>> = HashMap::new();
    for b in &steps {
        for d in b.devices.iter().filter(|d| wanted.contains(&d.ip)) {
            other.bytes_out += d.other.0;
            other.bytes_in += d.other.1;
            for c in d.countries.iter() {
                let e = countries.entry(c.country).or_default();
                e.bytes_out += c.bytes_out;
                e.bytes_in += c.bytes_in;
            }
            for a in d.asns.iter() {
                let e = asns.entry(a.asn).or_default();
                if e.0.is_none() {
                    e.0 = a.org.clone();
                }
                e.1.bytes_out += a.bytes_out;
                e.1.bytes_in += a.bytes_in;
            }
            let k = kept.entry(d.ip).or_default();
            for r in d.remotes.iter() {
                k.insert(r.remote.ip);
                let (first, last) = (b.start + u64::from(r.first()), b.start + u64::from(r.last));
                let m = markers.entry(r.remote.ip).or_insert_with(|| MarkerSum {
                    first,
                    last,
                    ..Default::default()
                });
                // the latest bucket's view of the remote (place, name)
                m.info = Some(Arc::clone(&r.remote));
                m.count.add_counts(&r.count);
                m.first = m.first.min(first);
                m.last = m.last.max(last);
                m.new |= r.is_new();
                if !m.hosts.contains(&d.ip) {
                    m.hosts.push(d.ip);
                }
            }
        }
    }
    let mut hosts: Vec<HostOut> = groups
        .iter()
        .map(|g| {
            let mut h = HostOut {
                ip: g[0],
                ips: g.clone(),
                name: None,
                mac: None,
                packets_out: 0,
                bytes_out: 0,
                packets_in: 0,
                bytes_in: 0,
                remotes: 0,
                first_seen: None,
                last_seen: None,
                timeline: Vec::new(),
            };
            let mut distinct = std::collections::HashSet::new();
            let mut most = 0;
            let mut line: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
            for ip in g {
                let s = &ips[ip];
                h.name = h.name.take().or_else(|| s.name.clone().map(Text));
                h.mac = h.mac.take().or_else(|| s.mac.as_ref().map(format_mac));
                h.packets_out += u64::from(s.count.packets_out);
                h.bytes_out += s.count.bytes_out;
                h.packets_in += u64::from(s.count.packets_in);
                h.bytes_in += s.count.bytes_in;
                h.first_seen = h.first_seen.into_iter().chain(s.first).min();
                h.last_seen = h.last_seen.into_iter().chain(s.last).max();
                most = most.max(s.remotes_max);
                distinct.extend(kept.get(ip).into_iter().flatten().copied());
                for &(t, o, i) in &s.timeline {
                    let e = line.entry(t).or_default();
                    e.0 += o;
                    e.1 += i;
                }
            }
            h.remotes = (distinct.len() as u32).max(most);
            h.timeline = line.into_iter().map(|(t, (o, i))| (t, o, i)).collect();
            h
        })
        .collect();
    hosts.sort_by_key(|h| (std::cmp::Reverse(h.bytes_out + h.bytes_in), h.ip));
    let mut markers: Vec<MarkerOut> = markers
        .into_iter()
        .filter_map(|(ip, m)| {
            let info = m.info?;
            let place = info.place.as_deref();
            let pos = place.and_then(|p| p.position);
            let mut hosts = m.hosts;
            hosts.sort_unstable();
            Some(MarkerOut {
                ip,
                lat: pos.map(|p| p.0),
                lng: pos.map(|p| p.1),
                country: place.and_then(|p| p.country_str()).map(str::to_string),
                city: place.and_then(|p| p.city.as_deref()).map(str::to_string),
                asn: place.and_then(|p| p.asn),
                org: place.and_then(|p| p.org.clone()).map(Text),
                hosts,
                names: info.name.iter().cloned().map(Text).collect(),
                packets_out: m.count.packets_out.into(),
                bytes_out: m.count.bytes_out,
                packets_in: m.count.packets_in.into(),
                bytes_in: m.count.bytes_in,
                first_seen: m.first,
                last_seen: m.last,
                new: m.new,
            })
        })
        .collect();
    markers.sort_by_key(|m| (std::cmp::Reverse(m.bytes_out + m.bytes_in), m.ip));
    let mut countries: Vec<CountryOut> = countries
        .into_iter()
        .map(|(c, b)| CountryOut {
            country: (c != [0, 0]).then(|| String::from_utf8_lossy(&c).into_owned()),
            bytes_out: b.bytes_out,
            bytes_in: b.bytes_in,
        })
        .collect();
    countries.sort_by(|a, b| {
        (b.bytes_out + b.bytes_in)
            .cmp(&(a.bytes_out + a.bytes_in))
            .then_with(|| a.country.cmp(&b.country))
    });
    let mut asns: Vec<AsnOut> = asns
        .into_iter()
        .map(|(a, (org, b))| AsnOut {
            asn: (a != 0).then_some(a),
            org: org.map(Text),
            bytes_out: b.bytes_out,
            bytes_in: b.bytes_in,
        })
        .collect();
    asns.sort_by_key(|a| (std::cmp::Reverse(a.bytes_out + a.bytes_in), a.asn));
    let doc = Doc {
        version: SCHEMA_VERSION,
        generated: view.clock,
        from: p.from,
        to: p.to,
        resolution: p.resolution,
        available: Available {
            hourly_from: view.hourly.first().map(|b| b.start),
            daily_from: view.daily.first().map(|b| b.start),
        },
        hosts,
        markers,
        countries,
        asns,
        other,
    };
    serde_json::to_vec(&doc).unwrap_or_default()
}
