//! End to end: connmap's exports read by the real engines, on loopback.
//!
//! - `/metrics`: `promtool check metrics` on the 0.0.4 text; then a real Prometheus server
//!   (Debian's `prometheus`) scrapes a daemon replaying the scenario, and its HTTP API answers
//!   the per-device and per-country series with the values of markers.json.
//! - IPFIX: a real collector (Debian's `nfdump`: `nfcapd`) receives what a replay exports;
//!   `nfdump -r` of its file shows every remote's two uniflows with markers.json's counters.
//!
//! Both programs are installed by `./dev.sh deps_test`; without them the tests say SKIPPED
//! (and fail under CI, where they must be there).

mod common;
#[path = "common/load.rs"]
mod load;

use common::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn have(program: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is missing (./dev.sh deps_test installs it)"
        );
        println!("SKIPPED: {program} is not installed (./dev.sh deps_test installs it)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET over HTTP/1.1 (Host: 127.0.0.1, the router's own address as a scrape names it);
/// returns (status, head, body), the body dechunked.
fn get(addr: SocketAddr, target: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let s = TcpStream::connect(addr).unwrap();
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n");
    load::exchange(s, request.as_bytes(), Duration::from_secs(15))
}

/// The scenario replayed by a daemon that keeps serving: (daemon, address, markers.json).
fn serve(dir: &Path, extra: &[&str]) -> (Running, SocketAddr, serde_json::Value) {
    let pcap = dir.join("s.pcap");
    write_pcap(&pcap, 1, &scenario_recs());
    let db = write_db(dir, &geoip2_db(), "geo.mmdb");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let json = dir.join("markers.json");
    let child = connmap()
        .arg("-r")
        .arg(&pcap)
        .arg("--geoip")
        .arg(&db)
        .arg("--www")
        .arg(dir.join("no-www"))
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--json-out")
        .arg(&json)
        .args(scenario_args())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let d = Running(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() && json.exists() {
            let doc = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
            return (d, addr, doc);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("daemon did not come up");
}

fn sample<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
}

#[test]
fn metrics_text_and_openmetrics_pass_promtool() {
    let dir = tmp();
    let (_d, addr, doc) = serve(dir.path(), &[]);
    let (code, head, body) = get(addr, "/metrics", "");
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    assert!(!head.to_ascii_lowercase().contains("etag"));
    let text = String::from_utf8(body).unwrap();
    let laptop = host(&doc, LAPTOP).unwrap();
    assert_eq!(
        sample(
            &text,
            "connmap_device_bytes_total{device=\"192.168.1.10\",mac=\"02:00:00:00:00:10\",\
             direction=\"out\"}"
        ),
        Some(laptop["bytes_out"].to_string().as_str())
    );
    assert_eq!(
        sample(&text, "connmap_packets_total "),
        Some(doc["stats"]["packets"].to_string().as_str())
    );
    assert!(text.contains("connmap_build_info{version=\""));
    assert!(text.contains("process_resident_memory_bytes "));

    let (_, head, om) = get(
        addr,
        "/metrics",
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n",
    );
    assert!(head.contains("application/openmetrics-text; version=1.0.0"));
    assert!(String::from_utf8(om).unwrap().ends_with("# EOF\n"));

    // The Grafana dashboard asks only for series that exist.
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/grafana/connmap.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let exprs = dashboard_exprs(&dash);
    assert!(exprs.len() >= 8);
    for e in &exprs {
        for name in e
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("connmap_") || w.starts_with("process_"))
        {
            // libpcap's drop counters exist for a live capture only, not a replay
            let live_only = [
                "connmap_capture_dropped_total",
                "connmap_capture_interface_dropped_total",
            ];
            assert!(
                text.lines().any(|l| l.starts_with(name)) || live_only.contains(&name),
                "the dashboard's {name} is not in /metrics"
            );
        }
    }

    if !have("promtool") {
        return;
    }
    // ... and in valid PromQL: promtool checks them as recording rules.
    let rules = dir.path().join("dashboard-rules.yml");
    let mut y = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        let e = e.replace("$instance", ".*").replace('\'', "''");
        y.push_str(&format!(
            "      - record: dashboard_{i}\n        expr: '{e}'\n"
        ));
    }
    std::fs::write(&rules, y).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules (the dashboard's queries): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every `expr` of the dashboard's panels.
fn dashboard_exprs(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => out.extend(dashboard_exprs(x)),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| out.extend(dashboard_exprs(x))),
        _ => {}
    }
    out
}

