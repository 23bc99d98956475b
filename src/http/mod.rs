//! HTTP: the map page, its static files and `/markers.json`, served by tiny_http.
//!
//! Last step of the data path (capture → packet → filter → geo → table → snapshot → **http**).
//! Threads: the gate (`gate.rs`, one thread, all client sockets), tiny_http's own accept and
//! connection threads on a private socket behind it, and `MAX_IN_FLIGHT` responder threads that
//! call `Server::recv` and answer. Responders read only the published `Snapshot` (an `Arc`) and
//! the static file index; they never touch the data path's tables.

pub mod files;
pub mod gate;
pub mod host;

use crate::snapshot::{Snapshot, SnapshotCell};
use files::StaticFiles;
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use tiny_http::{Header, Method, Request, Response, StatusCode};

const PLACEHOLDER: &str = include_str!("placeholder.html");

/// What the HTTP side is started with.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub listen: SocketAddr,
    pub www: Option<PathBuf>,
    /// Origin of the opt-in online tile server, allowed in the CSP's img-src.
    pub tiles_origin: Option<String>,
    /// Names besides the router's own that `Host` may carry (`--allow-host`).
    pub allow_hosts: Vec<String>,
    /// `/metrics` (src/export/metrics.rs); `None`: 404.
    pub metrics: Option<crate::export::metrics::MetricsCell>,
    /// `/alerts.json` (src/alert), published by the data path; `None`: 404.
    pub alerts: Option<SnapshotCell>,
    /// `/history.json` (src/history); `None` (`--history-top 0`): 404.
    pub history: Option<crate::history::HistoryCell>,
}

/// A running server. Dropping it stops the threads.
pub struct HttpServer {
    pub local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    server: Option<Arc<tiny_http::Server>>,
    threads: Vec<JoinHandle<()>>,
    /// A second handle on tiny_http's listening socket, to end its accept thread.
    backend_listener: std::os::unix::net::UnixListener,
}

struct Handler {
    backend: gate::Backend,
    files: StaticFiles,
    snapshots: SnapshotCell,
    metrics: Option<crate::export::metrics::MetricsCell>,
    alerts: Option<SnapshotCell>,
    history: Option<crate::history::HistoryCell>,
    csp: String,
}

/// Binds the listening socket and starts the threads.
pub fn start(opts: &HttpOptions, snapshots: SnapshotCell) -> Result<HttpServer, String> {
    let listener = std::net::TcpListener::bind(opts.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let local_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (backend_listener, backend) =
        gate::bind_backend().map_err(|e| format!("http backend socket: {e}"))?;
    let server = Arc::new(
        tiny_http::Server::from_listener(
            backend_listener
                .try_clone()
                .map_err(|e| format!("http backend socket: {e}"))?,
            None,
        )
        .map_err(|e| format!("tiny_http: {e}"))?,
    );
    // From here on the server must not be dropped normally (see `stop_backend`).
    let mut guard = StopOnError(Some((Arc::clone(&server), backend_listener)));
    let files = match &opts.www {
        Some(dir) => match StaticFiles::scan(dir) {
            Ok(f) => {
                log::info!("serving {} files from {}", f.len(), dir.display());
                f
            }
            Err(e) => {
                log::warn!("map page files not available ({e}); serving a placeholder page");
                StaticFiles::default()
            }
        },
        None => StaticFiles::default(),
    };
    let img = match &opts.tiles_origin {
        Some(o) => format!("'self' data: {o}"),
        None => "'self' data:".to_string(),
    };
    let hosts = host::HostPolicy::new(local_addr, host::hostname().as_deref(), &opts.allow_hosts);
    let handler = Arc::new(Handler {
        backend: backend.clone(),
        files,
        snapshots,
        metrics: opts.metrics.clone(),
        alerts: opts.alerts.clone(),
        history: opts.history.clone(),
        csp: format!(
            "default-src 'self'; img-src {img}; style-src 'self'; base-uri 'none'; \
             form-action 'none'; object-src 'none'; {}",
            hosts.frame_ancestors()
        ),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    {
        let stop = Arc::clone(&stop);
        threads.push(
            spawn_thread(
                "http-gate".into(),
                256 << 10,
                Box::new(move || gate::run(listener, backend, hosts, stop)),
            )
            .map_err(|e| e.to_string())?,
        );
    }
    for i in 0..gate::MAX_IN_FLIGHT {
        let server = Arc::clone(&server);
        let handler = Arc::clone(&handler);
        threads.push(
            spawn_thread(
                format!("http-{i}"),
                // gzip (miniz_oxide) needs more than a small stack in debug builds.
                1 << 20,
                Box::new(move || {
                    while let Ok(rq) = server.recv() {
                        handler.handle(rq);
                    }
                }),
            )
            .map_err(|e| e.to_string())?,
        );
    }
    let (server, backend_listener) = guard.0.take().expect("set above");
    Ok(HttpServer {
        local_addr,
        stop,
        server: Some(server),
        threads,
        backend_listener,
    })
}

/// Starts a named thread: every thread of connmap's own goes through here, so that std's
/// spawning code is in the binary once (for a boxed closure) rather than once per closure type.
#[inline(never)]
pub fn spawn_thread(
    name: String,
    stack: usize,
    f: Box<dyn FnOnce() + Send>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name)
        .stack_size(stack)
        .spawn(f)
}

/// Ends tiny_http's accept thread and leaves the server undropped: tiny_http's `Drop` wakes
/// its accept thread by connecting to the socket's *path* and panics on an abstract address.
/// Shutting the listening socket down makes the blocked `accept` fail, upon which that thread
/// ends by itself; the few bytes of the `Server` value are left behind once per server.
fn stop_backend(server: Arc<tiny_http::Server>, listener: &std::os::unix::net::UnixListener) {
    use std::os::fd::AsRawFd;
    crate::logging::http_stopping();
    // SAFETY: shutdown(2) on a socket this value owns.
    unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) };
    std::mem::forget(server);
}

