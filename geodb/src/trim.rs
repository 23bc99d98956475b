//! `connmap-geodb trim`: reads the inputs, merges each address family within the error
//! budget, writes the GeoIP2-City-subset database and the trim report.
//!
//! Output schema per network: `country.iso_code`, `city.names.en` (optional),
//! `location.latitude`/`location.longitude` (double), and with ASN data the top-level
//! `autonomous_system_number` (u32) and `autonomous_system_organization`.

use crate::input::{self, Net, V4, V6};
use crate::merge::{self, MergeParams};
use crate::record::RecTable;
use crate::writer::{Metadata, Value, WriteStats, Writer};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// Options of a trim run.
#[derive(Debug, Clone)]
pub struct TrimOpts {
    /// Full city databases (one with both families, or an IPv4 and an IPv6 file).
    pub inputs: Vec<PathBuf>,
    /// ASN data files (mmdb or CSV); ASN fields are written only when given.
    pub asn: Vec<PathBuf>,
    /// Output file.
    pub output: PathBuf,
    /// Coordinate precision in degrees.
    pub precision: f64,
    /// Write city names.
    pub cities: bool,
    /// Drop IPv6.
    pub ipv4_only: bool,
    /// Merging knobs (IPv4; also IPv6 unless `lambda6` is set).
    pub params: MergeParams,
    /// `lambda` for IPv6 (default: the same as IPv4).
    pub lambda6: Option<f64>,
    /// `addr_weight` for IPv6 (default: the same as IPv4).
    pub addr_weight6: Option<f64>,
    /// `country_penalty` for IPv6 (default: the same as IPv4).
    pub country_penalty6: Option<f64>,
    /// Addresses whose networks keep their exact record.
    pub keep: Vec<std::net::IpAddr>,
    /// Attribution text (metadata description "en"); derived from the inputs if `None`.
    pub attribution: Option<String>,
    /// Store identical subtrees of the search tree once (see `writer`).
    pub share_subtrees: bool,
    /// Hide the progress display.
    pub quiet: bool,
}

impl Default for TrimOpts {
    fn default() -> Self {
        TrimOpts {
            inputs: Vec::new(),
            asn: Vec::new(),
            output: PathBuf::new(),
            precision: 0.01,
            cities: true,
            ipv4_only: false,
            params: MergeParams::default(),
            lambda6: None,
            addr_weight6: None,
            country_penalty6: None,
            keep: crate::compare::WELL_KNOWN
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect(),
            attribution: None,
            share_subtrees: true,
            quiet: false,
        }
    }
}

/// Names of the presets, the first being the default.
pub const PRESETS: &[&str] = &["router", "city", "strict"];

/// Applies a named preset (sizes and accuracies measured on DB-IP in docs/geodb.md):
/// - `router` (default): ≤ 4 MB on the JFFS2 flash of 8–16 MB NOR routers for IPv4 +
///   IPv6; positions to 0.3°, no city names, lossy merging weighted by addresses (IPv4)
///   and by networks with a small address weight (IPv6).
/// - `city`: ≤ 30 MB, city names, 25 km bound, mildly lossy; for 128 MB+ NAND routers.
/// - `strict`: every network within 25 km of the full database and in its country.
pub fn apply_preset(o: &mut TrimOpts, name: &str) -> Result<(), String> {
    let base = TrimOpts {
        inputs: std::mem::take(&mut o.inputs),
        asn: std::mem::take(&mut o.asn),
        output: std::mem::take(&mut o.output),
        keep: std::mem::take(&mut o.keep),
        attribution: o.attribution.take(),
        quiet: o.quiet,
        ..TrimOpts::default()
    };
    *o = base;
    match name {
        "router" => {
            o.cities = false;
            o.precision = 0.3;
            o.params.bound_km = 100.0;
            // IPv4 by addresses: a /24 weighs 101 (100 + 1 as a network), and one network
            // written is worth 0.675 /24s of misplaced addresses. 67.5 sits just above a
            // step of the size/accuracy curve (at 67 the file is 0.45 MB larger).
            o.params.addr_weight = 100.0;
            o.params.lambda = 67.5;
            // IPv6: weighted by networks, plus a little by addresses (a /32 weighs 7.5,
            // a /16 fill block 430 000), so large blocks keep their exact record.
            o.addr_weight6 = Some(0.0001);
            o.lambda6 = Some(24.0);
        }
        "city" => {
            o.precision = 0.05;
            o.params.bound_km = 25.0;
            o.params.addr_weight = 1.0;
            o.params.lambda = 1.0;
            o.addr_weight6 = Some(0.0);
            o.lambda6 = Some(0.5);
        }
        "strict" => {}
        other => {
            return Err(format!(
                "unknown preset {other} (known: {})",
                PRESETS.join(", ")
            ))
        }
    }
    Ok(())
}

