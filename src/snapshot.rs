//! Snapshot: the tables rendered once into markers.json, shared read-only with HTTP.
//!
//! Sixth step of the data path (capture → packet → filter → geo → table → **snapshot** →
//! http). Every interval, if anything changed, the data path renders the whole document once,
//! wraps it in an `Arc` and swaps it into a `SnapshotCell`. HTTP threads clone the `Arc` (a
//! pointer copy under a mutex held for nanoseconds) and never touch the tables. The gzip body
//! is made at most once per snapshot, by the first client that asks for it.

use crate::devnames::{format_mac, DeviceNames};
use crate::geo::GeoInfo;
use crate::packet::Addr;
use crate::table::{NameKind, Remote, RemoteNameTable, Tables};
use ipnet::IpNet;
use serde::Serialize;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

/// Version of the markers.json layout (`version` field).
pub const SCHEMA_VERSION: u32 = 1;

/// Settings that appear in every snapshot.
#[derive(Debug, Clone, Default)]
pub struct SnapshotMeta {
    pub lan: Vec<IpNet>,
    pub home: Option<(f64, f64)>,
    pub tiles: Option<String>,
    pub attribution: Option<String>,
    pub geo_database: Option<String>,
    pub capture: CaptureInfo,
    pub offload: crate::offload::Offload,
    /// Well-known DNS-over-HTTPS resolvers (`--doh-list`).
    pub doh: crate::coverage::DohList,
    /// `--conntrack`'s state (null without it).
    pub conntrack: Option<crate::conntrack::ConntrackInfo>,
}

/// The `capture` object: what the capture sees and misses.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaptureInfo {
    /// "live on br-lan" or "file NAME".
    pub source: String,
    /// The kernel filter in force (null for a file: classified in user space).
    pub filter: Option<String>,
    pub snaplen: Option<u32>,
    /// Live: libpcap's counters (`received` counts what the filter passed); file: frames read.
    pub received: u64,
    pub dropped: Option<u64>,
    pub if_dropped: Option<u64>,
    /// The second, narrow handle that sees whole packets for names (null when off or a file).
    pub names: Option<NamesCapture>,
    /// Seconds since the capture started (capture time for a file).
    pub uptime: u64,
    #[serde(skip)]
    pub started: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NamesCapture {
    pub filter: String,
    pub snaplen: u32,
    pub received: u64,
    pub dropped: u64,
}

/// One rendered markers.json, immutable once published.
pub struct Snapshot {
    pub json: Vec<u8>,
    pub etag: String,
    pub generated: u64,
    gzip: OnceLock<Vec<u8>>,
}

impl Snapshot {
    pub fn new(json: Vec<u8>, generation: u64, generated: u64) -> Snapshot {
        Snapshot {
            etag: format!("\"m{generated:x}-{generation:x}\""),
            json,
            generated,
            gzip: OnceLock::new(),
        }
    }

    /// The body gzip-compressed, made on first use.
    pub fn gzip(&self) -> &[u8] {
        self.gzip.get_or_init(|| gzip(&self.json))
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    crate::gz::gzip(data, 6)
}

/// The latest snapshot, swapped in by the data path, read by HTTP threads.
pub type SnapshotCell = crate::latest::Latest<Snapshot>;

#[derive(Serialize)]
struct Doc<'a> {
    version: u32,
    generated: u64,
    lan: Vec<String>,
    home: Option<LatLng>,
    tiles: Option<&'a str>,
    attribution: Option<&'a str>,
    capture: CaptureInfo,
    offload: &'a crate::offload::Offload,
    /// Where packets and bytes come from: "capture" (wire bytes) or "conntrack" (layer 3).
    source: &'static str,
    conntrack: Option<&'a crate::conntrack::ConntrackInfo>,
    stats: Stats<'a>,
    hosts: Vec<HostOut<'a>>,
    // `markers` follows, written by `write_markers`
}

#[derive(Serialize)]
struct LatLng {
    lat: f64,
    lng: f64,
}

#[derive(Serialize)]
struct Stats<'a> {
    remotes: usize,
    hosts: usize,
    max_remotes: usize,
    max_hosts: usize,
    evicted_remotes: u64,
    evicted_hosts: u64,
    expired_remotes: u64,
    packets: u64,
    bytes: u64,
    decode_errors: u64,
    geo_lookups: u64,
    geo_errors: u64,
    geo_database: Option<&'a str>,
    names: usize,
    max_names: usize,
    names_evicted: u64,
    names_learned: NamesLearned,
    names_coverage: crate::coverage::Coverage,
}

#[derive(Serialize)]
struct NamesLearned {
    dns: u64,
    sni: u64,
    http: u64,
    quic: u64,
    ech_outer: u64,
}

#[derive(Serialize)]
struct HostOut<'a> {
    ip: Addr,
    /// Every address of the device (`ip` first): IPv4 and IPv6 addresses with one MAC.
    ips: Vec<Addr>,
    name: Option<&'a str>,
    mac: Option<String>,
    packets_out: u64,
    bytes_out: u64,
    packets_in: u64,
    bytes_in: u64,
    remotes: u32,
    first_seen: u64,
    last_seen: u64,
    /// Encrypted DNS seen, not read (`coverage`); absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    encrypted_dns: Option<crate::coverage::EncryptedDns>,
}

