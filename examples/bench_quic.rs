//! Writes a QUIC capture for the benchmark of QUIC Initial names (`scripts/bench.py --quic`):
//!
//! ```text
//! cargo run --release --example bench_quic -- OUT.pcap [CONNECTIONS] [DATA_PER_CONNECTION]
//! ```
//!
//! Defaults: 10,000 connections from 200 LAN hosts (192.168.0.0/16) to as many remotes on UDP
//! port 443, each opened by one client Initial (QUIC v1, its own DCID, a ClientHello with a
//! server name, padded to 1200 bytes, sealed with the real Initial keys), followed by 99
//! short-header data packets (1-RTT, as bulk QUIC traffic is), two thirds of them from the
//! server. Ethernet; Initials whole (a replay learns from what it counts), data packets cut at
//! 160 bytes (the counting handle's snaplen). Deterministic.
//! `bench_quic --print-filter` prints the names handle's kernel filter (Ethernet).

#[path = "../tests/common/data.rs"]
mod data;

use connmap::quic::{seal_initial, V1};
use data::*;

/// A ClientHello handshake message (no record header) naming `sni`.
fn hello(sni: &str) -> Vec<u8> {
    client_hello(Some(sni), 200)[5..].to_vec()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| {
        eprintln!("usage: bench_quic OUT.pcap [CONNECTIONS] [DATA_PER_CONNECTION]");
        std::process::exit(2)
    });
    if out == "--print-filter" {
        // the names handle's kernel filter on Ethernet, for tcpdump
        println!(
            "{}",
            connmap::learn::bpf_filter(connmap::packet::LinkType::Ethernet)
        );
        return;
    }
    let conns: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let data: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(99);
    let mut recs = Vec::new();
    for c in 0..conns {
        let ts = T0 + c / 100;
        let h = c % 200;
        let host = format!("192.168.{}.{}", h / 250, h % 250 + 2);
        let remote = format!("1.{}.{}.{}", 2 + (c >> 16) % 200, (c >> 8) & 0xff, c & 0xff);
        let mac = [2, 0, 0, 0, (h >> 8) as u8, h as u8];
        let router = [2, 0, 0, 0, 0, 1];
        let sport = 32768 + (c % 28000) as u16;
        let dcid = c.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes();
        let mut crypto = vec![0x06, 0x00];
        let msg = hello(&format!("site{c}.example"));
        crypto.extend_from_slice(&(0x4000 | msg.len() as u16).to_be_bytes());
        crypto.extend_from_slice(&msg);
        let initial = seal_initial(V1, &dcid, &[], 0, &crypto, 1200);
        let f = eth_data(mac, router, &host, &remote, 17, sport, 443, 0, &initial);
        recs.push(rec(ts, f, 65535));
        for i in 0..data {
            let mut short = vec![0x5a; 1200];
            short[1..9].copy_from_slice(&dcid);
            let f = if i % 3 == 0 {
                eth_data(
                    mac,
                    router,
                    &host,
                    &remote,
                    17,
                    sport,
                    443,
                    0,
                    &short[..300],
                )
            } else {
                eth_data(router, mac, &remote, &host, 17, 443, sport, 0, &short)
            };
            // data packets cut at the counting handle's snaplen (their wire length stays)
            recs.push(rec(ts, f, 160));
        }
    }
    write_pcap(std::path::Path::new(&out), 1, &recs);
}
