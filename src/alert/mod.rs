//! Alerts: a device doing something new, told the OpenWrt way (syslog, a ubus event, hook
//! scripts), with no HTTP client in the daemon.
//!
//! Rules (each on or off, `--alert-*`): first contact of a device with a new country
//! (`new_country`), a new ASN (`new_asn`), a remote on a block list (`blocklist`, see
//! blocklist.rs), more than N bytes sent by a device in one clock hour (`upload`), a device
//! never seen before (`new_device`). A device is its MAC when known, else its address.
//!
//! Input, off the packet path: the daemon hands `observe_pair` one observation per (device,
//! remote) pair that had traffic since the last sweep (the history's per-snapshot sweep) and
//! `observe_host` each LAN device at each snapshot. The time in them is the capture clock, so
//! a replayed capture can fire alerts.
//!
//! Learning: for `--alert-learning` seconds (default 7 days) from the first observation ever
//! (remembered in the alert memory, so a restart does not start it again) new countries, ASNs
//! and devices are learned without firing. Block-list and upload alerts fire from the start.
//!
//! Rate limit: one alert per (device, rule) per `--alert-window` (default 1 h); the others
//! are counted in `suppressed` (what they would have taught is learned all the same). A fired
//! alert is logged (syslog), kept in the recent list (`alerts.json`, at most 100) and queued
//! for delivery (deliver.rs: ubus event, hooks); a full queue drops the delivery and counts it
//! in `suppressed` too.
//!
//! The memory (rules.rs) is bounded and goes into the state file as opaque bytes.

pub mod blocklist;
pub mod deliver;
pub mod rules;
pub mod ubus;

use crate::devnames::format_mac;
use crate::packet::Addr;
use crate::snapshot::{json_addr, json_str, json_u64};
use blocklist::Blocklists;
use deliver::{DeliverOptions, Delivery, Job};
use rules::{
    hour_of, AlertRec, DevKey, Device, RemoteRec, MAX_ASNS, MAX_COUNTRIES, MAX_DEVICES, MAX_RECENT,
    MEMORY_VERSION,
};
use std::ffi::CString;
use std::path::PathBuf;
use std::time::Duration;

/// One (device, remote) pair's traffic since the last sweep.
#[derive(Debug, Clone, Default)]
pub struct PairObs<'a> {
    /// capture clock, unix seconds (pcap timestamp when replaying)
    pub time: u64,
    /// LAN address
    pub host: Addr,
    pub mac: Option<[u8; 6]>,
    pub remote: Addr,
    /// ISO code from the database (None: unknown)
    pub country: Option<[u8; 2]>,
    pub asn: Option<u32>,
    pub org: Option<&'a str>,
    /// the remote's most recent learned name
    pub name: Option<&'a str>,
    /// since the last sweep
    pub bytes_out: u64,
    pub bytes_in: u64,
}

/// The rules, in the order of `Device::last_fired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    NewCountry = 0,
    NewAsn = 1,
    Blocklist = 2,
    Upload = 3,
    NewDevice = 4,
}

impl Rule {
    pub const ALL: [Rule; 5] = [
        Rule::NewCountry,
        Rule::NewAsn,
        Rule::Blocklist,
        Rule::Upload,
        Rule::NewDevice,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::NewCountry => "new_country",
            Rule::NewAsn => "new_asn",
            Rule::Blocklist => "blocklist",
            Rule::Upload => "upload",
            Rule::NewDevice => "new_device",
        }
    }

    fn from_u8(n: u8) -> Option<Rule> {
        Rule::ALL.get(usize::from(n)).copied()
    }
}

pub const DEFAULT_LEARNING: u64 = crate::cli::defaults::ALERT_LEARNING;
pub const DEFAULT_WINDOW: u64 = crate::cli::defaults::ALERT_WINDOW;

/// The alert settings (from the command line).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    pub new_country: bool,
    pub new_asn: bool,
    pub blocklist: bool,
    /// bytes per device per clock hour; 0: off
    pub upload_per_hour: u64,
    pub new_device: bool,
    /// seconds; 0: no learning period
    pub learning: u64,
    /// seconds: one alert per (device, rule) per window
    pub window: u64,
    pub blocklists: Vec<PathBuf>,
    /// hook scripts; `None`: none
    pub dir: Option<PathBuf>,
    /// ubusd's socket; `None`: no ubus event
    pub ubus: Option<PathBuf>,
    pub hook_timeout: u64,
}

