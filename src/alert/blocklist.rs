//! Block lists (`--blocklist FILE`, repeatable): IPv4/IPv6 addresses, CIDR networks and
//! `A-B` ranges, one entry per line, as banIP and FireHOL publish them (`#` and `;` start a
//! comment, blank lines are skipped, text after the first field is ignored, as some feeds carry
//! a reason or a date there). connmap never downloads them: the user points at files another
//! tool keeps up to date, and SIGHUP reads them again.
//!
//! A bad line is reported (`file:line: reason`) and skipped; the good lines are kept. The
//! entries become sorted, merged ranges in two arrays (IPv4 as `u32`, IPv6 as `u128`, 10 and
//! 34 bytes a range), looked up by binary search: one lookup per (device, remote) observation
//! of a sweep, never per packet.

use crate::packet::Addr;
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Ranges kept over all lists; the lines beyond are reported and skipped (FireHOL's largest
/// level-4 set has ~100k entries; 1 M ranges is 10 MB of IPv4).
pub const MAX_RANGES: usize = 1_000_000;
/// Larger files are refused unread.
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Bad lines reported one by one per file; the rest are counted.
const MAX_REPORTED: usize = 10;

/// The ranges of one address family, sorted by start, not overlapping.
#[derive(Debug, Default, Clone)]
struct Ranges<T> {
    start: Vec<T>,
    end: Vec<T>,
    /// The index of the list (file) each came from.
    list: Vec<u16>,
}

impl<T: Copy + Ord + Default> Ranges<T> {
    fn find(&self, x: T) -> Option<u16> {
        let i = self.start.partition_point(|&s| s <= x);
        (i > 0 && x <= self.end[i - 1]).then(|| self.list[i - 1])
    }

    fn len(&self) -> usize {
        self.start.len()
    }

    /// Sorts and merges overlapping or adjacent ranges (the first list's name is kept).
    fn build(mut v: Vec<(T, T, u16)>, next: impl Fn(T) -> Option<T>) -> Ranges<T> {
        v.sort_unstable();
        let mut r = Ranges {
            start: Vec::with_capacity(v.len()),
            end: Vec::with_capacity(v.len()),
            list: Vec::with_capacity(v.len()),
        };
        for (s, e, l) in v {
            if let Some(last) = r.end.last_mut() {
                if next(*last).is_none_or(|n| s <= n) {
                    *last = (*last).max(e);
                    continue;
                }
            }
            r.start.push(s);
            r.end.push(e);
            r.list.push(l);
        }
        r.start.shrink_to_fit();
        r.end.shrink_to_fit();
        r.list.shrink_to_fit();
        r
    }
}

/// All block lists, ready for lookups.
#[derive(Debug, Default, Clone)]
pub struct Blocklists {
    v4: Ranges<u32>,
    v6: Ranges<u128>,
    /// File names (no directory), as `list` in alerts.
    names: Vec<String>,
}

/// What reading the lists found, for the log.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// `file:line: reason` for the first bad lines of each file, and file errors.
    pub errors: Vec<String>,
    pub bad_lines: usize,
    pub entries: usize,
}

/// Why a line is not an entry: the text before the field, the field, the text after it.
pub type LineError<'a> = (&'static str, &'a str, &'static str);

/// One line: `Ok(None)` for a blank or comment line.
pub fn parse_line(line: &str) -> Result<Option<(IpAddr, IpAddr)>, LineError<'_>> {
    let line = line.split(['#', ';']).next().unwrap_or("");
    let Some(field) = line.split_whitespace().next() else {
        return Ok(None);
    };
    // some feeds separate a reason with a comma
    let field = field.split(',').next().unwrap_or(field);
    if let Some((a, b)) = field.split_once('-') {
        let bad = ("", field, "is not an IP address, network or range");
        let (Ok(a), Ok(b)) = (a.parse::<IpAddr>(), b.parse::<IpAddr>()) else {
            return Err(bad);
        };
        if a.is_ipv4() != b.is_ipv4() {
            return Err(("range ", field, "mixes IPv4 and IPv6"));
        }
        if Addr::from(a) > Addr::from(b) {
            return Err(("range ", field, "ends before it starts"));
        }
        return Ok(Some((a, b)));
    }
    if field.contains('/') {
        let Ok(n) = field.parse::<IpNet>() else {
            return Err(("", field, "is not a CIDR network"));
        };
        return Ok(Some((n.network(), n.broadcast())));
    }
    match field.parse::<IpAddr>() {
        Ok(a) => Ok(Some((a, a))),
        Err(_) => Err(("", field, "is not an IP address or network")),
    }
}

