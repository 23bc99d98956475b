//! The daemon: wires the data path together and runs it.
//!
//! `DataPath` owns everything the packets touch (networks, database, tables, device names) and is
//! driven by one thread: a replay loop for `--read` (`replay`), or for a live capture the
//! steps of [`Live`], which sleeps in one `poll` on the capture handles and a signal socket
//! until frames, a signal or its next timer (snapshots, expiry, lease reloads, state saves)
//! are due. HTTP runs on its own threads (see `http`), reading only the published snapshots.

use crate::capture::{self, CaptureStats, Frame, Next, Source};
use crate::cli::{self, Config};
use crate::devnames::DevNameSource;
use crate::filter::Networks;
use crate::geo::GeoDb;
use crate::http::{self, HttpOptions, HttpServer};
use crate::learn::{self, Learner};
use crate::packet::{self, LinkType};
use crate::snapshot::{self, NamesCapture, PathStats, Snapshot, SnapshotCell, SnapshotMeta};
use crate::state;
use crate::table::Tables;
use ipnet::IpNet;
use smallvec::SmallVec;
use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
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
/// On exit, how long queued alerts may still be delivered (hooks, ubus).
const ALERT_GRACE: Duration = Duration::from_secs(5);

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
    pub devnames: DevNameSource,
    pub meta: SnapshotMeta,
    /// Undecodable frames, database lookups and their errors.
    pub stats: PathStats,
    /// Learn names from the counted frames themselves (a replay: whole packets). A live
    /// capture gets them from its second handle instead (`learn_frame`).
    pub learn_inline: bool,
    learner: Learner,
    generation: u64,
    /// When to try reopening a database that faulted (`check_geo`).
    geo_retry: Option<Instant>,
    /// /metrics and IPFIX (src/export), fed per snapshot and per tick.
    pub export: crate::export::Export,
    /// `--conntrack`: the second counting source (see `conntrack`).
    pub conntrack: Option<crate::conntrack::Conntrack>,
    /// Alerts (src/alert), fed by `sweep`; alerts.json published into `alerts_cell`.
    pub alerts: crate::alert::Alerts,
    pub alerts_cell: SnapshotCell,
    alerts_generation: u64,
    /// The latest capture time the alerts were given (`sweep`).
    alert_clock: u64,
    /// Hourly and daily buckets (src/history), fed by `sweep`.
    pub history: crate::history::History,
}

impl DataPath {
    pub fn new(
        nets: Networks,
        geo: GeoDb,
        tables: Tables,
        devnames: DevNameSource,
        mut meta: SnapshotMeta,
    ) -> DataPath {
        meta.lan = nets.lan().to_vec();
        meta.attribution = geo.description().map(str::to_string);
        meta.geo_database = geo.path().map(|p| p.display().to_string());
        // without delivery until `run` starts the configured engine
        let alerts = crate::alert::Alerts::new(crate::alert::AlertConfig {
            dir: None,
            ubus: None,
            ..Default::default()
        });
        DataPath {
            nets,
            geo,
            tables,
            devnames,
            meta,
            stats: PathStats::default(),
            learn_inline: false,
            learner: Learner::default(),
            generation: 0,
            geo_retry: None,
            export: Default::default(),
            conntrack: None,
            alerts_cell: SnapshotCell::new(Snapshot::new(alerts.render(0), 0, 0)),
            alerts,
            alerts_generation: 0,
            alert_clock: 0,
            history: crate::history::History::new(Default::default()),
        }
    }

    /// The alerts' LAN devices (`observe_host`, the `new_device` rule): those seen since the
    /// last sweep, at the time they were last seen (the capture clock).
    fn alert_hosts(&mut self) {
        let (names, since) = (&self.devnames.current, self.alert_clock);
        for (ip, h) in self.tables.hosts.iter() {
            if h.last_seen >= since {
                let name = names.name(&ip.ip(), h.mac.as_ref());
                self.alerts.observe_host(h.last_seen, *ip, h.mac, name);
                self.alert_clock = self.alert_clock.max(h.last_seen);
            }
        }
    }

    /// alerts.json into `alerts_cell` when something changed (the first call always).
    pub fn publish_alerts(&mut self) {
        if self.alerts.take_changed(self.alert_clock) {
            self.alerts_generation += 1;
            let now = self.alert_clock;
            let mut s = Snapshot::new(self.alerts.render(now), self.alerts_generation, now);
            s.etag = format!("\"a{now:x}-{:x}\"", self.alerts_generation);
            self.alerts_cell.set(s);
        }
    }

    /// The history's sweep (per snapshot interval, and before the first packet of a new hour
    /// of the capture clock): every (LAN host, remote) pair's traffic since the last sweep
    /// goes into the history's open bucket; `snapshot` publishes the buckets for
    /// /history.json. Remotes are located first, so that the buckets get their places.
    ///
    /// `now` is the clock (capture time in a replay): once it passes the open hour, the hour
    /// is closed even when no pair had traffic since (else the loop would find the boundary
    /// due again and again).
    ///
    /// Hook for other consumers of per-pair traffic (the alerts engine): inside the closure,
    /// `d` is one pair's delta (`d.host`, `d.mac`, `d.remote_ip`, `d.remote.geo()`,
    /// `d.remote.names`, `d.count`, `d.new`; its time is `d.remote.last_seen`).
    ///
    /// The alerts engine gets each LAN device seen since the last sweep (`alert_hosts`) and
    /// then each pair's delta (`observe_pair`), and alerts.json is published when it changed.
    pub fn sweep(&mut self, now: u64) {
        self.locate_new();
        self.alert_hosts();
        let (history, names) = (&mut self.history, &self.devnames.current);
        let (alerts, clock) = (&mut self.alerts, &mut self.alert_clock);
        self.tables.sweep_pairs(|d| {
            history.add_named(d, || names.name(&d.host.ip(), d.mac.as_ref()));
            let g = d.remote.geo();
            *clock = (*clock).max(d.remote.last_seen);
            alerts.observe_pair(&crate::alert::PairObs {
                time: d.remote.last_seen,
                host: d.host,
                mac: d.mac,
                remote: d.remote_ip,
                country: g.and_then(|g| g.country),
                asn: g.and_then(|g| g.asn),
                org: g.and_then(|g| g.org.as_deref()),
                name: d.remote.names.first().map(|n| &**n),
                bytes_out: d.count.bytes_out,
                bytes_in: d.count.bytes_in,
            });
        });
        if now >= self.history.boundary() {
            self.history.roll_to(now);
        }
        self.publish_alerts();
    }