impl Default for AlertConfig {
    fn default() -> AlertConfig {
        AlertConfig {
            new_country: crate::cli::defaults::ALERT_NEW_COUNTRY,
            new_asn: crate::cli::defaults::ALERT_NEW_ASN,
            blocklist: crate::cli::defaults::ALERT_BLOCKLIST,
            upload_per_hour: crate::cli::defaults::ALERT_UPLOAD,
            new_device: crate::cli::defaults::ALERT_NEW_DEVICE,
            learning: DEFAULT_LEARNING,
            window: DEFAULT_WINDOW,
            blocklists: Vec::new(),
            dir: Some(deliver::DEFAULT_DIR.into()),
            ubus: Some(ubus::DEFAULT_SOCKET.into()),
            hook_timeout: deliver::DEFAULT_TIMEOUT.as_secs(),
        }
    }
}

impl AlertConfig {
    fn on(&self, rule: Rule) -> bool {
        match rule {
            Rule::NewCountry => self.new_country,
            Rule::NewAsn => self.new_asn,
            Rule::Blocklist => self.blocklist,
            Rule::Upload => self.upload_per_hour > 0,
            Rule::NewDevice => self.new_device,
        }
    }
}

/// The remote side of an alert.
struct RemoteView<'a> {
    ip: Addr,
    country: Option<[u8; 2]>,
    asn: Option<u32>,
    org: Option<&'a str>,
    name: Option<&'a str>,
}

/// The engine: rules, memory, recent alerts, delivery.
pub struct Alerts {
    pub cfg: AlertConfig,
    blocklists: Blocklists,
    devices: rules::DevMap,
    learning_start: Option<u64>,
    next_id: u64,
    pub suppressed: u64,
    /// most recent first (at most `MAX_RECENT`)
    recent: Vec<AlertRec>,
    delivery: Option<Delivery>,
    /// Something changed for alerts.json since the last `take_changed`.
    changed: bool,
    /// The last alerts.json rendered showed a `learning_until`.
    shown_learning: bool,
}

impl Alerts {
    /// The engine without delivery threads or block lists (tests; `start` adds them).
    pub fn new(cfg: AlertConfig) -> Alerts {
        Alerts {
            cfg,
            blocklists: Blocklists::default(),
            devices: rules::DevMap::default(),
            learning_start: None,
            next_id: 1,
            suppressed: 0,
            recent: Vec::new(),
            delivery: None,
            changed: true,
            shown_learning: true,
        }
    }

    /// The engine with its block lists read and its delivery thread started.
    pub fn start(cfg: AlertConfig) -> Alerts {
        let mut a = Alerts::new(cfg);
        a.blocklists = Blocklists::load_logged(&a.cfg.blocklists);
        a.delivery = Delivery::start(DeliverOptions {
            dir: a.cfg.dir.clone(),
            ubus: a.cfg.ubus.clone(),
            timeout: Duration::from_secs(a.cfg.hook_timeout.max(1)),
        });
        a
    }

    /// Replaces the block lists (tests).
    pub fn set_blocklists(&mut self, b: Blocklists) {
        self.blocklists = b;
    }

    /// SIGHUP: reads the block lists again.
    pub fn reload_blocklists(&mut self) {
        if !self.cfg.blocklists.is_empty() {
            self.blocklists = Blocklists::load_logged(&self.cfg.blocklists);
        }
    }

    /// Delivers what is queued (at most `grace`) and stops the delivery thread (on exit).
    pub fn finish(&mut self, grace: Duration) {
        if let Some(d) = self.delivery.take() {
            d.finish(grace);
        }
    }

    /// When learning ends (`None`: no learning period, or not started yet).
    pub fn learning_until(&self) -> Option<u64> {
        let start = self.learning_start.filter(|_| self.cfg.learning > 0)?;
        Some(start.saturating_add(self.cfg.learning))
    }

    fn learning(&mut self, time: u64) -> bool {
        if self.learning_start.is_none() {
            self.changed = true; // learning_until is known from now on
            self.shown_learning = true;
        }
        let start = *self.learning_start.get_or_insert(time);
        self.cfg.learning > 0 && time < start.saturating_add(self.cfg.learning)
    }

