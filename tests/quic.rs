//! End-to-end: names where DNS is hidden. QUIC Initial SNI from connections made by a real
//! QUIC stack (aioquic, run sans-I/O by tests/quic/aioquic_flows.py: v1, v2, a ClientHello
//! split over two Initials, a Retry, coalesced and padded packets, bulk data), tcpdump's own
//! QUIC captures, ECH ClientHellos, encrypted DNS (DoT, DoH), and the names coverage.
//!
//! Every capture is replayed through the real binary; nothing is sent anywhere. The remote
//! servers have private addresses (`--remote` makes them remotes).

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const SERVER_NET4: &str = "10.99.0.0/16";
const SERVER_NET6: &str = "fd99::/16";

fn args(extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--lan",
        LAN4,
        "--lan",
        LAN6,
        "--remote",
        SERVER_NET4,
        "--remote",
        SERVER_NET6,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn cache() -> PathBuf {
    std::env::var_os("CONNMAP_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/connmap"))
}

/// The Python of tests/quic/deps.sh's venv, if aioquic is installed there.
fn aioquic_python() -> Option<PathBuf> {
    let p = cache().join("aioquic-1.7.2/bin/python");
    let ok = std::process::Command::new(&p)
        .args(["-c", "import aioquic"])
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(p)
}

/// (scenario, from client, UDP payload) of every datagram the script's connections exchanged.
fn aioquic_datagrams(dir: &Path) -> Option<Vec<(String, bool, Vec<u8>)>> {
    let Some(py) = aioquic_python() else {
        eprintln!("SKIPPED: aioquic is not installed (run tests/quic/deps.sh or ./dev.sh deps)");
        return None;
    };
    let out = dir.join("flows.txt");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/quic/aioquic_flows.py");
    let st = std::process::Command::new(py)
        .arg(script)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(out).unwrap();
    Some(
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let hex = f[2];
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                (f[0].to_string(), f[1] == "c", bytes)
            })
            .collect(),
    )
}

/// Where each scenario's client and server are (v2 runs over IPv6).
fn endpoints(scenario: &str) -> (&'static str, &'static str, u16) {
    match scenario {
        "v1" => (LAPTOP, "10.99.0.1", 50001),
        "v2" => (LAPTOP6, "fd99::2", 50002),
        "split" => (LAPTOP, "10.99.0.3", 50003),
        "retry" => (LAPTOP, "10.99.0.4", 50004),
        "nosni" => (LAPTOP, "10.99.0.5", 50005),
        s => panic!("unknown scenario {s}"),
    }
}

