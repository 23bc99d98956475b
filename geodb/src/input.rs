//! Reading the inputs: full MaxMind-format city databases (DB-IP flat schema or GeoIP2
//! schema, IPv4 or IPv6 trees) and ASN data (GeoLite2-ASN mmdb or ip-location-db's
//! `start,end,asn,org` CSV), into sorted lists of networks per address family.
//!
//! Addresses are `u128` in both families; a prefix length is relative to the family's
//! width (32 or 128). IPv6 networks inside `::/96` and `::ffff:0:0/96` (IPv4 and its
//! aliases) are skipped: IPv4 comes from the IPv4 tree.

use crate::record::{InRecord, RecTable};
use ipnetwork::IpNetwork;
use maxminddb::{Mmap, Reader, WithinOptions};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

/// A network (prefix) with a record id; `len` is relative to the family width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    /// First address.
    pub start: u128,
    /// Prefix length.
    pub len: u8,
    /// Record id in [`RecTable`].
    pub rec: u32,
}

impl Net {
    /// Last address of the network in a family of `bits` bits.
    pub fn end(&self, bits: u8) -> u128 {
        self.start + (span(bits, self.len) - 1)
    }
}

/// Number of addresses of a prefix of length `len`, saturating at `u128::MAX` for ::/0.
pub fn span(bits: u8, len: u8) -> u128 {
    let host = u32::from(bits - len);
    if host >= 128 {
        u128::MAX
    } else {
        1u128 << host
    }
}

/// Family width in bits.
pub const V4: u8 = 32;
/// Family width in bits.
pub const V6: u8 = 128;

/// Facts about one input database.
#[derive(Debug, Clone, Default)]
pub struct InputInfo {
    /// Path as given.
    pub path: String,
    /// Metadata `database_type`.
    pub database_type: String,
    /// Metadata `build_epoch`.
    pub build_epoch: u64,
    /// IPv4 networks read.
    pub v4: usize,
    /// IPv6 networks read.
    pub v6: usize,
    /// Networks without a usable position (skipped).
    pub no_position: usize,
    /// Distinct data records decoded.
    pub distinct_records: usize,
}

/// Opens a MaxMind DB with a clear error for anything that is not one.
pub fn open_mmdb(path: &Path) -> Result<Reader<Mmap>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    // SAFETY: the file is only read; connmap-geodb never writes its inputs while they
    // are open, and the reader lives no longer than this process's use of it.
    unsafe { Reader::open_mmap(path) }
        .map_err(|e| format!("{}: not a MaxMind DB ({e})", path.display()))
}

/// Progress bar on standard error for `len` steps (hidden when not a terminal or quiet).
pub fn bar(quiet: bool, len: u64, msg: String) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {percent:>3}% {human_pos}/{human_len} [{elapsed}, eta {eta}]",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg);
    pb
}

/// Progress spinner on standard error (hidden when it is not a terminal or when quiet).
pub fn spinner(quiet: bool, msg: String) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new_spinner();
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {msg} {human_pos} [{elapsed}]")
    {
        pb.set_style(style);
    }
    pb.set_message(msg);
    pb
}

fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// True for IPv6 addresses inside `::/96` or `::ffff:0:0/96`.
fn is_v4_region(a: u128) -> bool {
    (a >> 32) == 0 || (a >> 32) == 0xffff
}

/// Positions of the networks holding a kept address are read to this precision (degrees)
/// whatever `--precision` is: those networks keep their exact record.
pub const KEPT_PRECISION: f64 = 0.01;

/// True when a network `start/len` of a `bits`-bit family holds one of `kept` (sorted).
fn holds_kept(kept: &[u128], bits: u8, start: u128, len: u8) -> bool {
    let span = u32::from(bits - len);
    let end = start
        | if span >= 128 {
            u128::MAX
        } else {
            (1u128 << span) - 1
        };
    let i = kept.partition_point(|&k| k < start);
    kept.get(i).is_some_and(|&k| k <= end)
}