    /// `--conntrack`: queued DESTROY events and, when due, a dump (see `conntrack`).
    pub fn conntrack_step(&mut self) {
        if let Some(ct) = &mut self.conntrack {
            ct.step(&self.nets, &mut self.tables, unix_now());
        }
    }

    /// A frame of the names handle: learn, never count.
    pub fn learn_frame(&mut self, link: LinkType, frame: &Frame) {
        let mut p = packet::PacketInfo::default();
        if packet::decode_into(link, frame.data, &mut p) == Ok(true)
            && self.learner.wants(&p, frame.data)
        {
            (self.learner).packet(frame.data, frame.ts, &p, &self.nets, &mut self.tables);
        }
    }

    /// The per-packet path: decode, classify, count.
    #[inline]
    pub fn process(&mut self, link: LinkType, frame: &Frame) {
        let mut p = packet::PacketInfo::default();
        match packet::decode_into(link, frame.data, &mut p) {
            Ok(true) => {
                self.tables.count(&p, frame.wire_len, frame.ts, &self.nets);
                if self.learn_inline && self.learner.wants(&p, frame.data) {
                    (self.learner).packet(frame.data, frame.ts, &p, &self.nets, &mut self.tables);
                }
            }
            Ok(false) => {}
            Err(e) => {
                let n = &mut self.stats.decode_errors;
                *n += 1;
                if *n <= 5 || n.is_power_of_two() {
                    log::info!("undecodable frame ({e}); {n} so far");
                }
            }
        }
    }

    /// Renders markers.json now.
    pub fn snapshot(&mut self, now: u64) -> Snapshot {
        let started = Instant::now();
        self.locate_new();
        if crate::sigbus::take_fault() {
            // The lookups read zero pages, not the database: locate again once it is back.
            self.geo_faulted();
            self.tables.relocate_all();
        }
        self.generation += 1;
        self.tables.published();
        self.history.publish(); // for /history.json, when the sweeps changed it
        self.meta.conntrack = self.conntrack.as_ref().map(|c| c.info.clone());
        let json = snapshot::render(
            &self.tables,
            &self.devnames.current,
            &self.meta,
            &self.stats,
            now,
        );
        // the /metrics aggregate of this snapshot
        self.export.snapshot(crate::export::metrics::Sources {
            tables: &self.tables,
            names: &self.devnames.current,
            meta: &self.meta,
            path: &self.stats,
            now,
            render: started.elapsed(),
        });
        Snapshot::new(json, self.generation, now)
    }

    /// IPFIX records due at `now` (src/export); remotes are located first, so that records
    /// carry their AS and country even before the first snapshot.
    pub fn export_tick(&mut self, now: u64, last: bool) {
        if self.export.ipfix.is_some() {
            self.locate_new();
            self.export.tick(&self.tables, now, last);
        }
    }

    /// Looks up the remotes not located yet (once per snapshot): the daemon drives the
    /// database, the table only keeps the answers. The database's pages are let go of every
    /// `RELEASE_EVERY` lookups and at the end (`GeoDb::release_pages`): a round of lookups
    /// scattered over the whole file does not map all of it into the daemon at once. 128:
    /// 1,024 random lookups touched nearly all of a 5.7 MB database (each fault maps up to 16
    /// neighbouring pages), and the peak RSS of the 1M `flows` replay was 13.2 MB; at 128 it
    /// is 11.0 MB, for ~0.1 more minor fault per lookup (BENCHMARKS.md, tenth round).
    /// Out of line: `snapshot` and `sweep` call it (one copy in the binary).
    #[inline(never)]
    fn locate_new(&mut self) {
        const RELEASE_EVERY: u64 = 128;
        let (geo, stats) = (&self.geo, &mut self.stats);
        if !geo.is_open() {
            self.tables.locate_new(|_| None);
            return;
        }
        let before = stats.geo_lookups;
        self.tables.locate_new(|ip| {
            stats.geo_lookups += 1;
            if stats.geo_lookups % RELEASE_EVERY == 0 {
                geo.release_pages();
            }
            geo.lookup(ip.ip()).unwrap_or_else(|e| {
                stats.geo_errors += 1;
                if stats.geo_errors <= 10 || stats.geo_errors.is_power_of_two() {
                    log::warn!(
                        "geo lookup of {ip} failed: {e} ({} so far)",
                        stats.geo_errors
                    );
                }
                None
            })
        });
        if self.stats.geo_lookups != before {
            self.geo.release_pages();
        }
    }

