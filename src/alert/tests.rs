//! Unit tests of the alert engine (rules, learning, rate limit, memory, alerts.json).

use super::*;
use serde_json::Value;

const T0: u64 = 1_764_000_000;
const MAC: [u8; 6] = [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];

fn a(s: &str) -> Addr {
    s.parse().unwrap()
}

fn no_learning() -> AlertConfig {
    AlertConfig {
        learning: 0,
        new_asn: true,
        upload_per_hour: 1000,
        dir: None,
        ubus: None,
        ..Default::default()
    }
}

fn obs<'a>(time: u64, remote: &str, country: &[u8; 2], asn: u32, out: u64) -> PairObs<'a> {
    PairObs {
        time,
        host: a("192.168.1.23"),
        mac: Some(MAC),
        remote: a(remote),
        country: Some(*country),
        asn: Some(asn),
        org: Some("Org"),
        name: Some("x.example"),
        bytes_out: out,
        bytes_in: 0,
    }
}

fn rules_of(al: &Alerts) -> Vec<&'static str> {
    let mut v: Vec<_> = al
        .recent()
        .map(|r| Rule::from_u8(r.rule).unwrap().name())
        .collect();
    v.reverse();
    v
}

#[test]
fn each_rule_fires_once_per_device_and_window() {
    let mut al = Alerts::new(no_learning());
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("firehol_level1.netset");
    std::fs::write(&list, "203.0.113.0/24\n").unwrap();
    al.set_blocklists(blocklist::Blocklists::load(&[list]).0);
    al.observe_host(T0, a("192.168.1.23"), Some(MAC), Some("laptop"));
    al.observe_pair(&obs(T0, "1.1.1.1", b"AU", 13335, 10));
    assert_eq!(rules_of(&al), ["new_device", "new_country", "new_asn"]);
    // known country and ASN: nothing
    al.observe_pair(&obs(T0 + 5, "1.1.1.2", b"AU", 13335, 10));
    assert_eq!(al.recent().count(), 3);
    // a block-listed remote, an upload over the limit
    al.observe_pair(&obs(T0 + 10, "203.0.113.9", b"AU", 13335, 2000));
    assert_eq!(
        rules_of(&al),
        [
            "new_device",
            "new_country",
            "new_asn",
            "blocklist",
            "upload"
        ]
    );
    let bl = al.recent().nth(1).unwrap();
    assert_eq!(bl.list.as_deref(), Some("firehol_level1.netset"));
    assert_eq!(
        bl.message,
        "laptop (192.168.1.23) contacted 203.0.113.9 (x.example), listed in firehol_level1.netset"
    );
    let up = al.recent().next().unwrap();
    assert_eq!(up.bytes, Some(2020));
    // a new country within the window: suppressed, but learned
    al.observe_pair(&obs(T0 + 20, "5.5.5.5", b"DE", 3320, 0));
    assert_eq!(al.recent().count(), 5);
    assert_eq!(al.suppressed, 2);
    // after the window: a new country fires again; the learned DE does not
    al.observe_pair(&obs(T0 + 3700, "5.5.5.6", b"DE", 3320, 0));
    assert_eq!(al.recent().count(), 5);
    al.observe_pair(&obs(T0 + 3700, "8.8.8.8", b"US", 15169, 0));
    assert_eq!(
        al.recent().nth(1).unwrap().message,
        "laptop (192.168.1.23) reached US for the first time: 8.8.8.8 (x.example)"
    );
}

#[test]
fn upload_counts_per_clock_hour() {
    let mut al = Alerts::new(no_learning());
    let hour = T0 / 3600 * 3600;
    al.observe_pair(&obs(hour + 10, "1.1.1.1", b"AU", 1, 600));
    al.observe_pair(&obs(hour + 20, "1.1.1.2", b"AU", 1, 300));
    assert!(!rules_of(&al).contains(&"upload"));
    // the next hour starts from zero
    al.observe_pair(&obs(hour + 3600, "1.1.1.3", b"AU", 1, 900));
    assert!(!rules_of(&al).contains(&"upload"));
    al.observe_pair(&obs(hour + 3700, "1.1.1.3", b"AU", 1, 200));
    assert_eq!(rules_of(&al).last(), Some(&"upload"));
    assert_eq!(al.recent().next().unwrap().bytes, Some(1100));
}

