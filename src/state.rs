//! State: the tables saved to a file and restored at start, so a restart loses nothing.
//!
//! The file is in [postcard](https://docs.rs/postcard)'s format (compact and documented): a
//! header (format tag, version) and then the body, so that a file of another version is
//! named as such rather than misread. Binary, because a state file is for connmap alone: it is
//! a sixth the size of the same tables in JSON (336 KB against 1.99 MB for 10,000 remotes:
//! less to write to flash). The records are written and read by hand (`W`, `R`, shared with
//! `history::persist`), byte for byte what serde + postcard wrote in earlier builds (a test
//! checks it): serde's derived code and postcard's were 12 KB of the MIPS binary (6.9 KB of
//! the package). It is written atomically (see `snapshot::write_atomically`). Geolocation is
//! not saved: it is looked up again on restore, against whatever database is installed then.
//! Loading never trusts the file: bounds are re-applied, bad entries are skipped, and a file
//! that does not parse is reported and ignored.
//!
//! Version 3 adds, after the body and the names' sources, the opaque `alert_memory` bytes
//! (the alerts engine's, empty when none) and the history (`history::persist`). A version 2
//! file still loads: its tables, with an empty history. A damaged history loses the history
//! only, never the tables.
//!
//! Flash wear: everything stays in RAM between saves; the daemon writes the file at most once
//! per `--save-interval` (default an hour) and at stop, always atomically (a temporary file
//! renamed over the old one), like nlbwmon's commit interval.

use crate::packet::Addr;
use crate::snapshot::write_atomically;
use crate::table::{Host, Remote, Tables, MAX_HOSTS_PER_REMOTE, MAX_PORTS, MAX_PROTOCOLS};
use std::path::Path;

const FORMAT: &str = "connmap-state";
/// 1 was JSON (before release); 2 is postcard; 3 adds the history and the alerts' memory.
pub const VERSION: u32 = 3;
/// The previous version, still read.
const VERSION_2: u32 = 2;
/// Larger files are refused unread: a state file of the largest tables is far smaller.
const MAX_STATE_BYTES: u64 = 256 << 20;

// ---- the encoding: postcard's, written by hand ---------------------------------------------
//
// The file is what postcard (serde) wrote for these records (the tests check it against
// serde + postcard, see `tests::hand_written_bytes_are_postcards`), field by field:
//   header  format: string, version: u32
//   body    saved: u64, hosts: [host], remotes: [remote]
//           host   = ip, mac: Option<[u8; 6]>, counters, first_seen: u64, last_seen: u64
//           remote = ip, counters, first_seen, last_seen, hosts: [ip], ports: [u16],
//                    protocols: [u8], names: [string] (most recent first)
//           counters = packets_out, bytes_out, packets_in, bytes_in (u64 each)
//   then    the names' sources: [u8], one per remote in the same order (version 2: an
//           optional trailer, and nothing follows)
//   v3      alert_memory: [u8] (opaque), history: [u8] (`history::persist`, empty: none)
// Integers are LEB128 varints (u8 and arrays of u8 raw bytes), `f32` 4 little-endian bytes,
// an `Option` a 0/1 byte before its value, a sequence or string its length (varint) before
// its items, an address as `IpAddr` (variant 0 + 4 bytes, or 1 + 16). Written by hand:
// serde's derived code and postcard's were ~20 KB of the router binary for these few records.

/// The writer.
#[derive(Default)]
pub(crate) struct W(pub Vec<u8>);

impl W {
    pub fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    pub fn opt(&mut self, v: Option<u32>) {
        match v {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.var(v.into());
            }
        }
    }

    pub fn opt_raw(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.0.extend_from_slice(v);
            }
        }
    }

    /// A length, then the bytes (a string, or a sequence of `u8`).
    pub fn bytes(&mut self, v: &[u8]) {
        self.var(v.len() as u64);
        self.0.extend_from_slice(v);
    }

    pub fn addr(&mut self, a: &Addr) {
        match a.ip() {
            std::net::IpAddr::V4(ip) => {
                self.0.push(0);
                self.0.extend_from_slice(&ip.octets());
            }
            std::net::IpAddr::V6(ip) => {
                self.0.push(1);
                self.0.extend_from_slice(&ip.octets());
            }
        }
    }

    pub fn vars(&mut self, v: &[u64]) {
        for &v in v {
            self.var(v);
        }
    }
}

