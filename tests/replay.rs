//! End to end: capture files written here → the real `connmap -r` → markers.json, checked
//! field by field. Every supported link type, VLANs, IPv6, fragments, truncation, malformed
//! frames, special-purpose destinations, excluded hosts, both database schemas, state files,
//! table bounds and bad flags.

mod common;

use common::*;
use serde_json::Value;

fn scenario_doc(dir: &std::path::Path, extra: &[&str]) -> Value {
    let pcap = dir.join("s.pcap");
    write_pcap(&pcap, 1, &scenario_recs());
    let db = write_db(dir, &geoip2_db(), "geo.mmdb");
    let mut args = scenario_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let (out, json) = replay(dir, &pcap, Some(&db), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json.expect("markers.json written")
}

#[test]
fn scenario_field_by_field() {
    let d = tmp();
    let doc = scenario_doc(d.path(), &["--home", "52.52,13.405"]);
    assert_eq!(doc["version"], 1);
    assert_eq!(
        doc["lan"],
        serde_json::json!(["192.168.1.0/24", "fd00:1::/64"])
    );
    assert_eq!(
        doc["home"],
        serde_json::json!({"lat": 52.52, "lng": 13.405})
    );
    assert_eq!(doc["attribution"], "connmap test database");
    assert_eq!(doc["generated"], T0 + 10);

    let ips: Vec<&str> = doc["markers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips.len(), 5, "{ips:?}");
    for ip in [
        "1.1.1.1",
        "8.8.8.8",
        "9.9.9.9",
        "2001:4860:4860::8888",
        "203.0.114.1",
    ] {
        assert!(ips.contains(&ip), "{ip} missing from {ips:?}");
    }
    // Sorted by traffic, largest first.
    assert_eq!(ips[0], "1.1.1.1");

    let m = marker(&doc, "1.1.1.1").unwrap();
    assert_eq!(m["country"], "AU");
    assert_eq!(m["city"], "Sydney");
    assert_eq!(m["asn"], 13335);
    assert_eq!(m["org"], "Cloudflare, Inc.");
    assert!((m["lat"].as_f64().unwrap() + 33.8688).abs() < 1e-3);
    assert!((m["lng"].as_f64().unwrap() - 151.2093).abs() < 1e-3);
    assert_eq!(m["hosts"], serde_json::json!([LAPTOP]));
    assert_eq!(m["ports"], serde_json::json!([443]));
    assert_eq!(m["protocols"], serde_json::json!(["tcp"]));
    // Wire lengths, not the 96 captured bytes: 14 + 20 + 20 + payload.
    assert_eq!(m["packets_out"], 1);
    assert_eq!(m["bytes_out"], 154);
    assert_eq!(m["packets_in"], 1);
    assert_eq!(m["bytes_in"], 1454);
    assert_eq!(m["first_seen"], T0);
    assert_eq!(m["last_seen"], T0 + 1);

    let g = marker(&doc, "8.8.8.8").unwrap();
    assert_eq!(g["hosts"], serde_json::json!([LAPTOP, PHONE]));
    assert_eq!(g["ports"], serde_json::json!([53, 443]));
    assert_eq!(g["protocols"], serde_json::json!(["udp", "tcp"]));
    assert_eq!(g["packets_out"], 2);
    assert_eq!(g["packets_in"], 1);

    let q = marker(&doc, "9.9.9.9").unwrap();
    assert_eq!(q["protocols"], serde_json::json!(["icmp"]));
    assert_eq!(q["ports"], serde_json::json!([]));
    assert_eq!(
        q["hosts"],
        serde_json::json!([PHONE]),
        "the excluded router must not appear"
    );

    let v6 = marker(&doc, "2001:4860:4860::8888").unwrap();
    assert_eq!(v6["hosts"], serde_json::json!([LAPTOP6]));
    assert_eq!(v6["city"], "Mountain View");
    assert_eq!(v6["bytes_in"], 14 + 40 + 20 + 900);

    // Names from the resolver's answers (LAN to LAN: they change no count).
    assert_eq!(m["names"], serde_json::json!(["www.cloudflare.example"]));
    assert_eq!(g["names"], serde_json::json!(["dns.google"]));
    assert_eq!(v6["names"], serde_json::json!(["dns.google"]));
    assert!(q.get("names").is_none());
    assert_eq!(doc["capture"]["received"], 23);
    assert!(doc["capture"]["filter"].is_null());

    let unknown = marker(&doc, "203.0.114.1").unwrap();
    assert!(unknown["lat"].is_null() && unknown["lng"].is_null() && unknown["country"].is_null());
    assert_eq!(unknown["ports"], serde_json::json!([8443]));

    assert!(
        marker(&doc, "151.101.1.140").is_none(),
        "unsolicited inbound made a marker"
    );

    let hosts: Vec<&str> = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["ip"].as_str().unwrap())
        .collect();
    // The laptop's IPv4 and IPv6 addresses share its MAC: one device.
    assert_eq!(hosts, vec![LAPTOP, PHONE]);
    let laptop = host(&doc, LAPTOP).unwrap();
    assert_eq!(laptop["ips"], serde_json::json!([LAPTOP, LAPTOP6]));
    assert_eq!(
        host(&doc, PHONE).unwrap()["ips"],
        serde_json::json!([PHONE])
    );
    assert_eq!(laptop["mac"], "02:00:00:00:00:10");
    assert_eq!(laptop["remotes"], 4);
    assert_eq!(laptop["packets_out"], 4);
    assert_eq!(
        laptop["packets_in"], 3,
        "the unsolicited packet must not count"
    );
    assert_eq!(laptop["bytes_in"], 1454 + 162 + 974);
    assert!(laptop["name"].is_null());
    assert_eq!(laptop["first_seen"], T0);
    assert_eq!(doc["stats"]["remotes"], 5);
    assert_eq!(doc["stats"]["decode_errors"], 0);
}

#[test]
fn flat_dbip_schema_locates_the_same() {
    let d = tmp();
    let pcap = d.path().join("s.pcap");
    write_pcap(&pcap, 1, &scenario_recs());
    let db = write_db(d.path(), &flat_db(), "flat.mmdb");
    let (out, json) = replay(d.path(), &pcap, Some(&db), &scenario_args());
    assert!(out.status.success());
    let doc = json.unwrap();
    let m = marker(&doc, "9.9.9.9").unwrap();
    assert_eq!(m["country"], "CH");
    assert_eq!(m["city"], "Zurich");
    assert!((m["lat"].as_f64().unwrap() - 47.3769).abs() < 1e-3);
    assert!(m["asn"].is_null() && m["org"].is_null());
}

#[test]
fn every_link_type_gives_the_same_markers() {
    let d = tmp();
    let db = write_db(d.path(), &geoip2_db(), "geo.mmdb");
    let reference = scenario_doc(d.path(), &[]);
    let frames = scenario();
    for lt in [113, 276, 12, 0, 108] {
        let recs: Vec<Rec> = frames
            .iter()
            .map(|(ts, f)| rec(*ts, relink(f, lt), 200))
            .collect();
        let pcap = d.path().join(format!("lt{lt}.pcap"));
        write_pcap(&pcap, lt, &recs);
        let (out, json) = replay(d.path(), &pcap, Some(&db), &scenario_args());
        assert!(
            out.status.success(),
            "link type {lt}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc = json.unwrap();
        // Wire lengths differ by the link header; compare what is independent of it.
        let strip = |doc: &Value| -> Vec<Value> {
            doc["markers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    serde_json::json!([
                        m["ip"],
                        m["hosts"],
                        m["ports"],
                        m["protocols"],
                        m["packets_out"],
                        m["packets_in"],
                        m["city"]
                    ])
                })
                .collect()
        };
        let mut a = strip(&doc);
        let mut b = strip(&reference);
        a.sort_by_key(|v| v.to_string());
        b.sort_by_key(|v| v.to_string());
        assert_eq!(a, b, "link type {lt}");
    }
    // pcapng, Ethernet
    let png = d.path().join("s.pcapng");
    write_pcapng(&png, 1, &scenario_recs());
    let (out, json) = replay(d.path(), &png, Some(&db), &scenario_args());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json.unwrap()["markers"], reference["markers"]);
}