#[test]
fn learning_learns_without_firing_and_is_remembered() {
    let cfg = AlertConfig {
        learning: 86_400,
        ..no_learning()
    };
    let mut al = Alerts::new(cfg.clone());
    al.observe_host(T0, a("192.168.1.23"), Some(MAC), None);
    al.observe_pair(&obs(T0, "1.1.1.1", b"AU", 13335, 0));
    assert_eq!(al.recent().count(), 0);
    assert_eq!(al.learning_until(), Some(T0 + 86_400));
    let doc: Value = serde_json::from_slice(&al.render(T0 + 10)).unwrap();
    assert_eq!(doc["learning_until"], T0 + 86_400);
    // a restart keeps the start and what was learned
    let mem = al.memory_bytes();
    let mut al = Alerts::new(cfg);
    al.restore_memory(&mem).unwrap();
    assert_eq!(al.learning_until(), Some(T0 + 86_400));
    al.observe_pair(&obs(T0 + 86_400, "1.1.1.9", b"AU", 13335, 0));
    assert_eq!(al.recent().count(), 0);
    al.observe_pair(&obs(T0 + 86_400, "8.8.8.8", b"US", 15169, 0));
    assert_eq!(rules_of(&al), ["new_country", "new_asn"]);
    let doc: Value = serde_json::from_slice(&al.render(T0 + 86_401)).unwrap();
    assert!(doc["learning_until"].is_null());
}

#[test]
fn a_device_first_seen_by_address_keeps_its_memory_when_its_mac_is_known() {
    let mut al = Alerts::new(no_learning());
    let mut o = obs(T0, "1.1.1.1", b"AU", 1, 0);
    o.mac = None;
    al.observe_pair(&o);
    assert_eq!(al.recent().count(), 3);
    al.observe_pair(&obs(T0 + 10, "1.1.1.1", b"AU", 1, 0));
    assert_eq!(al.recent().count(), 3);
    assert_eq!(al.memory_size(), (1, 2));
}

#[test]
fn memory_roundtrips_and_bad_memory_is_refused() {
    let mut al = Alerts::new(no_learning());
    al.observe_host(T0, a("192.168.1.23"), Some(MAC), Some("laptop"));
    al.observe_pair(&obs(T0, "1.1.1.1", b"AU", 13335, 0));
    let mem = al.memory_bytes();
    let mut b = Alerts::new(no_learning());
    b.restore_memory(&mem).unwrap();
    assert_eq!(b.memory_size(), al.memory_size());
    assert_eq!(
        b.recent().cloned().collect::<Vec<_>>(),
        al.recent().cloned().collect::<Vec<_>>()
    );
    // the ids go on
    b.observe_pair(&obs(T0 + 4000, "8.8.8.8", b"US", 15169, 0));
    assert_eq!(b.recent().nth(1).unwrap().id, 4);
    // no memory: fine; garbage and truncations: an error, nothing panics
    assert!(Alerts::new(no_learning()).restore_memory(&[]).is_ok());
    assert!(Alerts::new(no_learning())
        .restore_memory(&[0xff; 7])
        .is_err());
    for n in 0..mem.len() {
        let _ = Alerts::new(no_learning()).restore_memory(&mem[..n]);
    }
}

#[test]
fn the_device_bound_holds() {
    let mut al = Alerts::new(AlertConfig {
        new_device: false,
        ..no_learning()
    });
    let n = MAX_DEVICES as u32 * 50;
    for i in 0..n {
        let ip = Addr::from_v4_bytes((0x0a00_0000 + i).to_be_bytes());
        al.observe_host(T0 + u64::from(i / 3), ip, None, None);
        assert!(al.memory_size().0 <= MAX_DEVICES);
    }
    // a full table forgets its least recently seen eighth at once: the newest are all kept
    let kept = al.memory_size().0;
    assert!(kept > MAX_DEVICES * 7 / 8, "{kept}");
    for i in n - kept as u32..n {
        let ip = Addr::from_v4_bytes((0x0a00_0000 + i).to_be_bytes());
        assert!(
            al.devices.get(&DevKey::Ip(ip)).is_some(),
            "device {i} forgotten"
        );
    }
}

#[test]
fn rules_off_do_not_fire() {
    let mut al = Alerts::new(AlertConfig {
        new_country: false,
        new_asn: false,
        upload_per_hour: 0,
        new_device: false,
        ..no_learning()
    });
    al.observe_pair(&obs(T0, "1.1.1.1", b"AU", 13335, 1 << 40));
    assert_eq!(al.recent().count(), 0);
    assert_eq!(al.suppressed, 0);
}