/// `q` URL-encoded for the query string.
fn urlencode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query's result vector.
fn query(prom: SocketAddr, q: &str) -> Vec<serde_json::Value> {
    if TcpStream::connect(prom).is_err() {
        return vec![]; // not up yet
    }
    let (code, _, body) = get(prom, &format!("/api/v1/query?query={}", urlencode(q)), "");
    if code != 200 {
        return vec![];
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn value(r: &serde_json::Value) -> f64 {
    r["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn prometheus_scrapes_devices_and_countries() {
    if !have("prometheus") {
        return;
    }
    let dir = tmp();
    let (_d, addr, doc) = serve(dir.path(), &[]);
    let prom: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  \
             - job_name: connmap\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _p = Running(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prom}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut laptop = vec![];
    while Instant::now() < deadline {
        laptop = query(
            prom,
            "connmap_device_bytes_total{device=\"192.168.1.10\",direction=\"out\"}",
        );
        if !laptop.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let plog = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    assert_eq!(
        laptop.len(),
        1,
        "no scrape in 60 s; prometheus log:\n{plog}"
    );
    let up = query(prom, "up{job=\"connmap\"}");
    assert_eq!(value(&up[0]), 1.0);
    let h = host(&doc, LAPTOP).unwrap();
    assert_eq!(value(&laptop[0]), h["bytes_out"].as_f64().unwrap());
    assert_eq!(laptop[0]["metric"]["mac"], "02:00:00:00:00:10");
    let phone = query(
        prom,
        "connmap_device_packets_total{device=\"192.168.1.11\",direction=\"out\"}",
    );
    assert_eq!(
        value(&phone[0]),
        host(&doc, PHONE).unwrap()["packets_out"].as_f64().unwrap()
    );

    // Per country: the sum over markers.json's markers of that country.
    for r in query(prom, "connmap_country_bytes{direction=\"in\"}") {
        let cc = r["metric"]["country"].as_str().unwrap().to_string();
        let want: u64 = doc["markers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["country"].as_str().unwrap_or("unknown") == cc)
            .map(|m| m["bytes_in"].as_u64().unwrap())
            .sum();
        assert_eq!(value(&r), want as f64, "country {cc}");
    }
    let us = query(
        prom,
        "connmap_country_bytes{country=\"US\",direction=\"out\"}",
    );
    assert_eq!(us.len(), 1, "{us:?}");
    assert!(us[0]["metric"]["lat"].as_str().is_some());
    assert!(!query(prom, "connmap_asn_bytes").is_empty());
    let drops = query(prom, "connmap_decode_errors_total");
    assert_eq!(
        value(&drops[0]),
        doc["stats"]["decode_errors"].as_f64().unwrap()
    );
}

/// nfdump's CSV of the flows it stored in `dir`: rows of named columns.
fn nfdump_rows(dir: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let out = Command::new("nfdump")
        .arg("-R")
        .arg(dir)
        .args(["-o", "csv"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // the header line, the flows, then "Summary" and its lines
    let mut lines = text
        .lines()
        .take_while(|l| !l.starts_with("Summary"))
        .filter(|l| !l.trim().is_empty());
    let header: Vec<String> = match lines.next() {
        Some(h) => h.split(',').map(str::to_string).collect(),
        None => return vec![],
    };
    lines
        .filter(|l| l.contains(','))
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

#[test]
fn nfcapd_stores_the_replayed_flows() {
    if !have("nfcapd") || !have("nfdump") {
        return;
    }
    let dir = tmp();
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    let port = free_udp_port();
    let log = std::fs::File::create(dir.path().join("nfcapd.log")).unwrap();
    let mut nfcapd = Running(
        Command::new("nfcapd")
            .arg("-w")
            .arg(&flows)
            .args(["-b", "127.0.0.1", "-p", &port.to_string(), "-t", "3600"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    // nfcapd is listening once its socket is bound
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && std::net::UdpSocket::bind(format!("127.0.0.1:{port}")).is_ok()
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let pcap = dir.path().join("s.pcap");
    write_pcap(&pcap, 1, &scenario_recs());
    let db = write_db(dir.path(), &geoip2_db(), "geo.mmdb");
    let mut args = scenario_args();
    args.extend(["--ipfix".into(), format!("127.0.0.1:{port}")]);
    let (out, doc) = replay(dir.path(), &pcap, Some(&db), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = doc.unwrap();
    // nfcapd writes its file when it stops (SIGTERM)
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc_kill(nfcapd.0.id() as i32, 15) };
    let _ = nfcapd.0.wait();
    let rows = nfdump_rows(&flows);
    if std::env::var_os("KEEP").is_some() {
        let _ = std::fs::remove_dir_all("/tmp/nf-keep");
        let _ = Command::new("cp")
            .arg("-a")
            .arg(&flows)
            .arg("/tmp/nf-keep")
            .status();
        let _ = std::fs::copy(&pcap, "/tmp/nf-keep/s.pcap");
        let _ = std::fs::copy(&db, "/tmp/nf-keep/geo.mmdb");
    }
    let nlog = std::fs::read_to_string(dir.path().join("nfcapd.log")).unwrap_or_default();
    let markers = doc["markers"].as_array().unwrap();
    let files: Vec<PathBuf> = std::fs::read_dir(&flows)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        !rows.is_empty(),
        "nfdump shows no flows; files {files:?}; nfcapd log:\n{nlog}"
    );
    let col = |r: &std::collections::HashMap<String, String>, k: &str| -> String {
        r.get(k).cloned().unwrap_or_default()
    };
    for m in markers {
        let ip = m["ip"].as_str().unwrap();
        let out_rows: Vec<_> = rows.iter().filter(|r| col(r, "da") == ip).collect();
        let in_rows: Vec<_> = rows.iter().filter(|r| col(r, "sa") == ip).collect();
        let sum = |rs: &[&std::collections::HashMap<String, String>], k: &str| -> u64 {
            rs.iter().map(|r| col(r, k).parse::<u64>().unwrap()).sum()
        };
        assert_eq!(
            sum(&out_rows, "ibyt"),
            m["bytes_out"].as_u64().unwrap(),
            "{ip} out: {rows:?}"
        );
        assert_eq!(
            sum(&out_rows, "ipkt"),
            m["packets_out"].as_u64().unwrap(),
            "{ip}"
        );
        assert_eq!(
            sum(&in_rows, "ibyt"),
            m["bytes_in"].as_u64().unwrap(),
            "{ip} in"
        );
        assert_eq!(
            sum(&in_rows, "ipkt"),
            m["packets_in"].as_u64().unwrap(),
            "{ip}"
        );
        let hosts = m["hosts"].as_array().unwrap();
        for r in &out_rows {
            assert_eq!(col(r, "sa"), hosts[0].as_str().unwrap());
            if let Some(asn) = m["asn"].as_u64() {
                assert_eq!(col(r, "das"), asn.to_string(), "{ip}");
            }
        }
    }
    let total: usize = markers
        .iter()
        .map(|m| {
            usize::from(m["packets_out"].as_u64().unwrap() > 0)
                + usize::from(m["packets_in"].as_u64().unwrap() > 0)
        })
        .sum();
    assert_eq!(rows.len(), total, "{rows:?}");
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