    /// The least recently seen device, and when.
    fn oldest(&self) -> Option<(DevKey, u64)> {
        (self.devices.iter())
            .min_by_key(|(_, d)| d.last_seen)
            .map(|(k, d)| (*k, d.last_seen))
    }

    /// Room for new devices: the least recently seen eighth is forgotten at once (the lowest
    /// keys among those seen last at the cut), as the tables evict. One pass per 128 new
    /// devices: a flood of spoofed LAN sources made one scan of all devices per new device
    /// the daemon's largest cost (BENCHMARKS.md, tenth round).
    #[cold]
    fn forget_oldest(&mut self) {
        let mut stamps: Vec<u64> = self.devices.values().map(|d| d.last_seen).collect();
        let k = (stamps.len() / 8).max(1);
        stamps.sort_unstable();
        let cutoff = stamps[k - 1];
        let mut ties = k - stamps.iter().filter(|&&s| s < cutoff).count();
        self.devices.retain(|d| {
            if d.last_seen < cutoff {
                return false;
            }
            if d.last_seen == cutoff && ties > 0 {
                ties -= 1;
                return false;
            }
            true
        });
    }

    /// The device's entry (its index in `devices`), made (and `new_device` fired) when it is
    /// not known (`add_device`).
    #[inline]
    fn device(&mut self, time: u64, ip: Addr, mac: Option<[u8; 6]>, name: Option<&str>) -> usize {
        match self.devices.index(&DevKey::of(ip, mac)) {
            Some(i) => i,
            None => self.add_device(time, ip, mac, name),
        }
    }

    /// A device not known: its entry made and `new_device` fired. A device first seen by
    /// address and then with its MAC keeps what was learned.
    fn add_device(
        &mut self,
        time: u64,
        ip: Addr,
        mac: Option<[u8; 6]>,
        name: Option<&str>,
    ) -> usize {
        let key = DevKey::of(ip, mac);
        if mac.is_some() {
            if let Some(d) = self.devices.remove(&DevKey::Ip(ip)) {
                return self.devices.insert(key, d);
            }
        }
        if self.devices.len() >= MAX_DEVICES {
            self.forget_oldest();
        }
        let i = self.devices.insert(
            key,
            Device {
                first_seen: time,
                last_seen: time,
                ip: Some(ip),
                name: name.map(Box::from),
                ..Default::default()
            },
        );
        if !self.learning(time) {
            self.fire(time, key, Rule::NewDevice, None, None, None);
        }
        i
    }

    /// A LAN device at a snapshot (the `new_device` rule; its name for messages).
    pub fn observe_host(&mut self, time: u64, ip: Addr, mac: Option<[u8; 6]>, name: Option<&str>) {
        self.learning(time);
        let i = self.device(time, ip, mac, name);
        let d = self.devices.at_mut(i);
        d.last_seen = d.last_seen.max(time);
        d.ip = Some(ip);
        if d.name.as_deref() != name {
            d.name = name.map(Box::from);
        }
    }

    /// One pair's traffic of a sweep: the country, ASN, block-list and upload rules. What a
    /// rule would have taught is learned even when it is off (the memory is the same when
    /// it is turned on later).
    pub fn observe_pair(&mut self, obs: &PairObs) {
        let time = obs.time;
        let learning = self.learning(time);
        let i = self.device(time, obs.host, obs.mac, None);
        let hour = hour_of(time);
        let country = match obs.country {
            Some(c) => rules::valid_country(c),
            None => None,
        };
        let cfg = &self.cfg;
        let d = self.devices.at_mut(i);
        d.last_seen = d.last_seen.max(time);
        d.ip = Some(obs.host);
        let new_country = country.is_some_and(|c| d.remember_country(c, hour)) && !learning;
        let new_asn = obs.asn.is_some_and(|a| a != 0 && d.remember_asn(a, hour)) && !learning;
        let mut upload = None;
        if cfg.upload_per_hour > 0 {
            let h = time / 3600;
            if d.upload_hour != h {
                d.upload_hour = h;
                d.upload_bytes = 0;
                d.upload_fired = false;
            }
            d.upload_bytes = d.upload_bytes.saturating_add(obs.bytes_out);
            if d.upload_bytes > cfg.upload_per_hour && !d.upload_fired {
                d.upload_fired = true;
                upload = Some(d.upload_bytes);
            }
        }
        let listed = if cfg.blocklist && !self.blocklists.is_empty() {
            self.blocklists.lookup(obs.remote).map(str::to_string)
        } else {
            None
        };
        if !(new_country || new_asn || listed.is_some() || upload.is_some()) {
            return;
        }
        let key = self.devices.key_at(i);
        let remote = RemoteView {
            ip: obs.remote,
            country,
            asn: obs.asn,
            org: obs.org,
            name: obs.name,
        };
        let remote = Some(&remote);
        if new_country {
            self.fire(time, key, Rule::NewCountry, remote, None, None);
        }
        if new_asn {
            self.fire(time, key, Rule::NewAsn, remote, None, None);
        }
        if listed.is_some() {
            self.fire(time, key, Rule::Blocklist, remote, listed.as_deref(), None);
        }
        if upload.is_some() {
            self.fire(time, key, Rule::Upload, None, None, upload);
        }
    }

