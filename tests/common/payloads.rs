//! Payloads for the name parsers: DNS responses, TLS ClientHellos. One source for the unit
//! tests of `learn` (included there with `#[path]`) and the end-to-end tests (`data.rs`).
#![allow(dead_code)]

use std::net::IpAddr;

/// A DNS name in wire form (no compression).
pub fn dns_name(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in s.split('.').filter(|l| !l.is_empty()) {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

/// A DNS response to question `q` (type `qtype`) with records (owner, type, rdata); owner
/// "@" is a compression pointer to the question.
pub fn dns_response(q: &str, qtype: u16, records: &[(&str, u16, Vec<u8>)]) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1];
    m.extend_from_slice(&(records.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&dns_name(q));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    for (owner, t, rdata) in records {
        if *owner == "@" {
            m.extend_from_slice(&[0xc0, 12]);
        } else {
            m.extend_from_slice(&dns_name(owner));
        }
        m.extend_from_slice(&t.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0x0e, 0x10]);
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(rdata);
    }
    m
}

/// The bytes of an address (A/AAAA rdata).
pub fn addr_bytes(s: &str) -> Vec<u8> {
    match s.parse::<IpAddr>().unwrap() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// A TLS ClientHello record with an optional server name, after `pad` bytes of padding
/// extension (a big one spans segments, like a post-quantum key share).
pub fn client_hello(sni: Option<&str>, pad: usize) -> Vec<u8> {
    let mut exts = vec![0x00, 0x15];
    exts.extend_from_slice(&(pad as u16).to_be_bytes());
    exts.extend(std::iter::repeat_n(0u8, pad));
    if let Some(n) = sni {
        let n = n.as_bytes();
        exts.extend_from_slice(&[0, 0]);
        exts.extend_from_slice(&((n.len() + 5) as u16).to_be_bytes());
        exts.extend_from_slice(&((n.len() + 3) as u16).to_be_bytes());
        exts.push(0);
        exts.extend_from_slice(&(n.len() as u16).to_be_bytes());
        exts.extend_from_slice(n);
    }
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.push(32);
    body.extend_from_slice(&[9; 32]);
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0x13, 0x02, 1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}