/// What a trim did.
#[derive(Debug, Clone, Default)]
pub struct TrimReport {
    /// Input networks per family (after ASN splitting and removal of special ranges).
    pub in_v4: usize,
    /// See `in_v4`.
    pub in_v6: usize,
    /// Output networks per family.
    pub out_v4: usize,
    /// See `out_v4`.
    pub out_v6: usize,
    /// Distinct input records.
    pub records_in: usize,
    /// Distinct records written.
    pub records_out: usize,
    /// File layout.
    pub stats: WriteStats,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Peak resident memory in MiB (Linux), if known.
    pub peak_rss_mib: Option<f64>,
    /// The attribution written.
    pub attribution: String,
}

/// Peak resident set size of this process in MiB, from /proc/self/status.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn rec_value(t: &RecTable, id: u32) -> Value {
    let r = t.recs[id as usize];
    let mut m: Vec<(String, Value)> = Vec::new();
    if r.city != 0 {
        m.push((
            "city".into(),
            Value::map([(
                "names",
                Value::map([("en", Value::Str(t.cities.get(r.city).into()))]),
            )]),
        ));
    }
    if !r.country().is_empty() {
        m.push((
            "country".into(),
            Value::map([("iso_code", Value::Str(r.country().into()))]),
        ));
    }
    m.push((
        "location".into(),
        Value::map([
            ("latitude", Value::F64(r.lat_deg())),
            ("longitude", Value::F64(r.lon_deg())),
        ]),
    ));
    if r.asn != 0 {
        let (num, org) = t.asns[r.asn as usize];
        m.push(("autonomous_system_number".into(), Value::U32(num)));
        if org != 0 {
            m.push((
                "autonomous_system_organization".into(),
                Value::Str(t.orgs.get(org).into()),
            ));
        }
    }
    Value::Map(m)
}

fn default_attribution(types: &[String], asn: bool, asn_mmdb: bool) -> String {
    let maxmind = types
        .iter()
        .any(|t| t.contains("GeoLite2") || t.contains("GeoIP2"));
    let mut s = if maxmind {
        "IP geolocation by MaxMind GeoLite2 (https://www.maxmind.com), trimmed by connmap-geodb"
            .to_string()
    } else {
        "IP geolocation by DB-IP (https://db-ip.com), CC BY 4.0, trimmed by connmap-geodb"
            .to_string()
    };
    if asn {
        s.push_str(if asn_mmdb {
            "; ASN data by MaxMind GeoLite2 (https://www.maxmind.com)"
        } else {
            "; ASN data by RouteViews and DB-IP (CC BY 4.0)"
        });
    }
    s
}

