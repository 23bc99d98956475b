//! QUIC Initial packets: the server name of a QUIC (HTTP/3) connection, read passively.
//!
//! Beside `learn`. A QUIC client's first packets (Initial) are encrypted, but with keys that
//! anyone can derive from the packet's Destination Connection ID and a published salt
//! (RFC 9001 §5.2 for QUIC v1, RFC 9369 §3.3 for v2). So the router, like any on-path
//! observer, removes the header protection, decrypts the payload, puts the CRYPTO frames
//! together (a large ClientHello spans two or more Initial packets, and browsers scatter its
//! pieces over several frames in any order) and reads the server name with the TLS parser of
//! `learn` (`parse_client_hello`). Nothing is sent; the keys only open Initial packets.
//!
//! Only UDP datagrams from LAN devices to port 443 or 8443 whose first byte marks a long-header
//! Initial get here (the names handle's kernel filter and `wanted`); bulk QUIC data (short
//! header) never does. Bounded: at most `MAX_PENDING` flows wait for the rest of their
//! ClientHello, each with at most `MAX_CRYPTO_BYTES` bytes from at most `MAX_PACKETS`
//! packets, and a flow waits at most `PENDING_SECONDS`. Never panics, whatever the bytes (the
//! fuzz target `quic_initial` holds it to that).

use crate::learn::{self, Hello};
use crate::packet::Addr;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::cipher::{generic_array::GenericArray, BlockEncrypt};
use aes_gcm::aes::Aes128;
use aes_gcm::Aes128Gcm;
use foldhash::fast::RandomState;
use hkdf::Hkdf;
use sha2::Sha256;
use std::collections::HashMap;

/// QUIC version 1 (RFC 9000).
pub const V1: u32 = 1;
/// QUIC version 2 (RFC 9369).
pub const V2: u32 = 0x6b33_43cf;
/// RFC 9001 §5.2.
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
/// RFC 9369 §3.3.1.
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
/// Bytes of the CRYPTO stream (the ClientHello) kept per flow.
pub const MAX_CRYPTO_BYTES: usize = 4096;
/// Initial packets of one ClientHello put together at most.
pub const MAX_PACKETS: u8 = 4;
/// Flows whose ClientHello is being put together at once.
pub const MAX_PENDING: usize = 64;
/// How long (capture seconds) a flow waits for the rest of its ClientHello.
pub const PENDING_SECONDS: u64 = 1;
/// Packets read from one datagram (coalesced packets).
const MAX_COALESCED: usize = 4;
/// CRYPTO frames of one packet, and ACK ranges of one ACK frame, read at most.
const MAX_FRAMES: usize = 64;
/// Pieces of the CRYPTO stream remembered per flow (a browser scatters them).
const MAX_RANGES: usize = 16;

/// Whether the first byte of a UDP payload may start a client Initial packet: a long header
/// whose type bits say Initial in v1 (0b00) or v2 (0b01; in v1 that is 0-RTT, which the
/// version check in `open_initials` sorts out). One mask and compare per datagram.
#[inline(always)]
pub fn maybe_initial(first: u8) -> bool {
    matches!(first & 0xb0, 0x80 | 0x90)
}