/// The `markers` array, written straight into the document: no per-field serde calls, no
/// second copy of the table. The bulk of markers.json (10k remotes: ~3 MB); the layout is
/// exactly what serde_json writes for the same fields (a test compares the two), documented
/// in docs/markers-json.md.
fn write_markers(out: &mut Vec<u8>, remotes: &[(&Addr, &Remote)], ech: &RemoteNameTable) {
    out.push(b'[');
    for (i, (ip, r)) in remotes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_marker(out, ip, r, ech);
    }
    out.push(b']');
}

fn write_marker(out: &mut Vec<u8>, ip: &Addr, r: &Remote, ech: &RemoteNameTable) {
    let geo: Option<&GeoInfo> = r.geo();
    write_marker_place(
        out,
        ip,
        geo.and_then(|g| g.position),
        geo.and_then(|g| g.country_str()),
        geo.and_then(|g| g.city.as_deref()),
        geo.and_then(|g| g.asn),
        geo.and_then(|g| g.org.as_deref()),
    );
    json_addrs(out, &r.hosts);
    out.extend_from_slice(b",\"ports\":[");
    for (i, p) in r.ports.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_u64(out, (*p).into());
    }
    out.extend_from_slice(b"],\"protocols\":[");
    for (i, p) in r.protocols.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match protocol_name(*p) {
            Some(n) => json_str(out, Some(n)),
            None => {
                out.extend_from_slice(b"\"ip-");
                json_u64(out, (*p).into());
                out.push(b'"');
            }
        }
    }
    out.push(b']');
    if !r.names.is_empty() {
        out.extend_from_slice(b",\"names\":[");
        for (i, n) in r.names.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(out, Some(n));
        }
        out.push(b']');
    }
    if r.name_kinds != 0 {
        write_name_kinds(out, ip, r, ech);
    }
    let c = &r.counters;
    json_fields(
        out,
        &[
            (b",\"packets_out\":", c.packets_out),
            (b",\"bytes_out\":", c.bytes_out),
            (b",\"packets_in\":", c.packets_in),
            (b",\"bytes_in\":", c.bytes_in),
            (b",\"first_seen\":", r.first_seen),
            (b",\"last_seen\":", r.last_seen),
        ],
    );
    out.push(b'}');
}

/// `name_kinds` (the sources that named the remote) and `ech_outer` (the outer names of its
/// ECH ClientHellos, kept apart from `names`): out of line, most markers have neither.
#[inline(never)]
fn write_name_kinds(out: &mut Vec<u8>, ip: &Addr, r: &Remote, ech: &RemoteNameTable) {
    out.extend_from_slice(b",\"name_kinds\":[");
    let mut first = true;
    for k in NameKind::ALL {
        if r.name_kinds & k.bit() != 0 {
            if !first {
                out.push(b',');
            }
            first = false;
            json_str(out, Some(k.label()));
        }
    }
    out.push(b']');
    if r.name_kinds & NameKind::EchOuter.bit() == 0 {
        return;
    }
    let mut names: SmallVec<[&str; 2]> = SmallVec::new();
    for h in &r.hosts {
        for n in ech.get(*h, *ip).map(|e| &e.names[..]).unwrap_or_default() {
            if !names.contains(&&**n) && names.len() < crate::table::MAX_NAMES_PER_REMOTE {
                names.push(n);
            }
        }
    }
    if !names.is_empty() {
        out.extend_from_slice(b",\"ech_outer\":[");
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(out, Some(n));
        }
        out.push(b']');
    }
}

/// A marker's first fields, up to `"hosts":` (markers.json, and history.json's markers):
/// `{"ip":..,"lat":..,"lng":..,"country":..,"city":..,"asn":..,"org":..,"hosts":`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(crate) fn write_marker_place(
    out: &mut Vec<u8>,
    ip: &Addr,
    pos: Option<(f32, f32)>,
    country: Option<&str>,
    city: Option<&str>,
    asn: Option<u32>,
    org: Option<&str>,
) {
    out.extend_from_slice(b"{\"ip\":");
    json_addr(out, ip);
    out.extend_from_slice(b",\"lat\":");
    json_f32(out, pos.map(|p| p.0));
    out.extend_from_slice(b",\"lng\":");
    json_f32(out, pos.map(|p| p.1));
    out.extend_from_slice(b",\"country\":");
    json_str(out, country);
    out.extend_from_slice(b",\"city\":");
    json_str(out, city);
    out.extend_from_slice(b",\"asn\":");
    match asn {
        Some(n) => json_u64(out, n.into()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"org\":");
    json_str(out, org);
    out.extend_from_slice(b",\"hosts\":");
}

/// A JSON array of addresses.
pub(crate) fn json_addrs(out: &mut Vec<u8>, v: &[Addr]) {
    out.push(b'[');
    for (n, a) in v.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        json_addr(out, a);
    }
    out.push(b']');
}

pub(crate) fn json_addr(out: &mut Vec<u8>, a: &Addr) {
    out.push(b'"');
    out.extend_from_slice(a.text(&mut [0; 45]).as_bytes());
    out.push(b'"');
}

pub(crate) fn json_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// As serde_json writes an `f32` (shortest round-trip form; null when not finite).
pub(crate) fn json_f32(out: &mut Vec<u8>, v: Option<f32>) {
    match v {
        Some(v) if v.is_finite() => {
            out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes())
        }
        _ => out.extend_from_slice(b"null"),
    }
}

