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
    a.extend(
        [
            "--leases",
            "",
            "--ethers",
            "",
            "--dhcp-config",
            "",
            "--odhcpd",
            "",
        ]
        .map(String::from),
    );
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
