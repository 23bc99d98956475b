//! Live capture, end to end, inside network namespaces this test makes itself:
//!
//! ```text
//!  ns H (LAN host)          ns R (the "router")                     ns W (a "remote" server)
//!  eth0 192.168.77.10 ── veth ── br-lan 192.168.77.1   wan 198.18.5.1 ── veth ── eth0 198.18.5.5
//! ```
//!
//! connmap runs in R on `br-lan` (no `--listen`: it must pick br-lan's own address), with
//! `--remote 198.18.0.0/15` so that the benchmark-range server counts as remote, and a test
//! database that puts it in Lisbon. The host sends real TCP, UDP and ICMP to the server; the
//! test checks markers.json on disk and over HTTP from the LAN host. Traffic never leaves the
//! namespaces. They need root and `ip netns`: `#[ignore]`d, run with `--include-ignored`
//! (`./dev.sh test` does as root).

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/netns.rs"]
mod netns;

use netns::{in_ns, make_bridge, setup};

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends ICMP echo requests over a raw socket and waits for a reply.
fn ping(dst: Ipv4Addr, count: u16) -> bool {
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
        if fd < 0 {
            return false;
        }
        let tv = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        );
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(dst).to_be(),
            },
            sin_zero: [0; 8],
        };
        let mut replies = 0;
        for seq in 0..count {
            let mut pkt = vec![8u8, 0, 0, 0, 0x12, 0x34, (seq >> 8) as u8, seq as u8];
            pkt.extend_from_slice(&[0x61; 32]);
            let c = checksum(&pkt);
            pkt[2..4].copy_from_slice(&c.to_be_bytes());
            libc::sendto(
                fd,
                pkt.as_ptr() as *const libc::c_void,
                pkt.len(),
                0,
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            );
            let mut buf = [0u8; 256];
            let n = libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0);
            if n > 28 && buf[20] == 0 {
                replies += 1;
            }
        }
        libc::close(fd);
        replies > 0
    }
}

fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