/// A JSON string (serde_json's escaping), or null.
pub(crate) fn json_str(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        // writing a `str` into a Vec cannot fail
        Some(s) => drop(serde_json::to_writer(&mut *out, s)),
        None => out.extend_from_slice(b"null"),
    }
}

/// A protocol as markers.json names it (others are written `ip-N`).
pub fn protocol_name(p: u8) -> Option<&'static str> {
    Some(match p {
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "icmpv6",
        132 => "sctp",
        136 => "udplite",
        _ => return None,
    })
}

/// One entry per device: addresses that share a MAC (seen in frames, or in the lease files)
/// are one device, keyed by its first address (IPv4 before IPv6). A MAC with several IPv4
/// addresses is a router or repeater in front of other devices: those stay separate.
fn devices<'a>(
    tables: &Tables,
    devnames: &'a DeviceNames,
    doh: &crate::coverage::DohList,
) -> Vec<HostOut<'a>> {
    let ips = sorted_hosts(tables);
    let mut out: Vec<HostOut> = Vec::with_capacity(ips.len());
    let mut by_mac: HashMap<[u8; 6], usize> = HashMap::new();
    // each address's device, in address order (as `ips`): found by binary search
    let mut index: Vec<(Addr, usize)> = Vec::with_capacity(ips.len());
    for (ip, h) in ips {
        let mac = h.mac.or_else(|| devnames.mac(&ip.ip()));
        let joined = mac.and_then(|m| by_mac.get(&m).copied()).filter(|&i| {
            // an IPv6 address joins; a second IPv4 address does not
            ip.is_ipv6() || !out[i].ips.iter().any(|a| a.is_ipv4())
        });
        let c = &h.counters;
        match joined {
            Some(i) => {
                let d = &mut out[i];
                d.ips.push(*ip);
                d.name = d.name.or_else(|| devnames.name(&ip.ip(), mac.as_ref()));
                d.packets_out += c.packets_out;
                d.bytes_out += c.bytes_out;
                d.packets_in += c.packets_in;
                d.bytes_in += c.bytes_in;
                d.first_seen = d.first_seen.min(h.first_seen);
                d.last_seen = d.last_seen.max(h.last_seen);
                index.push((*ip, i));
            }
            None => {
                if let Some(m) = mac {
                    by_mac.entry(m).or_insert(out.len());
                }
                index.push((*ip, out.len()));
                out.push(HostOut {
                    ip: *ip,
                    ips: vec![*ip],
                    name: devnames.name(&ip.ip(), mac.as_ref()),
                    mac: mac.as_ref().map(format_mac),
                    packets_out: c.packets_out,
                    bytes_out: c.bytes_out,
                    packets_in: c.packets_in,
                    bytes_in: c.bytes_in,
                    remotes: 0,
                    first_seen: h.first_seen,
                    last_seen: h.last_seen,
                    encrypted_dns: None,
                });
            }
        }
    }
    // Distinct remotes per device.
    let mut seen: SmallVec<[usize; 4]> = SmallVec::new();
    for (ip, r) in tables.remotes.iter() {
        seen.clear();
        let (dot, doh) = crate::coverage::encrypted_dns(ip, r, doh);
        for h in &r.hosts {
            if let Ok(k) = index.binary_search_by_key(h, |e| e.0) {
                let i = index[k].1;
                if !seen.contains(&i) {
                    seen.push(i);
                    out[i].remotes += 1;
                    if dot || doh {
                        let e = out[i].encrypted_dns.get_or_insert_default();
                        e.dot += u32::from(dot);
                        e.doh += u32::from(doh);
                        e.bytes += r.counters.total_bytes();
                    }
                }
            }
        }
    }
    out
}

/// The LAN addresses in address order (markers.json's devices, /metrics' devices).
#[inline(never)]
pub(crate) fn sorted_hosts(tables: &Tables) -> Vec<(&Addr, &crate::table::Host)> {
    let mut ips: Vec<(&Addr, &crate::table::Host)> = tables.hosts.iter().collect();
    crate::history::sort_by(&mut ips, &|a, b| a.0.cmp(b.0));
    ips
}

/// The remotes, most traffic first, then by address (IPv4 before IPv6): markers.json's
/// order, and /metrics' top remotes. Sorted as plain integers: the comparisons stay inline,
/// where a closure over the entries did not (opt-level "z").
#[inline(never)]
pub(crate) fn by_traffic(tables: &Tables) -> Vec<(&Addr, &Remote)> {
    let mut order: Vec<(std::cmp::Reverse<u64>, bool, u128, &Addr, &Remote)> = tables
        .remotes
        .iter()
        .map(|(ip, r)| {
            let total = std::cmp::Reverse(r.counters.total_bytes());
            (total, ip.is_ipv6(), ip.bits(), ip, r)
        })
        .collect();
    order.sort_unstable_by_key(|e| (e.0, e.1, e.2));
    order.into_iter().map(|e| (e.3, e.4)).collect()
}

/// What the daemon counts outside the tables: frames it could not decode, database lookups.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathStats {
    pub decode_errors: u64,
    pub geo_lookups: u64,
    pub geo_errors: u64,
}