/// Reads every network of a city database into `v4`/`v6`. Networks holding an address
/// of `keep4`/`keep6` (sorted; IPv4 as 32-bit numbers) get records to [`KEPT_PRECISION`].
#[allow(clippy::too_many_arguments)]
pub fn read_city(
    path: &Path,
    table: &mut RecTable,
    precision: f64,
    cities: bool,
    (keep4, keep6): (&[u128], &[u128]),
    v4: &mut Vec<Net>,
    v6: &mut Vec<Net>,
    quiet: bool,
) -> Result<InputInfo, String> {
    let reader = open_mmdb(path)?;
    let m = reader.metadata();
    let mut info = InputInfo {
        path: path.display().to_string(),
        database_type: m.database_type.clone(),
        build_epoch: m.build_epoch,
        ..Default::default()
    };
    let corrupt =
        |e: maxminddb::MaxMindDbError| format!("{}: corrupt MaxMind DB ({e})", path.display());
    // A tree without empty slots has one network more than nodes: a good bar length.
    let pb = bar(
        quiet,
        u64::from(m.node_count) + 1,
        format!("reading {}", path.display()),
    );
    let mut cache: HashMap<usize, Option<u32>> = HashMap::new();
    let iter = reader.networks(WithinOptions::default()).map_err(corrupt)?;
    for (i, res) in iter.enumerate() {
        let lr = res.map_err(corrupt)?;
        if i % 65536 == 0 {
            pb.set_position(i as u64);
        }
        let Some(off) = lr.offset() else { continue };
        let net = lr.network().map_err(corrupt)?;
        let kept = match net {
            IpNetwork::V4(n) => holds_kept(keep4, 32, ip_to_u128(n.network().into()), n.prefix()),
            IpNetwork::V6(n) => holds_kept(keep6, 128, ip_to_u128(n.network().into()), n.prefix()),
        };
        let rec = match cache.get(&off) {
            Some(r) if !kept => *r,
            _ => {
                let r: InRecord = lr.decode().map_err(corrupt)?.unwrap_or_default();
                if kept {
                    table.from_input(&r, precision.min(KEPT_PRECISION), cities)
                } else {
                    let id = table.from_input(&r, precision, cities);
                    cache.insert(off, id);
                    id
                }
            }
        };
        let Some(rec) = rec else {
            info.no_position += 1;
            continue;
        };
        match net {
            IpNetwork::V4(n) => {
                v4.push(Net {
                    start: ip_to_u128(IpAddr::V4(n.network())),
                    len: n.prefix(),
                    rec,
                });
                info.v4 += 1;
            }
            IpNetwork::V6(n) => {
                let start = ip_to_u128(IpAddr::V6(n.network()));
                if is_v4_region(start) {
                    continue;
                }
                v6.push(Net {
                    start,
                    len: n.prefix(),
                    rec,
                });
                info.v6 += 1;
            }
        }
    }
    pb.finish_and_clear();
    info.distinct_records = cache.len();
    Ok(info)
}

/// An address range with an ASN id (see [`RecTable::asns`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsnRange {
    /// First address.
    pub start: u128,
    /// Last address.
    pub end: u128,
    /// ASN id.
    pub asn: u32,
}

/// Splits one CSV line into fields (double quotes with `""` escapes).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Reads ASN data: a GeoLite2-ASN style mmdb, or a CSV of `start,end,asn,org` lines. Returns
/// how many ranges were read.
pub fn read_asn(
    path: &Path,
    table: &mut RecTable,
    v4: &mut Vec<AsnRange>,
    v6: &mut Vec<AsnRange>,
) -> Result<usize, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let is_mmdb = bytes
        .windows(14)
        .rev()
        .take(128 * 1024)
        .any(|w| w == b"\xab\xcd\xefMaxMind.com");
    let before = v4.len() + v6.len();
    let mut push = |r: AsnRange, is_v4: bool| if is_v4 { v4.push(r) } else { v6.push(r) };
    if is_mmdb || path.extension().is_some_and(|e| e == "mmdb") {
        drop(bytes);
        read_asn_mmdb(path, table, &mut push)?;
    } else {
        let text = String::from_utf8(bytes).map_err(|_| {
            format!(
                "{}: neither a MaxMind DB nor a UTF-8 CSV file",
                path.display()
            )
        })?;
        read_asn_csv(path, &text, table, &mut push)?;
    }
    Ok(v4.len() + v6.len() - before)
}