#[test]
fn vlan_and_qinq_frames_count() {
    let d = tmp();
    let db = write_db(d.path(), &geoip2_db(), "geo.mmdb");
    let f = eth(
        MAC_LAPTOP, MAC_ROUTER, LAPTOP, "1.1.1.1", 6, 50000, 443, 100,
    );
    let r = eth(
        MAC_ROUTER, MAC_LAPTOP, "1.1.1.1", LAPTOP, 6, 443, 50000, 100,
    );
    let recs = vec![
        rec(T0, vlan_tag(&f, &[10]), 200),
        rec(T0 + 1, vlan_tag(&r, &[10]), 200),
        rec(T0 + 2, vlan_tag(&f, &[100, 10]), 200),
        rec(
            T0 + 3,
            vlan_tag(
                &eth(
                    MAC_LAPTOP,
                    MAC_ROUTER,
                    LAPTOP6,
                    "2a00:1450::1",
                    17,
                    1,
                    443,
                    10,
                ),
                &[7],
            ),
            200,
        ),
    ];
    let pcap = d.path().join("vlan.pcap");
    write_pcap(&pcap, 1, &recs);
    let (out, json) = replay(d.path(), &pcap, Some(&db), &scenario_args());
    assert!(out.status.success());
    let doc = json.unwrap();
    let m = marker(&doc, "1.1.1.1").unwrap();
    assert_eq!(m["packets_out"], 2);
    assert_eq!(m["packets_in"], 1);
    assert_eq!(m["bytes_out"], 154 + 4 + 154 + 8);
    assert_eq!(marker(&doc, "2a00:1450::1").unwrap()["city"], "Dublin");
}

