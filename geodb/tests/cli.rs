//! End-to-end tests of the `connmap-geodb` binary on small hand-made databases in both
//! input schemas: trim, read back with `maxminddb` and Debian's `mmdblookup`, compare,
//! and clear errors for corrupt or truncated inputs.

use connmap_geodb::writer::{Metadata, Value, Writer};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_connmap-geodb"))
}

fn meta(t: &str) -> Metadata {
    Metadata {
        database_type: t.into(),
        description: vec![],
        languages: vec![],
        build_epoch: 1_780_000_000,
    }
}

/// A DB-IP (ip-location-db) style flat record with float32 coordinates.
fn flat(cc: &str, city: &str, lat: f32, lon: f32) -> Value {
    Value::map([
        ("city", Value::Str(city.into())),
        ("country_code", Value::Str(cc.into())),
        ("latitude", Value::F32(lat)),
        ("longitude", Value::F32(lon)),
        ("postcode", Value::Str(String::new())),
        ("state1", Value::Str("State".into())),
    ])
}

/// A GeoIP2 City style record with doubles and nested names.
fn geoip2(cc: Option<&str>, reg: &str, city: &str, lat: f64, lon: f64) -> Value {
    let mut m = vec![
        (
            "city".to_string(),
            Value::map([
                ("geoname_id", Value::U32(1)),
                (
                    "names",
                    Value::map([
                        ("en", Value::Str(city.into())),
                        ("de", Value::Str("x".into())),
                    ]),
                ),
            ]),
        ),
        (
            "location".to_string(),
            Value::map([
                ("accuracy_radius", Value::U16(20)),
                ("latitude", Value::F64(lat)),
                ("longitude", Value::F64(lon)),
            ]),
        ),
        (
            "registered_country".to_string(),
            Value::map([("iso_code", Value::Str(reg.into()))]),
        ),
    ];
    if let Some(cc) = cc {
        m.push((
            "country".to_string(),
            Value::map([("iso_code", Value::Str(cc.into()))]),
        ));
    }
    Value::Map(m)
}

/// Writes the DB-IP-like pair: IPv4 (32-bit tree) and IPv6 files.
fn dbip_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let mut w = Writer::new_v4_only();
    let sydney = w
        .add_record(&flat("AU", "Sydney", -33.8688, 151.209))
        .unwrap();
    let suburb = w
        .add_record(&flat("AU", "Chatswood", -33.7969, 151.1803))
        .unwrap();
    let brisbane = w
        .add_record(&flat("AU", "South Brisbane", -27.4816, 153.0175))
        .unwrap();
    let mv = w
        .add_record(&flat("US", "Mountain View", 37.4223, -122.085))
        .unwrap();
    let ashburn = w
        .add_record(&flat("US", "Ashburn", 39.0438, -77.4874))
        .unwrap();
    // 1.1.0.0/22 Sydney area except 1.1.2.0/24 in Brisbane; 1.0.0.0/24 Sydney.
    w.insert_v4(0x0101_0000, 24, sydney).unwrap();
    w.insert_v4(0x0101_0100, 24, suburb).unwrap();
    w.insert_v4(0x0101_0200, 24, brisbane).unwrap();
    w.insert_v4(0x0101_0300, 24, sydney).unwrap();
    w.insert_v4(0x0100_0000, 24, sydney).unwrap();
    // 8.8.8.0/24 Mountain View inside 8.8.0.0/16 Ashburn.
    for i in 0..256u32 {
        let rec = if i == 8 { mv } else { ashburn };
        w.insert_v4(0x0808_0000 | (i << 8), 24, rec).unwrap();
    }
    // Private space with data: must not come out.
    w.insert_v4(0x0a00_0000, 8, ashburn).unwrap();
    let (b4, _) = w.finish(&meta("city ipv4")).unwrap();
    let mut w = Writer::new();
    let montreal = w
        .add_record(&flat("CA", "Montreal", 45.5019, -73.5674))
        .unwrap();
    let zurich = w
        .add_record(&flat("CH", "Zurich", 47.3769, 8.5417))
        .unwrap();
    w.insert(0x2001_4860u128 << 96, 32, montreal).unwrap();
    w.insert(0x2a00u128 << 112, 16, zurich).unwrap();
    let (b6, _) = w.finish(&meta("city ipv6")).unwrap();
    let (p4, p6) = (
        dir.join("dbip-city-ipv4.mmdb"),
        dir.join("dbip-city-ipv6.mmdb"),
    );
    std::fs::write(&p4, b4).unwrap();
    std::fs::write(&p6, b6).unwrap();
    (p4, p6)
}

