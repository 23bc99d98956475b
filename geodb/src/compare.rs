//! `connmap-geodb compare FULL [FULL] TRIMMED`: measures how far a trimmed database's
//! answers are from the full database's.
//!
//! Samples (deterministic for a seed):
//! - IPv4 by address: uniform over the IPv4 space minus special-purpose ranges;
//! - IPv6 by address: uniform over the addresses the full database locates inside the
//!   unicast space IANA has allocated to the five RIRs ([`V6_RIR`]): a network of the
//!   full database is drawn with probability proportional to its number of addresses
//!   (only its part inside [`V6_RIR`] counts), then a uniform address inside that part.
//!   Outside the RIR space DB-IP fills unallocated space with huge blocks (2000::/16 is
//!   a Swiss town), which would make a sample over 2000::/3 meaningless;
//! - IPv4 and IPv6 by network: a uniformly chosen network of the full database (outside
//!   special-purpose ranges), then a uniform address inside it. This weighs the many small
//!   networks where positions differ, and is the stricter measure.
//! - well-known anycast/CDN addresses.
//!
//! For each sample: located by the full DB at all, located by the trimmed one, country
//! agreement and the distance between the two positions, and with ASN data on both sides
//! ASN agreement. Shares are of the addresses the full database locates (an address the
//! trimmed DB does not locate counts as a miss).

use crate::input::{is_special, open_mmdb, span, V4, V6};
use crate::record::{haversine_km, InRecord};
use ipnetwork::IpNetwork;
use maxminddb::{Mmap, Reader, WithinOptions};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// Well-known anycast / CDN / large-service addresses checked by `compare`.
pub const WELL_KNOWN: &[&str] = &[
    "1.1.1.1",
    "1.0.0.1",
    "8.8.8.8",
    "8.8.4.4",
    "9.9.9.9",
    "149.112.112.112",
    "208.67.222.222",
    "151.101.1.140",
    "104.16.132.229",
    "142.250.64.78",
    "13.107.21.200",
    "17.253.144.10",
    "157.240.1.35",
    "140.82.112.3",
    "185.199.108.153",
    "2001:4860:4860::8888",
    "2001:4860:4860::8844",
    "2606:4700:4700::1111",
    "2606:4700:4700::1001",
    "2620:fe::fe",
    "2620:119:35::35",
    "2a04:4e42::81",
    "2a03:2880:f10c:83:face:b00c:0:25de",
    "2607:f8b0:4004:800::200e",
    "2620:1ec:c11::200",
];

/// The IPv6 global unicast space IANA has allocated to the RIRs (IANA registry "IPv6
/// Global Unicast Address Assignments"; 2001::/23 is IANA's own special-purpose block
/// and left out). The population of "IPv6 by address" samples.
pub const V6_RIR: &[(u128, u8)] = &[
    (0x20010200000000000000000000000000, 23), // 2001:200::/23
    (0x20010400000000000000000000000000, 23), // 2001:400::/23
    (0x20010600000000000000000000000000, 23), // 2001:600::/23
    (0x20010800000000000000000000000000, 22), // 2001:800::/22
    (0x20010c00000000000000000000000000, 23), // 2001:c00::/23
    (0x20010e00000000000000000000000000, 23), // 2001:e00::/23
    (0x20011200000000000000000000000000, 23), // 2001:1200::/23
    (0x20011400000000000000000000000000, 22), // 2001:1400::/22
    (0x20011800000000000000000000000000, 23), // 2001:1800::/23
    (0x20011a00000000000000000000000000, 23), // 2001:1a00::/23
    (0x20011c00000000000000000000000000, 22), // 2001:1c00::/22
    (0x20012000000000000000000000000000, 19), // 2001:2000::/19
    (0x20014000000000000000000000000000, 23), // 2001:4000::/23
    (0x20014200000000000000000000000000, 23), // 2001:4200::/23
    (0x20014400000000000000000000000000, 23), // 2001:4400::/23
    (0x20014600000000000000000000000000, 23), // 2001:4600::/23
    (0x20014800000000000000000000000000, 23), // 2001:4800::/23
    (0x20014a00000000000000000000000000, 23), // 2001:4a00::/23
    (0x20014c00000000000000000000000000, 23), // 2001:4c00::/23
    (0x20015000000000000000000000000000, 20), // 2001:5000::/20
    (0x20018000000000000000000000000000, 19), // 2001:8000::/19
    (0x2001a000000000000000000000000000, 20), // 2001:a000::/20
    (0x2001b000000000000000000000000000, 20), // 2001:b000::/20
    (0x20030000000000000000000000000000, 18), // 2003::/18
    (0x24000000000000000000000000000000, 12), // 2400::/12
    (0x26000000000000000000000000000000, 12), // 2600::/12
    (0x26100000000000000000000000000000, 23), // 2610::/23
    (0x26200000000000000000000000000000, 23), // 2620::/23
    (0x26300000000000000000000000000000, 12), // 2630::/12
    (0x28000000000000000000000000000000, 12), // 2800::/12
    (0x2a000000000000000000000000000000, 12), // 2a00::/12
    (0x2a100000000000000000000000000000, 12), // 2a10::/12
    (0x2c000000000000000000000000000000, 12), // 2c00::/12
];

