//! The gate: connmap's TCP front door, in front of tiny_http.
//!
//! tiny_http reads request headers without any size limit and keeps a thread per connection
//! (upstream issue tiny-http#56: "protect it with a filtering reverse proxy"). On a router a
//! single LAN client could exhaust memory or threads that way, so every connection first goes
//! through this gate, which runs all client sockets on one thread with a smol executor:
//!
//! - connection limits: `MAX_CONNECTIONS` in all, `MAX_PER_CLIENT` per client address
//!   (over either: `503`, closed);
//! - the request head must arrive whole within `HEAD_TIMEOUT` and `MAX_HEAD` bytes (`408` /
//!   `431` otherwise), as ASCII HTTP/1.x with sane header lines (`400` otherwise);
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
//! send, and the responders answer anything without the token with `403` and nothing else.
//!
//! One request per connection: the page polls every few seconds, a new LAN connection is cheap.

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::lock::Semaphore;
use smol::net::unix::UnixStream;
use smol::net::{TcpListener, TcpStream};
use smol::{future, Timer};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const MAX_HEAD: usize = 8192;
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

struct Limits {
    total: usize,
    /// Open connections and the in-flight allowance of each client address.
    per_client: HashMap<IpAddr, (usize, Rc<Semaphore>)>,
}

/// Counts a connection for as long as it lives.
struct Slot {
    limits: Rc<RefCell<Limits>>,
    ip: IpAddr,
    /// This client's share of the responders: a few slow readers on one address cannot hold
    /// all of them.
    client_in_flight: Rc<Semaphore>,
}