    /// An alert of `rule` for device `key`: rate limit, then log, keep, queue for delivery.
    fn fire(
        &mut self,
        time: u64,
        key: DevKey,
        rule: Rule,
        remote: Option<&RemoteView>,
        list: Option<&str>,
        bytes: Option<u64>,
    ) {
        if !self.cfg.on(rule) {
            return;
        }
        let window = self.cfg.window;
        let Some(d) = self.devices.get_mut(&key) else {
            return;
        };
        let last = &mut d.last_fired[rule as usize];
        if *last != 0 && time.saturating_sub(*last) < window {
            self.suppressed += 1;
            self.changed = true;
            return;
        }
        *last = time.max(1);
        let (ip, name) = (
            d.ip.unwrap_or_default(),
            d.name.as_deref().map(str::to_string),
        );
        let mac = match key {
            DevKey::Mac(m) => Some(m),
            DevKey::Ip(_) => None,
        };
        let rec = AlertRec {
            id: self.next_id,
            time,
            rule: rule as u8,
            device_ip: Some(ip),
            device_mac: mac,
            device_name: name,
            remote: remote.map(|r| RemoteRec {
                ip: r.ip,
                country: r.country,
                asn: r.asn,
                org: r.org.map(str::to_string),
                name: r.name.map(str::to_string),
            }),
            list: list.map(str::to_string),
            bytes,
            message: String::new(),
        };
        let rec = AlertRec {
            message: message(&rec, self.cfg.upload_per_hour),
            ..rec
        };
        self.next_id += 1;
        self.changed = true;
        log::warn!("alert {}: {}", rule.name(), rec.message);
        if let Some(del) = &self.delivery {
            if !del.send(Job {
                env: environment(&rec),
                event: alert_blob(&rec),
            }) {
                self.suppressed += 1;
                log::warn!("alert {}: delivery queue full, not delivered", rec.id);
            }
        }
        self.recent.truncate(MAX_RECENT - 1);
        self.recent.insert(0, rec);
    }

    /// True once after anything alerts.json shows changed, including the end of the
    /// learning period passing at `now`.
    pub fn take_changed(&mut self, now: u64) -> bool {
        let learning_ended = self.learning_until().is_some_and(|u| u <= now) && self.shown_learning;
        if learning_ended {
            self.shown_learning = false;
        }
        std::mem::take(&mut self.changed) || learning_ended
    }

    /// The recent alerts, most recent first.
    pub fn recent(&self) -> impl Iterator<Item = &AlertRec> {
        self.recent.iter()
    }

