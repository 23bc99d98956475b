//! `GET /metrics`: Prometheus text exposition format 0.0.4, or OpenMetrics 1.0.0 when the
//! client asks for it in `Accept` (Prometheus itself does).
//!
//! Two halves, so that no scrape touches the tables and no packet pays for metrics:
//! - `collect` runs on the data path at each snapshot: one pass over the tables into a small
//!   `MetricsData` (per device; the top N countries and ASNs by traffic, the rest as
//!   `other`; the opt-in top remotes; the health counters), swapped into a `MetricsCell`.
//! - `render` runs on an HTTP thread per scrape, from the latest `MetricsData`, plus what the
//!   process knows at that moment (RSS, CPU, uptime).
//!
//! Label cardinality is bounded by configuration, never by traffic: devices by
//! `--max-hosts`, countries and ASNs by `--metrics-top` (+ `other` and `unknown`), remotes by
//! `--metrics-remotes` (0, none, by default). No per-remote-address label otherwise.

use crate::devnames::{format_mac, DeviceNames};
use crate::hash::RandomState;
use crate::packet::Addr;
use crate::snapshot::{PathStats, SnapshotMeta};
use crate::table::{Counters, Tables};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// Default `--metrics-top`: countries and ASNs with their own series.
pub const DEFAULT_TOP: usize = crate::cli::defaults::METRICS_TOP;

/// Content types of the two formats.
pub const TEXT_0_0_4: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The configured bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Countries and ASNs with their own series (the rest are summed as `other`).
    pub top: usize,
    /// Remotes with their own series (most traffic first); 0: none.
    pub remotes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            top: DEFAULT_TOP,
            remotes: 0,
        }
    }
}

/// One device's series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceRow {
    /// Its name (leases, ethers, UCI) or, without one, its address.
    pub device: String,
    pub mac: String,
    pub counters: Counters,
    pub remotes: u32,
}

/// A country's or an ASN's series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupRow {
    /// ISO 3166-1 alpha-2, or AS number; `other`, `unknown`.
    pub key: String,
    /// The AS organisation (ASN rows).
    pub org: String,
    /// The country's centroid (country rows with a known centroid), in hundredths of a degree.
    pub position: Option<(i16, i16)>,
    pub counters: Counters,
    pub remotes: u32,
}

/// An opt-in per-remote series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteRow {
    pub remote: String,
    pub country: String,
    pub asn: String,
    pub name: String,
    pub counters: Counters,
}

/// IPFIX exporter counters, when it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IpfixStats {
    pub records: u64,
    pub messages: u64,
    pub dropped_records: u64,
    pub send_errors: u64,
}

/// The daemon's own health, as of the snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub packets: u64,
    pub bytes: u64,
    pub received: u64,
    pub dropped: Option<u64>,
    pub if_dropped: Option<u64>,
    /// The names handle: received, dropped.
    pub names_handle: Option<(u64, u64)>,
    pub decode_errors: u64,
    pub remotes: usize,
    pub hosts: usize,
    pub names: usize,
    pub max_remotes: usize,
    pub max_hosts: usize,
    pub max_names: usize,
    pub evicted_remotes: u64,
    pub evicted_hosts: u64,
    pub evicted_names: u64,
    pub expired_remotes: u64,
    pub expired_hosts: u64,
    pub names_dns: u64,
    pub names_sni: u64,
    pub names_http: u64,
    pub geo_lookups: u64,
    pub geo_errors: u64,
    pub offload: bool,
    pub render_seconds: f64,
    pub ipfix: Option<IpfixStats>,
}

/// What a scrape renders: aggregated at the last snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsData {
    /// When the snapshot was taken (unix s; capture time for a replay); 0: none yet.
    pub generated: u64,
    pub devices: Vec<DeviceRow>,
    pub countries: Vec<GroupRow>,
    pub asns: Vec<GroupRow>,
    pub remotes: Vec<RemoteRow>,
    pub health: Health,
}

/// The latest `MetricsData`, swapped in by the data path, read by HTTP threads.
#[derive(Clone, Debug)]
pub struct MetricsCell {
    data: crate::latest::Latest<MetricsData>,
    /// Process start (unix s).
    started: u64,
}

impl Default for MetricsCell {
    fn default() -> MetricsCell {
        MetricsCell {
            data: Default::default(),
            started: crate::daemon::unix_now(),
        }
    }
}

impl MetricsCell {
    pub fn get(&self) -> Arc<MetricsData> {
        self.data.get()
    }

    pub fn set(&self, d: MetricsData) {
        self.data.set(d)
    }

    /// The response body for a scrape: (content type, text).
    pub fn scrape(&self, accept: Option<&str>) -> (&'static str, String) {
        let om = wants_openmetrics(accept);
        let p = Process::now(self.started);
        let text = render(&self.get(), om, &p);
        (if om { OPENMETRICS } else { TEXT_0_0_4 }, text)
    }
}