#[test]
fn alerts_json_has_the_contract_fields() {
    let mut al = Alerts::new(no_learning());
    al.observe_host(T0, a("192.168.1.23"), Some(MAC), Some("laptop"));
    al.observe_pair(&obs(T0, "1.2.3.4", b"CN", 4134, 0));
    let doc: Value = serde_json::from_slice(&al.render(T0 + 1)).unwrap();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["generated"], T0 + 1);
    assert!(doc["learning_until"].is_null());
    assert_eq!(doc["rules"]["upload_per_hour"], 1000);
    assert_eq!(doc["rules"]["blocklist"], false);
    let first = &doc["alerts"][0];
    assert_eq!(first["rule"], "new_asn");
    assert_eq!(first["id"], 3);
    assert_eq!(first["device"]["mac"], "aa:bb:cc:dd:ee:ff");
    assert_eq!(first["device"]["name"], "laptop");
    assert_eq!(first["remote"]["country"], "CN");
    assert_eq!(first["remote"]["asn"], 4134);
    assert_eq!(
        first["message"],
        "laptop (192.168.1.23) reached AS4134 (Org) for the first time: 1.2.3.4 (x.example)"
    );
    let dev = &doc["alerts"][2];
    assert_eq!(dev["rule"], "new_device");
    assert!(dev["remote"].is_null());
    let env = environment(al.recent().next().unwrap());
    assert!(env.contains(&c"CONNMAP_REMOTE_ASN=4134".into()));
    assert!(env.contains(&c"CONNMAP_LIST=".into()));
}

#[test]
fn alerts_json_changes_when_learning_starts_and_ends() {
    let mut al = Alerts::new(AlertConfig {
        learning: 100,
        ..no_learning()
    });
    assert!(al.take_changed(0));
    assert!(!al.take_changed(0));
    al.observe_host(T0, a("192.168.1.23"), Some(MAC), None);
    assert!(al.take_changed(T0)); // learning_until known
    assert!(!al.take_changed(T0 + 50));
    assert!(al.take_changed(T0 + 100)); // over: learning_until becomes null
    assert!(!al.take_changed(T0 + 200));
}

/// The serde-derived writers alerts.json, the ubus event and the hooks' variables had before
/// they were written by hand (smaller router binary): the output must stay byte for byte.
mod old {
    use super::super::*;
    use serde::Serialize;