fn family(
    bits: u8,
    mut nets: Vec<Net>,
    asn: &mut Vec<input::AsnRange>,
    table: &mut RecTable,
    params: MergeParams,
    keep: &[u128],
) -> Result<(usize, Vec<Net>), String> {
    input::sort_and_check(bits, &mut nets)?;
    if !asn.is_empty() {
        input::clean_asn(asn);
        nets = input::overlay_asn(bits, &nets, asn, table);
    }
    input::remove_special(bits, &mut nets);
    let n_in = nets.len();
    nets.extend(input::special_nets(bits));
    nets.sort_unstable_by_key(|n| n.start);
    Ok((n_in, merge::merge(bits, &nets, table, params, keep)))
}

/// Runs a trim and writes the output file.
pub fn run(o: &TrimOpts) -> Result<TrimReport, String> {
    let t0 = Instant::now();
    if o.inputs.is_empty() {
        return Err("trim: no input database given".into());
    }
    if !(o.precision > 0.0 && o.precision <= 10.0) {
        return Err("trim: --precision must be in (0, 10] degrees".into());
    }
    let (keep4, keep6) = kept_addresses(o);
    let mut table = RecTable::new();
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    let mut infos = Vec::new();
    for path in &o.inputs {
        infos.push(input::read_city(
            path,
            &mut table,
            o.precision,
            o.cities,
            (&keep4, &keep6),
            &mut v4,
            &mut v6,
            o.quiet,
        )?);
    }
    if v4.is_empty() && v6.is_empty() {
        return Err("trim: the inputs have no networks with a position".into());
    }
    let (mut a4, mut a6) = (Vec::new(), Vec::new());
    for path in &o.asn {
        input::read_asn(path, &mut table, &mut a4, &mut a6)?;
    }
    if o.ipv4_only {
        v6.clear();
    }
    let records_in = table.recs.len();
    let pb = input::spinner(o.quiet, "merging IPv4".into());
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    let (in_v4, out4) = family(V4, v4, &mut a4, &mut table, o.params, &keep4)?;
    pb.set_message("merging IPv6");
    let p6 = MergeParams {
        lambda: o.lambda6.unwrap_or(o.params.lambda),
        addr_weight: o.addr_weight6.unwrap_or(o.params.addr_weight),
        country_penalty: o.country_penalty6.unwrap_or(o.params.country_penalty),
        ..o.params
    };
    let (in_v6, out6) = family(V6, v6, &mut a6, &mut table, p6, &keep6)?;
    pb.set_message("writing");
    let written = write_db(o, &table, &infos, [&out4, &out6])?;
    pb.finish_and_clear();
    Ok(TrimReport {
        in_v4,
        in_v6,
        out_v4: out4.len(),
        out_v6: out6.len(),
        records_in,
        records_out: written.records,
        stats: written.stats,
        seconds: t0.elapsed().as_secs_f64(),
        peak_rss_mib: peak_rss_mib(),
        attribution: written.attribution,
    })
}

/// The `--keep` addresses per family (IPv4, IPv6), sorted.
fn kept_addresses(o: &TrimOpts) -> (Vec<u128>, Vec<u128>) {
    let mut keep4: Vec<u128> = Vec::new();
    let mut keep6: Vec<u128> = Vec::new();
    for ip in &o.keep {
        match ip {
            std::net::IpAddr::V4(a) => keep4.push(u128::from(u32::from(*a))),
            std::net::IpAddr::V6(a) => keep6.push(u128::from(*a)),
        }
    }
    keep4.sort_unstable();
    keep6.sort_unstable();
    (keep4, keep6)
}

/// What `write_db` wrote.
struct Written {
    records: usize,
    stats: crate::writer::WriteStats,
    attribution: String,
}

