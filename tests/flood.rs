//! Floods (issue 7): far more distinct remotes and LAN sources than the tables hold.
//!
//! - a capture of 200k distinct remotes from 20k LAN sources (generated here; the 1M/50k one is
//!   in the benchmark): the tables stay within `--max-remotes` / `--max-hosts`, evictions are
//!   counted in markers.json and logged, and peak RSS follows the bound, not the traffic;
//! - a live flood in network namespaces (see tests/common/netns.rs): a LAN host sends UDP to
//!   distinct addresses of 10.0.0.0/8 (routed to the W namespace only, which drops them;
//!   `--remote 10.0.0.0/8` makes them count), 15k–33k per phase by default, first alone, then
//!   while LAN clients fetch /markers.json in a loop. Bounds hold, evictions are counted, and
//!   the share of the sent packets that connmap counted is printed for both phases (the
//!   capture keeping up while HTTP is busy). Needs root: `#[ignore]`d, run with
//!   `--include-ignored` (`./dev.sh test` does as root). By hand (and in
//!   `scripts/bench.py --live-flood`): CONNMAP_FLOOD_REMOTES per phase (up to 8M; 500000 makes
//!   the 1M-remote flood), CONNMAP_FLOOD_PPS, CONNMAP_FLOOD_MAX_REMOTES (the table bound),
//!   CONNMAP_FLOOD_BIN (the release build).

mod common;
#[path = "common/load.rs"]
mod load;
#[path = "common/netns.rs"]
mod netns;

use common::*;
use load::*;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Replays `pcap` with the given bounds, serving it afterwards (so that its peak RSS can be
/// read from /proc before it exits): (peak RSS KiB, markers.json, log).
fn replay_bounded(
    dir: &std::path::Path,
    pcap: &std::path::Path,
    max_remotes: u32,
    max_hosts: u32,
) -> (u64, serde_json::Value, String) {
    let args: Vec<String> = [
        "--lan",
        "10.0.0.0/8",
        "--leases",
        "",
        "--ethers",
        "",
        "--geoip",
        "",
        "--max-remotes",
        &max_remotes.to_string(),
        "--max-hosts",
        &max_hosts.to_string(),
    ]
    .map(String::from)
    .to_vec();
    let daemon = serve(dir, pcap, &args);
    let peak = vm_hwm_kb(daemon.pid());
    let (code, _, body) = get_from([127, 0, 0, 1].into(), daemon.addr, "/markers.json");
    assert_eq!(code, 200);
    (
        peak,
        serde_json::from_slice(&body).unwrap(),
        daemon.log_text(),
    )
}

#[test]
fn flood_capture_stays_within_table_bounds() {
    let d = tmp();
    let pcap = d.path().join("flood.pcap");
    let n = flood_capture(&pcap, 200_000, 20_000) as u64;

    let (rss_small, doc, log) = replay_bounded(d.path(), &pcap, 1000, 256);
    let s = &doc["stats"];
    assert_eq!(s["packets"], n, "{s}");
    assert!(s["remotes"].as_u64().unwrap() <= 1000, "{s}");
    assert!(s["hosts"].as_u64().unwrap() <= 256, "{s}");
    assert!(doc["markers"].as_array().unwrap().len() <= 1000);
    assert!(doc["hosts"].as_array().unwrap().len() <= 256);
    // Every remote beyond the bound was evicted (and counted), as were the hosts.
    let ev_r = s["evicted_remotes"].as_u64().unwrap();
    let ev_h = s["evicted_hosts"].as_u64().unwrap();
    assert_eq!(ev_r + s["remotes"].as_u64().unwrap(), n, "{s}");
    // The sources come round in turn (i % 20k), each after all the others: every packet
    // brings a host that was evicted since, so each but the last 256 is evicted once.
    assert_eq!(ev_h + s["hosts"].as_u64().unwrap(), n, "{s}");
    assert!(log.contains("remotes table full (1000)"), "{log}");
    assert!(log.contains("hosts table full (256)"), "{log}");
    // The log says so rarely, not once per eviction round (1,600 rounds for the remotes, 6,250
    // for the hosts here): once per 64 rounds, about 130 lines for 200k remotes.
    assert!(log.matches("table full").count() < 200, "{log}");

    let (rss_big, doc, _) = replay_bounded(d.path(), &pcap, 100_000, 20_000);
    // 200k distinct remotes into a 100k table: an eighth is evicted at each overflow.
    let left = doc["stats"]["remotes"].as_u64().unwrap();
    assert!((87_500..=100_000).contains(&left), "{}", doc["stats"]);
    assert_eq!(doc["stats"]["evicted_remotes"].as_u64().unwrap() + left, n);
    println!(
        "flood 200k remotes / 20k sources: peak RSS {} KiB at --max-remotes 1000, {} KiB at 100000",
        rss_small, rss_big
    );
    // Memory follows the bound: the small table needs far less than the big one, and fits
    // comfortably in a router's RAM (a debug build here; release is smaller).
    assert!(rss_small < 32 * 1024, "peak RSS {rss_small} KiB");
    assert!(rss_small * 2 < rss_big, "{rss_small} vs {rss_big}");
}

/// Sends UDP datagrams to `count` distinct addresses 10.x.y.z from `sources` LAN addresses
/// at about `pps` packets per second. Returns how many were sent, and the rate achieved.
fn flood(first: u32, count: u32, sources: &[Ipv4Addr], pps: u32) -> (u64, f64) {
    let socks: Vec<UdpSocket> = sources
        .iter()
        .map(|s| UdpSocket::bind(SocketAddrV4::new(*s, 0)).unwrap())
        .collect();
    let started = Instant::now();
    let mut sent = 0u64;
    for i in 0..count {
        let n = first + i;
        let dst = Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff));
        let sock = &socks[i as usize % socks.len()];
        if sock.send_to(b"flood", SocketAddrV4::new(dst, 9)).is_ok() {
            sent += 1;
        }
        if i % 100 == 99 {
            let due = started + Duration::from_secs_f64(f64::from(i + 1) / f64::from(pps));
            if let Some(w) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(w);
            }
        }
    }
    (sent, sent as f64 / started.elapsed().as_secs_f64())
}