/// Renders the document.
pub fn render(
    tables: &Tables,
    devnames: &DeviceNames,
    meta: &SnapshotMeta,
    path: &PathStats,
    now: u64,
) -> Vec<u8> {
    let hosts = devices(tables, devnames, &meta.doh);
    let remotes = by_traffic(tables);

    let s = &tables.stats;
    let n = tables.name_stats();
    let doc = Doc {
        version: SCHEMA_VERSION,
        generated: now,
        lan: meta.lan.iter().map(|n| n.to_string()).collect(),
        home: meta.home.map(|(lat, lng)| LatLng { lat, lng }),
        tiles: meta.tiles.as_deref(),
        attribution: meta.attribution.as_deref(),
        capture: CaptureInfo {
            uptime: now.saturating_sub(meta.capture.started),
            ..meta.capture.clone()
        },
        offload: &meta.offload,
        source: match &meta.conntrack {
            Some(c) if c.active => "conntrack",
            _ => "capture",
        },
        conntrack: meta.conntrack.as_ref(),
        stats: Stats {
            remotes: tables.remotes.len(),
            hosts: tables.hosts.len(),
            max_remotes: tables.max_remotes,
            max_hosts: tables.max_hosts,
            evicted_remotes: s.evicted_remotes,
            evicted_hosts: s.evicted_hosts,
            expired_remotes: s.expired_remotes,
            packets: s.packets,
            bytes: s.bytes,
            decode_errors: path.decode_errors,
            geo_lookups: path.geo_lookups,
            geo_errors: path.geo_errors,
            geo_database: meta.geo_database.as_deref(),
            names: n.pairs,
            max_names: n.max_pairs,
            names_evicted: n.evicted,
            names_learned: NamesLearned {
                dns: n.dns,
                sni: n.sni,
                http: n.http,
                quic: n.quic,
                ech_outer: n.ech_outer,
            },
            names_coverage: crate::coverage::coverage(tables),
        },
        hosts,
    };
    // Room for the typical marker up front, so the buffer is not doubled (and copied) as it
    // grows; serialising plain structs into a Vec cannot fail.
    let mut out = Vec::with_capacity(1024 + tables.remotes.len() * 320 + tables.hosts.len() * 256);
    write_doc(&mut out, &doc);
    out.extend_from_slice(b",\"markers\":");
    write_markers(&mut out, &remotes, &tables.ech_outer);
    out.push(b'}');
    out
}

/// The document up to its `markers`, written by hand exactly as serde_json writes `Doc` (a
/// test compares the two): constant keys, one loop for the plain numbers, no serde code per
/// field (nor serde_json's struct code: only its string escaping and the home's `f64`s).
fn write_doc(out: &mut Vec<u8>, d: &Doc) {
    json_fields(
        out,
        &[
            (b"{\"version\":", d.version.into()),
            (b",\"generated\":", d.generated),
        ],
    );
    out.extend_from_slice(b",\"lan\":[");
    for (i, n) in d.lan.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, Some(n));
    }
    out.extend_from_slice(b"],\"home\":");
    match &d.home {
        Some(h) => {
            out.extend_from_slice(b"{\"lat\":");
            json_f64(out, h.lat);
            out.extend_from_slice(b",\"lng\":");
            json_f64(out, h.lng);
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"tiles\":");
    json_str(out, d.tiles);
    out.extend_from_slice(b",\"attribution\":");
    json_str(out, d.attribution);
    let c = &d.capture;
    out.extend_from_slice(b",\"capture\":{\"source\":");
    json_str(out, Some(&c.source));
    out.extend_from_slice(b",\"filter\":");
    json_str(out, c.filter.as_deref());
    out.extend_from_slice(b",\"snaplen\":");
    json_opt_u64(out, c.snaplen.map(u64::from));
    out.extend_from_slice(b",\"received\":");
    json_u64(out, c.received);
    out.extend_from_slice(b",\"dropped\":");
    json_opt_u64(out, c.dropped);
    out.extend_from_slice(b",\"if_dropped\":");
    json_opt_u64(out, c.if_dropped);
    out.extend_from_slice(b",\"names\":");
    match &c.names {
        Some(n) => {
            out.extend_from_slice(b"{\"filter\":");
            json_str(out, Some(&n.filter));
            json_fields(
                out,
                &[
                    (b",\"snaplen\":", n.snaplen.into()),
                    (b",\"received\":", n.received),
                    (b",\"dropped\":", n.dropped),
                ],
            );
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"uptime\":");
    json_u64(out, c.uptime);
    let o = d.offload;
    out.extend_from_slice(b"},\"offload\":{\"detected\":");
    json_bool(out, o.detected);
    out.extend_from_slice(b",\"hardware\":");
    json_bool(out, o.hardware);
    out.extend_from_slice(b",\"source\":");
    json_str(out, o.source.as_deref());
    out.push(b'}');
    out.extend_from_slice(b",\"source\":");
    json_str(out, Some(d.source));
    out.extend_from_slice(b",\"conntrack\":");
    match d.conntrack {
        Some(c) => write_conntrack(out, c),
        None => out.extend_from_slice(b"null"),
    }
    let s = &d.stats;
    json_fields(
        out,
        &[
            (b",\"stats\":{\"remotes\":", s.remotes as u64),
            (b",\"hosts\":", s.hosts as u64),
            (b",\"max_remotes\":", s.max_remotes as u64),
            (b",\"max_hosts\":", s.max_hosts as u64),
            (b",\"evicted_remotes\":", s.evicted_remotes),
            (b",\"evicted_hosts\":", s.evicted_hosts),
            (b",\"expired_remotes\":", s.expired_remotes),
            (b",\"packets\":", s.packets),
            (b",\"bytes\":", s.bytes),
            (b",\"decode_errors\":", s.decode_errors),
            (b",\"geo_lookups\":", s.geo_lookups),
            (b",\"geo_errors\":", s.geo_errors),
        ],
    );
    out.extend_from_slice(b",\"geo_database\":");
    json_str(out, s.geo_database);
    let l = &s.names_learned;
    json_fields(
        out,
        &[
            (b",\"names\":", s.names as u64),
            (b",\"max_names\":", s.max_names as u64),
            (b",\"names_evicted\":", s.names_evicted),
            (b",\"names_learned\":{\"dns\":", l.dns),
            (b",\"sni\":", l.sni),
            (b",\"http\":", l.http),
            (b",\"quic\":", l.quic),
            (b",\"ech_outer\":", l.ech_outer),
        ],
    );
    let v = &s.names_coverage;
    json_fields(
        out,
        &[
            (b"},\"names_coverage\":{\"remotes\":", v.remotes),
            (b",\"bytes\":", v.bytes),
        ],
    );
    for (key, share) in [
        (&b",\"named\":"[..], &v.named),
        (b",\"dns\":", &v.dns),
        (b",\"sni\":", &v.sni),
        (b",\"quic\":", &v.quic),
        (b",\"host\":", &v.host),
        (b",\"ech_outer_only\":", &v.ech_outer_only),
    ] {
        out.extend_from_slice(key);
        json_fields(
            out,
            &[
                (b"{\"remotes\":", share.remotes),
                (b",\"bytes\":", share.bytes),
            ],
        );
        out.push(b'}');
    }
    out.push(b'}');
    out.extend_from_slice(b"},\"hosts\":[");
    for (i, h) in d.hosts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"ip\":");
        json_addr(out, &h.ip);
        out.extend_from_slice(b",\"ips\":");
        json_addrs(out, &h.ips);
        out.extend_from_slice(b",\"name\":");
        json_str(out, h.name);
        out.extend_from_slice(b",\"mac\":");
        json_str(out, h.mac.as_deref());
        json_fields(
            out,
            &[
                (b",\"packets_out\":", h.packets_out),
                (b",\"bytes_out\":", h.bytes_out),
                (b",\"packets_in\":", h.packets_in),
                (b",\"bytes_in\":", h.bytes_in),
                (b",\"remotes\":", h.remotes.into()),
                (b",\"first_seen\":", h.first_seen),
                (b",\"last_seen\":", h.last_seen),
            ],
        );
        if let Some(e) = &h.encrypted_dns {
            json_fields(
                out,
                &[
                    (b",\"encrypted_dns\":{\"dot\":", e.dot.into()),
                    (b",\"doh\":", e.doh.into()),
                    (b",\"bytes\":", e.bytes),
                ],
            );
            out.push(b'}');
        }
        out.push(b'}');
    }
    out.push(b']');
}