/// Sets the fragment fields of an IPv4 frame (Ethernet, no options).
fn fragment4(mut frame: Vec<u8>, more: bool, offset8: u16) -> Vec<u8> {
    let v = (if more { 0x2000 } else { 0 }) | offset8;
    frame[14 + 6..14 + 8].copy_from_slice(&v.to_be_bytes());
    frame
}

#[test]
fn fragments_count_and_only_the_first_has_ports() {
    let d = tmp();
    let db = write_db(d.path(), &geoip2_db(), "geo.mmdb");
    let first = fragment4(
        eth(
            MAC_LAPTOP, MAC_ROUTER, LAPTOP, "8.8.8.8", 17, 40000, 53, 1400,
        ),
        true,
        0,
    );
    // A later fragment: its first bytes are payload, which must not be read as ports.
    let mut later = fragment4(
        eth(
            MAC_LAPTOP, MAC_ROUTER, LAPTOP, "8.8.8.8", 17, 9999, 9999, 600,
        ),
        false,
        185,
    );
    later[14 + 20..14 + 24].copy_from_slice(&[0x27, 0x0f, 0x27, 0x0f]);
    // IPv6 later fragment: next header 44 (fragment) → UDP, offset 100.
    let mut v6 = eth(
        MAC_LAPTOP,
        MAC_ROUTER,
        LAPTOP6,
        "2a00:1450::5",
        17,
        7777,
        7777,
        100,
    );
    let udp = v6.split_off(14 + 40);
    v6[14 + 6] = 44;
    v6.extend_from_slice(&[17, 0, 0x03, 0x20, 0, 0, 0, 1]);
    v6.extend_from_slice(&udp);
    let plen = (v6.len() - 14 - 40) as u16;
    v6[14 + 4..14 + 6].copy_from_slice(&plen.to_be_bytes());
    let pcap = d.path().join("frag.pcap");
    write_pcap(
        &pcap,
        1,
        &[
            rec(T0, first, 96),
            rec(T0 + 1, later, 96),
            rec(T0 + 2, v6, 96),
        ],
    );
    let (out, json) = replay(d.path(), &pcap, Some(&db), &scenario_args());
    assert!(out.status.success());
    let doc = json.unwrap();
    let m = marker(&doc, "8.8.8.8").unwrap();
    assert_eq!(m["packets_out"], 2);
    assert_eq!(m["ports"], serde_json::json!([53]));
    let m6 = marker(&doc, "2a00:1450::5").unwrap();
    assert_eq!(m6["packets_out"], 1);
    assert_eq!(m6["ports"], serde_json::json!([]));
    assert_eq!(m6["protocols"], serde_json::json!(["udp"]));
}