    /// When `check_geo` will next try to reopen a database that faulted.
    pub fn geo_retry_at(&self) -> Option<Instant> {
        self.geo_retry
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

/// Signals seen since the last look. Each also writes a byte into a socket pair (the
/// self-pipe pattern), so that a loop asleep in `poll` wakes for it: no periodic tick needed
/// to notice a SIGTERM.
struct Signals {
    term: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
    /// The read end, non-blocking; `None` if the pair could not be made (then a sleeping loop
    /// notices a signal at its next timer).
    wake: Option<UnixStream>,
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
        // after the flags: a handler sets its flag first, then wakes the loop
        let wake = UnixStream::pair().and_then(|(read, write)| {
            read.set_nonblocking(true)?;
            write.set_nonblocking(true)?;
            for sig in [
                signal_hook::consts::SIGTERM,
                signal_hook::consts::SIGINT,
                signal_hook::consts::SIGHUP,
            ] {
                signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
            }
            Ok(read)
        });
        let wake = wake
            .map_err(|e| log::warn!("signals will be noticed late: {e}"))
            .ok();
        Signals { term, hup, wake }
    }

    fn term(&self) -> bool {
        self.term.load(Ordering::Relaxed)
    }

    fn take_hup(&self) -> bool {
        self.hup.swap(false, Ordering::Relaxed)
    }

    /// Empties the wake-up socket (before the flags are read: a signal arriving meanwhile
    /// wakes the next `poll` again).
    fn drain(&self) {
        if let Some(mut w) = self.wake.as_ref() {
            let mut buf = [0u8; 64];
            while matches!(w.read(&mut buf), Ok(n) if n > 0) {}
        }
    }

    fn fd(&self) -> Option<RawFd> {
        self.wake.as_ref().map(AsRawFd::as_raw_fd)
    }
}

/// Sleeps until one of `fds` is readable or `deadline` passes (a signal interrupting the
/// sleep also ends it). One `poll` system call: no reactor registrations to renew per wake-up.
/// Returns which of `fds` are ready (bit `i` for `fds[i]`: readable, or an error to report);
/// all of them when `poll` itself failed.
fn wait_readable(fds: &[RawFd], deadline: Instant) -> u32 {
    let mut pfds: SmallVec<[libc::pollfd; 4]> = (fds.iter())
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // rounded up: waking a little early would only find nothing due and sleep again
    let left = deadline.saturating_duration_since(Instant::now());
    // (in u64: no 128-bit division code on 32-bit routers)
    let micros =
        (left.as_secs().saturating_mul(1_000_000)).saturating_add(u64::from(left.subsec_micros()));
    let ms = micros.div_ceil(1000).min(i32::MAX as u64) as libc::c_int;
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structures for the whole call.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if r < 0 {
        return u32::MAX;
    }
    (pfds.iter().enumerate()).fold(0, |m, (i, p)| m | u32::from(p.revents != 0) << i)
}

/// What the last wait found ready: each step reads only its own (a read of an empty ring or
/// socket is a system call, and at a few packets per wake-up those add up: MIPS guest,
/// BENCHMARKS.md "mipsperf"). All ready before the first wait.
#[derive(Clone, Copy)]
struct Ready {
    capture: bool,
    names: bool,
    signals: bool,
}

impl Default for Ready {
    fn default() -> Self {
        Ready {
            capture: true,
            names: true,
            signals: true,
        }
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

/// Writes the state file (tables, history as of the last sweep, the alerts' memory): at most
/// once per `--save-interval` and at stop, atomically.
fn save_state(cfg: &Config, dp: &DataPath, now: u64) {
    if let Some(path) = &cfg.state {
        let view = dp.history.enabled().then(|| dp.history.cell.get());
        let memory = dp.alerts.memory_bytes();
        let extra = state::Extra {
            history: view.as_deref(),
            alert_memory: &memory,
        };
        match state::save_all(path, &dp.tables, &extra, now) {
            Ok(n) => log::debug!("state saved to {} ({n} bytes)", path.display()),
            Err(e) => log::warn!("cannot save state: {e}"),
        }
    }
}

fn start_http(
    listen: SocketAddr,
    cfg: &Config,
    cell: &SnapshotCell,
    metrics: &crate::export::metrics::MetricsCell,
    history: &crate::history::HistoryCell,
    alerts: &SnapshotCell,
) -> Option<HttpServer> {
    let opts = HttpOptions {
        listen,
        www: Some(cfg.www.clone()),
        tiles_origin: cfg.tiles.as_deref().and_then(cli::origin_of),
        allow_hosts: cfg.allow_hosts.clone(),
        metrics: Some(metrics.clone()),
        history: cfg.history.enabled().then(|| history.clone()),
        alerts: Some(alerts.clone()),
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
    match crate::privdrop::drop_to(user, &[], cfg.conntrack) {
        Ok(()) => true,
        Err(e) => {
            log::error!("{e}");
            false
        }
    }
}

/// Runs the daemon; returns the process exit status.
/// `cfg` lives as long as the process (the caller leaks it): no exit path of the daemon
/// drops it, which spares a copy of its destructor at each of them.
pub fn run(cfg: &'static Config) -> i32 {
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
        log::info!(
            "no --lan given: counting the private ranges {} as the LAN",
            PRIVATE_NETWORKS.join(", ")
        );
    }
    let mut tables = Tables::new(cfg.max_remotes, cfg.max_hosts);
    tables.set_max_names(cfg.max_names);
    let mut history = crate::history::History::new(cfg.history);
    let mut alert_memory = Vec::new();
    if let Some(path) = &cfg.state {
        match state::load_all(path, &mut tables, Some(&mut history)) {
            Ok(Some(r)) => {
                log::info!(
                    "restored {} hosts, {} remotes and {} history buckets from {}",
                    r.hosts,
                    r.remotes,
                    r.buckets,
                    path.display()
                );
                if let Some(e) = r.history_error {
                    log::error!("{}: history ignored: {e}", path.display());
                }
                alert_memory = r.alert_memory;
            }
            Ok(None) => {}
            Err(e) => log::error!("state file ignored: {e}"),
        }
    }
    let mut devnames = DevNameSource::new(cfg.leases.clone(), cfg.ethers.clone());
    devnames.dhcp_config = cfg.dhcp_config.clone();
    devnames.odhcpd = cfg.odhcpd.clone();
    devnames.refresh();
    let doh = match &cfg.doh_list {
        Some(path) => crate::coverage::DohList::load(path).unwrap_or_else(|e| {
            log::error!("{e}; using the built-in list of DNS-over-HTTPS resolvers");
            Default::default()
        }),
        None => Default::default(),
    };
    let meta = SnapshotMeta {
        doh,
        home: cfg.home,
        tiles: cfg.tiles.clone(),
        offload: crate::offload::detect(cfg.firewall_config.as_deref(), cfg.nft.as_deref()),
        ..Default::default()
    };
    let mut dp = DataPath::new(
        Networks::new(lan, cfg.remote.clone(), cfg.exclude.clone()),
        geo,
        tables,
        devnames,
        meta,
    );
    dp.history = history;
    dp.export = crate::export::Export::new(cfg, &dp.tables);
    dp.alerts = crate::alert::Alerts::start(cfg.alerts.clone());
    if let Err(e) = dp.alerts.restore_memory(&alert_memory) {
        log::error!("state file: {e}");
    } else if !alert_memory.is_empty() {
        let (devices, entries) = dp.alerts.memory_size();
        log::info!("alert memory restored: {devices} devices, {entries} countries and ASNs");
    }
    dp.publish_alerts(); // /alerts.json from the start
    if cfg.conntrack {
        let interval = Duration::from_secs(cfg.interval);
        dp.conntrack = Some(crate::conntrack::Conntrack::new(interval));
    }
    let now = unix_now();
    let mut out = Outputs {
        cell: SnapshotCell::new(dp.snapshot(now)),
        json_out: cfg.json_out.clone(),
        json_errors: 0,
    };
    match cfg.read.clone() {
        Some(path) => replay(cfg, &path, &mut dp, &mut out, &signals),
        None => Live::new(cfg, &mut dp, &mut out, &signals).run(),
    }
}

/// `--read`: the capture's timestamps are the clock. Steps: `replay_frames` (the whole file,
/// with expiry and snapshots on the way), the final snapshot, then, with `--listen`,
/// `serve_replayed` until told to stop.
fn replay(cfg: &Config, path: &Path, dp: &mut DataPath, out: &mut Outputs, sig: &Signals) -> i32 {
    let mut src = match Source::file(path) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return 1;
        }
    };
    let (metrics, history, alerts) = (&dp.export.metrics, &dp.history.cell, &dp.alerts_cell);
    let http = (cfg.listen).and_then(|l| start_http(l, cfg, &out.cell, metrics, history, alerts));
    if cfg.listen.is_some() && http.is_none() {
        return 1;
    }
    if !drop_privileges(cfg) {
        return 1;
    }
    dp.learn_inline = cfg.learn_names;
    dp.meta.capture.source = src.description.clone();
    let started = Instant::now();
    // While a file replays, a page watching it gets a snapshot per wall-clock interval; without
    // --listen nobody is watching and markers.json is written once, at the end.
    let watched = http.is_some().then_some(&mut *out);
    let (clock, failed) = replay_frames(cfg, &mut src, dp, watched, sig);
    dp.export_tick(clock, true); // IPFIX: every flow at the end of the file
    dp.sweep(clock);
    dp.tables.expire(clock, cfg.retention);
    let s = dp.snapshot(clock);
    // Published before it is logged: whoever waits for the log line gets the final snapshot.
    out.publish(s);
    // hundredths of a second from integers (no float formatting code in the router binary)
    let centis = (started.elapsed().as_micros() as u64 + 5_000) / 10_000;
    log::info!(
        "replayed {} in {}.{:02} s: {} packets counted, {} remotes, {} hosts, {} undecodable",
        src.description,
        centis / 100,
        centis % 100,
        dp.tables.stats.packets,
        dp.tables.remotes.len(),
        dp.tables.hosts.len(),
        dp.stats.decode_errors
    );
    save_state(cfg, dp, clock);
    if http.is_some() {
        serve_replayed(cfg, dp, out, sig, clock);
        drop(http);
    }
    dp.alerts.finish(ALERT_GRACE);
    i32::from(failed)
}

/// Reads the whole file (or up to a signal): counts every frame, expires by capture time, and
/// publishes a snapshot per wall-clock interval to `watched` (HTTP clients). Returns the
/// capture clock at the end and whether the file failed.
fn replay_frames(
    cfg: &Config,
    src: &mut Source,
    dp: &mut DataPath,
    mut watched: Option<&mut Outputs>,
    sig: &Signals,
) -> (u64, bool) {
    let link = src.link;
    let mut clock = 0u64;
    let mut next_expiry = 0u64;
    let mut next_snapshot = Instant::now() + Duration::from_secs(cfg.interval);
    loop {
        if sig.term() {
            log::info!("stopping the replay early (signal)");
            return (clock, false);
        }
        match src.next_frame() {
            Ok(Next::Frame(f)) => {
                if dp.meta.capture.received == 0 {
                    dp.meta.capture.started = f.ts;
                }
                dp.meta.capture.received += 1;
                clock = clock.max(f.ts);
                if f.ts >= dp.history.boundary() {
                    dp.sweep(f.ts); // the hour's traffic into its own bucket
                }
                dp.process(link, &f);
                if clock >= next_expiry {
                    // Retention (and IPFIX's timeouts) are in capture time; checked once per
                    // capture-time interval.
                    dp.sweep(clock);
                    dp.export_tick(clock, false);
                    dp.tables.expire(clock, cfg.retention);
                    next_expiry = clock + cfg.interval;
                }
            }
            Ok(Next::Idle) => continue,
            Ok(Next::End) => return (clock, false),
            Err(e) => {
                log::error!("{e}; keeping what was read");
                return (clock, true);
            }
        }
        if dp.meta.capture.received % 1024 != 0 {
            continue;
        }
        dp.check_geo(&cfg.geoip);
        if let Some(out) = watched.as_deref_mut() {
            if Instant::now() >= next_snapshot {
                next_snapshot = Instant::now() + Duration::from_secs(cfg.interval);
                let s = dp.snapshot(clock);
                out.publish(s);
            }
        }
    }
}

/// After a replay with `--listen`: keeps serving what was read until told to stop, asleep
/// except for signals (SIGHUP reloads the database) and a database being reopened.
fn serve_replayed(cfg: &Config, dp: &mut DataPath, out: &mut Outputs, sig: &Signals, clock: u64) {
    loop {
        sig.drain();
        if sig.term() {
            break;
        }
        dp.check_geo(&cfg.geoip);
        if sig.take_hup() {
            dp.replace_geo(open_geo(&cfg.geoip));
            dp.alerts.reload_blocklists();
            dp.meta.offload =
                crate::offload::detect(cfg.firewall_config.as_deref(), cfg.nft.as_deref());
            let s = dp.snapshot(clock);
            out.publish(s);
        }
        let idle = Instant::now() + Duration::from_secs(3600);
        let deadline = dp.geo_retry_at().map_or(idle, |at| at.min(idle));
        wait_readable(sig.fd().as_slice(), deadline);
    }
    let s = dp.snapshot(clock);
    out.publish(s);
    save_state(cfg, dp, clock);
}

/// A live capture: the counting handle and, when names are learned, the second one.
struct LiveCapture {
    source: Source,
    names: Option<Source>,
}

fn open_names(cfg: &Config) -> Result<Source, String> {
    let source = Source::live_with(
        &cfg.interface,
        capture::NAMES_SNAPLEN,
        capture::NAMES_BUFFER_BYTES,
        capture::NAMES_TIMEOUT_MS,
        &learn::bpf_filter as Filter,
    )?;
    source.fd().ok_or("capture has no descriptor")?;
    Ok(source)
}

/// A capture filter for `Source::live_with`: one type for both handles, so the opening code is
/// in the binary once.
type Filter<'a> = &'a dyn Fn(LinkType) -> String;

fn open_live(cfg: &Config, dp: &mut DataPath) -> Result<LiveCapture, String> {
    if dp.nets.lan().is_empty() {
        let nets = capture::interface_networks(&cfg.interface)?;
        if nets.is_empty() {
            return Err(format!("{} has no IP networks yet", cfg.interface));
        }
        log::info!(
            "LAN networks of {}: {}",
            cfg.interface,
            nets.iter()
                .map(IpNet::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        dp.nets = Networks::new(nets, cfg.remote.clone(), cfg.exclude.clone());
        dp.meta.lan = dp.nets.lan().to_vec();
    }
    let nets = &dp.nets;
    let filter: Filter = &|link| nets.bpf_filter(link);
    let source = Source::live(&cfg.interface, filter)?;
    source.fd().ok_or("capture has no descriptor")?;
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
            filter: learn::bpf_filter(n.link),
            snaplen: capture::NAMES_SNAPLEN as u32,
            ..Default::default()
        }),
        started: unix_now(),
        ..Default::default()
    };
    Ok(LiveCapture { source, names })
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

/// Up to `MAX_BATCH` frames of `source`, each handed to `each`; the capture's error if it
/// failed (the interface went away).
fn drain(source: &mut Source, mut each: impl FnMut(LinkType, &Frame)) -> Result<(), String> {
    let link = source.link;
    source.dispatch(MAX_BATCH, |f| each(link, f))?;
    Ok(())
}

/// The live loop's state, shared by its steps. `run` calls the steps in order, once per
/// wake-up, the way smoltcp splits `Interface::poll`: [`Live::open_capture`] →
/// [`Live::wait`] → [`Live::drain_capture`] → [`Live::drain_names`] → [`Live::signals`] →
/// [`Live::timers`] (snapshot and publish, state save). Each step does one thing and can be
/// called on its own. Another source (a socket, an exporter's timer) is one more step, and,
/// for a timer, one more deadline in [`Live::next_deadline`]: the loop sleeps until the
/// earliest, never on a fixed tick.
struct Live<'a> {
    cfg: &'a Config,
    dp: &'a mut DataPath,
    out: &'a mut Outputs,
    sig: &'a Signals,
    http: Option<HttpServer>,
    capture: Option<LiveCapture>,
    /// Root was dropped (once, after the first capture opened).
    privileges_dropped: bool,
    /// The last capture error logged: each distinct one is logged once.
    last_error: String,
    /// When to try opening the capture again.
    next_attempt: Instant,
    interval: Duration,
    next_snapshot: Instant,
    /// Snapshots are spaced out because rendering is slow (logged once per episode).
    render_throttled: bool,
    next_save: Instant,
    /// libpcap's counters at the last look, and when a drop was last logged.
    stats: CaptureStats,
    last_drop_log: Instant,
    ready: Ready,
}

