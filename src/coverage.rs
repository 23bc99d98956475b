//! Coverage: how much of the traffic has a name, and which devices hide their DNS.
//!
//! Beside `learn`, computed per snapshot from the tables (never per packet):
//! - **names coverage**: the remotes, and their bytes, that have a name, by the source that
//!   gave it (DNS answer, TLS SNI, QUIC Initial SNI, HTTP Host; ECH outer names apart);
//! - **encrypted DNS, seen not read**: per device, the remotes it talks DNS over TLS to
//!   (port 853, TCP or UDP: DoT, DoQ) and the well-known DNS-over-HTTPS resolvers it talks to
//!   on port 443 (`DohList`: a small built-in list of resolver addresses, plus
//!   `--doh-list FILE`). Such a device's names come from SNI only, which the page says.

use crate::packet::Addr;
use crate::table::{NameKind, Remote, Tables};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

/// Addresses of well-known public DNS-over-HTTPS resolvers (their anycast front ends, as the
/// providers publish them): Cloudflare, Google, Quad9, AdGuard, OpenDNS, CleanBrowsing,
/// Mullvad, NextDNS, Control D, DNS.SB.
pub const BUILTIN_DOH: &[&str] = &[
    "1.1.1.1",
    "1.0.0.1",
    "1.1.1.2",
    "1.0.0.2",
    "1.1.1.3",
    "1.0.0.3",
    "2606:4700:4700::1111",
    "2606:4700:4700::1001",
    "8.8.8.8",
    "8.8.4.4",
    "2001:4860:4860::8888",
    "2001:4860:4860::8844",
    "9.9.9.9",
    "149.112.112.112",
    "9.9.9.11",
    "2620:fe::fe",
    "2620:fe::9",
    "94.140.14.14",
    "94.140.15.15",
    "2a10:50c0::ad1:ff",
    "2a10:50c0::ad2:ff",
    "208.67.222.222",
    "208.67.220.220",
    "2620:119:35::35",
    "2620:119:53::53",
    "185.228.168.9",
    "185.228.169.9",
    "194.242.2.2",
    "2a07:e340::2",
    "45.90.28.0",
    "45.90.30.0",
    "76.76.2.0",
    "76.76.10.0",
    "185.222.222.222",
    "45.11.45.11",
];

/// Most addresses read from `--doh-list`.
pub const MAX_DOH_ADDRESSES: usize = 4096;

/// The port of DNS over TLS (RFC 7858) and DNS over QUIC (RFC 9250).
pub const DOT_PORT: u16 = 853;

/// Resolver addresses whose port 443 is DNS over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DohList(HashSet<Addr>);

impl Default for DohList {
    fn default() -> DohList {
        DohList(BUILTIN_DOH.iter().filter_map(|a| a.parse().ok()).collect())
    }
}

impl DohList {
    /// The built-in list plus the addresses in `text`: one per line, `#` comments, blank
    /// lines ignored. A line that is not an address is an error naming it.
    pub fn with_text(text: &str) -> Result<DohList, String> {
        let mut l = DohList::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let a: Addr = line.parse().map_err(|_| {
                format!(
                    "line {}: {} is not an IP address",
                    i + 1,
                    crate::cli::quote(line)
                )
            })?;
            if l.0.len() >= MAX_DOH_ADDRESSES {
                return Err(format!("more than {MAX_DOH_ADDRESSES} addresses"));
            }
            l.0.insert(a);
        }
        Ok(l)
    }

    /// Reads `--doh-list FILE`.
    pub fn load(path: &Path) -> Result<DohList, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--doh-list {}: {e}", path.display()))?;
        DohList::with_text(&text).map_err(|e| format!("--doh-list {}: {e}", path.display()))
    }

    pub fn contains(&self, a: &Addr) -> bool {
        self.0.contains(a)
    }
}

/// What a remote is to the devices that talk to it, for encrypted DNS: (DoT, DoH).
pub fn encrypted_dns(ip: &Addr, r: &Remote, doh: &DohList) -> (bool, bool) {
    let dot = r.ports.contains(&DOT_PORT);
    let doh = r.ports.contains(&443) && doh.contains(ip);
    (dot, doh)
}

