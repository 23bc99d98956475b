//! The daemon: wires the data path together and runs it.
//!
//! `DataPath` owns everything the packets touch (networks, database, tables, names) and is
//! driven by one thread: a replay loop for `--read`, or a single-threaded smol loop for a live
//! capture that waits on the capture's descriptor and a housekeeping timer (snapshots, expiry,
//! lease reloads, state saves, signals). HTTP runs on its own threads (see `http`), reading only
//! the published snapshots.

use crate::capture::{self, CaptureStats, Frame, Next, Source};
use crate::cli::{self, Config};
use crate::filter::Networks;
use crate::geo::GeoDb;
use crate::http::{self, HttpOptions, HttpServer};
use crate::learn::{self, HelloAssembler};
use crate::names::NameSource;
use crate::packet::{self, Addr, LinkType};
use crate::snapshot::{self, NamesCapture, Snapshot, SnapshotCell, SnapshotMeta};
use crate::state;
use crate::table::{NameKind, NameTable, Tables};
use ipnet::IpNet;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Used as the LAN when replaying a file without `--lan`.
pub const PRIVATE_NETWORKS: &[&str] =
    &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];

/// Most frames handled per wake-up before the timers get a look in.
const MAX_BATCH: usize = 4096;
const RETRY_CAPTURE: Duration = Duration::from_secs(5);
/// How often a database that was truncated under its mapping is tried again.
const RETRY_GEO: Duration = Duration::from_secs(5);

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Everything the packets touch.
pub struct DataPath {
    pub nets: Networks,
    pub geo: GeoDb,
    pub tables: Tables,
    pub names: NameSource,
    pub meta: SnapshotMeta,
    pub decode_errors: u64,
    /// Learn names from the counted frames themselves (a replay: whole packets). A live
    /// capture gets them from its second handle instead (`learn_frame`).
    pub learn_inline: bool,
    hellos: HelloAssembler,
    generation: u64,
    /// When to try reopening a database that faulted (`check_geo`).
    geo_retry: Option<Instant>,
}

impl DataPath {
    pub fn new(
        nets: Networks,
        geo: GeoDb,
        tables: Tables,
        names: NameSource,
        mut meta: SnapshotMeta,
    ) -> DataPath {
        meta.lan = nets.lan().to_vec();
        meta.attribution = geo.description().map(str::to_string);
        meta.geo_database = geo.path().map(|p| p.display().to_string());
        DataPath {
            nets,
            geo,
            tables,
            names,
            meta,
            decode_errors: 0,
            learn_inline: false,
            hellos: HelloAssembler::default(),
            generation: 0,
            geo_retry: None,
        }
    }

    /// A frame of the names handle: learn, never count.
    pub fn learn_frame(&mut self, link: LinkType, frame: &Frame) {
        if let Ok(Some(p)) = packet::decode(link, frame.data) {
            if learn::wanted(&p, frame.data, !self.hellos.is_empty()) {
                self.learn(link, frame, &p);
            }
        }
    }

    /// Names from one packet that may carry some (see `learn::wanted`). Kept out of line:
    /// `process` stays small enough for its hash lookups to be inlined.
    #[inline(never)]
    fn learn(&mut self, link: LinkType, frame: &Frame, p: &packet::PacketInfo) {
        let (Some(l4), Some((sport, dport))) = (packet::transport_bytes(link, frame.data), p.ports)
        else {
            return;
        };
        let ts = frame.ts;
        if sport == 53 {
            // A DNS answer to a LAN device.
            if !self.nets.is_host(p.dst) {
                return;
            }
            let (nets, tables, host) = (&self.nets, &mut self.tables, p.dst);
            let mut each = |msg: &[u8]| {
                if let Some(a) = learn::parse_dns(msg) {
                    for (addr, ttl) in a.addrs {
                        let addr = Addr::from(addr);
                        if nets.is_remote(addr) {
                            let ttl = u64::from(ttl).clamp(learn::MIN_TTL, learn::MAX_TTL);
                            tables.learn(host, addr, &a.qname, NameKind::Dns, ts + ttl);
                        }
                    }
                }
            };
            if p.protocol == 17 {
                if let Some(msg) = learn::udp_payload(l4) {
                    each(msg);
                }
            } else if let Some((_, data)) = learn::tcp_payload(l4) {
                learn::tcp_dns_messages(data, each);
            }
            return;
        }
        if p.protocol != 6 {
            return;
        }
        let Some((seq, data)) = learn::tcp_payload(l4) else {
            return;
        };
        // Most segments to these ports carry no name: the cheap tests on the payload first.
        let (name, kind) = match (dport, data.first()) {
            (443, Some(&b)) => {
                if b != 22 && self.hellos.is_empty() {
                    return;
                }
                if !self.nets.is_host(p.src) || !self.nets.is_remote(p.dst) {
                    return;
                }
                let key = (p.src, sport, p.dst, dport);
                (self.hellos.segment(key, seq, data, ts), NameKind::Sni)
            }
            (80, Some(b'A'..=b'Z')) => (learn::parse_http_host(data), NameKind::HttpHost),
            _ => return,
        };
        if let Some(n) = name {
            if self.nets.is_host(p.src) && self.nets.is_remote(p.dst) {
                self.tables
                    .learn(p.src, p.dst, &n, kind, ts + learn::MAX_TTL);
            }
        }
    }