/// The text of a `LineError`: `range "FIELD" mixes IPv4 and IPv6`.
pub fn line_error((before, field, after): LineError) -> String {
    let mut s = String::from(before);
    if !field.is_empty() {
        s.push('"');
        s.push_str(field);
        s.push_str("\" ");
    }
    s.push_str(after);
    s
}

/// "PATH: WHAT", or "PATH:LINE: WHAT" (`line` > 0): every message about a file, one `format!`.
fn file_error(path: &Path, line: usize, what: &str) -> String {
    match line {
        0 => format!("{}: {what}", path.display()),
        n => format!("{}:{n}: {what}", path.display()),
    }
}

fn canonical(a: IpAddr) -> IpAddr {
    Addr::from(a).ip()
}

impl Blocklists {
    /// Reads `paths`; every problem goes into the report, never an error: a list that cannot
    /// be read is missing from the lookups, the others work.
    pub fn load(paths: &[PathBuf]) -> (Blocklists, LoadReport) {
        let mut report = LoadReport::default();
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        let mut names = Vec::new();
        for (i, path) in paths.iter().enumerate().take(usize::from(u16::MAX)) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string());
            names.push(name);
            match read(path) {
                Ok(bytes) => {
                    let room = MAX_RANGES.saturating_sub(v4.len() + v6.len());
                    parse_into(path, &bytes, i as u16, room, &mut v4, &mut v6, &mut report);
                }
                Err(e) => report.errors.push(e),
            }
        }
        report.entries = v4.len() + v6.len();
        let lists = Blocklists {
            v4: Ranges::build(v4, |x: u32| x.checked_add(1)),
            v6: Ranges::build(v6, |x: u128| x.checked_add(1)),
            names,
        };
        (lists, report)
    }

    /// Loads and logs what was found.
    pub fn load_logged(paths: &[PathBuf]) -> Blocklists {
        let (b, report) = Blocklists::load(paths);
        for e in &report.errors {
            log::warn!("blocklist: {e}");
        }
        if !paths.is_empty() {
            log::info!(
                "block lists: {} entries from {} files ({} ranges after merging), {} bad lines skipped",
                report.entries,
                paths.len(),
                b.ranges(),
                report.bad_lines
            );
        }
        b
    }

    /// The list that holds `a`, if any.
    pub fn lookup(&self, a: Addr) -> Option<&str> {
        let list = match a.ip() {
            IpAddr::V4(v) => self.v4.find(u32::from(v)),
            IpAddr::V6(v) => self.v6.find(u128::from(v)),
        }?;
        self.names.get(usize::from(list)).map(String::as_str)
    }

    /// Merged ranges held.
    pub fn ranges(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges() == 0
    }

    /// Bytes the ranges take.
    pub fn bytes(&self) -> usize {
        self.v4.len() * 10 + self.v6.len() * 34
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    const _: () = assert!(MAX_FILE_BYTES == 64 << 20); // in the message below
    let mut bytes = Vec::new();
    let r =
        std::fs::File::open(path).and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes));
    if let Err(e) = r {
        return Err(file_error(path, 0, &e.to_string()));
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(file_error(path, 0, "larger than 64 MB, not read"));
    }
    Ok(bytes)
}