/// The reader. A read past the end or of a bad value marks the input damaged (`bad`),
/// returns a zero value, and makes every later read fail too (no bytes left): callers check
/// `bad` once, after a record, instead of after every field (less code on the router).
pub(crate) struct R<'a> {
    pub b: &'a [u8],
    pub bad: bool,
}

impl<'a> R<'a> {
    pub fn new(b: &'a [u8]) -> R<'a> {
        R { b, bad: false }
    }

    /// Marks the input damaged.
    #[cold]
    #[inline(never)]
    pub fn fail(&mut self) {
        self.bad = true;
        self.b = &[];
    }

    /// `None` once the input is marked damaged: for the `?` of the callers.
    pub fn ok(&self) -> Option<()> {
        (!self.bad).then_some(())
    }

    #[inline(never)]
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        match self.b.split_at_checked(n) {
            Some((a, b)) => {
                self.b = b;
                a
            }
            None => {
                self.fail();
                &[]
            }
        }
    }

    pub fn byte(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    /// A varint of at most `bits` bits (postcard refuses longer or overflowing ones).
    #[inline(never)]
    pub fn var_bits(&mut self, bits: u32) -> u64 {
        let max_bytes = bits.div_ceil(7);
        let mut out: u64 = 0;
        for i in 0..max_bytes {
            let b = self.byte();
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == max_bytes - 1 && u32::from(b) >= 1 << (bits - 7 * i) {
                    break;
                }
                return out;
            }
        }
        self.fail();
        0
    }

    pub fn u64(&mut self) -> u64 {
        self.var_bits(64)
    }

    pub fn u32(&mut self) -> u32 {
        self.var_bits(32) as u32
    }

    /// A sequence's length: no more items than bytes left (every item takes one at least),
    /// so a damaged length never allocates more than the input.
    #[inline(never)]
    pub fn len(&mut self) -> usize {
        let n = self.u64();
        match usize::try_from(n) {
            Ok(n) if n <= self.b.len() => n,
            _ => {
                self.fail();
                0
            }
        }
    }

    /// A length, then that many bytes.
    pub fn bytes(&mut self) -> &'a [u8] {
        let n = self.len();
        self.take(n)
    }

    #[inline(never)]
    pub fn str(&mut self) -> &'a str {
        let b = self.bytes();
        std::str::from_utf8(b).unwrap_or_else(|_| {
            self.fail();
            ""
        })
    }

    /// An `Option` tag: true for a value.
    #[inline(never)]
    pub fn some(&mut self) -> bool {
        match self.byte() {
            0 => false,
            1 => true,
            _ => {
                self.fail();
                false
            }
        }
    }

    pub fn opt_u32(&mut self) -> Option<u32> {
        self.some().then(|| self.u32())
    }

    pub fn opt_array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.some().then(|| self.array::<N>())
    }

    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        self.take(N).try_into().unwrap_or([0; N])
    }

    #[inline(never)]
    pub fn addr(&mut self) -> Addr {
        match self.u32() {
            0 => Addr::from_v4_bytes(self.array::<4>()),
            1 => Addr::from(std::net::IpAddr::from(self.array::<16>())),
            _ => {
                self.fail();
                Addr::default()
            }
        }
    }

    /// packets out, bytes out, packets in, bytes in
    fn counters(&mut self) -> crate::table::Counters {
        crate::table::Counters {
            packets_out: self.u64(),
            bytes_out: self.u64(),
            packets_in: self.u64(),
            bytes_in: self.u64(),
        }
    }
}

/// What the tables alone do not hold: the history's buckets and the alerts' memory.
#[derive(Default)]
pub struct Extra<'a> {
    pub history: Option<&'a crate::history::View>,
    pub alert_memory: &'a [u8],
}