#[test]
#[ignore = "needs root: network namespaces (ip netns); ./dev.sh test runs it with --include-ignored as root"]
fn live_capture_in_namespaces() {
    let tag = format!("{}", std::process::id() % 100_000);
    let mut ns = setup(&tag, true).unwrap_or_else(|e| {
        panic!("cannot build test namespaces ({e}); run as root with iproute2")
    });
    let (h, r, w) = (
        ns.names[0].clone(),
        ns.names[1].clone(),
        ns.names[2].clone(),
    );
    let d = tmp();
    let db = write_db(d.path(), &geoip2_db(), "geo.mmdb");
    let json = d.path().join("markers.json");
    let log = std::fs::File::create(d.path().join("connmap.log")).unwrap();
    ns.daemon = Some(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &r,
                env!("CARGO_BIN_EXE_connmap"),
                "-i",
                "br-lan",
                "--remote",
                "198.18.0.0/15",
            ])
            .arg("--geoip")
            .arg(&db)
            .arg("--json-out")
            .arg(&json)
            .args(["--interval", "1"])
            .args(NO_HOST_FILES)
            .args(["--exclude", "192.168.77.1", "-v"])
            // export: IPFIX to a collector on the router's loopback (below)
            .args(["--ipfix", "127.0.0.1:47390", "--ipfix-idle", "2"])
            .env("CONNMAP_LOG", "stderr")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );

    // The remote server: TCP echo on 8080, UDP echo on 9999, a TLS stand-in on 443.
    let server = in_ns(&w, || {
        let tls = TcpListener::bind("198.18.5.5:443").unwrap();
        std::thread::spawn(move || {
            if let Ok((mut c, _)) = tls.accept() {
                c.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut b = vec![0u8; 8192];
                let _ = c.read(&mut b);
            }
        });
        let tcp = TcpListener::bind("198.18.5.5:8080").unwrap();
        let udp = UdpSocket::bind("198.18.5.5:9999").unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let t = std::thread::spawn(move || {
            for _ in 0..3 {
                if let Ok((mut c, _)) = tcp.accept() {
                    let mut b = [0u8; 64];
                    let n = c.read(&mut b).unwrap_or(0);
                    let _ = c.write_all(&b[..n]);
                }
            }
        });
        let mut b = [0u8; 64];
        for _ in 0..3 {
            if let Ok((n, from)) = udp.recv_from(&mut b) {
                let _ = udp.send_to(&b[..n], from);
            }
        }
        let _ = t.join();
    });

    // Wait until connmap listens on br-lan's address (its default), then send traffic.
    let http = SocketAddr::from(([192, 168, 77, 1], 8090));
    let client = in_ns(&h, move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&http, Duration::from_millis(300)).is_err() {
            if Instant::now() > deadline {
                return Err("connmap never listened on 192.168.77.1:8090".to_string());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_millis(500));
        let pinged = ping(Ipv4Addr::new(198, 18, 5, 5), 3);
        for _ in 0..3 {
            let mut s = TcpStream::connect("198.18.5.5:8080").map_err(|e| e.to_string())?;
            s.write_all(b"hello").map_err(|e| e.to_string())?;
            let mut b = [0u8; 5];
            s.read_exact(&mut b).map_err(|e| e.to_string())?;
        }
        // A ClientHello bigger than one segment (like one with a post-quantum key share).
        let mut t = TcpStream::connect("198.18.5.5:443").map_err(|e| e.to_string())?;
        t.write_all(&client_hello(Some("tls.lisbon.example"), 1800))
            .map_err(|e| e.to_string())?;
        let u = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
        u.set_read_timeout(Some(Duration::from_secs(2))).ok();
        for _ in 0..3 {
            u.send_to(b"ping", "198.18.5.5:9999")
                .map_err(|e| e.to_string())?;
            let mut b = [0u8; 8];
            let _ = u.recv_from(&mut b);
        }
        // Give connmap two snapshot intervals, then ask it over HTTP from the LAN.
        std::thread::sleep(Duration::from_millis(2500));
        let page = http_get(http, "/markers.json")?;
        let metrics = http_get(http, "/metrics")?;
        Ok((pinged, (page, metrics)))
    });
    // export: an IPFIX collector on the router's loopback; returns the IPv4 data records to
    // 198.18.5.5 as (octets, packets) once some came (the remote went idle for 2 s).
    let collector = in_ns(&r, || {
        let s = UdpSocket::bind("127.0.0.1:47390").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut records = vec![];
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline && records.is_empty() {
            let Ok(n) = s.recv(&mut buf) else { continue };
            let m = &buf[..n];
            assert_eq!(u16::from_be_bytes([m[0], m[1]]), 10, "IPFIX version");
            assert_eq!(
                u16::from_be_bytes([m[2], m[3]]) as usize,
                n,
                "message length"
            );
            let mut at = 16;
            while at + 4 <= n {
                let id = u16::from_be_bytes([m[at], m[at + 1]]);
                let len = u16::from_be_bytes([m[at + 2], m[at + 3]]) as usize;
                let mut r = at + 4;
                while id == 256 && r + 56 <= at + len {
                    let b = &m[r..];
                    if b[4..8] == [198, 18, 5, 5] {
                        let octets = u64::from_be_bytes(b[13..21].try_into().unwrap());
                        let packets = u64::from_be_bytes(b[21..29].try_into().unwrap());
                        records.push((octets, packets));
                    }
                    r += 56 + b[55] as usize;
                }
                at += len.max(4);
            }
        }
        records
    });
    // The router's resolver answers the host (no one needs to listen for it).
    let resolver = in_ns(&r, move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&http, Duration::from_millis(300)).is_err()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_millis(800));
        let s = UdpSocket::bind("192.168.77.1:53").unwrap();
        let answer = dns_response(
            "www.lisbon.example",
            1,
            &[("@", 1, addr_bytes("198.18.5.5"))],
        );
        let _ = s.send_to(&answer, "192.168.77.10:40053");
    });
    let result = client.join().unwrap();
    let _ = resolver.join();
    let _ = server.join();
    let log = std::fs::read_to_string(d.path().join("connmap.log")).unwrap_or_default();
    let (pinged, (page, metrics)) = result.unwrap_or_else(|e| panic!("{e}\nconnmap log:\n{log}"));

    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json-out")).unwrap();
    let m = marker(&doc, "198.18.5.5").unwrap_or_else(|| panic!("no marker; {doc}\n{log}"));
    assert_eq!(m["hosts"], serde_json::json!(["192.168.77.10"]));
    assert_eq!(m["city"], "Lisbon");
    let protocols = m["protocols"].as_array().unwrap();
    assert!(
        protocols.contains(&"tcp".into()) && protocols.contains(&"udp".into()),
        "{m}"
    );
    if pinged {
        assert!(protocols.contains(&"icmp".into()), "{m}");
    }
    assert!(m["ports"].as_array().unwrap().contains(&8080.into()), "{m}");
    // Names from the second capture handle: the resolver's answer and the split ClientHello.
    let names = m["names"].as_array().cloned().unwrap_or_default();
    for n in ["www.lisbon.example", "tls.lisbon.example"] {
        assert!(names.contains(&n.into()), "{n} not in {m}\n{log}");
    }
    let cap = &doc["capture"];
    assert_eq!(cap["source"], "live on br-lan");
    assert_eq!(cap["snaplen"], 160);
    assert!(
        cap["names"]["filter"].as_str().unwrap().contains("port 53"),
        "{cap}"
    );
    assert!(cap["received"].as_u64().unwrap() > 0, "{cap}");
    assert!(m["ports"].as_array().unwrap().contains(&9999.into()), "{m}");
    assert!(m["packets_out"].as_u64().unwrap() >= 9);
    assert!(
        m["packets_in"].as_u64().unwrap() >= 6,
        "replies must count: {m}"
    );
    let host = host(&doc, "192.168.77.10").unwrap();
    assert!(host["mac"].is_string());
    assert_eq!(
        doc["lan"],
        serde_json::json!(["192.168.77.0/24"]),
        "LAN taken from br-lan"
    );
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("198.18.5.5"));
    assert!(log.contains("capturing on br-lan"), "{log}");
    // export: /metrics from the LAN, and IPFIX records of the remote's outbound traffic
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains("connmap_device_bytes_total{device=\"192.168.77.10\""),
        "{metrics}"
    );
    assert!(metrics.contains("connmap_capture_dropped_total{handle=\"counting\"}"));
    let records = collector.join().unwrap();
    assert!(
        !records.is_empty() && records.iter().all(|&(o, p)| o > 0 && p > 0),
        "IPFIX records to 198.18.5.5: {records:?}\n{log}"
    );
    assert!(records.iter().map(|r| r.1).sum::<u64>() <= m["packets_out"].as_u64().unwrap());
    // The router itself (excluded) and LAN-local traffic are not markers.
    assert_eq!(doc["markers"].as_array().unwrap().len(), 1, "{doc}");
}