/// `start` failing half way: the same stop.
struct StopOnError(Option<(Arc<tiny_http::Server>, std::os::unix::net::UnixListener)>);

impl Drop for StopOnError {
    fn drop(&mut self) {
        if let Some((server, listener)) = self.0.take() {
            server.unblock();
            stop_backend(server, &listener);
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The gate sleeps in accept(): one connection wakes it to see `stop`.
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = std::net::TcpStream::connect_timeout(&wake, std::time::Duration::from_secs(1));
        if let Some(server) = &self.server {
            for _ in 0..gate::MAX_IN_FLIGHT {
                server.unblock();
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(server) = self.server.take() {
            stop_backend(server, &self.backend_listener);
        }
    }
}

type Body = Box<dyn Read + Send>;

/// Bytes shared with a response body: a snapshot's, a rendered /history.json's.
trait Shared: Send + Sync {
    fn bytes(&self, gzip: bool) -> &[u8];
}

impl Shared for Snapshot {
    fn bytes(&self, gzip: bool) -> &[u8] {
        if gzip {
            self.gzip()
        } else {
            &self.json
        }
    }
}

impl Shared for crate::history::json::Rendered {
    fn bytes(&self, gzip: bool) -> &[u8] {
        if gzip {
            self.gzip()
        } else {
            &self.json
        }
    }
}

/// A body held in memory (texts of status answers, /metrics, the placeholder page, the empty
/// body of a 304): through `SharedBody` too.
impl Shared for Vec<u8> {
    fn bytes(&self, _gzip: bool) -> &[u8] {
        self
    }
}

impl Shared for &'static str {
    fn bytes(&self, _gzip: bool) -> &[u8] {
        self.as_bytes()
    }
}

/// `bytes` as a response body.
fn body_of(bytes: impl Shared + 'static) -> Body {
    Box::new(SharedBody {
        src: Arc::new(bytes),
        gzip: false,
        pos: 0,
    })
}

/// Reads shared bytes without copying them (one `Read` impl for every body but a file's: each
/// impl brings its own copies of `Read`'s provided methods into the binary).
struct SharedBody {
    src: Arc<dyn Shared>,
    gzip: bool,
    pos: usize,
}

impl Read for SharedBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let all = self.src.bytes(self.gzip);
        let rest = all.get(self.pos..).unwrap_or(&[]);
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

/// Decodes `%XX`; `None` for malformed escapes, NUL, or non-UTF-8. (`percent-encoding`
/// passes a `%` that starts no escape through as it is: refused here.)
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let malformed = b.iter().enumerate().any(|(i, &c)| {
        c == b'%'
            && !b
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed {
        return None;
    }
    let out = percent_encoding::percent_decode(b).decode_utf8().ok()?;
    (!out.contains('\0')).then(|| out.into_owned())
}

/// The path part of a request target, decoded, or `None` if it is not a plain absolute path
/// (traversal, backslashes, empty segments, encoded slashes or NULs all end here).
pub fn clean_path(target: &str) -> Option<String> {
    let raw = target.split(['?', '#']).next().unwrap_or("");
    if !raw.starts_with('/') {
        return None;
    }
    let path = percent_decode(raw)?;
    if path.contains('\\') || path.contains("//") {
        return None;
    }
    if path
        .split('/')
        .any(|seg| seg == ".." || seg == "." || seg.starts_with('.') && !seg.is_empty())
    {
        return None;
    }
    Some(path)
}

fn accepts_gzip(rq: &Request) -> bool {
    rq.headers()
        .iter()
        .filter(|h| h.field.equiv("Accept-Encoding"))
        .flat_map(|h| h.value.as_str().split(','))
        .any(|tok| {
            let mut parts = tok.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            // `q=0`, `q=0.000`, `Q = 0.0`: any weight of zero refuses the coding.
            let zero_q = parts.any(|p| {
                let p = p.replace(' ', "").to_ascii_lowercase();
                p.strip_prefix("q=")
                    .and_then(|v| v.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !zero_q
        })
}

/// Whether the request has an Accept-Encoding header at all.
fn names_codings(rq: &Request) -> bool {
    rq.headers()
        .iter()
        .any(|h| h.field.equiv("Accept-Encoding"))
}

fn if_none_match(rq: &Request, etag: &str) -> bool {
    rq.headers()
        .iter()
        .filter(|h| h.field.equiv("If-None-Match"))
        .flat_map(|h| h.value.as_str().split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t == etag || t.strip_prefix("W/") == Some(etag)
        })
}

impl Handler {
    fn handle(&self, rq: Request) {
        let through_gate = rq
            .headers()
            .iter()
            .find(|h| {
                h.field
                    .as_str()
                    .as_str()
                    .eq_ignore_ascii_case(gate::GATE_HEADER)
            })
            .map(|h| h.value.as_str());
        if !self.backend.admits(through_gate) {
            // Someone else on this host found the abstract socket: nothing for them.
            // (a body like every other response's: no second copy of tiny_http's response
            // code for an empty body type)
            let _ = rq.respond(self.status(403, "Forbidden"));
            return;
        }
        let response = self.route(&rq);
        if let Err(e) = rq.respond(response) {
            log::debug!("http: {e}");
        }
    }

    fn common(&self, mut r: Response<Body>) -> Response<Body> {
        for (n, v) in [
            ("Content-Security-Policy", self.csp.as_str()),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ] {
            // No X-Frame-Options: LuCI frames the page from another port of the same host
            // (the CSP's frame-ancestors names the router's own origins).
            if let Some(h) = header(n, v) {
                r.add_header(h);
            }
        }
        r
    }

    /// A response with its headers (unbuildable ones dropped) and the common security headers.
    fn build(
        &self,
        code: u16,
        body: Body,
        len: usize,
        headers: Vec<Option<Header>>,
    ) -> Response<Body> {
        let mut r: Response<Body> = Response::new(StatusCode(code), vec![], body, Some(len), None);
        for h in headers.into_iter().flatten() {
            r.add_header(h);
        }
        self.common(r)
    }

    fn status(&self, code: u16, text: &str) -> Response<Body> {
        let body = format!("{text}\n").into_bytes();
        let len = body.len();
        let content_type = header("Content-Type", "text/plain; charset=utf-8");
        self.build(code, body_of(body), len, vec![content_type])
    }

    fn route(&self, rq: &Request) -> Response<Body> {
        if !matches!(rq.method(), Method::Get | Method::Head) {
            let mut r = self.status(405, "Method Not Allowed");
            if let Some(h) = header("Allow", "GET, HEAD") {
                r.add_header(h);
            }
            return r;
        }
        let Some(path) = clean_path(rq.url()) else {
            return self.status(404, "Not Found");
        };
        match path.as_str() {
            "/markers.json" => self.markers(rq, self.snapshots.get()),
            "/alerts.json" => match &self.alerts {
                Some(cell) => self.markers(rq, cell.get()),
                None => self.status(404, "Not Found"),
            },
            "/metrics" => self.metrics(rq),
            "/history.json" => self.history(rq),
            "/" | "/index.html" if self.files.get("/index.html").is_none() => self.build(
                200,
                body_of(PLACEHOLDER),
                PLACEHOLDER.len(),
                vec![
                    header("Content-Type", "text/html; charset=utf-8"),
                    header("Cache-Control", "no-cache"),
                ],
            ),
            "/" => self.file(rq, "/index.html"),
            p => self.file(rq, p),
        }
    }

    /// A published JSON document (markers.json, alerts.json): ETag/304, gzip when accepted.
    fn markers(&self, rq: &Request, snap: Arc<Snapshot>) -> Response<Body> {
        let mut headers = vec![
            header("ETag", &snap.etag),
            header("Cache-Control", "no-cache"),
            header("Vary", "Accept-Encoding"),
        ];
        if if_none_match(rq, &snap.etag) {
            return self.build(304, body_of(Vec::new()), 0, headers);
        }
        let gzip = accepts_gzip(rq);
        let len = if gzip {
            snap.gzip().len()
        } else {
            snap.json.len()
        };
        headers.push(header("Content-Type", "application/json"));
        if gzip {
            headers.push(header("Content-Encoding", "gzip"));
        }
        self.build(
            200,
            Box::new(SharedBody {
                src: snap,
                gzip,
                pos: 0,
            }),
            len,
            headers,
        )
    }

    /// `/history.json?from=&to=&host=` (src/history/json.rs): rendered on this thread from
    /// the published buckets, a few bodies cached; ETag/304 and gzip as for markers.json.
    fn history(&self, rq: &Request) -> Response<Body> {
        use crate::history::json;
        let Some(cell) = &self.history else {
            return self.status(404, "Not Found (history is off: --history-top 0)");
        };
        let query = rq.url().split_once('?').map_or("", |(_, q)| q);
        let query = query.split('#').next().unwrap_or("");
        let q = match json::parse_query(query) {
            Ok(q) => q,
            Err(e) => return self.status(400, &format!("Bad Request: {e}")),
        };
        let view = cell.get();
        let etag = json::etag(&view, &q);
        let mut headers = vec![
            header("ETag", &etag),
            header("Cache-Control", "no-cache"),
            header("Vary", "Accept-Encoding"),
        ];
        if if_none_match(rq, &etag) {
            return self.build(304, body_of(Vec::new()), 0, headers);
        }
        let body = json::get(&view, &q, &cell.cache);
        let gzip = accepts_gzip(rq);
        let len = if gzip {
            body.gzip().len()
        } else {
            body.json.len()
        };
        headers.push(header("Content-Type", "application/json"));
        if gzip {
            headers.push(header("Content-Encoding", "gzip"));
        }
        let body = SharedBody {
            src: body,
            gzip,
            pos: 0,
        };
        self.build(200, Box::new(body), len, headers)
    }

    /// `/metrics`: rendered per scrape from the last snapshot's aggregate (no ETag).
    fn metrics(&self, rq: &Request) -> Response<Body> {
        let Some(cell) = &self.metrics else {
            return self.status(404, "Not Found");
        };
        let accept = rq
            .headers()
            .iter()
            .find(|h| h.field.equiv("Accept"))
            .map(|h| h.value.as_str());
        let (content_type, text) = cell.scrape(accept);
        let body = text.into_bytes();
        let len = body.len();
        self.build(
            200,
            body_of(body),
            len,
            vec![
                header("Content-Type", content_type),
                header("Cache-Control", "no-store"),
            ],
        )
    }

    fn file(&self, rq: &Request, path: &str) -> Response<Body> {
        let Some(f) = self.files.get(path) else {
            return self.status(404, "Not Found");
        };
        // A file kept only gzipped (the OpenWrt package installs the page so) goes as it is to
        // every client that accepts gzip or names no coding at all (RFC 9110, 12.5.3: then any
        // coding is acceptable); a client that refuses gzip gets 406.
        let gzip = f.gz.is_some() && (accepts_gzip(rq) || f.gz_only && !names_codings(rq));
        if f.gz_only && !gzip {
            return self.status(
                406,
                "Not Acceptable: this file is stored gzip-compressed only \
                 (send Accept-Encoding: gzip, e.g. curl --compressed)",
            );
        }
        let disk = if gzip {
            f.gz.as_ref().unwrap_or(&f.path)
        } else {
            &f.path
        };
        let (file, meta) = match std::fs::File::open(disk).and_then(|h| Ok((h.metadata()?, h))) {
            Ok((m, h)) => (h, m),
            Err(e) => {
                log::warn!("www: {}: {e}", disk.display());
                return self.status(404, "Not Found");
            }
        };
        let len = meta.len();
        self.file_response(rq, f, &meta, gzip, Box::new(file.take(len)), len)
    }

    /// 304 or 200 for a static file: `meta` is the file's on disk (mtime), `len` the bytes sent.
    fn file_response(
        &self,
        rq: &Request,
        f: &files::StaticFile,
        meta: &std::fs::Metadata,
        gzip: bool,
        body: Body,
        len: u64,
    ) -> Response<Body> {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let etag = format!(
            "\"f{:x}-{:x}{}\"",
            mtime,
            len,
            if gzip { "-gz" } else { "" }
        );
        let cache = if f.immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        let mut headers = vec![
            header("Cache-Control", cache),
            header("ETag", &etag),
            header("Vary", "Accept-Encoding"),
        ];
        if if_none_match(rq, &etag) {
            return self.build(304, body_of(Vec::new()), 0, headers);
        }
        headers.push(header("Content-Type", f.content_type));
        if gzip {
            headers.push(header("Content-Encoding", "gzip"));
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.build(200, body, len, headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(clean_path("/"), Some("/".into()));
        assert_eq!(clean_path("/a/b.js?x=1#y"), Some("/a/b.js".into()));
        assert_eq!(clean_path("/a%20b"), Some("/a b".into()));
        for bad in [
            "",
            "a",
            "/../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/a/%2E%2E/b",
            "/..%2fetc",
            "/a%5c..%5cb",
            "/a//b",
            "/%00",
            "/%zz",
            "/%c0%ae%c0%ae/",
            "/.git/config",
            "/a/./b",
            "/%2e/x",
        ] {
            assert_eq!(clean_path(bad), None, "{bad}");
        }
    }

    fn read_all(stream: &mut impl std::io::Read) -> String {
        let mut out = String::new();
        let _ = stream.read_to_string(&mut out);
        out
    }

    /// The private socket is abstract (no file anywhere) and answers only the gate: a direct
    /// connection, with or without a made-up token, gets 403; a token a client sends to the
    /// gate is dropped and replaced; stopping the server ends the socket without a panic.
    #[test]
    fn backend_answers_only_the_gate() {
        use std::io::Write;
        use std::os::linux::net::SocketAddrExt;
        for _ in 0..5 {
            let cell = SnapshotCell::new(Snapshot::new(b"{}".to_vec(), 1, 0));
            let opts = HttpOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                www: None,
                tiles_origin: None,
                allow_hosts: vec![],
                metrics: None,
                alerts: None,
                history: None,
            };
            let server = start(&opts, cell).unwrap();
            let addr = server.backend_listener.local_addr().unwrap();
            assert!(addr.as_pathname().is_none() && addr.as_abstract_name().is_some());
            for forged in ["", "X-Connmap-Gate: 00000000000000000000000000000000\r\n"] {
                let mut s = std::os::unix::net::UnixStream::connect_addr(&addr).unwrap();
                write!(
                    s,
                    "GET /markers.json HTTP/1.1\r\n{forged}Connection: close\r\n\r\n"
                )
                .unwrap();
                let r = read_all(&mut s);
                assert!(r.starts_with("HTTP/1.1 403"), "{r}");
            }
            let mut c = std::net::TcpStream::connect(server.local_addr).unwrap();
            write!(
                c,
                "GET /markers.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Connmap-Gate: 00000000000000000000000000000000\r\n\r\n"
            )
            .unwrap();
            let r = read_all(&mut c);
            assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("{}"), "{r}");
            drop(server);
            // the accept thread closes its copy of the socket shortly after
            let mut gone = false;
            for _ in 0..100 {
                if std::os::unix::net::UnixStream::connect_addr(&addr).is_err() {
                    gone = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            assert!(gone, "the backend socket outlived the server");
        }
    }
}
