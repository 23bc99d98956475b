//! `connmap-geodb compare FULL [FULL] TRIMMED`: measures how far a trimmed database's
//! answers are from the full database's.
//!
//! Samples (deterministic for a seed):
//! - IPv4 by address: uniform over the IPv4 space minus special-purpose ranges;
//! - IPv4 and IPv6 by network: a uniformly chosen network of the full database (outside
//!   special-purpose ranges), then a uniform address inside it. This weighs the many small
//!   networks where positions differ; an IPv6 address-uniform sample would be dominated by
//!   a few huge blocks and is not reported.
//! - well-known anycast/CDN addresses.
//!
//! For each sample: located by the full DB at all, located by the trimmed one, country
//! agreement and the distance between the two positions. Shares are of the addresses the
//! full database locates (an address the trimmed DB does not locate counts as a miss).

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
            }),
            _ => None,
        };
        self.cache.insert(off, p.clone());
        Ok(p)
    }
}

/// splitmix64.
struct Rng(u64);

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
    fn u128(&mut self) -> u128 {
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

fn measure(
    name: &str,
    addrs: &[IpAddr],
    full: &mut Db,
    trimmed: &mut Db,
) -> Result<SetStats, String> {
    let mut s = SetStats {
        name: name.into(),
        ..Default::default()
    };
    for &ip in addrs {
        s.n += 1;
        let f = full.lookup(ip)?;
        let t = trimmed.lookup(ip)?;
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

/// Runs the comparison.
pub fn run(o: &CompareOpts) -> Result<CompareReport, String> {
    if o.full.is_empty() {
        return Err("compare: no full database given".into());
    }
    let mut fulls: Vec<Db> = o
        .full
        .iter()
        .map(|p| Db::open(p))
        .collect::<Result<_, _>>()?;
    let mut trimmed = Db::open(&o.trimmed)?;
    let trimmed_bytes = std::fs::metadata(&o.trimmed).map(|m| m.len()).unwrap_or(0);
    // Which full DB answers which family: the first IPv4 tree for IPv4 (else the first
    // DB), the first IPv6 tree for IPv6.
    let v4_idx = fulls
        .iter()
        .position(|d| d.reader.metadata().ip_version == 4)
        .unwrap_or(0);
    let v6_idx = fulls
        .iter()
        .position(|d| d.reader.metadata().ip_version == 6);
    let mut rng = Rng(o.seed);
    let mut report = CompareReport {
        trimmed_bytes,
        ..Default::default()
    };
    let pb = crate::input::spinner(o.quiet, "comparing".into());
    pb.enable_steady_tick(std::time::Duration::from_millis(200));

    // IPv4 by address.
    let mut addrs = Vec::with_capacity(o.samples);
    while addrs.len() < o.samples {
        let a = u128::from(rng.next() as u32);
        if !is_special(V4, a) {
            addrs.push(to_ip(V4, a));
        }
    }
    report.sets.push(measure(
        "IPv4, uniform over addresses",
        &addrs,
        &mut fulls[v4_idx],
        &mut trimmed,
    )?);
    if let Some(i) = v6_idx {
        let mut addrs = Vec::with_capacity(o.samples);
        while addrs.len() < o.samples {
            // Uniform over 2000::/3 (global unicast).
            let a = (rng.u128() >> 3) | (1u128 << 125);
            if !is_special(V6, a) {
                addrs.push(to_ip(V6, a));
            }
        }
        report.sets.push(measure(
            "IPv6, uniform over 2000::/3",
            &addrs,
            &mut fulls[i],
            &mut trimmed,
        )?);
    }

    // By network, per family.
    let mut fams = vec![(V4, v4_idx, "IPv4, uniform over networks")];
    if let Some(i) = v6_idx {
        fams.push((V6, i, "IPv6, uniform over networks"));
    }
    for (bits, idx, name) in fams {
        let nets: Vec<(u128, u8)> = networks(&fulls[idx], bits)?
            .into_iter()
            .filter(|&(a, _)| !is_special(bits, a))
            .collect();
        if nets.is_empty() {
            continue;
        }
        let mut addrs = Vec::with_capacity(o.samples);
        while addrs.len() < o.samples {
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
        report
            .sets
            .push(measure(name, &addrs, &mut fulls[idx], &mut trimmed)?);
    }

    // Well-known addresses.
    let mut wk: Vec<IpAddr> = WELL_KNOWN.iter().filter_map(|s| s.parse().ok()).collect();
    wk.extend(o.extra.iter().copied());
    for ip in wk {
        let idx = if ip.is_ipv4() { Some(v4_idx) } else { v6_idx };
        let Some(idx) = idx else { continue };
        let f = fulls[idx].lookup(ip)?;
        let t = trimmed.lookup(ip)?;
        let km = match (&f, &t) {
            (Some(f), Some(t)) => Some(haversine_km(f.lat, f.lon, t.lat, t.lon)),
            _ => None,
        };
        report.well_known.push(WellKnown {
            ip,
            full: f,
            trimmed: t,
            km,
        });
    }
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
    let _ = writeln!(
        s,
        "{:<30} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "sample", "n", "located", "country", "≤25 km", "≤100 km", "median", "p95", "extra"
    );
    for st in &r.sets {
        let _ = writeln!(
            s,
            "{:<30} {:>8} {:>8.2}% {:>8.2}% {:>8.2}% {:>8.2}% {:>6.1} km {:>6.0} km {:>9}",
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
        "(shares of the addresses the full database locates; 'extra' = located only by the trimmed one)"
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
        if let Some(m) = min_country {
            if st.country_pct() < m {
                fails.push(format!(
                    "{}: country agreement {:.2}% < {m}%",
                    st.name,
                    st.country_pct()
                ));
            }
        }
        if let Some(m) = min_100km {
            if st.within100_pct() < m {
                fails.push(format!(
                    "{}: within 100 km {:.2}% < {m}%",
                    st.name,
                    st.within100_pct()
                ));
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