#[derive(Deserialize, Debug)]
struct Out {
    country: Option<Iso>,
    city: Option<City>,
    location: Loc,
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
}
#[derive(Deserialize, Debug)]
struct Iso {
    iso_code: String,
}
#[derive(Deserialize, Debug)]
struct City {
    names: std::collections::BTreeMap<String, String>,
}
#[derive(Deserialize, Debug)]
struct Loc {
    latitude: f64,
    longitude: f64,
}

fn lookup(path: &Path, ip: &str) -> Option<Out> {
    let r = maxminddb::Reader::open_readfile(path).unwrap();
    r.lookup(ip.parse::<IpAddr>().unwrap())
        .unwrap()
        .decode()
        .unwrap()
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn trims_a_dbip_pair_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let (p4, p6) = dbip_pair(dir.path());
    let out = dir.path().join("geo.mmdb");
    let report = run_ok(
        bin()
            .args(["trim", "-q", "--preset", "strict", "--no-keep"])
            .arg(&p4)
            .arg(&p6)
            .arg("-o")
            .arg(&out),
    );
    assert!(report.contains("networks out:"), "{report}");
    let r = maxminddb::Reader::open_readfile(&out).unwrap();
    assert_eq!(r.metadata().ip_version, 6);
    assert!(r.metadata().description["en"].contains("DB-IP"));
    assert!(r.metadata().description["en"].contains("CC BY 4.0"));
    // Sydney and its suburb (9 km) merged; Brisbane kept exactly.
    let a = lookup(&out, "1.1.1.1").unwrap();
    assert_eq!(a.country.unwrap().iso_code, "AU");
    assert!(
        (a.location.latitude + 33.87).abs() < 0.01,
        "{:?}",
        a.location
    );
    assert_eq!(a.city.unwrap().names["en"], "Sydney");
    let b = lookup(&out, "1.1.2.7").unwrap();
    assert_eq!(b.city.unwrap().names["en"], "South Brisbane");
    // 8.8.8.8 stays in Mountain View, its neighbours in Ashburn.
    let g = lookup(&out, "8.8.8.8").unwrap();
    assert!(
        (g.location.longitude + 122.085).abs() < 0.01,
        "{:?}",
        g.location
    );
    let n = lookup(&out, "8.8.9.1").unwrap();
    assert!((n.location.longitude + 77.49).abs() < 0.02);
    // IPv4-mapped IPv6 finds the same; private space has nothing; IPv6 is there.
    assert!(lookup(&out, "::ffff:8.8.8.8").is_some());
    assert!(lookup(&out, "10.1.2.3").is_none());
    let v6 = lookup(&out, "2001:4860:4860::8888").unwrap();
    assert_eq!(v6.country.unwrap().iso_code, "CA");
    assert!(v6.autonomous_system_number.is_none() && v6.autonomous_system_organization.is_none());
    r.verify().unwrap();

    // compare: the strict trim agrees with the full pair.
    let text = run_ok(
        bin()
            .args([
                "compare",
                "-q",
                "--samples",
                "2000",
                "--min-country",
                "99.9",
                "--min-100km",
                "99.9",
                "--well-known-km",
                "25",
            ])
            .arg(&p4)
            .arg(&p6)
            .arg(&out),
    );
    assert!(text.contains("IPv4, uniform over networks"), "{text}");
}

