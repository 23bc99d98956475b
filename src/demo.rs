//! `connmap demo`: the real data path and map page, fed with synthetic traffic.
//!
//! A small household (six devices) talks to services in cities around the world. Remote
//! addresses come from the documentation ranges (TEST-NET-1/2/3, 2001:db8::/32), which connmap
//! counts as remote here through `--remote`; a database built in memory with the real mmdb
//! writer places them in those cities. Frames are built with etherparse and go through exactly
//! the decoder, filter, tables and snapshots that live traffic takes. New remotes keep
//! appearing for a while, so the page's live updates can be watched.
//!
//! Host-only (the `demo` cargo feature): router builds leave it and the writer out.

use crate::capture::Frame;
use crate::cli::DemoConfig;
use crate::daemon::{unix_now, DataPath};
use crate::devnames::{DevNameSource, DeviceNames};
use crate::filter::Networks;
use crate::geo::GeoDb;
use crate::packet::LinkType;
use crate::snapshot::{SnapshotCell, SnapshotMeta};
use crate::table::Tables;
use etherparse::PacketBuilder;
use mmdb_writer::Writer;

mod record;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// (city, country, lat, lng, asn, org)
pub const CITIES: &[(&str, &str, f64, f64, u32, &str)] = &[
    (
        "Frankfurt am Main",
        "DE",
        50.1109,
        8.6821,
        64500,
        "Example Cloud GmbH",
    ),
    (
        "Amsterdam",
        "NL",
        52.3676,
        4.9041,
        64501,
        "Demo Streaming B.V.",
    ),
    ("London", "GB", 51.5072, -0.1276, 64502, "Sample News Ltd"),
    ("Paris", "FR", 48.8566, 2.3522, 64503, "Exemple Vidéo SAS"),
    ("Stockholm", "SE", 59.3293, 18.0686, 64504, "Demo Music AB"),
    ("Warsaw", "PL", 52.2297, 21.0122, 64505, "Przykład Games"),
    ("Madrid", "ES", 40.4168, -3.7038, 64506, "Ejemplo Mail S.L."),
    ("Milan", "IT", 45.4642, 9.19, 64507, "Esempio CDN S.p.A."),
    ("Zurich", "CH", 47.3769, 8.5417, 64508, "Beispiel Bank AG"),
    (
        "Ashburn",
        "US",
        39.0438,
        -77.4874,
        64509,
        "Example Hyperscaler Inc.",
    ),
    (
        "San Jose",
        "US",
        37.3382,
        -121.8863,
        64510,
        "Demo Search LLC",
    ),
    (
        "Seattle",
        "US",
        47.6062,
        -122.3321,
        64511,
        "Sample Shop Inc.",
    ),
    (
        "Dallas",
        "US",
        32.7767,
        -96.797,
        64512,
        "Example Weather Co.",
    ),
    (
        "Toronto",
        "CA",
        43.6532,
        -79.3832,
        64513,
        "Demo Telecom Canada",
    ),
    (
        "São Paulo",
        "BR",
        -23.5558,
        -46.6396,
        64514,
        "Exemplo Redes Ltda",
    ),
    (
        "Tokyo",
        "JP",
        35.6762,
        139.6503,
        64515,
        "Example Games K.K.",
    ),
    (
        "Singapore",
        "SG",
        1.3521,
        103.8198,
        64516,
        "Demo Cloud Asia Pte",
    ),
    (
        "Sydney",
        "AU",
        -33.8688,
        151.2093,
        64517,
        "Sample Updates Pty",
    ),
    (
        "Mumbai",
        "IN",
        19.076,
        72.8777,
        64518,
        "Example Payments Pvt",
    ),
    (
        "Johannesburg",
        "ZA",
        -26.2041,
        28.0473,
        64519,
        "Demo Networks SA",
    ),
    (
        "Seoul",
        "KR",
        37.5665,
        126.978,
        64520,
        "Example Video Corp.",
    ),
    ("Helsinki", "FI", 60.1699, 24.9384, 64521, "Demo Time Oy"),
];

/// The LAN of the demo household.
pub const LAN_V4: &str = "192.168.1.0/24";
pub const LAN_V6: &str = "fd00:c0:ffee::/64";
/// The documentation ranges the demo counts as remote.
pub const REMOTE_NETS: &[&str] = &[
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "2001:db8::/32",
];