/// The networks of a GeoLite2-ASN style mmdb that have an AS number, to `push(range, is_v4)`
/// (IPv6 networks inside the IPv4 region left out: the IPv4 ones say the same).
fn read_asn_mmdb(
    path: &Path,
    table: &mut RecTable,
    push: &mut impl FnMut(AsnRange, bool),
) -> Result<(), String> {
    let reader = open_mmdb(path)?;
    let corrupt =
        |e: maxminddb::MaxMindDbError| format!("{}: corrupt MaxMind DB ({e})", path.display());
    // interned AS by record offset: networks share records
    let mut cache: HashMap<usize, u32> = HashMap::new();
    for res in reader.networks(WithinOptions::default()).map_err(corrupt)? {
        let lr = res.map_err(corrupt)?;
        let Some(off) = lr.offset() else { continue };
        let asn = match cache.get(&off) {
            Some(a) => *a,
            None => {
                let r: InRecord = lr.decode().map_err(corrupt)?.unwrap_or_default();
                let a = match r.asn {
                    Some(num) => table.intern_asn(num, r.asn_org.as_deref().unwrap_or("")),
                    None => 0,
                };
                cache.insert(off, a);
                a
            }
        };
        if asn == 0 {
            continue;
        }
        let (start, bits, len, is_v4) = match lr.network().map_err(corrupt)? {
            IpNetwork::V4(net) => (u128::from(u32::from(net.network())), V4, net.prefix(), true),
            IpNetwork::V6(net) => (u128::from(net.network()), V6, net.prefix(), false),
        };
        if !is_v4 && is_v4_region(start) {
            continue;
        }
        let end = start + (span(bits, len) - 1);
        push(AsnRange { start, end, asn }, is_v4);
    }
    Ok(())
}

/// The `start,end,asn,org` lines of a CSV file's `text` to `push(range, is_v4)`. A first line
/// that is not data is a header; any later one is an error naming its line.
fn read_asn_csv(
    path: &Path,
    text: &str,
    table: &mut RecTable,
    push: &mut impl FnMut(AsnRange, bool),
) -> Result<(), String> {
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| {
            format!(
                "{}:{}: {what} (expected start,end,asn,org with IP addresses)",
                path.display(),
                lineno + 1
            )
        };
        let f = csv_fields(line);
        let ends = f
            .get(..2)
            .map(|f| (f[0].trim().parse(), f[1].trim().parse()));
        let (a, b): (IpAddr, IpAddr) = match ends {
            Some((Ok(a), Ok(b))) if f.len() >= 3 => (a, b),
            _ if lineno == 0 => continue, // a header line
            _ if f.len() < 3 => return Err(bad("too few fields")),
            _ => return Err(bad("not an IP address")),
        };
        let asn: u32 = f[2].trim().parse().map_err(|_| bad("bad AS number"))?;
        let org = f.get(3).map(|s| s.trim()).unwrap_or("");
        let (start, end) = (ip_to_u128(a), ip_to_u128(b));
        if start > end || a.is_ipv4() != b.is_ipv4() {
            return Err(bad("start after end or mixed families"));
        }
        let asn = table.intern_asn(asn, org);
        push(AsnRange { start, end, asn }, a.is_ipv4());
    }
    Ok(())
}

/// Calls `f(start, len)` for the minimal list of prefixes covering `[a, b]`.
pub fn range_to_prefixes(bits: u8, mut a: u128, b: u128, mut f: impl FnMut(u128, u8)) {
    loop {
        let align = if a == 0 {
            u32::from(bits)
        } else {
            a.trailing_zeros().min(u32::from(bits))
        };
        let mut k = align;
        // Largest block 2^k starting at a that ends at or before b.
        while k > 0 && (k >= 128 || (1u128 << k) - 1 > b - a) {
            if k >= 128 && a == 0 && b == u128::MAX {
                break;
            }
            k -= 1;
        }
        f(a, bits - k as u8);
        if k >= 128 {
            return;
        }
        match a.checked_add(1u128 << k) {
            Some(next) if next <= b && next != 0 => a = next,
            _ => return,
        }
    }
}

/// Sorts networks and fails on overlaps (two inputs giving the same family).
pub fn sort_and_check(bits: u8, nets: &mut [Net]) -> Result<(), String> {
    nets.sort_unstable_by_key(|n| n.start);
    for w in nets.windows(2) {
        if w[0].end(bits) >= w[1].start {
            return Err(format!(
                "overlapping networks in the inputs at {} (the same address family given twice?)",
                fmt_addr(bits, w[1].start)
            ));
        }
    }
    Ok(())
}