/// The keys that open a client's Initial packets.
struct Keys {
    aead: Aes128Gcm,
    hp: Aes128,
    iv: [u8; 12],
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
fn expand_label(prk: &Hkdf<Sha256>, label: &[u8], out: &mut [u8]) -> Option<()> {
    let mut info = [0u8; 2 + 1 + 6 + 32 + 1];
    let n = 6 + label.len();
    if n > 38 {
        return None;
    }
    info[..2].copy_from_slice(&(out.len() as u16).to_be_bytes());
    info[2] = n as u8;
    info[3..9].copy_from_slice(b"tls13 ");
    info[9..9 + label.len()].copy_from_slice(label);
    info[9 + label.len()] = 0;
    prk.expand(&info[..10 + label.len()], out).ok()
}

/// The client's Initial secret, then key, IV and header protection key (RFC 9001 §5.2,
/// RFC 9369 §3.3).
fn client_keys(version: u32, dcid: &[u8]) -> Option<Keys> {
    let (salt, labels): (&[u8], [&[u8]; 3]) = match version {
        V1 => (&SALT_V1, [b"quic key", b"quic iv", b"quic hp"]),
        V2 => (&SALT_V2, [b"quicv2 key", b"quicv2 iv", b"quicv2 hp"]),
        _ => return None,
    };
    let (_, initial) = Hkdf::<Sha256>::extract(Some(salt), dcid);
    let mut secret = [0u8; 32];
    expand_label(&initial, b"client in", &mut secret)?;
    let client = Hkdf::<Sha256>::from_prk(&secret).ok()?;
    let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
    expand_label(&client, labels[0], &mut key)?;
    expand_label(&client, labels[1], &mut iv)?;
    expand_label(&client, labels[2], &mut hp)?;
    Some(Keys {
        aead: Aes128Gcm::new(GenericArray::from_slice(&key)),
        hp: Aes128::new(GenericArray::from_slice(&hp)),
        iv,
    })
}

/// A QUIC variable-length integer at `*at` (RFC 9000 §16); moves `*at` past it.
fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let first = *b.get(*at)?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(*at..*at + len)?;
    let mut v = u64::from(first & 0x3f);
    for &x in &bytes[1..] {
        v = (v << 8) | u64::from(x);
    }
    *at += len;
    Some(v)
}

/// Removes header protection and decrypts one Initial packet in place: `pkt` is the whole
/// packet (header to tag), `pn_at` where its packet number starts. Returns the plaintext
/// frames, or `None` when the packet does not open (not a client Initial for this DCID).
fn open<'a>(keys: &Keys, pkt: &'a mut [u8], pn_at: usize) -> Option<&'a [u8]> {
    let sample = pkt.get(pn_at + 4..pn_at + 20)?;
    let mut mask = GenericArray::clone_from_slice(sample);
    keys.hp.encrypt_block(&mut mask);
    pkt[0] ^= mask[0] & 0x0f;
    let pn_len = usize::from(pkt[0] & 3) + 1;
    let mut pn = 0u64;
    for i in 0..pn_len {
        pkt[pn_at + i] ^= mask[1 + i];
        pn = (pn << 8) | u64::from(pkt[pn_at + i]);
    }
    // A client's first packets have small numbers: the truncated number is the number.
    let (header, body) = pkt.split_at_mut(pn_at + pn_len);
    let tag_at = body.len().checked_sub(16)?;
    let (ct, tag) = body.split_at_mut(tag_at);
    let mut nonce = keys.iv;
    for (i, b) in pn.to_be_bytes().iter().enumerate() {
        nonce[4 + i] ^= b;
    }
    keys.aead
        .decrypt_in_place_detached(
            GenericArray::from_slice(&nonce),
            header,
            ct,
            GenericArray::from_slice(tag),
        )
        .ok()?;
    Some(ct)
}

/// Calls `each(offset, data)` for the CRYPTO frames of a decrypted Initial payload. PADDING,
/// PING and ACK are skipped; anything else ends the walk (an Initial carries nothing else a
/// ClientHello needs).
pub fn crypto_frames<'a>(p: &'a [u8], mut each: impl FnMut(u64, &'a [u8])) {
    let mut at = 0;
    let mut frames = 0;
    while at < p.len() && frames < MAX_FRAMES {
        match p[at] {
            0x00 => {
                // PADDING: runs of zeros, skipped at once
                at += p[at..].iter().position(|&b| b != 0).unwrap_or(p.len() - at);
                continue;
            }
            0x01 => at += 1,
            t @ (0x02 | 0x03) => {
                at += 1;
                let ack = (|| {
                    let _largest = varint(p, &mut at)?;
                    let _delay = varint(p, &mut at)?;
                    let ranges = varint(p, &mut at)?;
                    let _first = varint(p, &mut at)?;
                    if ranges > MAX_FRAMES as u64 {
                        return None;
                    }
                    for _ in 0..ranges * 2 {
                        varint(p, &mut at)?;
                    }
                    if t == 0x03 {
                        for _ in 0..3 {
                            varint(p, &mut at)?;
                        }
                    }
                    Some(())
                })();
                if ack.is_none() {
                    return;
                }
            }
            0x06 => {
                at += 1;
                let (Some(off), Some(len)) = (varint(p, &mut at), varint(p, &mut at)) else {
                    return;
                };
                let Some(data) = usize::try_from(len)
                    .ok()
                    .and_then(|len| p.get(at..at.checked_add(len)?))
                else {
                    return;
                };
                at += data.len();
                each(off, data);
            }
            _ => return,
        }
        frames += 1;
    }
}

