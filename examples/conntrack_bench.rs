//! What `--conntrack` costs: per dump (kernel and user space, on a real conntrack table) and
//! per message in user space alone (parse, delta, tables: what also runs under qemu-user,
//! where netlink sockets are not emulated). Driven by scripts/bench-conntrack.sh, which makes
//! the network namespace with N tracked connections; the commands are in BENCHMARKS.md.
//!
//! ```text
//! conntrack_bench fill N                     N UDP connections 192.168.1.1 -> 198.18.x.y (in a netns)
//! conntrack_bench dump ROUNDS [--zero] [--save FILE]   ROUNDS dumps over ctnetlink
//! conntrack_bench replay FILE ROUNDS         a saved dump fed to the conntrack source, as dumps
//!                                            and as DESTROY events
//! ```

use connmap::conntrack::{parse, Conntrack};
use connmap::filter::Networks;
use connmap::table::Tables;
use std::time::Instant;

fn nets() -> Networks {
    Networks::new(
        vec!["192.168.1.0/24".parse().unwrap()],
        vec!["198.18.0.0/15".parse().unwrap()],
        vec![],
    )
}

fn fill(n: u32) {
    let u = std::net::UdpSocket::bind("192.168.1.1:0").expect("bind 192.168.1.1 (in the netns)");
    for i in 0..n {
        let dst = std::net::Ipv4Addr::new(198, 18 + (i >> 16) as u8, (i >> 8) as u8, i as u8);
        let _ = u.send_to(b"x", (dst, 9));
    }
}

/// CPU time of this process so far (user, system), seconds: on a busy machine a steadier
/// measure than wall time.
fn cpu() -> (f64, f64) {
    // SAFETY: getrusage fills the struct it is given.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (s(r.ru_utime), s(r.ru_stime))
}

fn dump(rounds: u32, zero: bool, save: Option<&str>) {
    let mut keep = Vec::new();
    let (mut entries, mut bytes) = (0, 0);
    let t = Instant::now();
    let c0 = cpu();
    for r in 0..rounds {
        let k = (r == 0 && save.is_some()).then_some(&mut keep);
        (entries, bytes) =
            Conntrack::bench_dump(zero, k).expect("conntrack dump (root, in the netns)");
    }
    let per = t.elapsed().as_secs_f64() / f64::from(rounds);
    let c1 = cpu();
    let (user, sys) = (
        (c1.0 - c0.0) / f64::from(rounds),
        (c1.1 - c0.1) / f64::from(rounds),
    );
    let n = entries.max(1) as f64;
    println!(
        "dump{}: {entries} connections, {bytes} bytes of messages; per dump {:.1} ms wall, CPU {:.1} ms \
         kernel + {:.1} ms user; per connection {:.2} µs kernel + {:.2} µs user",
        if zero { " (zeroing)" } else { "" },
        per * 1e3,
        sys * 1e3,
        user * 1e3,
        sys * 1e6 / n,
        user * 1e6 / n
    );
    if let Some(f) = save {
        std::fs::write(f, &keep).unwrap();
    }
}

fn replay(file: &str, rounds: u32) {
    let data = std::fs::read(file).unwrap();
    let n = parse::messages(&data)
        .filter(|(_, m)| matches!(m, Ok(parse::Msg::Flow { .. })))
        .count()
        .max(1);
    let nets = nets();
    let mut tables = Tables::new(100_000, 1024);
    let mut ct = Conntrack::detached(1 << 20);
    ct.feed(&data, true, &nets, &mut tables, 1); // the baseline
    let c0 = cpu();
    for r in 0..rounds {
        ct.feed(&data, true, &nets, &mut tables, 2 + u64::from(r));
    }
    let per = (cpu().0 - c0.0) / f64::from(rounds);
    println!(
        "replayed dump: {n} connections ({} LAN-originated remembered), CPU {:.2} ms per dump, {:.3} µs per connection",
        ct.info.flows,
        per * 1e3,
        per * 1e6 / n as f64
    );
    // the same messages as DESTROY events (type NEW -> DELETE), each of a remembered flow
    let mut events = data.clone();
    let mut at = 0;
    while at + 16 <= events.len() {
        let len = u32::from_ne_bytes(events[at..at + 4].try_into().unwrap()) as usize;
        if len < 16 || at + len > events.len() {
            break;
        }
        if u16::from_ne_bytes([events[at + 4], events[at + 5]]) == 0x100 {
            events[at + 4..at + 6].copy_from_slice(&0x102u16.to_ne_bytes());
        }
        at += (len + 3) & !3;
    }
    let mut total = 0.0;
    for r in 0..rounds {
        let mut ct = Conntrack::detached(1 << 20);
        ct.feed(&data, true, &nets, &mut tables, 1);
        let c0 = cpu();
        ct.feed(&events, false, &nets, &mut tables, 3 + u64::from(r));
        total += cpu().0 - c0.0;
        assert_eq!(ct.info.flows, 0);
    }
    println!(
        "replayed DESTROY events: CPU {:.3} µs per event",
        total * 1e6 / f64::from(rounds) / n as f64
    );
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| a.get(i).map(String::as_str);
    match arg(0) {
        Some("fill") => fill(arg(1).and_then(|s| s.parse().ok()).unwrap_or(16_384)),
        Some("dump") => {
            let rounds = arg(1).and_then(|s| s.parse().ok()).unwrap_or(10);
            let zero = a.iter().any(|s| s == "--zero");
            let save = a
                .iter()
                .position(|s| s == "--save")
                .and_then(|i| arg(i + 1));
            dump(rounds, zero, save);
        }
        Some("replay") => replay(
            arg(1).expect("replay FILE ROUNDS"),
            arg(2).and_then(|s| s.parse().ok()).unwrap_or(10),
        ),
        _ => {
            eprintln!("usage: conntrack_bench fill N | dump ROUNDS [--zero] [--save FILE] | replay FILE ROUNDS");
            std::process::exit(2);
        }
    }
}
