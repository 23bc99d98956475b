//! Writes the test captures and databases into a directory, for tests outside `cargo test`
//! (the browser test, the qemu comparison of the cross builds) and for trying connmap by hand:
//!
//! ```text
//! cargo run --example fixtures -- OUTDIR
//! connmap -r OUTDIR/replay.pcap --geoip OUTDIR/geo.mmdb $(cat OUTDIR/args.txt) --json-out m.json
//! ```
//!
//! Files: `replay.pcap` (Ethernet), `replay.pcapng`, `sll.pcap`, `sll2.pcap`, `raw.pcap`,
//! `null.pcap`, `loop.pcap`, `vlan.pcap` (the same traffic in every supported framing),
//! `geo.mmdb` (GeoIP2-City schema with ASN), `flat.mmdb` (DB-IP flat schema, float32),
//! `args.txt` (the LAN and exclude flags the captures need).

#[path = "../tests/common/data.rs"]
mod data;

use data::*;
use std::path::PathBuf;

fn main() {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: fixtures OUTDIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&out).expect("create OUTDIR");
    let frames = scenario();
    write_pcap(&out.join("replay.pcap"), 1, &scenario_recs());
    write_pcapng(&out.join("replay.pcapng"), 1, &scenario_recs());
    for (name, lt) in [
        ("sll", 113),
        ("sll2", 276),
        ("raw", 12),
        ("null", 0),
        ("loop", 108),
    ] {
        let recs: Vec<Rec> = frames
            .iter()
            .map(|(ts, f)| rec(*ts, relink(f, lt), 200))
            .collect();
        write_pcap(&out.join(format!("{name}.pcap")), lt, &recs);
    }
    let recs: Vec<Rec> = frames
        .iter()
        .enumerate()
        .map(|(i, (ts, f))| {
            rec(
                *ts,
                vlan_tag(f, if i % 2 == 0 { &[10] } else { &[100, 10] }),
                200,
            )
        })
        .collect();
    write_pcap(&out.join("vlan.pcap"), 1, &recs);
    std::fs::write(out.join("geo.mmdb"), geoip2_db()).expect("write geo.mmdb");
    std::fs::write(out.join("flat.mmdb"), flat_db()).expect("write flat.mmdb");
    std::fs::write(out.join("args.txt"), plan_args().join(" ") + "\n").expect("write args.txt");
    println!("wrote fixtures to {}", out.display());
}