    /// alerts.json (written with the serde_json serializer the snapshots already use; no
    /// `serde_json::Value`, whose code the router binary does not otherwise carry).
    #[derive(Serialize)]
    struct Doc<'a> {
        version: u32,
        generated: u64,
        learning_until: Option<u64>,
        rules: RulesJson,
        suppressed: u64,
        alerts: Vec<AlertJson<'a>>,
    }

    #[derive(Serialize)]
    struct RulesJson {
        new_country: bool,
        new_asn: bool,
        blocklist: bool,
        upload_per_hour: u64,
        new_device: bool,
    }

    /// An alert as alerts.json shows it (the ubus event: `alert_blob`, the same fields).
    #[derive(Serialize)]
    struct AlertJson<'a> {
        id: u64,
        time: u64,
        rule: &'static str,
        device: DeviceJson<'a>,
        remote: Option<RemoteJson<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        list: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        bytes: Option<u64>,
        message: &'a str,
    }

    #[derive(Serialize)]
    struct DeviceJson<'a> {
        ip: Option<String>,
        mac: Option<String>,
        name: Option<&'a str>,
    }

    #[derive(Serialize)]
    struct RemoteJson<'a> {
        ip: String,
        country: Option<String>,
        asn: Option<u32>,
        org: Option<&'a str>,
        name: Option<&'a str>,
    }

    impl<'a> AlertJson<'a> {
        fn of(a: &'a AlertRec) -> AlertJson<'a> {
            AlertJson {
                id: a.id,
                time: a.time,
                rule: Rule::from_u8(a.rule).map_or("", Rule::name),
                device: DeviceJson {
                    ip: a.device_ip.map(|i| i.to_string()),
                    mac: a.device_mac.as_ref().map(format_mac),
                    name: a.device_name.as_deref(),
                },
                remote: a.remote.as_ref().map(|r| RemoteJson {
                    ip: r.ip.to_string(),
                    country: r.country.map(|c| country_text(&c).to_string()),
                    asn: r.asn,
                    org: r.org.as_deref(),
                    name: r.name.as_deref(),
                }),
                list: a.list.as_deref(),
                bytes: a.bytes,
                message: &a.message,
            }
        }
    }

    pub fn old_blob(a: &AlertRec) -> Vec<u8> {
        let j = AlertJson::of(a);
        let mut buf = Vec::with_capacity(512);
        let mut b = ubus::Blobmsg::new(&mut buf);
        b.int("id", j.id);
        b.int("time", j.time);
        b.string("rule", j.rule);
        b.table("device", &mut |t| {
            t.opt_string("ip", j.device.ip.as_deref());
            t.opt_string("mac", j.device.mac.as_deref());
            t.opt_string("name", j.device.name);
        });
        match &j.remote {
            Some(r) => b.table("remote", &mut |t| {
                t.string("ip", &r.ip);
                t.opt_string("country", r.country.as_deref());
                t.opt_int("asn", r.asn.map(u64::from));
                t.opt_string("org", r.org);
                t.opt_string("name", r.name);
            }),
            None => b.null("remote"),
        }
        if let Some(l) = j.list {
            b.string("list", l);
        }
        if let Some(n) = j.bytes {
            b.int("bytes", n);
        }
        b.string("message", j.message);
        buf
    }

    pub fn old_environment(a: &AlertRec) -> Vec<(&'static str, String)> {
        let r = a.remote.as_ref();
        let opt = |s: Option<String>| s.unwrap_or_default();
        vec![
            (
                "CONNMAP_RULE",
                Rule::from_u8(a.rule).map_or("", Rule::name).to_string(),
            ),
            ("CONNMAP_TIME", a.time.to_string()),
            ("CONNMAP_MESSAGE", a.message.clone()),
            ("CONNMAP_DEVICE_IP", opt(a.device_ip.map(|i| i.to_string()))),
            (
                "CONNMAP_DEVICE_MAC",
                opt(a.device_mac.as_ref().map(format_mac)),
            ),
            ("CONNMAP_DEVICE_NAME", opt(a.device_name.clone())),
            ("CONNMAP_REMOTE_IP", opt(r.map(|r| r.ip.to_string()))),
            (
                "CONNMAP_REMOTE_COUNTRY",
                opt(r
                    .and_then(|r| r.country)
                    .map(|c| country_text(&c).to_string())),
            ),
            (
                "CONNMAP_REMOTE_ASN",
                opt(r.and_then(|r| r.asn).map(|n| n.to_string())),
            ),
            ("CONNMAP_REMOTE_ORG", opt(r.and_then(|r| r.org.clone()))),
            ("CONNMAP_REMOTE_NAME", opt(r.and_then(|r| r.name.clone()))),
            ("CONNMAP_LIST", opt(a.list.clone())),
            ("CONNMAP_BYTES", opt(a.bytes.map(|b| b.to_string()))),
        ]
    }

    /// "laptop (192.168.1.23)" or "192.168.1.23".
    fn device_label(a: &AlertRec) -> String {
        let ip = a.device_ip.map(|i| i.to_string()).unwrap_or_default();
        match &a.device_name {
            Some(n) => format!("{n} ({ip})"),
            None => ip,
        }
    }

    fn remote_label(r: &RemoteRec) -> String {
        match &r.name {
            Some(n) => format!("{} ({n})", r.ip),
            None => r.ip.to_string(),
        }
    }

    /// The one-line text of an alert.
    pub fn old_message(a: &AlertRec, limit: u64) -> String {
        let dev = device_label(a);
        let remote = a.remote.as_ref();
        match Rule::from_u8(a.rule) {
            Some(Rule::NewCountry) => {
                let r = remote.map(remote_label).unwrap_or_default();
                let c = remote
                    .and_then(|r| r.country.as_ref())
                    .map_or("", country_text);
                format!("{dev} reached {c} for the first time: {r}")
            }
            Some(Rule::NewAsn) => {
                let r = remote.map(remote_label).unwrap_or_default();
                let asn = remote.and_then(|r| r.asn).unwrap_or(0);
                match remote.and_then(|r| r.org.as_deref()) {
                    Some(org) => format!("{dev} reached AS{asn} ({org}) for the first time: {r}"),
                    None => format!("{dev} reached AS{asn} for the first time: {r}"),
                }
            }
            Some(Rule::Blocklist) => {
                let r = remote.map(remote_label).unwrap_or_default();
                let list = a.list.as_deref().unwrap_or("");
                format!("{dev} contacted {r}, listed in {list}")
            }
            Some(Rule::Upload) => {
                let h = (a.time / 3600 % 24, a.time / 3600 % 24 + 1);
                format!(
                    "{dev} sent {} bytes between {:02}:00 and {:02}:00 UTC, more than {limit}",
                    a.bytes.unwrap_or(0),
                    h.0,
                    h.1
                )
            }
            Some(Rule::NewDevice) => match a.device_mac {
                Some(m) => format!("new device on the network: {dev}, MAC {}", format_mac(&m)),
                None => format!("new device on the network: {dev}"),
            },
            None => String::new(),
        }
    }

    pub fn old_render(al: &Alerts, now: u64) -> Vec<u8> {
        let doc = Doc {
            version: 1,
            generated: now,
            learning_until: al.learning_until().filter(|&u| u > now),
            rules: RulesJson {
                new_country: al.cfg.new_country,
                new_asn: al.cfg.new_asn,
                blocklist: al.cfg.blocklist && !al.blocklists.is_empty(),
                upload_per_hour: al.cfg.upload_per_hour,
                new_device: al.cfg.new_device,
            },
            suppressed: al.suppressed,
            alerts: al.recent.iter().map(AlertJson::of).collect(),
        };
        serde_json::to_vec(&doc).unwrap()
    }

    /// The memory as postcard wrote it through serde.
    pub fn old_memory(al: &Alerts) -> Vec<u8> {
        let file = rules::MemoryFile {
            version: MEMORY_VERSION,
            learning_start: al.learning_start,
            next_id: al.next_id,
            devices: (al.devices.iter())
                .map(|(k, d)| rules::DeviceRec {
                    key: *k,
                    first_seen: d.first_seen,
                    last_seen: d.last_seen,
                    countries: (d.countries.iter())
                        .map(|&(c, h)| (rules::country_code(c), h))
                        .collect(),
                    asns: d.asns.clone(),
                    last_fired: d.last_fired,
                })
                .collect(),
            alerts: al.recent.to_vec(),
        };
        postcard::to_allocvec(&file).unwrap()
    }
}