/// (name, last IPv4 octet, MAC, share of the traffic)
pub const DEVICES: &[(&str, u8, [u8; 6], u32)] = &[
    ("laptop", 20, [0x02, 0xc0, 0xff, 0xee, 0, 0x20], 30),
    ("phone", 21, [0x02, 0xc0, 0xff, 0xee, 0, 0x21], 25),
    ("living-room-tv", 22, [0x02, 0xc0, 0xff, 0xee, 0, 0x22], 25),
    ("game-console", 23, [0x02, 0xc0, 0xff, 0xee, 0, 0x23], 12),
    ("thermostat", 24, [0x02, 0xc0, 0xff, 0xee, 0, 0x24], 4),
    ("printer", 25, [0x02, 0xc0, 0xff, 0xee, 0, 0x25], 4),
];

pub const ROUTER_MAC: [u8; 6] = [0x02, 0xc0, 0xff, 0xee, 0, 0x01];

/// Remote address number `i` of city `c` (two IPv4 and, for some, one IPv6 each).
pub fn remote_addr(city: usize, i: usize) -> IpAddr {
    match i {
        0 => IpAddr::from([203, 0, 113, 10 + city as u8]),
        1 => IpAddr::from([198, 51, 100, 10 + city as u8]),
        _ => IpAddr::from([0x2001, 0xdb8, 0, city as u16, 0, 0, 0, 1]),
    }
}

/// All remote addresses of the demo world with their city index.
pub fn remotes() -> Vec<(IpAddr, usize)> {
    let mut v = Vec::new();
    for c in 0..CITIES.len() {
        v.push((remote_addr(c, 0), c));
        if c % 2 == 0 {
            v.push((remote_addr(c, 1), c));
        }
        if c % 3 == 0 {
            v.push((remote_addr(c, 2), c));
        }
    }
    // One address without a location, as real databases have.
    v.push((IpAddr::from([192, 0, 2, 200]), usize::MAX));
    v
}

/// The demo database: every demo remote placed in its city, GeoIP2-City schema plus ASN.
pub fn world_db() -> Result<Vec<u8>, String> {
    let mut w = Writer::builder("connmap-demo-City")
        .description(&[(
            "en",
            "connmap demo data (synthetic, documentation addresses)",
        )])
        .build();
    for (ip, c) in remotes() {
        let Some(&(city, cc, lat, lng, asn, org)) = CITIES.get(c) else {
            continue;
        };
        let rec = record::city_record(city, cc, lat, lng, asn, org);
        w.insert_value(ipnet::IpNet::from(ip), rec)
            .map_err(|e| format!("demo database: {e}"))?;
    }
    w.to_bytes().map_err(|e| format!("demo database: {e}"))
}

pub fn device_ip(octet: u8, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::from([0xfd00, 0xc0, 0xffee, 0, 0, 0, 0, u16::from(octet)])
    } else {
        IpAddr::from([192, 168, 1, octet])
    }
}

pub fn device_names() -> DeviceNames {
    let mut n = DeviceNames::default();
    for (name, octet, mac, _) in DEVICES {
        n.by_ip.insert(device_ip(*octet, false), name.to_string());
        n.by_mac.insert(*mac, name.to_string());
        n.mac_by_ip.insert(device_ip(*octet, false), *mac);
    }
    n
}

/// A tiny deterministic random source (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// One synthetic frame with its wire length.
pub struct SynthFrame {
    pub data: Vec<u8>,
    pub wire_len: u32,
}

/// One end of a synthetic packet.
#[derive(Debug, Clone, Copy)]
pub struct End {
    pub mac: [u8; 6],
    pub ip: IpAddr,
    pub port: u16,
}

/// Builds an Ethernet frame: TCP (6), UDP (17) or else ICMP echo, `from` → `to` (same family).
pub fn build_frame(from: End, to: End, proto: u8, payload_len: usize) -> SynthFrame {
    let (src, dst, sport, dport) = (from.ip, to.ip, from.port, to.port);
    let payload = vec![0u8; payload_len.min(64)];
    let eth = PacketBuilder::ethernet2(from.mac, to.mac);
    let mut data = Vec::with_capacity(128);
    let ip = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), 64),
        _ => return SynthFrame { data, wire_len: 0 },
    };
    let written = match proto {
        6 => ip.tcp(sport, dport, 1, 65535).write(&mut data, &payload),
        17 => ip.udp(sport, dport).write(&mut data, &payload),
        _ => {
            if src.is_ipv4() {
                ip.icmpv4_echo_request(1, 1).write(&mut data, &payload)
            } else {
                ip.icmpv6_echo_request(1, 1).write(&mut data, &payload)
            }
        }
    };
    if written.is_err() {
        data.clear();
    }
    let wire_len = (data.len() + payload_len.saturating_sub(payload.len())) as u32;
    SynthFrame { data, wire_len }
}