    /// The per-packet path: decode, classify, count.
    #[inline]
    pub fn process(&mut self, link: LinkType, frame: &Frame) {
        let mut p = packet::PacketInfo::default();
        match packet::decode_into(link, frame.data, &mut p) {
            Ok(true) => {
                self.tables.count(&p, frame.wire_len, frame.ts, &self.nets);
                if self.learn_inline && learn::wanted(&p, frame.data, !self.hellos.is_empty()) {
                    self.learn(link, frame, &p);
                }
            }
            Ok(false) => {}
            Err(e) => {
                self.decode_errors += 1;
                if self.decode_errors <= 5 || self.decode_errors.is_power_of_two() {
                    log::info!("undecodable frame ({e}); {} so far", self.decode_errors);
                }
            }
        }
    }

    /// Renders markers.json now.
    pub fn snapshot(&mut self, now: u64) -> Snapshot {
        self.tables.locate_new(&self.geo);
        if crate::sigbus::take_fault() {
            // The lookups read zero pages, not the database: locate again once it is back.
            self.geo_faulted();
            self.tables.relocate_all();
        }
        self.generation += 1;
        self.tables.dirty = false;
        let json = snapshot::render(
            &self.tables,
            &self.names.names,
            &self.meta,
            self.decode_errors,
            now,
        );
        Snapshot::new(json, self.generation, now)
    }

    /// After the mapped database was truncated in place (`sigbus` kept the daemon alive):
    /// reopen it now, and until that works, again at most once per `RETRY_GEO`. Cheap when
    /// nothing happened: one atomic swap.
    pub fn check_geo(&mut self, path: &Path) {
        if crate::sigbus::take_fault() {
            self.geo_faulted();
        }
        let Some(at) = self.geo_retry else { return };
        if Instant::now() < at {
            return;
        }
        let geo = open_geo(path);
        self.geo_retry = if geo.is_open() {
            None
        } else {
            Some(Instant::now() + RETRY_GEO)
        };
        self.replace_geo(geo);
    }

    /// A read of the mapped database faulted (`sigbus`): reopen it at the next `check_geo`.
    fn geo_faulted(&mut self) {
        log::error!(
            "geo database {} changed size under its mapping (written in place instead of \
             replaced by rename?): reopening it",
            self.geo.path().unwrap_or(Path::new("")).display()
        );
        self.geo_retry = Some(Instant::now());
    }

    /// Swaps in another database (SIGHUP) and locates every remote again (at the next
    /// snapshot).
    pub fn replace_geo(&mut self, geo: GeoDb) {
        if geo.is_open() {
            self.geo_retry = None;
        }
        self.geo = geo;
        self.meta.attribution = self.geo.description().map(str::to_string);
        self.meta.geo_database = self.geo.path().map(|p| p.display().to_string());
        self.tables.relocate_all();
    }
}

/// Opens the database, or logs why not and goes on without one.
pub fn open_geo(path: &Path) -> GeoDb {
    if path.as_os_str().is_empty() {
        log::info!("no geo database (--geoip ''): markers will have no location");
        return GeoDb::none();
    }
    match GeoDb::open(path) {
        Ok(db) => {
            log::info!(
                "geolocation from {}{}",
                path.display(),
                db.description()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            );
            db
        }
        Err(e) => {
            log::error!("geo database: {e}; markers will have no location");
            GeoDb::none()
        }
    }
}

/// Signals seen since the last look.
struct Signals {
    term: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
}