/// Formats an address of the family.
pub fn fmt_addr(bits: u8, a: u128) -> String {
    if bits == V4 {
        std::net::Ipv4Addr::from(a as u32).to_string()
    } else {
        std::net::Ipv6Addr::from(a).to_string()
    }
}

/// Gives every network the ASN of the ranges it overlaps, splitting networks where the
/// ASN changes (parts without ASN data keep ASN id 0). `asn` must be sorted.
pub fn overlay_asn(bits: u8, nets: &[Net], asn: &[AsnRange], table: &mut RecTable) -> Vec<Net> {
    let mut out = Vec::with_capacity(nets.len() + nets.len() / 4);
    let mut j = 0usize;
    let emit = |out: &mut Vec<Net>, table: &mut RecTable, s: u128, e: u128, rec: u32, a: u32| {
        let mut r = table.recs[rec as usize];
        r.asn = a;
        let id = table.intern(r);
        range_to_prefixes(bits, s, e, |start, len| {
            out.push(Net {
                start,
                len,
                rec: id,
            })
        });
    };
    for n in nets {
        let (s, e) = (n.start, n.end(bits));
        while j < asn.len() && asn[j].end < s {
            j += 1;
        }
        let mut pos = s;
        let mut k = j;
        let mut done = false;
        while k < asn.len() && asn[k].start <= e && !done {
            let r = asn[k];
            if r.start > pos {
                emit(&mut out, table, pos, r.start - 1, n.rec, 0);
                pos = r.start;
            }
            let stop = r.end.min(e);
            if stop >= pos {
                emit(&mut out, table, pos, stop, n.rec, r.asn);
            }
            if stop == e {
                done = true;
            } else {
                pos = stop + 1;
            }
            k += 1;
        }
        if !done {
            emit(&mut out, table, pos, e, n.rec, 0);
        }
    }
    out
}

/// Sorts ASN ranges and drops any that overlap an earlier one.
pub fn clean_asn(ranges: &mut Vec<AsnRange>) {
    ranges.sort_unstable_by_key(|r| r.start);
    let mut last_end: Option<u128> = None;
    ranges.retain(|r| {
        if last_end.is_some_and(|e| r.start <= e) {
            return false;
        }
        last_end = Some(r.end);
        true
    });
}

/// The special-purpose ranges of a family as networks (`rec` = `u32::MAX`): the blocks of the
/// IANA special-purpose registries (the `special-addrs` crate, the daemon's table too) and, for
/// IPv6, everything outside global unicast.
pub fn special_nets(bits: u8) -> Vec<Net> {
    let mut v: Vec<Net> = if bits == V4 {
        special_addrs::V4
            .iter()
            .map(|b| Net {
                start: u128::from(b.addr),
                len: b.len,
                rec: u32::MAX,
            })
            .collect()
    } else {
        special_addrs::V6_OUTSIDE_GLOBAL_UNICAST
            .iter()
            .chain(special_addrs::V6)
            .map(|b| Net {
                start: b.addr,
                len: b.len,
                rec: u32::MAX,
            })
            .collect()
    };
    v.sort_unstable_by_key(|n| n.start);
    v
}

/// True when `addr` is inside a special-purpose range of the family.
pub fn is_special(bits: u8, addr: u128) -> bool {
    special_nets(bits)
        .iter()
        .any(|n| addr >= n.start && addr <= n.end(bits))
}