#[test]
fn malformed_frames_are_counted_not_fatal() {
    let d = tmp();
    let db = write_db(d.path(), &geoip2_db(), "geo.mmdb");
    let good = eth(
        MAC_LAPTOP, MAC_ROUTER, LAPTOP, "1.1.1.1", 6, 50000, 443, 100,
    );
    let mut bad_ihl = good.clone();
    bad_ihl[14] = 0x43; // IHL 3 < 5
    let mut bad_version = good.clone();
    bad_version[14] = 0x75;
    let cut = good[..20].to_vec(); // ends inside the IP header
    let recs = vec![
        rec(T0, bad_ihl, 96),
        rec(T0, bad_version, 96),
        rec(T0, cut, 96),
        rec(T0, vec![0xff; 7], 96),
        rec(T0, vec![], 96),
        rec(T0 + 1, good, 96),
    ];
    let pcap = d.path().join("bad.pcap");
    write_pcap(&pcap, 1, &recs);
    let (out, json) = replay(d.path(), &pcap, Some(&db), &scenario_args());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json.unwrap();
    assert_eq!(doc["stats"]["decode_errors"], 5);
    assert_eq!(marker(&doc, "1.1.1.1").unwrap()["packets_out"], 1);
}

#[test]
fn truncated_file_keeps_what_was_read() {
    let d = tmp();
    let db = write_db(d.path(), &geoip2_db(), "geo.mmdb");
    let pcap = d.path().join("s.pcap");
    write_pcap(&pcap, 1, &scenario_recs());
    let bytes = std::fs::read(&pcap).unwrap();
    std::fs::write(&pcap, &bytes[..bytes.len() - 30]).unwrap();
    let (out, json) = replay(d.path(), &pcap, Some(&db), &scenario_args());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("keeping what was read"), "{err}");
    let doc = json.expect("markers.json still written");
    assert_eq!(marker(&doc, "1.1.1.1").unwrap()["packets_in"], 1);
}