impl Signals {
    fn install() -> Signals {
        let term = Arc::new(AtomicBool::new(false));
        let hup = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&term)) {
                log::warn!("cannot handle signal {sig}: {e}");
            }
        }
        if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup)) {
            log::warn!("cannot handle SIGHUP: {e}");
        }
        Signals { term, hup }
    }

    fn term(&self) -> bool {
        self.term.load(Ordering::Relaxed)
    }

    fn take_hup(&self) -> bool {
        self.hup.swap(false, Ordering::Relaxed)
    }
}

/// The outputs of snapshots: the HTTP cell and `--json-out`.
struct Outputs {
    cell: SnapshotCell,
    json_out: Option<std::path::PathBuf>,
    json_errors: u64,
}

impl Outputs {
    fn publish(&mut self, s: Snapshot) {
        if let Some(path) = &self.json_out {
            if let Err(e) = snapshot::write_atomically(path, &s.json) {
                self.json_errors += 1;
                if self.json_errors <= 3 || self.json_errors.is_power_of_two() {
                    log::warn!("cannot write {}: {e}", path.display());
                }
            }
        }
        self.cell.set(s);
    }
}

fn save_state(cfg: &Config, dp: &DataPath, now: u64) {
    if let Some(path) = &cfg.state {
        match state::save(path, &dp.tables, now) {
            Ok(()) => log::debug!("state saved to {}", path.display()),
            Err(e) => log::warn!("cannot save state: {e}"),
        }
    }
}

fn start_http(listen: SocketAddr, cfg: &Config, cell: &SnapshotCell) -> Option<HttpServer> {
    let opts = HttpOptions {
        listen,
        www: Some(cfg.www.clone()),
        tiles_origin: cfg.tiles.as_deref().and_then(cli::origin_of),
    };
    match http::start(&opts, cell.clone()) {
        Ok(s) => {
            log::info!("map on http://{}/", s.local_addr);
            Some(s)
        }
        Err(e) => {
            log::error!("http: {e}");
            None
        }
    }
}

/// `--user`: drops root once the capture (and HTTP) are open (the HTTP backend's private
/// socket is an abstract one: nothing to hand over). False (after logging why) when that failed.
fn drop_privileges(cfg: &Config) -> bool {
    let Some(user) = &cfg.user else { return true };
    match crate::privdrop::drop_to(user, &[]) {
        Ok(()) => true,
        Err(e) => {
            log::error!("{e}");
            false
        }
    }
}

/// Runs the daemon; returns the process exit status.
pub fn run(cfg: Config) -> i32 {
    let signals = Signals::install();
    for path in [&cfg.state, &cfg.json_out].into_iter().flatten() {
        snapshot::remove_stale_temporaries(path);
    }
    let geo = open_geo(&cfg.geoip);
    let mut lan = cfg.lan.clone();
    if lan.is_empty() && cfg.read.is_some() {
        lan = PRIVATE_NETWORKS
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        log::info!("no --lan given: counting the private ranges {PRIVATE_NETWORKS:?} as the LAN");
    }
    let mut tables = Tables::new(cfg.max_remotes, cfg.max_hosts);
    tables.learned = NameTable::new(cfg.max_names);
    if let Some(path) = &cfg.state {
        match state::load(path, &mut tables) {
            Ok(Some((h, r))) => {
                log::info!("restored {h} hosts and {r} remotes from {}", path.display());
                tables.relocate_all();
            }
            Ok(None) => {}
            Err(e) => log::error!("state file ignored: {e}"),
        }
    }
    let mut names = NameSource::new(cfg.leases.clone(), cfg.ethers.clone());
    names.dhcp_config = cfg.dhcp_config.clone();
    names.odhcpd = cfg.odhcpd.clone();
    names.refresh();
    let meta = SnapshotMeta {
        home: cfg.home,
        tiles: cfg.tiles.clone(),
        offload: crate::offload::detect(cfg.firewall_config.as_deref(), cfg.nft.as_deref()),
        ..Default::default()
    };
    let mut dp = DataPath::new(
        Networks::new(lan, cfg.remote.clone(), cfg.exclude.clone()),
        geo,
        tables,
        names,
        meta,
    );
    let now = unix_now();
    let mut out = Outputs {
        cell: SnapshotCell::new(dp.snapshot(now)),
        json_out: cfg.json_out.clone(),
        json_errors: 0,
    };
    match cfg.read.clone() {
        Some(path) => replay(&cfg, &path, &mut dp, &mut out, &signals),
        None => live(&cfg, &mut dp, &mut out, &signals),
    }
}