/// Writes the merged networks (`[IPv4, IPv6]`) and their records to `o.output`, by way of a
/// temporary file renamed over it.
fn write_db(
    o: &TrimOpts,
    table: &RecTable,
    infos: &[input::InputInfo],
    [out4, out6]: [&Vec<Net>; 2],
) -> Result<Written, String> {
    let mut w = Writer::new();
    w.set_share_subtrees(o.share_subtrees);
    let mut handles: HashMap<u32, u32> = HashMap::new();
    let werr = |e: crate::writer::WriteError| format!("{}: {e}", o.output.display());
    for (bits, nets) in [(V4, out4), (V6, out6)] {
        for n in nets {
            let h = match handles.get(&n.rec) {
                Some(h) => *h,
                None => {
                    let h = w.add_record(&rec_value(table, n.rec)).map_err(werr)?;
                    handles.insert(n.rec, h);
                    h
                }
            };
            if bits == V4 {
                w.insert_v4(n.start as u32, n.len, h).map_err(werr)?;
            } else {
                w.insert(n.start, n.len, h).map_err(werr)?;
            }
        }
    }
    w.alias_v4_mapped().map_err(werr)?;
    let types: Vec<String> = infos.iter().map(|i| i.database_type.clone()).collect();
    let asn_mmdb = o
        .asn
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "mmdb"));
    let attribution = o
        .attribution
        .clone()
        .unwrap_or_else(|| default_attribution(&types, !o.asn.is_empty(), asn_mmdb));
    let meta = Metadata {
        database_type: "connmap-geodb-City".into(),
        description: vec![("en".into(), attribution.clone())],
        languages: vec!["en".into()],
        build_epoch: infos.iter().map(|i| i.build_epoch).max().unwrap_or(0),
    };
    let (bytes, stats) = w.finish(&meta).map_err(werr)?;
    let tmp = o.output.with_extension("mmdb.tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &o.output).map_err(|e| format!("{}: {e}", o.output.display()))?;
    Ok(Written {
        records: handles.len(),
        stats,
        attribution,
    })
}

/// Human-readable report of a trim.
pub fn format_report(o: &TrimOpts, r: &TrimReport) -> String {
    let mut s = String::new();
    let p = &o.params;
    let _ = writeln!(s, "connmap-geodb trim report");
    for i in &o.inputs {
        let _ = writeln!(s, "  input:          {}", i.display());
    }
    for i in &o.asn {
        let _ = writeln!(s, "  asn input:      {}", i.display());
    }
    let _ = writeln!(s, "  output:         {}", o.output.display());
    let _ = writeln!(
        s,
        "  settings:       bound {} km, lambda {} (IPv6 {}), precision {}°, cities {}, asn {}, ipv4-only {}, fill gaps {}, heavy reps {}, addr weight {} (IPv6 {}), {} kept addresses",
        p.bound_km,
        p.lambda,
        o.lambda6.unwrap_or(p.lambda),
        o.precision,
        if o.cities { "on" } else { "off" },
        if o.asn.is_empty() { "off" } else { "on" },
        o.ipv4_only,
        p.fill_gaps,
        p.heavy_candidates,
        p.addr_weight,
        o.addr_weight6.unwrap_or(p.addr_weight),
        o.keep.len()
    );
    let _ = writeln!(s, "  networks in:    {} IPv4, {} IPv6", r.in_v4, r.in_v6);
    let _ = writeln!(s, "  networks out:   {} IPv4, {} IPv6", r.out_v4, r.out_v6);
    let _ = writeln!(
        s,
        "  records:        {} distinct in, {} written",
        r.records_in, r.records_out
    );
    let _ = writeln!(
        s,
        "  size:           {} bytes ({:.2} MB): tree {} nodes ({} before sharing identical subtrees) × {} bits = {} bytes, data {} bytes",
        r.stats.total_bytes,
        r.stats.total_bytes as f64 / 1e6,
        r.stats.node_count,
        r.stats.nodes_unshared,
        r.stats.record_size,
        r.stats.tree_bytes,
        r.stats.data_bytes
    );
    let _ = writeln!(s, "  time:           {:.1} s", r.seconds);
    if let Some(m) = r.peak_rss_mib {
        let _ = writeln!(s, "  peak memory:    {m:.0} MiB");
    }
    let _ = writeln!(s, "  attribution:    {}", r.attribution);
    s
}