#[test]
fn unsupported_link_type_and_missing_file_fail_clearly() {
    let d = tmp();
    let pcap = d.path().join("wifi.pcap");
    write_pcap(&pcap, 105, &[rec(T0, vec![0; 40], 40)]);
    let (out, json) = replay(d.path(), &pcap, None, &scenario_args());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("unsupported link type") && err.contains("IEEE802_11"),
        "{err}"
    );
    assert!(json.is_none());

    let (out, _) = replay(
        d.path(),
        &d.path().join("none.pcap"),
        None,
        &scenario_args(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("none.pcap"));

    std::fs::write(
        d.path().join("junk.pcap"),
        b"this is not a capture file at all",
    )
    .unwrap();
    let (out, _) = replay(
        d.path(),
        &d.path().join("junk.pcap"),
        None,
        &scenario_args(),
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn missing_or_corrupt_database_keeps_running_without_positions() {
    let d = tmp();
    let pcap = d.path().join("s.pcap");
    write_pcap(&pcap, 1, &scenario_recs());
    let (out, json) = replay(d.path(), &pcap, None, &scenario_args());
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("geo database"));
    let doc = json.unwrap();
    assert_eq!(doc["markers"].as_array().unwrap().len(), 5);
    assert!(marker(&doc, "1.1.1.1").unwrap()["lat"].is_null());
    assert!(doc["stats"]["geo_database"].is_null());

    let mut bytes = geoip2_db();
    bytes.truncate(bytes.len() / 3);
    let corrupt = write_db(d.path(), &bytes, "corrupt.mmdb");
    let (out, json) = replay(d.path(), &pcap, Some(&corrupt), &scenario_args());
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupt.mmdb"), "{err}");
    assert!(marker(&json.unwrap(), "1.1.1.1").unwrap()["lat"].is_null());
}

#[test]
fn bounds_evict_least_recently_seen_and_say_so() {
    let d = tmp();
    let mut recs = Vec::new();
    for i in 0..50u32 {
        let dst = format!("1.2.{}.{}", i / 250, i % 250 + 1);
        let src = format!("192.168.1.{}", 10 + i % 9);
        recs.push(rec(
            T0 + u64::from(i),
            eth(MAC_LAPTOP, MAC_ROUTER, &src, &dst, 6, 1, 443, 10),
            96,
        ));
    }
    let pcap = d.path().join("many.pcap");
    write_pcap(&pcap, 1, &recs);
    let mut args = scenario_args();
    args.extend(["--max-remotes", "8", "--max-hosts", "4"].map(String::from));
    let (out, json) = replay(d.path(), &pcap, None, &args);
    assert!(out.status.success());
    let doc = json.unwrap();
    assert!(doc["markers"].as_array().unwrap().len() <= 8);
    assert!(doc["hosts"].as_array().unwrap().len() <= 4);
    assert!(doc["stats"]["evicted_remotes"].as_u64().unwrap() >= 42);
    assert!(
        marker(&doc, "1.2.0.50").is_some(),
        "the newest remote must survive"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("table full"));
}

#[test]
fn retention_forgets_idle_remotes() {
    let d = tmp();
    let recs = vec![
        rec(
            T0,
            eth(MAC_LAPTOP, MAC_ROUTER, LAPTOP, "1.1.1.1", 6, 1, 443, 10),
            96,
        ),
        rec(
            T0 + 5000,
            eth(MAC_LAPTOP, MAC_ROUTER, LAPTOP, "8.8.8.8", 6, 1, 443, 10),
            96,
        ),
    ];
    let pcap = d.path().join("old.pcap");
    write_pcap(&pcap, 1, &recs);
    let mut args = scenario_args();
    args.extend(["--retention", "1000"].map(String::from));
    let (_, json) = replay(d.path(), &pcap, None, &args);
    let doc = json.unwrap();
    assert!(marker(&doc, "1.1.1.1").is_none());
    assert!(marker(&doc, "8.8.8.8").is_some());
    assert_eq!(doc["stats"]["expired_remotes"], 1);
}

#[test]
fn state_round_trip_and_corrupt_state() {
    let d = tmp();
    let db = write_db(d.path(), &geoip2_db(), "geo.mmdb");
    let state = d.path().join("state");
    let pcap = d.path().join("s.pcap");
    write_pcap(&pcap, 1, &scenario_recs());
    let mut args = scenario_args();
    args.extend(["--state".to_string(), state.display().to_string()]);
    let (out, first) = replay(d.path(), &pcap, Some(&db), &args);
    assert!(out.status.success());
    assert!(state.exists());
    // An empty capture at a later time: everything comes from the state file.
    let empty = d.path().join("empty.pcap");
    write_pcap(
        &empty,
        1,
        &[rec(
            T0 + 20,
            eth(MAC_PHONE, MAC_PHONE, PHONE, "192.168.1.99", 6, 1, 1, 1),
            96,
        )],
    );
    let (out, second) = replay(d.path(), &empty, Some(&db), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, b) = (first.unwrap(), second.unwrap());
    assert_eq!(a["markers"], b["markers"]);
    assert_eq!(a["hosts"], b["hosts"]);

    let saved = std::fs::read(&state).unwrap();
    // cut inside the tables (after the 15-byte header): the whole file is refused (a damaged
    // history alone loses only the history: src/state.rs tests)
    std::fs::write(&state, &saved[..30]).unwrap();
    let (out, json) = replay(d.path(), &pcap, Some(&db), &args);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("state file ignored"));
    assert_eq!(json.unwrap()["markers"], a["markers"]);
}