/// The household's traffic: call `tick` to get the frames of the next moment.
pub struct Household {
    rng: Rng,
    remotes: Vec<(IpAddr, usize)>,
    /// How many of `remotes` are in use so far (grows, so new markers keep appearing).
    known: usize,
    ticks: u64,
}

impl Household {
    pub fn new(seed: u64) -> Household {
        let remotes = remotes();
        let known = remotes.len() / 2;
        Household {
            rng: Rng::new(seed),
            remotes,
            known,
            ticks: 0,
        }
    }

    /// Frames for one tick (a few outbound packets and their replies).
    pub fn tick(&mut self, frames: usize) -> Vec<SynthFrame> {
        self.ticks += 1;
        if self.ticks % 12 == 0 && self.known < self.remotes.len() {
            self.known += 1;
        }
        let total_share: u32 = DEVICES.iter().map(|d| d.3).sum();
        let mut out = Vec::with_capacity(frames * 2);
        for _ in 0..frames {
            let mut pick = self.rng.below(u64::from(total_share)) as u32;
            let dev = DEVICES
                .iter()
                .find(|d| {
                    if pick < d.3 {
                        true
                    } else {
                        pick -= d.3;
                        false
                    }
                })
                .unwrap_or(&DEVICES[0]);
            // Each device has favourites: skew the choice towards "its" remotes.
            let idx = if self.rng.below(4) == 0 {
                self.rng.below(self.known as u64) as usize
            } else {
                (usize::from(dev.1) * 7 + self.rng.below(4) as usize) % self.known
            };
            let (remote, _) = self.remotes[idx];
            let host = device_ip(dev.1, remote.is_ipv6());
            let (proto, port) = match self.rng.below(20) {
                0..=13 => (6, 443),
                14 => (6, 80),
                15..=16 => (17, 443),
                17 => (17, 53),
                18 => (17, 123),
                _ => (1, 0),
            };
            let sport = 40000 + self.rng.below(20000) as u16;
            let up = 60 + self.rng.below(600) as usize;
            let down = 200 + self.rng.below(1300) as usize;
            let local = End {
                mac: dev.2,
                ip: host,
                port: sport,
            };
            let far = End {
                mac: ROUTER_MAC,
                ip: remote,
                port,
            };
            out.push(build_frame(local, far, proto, up));
            out.push(build_frame(far, local, proto, down));
        }
        out
    }
}

/// The data path of the demo household.
pub fn data_path() -> Result<DataPath, String> {
    let geo = GeoDb::from_bytes(world_db()?)?;
    let nets = Networks::new(
        vec![
            LAN_V4.parse().map_err(|_| "lan")?,
            LAN_V6.parse().map_err(|_| "lan")?,
        ],
        REMOTE_NETS.iter().filter_map(|s| s.parse().ok()).collect(),
        vec![],
    );
    let meta = SnapshotMeta {
        home: Some((52.52, 13.405)),
        ..Default::default()
    };
    let mut dp = DataPath::new(
        nets,
        geo,
        Tables::new(10_000, 1024),
        DevNameSource::fixed(device_names()),
        meta,
    );
    dp.alerts = crate::alert::Alerts::new(alert_config());
    dp.publish_alerts();
    Ok(dp)
}

/// The real alert engine on the synthetic traffic, so that /alerts.json and the page's list
/// show something: no learning period, one alert per device and rule per day (the history's
/// backfill covers 36 days), nothing delivered (no hooks, no ubus event).
pub fn alert_config() -> crate::alert::AlertConfig {
    crate::alert::AlertConfig {
        learning: 0,
        window: 86_400,
        dir: None,
        ubus: None,
        ..Default::default()
    }
}

fn default_www() -> Option<PathBuf> {
    ["www/dist", crate::cli::DEFAULT_WWW]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("index.html").is_file())
}