/// Waits until `log` holds `needle` `times` times.
fn wait_log(path: &std::path::Path, needle: &str, times: usize, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.matches(needle).count() >= times {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {needle:?} x{times}; log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the remote's marker lists exactly `want` as ports.
fn wait_ports(json: &std::path::Path, log_path: &std::path::Path, want: serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let doc: Option<serde_json::Value> = std::fs::read(json)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let ports = doc
            .as_ref()
            .and_then(|d| marker(d, "198.18.5.5").map(|m| m["ports"].clone()))
            .unwrap_or_default();
        if ports == want {
            return;
        }
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "ports {ports}, want {want}; log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tcp_hello(h: &str, port: u16) {
    in_ns(h, move || {
        let server = SocketAddr::from(([198, 18, 5, 5], port));
        for _ in 0..2 {
            if let Ok(mut s) = TcpStream::connect_timeout(&server, Duration::from_secs(2)) {
                let _ = s.write_all(b"x");
            }
        }
    })
    .join()
    .unwrap();
}

#[test]
#[ignore = "needs root: network namespaces (ip netns); ./dev.sh test runs it with --include-ignored as root"]
fn interface_missing_at_start_then_gone_then_back() {
    let tag = format!("{}", (std::process::id() + 1) % 100_000);
    let mut ns = setup(&tag, false).unwrap_or_else(|e| {
        panic!("cannot build test namespaces ({e}); run as root with iproute2")
    });
    let (h, r, w) = (
        ns.names[0].clone(),
        ns.names[1].clone(),
        ns.names[2].clone(),
    );
    let d = tmp();
    let json = d.path().join("markers.json");
    let log_path = d.path().join("connmap.log");
    let log = std::fs::File::create(&log_path).unwrap();
    ns.daemon = Some(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &r,
                env!("CARGO_BIN_EXE_connmap"),
                "-i",
                "br-lan",
            ])
            .args([
                "--lan",
                "192.168.77.0/24",
                "--remote",
                "198.18.0.0/15",
                "--listen",
                "127.0.0.1:8090",
            ])
            .arg("--json-out")
            .arg(&json)
            .args(["--interval", "1"])
            .args(NO_HOST_FILES)
            .args(["--geoip", ""])
            .env("CONNMAP_LOG", "stderr")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    // A listener in W so that TCP handshakes complete (SYN, SYN-ACK).
    let listeners = in_ns(&w, || {
        let a = TcpListener::bind("198.18.5.5:7001").unwrap();
        let b = TcpListener::bind("198.18.5.5:7002").unwrap();
        (a, b)
    })
    .join()
    .unwrap();

    wait_log(&log_path, "interface br-lan not found", 1, 10);
    make_bridge(&r).unwrap();
    wait_log(&log_path, "capturing on br-lan", 1, 15);
    std::thread::sleep(Duration::from_millis(300));
    tcp_hello(&h, 7001);
    wait_ports(&json, &log_path, serde_json::json!([7001]));

    netns::ip(&r, "link del br-lan").unwrap();
    wait_log(&log_path, "capture lost", 1, 10);
    make_bridge(&r).unwrap();
    wait_log(&log_path, "capturing on br-lan", 2, 15);
    std::thread::sleep(Duration::from_millis(300));
    tcp_hello(&h, 7002);

    wait_ports(&json, &log_path, serde_json::json!([7001, 7002]));
    drop(listeners);
    // The process is still the first one: no restart happened.
    assert!(ns.daemon.as_mut().unwrap().try_wait().unwrap().is_none());
}

/// `--no-http` (the LuCI-only setting of the OpenWrt package): markers.json is written, and
/// the daemon has no listening socket at all in its namespace.
#[test]
fn no_http_listens_nowhere() {
    let tag = format!("{}", (std::process::id() + 2) % 100_000);
    let mut ns = match setup(&tag, true) {
        Ok(ns) => ns,
        Err(e) => {
            println!("SKIPPED no_http_listens_nowhere: cannot build test namespaces ({e})");
            return;
        }
    };
    let (h, r, w) = (
        ns.names[0].clone(),
        ns.names[1].clone(),
        ns.names[2].clone(),
    );
    let d = tmp();
    let json = d.path().join("markers.json");
    let log_path = d.path().join("connmap.log");
    let log = std::fs::File::create(&log_path).unwrap();
    ns.daemon = Some(
        Command::new("ip")
            .args(["netns", "exec", &r, env!("CARGO_BIN_EXE_connmap")])
            .args(["-i", "br-lan", "--remote", "198.18.0.0/15", "--no-http"])
            .arg("--json-out")
            .arg(&json)
            .args(["--interval", "1", "--geoip", ""])
            .args(NO_HOST_FILES)
            .env("CONNMAP_LOG", "stderr")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let listener = in_ns(&w, || TcpListener::bind("198.18.5.5:7003").unwrap())
        .join()
        .unwrap();
    wait_log(&log_path, "capturing on br-lan", 1, 15);
    std::thread::sleep(Duration::from_millis(300));
    tcp_hello(&h, 7003);
    wait_ports(&json, &log_path, serde_json::json!([7003]));
    drop(listener);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("no HTTP listener"), "{log}");
    assert!(!log.contains("map on http"), "{log}");
    // no socket of the router's namespace listens (st 0A = LISTEN), IPv4 or IPv6
    let pid = ns.daemon.as_ref().unwrap().id();
    for table in ["tcp", "tcp6"] {
        let t = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        let listening: Vec<&str> = t
            .lines()
            .skip(1)
            .filter(|l| l.split_whitespace().nth(3) == Some("0A"))
            .collect();
        assert!(listening.is_empty(), "{table}: {listening:?}");
    }
}