/// Options of a comparison.
#[derive(Debug, Clone)]
pub struct CompareOpts {
    /// Full databases.
    pub full: Vec<PathBuf>,
    /// Trimmed database.
    pub trimmed: PathBuf,
    /// Samples per set.
    pub samples: usize,
    /// PRNG seed.
    pub seed: u64,
    /// Extra well-known addresses.
    pub extra: Vec<IpAddr>,
    /// ASN data (mmdb or CSV, as for `trim --asn`) giving the reference ASN; without
    /// it the full database's own ASN fields are the reference, if it has any.
    pub asn: Vec<PathBuf>,
    /// Hide progress.
    pub quiet: bool,
}

/// Counts for one sample set.
#[derive(Debug, Clone, Default)]
pub struct SetStats {
    /// Name of the set.
    pub name: String,
    /// Samples drawn.
    pub n: usize,
    /// Located by the full DB.
    pub full_located: usize,
    /// Located by the trimmed DB among those the full DB locates.
    pub both: usize,
    /// Located by the trimmed DB where the full DB has nothing.
    pub only_trimmed: usize,
    /// Same country (among `full_located`).
    pub country: usize,
    /// Within 25 km.
    pub within25: usize,
    /// Within 100 km.
    pub within100: usize,
    /// Samples the full DB locates that have a reference ASN.
    pub asn_ref: usize,
    /// Of those, the trimmed DB gives the same ASN.
    pub asn_agree: usize,
    /// Samples where the trimmed DB has an ASN at all.
    pub asn_trimmed: usize,
    /// Distances of the `both` samples, sorted.
    pub dists: Vec<f64>,
}

impl SetStats {
    fn pct(&self, x: usize) -> f64 {
        if self.full_located == 0 {
            0.0
        } else {
            100.0 * x as f64 / self.full_located as f64
        }
    }
    /// Country agreement in percent.
    pub fn country_pct(&self) -> f64 {
        self.pct(self.country)
    }
    /// Share within 25 km in percent.
    pub fn within25_pct(&self) -> f64 {
        self.pct(self.within25)
    }
    /// Share within 100 km in percent.
    pub fn within100_pct(&self) -> f64 {
        self.pct(self.within100)
    }
    /// Share located by the trimmed DB in percent.
    pub fn located_pct(&self) -> f64 {
        self.pct(self.both)
    }
    /// ASN agreement in percent of the samples with a reference ASN, when both sides
    /// carry ASN data.
    pub fn asn_pct(&self) -> Option<f64> {
        (self.asn_ref > 0 && self.asn_trimmed > 0)
            .then(|| 100.0 * self.asn_agree as f64 / self.asn_ref as f64)
    }
    fn quantile(&self, q: f64) -> f64 {
        if self.dists.is_empty() {
            return f64::NAN;
        }
        self.dists[((self.dists.len() - 1) as f64 * q).round() as usize]
    }
}

/// One well-known address.
#[derive(Debug, Clone)]
pub struct WellKnown {
    /// The address.
    pub ip: IpAddr,
    /// Full DB answer.
    pub full: Option<Pos>,
    /// Trimmed DB answer.
    pub trimmed: Option<Pos>,
    /// Distance in km when both located.
    pub km: Option<f64>,
}

/// A located answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Pos {
    /// Country code.
    pub cc: String,
    /// City name.
    pub city: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Autonomous system number, if the record has one.
    pub asn: Option<u32>,
}