#[test]
fn the_hand_written_outputs_are_those_of_serde() {
    let mut al = Alerts::new(AlertConfig {
        learning: 10_000_000,
        ..no_learning()
    });
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("firehol_level1.netset");
    std::fs::write(&list, "203.0.113.0/24\n2001:db8::/32\n").unwrap();
    al.set_blocklists(blocklist::Blocklists::load(&[list]).0);
    al.cfg.learning = 0;
    al.observe_host(T0, a("192.168.1.23"), Some(MAC), Some("la\"p\\top\u{1}é"));
    al.observe_pair(&obs(T0, "1.1.1.1", b"AU", 13335, 10));
    al.observe_pair(&obs(T0 + 1, "203.0.113.9", b"ZZ", 64500, 5000));
    let mut o = obs(T0 + 2, "2001:db8::7", b"DE", 3320, 0);
    o.host = a("fd00::5");
    o.mac = None;
    o.org = None;
    o.name = None;
    o.asn = None;
    o.country = None;
    al.observe_pair(&o);
    al.observe_pair(&obs(T0 + 3, "1.1.1.1", b"AU", 13335, 10)); // suppressed or nothing
    assert!(al.recent().count() >= 6);
    for now in [T0, T0 + 20_000_000] {
        assert_eq!(
            String::from_utf8(al.render(now)).unwrap(),
            String::from_utf8(old::old_render(&al, now)).unwrap()
        );
    }
    let mut recs: Vec<AlertRec> = al.recent().cloned().collect();
    let mut r = recs[0].clone();
    for (rule, time) in [
        (3, T0 - T0 % 86_400 + 3600 * 23),
        (3, T0 - T0 % 86_400),
        (9, T0),
    ] {
        (r.rule, r.time, r.device_name, r.device_mac) = (rule, time, None, None);
        recs.push(r.clone());
    }
    for rule in 0..5 {
        r.rule = rule;
        r.remote = None;
        r.device_ip = None;
        recs.push(r.clone());
    }
    for rec in &recs {
        for limit in [0, 1234] {
            assert_eq!(message(rec, limit), old::old_message(rec, limit));
        }
    }
    for rec in al.recent() {
        assert_eq!(alert_blob(rec), old::old_blob(rec));
        let old: Vec<_> = (old::old_environment(rec).into_iter())
            .map(|(k, v)| std::ffi::CString::new(format!("{k}={v}").replace('\0', "")).unwrap())
            .collect();
        assert_eq!(environment(rec), old);
    }
    let mem = al.memory_bytes();
    assert_eq!(mem, old::old_memory(&al));
    let mut b = Alerts::new(no_learning());
    b.restore_memory(&old::old_memory(&al)).unwrap();
    assert_eq!(b.memory_bytes(), old::old_memory(&b));
    assert_eq!(
        b.recent().cloned().collect::<Vec<_>>(),
        (al.recent().cloned())
            .filter_map(rules::AlertRec::cleaned)
            .collect::<Vec<_>>()
    );
    let empty = Alerts::new(AlertConfig::default());
    assert_eq!(empty.render(5), old::old_render(&empty, 5));
    assert_eq!(empty.memory_bytes(), old::old_memory(&empty));
}

