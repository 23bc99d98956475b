//! The ubus event `connmap.alert`: the wire protocol of OpenWrt's ubusd, spoken over its unix
//! socket (`/var/run/ubus/ubus.sock`) in a few hundred bytes of code instead of linking
//! libubus, libubox and libjson-c. What it sends is exactly what libubus's `ubus_send_event`
//! sends: a `ubus_msghdr` (version 0, `UBUS_MSG_INVOKE`, sequence, peer = the event object 1)
//! and a blob holding `UBUS_ATTR_OBJID` = 1, `UBUS_ATTR_METHOD` = "send" and `UBUS_ATTR_DATA`,
//! a blobmsg table `{"id": "connmap.alert", "data": {...}}`; then it waits (bounded) for
//! ubusd's `UBUS_MSG_STATUS` reply. Blobs (libubox blob.h): a big-endian `id_len` word (bit 31
//! extended = blobmsg, bits 24-30 the id or blobmsg type, bits 0-23 the length with the
//! header), the payload, padding to 4 bytes; blobmsg attributes start with a 16-bit name
//! length and the NUL-terminated name, padded to 4.
//!
//! Run on the alert thread (deliver.rs), one connection per alert: alerts are rare, and a
//! ubusd restarted meanwhile costs nothing. The user connmap runs as needs a ubusd ACL
//! allowing it to send the event (the package installs /usr/share/acl.d/connmap.json).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

pub const DEFAULT_SOCKET: &str = crate::cli::defaults::UBUS;
pub const EVENT: &str = "connmap.alert";

const MSG_HELLO: u8 = 0;
const MSG_STATUS: u8 = 1;
const MSG_INVOKE: u8 = 5;
const ATTR_STATUS: u8 = 1;
const ATTR_OBJID: u8 = 3;
const ATTR_METHOD: u8 = 4;
const ATTR_DATA: u8 = 7;
const SYSTEM_OBJECT_EVENT: u32 = 1;

const BLOBMSG_TABLE: u8 = 2;
const BLOBMSG_STRING: u8 = 3;
const BLOBMSG_INT64: u8 = 4;
const EXTENDED: u32 = 0x8000_0000;
/// ubusd refuses messages above 64 KB (UBUS_MSG_CHUNK_SIZE); an alert is far smaller.
const MAX_MESSAGE: usize = 60 << 10;

/// Starts an attribute; returns where its header is.
fn start(buf: &mut Vec<u8>) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    at
}

/// Ends the attribute started at `at`: writes its header and pads to 4 bytes.
fn end(buf: &mut Vec<u8>, at: usize, id: u8, extended: bool) {
    let len = (buf.len() - at) as u32 & 0x00ff_ffff;
    let word = if extended { EXTENDED } else { 0 } | (u32::from(id & 0x7f) << 24) | len;
    buf[at..at + 4].copy_from_slice(&word.to_be_bytes());
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

/// A blobmsg attribute's header: the name, NUL-terminated, padded to 4 with its length.
fn blobmsg_name(buf: &mut Vec<u8>, name: &str) {
    let name = &name.as_bytes()[..name.len().min(0xfff)];
    buf.extend_from_slice(&(name.len() as u16).to_be_bytes());
    buf.extend_from_slice(name);
    buf.push(0);
    while (buf.len() % 4) != 0 {
        buf.push(0);
    }
}

/// A blobmsg table being written (`Blobmsg::table` ... `end`): the attribute writers of
/// libubox's blobmsg.h for the types an alert needs.
pub struct Blobmsg<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Blobmsg<'a> {
    /// Writes into `buf` (attributes appended).
    pub fn new(buf: &'a mut Vec<u8>) -> Blobmsg<'a> {
        Blobmsg { buf }
    }

    fn attr(&mut self, name: &str, kind: u8, data: &[u8]) {
        let at = start(self.buf);
        blobmsg_name(self.buf, name);
        self.buf.extend_from_slice(data);
        end(self.buf, at, kind, true);
    }

    pub fn string(&mut self, name: &str, v: &str) {
        let mut d = v.replace('\0', "").into_bytes();
        d.push(0);
        self.attr(name, BLOBMSG_STRING, &d);
    }

    pub fn int(&mut self, name: &str, v: u64) {
        self.attr(name, BLOBMSG_INT64, &v.to_be_bytes());
    }

    /// `null` (UNSPEC with no data; `ubus listen` prints null).
    pub fn null(&mut self, name: &str) {
        self.attr(name, 0, &[]);
    }

    pub fn opt_string(&mut self, name: &str, v: Option<&str>) {
        match v {
            Some(v) => self.string(name, v),
            None => self.null(name),
        }
    }

    pub fn opt_int(&mut self, name: &str, v: Option<u64>) {
        match v {
            Some(v) => self.int(name, v),
            None => self.null(name),
        }
    }

    /// A nested table, filled by `fill`.
    pub fn table(&mut self, name: &str, fill: &mut dyn FnMut(&mut Blobmsg)) {
        let at = start(self.buf);
        blobmsg_name(self.buf, name);
        fill(&mut Blobmsg::new(self.buf));
        end(self.buf, at, BLOBMSG_TABLE, true);
    }
}

/// The whole `ubus_send_event` message (header and blob) with sequence number `seq`; `data`
/// is the event's data table's attributes (written with `Blobmsg`).
pub fn event_message(seq: u16, event: &str, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0, MSG_INVOKE];
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&SYSTEM_OBJECT_EVENT.to_be_bytes());
    let root = start(&mut m);
    let a = start(&mut m);
    m.extend_from_slice(&SYSTEM_OBJECT_EVENT.to_be_bytes());
    end(&mut m, a, ATTR_OBJID, false);
    let a = start(&mut m);
    m.extend_from_slice(b"send\0");
    end(&mut m, a, ATTR_METHOD, false);
    let nest = start(&mut m);
    let mut b = Blobmsg::new(&mut m);
    b.string("id", event);
    b.table("data", &mut |t| t.buf.extend_from_slice(data));
    end(&mut m, nest, ATTR_DATA, false);
    end(&mut m, root, 0, false);
    m
}

