//! Capture: libpcap, live on an interface or replaying a file.
//!
//! First step of the data path (**capture** → packet → filter → geo → table → snapshot → http).
//! A live capture is opened non-promiscuous, with a small snaplen (headers only), a modest
//! kernel buffer, and the BPF filter from `filter::Networks::bpf_filter`, then made
//! non-blocking so the smol loop can wait on its file descriptor. Unsupported link types are refused with a clear error.

use crate::packet::LinkType;
use ipnet::IpNet;
use pcap::{Active, Capture, Offline};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

/// Bytes kept of each packet: Ethernet + two VLAN tags + IPv6 + a fragment header + ports,
/// with room to spare for IPv4 options and other IPv6 extension headers.
pub const SNAPLEN: i32 = 160;
/// Kernel ring buffer for a live capture (libpcap's default is 2 MiB; routers are small).
pub const BUFFER_BYTES: i32 = 1 << 20;
/// The names handle (`learn`): whole DNS answers and ClientHellos up to 4 KiB. More than an
/// Ethernet frame: with GRO/GSO the bridge sees segments merged into one bigger packet (a
/// ClientHello of two segments arrives whole). Only the few packets the filter passes use it.
pub const NAMES_SNAPLEN: i32 = 4352;
/// Big enough for a burst of ClientHellos (1000 new connections in a second), at a shorter
/// block timeout than the counting handle's.
pub const NAMES_BUFFER_BYTES: i32 = 512 << 10;
pub const NAMES_TIMEOUT_MS: i32 = 100;
/// How long the kernel may hold packets before waking us (TPACKET_V3 block timeout).
pub const TIMEOUT_MS: i32 = 250;

/// One captured frame, borrowed from libpcap's buffer.
pub struct Frame<'a> {
    /// Capture time, unix seconds.
    pub ts: u64,
    /// Length on the wire (the pcap header's `len`), not the captured length.
    pub wire_len: u32,
    pub data: &'a [u8],
}

/// What the next read gave.
pub enum Next<'a> {
    Frame(Frame<'a>),
    /// Live: nothing ready now.
    Idle,
    /// File: the end.
    End,
}

/// libpcap's counters (live captures only).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CaptureStats {
    pub received: u32,
    pub dropped: u32,
    pub if_dropped: u32,
}

enum Handle {
    Live(Capture<Active>),
    File(Capture<Offline>),
}

/// An open capture.
pub struct Source {
    handle: Handle,
    pub link: LinkType,
    pub description: String,
}

fn link_of(dlt: i32, what: &str) -> Result<LinkType, String> {
    LinkType::from_dlt(dlt).ok_or_else(|| {
        let name = pcap::Linktype(dlt)
            .get_name()
            .unwrap_or_else(|_| format!("DLT {dlt}"));
        format!(
            "{what}: unsupported link type {name} ({dlt}); connmap reads Ethernet, Linux cooked \
             (SLL, SLL2), raw IP and BSD loopback"
        )
    })
}

impl Source {
    /// Opens a live capture on `interface`.
    /// `filter` makes the BPF program text for the link type the interface turns out to have.
    pub fn live(interface: &str, filter: impl Fn(LinkType) -> String) -> Result<Source, String> {
        Source::live_with(interface, SNAPLEN, BUFFER_BYTES, TIMEOUT_MS, filter)
    }

    /// A live capture with its own snaplen and kernel buffer (the names handle).
    pub fn live_with(
        interface: &str,
        snaplen: i32,
        buffer: i32,
        timeout_ms: i32,
        filter: impl Fn(LinkType) -> String,
    ) -> Result<Source, String> {
        find_device(interface)?;
        let cap = Capture::from_device(interface)
            .map_err(|e| format!("{interface}: {e}"))?
            .promisc(false)
            .snaplen(snaplen)
            .buffer_size(buffer)
            .timeout(timeout_ms)
            .open()
            .map_err(|e| format!("cannot capture on {interface}: {e}"))?;
        let link = link_of(cap.get_datalink().0, interface)?;
        let mut cap = cap
            .setnonblock()
            .map_err(|e| format!("{interface}: cannot make the capture non-blocking: {e}"))?;
        let filter = filter(link);
        cap.filter(&filter, true).map_err(|e| {
            format!(
                "{interface}: bad capture filter {}: {e}",
                crate::cli::quote(&filter)
            )
        })?;
        if kernel_filter_len(cap.as_raw_fd()) == Some(0) {
            log::warn!(
                "{interface}: the capture filter does not fit in the kernel (socket memory, \
                 net.core.optmem_max = {}): libpcap filters in user space instead, which costs \
                 a copy and a wake-up per packet on the interface; raise it (sysctl -w \
                 net.core.optmem_max=20480) or use fewer LAN networks",
                std::fs::read_to_string("/proc/sys/net/core/optmem_max")
                    .map_or_else(|_| "?".into(), |v| v.trim().to_string())
            );
        }
        Ok(Source {
            handle: Handle::Live(cap),
            link,
            description: format!("live on {interface}"),
        })
    }

