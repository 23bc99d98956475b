//! Netlink: the two ctnetlink sockets, with raw `libc` calls (no crate: the numbers are in
//! BENCHMARKS.md, "Conntrack: netlink crates").
//!
//! One socket listens to DESTROY events (multicast group `NFNLGRP_CONNTRACK_DESTROY`,
//! non-blocking, polled by the daemon's loop); the other sends dump requests and reads their
//! answers (blocking, with a receive timeout). Both need `CAP_NET_ADMIN` in the network
//! namespace's owning user namespace.

use super::parse;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

pub struct Socket {
    fd: OwnedFd,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl Socket {
    /// A NETLINK_NETFILTER socket bound to `groups` (a bit mask; 0 for none).
    pub fn open(groups: u32, nonblocking: bool) -> io::Result<Socket> {
        let mut ty = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
        if nonblocking {
            ty |= libc::SOCK_NONBLOCK;
        }
        // SAFETY: plain syscall; the descriptor is owned from here on.
        let fd = check(unsafe { libc::socket(libc::AF_NETLINK, ty, parse::NETLINK_NETFILTER) })?;
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: zeroed sockaddr_nl is valid; family and groups set below.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        sa.nl_groups = groups;
        // SAFETY: `sa` is a valid sockaddr_nl of the size given.
        check(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                std::ptr::addr_of!(sa).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        })?;
        Ok(Socket { fd })
    }

    fn setsockopt_int(
        &self,
        level: libc::c_int,
        opt: libc::c_int,
        v: libc::c_int,
    ) -> io::Result<()> {
        // SAFETY: `v` lives across the call; the size matches.
        check(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                opt,
                std::ptr::addr_of!(v).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })
        .map(|_| ())
    }

    /// Kernel receive buffer of `bytes`: SO_RCVBUFFORCE (past rmem_max, which CAP_NET_ADMIN
    /// allows), else SO_RCVBUF.
    pub fn set_receive_buffer(&self, bytes: usize) {
        let b = bytes.min(i32::MAX as usize) as libc::c_int;
        if self
            .setsockopt_int(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, b)
            .is_err()
        {
            let _ = self.setsockopt_int(libc::SOL_SOCKET, libc::SO_RCVBUF, b);
        }
    }

    pub fn set_receive_timeout(&self, t: Duration) -> io::Result<()> {
        let tv = libc::timeval {
            tv_sec: t.as_secs() as libc::time_t,
            tv_usec: t.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: `tv` lives across the call; the size matches.
        check(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                std::ptr::addr_of!(tv).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        })
        .map(|_| ())
    }

    /// Sends one message to the kernel.
    pub fn send(&self, msg: &[u8]) -> io::Result<()> {
        // SAFETY: zeroed sockaddr_nl (pid 0: the kernel) is valid.
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `msg` and `sa` are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                std::ptr::addr_of!(sa).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads one datagram (one or more netlink messages) into `buf`; Ok(0) would be an
    /// empty datagram. `WouldBlock` when nothing is queued (non-blocking) or on timeout;
    /// ENOBUFS (`raw_os_error`) when the kernel dropped messages for lack of buffer space.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is valid for writes of its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