/// Runs the demo until SIGINT/SIGTERM.
pub fn run(cfg: DemoConfig) -> i32 {
    let mut dp = match data_path() {
        Ok(d) => d,
        Err(e) => {
            log::error!("{e}");
            return 1;
        }
    };
    let term = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let _ = signal_hook::flag::register(sig, std::sync::Arc::clone(&term));
    }
    let cell = SnapshotCell::new(dp.snapshot(unix_now()));
    let www = cfg.www.clone().or_else(default_www);
    if www.is_none() {
        log::warn!("no built map page found (run www/build.sh); serving a placeholder page");
    }
    let opts = crate::http::HttpOptions {
        listen: cfg.listen,
        www,
        tiles_origin: None,
        allow_hosts: vec![],
        metrics: Some(dp.export.metrics.clone()),
        alerts: Some(dp.alerts_cell.clone()),
        history: Some(dp.history.cell.clone()),
    };
    let server = match crate::http::start(&opts, cell.clone()) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return 1;
        }
    };
    log::info!(
        "demo map on http://{}/ (synthetic traffic; Ctrl-C to stop)",
        server.local_addr
    );
    let mut house = Household::new(unix_now());
    backfill(&mut dp, &mut house, unix_now());
    // A first burst, so the map is not empty on the first look.
    let mut ticks = 0u64;
    for _ in 0..40 {
        feed(&mut dp, &mut house, 6);
    }
    dp.sweep(unix_now());
    cell.set(dp.snapshot(unix_now()));
    smol::block_on(async {
        while !term.load(std::sync::atomic::Ordering::Relaxed) {
            smol::Timer::after(Duration::from_millis(250)).await;
            feed(&mut dp, &mut house, 3);
            ticks += 1;
            if ticks % 8 == 0 {
                dp.sweep(unix_now());
                cell.set(dp.snapshot(unix_now()));
            }
        }
    });
    drop(server);
    0
}

/// A history to scrub through (/history.json): a little traffic in each of the last 36 days'
/// hours, swept hour by hour.
fn backfill(dp: &mut DataPath, house: &mut Household, now: u64) {
    for hours_ago in (1..36 * 24u64).rev() {
        let ts = now - hours_ago * 3600;
        feed_at(dp, house, 2, ts);
        dp.sweep(ts);
    }
}

fn feed(dp: &mut DataPath, house: &mut Household, n: usize) {
    feed_at(dp, house, n, unix_now());
}

fn feed_at(dp: &mut DataPath, house: &mut Household, n: usize, ts: u64) {
    for f in house.tick(n) {
        dp.process(
            LinkType::Ethernet,
            &Frame {
                ts,
                wire_len: f.wire_len,
                data: &f.data,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_has_a_history_to_scrub() {
        let mut dp = data_path().unwrap();
        let mut h = Household::new(7);
        let now = 1_764_028_800 + 1800;
        backfill(&mut dp, &mut h, now);
        dp.snapshot(now);
        let v = dp.history.cell.get();
        assert_eq!(v.hourly.len(), 48);
        assert!(v.daily.len() >= 34, "{}", v.daily.len());
    }

    #[test]
    fn demo_alerts_show_in_alerts_json() {
        let mut dp = data_path().unwrap();
        let mut h = Household::new(7);
        let now = 1_764_028_800 + 1800;
        backfill(&mut dp, &mut h, now);
        let v: serde_json::Value = serde_json::from_slice(&dp.alerts_cell.get().json).unwrap();
        let alerts = v["alerts"].as_array().unwrap();
        let rules: Vec<&str> = alerts.iter().filter_map(|a| a["rule"].as_str()).collect();
        assert!(rules.contains(&"new_device"), "{rules:?}");
        assert!(rules.contains(&"new_country"), "{rules:?}");
        assert_eq!(v["learning_until"], serde_json::Value::Null);
        // the devices carry their names, the remotes their countries
        assert!(alerts.iter().any(|a| a["device"]["name"] == "laptop"));
        assert!(alerts
            .iter()
            .filter(|a| a["rule"] == "new_country")
            .all(|a| a["remote"]["country"].is_string()));
    }

    #[test]
    fn demo_world_is_located() {
        let mut dp = data_path().unwrap();
        let mut h = Household::new(7);
        for _ in 0..200 {
            feed(&mut dp, &mut h, 5);
        }
        assert!(dp.tables.remotes.len() > 10);
        assert_eq!(
            dp.tables.hosts.len(),
            DEVICES.len() + dp.tables.hosts.keys().filter(|i| i.is_ipv6()).count()
        );
        let v: serde_json::Value = serde_json::from_slice(&dp.snapshot(1).json).unwrap();
        // located by the snapshot
        let located = dp
            .tables
            .remotes
            .values()
            .filter(|r| r.geo().and_then(|g| g.position).is_some())
            .count();
        assert!(located + 1 >= dp.tables.remotes.len());
        // IPv4 and IPv6 addresses of the laptop both carry its name (through its MAC).
        assert!(v["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"] == "laptop"));
        assert_eq!(dp.stats.decode_errors, 0);
    }
}