/// Reads one message: (type, sequence, blob payload without its root header).
fn read_message(s: &mut UnixStream) -> Result<(u8, u16, Vec<u8>), String> {
    let mut head = [0u8; 12];
    s.read_exact(&mut head).map_err(|e| format!("read: {e}"))?;
    let word = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
    let len = (word & 0x00ff_ffff) as usize;
    if !(4..=MAX_MESSAGE + 4096).contains(&len) {
        return Err(format!("bad message length {len}"));
    }
    let mut body = vec![0u8; (len - 4).div_ceil(4) * 4];
    s.read_exact(&mut body).map_err(|e| format!("read: {e}"))?;
    body.truncate(len - 4);
    Ok((head[1], u16::from_be_bytes([head[2], head[3]]), body))
}

/// `UBUS_ATTR_STATUS` in a STATUS message's attributes.
fn status_of(mut body: &[u8]) -> Option<u32> {
    while body.len() >= 4 {
        let word = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let len = (word & 0x00ff_ffff) as usize;
        if len < 4 || len > body.len() {
            return None;
        }
        if ((word >> 24) & 0x7f) as u8 == ATTR_STATUS && len >= 8 {
            return Some(u32::from_be_bytes([body[4], body[5], body[6], body[7]]));
        }
        body = body.get(len.div_ceil(4) * 4..).unwrap_or(&[]);
    }
    None
}

/// Sends `event` with `data` through the ubusd at `socket`; waits at most `timeout` for each
/// step. `Err` says why it failed (ubusd missing, permission denied by its ACL...).
pub fn send_event(
    socket: &Path,
    event: &str,
    data: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    let mut s = UnixStream::connect(socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let (kind, _, _) = read_message(&mut s)?;
    if kind != MSG_HELLO {
        return Err(format!("expected ubusd's hello, got message type {kind}"));
    }
    let seq = 1;
    let msg = event_message(seq, event, data);
    if msg.len() > MAX_MESSAGE {
        return Err(format!("the event is too large ({} bytes)", msg.len()));
    }
    s.write_all(&msg).map_err(|e| format!("write: {e}"))?;
    for _ in 0..8 {
        let (kind, got, body) = read_message(&mut s)?;
        if kind == MSG_STATUS && got == seq {
            return match status_of(&body) {
                Some(0) => Ok(()),
                Some(6) => Err("permission denied by ubusd's ACL (see /usr/share/acl.d)".into()),
                Some(n) => Err(format!("ubusd answered status {n}")),
                None => Err("ubusd's answer has no status".into()),
            };
        }
    }
    Err("no status from ubusd".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_what_libubus_sends() {
        let mut data = Vec::new();
        let mut b = Blobmsg::new(&mut data);
        b.string("a", "b");
        b.int("n", 7);
        b.null("z");
        b.table("t", &mut |t| t.opt_string("s", None));
        // "a": extended STRING, name "a" (2+1+1 → 4), "b\0" → 12 bytes, padded
        assert_eq!(&data[..12], b"\x83\x00\x00\x0a\x00\x01a\x00b\x00\x00\x00");
        // "n": INT64, 4 + 4 + 8 = 16
        assert_eq!(&data[12..16], b"\x84\x00\x00\x10");
        assert_eq!(&data[20..28], &7u64.to_be_bytes());
        // "z": UNSPEC, no data
        assert_eq!(&data[28..32], b"\x80\x00\x00\x08");
        let m = event_message(1, "x", &data);
        // header
        assert_eq!(&m[..8], &[0, 5, 0, 1, 0, 0, 0, 1]);
        // root blob: id 0, its length covers the rest
        let root = u32::from_be_bytes(m[8..12].try_into().unwrap());
        assert_eq!(root as usize, m.len() - 8);
        // OBJID = 1
        assert_eq!(&m[12..20], &[3, 0, 0, 8, 0, 0, 0, 1]);
        // METHOD "send\0" (9 bytes, padded to 12)
        assert_eq!(&m[20..32], b"\x04\x00\x00\x09send\0\0\0\0");
        // DATA nest, then the blobmsg "id": extended, type string, name "id"
        assert_eq!(m[32], 7);
        assert_eq!(m[36], 0x80 | BLOBMSG_STRING);
        assert_eq!(&m[40..44], b"\x00\x02id");
        assert_eq!(m.len() % 4, 0);
    }

    #[test]
    fn status_is_found_among_attributes() {
        assert_eq!(status_of(&[1, 0, 0, 8, 0, 0, 0, 6]), Some(6));
        assert_eq!(
            status_of(&[2, 0, 0, 5, 9, 0, 0, 0, 1, 0, 0, 8, 0, 0, 0, 0]),
            Some(0)
        );
        assert_eq!(status_of(&[1, 0, 0, 200]), None);
        assert_eq!(status_of(&[]), None);
    }

    #[test]
    fn no_ubusd_is_a_clear_error() {
        let e = send_event(
            Path::new("/nonexistent/ubus.sock"),
            EVENT,
            &[],
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert!(e.contains("/nonexistent/ubus.sock"), "{e}");
    }
}