#[test]
fn quic_initial_sni_from_a_real_client_stack() {
    let d = tmp();
    let Some(dgrams) = aioquic_datagrams(d.path()) else {
        return;
    };
    let names_filter = {
        let cap = pcap::Capture::dead(pcap::Linktype(1)).unwrap();
        cap.compile(
            &connmap::learn::bpf_filter(connmap::packet::LinkType::Ethernet),
            true,
        )
        .unwrap()
    };
    let mut recs = Vec::new();
    let (mut initials, mut passed, mut others, mut others_passed) = (0, 0, 0, 0);
    for (scenario, from_client, payload) in &dgrams {
        let (client, server, port) = endpoints(scenario);
        let frame = if *from_client {
            eth_data(
                MAC_LAPTOP, MAC_ROUTER, client, server, 17, port, 443, 0, payload,
            )
        } else {
            eth_data(
                MAC_ROUTER, MAC_LAPTOP, server, client, 17, 443, port, 0, payload,
            )
        };
        // The names handle's kernel filter: client Initials pass; the server's packets and
        // the client's other packets (Handshake alone, short-header data) do not.
        let pass = names_filter.filter(&frame);
        let initial = *from_client && payload[0] & 0xb0 == 0x80 && payload[1..5] == [0, 0, 0, 1]
            || *from_client
                && payload[0] & 0xb0 == 0x90
                && payload[1..5] == [0x6b, 0x33, 0x43, 0xcf];
        if initial {
            initials += 1;
            passed += usize::from(pass);
        } else {
            others += 1;
            others_passed += usize::from(pass);
        }
        recs.push(rec(T0, frame, 9999));
    }
    assert!(initials >= 12 && others >= 20, "{initials} {others}");
    assert_eq!(
        passed, initials,
        "every client Initial passes the names filter"
    );
    assert_eq!(
        others_passed, 0,
        "no other QUIC packet passes the names filter"
    );

    let pcap = d.path().join("quic.pcap");
    write_pcap(&pcap, 1, &recs);
    let (out, doc) = replay(d.path(), &pcap, None, &args(&[]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = doc.unwrap();
    for (ip, name) in [
        ("10.99.0.1", "quic-v1.example"),
        ("fd99::2", "quic-v2.example"),
        ("10.99.0.3", "split.quic.example"),
        ("10.99.0.4", "retry.quic.example"),
    ] {
        let m = marker(&doc, ip).unwrap_or_else(|| panic!("no marker {ip}"));
        assert_eq!(m["names"], serde_json::json!([name]), "{m}");
        assert_eq!(m["name_kinds"], serde_json::json!(["quic"]), "{m}");
    }
    let m = marker(&doc, "10.99.0.5").unwrap();
    assert!(m.get("names").is_none(), "{m}");
    let s = &doc["stats"];
    // Retransmitted Initials may name a remote again; each connection at least once.
    assert!(s["names_learned"]["quic"].as_u64().unwrap() >= 4, "{s}");
    assert_eq!(s["names_learned"]["sni"], 0);
    let c = &s["names_coverage"];
    assert_eq!(c["remotes"], 5);
    assert_eq!(c["named"]["remotes"], 4);
    assert_eq!(c["quic"]["remotes"], 4);
    assert_eq!(c["dns"]["remotes"], 0);
    assert!(c["named"]["bytes"].as_u64().unwrap() < c["bytes"].as_u64().unwrap());

    // Without the names (--no-names), nothing is read.
    let (_, doc) = replay(d.path(), &pcap, None, &args(&["--no-names"]));
    assert!(marker(&doc.unwrap(), "10.99.0.1")
        .unwrap()
        .get("names")
        .is_none());
}

/// tcpdump's own QUIC test captures (loopback, ::1 on both ends) replay without error; with
/// the addresses moved apart (client fd00:1::10, server fd99::1, as a LAN would see it), the
/// client Initials of the handshake and Retry captures give their server names.
///
/// The captures are tcpdump's (the-tcpdump-group/tcpdump, `tests/quic_*.pcap`, `gquic.pcap`):
/// third-party files, not kept in this repository and in no package registry (Debian's tcpdump
/// source has no QUIC tests). The test reads them from `CONNMAP_TCPDUMP_QUIC` (default
/// `~/.cache/connmap/tcpdump-quic`) and says SKIPPED when they are not there.
#[test]
fn tcpdump_quic_captures() {
    let dir = std::env::var_os("CONNMAP_TCPDUMP_QUIC")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/connmap/tcpdump-quic"))
        })
        .filter(|d| d.join("quic_handshake.pcap").is_file());
    let Some(dir) = dir else {
        eprintln!(
            "SKIPPED tcpdump_quic_captures: put tcpdump's tests/quic_*.pcap and gquic.pcap in \
             ~/.cache/connmap/tcpdump-quic (or CONNMAP_TCPDUMP_QUIC)"
        );
        return;
    };
    let d = tmp();
    let mut names = Vec::new();
    for f in [
        "quic_handshake",
        "quic_handshake_truncated",
        "quic_retry",
        "quic_vn",
        "quic_32_bit_pointer_overflow",
        "gquic",
    ] {
        let path = dir.join(format!("{f}.pcap"));
        let (out, doc) = replay(d.path(), &path, None, &args(&[]));
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(doc.is_some(), "{f}");
        // Moved apart.
        let mut cap = pcap::Capture::from_file(&path).unwrap();
        let link = cap.get_datalink().0;
        let mut recs = Vec::new();
        while let Ok(p) = cap.next_packet() {
            let mut data = p.data.to_vec();
            let at = match link {
                0 | 108 => 4,
                1 => 14,
                _ => continue,
            };
            if data.len() > at + 44 && data[at] >> 4 == 6 && data[at + 6] == 17 {
                let sport = u16::from_be_bytes([data[at + 40], data[at + 41]]);
                let client: std::net::Ipv6Addr = LAPTOP6.parse().unwrap();
                let server: std::net::Ipv6Addr = "fd99::1".parse().unwrap();
                let (s, t) = if sport == 443 {
                    (server, client)
                } else {
                    (client, server)
                };
                data[at + 8..at + 24].copy_from_slice(&s.octets());
                data[at + 24..at + 40].copy_from_slice(&t.octets());
            }
            recs.push(Rec {
                ts: p.header.ts.tv_sec as u64,
                wire_len: p.header.len,
                data,
            });
        }
        let moved = d.path().join(format!("{f}-moved.pcap"));
        write_pcap(&moved, link, &recs);
        let (out, doc) = replay(d.path(), &moved, None, &args(&[]));
        assert!(out.status.success(), "{f}");
        if let Some(m) = marker(&doc.unwrap(), "fd99::1") {
            names.push((f, m["names"].clone()));
        }
    }
    eprintln!("names from tcpdump's captures: {names:?}");
    let named: Vec<&str> = names
        .iter()
        .filter(|(_, n)| n.is_array())
        .map(|(f, _)| *f)
        .collect();
    assert!(named.contains(&"quic_handshake"), "{names:?}");
    assert!(named.contains(&"quic_retry"), "{names:?}");
}