fn stats_of(json: &std::path::Path) -> serde_json::Value {
    std::fs::read(json)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|d| d["stats"].clone())
        .unwrap_or_default()
}

/// libpcap's drop counter as markers.json reports it (`capture.dropped`; null for a file).
fn capture_dropped(json: &std::path::Path) -> Option<u64> {
    std::fs::read(json)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|d| d["capture"]["dropped"].as_u64())
}

/// Waits until markers.json has counted at least `packets` (or `secs` pass); returns stats.
fn settle(json: &std::path::Path, packets: u64, secs: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = stats_of(json);
        if s["packets"].as_u64().unwrap_or(0) >= packets || Instant::now() > deadline {
            // One more interval: the last batch may still be on its way.
            std::thread::sleep(Duration::from_millis(1200));
            return stats_of(json);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs root: network namespaces (ip netns); ./dev.sh test runs it with --include-ignored as root"]
fn live_flood_in_namespaces() {
    let tag = format!("{}", (std::process::id() + 7) % 100_000);
    let mut ns = netns::setup(&tag, true).unwrap_or_else(|e| {
        panic!("cannot build test namespaces ({e}); run as root with iproute2")
    });
    let (h, r) = (ns.host().to_string(), ns.router().to_string());
    // 10.0.0.0/8 is routed to W (which drops it): the packets cross br-lan, nothing more.
    netns::ip(&r, "route add 10.0.0.0/8 via 198.18.5.5").unwrap();
    let env = |k: &str, d: u32| -> u32 {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let max_remotes = env("CONNMAP_FLOOD_MAX_REMOTES", 1000);
    let sources: Vec<Ipv4Addr> = (20..40).map(|i| Ipv4Addr::new(192, 168, 77, i)).collect();
    for s in &sources {
        netns::ip(&h, &format!("addr add {s}/24 dev eth0")).unwrap();
    }
    let d = tmp();
    let json = d.path().join("markers.json");
    let log_path = d.path().join("connmap.log");
    ns.daemon = Some(
        Command::new("ip")
            .args(["netns", "exec", &r])
            .arg(std::env::var("CONNMAP_FLOOD_BIN").unwrap_or(env!("CARGO_BIN_EXE_connmap").into()))
            .args([
                "-i",
                "br-lan",
                "--remote",
                "198.18.0.0/15",
                "--remote",
                "10.0.0.0/8",
            ])
            .args([
                "--max-remotes",
                &max_remotes.to_string(),
                "--max-hosts",
                "16",
            ])
            .args([
                "--interval",
                "1",
                "--leases",
                "",
                "--ethers",
                "",
                "--geoip",
                "",
            ])
            .args(["--exclude", "192.168.77.1"])
            .arg("--json-out")
            .arg(&json)
            .env("CONNMAP_LOG", "stderr")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let pid = ns.daemon.as_ref().unwrap().id() as i32;
    let http = SocketAddr::from(([192, 168, 77, 1], 8090));
    let up = netns::in_ns(&h, move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&http, Duration::from_millis(300)).is_err() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    });
    assert!(
        up.join().unwrap(),
        "{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    std::thread::sleep(Duration::from_millis(300));

    // CONNMAP_FLOOD_PPS / CONNMAP_FLOOD_BIN: another rate or binary (the release build) when
    // measuring by hand; the test's own figures are for the debug build at 10k packets/s.
    let pps = env("CONNMAP_FLOOD_PPS", 10_000);
    let per_phase = env(
        "CONNMAP_FLOOD_REMOTES",
        (pps + pps / 2).clamp(15_000, 65_535 / 2),
    )
    .min(1 << 23);
    // Phase 1: the flood alone.
    let srcs = sources.clone();
    let (sent1, rate1) = netns::in_ns(&h, move || flood(0, per_phase, &srcs, pps))
        .join()
        .unwrap();
    let s1 = settle(&json, sent1, 10);
    let counted1 = s1["packets"].as_u64().unwrap_or(0);
    let dropped1 = capture_dropped(&json);

    // Phase 2: the same flood to new addresses while 4 LAN clients fetch /markers.json.
    let stop = Arc::new(AtomicBool::new(false));
    let fetchers: Vec<_> = (0..4)
        .map(|_| {
            let stop = Arc::clone(&stop);
            netns::in_ns(&h, move || {
                let mut ok = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(mut s) = TcpStream::connect_timeout(&http, Duration::from_secs(2)) {
                        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                        let _ =
                            s.write_all(b"GET /markers.json HTTP/1.1\r\nHost: localhost\r\n\r\n");
                        let mut b = Vec::new();
                        if s.read_to_end(&mut b).is_ok() && b.starts_with(b"HTTP/1.1 200") {
                            ok += 1;
                        }
                    }
                }
                ok
            })
        })
        .collect();
    let rss_during = {
        let srcs = sources.clone();
        let t = netns::in_ns(&h, move || flood(per_phase, per_phase, &srcs, pps));
        let mut peak = 0;
        while !t.is_finished() {
            peak = peak.max(vm_rss_kb(pid));
            std::thread::sleep(Duration::from_millis(50));
        }
        let (sent2, rate2) = t.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        (sent2, rate2, peak)
    };
    let (sent2, rate2, peak_rss) = rss_during;
    let fetched: u32 = fetchers.into_iter().map(|f| f.join().unwrap()).sum();
    let s2 = settle(&json, counted1 + sent2, 10);
    let counted2 = s2["packets"].as_u64().unwrap_or(0) - counted1;
    let dropped2 = capture_dropped(&json);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    println!(
        "live flood: phase 1 sent {sent1} at {rate1:.0}/s, counted {counted1} ({:.1} %); phase 2 with {fetched} \
         HTTP fetches: sent {sent2} at {rate2:.0}/s, counted {counted2} ({:.1} %); VmRSS peak {peak_rss} KiB; \
         libpcap dropped {dropped1:?} after phase 1, {dropped2:?} after phase 2; stats {s2}",
        100.0 * counted1 as f64 / sent1 as f64,
        100.0 * counted2 as f64 / sent2 as f64
    );
    assert!(
        s2["remotes"].as_u64().unwrap() <= u64::from(max_remotes),
        "{s2}"
    );
    assert!(s2["hosts"].as_u64().unwrap() <= 16, "{s2}");
    assert!(s2["evicted_remotes"].as_u64().unwrap() > 0, "{s2}");
    assert!(s2["evicted_hosts"].as_u64().unwrap() > 0, "{s2}");
    assert!(
        log.contains(&format!("remotes table full ({max_remotes})")),
        "{log}"
    );
    assert!(fetched > 0, "HTTP answered during the flood");
    // Most of the flood is seen even on a busy 2-core test machine (drops are the kernel's,
    // with a 1 MiB capture buffer); the figures above are the measurement.
    assert!(
        counted1 * 2 > sent1,
        "phase 1 counted {counted1} of {sent1}"
    );
    assert!(
        counted2 * 2 > sent2,
        "phase 2 counted {counted2} of {sent2}"
    );
    // HTTP work must not make the capture fall behind: the share counted while clients fetch
    // is not more than 10 points below the share counted without them.
    let (share1, share2) = (
        counted1 as f64 / sent1 as f64,
        counted2 as f64 / sent2 as f64,
    );
    assert!(
        share2 >= share1 - 0.10,
        "capture fell behind during HTTP: {share1:.3} then {share2:.3}"
    );
    // the bound, not the traffic: 64 MiB is far above what 1k remotes need (the debug build)
    if max_remotes <= 10_000 {
        assert!(peak_rss < 64 * 1024, "VmRSS {peak_rss} KiB");
    }
    assert!(ns.daemon.as_mut().unwrap().try_wait().unwrap().is_none());
}