/// What `load_all` read besides the tables.
#[derive(Default)]
pub struct Restored {
    pub hosts: usize,
    pub remotes: usize,
    /// Hourly and daily buckets restored into the history.
    pub buckets: usize,
    pub alert_memory: Vec<u8>,
    /// The history part could not be read (the tables were).
    pub history_error: Option<String>,
}

/// Serialises the tables (with no history).
pub fn encode(t: &Tables, now: u64) -> Vec<u8> {
    encode_all(t, &Extra::default(), now)
}

fn write_counters(w: &mut W, c: &crate::table::Counters) {
    w.vars(&[c.packets_out, c.bytes_out, c.packets_in, c.bytes_in]);
}

/// Serialises the tables, the history and the alerts' memory.
pub fn encode_all(t: &Tables, extra: &Extra, now: u64) -> Vec<u8> {
    let mut w = W(Vec::new());
    w.bytes(FORMAT.as_bytes());
    w.var(VERSION.into());
    w.var(now);
    w.var(t.hosts.len() as u64);
    for (ip, h) in t.hosts.iter() {
        w.addr(ip);
        w.opt_raw(h.mac.as_ref().map(|m| &m[..]));
        write_counters(&mut w, &h.counters);
        w.vars(&[h.first_seen, h.last_seen]);
    }
    w.var(t.remotes.len() as u64);
    // The sources of the remotes' names (`Remote::name_kinds`), in the same order: a trailer
    // after the body, so that files without it (earlier builds) still read.
    let mut kinds: Vec<u8> = Vec::with_capacity(t.remotes.len());
    for (ip, r) in t.remotes.iter() {
        w.addr(ip);
        write_counters(&mut w, &r.counters);
        w.vars(&[r.first_seen, r.last_seen, r.hosts.len() as u64]);
        for h in r.hosts.iter() {
            w.addr(h);
        }
        w.var(r.ports.len() as u64);
        for &p in r.ports.iter() {
            w.var(p.into());
        }
        w.bytes(&r.protocols);
        w.var(r.names.len() as u64);
        for n in r.names.iter() {
            w.bytes(n.as_bytes());
        }
        kinds.push(r.name_kinds);
    }
    w.bytes(&kinds);
    w.bytes(extra.alert_memory);
    let history = extra.history.map(crate::history::persist::encode);
    w.bytes(&history.unwrap_or_default());
    w.0
}

/// Saves the tables to `path` atomically.
pub fn save(path: &Path, t: &Tables, now: u64) -> Result<(), String> {
    save_all(path, t, &Extra::default(), now).map(drop)
}

/// Saves the tables, the history and the alerts' memory to `path` atomically; returns the
/// bytes written.
pub fn save_all(path: &Path, t: &Tables, extra: &Extra, now: u64) -> Result<usize, String> {
    let bytes = encode_all(t, extra, now);
    write_atomically(path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes.len())
}

/// Fills `t` from a state file's bytes, keeping the tables' bounds. Returns (hosts, remotes)
/// restored.
pub fn decode_into(bytes: &[u8], t: &mut Tables) -> Result<(usize, usize), String> {
    decode_all(bytes, t, None).map(|r| (r.hosts, r.remotes))
}

/// The header: `Some(version)` for a connmap state file.
fn read_header(r: &mut R) -> Option<u32> {
    let tag_ok = r.bytes() == FORMAT.as_bytes();
    let version = r.u32();
    (tag_ok && !r.bad).then_some(version)
}

/// The body's records: (address, host) and (address, remote), in the file's order.
type Body = (Vec<(Addr, Host)>, Vec<(Addr, Remote)>);