impl Slot {
    fn take(limits: &Rc<RefCell<Limits>>, ip: IpAddr) -> Option<Slot> {
        let mut l = limits.borrow_mut();
        let mine = l.per_client.get(&ip).map(|c| c.0).unwrap_or(0);
        if l.total >= MAX_CONNECTIONS || mine >= MAX_PER_CLIENT {
            return None;
        }
        l.total += 1;
        let entry = l
            .per_client
            .entry(ip)
            .or_insert_with(|| (0, Rc::new(Semaphore::new(MAX_IN_FLIGHT_PER_CLIENT))));
        entry.0 += 1;
        let client_in_flight = Rc::clone(&entry.1);
        Some(Slot {
            limits: Rc::clone(limits),
            ip,
            client_in_flight,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut l = self.limits.borrow_mut();
        l.total -= 1;
        if let Some(c) = l.per_client.get_mut(&self.ip) {
            c.0 -= 1;
            if c.0 == 0 {
                l.per_client.remove(&self.ip);
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

/// Runs the gate until `stop` is set. Blocks: run it on its own thread.
pub fn run(listener: std::net::TcpListener, backend: Backend, stop: Arc<AtomicBool>) {
    let ex = smol::LocalExecutor::new();
    let limits = Rc::new(RefCell::new(Limits {
        total: 0,
        per_client: HashMap::new(),
    }));
    let in_flight = Rc::new(Semaphore::new(MAX_IN_FLIGHT));
    future::block_on(ex.run(async {
        let listener = match TcpListener::try_from(listener) {
            Ok(l) => l,
            Err(e) => {
                log::error!("http: cannot use the listening socket: {e}");
                return;
            }
        };
        while !stop.load(Ordering::Relaxed) {
            // Wake up now and then to notice `stop`.
            let accepted = future::or(async { Some(listener.accept().await) }, async {
                Timer::after(Duration::from_millis(250)).await;
                None
            })
            .await;
            let (mut stream, peer) = match accepted {
                None => continue,
                Some(Ok(x)) => x,
                Some(Err(e)) => {
                    // EMFILE and friends: back off instead of spinning.
                    log::warn!("http: accept failed: {e}");
                    Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let Some(slot) = Slot::take(&limits, peer.ip()) else {
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
            ex.spawn(async move {
                serve(stream, &backend, &slot.client_in_flight, &in_flight).await;
                drop(slot);
            })
            .detach();
        }
    }));
}

/// A complete minimal response the gate sends by itself.
pub fn simple(code: u16, reason: &str) -> Vec<u8> {
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
    client_in_flight: &Semaphore,
    in_flight: &Semaphore,
) {
    let head = match future::or(read_head(&mut client), async {
        Timer::after(HEAD_TIMEOUT).await;
        Err(HeadError::Timeout)
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
    let forwarded = match sanitize(&head) {
        Ok(f) => f,
        Err(e) => {
            let (code, reason) = e.status();
            let _ = client.write_all(&simple(code, reason)).await;
            return;
        }
    };
    // Waiting here happens before the response timer starts; the head timer bounded the rest.
    let _mine = client_in_flight.acquire().await;
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
        if let Some(end) = find_head_end(&buf) {
            if buf[..end].ends_with(b"\r\n\r\n") {
                buf.splice(end - 2..end - 2, b"Connection: close\r\n".iter().copied());
            }
            break;
        }
        if buf.len() > MAX_HEAD {
            break;
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
}

impl HeadError {
    fn status(&self) -> (u16, &'static str) {
        match self {
            HeadError::Closed | HeadError::Bad => (400, "Bad Request"),
            HeadError::Timeout => (408, "Request Timeout"),
            HeadError::TooLarge => (431, "Request Header Fields Too Large"),
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
        let scan_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_head_end(&buf[scan_from..]) {
            buf.truncate(scan_from + end);
            return Ok(buf);
        }
        if buf.len() > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
    }
}

/// Offset just past the first `\r\n\r\n` (or bare `\n\n`).
fn find_head_end(b: &[u8]) -> Option<usize> {
    (0..b.len()).find_map(|i| {
        if b[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if b[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        }
    })
}

/// Checks a request head and rewrites it for tiny_http. Pure: unit-tested and fuzzed.
pub fn sanitize(head: &[u8]) -> Result<Vec<u8>, HeadError> {
    if head.len() > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    if !head.is_ascii() {
        return Err(HeadError::Bad);
    }
    let text = std::str::from_utf8(head).map_err(|_| HeadError::Bad)?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().ok_or(HeadError::Bad)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Bad);
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
    };
    if !token(method)
        || !(version == "HTTP/1.1" || version == "HTTP/1.0")
        || target.is_empty()
        || target.bytes().any(|c| c.is_ascii_control() || c == b' ')
    {
        return Err(HeadError::Bad);
    }
    let mut out = Vec::with_capacity(head.len() + 32);
    out.extend_from_slice(format!("{method} {target} HTTP/1.1\r\n").as_bytes());
    let mut count = 0;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        count += 1;
        if count > 100 {
            return Err(HeadError::TooLarge);
        }
        let (name, value) = line.split_once(':').ok_or(HeadError::Bad)?;
        // No obsolete line folding, no spaces in names, no control characters in values.
        if !token(name) || value.bytes().any(|c| c.is_ascii_control() && c != b'\t') {
            return Err(HeadError::Bad);
        }
        let lower = name.to_ascii_lowercase();
        if DROPPED_HEADERS.contains(&lower.as_str()) {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.trim().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_a_normal_request() {
        let out = sanitize(
            b"GET /markers.json HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\
              Content-Length: 5\r\nTransfer-Encoding: chunked\r\nIf-None-Match:  \"a\" \r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /markers.json HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"a\"\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn refuses_bad_heads() {
        for bad in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"G@T / HTTP/1.1\r\n\r\n",
            b"GET /\x01 HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\n folded: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
            b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
            b"",
        ] {
            assert!(sanitize(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let many: String = (0..150).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(
            sanitize(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            Err(HeadError::TooLarge)
        );
    }

    #[test]
    fn a_client_cannot_send_the_gate_token() {
        let out = sanitize(b"GET / HTTP/1.1\r\nX-Connmap-Gate: abc\r\nx-connmap-gate: d\r\n\r\n")
            .unwrap();
        assert_eq!(out, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        let (_l, b) = bind_backend().unwrap();
        assert!(b.admits(Some(&b.token.clone())));
        assert!(!b.admits(None) && !b.admits(Some("")) && !b.admits(Some(&b.token[1..])));
        let (_l2, b2) = bind_backend().unwrap();
        assert_ne!(b.token, b2.token);
    }

    #[test]
    fn head_end() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
