//! Helpers for the load and fault tests (tests/faults.rs, tests/flood.rs, tests/http_load.rs):
//! a daemon serving on loopback, HTTP clients that can pose as other loopback addresses, big
//! synthetic captures, and the memory figures of a process (peak RSS from wait4, VmRSS).
//! Included with `#[path = "common/load.rs"] mod load;` next to `mod common;`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A daemon replaying a capture and then serving it on 127.0.0.1 (killed on drop).
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub json: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: a plain kill(2) on our own child.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits until the log holds `needle` (at least `times` times).
    pub fn wait_log(&self, needle: &str, times: usize, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let log = self.log_text();
            if log.matches(needle).count() >= times {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {needle:?} x{times}; log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM first: a killed daemon leaves its private socket directory in /tmp.
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `connmap -r PCAP --listen 127.0.0.1:PORT --json-out DIR/markers.json ARGS` and
/// waits until it listens and the replay has been published.
pub fn serve(dir: &Path, pcap: &Path, args: &[String]) -> Daemon {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let json = dir.join("markers.json");
    let log = dir.join("connmap.log");
    let _ = std::fs::remove_file(&json);
    let mut child = Command::new(env!("CARGO_BIN_EXE_connmap"))
        .env("CONNMAP_LOG", "stderr")
        .arg("-r")
        .arg(pcap)
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--json-out")
        .arg(&json)
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let replayed = std::fs::read_to_string(&log)
            .map(|l| l.contains("replayed "))
            .unwrap_or(false);
        if replayed && json.exists() && TcpStream::connect(addr).is_ok() {
            return Daemon {
                child,
                addr,
                json,
                log,
            };
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "daemon exited ({st}); log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("daemon did not come up");
}

#[path = "client.rs"]
mod client;
#[allow(unused_imports)] // (not every test that includes this file uses both)
pub use client::{connect_from, connect_from_buf};

/// Sends `request` on `s`, reads to the end: (status, head, body). Status 0: no answer.
pub fn exchange(mut s: TcpStream, request: &[u8], timeout: Duration) -> (u16, String, Vec<u8>) {
    s.set_read_timeout(Some(timeout)).unwrap();
    let _ = s.write_all(request);
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
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&buf[split..])
    } else {
        buf[split..].to_vec()
    };
    (status, head, body)
}

/// Decodes a chunked body (tiny_http sends big documents chunked).
pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap().trim(), 16).ok())
            .unwrap_or(0);
        b = &b[eol + 2..];
        if size == 0 || b.len() < size {
            break;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[(size + 2).min(b.len())..];
    }
    out
}

pub fn get_from(src: Ipv4Addr, addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    match connect_from(src, addr) {
        Ok(s) => exchange(
            s,
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes(),
            Duration::from_secs(15),
        ),
        Err(_) => (0, String::new(), vec![]),
    }
}

fn proc_status_kb(pid: i32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// VmRSS of a process in KiB.
pub fn vm_rss_kb(pid: i32) -> u64 {
    proc_status_kb(pid, "VmRSS:")
}

/// VmHWM (peak RSS since exec) of a running process in KiB. Unlike wait4's ru_maxrss, it does
/// not include the memory of the parent that spawned it (a vfork'd child shares the parent's
/// pages until exec, and ru_maxrss keeps that high-water mark across the exec).
pub fn vm_hwm_kb(pid: i32) -> u64 {
    proc_status_kb(pid, "VmHWM:")
}

/// Waits for a child with wait4(2): (exit code or -signal, ru_maxrss in KiB). ru_maxrss
/// includes the spawning process's RSS at fork time: use `vm_hwm_kb` for the child's own peak.
pub fn wait_rusage(child: Child) -> (i32, u64) {
    let pid = child.id() as i32;
    std::mem::forget(child);
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(rc, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    (code, ru.ru_maxrss as u64)
}

/// An Ethernet + IPv4 + UDP frame with `payload` bytes on the wire, cut at 96 bytes like a
/// snaplen would. Written by hand: the flood captures have hundreds of thousands of them.
pub fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: usize) -> (Vec<u8>, u32) {
    let ip_len = 20 + 8 + payload;
    let mut f = Vec::with_capacity(96);
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1]); // to the router
    f.extend_from_slice(&[2, 0, src[1], src[2], src[3], 0x10]);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.resize(f.len() + payload.min(96 - 42), 0x5a);
    (f, (14 + ip_len) as u32)
}

/// A flood capture: `remotes` distinct public remotes (20.0.0.0/8 upwards, one packet each,
/// in order) sent from `sources` distinct LAN addresses in 10.0.0.0/8, one packet per
/// millisecond of capture time. Returns the number of packets.
pub fn flood_capture(path: &Path, remotes: u32, sources: u32) -> usize {
    let t0 = crate::common::T0;
    let recs: Vec<crate::common::Rec> = (0..remotes)
        .map(|i| {
            let r = (20u32 << 24) + i;
            let s = (10u32 << 24) + 256 + (i % sources);
            let (data, wire_len) = udp4(
                s.to_be_bytes(),
                r.to_be_bytes(),
                40000 + (i % 20000) as u16,
                443,
                100,
            );
            crate::common::Rec {
                ts: t0 + u64::from(i) / 1000,
                wire_len,
                data,
            }
        })
        .collect();
    crate::common::write_pcap(path, 1, &recs);
    recs.len()
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}
