//! `/history.json?from=UNIX&to=UNIX[&host=IP]`: the buckets of a time range summed into the
//! markers.json shapes (docs/history-json.md). Runs on an HTTP thread, from a published
//! [`View`]; a few rendered bodies are kept (`Cache`), keyed by an ETag made from the query
//! and the versions of the buckets it reads, so a range that did not change costs nothing.

use super::{floor, merge, Bucket, Count, DeviceRec, RemoteInfo, View, DAY, HOUR};
use crate::devnames::format_mac;
use crate::packet::Addr;
use crate::snapshot::{json_addr, json_addrs, json_str, json_u64, write_marker_place};
use std::collections::HashMap;
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
                    crate::cli::quote(k)
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
pub struct Cache(Vec<Arc<Rendered>>);

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
    // a step: an hour's bucket, or a day's: its daily bucket, or (today, or before it
    // closed) its hours; both lists are sorted by start
    let mut steps: Vec<(u64, Vec<Arc<Bucket>>)> = Vec::new();
    let in_range = |v: &[Arc<Bucket>]| -> usize { v.partition_point(|b| b.start < from) };
    let (lo, hi) = (
        in_range(&view.daily),
        view.daily.partition_point(|b| b.start < to),
    );
    let mut daily = match resolution {
        DAY => view.daily.get(lo..hi).unwrap_or_default().iter(),
        _ => [].iter(),
    }
    .peekable();
    let mut daily_step = |steps: &mut Vec<(u64, Vec<Arc<Bucket>>)>, before: u64| {
        while let Some(d) = daily.next_if(|d| d.start <= before) {
            steps.push((d.start, vec![Arc::clone(d)]));
        }
    };
    for b in view
        .hourly
        .get(in_range(&view.hourly)..)
        .unwrap_or_default()
    {
        let step = floor(b.start, resolution);
        if step >= to {
            break;
        }
        daily_step(&mut steps, step);
        match steps.last_mut() {
            Some((s, bs)) if *s == step => {
                // a day with its daily bucket: its hours are in it
                if bs.first().is_some_and(|x| x.len == HOUR) {
                    bs.push(Arc::clone(b));
                }
            }
            _ => steps.push((step, vec![Arc::clone(b)])),
        }
    }
    daily_step(&mut steps, u64::MAX);
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
        if c.0.is_empty() {
            break;
        }
        total -= c.0.remove(0).json.len();
    }
    c.0.push(Arc::clone(&r));
    r
}

/// Sums of one LAN address over the range.
struct IpSum {
    ip: Addr,
    mac: Option<[u8; 6]>,
    name: Option<Arc<str>>,
    count: Count,
    /// Most distinct remotes in one step.
    remotes_max: u32,
    first: Option<u64>,
    last: Option<u64>,
    timeline: Vec<Row>,
    /// Its device (index in the groups), once grouped.
    group: Option<usize>,
}

/// One host (a device) of the document.
struct HostOut {
    ips: Vec<Addr>,
    name: Option<Arc<str>>,
    mac: Option<[u8; 6]>,
    count: (u64, u64, u64, u64),
    remotes: u32,
    first_seen: Option<u64>,
    last_seen: Option<u64>,
    timeline: Vec<Row>,
}

/// One remote of the document.
struct MarkerOut {
    ip: Addr,
    info: Arc<RemoteInfo>,
    count: (u64, u64, u64, u64),
    hosts: Vec<Addr>,
    first: u64,
    last: u64,
    new: bool,
}

/// Bytes under a key: a country (its two letters as a big-endian number, 0: unknown), an
/// AS (its number, with its name) or a timeline's step (its start). One type for the three,
/// so that they are summed and sorted by the same code.
#[derive(Clone)]
struct Row {
    key: u64,
    /// The position in the range (the sorts' tie-break, set by `sum_by_key`).
    at: u32,
    org: Option<Arc<str>>,
    out: u64,
    inb: u64,
}

fn row(key: u64, org: Option<Arc<str>>, out: u64, inb: u64) -> Row {
    Row {
        key,
        at: 0,
        org,
        out,
        inb,
    }
}

/// Sums the rows of the same key into the first of them (the first name kept), ordered by
/// key; the order of the range is kept within a key (the sort is not stable: the position
/// is part of its key).
#[inline(never)]
fn sum_by_key(v: &mut Vec<Row>) {
    for (n, r) in v.iter_mut().enumerate() {
        r.at = n as u32;
    }
    super::sort_by(v, &|a, b| (a.key, a.at).cmp(&(b.key, b.at)));
    let mut out: Vec<Row> = Vec::with_capacity(v.len());
    for x in v.drain(..) {
        match out.last_mut() {
            Some(l) if l.key == x.key => {
                if l.org.is_none() {
                    l.org = x.org;
                }
                l.out += x.out;
                l.inb += x.inb;
            }
            _ => out.push(x),
        }
    }
    *v = out;
}

