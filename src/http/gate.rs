//! The gate: connmap's TCP front door, in front of tiny_http.
//!
//! tiny_http reads request headers without any size limit and keeps a thread per connection
//! (upstream issue tiny-http#56: "protect it with a filtering reverse proxy"). On a router a
//! single LAN client could exhaust memory or threads that way, so every connection first goes
//! through this gate, which runs all client sockets on one thread with a smol executor:
//!
//! - connection limits: `MAX_CONNECTIONS` in all, `MAX_PER_CLIENT` per client address
//!   (over either: `503`, closed). At the total limit a new connection first evicts the
//!   oldest one whose request head is still incomplete, so clients that open connections and
//!   send nothing (or half a head) slow only themselves, not every other client;
//! - the request head must arrive whole within `HEAD_TIMEOUT` and `MAX_HEAD` bytes (`408` /
//!   `431` otherwise), as ASCII HTTP/1.x that `httparse` accepts (`400` otherwise);
//! - its `Host` (and the authority of an absolute-form target) must name this router
//!   (`host.rs`: the defence against DNS rebinding): `421` without a body otherwise, `400`
//!   when an HTTP/1.1 request has none;
//! - the head is passed on sanitised: hop-by-hop and body headers are dropped, `Connection:
//!   close` added, and no request body is ever forwarded (only GET and HEAD have a meaning
//!   here), so nothing can be smuggled past it;
//! - tiny_http answers on a private Unix socket; the answer is copied back to the client within
//!   `RESPONSE_TIMEOUT`, so a slow reader holds one task, not the server.
//!
//! The private socket is a Linux *abstract* Unix socket with a random name: it needs no
//! directory, so it works where nothing is writable (procd's ujail gives the daemon a read-only
//! root without `/tmp`). An abstract name has no file permissions and any process in the same
//! network namespace can see it (`/proc/net/unix`), so the gate adds a per-process random token
//! header (`GATE_HEADER`) to every request it forwards, drops that header from what clients
//! send, and the responders answer anything without the token with a bare `403 Forbidden`.
//!
//! One request per connection: the page polls every few seconds, a new LAN connection is cheap.

use super::host::HostPolicy;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::lock::Semaphore;
use smol::net::unix::UnixStream;
use smol::net::{TcpListener, TcpStream};
use smol::{future, Timer};
use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const MAX_HEAD: usize = 8192;
/// Header lines in a request head (more: `431`).
pub const MAX_HEADERS: usize = 100;
pub const MAX_CONNECTIONS: usize = 256;
pub const MAX_PER_CLIENT: usize = 32;
/// Requests being answered by tiny_http at once (= its responder threads).
pub const MAX_IN_FLIGHT: usize = 8;
/// Of those, at most this many for one client address (a slow reader holds its responder
/// until its answer is delivered or `RESPONSE_TIMEOUT` ends it).
pub const MAX_IN_FLIGHT_PER_CLIENT: usize = 2;
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers the gate never passes on (the gate decides framing and connection handling).
const DROPPED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
    GATE_HEADER,
];

/// The header that carries the gate's token to tiny_http (lower case; see the module doc).
pub const GATE_HEADER: &str = "x-connmap-gate";

#[derive(Default)]
struct Limits {
    total: usize,
    /// Open connections and the in-flight allowance of each client address (at most
    /// `MAX_CONNECTIONS` addresses: a Vec too).
    per_client: Vec<(IpAddr, usize, Rc<Semaphore>)>,
    /// Connections still reading their request head, oldest first (ids only grow), each with
    /// the semaphore that tells it it was evicted (a permit added). At most `MAX_CONNECTIONS`:
    /// a Vec, searched only when a head is complete, costs less code than a map (mipsel).
    reading_head: Vec<(u64, Rc<Semaphore>)>,
    next_id: u64,
}

/// Counts a connection for as long as it lives.
struct Slot {
    limits: Rc<RefCell<Limits>>,
    ip: IpAddr,
    id: u64,
    /// This client's share of the responders: a few slow readers on one address cannot hold
    /// all of them.
    client_in_flight: Rc<Semaphore>,
}

