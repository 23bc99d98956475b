//! Device names: dnsmasq's DHCP leases and `/etc/ethers`, re-read when they change.
//!
//! Feeds the `name` (and a missing `mac`) of `hosts[]` in markers.json. Files are read whole
//! (they are small), parsed leniently — a garbage line is skipped, never fatal — and bounded
//! (`MAX_ENTRIES`), so a runaway file cannot grow the daemon.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const MAX_ENTRIES: usize = 4096;
const MAX_FILE_BYTES: u64 = 1 << 20;
const MAX_NAME_LEN: usize = 63;

/// What the lease files say about devices.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeviceNames {
    pub by_ip: HashMap<IpAddr, String>,
    pub mac_by_ip: HashMap<IpAddr, [u8; 6]>,
    pub by_mac: HashMap<[u8; 6], String>,
}

impl DeviceNames {
    /// Name of a device: by its address, else by its MAC.
    pub fn name(&self, ip: &IpAddr, mac: Option<&[u8; 6]>) -> Option<&str> {
        self.by_ip
            .get(ip)
            .or_else(|| mac.and_then(|m| self.by_mac.get(m)))
            .map(String::as_str)
    }

    pub fn mac(&self, ip: &IpAddr) -> Option<[u8; 6]> {
        self.mac_by_ip.get(ip).copied()
    }
}

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in out.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

pub fn format_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// A usable host name: printable, no spaces, bounded, not dnsmasq's "*" placeholder.
fn clean_name(s: &str) -> Option<String> {
    if s == "*" || s.is_empty() || s.len() > MAX_NAME_LEN {
        return None;
    }
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .then(|| s.to_string())
}

/// dnsmasq lease lines: `<expiry> <mac> <ip> <hostname|*> <client-id|*>`; IPv6 leases follow a
/// `duid ...` line and carry an IAID where the MAC would be.
pub fn parse_leases(text: &str, into: &mut DeviceNames) {
    for line in text.lines() {
        if into.by_ip.len() >= MAX_ENTRIES {
            break;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || f[0] == "duid" {
            continue;
        }
        let Ok(ip) = f[2].parse::<IpAddr>() else {
            continue;
        };
        let mac = parse_mac(f[1]);
        if let Some(mac) = mac {
            into.mac_by_ip.insert(ip, mac);
        }
        if let Some(name) = clean_name(f[3]) {
            if let Some(mac) = mac {
                into.by_mac.entry(mac).or_insert_with(|| name.clone());
            }
            into.by_ip.insert(ip, name);
        }
    }
}

/// `/etc/ethers` lines: `<mac> <hostname-or-ip>`, `#` comments.
pub fn parse_ethers(text: &str, into: &mut DeviceNames) {
    for line in text.lines() {
        if into.by_mac.len() >= MAX_ENTRIES {
            break;
        }
        let line = line.split('#').next().unwrap_or("");
        let mut f = line.split_whitespace();
        let (Some(mac), Some(who)) = (f.next().and_then(parse_mac), f.next()) else {
            continue;
        };
        if let Ok(ip) = who.parse::<IpAddr>() {
            into.mac_by_ip.entry(ip).or_insert(mac);
        } else if let Some(name) = clean_name(who) {
            into.by_mac.insert(mac, name);
        }
    }
}

/// Watches the lease files and re-reads them when their size or mtime changes.
pub struct NameSource {
    leases: Option<PathBuf>,
    ethers: Option<PathBuf>,
    seen: Vec<Option<(u64, SystemTime)>>,
    pub names: DeviceNames,
}

impl NameSource {
    pub fn new(leases: Option<PathBuf>, ethers: Option<PathBuf>) -> NameSource {
        NameSource {
            leases,
            ethers,
            seen: vec![None, None],
            names: DeviceNames::default(),
        }
    }

    /// Fixed names (the demo's).
    pub fn fixed(names: DeviceNames) -> NameSource {
        NameSource {
            leases: None,
            ethers: None,
            seen: vec![None, None],
            names,
        }
    }

    /// Re-reads the files if any changed. Returns true when the names changed.
    pub fn refresh(&mut self) -> bool {
        if self.leases.is_none() && self.ethers.is_none() {
            return false;
        }
        let stamps: Vec<Option<(u64, SystemTime)>> = [&self.leases, &self.ethers]
            .iter()
            .map(|p| p.as_deref().and_then(stamp))
            .collect();
        if stamps == self.seen {
            return false;
        }
        self.seen = stamps;
        let mut names = DeviceNames::default();
        if let Some(text) = self.leases.as_deref().and_then(read_bounded) {
            parse_leases(&text, &mut names);
        }
        if let Some(text) = self.ethers.as_deref().and_then(read_bounded) {
            parse_ethers(&text, &mut names);
        }
        let changed = names != self.names;
        if changed {
            log::info!(
                "device names: {} by address, {} by MAC",
                names.by_ip.len(),
                names.by_mac.len()
            );
        }
        self.names = names;
        changed
    }
}

fn stamp(p: &Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.len(), m.modified().ok()?))
}

