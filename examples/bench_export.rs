//! What the exporters cost per snapshot at a given table size (BENCHMARKS.md, "Exports"):
//! the /metrics aggregate (`collect`, on the data path), one scrape's rendering (`render`, on
//! an HTTP thread) and one IPFIX pass over every remote (`Exporter::tick` with `last`, records
//! encoded and sent to a UDP socket on loopback that nobody reads).
//!   cargo run --release --example bench_export [REMOTES]     (default 10000)
use connmap::devnames::DeviceNames;
use connmap::export::{ipfix, metrics};
use connmap::filter::{Direction, Flow, Networks};
use connmap::geo::GeoInfo;
use connmap::packet::{Addr, PacketInfo};
use connmap::snapshot::SnapshotMeta;
use connmap::table::Tables;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let nets = Networks::new(vec!["192.168.1.0/24".parse().unwrap()], vec![], vec![]);
    let mut t = Tables::new(n, 1024);
    for i in 0..n as u32 {
        let host = Addr::from_v4_bytes([192, 168, 1, (i % 40) as u8 + 2]);
        let remote = Addr::from_v4_bytes([11 + (i >> 16 & 0x3f) as u8, (i >> 8) as u8, i as u8, 7]);
        let p = PacketInfo {
            src: host,
            dst: remote,
            protocol: 6,
            ports: None,
            src_mac: Some([2, 0, 0, 0, 0, (i % 40) as u8]),
            ip_at: 0,
            l4_at: 0,
        };
        for dir in [Direction::Out, Direction::In] {
            let f = Flow {
                direction: dir,
                host,
                remote,
                remote_port: Some(443),
            };
            t.record(&f, &p, 100 + i % 1400, 1_700_000_000, &nets);
        }
    }
    // 200 countries, 2000 ASNs, shared as the geo lookups share them
    let infos: Vec<Rc<GeoInfo>> = (0..2000u32)
        .map(|a| {
            let c = (a % 200) as u8;
            Rc::new(GeoInfo {
                position: Some((10.0, 20.0)),
                country: Some([b'A' + c / 26, b'A' + c % 26]),
                city: None,
                asn: Some(64_000 + a),
                org: Some(format!("Org {a}").into()),
            })
        })
        .collect();
    for (i, r) in t.remotes.values_mut().enumerate() {
        r.set_location(Some(Rc::clone(&infos[i % infos.len()])));
    }
    let meta = SnapshotMeta::default();
    let names = DeviceNames::default();
    let limits = metrics::Limits::default();
    let runs = 20;
    let started = Instant::now();
    let mut data = Default::default();
    let path = Default::default();
    let sources = metrics::Sources {
        tables: &t,
        names: &names,
        meta: &meta,
        path: &path,
        now: 1,
        render: Duration::ZERO,
    };
    for _ in 0..runs {
        data = metrics::collect(&sources, &limits, None);
    }
    let collect = started.elapsed() / runs;
    let p = metrics::Process::now(0);
    let started = Instant::now();
    let mut text = String::new();
    for _ in 0..runs {
        text = metrics::render(&data, true, &p);
    }
    let render = started.elapsed() / runs;
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut x = ipfix::Exporter::new(ipfix::Options {
        collector: sink.local_addr().unwrap(),
        ..Default::default()
    })
    .unwrap();
    let started = Instant::now();
    x.tick(&t, 1_700_000_100, false);
    let tick_idle = started.elapsed();
    println!(
        "{n} remotes: collect {:.2} ms, render {:.2} ms ({} bytes, {} series), IPFIX pass with \
         every remote idle {:.1} ms ({} records, {} messages; {} dropped: nobody reads the socket)",
        collect.as_secs_f64() * 1e3,
        render.as_secs_f64() * 1e3,
        text.len(),
        text.lines().filter(|l| !l.starts_with('#')).count(),
        tick_idle.as_secs_f64() * 1e3,
        x.stats.records + x.stats.dropped_records,
        x.stats.messages,
        x.stats.dropped_records,
    );
}