impl Slot {
    /// A slot for a new connection from `ip`, and the semaphore that gets a permit when it is
    /// evicted.
    /// At the total limit the oldest connection still reading its head is evicted for it
    /// (it ends on the next turn of the executor: until then the count is one over).
    fn take(limits: &Rc<RefCell<Limits>>, ip: IpAddr) -> Option<(Slot, Rc<Semaphore>)> {
        let mut l = limits.borrow_mut();
        let at = l.per_client.iter().position(|c| c.0 == ip);
        let mine = at.map_or(0, |i| l.per_client[i].1);
        if mine >= MAX_PER_CLIENT {
            return None;
        }
        if l.total >= MAX_CONNECTIONS {
            if l.reading_head.is_empty() {
                return None;
            }
            let (_, oldest) = l.reading_head.remove(0);
            oldest.add_permits(1);
        }
        l.total += 1;
        let i = at.unwrap_or_else(|| {
            let share = Rc::new(Semaphore::new(MAX_IN_FLIGHT_PER_CLIENT));
            l.per_client.push((ip, 0, share));
            l.per_client.len() - 1
        });
        l.per_client[i].1 += 1;
        let client_in_flight = Rc::clone(&l.per_client[i].2);
        let id = l.next_id;
        l.next_id += 1;
        let evicted = Rc::new(Semaphore::new(0));
        l.reading_head.push((id, Rc::clone(&evicted)));
        Some((
            Slot {
                limits: Rc::clone(limits),
                ip,
                id,
                client_in_flight,
            },
            evicted,
        ))
    }

