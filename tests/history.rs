//! End to end: the history (issue 18). A replayed capture whose timestamps cross hour and
//! day boundaries, read back through `/history.json` (hourly and daily ranges, one device,
//! 400/304/gzip/Host) and through the saved state (a restart in the middle restores it), and
//! a flood of remotes that keeps the bounds.

mod common;
#[path = "common/load.rs"]
mod load;

use common::*;
use load::{exchange, serve};
use serde_json::Value;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// Midnight UTC after `T0` (T0 is 16:00 UTC): the capture crosses it.
const D1: u64 = T0 - T0 % 86_400 + 86_400;
const H: u64 = 3600;

/// The capture: laptop and phone over two days and several hours.
fn frames() -> Vec<(u64, Vec<u8>)> {
    let (l, p, r) = (MAC_LAPTOP, MAC_PHONE, MAC_ROUTER);
    vec![
        // day 0, 22:00: laptop ↔ 1.1.1.1 (AU)
        (
            D1 - 2 * H + 10,
            eth(l, r, LAPTOP, "1.1.1.1", 6, 50000, 443, 100),
        ),
        (
            D1 - 2 * H + 11,
            eth(r, l, "1.1.1.1", LAPTOP, 6, 443, 50000, 1000),
        ),
        // day 0, 23:30: laptop → 8.8.8.8 (US), phone → 9.9.9.9 (CH)
        (D1 - H / 2, eth(l, r, LAPTOP, "8.8.8.8", 17, 40000, 53, 40)),
        (
            D1 - H / 2 + 1,
            eth(p, r, PHONE, "9.9.9.9", 6, 51000, 443, 200),
        ),
        // day 1, 00:00:10: phone → 9.9.9.9 again (the packet that crosses midnight)
        (D1 + 10, eth(p, r, PHONE, "9.9.9.9", 6, 51000, 443, 300)),
        // day 1, 01:00:05: laptop ↔ 1.1.1.1 again, and the laptop's IPv6 address
        (D1 + H + 5, eth(l, r, LAPTOP, "1.1.1.1", 6, 50000, 443, 100)),
        (
            D1 + H + 6,
            eth(l, r, LAPTOP6, "2001:4860:4860::8888", 6, 50002, 443, 300),
        ),
        // day 1, 03:59:59 and 04:00:00: both sides of an hour boundary
        (
            D1 + 4 * H - 1,
            eth(l, r, LAPTOP, "8.8.8.8", 17, 40000, 53, 40),
        ),
        (D1 + 4 * H, eth(l, r, LAPTOP, "8.8.8.8", 17, 40000, 53, 40)),
    ]
}

fn write_capture(path: &Path, frames: &[(u64, Vec<u8>)]) {
    let recs: Vec<Rec> = frames.iter().map(|(t, f)| rec(*t, f.clone(), 96)).collect();
    write_pcap(path, 1, &recs);
}

fn len(f: &[u8]) -> u64 {
    f.len() as u64
}

fn get(addr: std::net::SocketAddr, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let s = TcpStream::connect(addr).unwrap();
    let rq =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n");
    exchange(s, rq.as_bytes(), Duration::from_secs(15))
}