/// `--read`: the capture's timestamps are the clock.
fn replay(cfg: &Config, path: &Path, dp: &mut DataPath, out: &mut Outputs, sig: &Signals) -> i32 {
    let mut src = match Source::file(path) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return 1;
        }
    };
    let http = cfg.listen.and_then(|l| start_http(l, cfg, &out.cell));
    if cfg.listen.is_some() && http.is_none() {
        return 1;
    }
    if !drop_privileges(cfg) {
        return 1;
    }
    let link = src.link;
    dp.learn_inline = cfg.learn_names;
    dp.meta.capture.source = src.description.clone();
    let mut clock = 0u64;
    let mut next_expiry = 0u64;
    let mut failed = false;
    let started = Instant::now();
    // While a file replays, a page watching it gets a snapshot per wall-clock interval; without
    // --listen nobody is watching and markers.json is written once, at the end.
    let mut next_snapshot = Instant::now() + Duration::from_secs(cfg.interval);
    loop {
        if sig.term() {
            log::info!("stopping the replay early (signal)");
            break;
        }
        match src.next_frame() {
            Ok(Next::Frame(f)) => {
                if dp.meta.capture.received == 0 {
                    dp.meta.capture.started = f.ts;
                }
                dp.meta.capture.received += 1;
                clock = clock.max(f.ts);
                dp.process(link, &f);
                if clock >= next_expiry {
                    // Retention is in capture time; checked once per capture-time interval.
                    dp.tables.expire(clock, cfg.retention);
                    next_expiry = clock + cfg.interval;
                }
            }
            Ok(Next::Idle) => continue,
            Ok(Next::End) => break,
            Err(e) => {
                log::error!("{e}; keeping what was read");
                failed = true;
                break;
            }
        }
        if dp.meta.capture.received % 1024 == 0 {
            dp.check_geo(&cfg.geoip);
        }
        if http.is_some() && dp.tables.stats.packets % 1024 == 0 && Instant::now() >= next_snapshot
        {
            next_snapshot = Instant::now() + Duration::from_secs(cfg.interval);
            let s = dp.snapshot(clock);
            out.publish(s);
        }
    }
    dp.tables.expire(clock, cfg.retention);
    let s = dp.snapshot(clock);
    // Published before it is logged: whoever waits for the log line gets the final snapshot.
    out.publish(s);
    log::info!(
        "replayed {} in {:.2} s: {} packets counted, {} remotes, {} hosts, {} undecodable",
        src.description,
        started.elapsed().as_secs_f64(),
        dp.tables.stats.packets,
        dp.tables.remotes.len(),
        dp.tables.hosts.len(),
        dp.decode_errors
    );
    save_state(cfg, dp, clock);
    if http.is_some() {
        // Keep serving what was read until told to stop.
        while !sig.term() {
            dp.check_geo(&cfg.geoip);
            if sig.take_hup() {
                dp.replace_geo(open_geo(&cfg.geoip));
                dp.meta.offload =
                    crate::offload::detect(cfg.firewall_config.as_deref(), cfg.nft.as_deref());
                let s = dp.snapshot(clock);
                out.publish(s);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let s = dp.snapshot(clock);
        out.publish(s);
        save_state(cfg, dp, clock);
        drop(http);
    }
    i32::from(failed)
}

/// The capture's descriptor, registered with smol's reactor.
struct CaptureFd(RawFd);

impl AsFd for CaptureFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor belongs to the `Source` that outlives this wrapper (see
        // `LiveCapture`'s field order: the registration is dropped first).
        unsafe { BorrowedFd::borrow_raw(self.0) }
    }
}

/// A live capture and its reactor registration. Field order matters: `ready` is dropped
/// (deregistered) before `source` closes the descriptor.
struct LiveCapture {
    ready: smol::Async<CaptureFd>,
    source: Source,
    names: Option<NamesHandle>,
}

/// The second handle: whole packets that may carry names, nothing else.
struct NamesHandle {
    ready: smol::Async<CaptureFd>,
    source: Source,
}

fn open_names(cfg: &Config) -> Result<NamesHandle, String> {
    let source = Source::live_with(
        &cfg.interface,
        capture::NAMES_SNAPLEN,
        capture::NAMES_BUFFER_BYTES,
        capture::NAMES_TIMEOUT_MS,
        learn::bpf_filter,
    )?;
    let fd = source.fd().ok_or("capture has no descriptor")?;
    let ready =
        smol::Async::new(CaptureFd(fd)).map_err(|e| format!("cannot poll the capture: {e}"))?;
    Ok(NamesHandle { ready, source })
}