/// Most bytes first, then by key.
#[inline(never)]
fn busiest_first(v: &mut [Row]) {
    super::sort_by(v, &|a, b| {
        let key = |r: &Row| (super::busiest(r.out, r.inb), r.key);
        key(a).cmp(&key(b))
    });
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// (remote, its position in the range, host, its step's start, the record)
type PairRow<'a> = (Addr, usize, Addr, u64, &'a super::RemoteRec);

fn render(view: &View, q: &Query, p: &Plan) -> Vec<u8> {
    let bounds = view.bounds.unwrap_or_default();
    // each step as one bucket (a day made of hours is merged now)
    let steps: Vec<Arc<Bucket>> = (p.steps.iter())
        .map(|(start, bs)| match bs.as_slice() {
            [one] => Arc::clone(one),
            many => Arc::new(merge(
                *start,
                p.resolution,
                &mut many.iter().map(|b| &**b),
                &bounds,
                0,
            )),
        })
        .collect();
    let mut ips = ip_sums(&steps);
    // devices: addresses sharing a MAC are one (an IPv6 address joins; a second IPv4 does
    // not), as in markers.json. Groups hold indices in `ips`.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_mac: HashMap<[u8; 6], usize> = HashMap::new();
    for (k, s) in ips.iter().enumerate() {
        let joined = (s.mac.and_then(|m| by_mac.get(&m).copied()))
            .filter(|&g| s.ip.is_ipv6() || !groups[g].iter().any(|&j: &usize| ips[j].ip.is_ipv4()));
        match joined {
            Some(g) => groups[g].push(k),
            None => {
                if let Some(m) = s.mac {
                    by_mac.entry(m).or_insert(groups.len());
                }
                groups.push(vec![k]);
            }
        }
    }
    if let Some(h) = q.host {
        groups.retain(|g| g.iter().any(|&k| ips[k].ip == h));
    }
    for (g, members) in groups.iter().enumerate() {
        for &k in members {
            ips[k].group = Some(g);
        }
    }
    let group_of = |ip: Addr| -> Option<usize> {
        let k = ips.binary_search_by(|s| s.ip.cmp(&ip)).ok()?;
        ips[k].group
    };
    // markers, countries, ASNs, other: over the wanted addresses, in step order
    let mut other = (0u64, 0u64);
    let mut countries: Vec<Row> = Vec::new();
    let mut asns: Vec<Row> = Vec::new();
    let mut pairs: Vec<PairRow> = Vec::new();
    for b in &steps {
        for d in b.devices.iter() {
            if group_of(d.ip).is_none() {
                continue;
            }
            other.0 += d.other.0;
            other.1 += d.other.1;
            for c in d.countries.iter() {
                let key = u16::from_be_bytes(c.country).into();
                countries.push(row(key, None, c.bytes_out, c.bytes_in));
            }
            for a in d.asns.iter() {
                asns.push(row(a.asn.into(), a.org.clone(), a.bytes_out, a.bytes_in));
            }
            for r in d.remotes.iter() {
                pairs.push((r.remote.ip, pairs.len(), d.ip, b.start, r));
            }
        }
    }
    for v in [&mut countries, &mut asns] {
        sum_by_key(v);
        busiest_first(v);
    }
    let mut markers = markers(pairs);
    // distinct remotes of each device over the range
    let mut distinct = vec![0u32; groups.len()];
    for m in &markers {
        for (j, h) in m.hosts.iter().enumerate() {
            let g = group_of(*h);
            if let Some(g) = g.filter(|_| !m.hosts[..j].iter().any(|x| group_of(*x) == g)) {
                distinct[g] += 1;
            }
        }
    }
    super::sort_by(&mut markers, &|a, b| {
        let key = |m: &MarkerOut| (super::busiest(m.count.1, m.count.3), m.ip);
        key(a).cmp(&key(b))
    });
    let mut hosts: Vec<HostOut> = Vec::with_capacity(groups.len());
    for (members, distinct) in groups.iter().zip(distinct) {
        let mut h = HostOut {
            ips: members.iter().map(|&k| ips[k].ip).collect(),
            name: None,
            mac: None,
            count: (0, 0, 0, 0),
            remotes: 0,
            first_seen: None,
            last_seen: None,
            timeline: Vec::new(),
        };
        let mut most = 0;
        for &k in members {
            let s = &ips[k];
            if h.name.is_none() {
                h.name = s.name.clone();
            }
            h.mac = h.mac.or(s.mac);
            h.count.0 += u64::from(s.count.packets_out);
            h.count.1 += s.count.bytes_out;
            h.count.2 += u64::from(s.count.packets_in);
            h.count.3 += s.count.bytes_in;
            h.first_seen = min_opt(h.first_seen, s.first);
            h.last_seen = max_opt(h.last_seen, s.last);
            most = most.max(s.remotes_max);
            h.timeline.extend_from_slice(&s.timeline);
        }
        h.remotes = distinct.max(most);
        sum_by_key(&mut h.timeline);
        hosts.push(h);
    }
    super::sort_by(&mut hosts, &|a, b| {
        let key = |h: &HostOut| (super::busiest(h.count.1, h.count.3), h.ips[0]);
        key(a).cmp(&key(b))
    });
    write(view, p, &hosts, &markers, [&countries, &asns], other)
}