/// Finds the client Initial packets of one UDP datagram (the first packet and the ones
/// coalesced after it) and calls `each(version, dcid, packet, pn_at)` for each. Stops at a
/// short header, a Retry, or anything malformed.
fn initials(d: &[u8], mut each: impl FnMut(u32, &[u8], std::ops::Range<usize>, usize)) {
    let mut at = 0;
    for _ in 0..MAX_COALESCED {
        let Some(p) = d.get(at..).filter(|p| p.len() > 6) else {
            return;
        };
        if p[0] & 0xc0 != 0xc0 {
            return; // short header (1-RTT), or no fixed bit
        }
        let version = u32::from_be_bytes([p[1], p[2], p[3], p[4]]);
        let kind = (p[0] >> 4) & 3;
        let initial = match version {
            V1 if kind == 3 => return, // Retry: no length
            V2 if kind == 0 => return,
            V1 => kind == 0,
            V2 => kind == 1,
            _ => return,
        };
        let dcid_len = usize::from(p[5]);
        if dcid_len > 20 {
            return;
        }
        let Some(dcid) = p.get(6..6 + dcid_len) else {
            return;
        };
        let mut i = 6 + dcid_len;
        let Some(&scid_len) = p.get(i) else { return };
        if scid_len > 20 {
            return;
        }
        i += 1 + usize::from(scid_len);
        if initial {
            let Some(token) = varint(p, &mut i) else {
                return;
            };
            let Some(next) = usize::try_from(token).ok().and_then(|t| i.checked_add(t)) else {
                return;
            };
            i = next;
        }
        let Some(len) = varint(p, &mut i) else { return };
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| i.checked_add(l))
            .filter(|&e| e <= p.len())
        else {
            return;
        };
        if initial {
            each(version, dcid, at..at + end, i);
        }
        at += end;
    }
}

/// The server name in the Initial packets of one datagram, stateless: only when the whole
/// ClientHello is in this datagram. (`QuicAssembler` puts several together.)
pub fn datagram_hello(d: &[u8]) -> Hello {
    let mut asm = QuicAssembler::default();
    let host = Addr::from_v4_bytes([0, 0, 0, 0]);
    asm.datagram((host, 0, host, 0), d, 0)
}

type FlowKey = (Addr, u16, Addr, u16);

/// Where one Initial packet of a datagram is: its version and DCID, its bytes, its packet
/// number's offset in them.
struct Span {
    version: u32,
    id: [u8; 20],
    id_len: u8,
    range: std::ops::Range<usize>,
    pn_at: usize,
}

/// One flow's ClientHello being put together.
struct Flow {
    version: u32,
    dcid: [u8; 20],
    dcid_len: u8,
    /// A TLS record header (5 bytes, filled before parsing) and the CRYPTO stream after it.
    buf: Vec<u8>,
    /// Stream bytes received, as sorted, disjoint [start, end) ranges.
    ranges: Vec<(u32, u32)>,
    packets: u8,
    since: u64,
}

impl Flow {
    fn new(version: u32, dcid: &[u8], now: u64) -> Flow {
        let mut d = [0u8; 20];
        d[..dcid.len()].copy_from_slice(dcid);
        Flow {
            version,
            dcid: d,
            dcid_len: dcid.len() as u8,
            buf: vec![0; 5],
            ranges: Vec::new(),
            packets: 0,
            since: now,
        }
    }

    fn same_connection(&self, version: u32, dcid: &[u8]) -> bool {
        self.version == version && &self.dcid[..usize::from(self.dcid_len)] == dcid
    }

