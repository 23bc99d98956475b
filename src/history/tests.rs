//! Unit tests of the history's buckets: hours roll, days are made of hours, bounds hold.

use super::*;
use crate::filter::{Direction, Flow, Networks};
use crate::packet::PacketInfo;
use crate::table::Tables;

const T: u64 = 1_764_028_800; // a midnight (UTC)

fn nets() -> Networks {
    Networks::new(vec!["192.168.1.0/24".parse().unwrap()], vec![], vec![])
}

/// One outbound packet of `bytes` from `host` to `remote` at `t`.
fn send(t: &mut Tables, host: &str, remote: Addr, bytes: u32, now: u64) {
    let p = PacketInfo {
        src: host.parse().unwrap(),
        dst: remote,
        protocol: 6,
        ports: Some((40000, 443)),
        src_mac: None,
        l4_at: 0,
        ip_at: 0,
    };
    let f = Flow {
        direction: Direction::Out,
        host: p.src,
        remote,
        remote_port: Some(443),
    };
    t.record(&f, &p, bytes, now, &nets());
}

fn sweep(t: &mut Tables, h: &mut History) {
    t.sweep_pairs(|d| h.add(d, None));
    h.publish();
}

fn ip(i: u32) -> Addr {
    Addr::from_v4_bytes((0x0101_0000 + i).to_be_bytes())
}

#[test]
fn hours_roll_and_make_days() {
    let mut t = Tables::new(1000, 10);
    let mut h = History::new(Bounds::default());
    // 30 hours, one packet an hour
    for hour in 0..30 {
        send(
            &mut t,
            "192.168.1.2",
            ip(hour as u32 % 3),
            100,
            T + hour * HOUR + 5,
        );
        sweep(&mut t, &mut h);
    }
    let v = h.cell.get();
    assert_eq!(v.hourly.len(), 30);
    assert_eq!(v.daily.len(), 1, "the first day is over");
    let day = &v.daily[0];
    assert_eq!((day.start, day.len), (T, DAY));
    assert_eq!(day.devices.len(), 1);
    assert_eq!(day.devices[0].count.bytes_out, 2400);
    assert_eq!(day.devices[0].remotes.len(), 3);
    // the first contact of each remote is "new", in the hour it happened
    assert!(v.hourly[0].devices[0].remotes[0].is_new());
    assert!(!v.hourly[3].devices[0].remotes[0].is_new());
    assert_eq!(v.hourly[3].devices[0].remotes[0].first(), 5);
}

#[test]
fn retention_drops_old_buckets() {
    let b = Bounds {
        hours: 24,
        days: 2,
        ..Default::default()
    };
    let mut t = Tables::new(1000, 10);
    let mut h = History::new(b);
    for hour in 0..(5 * 24) {
        send(&mut t, "192.168.1.2", ip(1), 100, T + hour * HOUR);
        sweep(&mut t, &mut h);
    }
    let v = h.cell.get();
    assert_eq!(v.hourly.len(), 24);
    assert_eq!(v.daily.len(), 2);
    assert_eq!(v.daily[0].start, T + 2 * DAY);
    assert!(h.interned() <= 1);
}

#[test]
fn a_flood_keeps_the_bounds() {
    let b = Bounds {
        top: 4,
        devices: 3,
        ..Default::default()
    };
    let mut t = Tables::new(100_000, 100);
    let mut h = History::new(b);
    let mut total = 0u64;
    for i in 0..20_000u32 {
        let host = format!("192.168.1.{}", 2 + i % 10);
        send(&mut t, &host, ip(i), 60 + i % 7, T + u64::from(i) / 4);
        total += u64::from(60 + i % 7);
        if i % 500 == 0 {
            sweep(&mut t, &mut h);
        }
    }
    sweep(&mut t, &mut h);
    let v = h.cell.get();
    let mut bytes = 0;
    for bucket in &v.hourly {
        assert!(bucket.devices.len() <= 3);
        for d in bucket.devices.iter() {
            assert!(d.remotes.len() <= 4 && d.countries.len() <= 4 && d.asns.len() <= 4);
            let kept: u64 = d.remotes.iter().map(|r| r.count.bytes_out).sum();
            assert_eq!(kept + d.other.0, d.count.bytes_out, "other holds the rest");
            bytes += d.count.bytes_out;
        }
        bytes += bucket.other_devices.bytes_out;
    }
    assert_eq!(bytes, total, "nothing lost from the totals");
    // interned remotes: only those some bucket names
    let named: std::collections::HashSet<Addr> = (v.hourly.iter())
        .flat_map(|b| {
            b.devices
                .iter()
                .flat_map(|d| d.remotes.iter().map(|r| r.remote.ip))
        })
        .collect();
    assert!(named.len() <= 2 * 3 * 4);
    assert!(h.interned() < 3000, "{}", h.interned());
}