#[test]
fn mmdblookup_reads_the_output() {
    if Command::new("mmdblookup")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: mmdblookup not installed (apt-get install mmdb-bin)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (p4, p6) = dbip_pair(dir.path());
    let csv = dir.path().join("asn.csv");
    std::fs::write(&csv, "8.8.8.0,8.8.8.255,15169,\"Google, LLC\"\n2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC\n").unwrap();
    let out = trim_strict_with_asn(dir.path(), &csv, &p4, &p6);
    let q = |ip: &str, path: &[&str]| {
        let o = Command::new("mmdblookup")
            .arg("-f")
            .arg(&out)
            .args(["-i", ip])
            .args(path)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "mmdblookup {ip}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    assert!(q("1.1.1.1", &["country", "iso_code"]).contains("\"AU\" <utf8_string>"));
    assert!(q("1.1.1.1", &["city", "names", "en"]).contains("\"Chatswood\""));
    assert!(q("8.8.8.8", &["location", "latitude"]).contains("<double>"));
    assert!(q("8.8.8.8", &["autonomous_system_number"]).contains("15169 <uint32>"));
    assert!(q("8.8.8.8", &["autonomous_system_organization"]).contains("Google, LLC"));
    assert!(q("2001:4860:4860::8888", &["autonomous_system_number"]).contains("15169"));
    assert!(q("2a00:1450::1", &["country", "iso_code"]).contains("\"CH\""));
    let v = Command::new("mmdblookup")
        .arg("-f")
        .arg(&out)
        .args(["-i", "1.1.1.1", "-v"])
        .output()
        .unwrap();
    let v = String::from_utf8_lossy(&v.stdout);
    assert!(v.contains("IP geolocation by DB-IP"), "{v}");
    assert!(v.contains("ASN data by RouteViews and DB-IP"), "{v}");
}

#[test]
fn compare_reports_ipv6_by_address_and_asn_agreement() {
    let dir = tempfile::tempdir().unwrap();
    let (p4, p6) = dbip_pair(dir.path());
    let csv = dir.path().join("asn.csv");
    std::fs::write(
        &csv,
        "1.1.0.0,1.1.3.255,13335,Cloudflare\n8.8.0.0,8.8.255.255,15169,Google\n2a00::,2a00:ffff:ffff:ffff:ffff:ffff:ffff:ffff,3303,Swisscom\n",
    )
    .unwrap();
    let out = trim_strict_with_asn(dir.path(), &csv, &p4, &p6);
    let compare = |reference: &Path| {
        run_ok(
            bin()
                .args(["compare", "-q", "--samples", "3000", "--asn"])
                .arg(reference)
                .arg(&p4)
                .arg(&p6)
                .arg(&out),
        )
    };
    let text = compare(&csv);
    let row = |name: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    // Every set has the ASN column; the strict trim agrees everywhere.
    for name in [
        "IPv4, uniform over networks",
        "IPv6, uniform over addresses",
    ] {
        let r = row(name);
        assert_eq!(r.last().unwrap(), "100.00%", "{text}");
        assert_eq!(r[5], "100.00%", "located: {text}");
    }
    // Another reference: AS 15169 only in 8.8.0.0/17, 8.8.128.0/17 is now AS 1.
    let other = dir.path().join("asn2.csv");
    std::fs::write(
        &other,
        "1.1.0.0,1.1.3.255,13335,Cloudflare\n8.8.0.0,8.8.127.255,15169,Google\n8.8.128.0,8.8.255.255,1,Other\n",
    )
    .unwrap();
    let text = compare(&other);
    let r: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("IPv4, uniform over networks"))
        .unwrap()
        .split_whitespace()
        .collect();
    let pct: f64 = r.last().unwrap().trim_end_matches('%').parse().unwrap();
    assert!(pct > 50.0 && pct < 90.0, "{text}");
    // IPv6 has no reference ASN in this file: no figure.
    assert!(text
        .lines()
        .find(|l| l.starts_with("IPv6, uniform over addresses"))
        .unwrap()
        .ends_with(" -"));
    // Without ASN data on the trimmed side there is no ASN column.
    run_ok(
        bin()
            .args(["trim", "-q", "--preset=strict"])
            .arg(&p4)
            .arg(&p6)
            .arg("-o")
            .arg(&out),
    );
    assert!(!compare(&csv).contains("ASN"));
}