/// Result of a comparison.
#[derive(Debug, Clone, Default)]
pub struct CompareReport {
    /// Sample sets.
    pub sets: Vec<SetStats>,
    /// Well-known addresses.
    pub well_known: Vec<WellKnown>,
    /// Size of the trimmed file in bytes.
    pub trimmed_bytes: u64,
}

struct Db {
    reader: Reader<Mmap>,
    cache: HashMap<usize, Option<Pos>>,
    name: String,
}

impl Db {
    fn open(path: &std::path::Path) -> Result<Db, String> {
        Ok(Db {
            reader: open_mmdb(path)?,
            cache: HashMap::new(),
            name: path.display().to_string(),
        })
    }

    fn lookup(&mut self, ip: IpAddr) -> Result<Option<Pos>, String> {
        if ip.is_ipv6() && self.reader.metadata().ip_version != 6 {
            return Ok(None);
        }
        let name = &self.name;
        let lr = self
            .reader
            .lookup(ip)
            .map_err(|e| format!("{name}: lookup of {ip} failed ({e})"))?;
        let Some(off) = lr.offset() else {
            return Ok(None);
        };
        if let Some(p) = self.cache.get(&off) {
            return Ok(p.clone());
        }
        let r: InRecord = lr
            .decode()
            .map_err(|e| format!("{name}: corrupt MaxMind DB ({e})"))?
            .unwrap_or_default();
        let p = match (r.latitude, r.longitude) {
            (Some(lat), Some(lon)) => Some(Pos {
                cc: r.country.unwrap_or_default(),
                city: r.city.unwrap_or_default(),
                lat,
                lon,
                asn: r.asn,
            }),
            _ => None,
        };
        self.cache.insert(off, p.clone());
        Ok(p)
    }
}

/// splitmix64.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Next 128 random bits.
    pub fn u128(&mut self) -> u128 {
        (u128::from(self.next()) << 64) | u128::from(self.next())
    }
}