fn history(addr: std::net::SocketAddr, query: &str) -> Value {
    let (status, head, body) = get(addr, &format!("/history.json{query}"), "");
    assert_eq!(status, 200, "{head}{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn find<'a>(list: &'a Value, key: &str, v: &str) -> Option<&'a Value> {
    list.as_array().unwrap().iter().find(|m| m[key] == v)
}

fn args(db: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--geoip",
        db.to_str().unwrap(),
        "--lan",
        LAN4,
        "--lan",
        LAN6,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(NO_HOST_FILES.map(String::from));
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[test]
fn replay_across_hours_and_days() {
    let d = tmp();
    let pcap = d.path().join("h.pcap");
    let fr = frames();
    write_capture(&pcap, &fr);
    let db = write_db(d.path(), &geoip2_db(), "geo.mmdb");
    let daemon = serve(d.path(), &pcap, &args(&db, &[]));
    let a = daemon.addr;

    // the default range: the last 24 h before the capture's end, hourly
    let doc = history(a, "");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["resolution"], 3600);
    let end = D1 + 4 * H;
    assert_eq!(doc["generated"], end);
    assert_eq!(doc["to"], end + H);
    assert_eq!(doc["from"], end - 86_400);
    assert_eq!(doc["available"]["hourly_from"], D1 - 2 * H);
    assert!(
        doc["available"]["daily_from"] == D1 - 86_400,
        "{}",
        doc["available"]
    );

    // the laptop (IPv4 and IPv6 addresses, one MAC): one device
    let laptop = find(&doc["hosts"], "ip", LAPTOP).expect("laptop");
    assert_eq!(laptop["ips"], serde_json::json!([LAPTOP, LAPTOP6]));
    assert_eq!(laptop["mac"], "02:00:00:00:00:10");
    let out: u64 = [0, 2, 5, 6, 7, 8].iter().map(|&i| len(&fr[i].1)).sum();
    assert_eq!(laptop["bytes_out"], out);
    assert_eq!(laptop["bytes_in"], len(&fr[1].1));
    // its timeline: one entry per hour with traffic, each packet in its own hour
    let tl = laptop["timeline"].as_array().unwrap();
    let starts: Vec<u64> = tl.iter().map(|e| e[0].as_u64().unwrap()).collect();
    assert_eq!(starts, [D1 - 2 * H, D1 - H, D1 + H, D1 + 3 * H, D1 + 4 * H]);
    assert_eq!(
        tl[0],
        serde_json::json!([D1 - 2 * H, len(&fr[0].1), len(&fr[1].1)])
    );
    assert_eq!(tl[3][1], len(&fr[7].1));
    assert_eq!(tl[4][1], len(&fr[8].1));

    // markers: summed over the range, with places; "new" for first contacts
    let m = find(&doc["markers"], "ip", "1.1.1.1").expect("1.1.1.1");
    assert_eq!(m["country"], "AU");
    assert_eq!(m["asn"], 13335);
    assert_eq!(m["hosts"], serde_json::json!([LAPTOP]));
    assert_eq!(m["bytes_out"], len(&fr[0].1) + len(&fr[5].1));
    assert_eq!(m["packets_out"], 2);
    assert_eq!(m["new"], true);
    assert_eq!(m["first_seen"], D1 - 2 * H + 10);
    let nine = find(&doc["markers"], "ip", "9.9.9.9").expect("9.9.9.9");
    assert_eq!(nine["bytes_out"], len(&fr[3].1) + len(&fr[4].1));
    let c = find(&doc["countries"], "country", "CH").expect("CH");
    assert_eq!(c["bytes_out"], nine["bytes_out"]);
    let sorted: Vec<u64> = (doc["markers"].as_array().unwrap().iter())
        .map(|m| m["bytes_out"].as_u64().unwrap() + m["bytes_in"].as_u64().unwrap())
        .collect();
    assert!(sorted.windows(2).all(|w| w[0] >= w[1]), "{sorted:?}");

    // one hour after midnight only: the laptop's 01:00 traffic; 1.1.1.1 is not new then
    let doc = history(a, &format!("?from={}&to={}", D1 + H, D1 + 2 * H));
    assert_eq!(
        (doc["from"].as_u64(), doc["to"].as_u64()),
        (Some(D1 + H), Some(D1 + 2 * H))
    );
    let m = find(&doc["markers"], "ip", "1.1.1.1").unwrap();
    assert_eq!(m["new"], false);
    assert!(find(&doc["markers"], "ip", "9.9.9.9").is_none());

    // host=: the phone alone (and by the laptop's IPv6 address: the laptop)
    let doc = history(a, &format!("?host={PHONE}"));
    assert_eq!(doc["hosts"].as_array().unwrap().len(), 1);
    assert_eq!(doc["markers"].as_array().unwrap().len(), 1);
    assert_eq!(doc["markers"][0]["ip"], "9.9.9.9");
    let doc = history(a, &format!("?host={LAPTOP6}"));
    assert_eq!(doc["hosts"][0]["ip"], LAPTOP);

    // a range older than 48 h before the end: daily resolution, the two days
    let doc = history(a, &format!("?from={}&to={}", end - 3 * 86_400, end));
    assert_eq!(doc["resolution"], 86_400);
    let laptop = find(&doc["hosts"], "ip", LAPTOP).unwrap();
    let days: Vec<u64> = (laptop["timeline"].as_array().unwrap().iter())
        .map(|e| e[0].as_u64().unwrap())
        .collect();
    assert_eq!(days, [D1 - 86_400, D1]);
    let phone = find(&doc["hosts"], "ip", PHONE).unwrap();
    assert_eq!(phone["timeline"][0][1], len(&fr[3].1));
    assert_eq!(phone["timeline"][1][1], len(&fr[4].1));
}

/// The whole document of a range, `generated` left out.
fn whole(addr: std::net::SocketAddr, query: &str) -> Value {
    let mut doc = history(addr, query);
    doc.as_object_mut().unwrap().remove("generated");
    doc
}

#[test]
fn a_restart_in_the_middle_restores_the_history() {
    let d = tmp();
    let fr = frames();
    let db = write_db(d.path(), &geoip2_db(), "geo.mmdb");
    let (all, first, second) = (
        d.path().join("all.pcap"),
        d.path().join("1.pcap"),
        d.path().join("2.pcap"),
    );
    write_capture(&all, &fr);
    // cut after the midnight packet: the second run starts a day later than the first
    write_capture(&first, &fr[..5]);
    write_capture(&second, &fr[5..]);
    let state = d.path().join("state");
    let st: Vec<&str> = vec!["--state", state.to_str().unwrap()];
    let (out, _) = replay(d.path(), &first, Some(&db), &args(&db, &st));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // the saved state: version 3, read by the daemon's own reader, with the buckets
    let bytes = std::fs::read(&state).unwrap();
    assert_eq!(bytes[..15], *b"\x0dconnmap-state\x03");
    let mut t = connmap::table::Tables::new(100, 100);
    let mut h = connmap::history::History::new(Default::default());
    let r = connmap::state::decode_all(&bytes, &mut t, Some(&mut h)).unwrap();
    assert!(r.history_error.is_none());
    let starts: Vec<u64> = h.hourly.iter().map(|b| b.start).collect();
    assert_eq!(starts, [D1 - 2 * H, D1 - H, D1]);
    let phone: connmap::packet::Addr = PHONE.parse().unwrap();
    let midnight = &h.hourly[2];
    assert_eq!(midnight.devices[0].ip, phone);
    assert_eq!(midnight.devices[0].count.bytes_out, len(&fr[4].1));

    // the second half, restoring it; then the same documents as one uninterrupted replay
    let d2 = tmp();
    let split = serve(d2.path(), &second, &args(&db, &st));
    let log = split.log_text();
    assert!(log.contains("and 4 history buckets from"), "{log}"); // 3 hours, 1 day
    let d3 = tmp();
    let once = serve(d3.path(), &all, &args(&db, &[]));
    let end = D1 + 4 * H;
    for q in [
        String::new(),
        format!("?from={}&to={}", end - 3 * 86_400, end),
        format!("?host={PHONE}"),
        format!("?from={}&to={}", D1 - H, D1 + H),
    ] {
        assert_eq!(whole(split.addr, &q), whole(once.addr, &q), "{q}");
    }
    drop(split);
    // stopped (SIGTERM): saved again, now with both halves
    let bytes = std::fs::read(&state).unwrap();
    let mut h = connmap::history::History::new(Default::default());
    connmap::state::decode_all(&bytes, &mut t, Some(&mut h)).unwrap();
    assert_eq!(h.hourly.len(), 6);
    assert_eq!(h.daily.len(), 1);
}

#[test]
fn the_endpoint_answers_400_304_gzip_and_checks_host() {
    let d = tmp();
    let pcap = d.path().join("h.pcap");
    write_capture(&pcap, &frames());
    let db = write_db(d.path(), &geoip2_db(), "geo.mmdb");
    let daemon = serve(d.path(), &pcap, &args(&db, &[]));
    let a = daemon.addr;
    for bad in [
        "?from=abc",
        "?from=10&to=5",
        "?to=-3",
        "?host=not-an-ip",
        "?host=1.2.3.4&host=1.2.3.5",
        "?color=red",
        "?from=%zz",
        "?from=99999999999999999999999999",
    ] {
        let (status, head, body) = get(a, &format!("/history.json{bad}"), "");
        assert_eq!(status, 400, "{bad}: {head}");
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.starts_with("Bad Request: ") && text.trim_end().lines().count() == 1,
            "{text}"
        );
    }
    // ETag and 304; the same query keeps its tag, another range has another
    let (status, head, body) = get(a, "/history.json", "");
    assert_eq!(status, 200);
    let etag = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("ETag: ")
                .or_else(|| l.strip_prefix("etag: "))
        })
        .expect("ETag")
        .trim()
        .to_string();
    assert!(head.contains("Content-Type: application/json"), "{head}");
    let (status, _, body304) = get(a, "/history.json", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(status, 304);
    assert!(body304.is_empty());
    let (_, head2, _) = get(a, &format!("/history.json?host={PHONE}"), "");
    assert!(!head2.contains(&etag));
    // gzip: the same document
    let (status, head, gz) = get(a, "/history.json", "Accept-Encoding: gzip\r\n");
    assert_eq!(status, 200);
    assert!(head.contains("Content-Encoding: gzip"), "{head}");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
    assert_eq!(plain, body);
    // the Host check of every route: a name the router does not answer to
    let s = TcpStream::connect(a).unwrap();
    let rq = "GET /history.json HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n";
    let (status, _, _) = exchange(s, rq.as_bytes(), Duration::from_secs(15));
    assert_eq!(status, 421);
    // --history-top 0: no history, 404
    let d2 = tmp();
    let off = serve(d2.path(), &pcap, &args(&db, &["--history-top", "0"]));
    let (status, _, _) = get(off.addr, "/history.json", "");
    assert_eq!(status, 404);
}

