//! End to end over HTTP: a real daemon replaying a capture and serving it, real TCP clients
//! on loopback. Headers, 304, gzip, HEAD, 405, path traversal in many encodings, oversized
//! and malformed requests, idle and slow clients, and a clean exit on SIGTERM.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

struct Daemon {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    json: std::path::PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> Daemon {
    start_with(&[])
}

fn start_with(extra: &[&str]) -> Daemon {
    start_on("127.0.0.1", extra)
}

/// A daemon listening on `ip` (an address literal, IPv6 without brackets).
fn start_on(ip: &str, extra: &[&str]) -> Daemon {
    let d = tmp();
    // Readable and writable after the daemon drops root (`--user`).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let pcap = d.path().join("s.pcap");
    write_pcap(&pcap, 1, &scenario_recs());
    let db = write_db(d.path(), &geoip2_db(), "geo.mmdb");
    let www = d.path().join("www");
    std::fs::create_dir_all(www.join("js")).unwrap();
    std::fs::write(www.join("index.html"), "<!doctype html><title>map</title>").unwrap();
    std::fs::write(
        www.join("index.html.gz"),
        connmap::snapshot::gzip(b"<!doctype html><title>map</title>"),
    )
    .unwrap();
    std::fs::write(www.join("js/app.0123abcd.js"), "console.log(1)").unwrap();
    // only the compressed copy, as the OpenWrt package installs the page
    std::fs::write(
        www.join("world.0123abcd.json.gz"),
        connmap::snapshot::gzip(WORLD.as_bytes()),
    )
    .unwrap();
    std::fs::write(d.path().join("secret.txt"), "do not serve").unwrap();
    let port = free_port();
    let addr = SocketAddr::new(ip.parse().unwrap(), port);
    let json = d.path().join("markers.json");
    let mut child = connmap()
        .arg("-r")
        .arg(&pcap)
        .arg("--geoip")
        .arg(&db)
        .arg("--www")
        .arg(&www)
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--json-out")
        .arg(&json)
        .args(scenario_args())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() && json.exists() {
            return Daemon {
                child,
                addr,
                _dir: d,
                json,
            };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("daemon did not come up");
}

/// Sends raw bytes, returns (status, headers, body).
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, buf[split..].to_vec())
}

fn get(addr: SocketAddr, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n").as_bytes(),
    )
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn serves_page_markers_and_security_headers() {
    let d = start();
    let (code, head, body) = get(d.addr, "/", "");
    assert_eq!(code, 200);
    assert_eq!(body, b"<!doctype html><title>map</title>");
    assert!(header(&head, "Content-Security-Policy")
        .unwrap()
        .starts_with("default-src 'self'"));
    assert_eq!(header(&head, "X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(header(&head, "Referrer-Policy"), Some("no-referrer"));
    assert_eq!(header(&head, "Connection"), Some("close"));
    assert_eq!(header(&head, "Cache-Control"), Some("no-cache"));

    let (code, head, _) = get(d.addr, "/js/app.0123abcd.js", "");
    assert_eq!(code, 200);
    assert_eq!(
        header(&head, "Cache-Control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(header(&head, "Content-Type")
        .unwrap()
        .starts_with("text/javascript"));

    let (code, head, body) = get(d.addr, "/markers.json", "");
    assert_eq!(code, 200);
    assert_eq!(header(&head, "Content-Type"), Some("application/json"));
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["markers"].as_array().unwrap().len(), 5);
    // The same document as --json-out wrote.
    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&d.json).unwrap()).unwrap();
    assert_eq!(doc, file);
}