fn to_ip(bits: u8, a: u128) -> IpAddr {
    if bits == V4 {
        IpAddr::V4(Ipv4Addr::from(a as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(a))
    }
}

/// The full DB's networks of a family (start, prefix length).
fn networks(db: &Db, bits: u8) -> Result<Vec<(u128, u8)>, String> {
    let mut v = Vec::new();
    let md = db.reader.metadata();
    let cidr: IpNetwork = if bits == V4 {
        "0.0.0.0/0".parse().map_err(|_| "bad cidr")?
    } else if md.ip_version == 6 {
        "::/0".parse().map_err(|_| "bad cidr")?
    } else {
        return Ok(v);
    };
    let name = &db.name;
    let iter = db
        .reader
        .within(cidr, WithinOptions::default())
        .map_err(|e| format!("{name}: {e}"))?;
    for res in iter {
        let lr = res.map_err(|e| format!("{name}: corrupt MaxMind DB ({e})"))?;
        match lr.network().map_err(|e| format!("{name}: {e}"))? {
            IpNetwork::V4(n) if bits == V4 => {
                v.push((u128::from(u32::from(n.network())), n.prefix()))
            }
            IpNetwork::V6(n) if bits == V6 => {
                let a = u128::from(n.network());
                if (a >> 32) != 0 && (a >> 32) != 0xffff {
                    v.push((a, n.prefix()));
                }
            }
            _ => {}
        }
    }
    Ok(v)
}

/// Reference ASNs from ASN data files: sorted, disjoint ranges per family.
#[derive(Debug, Default)]
pub struct AsnRef {
    v4: Vec<(u128, u128, u32)>,
    v6: Vec<(u128, u128, u32)>,
}

impl AsnRef {
    /// Reads ASN data files (GeoLite2-ASN mmdb or `start,end,asn,org` CSV).
    pub fn load(paths: &[PathBuf]) -> Result<AsnRef, String> {
        let mut table = crate::record::RecTable::new();
        let (mut a4, mut a6) = (Vec::new(), Vec::new());
        for p in paths {
            crate::input::read_asn(p, &mut table, &mut a4, &mut a6)?;
        }
        let conv = |mut v: Vec<crate::input::AsnRange>| {
            crate::input::clean_asn(&mut v);
            v.iter()
                .map(|r| (r.start, r.end, table.asns[r.asn as usize].0))
                .collect()
        };
        Ok(AsnRef {
            v4: conv(a4),
            v6: conv(a6),
        })
    }

    /// The AS number of an address, if the data has one.
    pub fn get(&self, ip: IpAddr) -> Option<u32> {
        let (v, a) = match ip {
            IpAddr::V4(a) => (&self.v4, u128::from(u32::from(a))),
            IpAddr::V6(a) => (&self.v6, u128::from(a)),
        };
        let i = v.partition_point(|r| r.0 <= a);
        (i > 0 && a <= v[i - 1].1).then(|| v[i - 1].2)
    }
}

fn measure(
    name: &str,
    addrs: &[IpAddr],
    full: &mut Db,
    trimmed: &mut Db,
    asn: Option<&AsnRef>,
) -> Result<SetStats, String> {
    let mut s = SetStats {
        name: name.into(),
        ..Default::default()
    };
    for &ip in addrs {
        s.n += 1;
        let f = full.lookup(ip)?;
        let t = trimmed.lookup(ip)?;
        if let Some(f) = &f {
            let reference = match asn {
                Some(a) => a.get(ip),
                None => f.asn,
            };
            let got = t.as_ref().and_then(|t| t.asn);
            if got.is_some() {
                s.asn_trimmed += 1;
            }
            if let Some(r) = reference {
                s.asn_ref += 1;
                if got == Some(r) {
                    s.asn_agree += 1;
                }
            }
        }
        match (f, t) {
            (Some(f), Some(t)) => {
                s.full_located += 1;
                s.both += 1;
                if f.cc == t.cc {
                    s.country += 1;
                }
                let d = haversine_km(f.lat, f.lon, t.lat, t.lon);
                if d <= 25.0 {
                    s.within25 += 1;
                }
                if d <= 100.0 {
                    s.within100 += 1;
                }
                s.dists.push(d);
            }
            (Some(_), None) => s.full_located += 1,
            (None, Some(_)) => s.only_trimmed += 1,
            (None, None) => {}
        }
    }
    s.dists.sort_unstable_by(f64::total_cmp);
    Ok(s)
}

/// The parts of `nets` (IPv6 networks) inside [`V6_RIR`], as (start, number of
/// addresses), in address order.
pub fn rir_pieces(nets: &[(u128, u8)]) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    for &(a, len) in nets {
        for &(r, rlen) in V6_RIR {
            if len >= rlen {
                // The network inside the RIR prefix?
                if (a ^ r) >> (128 - u32::from(rlen)) == 0 {
                    out.push((a, span(V6, len)));
                }
            } else if (a ^ r) >> (128 - u32::from(len)) == 0 {
                // The network contains the RIR prefix.
                out.push((r, span(V6, rlen)));
            }
        }
    }
    out.sort_unstable();
    out
}

/// `n` addresses uniform over the union of `pieces` (start, number of addresses).
pub fn sample_pieces(pieces: &[(u128, u128)], n: usize, rng: &mut Rng) -> Vec<u128> {
    let mut cum = Vec::with_capacity(pieces.len());
    let mut total: u128 = 0;
    for &(_, size) in pieces {
        total += size;
        cum.push(total);
    }
    if total == 0 {
        return Vec::new();
    }
    (0..n)
        .map(|_| {
            // The modulo bias is below total / 2^128, negligible for IPv6 sizes.
            let x = rng.u128() % total;
            let i = cum.partition_point(|&c| c <= x);
            let before = cum[i] - pieces[i].1;
            pieces[i].0 + (x - before)
        })
        .collect()
}

/// The databases compared: the full ones (which answers which family) and the trimmed one.
struct Dbs {
    fulls: Vec<Db>,
    trimmed: Db,
    /// The full DB that answers IPv4 (the first IPv4 tree, else the first DB) and IPv6 (the
    /// first IPv6 tree).
    v4: usize,
    v6: Option<usize>,
}

impl Dbs {
    fn open(o: &CompareOpts) -> Result<Dbs, String> {
        if o.full.is_empty() {
            return Err("compare: no full database given".into());
        }
        let fulls: Vec<Db> = (o.full.iter())
            .map(|p| Db::open(p))
            .collect::<Result<_, _>>()?;
        let trimmed = Db::open(&o.trimmed)?;
        // The whole-file check of the `maxminddb` crate (tree structure, every record
        // decodes, no stray data): a trimmed database must pass it, its search tree being a
        // DAG.
        trimmed.reader.verify().map_err(|e| {
            format!(
                "{}: fails the maxminddb crate's verify() ({e})",
                o.trimmed.display()
            )
        })?;
        let version = |d: &Db| d.reader.metadata().ip_version;
        let v4 = fulls.iter().position(|d| version(d) == 4).unwrap_or(0);
        let v6 = fulls.iter().position(|d| version(d) == 6);
        Ok(Dbs {
            fulls,
            trimmed,
            v4,
            v6,
        })
    }