fn open_live(cfg: &Config, dp: &mut DataPath) -> Result<LiveCapture, String> {
    if dp.nets.lan().is_empty() {
        let nets = capture::interface_networks(&cfg.interface)?;
        if nets.is_empty() {
            return Err(format!("{} has no IP networks yet", cfg.interface));
        }
        log::info!(
            "LAN networks of {}: {:?}",
            cfg.interface,
            nets.iter().map(IpNet::to_string).collect::<Vec<_>>()
        );
        dp.nets = Networks::new(nets, cfg.remote.clone(), cfg.exclude.clone());
        dp.meta.lan = dp.nets.lan().to_vec();
    }
    let source = Source::live(&cfg.interface, |link| dp.nets.bpf_filter(link))?;
    let fd = source.fd().ok_or("capture has no descriptor")?;
    let ready =
        smol::Async::new(CaptureFd(fd)).map_err(|e| format!("cannot poll the capture: {e}"))?;
    let names = if cfg.learn_names {
        match open_names(cfg) {
            Ok(n) => Some(n),
            Err(e) => {
                log::warn!("no names of remotes: {e}");
                None
            }
        }
    } else {
        None
    };
    dp.meta.capture = snapshot::CaptureInfo {
        source: source.description.clone(),
        filter: Some(dp.nets.bpf_filter(source.link)),
        snaplen: Some(capture::SNAPLEN as u32),
        names: names.as_ref().map(|n| NamesCapture {
            filter: learn::bpf_filter(n.source.link),
            snaplen: capture::NAMES_SNAPLEN as u32,
            ..Default::default()
        }),
        started: unix_now(),
        ..Default::default()
    };
    Ok(LiveCapture {
        ready,
        source,
        names,
    })
}

fn default_listen(cfg: &Config) -> Result<SocketAddr, String> {
    match capture::interface_ipv4(&cfg.interface)? {
        Some(ip) => Ok(SocketAddr::new(ip, cli::DEFAULT_PORT)),
        None => Err(format!(
            "{} has no IPv4 address to listen on (use --listen)",
            cfg.interface
        )),
    }
}