/// Per LAN address (sorted): its sums over the steps.
#[inline(never)]
fn ip_sums(steps: &[Arc<Bucket>]) -> Vec<IpSum> {
    // every device record of the range, in step order, then by address (a stable order:
    // a later step's name wins, the first MAC stays)
    let mut recs: Vec<(usize, &DeviceRec)> = Vec::new();
    for (i, b) in steps.iter().enumerate() {
        recs.extend(b.devices.iter().map(|d| (i, d)));
    }
    super::sort_by(&mut recs, &|a, b| (a.1.ip, a.0).cmp(&(b.1.ip, b.0)));
    let mut ips: Vec<IpSum> = Vec::new();
    for &(i, d) in &recs {
        let b = &steps[i];
        if ips.last().is_none_or(|s| s.ip != d.ip) {
            ips.push(IpSum {
                ip: d.ip,
                mac: None,
                name: None,
                count: Count::default(),
                remotes_max: 0,
                first: None,
                last: None,
                timeline: Vec::new(),
                group: None,
            });
        }
        let Some(s) = ips.last_mut() else { continue };
        s.mac = s.mac.or(d.mac);
        if d.name.is_some() {
            s.name = d.name.clone();
        }
        s.count.add_counts(&d.count);
        s.remotes_max = s.remotes_max.max(d.remotes_seen);
        let first = (d.remotes.iter())
            .map(|r| b.start + u64::from(r.first()))
            .min();
        let last = d.remotes.iter().map(|r| b.start + u64::from(r.last)).max();
        s.first = min_opt(s.first, first);
        s.last = max_opt(s.last, last);
        if d.count.total_bytes() > 0 {
            let (o, i) = (d.count.bytes_out, d.count.bytes_in);
            s.timeline.push(row(b.start, None, o, i));
        }
    }
    ips
}