    /// The families to compare, each with the index of the full DB that answers it.
    fn families(&self) -> Vec<(u8, usize)> {
        let mut fams = vec![(V4, self.v4)];
        fams.extend(self.v6.map(|i| (V6, i)));
        fams
    }

    /// One set of addresses looked up in full DB `idx` and the trimmed one.
    fn measure(
        &mut self,
        name: &str,
        idx: usize,
        addrs: &[IpAddr],
        asn: Option<&AsnRef>,
    ) -> Result<SetStats, String> {
        measure(name, addrs, &mut self.fulls[idx], &mut self.trimmed, asn)
    }
}

/// `n` IPv4 addresses uniform over the address space, outside special-purpose ranges.
fn uniform_v4(n: usize, rng: &mut Rng) -> Vec<IpAddr> {
    let mut addrs = Vec::with_capacity(n);
    while addrs.len() < n {
        let a = u128::from(rng.next() as u32);
        if !is_special(V4, a) {
            addrs.push(to_ip(V4, a));
        }
    }
    addrs
}

/// `n` addresses of family `bits`: a network of `nets` at random, then an address in it.
fn uniform_over_networks(bits: u8, nets: &[(u128, u8)], n: usize, rng: &mut Rng) -> Vec<IpAddr> {
    let mut addrs = Vec::with_capacity(n);
    while addrs.len() < n {
        let (start, len) = nets[rng.below(nets.len())];
        let sp = span(bits, len);
        let off = if sp == u128::MAX {
            rng.u128()
        } else {
            rng.u128() & (sp - 1)
        };
        let a = start | off;
        if !is_special(bits, a) {
            addrs.push(to_ip(bits, a));
        }
    }
    addrs
}

/// The well-known addresses (and `extra`) in both databases, with the distance between the
/// two answers.
fn well_known(dbs: &mut Dbs, extra: &[IpAddr]) -> Result<Vec<WellKnown>, String> {
    let mut out = Vec::new();
    let mut wk: Vec<IpAddr> = WELL_KNOWN.iter().filter_map(|s| s.parse().ok()).collect();
    wk.extend(extra.iter().copied());
    for ip in wk {
        let idx = if ip.is_ipv4() { Some(dbs.v4) } else { dbs.v6 };
        let Some(idx) = idx else { continue };
        let f = dbs.fulls[idx].lookup(ip)?;
        let t = dbs.trimmed.lookup(ip)?;
        let km = match (&f, &t) {
            (Some(f), Some(t)) => Some(haversine_km(f.lat, f.lon, t.lat, t.lon)),
            _ => None,
        };
        out.push(WellKnown {
            ip,
            full: f,
            trimmed: t,
            km,
        });
    }
    Ok(out)
}

/// Runs the comparison: uniform over addresses (IPv4; IPv6 over the RIR space the full
/// database locates), uniform over networks per family, and the well-known addresses.
pub fn run(o: &CompareOpts) -> Result<CompareReport, String> {
    let mut dbs = Dbs::open(o)?;
    let asn_ref = if o.asn.is_empty() {
        None
    } else {
        Some(AsnRef::load(&o.asn)?)
    };
    let asn = asn_ref.as_ref();
    let mut rng = Rng(o.seed);
    let mut report = CompareReport {
        trimmed_bytes: std::fs::metadata(&o.trimmed).map(|m| m.len()).unwrap_or(0),
        ..Default::default()
    };
    let pb = crate::input::spinner(o.quiet, "comparing".into());
    pb.enable_steady_tick(std::time::Duration::from_millis(200));

    // The full databases' networks per family, outside special-purpose ranges.
    let fams = dbs.families();
    let mut nets_of = Vec::new();
    for &(bits, idx) in &fams {
        let nets: Vec<(u128, u8)> = networks(&dbs.fulls[idx], bits)?
            .into_iter()
            .filter(|&(a, _)| !is_special(bits, a))
            .collect();
        nets_of.push(nets);
    }

    let addrs = uniform_v4(o.samples, &mut rng);
    let set = dbs.measure("IPv4, uniform over addresses", dbs.v4, &addrs, asn)?;
    report.sets.push(set);
    if let Some(i) = dbs.v6 {
        let pieces = rir_pieces(&nets_of[1]);
        let addrs: Vec<IpAddr> = sample_pieces(&pieces, o.samples, &mut rng)
            .into_iter()
            .map(|a| to_ip(V6, a))
            .collect();
        if !addrs.is_empty() {
            let set = dbs.measure("IPv6, uniform over addresses", i, &addrs, asn)?;
            report.sets.push(set);
        }
    }
    for (nets, &(bits, idx)) in nets_of.iter().zip(&fams) {
        if nets.is_empty() {
            continue;
        }
        let name = if bits == V4 {
            "IPv4, uniform over networks"
        } else {
            "IPv6, uniform over networks"
        };
        let addrs = uniform_over_networks(bits, nets, o.samples, &mut rng);
        report.sets.push(dbs.measure(name, idx, &addrs, asn)?);
    }
    report.well_known = well_known(&mut dbs, &o.extra)?;
    pb.finish_and_clear();
    Ok(report)
}