impl<'a> Live<'a> {
    fn new(cfg: &'a Config, dp: &'a mut DataPath, out: &'a mut Outputs, sig: &'a Signals) -> Self {
        let now = Instant::now();
        let interval = Duration::from_secs(cfg.interval);
        Live {
            cfg,
            dp,
            out,
            sig,
            http: None,
            capture: None,
            privileges_dropped: false,
            last_error: String::new(),
            next_attempt: now,
            interval,
            next_snapshot: now + interval,
            render_throttled: false,
            next_save: now + Duration::from_secs(cfg.save_interval),
            stats: CaptureStats::default(),
            last_drop_log: now,
            ready: Ready::default(),
        }
    }

    /// Runs until a signal says stop; returns the exit status.
    fn run(mut self) -> i32 {
        if !self.cfg.http {
            log::info!("no HTTP listener (--no-http): markers go to --json-out only");
        }
        if let Some(l) = self.cfg.listen {
            let dp = &self.dp;
            let (metrics, history, alerts) =
                (&dp.export.metrics, &dp.history.cell, &dp.alerts_cell);
            self.http = start_http(l, self.cfg, &self.out.cell, metrics, history, alerts);
            if self.http.is_none() {
                return 1;
            }
        }
        loop {
            if let Err(code) = self.open_capture() {
                return code;
            }
            self.wait();
            self.drain_capture();
            self.drain_names();
            self.drain_conntrack();
            if self.signals() {
                log::info!("stopping (signal)");
                break;
            }
            self.timers(Instant::now());
        }
        let now = unix_now();
        self.dp.export_tick(now, true); // IPFIX: every open flow on exit
        self.dp.sweep(now);
        let s = self.dp.snapshot(now);
        self.out.publish(s);
        save_state(self.cfg, self.dp, now);
        self.dp.alerts.finish(ALERT_GRACE);
        0
    }