fn read_bounded(p: &Path) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(p).ok()?;
    let mut buf = Vec::new();
    if let Err(e) = f.take(MAX_FILE_BYTES).read_to_end(&mut buf) {
        log::warn!("{}: {e}", p.display());
        return None;
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnsmasq_leases() {
        let text = "1764200000 aa:bb:cc:dd:ee:01 192.168.1.23 laptop 01:aa:bb:cc:dd:ee:01\n\
                    1764200000 aa:bb:cc:dd:ee:02 192.168.1.24 * *\n\
                    duid 00:01:00:01:2c:5f:aa:bb:cc:dd:ee:ff\n\
                    1764200000 1234567 fd00:1::23 laptop6 00:01:00:01\n\
                    garbage line\n\
                    1 2 3\n\
                    1764200000 zz:zz 192.168.1.99 bad<name> *\n";
        let mut n = DeviceNames::default();
        parse_leases(text, &mut n);
        let ip: IpAddr = "192.168.1.23".parse().unwrap();
        assert_eq!(n.name(&ip, None), Some("laptop"));
        assert_eq!(n.mac(&ip), Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 1]));
        assert_eq!(n.name(&"192.168.1.24".parse().unwrap(), None), None);
        assert_eq!(
            n.name(&"fd00:1::23".parse().unwrap(), None),
            Some("laptop6")
        );
        assert_eq!(n.name(&"192.168.1.99".parse().unwrap(), None), None);
    }

    #[test]
    fn ethers() {
        let mut n = DeviceNames::default();
        parse_ethers(
            "# comment\naa:bb:cc:dd:ee:03 printer\naa-bb-cc-dd-ee-04 192.168.1.40\nnonsense\n",
            &mut n,
        );
        let mac = [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 3];
        assert_eq!(
            n.name(&"192.168.1.3".parse().unwrap(), Some(&mac)),
            Some("printer")
        );
        assert_eq!(
            n.mac(&"192.168.1.40".parse().unwrap()),
            Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 4])
        );
    }

    #[test]
    fn macs() {
        assert_eq!(parse_mac("01:02:03:04:05:06"), Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(parse_mac("01:02:03:04:05"), None);
        assert_eq!(parse_mac("01:02:03:04:05:06:07"), None);
        assert_eq!(parse_mac("001:02:03:04:05:06"), None);
        assert_eq!(format_mac(&[0xaa, 0, 1, 2, 3, 0xff]), "aa:00:01:02:03:ff");
    }

    #[test]
    fn refresh_reads_changes_and_survives_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let leases = dir.path().join("dhcp.leases");
        let mut src = NameSource::new(Some(leases.clone()), Some(dir.path().join("none")));
        assert!(!src.refresh());
        std::fs::write(&leases, "1 aa:bb:cc:dd:ee:01 192.168.1.5 tv *\n").unwrap();
        assert!(src.refresh());
        assert_eq!(
            src.names.name(&"192.168.1.5".parse().unwrap(), None),
            Some("tv")
        );
        assert!(!src.refresh());
    }
}