/// Per device in `hosts[]`: its encrypted DNS resolvers (remotes), absent when none.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct EncryptedDns {
    /// Remotes it talks to on port 853 (DNS over TLS or QUIC).
    pub dot: u32,
    /// Well-known DNS-over-HTTPS resolvers it talks to on port 443.
    pub doh: u32,
    /// Bytes to and from those remotes.
    pub bytes: u64,
}

/// Remotes and bytes with a name from one source.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Share {
    pub remotes: u64,
    pub bytes: u64,
}

/// `stats.names_coverage`: how many remotes, and how many of their bytes, have a name.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Coverage {
    /// All remotes and bytes in the table now.
    pub remotes: u64,
    pub bytes: u64,
    /// Those with a name (a site's name: not counting ECH outer names).
    pub named: Share,
    /// By source; a remote named by several sources counts under each.
    pub dns: Share,
    pub sni: Share,
    pub quic: Share,
    pub host: Share,
    /// Remotes that only showed an ECH outer name (no site name from any source).
    pub ech_outer_only: Share,
}

/// Computes `names_coverage` over the table (once per snapshot).
pub fn coverage(tables: &Tables) -> Coverage {
    let mut c = Coverage::default();
    for r in tables.remotes.values() {
        let b = r.counters.total_bytes();
        c.remotes += 1;
        c.bytes += b;
        let add = |s: &mut Share| {
            s.remotes += 1;
            s.bytes += b;
        };
        if !r.names.is_empty() {
            add(&mut c.named);
        } else if r.name_kinds & NameKind::EchOuter.bit() != 0 {
            add(&mut c.ech_outer_only);
        }
        for (kind, share) in [
            (NameKind::Dns, &mut c.dns),
            (NameKind::Sni, &mut c.sni),
            (NameKind::Quic, &mut c.quic),
            (NameKind::HttpHost, &mut c.host),
        ] {
            if r.name_kinds & kind.bit() != 0 {
                add(share);
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Counters, Tables};

    fn remote(bytes: u64, host: Addr) -> Remote {
        let mut r = Remote::new(1, 1);
        r.counters = Counters {
            bytes_out: bytes,
            ..Default::default()
        };
        r.hosts = [host].into_iter().collect();
        r.ports = [443u16].into_iter().collect();
        r
    }

    #[test]
    fn doh_list_builtin_and_file() {
        let l = DohList::default();
        assert!(l.contains(&"1.1.1.1".parse().unwrap()));
        assert!(l.contains(&"2620:fe::fe".parse().unwrap()));
        assert_eq!(l.0.len(), BUILTIN_DOH.len());
        let l = DohList::with_text("# mine\n10.99.0.53\n\n fd99::53 # v6\n").unwrap();
        assert!(l.contains(&"10.99.0.53".parse().unwrap()));
        assert!(l.contains(&"fd99::53".parse().unwrap()));
        let e = DohList::with_text("10.0.0.1\nresolver.example\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn coverage_counts_by_source() {
        let mut t = Tables::new(10, 10);
        let host: Addr = "192.168.1.10".parse().unwrap();
        let c = coverage(&t);
        assert_eq!((c.remotes, c.named.remotes), (0, 0));
        for r in ["1.2.3.4", "1.2.3.5", "1.2.3.6"] {
            t.remotes.insert(r.parse().unwrap(), remote(1000, host));
        }
        t.learn(
            host,
            "1.2.3.4".parse().unwrap(),
            "a.example",
            NameKind::Dns,
            10,
        );
        t.learn(
            host,
            "1.2.3.4".parse().unwrap(),
            "a.example",
            NameKind::Quic,
            10,
        );
        t.learn(
            host,
            "1.2.3.5".parse().unwrap(),
            "front.example",
            NameKind::EchOuter,
            10,
        );
        let c = coverage(&t);
        assert_eq!(c.remotes, 3);
        assert_eq!(c.named.remotes, 1);
        assert_eq!(c.dns.remotes, 1);
        assert_eq!(c.quic.remotes, 1);
        assert_eq!(c.sni.remotes, 0);
        assert_eq!(c.ech_outer_only.remotes, 1);
        assert_eq!(c.named.bytes * 3, c.bytes);
        // The ECH outer name is not a site name.
        let r = t.remotes.get_mut(&"1.2.3.5".parse().unwrap()).unwrap();
        assert!(r.names.is_empty());
    }
}
