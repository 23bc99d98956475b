//! Measures the two MaxMind DB writers on the same trimmed network list: connmap-geodb's
//! own (`geodb/src/writer.rs`) and the `mmdb-writer` crate (pinned `=0.1.0`, the one the
//! root crate's demo uses). The network list and records are read from a trimmed
//! database (e.g. `build/geodb/geo.mmdb`), so both writers get exactly what `trim`
//! writes; each run measures one writer (run it twice for both):
//!
//!     cargo run --release -p connmap-geodb --example writer_bench -- own   IN.mmdb OUT.mmdb
//!     cargo run --release -p connmap-geodb --example writer_bench -- crate IN.mmdb OUT.mmdb
//!
//! It prints the output size, the write time (inserts + serialisation) and the peak
//! memory the write adds (VmHWM after minus VmRSS before, the peak reset through
//! /proc/self/clear_refs), and checks that every network reads back the same.
//!
//! `mmdb-writer` refuses inserts into 2001::/32 (Teredo) and 2002::/16 (6to4) while IPv4
//! aliasing is on (`AliasedNetwork`): a network covering one is inserted as its pieces
//! around them, a network inside one is dropped (both counted in the output); those
//! ranges then answer with the IPv4 data they embed.

use connmap_geodb::record::InRecord;
use connmap_geodb::writer::{Metadata, Value, Writer};
use ipnetwork::IpNetwork;
use maxminddb::WithinOptions;
use mmdb_writer::ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

