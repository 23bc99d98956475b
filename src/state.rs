//! State: the tables saved to a file and restored at start, so a restart loses nothing.
//!
//! The file is [postcard](https://docs.rs/postcard) (a compact, documented serde format):
//! a header (format tag, version) and then the body, so that a file of another version is
//! named as such rather than misread. Binary, because a state file is for connmap alone: it is
//! a sixth the size of the same tables in JSON (336 KB against 1.99 MB for 10,000 remotes:
//! less to write to flash), and reading it takes far less code than serde_json's deserializer
//! (the MIPS binary is 48 KB smaller). It is written atomically (see `snapshot::write_atomically`). Geolocation is not saved: it is looked up again on restore,
//! against whatever database is installed then. Loading never trusts the file: bounds are
//! re-applied, bad entries are skipped, and a file that does not parse is reported and ignored.
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
use crate::table::{
    Counters, Host, Remote, Tables, MAX_HOSTS_PER_REMOTE, MAX_PORTS, MAX_PROTOCOLS,
};
use serde::{Deserialize, Serialize};
use std::path::Path;

const FORMAT: &str = "connmap-state";
/// 1 was JSON (before release); 2 is postcard; 3 adds the history and the alerts' memory.
pub const VERSION: u32 = 3;
/// The previous version, still read.
const VERSION_2: u32 = 2;
/// Larger files are refused unread: a state file of the largest tables is far smaller.
const MAX_STATE_BYTES: u64 = 256 << 20;

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    saved: u64,
    hosts: Vec<HostRec>,
    remotes: Vec<RemoteRec>,
}

#[derive(Serialize, Deserialize)]
struct CountersRec {
    packets_out: u64,
    bytes_out: u64,
    packets_in: u64,
    bytes_in: u64,
}

#[derive(Serialize, Deserialize)]
struct HostRec {
    ip: Addr,
    mac: Option<[u8; 6]>,
    c: CountersRec,
    first_seen: u64,
    last_seen: u64,
}

#[derive(Serialize, Deserialize)]
struct RemoteRec {
    ip: Addr,
    c: CountersRec,
    first_seen: u64,
    last_seen: u64,
    hosts: Vec<Addr>,
    ports: Vec<u16>,
    protocols: Vec<u8>,
    /// Learned names, most recent first.
    names: Vec<String>,
}

impl From<Counters> for CountersRec {
    fn from(c: Counters) -> Self {
        CountersRec {
            packets_out: c.packets_out,
            bytes_out: c.bytes_out,
            packets_in: c.packets_in,
            bytes_in: c.bytes_in,
        }
    }
}