    /// One CRYPTO frame's data at `off`: kept up to `MAX_CRYPTO_BYTES`.
    fn add(&mut self, off: u64, data: &[u8]) {
        let Ok(off) = usize::try_from(off) else {
            return;
        };
        if off >= MAX_CRYPTO_BYTES || data.is_empty() {
            return;
        }
        let end = off.saturating_add(data.len()).min(MAX_CRYPTO_BYTES);
        if self.buf.len() < 5 + end {
            self.buf.resize(5 + end, 0);
        }
        self.buf[5 + off..5 + end].copy_from_slice(&data[..end - off]);
        let (s, e) = (off as u32, end as u32);
        // Merge into the sorted ranges.
        let mut merged = (s, e);
        self.ranges.retain(|&(a, b)| {
            if b < merged.0 || a > merged.1 {
                true
            } else {
                merged = (merged.0.min(a), merged.1.max(b));
                false
            }
        });
        let at = self.ranges.partition_point(|&(a, _)| a < merged.0);
        if self.ranges.len() < MAX_RANGES {
            self.ranges.insert(at, merged);
        }
    }

    /// The stream from offset 0 as far as it is contiguous, behind a TLS record header.
    fn hello(&mut self) -> Hello {
        let prefix = match self.ranges.first() {
            Some(&(0, e)) => e as usize,
            _ => return Hello::NeedMore,
        };
        // The handshake message's length says where the ClientHello ends.
        let msg_len = if prefix >= 4 {
            4 + (usize::from(self.buf[6]) << 16 | usize::from(self.buf[7]) << 8)
                + usize::from(self.buf[8])
        } else {
            MAX_CRYPTO_BYTES
        };
        let rec_len = msg_len.min(0xffff) as u16;
        self.buf[..3].copy_from_slice(&[22, 3, 1]);
        self.buf[3..5].copy_from_slice(&rec_len.to_be_bytes());
        learn::parse_client_hello(&self.buf[..5 + prefix])
    }
}

/// Client Initials of QUIC connections to ports 443/8443, put together into ClientHellos.
#[derive(Default)]
pub struct QuicAssembler {
    pending: HashMap<FlowKey, Flow, RandomState>,
    /// The datagram being opened (reused).
    scratch: Vec<u8>,
    /// The keys of the last DCID (a connection's Initials share it).
    last: Option<(u32, [u8; 20], u8, Box<Keys>)>,
    /// Flows forgotten before their ClientHello was complete (cap, packet limit, timeout).
    pub dropped: u64,
    /// Initial packets that did not open (not a client's, or damaged).
    pub undecryptable: u64,
    /// Initial packets opened.
    pub opened: u64,
}