/// ECH ClientHellos (crafted: extension 0xfe0d, outer type; no ECH client runs here): the
/// outer name is recorded as `ech_outer`, never among the site's `names`, and a DNS name for
/// the same remote still names it. An outer name that is the name the device looked up for
/// the address is the site's (a GREASE ECH extension): a plain SNI.
#[test]
fn ech_outer_names_are_kept_apart() {
    let d = tmp();
    let (l, r) = (MAC_LAPTOP, MAC_ROUTER);
    let ech = client_hello_ech("cloudflare-ech.com");
    let plain = client_hello(Some("plain.example"), 0);
    let dns = dns_response("site.example", 1, &[("@", 1, addr_bytes("10.99.1.2"))]);
    // GREASE ECH: the outer name is the name the laptop looked up for the address.
    let grease_dns = dns_response("grease.example", 1, &[("@", 1, addr_bytes("10.99.1.4"))]);
    let grease = client_hello_ech("grease.example");
    let recs = vec![
        rec(T0, eth(l, r, LAPTOP, "10.99.1.1", 6, 40001, 443, 0), 9999),
        rec(
            T0,
            eth_data(l, r, LAPTOP, "10.99.1.1", 6, 40001, 443, 1, &ech),
            9999,
        ),
        rec(
            T0,
            eth_data(r, l, ROUTER, LAPTOP, 17, 53, 41000, 0, &dns),
            9999,
        ),
        rec(T0, eth(l, r, LAPTOP, "10.99.1.2", 6, 40002, 443, 0), 9999),
        rec(
            T0,
            eth_data(l, r, LAPTOP, "10.99.1.2", 6, 40002, 443, 1, &ech),
            9999,
        ),
        rec(T0, eth(l, r, LAPTOP, "10.99.1.3", 6, 40003, 443, 0), 9999),
        rec(
            T0,
            eth_data(l, r, LAPTOP, "10.99.1.3", 6, 40003, 443, 1, &plain),
            9999,
        ),
        rec(
            T0,
            eth_data(r, l, ROUTER, LAPTOP, 17, 53, 41001, 0, &grease_dns),
            9999,
        ),
        rec(T0, eth(l, r, LAPTOP, "10.99.1.4", 6, 40004, 443, 0), 9999),
        rec(
            T0,
            eth_data(l, r, LAPTOP, "10.99.1.4", 6, 40004, 443, 1, &grease),
            9999,
        ),
    ];
    let pcap = d.path().join("ech.pcap");
    write_pcap(&pcap, 1, &recs);
    let (out, doc) = replay(d.path(), &pcap, None, &args(&[]));
    assert!(out.status.success());
    let doc = doc.unwrap();
    let m = marker(&doc, "10.99.1.1").unwrap();
    assert!(m.get("names").is_none(), "{m}");
    assert_eq!(m["ech_outer"], serde_json::json!(["cloudflare-ech.com"]));
    assert_eq!(m["name_kinds"], serde_json::json!(["ech-outer"]));
    let m = marker(&doc, "10.99.1.2").unwrap();
    assert_eq!(m["names"], serde_json::json!(["site.example"]), "{m}");
    assert_eq!(m["ech_outer"], serde_json::json!(["cloudflare-ech.com"]));
    assert_eq!(m["name_kinds"], serde_json::json!(["dns", "ech-outer"]));
    let m = marker(&doc, "10.99.1.3").unwrap();
    assert_eq!(m["names"], serde_json::json!(["plain.example"]));
    assert_eq!(m["name_kinds"], serde_json::json!(["sni"]));
    let m = marker(&doc, "10.99.1.4").unwrap();
    assert_eq!(m["names"], serde_json::json!(["grease.example"]), "{m}");
    assert!(m.get("ech_outer").is_none(), "{m}");
    assert_eq!(m["name_kinds"], serde_json::json!(["dns", "sni"]));
    let s = &doc["stats"];
    assert_eq!(s["names_learned"]["ech_outer"], 2);
    assert_eq!(s["names_coverage"]["ech_outer_only"]["remotes"], 1);
    assert_eq!(s["names_coverage"]["named"]["remotes"], 3);
}