#[test]
fn a_flood_of_remotes_keeps_the_bounds() {
    // 60,000 remotes from 40 devices over 6 hours of capture time
    let d = tmp();
    let pcap = d.path().join("flood.pcap");
    let n = 60_000u32;
    let recs: Vec<Rec> = (0..n)
        .map(|i| {
            let r = (20u32 << 24) + i;
            let s = [192, 168, 1, 10 + (i % 40) as u8];
            let (data, wire_len) = load::udp4(s, r.to_be_bytes(), 40000, 443, 100);
            Rec {
                ts: T0 + u64::from(i) * 6 * H / u64::from(n),
                wire_len,
                data,
            }
        })
        .collect();
    write_pcap(&pcap, 1, &recs);
    let db = write_db(d.path(), &geoip2_db(), "geo.mmdb");
    let state = d.path().join("state");
    let extra = [
        "--history-top",
        "3",
        "--history-devices",
        "5",
        "--max-remotes",
        "2000",
        "--state",
        state.to_str().unwrap(),
    ];
    let daemon = serve(d.path(), &pcap, &args(&db, &extra));
    let doc = history(daemon.addr, &format!("?from={T0}&to={}", T0 + 7 * H));
    assert_eq!(doc["resolution"], 3600);
    let markers = doc["markers"].as_array().unwrap().len();
    // at most 5 devices × 3 remotes per hourly bucket
    assert!(markers <= 7 * 5 * 3, "{markers}");
    let hosts = doc["hosts"].as_array().unwrap();
    assert!(hosts.len() <= 40);
    // every byte is still in the totals: kept, other, or other devices
    let total: u64 = recs.iter().map(|r| u64::from(r.wire_len)).sum();
    let per_host: u64 = hosts.iter().map(|h| h["bytes_out"].as_u64().unwrap()).sum();
    let kept: u64 = (doc["markers"].as_array().unwrap().iter())
        .map(|m| m["bytes_out"].as_u64().unwrap())
        .sum();
    assert_eq!(kept + doc["other"]["bytes_out"].as_u64().unwrap(), per_host);
    assert!(
        per_host < total,
        "devices beyond the bound are summed apart"
    );
    drop(daemon);
    // the state file stays small: bounded by the configuration, not by the 60,000 remotes
    let size = std::fs::metadata(&state).unwrap().len();
    assert!(size < 400_000, "{size}");
}