/// The lines of one file into `v4`/`v6` (at most `room` entries).
#[allow(clippy::too_many_arguments)]
pub fn parse_into(
    path: &Path,
    bytes: &[u8],
    list: u16,
    room: usize,
    v4: &mut Vec<(u32, u32, u16)>,
    v6: &mut Vec<(u128, u128, u16)>,
    report: &mut LoadReport,
) {
    let (mut added, mut reported) = (0usize, 0usize);
    for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = match std::str::from_utf8(raw) {
            Ok(l) => parse_line(l.trim_end_matches('\r')),
            Err(_) => Err(("", "", "not UTF-8 text")),
        };
        match line {
            Ok(None) => {}
            Ok(Some(_)) if added >= room => {
                const _: () = assert!(MAX_RANGES == 1_000_000); // in the message below
                let what = "more than 1000000 entries in all; the rest of the file is skipped";
                report.errors.push(file_error(path, n + 1, what));
                return;
            }
            Ok(Some((a, b))) => {
                added += 1;
                match (canonical(a), canonical(b)) {
                    (IpAddr::V4(a), IpAddr::V4(b)) => v4.push((a.into(), b.into(), list)),
                    (IpAddr::V6(a), IpAddr::V6(b)) => v6.push((a.into(), b.into(), list)),
                    // a range from a mapped IPv6 address to a plain one: its IPv6 part
                    (_, b) => v6.push((Addr::from(a).bits(), Addr::from(b).bits(), list)),
                }
            }
            Err(reason) => {
                report.bad_lines += 1;
                reported += 1;
                if reported <= MAX_REPORTED {
                    let mut what = line_error(reason);
                    what.push_str("; line skipped");
                    report.errors.push(file_error(path, n + 1, &what));
                }
            }
        }
    }
    if reported > MAX_REPORTED {
        let mut what = String::from(itoa::Buffer::new().format(reported - MAX_REPORTED));
        what.push_str(" more bad lines skipped");
        report.errors.push(file_error(path, 0, &what));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Addr {
        s.parse().unwrap()
    }

    fn lists(files: &[(&str, &str)]) -> (Blocklists, LoadReport, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = files
            .iter()
            .map(|(name, text)| {
                let p = dir.path().join(name);
                std::fs::write(&p, text).unwrap();
                p
            })
            .collect();
        let (b, r) = Blocklists::load(&paths);
        (b, r, dir)
    }

    #[test]
    fn firehol_and_banip_formats() {
        let firehol = "#\n# firehol_level1\n#\n0.0.0.0/8\n1.10.16.0/20\n5.5.5.5\n\n";
        let banip = "; banIP feed\n2001:db8::/32 ; SBL123\n203.0.113.7 # a comment\n198.51.100.1,2026-01-01\n192.0.2.10 - 192.0.2.20\n192.0.2.30-192.0.2.40 trailing text\n";
        let (b, r, _d) = lists(&[("firehol_level1.netset", firehol), ("banip.txt", banip)]);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(r.entries, 8);
        assert_eq!(b.lookup(a("1.10.20.1")), Some("firehol_level1.netset"));
        assert_eq!(b.lookup(a("1.10.32.0")), None);
        assert_eq!(b.lookup(a("5.5.5.5")), Some("firehol_level1.netset"));
        assert_eq!(b.lookup(a("5.5.5.6")), None);
        assert_eq!(b.lookup(a("2001:db8::1")), Some("banip.txt"));
        assert_eq!(b.lookup(a("2001:db9::1")), None);
        assert_eq!(b.lookup(a("203.0.113.7")), Some("banip.txt"));
        assert_eq!(b.lookup(a("198.51.100.1")), Some("banip.txt"));
        // "a - b" with spaces: the first field only is a single address
        assert_eq!(b.lookup(a("192.0.2.10")), Some("banip.txt"));
        assert_eq!(b.lookup(a("192.0.2.15")), None);
        assert_eq!(b.lookup(a("192.0.2.35")), Some("banip.txt"));
        assert_eq!(b.lookup(a("::ffff:5.5.5.5")), Some("firehol_level1.netset"));
    }

    #[test]
    fn bad_lines_are_reported_with_their_numbers_and_the_good_ones_kept() {
        let text = "1.2.3.4\nnot-an-ip\n10.0.0.0/33\n5.6.7.0/24\n1.2.3.9-1.2.3.1\n\u{0}\n";
        let (b, r, _d) = lists(&[("bad.list", text)]);
        assert_eq!(r.bad_lines, 4);
        assert_eq!(r.entries, 2);
        let e = r.errors.join("\n");
        assert!(e.contains("bad.list:2: \"not-an-ip\" is not an IP"), "{e}");
        assert!(
            e.contains("bad.list:3: \"10.0.0.0/33\" is not a CIDR"),
            "{e}"
        );
        assert!(e.contains("bad.list:5: range"), "{e}");
        assert!(e.contains("bad.list:6:"), "{e}");
        assert_eq!(b.lookup(a("1.2.3.4")), Some("bad.list"));
        assert_eq!(b.lookup(a("5.6.7.200")), Some("bad.list"));
    }

    #[test]
    fn a_missing_file_is_an_error_and_the_others_work() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, "9.9.9.9\n").unwrap();
        let (b, r) = Blocklists::load(&[dir.path().join("missing"), good]);
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].contains("missing"));
        assert_eq!(b.lookup(a("9.9.9.9")), Some("good"));
    }

    #[test]
    fn overlapping_and_adjacent_ranges_merge() {
        let text = "10.0.0.0/24\n10.0.1.0/24\n10.0.0.128/25\n255.255.255.255\n0.0.0.0\n::/0\n";
        let (b, r, _d) = lists(&[("l", text)]);
        assert!(r.errors.is_empty());
        assert_eq!(b.v4.len(), 3);
        assert_eq!(b.v6.len(), 1);
        assert_eq!(b.lookup(a("10.0.1.255")), Some("l"));
        assert_eq!(b.lookup(a("10.0.2.0")), None);
        assert_eq!(b.lookup(a("255.255.255.255")), Some("l"));
        assert_eq!(b.lookup(a("0.0.0.0")), Some("l"));
        assert_eq!(b.lookup(a("ffff::1")), Some("l"));
    }

    /// `cargo test --release --lib alert::blocklist::tests::bench -- --ignored --nocapture`
    /// (BENCHMARKS.md): reading and looking up a large list.
    #[test]
    #[ignore]
    fn bench() {
        use std::fmt::Write;
        use std::time::Instant;
        let mut text = String::from("# synthetic list\n");
        for i in 0..200_000u32 {
            let a = std::net::Ipv4Addr::from(i.wrapping_mul(2_654_435_761) | 0x0100_0000);
            let _ = writeln!(text, "{a}/{}", 24 + i % 9);
        }
        let (_b, r, d) = lists(&[("big.netset", &text)]);
        let t = Instant::now();
        let (b2, _) = Blocklists::load(&[d.path().join("big.netset")]);
        let load = t.elapsed();
        let t = Instant::now();
        let mut hits = 0u32;
        for i in 0..1_000_000u32 {
            hits += u32::from(
                b2.lookup(Addr::from_v4_bytes(i.wrapping_mul(40_503).to_be_bytes()))
                    .is_some(),
            );
        }
        let look = t.elapsed();
        println!(
            "200,000 entries ({} bytes of text): read in {:.1} ms, {} ranges, {} bytes; \
             1,000,000 lookups in {:.1} ms ({:.0} ns each, {hits} hits)",
            text.len(),
            load.as_secs_f64() * 1e3,
            b2.ranges(),
            b2.bytes(),
            look.as_secs_f64() * 1e3,
            look.as_nanos() as f64 / 1e6
        );
        assert_eq!(r.entries, 200_000);
    }

    #[test]
    fn the_reported_lines_are_bounded() {
        let text = "x\n".repeat(100);
        let (_b, r, _d) = lists(&[("l", &text)]);
        assert_eq!(r.bad_lines, 100);
        assert_eq!(r.errors.len(), MAX_REPORTED + 1);
    }
}