/// A ClientHello record with a server name and an outer ECH extension.
fn client_hello_ech(sni: &str) -> Vec<u8> {
    let mut rec = client_hello(Some(sni), 0);
    let mut e = vec![0, 0, 1, 0, 1, 0x42, 0, 32];
    e.extend_from_slice(&[5; 32]);
    e.extend_from_slice(&[0, 48]);
    e.extend_from_slice(&[6; 48]);
    let mut ext = vec![0xfe, 0x0d];
    ext.extend_from_slice(&(e.len() as u16).to_be_bytes());
    ext.extend_from_slice(&e);
    // Append to the extensions and fix the three lengths (record, handshake, extensions).
    let add = ext.len();
    rec.extend_from_slice(&ext);
    let bump = |b: &mut [u8], at: usize, n: usize| {
        let v = u16::from_be_bytes([b[at], b[at + 1]]) as usize + n;
        b[at..at + 2].copy_from_slice(&(v as u16).to_be_bytes());
    };
    bump(&mut rec, 3, add);
    let hs = u32::from_be_bytes([0, rec[6], rec[7], rec[8]]) as usize + add;
    rec[6..9].copy_from_slice(&(hs as u32).to_be_bytes()[1..]);
    // extensions length: after version, random, session id, suites, compression
    let mut at = 9 + 2 + 32;
    at += 1 + rec[at] as usize;
    at += 2 + u16::from_be_bytes([rec[at], rec[at + 1]]) as usize;
    at += 1 + rec[at] as usize;
    bump(&mut rec, at, add);
    rec
}

fn encrypted_dns_doc(dir: &Path, extra: &[&str]) -> Value {
    let (l, p, r) = (MAC_LAPTOP, MAC_PHONE, MAC_ROUTER);
    let recs = vec![
        // The laptop: DNS over TLS (853) to a resolver.
        rec(T0, eth(l, r, LAPTOP, "10.99.2.1", 6, 40001, 853, 200), 9999),
        rec(T0, eth(r, l, "10.99.2.1", LAPTOP, 6, 853, 40001, 900), 9999),
        // The phone: DNS over HTTPS to a resolver of the --doh-list, and HTTPS elsewhere.
        rec(T0, eth(p, r, PHONE, "10.99.2.2", 6, 40002, 443, 300), 9999),
        rec(T0, eth(p, r, PHONE, "10.99.2.3", 6, 40003, 443, 300), 9999),
        // Both: port 443 of a resolver not in the list is just HTTPS.
        rec(T0, eth(l, r, LAPTOP, "10.99.2.4", 6, 40004, 443, 100), 9999),
    ];
    let pcap = dir.join("encdns.pcap");
    write_pcap(&pcap, 1, &recs);
    let (out, doc) = replay(dir, &pcap, None, &args(extra));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    doc.unwrap()
}

#[test]
fn encrypted_dns_is_seen_per_device() {
    let d = tmp();
    let list = d.path().join("doh.txt");
    std::fs::write(&list, "# resolvers of the test\n10.99.2.2\nfd99::53\n").unwrap();
    let doc = encrypted_dns_doc(d.path(), &["--doh-list", list.to_str().unwrap()]);
    let laptop = host(&doc, LAPTOP).unwrap();
    assert_eq!(laptop["encrypted_dns"]["dot"], 1, "{laptop}");
    assert_eq!(laptop["encrypted_dns"]["doh"], 0);
    assert!(laptop["encrypted_dns"]["bytes"].as_u64().unwrap() > 1100);
    let phone = host(&doc, PHONE).unwrap();
    assert_eq!(phone["encrypted_dns"]["doh"], 1, "{phone}");
    assert_eq!(phone["encrypted_dns"]["dot"], 0);
    // Without the list, 10.99.2.2 is just HTTPS; a missing list file is said and survived.
    let doc = encrypted_dns_doc(d.path(), &[]);
    assert!(host(&doc, PHONE).unwrap().get("encrypted_dns").is_none());
    let missing = d.path().join("none.txt");
    let mut c = connmap();
    let out = c
        .arg("-r")
        .arg(d.path().join("encdns.pcap"))
        .args(["--geoip", ""])
        .arg("--doh-list")
        .arg(&missing)
        .args(args(&[]))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--doh-list"));
}