impl From<CountersRec> for Counters {
    fn from(c: CountersRec) -> Self {
        Counters {
            packets_out: c.packets_out,
            bytes_out: c.bytes_out,
            packets_in: c.packets_in,
            bytes_in: c.bytes_in,
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

/// Serialises the tables, the history and the alerts' memory.
pub fn encode_all(t: &Tables, extra: &Extra, now: u64) -> Vec<u8> {
    let header = Header {
        format: FORMAT.to_string(),
        version: VERSION,
    };
    let file = StateFile {
        saved: now,
        hosts: t
            .hosts
            .iter()
            .map(|(ip, h)| HostRec {
                ip: *ip,
                mac: h.mac,
                c: h.counters.into(),
                first_seen: h.first_seen,
                last_seen: h.last_seen,
            })
            .collect(),
        remotes: t
            .remotes
            .iter()
            .map(|(ip, r)| RemoteRec {
                ip: *ip,
                c: r.counters.into(),
                first_seen: r.first_seen,
                last_seen: r.last_seen,
                hosts: r.hosts.to_vec(),
                ports: r.ports.to_vec(),
                protocols: r.protocols.to_vec(),
                names: r.names.iter().map(|n| n.to_string()).collect(),
            })
            .collect(),
    };
    // The sources of the remotes' names (`Remote::name_kinds`), in the same order: a trailer
    // after the body, so that files without it (earlier builds) still read.
    let kinds: Vec<u8> = t.remotes.values().map(|r| r.name_kinds).collect();
    // Writing to a Vec fails only if a length does not fit in a u32, which bounded tables never reach.
    let out = postcard::to_extend(&header, Vec::new()).unwrap_or_default();
    let out = postcard::to_extend(&file, out).unwrap_or_default();
    let out = postcard::to_extend(&kinds, out).unwrap_or_default();
    let out = postcard::to_extend(extra.alert_memory, out).unwrap_or_default();
    let history = extra.history.map(crate::history::persist::encode);
    postcard::to_extend(&history.unwrap_or_default(), out).unwrap_or_default()
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

/// Fills `t` (and `history`, when given) from a state file's bytes, version 2 or 3.
pub fn decode_all(
    bytes: &[u8],
    t: &mut Tables,
    history: Option<&mut crate::history::History>,
) -> Result<Restored, String> {
    let not_state = || "not a connmap state file".to_string();
    let (header, body) = postcard::take_from_bytes::<Header>(bytes).map_err(|_| not_state())?;
    if header.format != FORMAT {
        return Err(not_state());
    }
    if header.version != VERSION && header.version != VERSION_2 {
        return Err(format!(
            "state file version {} is not supported (this connmap reads {VERSION_2} and \
             {VERSION})",
            header.version
        ));
    }
    let damaged = |e| format!("the state file is damaged ({e}); it is ignored");
    let (file, rest): (StateFile, &[u8]) = postcard::take_from_bytes(body).map_err(damaged)?;
    let mut restored = Restored::default();
    let kinds: Vec<u8> = if header.version == VERSION_2 {
        // version 2: the names' sources are an optional trailer, and nothing follows
        postcard::from_bytes(rest).unwrap_or_default()
    } else {
        let (kinds, rest): (Vec<u8>, &[u8]) = postcard::take_from_bytes(rest).map_err(damaged)?;
        let (memory, rest): (Vec<u8>, &[u8]) = postcard::take_from_bytes(rest).map_err(damaged)?;
        restored.alert_memory = memory;
        if let Some(h) = history {
            let read = postcard::from_bytes::<Vec<u8>>(rest)
                .map_err(|e| format!("the history is damaged ({e})"))
                .and_then(|b| {
                    if b.is_empty() {
                        return Ok((vec![], vec![], 0));
                    }
                    crate::history::persist::decode(&b, &h.bounds)
                });
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
    // Newest first, so that the bounds keep the most recent entries.
    let mut hosts = file.hosts;
    hosts.sort_unstable_by_key(|h| std::cmp::Reverse(h.last_seen));
    for h in hosts.into_iter().take(t.max_hosts) {
        let mut host = Host::new(h.first_seen.min(h.last_seen), h.last_seen);
        host.counters = h.c.into();
        host.mac = h.mac;
        t.restore_host(h.ip, host);
    }
    let mut remotes: Vec<(RemoteRec, u8)> = file
        .remotes
        .into_iter()
        .enumerate()
        .map(|(i, r)| (r, kinds.get(i).copied().unwrap_or(0)))
        .collect();
    remotes.sort_unstable_by_key(|(r, _)| std::cmp::Reverse(r.last_seen));
    for (r, name_kinds) in remotes.into_iter().take(t.max_remotes) {
        let mut remote = Remote::new(r.first_seen.min(r.last_seen), r.last_seen);
        remote.counters = r.c.into();
        remote.name_kinds = name_kinds;
        let mut ports = r.ports;
        ports.sort_unstable();
        ports.dedup();
        ports.truncate(MAX_PORTS);
        remote.ports = ports.into();
        let mut hosts = r.hosts;
        hosts.truncate(MAX_HOSTS_PER_REMOTE);
        remote.hosts = hosts.into();
        remote.pairs = smallvec::smallvec![Default::default(); remote.hosts.len()];
        remote.swept_hosts = remote.hosts.len() as u8;
        let mut protocols = r.protocols;
        protocols.truncate(MAX_PROTOCOLS);
        remote.protocols = protocols.into();
        remote.names = (r.names.iter())
            .filter_map(|n| crate::learn::clean_name(n.as_bytes()))
            .take(crate::table::MAX_NAMES_PER_REMOTE)
            .map(std::rc::Rc::from)
            .collect();
        t.restore_remote(r.ip, remote);
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