    /// The head is in: this connection can no longer be evicted.
    fn head_done(&self) {
        self.limits
            .borrow_mut()
            .reading_head
            .retain(|(id, _)| *id != self.id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut l = self.limits.borrow_mut();
        l.total -= 1;
        l.reading_head.retain(|(id, _)| *id != self.id);
        if let Some(i) = l.per_client.iter().position(|c| c.0 == self.ip) {
            l.per_client[i].1 -= 1;
            if l.per_client[i].1 == 0 {
                l.per_client.swap_remove(i);
            }
        }
    }
}

/// Where the gate reaches tiny_http, and the token that proves a request came through it.
#[derive(Clone)]
pub struct Backend {
    addr: std::os::unix::net::SocketAddr,
    token: String,
}

impl Backend {
    /// Whether a request's gate header value is this process's token.
    pub fn admits(&self, value: Option<&str>) -> bool {
        value.is_some_and(|v| {
            // (constant time: the comparison does not tell how much of a guess was right)
            v.len() == self.token.len()
                && v.bytes()
                    .zip(self.token.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
    }
}

/// 128 random bits as hex, from the kernel (getrandom needs no /dev in a jail).
fn random_hex() -> String {
    let mut b = [0u8; 16];
    // SAFETY: getrandom writes at most `b.len()` bytes into `b`.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        // Kernels before 3.17: time and addresses (the token then only keeps honest callers
        // out; the name still has to be unique, which this gives).
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mix = t ^ ((std::process::id() as u128) << 64) ^ (&b as *const _ as usize as u128);
        b = mix.to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Binds tiny_http's private listener: an abstract Unix socket with a random name (no file,
/// no directory, nothing to clean up or hand over when dropping root).
pub fn bind_backend() -> std::io::Result<(std::os::unix::net::UnixListener, Backend)> {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("connmap-http-{}-{}", std::process::id(), random_hex());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr)?;
    Ok((
        listener,
        Backend {
            addr,
            token: random_hex(),
        },
    ))
}

/// Runs the gate until `stop` is set (and a connection wakes it). Blocks: run it on its own
/// thread.
pub fn run(
    listener: std::net::TcpListener,
    backend: Backend,
    hosts: HostPolicy,
    stop: Arc<AtomicBool>,
) {
    let ex = smol::LocalExecutor::new();
    let limits = Rc::new(RefCell::new(Limits::default()));
    let hosts = Rc::new(hosts);
    let in_flight = Rc::new(Semaphore::new(MAX_IN_FLIGHT));
    future::block_on(ex.run(async {
        let listener = match TcpListener::try_from(listener) {
            Ok(l) => l,
            Err(e) => {
                log::error!("http: cannot use the listening socket: {e}");
                return;
            }
        };
        // Asleep until a client connects: no timer ticks while idle. Whoever sets `stop`
        // then connects once to wake this loop (`HttpServer`'s drop).
        while !stop.load(Ordering::Relaxed) {
            let accepted = listener.accept().await;
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let (mut stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    log::warn!("http: accept failed: {e}");
                    Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let Some((slot, evicted)) = Slot::take(&limits, peer.ip()) else {
                ex.spawn(async move {
                    let _ = future::or(
                        async {
                            let _ = stream.write_all(&simple(503, "Service Unavailable")).await;
                        },
                        async {
                            Timer::after(Duration::from_secs(1)).await;
                        },
                    )
                    .await;
                })
                .detach();
                continue;
            };
            let backend = backend.clone();
            let in_flight = Rc::clone(&in_flight);
            let hosts = Rc::clone(&hosts);
            ex.spawn(async move {
                serve(stream, &backend, &slot, evicted, &in_flight, &hosts).await;
                drop(slot);
            })
            .detach();
        }
    }));
}

/// A complete minimal response the gate sends by itself.
pub fn simple(code: u16, reason: &str) -> Vec<u8> {
    if code == 421 {
        // to a page that is not ours: not even an error text
        return format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
    }
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\n\r\n{reason}\n",
        reason.len() + 1
    )
    .into_bytes()
}

async fn serve(
    mut client: TcpStream,
    backend: &Backend,
    slot: &Slot,
    evicted: Rc<Semaphore>,
    in_flight: &Semaphore,
    hosts: &HostPolicy,
) {
    let head = future::or(read_head(&mut client), async {
        Timer::after(HEAD_TIMEOUT).await;
        Err(HeadError::Timeout)
    });
    let head = match future::or(head, async {
        // a permit appears when this connection is evicted
        let _ = evicted.acquire().await;
        Err(HeadError::Closed)
    })
    .await
    {
        Ok(h) => h,
        Err(HeadError::Closed) => return,
        Err(e) => {
            let (code, reason) = e.status();
            let _ = future::or(client.write_all(&simple(code, reason)), async {
                Timer::after(Duration::from_secs(2)).await;
                Ok(())
            })
            .await;
            return;
        }
    };
    slot.head_done();
    let forwarded = match sanitize(&head, hosts) {
        Ok(f) => f,
        Err(e) => {
            let (code, reason) = e.status();
            let _ = client.write_all(&simple(code, reason)).await;
            return;
        }
    };
    // Waiting here happens before the response timer starts; the head timer bounded the rest.
    let _mine = slot.client_in_flight.acquire().await;
    let _permit = in_flight.acquire().await;
    let relayed = future::or(relay(&mut client, backend, &forwarded), async {
        Timer::after(RESPONSE_TIMEOUT).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "client too slow",
        ))
    })
    .await;
    if let Err(e) = relayed {
        log::debug!("http: response not delivered: {e}");
    }
}

async fn relay(client: &mut TcpStream, backend: &Backend, head: &[u8]) -> std::io::Result<()> {
    // A local Unix connect does not wait on the network: done blocking, then made async.
    let mut upstream =
        UnixStream::try_from(std::os::unix::net::UnixStream::connect_addr(&backend.addr)?)?;
    // The sanitised head ends with an empty line: the token goes just before it.
    let body = head.strip_suffix(b"\r\n").unwrap_or(head);
    let mut forwarded = Vec::with_capacity(head.len() + 64);
    forwarded.extend_from_slice(body);
    forwarded.extend_from_slice(format!("{GATE_HEADER}: {}\r\n\r\n", backend.token).as_bytes());
    upstream.write_all(&forwarded).await?;
    // tiny_http will not send `Connection: close` itself; keep-alive clients need it, since
    // the gate serves one request per connection. Our own backend's head is small and sane.
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    loop {
        let n = upstream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let parsed = httparse::Response::new(&mut [httparse::EMPTY_HEADER; 32]).parse(&buf);
        match parsed {
            Ok(httparse::Status::Complete(end)) => {
                if buf[..end].ends_with(b"\r\n\r\n") {
                    buf.splice(end - 2..end - 2, b"Connection: close\r\n".iter().copied());
                }
                break;
            }
            Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => {}
            _ => break,
        }
    }
    client.write_all(&buf).await?;
    smol::io::copy(&mut upstream, &mut *client).await?;
    client.flush().await?;
    let _ = client.shutdown(std::net::Shutdown::Write);
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    Closed,
    Timeout,
    TooLarge,
    Bad,
    /// The `Host` (or the target's authority) is not one of this router's names.
    Misdirected,
}

impl HeadError {
    fn status(&self) -> (u16, &'static str) {
        match self {
            HeadError::Closed | HeadError::Bad => (400, "Bad Request"),
            HeadError::Timeout => (408, "Request Timeout"),
            HeadError::TooLarge => (431, "Request Header Fields Too Large"),
            HeadError::Misdirected => (421, "Misdirected Request"),
        }
    }
}

async fn read_head(client: &mut TcpStream) -> Result<Vec<u8>, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = client
            .read(&mut chunk)
            .await
            .map_err(|_| HeadError::Closed)?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf)? {
            buf.truncate(end);
            return Ok(buf);
        }
        if buf.len() > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
    }
}