impl QuicAssembler {
    /// One UDP payload from a LAN device to port 443/8443 (`key`: source, source port,
    /// destination, destination port). Returns the server name (`Hello::Name`, or
    /// `Hello::Ech` for the outer name of an ECH ClientHello) once the ClientHello is there.
    /// Out of line: Initials are rare next to packets (and callgrind counts it by name).
    #[inline(never)]
    pub fn datagram(&mut self, key: FlowKey, d: &[u8], now: u64) -> Hello {
        if !self.pending.is_empty() {
            self.expire(now); // at most MAX_PENDING entries, and only when an Initial comes
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(d);
        let mut found = Hello::None;
        let mut spans: smallvec::SmallVec<[Span; 2]> = smallvec::SmallVec::new();
        initials(&scratch, |version, dcid, range, pn_at| {
            let mut id = [0u8; 20];
            id[..dcid.len()].copy_from_slice(dcid);
            spans.push(Span {
                version,
                id,
                id_len: dcid.len() as u8,
                range,
                pn_at,
            });
        });
        for Span {
            version,
            id,
            id_len,
            range,
            pn_at,
        } in spans
        {
            let dcid = &id[..usize::from(id_len)];
            let fresh = !matches!(&self.last, Some((v, i, l, _)) if *v == version && i == &id && *l == id_len);
            if fresh {
                self.last = client_keys(version, dcid).map(|k| (version, id, id_len, Box::new(k)));
            }
            let Some((_, _, _, keys)) = &self.last else {
                continue;
            };
            let Some(plain) = open(keys, &mut scratch[range], pn_at) else {
                self.undecryptable += 1;
                continue;
            };
            self.opened += 1;
            match self.packet(key, version, dcid, plain, now) {
                Hello::None => {}
                Hello::NeedMore if found != Hello::None => {}
                r => found = r,
            }
        }
        self.scratch = scratch;
        found
    }

    /// The frames of one opened Initial packet.
    fn packet(&mut self, key: FlowKey, version: u32, dcid: &[u8], plain: &[u8], now: u64) -> Hello {
        let mut frames: smallvec::SmallVec<[(u64, &[u8]); 8]> = smallvec::SmallVec::new();
        crypto_frames(plain, |off, data| frames.push((off, data)));
        if frames.is_empty() {
            return Hello::None; // an ACK, a PING, padding
        }
        if let Some(f) = self.pending.get(&key) {
            if !f.same_connection(version, dcid) || f.since + PENDING_SECONDS < now {
                self.pending.remove(&key); // a new attempt (after a Retry), or stale
                self.dropped += 1;
            }
        }
        if !self.pending.contains_key(&key) {
            // The common case first: the whole ClientHello in this packet, no state.
            if frames.len() == 1 && frames[0].0 == 0 {
                let mut f = Flow::new(version, dcid, now);
                f.add(0, frames[0].1);
                match f.hello() {
                    Hello::NeedMore => {}
                    r => return r,
                }
            }
            self.make_room(now);
            self.pending.insert(key, Flow::new(version, dcid, now));
        }
        let Some(f) = self.pending.get_mut(&key) else {
            return Hello::None;
        };
        for (off, data) in frames {
            f.add(off, data);
        }
        f.packets += 1;
        let r = f.hello();
        if r != Hello::NeedMore {
            self.pending.remove(&key);
        } else if f.packets >= MAX_PACKETS || f.buf.len() >= 5 + MAX_CRYPTO_BYTES {
            self.pending.remove(&key);
            self.dropped += 1;
        }
        r
    }

    /// Makes room for one more pending flow: the stale ones go, and if none is stale, the
    /// oldest.
    fn make_room(&mut self, now: u64) {
        if self.pending.len() < MAX_PENDING {
            return;
        }
        let before = self.pending.len();
        self.pending.retain(|_, f| f.since + PENDING_SECONDS >= now);
        if self.pending.len() >= MAX_PENDING {
            if let Some(k) = self
                .pending
                .iter()
                .min_by_key(|(_, f)| f.since)
                .map(|(k, _)| *k)
            {
                self.pending.remove(&k);
            }
        }
        self.dropped += (before - self.pending.len()) as u64;
    }

    /// Forgets flows that waited longer than `PENDING_SECONDS` (done on every Initial).
    pub fn expire(&mut self, now: u64) {
        let before = self.pending.len();
        self.pending.retain(|_, f| f.since + PENDING_SECONDS >= now);
        self.dropped += (before - self.pending.len()) as u64;
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Builds a client Initial packet (v1 or v2) around `frames`, as a client would: padded
/// to `pad_to` bytes, packet number `pn` (2 bytes), protected. For the tests and the fuzz
/// target (the daemon never sends anything); the RFC vectors check it against real packets.
#[doc(hidden)]
pub fn seal_initial(
    version: u32,
    dcid: &[u8],
    token: &[u8],
    pn: u32,
    frames: &[u8],
    pad_to: usize,
) -> Vec<u8> {
    let Some(keys) = client_keys(version, dcid) else {
        return Vec::new();
    };
    let kind = if version == V2 { 0x10 } else { 0x00 };
    let mut h = vec![0xc0 | kind | 0x01]; // pn length 2
    h.extend_from_slice(&version.to_be_bytes());
    h.push(dcid.len() as u8);
    h.extend_from_slice(dcid);
    h.push(4);
    h.extend_from_slice(&[1, 2, 3, 4]);
    push_varint_to(&mut h, token.len() as u64);
    h.extend_from_slice(token);
    let mut payload = frames.to_vec();
    let overhead = h.len() + 2 + 2 + 16;
    if overhead + payload.len() < pad_to {
        payload.resize(pad_to - overhead, 0);
    }
    if payload.len() < 4 {
        payload.resize(4, 0); // room for the header protection sample
    }
    let len = payload.len() + 2 + 16;
    h.push(0x40 | (len >> 8) as u8);
    h.push(len as u8);
    let pn_at = h.len();
    h.extend_from_slice(&(pn as u16).to_be_bytes());
    let mut nonce = keys.iv;
    for (i, b) in u64::from(pn).to_be_bytes().iter().enumerate() {
        nonce[4 + i] ^= b;
    }
    let Ok(tag) =
        keys.aead
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce), &h, &mut payload)
    else {
        return Vec::new();
    };
    let mut pkt = h;
    pkt.extend_from_slice(&payload);
    pkt.extend_from_slice(&tag);
    let mut mask = GenericArray::clone_from_slice(&pkt[pn_at + 4..pn_at + 20]);
    keys.hp.encrypt_block(&mut mask);
    pkt[0] ^= mask[0] & 0x0f;
    pkt[pn_at] ^= mask[1];
    pkt[pn_at + 1] ^= mask[2];
    pkt
}

fn push_varint_to(v: &mut Vec<u8>, x: u64) {
    if x < 64 {
        v.push(x as u8);
    } else if x < 16384 {
        v.extend_from_slice(&((x as u16) | 0x4000).to_be_bytes());
    } else {
        v.extend_from_slice(&((x as u32) | 0x8000_0000).to_be_bytes());
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    pub fn push_varint(v: &mut Vec<u8>, x: u64) {
        push_varint_to(v, x)
    }

    /// A CRYPTO frame.
    pub fn crypto(off: usize, data: &[u8]) -> Vec<u8> {
        let mut f = vec![0x06];
        push_varint(&mut f, off as u64);
        push_varint(&mut f, data.len() as u64);
        f.extend_from_slice(data);
        f
    }

    /// The ClientHello handshake message (no TLS record header), as QUIC carries it.
    pub fn hello_message(sni: &str, pad: usize) -> Vec<u8> {
        learn::payloads::client_hello(Some(sni), pad)[5..].to_vec()
    }

    const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

    /// RFC 9001 Appendix A.1 and A.2: keys, IV, header protection key and the protected
    /// client Initial, and RFC 9369 Appendix A.1/A.2 for v2.
    #[test]
    fn rfc_vectors() {
        // A.1 (v1): the client's key, IV and hp key.
        let (_, initial) = Hkdf::<Sha256>::extract(Some(&SALT_V1), &DCID);
        let mut secret = [0u8; 32];
        expand_label(&initial, b"client in", &mut secret).unwrap();
        assert_eq!(
            secret.to_vec(),
            hex("c00cf151ca5be075ed0ebfb5c80323c4 2d6b7db67881289af4008f1f6c357aea")
        );
        let client = Hkdf::<Sha256>::from_prk(&secret).unwrap();
        let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
        expand_label(&client, b"quic key", &mut key).unwrap();
        expand_label(&client, b"quic iv", &mut iv).unwrap();
        expand_label(&client, b"quic hp", &mut hp).unwrap();
        assert_eq!(key.to_vec(), hex("1f369613dd76d5467730efcbe3b1a22d"));
        assert_eq!(iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
        assert_eq!(hp.to_vec(), hex("9f50449e04a0e810283a1e9933adedd2"));
        // RFC 9369 A.1 (v2).
        let (_, initial) = Hkdf::<Sha256>::extract(Some(&SALT_V2), &DCID);
        expand_label(&initial, b"client in", &mut secret).unwrap();
        assert_eq!(
            secret.to_vec(),
            hex("14ec9d6eb9fd7af83bf5a668bc17a7e2 83766aade7ecd0891f70f9ff7f4bf47b")
        );
        let client = Hkdf::<Sha256>::from_prk(&secret).unwrap();
        expand_label(&client, b"quicv2 key", &mut key).unwrap();
        expand_label(&client, b"quicv2 iv", &mut iv).unwrap();
        expand_label(&client, b"quicv2 hp", &mut hp).unwrap();
        assert_eq!(key.to_vec(), hex("8b1a0bc121284290a29e0971b5cd045d"));
        assert_eq!(iv.to_vec(), hex("91f73e2351d8fa91660e909f"));
        assert_eq!(hp.to_vec(), hex("45b95e15235d6f45a6b19cbcb0294ba9"));
    }

    /// The client's CRYPTO frame of RFC 9001 A.2 / RFC 9369 A.2 (a ClientHello for
    /// "example.com"), padded to 1162 bytes of frames in the RFCs' packets.
    fn rfc_crypto_frame() -> Vec<u8> {
        hex(
            "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868
            04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578
            616d706c652e636f6dff01000100000a00080006001d00170018001000070005
            04616c706e000500050100000000003300260024001d00209370b2c9caa47fba
            baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400
            0d0010000e0403050306030203080408050806002d00020101001c0002400100
            3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000
            75300901100f088394c8f03e51570806048000ffff",
        )
    }

    #[test]
    fn rfc_client_initials_open() {
        // RFC 9001 A.2: the protected packet starts c000000001088394c8f03e5157080000449e7b9aec34.
        let frames = rfc_crypto_frame();
        let pkt = seal_initial(V1, &DCID, &[], 2, &frames, 1200);
        let expect_start = hex("c000000001088394c8f03e5157080000449e7b9aec34");
        // The RFC's header has no SCID and a 4-byte packet number; ours has a SCID: compare
        // by opening instead, and check the RFC packet's own first bytes below.
        assert!(expect_start.len() == 22);
        assert_eq!(datagram_hello(&pkt), Hello::Name("example.com".into()));
        let pkt2 = seal_initial(V2, &DCID, &[], 2, &frames, 1200);
        assert_eq!(datagram_hello(&pkt2), Hello::Name("example.com".into()));
        // A v1 packet read as v2 (version bytes changed) does not open.
        let mut wrong = pkt.clone();
        wrong[1..5].copy_from_slice(&V2.to_be_bytes());
        wrong[0] = (wrong[0] & !0x30) | 0x10;
        assert_eq!(datagram_hello(&wrong), Hello::None);
    }

    /// The exact protected packet of RFC 9001 Appendix A.2 (first and last bytes checked by
    /// opening the whole of it).
    #[test]
    fn rfc9001_a2_packet_opens() {
        let header = hex("c300000001088394c8f03e5157080000449e00000002");
        let frames = rfc_crypto_frame();
        let keys = client_keys(V1, &DCID).unwrap();
        // Seal exactly as A.2 does: header above (pn 2, 4-byte pn), frames padded to 1162.
        let mut payload = frames.clone();
        payload.resize(1162, 0);
        let mut nonce = keys.iv;
        nonce[11] ^= 2;
        let tag = keys
            .aead
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce), &header, &mut payload)
            .unwrap();
        let mut pkt = header.clone();
        pkt.extend_from_slice(&payload);
        pkt.extend_from_slice(&tag);
        let mut mask = GenericArray::clone_from_slice(&pkt[22..38]);
        keys.hp.encrypt_block(&mut mask);
        assert_eq!(mask[..5].to_vec(), hex("437b9aec36"));
        pkt[0] ^= mask[0] & 0x0f;
        for i in 0..4 {
            pkt[18 + i] ^= mask[1 + i];
        }
        assert_eq!(
            pkt[..22].to_vec(),
            hex("c000000001088394c8f03e5157080000449e7b9aec34")
        );
        assert_eq!(
            pkt[pkt.len() - 16..].to_vec(),
            hex("e221af44860018ab0856972e194cd934")
        );
        assert_eq!(datagram_hello(&pkt), Hello::Name("example.com".into()));
    }

    fn key(port: u16) -> FlowKey {
        (
            "192.168.1.10".parse().unwrap(),
            port,
            "203.0.113.5".parse().unwrap(),
            443,
        )
    }

    #[test]
    fn split_scattered_coalesced_and_retry() {
        let msg = hello_message("video.example.net", 1500);
        let mut asm = QuicAssembler::default();
        // Two Initials in two datagrams, the second half first, in scattered frames.
        let (a, b) = msg.split_at(900);
        let mut f2 = crypto(900 + 300, &b[300..]);
        f2.extend_from_slice(&[0x01, 0x00, 0x00]); // PING, padding
        f2.extend_from_slice(&crypto(900, &b[..300]));
        let p2 = seal_initial(V1, &DCID, &[], 1, &f2, 1200);
        assert_eq!(asm.datagram(key(1), &p2, 10), Hello::NeedMore);
        assert_eq!(asm.len(), 1);
        let mut f1 = vec![0x02, 0x00, 0x00, 0x00, 0x00]; // an ACK frame
        f1.extend_from_slice(&crypto(400, &a[400..]));
        f1.extend_from_slice(&crypto(0, &a[..400]));
        let p1 = seal_initial(V1, &DCID, &[], 0, &f1, 1200);
        assert_eq!(
            asm.datagram(key(1), &p1, 10),
            Hello::Name("video.example.net".into())
        );
        assert!(asm.is_empty());
        // Both packets coalesced in one datagram (v2).
        let mut d = seal_initial(V2, &DCID, &[], 0, &crypto(0, a), 0);
        d.extend_from_slice(&seal_initial(V2, &DCID, &[], 1, &crypto(900, b), 1200));
        assert_eq!(
            asm.datagram(key(2), &d, 10),
            Hello::Name("video.example.net".into())
        );
        // A Retry: the first attempt's half, then the whole hello again under a new DCID
        // with a token.
        let p = seal_initial(V1, &DCID, &[], 0, &crypto(0, a), 1200);
        assert_eq!(asm.datagram(key(3), &p, 10), Hello::NeedMore);
        let new_dcid = [9u8; 12];
        let mut d = seal_initial(V1, &new_dcid, b"retry-token", 1, &crypto(0, a), 0);
        d.extend_from_slice(&seal_initial(
            V1,
            &new_dcid,
            b"retry-token",
            2,
            &crypto(900, b),
            1200,
        ));
        assert_eq!(
            asm.datagram(key(3), &d, 10),
            Hello::Name("video.example.net".into())
        );
        // Damaged: one byte flipped in the ciphertext.
        let mut bad = seal_initial(V1, &DCID, &[], 0, &crypto(0, &msg), 1200);
        let n = bad.len();
        bad[n - 40] ^= 1;
        assert_eq!(asm.datagram(key(4), &bad, 10), Hello::None);
        assert_eq!(asm.undecryptable, 1);
        // A short-header datagram and garbage.
        assert_eq!(asm.datagram(key(5), &[0x40; 100], 10), Hello::None);
        for cut in 0..p1.len() {
            let _ = asm.datagram(key(6), &p1[..cut], 10);
        }
    }

    #[test]
    fn bounded_and_expiring() {
        let msg = hello_message("big.example", 1500);
        let first = seal_initial(V1, &DCID, &[], 0, &crypto(0, &msg[..900]), 1200);
        let mut asm = QuicAssembler::default();
        for i in 0..1000u16 {
            asm.datagram(key(i), &first, 100);
            assert!(asm.len() <= MAX_PENDING);
        }
        assert!(asm.dropped > 0);
        asm.expire(100 + PENDING_SECONDS + 1);
        assert!(asm.is_empty());
        // The rest arriving after the wait: no name, the flow was forgotten.
        asm.datagram(key(1), &first, 200);
        let rest = seal_initial(V1, &DCID, &[], 1, &crypto(900, &msg[900..]), 1200);
        assert_eq!(asm.datagram(key(1), &rest, 203), Hello::NeedMore);
        // Packets beyond MAX_PACKETS without the start: dropped.
        let mut asm = QuicAssembler::default();
        for i in 0..MAX_PACKETS as usize {
            let p = seal_initial(V1, &DCID, &[], i as u32, &crypto(100 + i, b"x"), 1200);
            asm.datagram(key(7), &p, 1);
        }
        assert!(asm.is_empty());
    }

    #[test]
    fn ech_outer_name_is_labeled() {
        let mut h = learn::payloads::client_hello_with(Some("cloudflare-ech.com"), 0, true);
        let msg = h.split_off(5);
        let p = seal_initial(V1, &DCID, &[], 0, &crypto(0, &msg), 1200);
        assert_eq!(datagram_hello(&p), Hello::Ech("cloudflare-ech.com".into()));
    }

    #[test]
    fn first_byte_test() {
        assert!(maybe_initial(0xc3)); // v1 Initial
        assert!(maybe_initial(0xd1)); // v2 Initial
        assert!(!maybe_initial(0x43)); // short header
        assert!(!maybe_initial(0xe0)); // v1 Handshake
        assert!(!maybe_initial(0xf0)); // v1 Retry
    }
}
