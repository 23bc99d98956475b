//! The alert memory: what each device is known to have done (countries, ASNs), which devices
//! exist, when learning started, and the recent alerts; bounded, and saved in the state file
//! as opaque bytes (`Alerts::memory_bytes`, postcard like src/state.rs).
//!
//! Bounds: `MAX_DEVICES` devices (least recently seen forgotten first), each with at most
//! `MAX_COUNTRIES` countries and `MAX_ASNS` ASNs (least recently seen forgotten first: one
//! contacted again after that fires again). An entry is 8 bytes (the key and the hour it was
//! last seen), so the memory is at most 1024 × (32 + 128) × 8 B = 1.3 MB (plus ~100 B a
//! device); a home network's devices typically hold a few hundred bytes each.

use crate::packet::Addr;
use serde::{Deserialize, Serialize};

pub const MAX_DEVICES: usize = 1024;
pub const MAX_COUNTRIES: usize = 32;
pub const MAX_ASNS: usize = 128;
/// Alerts kept for alerts.json and the state file.
pub const MAX_RECENT: usize = 100;
/// Longest text kept from a restored memory (names, messages).
const MAX_TEXT: usize = 512;

/// A device: its MAC when known, else its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DevKey {
    Mac([u8; 6]),
    Ip(Addr),
}

impl DevKey {
    pub fn of(ip: Addr, mac: Option<[u8; 6]>) -> DevKey {
        mac.map_or(DevKey::Ip(ip), DevKey::Mac)
    }
}

/// What is known of one device.
#[derive(Debug, Clone, Default)]
pub struct Device {
    pub first_seen: u64,
    pub last_seen: u64,
    /// (ISO code, hour last seen)
    pub countries: Vec<([u8; 2], u32)>,
    /// (ASN, hour last seen)
    pub asns: Vec<(u32, u32)>,
    /// Per rule (`Rule as usize`): when it last fired for this device (0: never).
    pub last_fired: [u64; 5],
    /// The upload rule's clock hour and the bytes sent in it, and whether it fired.
    pub upload_hour: u64,
    pub upload_bytes: u64,
    pub upload_fired: bool,
    /// The latest address and name (not saved: names come back from the lease files).
    pub ip: Option<Addr>,
    pub name: Option<Box<str>>,
}

/// Marks `key` seen at `hour`; true when it was not known. A full list forgets its least
/// recently seen entry.
pub fn remember<K: Copy + PartialEq>(
    list: &mut Vec<(K, u32)>,
    key: K,
    hour: u32,
    max: usize,
) -> bool {
    if let Some(e) = list.iter_mut().find(|e| e.0 == key) {
        e.1 = e.1.max(hour);
        return false;
    }
    if list.len() >= max {
        if let Some(i) = (0..list.len()).min_by_key(|&i| list[i].1) {
            list.swap_remove(i);
        }
    }
    list.push((key, hour));
    true
}

pub fn hour_of(time: u64) -> u32 {
    (time / 3600).min(u64::from(u32::MAX)) as u32
}

/// The saved form of the memory.
#[derive(Serialize, Deserialize, Default)]
pub struct MemoryFile {
    pub version: u32,
    pub learning_start: Option<u64>,
    pub next_id: u64,
    pub devices: Vec<DeviceRec>,
    pub alerts: Vec<AlertRec>,
}

pub const MEMORY_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
pub struct DeviceRec {
    pub key: DevKey,
    pub first_seen: u64,
    pub last_seen: u64,
    pub countries: Vec<([u8; 2], u32)>,
    pub asns: Vec<(u32, u32)>,
    pub last_fired: [u64; 5],
}

/// An alert as saved (and as kept in RAM).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct AlertRec {
    pub id: u64,
    pub time: u64,
    pub rule: u8,
    pub device_ip: Option<Addr>,
    pub device_mac: Option<[u8; 6]>,
    pub device_name: Option<String>,
    pub remote: Option<RemoteRec>,
    pub list: Option<String>,
    pub bytes: Option<u64>,
    pub message: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct RemoteRec {
    pub ip: Addr,
    pub country: Option<[u8; 2]>,
    pub asn: Option<u32>,
    pub org: Option<String>,
    pub name: Option<String>,
}

/// A country code as two ASCII capitals, or nothing.
pub fn valid_country(c: [u8; 2]) -> Option<[u8; 2]> {
    c.iter()
        .all(u8::is_ascii_alphabetic)
        .then(|| c.map(|b| b.to_ascii_uppercase()))
}

/// Text from an untrusted memory: bounded, no control characters.
pub fn clean_text(s: String) -> String {
    let mut s: String = s.chars().filter(|c| !c.is_control()).collect();
    if s.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl AlertRec {
    /// The record with its texts cleaned and bounded; `None` for an unknown rule.
    pub fn cleaned(mut self) -> Option<AlertRec> {
        if self.rule >= 5 {
            return None;
        }
        self.device_name = self.device_name.map(clean_text).filter(|s| !s.is_empty());
        self.list = self.list.map(clean_text);
        self.message = clean_text(self.message);
        if let Some(r) = &mut self.remote {
            r.country = r.country.and_then(valid_country);
            r.org = r.org.take().map(clean_text);
            r.name = r.name.take().map(clean_text);
        }
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remember_is_bounded_and_forgets_the_least_recently_seen() {
        let mut l = Vec::new();
        assert!(remember(&mut l, 1u32, 10, 3));
        assert!(remember(&mut l, 2, 5, 3));
        assert!(remember(&mut l, 3, 7, 3));
        assert!(!remember(&mut l, 2, 20, 3)); // known, now seen at 20
        assert!(remember(&mut l, 4, 21, 3)); // full: 3 (hour 7) goes
        assert_eq!(l.len(), 3);
        assert!(l.iter().all(|e| e.0 != 3));
        assert!(remember(&mut l, 3, 22, 3));
    }

    #[test]
    fn restored_text_is_cleaned() {
        let r = AlertRec {
            rule: 9,
            ..Default::default()
        };
        assert!(r.cleaned().is_none());
        let r = AlertRec {
            rule: 1,
            message: format!("a\u{7}b{}", "x".repeat(2000)),
            remote: Some(RemoteRec {
                country: Some(*b"c1"),
                ..Default::default()
            }),
            ..Default::default()
        }
        .cleaned()
        .unwrap();
        assert!(r.message.starts_with("abx") && r.message.len() == MAX_TEXT);
        assert_eq!(r.remote.unwrap().country, None);
        assert_eq!(valid_country(*b"cn"), Some(*b"CN"));
    }
}