/// Whether an `Accept` header asks for OpenMetrics (with a weight above 0).
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|tok| {
            let mut parts = tok.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            media.eq_ignore_ascii_case("application/openmetrics-text")
                && !parts.any(|p| {
                    p.replace(' ', "")
                        .to_ascii_lowercase()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                })
        })
    })
}

fn add(a: &mut Counters, b: &Counters) {
    a.packets_out += b.packets_out;
    a.bytes_out += b.bytes_out;
    a.packets_in += b.packets_in;
    a.bytes_in += b.bytes_in;
}

/// Keeps the `top` rows with most traffic (then by key), sums the rest into `other`.
fn top_n(mut rows: Vec<GroupRow>, top: usize) -> Vec<GroupRow> {
    // keys are unique: the history's one (unstable) sort will do
    crate::history::sort_by(&mut rows, &|a, b| {
        b.counters
            .total_bytes()
            .cmp(&a.counters.total_bytes())
            .then_with(|| a.key.cmp(&b.key))
    });
    if rows.len() > top {
        let mut other = GroupRow {
            key: "other".into(),
            ..Default::default()
        };
        for r in rows.drain(top..) {
            add(&mut other.counters, &r.counters);
            other.remotes += r.remotes;
        }
        rows.push(other);
    }
    rows
}

/// What a snapshot's aggregate is made from: the data path's state at the snapshot.
pub struct Sources<'a> {
    pub tables: &'a Tables,
    pub names: &'a DeviceNames,
    pub meta: &'a SnapshotMeta,
    pub path: &'a PathStats,
    pub now: u64,
    /// the snapshot's render time so far
    pub render: Duration,
}