    /// alerts.json (docs/alerts.md).
    pub fn render(&self, now: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.recent.len() * 400);
        out.extend_from_slice(b"{\"version\":1,\"generated\":");
        json_u64(&mut out, now);
        out.extend_from_slice(b",\"learning_until\":");
        json_opt_u64(&mut out, self.learning_until().filter(|&u| u > now));
        let c = &self.cfg;
        let rules: [(&str, bool); 5] = [
            ("{\"new_country\":", c.new_country),
            (",\"new_asn\":", c.new_asn),
            (
                ",\"blocklist\":",
                c.blocklist && !self.blocklists.is_empty(),
            ),
            (",\"upload_per_hour\":", false),
            (",\"new_device\":", c.new_device),
        ];
        out.extend_from_slice(b",\"rules\":");
        for (i, (name, on)) in rules.into_iter().enumerate() {
            out.extend_from_slice(name.as_bytes());
            if i == 3 {
                json_u64(&mut out, c.upload_per_hour);
            } else {
                out.extend_from_slice(if on { b"true" } else { b"false" });
            }
        }
        out.extend_from_slice(b"},\"suppressed\":");
        json_u64(&mut out, self.suppressed);
        out.extend_from_slice(b",\"alerts\":[");
        for (i, a) in self.recent.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            alert_json(&mut out, a);
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// The memory as bytes for the state file.
    pub fn memory_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.devices.len() * 48 + self.recent.len() * 160);
        rules::put_uint(&mut out, u64::from(MEMORY_VERSION));
        rules::put_opt_uint(&mut out, self.learning_start);
        rules::put_uint(&mut out, self.next_id);
        rules::put_uint(&mut out, self.devices.len() as u64);
        for (k, d) in self.devices.iter() {
            let (c, a) = (&d.countries, &d.asns);
            rules::put_device(&mut out, *k, d.first_seen, d.last_seen, c, a, &d.last_fired);
        }
        rules::put_uint(&mut out, self.recent.len() as u64);
        for a in &self.recent {
            a.put(&mut out);
        }
        out
    }

    /// Takes back a memory saved by `memory_bytes`, never trusting it: bounds re-applied, bad
    /// entries dropped. Empty bytes (no memory saved) are fine.
    pub fn restore_memory(&mut self, bytes: &[u8]) -> Result<(), String> {
        if bytes.is_empty() {
            return Ok(());
        }
        let damaged = |e: &str| format!("the alert memory is damaged ({e}); starting afresh");
        let mut r = rules::Reader(bytes);
        let version = r.u32().map_err(damaged)?;
        if version != MEMORY_VERSION {
            return Err(format!(
                "alert memory version {version} is not supported (this connmap reads {MEMORY_VERSION})"
            ));
        }
        let learning_start = r.opt_u64().map_err(damaged)?;
        let next_id = r.u64().map_err(damaged)?;
        let mut devices = Vec::new();
        for _ in 0..r.count().map_err(damaged)? {
            devices.push(r.device().map_err(damaged)?);
        }
        let mut alerts = Vec::new();
        for _ in 0..r.count().map_err(damaged)? {
            alerts.push(r.alert().map_err(damaged)?);
        }
        self.learning_start = learning_start;
        self.next_id = next_id.max(1);
        // No sorts here (each is a full copy of the sort code in the binary): the most recently
        // seen devices and entries are kept by eviction, as when they are learned.
        self.devices.clear();
        for d in devices {
            if let Some(known) = self.devices.get(&d.key) {
                if known.last_seen >= d.last_seen {
                    continue;
                }
            } else if self.devices.len() >= MAX_DEVICES {
                match self.oldest() {
                    Some((k, t)) if t < d.last_seen => drop(self.devices.remove(&k)),
                    _ => continue,
                }
            }
            let countries = (d.countries.iter())
                .filter_map(|&(c, h)| Some((rules::country_id(rules::valid_country(c)?), h)));
            let ip = match d.key {
                DevKey::Ip(ip) => Some(ip),
                DevKey::Mac(_) => None,
            };
            let dev = Device {
                first_seen: d.first_seen.min(d.last_seen),
                last_seen: d.last_seen,
                countries: rules::most_recent(countries, MAX_COUNTRIES),
                asns: rules::most_recent(d.asns.into_iter(), MAX_ASNS),
                last_fired: d.last_fired,
                ip,
                ..Default::default()
            };
            self.devices.insert(d.key, dev);
        }
        self.recent = (alerts.into_iter())
            .filter_map(AlertRec::cleaned)
            .take(MAX_RECENT)
            .collect();
        if let Some(max) = self.recent.iter().map(|a| a.id).max() {
            self.next_id = self.next_id.max(max.saturating_add(1));
        }
        self.changed = true;
        self.shown_learning = true;
        Ok(())
    }

    /// Devices in the memory, and the entries they hold (countries + ASNs).
    pub fn memory_size(&self) -> (usize, usize) {
        let entries = (self.devices.values())
            .map(|d| d.countries.len() + d.asns.len())
            .sum();
        (self.devices.len(), entries)
    }
}

impl Drop for Alerts {
    fn drop(&mut self) {
        self.finish(Duration::from_secs(5));
    }
}

