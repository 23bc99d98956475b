//! End-to-end tests of alerts (src/alert): the real daemon replays captures (their timestamps
//! are the clock) with hook scripts that write what they receive to files, /alerts.json over
//! HTTP, block lists with bad lines, the learning period, the rate limit, and the ubus event
//! as the real `ubus listen` of OpenWrt's ubus (built from /work/shared/openwrt-src by
//! openwrt/tests/real/build.sh) prints it.

mod common;
#[path = "common/load.rs"]
mod load;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BLOCKED: &str = "9.9.9.9";

/// A hook that writes its ACTION and CONNMAP_* variables to DIR/RULE.env (and appends the
/// rule to DIR/all).
fn hook_dir(dir: &Path) -> (PathBuf, PathBuf) {
    let hooks = dir.join("alert.d");
    let out = dir.join("received");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let script = hooks.join("10-record");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nenv | grep -E '^(ACTION|CONNMAP_[A-Z_]+)=' | sort > {o}/$CONNMAP_RULE.env.tmp\n\
             mv {o}/$CONNMAP_RULE.env.tmp {o}/$CONNMAP_RULE.env\necho $CONNMAP_RULE >> {o}/all\n",
            o = out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // not executable: never run
    std::fs::write(hooks.join("ntfy.example"), "#!/bin/sh\nexit 1\n").unwrap();
    (hooks, out)
}

fn laptop(ts: u64, remote: &str, bytes: usize) -> Rec {
    rec(
        ts,
        eth(MAC_LAPTOP, MAC_ROUTER, LAPTOP, remote, 6, 50000, 443, bytes),
        96,
    )
}

fn phone(ts: u64, remote: &str) -> Rec {
    rec(
        ts,
        eth(MAC_PHONE, MAC_ROUTER, PHONE, remote, 6, 50000, 443, 10),
        96,
    )
}