/// The `conntrack` object (`--conntrack`).
fn write_conntrack(out: &mut Vec<u8>, c: &crate::conntrack::ConntrackInfo) {
    out.extend_from_slice(b"{\"active\":");
    json_bool(out, c.active);
    out.extend_from_slice(b",\"accounting\":");
    match c.accounting {
        Some(a) => json_bool(out, a),
        None => out.extend_from_slice(b"null"),
    }
    json_fields(
        out,
        &[
            (b",\"flows\":", c.flows as u64),
            (b",\"max_flows\":", c.max_flows as u64),
            (b",\"dumps\":", c.dumps),
            (b",\"last_dump_ms\":", c.last_dump_ms),
            (b",\"last_dump_entries\":", c.last_dump_entries),
            (b",\"events\":", c.events),
            (b",\"enobufs\":", c.enobufs),
            (b",\"resyncs\":", c.resyncs),
            (b",\"without_counters\":", c.without_counters),
            (b",\"untracked\":", c.untracked),
            (b",\"parse_errors\":", c.parse_errors),
        ],
    );
    out.extend_from_slice(b",\"error\":");
    json_str(out, c.error.as_deref());
    out.push(b'}');
}

fn json_bool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

/// Keys (with their punctuation) and numbers, in order.
#[inline(never)]
fn json_fields(out: &mut Vec<u8>, fields: &[(&[u8], u64)]) {
    for (key, v) in fields {
        out.extend_from_slice(key);
        json_u64(out, *v);
    }
}