#[inline(never)]
fn read_body(r: &mut R) -> Option<Body> {
    r.u64(); // saved
    let mut hosts = Vec::new();
    for _ in 0..r.len() {
        let ip = r.addr();
        let mac = r.opt_array::<6>();
        let counters = r.counters();
        let (first_seen, last_seen) = (r.u64(), r.u64());
        let mut host = Host::new(first_seen.min(last_seen), last_seen);
        host.counters = counters;
        host.mac = mac;
        hosts.push((ip, host));
    }
    let mut remotes = Vec::new();
    for _ in 0..r.len() {
        let ip = r.addr();
        let counters = r.counters();
        let (first_seen, last_seen) = (r.u64(), r.u64());
        let mut remote = Remote::new(first_seen.min(last_seen), last_seen);
        remote.counters = counters;
        for _ in 0..r.len() {
            let h = r.addr();
            if remote.hosts.len() < MAX_HOSTS_PER_REMOTE {
                remote.hosts.push(h);
            }
        }
        for _ in 0..r.len() {
            let p = r.var_bits(16) as u16;
            remote.ports.push(p);
        }
        remote.ports.sort_unstable();
        remote.ports.dedup();
        remote.ports.truncate(MAX_PORTS);
        let protocols = r.bytes();
        let keep = protocols.len().min(MAX_PROTOCOLS);
        remote
            .protocols
            .extend_from_slice(protocols.get(..keep).unwrap_or_default());
        let mut names: Vec<std::rc::Rc<str>> = Vec::new();
        for _ in 0..r.len() {
            let n = r.str();
            if names.len() < crate::table::MAX_NAMES_PER_REMOTE {
                if let Some(n) = crate::learn::clean_name(n.as_bytes()) {
                    names.push(std::rc::Rc::from(n));
                }
            }
        }
        remote.names = names.into_boxed_slice();
        remote.pairs = crate::table::Pairs::for_hosts(&remote.hosts);
        remote.swept_hosts = remote.hosts.len() as u8;
        remotes.push((ip, remote));
    }
    r.ok()?;
    Some((hosts, remotes))
}

/// Fills `t` (and `history`, when given) from a state file's bytes, version 2 or 3.
pub fn decode_all(
    bytes: &[u8],
    t: &mut Tables,
    history: Option<&mut crate::history::History>,
) -> Result<Restored, String> {
    let mut r = R::new(bytes);
    let version = read_header(&mut r).ok_or("not a connmap state file")?;
    if version != VERSION && version != VERSION_2 {
        return Err(format!(
            "state file version {version} is not supported (this connmap reads {VERSION_2} and \
             {VERSION})"
        ));
    }
    let damaged = "the state file is damaged (it ends early or holds a bad value); it is ignored";
    let (mut hosts, mut remotes) = read_body(&mut r).ok_or(damaged)?;
    let mut restored = Restored::default();
    let kinds: &[u8] = if version == VERSION_2 {
        // version 2: the names' sources are an optional trailer, and nothing follows
        let kinds = r.bytes();
        if r.bad {
            &[]
        } else {
            kinds
        }
    } else {
        let kinds = r.bytes();
        restored.alert_memory = r.bytes().to_vec();
        r.ok().ok_or(damaged)?;
        if let Some(h) = history {
            let b = r.bytes();
            let read = match b {
                _ if r.bad => Err("the history is damaged (it ends early)".to_string()),
                [] => Ok((vec![], vec![], 0)),
                b => crate::history::persist::decode(b, &h.bounds),
            };
            match read {
                Ok((hourly, daily, clock)) => {
                    restored.buckets = hourly.len() + daily.len();
                    if h.enabled() {
                        h.restore(hourly, daily, clock);
                    }
                }
                Err(e) => restored.history_error = Some(e),
            }
        }
        kinds
    };
    for (i, (_, remote)) in remotes.iter_mut().enumerate() {
        remote.name_kinds = kinds.get(i).copied().unwrap_or(0);
    }
    // Newest first, so that the bounds keep the most recent entries (one shared sort).
    crate::history::sort_by(&mut hosts, &|a, b| b.1.last_seen.cmp(&a.1.last_seen));
    for (ip, host) in hosts.into_iter().take(t.max_hosts) {
        t.restore_host(ip, host);
    }
    crate::history::sort_by(&mut remotes, &|a, b| b.1.last_seen.cmp(&a.1.last_seen));
    for (ip, remote) in remotes.into_iter().take(t.max_remotes) {
        t.restore_remote(ip, remote);
    }
    restored.hosts = t.hosts.len();
    restored.remotes = t.remotes.len();
    Ok(restored)
}