#[test]
fn etag_304_gzip_and_head() {
    let d = start();
    let (_, head, body) = get(d.addr, "/markers.json", "");
    let etag = header(&head, "ETag").unwrap().to_string();
    let (code, _, empty) = get(
        d.addr,
        "/markers.json",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(code, 304);
    assert!(empty.is_empty());
    let (code, head, gz) = get(
        d.addr,
        "/markers.json",
        "Accept-Encoding: br, gzip;q=0.8\r\n",
    );
    assert_eq!(code, 200);
    assert_eq!(header(&head, "Content-Encoding"), Some("gzip"));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, body);
    let (_, head, _) = get(d.addr, "/markers.json", "Accept-Encoding: gzip;q=0\r\n");
    assert_eq!(header(&head, "Content-Encoding"), None);
    // Pre-compressed static file.
    let (_, head, gz) = get(d.addr, "/", "Accept-Encoding: gzip\r\n");
    assert_eq!(header(&head, "Content-Encoding"), Some("gzip"));
    assert_eq!(&gz[..2], &[0x1f, 0x8b]);
    // HEAD: headers, no body.
    let (code, head, body) = raw(
        d.addr,
        b"HEAD /markers.json HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(code, 200);
    assert!(
        header(&head, "Content-Length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 100
    );
    assert!(body.is_empty());
}

const WORLD: &str = "{\"type\":\"Topology\",\"arcs\":[[0,0],[1,1]]}";

#[test]
fn gzip_only_file_is_sent_compressed_or_refused() {
    let d = start();
    let gz_on_disk = connmap::snapshot::gzip(WORLD.as_bytes());
    let path = "/world.0123abcd.json";
    // a client that accepts gzip, and one that names no coding (RFC 9110, 12.5.3: any is
    // acceptable then), get the file as it is on disk
    let mut gz_etag = String::new();
    for asks in [
        "Accept-Encoding: gzip\r\n",
        "Accept-Encoding: br, GZIP;q=0.5\r\n",
        "",
    ] {
        let (code, head, body) = get(d.addr, path, asks);
        assert_eq!(code, 200, "{asks}");
        assert_eq!(header(&head, "Content-Encoding"), Some("gzip"), "{asks}");
        assert_eq!(header(&head, "Content-Type"), Some("application/json"));
        assert_eq!(header(&head, "Vary"), Some("Accept-Encoding"));
        assert!(header(&head, "Cache-Control")
            .unwrap()
            .contains("immutable"));
        assert_eq!(body, gz_on_disk, "{asks}");
        gz_etag = header(&head, "ETag").unwrap().to_string();
        assert!(gz_etag.ends_with("-gz\""), "{gz_etag}");
    }
    // a client that refuses gzip gets 406 and a reason
    for refuses in [
        "Accept-Encoding: identity\r\n",
        "Accept-Encoding: gzip;q=0\r\n",
        "Accept-Encoding: br\r\n",
    ] {
        let (code, _, body) = get(d.addr, path, refuses);
        assert_eq!(code, 406, "{refuses}");
        assert!(String::from_utf8_lossy(&body).contains("gzip"), "{refuses}");
    }
    let (code, _, empty) = get(
        d.addr,
        path,
        &format!("Accept-Encoding: gzip\r\nIf-None-Match: {gz_etag}\r\n"),
    );
    assert_eq!((code, empty.len()), (304, 0));
    // HEAD: the stored length, no body
    let (code, head, body) = raw(
        d.addr,
        format!("HEAD {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes(),
    );
    assert_eq!(code, 200);
    assert_eq!(
        header(&head, "Content-Length"),
        Some(gz_on_disk.len().to_string().as_str())
    );
    assert!(body.is_empty());
    // the .gz name itself is not a separate resource
    assert_eq!(get(d.addr, &format!("{path}.gz"), "").0, 404);
}

#[test]
fn methods_other_than_get_and_head_are_405() {
    let d = start();
    for m in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "BREW"] {
        let (code, head, _) = raw(
            d.addr,
            format!("{m} / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello")
                .as_bytes(),
        );
        assert_eq!(code, 405, "{m}");
        assert_eq!(header(&head, "Allow"), Some("GET, HEAD"));
    }
}

#[test]
fn no_path_traversal_in_any_encoding() {
    let d = start();
    for p in [
        "/../secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/js/../../secret.txt",
        "/js/%2e%2e/%2e%2e/secret.txt",
        "/..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/%252e%252e/secret.txt",
        "//etc/passwd",
        "/etc/passwd",
        "/index.html%00.js",
        "/./index.html",
        "/.%2e/secret.txt",
        "/js/app.0123abcd.js/..",
    ] {
        let (code, _, body) = get(d.addr, p, "");
        assert!(code == 404 || code == 400, "{p}: {code}");
        assert!(
            !String::from_utf8_lossy(&body).contains("do not serve"),
            "{p}"
        );
    }
    // Absolute-form and garbage targets.
    let (code, _, _) = raw(d.addr, b"GET http://x/../secret.txt HTTP/1.1\r\n\r\n");
    assert_eq!(code, 421);
    let (code, _, _) = raw(
        d.addr,
        b"GET http://localhost/../secret.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(code == 404 || code == 400);
}

/// Every route the daemon serves (and some it does not).
const ROUTES: &[&str] = &[
    "/",
    "/index.html",
    "/markers.json",
    "/markers.json?x=1",
    "/js/app.0123abcd.js",
    "/world.0123abcd.json",
    "/missing",
    "/../secret.txt",
];

/// (status, head, body) of `METHOD target` with `Host: host` (no Host header when `None`).
fn with_host(
    addr: SocketAddr,
    method: &str,
    target: &str,
    host: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
    raw(
        addr,
        format!("{method} {target} HTTP/1.1\r\n{host}Accept-Encoding: gzip\r\n\r\n").as_bytes(),
    )
}

fn hostname() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    h.trim().to_string()
}

/// DNS rebinding: a page at another name that resolves to the router must get nothing. Only
/// the router's own names and the listen address are answered, on every route and method.
#[test]
fn only_the_routers_names_are_answered() {
    let d = start_with(&["--allow-host", "Map.Home.Arpa"]);
    let port = d.addr.port();
    let h = hostname();
    let good = [
        "127.0.0.1".to_string(),
        format!("127.0.0.1:{port}"),
        "LOCALHOST".into(),
        "localhost.".into(),
        format!("localhost:{port}"),
        format!("localhost.:{port}"),
        "map.home.arpa".into(),
        format!("MAP.home.arpa.:{port}"),
        h.clone(),
        format!("{}.lan", h.to_uppercase()),
        format!("{h}.lan.:{port}"),
    ];
    let bad = [
        "attacker.example".to_string(),
        format!("attacker.example:{port}"),
        format!("ATTACKER.example.:{port}"),
        "127.0.0.2".into(),
        format!("127.0.0.1.nip.io:{port}"),
        "[::1]".into(),
        "localhost.attacker.example".into(),
        "map.home.arpa.attacker.example".into(),
        format!("{h}.attacker.example"),
        "user@127.0.0.1".into(),
        "".into(),
    ];
    for route in ROUTES {
        let want = with_host(d.addr, "GET", route, Some("localhost")).0;
        assert!(want == 200 || want == 404, "{route}: {want}");
        for g in &good {
            assert_eq!(
                with_host(d.addr, "GET", route, Some(g)).0,
                want,
                "{route} Host {g}"
            );
        }
        for b in &bad {
            for m in ["GET", "HEAD", "POST"] {
                let (code, head, body) = with_host(d.addr, m, route, Some(b));
                assert_eq!(code, 421, "{m} {route} Host {b:?}");
                assert!(body.is_empty(), "{m} {route} Host {b:?}: a body");
                assert_eq!(header(&head, "Content-Length"), Some("0"));
            }
        }
        // HTTP/1.1 without Host: 400; HTTP/1.0 without one is answered.
        assert_eq!(with_host(d.addr, "GET", route, None).0, 400, "{route}");
        let (code, _, _) = raw(d.addr, format!("GET {route} HTTP/1.0\r\n\r\n").as_bytes());
        assert_eq!(code, want, "{route} HTTP/1.0");
        // Absolute-form targets: their authority counts (RFC 9112, 3.2.2).
        if let Some(path) = route.strip_prefix('/').filter(|p| !p.starts_with("..")) {
            for g in &good[..4] {
                let t = format!("http://{g}/{path}");
                assert_eq!(
                    with_host(d.addr, "GET", &t, Some("localhost")).0,
                    want,
                    "{t}"
                );
            }
            for b in &bad[..5] {
                let t = format!("http://{b}/{path}");
                assert_eq!(
                    with_host(d.addr, "GET", &t, Some("localhost")).0,
                    421,
                    "{t}"
                );
            }
        }
    }
    // Two Host headers: 400.
    let (code, _, _) = raw(
        d.addr,
        b"GET /markers.json HTTP/1.1\r\nHost: localhost\r\nHost: attacker.example\r\n\r\n",
    );
    assert_eq!(code, 400);
    // The page may be framed only by the router's own origins (LuCI).
    let (_, head, _) = with_host(d.addr, "GET", "/", Some("localhost"));
    let csp = header(&head, "Content-Security-Policy").unwrap();
    let fa = csp
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("frame-ancestors "))
        .expect("frame-ancestors");
    for o in [
        "'self'",
        "http://127.0.0.1",
        "https://127.0.0.1",
        "http://map.home.arpa",
        "https://localhost",
    ] {
        assert!(fa.split(' ').any(|s| s == o), "{o} in {fa}");
    }
    assert!(fa.contains(&format!("http://{h}.lan")), "{fa}");
    assert!(!fa.contains('*') && !fa.contains("attacker"), "{fa}");
}

#[test]
fn ipv6_listen_address_in_brackets() {
    let d = start_on("::1", &[]);
    let port = d.addr.port();
    for g in [
        "[::1]".to_string(),
        format!("[::1]:{port}"),
        "[0:0::1]".into(),
        "localhost".into(),
    ] {
        assert_eq!(
            with_host(d.addr, "GET", "/markers.json", Some(&g)).0,
            200,
            "{g}"
        );
    }
    for b in [
        "::1",
        "[::2]",
        "127.0.0.1",
        "[::1]:",
        "[::1]x",
        "[::1",
        "attacker.example",
    ] {
        assert_eq!(
            with_host(d.addr, "GET", "/markers.json", Some(b)).0,
            421,
            "{b}"
        );
    }
    let t = format!("http://[::1]:{port}/markers.json");
    assert_eq!(with_host(d.addr, "GET", &t, Some("[::1]")).0, 200);
}

#[test]
fn bad_and_oversized_requests_get_4xx() {
    let d = start();
    let (code, _, _) = raw(d.addr, b"GARBAGE\r\n\r\n");
    assert_eq!(code, 400);
    let (code, _, _) = raw(d.addr, b"GET / HTTP/9.9\r\n\r\n");
    assert_eq!(code, 400);
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(64 * 1024));
    let (code, _, _) = raw(d.addr, big.as_bytes());
    assert_eq!(code, 431);
    let many: String = (0..200).map(|i| format!("X-{i}: y\r\n")).collect();
    let (code, _, _) = raw(d.addr, format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes());
    assert_eq!(code, 431);
    let (code, _, _) = raw(d.addr, b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n");
    assert_eq!(code, 400);
    // Still fine afterwards.
    assert_eq!(get(d.addr, "/markers.json", "").0, 200);
}

#[test]
fn idle_and_slow_clients_do_not_stall_others() {
    let d = start();
    // Idle connections that never send a byte, and half-sent requests.
    let mut idle = Vec::new();
    for i in 0..20 {
        let mut s = TcpStream::connect(d.addr).unwrap();
        if i % 2 == 0 {
            s.write_all(b"GET /markers.json HTTP/1.1\r\nHost: localhost\r\n")
                .unwrap();
        }
        idle.push(s);
    }
    // Slow readers: ask for the document and never read it.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(d.addr).unwrap();
        s.write_all(b"GET /markers.json HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        slow.push(s);
    }
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(get(d.addr, "/markers.json", "").0, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "others were stalled"
    );
    drop(idle);
    drop(slow);
}

#[test]
fn sigterm_writes_the_last_snapshot_and_exits_0() {
    let mut d = start();
    std::fs::remove_file(&d.json).unwrap();
    unsafe {
        libc::kill(d.child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = d.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.json.exists(), "no final markers.json");
    // a stop is not an error (tiny_http's accept thread used to log one when its socket was
    // shut down, at every stop of the router's daemon)
    let mut log = String::new();
    d.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(!log.contains("error"), "{log}");
}

#[test]
fn sighup_reloads_a_replaced_database() {
    let d = start();
    let (_, _, body) = get(d.addr, "/markers.json", "");
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(marker(&doc, "9.9.9.9").unwrap()["org"], "Quad9");
    // Replace the database the way the package does (a new file renamed over the old one):
    // the flat DB-IP schema has no ASN fields, so `org` must become null after the reload.
    let db = d._dir.path().join("geo.mmdb");
    let new = d._dir.path().join("geo.mmdb.new");
    std::fs::write(&new, flat_db()).unwrap();
    std::fs::rename(&new, &db).unwrap();
    unsafe {
        libc::kill(d.child.id() as i32, libc::SIGHUP);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, body) = get(d.addr, "/markers.json", "");
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let m = marker(&doc, "9.9.9.9").unwrap();
        if m["org"].is_null() {
            assert_eq!(m["city"], "Zurich");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "database not reloaded after SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs root: drops root to another user; ./dev.sh test runs it with --include-ignored as root"]
fn drops_root_to_the_given_user() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "needs root");
    let d = start_with(&["--user", "nobody"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.child.id())).unwrap();
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_string();
    let gid = status
        .lines()
        .find(|l| l.starts_with("Gid:"))
        .unwrap()
        .to_string();
    let groups = status
        .lines()
        .find(|l| l.starts_with("Groups:"))
        .unwrap()
        .to_string();
    let nobody = uid.split_whitespace().nth(1).unwrap().to_string();
    assert_ne!(nobody, "0", "{uid}");
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == nobody),
        "real, effective, saved, fs: {uid}"
    );
    assert!(gid.split_whitespace().skip(1).all(|g| g != "0"), "{gid}");
    assert!(!groups.split_whitespace().any(|g| g == "0"), "{groups}");
    let caps = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    assert!(caps.ends_with("0000000000000000"), "{caps}");
    // And it still serves.
    assert_eq!(get(d.addr, "/markers.json", "").0, 200);
}