/// One pass over the tables: the aggregate a scrape renders. Runs on the data path at each
/// snapshot; its cost is that of a pass over the remotes and hosts (a fraction of rendering
/// markers.json).
pub fn collect(sources: &Sources, limits: &Limits, ipfix: Option<IpfixStats>) -> MetricsData {
    let (tables, names, meta, path) = (sources.tables, sources.names, sources.meta, sources.path);
    let (now, render) = (sources.now, sources.render);
    // Devices: one row per (label, MAC); addresses of one named device add up, and, as on
    // the page, an unnamed device's IPv6 addresses join the IPv4 address of its MAC.
    let mut devices: Vec<DeviceRow> = Vec::with_capacity(tables.hosts.len());
    // the row of each MAC's first address; of each label and MAC (as "label\0mac": a MAC's
    // text has no NUL, so the pair is unique); of each address (sorted, as `hosts`)
    let mut first_of_mac: HashMap<[u8; 6], usize> = HashMap::new();
    let mut by_label: HashMap<Box<str>, u32> = HashMap::new();
    let mut host_row: Vec<(Addr, usize)> = Vec::with_capacity(tables.hosts.len());
    for (ip, h) in crate::snapshot::sorted_hosts(tables) {
        let mac = h.mac.or_else(|| names.mac(&ip.ip()));
        let device = match (names.name(&ip.ip(), mac.as_ref()), mac) {
            (Some(n), _) => n.to_string(),
            (None, Some(m)) if ip.is_ipv6() => first_of_mac
                .get(&m)
                .map_or_else(|| ip.to_string(), |&i| devices[i].device.clone()),
            (None, _) => ip.to_string(),
        };
        let mac_text = mac.as_ref().map(format_mac).unwrap_or_default();
        let key: Box<str> = format!("{device}\0{mac_text}").into();
        let i = *by_label.entry(key).or_insert_with(|| {
            devices.push(DeviceRow {
                device,
                mac: mac_text,
                ..Default::default()
            });
            devices.len() as u32 - 1
        }) as usize;
        if let Some(m) = mac {
            first_of_mac.entry(m).or_insert(i);
        }
        add(&mut devices[i].counters, &h.counters);
        host_row.push((*ip, i));
    }

    // keyed by code and number (u64::MAX: unknown): no allocation per remote, only per
    // country and ASN; one map type for both
    let mut countries: HashMap<u64, GroupRow, RandomState> = HashMap::default();
    let mut asns: HashMap<u64, GroupRow, RandomState> = HashMap::default();
    let mut seen: Vec<usize> = Vec::new();
    for r in tables.remotes.values() {
        seen.clear();
        for h in &r.hosts {
            if let Ok(k) = host_row.binary_search_by_key(h, |e| e.0) {
                let i = host_row[k].1;
                if !seen.contains(&i) {
                    seen.push(i);
                    devices[i].remotes += 1;
                }
            }
        }
        let geo = r.geo();
        let code = geo.and_then(|g| g.country);
        let key = code.map_or(u64::MAX, |c| u64::from(u16::from_be_bytes(c)));
        let c = countries.entry(key).or_insert_with(|| GroupRow {
            key: geo
                .and_then(|g| g.country_str())
                .unwrap_or("unknown")
                .to_string(),
            position: code.and_then(|c| super::centroids::centroid(&c)),
            ..Default::default()
        });
        add(&mut c.counters, &r.counters);
        c.remotes += 1;
        let asn = geo.and_then(|g| g.asn);
        let a = asns
            .entry(asn.map_or(u64::MAX, u64::from))
            .or_insert_with(|| GroupRow {
                key: asn.map_or_else(|| "unknown".to_string(), |n| n.to_string()),
                org: geo
                    .and_then(|g| g.org.as_deref())
                    .filter(|_| asn.is_some())
                    .unwrap_or("")
                    .to_string(),
                ..Default::default()
            });
        add(&mut a.counters, &r.counters);
        a.remotes += 1;
    }

    let mut remotes = Vec::new();
    if limits.remotes > 0 {
        // most traffic first, then by address (markers.json's order)
        let mut all = crate::snapshot::by_traffic(tables);
        all.truncate(limits.remotes);
        remotes = all
            .into_iter()
            .map(|(a, r)| {
                let geo = r.geo();
                RemoteRow {
                    remote: a.to_string(),
                    country: geo
                        .and_then(|g| g.country_str())
                        .unwrap_or("unknown")
                        .to_string(),
                    asn: geo
                        .and_then(|g| g.asn)
                        .map_or_else(|| "unknown".to_string(), |n| n.to_string()),
                    name: r.names.first().map(|n| n.to_string()).unwrap_or_default(),
                    counters: r.counters,
                }
            })
            .collect();
    }

    let s = &tables.stats;
    let c = &meta.capture;
    MetricsData {
        generated: now,
        devices,
        countries: top_n(countries.into_values().collect(), limits.top),
        asns: top_n(asns.into_values().collect(), limits.top),
        remotes,
        health: Health {
            packets: s.packets,
            bytes: s.bytes,
            received: c.received,
            dropped: c.dropped,
            if_dropped: c.if_dropped,
            names_handle: c.names.as_ref().map(|n| (n.received, n.dropped)),
            decode_errors: path.decode_errors,
            remotes: tables.remotes.len(),
            hosts: tables.hosts.len(),
            names: tables.name_stats().pairs,
            max_remotes: tables.max_remotes,
            max_hosts: tables.max_hosts,
            max_names: tables.name_stats().max_pairs,
            evicted_remotes: s.evicted_remotes,
            evicted_hosts: s.evicted_hosts,
            evicted_names: tables.name_stats().evicted,
            expired_remotes: s.expired_remotes,
            expired_hosts: s.expired_hosts,
            names_dns: tables.name_stats().dns,
            names_sni: tables.name_stats().sni,
            names_http: tables.name_stats().http,
            geo_lookups: path.geo_lookups,
            geo_errors: path.geo_errors,
            offload: meta.offload.detected,
            render_seconds: render.as_secs_f64(),
            ipfix,
        },
    }
}

/// What the process knows at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Process {
    pub now: u64,
    pub started: u64,
    pub rss_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
}

impl Process {
    pub fn now(started: u64) -> Process {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let rss_bytes = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .filter(|_| page > 0)
            .map(|pages| pages * page as u64);
        // utime and stime: fields 14 and 15, counted after the command name's closing paren.
        let cpu_seconds = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                let rest = &s[s.rfind(')')? + 1..];
                let f: Vec<&str> = rest.split_whitespace().collect();
                let u: u64 = f.get(11)?.parse().ok()?;
                let k: u64 = f.get(12)?.parse().ok()?;
                Some((u + k) as f64 / ticks.max(1) as f64)
            });
        Process {
            now: crate::daemon::unix_now(),
            started,
            rss_bytes,
            cpu_seconds,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    Info,
}

/// Writes families and samples in either format.
struct Out {
    s: String,
    om: bool,
}