/// A country code (checked ASCII letters: see `rules::valid_country`).
fn country_text(c: &[u8; 2]) -> &str {
    std::str::from_utf8(c).unwrap_or("")
}

/// Appends an address as text.
fn push_addr(m: &mut String, a: &Addr) {
    m.push_str(a.text(&mut [0; 45]));
}

/// Appends a number.
fn push_u64(m: &mut String, n: u64) {
    m.push_str(itoa::Buffer::new().format(n));
}

/// Appends "laptop (192.168.1.23)" or "192.168.1.23".
fn push_device(m: &mut String, a: &AlertRec) {
    if let Some(n) = &a.device_name {
        m.push_str(n);
        m.push_str(" (");
    }
    if let Some(ip) = &a.device_ip {
        push_addr(m, ip);
    }
    if a.device_name.is_some() {
        m.push(')');
    }
}

/// Appends "192.0.2.1 (x.example)" or "192.0.2.1" (nothing without a remote).
fn push_remote(m: &mut String, r: Option<&RemoteRec>) {
    let Some(r) = r else { return };
    push_addr(m, &r.ip);
    if let Some(n) = &r.name {
        m.push_str(" (");
        m.push_str(n);
        m.push(')');
    }
}

/// The one-line text of an alert (written piece by piece: one small function where seven
/// `format!`s were).
fn message(a: &AlertRec, limit: u64) -> String {
    let mut m = String::with_capacity(128);
    let remote = a.remote.as_ref();
    let Some(rule) = Rule::from_u8(a.rule) else {
        return m;
    };
    if rule == Rule::NewDevice {
        m.push_str("new device on the network: ");
    }
    push_device(&mut m, a);
    match rule {
        Rule::NewCountry | Rule::NewAsn => {
            m.push_str(" reached ");
            if rule == Rule::NewCountry {
                m.push_str(
                    remote
                        .and_then(|r| r.country.as_ref())
                        .map_or("", country_text),
                );
            } else {
                m.push_str("AS");
                push_u64(&mut m, remote.and_then(|r| r.asn).map_or(0, u64::from));
                if let Some(org) = remote.and_then(|r| r.org.as_deref()) {
                    m.push_str(" (");
                    m.push_str(org);
                    m.push(')');
                }
            }
            m.push_str(" for the first time: ");
            push_remote(&mut m, remote);
        }
        Rule::Blocklist => {
            m.push_str(" contacted ");
            push_remote(&mut m, remote);
            m.push_str(", listed in ");
            m.push_str(a.list.as_deref().unwrap_or(""));
        }
        Rule::Upload => {
            m.push_str(" sent ");
            push_u64(&mut m, a.bytes.unwrap_or(0));
            let h = a.time / 3600 % 24;
            for (i, h) in [h, h + 1].into_iter().enumerate() {
                m.push_str(if i == 0 { " bytes between " } else { " and " });
                if h < 10 {
                    m.push('0');
                }
                push_u64(&mut m, h);
                m.push_str(":00");
            }
            m.push_str(" UTC, more than ");
            push_u64(&mut m, limit);
        }
        Rule::NewDevice => {
            if let Some(mac) = &a.device_mac {
                m.push_str(", MAC ");
                m.push_str(&format_mac(mac));
            }
        }
    }
    m
}

fn json_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => json_u64(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

fn rule_name(a: &AlertRec) -> &'static str {
    Rule::from_u8(a.rule).map_or("", Rule::name)
}