/// The common flags: the plan, a test database, leases naming the laptop, hooks, no ubus.
fn args(dir: &Path, hooks: &Path, extra: &[&str]) -> Vec<String> {
    let db = write_db(dir, &geoip2_db(), "geo.mmdb");
    let leases = dir.join("leases");
    std::fs::write(&leases, format!("0 02:00:00:00:00:10 {LAPTOP} laptop *\n")).unwrap();
    let mut a = scenario_args();
    // the leases file of the test, not none
    let i = a.iter().position(|s| s == "--leases").unwrap();
    a[i + 1] = leases.display().to_string();
    a.extend(
        [
            "--geoip",
            &db.display().to_string(),
            "--alert-dir",
            &hooks.display().to_string(),
            "--ubus",
            "",
            "--interval",
            "5",
        ]
        .map(String::from),
    );
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// GET on the daemon with `Connection: close`: (status, head, body).
fn get(addr: SocketAddr, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head.to_ascii_lowercase().contains("chunked") {
        load::dechunk(&buf[split..])
    } else {
        buf[split..].to_vec()
    };
    (status, head, body)
}

fn alerts_json(d: &load::Daemon) -> Value {
    let (st, _, body) = get(d.addr, "/alerts.json", "");
    assert_eq!(st, 200);
    serde_json::from_slice(&body).unwrap()
}

/// Waits until the hooks have written `n` lines to `all`; returns the rules in order.
fn wait_hooks(out: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let all = std::fs::read_to_string(out.join("all")).unwrap_or_default();
        let rules: Vec<String> = all.lines().map(str::to_string).collect();
        if rules.len() >= n || Instant::now() > deadline {
            return rules;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn env_of(out: &Path, rule: &str) -> Vec<String> {
    std::fs::read_to_string(out.join(format!("{rule}.env")))
        .unwrap_or_else(|e| panic!("no {rule}.env: {e}"))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_hook_receives_each_kind_of_alert_with_its_variables() {
    let dir = tmp();
    let (hooks, out) = hook_dir(dir.path());
    let list = dir.path().join("test.netset");
    std::fs::write(
        &list,
        "# test list\n203.0.113.0/24\nnot an address\n9.9.9.0/24 ; quad9 for the test\n10.0.0.0/33\n",
    )
    .unwrap();
    let pcap = dir.path().join("a.pcap");
    write_pcap(
        &pcap,
        1,
        &[
            laptop(T0, "1.1.1.1", 100),
            laptop(T0 + 10, BLOCKED, 100),
            laptop(T0 + 20, "1.1.1.1", 6000),
        ],
    );
    let a = args(
        dir.path(),
        &hooks,
        &[
            "--alert-learning",
            "0",
            "--alert-rules",
            "new_country,new_asn,blocklist,new_device",
            "--alert-upload",
            "5000",
            "--blocklist",
            &list.display().to_string(),
        ],
    );
    let d = load::serve(dir.path(), &pcap, &a);
    let rules = wait_hooks(&out, 5);
    assert_eq!(
        rules,
        [
            "new_device",
            "new_country",
            "new_asn",
            "blocklist",
            "upload"
        ],
        "log:\n{}",
        d.log_text()
    );
    // the bad lines of the block list: named with their numbers, the good ones kept
    let log = d.log_text();
    assert!(
        log.contains("test.netset:3: \"not\" is not an IP address"),
        "{log}"
    );
    assert!(
        log.contains("test.netset:5: \"10.0.0.0/33\" is not a CIDR network"),
        "{log}"
    );
    assert!(log.contains("2 entries from 1 files"), "{log}");
    assert!(
        log.contains("alert blocklist: laptop (192.168.1.10) contacted 9.9.9.9"),
        "{log}"
    );

    let env = env_of(&out, "new_device");
    for v in [
        "ACTION=alert",
        "CONNMAP_RULE=new_device",
        &format!("CONNMAP_TIME={T0}"),
        "CONNMAP_DEVICE_IP=192.168.1.10",
        "CONNMAP_DEVICE_MAC=02:00:00:00:00:10",
        "CONNMAP_DEVICE_NAME=laptop",
        "CONNMAP_REMOTE_IP=",
        "CONNMAP_REMOTE_COUNTRY=",
        "CONNMAP_LIST=",
        "CONNMAP_BYTES=",
        "CONNMAP_MESSAGE=new device on the network: laptop (192.168.1.10), MAC 02:00:00:00:00:10",
    ] {
        assert!(env.contains(&v.to_string()), "{v} not in {env:?}");
    }
    let env = env_of(&out, "new_country");
    for v in [
        "CONNMAP_REMOTE_IP=1.1.1.1",
        "CONNMAP_REMOTE_COUNTRY=AU",
        "CONNMAP_REMOTE_ASN=13335",
        "CONNMAP_REMOTE_ORG=Cloudflare, Inc.",
        "CONNMAP_MESSAGE=laptop (192.168.1.10) reached AU for the first time: 1.1.1.1",
    ] {
        assert!(env.contains(&v.to_string()), "{v} not in {env:?}");
    }
    let env = env_of(&out, "new_asn");
    assert!(
        env.contains(&"CONNMAP_REMOTE_ASN=13335".to_string()),
        "{env:?}"
    );
    let env = env_of(&out, "blocklist");
    for v in [
        "CONNMAP_REMOTE_IP=9.9.9.9",
        "CONNMAP_REMOTE_COUNTRY=CH",
        "CONNMAP_LIST=test.netset",
        &format!("CONNMAP_TIME={}", T0 + 10),
    ] {
        assert!(env.contains(&v.to_string()), "{v} not in {env:?}");
    }
    let env = env_of(&out, "upload");
    let bytes: u64 = env
        .iter()
        .find_map(|l| l.strip_prefix("CONNMAP_BYTES="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(bytes > 5000, "{env:?}");
    assert!(env.contains(&"CONNMAP_REMOTE_IP=".to_string()), "{env:?}");

    // /alerts.json: the same alerts, most recent first; ETag, 304, gzip
    let doc = alerts_json(&d);
    assert_eq!(doc["version"], 1);
    assert!(doc["learning_until"].is_null());
    assert_eq!(doc["rules"]["upload_per_hour"], 5000);
    assert_eq!(doc["rules"]["blocklist"], true);
    let got: Vec<&str> = (doc["alerts"].as_array().unwrap().iter())
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        [
            "upload",
            "blocklist",
            "new_asn",
            "new_country",
            "new_device"
        ]
    );
    // the country (CH) and ASN of 9.9.9.9 came within the window of 1.1.1.1's: suppressed
    assert_eq!(doc["suppressed"], 2);
    let bl = &doc["alerts"][1];
    assert_eq!(bl["list"], "test.netset");
    assert_eq!(bl["remote"]["ip"], BLOCKED);
    assert_eq!(bl["device"]["mac"], "02:00:00:00:00:10");
    assert_eq!(bl["device"]["name"], "laptop");
    assert!(doc["alerts"][0]["remote"].is_null());
    let (_, head, _) = get(d.addr, "/alerts.json", "");
    let etag = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("ETag: ")
                .or_else(|| l.strip_prefix("etag: "))
        })
        .unwrap()
        .trim()
        .to_string();
    let (st, _, body) = get(
        d.addr,
        "/alerts.json",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!((st, body.len()), (304, 0));
    let (st, head, body) = get(d.addr, "/alerts.json", "Accept-Encoding: gzip\r\n");
    assert_eq!(st, 200);
    assert!(
        head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut json)
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&json).unwrap(), doc);
    // a name the page may not be reached by: refused like markers.json
    let mut s = TcpStream::connect(d.addr).unwrap();
    write!(
        s,
        "GET /alerts.json HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 421"), "{resp}");
}

#[test]
fn the_learning_period_ends_within_a_replay() {
    let dir = tmp();
    let (hooks, out) = hook_dir(dir.path());
    let pcap = dir.path().join("l.pcap");
    write_pcap(
        &pcap,
        1,
        &[
            laptop(T0, "1.1.1.1", 100),       // learned
            laptop(T0 + 30, "8.8.8.8", 100),  // learned
            phone(T0 + 40, "1.1.1.1"),        // a new device, learned
            laptop(T0 + 100, "1.1.1.1", 100), // known
            laptop(T0 + 110, BLOCKED, 100),   // CH: after learning, fires
        ],
    );
    let a = args(dir.path(), &hooks, &["--alert-learning", "60"]);
    let d = load::serve(dir.path(), &pcap, &a);
    let rules = wait_hooks(&out, 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(wait_hooks(&out, 1), rules);
    assert_eq!(rules, ["new_country"], "log:\n{}", d.log_text());
    let env = env_of(&out, "new_country");
    assert!(
        env.contains(&"CONNMAP_REMOTE_COUNTRY=CH".to_string()),
        "{env:?}"
    );
    assert!(
        env.contains(&format!("CONNMAP_TIME={}", T0 + 110)),
        "{env:?}"
    );
    let doc = alerts_json(&d);
    // the replay's clock is past the end of learning
    assert!(doc["learning_until"].is_null(), "{doc}");
    assert_eq!(doc["alerts"].as_array().unwrap().len(), 1);

    // a replay that ends inside the learning period says when it ends
    let dir2 = tmp();
    let (hooks2, out2) = hook_dir(dir2.path());
    let pcap2 = dir2.path().join("l2.pcap");
    write_pcap(
        &pcap2,
        1,
        &[laptop(T0, "1.1.1.1", 100), laptop(T0 + 10, BLOCKED, 100)],
    );
    let a = args(dir2.path(), &hooks2, &["--alert-learning", "3600"]);
    let d2 = load::serve(dir2.path(), &pcap2, &a);
    let doc = alerts_json(&d2);
    assert_eq!(doc["learning_until"], T0 + 3600, "{doc}");
    assert!(doc["alerts"].as_array().unwrap().is_empty());
    assert!(wait_hooks(&out2, 0).is_empty());
}

#[test]
fn one_alert_per_device_and_rule_per_window() {
    let dir = tmp();
    let (hooks, out) = hook_dir(dir.path());
    let pcap = dir.path().join("w.pcap");
    write_pcap(
        &pcap,
        1,
        &[
            laptop(T0, "1.1.1.1", 100),          // AU: fires
            laptop(T0 + 10, "9.9.9.9", 100),     // CH: within the window
            laptop(T0 + 20, "151.101.1.1", 100), // US: within the window
            laptop(T0 + 130, "198.18.0.1", 100), // PT: the window has passed
            phone(T0 + 140, "9.9.9.9"),          // another device: its own window
        ],
    );
    let a = args(
        dir.path(),
        &hooks,
        &[
            "--alert-learning",
            "0",
            "--alert-rules",
            "new_country",
            "--alert-window",
            "120",
            "--remote",
            "198.18.0.0/15",
        ],
    );
    let d = load::serve(dir.path(), &pcap, &a);
    let rules = wait_hooks(&out, 3);
    assert_eq!(rules, ["new_country"; 3], "log:\n{}", d.log_text());
    let doc = alerts_json(&d);
    assert_eq!(doc["suppressed"], 2);
    let countries: Vec<&str> = (doc["alerts"].as_array().unwrap().iter())
        .map(|a| a["remote"]["country"].as_str().unwrap())
        .collect();
    assert_eq!(countries, ["CH", "PT", "AU"]);
}

/// The OpenWrt userland of openwrt/tests/real/build.sh, if it was built.
fn openwrt_stage() -> Option<PathBuf> {
    let from_file = std::fs::read_to_string("/tmp/openwrt-userland.path")
        .ok()
        .map(|p| PathBuf::from(p.trim()).join("stage"));
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let cached = std::fs::read_dir(home.join(".cache/connmap"))
        .ok()?
        .flatten()
        .map(|e| e.path().join("stage"))
        .find(|p| p.join("usr/sbin/ubusd").exists());
    from_file
        .filter(|p| p.join("usr/sbin/ubusd").exists())
        .or(cached)
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_ubus_event_reaches_the_real_ubus_listen() {
    let Some(stage) = openwrt_stage() else {
        eprintln!("SKIP: no OpenWrt userland (ubusd, ubus) built; run openwrt/tests/real/build.sh");
        return;
    };
    let dir = tmp();
    let sock = dir.path().join("ubus.sock");
    let lib = stage.join("usr/lib");
    let ubusd = Killed(
        Command::new(stage.join("usr/sbin/ubusd"))
            .env("LD_LIBRARY_PATH", &lib)
            .arg("-s")
            .arg(&sock)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let heard = dir.path().join("heard");
    let listen = Killed(
        Command::new(stage.join("usr/bin/ubus"))
            .env("LD_LIBRARY_PATH", &lib)
            .arg("-s")
            .arg(&sock)
            .args(["listen", "connmap.alert"])
            .stdout(std::fs::File::create(&heard).unwrap())
            .spawn()
            .unwrap(),
    );
    // `ubus listen` registers asynchronously: wait until ubusd knows its listener
    std::thread::sleep(Duration::from_millis(500));
    let (hooks, _out) = hook_dir(dir.path());
    let pcap = dir.path().join("u.pcap");
    write_pcap(&pcap, 1, &[laptop(T0, "1.1.1.1", 100)]);
    let mut a = args(
        dir.path(),
        &hooks,
        &["--alert-learning", "0", "--alert-rules", "new_country"],
    );
    let i = a.iter().position(|s| s == "--ubus").unwrap();
    a[i + 1] = sock.display().to_string();
    let (o, _) = replay(dir.path(), &pcap, None, &a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = std::fs::read_to_string(&heard).unwrap_or_default();
        if text.contains("connmap.alert") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(listen);
    drop(ubusd);
    let line = text
        .lines()
        .find(|l| l.contains("connmap.alert"))
        .unwrap_or_else(|| {
            panic!(
                "ubus listen heard nothing: {text:?}; connmap log:\n{}",
                String::from_utf8_lossy(&o.stderr)
            )
        });
    let v: Value = serde_json::from_str(line).unwrap();
    let ev = &v["connmap.alert"];
    assert_eq!(ev["rule"], "new_country");
    assert_eq!(ev["id"], 1);
    assert_eq!(ev["time"], T0);
    assert_eq!(ev["device"]["ip"], LAPTOP);
    assert_eq!(ev["device"]["mac"], "02:00:00:00:00:10");
    assert_eq!(ev["device"]["name"], "laptop");
    assert_eq!(ev["remote"]["ip"], "1.1.1.1");
    assert_eq!(ev["remote"]["country"], "AU");
    assert_eq!(ev["remote"]["asn"], 13335);
    assert_eq!(ev["remote"]["org"], "Cloudflare, Inc.");
    assert!(ev["message"].as_str().unwrap().contains("reached AU"));
}

#[test]
fn the_memory_and_the_learning_start_survive_a_restart() {
    let dir = tmp();
    let (hooks, out) = hook_dir(dir.path());
    let state = dir.path().join("state");
    let mut a = args(dir.path(), &hooks, &["--alert-learning", "100"]);
    a.extend(["--state".to_string(), state.display().to_string()]);
    // first run: learns the laptop and AU (learning starts at T0)
    let pcap = dir.path().join("1.pcap");
    write_pcap(&pcap, 1, &[laptop(T0, "1.1.1.1", 100)]);
    let (o, _) = replay(dir.path(), &pcap, None, &a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(wait_hooks(&out, 0).is_empty());
    // second run: CH at T0+50 is still within the learning that began at T0 (not at this
    // start); after T0+100, US fires, and the known laptop is no new device
    let pcap = dir.path().join("2.pcap");
    write_pcap(
        &pcap,
        1,
        &[
            laptop(T0 + 50, BLOCKED, 100),
            laptop(T0 + 150, "8.8.8.8", 100),
        ],
    );
    let (o, _) = replay(dir.path(), &pcap, None, &a);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains("alert memory restored: 1 devices, 2 countries and ASNs"),
        "{log}"
    );
    assert_eq!(wait_hooks(&out, 1), ["new_country"], "{log}");
    let env = env_of(&out, "new_country");
    assert!(
        env.contains(&"CONNMAP_REMOTE_COUNTRY=US".to_string()),
        "{env:?}"
    );
}

/// A hook put into `--alert-dir` while connmap runs is run from the next alert on (the
/// directory is read at each delivery): the capture comes through a FIFO; the first alert is
/// delivered to the one hook there at start (which marks it), then a second hook is added and
/// the second alert runs both.
#[test]
fn a_hook_added_after_start_runs_without_a_restart() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tmp();
    // the recording hook, written elsewhere and moved in later
    let (staged, out) = hook_dir(&dir.path().join("staging"));
    let hooks = dir.path().join("alert.d");
    std::fs::create_dir_all(&hooks).unwrap();
    let marks = dir.path().join("marks");
    let mark = hooks.join("05-mark");
    std::fs::write(
        &mark,
        format!(
            "#!/bin/sh
echo $CONNMAP_REMOTE_COUNTRY >> {}
",
            marks.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&mark, std::fs::Permissions::from_mode(0o755)).unwrap();
    // the two records, cut out of a pcap file: header + first record, then the second
    let whole = dir.path().join("whole.pcap");
    let (first, second) = (laptop(T0, "1.1.1.1", 100), laptop(T0 + 60, "8.8.8.8", 100));
    let first_len = 24 + 16 + first.data.len();
    write_pcap(&whole, 1, &[first, second]);
    let bytes = std::fs::read(&whole).unwrap();
    let fifo = dir.path().join("in.pcap");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo on a fresh path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let log = dir.path().join("log");
    let a = args(
        dir.path(),
        &hooks,
        &[
            "--alert-learning",
            "0",
            "--alert-rules",
            "new_country",
            "--alert-window",
            "30",
        ],
    );
    let mut child = connmap()
        .arg("-r")
        .arg(&fifo)
        .args(&a)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(&bytes[..first_len]).unwrap();
    w.flush().unwrap();
    // the first alert delivered (to the marking hook only)
    let deadline = Instant::now() + Duration::from_secs(20);
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();
    let marked = || std::fs::read_to_string(&marks).unwrap_or_default();
    while marked() != "AU\n" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(marked(), "AU\n", "{}", logged());
    std::fs::rename(staged.join("10-record"), hooks.join("10-record")).unwrap();
    w.write_all(&bytes[first_len..]).unwrap();
    drop(w); // the end of the capture
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", logged());
    // (connmap delivered what was queued before it exited)
    assert_eq!(marked(), "AU\nUS\n", "{}", logged());
    assert_eq!(wait_hooks(&out, 1), ["new_country"], "{}", logged());
    let env = env_of(&out, "new_country");
    assert!(
        env.contains(&"CONNMAP_REMOTE_COUNTRY=US".to_string()),
        "{env:?}"
    );
}