/// Loads a state file if there is one. A missing file is normal (first start); anything else
/// that goes wrong is an error for the caller to log, and the tables stay empty.
pub fn load(path: &Path, t: &mut Tables) -> Result<Option<(usize, usize)>, String> {
    let r = load_all(path, t, None)?;
    Ok(r.map(|r| (r.hosts, r.remotes)))
}

/// Loads a state file if there is one, with the history (into `history`, when given).
pub fn load_all(
    path: &Path,
    t: &mut Tables,
    history: Option<&mut crate::history::History>,
) -> Result<Option<Restored>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if meta.len() > MAX_STATE_BYTES {
        return Err(format!(
            "{}: too large ({} bytes)",
            path.display(),
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut fresh = t.empty_like();
    let restored =
        decode_all(&bytes, &mut fresh, history).map_err(|e| format!("{}: {e}", path.display()))?;
    fresh.stats = t.stats;
    *t = fresh;
    Ok(Some(restored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{Direction, Flow, Networks};
    use crate::packet::PacketInfo;

    fn filled() -> Tables {
        let n = Networks::new(vec!["192.168.1.0/24".parse().unwrap()], vec![], vec![]);
        let mut t = Tables::new(100, 10);
        let p = PacketInfo {
            src: "192.168.1.2".parse().unwrap(),
            dst: "1.1.1.1".parse().unwrap(),
            protocol: 6,
            ports: Some((5000, 443)),
            src_mac: Some([1, 2, 3, 4, 5, 6]),
            l4_at: 0,
            ip_at: 0,
        };
        let f = n.classify(&p).unwrap();
        t.record(&f, &p, 120, 1000, &n);
        let back = Flow {
            direction: Direction::In,
            ..f
        };
        t.record(&back, &p, 1500, 1001, &n);
        t
    }

    /// The records as serde + postcard wrote them in earlier builds (the format's reference).
    mod reference {
        use crate::packet::Addr;
        use serde::Serialize;

        #[derive(Serialize)]
        pub struct Header {
            pub format: String,
            pub version: u32,
        }

        #[derive(Serialize)]
        pub struct StateFile {
            pub saved: u64,
            pub hosts: Vec<HostRec>,
            pub remotes: Vec<RemoteRec>,
        }

        #[derive(Serialize)]
        pub struct CountersRec {
            pub packets_out: u64,
            pub bytes_out: u64,
            pub packets_in: u64,
            pub bytes_in: u64,
        }

        #[derive(Serialize)]
        pub struct HostRec {
            pub ip: Addr,
            pub mac: Option<[u8; 6]>,
            pub c: CountersRec,
            pub first_seen: u64,
            pub last_seen: u64,
        }

        #[derive(Serialize)]
        pub struct RemoteRec {
            pub ip: Addr,
            pub c: CountersRec,
            pub first_seen: u64,
            pub last_seen: u64,
            pub hosts: Vec<Addr>,
            pub ports: Vec<u16>,
            pub protocols: Vec<u8>,
            pub names: Vec<String>,
        }
    }

    /// The hand-written bytes are postcard's for the serde records of earlier builds.
    #[test]
    fn hand_written_bytes_are_postcards() {
        use reference::*;
        let mut t = filled();
        let ip: Addr = "1.1.1.1".parse().unwrap();
        {
            let r = t.remotes.get_mut(&ip).unwrap();
            r.names = vec![std::rc::Rc::from("one.one.one.one"), "x.example".into()].into();
            r.name_kinds = 5;
            r.ports.push(40_000);
            r.counters.bytes_in = 1 << 40;
        }
        let v6: Addr = "2001:db8::1".parse().unwrap();
        t.restore_remote(v6, crate::table::Remote::new(3, 4));
        let c = |c: &crate::table::Counters| CountersRec {
            packets_out: c.packets_out,
            bytes_out: c.bytes_out,
            packets_in: c.packets_in,
            bytes_in: c.bytes_in,
        };
        let header = Header {
            format: FORMAT.into(),
            version: VERSION,
        };
        let file = StateFile {
            saved: 77,
            hosts: (t.hosts.iter())
                .map(|(ip, h)| HostRec {
                    ip: *ip,
                    mac: h.mac,
                    c: c(&h.counters),
                    first_seen: h.first_seen,
                    last_seen: h.last_seen,
                })
                .collect(),
            remotes: (t.remotes.iter())
                .map(|(ip, r)| RemoteRec {
                    ip: *ip,
                    c: c(&r.counters),
                    first_seen: r.first_seen,
                    last_seen: r.last_seen,
                    hosts: r.hosts.to_vec(),
                    ports: r.ports.to_vec(),
                    protocols: r.protocols.to_vec(),
                    names: r.names.iter().map(|n| n.to_string()).collect(),
                })
                .collect(),
        };
        let kinds: Vec<u8> = t.remotes.values().map(|r| r.name_kinds).collect();
        let mut h = crate::history::History::new(Default::default());
        t.sweep_pairs(|d| h.add(d, Some("laptop")));
        h.publish();
        let view = h.cell.get();
        let history = crate::history::persist::encode(&view);
        assert!(history.len() > 20);
        let memory: &[u8] = b"opaque";
        let out = postcard::to_extend(&header, Vec::new()).unwrap();
        let out = postcard::to_extend(&file, out).unwrap();
        let out = postcard::to_extend(&kinds, out).unwrap();
        let out = postcard::to_extend(memory, out).unwrap();
        let expected = postcard::to_extend(&history, out).unwrap();
        let extra = Extra {
            history: Some(&view),
            alert_memory: memory,
        };
        assert_eq!(encode_all(&t, &extra, 77), expected);
        // and read back: the names' sources in the file's order
        let mut u = Tables::new(100, 10);
        decode_into(&expected, &mut u).unwrap();
        assert_eq!(u.remotes[&ip].name_kinds, 5);
        assert_eq!(u.remotes[&ip].names.len(), 2);
        assert_eq!(u.remotes[&ip].counters.bytes_in, 1 << 40);
        assert_eq!(u.remotes[&ip].ports.as_slice(), &[443, 40_000]);
        assert_eq!(u.remotes[&v6].first_seen, 3);
    }

    #[test]
    fn round_trip() {
        let t = filled();
        let mut u = Tables::new(100, 10);
        assert_eq!(decode_into(&encode(&t, 5), &mut u).unwrap(), (1, 1));
        let ip: Addr = "1.1.1.1".parse().unwrap();
        assert_eq!(u.remotes[&ip].counters, t.remotes[&ip].counters);
        assert_eq!(u.remotes[&ip].ports.as_slice(), &[443]);
        let h: Addr = "192.168.1.2".parse().unwrap();
        assert_eq!(u.hosts[&h].mac, Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(u.hosts[&h].counters.bytes_in, 1500);
    }

    #[test]
    fn corrupt_files_are_refused() {
        let mut u = Tables::new(100, 10);
        assert!(decode_into(b"", &mut u).is_err());
        // a JSON file of the first format, and other files
        let json = br#"{"format":"connmap-state","version":1,"saved":5,"hosts":[],"remotes":[]}"#;
        assert_eq!(
            decode_into(json, &mut u).unwrap_err(),
            "not a connmap state file"
        );
        assert!(decode_into(b"\x0dconnmap-stat", &mut u).is_err());
        let good = encode(&filled(), 5);
        // version 3: body, names' sources, alerts' memory (empty: 1 byte) are required; the
        // history (empty: 1 byte) is read only when asked for
        for cut in 1..good.len() - 1 {
            assert!(decode_into(&good[..cut], &mut u).is_err(), "cut at {cut}");
        }
        let mut v = Tables::new(100, 10);
        assert!(decode_into(&good[..good.len() - 1], &mut v).is_ok());
        // the header names the version: 13 + "connmap-state" + varint 3
        assert_eq!(good[..15], *b"\x0dconnmap-state\x03");
        let mut other = good.clone();
        other[14] = 99;
        let e = decode_into(&other, &mut u).unwrap_err();
        assert!(e.contains("version 99"), "{e}");
        assert!(u.hosts.is_empty() && u.remotes.is_empty());
    }

    /// A version 2 file (the body and the optional trailer of the names' sources): the
    /// tables load, the history stays empty.
    #[test]
    fn version_2_files_still_load() {
        let v3 = encode(&filled(), 5);
        let mut v2 = v3[..v3.len() - 2].to_vec(); // no alerts' memory, no history
        v2[14] = 2;
        let mut h = crate::history::History::new(Default::default());
        let mut u = Tables::new(100, 10);
        let r = decode_all(&v2, &mut u, Some(&mut h)).unwrap();
        assert_eq!((r.hosts, r.remotes, r.buckets), (1, 1, 0));
        assert!(r.alert_memory.is_empty() && r.history_error.is_none());
        assert!(h.hourly.is_empty());
        // and without the trailer
        let kinds = 1 + filled().remotes.len();
        let mut u = Tables::new(100, 10);
        assert_eq!(
            decode_into(&v2[..v2.len() - kinds], &mut u).unwrap(),
            (1, 1)
        );
    }

    /// Version 3 keeps the history and the alerts' memory; a damaged history loses only
    /// the history.
    #[test]
    fn history_and_alert_memory_round_trip() {
        let mut t = filled();
        let mut h = crate::history::History::new(Default::default());
        t.sweep_pairs(|d| h.add(d, Some("laptop")));
        h.publish();
        let view = h.cell.get();
        let extra = Extra {
            history: Some(&view),
            alert_memory: b"opaque",
        };
        let bytes = encode_all(&t, &extra, 5);
        let mut g = crate::history::History::new(Default::default());
        let mut u = Tables::new(100, 10);
        let r = decode_all(&bytes, &mut u, Some(&mut g)).unwrap();
        assert_eq!((r.hosts, r.remotes, r.buckets), (1, 1, 1));
        assert_eq!(r.alert_memory, b"opaque");
        assert_eq!(g.cell.get().hourly[0].devices[0].count.bytes_in, 1500);
        // the history's last byte damaged (its length no longer matches): tables kept
        let mut bad = bytes.clone();
        bad.pop();
        let mut g = crate::history::History::new(Default::default());
        let mut u = Tables::new(100, 10);
        let r = decode_all(&bad, &mut u, Some(&mut g)).unwrap();
        assert_eq!((r.hosts, r.remotes, r.buckets), (1, 1, 0));
        assert!(r.history_error.is_some());
        assert!(g.hourly.is_empty());
    }

    #[test]
    fn damaged_files_are_refused_or_read_within_bounds() {
        let good = encode(&filled(), 5);
        let mut x: u32 = 1;
        for round in 0..4000 {
            let mut bad = good.clone();
            for _ in 0..1 + round % 4 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let at = 15 + x as usize % (bad.len() - 15);
                bad[at] = (x >> 8) as u8;
            }
            let mut u = Tables::new(3, 2);
            if decode_into(&bad, &mut u).is_ok() {
                assert!(u.remotes.len() <= 3 && u.hosts.len() <= 2);
            }
        }
    }

    #[test]
    fn load_keeps_the_max_names_bound() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state");
        save(&p, &filled(), 9).unwrap();
        let mut t = Tables::new(100, 10);
        t.set_max_names(7);
        assert!(load(&p, &mut t).unwrap().is_some());
        assert_eq!(
            t.name_stats().max_pairs,
            7,
            "--max-names lost when the state was restored"
        );
    }

    #[test]
    fn load_missing_is_fine_and_bounds_apply() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state");
        let mut t = Tables::new(100, 10);
        assert_eq!(load(&p, &mut t).unwrap(), None);
        save(&p, &filled(), 9).unwrap();
        let mut small = Tables::new(1, 1);
        assert_eq!(load(&p, &mut small).unwrap(), Some((1, 1)));
        std::fs::write(&p, b"\x00garbage").unwrap();
        assert!(load(&p, &mut t).is_err());
    }
}