#[test]
fn device_names_from_leases_and_ethers() {
    let d = tmp();
    let leases = d.path().join("dhcp.leases");
    std::fs::write(
        &leases,
        format!(
            "{} 02:00:00:00:00:10 {LAPTOP} laptop *\nrubbish\n",
            T0 + 3600
        ),
    )
    .unwrap();
    let ethers = d.path().join("ethers");
    std::fs::write(&ethers, "02:00:00:00:00:11 phone\n").unwrap();
    let pcap = d.path().join("s.pcap");
    write_pcap(&pcap, 1, &scenario_recs());
    let mut args = scenario_args();
    // Later flags win over the scenario's `--leases ''` and `--ethers ''`.
    args.extend([
        "--leases".into(),
        leases.display().to_string(),
        "--ethers".into(),
        ethers.display().to_string(),
    ]);
    let (out, json) = replay(d.path(), &pcap, None, &args);
    assert!(out.status.success());
    let doc = json.unwrap();
    assert_eq!(host(&doc, LAPTOP).unwrap()["name"], "laptop");
    assert_eq!(host(&doc, PHONE).unwrap()["name"], "phone");
    // Same MAC as the laptop: the IPv6 address is part of the named device.
    assert!(host(&doc, LAPTOP6).is_none());
    assert_eq!(
        host(&doc, LAPTOP).unwrap()["ips"],
        serde_json::json!([LAPTOP, LAPTOP6])
    );
}

#[test]
fn bad_flags_exit_2_with_a_message() {
    for args in [
        &["--bogus"][..],
        &["--lan", "not-a-net"],
        &["--interval", "0"],
        &["--listen", "nowhere"],
        &["--home", "north"],
        &["-r"],
        &["stray"],
    ] {
        let out = connmap().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("connmap: ") && err.contains("--help"),
            "{args:?}: {err}"
        );
    }
    let out = connmap().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--max-remotes"));
}