/// Devices beyond the open bucket's bound are only counted (their remotes not interned),
/// and which devices the bucket takes is decided again each hour.
#[test]
fn devices_beyond_the_bound_are_only_counted() {
    let b = Bounds {
        top: 4,
        devices: 1, // the open bucket takes 4
        ..Default::default()
    };
    let mut t = Tables::new(1000, 100);
    let mut h = History::new(b);
    let host = |i: u32| format!("192.168.1.{}", 2 + i);
    for i in 0..8 {
        send(&mut t, &host(i), ip(i), 100, T + 5);
        sweep(&mut t, &mut h);
    }
    assert_eq!(h.interned(), 4, "the remotes of the 4 devices taken");
    // the next hour, the other four first
    for i in (0..8).rev() {
        send(&mut t, &host(i), ip(i), 100, T + HOUR + 5);
        sweep(&mut t, &mut h);
    }
    let v = h.cell.get();
    let taken = |b: &Bucket| (b.devices[0].ip, b.other_devices.bytes_out);
    let a = |i: u32| host(i).parse::<Addr>().unwrap();
    assert_eq!(taken(&v.hourly[0]), (a(0), 700), "ties by address");
    assert_eq!(
        taken(&v.hourly[1]),
        (a(4), 700),
        "the first four of the hour"
    );
}

#[test]
fn a_late_packet_joins_the_open_hour_and_a_clock_jump_back_starts_over() {
    let mut t = Tables::new(100, 10);
    let mut h = History::new(Bounds::default());
    send(&mut t, "192.168.1.2", ip(1), 100, T + HOUR + 10);
    sweep(&mut t, &mut h);
    send(&mut t, "192.168.1.2", ip(2), 100, T + HOUR - 10);
    sweep(&mut t, &mut h);
    assert_eq!(h.cell.get().hourly.len(), 1);
    // a year back (a router whose clock was set): the newer buckets go
    send(&mut t, "192.168.1.2", ip(3), 100, T - 365 * DAY);
    sweep(&mut t, &mut h);
    let v = h.cell.get();
    assert_eq!(v.hourly.len(), 1);
    assert_eq!(v.hourly[0].start, T - 365 * DAY);
}

#[test]
fn query_parsing() {
    use json::parse_query;
    let q = parse_query("from=10&to=20&host=192.168.1.2").unwrap();
    assert_eq!((q.from, q.to), (Some(10), Some(20)));
    assert_eq!(q.host, Some("192.168.1.2".parse().unwrap()));
    assert_eq!(parse_query("").unwrap().from, None);
    assert!(parse_query("host=fd00%3A%3A1").unwrap().host.is_some());
    for bad in [
        "from=x",
        "from=-1",
        "from=20&to=10",
        "from=5&to=5",
        "from=1&from=2",
        "host=nothing",
        "host=%zz",
        "foo=1",
        "to=99999999999999999999999",
    ] {
        assert!(parse_query(bad).is_err(), "{bad}");
    }
}

#[test]
fn record_sizes() {
    use std::mem::size_of;
    eprintln!(
        "RemoteRec {} CountryRec {} AsnRec {} DeviceRec {} RemoteInfo {} Place {} Remote {}",
        size_of::<RemoteRec>(),
        size_of::<CountryRec>(),
        size_of::<AsnRec>(),
        size_of::<DeviceRec>(),
        size_of::<RemoteInfo>(),
        size_of::<Place>(),
        size_of::<crate::table::Remote>()
    );
    // the figures of the README's memory section
    assert_eq!(size_of::<RemoteRec>(), 40);
    assert_eq!(size_of::<CountryRec>(), 24);
    assert_eq!(size_of::<AsnRec>(), 40);
}

/// The shared sort: the order of the standard one, for any permutation.
#[test]
fn sort_by_sorts_like_the_standard_sort() {
    let mut x: u32 = 12345;
    for n in [0usize, 1, 2, 3, 7, 50, 300] {
        let mut v: Vec<(u32, String)> = (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x % 40, i.to_string())
            })
            .collect();
        let mut want = v.clone();
        want.sort();
        sort_by(&mut v, &|a, b| a.cmp(b));
        assert_eq!(v, want);
    }
}