fn json_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => json_u64(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

/// An `f64` as serde_json writes it (zmij's shortest form: `52.0`, `0.5`, `1.5e-7`,
/// `1.2e+16`; null when not finite), made with core's float formatting, in the binary anyway
/// (`Display` for the shortest digits, `{:.N}` to round them as zmij does: a last-digit tie
/// to even): no second float formatter for `home`'s two numbers. A test compares the two
/// over a million values; the same bytes below 1e16 (`--home` is within ±180).
fn json_f64(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let shortest = v.to_string();
    let decimals = shortest.find('.').map_or(0, |d| shortest.len() - d - 1);
    let a = v.abs();
    let text = if a < 1e16 {
        format!("{v:.decimals$}")
    } else {
        shortest
    };
    if a == 0.0 || (1e-5..1e16).contains(&a) {
        out.extend_from_slice(text.as_bytes());
        if decimals == 0 {
            out.extend_from_slice(b".0");
        }
        return;
    }
    // d[.ddd]e-N, d[.ddd]e+N
    let body = text.trim_start_matches('-');
    let units = body.find('.').unwrap_or(body.len());
    let digits: Vec<u8> = body.bytes().filter(u8::is_ascii_digit).collect();
    let first = digits.iter().position(|&c| c != b'0').unwrap_or(0);
    let last = digits.iter().rposition(|&c| c != b'0').unwrap_or(first);
    let exp = units as i64 - 1 - first as i64;
    if v < 0.0 {
        out.push(b'-');
    }
    for (n, &c) in digits.iter().enumerate().take(last + 1).skip(first) {
        if n == first + 1 {
            out.push(b'.');
        }
        out.push(c);
    }
    out.extend_from_slice(if exp < 0 { b"e-" } else { b"e+" });
    json_u64(out, exp.unsigned_abs());
}

/// Removes temporary files that an interrupted `write_atomically` of `path` left behind (a
/// crash or kill -9 between create and rename). Called once at start.
pub fn remove_stale_temporaries(path: &std::path::Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.tmp", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        if n.starts_with(&prefix) && n[prefix.len()..].bytes().all(|b| b.is_ascii_digit()) {
            match std::fs::remove_file(e.path()) {
                Ok(()) => log::info!(
                    "removed {} (left by an interrupted save)",
                    e.path().display()
                ),
                Err(err) => log::warn!("cannot remove {}: {err}", e.path().display()),
            }
        }
    }
}