    /// Opens a pcap or pcapng file. No BPF filter here: in user space libpcap would interpret
    /// it for every packet, and `filter::Networks::classify` makes the same decision cheaper.
    pub fn file(path: &Path) -> Result<Source, String> {
        let cap = Capture::from_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let link = link_of(cap.get_datalink().0, &path.display().to_string())?;
        Ok(Source {
            handle: Handle::File(cap),
            link,
            description: format!("file {}", path.display()),
        })
    }

    /// The descriptor to wait on (live captures).
    pub fn fd(&self) -> Option<RawFd> {
        match &self.handle {
            Handle::Live(c) => Some(c.as_raw_fd()),
            Handle::File(_) => None,
        }
    }

    /// Reads the next frame. Errors are the capture's (interface gone, file corrupt).
    pub fn next_frame(&mut self) -> Result<Next<'_>, String> {
        let r = match &mut self.handle {
            Handle::Live(c) => c.next_packet(),
            Handle::File(c) => c.next_packet(),
        };
        match r {
            Ok(p) => Ok(Next::Frame(Frame {
                ts: u64::try_from(p.header.ts.tv_sec).unwrap_or(0),
                wire_len: p.header.len,
                data: p.data,
            })),
            Err(pcap::Error::TimeoutExpired) => Ok(Next::Idle),
            Err(pcap::Error::NoMorePackets) => Ok(Next::End),
            Err(e) => Err(format!("{}: {e}", self.description)),
        }
    }

    /// Hands up to `max` ready frames to `each` and returns how many (0: none ready, or the
    /// end of a file). Live, one `pcap_dispatch` call walks the kernel ring's ready blocks:
    /// no `pcap_next_ex` round trip per frame (its one-shot callback, the header copies and
    /// the ring checks of each call cost ~100 of a MIPS 24Kc's instructions per packet).
    pub fn dispatch(&mut self, max: usize, mut each: impl FnMut(&Frame)) -> Result<usize, String> {
        let Handle::Live(c) = &mut self.handle else {
            let mut n = 0;
            while n < max {
                match self.next_frame()? {
                    Next::Frame(f) => each(&f),
                    Next::Idle | Next::End => break,
                }
                n += 1;
            }
            return Ok(n);
        };
        let cnt = libc::c_int::try_from(max)
            .unwrap_or(libc::c_int::MAX)
            .max(1);
        let user = (&raw mut each).cast::<u8>();
        // SAFETY: `c` is an open, activated handle; `user` points to `each`, which outlives
        // the call, and `dispatch_one::<F>` casts it back to that same type.
        let r = unsafe { pcap_dispatch(c.as_ptr().cast(), cnt, dispatch_one::<_>(&each), user) };
        match r {
            n if n >= 0 => Ok(n as usize),
            -2 => Ok(0), // pcap_breakloop: never called here
            _ => Err(format!(
                "{}: capture failed: {}",
                self.description,
                c_error(c)
            )),
        }
    }

    pub fn stats(&mut self) -> Option<CaptureStats> {
        match &mut self.handle {
            Handle::Live(c) => c.stats().ok().map(|s| CaptureStats {
                received: s.received,
                dropped: s.dropped,
                if_dropped: s.if_dropped,
            }),
            Handle::File(_) => None,
        }
    }
}

/// Instructions of the classic BPF program attached to socket `fd` in the kernel (`Some(0)`:
/// none). libpcap falls back to filtering in user space, silently but for a line on stderr,
/// when the kernel refuses a program (too big for `net.core.optmem_max`: 10,240 bytes on
/// 32-bit kernels before 6.9): the socket then has no filter at all.
fn kernel_filter_len(fd: RawFd) -> Option<u32> {
    let mut len: libc::socklen_t = 0;
    // SAFETY: SO_GET_FILTER (= SO_ATTACH_FILTER) with a zero length writes nothing through
    // the null pointer and returns the program's length in instructions in `len`.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            std::ptr::null_mut(),
            &mut len,
        )
    };
    (r == 0).then_some(len)
}