    /// Step: opens the capture when there is none and the retry time has come, then (the
    /// first time) HTTP on the interface's address and the drop of root. `Err`: give up.
    fn open_capture(&mut self) -> Result<(), i32> {
        if self.capture.is_some() || Instant::now() < self.next_attempt {
            return Ok(());
        }
        let c = match open_live(self.cfg, self.dp) {
            Ok(c) => c,
            Err(e) => {
                if e != self.last_error {
                    log::error!("{e}; retrying every {} s", RETRY_CAPTURE.as_secs());
                    self.last_error = e;
                }
                self.next_attempt = Instant::now() + RETRY_CAPTURE;
                return Ok(());
            }
        };
        log::info!(
            "capturing on {} (filter: {})",
            self.cfg.interface,
            self.dp.nets.bpf_filter(c.source.link)
        );
        self.capture = Some(c);
        self.last_error.clear();
        // the conntrack sockets open before privileges are dropped
        self.dp.conntrack_step();
        if self.http.is_none() && self.cfg.http {
            let listen = (self.cfg.listen.map(Ok)).unwrap_or_else(|| default_listen(self.cfg));
            match listen {
                Ok(l) => {
                    let dp = &self.dp;
                    let cells = (&dp.export.metrics, &dp.history.cell, &dp.alerts_cell);
                    self.http = start_http(l, self.cfg, &self.out.cell, cells.0, cells.1, cells.2)
                }
                Err(e) => log::error!("http: {e}"),
            }
        }
        if !self.privileges_dropped {
            self.privileges_dropped = true;
            if !drop_privileges(self.cfg) {
                return Err(1);
            }
        }
        Ok(())
    }

