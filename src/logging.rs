//! Logging: stderr in the foreground on a terminal, syslog otherwise (procd on the router).
//!
//! `CONNMAP_LOG=stderr` or `CONNMAP_LOG=syslog` overrides the choice (the tests read stderr).
//! Without a syslog socket, stderr is used.
//!
//! Syslog lines are `<PRI>connmap[PID]: message`, without the RFC 3164 timestamp and hostname:
//! the local syslog daemon (OpenWrt's logd, busybox syslogd, journald) stamps each line itself.
//! The `syslog` crate's own `Formatter3164` parses a `time` format description at run time for
//! its timestamp; leaving it unused keeps that code out of the router binary.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use syslog::{Facility, LogFormat, Logger, LoggerBackend, Severity};

/// Set when the daemon stops tiny_http by shutting its socket down (`http::stop_backend`):
/// its accept thread then logs "Error accepting new client: Invalid argument", which is the
/// stop working, not an error. From then on tiny_http's records are not logged.
static HTTP_STOPPING: AtomicBool = AtomicBool::new(false);

/// tiny_http is being stopped on purpose (see `HTTP_STOPPING`).
pub fn http_stopping() {
    HTTP_STOPPING.store(true, Ordering::Relaxed);
}

fn muted(r: &Record) -> bool {
    HTTP_STOPPING.load(Ordering::Relaxed) && r.target().starts_with("tiny_http")
}

struct Stderr {
    level: LevelFilter,
}

impl Log for Stderr {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) || muted(r) {
            return;
        }
        let tag = match r.level() {
            Level::Error => "error: ",
            Level::Warn => "warning: ",
            _ => "",
        };
        let _ = writeln!(std::io::stderr().lock(), "connmap: {tag}{}", r.args());
    }

    fn flush(&self) {}
}

/// `<PRI>process[pid]: message`: RFC 3164 as a local program sends it, without timestamp.
#[derive(Clone, Debug)]
pub struct LocalFormat {
    pub facility: Facility,
    pub process: String,
    pub pid: u32,
}

impl<T: Display> LogFormat<T> for LocalFormat {
    fn format<W: Write>(&self, w: &mut W, severity: Severity, message: T) -> syslog::Result<()> {
        let pri = self.facility as u8 | severity as u8;
        // one write_fmt: one datagram
        write!(w, "<{pri}>{}[{}]: {message}", self.process, self.pid).map_err(syslog::Error::Write)
    }
}

struct Syslog {
    level: LevelFilter,
    logger: Mutex<Logger<LoggerBackend, LocalFormat>>,
}

impl Log for Syslog {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) || muted(r) {
            return;
        }
        let severity = match r.level() {
            Level::Error => Severity::LOG_ERR,
            Level::Warn => Severity::LOG_WARNING,
            Level::Info => Severity::LOG_INFO,
            Level::Debug | Level::Trace => Severity::LOG_DEBUG,
        };
        let mut l = self.logger.lock().unwrap_or_else(|e| e.into_inner());
        let Logger { formatter, backend } = &mut *l;
        let _ = formatter.format(backend, severity, r.args());
    }

    fn flush(&self) {
        let _ = self
            .logger
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .backend
            .flush();
    }
}

fn local_format() -> LocalFormat {
    LocalFormat {
        facility: Facility::LOG_DAEMON,
        process: "connmap".into(),
        pid: std::process::id(),
    }
}

pub fn level_for(verbosity: i8) -> LevelFilter {
    match verbosity {
        i8::MIN..=-1 => LevelFilter::Warn,
        0 => LevelFilter::Info,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Installs the logger once; later calls do nothing.
pub fn init(verbosity: i8) {
    let level = level_for(verbosity);
    let choice = std::env::var("CONNMAP_LOG").unwrap_or_default();
    let want_syslog = match choice.as_str() {
        "stderr" => false,
        "syslog" => true,
        _ => !std::io::stderr().is_terminal(),
    };
    if want_syslog {
        if let Ok(logger) = syslog::unix(local_format()) {
            let logger = Mutex::new(logger);
            if log::set_boxed_logger(Box::new(Syslog { level, logger })).is_ok() {
                log::set_max_level(level);
            }
            return;
        }
    }
    if log::set_boxed_logger(Box::new(Stderr { level })).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn syslog_lines_reach_the_socket_without_timestamp() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let logger = syslog::unix_custom(local_format(), &path).unwrap();
        let sys = Syslog {
            level: LevelFilter::Info,
            logger: Mutex::new(logger),
        };
        let pid = std::process::id();
        let mut buf = [0u8; 512];
        for (level, pri, text) in [
            (Level::Error, 27, "disk full"),
            (Level::Warn, 28, "capture: 3 dropped"),
            (Level::Info, 30, "serving 12 files"),
        ] {
            sys.log(
                &Record::builder()
                    .level(level)
                    .args(format_args!("{text}"))
                    .build(),
            );
            let n = server.recv(&mut buf).unwrap();
            assert_eq!(
                std::str::from_utf8(&buf[..n]).unwrap(),
                format!("<{pri}>connmap[{pid}]: {text}")
            );
        }
        // below the level: nothing sent
        server.set_nonblocking(true).unwrap();
        sys.log(
            &Record::builder()
                .level(Level::Debug)
                .args(format_args!("x"))
                .build(),
        );
        assert!(server.recv(&mut buf).is_err());
    }
}
