//! Logging: stderr in the foreground on a terminal, syslog otherwise (procd on the router).
//!
//! `CONNMAP_LOG=stderr` or `CONNMAP_LOG=syslog` overrides the choice (the tests read stderr).
//! Without a syslog socket, stderr is used.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::{IsTerminal, Write};

struct Stderr {
    level: LevelFilter,
}

impl Log for Stderr {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
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
        let formatter = syslog::Formatter3164 {
            facility: syslog::Facility::LOG_DAEMON,
            hostname: None,
            process: "connmap".into(),
            pid: std::process::id(),
        };
        if let Ok(logger) = syslog::unix(formatter) {
            if log::set_boxed_logger(Box::new(syslog::BasicLogger::new(logger))).is_ok() {
                log::set_max_level(level);
            }
            return;
        }
    }
    if log::set_boxed_logger(Box::new(Stderr { level })).is_ok() {
        log::set_max_level(level);
    }
}