fn live(cfg: &Config, dp: &mut DataPath, out: &mut Outputs, sig: &Signals) -> i32 {
    let mut http: Option<HttpServer> = None;
    if let Some(l) = cfg.listen {
        http = start_http(l, cfg, &out.cell);
        if http.is_none() {
            return 1;
        }
    }
    let mut dropped_privileges = false;
    let mut capture: Option<LiveCapture> = None;
    let mut last_error = String::new();
    let mut next_attempt = Instant::now();
    let interval = Duration::from_secs(cfg.interval);
    let save_every = Duration::from_secs(cfg.save_interval);
    let mut next_snapshot = Instant::now() + interval;
    let mut render_throttled = false;
    let mut next_save = Instant::now() + save_every;
    let mut stats = CaptureStats::default();
    let mut last_stats_log = Instant::now();

    let code = smol::block_on(async {
        loop {
            if sig.term() {
                log::info!("stopping (signal)");
                break;
            }
            if capture.is_none() && Instant::now() >= next_attempt {
                match open_live(cfg, dp) {
                    Ok(c) => {
                        log::info!(
                            "capturing on {} (filter: {})",
                            cfg.interface,
                            dp.nets.bpf_filter(c.source.link)
                        );
                        capture = Some(c);
                        last_error.clear();
                        if http.is_none() {
                            match cfg.listen.map(Ok).unwrap_or_else(|| default_listen(cfg)) {
                                Ok(l) => http = start_http(l, cfg, &out.cell),
                                Err(e) => log::error!("http: {e}"),
                            }
                        }
                        if !dropped_privileges {
                            dropped_privileges = true;
                            if !drop_privileges(cfg) {
                                return 1;
                            }
                        }
                    }
                    Err(e) => {
                        if e != last_error {
                            log::error!("{e}; retrying every {} s", RETRY_CAPTURE.as_secs());
                            last_error = e;
                        }
                        next_attempt = Instant::now() + RETRY_CAPTURE;
                    }
                }
            }

            // Wait for packets or the next housekeeping moment (at most half a second).
            let wait = Duration::from_millis(500);
            if let Some(c) = &capture {
                let _ = smol::future::or(
                    async {
                        let _ = c.ready.readable().await;
                    },
                    smol::future::or(
                        async {
                            match &c.names {
                                Some(n) => {
                                    let _ = n.ready.readable().await;
                                }
                                None => smol::future::pending::<()>().await,
                            }
                        },
                        async {
                            smol::Timer::after(wait).await;
                        },
                    ),
                )
                .await;
            } else {
                smol::Timer::after(wait).await;
            }

            if let Some(c) = &mut capture {
                let link = c.source.link;
                let mut lost = None;
                for _ in 0..MAX_BATCH {
                    match c.source.next_frame() {
                        Ok(Next::Frame(f)) => dp.process(link, &f),
                        Ok(Next::Idle) | Ok(Next::End) => break,
                        Err(e) => {
                            lost = Some(e);
                            break;
                        }
                    }
                }
                if let Some(n) = &mut c.names {
                    let nlink = n.source.link;
                    for _ in 0..MAX_BATCH {
                        match n.source.next_frame() {
                            Ok(Next::Frame(f)) => dp.learn_frame(nlink, &f),
                            Ok(Next::Idle) | Ok(Next::End) => break,
                            Err(e) => {
                                lost = Some(e);
                                break;
                            }
                        }
                    }
                }
                if let Some(e) = lost {
                    log::error!(
                        "capture lost ({e}); waiting for {} to come back",
                        cfg.interface
                    );
                    if let Some(s) = c.source.stats() {
                        stats = s;
                    }
                    capture = None;
                    next_attempt = Instant::now() + RETRY_CAPTURE;
                    last_error.clear();
                }
            }

            dp.check_geo(&cfg.geoip);
            if sig.take_hup() {
                log::info!("SIGHUP: reloading the geo database and device names");
                dp.replace_geo(open_geo(&cfg.geoip));
                dp.names.refresh();
                dp.meta.offload =
                    crate::offload::detect(cfg.firewall_config.as_deref(), cfg.nft.as_deref());
            }

            let now_i = Instant::now();
            if now_i >= next_snapshot {
                next_snapshot = now_i + interval;
                let now = unix_now();
                dp.tables.expire(now, cfg.retention);
                let names_changed = dp.names.refresh();
                if let Some(c) = &mut capture {
                    if let Some(s) = c.source.stats() {
                        if s.dropped > stats.dropped
                            && last_stats_log.elapsed() > Duration::from_secs(60)
                        {
                            log::warn!(
                                "the kernel dropped {} packets (received {})",
                                s.dropped - stats.dropped,
                                s.received
                            );
                            last_stats_log = Instant::now();
                        }
                        stats = s;
                    }
                    let m = &mut dp.meta.capture;
                    m.received = u64::from(stats.received);
                    m.dropped = Some(u64::from(stats.dropped));
                    m.if_dropped = Some(u64::from(stats.if_dropped));
                    if let (Some(n), Some(nm)) = (&mut c.names, &mut m.names) {
                        if let Some(s) = n.source.stats() {
                            nm.received = u64::from(s.received);
                            nm.dropped = u64::from(s.dropped);
                        }
                    }
                }
                if dp.tables.dirty || names_changed {
                    let s = dp.snapshot(now);
                    out.publish(s);
                    // The render runs on the capture's thread: keep it under ~1/10 of the time,
                    // whatever the table bound and the interval, so that a big table on a slow
                    // core cannot make the kernel drop packets (measured: 100k remotes at a
                    // 1 s interval lost 10-40 % of a 50k packets/s flood before this).
                    let took = now_i.elapsed();
                    if took * 9 > interval {
                        next_snapshot = Instant::now() + took * 9;
                        if !render_throttled {
                            render_throttled = true;
                            log::warn!(
                                "markers.json takes {} ms to render ({} remotes): snapshots \
                                 every {} s instead of {} s",
                                took.as_millis(),
                                dp.tables.remotes.len(),
                                (took * 9).as_secs_f64().ceil(),
                                interval.as_secs()
                            );
                        }
                    } else {
                        render_throttled = false;
                    }
                }
            }
            if cfg.state.is_some() && now_i >= next_save {
                next_save = now_i + save_every;
                save_state(cfg, dp, unix_now());
            }
        }
        0
    });
    if code != 0 {
        return code;
    }
    let now = unix_now();
    let s = dp.snapshot(now);
    out.publish(s);
    save_state(cfg, dp, now);
    drop(capture);
    drop(http);
    0
}