/// Removes the special-purpose ranges from sorted `nets`, splitting networks that
/// straddle one. Returns how many networks were dropped or cut.
pub fn remove_special(bits: u8, nets: &mut Vec<Net>) -> usize {
    let special = special_nets(bits);
    let mut touched = 0;
    let mut out = Vec::with_capacity(nets.len());
    for n in nets.iter() {
        let (s, e) = (n.start, n.end(bits));
        let hits: Vec<&Net> = special
            .iter()
            .filter(|h| h.start <= e && h.end(bits) >= s)
            .collect();
        if hits.is_empty() {
            out.push(*n);
            continue;
        }
        touched += 1;
        let mut pos = Some(s);
        for h in hits {
            let Some(p) = pos else { break };
            if h.start > p {
                range_to_prefixes(bits, p, h.start - 1, |start, len| {
                    out.push(Net {
                        start,
                        len,
                        rec: n.rec,
                    })
                });
            }
            pos = h.end(bits).checked_add(1).filter(|&x| x <= e);
        }
        if let Some(p) = pos {
            range_to_prefixes(bits, p, e, |start, len| {
                out.push(Net {
                    start,
                    len,
                    rec: n.rec,
                })
            });
        }
    }
    *nets = out;
    touched
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(bits: u8, a: u128, b: u128) -> Vec<(u128, u8)> {
        let mut v = Vec::new();
        range_to_prefixes(bits, a, b, |s, l| v.push((s, l)));
        v
    }

    #[test]
    fn range_decomposition() {
        assert_eq!(prefixes(32, 0, u128::from(u32::MAX)), vec![(0, 0)]);
        assert_eq!(prefixes(128, 0, u128::MAX), vec![(0, 0)]);
        assert_eq!(
            prefixes(32, 0x0100_0400, 0x0100_07ff),
            vec![(0x0100_0400, 22)]
        );
        assert_eq!(prefixes(32, 1, 6), vec![(1, 32), (2, 31), (4, 31), (6, 32)]);
        assert_eq!(
            prefixes(128, u128::MAX - 1, u128::MAX),
            vec![(u128::MAX - 1, 127)]
        );
        assert_eq!(prefixes(32, 5, 5), vec![(5, 32)]);
    }

    #[test]
    fn csv_parsing() {
        assert_eq!(
            csv_fields(r#"1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc.""#),
            vec!["1.0.0.0", "1.0.0.255", "13335", "Cloudflare, Inc."]
        );
        assert_eq!(
            csv_fields(r#"a,"b ""q"" c",d"#),
            vec!["a", "b \"q\" c", "d"]
        );
    }

    #[test]
    fn asn_overlay_splits_networks() {
        let mut t = RecTable::new();
        let rec = t.intern(crate::record::Rec {
            cc: *b"AU",
            lat: 1,
            lon: 2,
            city: 0,
            asn: 0,
        });
        let a1 = t.intern_asn(13335, "Cloudflare");
        let nets = vec![Net {
            start: 0x0101_0100,
            len: 24,
            rec,
        }];
        let asn = vec![AsnRange {
            start: 0x0101_0180,
            end: 0x0101_01ff,
            asn: a1,
        }];
        let out = overlay_asn(32, &nets, &asn, &mut t);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].start, out[0].len), (0x0101_0100, 25));
        assert_eq!(t.recs[out[0].rec as usize].asn, 0);
        assert_eq!((out[1].start, out[1].len), (0x0101_0180, 25));
        assert_eq!(t.asns[t.recs[out[1].rec as usize].asn as usize].0, 13335);
    }

    #[test]
    fn the_daemons_special_ranges_are_special_here_too() {
        // these were missing from geodb's own copy of the table before it was shared
        for a in [0xc01f_c401u32, 0xc034_c101, 0xc058_6301, 0xc0af_3001] {
            assert!(is_special(V4, u128::from(a)), "{a:x}");
        }
        for a in [0x2001_0001u128 << 96, 0x2002u128 << 112, 0x3fffu128 << 112] {
            assert!(is_special(128, a), "{a:x}");
        }
        assert!(!is_special(V4, 0x0808_0808));
    }

    #[test]
    fn special_ranges_are_removed() {
        let mut nets = vec![
            Net {
                start: 0x0800_0000,
                len: 5,
                rec: 1,
            }, // 8.0.0.0/5 contains 10/8
            Net {
                start: 0xc0a8_0100,
                len: 24,
                rec: 2,
            }, // inside 192.168/16
        ];
        assert_eq!(remove_special(32, &mut nets), 2);
        assert!(nets.iter().all(|n| n.rec == 1));
        let covered: u128 = nets.iter().map(|n| span(32, n.len)).sum();
        assert_eq!(covered, (1 << 27) - (1 << 24));
        assert!(is_special(32, 0x0a01_0203));
        assert!(!is_special(32, 0x0808_0808));
        assert!(is_special(128, 0xfe80u128 << 112));
        assert!(!is_special(128, 0x2001_4860u128 << 96));
    }
}