/// libpcap's packet header (`struct pcap_pkthdr`), as the pcap crate declares it.
#[repr(C)]
struct PktHdr {
    ts: libc::timeval,
    caplen: libc::c_uint,
    len: libc::c_uint,
}

type Callback = unsafe extern "C" fn(*mut u8, *const PktHdr, *const u8);

unsafe extern "C" {
    // libpcap (linked by the pcap crate, which does not wrap this function)
    fn pcap_dispatch(
        p: *mut libc::c_void,
        cnt: libc::c_int,
        cb: Callback,
        user: *mut u8,
    ) -> libc::c_int;
    fn pcap_geterr(p: *mut libc::c_void) -> *const libc::c_char;
}

/// The callback for a closure of type `F` (the argument only names the type).
fn dispatch_one<F: FnMut(&Frame)>(_: &F) -> Callback {
    unsafe extern "C" fn one<F: FnMut(&Frame)>(user: *mut u8, h: *const PktHdr, data: *const u8) {
        // SAFETY: `user` is the `&mut F` that `Source::dispatch` passed to pcap_dispatch;
        // libpcap hands a valid header and `caplen` bytes of data, alive during the call.
        let (each, h) = unsafe { (&mut *user.cast::<F>(), &*h) };
        let data = unsafe { std::slice::from_raw_parts(data, h.caplen as usize) };
        each(&Frame {
            ts: u64::try_from(h.ts.tv_sec).unwrap_or(0),
            wire_len: h.len,
            data,
        });
    }
    one::<F>
}

/// libpcap's last error message of a live handle.
fn c_error(c: &Capture<Active>) -> String {
    // SAFETY: pcap_geterr returns the handle's NUL-terminated error buffer.
    unsafe { std::ffi::CStr::from_ptr(pcap_geterr(c.as_ptr().cast())) }
        .to_string_lossy()
        .into_owned()
}

/// The interface's own networks (its addresses with their netmasks), for the default `--lan`.
pub fn interface_networks(interface: &str) -> Result<Vec<IpNet>, String> {
    let dev = find_device(interface)?;
    let mut nets = Vec::new();
    for a in &dev.addresses {
        let Some(mask) = a.netmask else { continue };
        let prefix = match mask {
            IpAddr::V4(m) => u32::from(m).leading_ones() as u8,
            IpAddr::V6(m) => u128::from(m).leading_ones() as u8,
        };
        if let Ok(n) = IpNet::new(a.addr, prefix) {
            let n = n.trunc();
            // Link-local networks are not "the LAN" for our purposes.
            let link_local = match n.addr() {
                IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
                IpAddr::V4(v4) => v4.is_link_local(),
            };
            if !link_local && !nets.contains(&n) {
                nets.push(n);
            }
        }
    }
    Ok(nets)
}

/// The interface's first IPv4 address (the default listen address).
pub fn interface_ipv4(interface: &str) -> Result<Option<IpAddr>, String> {
    Ok(find_device(interface)?
        .addresses
        .iter()
        .map(|a| a.addr)
        .find(IpAddr::is_ipv4))
}

fn find_device(interface: &str) -> Result<pcap::Device, String> {
    pcap::Device::list()
        .map_err(|e| format!("cannot list interfaces: {e}"))?
        .into_iter()
        .find(|d| d.name == interface)
        .ok_or_else(|| format!("interface {interface} not found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_networks() {
        // `lo` exists everywhere the tests run; its 127.0.0.0/8 comes back as a network.
        let nets = interface_networks("lo").unwrap();
        assert!(nets.contains(&"127.0.0.0/8".parse().unwrap()), "{nets:?}");
        assert!(interface_networks("no-such-if0").is_err());
    }

    #[test]
    fn a_socket_without_a_filter_has_none_in_the_kernel() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(kernel_filter_len(s.as_raw_fd()), Some(0));
        // a one-instruction program ("accept"), as a packet socket gets from libpcap
        let prog = [libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0xffff,
        }];
        let fprog = libc::sock_fprog {
            len: 1,
            filter: prog.as_ptr().cast_mut(),
        };
        // SAFETY: a valid sock_fprog and its length.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&raw const fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
        assert_eq!(kernel_filter_len(s.as_raw_fd()), Some(1));
    }

    #[test]
    fn unsupported_link_type_is_named() {
        let e = link_of(105, "x.pcap").unwrap_err();
        assert!(
            e.contains("unsupported link type") && e.contains("IEEE802_11"),
            "{e}"
        );
    }
}