#[test]
fn reads_geoip2_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Writer::new();
    let berlin = w
        .add_record(&geoip2(Some("DE"), "DE", "Berlin", 52.5244, 13.4105))
        .unwrap();
    let sat = w.add_record(&geoip2(None, "US", "", 40.0, -100.0)).unwrap();
    w.insert_v4(0x0202_0000, 16, berlin).unwrap();
    w.insert_v4(0x0303_0000, 16, sat).unwrap();
    w.insert(0x2a01u128 << 112, 16, berlin).unwrap();
    let (b, _) = w.finish(&meta("GeoLite2-City")).unwrap();
    let full = dir.path().join("GeoLite2-City.mmdb");
    std::fs::write(&full, b).unwrap();
    let out = dir.path().join("geo.mmdb");
    run_ok(
        bin()
            .args(["trim", "-q", "--precision", "0.0001", "--preset", "strict"])
            .arg(&full)
            .arg("-o")
            .arg(&out),
    );
    let a = lookup(&out, "2.2.3.4").unwrap();
    assert_eq!(a.city.unwrap().names["en"], "Berlin");
    assert_eq!(a.location.latitude, 52.5244);
    assert_eq!(a.location.longitude, 13.4105);
    // No country: the registered country stands in; an empty city name is left out.
    let s = lookup(&out, "3.3.3.3").unwrap();
    assert_eq!(s.country.unwrap().iso_code, "US");
    assert!(s.city.is_none());
    assert!(lookup(&out, "2a01::1").is_some());
    let r = maxminddb::Reader::open_readfile(&out).unwrap();
    assert!(r.metadata().description["en"].contains("GeoLite2"));
}

#[test]
fn default_preset_is_small_and_keeps_well_known_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let (p4, p6) = dbip_pair(dir.path());
    let out = dir.path().join("geo.mmdb");
    let report = run_ok(
        bin()
            .args(["trim", "-q"])
            .arg(&p4)
            .arg(&p6)
            .arg("-o")
            .arg(&out),
    );
    assert!(report.contains("cities off"), "{report}");
    // 1.0.0.1 and 8.8.8.8 are kept addresses: their networks keep their records, with
    // positions to 0.01° whatever the preset's precision (0.3°: -33.9 for Sydney).
    let a = lookup(&out, "1.0.0.1").unwrap();
    assert!(a.city.is_none());
    assert_eq!(a.location.latitude, -33.87);
    // 8.8.8.8's /24 keeps Mountain View inside the Ashburn /16.
    let g = lookup(&out, "8.8.8.8").unwrap();
    assert_eq!(
        (g.location.latitude, g.location.longitude),
        (37.42, -122.08)
    );
    assert_eq!(lookup(&out, "8.8.7.1").unwrap().location.latitude, 39.04);
    // Without the kept addresses, the lone /24 is merged into its neighbours.
    run_ok(
        bin()
            .args(["trim", "-q", "--no-keep"])
            .arg(&p4)
            .arg(&p6)
            .arg("-o")
            .arg(&out),
    );
    assert_eq!(lookup(&out, "8.8.8.8").unwrap().location.latitude, 39.0);
    let o = bin()
        .args(["trim", "--preset", "huge"])
        .arg(&p4)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn corrupt_and_truncated_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (p4, _) = dbip_pair(dir.path());
    let out = dir.path().join("geo.mmdb");
    let check = |input: &Path, want: &str| {
        let o = bin()
            .args(["trim", "-q"])
            .arg(input)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.starts_with("connmap-geodb: "), "{err}");
        assert!(err.contains(&input.display().to_string()), "{err}");
        assert!(err.contains(want), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    let garbage = dir.path().join("garbage.mmdb");
    std::fs::write(&garbage, b"this is not a database at all").unwrap();
    check(&garbage, "not a MaxMind DB");
    let bytes = std::fs::read(&p4).unwrap();
    let truncated = dir.path().join("truncated.mmdb");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    check(&truncated, "not a MaxMind DB");
    // Intact metadata, search tree overwritten with pointers past the data section.
    let mut bad = bytes.clone();
    for b in bad.iter_mut().take(600) {
        *b = 0xff;
    }
    let broken = dir.path().join("broken.mmdb");
    std::fs::write(&broken, &bad).unwrap();
    check(&broken, "MaxMind DB");
    check(&dir.path().join("missing.mmdb"), "No such file");
    // Usage errors exit 2.
    let o = bin().args(["trim", "--bound", "x"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
}

/// `trim --preset=strict --asn CSV P4 P6` into DIR/geo.mmdb.
fn trim_strict_with_asn(dir: &Path, csv: &Path, p4: &Path, p6: &Path) -> PathBuf {
    let out = dir.join("geo.mmdb");
    run_ok(
        bin()
            .args(["trim", "-q", "--preset=strict", "--asn"])
            .arg(csv)
            .arg(p4)
            .arg(p6)
            .arg("-o")
            .arg(&out),
    );
    out
}