/// Names of remotes from DNS answers (UDP, TCP, CNAME chains, many, truncated, malformed),
/// TLS ClientHellos (with and without SNI, split over two segments) and HTTP requests.
#[test]
fn names_from_dns_tls_and_http() {
    let d = tmp();
    let (l, p, r) = (MAC_LAPTOP, MAC_PHONE, MAC_ROUTER);
    let chain = dns_response(
        "www.shop.example",
        1,
        &[
            ("www.shop.example", 5, dns_name("shop.cdn.example")),
            ("shop.cdn.example", 5, dns_name("e1.edge.example")),
            ("e1.edge.example", 1, addr_bytes("151.101.1.140")),
            ("unrelated.example", 1, addr_bytes("151.101.1.141")),
        ],
    );
    let hello = client_hello(Some("CDN.shop.example"), 1800);
    let tcp_dns = {
        let m = dns_response("dns.quad9.example", 1, &[("@", 1, addr_bytes("9.9.9.9"))]);
        let mut s = (m.len() as u16).to_be_bytes().to_vec();
        s.extend_from_slice(&m);
        s
    };
    let many: Vec<(&str, u16, Vec<u8>)> = (0..100u8).map(|i| ("@", 1, vec![8, 8, 4, i])).collect();
    let many = dns_response("many.example", 1, &many);
    let cut = dns_response(
        "cut.example",
        1,
        &[
            ("@", 1, addr_bytes("203.0.114.1")),
            ("@", 1, addr_bytes("203.0.114.2")),
        ],
    );
    let mut looped = dns_response("loop.example", 1, &[("@", 1, addr_bytes("1.0.0.1"))]);
    looped[12] = 0xc0;
    looped[13] = 12;
    let v6 = dns_response("v6.example", 28, &[("@", 28, addr_bytes("2a00:1450::1"))]);
    let frames: Vec<Rec> = vec![
        rec(
            T0,
            eth_data(r, l, ROUTER, LAPTOP, 17, 53, 41000, 0, &chain),
            9999,
        ),
        rec(
            T0 + 1,
            eth_data(
                l,
                r,
                LAPTOP,
                "151.101.1.140",
                6,
                50000,
                443,
                1000,
                &hello[..1400],
            ),
            9999,
        ),
        rec(
            T0 + 1,
            eth_data(
                l,
                r,
                LAPTOP,
                "151.101.1.140",
                6,
                50000,
                443,
                2400,
                &hello[1400..],
            ),
            9999,
        ),
        rec(
            T0 + 2,
            eth_data(
                l,
                r,
                LAPTOP,
                "1.1.1.1",
                6,
                50001,
                443,
                1,
                &client_hello(None, 0),
            ),
            9999,
        ),
        rec(
            T0 + 3,
            eth_data(
                p,
                r,
                PHONE,
                "8.8.8.8",
                6,
                50002,
                80,
                1,
                b"GET / HTTP/1.1\r\nHost: Plain.Example:8080\r\nAccept: */*\r\n\r\n",
            ),
            9999,
        ),
        rec(
            T0 + 4,
            eth_data(r, p, ROUTER, PHONE, 6, 53, 41001, 1, &tcp_dns),
            9999,
        ),
        rec(T0 + 5, eth(p, r, PHONE, "9.9.9.9", 1, 0, 0, 56), 9999),
        rec(
            T0 + 6,
            eth_data(r, l, ROUTER, LAPTOP, 17, 53, 41002, 0, &many),
            9999,
        ),
        {
            // Cut inside the second answer record: the first still names its address.
            let f = eth_data(r, l, ROUTER, LAPTOP, 17, 53, 41003, 0, &cut);
            let n = f.len() - 3;
            rec(T0 + 7, f, n)
        },
        rec(
            T0 + 8,
            eth(l, r, LAPTOP, "203.0.114.1", 6, 50003, 8443, 10),
            9999,
        ),
        rec(
            T0 + 8,
            eth_data(r, l, ROUTER, LAPTOP, 17, 53, 41004, 0, &looped),
            9999,
        ),
        rec(
            T0 + 8,
            eth_data(r, l, ROUTER, LAPTOP, 17, 53, 41005, 0, &[0xff; 40]),
            9999,
        ),
        rec(
            T0 + 8,
            eth_data(
                l,
                r,
                LAPTOP,
                "1.0.0.1",
                6,
                50004,
                443,
                1,
                &[0x16, 3, 1, 0xff, 0xff, 1],
            ),
            9999,
        ),
        rec(
            T0 + 8,
            eth_data(
                l,
                r,
                LAPTOP,
                "1.0.0.1",
                6,
                50005,
                80,
                1,
                b"\x00GET / HTTP/1.1\r\nHost: x.example\r\n",
            ),
            9999,
        ),
        rec(
            T0 + 9,
            eth_data(r, l, ROUTER6, LAPTOP6, 17, 53, 41006, 0, &v6),
            9999,
        ),
        rec(
            T0 + 10,
            eth_data(
                l,
                r,
                LAPTOP6,
                "2a00:1450::1",
                6,
                50006,
                443,
                1,
                &client_hello(Some("v6.example"), 0),
            ),
            9999,
        ),
    ];
    let pcap = d.path().join("names.pcap");
    write_pcap(&pcap, 1, &frames);
    let (out, json) = replay(d.path(), &pcap, None, &scenario_args());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json.unwrap();
    let names = |ip: &str| marker(&doc, ip).unwrap_or_else(|| panic!("no {ip}"))["names"].clone();
    assert_eq!(
        names("151.101.1.140"),
        serde_json::json!(["cdn.shop.example", "www.shop.example"])
    );
    assert!(names("1.1.1.1").is_null(), "no SNI, no names");
    assert_eq!(names("8.8.8.8"), serde_json::json!(["plain.example"]));
    assert_eq!(names("9.9.9.9"), serde_json::json!(["dns.quad9.example"]));
    assert_eq!(names("203.0.114.1"), serde_json::json!(["cut.example"]));
    assert_eq!(names("2a00:1450::1"), serde_json::json!(["v6.example"]));
    assert!(names("1.0.0.1").is_null());
    assert!(marker(&doc, "151.101.1.141").is_none());
    assert!(
        marker(&doc, "8.8.4.1").is_none(),
        "answers alone make no marker"
    );
    let s = &doc["stats"];
    assert_eq!(s["decode_errors"], 0);
    // chain 1 + many (bounded at 64 records) + cut 1 + tcp 1 + v6 1 = 68 DNS names learned.
    assert_eq!(s["names_learned"]["dns"], 68, "{s}");
    assert_eq!(s["names_learned"]["sni"], 2);
    assert_eq!(s["names_learned"]["http"], 1);
    assert_eq!(s["max_names"], 20_000);
    assert_eq!(doc["capture"]["received"], frames.len());
    assert!(doc["capture"]["source"]
        .as_str()
        .unwrap()
        .starts_with("file "));
    assert_eq!(doc["capture"]["uptime"], 10);
    assert_eq!(
        doc["offload"],
        serde_json::json!({"detected": false, "hardware": false, "source": null})
    );

    // Bounded name table; and --no-names learns nothing.
    let mut args = scenario_args();
    args.extend(["--max-names".into(), "8".into()]);
    let (_, json) = replay(d.path(), &pcap, None, &args);
    let doc = json.unwrap();
    assert!(doc["stats"]["names"].as_u64().unwrap() <= 8);
    assert!(doc["stats"]["names_evicted"].as_u64().unwrap() > 0);
    let mut args = scenario_args();
    args.push("--no-names".into());
    let (_, json) = replay(d.path(), &pcap, None, &args);
    let doc = json.unwrap();
    assert!(doc["markers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m.get("names").is_none()));
}

#[test]
fn offload_from_the_firewall_config() {
    let d = tmp();
    let fw = d.path().join("firewall");
    std::fs::write(
        &fw,
        "config defaults\n\toption flow_offloading '1'\n\toption flow_offloading_hw '1'\n",
    )
    .unwrap();
    let mut args = scenario_args();
    args.extend(["--firewall-config".into(), fw.display().to_string()]);
    let pcap = d.path().join("s.pcap");
    write_pcap(&pcap, 1, &scenario_recs());
    let (out, json) = replay(d.path(), &pcap, None, &args);
    assert!(out.status.success());
    let o = &json.unwrap()["offload"];
    assert_eq!(o["detected"], true);
    assert_eq!(o["hardware"], true);
    assert_eq!(o["source"], fw.display().to_string());
}

/// The frames of the test captures (the scenario, its DNS answers, VLAN-tagged copies), whole
/// and cut at every length: the fixed-offset fast path and etherparse's general path decode
/// each one alike (`packet::decode_ip_both_ways`).
#[test]
fn fast_path_and_etherparse_agree_on_the_test_captures() {
    let frames: Vec<(Vec<u8>, usize)> = scenario()
        .into_iter()
        .chain(scenario_names())
        .flat_map(|(_, f)| {
            [
                (vlan_tag(&f, &[10]), 18),
                (vlan_tag(&f, &[10, 20]), 22),
                (f, 14),
            ]
        })
        .collect();
    let mut compared = 0;
    for (frame, at) in &frames {
        for len in *at..=frame.len() {
            let (fast, general) = connmap::packet::decode_ip_both_ways(&frame[..len], *at);
            assert_eq!(fast, general, "{len} bytes of {frame:02x?}");
            compared += 1;
        }
    }
    assert!(compared > 1000, "{compared}");
}