    /// When the loop must wake at the latest: the earliest timer.
    fn next_deadline(&self) -> Instant {
        let mut at = self.next_snapshot;
        if self.cfg.state.is_some() {
            at = at.min(self.next_save);
        }
        if self.capture.is_none() {
            at = at.min(self.next_attempt);
        }
        if let Some(retry) = self.dp.geo_retry_at() {
            at = at.min(retry);
        }
        if let (Some(ct), Some(_)) = (&self.dp.conntrack, &self.capture) {
            at = at.min(ct.next_deadline());
        }
        // the history's next hour: swept then, not up to an interval later
        let hour = self.dp.history.boundary();
        if hour != u64::MAX {
            let left = Duration::from_secs(hour.saturating_sub(unix_now()));
            at = at.min(Instant::now() + left);
        }
        at
    }

    /// Step: sleeps until a capture handle has a block of frames (libpcap's buffer timeout
    /// batches them: the kernel wakes us per block, not per packet), a signal, or the next
    /// timer.
    fn wait(&mut self) {
        let mut fds: SmallVec<[RawFd; 4]> = SmallVec::new();
        // (the position of each step's descriptor in `fds`, if it has one)
        let at = |fd: Option<RawFd>, fds: &mut SmallVec<[RawFd; 4]>| {
            fd.map(|fd| {
                fds.push(fd);
                fds.len() - 1
            })
        };
        let (mut capture, mut names) = (None, None);
        if let Some(c) = &self.capture {
            capture = at(c.source.fd(), &mut fds);
            names = at(c.names.as_ref().and_then(Source::fd), &mut fds);
            at(self.dp.conntrack.as_ref().and_then(|ct| ct.fd()), &mut fds);
        }
        let signals = at(self.sig.fd(), &mut fds);
        let ready = wait_readable(&fds, self.next_deadline());
        // a step without a descriptor (none open) looks as it always did
        let is = |i: Option<usize>| i.is_none_or(|i| ready & (1 << i) != 0);
        self.ready = Ready {
            capture: is(capture),
            names: is(names),
            signals: is(signals),
        };
    }