fn parse_head<'h, 'b>(
    rq: &mut httparse::Request<'h, 'b>,
    buf: &'b [u8],
) -> Result<Option<usize>, HeadError> {
    match rq.parse(buf) {
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(_) => Err(HeadError::Bad),
    }
}

/// Length of the request head at the start of `buf` (`None`: not complete yet). Malformed
/// heads are refused as soon as their first bad byte arrives.
fn head_end(buf: &[u8]) -> Result<Option<usize>, HeadError> {
    parse_head(
        &mut httparse::Request::new(&mut [httparse::EMPTY_HEADER; MAX_HEADERS]),
        buf,
    )
}

/// `(authority, origin-form path)` of an absolute-form target (`http://host/path?q`).
fn absolute_form(target: &str) -> Option<(&str, String)> {
    let scheme_end = target.find("://")?;
    if !matches!(
        target[..scheme_end].to_ascii_lowercase().as_str(),
        "http" | "https"
    ) {
        return None;
    }
    let rest = &target[scheme_end + 3..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Some((authority, path))
}

/// A header value as text (the head is ASCII), without surrounding whitespace.
fn text(v: &[u8]) -> Result<&str, HeadError> {
    std::str::from_utf8(v)
        .map(str::trim)
        .map_err(|_| HeadError::Bad)
}

/// Checks a request head and rewrites it for tiny_http. Pure: unit-tested and fuzzed.
pub fn sanitize(head: &[u8], hosts: &HostPolicy) -> Result<Vec<u8>, HeadError> {
    if head.len() > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    if !head.is_ascii() {
        return Err(HeadError::Bad);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut rq = httparse::Request::new(&mut headers);
    if parse_head(&mut rq, head)? != Some(head.len()) {
        return Err(HeadError::Bad); // incomplete, or bytes after the head
    }
    let (Some(method), Some(target), Some(version)) = (rq.method, rq.path, rq.version) else {
        return Err(HeadError::Bad);
    };
    let mut host = None;
    for h in rq.headers.iter() {
        if h.name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(HeadError::Bad); // RFC 9112, 3.2: exactly one
            }
            host = Some(text(h.value)?);
        }
    }
    let absolute = absolute_form(target);
    if let Some((authority, _)) = &absolute {
        if !hosts.allows(authority) {
            return Err(HeadError::Misdirected);
        }
    }
    match host {
        Some(h) if !hosts.allows(h) => return Err(HeadError::Misdirected),
        None if version == 1 => return Err(HeadError::Bad),
        _ => {}
    }
    let target = absolute.as_ref().map_or(target, |(_, path)| path.as_str());
    let mut out = Vec::with_capacity(head.len() + 32);
    out.extend_from_slice(format!("{method} {target} HTTP/1.1\r\n").as_bytes());
    for h in rq.headers.iter() {
        if DROPPED_HEADERS
            .iter()
            .any(|d| h.name.eq_ignore_ascii_case(d))
        {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(text(h.value)?.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_cannot_send_the_gate_token() {
        let out = sanitize(
            b"GET / HTTP/1.1\r\nHost: openwrt\r\nX-Connmap-Gate: abc\r\nx-connmap-gate: d\r\n\r\n",
            &hosts(),
        )
        .unwrap();
        assert_eq!(
            out,
            b"GET / HTTP/1.1\r\nHost: openwrt\r\nConnection: close\r\n\r\n"
        );
        let (_l, b) = bind_backend().unwrap();
        assert!(b.admits(Some(&b.token.clone())));
        assert!(!b.admits(None) && !b.admits(Some("")) && !b.admits(Some(&b.token[1..])));
        let (_l2, b2) = bind_backend().unwrap();
        assert_ne!(b.token, b2.token);
    }

    fn hosts() -> HostPolicy {
        HostPolicy::new(
            "192.168.1.1:8090".parse().unwrap(),
            Some("openwrt"),
            &["map.example".into()],
        )
    }

    #[test]
    fn sanitizes_a_normal_request() {
        let out = sanitize(
            b"GET /markers.json HTTP/1.1\r\nHost: 192.168.1.1:8090\r\nConnection: keep-alive\r\n\
              Content-Length: 5\r\nTransfer-Encoding: chunked\r\nIf-None-Match:  \"a\" \r\n\r\n",
            &hosts(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /markers.json HTTP/1.1\r\nHost: 192.168.1.1:8090\r\nIf-None-Match: \"a\"\r\n\
             Connection: close\r\n\r\n"
        );
    }

    #[test]
    fn refuses_bad_heads() {
        for bad in [
            &b"GET / HTTP/2.0\r\nHost: openwrt\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\nHost: openwrt\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\nHost: openwrt\r\n\r\n",
            b"G@T / HTTP/1.1\r\nHost: openwrt\r\n\r\n",
            b"GET /\x01 HTTP/1.1\r\nHost: openwrt\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: openwrt\r\n folded: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: openwrt\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: openwrt\r\nX: a\x00b\r\n\r\n",
            b"GET /\xc3\xa9 HTTP/1.1\r\nHost: openwrt\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: openwrt\r\n",
            b"GET / HTTP/1.1\r\nHost: openwrt\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"",
        ] {
            assert!(
                sanitize(bad, &hosts()).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let many: String = (0..150).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(
            sanitize(
                format!("GET / HTTP/1.1\r\nHost: openwrt\r\n{many}\r\n").as_bytes(),
                &hosts()
            ),
            Err(HeadError::TooLarge)
        );
    }

    #[test]
    fn host_must_name_the_router() {
        let ok = |h: &[u8]| sanitize(h, &hosts());
        assert!(ok(b"GET / HTTP/1.1\r\nHost: OpenWrt.LAN.:8090\r\n\r\n").is_ok());
        assert!(ok(b"GET / HTTP/1.1\r\nhost: map.example\r\n\r\n").is_ok());
        assert!(
            ok(b"GET / HTTP/1.0\r\n\r\n").is_ok(),
            "HTTP/1.0 needs no Host"
        );
        for (head, want) in [
            (&b"GET / HTTP/1.1\r\n\r\n"[..], HeadError::Bad),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nHost: openwrt\r\n\r\n",
                HeadError::Bad,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n",
                HeadError::Misdirected,
            ),
            (
                b"GET / HTTP/1.0\r\nHost: evil.example\r\n\r\n",
                HeadError::Misdirected,
            ),
            (b"GET / HTTP/1.1\r\nHost: \r\n\r\n", HeadError::Misdirected),
            (
                b"GET http://evil.example/markers.json HTTP/1.1\r\nHost: openwrt\r\n\r\n",
                HeadError::Misdirected,
            ),
            (
                b"GET HTTP://192.168.1.1@evil.example/ HTTP/1.1\r\nHost: openwrt\r\n\r\n",
                HeadError::Misdirected,
            ),
        ] {
            assert_eq!(ok(head), Err(want), "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn absolute_form_becomes_origin_form() {
        let out = sanitize(
            b"GET http://192.168.1.1:8090/markers.json?x HTTP/1.1\r\nHost: openwrt\r\n\r\n",
            &hosts(),
        )
        .unwrap();
        assert!(out.starts_with(b"GET /markers.json?x HTTP/1.1\r\n"));
        let out = sanitize(b"GET https://openwrt HTTP/1.0\r\n\r\n", &hosts()).unwrap();
        assert!(out.starts_with(b"GET / HTTP/1.1\r\n"));
    }

    #[test]
    fn head_end_and_early_refusal() {
        assert_eq!(
            head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest"),
            Ok(Some(27))
        );
        assert_eq!(head_end(b"GET / HTTP/1.0\n\n"), Ok(Some(16)));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), Ok(None));
        assert_eq!(head_end(b"GET"), Ok(None));
        assert_eq!(head_end(b"G\x01T"), Err(HeadError::Bad));
    }

    #[test]
    fn eviction_takes_the_oldest_connection_still_reading_its_head() {
        let limits = Rc::new(RefCell::new(Limits::default()));
        let ip = |n: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
        let mut slots: Vec<_> = (0..MAX_CONNECTIONS as u32)
            .map(|n| Slot::take(&limits, ip(n / 5)).unwrap())
            .collect();
        // the first one has its head: not evictable
        slots[0].0.head_done();
        let (_new, _rx) = Slot::take(&limits, ip(1000)).expect("evicts one");
        assert!(
            slots[1].1.try_acquire().is_some(),
            "the oldest one still reading is told"
        );
        assert!(slots[0].1.try_acquire().is_none(), "past its head: stays");
        assert!(slots[2].1.try_acquire().is_none());
        assert_eq!(limits.borrow().total, MAX_CONNECTIONS + 1);
        // the evicted one ends: its slot is freed
        slots.remove(1);
        assert_eq!(limits.borrow().total, MAX_CONNECTIONS);
        // when every connection is past its head, a new one is refused
        for (s, _) in &slots {
            s.head_done();
        }
        limits.borrow_mut().reading_head.clear();
        assert!(Slot::take(&limits, ip(1001)).is_none());
    }
}
