//! What a ctnetlink dump costs in binary size, three ways (see build-mipsel.sh beside this).
//! Each variant: dump, sum the original-direction byte counters, print the sum and count.

fn walk(mut b: &[u8], want: u16, mut f: impl FnMut(&[u8])) {
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let t = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            return;
        }
        if t == want {
            f(&b[4..len]);
        }
        b = &b[((len + 3) & !3).min(b.len())..];
    }
}

fn counter_bytes(attrs: &[u8]) -> u64 {
    let mut bytes = 0;
    walk(attrs, 9, |c| {
        walk(c, 2, |v| {
            if let Ok(a) = <[u8; 8]>::try_from(v) {
                bytes = u64::from_be_bytes(a)
            }
        })
    });
    bytes
}

#[cfg(feature = "raw")]
fn dump() -> std::io::Result<(u64, u64)> {
    unsafe {
        let fd = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 12);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        if libc::bind(
            fd,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of_val(&sa) as u32,
        ) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        let mut req = [0u8; 20];
        req[0..4].copy_from_slice(&20u32.to_ne_bytes());
        req[4..6].copy_from_slice(&0x101u16.to_ne_bytes());
        req[6..8].copy_from_slice(&0x301u16.to_ne_bytes());
        if libc::sendto(
            fd,
            req.as_ptr().cast(),
            20,
            0,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of_val(&sa) as u32,
        ) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 32768];
        let (mut n_flows, mut sum) = (0, 0);
        loop {
            let n = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut b = &buf[..n as usize];
            while b.len() >= 16 {
                let len = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
                let ty = u16::from_ne_bytes([b[4], b[5]]);
                if len < 16 || len > b.len() {
                    break;
                }
                if ty == 3 {
                    libc::close(fd);
                    return Ok((n_flows, sum));
                }
                if ty >> 8 == 1 {
                    n_flows += 1;
                    sum += counter_bytes(&b[20..len]);
                }
                b = &b[((len + 3) & !3).min(b.len())..];
            }
        }
    }
}

#[cfg(feature = "nlp")]
fn dump() -> std::io::Result<(u64, u64)> {
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload, Nla, NLM_F_DUMP, NLM_F_REQUEST};
    use netlink_packet_netfilter::{
        conntrack::{ConntrackAttribute, ConntrackMessage},
        NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
    };
    use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
    let mut msg = NetlinkMessage::from(NetfilterMessage::new(
        NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, 0),
        ConntrackMessage::Get(vec![]),
    ));
    msg.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.finalize();
    let mut out = vec![0; msg.buffer_len()];
    msg.serialize(&mut out);
    let mut s = Socket::new(NETLINK_NETFILTER)?;
    s.bind_auto()?;
    s.send_to(&out, &SocketAddr::new(0, 0), 0)?;
    let (mut n_flows, mut sum) = (0, 0);
    loop {
        let mut buf = Vec::with_capacity(32768);
        let n = s.recv(&mut buf, 0)?;
        let mut off = 0;
        while off < n {
            let m = NetlinkMessage::<NetfilterMessage>::deserialize(&buf[off..n])
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            off += ((m.header.length as usize) + 3) & !3;
            match m.payload {
                NetlinkPayload::Done(_) => return Ok((n_flows, sum)),
                NetlinkPayload::InnerMessage(nf) => {
                    if let NetfilterMessageInner::Conntrack(ConntrackMessage::New(attrs)) = nf.inner
                    {
                        n_flows += 1;
                        for a in attrs {
                            if let ConntrackAttribute::Other(nla) = a {
                                if nla.kind() & 0x3fff == 9 {
                                    let mut v = vec![0; nla.value_len()];
                                    nla.emit_value(&mut v);
                                    let mut bytes = 0;
                                    walk(&v, 2, |x| {
                                        if let Ok(a) = <[u8; 8]>::try_from(x) {
                                            bytes = u64::from_be_bytes(a)
                                        }
                                    });
                                    sum += bytes;
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(feature = "neli")]
fn dump() -> std::io::Result<(u64, u64)> {
    use neli::{
        consts::{nl::NlmF, socket::NlFamily},
        nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder},
        socket::synchronous::NlSocketHandle,
        types::Buffer,
        utils::Groups,
    };
    let e = |x: String| std::io::Error::other(x);
    let s = NlSocketHandle::connect(NlFamily::Netfilter, None, Groups::empty())
        .map_err(|x| e(x.to_string()))?;
    let msg: Nlmsghdr<u16, Buffer> = NlmsghdrBuilder::default()
        .nl_type(0x101u16)
        .nl_flags(NlmF::REQUEST | NlmF::DUMP)
        .nl_payload(NlPayload::Payload(Buffer::from(vec![0u8; 4])))
        .build()
        .map_err(|x| e(x.to_string()))?;
    s.send(&msg).map_err(|x| e(x.to_string()))?;
    let (mut n_flows, mut sum) = (0, 0);
    loop {
        let (iter, _) = s.recv::<u16, Buffer>().map_err(|x| e(x.to_string()))?;
        for m in iter {
            let m = m.map_err(|x| e(x.to_string()))?;
            if *m.nl_type() == 3 {
                return Ok((n_flows, sum));
            }
            if let NlPayload::Payload(p) = m.nl_payload() {
                n_flows += 1;
                sum += counter_bytes(&p.as_ref()[4..]);
            }
        }
    }
}

fn main() {
    match dump() {
        Ok((n, s)) => println!("{n} connections, {s} bytes"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    }
}