    /// Step: counts what the counting handle holds (at most `MAX_BATCH` frames).
    fn drain_capture(&mut self) {
        let Some(c) = self.capture.as_mut().filter(|_| self.ready.capture) else {
            return;
        };
        let dp = &mut *self.dp;
        if let Err(e) = drain(&mut c.source, |link, f| dp.process(link, f)) {
            self.capture_lost(e);
        }
    }

    /// Step: learns names from what the names handle holds (at most `MAX_BATCH` frames).
    fn drain_names(&mut self) {
        let names = self.capture.as_mut().and_then(|c| c.names.as_mut());
        let Some(n) = names.filter(|_| self.ready.names) else {
            return;
        };
        let dp = &mut *self.dp;
        if let Err(e) = drain(n, |link, f| dp.learn_frame(link, f)) {
            self.capture_lost(e);
        }
    }

    /// Step (`--conntrack`): DESTROY events queued and, when due, a dump, while the capture
    /// runs (it finds the remotes that conntrack's counts go to).
    fn drain_conntrack(&mut self) {
        if self.capture.is_some() {
            self.dp.conntrack_step();
        }
    }

    /// The interface went away: close the capture, try again every `RETRY_CAPTURE`.
    fn capture_lost(&mut self, e: String) {
        log::error!(
            "capture lost ({e}); waiting for {} to come back",
            self.cfg.interface
        );
        if let Some(s) = self.capture.as_mut().and_then(|c| c.source.stats()) {
            self.stats = s;
        }
        self.capture = None;
        self.next_attempt = Instant::now() + RETRY_CAPTURE;
        self.last_error.clear();
    }

    /// Step: a database truncated under its mapping, SIGHUP (reload the database, the device
    /// names and the offload state). True on SIGTERM/SIGINT: stop.
    fn signals(&mut self) -> bool {
        if self.ready.signals {
            self.sig.drain();
        }
        if self.sig.term() {
            return true;
        }
        let (cfg, dp) = (self.cfg, &mut *self.dp);
        dp.check_geo(&cfg.geoip);
        if self.sig.take_hup() {
            log::info!("SIGHUP: reloading the geo database, device names and block lists");
            dp.replace_geo(open_geo(&cfg.geoip));
            dp.devnames.refresh();
            dp.alerts.reload_blocklists();
            dp.meta.offload =
                crate::offload::detect(cfg.firewall_config.as_deref(), cfg.nft.as_deref());
        }
        false
    }

    /// Step: whatever is due at `now`: the snapshot (expiry, lease files, capture counters,
    /// render and publish when something changed) and the state save.
    fn timers(&mut self, now: Instant) {
        let unix = unix_now();
        if unix >= self.dp.history.boundary() {
            self.dp.sweep(unix);
        }
        if now >= self.next_snapshot {
            self.next_snapshot = now + self.interval;
            let unix = unix_now();
            self.dp.sweep(unix);
            self.dp.export_tick(unix, false); // IPFIX
            self.dp.tables.expire(unix, self.cfg.retention);
            let names_changed = self.dp.devnames.refresh();
            self.capture_stats();
            if self.dp.tables.changed() || names_changed {
                self.publish(now, unix);
            }
        }
        if self.cfg.state.is_some() && now >= self.next_save {
            self.next_save = now + Duration::from_secs(self.cfg.save_interval);
            save_state(self.cfg, self.dp, unix_now());
        }
    }

    /// libpcap's counters into the snapshot's `capture`; kernel drops logged at most once a
    /// minute.
    fn capture_stats(&mut self) {
        let Some(c) = &mut self.capture else { return };
        if let Some(s) = c.source.stats() {
            if s.dropped > self.stats.dropped
                && self.last_drop_log.elapsed() > Duration::from_secs(60)
            {
                log::warn!(
                    "the kernel dropped {} packets (received {})",
                    s.dropped - self.stats.dropped,
                    s.received
                );
                self.last_drop_log = Instant::now();
            }
            self.stats = s;
        }
        let m = &mut self.dp.meta.capture;
        m.received = u64::from(self.stats.received);
        m.dropped = Some(u64::from(self.stats.dropped));
        m.if_dropped = Some(u64::from(self.stats.if_dropped));
        if let (Some(n), Some(nm)) = (&mut c.names, &mut m.names) {
            if let Some(s) = n.stats() {
                nm.received = u64::from(s.received);
                nm.dropped = u64::from(s.dropped);
            }
        }
    }

    /// Renders and publishes a snapshot (`started`: when this round of timers began). The
    /// render runs on the capture's thread: it is kept under ~1/10 of the time, whatever the
    /// table bound and the interval, so that a big table on a slow core cannot make the
    /// kernel drop packets (measured: 100k remotes at a 1 s interval lost 10-40 % of a 50k
    /// packets/s flood before this).
    fn publish(&mut self, started: Instant, unix: u64) {
        let s = self.dp.snapshot(unix);
        self.out.publish(s);
        let took = started.elapsed();
        if took * 9 <= self.interval {
            self.render_throttled = false;
            return;
        }
        self.next_snapshot = Instant::now() + took * 9;
        if !self.render_throttled {
            self.render_throttled = true;
            log::warn!(
                "markers.json takes {} ms to render ({} remotes): snapshots every {} s instead \
                 of {} s",
                took.as_millis() as u64, // (no u128 formatting code)
                self.dp.tables.remotes.len(),
                ceil_secs(took * 9),
                self.interval.as_secs()
            );
        }
    }
}

