//! Device names: dnsmasq's DHCP leases, `/etc/ethers`, the static hosts of `/etc/config/dhcp`
//! and odhcpd's IPv6 leases, re-read when they change.
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

/// Splits a UCI config line into words, honouring '' and "" quotes.
fn uci_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                any = true;
            }
            None if c == '#' => break,
            None if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            None => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `config host` sections of `/etc/config/dhcp` (UCI): `option name`, `option mac` or
/// `list mac` (several MACs, space-separated or repeated), `option ip`.
pub fn parse_uci_hosts(text: &str, into: &mut DeviceNames) {
    struct Host {
        name: Option<String>,
        macs: Vec<[u8; 6]>,
        ips: Vec<IpAddr>,
    }
    fn flush(h: Option<Host>, into: &mut DeviceNames) {
        let Some(h) = h else { return };
        for mac in &h.macs {
            if let Some(n) = &h.name {
                into.by_mac.insert(*mac, n.clone());
            }
        }
        for ip in &h.ips {
            if let Some(mac) = h.macs.first() {
                into.mac_by_ip.insert(*ip, *mac);
            }
            if let Some(n) = &h.name {
                into.by_ip.insert(*ip, n.clone());
            }
        }
    }
    let mut cur: Option<Host> = None;
    for line in text.lines() {
        if into.by_ip.len() >= MAX_ENTRIES || into.by_mac.len() >= MAX_ENTRIES {
            break;
        }
        let w = uci_words(line);
        match w.first().map(String::as_str) {
            Some("config") => {
                flush(cur.take(), into);
                if w.get(1).map(String::as_str) == Some("host") {
                    cur = Some(Host {
                        name: None,
                        macs: vec![],
                        ips: vec![],
                    });
                }
            }
            Some("option") | Some("list") => {
                let (Some(h), Some(key), Some(val)) = (cur.as_mut(), w.get(1), w.get(2)) else {
                    continue;
                };
                match key.as_str() {
                    "name" => h.name = clean_name(val),
                    "mac" => h.macs.extend(
                        val.split_whitespace()
                            .filter_map(parse_mac)
                            .take(16 - h.macs.len().min(16)),
                    ),
                    "ip" => h
                        .ips
                        .extend(val.parse::<IpAddr>().ok().filter(|_| h.ips.len() < 16)),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    flush(cur, into);
}

/// The MAC inside a DHCPv6 DUID (hex), when it is DUID-LLT or DUID-LL over Ethernet.
pub fn duid_mac(duid: &str) -> Option<[u8; 6]> {
    if duid.len() % 2 != 0 || duid.len() > 260 || !duid.is_ascii() {
        return None;
    }
    let b: Vec<u8> = (0..duid.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&duid[i..i + 2], 16).ok())
        .collect::<Option<_>>()?;
    let mac = match (b.get(0..4)?, b.len()) {
        ([0, 1, 0, 1], 14) => &b[8..14],
        ([0, 3, 0, 1], 10) => &b[4..10],
        _ => return None,
    };
    mac.try_into().ok()
}

/// odhcpd's lease/hosts file (`/tmp/hosts/odhcpd`): `# iface duid iaid hostname ts id
/// prefix addr/len ...` lines, and hosts-file lines `addr name`.
pub fn parse_odhcpd(text: &str, into: &mut DeviceNames) {
    for line in text.lines() {
        if into.by_ip.len() >= MAX_ENTRIES {
            break;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() == Some(&"#") {
            if f.len() < 9 {
                continue;
            }
            let name = clean_name(f[4]);
            let mac = duid_mac(f[2]);
            for a in f[8..].iter().take(16) {
                let Ok(ip) = a.split('/').next().unwrap_or("").parse::<IpAddr>() else {
                    continue;
                };
                if let Some(m) = mac {
                    into.mac_by_ip.insert(ip, m);
                }
                if let Some(n) = &name {
                    into.by_ip.insert(ip, n.clone());
                }
            }
            if let (Some(m), Some(n)) = (mac, name) {
                into.by_mac.entry(m).or_insert(n);
            }
        } else if f.len() >= 2 && !f[0].starts_with('#') {
            if let (Ok(ip), Some(n)) = (f[0].parse::<IpAddr>(), clean_name(f[1])) {
                into.by_ip.entry(ip).or_insert(n);
            }
        }
    }
}

/// Watches the lease files and re-reads them when their size or mtime changes.
pub struct DevNameSource {
    leases: Option<PathBuf>,
    ethers: Option<PathBuf>,
    pub dhcp_config: Option<PathBuf>,
    pub odhcpd: Option<PathBuf>,
    seen: Vec<Option<(u64, SystemTime)>>,
    pub current: DeviceNames,
}

impl DevNameSource {
    pub fn new(leases: Option<PathBuf>, ethers: Option<PathBuf>) -> DevNameSource {
        DevNameSource {
            leases,
            ethers,
            dhcp_config: None,
            odhcpd: None,
            seen: vec![None; 4],
            current: DeviceNames::default(),
        }
    }

    /// Fixed names (the demo's).
    pub fn fixed(names: DeviceNames) -> DevNameSource {
        DevNameSource {
            leases: None,
            ethers: None,
            dhcp_config: None,
            odhcpd: None,
            seen: vec![None; 4],
            current: names,
        }
    }

    /// Re-reads the files if any changed. Returns true when the names changed.
    pub fn refresh(&mut self) -> bool {
        let files = [&self.leases, &self.ethers, &self.dhcp_config, &self.odhcpd];
        if files.iter().all(|f| f.is_none()) {
            return false;
        }
        let stamps: Vec<Option<(u64, SystemTime)>> =
            files.iter().map(|p| p.as_deref().and_then(stamp)).collect();
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
        if let Some(text) = self.dhcp_config.as_deref().and_then(read_bounded) {
            parse_uci_hosts(&text, &mut names);
        }
        if let Some(text) = self.odhcpd.as_deref().and_then(read_bounded) {
            parse_odhcpd(&text, &mut names);
        }
        let changed = names != self.current;
        if changed {
            log::info!(
                "device names: {} by address, {} by MAC",
                names.by_ip.len(),
                names.by_mac.len()
            );
        }
        self.current = names;
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
    fn uci_static_hosts() {
        let text = "config dnsmasq\n\toption domain 'lan'\n\n\
            config host\n\toption name 'nas'\n\toption mac '02:00:00:00:00:20 02:00:00:00:00:21'\n\toption ip '192.168.1.20'\n\n\
            config host 'tv'\n\toption name \"tv\"\n\tlist mac 02:00:00:00:00:30\n\toption ip 192.168.1.30 # comment\n\n\
            config host\n\toption name 'bad name!'\n\toption mac 'zz'\n\toption ip 'x'\n\
            config domain\n\toption name 'notahost'\n\toption ip '192.168.1.99'\n\
            option name 'orphan'\n garbage ' unterminated\n";
        let mut n = DeviceNames::default();
        parse_uci_hosts(text, &mut n);
        let nas = "192.168.1.20".parse().unwrap();
        assert_eq!(n.name(&nas, None), Some("nas"));
        assert_eq!(n.mac(&nas), Some([2, 0, 0, 0, 0, 0x20]));
        assert_eq!(
            n.name(
                &"192.168.1.3".parse().unwrap(),
                Some(&[2, 0, 0, 0, 0, 0x21])
            ),
            Some("nas")
        );
        assert_eq!(n.name(&"192.168.1.30".parse().unwrap(), None), Some("tv"));
        assert_eq!(n.name(&"192.168.1.99".parse().unwrap(), None), None);
        assert_eq!(n.by_ip.len(), 2);
    }

    #[test]
    fn odhcpd_leases() {
        let text = "# br-lan 000100012c5f1a2b020000000010 1 laptop 1764003600 7 128 fd00:1::10/128 fd00:1::1234/128\n\
            fd00:1::10 laptop.lan\n\
            # br-lan 00030001020000000011 2 phone 1764003600 8 128 fd00:1::11/128\n\
            # br-lan 0002abcd 3 * 1764003600 9 128 fd00:1::12/128\n\
            # short line\n\
            fd00:1::99 printer\n\
            not-an-ip name\n";
        let mut n = DeviceNames::default();
        parse_odhcpd(text, &mut n);
        let l6: IpAddr = "fd00:1::10".parse().unwrap();
        assert_eq!(n.name(&l6, None), Some("laptop"));
        assert_eq!(n.mac(&l6), Some([2, 0, 0, 0, 0, 0x10]));
        assert_eq!(
            n.mac(&"fd00:1::11".parse().unwrap()),
            Some([2, 0, 0, 0, 0, 0x11])
        );
        assert_eq!(n.mac(&"fd00:1::12".parse().unwrap()), None);
        assert_eq!(n.name(&"fd00:1::12".parse().unwrap(), None), None);
        assert_eq!(
            n.name(&"fd00:1::99".parse().unwrap(), None),
            Some("printer")
        );
        assert_eq!(duid_mac("0001"), None);
        assert_eq!(duid_mac("zz"), None);
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
        let mut src = DevNameSource::new(Some(leases.clone()), Some(dir.path().join("none")));
        assert!(!src.refresh());
        std::fs::write(&leases, "1 aa:bb:cc:dd:ee:01 192.168.1.5 tv *\n").unwrap();
        assert!(src.refresh());
        assert_eq!(
            src.current.name(&"192.168.1.5".parse().unwrap(), None),
            Some("tv")
        );
        assert!(!src.refresh());
    }
}
