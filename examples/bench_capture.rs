//! Writes a large synthetic capture for the replay benchmark (`scripts/bench.py`):
//!
//! ```text
//! cargo run --release --example bench_capture -- OUT.pcap [PACKETS] [REMOTES] [HOSTS] [PATTERN]
//! ```
//!
//! Defaults: 1,000,000 packets, 100,000 distinct public remote addresses, 200 LAN hosts in
//! 192.168.0.0/16, pattern `flows`. A remote's first packet is always outbound; later ones are
//! two thirds outbound, one third replies. Ethernet, 96-byte snaplen, realistic wire lengths.
//! Deterministic (fixed seed).
//!
//! Patterns: `flows` — traffic as connections make it: nine packets in ten belong to one of the
//! 256 most recently opened flows, one in ten to 100 popular services (a CDN, a DNS resolver);
//! `uniform` — every packet picks any remote seen so far at random, the worst case for a
//! bounded table (most lookups miss and evict).

#[path = "../tests/common/data.rs"]
mod data;

use data::*;

fn lcg(x: &mut u64) -> u64 {
    *x = x
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *x >> 33
}

/// A public-looking IPv4 address: skips 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12,
/// 192.168/16, 198.18/15 and 224/3 so that every one of them is a remote.
fn public_v4(n: u64) -> String {
    let mut v = (n.wrapping_mul(2_654_435_761) % 0xDF00_0000) as u32 + 0x0100_0000;
    loop {
        let a = v >> 24;
        let b = (v >> 16) & 0xff;
        let special = a == 0
            || a == 10
            || a == 127
            || (a == 100 && (64..128).contains(&b))
            || (a == 169 && b == 254)
            || (a == 172 && (16..32).contains(&b))
            || (a == 192 && (b == 168 || b == 0 || b == 88))
            || (a == 198 && (b == 18 || b == 19 || b == 51))
            || (a == 203 && b == 0)
            || a >= 224;
        if !special {
            return std::net::Ipv4Addr::from(v).to_string();
        }
        v = v.wrapping_add(0x0100_0000) % 0xDF00_0000 + 0x0100_0000;
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| {
        eprintln!("usage: bench_capture OUT.pcap [PACKETS] [REMOTES] [HOSTS]");
        std::process::exit(2)
    });
    let packets: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let remotes: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
        .max(1);
    let hosts: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
        .clamp(1, 60_000);
    let uniform = args.next().as_deref() == Some("uniform");
    let mut seed = 0x5eed_u64;
    let mut recs = Vec::with_capacity(packets as usize);
    let mut introduced = 0u64;
    for i in 0..packets {
        let ts = T0 + i / 2000;
        // Introduce remotes evenly over the capture, so all REMOTES appear.
        let due = (i + 1) * remotes / packets;
        let (remote_n, outbound) = if introduced < due {
            introduced += 1;
            (introduced - 1, true)
        } else if uniform {
            (lcg(&mut seed) % introduced.max(1), lcg(&mut seed) % 3 != 0)
        } else if lcg(&mut seed) % 10 == 0 {
            (
                lcg(&mut seed) % introduced.clamp(1, 100),
                lcg(&mut seed) % 3 != 0,
            )
        } else {
            let back = lcg(&mut seed) % introduced.clamp(1, 256);
            (introduced.saturating_sub(1 + back), lcg(&mut seed) % 3 != 0)
        };
        let remote = public_v4(remote_n);
        let h = remote_n % hosts;
        let host = format!("192.168.{}.{}", h / 250, h % 250 + 2);
        let mac = [2, 0, 0, 0, (h >> 8) as u8, h as u8];
        let (proto, port) = if remote_n % 5 == 0 {
            (17, 443)
        } else {
            (6, 443)
        };
        let sport = 32768 + (remote_n % 28000) as u16;
        let frame = if outbound {
            eth(
                mac,
                [2, 0, 0, 0, 0, 1],
                &host,
                &remote,
                proto,
                sport,
                port,
                40 + (lcg(&mut seed) % 200) as usize,
            )
        } else {
            eth(
                [2, 0, 0, 0, 0, 1],
                mac,
                &remote,
                &host,
                proto,
                port,
                sport,
                200 + (lcg(&mut seed) % 1200) as usize,
            )
        };
        recs.push(rec(ts, frame, 96));
    }
    write_pcap(std::path::Path::new(&out), 1, &recs);
    println!("wrote {out}: {packets} packets, {remotes} remotes, {hosts} hosts");
}
