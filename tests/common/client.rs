//! Loopback HTTP clients that pose as other addresses: a TCP connection from any address of
//! 127.0.0.0/8, so that one test (tests/common/load.rs) or the load generator
//! (examples/http_load.rs) can be many clients as far as the gate's per-client limits go.
//! Included by path from both.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;

/// A TCP connection to `dst` from the loopback address `src` (127.0.0.0/8 is all ours), so
/// that one test can be many HTTP clients as far as the gate's per-client limit goes.
pub fn connect_from(src: Ipv4Addr, dst: SocketAddr) -> std::io::Result<TcpStream> {
    connect_from_buf(src, dst, None)
}

/// Same, with a small receive buffer set before connecting (a slow reader's window).
pub fn connect_from_buf(
    src: Ipv4Addr,
    dst: SocketAddr,
    rcvbuf: Option<i32>,
) -> std::io::Result<TcpStream> {
    let SocketAddr::V4(dst) = dst else {
        return Err(std::io::Error::other("IPv4 only"));
    };
    let sin = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: plain socket calls on a descriptor owned here until handed to TcpStream.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        if let Some(n) = rcvbuf {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &n as *const i32 as *const libc::c_void,
                4,
            );
        }
        let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        let a = sin(src, 0);
        if libc::bind(fd, &a as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let b = sin(*dst.ip(), dst.port());
        if libc::connect(fd, &b as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}