impl Out {
    /// `# HELP` and `# TYPE` of a family. `name` is without `_total` / `_info`.
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let (suffix, ty) = match (kind, self.om) {
            (Kind::Counter, true) => ("", "counter"),
            (Kind::Counter, false) => ("_total", "counter"),
            (Kind::Info, true) => ("", "info"),
            (Kind::Info, false) => ("_info", "gauge"),
            (Kind::Gauge, _) => ("", "gauge"),
        };
        let _ = writeln!(self.s, "# HELP {name}{suffix} {help}");
        let _ = writeln!(self.s, "# TYPE {name}{suffix} {ty}");
    }

    /// One sample; `name` is the full sample name (with `_total` for counters).
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Value) {
        self.s.push_str(name);
        if !labels.is_empty() {
            self.s.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.s.push(',');
                }
                self.s.push_str(k);
                self.s.push_str("=\"");
                for ch in v.chars() {
                    match ch {
                        '\\' => self.s.push_str("\\\\"),
                        '"' => self.s.push_str("\\\""),
                        '\n' => self.s.push_str("\\n"),
                        c => self.s.push(c),
                    }
                }
                self.s.push('"');
            }
            self.s.push('}');
        }
        self.s.push(' ');
        match value {
            Value::U(v) => {
                let _ = write!(self.s, "{v}");
            }
            Value::F(v) if v.is_finite() => {
                let _ = write!(self.s, "{v}");
            }
            Value::F(_) => self.s.push_str("NaN"),
        }
        self.s.push('\n');
    }

    /// A family with one unlabelled sample.
    fn single(&mut self, name: &str, kind: Kind, help: &str, value: Value) {
        self.family(name, kind, help);
        self.sample(&sample_name(name, kind), &[], value);
    }

    /// A family with a sample per value of one label (`(value of label, sample)`).
    fn labelled(&mut self, family: (&str, Kind, &str), label: &str, samples: &[(&str, u64)]) {
        let (name, kind, help) = family;
        self.family(name, kind, help);
        let full = sample_name(name, kind);
        for &(v, n) in samples {
            self.sample(&full, &[(label, v)], Value::U(n));
        }
    }
}

/// A family's sample name: counters' samples end in `_total`.
fn sample_name(name: &str, kind: Kind) -> String {
    if kind == Kind::Counter {
        format!("{name}_total")
    } else {
        name.to_string()
    }
}

#[derive(Clone, Copy)]
enum Value {
    U(u64),
    F(f64),
}

/// A row of one of the traffic tables, as the render writes it: its labels, its counters
/// and its remotes. One non-generic writer for the four tables.
struct Row<'a> {
    labels: Vec<(&'static str, &'a str)>,
    counters: &'a Counters,
    remotes: u32,
}

/// Hundredths of a degree as the shortest decimal (`4254` → `42.54`, `-50` → `-0.5`, `1200`
/// → `12`): what `Display` wrote for the same value as an `f32` (up to five digits, each
/// such decimal is its `f32`'s shortest form).
fn hundredths(v: i16) -> String {
    let a = v.unsigned_abs();
    let sign = if v < 0 { "-" } else { "" };
    let (units, frac) = (a / 100, a % 100);
    match (frac % 10, frac) {
        (_, 0) => format!("{sign}{units}"),
        (0, _) => format!("{sign}{units}.{}", frac / 10),
        _ => format!("{sign}{units}.{frac:02}"),
    }
}

/// Bytes and packets by direction of each row, as one family each.
fn traffic(o: &mut Out, rows: &[Row], name: &str, kind: Kind, what: &str) {
    for (unit, pick) in [
        (
            "bytes",
            (|c: &Counters| (c.bytes_in, c.bytes_out)) as fn(&Counters) -> (u64, u64),
        ),
        ("packets", |c: &Counters| (c.packets_in, c.packets_out)),
    ] {
        let fam = format!("{name}_{unit}");
        o.family(
            &fam,
            kind,
            &format!("{unit} {what} (wire length; direction: in = to the LAN)"),
        );
        let full = sample_name(&fam, kind);
        for r in rows {
            let mut l = r.labels.clone();
            let (i, out) = pick(r.counters);
            for (dir, v) in [("in", i), ("out", out)] {
                l.push(("direction", dir));
                o.sample(&full, &l, Value::U(v));
                l.pop();
            }
        }
    }
}

/// A gauge of each row's remotes.
fn remotes_gauge(o: &mut Out, rows: &[Row], name: &str, help: &str) {
    o.family(name, Kind::Gauge, help);
    for r in rows {
        o.sample(name, &r.labels, Value::U(u64::from(r.remotes)));
    }
}