/// One alert of alerts.json (the ubus event: `alert_blob`, the same fields).
fn alert_json(out: &mut Vec<u8>, a: &AlertRec) {
    out.extend_from_slice(b"{\"id\":");
    json_u64(out, a.id);
    out.extend_from_slice(b",\"time\":");
    json_u64(out, a.time);
    out.extend_from_slice(b",\"rule\":");
    json_str(out, Some(rule_name(a)));
    out.extend_from_slice(b",\"device\":{\"ip\":");
    match &a.device_ip {
        Some(ip) => json_addr(out, ip),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"mac\":");
    json_str(out, a.device_mac.as_ref().map(format_mac).as_deref());
    out.extend_from_slice(b",\"name\":");
    json_str(out, a.device_name.as_deref());
    out.extend_from_slice(b"},\"remote\":");
    match &a.remote {
        Some(r) => {
            out.extend_from_slice(b"{\"ip\":");
            json_addr(out, &r.ip);
            out.extend_from_slice(b",\"country\":");
            json_str(out, r.country.as_ref().map(country_text));
            out.extend_from_slice(b",\"asn\":");
            json_opt_u64(out, r.asn.map(u64::from));
            out.extend_from_slice(b",\"org\":");
            json_str(out, r.org.as_deref());
            out.extend_from_slice(b",\"name\":");
            json_str(out, r.name.as_deref());
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    if let Some(l) = &a.list {
        out.extend_from_slice(b",\"list\":");
        json_str(out, Some(l));
    }
    if let Some(n) = a.bytes {
        out.extend_from_slice(b",\"bytes\":");
        json_u64(out, n);
    }
    out.extend_from_slice(b",\"message\":");
    json_str(out, Some(&a.message));
    out.push(b'}');
}

/// The alert as the ubus event's data (blobmsg), the same fields as in alerts.json.
pub fn alert_blob(a: &AlertRec) -> Vec<u8> {
    let mut buf = Vec::with_capacity(512);
    let mut b = ubus::Blobmsg::new(&mut buf);
    b.int("id", a.id);
    b.int("time", a.time);
    b.string("rule", rule_name(a));
    let mac = a.device_mac.as_ref().map(format_mac);
    b.table("device", &mut |t| {
        let mut ip = [0; 45];
        t.opt_string("ip", a.device_ip.as_ref().map(|i| i.text(&mut ip)));
        t.opt_string("mac", mac.as_deref());
        t.opt_string("name", a.device_name.as_deref());
    });
    match &a.remote {
        Some(r) => b.table("remote", &mut |t| {
            t.string("ip", r.ip.text(&mut [0; 45]));
            t.opt_string("country", r.country.as_ref().map(country_text));
            t.opt_int("asn", r.asn.map(u64::from));
            t.opt_string("org", r.org.as_deref());
            t.opt_string("name", r.name.as_deref());
        }),
        None => b.null("remote"),
    }
    if let Some(l) = &a.list {
        b.string("list", l);
    }
    if let Some(n) = a.bytes {
        b.int("bytes", n);
    }
    b.string("message", &a.message);
    buf
}

/// The hooks' variables, `NAME=value` (empty when unknown; NULs left out), besides ACTION
/// and PATH.
pub fn environment(a: &AlertRec) -> Vec<CString> {
    let mut env = Vec::with_capacity(13);
    let mut var = |name: &str, value: &str| {
        let mut s = Vec::with_capacity(name.len() + 1 + value.len());
        s.extend_from_slice(name.as_bytes());
        s.push(b'=');
        s.extend(value.bytes().filter(|&b| b != 0));
        env.extend(CString::new(s).ok());
    };
    let mut n = itoa::Buffer::new();
    let mut ip = [0; 45];
    let r = a.remote.as_ref();
    var("CONNMAP_RULE", rule_name(a));
    var("CONNMAP_TIME", n.format(a.time));
    var("CONNMAP_MESSAGE", &a.message);
    var(
        "CONNMAP_DEVICE_IP",
        a.device_ip.as_ref().map_or("", |i| i.text(&mut ip)),
    );
    let mac = a.device_mac.as_ref().map(format_mac);
    var("CONNMAP_DEVICE_MAC", mac.as_deref().unwrap_or(""));
    var(
        "CONNMAP_DEVICE_NAME",
        a.device_name.as_deref().unwrap_or(""),
    );
    var("CONNMAP_REMOTE_IP", r.map_or("", |r| r.ip.text(&mut ip)));
    let country = r.and_then(|r| r.country.as_ref());
    var("CONNMAP_REMOTE_COUNTRY", country.map_or("", country_text));
    let asn = r.and_then(|r| r.asn);
    var("CONNMAP_REMOTE_ASN", asn.map_or("", |x| n.format(x)));
    var(
        "CONNMAP_REMOTE_ORG",
        r.and_then(|r| r.org.as_deref()).unwrap_or(""),
    );
    var(
        "CONNMAP_REMOTE_NAME",
        r.and_then(|r| r.name.as_deref()).unwrap_or(""),
    );
    var("CONNMAP_LIST", a.list.as_deref().unwrap_or(""));
    var("CONNMAP_BYTES", a.bytes.map_or("", |x| n.format(x)));
    env
}

#[cfg(test)]
mod tests;