/// Human-readable report.
pub fn format_report(r: &CompareReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "trimmed database: {} bytes ({:.2} MB)",
        r.trimmed_bytes,
        r.trimmed_bytes as f64 / 1e6
    );
    let with_asn = r.sets.iter().any(|st| st.asn_pct().is_some());
    let _ = writeln!(
        s,
        "{:<30} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}{}",
        "sample",
        "n",
        "located",
        "country",
        "≤25 km",
        "≤100 km",
        "median",
        "p95",
        "extra",
        if with_asn { "       ASN" } else { "" }
    );
    for st in &r.sets {
        let asn = match (with_asn, st.asn_pct()) {
            (false, _) => String::new(),
            (true, Some(p)) => format!(" {p:>8.2}%"),
            (true, None) => format!(" {:>9}", "-"),
        };
        let _ = writeln!(
            s,
            "{:<30} {:>8} {:>8.2}% {:>8.2}% {:>8.2}% {:>8.2}% {:>6.1} km {:>6.0} km {:>9}{asn}",
            st.name,
            st.n,
            st.located_pct(),
            st.country_pct(),
            st.within25_pct(),
            st.within100_pct(),
            st.quantile(0.5),
            st.quantile(0.95),
            st.only_trimmed
        );
    }
    let _ = writeln!(
        s,
        "(shares of the addresses the full database locates; 'extra' = located only by the trimmed one{})",
        if with_asn {
            "; ASN = same AS number, of those with a reference ASN"
        } else {
            ""
        }
    );
    let _ = writeln!(s, "well-known addresses:");
    let fmt_pos = |p: &Option<Pos>| match p {
        Some(p) => format!("{} {} ({:.2}, {:.2})", p.cc, p.city, p.lat, p.lon),
        None => "-".into(),
    };
    for w in &r.well_known {
        let _ = writeln!(
            s,
            "  {:<36} {:<40} → {:<40} {}",
            w.ip.to_string(),
            fmt_pos(&w.full),
            fmt_pos(&w.trimmed),
            match w.km {
                Some(k) => format!("{k:.1} km"),
                None => "not located".into(),
            }
        );
    }
    s
}

/// Checks requirements; returns the failures.
pub fn check(
    r: &CompareReport,
    min_country: Option<f64>,
    min_100km: Option<f64>,
    well_known_km: Option<f64>,
) -> Vec<String> {
    let mut fails = Vec::new();
    for st in r.sets.iter().filter(|s| s.full_located > 0) {
        let measured = [
            ("country agreement", min_country, st.country_pct()),
            ("within 100 km", min_100km, st.within100_pct()),
        ];
        for (what, min, pct) in measured {
            if let Some(m) = min.filter(|&m| pct < m) {
                fails.push(format!("{}: {what} {pct:.2}% < {m}%", st.name));
            }
        }
    }
    if let Some(km) = well_known_km {
        for w in &r.well_known {
            match (w.full.is_some(), w.km) {
                (true, None) => fails.push(format!("{}: not located", w.ip)),
                (true, Some(d)) if d > km => {
                    fails.push(format!("{}: {d:.1} km from the full database", w.ip))
                }
                _ => {}
            }
        }
    }
    fails
}