/// The exposition text (OpenMetrics when `om`).
pub fn render(d: &MetricsData, om: bool, p: &Process) -> String {
    let mut o = Out {
        s: String::with_capacity(4096 + d.devices.len() * 600 + d.asns.len() * 500),
        om,
    };
    o.family("connmap_build", Kind::Info, "connmap's version");
    o.sample(
        "connmap_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        Value::U(1),
    );
    let h = &d.health;

    // Traffic.
    let devices: Vec<Row> = d
        .devices
        .iter()
        .map(|r| Row {
            labels: vec![("device", &r.device), ("mac", &r.mac)],
            counters: &r.counters,
            remotes: r.remotes,
        })
        .collect();
    traffic(
        &mut o,
        &devices,
        "connmap_device",
        Kind::Counter,
        "a LAN device exchanged with remotes",
    );
    remotes_gauge(
        &mut o,
        &devices,
        "connmap_device_remotes",
        "distinct remotes of a LAN device in the table",
    );
    // a country's labels: `country`, and `lat`/`lng` when its centroid is known
    let positions: Vec<Option<(String, String)>> = d
        .countries
        .iter()
        .map(|r| {
            r.position
                .map(|(lat, lng)| (hundredths(lat), hundredths(lng)))
        })
        .collect();
    let countries: Vec<Row> = d
        .countries
        .iter()
        .zip(&positions)
        .map(|(r, p)| {
            let mut labels = vec![("country", r.key.as_str())];
            if let Some((lat, lng)) = p {
                labels.push(("lat", lat));
                labels.push(("lng", lng));
            }
            Row {
                labels,
                counters: &r.counters,
                remotes: r.remotes,
            }
        })
        .collect();
    traffic(
        &mut o,
        &countries,
        "connmap_country",
        Kind::Gauge,
        "exchanged with the remotes of a country now in the table (top --metrics-top, the rest as \
         country other; lat, lng: the country's centroid)",
    );
    remotes_gauge(
        &mut o,
        &countries,
        "connmap_country_remotes",
        "remotes of a country in the table",
    );
    let asns: Vec<Row> = d
        .asns
        .iter()
        .map(|r| Row {
            labels: vec![("asn", &r.key), ("org", &r.org)],
            counters: &r.counters,
            remotes: r.remotes,
        })
        .collect();
    traffic(
        &mut o,
        &asns,
        "connmap_asn",
        Kind::Gauge,
        "exchanged with the remotes of an autonomous system now in the table (top --metrics-top, \
         the rest as asn other)",
    );
    remotes_gauge(
        &mut o,
        &asns,
        "connmap_asn_remotes",
        "remotes of an autonomous system in the table",
    );
    if !d.remotes.is_empty() {
        let remotes: Vec<Row> = d
            .remotes
            .iter()
            .map(|r| Row {
                labels: vec![
                    ("remote", &r.remote),
                    ("country", &r.country),
                    ("asn", &r.asn),
                    ("name", &r.name),
                ],
                counters: &r.counters,
                remotes: 0,
            })
            .collect();
        traffic(
            &mut o,
            &remotes,
            "connmap_remote",
            Kind::Gauge,
            "exchanged with one remote address (the top --metrics-remotes)",
        );
    }

    // Health.
    o.single(
        "connmap_packets",
        Kind::Counter,
        "packets counted (between a LAN device and a remote)",
        Value::U(h.packets),
    );
    o.single(
        "connmap_bytes",
        Kind::Counter,
        "bytes counted (wire length)",
        Value::U(h.bytes),
    );
    // the capture handles: the counting one, and the names one when it runs
    let mut received = vec![("counting", h.received)];
    let mut dropped: Vec<(&str, u64)> = h.dropped.map(|v| ("counting", v)).into_iter().collect();
    if let Some((r, d)) = h.names_handle {
        received.push(("names", r));
        dropped.push(("names", d));
    }
    let rx = "packets the capture received (libpcap; a replay: frames read)";
    o.labelled(
        ("connmap_capture_received", Kind::Counter, rx),
        "handle",
        &received,
    );
    if !dropped.is_empty() {
        let help = "packets the kernel dropped for lack of buffer space (libpcap ps_drop)";
        o.labelled(
            ("connmap_capture_dropped", Kind::Counter, help),
            "handle",
            &dropped,
        );
    }
    if let Some(v) = h.if_dropped {
        o.single(
            "connmap_capture_interface_dropped",
            Kind::Counter,
            "packets the interface dropped (libpcap ps_ifdrop)",
            Value::U(v),
        );
    }
    o.single(
        "connmap_decode_errors",
        Kind::Counter,
        "frames that could not be decoded",
        Value::U(h.decode_errors),
    );
    // the bounded tables
    let tables = |v: [u64; 3]| [("remotes", v[0]), ("hosts", v[1]), ("names", v[2])];
    let size = |v: [usize; 3]| tables(v.map(|n| n as u64));
    let help = "entries in the bounded tables";
    let entries = size([h.remotes, h.hosts, h.names]);
    o.labelled(
        ("connmap_table_entries", Kind::Gauge, help),
        "table",
        &entries,
    );
    let help = "bounds of the tables (--max-remotes, --max-hosts, --max-names)";
    let limits = size([h.max_remotes, h.max_hosts, h.max_names]);
    o.labelled(("connmap_table_limit", Kind::Gauge, help), "table", &limits);
    let help = "entries evicted from a full table (least recently seen first)";
    let evicted = tables([h.evicted_remotes, h.evicted_hosts, h.evicted_names]);
    o.labelled(
        ("connmap_table_evicted", Kind::Counter, help),
        "table",
        &evicted,
    );
    let help = "entries forgotten after --retention idle";
    let expired = [("remotes", h.expired_remotes), ("hosts", h.expired_hosts)];
    o.labelled(
        ("connmap_table_expired", Kind::Counter, help),
        "table",
        &expired,
    );
    let help = "remote names learned, by source";
    let learned = [
        ("dns", h.names_dns),
        ("sni", h.names_sni),
        ("http", h.names_http),
    ];
    o.labelled(
        ("connmap_names_learned", Kind::Counter, help),
        "source",
        &learned,
    );
    o.single(
        "connmap_geo_lookups",
        Kind::Counter,
        "geo database lookups (one per new remote)",
        Value::U(h.geo_lookups),
    );
    o.single(
        "connmap_geo_errors",
        Kind::Counter,
        "geo database lookups that failed",
        Value::U(h.geo_errors),
    );
    o.single(
        "connmap_offload_detected",
        Kind::Gauge,
        "1 when flow offloading is on (byte counts are then partial)",
        Value::U(u64::from(h.offload)),
    );
    o.single(
        "connmap_render_seconds",
        Kind::Gauge,
        "time the last snapshot's markers.json took (with the geo lookups of new remotes)",
        Value::F(h.render_seconds),
    );
    o.single(
        "connmap_snapshot_timestamp_seconds",
        Kind::Gauge,
        "when the last snapshot was taken (unix time; capture time for a replay)",
        Value::U(d.generated),
    );
    if let Some(x) = &h.ipfix {
        o.single(
            "connmap_ipfix_records",
            Kind::Counter,
            "IPFIX data records sent",
            Value::U(x.records),
        );
        o.single(
            "connmap_ipfix_messages",
            Kind::Counter,
            "IPFIX messages sent",
            Value::U(x.messages),
        );
        o.single(
            "connmap_ipfix_dropped_records",
            Kind::Counter,
            "IPFIX data records dropped (queue full or send failed)",
            Value::U(x.dropped_records),
        );
        o.single(
            "connmap_ipfix_send_errors",
            Kind::Counter,
            "IPFIX messages the socket refused",
            Value::U(x.send_errors),
        );
    }
    o.single(
        "connmap_uptime_seconds",
        Kind::Gauge,
        "seconds since the daemon started",
        Value::U(p.now.saturating_sub(p.started)),
    );
    if let Some(v) = p.rss_bytes {
        o.single(
            "process_resident_memory_bytes",
            Kind::Gauge,
            "resident memory size in bytes",
            Value::U(v),
        );
    }
    if let Some(v) = p.cpu_seconds {
        o.single(
            "process_cpu_seconds",
            Kind::Counter,
            "user and system CPU time spent in seconds",
            Value::F(v),
        );
    }
    o.single(
        "process_start_time_seconds",
        Kind::Gauge,
        "start time of the process since unix epoch in seconds",
        Value::U(p.started),
    );
    if om {
        o.s.push_str("# EOF\n");
    }
    o.s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devnames::DeviceNames;
    use crate::snapshot::{PathStats, SnapshotMeta};
    use crate::table::Tables;

    fn row(key: &str, bytes: u64) -> GroupRow {
        GroupRow {
            key: key.into(),
            counters: Counters {
                bytes_out: bytes,
                packets_out: 1,
                ..Default::default()
            },
            remotes: 1,
            ..Default::default()
        }
    }

    #[test]
    fn top_n_sums_the_rest_as_other() {
        let rows = vec![row("A", 5), row("B", 50), row("C", 1), row("D", 7)];
        let t = top_n(rows, 2);
        let keys: Vec<&str> = t.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["B", "D", "other"]);
        assert_eq!(t[2].counters.bytes_out, 6);
        assert_eq!(t[2].remotes, 2);
        assert_eq!(top_n(vec![row("A", 1)], 2).len(), 1);
    }

    /// Every centroid value (±180.00) is written as `Display` wrote its `f32` before (the
    /// `f32` of the literal `42.54` is 4254 / 100 rounded once, as here).
    #[test]
    fn hundredths_are_written_as_their_f32() {
        for v in -18000..=18000i16 {
            assert_eq!(hundredths(v), (f32::from(v) / 100.0).to_string(), "{v}");
        }
    }

    #[test]
    fn accept_negotiation() {
        assert!(!wants_openmetrics(None));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
             version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(!wants_openmetrics(Some(
            "application/openmetrics-text; q=0, text/plain"
        )));
    }

    fn sample_data() -> MetricsData {
        MetricsData {
            generated: 1_700_000_000,
            devices: vec![DeviceRow {
                device: "lap\"top\\\n".into(),
                mac: "02:00:00:00:00:10".into(),
                counters: Counters {
                    packets_out: 3,
                    bytes_out: 300,
                    packets_in: 2,
                    bytes_in: 2000,
                },
                remotes: 2,
            }],
            countries: vec![GroupRow {
                key: "DE".into(),
                position: Some((5110, 1040)),
                counters: Counters {
                    bytes_in: 10,
                    ..Default::default()
                },
                remotes: 1,
                ..Default::default()
            }],
            asns: vec![row("64496", 5)],
            remotes: vec![],
            health: Health {
                dropped: Some(4),
                ipfix: Some(IpfixStats::default()),
                render_seconds: 0.0125,
                ..Default::default()
            },
        }
    }

    #[test]
    fn renders_both_formats() {
        let p = Process {
            now: 1_700_000_100,
            started: 1_700_000_000,
            rss_bytes: Some(4096),
            cpu_seconds: Some(0.5),
        };
        let t = render(&sample_data(), false, &p);
        assert!(t.contains("# TYPE connmap_device_bytes_total counter\n"));
        assert!(t.contains(
            "connmap_device_bytes_total{device=\"lap\\\"top\\\\\\n\",mac=\"02:00:00:00:00:10\",\
             direction=\"in\"} 2000\n"
        ));
        assert!(t.contains(
            "connmap_country_bytes{country=\"DE\",lat=\"51.1\",lng=\"10.4\",direction=\"in\"} 10\n"
        ));
        assert!(t.contains("connmap_build_info{version=\""));
        assert!(t.contains("connmap_capture_dropped_total{handle=\"counting\"} 4\n"));
        assert!(t.contains("connmap_uptime_seconds 100\n"));
        assert!(t.contains("connmap_render_seconds 0.0125\n"));
        assert!(!t.contains("# EOF"));
        let m = render(&sample_data(), true, &p);
        assert!(m.contains("# TYPE connmap_device_bytes counter\n"));
        assert!(m.contains("# TYPE connmap_build info\n"));
        assert!(m.ends_with("# EOF\n"));
        // HELP texts need no escaping in either format (OpenMetrics forbids a bare quote)
        for line in m.lines().filter(|l| l.starts_with("# HELP")) {
            assert!(!line.contains('"') && !line.contains('\\'), "{line}");
        }
        // every sample line belongs to the family declared last
        let mut family = String::new();
        for line in m.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split(' ').next().unwrap().to_string();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(&family), "{line} outside {family}");
            }
        }
    }

    /// Every kind of row and health field, for the golden comparison below.
    fn rich_data() -> MetricsData {
        let c = |n: u64| Counters {
            packets_out: n,
            bytes_out: n * 100 + 1,
            packets_in: n * 3,
            bytes_in: u64::MAX - n,
        };
        let mut d = sample_data();
        d.devices.push(DeviceRow {
            device: "192.168.1.20".into(),
            mac: String::new(),
            counters: c(7),
            remotes: u32::MAX,
        });
        d.countries.push(GroupRow {
            key: "unknown".into(),
            counters: c(2),
            remotes: 3,
            ..Default::default()
        });
        d.countries.push(GroupRow {
            key: "NZ".into(),
            position: Some((-4100, 17489)),
            counters: c(1),
            remotes: 1,
            ..Default::default()
        });
        d.asns.push(GroupRow {
            key: "64497".into(),
            org: "Ex\"ample\\ AS\nZürich".into(),
            counters: c(9),
            remotes: 2,
            ..Default::default()
        });
        d.remotes = vec![
            RemoteRow {
                remote: "2001:db8::1".into(),
                country: "DE".into(),
                asn: "64496".into(),
                name: "example.org".into(),
                counters: c(4),
            },
            RemoteRow {
                remote: "192.0.2.7".into(),
                country: "unknown".into(),
                asn: "unknown".into(),
                name: String::new(),
                counters: c(5),
            },
        ];
        d.health = Health {
            packets: 1,
            bytes: 2,
            received: 3,
            dropped: Some(4),
            if_dropped: Some(5),
            names_handle: Some((6, 7)),
            decode_errors: 8,
            remotes: 9,
            hosts: 10,
            names: 11,
            max_remotes: 12,
            max_hosts: 13,
            max_names: 14,
            evicted_remotes: 15,
            evicted_hosts: 16,
            evicted_names: 17,
            expired_remotes: 18,
            expired_hosts: 19,
            names_dns: 20,
            names_sni: 21,
            names_http: 22,
            geo_lookups: 23,
            geo_errors: 24,
            offload: true,
            render_seconds: std::time::Duration::new(1, 700_000_001).as_secs_f64(),
            ipfix: Some(IpfixStats {
                records: 25,
                messages: 26,
                dropped_records: 27,
                send_errors: 28,
            }),
        };
        d
    }

    /// The exposition text of every family and label, byte for byte as before the render was
    /// made smaller (src/export/metrics-golden.txt: 0.0.4 text, then OpenMetrics).
    #[test]
    fn render_is_byte_identical_to_the_golden_text() {
        let p = Process {
            now: 1_765_000_100,
            started: 1_765_000_000,
            rss_bytes: Some(5_000_000),
            cpu_seconds: Some(1234.0 / 100.0),
        };
        let mut both = render(&rich_data(), false, &p);
        both.push_str(&render(&rich_data(), true, &p));
        let lean = Process {
            rss_bytes: None,
            cpu_seconds: None,
            ..p
        };
        let mut d = sample_data();
        d.health.dropped = None;
        d.health.ipfix = None;
        both.push_str(&render(&d, false, &lean));
        if std::env::var_os("CONNMAP_WRITE_GOLDEN").is_some() {
            std::fs::write("src/export/metrics-golden.txt", &both).unwrap();
        }
        assert_eq!(both, include_str!("metrics-golden.txt"));
    }

    /// `collect` over real tables (devices joined by MAC and named from leases, countries and
    /// ASNs over the top, unknown ones, the top remotes), rendered: byte for byte as before
    /// the aggregation was made smaller (src/export/metrics-collect-golden.txt).
    #[test]
    fn collect_is_byte_identical_to_the_golden_text() {
        use crate::filter::{Direction, Flow, Networks};
        use crate::geo::GeoInfo;
        use crate::packet::PacketInfo;
        use std::rc::Rc;
        let nets = Networks::new(
            vec![
                "192.168.1.0/24".parse().unwrap(),
                "fd00::/64".parse().unwrap(),
            ],
            vec![],
            vec![],
        );
        let mut t = Tables::new(100, 100);
        let mut send = |host: &str, remote: &str, mac: Option<u8>, len: u32| {
            let p = PacketInfo {
                src: host.parse().unwrap(),
                dst: remote.parse().unwrap(),
                protocol: 6,
                ports: None,
                src_mac: mac.map(|m| [2, 0, 0, 0, 0, m]),
                l4_at: 0,
                ip_at: 0,
            };
            let f = Flow {
                direction: Direction::Out,
                host: p.src,
                remote: p.dst,
                remote_port: None,
            };
            t.record(&f, &p, len, 1, &nets);
        };
        let hosts = [
            ("192.168.1.2", Some(1)),
            ("fd00::2", Some(1)),
            ("fd00::3", Some(1)),
            ("192.168.1.3", Some(1)),
            ("192.168.1.4", Some(4)),
            ("fd00::4", Some(4)),
            ("192.168.1.5", Some(5)),
            ("192.168.1.6", Some(5)),
            ("fd00::9", Some(9)),
            ("192.168.1.7", None),
            ("fd00::7", None),
        ];
        for i in 0..24usize {
            let (host, mac) = hosts[i % hosts.len()];
            let remote = if i % 3 == 0 {
                format!("2001:4860::{i:x}")
            } else {
                format!("8.{i}.4.4")
            };
            send(host, &remote, mac, 100 + i as u32 * 37);
            let (host, mac) = hosts[(i * 7 + 3) % hosts.len()];
            send(host, &remote, mac, 60 + i as u32);
        }
        let countries = [*b"DE", *b"NZ", *b"US", *b"FR", *b"ZZ"];
        let remotes: Vec<Addr> = t.remotes.iter().map(|(a, _)| *a).collect();
        for (i, a) in remotes.iter().enumerate() {
            let geo = (i % 6 != 5).then(|| {
                Rc::new(GeoInfo {
                    position: None,
                    country: (i % 4 != 3).then_some(countries[i % countries.len()]),
                    city: None,
                    asn: (i % 5 != 4).then_some(64496 + (i % 4) as u32),
                    org: (i % 2 == 0).then(|| format!("Org \"{}\"", i % 4).into()),
                })
            });
            t.remotes.get_mut(a).unwrap().set_location(geo);
        }
        let mut names = DeviceNames::default();
        crate::devnames::parse_leases(
            "1 02:00:00:00:00:05 192.168.1.5 printer *\n\
             1 02:00:00:00:00:05 192.168.1.6 printer *\n\
             1 02:00:00:00:00:09 192.168.1.99 phone *\n",
            &mut names,
        );
        let meta = SnapshotMeta::default();
        let path = PathStats::default();
        let sources = Sources {
            tables: &t,
            names: &names,
            meta: &meta,
            path: &path,
            now: 1_765_000_000,
            render: Duration::from_millis(125),
        };
        let p = Process {
            now: 1_765_000_100,
            started: 1_765_000_000,
            ..Default::default()
        };
        let mut text = String::new();
        for limits in [Limits::default(), Limits { top: 2, remotes: 3 }] {
            let d = collect(&sources, &limits, None);
            text.push_str(&render(&d, false, &p));
        }
        if std::env::var_os("CONNMAP_WRITE_GOLDEN").is_some() {
            std::fs::write("src/export/metrics-collect-golden.txt", &text).unwrap();
        }
        assert_eq!(text, include_str!("metrics-collect-golden.txt"));
    }
}
