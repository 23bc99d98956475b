//! HTTP load generator for the benchmark (`scripts/bench.py --http`): CLIENTS threads, each
//! bound to its own loopback address (127.0.0.2, 127.0.0.3, …: separate clients for the gate's
//! per-address limit), each doing one request per connection, as the page does, for SECONDS.
//!
//! ```text
//! cargo run --release --example http_load -- 127.0.0.1:PORT [CLIENTS] [SECONDS] [MODE]
//! ```
//!
//! MODE: `gzip` (GET /markers.json, Accept-Encoding: gzip — what the page sends the first
//! time), `etag` (the same with the current ETag: 304, what the page mostly sends), `plain`.
//! Prints requests/s, status counts and latency percentiles.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

#[path = "../tests/common/client.rs"]
mod client;
use client::connect_from;

fn request(src: Ipv4Addr, addr: SocketAddr, req: &[u8]) -> (u16, Vec<u8>) {
    let Ok(mut s) = connect_from(src, addr) else {
        return (0, vec![]);
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let _ = s.write_all(req);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let code = std::str::from_utf8(buf.get(9..12).unwrap_or(b"000"))
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, buf)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().and_then(|a| a.parse().ok()).unwrap_or_else(|| {
        eprintln!("usage: http_load ADDR:PORT [CLIENTS] [SECONDS] [gzip|etag|plain]");
        std::process::exit(2)
    });
    let clients: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(50);
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let mode = args.next().unwrap_or_else(|| "gzip".into());
    let base = "GET /markers.json HTTP/1.1\r\nHost: localhost\r\n";
    let req = match mode.as_str() {
        "plain" => format!("{base}\r\n"),
        "etag" => {
            let (_, b) = request(
                Ipv4Addr::new(127, 0, 0, 2),
                addr,
                format!("{base}\r\n").as_bytes(),
            );
            let head = String::from_utf8_lossy(&b[..b.len().min(4096)]).to_string();
            let tag = head
                .lines()
                .find_map(|l| l.strip_prefix("ETag: "))
                .unwrap_or("\"none\"")
                .to_string();
            format!("{base}If-None-Match: {tag}\r\nAccept-Encoding: gzip\r\n\r\n")
        }
        _ => format!("{base}Accept-Encoding: gzip\r\n\r\n"),
    };
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|i| {
            let req = req.clone();
            std::thread::spawn(move || {
                let src = Ipv4Addr::from(0x7f00_0002 + i);
                let mut lat = Vec::new();
                let mut codes = std::collections::BTreeMap::<u16, u64>::new();
                let mut bytes = 0u64;
                while Instant::now() < until {
                    let t = Instant::now();
                    let (code, b) = request(src, addr, req.as_bytes());
                    lat.push(t.elapsed());
                    bytes += b.len() as u64;
                    *codes.entry(code).or_default() += 1;
                }
                (lat, codes, bytes)
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut codes = std::collections::BTreeMap::<u16, u64>::new();
    let mut bytes = 0;
    for w in workers {
        let (l, c, b) = w.join().unwrap();
        lat.extend(l);
        bytes += b;
        for (k, v) in c {
            *codes.entry(k).or_default() += v;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "http_load {mode}: {clients} clients, {:.1} s: {} requests, {:.0} requests/s, {:.1} MB/s, \
         status {codes:?}, latency p50 {:?} p99 {:?} max {:?}",
        secs,
        lat.len(),
        lat.len() as f64 / secs,
        bytes as f64 / secs / 1e6,
        pct(0.5),
        pct(0.99),
        lat[lat.len() - 1]
    );
}