/// The markers: per remote, summed in the order of the range.
#[inline(never)]
fn markers(mut pairs: Vec<PairRow>) -> Vec<MarkerOut> {
    super::sort_by(&mut pairs, &|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut markers: Vec<MarkerOut> = Vec::new();
    for &(ip, _, host, start, r) in &pairs {
        let (first, last) = (start + u64::from(r.first()), start + u64::from(r.last));
        if markers.last().is_none_or(|m| m.ip != ip) {
            markers.push(MarkerOut {
                ip,
                info: Arc::clone(&r.remote),
                count: (0, 0, 0, 0),
                hosts: Vec::new(),
                first,
                last,
                new: false,
            });
        }
        let Some(m) = markers.last_mut() else {
            continue;
        };
        // the latest bucket's view of the remote (place, name)
        m.info = Arc::clone(&r.remote);
        let c = &r.count;
        m.count.0 = m.count.0.saturating_add(c.packets_out.into());
        m.count.1 = m.count.1.saturating_add(c.bytes_out);
        m.count.2 = m.count.2.saturating_add(c.packets_in.into());
        m.count.3 = m.count.3.saturating_add(c.bytes_in);
        m.first = m.first.min(first);
        m.last = m.last.max(last);
        m.new |= r.is_new();
        if !m.hosts.contains(&host) {
            m.hosts.push(host);
        }
    }
    for m in &mut markers {
        super::sort_by(&mut m.hosts, &|a, b| a.cmp(b));
        // packets saturate at 2^32, as the counters do
        m.count.0 = m.count.0.min(u32::MAX.into());
        m.count.2 = m.count.2.min(u32::MAX.into());
    }
    markers
}

/// `key` and a number (or null).
fn num(out: &mut Vec<u8>, key: &[u8], v: Option<u64>) {
    out.extend_from_slice(key);
    match v {
        Some(v) => json_u64(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

/// The document.
#[inline(never)]
fn write(
    view: &View,
    p: &Plan,
    hosts: &[HostOut],
    markers: &[MarkerOut],
    [countries, asns]: [&[Row]; 2],
    other: (u64, u64),
) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let out = &mut out;
    num(out, b"{\"version\":", Some(SCHEMA_VERSION.into()));
    num(out, b",\"generated\":", Some(view.clock));
    num(out, b",\"from\":", Some(p.from));
    num(out, b",\"to\":", Some(p.to));
    num(out, b",\"resolution\":", Some(p.resolution));
    num(
        out,
        b",\"available\":{\"hourly_from\":",
        view.hourly.first().map(|b| b.start),
    );
    num(
        out,
        b",\"daily_from\":",
        view.daily.first().map(|b| b.start),
    );
    out.extend_from_slice(b"},\"hosts\":[");
    for (n, h) in hosts.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"ip\":");
        json_addr(out, &h.ips[0]);
        out.extend_from_slice(b",\"ips\":");
        json_addrs(out, &h.ips);
        out.extend_from_slice(b",\"name\":");
        json_str(out, h.name.as_deref());
        out.extend_from_slice(b",\"mac\":");
        json_str(out, h.mac.as_ref().map(format_mac).as_deref());
        counts(out, h.count);
        num(out, b",\"remotes\":", Some(h.remotes.into()));
        num(out, b",\"first_seen\":", h.first_seen);
        num(out, b",\"last_seen\":", h.last_seen);
        out.extend_from_slice(b",\"timeline\":[");
        for (n, r) in h.timeline.iter().enumerate() {
            out.extend_from_slice(if n > 0 { b",[" } else { b"[" });
            json_u64(out, r.key);
            out.push(b',');
            json_u64(out, r.out);
            out.push(b',');
            json_u64(out, r.inb);
            out.push(b']');
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"],\"markers\":[");
    for (n, m) in markers.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        // the fields markers.json's markers begin with, by its writer
        let place = m.info.place.as_deref();
        write_marker_place(
            out,
            &m.ip,
            place.and_then(|p| p.position),
            place.and_then(|p| p.country_str()),
            place.and_then(|p| p.city.as_deref()),
            place.and_then(|p| p.asn),
            place.and_then(|p| p.org.as_deref()),
        );
        json_addrs(out, &m.hosts);
        out.extend_from_slice(b",\"names\":[");
        if let Some(name) = &m.info.name {
            json_str(out, Some(name));
        }
        out.push(b']');
        counts(out, m.count);
        num(out, b",\"first_seen\":", Some(m.first));
        num(out, b",\"last_seen\":", Some(m.last));
        out.extend_from_slice(if m.new {
            b",\"new\":true}"
        } else {
            b",\"new\":false}"
        });
    }
    out.extend_from_slice(b"],\"countries\":[");
    for (n, r) in countries.iter().enumerate() {
        out.extend_from_slice(if n > 0 {
            b",{\"country\":"
        } else {
            b"{\"country\":"
        });
        let c = (r.key as u16).to_be_bytes();
        json_str(
            out,
            (r.key != 0).then(|| std::str::from_utf8(&c).ok()).flatten(),
        );
        bytes(out, r.out, r.inb);
    }
    out.extend_from_slice(b"],\"asns\":[");
    for (n, r) in asns.iter().enumerate() {
        num(
            out,
            if n > 0 { b",{\"asn\":" } else { b"{\"asn\":" },
            (r.key != 0).then_some(r.key),
        );
        out.extend_from_slice(b",\"org\":");
        json_str(out, r.org.as_deref());
        bytes(out, r.out, r.inb);
    }
    out.extend_from_slice(b"],\"other\":{");
    bytes(out, other.0, other.1);
    out.push(b'}');
    std::mem::take(out)
}

/// `,"packets_out":..,"bytes_out":..,"packets_in":..,"bytes_in":..`
fn counts(out: &mut Vec<u8>, (po, bo, pi, bi): (u64, u64, u64, u64)) {
    for (key, v) in [
        (&b",\"packets_out\":"[..], po),
        (b",\"bytes_out\":", bo),
        (b",\"packets_in\":", pi),
        (b",\"bytes_in\":", bi),
    ] {
        out.extend_from_slice(key);
        json_u64(out, v);
    }
}

/// `"bytes_out":..,"bytes_in":..}` after an object's other fields (or none: then no comma).
fn bytes(out: &mut Vec<u8>, o: u64, i: u64) {
    if out.last() != Some(&b'{') {
        out.push(b',');
    }
    out.extend_from_slice(b"\"bytes_out\":");
    json_u64(out, o);
    out.extend_from_slice(b",\"bytes_in\":");
    json_u64(out, i);
    out.push(b'}');
}