/// Whole seconds, rounded up (for log lines: no float code in the router binary).
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devnames::DevNameSource;

    fn data_path() -> DataPath {
        DataPath::new(
            Networks::new(vec!["192.168.1.0/24".parse().unwrap()], vec![], vec![]),
            GeoDb::none(),
            Tables::new(100, 10),
            DevNameSource::new(None, None),
            SnapshotMeta::default(),
        )
    }

    fn quiet_signals() -> Signals {
        Signals {
            term: Arc::default(),
            hup: Arc::default(),
            wake: None,
        }
    }

    fn outputs(dp: &mut DataPath) -> Outputs {
        Outputs {
            cell: SnapshotCell::new(dp.snapshot(0)),
            json_out: None,
            json_errors: 0,
        }
    }

    /// An Ethernet frame from a LAN host to a remote.
    fn frame_out() -> Vec<u8> {
        let mut f = Vec::new();
        etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([192, 168, 1, 2], [1, 1, 1, 1], 64)
            .udp(40000, 443)
            .write(&mut f, &[0; 8])
            .unwrap();
        f
    }

    fn no_files() -> Config {
        Config {
            leases: None,
            ethers: None,
            dhcp_config: None,
            odhcpd: None,
            firewall_config: None,
            ..Config::default()
        }
    }

    #[test]
    fn timers_publish_when_something_changed_and_only_then() {
        let cfg = no_files();
        let (mut dp, sig) = (data_path(), quiet_signals());
        let mut out = outputs(&mut dp);
        let first = out.cell.get().etag.clone();
        let mut live = Live::new(&cfg, &mut dp, &mut out, &sig);
        // not due yet: nothing happens
        let t0 = Instant::now();
        live.timers(t0);
        assert_eq!(live.out.cell.get().etag, first);
        // due, nothing changed: no new document, the next one is an interval away
        live.next_snapshot = t0;
        live.timers(t0);
        assert_eq!(live.out.cell.get().etag, first);
        assert_eq!(live.next_snapshot, t0 + live.interval);
        // a packet counted, due: a new document
        let f = frame_out();
        let frame = Frame {
            ts: unix_now(),
            wire_len: f.len() as u32,
            data: &f,
        };
        live.dp.process(LinkType::Ethernet, &frame);
        live.next_snapshot = t0;
        live.timers(t0);
        let doc = live.out.cell.get();
        assert_ne!(doc.etag, first);
        assert!(String::from_utf8_lossy(&doc.json).contains("\"1.1.1.1\""));
    }

    /// Past the open hour, a sweep closes it even with no traffic since: the boundary is not
    /// due again and again (the live loop would spin, a replay would sweep per packet).
    #[test]
    fn a_sweep_past_the_hour_closes_it_without_traffic() {
        let mut dp = data_path();
        let f = frame_out();
        let t = 1_764_028_800 + 10;
        let frame = Frame {
            ts: t,
            wire_len: f.len() as u32,
            data: &f,
        };
        dp.process(LinkType::Ethernet, &frame);
        dp.sweep(t);
        assert_eq!(dp.history.boundary(), t - 10 + 3600);
        dp.sweep(t + 3600);
        assert_eq!(dp.history.boundary(), u64::MAX);
        assert_eq!(dp.history.hourly.len(), 1);
    }

    #[test]
    fn the_loop_sleeps_until_its_earliest_timer() {
        let mut cfg = no_files();
        let (mut dp, sig) = (data_path(), quiet_signals());
        let mut out = outputs(&mut dp);
        let mut live = Live::new(&cfg, &mut dp, &mut out, &sig);
        let t0 = Instant::now();
        live.next_snapshot = t0 + Duration::from_secs(5);
        live.next_save = t0 + Duration::from_secs(1);
        live.next_attempt = t0 + Duration::from_secs(3);
        // no capture: the retry; no state file: never the save
        assert_eq!(live.next_deadline(), t0 + Duration::from_secs(3));
        live.next_attempt = t0 + Duration::from_secs(9);
        assert_eq!(live.next_deadline(), t0 + Duration::from_secs(5));
        drop(live);
        cfg.state = Some("/nonexistent/state".into());
        let mut live = Live::new(&cfg, &mut dp, &mut out, &sig);
        live.next_save = t0 + Duration::from_secs(1);
        live.next_attempt = t0 + Duration::from_secs(9);
        assert_eq!(live.next_deadline(), t0 + Duration::from_secs(1));
        // waiting on nothing but the deadline returns at it, not before
        let start = Instant::now();
        wait_readable(&[], start + Duration::from_millis(30));
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn signals_step_stops_on_term_and_wakes_a_sleeping_poll() {
        let cfg = no_files();
        let (mut dp, sig) = (data_path(), quiet_signals());
        let mut out = outputs(&mut dp);
        let mut live = Live::new(&cfg, &mut dp, &mut out, &sig);
        assert!(!live.signals());
        sig.term.store(true, Ordering::Relaxed);
        assert!(live.signals());
        // the self-pipe: a byte in it ends the sleep at once, and `drain` empties it
        let (read, mut write) = UnixStream::pair().unwrap();
        read.set_nonblocking(true).unwrap();
        let sig = Signals {
            wake: Some(read),
            ..quiet_signals()
        };
        std::io::Write::write_all(&mut write, &[1]).unwrap();
        let start = Instant::now();
        wait_readable(sig.fd().as_slice(), start + Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(5));
        sig.drain();
        let start = Instant::now();
        wait_readable(sig.fd().as_slice(), start + Duration::from_millis(20));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