#[test]
fn a_restored_memory_keeps_the_most_recent_devices_within_the_bound() {
    let mut mem = Vec::new();
    rules::put_uint(&mut mem, u64::from(MEMORY_VERSION));
    rules::put_opt_uint(&mut mem, None);
    rules::put_uint(&mut mem, 1);
    let n = MAX_DEVICES as u32 + 50;
    rules::put_uint(&mut mem, u64::from(n) + 1);
    let key = |i: u32| rules::DevKey::Ip(Addr::from_v4_bytes((0x0a00_0000 + i).to_be_bytes()));
    for i in 0..n {
        // newest last, except the first
        let t = if i == 0 {
            T0 + 10_000
        } else {
            T0 + u64::from(i)
        };
        let c = [(*b"AU", 1), (*b"au", 5), (*b"1x", 9)].map(|(c, h)| (rules::country_id(c), h));
        rules::put_device(&mut mem, key(i), t, t, &c, &[(7, 1), (7, 3)], &[0; 5]);
    }
    // a duplicate of device 1, older: ignored
    rules::put_device(&mut mem, key(1), T0, T0, &[], &[], &[0; 5]);
    rules::put_uint(&mut mem, 0);
    let mut al = Alerts::new(no_learning());
    al.restore_memory(&mem).unwrap();
    assert_eq!(al.memory_size(), (MAX_DEVICES, 2 * MAX_DEVICES));
    assert!(al.devices.index(&key(0)).is_some());
    assert!(al.devices.index(&key(1)).is_none() && al.devices.index(&key(50)).is_none());
    assert!(al.devices.index(&key(51)).is_some() && al.devices.index(&key(n - 1)).is_some());
    let d = al.devices.get(&key(n - 1)).unwrap();
    assert_eq!(
        (&d.countries[..], &d.asns[..]),
        (&[(rules::country_id(*b"AU"), 5)][..], &[(7, 3)][..])
    );
}

#[test]
fn device_keys_sort_as_the_derived_order_would() {
    use crate::alert::rules::DevKey;
    let macs = [
        [0u8, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1, 0],
        [0xff, 0, 0, 0, 0, 0],
        [1, 2, 3, 4, 5, 6],
    ];
    let ips: [crate::packet::Addr; 3] = [
        "10.0.0.1".parse().unwrap(),
        "fd00::1".parse().unwrap(),
        "192.168.1.2".parse().unwrap(),
    ];
    let mut keys: Vec<DevKey> = macs
        .iter()
        .map(|&m| DevKey::Mac(m))
        .chain(ips.iter().map(|&a| DevKey::Ip(a)))
        .collect();
    keys.reverse();
    keys.sort();
    // every MAC first, by bytes; then the addresses in their own order
    let mut want_macs = macs.to_vec();
    want_macs.sort();
    let mut want_ips = ips.to_vec();
    want_ips.sort();
    let want: Vec<DevKey> = want_macs
        .into_iter()
        .map(DevKey::Mac)
        .chain(want_ips.into_iter().map(DevKey::Ip))
        .collect();
    assert_eq!(keys, want);
}