/// Writes `data` to `path` atomically: a temporary file beside it, fsync, rename, fsync dir.
/// A crash at any point leaves either the old file or the new one, never a torn one.
pub fn write_atomically(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file path"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// markers as serde_json wrote them before `write_markers` (the reference layout).
    #[derive(serde::Serialize)]
    struct MarkerRef<'a> {
        ip: Addr,
        lat: Option<f32>,
        lng: Option<f32>,
        country: Option<&'a str>,
        city: Option<&'a str>,
        asn: Option<u32>,
        org: Option<&'a str>,
        hosts: &'a [Addr],
        ports: &'a [u16],
        protocols: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        names: Vec<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name_kinds: Option<Vec<&'static str>>,
        packets_out: u64,
        bytes_out: u64,
        packets_in: u64,
        bytes_in: u64,
        first_seen: u64,
        last_seen: u64,
    }

    fn reference(remotes: &[(&Addr, &Remote)]) -> Vec<u8> {
        let v: Vec<MarkerRef> = remotes
            .iter()
            .map(|(ip, r)| {
                let geo = r.geo();
                let pos = geo.and_then(|g| g.position);
                MarkerRef {
                    ip: **ip,
                    lat: pos.map(|p| p.0),
                    lng: pos.map(|p| p.1),
                    country: geo.and_then(|g| g.country_str()),
                    city: geo.and_then(|g| g.city.as_deref()),
                    asn: geo.and_then(|g| g.asn),
                    org: geo.and_then(|g| g.org.as_deref()),
                    hosts: &r.hosts,
                    ports: &r.ports,
                    protocols: r
                        .protocols
                        .iter()
                        .map(|p| protocol_name(*p).map_or(format!("ip-{p}"), str::to_string))
                        .collect(),
                    names: r.names.iter().map(|n| &**n).collect(),
                    name_kinds: (r.name_kinds != 0).then(|| {
                        NameKind::ALL
                            .iter()
                            .filter(|k| r.name_kinds & k.bit() != 0)
                            .map(|k| k.label())
                            .collect()
                    }),
                    packets_out: r.counters.packets_out,
                    bytes_out: r.counters.bytes_out,
                    packets_in: r.counters.packets_in,
                    bytes_in: r.counters.bytes_in,
                    first_seen: r.first_seen,
                    last_seen: r.last_seen,
                }
            })
            .collect();
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn markers_are_written_exactly_as_serde_json_would() {
        use crate::geo::GeoInfo;
        use crate::table::Counters;
        use std::rc::Rc;
        let odd = [
            "Zürich",
            "quote \" back\\slash",
            "tab\tnew\nline\u{1}\u{7f}",
            "",
            "東京",
        ];
        let positions = [
            (52.52, 13.405),
            (-33.8688, 151.2093),
            (0.0, -0.0),
            (90.0, -180.0),
            (1e-5, 123.456_79),
            (f32::NAN, 1.0),
        ];
        let mut remotes = Vec::new();
        for i in 0..40usize {
            let geo = (i % 7 != 6).then(|| {
                Rc::new(GeoInfo {
                    position: Some(positions[i % positions.len()]).filter(|_| i % 5 != 4),
                    country: (i % 3 != 2).then_some(*b"DE"),
                    city: (i % 4 != 3).then(|| odd[i % odd.len()].into()),
                    asn: (i % 2 == 0).then_some(u32::MAX - i as u32),
                    org: (i % 3 == 0).then(|| odd[(i + 1) % odd.len()].into()),
                })
            });
            let ip: Addr = if i % 2 == 0 {
                Addr::from_v4_bytes([1, 2, 3, i as u8])
            } else {
                format!("2001:db8::{i:x}").parse().unwrap()
            };
            let mut r = Remote::new(1_700_000_000 + i as u64, 1_800_000_000);
            r.counters = Counters {
                packets_out: i as u64,
                bytes_out: u64::MAX - i as u64,
                packets_in: 0,
                bytes_in: 10u64.pow((i % 20) as u32),
            };
            r.hosts = (0..i % 3)
                .map(|h| Addr::from_v4_bytes([192, 168, 1, h as u8]))
                .collect();
            r.ports = (0..i % 4).map(|p| (p * 1000 + i) as u16).collect();
            r.protocols = [6u8, 17, 1, 58, 200, 0][..i % 6].iter().copied().collect();
            r.set_location(geo);
            r.names = (0..i % 3)
                .map(|n| Rc::from(odd[(n + i) % odd.len()]))
                .collect();
            r.name_kinds = (i % 32) as u8;
            remotes.push((ip, r));
        }
        let refs: Vec<(&Addr, &Remote)> = remotes.iter().map(|(a, r)| (a, r)).collect();
        let mut mine = Vec::new();
        write_markers(&mut mine, &refs, &RemoteNameTable::new(1));
        assert_eq!(
            String::from_utf8(mine).unwrap(),
            String::from_utf8(reference(&refs)).unwrap()
        );
    }

    #[test]
    fn document_is_written_exactly_as_serde_json_would() {
        let odd = "quote \" back\\slash\ttab\u{1}東京";
        let host = |i: u64, full: bool| HostOut {
            ip: Addr::from_v4_bytes([192, 168, 1, i as u8]),
            ips: (0..=i)
                .map(|n| Addr::from_v4_bytes([10, 0, 0, n as u8]))
                .collect(),
            name: full.then_some(odd),
            mac: full.then(|| "02:00:00:00:00:01".to_string()),
            packets_out: i,
            bytes_out: u64::MAX - i,
            packets_in: 3 * i,
            bytes_in: 10u64.pow(i as u32),
            remotes: u32::MAX - i as u32,
            first_seen: 1_700_000_000 + i,
            last_seen: 1_800_000_000 + i,
            encrypted_dns: full.then_some(crate::coverage::EncryptedDns {
                dot: 1,
                doh: 2,
                bytes: 3,
            }),
        };
        let share = |n: u64| crate::coverage::Share {
            remotes: n,
            bytes: u64::MAX - n,
        };
        for case in 0..3 {
            let full = case > 0;
            let offload = crate::offload::Offload {
                detected: full,
                hardware: !full,
                source: full.then(|| odd.into()),
            };
            let conntrack = crate::conntrack::ConntrackInfo {
                active: true,
                accounting: [None, Some(false), Some(true)][case],
                flows: 1,
                max_flows: usize::MAX,
                dumps: 3,
                last_dump_ms: 4,
                last_dump_entries: 5,
                events: 6,
                enobufs: 7,
                resyncs: 8,
                without_counters: 9,
                untracked: 10,
                parse_errors: u64::MAX,
                error: full.then(|| odd.into()),
            };
            let doc = Doc {
                version: SCHEMA_VERSION,
                generated: 1_765_000_000,
                lan: if full {
                    vec!["192.168.1.0/24".into(), "fd00::/64".into(), odd.into()]
                } else {
                    vec![]
                },
                home: full.then_some(LatLng {
                    lat: -33.8688,
                    lng: 151.0,
                }),
                tiles: full.then_some(odd),
                attribution: full.then_some("© OSM"),
                capture: CaptureInfo {
                    source: odd.into(),
                    filter: full.then(|| "ip or ip6".into()),
                    snaplen: full.then_some(u32::MAX),
                    received: u64::MAX,
                    dropped: full.then_some(7),
                    if_dropped: full.then_some(0),
                    names: full.then(|| NamesCapture {
                        filter: odd.into(),
                        snaplen: 1500,
                        received: 9,
                        dropped: u64::MAX,
                    }),
                    uptime: 12,
                    started: 99,
                },
                offload: &offload,
                source: if full { "conntrack" } else { "capture" },
                conntrack: (case != 1).then_some(&conntrack),
                stats: Stats {
                    remotes: 1,
                    hosts: 2,
                    max_remotes: usize::MAX,
                    max_hosts: 4,
                    evicted_remotes: 5,
                    evicted_hosts: 6,
                    expired_remotes: 7,
                    packets: 8,
                    bytes: u64::MAX,
                    decode_errors: 10,
                    geo_lookups: 11,
                    geo_errors: 12,
                    geo_database: full.then_some(odd),
                    names: 13,
                    max_names: 14,
                    names_evicted: 15,
                    names_learned: NamesLearned {
                        dns: 16,
                        sni: 17,
                        http: 18,
                        quic: 19,
                        ech_outer: 20,
                    },
                    names_coverage: crate::coverage::Coverage {
                        remotes: 21,
                        bytes: 22,
                        named: share(23),
                        dns: share(24),
                        sni: share(25),
                        quic: share(26),
                        host: share(27),
                        ech_outer_only: share(28),
                    },
                },
                hosts: (0..3).map(|i| host(i, full && i != 1)).collect(),
            };
            let mut mine = Vec::new();
            write_doc(&mut mine, &doc);
            mine.push(b'}');
            assert_eq!(
                String::from_utf8(mine).unwrap(),
                serde_json::to_string(&doc).unwrap()
            );
        }
    }

    #[test]
    fn f64_is_written_exactly_as_serde_json_would() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            52.0,
            -180.0,
            90.0,
            0.1,
            1e-5,
            9.999_999_999_999_999e-6,
            1e-6,
            -1.5e-7,
            1e15,
            1e16,
            1.5e16,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::NAN,
            f64::INFINITY,
        ];
        for j in 0..64 {
            for _ in 0..2000 {
                let r = next();
                values
                    .push(((r % 360_000_000_000) as f64 - 180_000_000_000.0) / (1u64 << j) as f64);
                values.push(((r % 360) as f64 - 180.0) + (r >> 40) as f64 / (1u64 << j) as f64);
            }
        }
        for _ in 0..250_000 {
            let r = next();
            values.push(f64::from_bits(r)); // any exponent
            values.push((r % 36_000_001) as f64 / 100_000.0 - 180.0); // --home-like decimals
            values.push((r >> 11) as f64 / (1u64 << 53) as f64 * 360.0 - 180.0);
            // any in range
        }
        for v in values.into_iter().filter(|v| v.is_nan() || v.abs() < 1e16) {
            let mut mine = Vec::new();
            json_f64(&mut mine, v);
            let serde = serde_json::to_vec(&v).unwrap();
            assert_eq!(
                String::from_utf8(mine).unwrap(),
                String::from_utf8(serde).unwrap(),
                "{v:?}"
            );
        }
    }

    #[test]
    fn empty_document_shape() {
        let t = Tables::new(10, 10);
        let meta = SnapshotMeta {
            lan: vec!["192.168.1.0/24".parse().unwrap()],
            home: Some((52.5, 13.4)),
            ..Default::default()
        };
        let stats = PathStats {
            decode_errors: 3,
            ..Default::default()
        };
        let doc = render(&t, &DeviceNames::default(), &meta, &stats, 42);
        let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(v["generated"], 42);
        assert_eq!(v["lan"][0], "192.168.1.0/24");
        assert_eq!(v["home"]["lat"], 52.5);
        assert_eq!(v["stats"]["decode_errors"], 3);
        assert!(v["tiles"].is_null());
        assert_eq!(v["markers"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn devices_merge_by_mac_across_families_only() {
        use crate::filter::{Direction, Flow, Networks};
        use crate::packet::PacketInfo;
        let nets = Networks::new(
            vec![
                "192.168.1.0/24".parse().unwrap(),
                "fd00::/64".parse().unwrap(),
            ],
            vec![],
            vec![],
        );
        let mut t = Tables::new(10, 10);
        let send = |t: &mut Tables, host: &str, remote: &str, mac: u8| {
            let p = PacketInfo {
                src: host.parse().unwrap(),
                dst: remote.parse().unwrap(),
                protocol: 6,
                ports: None,
                src_mac: Some([2, 0, 0, 0, 0, mac]),
                l4_at: 0,
                ip_at: 0,
            };
            let f = Flow {
                direction: Direction::Out,
                host: p.src,
                remote: p.dst,
                remote_port: None,
            };
            t.record(&f, &p, 100, 1, &nets);
        };
        send(&mut t, "192.168.1.2", "1.1.1.1", 1);
        send(&mut t, "fd00::2", "2001:4860::1", 1);
        send(&mut t, "fd00::3", "2001:4860::1", 1);
        // A second IPv4 address behind the same MAC: a repeater, not one device.
        send(&mut t, "192.168.1.3", "1.1.1.1", 1);
        send(&mut t, "192.168.1.4", "1.1.1.1", 4);
        let names = DeviceNames::default();
        let d = devices(&t, &names, &Default::default());
        let ips: Vec<Vec<String>> = d
            .iter()
            .map(|h| h.ips.iter().map(|i| i.to_string()).collect())
            .collect();
        assert_eq!(
            ips,
            vec![
                vec!["192.168.1.2", "fd00::2", "fd00::3"],
                vec!["192.168.1.3"],
                vec!["192.168.1.4"],
            ]
        );
        assert_eq!(d[0].remotes, 2);
        assert_eq!(d[0].packets_out, 3);
        assert_eq!(d[1].remotes, 1);
    }

    #[test]
    fn protocol_names() {
        let mut r = Remote::new(0, 0);
        r.protocols = [6, 58, 99].into_iter().collect();
        let mut out = Vec::new();
        write_marker(
            &mut out,
            &Addr::from_v4_bytes([1, 1, 1, 1]),
            &r,
            &RemoteNameTable::new(1),
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["protocols"].to_string(), r#"["tcp","icmpv6","ip-99"]"#);
        r.protocols.clear();
        out.clear();
        write_marker(
            &mut out,
            &Addr::from_v4_bytes([1, 1, 1, 1]),
            &r,
            &RemoteNameTable::new(1),
        );
        assert!(String::from_utf8(out)
            .unwrap()
            .contains(r#""protocols":[],"packets_out""#));
    }

    #[test]
    fn gzip_roundtrip_and_etag() {
        let s = Snapshot::new(b"{\"a\":1}".to_vec(), 7, 100);
        let mut out = String::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(s.gzip())
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "{\"a\":1}");
        assert_ne!(s.etag, Snapshot::new(vec![], 8, 100).etag);
    }

    #[test]
    fn atomic_write_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.json");
        write_atomically(&p, b"one").unwrap();
        write_atomically(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        assert!(write_atomically(&d.path().join("no/such/dir/x"), b"x").is_err());
    }
}