fn status_kib(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One network of the input: address, prefix length (of its family), record index.
struct Net {
    ip: IpAddr,
    len: u8,
    rec: usize,
}

fn own_value(r: &InRecord) -> Value {
    let mut m: Vec<(String, Value)> = Vec::new();
    if let Some(c) = &r.city {
        m.push((
            "city".into(),
            Value::map([("names", Value::map([("en", Value::Str(c.clone()))]))]),
        ));
    }
    if let Some(cc) = &r.country {
        m.push((
            "country".into(),
            Value::map([("iso_code", Value::Str(cc.clone()))]),
        ));
    }
    m.push((
        "location".into(),
        Value::map([
            ("latitude", Value::F64(r.latitude.unwrap_or(0.0))),
            ("longitude", Value::F64(r.longitude.unwrap_or(0.0))),
        ]),
    ));
    if let Some(a) = r.asn {
        m.push(("autonomous_system_number".into(), Value::U32(a)));
        if let Some(o) = &r.asn_org {
            m.push((
                "autonomous_system_organization".into(),
                Value::Str(o.clone()),
            ));
        }
    }
    Value::Map(m)
}

fn crate_value(r: &InRecord) -> mmdb_writer::Value {
    use mmdb_writer::Value as V;
    let mut m: Vec<(&str, V)> = Vec::new();
    if let Some(c) = &r.city {
        m.push((
            "city",
            V::map([("names", V::map([("en", V::from(c.as_str()))]))]),
        ));
    }
    if let Some(cc) = &r.country {
        m.push(("country", V::map([("iso_code", V::from(cc.as_str()))])));
    }
    m.push((
        "location",
        V::map([
            ("latitude", V::Double(r.latitude.unwrap_or(0.0))),
            ("longitude", V::Double(r.longitude.unwrap_or(0.0))),
        ]),
    ));
    if let Some(a) = r.asn {
        m.push(("autonomous_system_number", V::U32(a)));
        if let Some(o) = &r.asn_org {
            m.push(("autonomous_system_organization", V::from(o.as_str())));
        }
    }
    V::map(m)
}

/// `net` minus the ranges `mmdb-writer` refuses with aliasing on, as prefixes.
fn without_aliased(net: Ipv6Net) -> Vec<Ipv6Net> {
    let refused: [Ipv6Net; 2] = [
        "2001::/32".parse().expect("cidr"),
        "2002::/16".parse().expect("cidr"),
    ];
    let mut todo = vec![net];
    let mut out = Vec::new();
    while let Some(n) = todo.pop() {
        if refused.iter().any(|r| r.contains(&n)) {
            continue;
        }
        if refused.iter().any(|r| n.contains(r)) {
            let len = n.prefix_len() + 1;
            let a = u128::from(n.network());
            let b = a | (1u128 << (128 - u32::from(len)));
            for x in [a, b] {
                todo.push(Ipv6Net::new(Ipv6Addr::from(x), len).expect("prefix"));
            }
            continue;
        }
        out.push(n);
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [which, input, output] = args.as_slice() else {
        return Err("usage: writer_bench own|crate IN.mmdb OUT.mmdb".into());
    };
    let reader = connmap_geodb::input::open_mmdb(input.as_ref())?;
    let mut nets: Vec<Net> = Vec::new();
    let mut recs: Vec<InRecord> = Vec::new();
    let mut by_off: HashMap<usize, usize> = HashMap::new();
    for cidr in ["0.0.0.0/0", "::/0"] {
        let cidr: IpNetwork = cidr.parse()?;
        for res in reader.within(cidr, WithinOptions::default())? {
            let lr = res?;
            let Some(off) = lr.offset() else { continue };
            let (ip, len) = match lr.network()? {
                IpNetwork::V4(n) if cidr.is_ipv4() => (IpAddr::V4(n.network()), n.prefix()),
                IpNetwork::V6(n) if cidr.is_ipv6() => {
                    let a = u128::from(n.network());
                    if (a >> 32) == 0 || (a >> 32) == 0xffff {
                        continue; // IPv4 and its alias
                    }
                    (IpAddr::V6(n.network()), n.prefix())
                }
                _ => continue,
            };
            let rec = match by_off.get(&off) {
                Some(&i) => i,
                None => {
                    recs.push(lr.decode::<InRecord>()?.unwrap_or_default());
                    by_off.insert(off, recs.len() - 1);
                    recs.len() - 1
                }
            };
            nets.push(Net { ip, len, rec });
        }
    }
    let md = reader.metadata();
    let description = md.description.get("en").cloned().unwrap_or_default();
    let epoch = md.build_epoch;
    eprintln!(
        "{input}: {} networks, {} distinct records",
        nets.len(),
        recs.len()
    );
    let rss_before = status_kib("VmRSS:");
    let _ = std::fs::write("/proc/self/clear_refs", "5"); // reset VmHWM
    let t0 = Instant::now();
    let (mut split, mut dropped) = (0usize, Vec::new());
    let bytes = match which.as_str() {
        "own" => {
            let mut w = Writer::new();
            let mut handles: Vec<Option<u32>> = vec![None; recs.len()];
            for n in &nets {
                let h = match handles[n.rec] {
                    Some(h) => h,
                    None => {
                        let h = w
                            .add_record(&own_value(&recs[n.rec]))
                            .map_err(|e| e.to_string())?;
                        handles[n.rec] = Some(h);
                        h
                    }
                };
                match n.ip {
                    IpAddr::V4(a) => w
                        .insert_v4(u32::from(a), n.len, h)
                        .map_err(|e| e.to_string())?,
                    IpAddr::V6(a) => w
                        .insert(u128::from(a), n.len, h)
                        .map_err(|e| e.to_string())?,
                }
            }
            w.alias_v4_mapped().map_err(|e| e.to_string())?;
            let meta = Metadata {
                database_type: "connmap-geodb-City".into(),
                description: vec![("en".into(), description)],
                languages: vec!["en".into()],
                build_epoch: epoch,
            };
            w.finish(&meta).map_err(|e| e.to_string())?.0
        }
        "crate" => {
            let mut w = mmdb_writer::Writer::builder("connmap-geodb-City")
                .description(&[("en", description.as_str())])
                .build_epoch(std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch))
                .build();
            let values: Vec<mmdb_writer::Value> = recs.iter().map(crate_value).collect();
            for n in &nets {
                let v = values[n.rec].clone();
                match n.ip {
                    IpAddr::V4(a) => w.insert_value(IpNet::V4(Ipv4Net::new(a, n.len)?), v)?,
                    IpAddr::V6(a) => {
                        let pieces = without_aliased(Ipv6Net::new(a, n.len)?);
                        match pieces.len() {
                            0 => dropped.push(n.ip),
                            1 => {}
                            _ => split += 1,
                        }
                        for p in pieces {
                            w.insert_value(IpNet::V6(p), values[n.rec].clone())?;
                        }
                    }
                }
            }
            w.to_bytes()?
        }
        _ => return Err("the writer is `own` or `crate`".into()),
    };
    let secs = t0.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:").saturating_sub(rss_before);
    std::fs::write(output, &bytes)?;
    println!(
        "writer {which}: {} bytes, {secs:.2} s, {:.0} MiB peak added; {split} networks split around 2001::/32 and 2002::/16, {} inside them dropped",
        bytes.len(),
        peak as f64 / 1024.0,
        dropped.len()
    );
    // Read back: every input network gives the same record (looked up at its first
    // address, or its last when the first is in 2001::/32 or 2002::/16, which
    // `mmdb-writer` aliases to IPv4).
    let back = maxminddb::Reader::from_source(bytes)?;
    for n in nets.iter().filter(|n| !dropped.contains(&n.ip)) {
        let ip = match n.ip {
            IpAddr::V6(a)
                if (u128::from(a) >> 96) == 0x2001_0000 || (u128::from(a) >> 112) == 0x2002 =>
            {
                IpAddr::V6(Ipv6Addr::from(u128::from(a) | (u128::MAX >> n.len)))
            }
            ip => ip,
        };
        let got: Option<InRecord> = back.lookup(ip)?.decode()?;
        if got.as_ref() != Some(&recs[n.rec]) {
            return Err(format!("{}/{}: read back {got:?}", n.ip, n.len).into());
        }
    }
    let mapped: IpAddr = "::ffff:1.1.1.1".parse()?;
    let plain: IpAddr = "1.1.1.1".parse()?;
    let (a, b): (Option<InRecord>, Option<InRecord>) = (
        back.lookup(mapped)?.decode()?,
        back.lookup(plain)?.decode()?,
    );
    if a != b {
        return Err("::ffff:1.1.1.1 differs from 1.1.1.1".into());
    }
    println!(
        "read back: {} networks identical",
        nets.len() - dropped.len()
    );
    Ok(())
}
