//! connmap: where the devices of a home network connect to, on a live world map.
//!
//! The modules are listed as the data path reads, in the order a packet meets them, then
//! what runs beside it and around it.
//!
//! No `{:?}` outside tests: the router build is compiled with `-Zfmt-debug=none`
//! (scripts/cross-build.sh), where `Debug` formatting prints nothing. Quote user input with
//! `cli::quote`, join lists by hand (`cli::tests::no_debug_formatting_outside_tests` checks).

// The data path: capture (libpcap) → packet (decode) → filter (LAN side, remote side) → geo
// (MaxMind DB, looked up once per new remote, at the next snapshot) → table (bounded
// counters) → snapshot (markers.json) → http (tiny_http behind a gate).
pub mod capture;
pub mod packet;
pub mod filter;
pub mod geo;
pub mod table;
pub mod snapshot;
pub mod http;

// Beside it: names of remotes from DNS answers, TLS SNI, QUIC Initials and HTTP Host (a
// second, narrow capture), and how much of the traffic they name (coverage);
// names of devices from lease files (devnames).
pub mod learn;
pub mod quic;
pub mod coverage;
pub mod devnames;

// Beside the snapshots: the hourly and daily history of who talked to what (/history.json).
pub mod history;

// Beside the snapshots: /metrics for Prometheus and the IPFIX exporter, from the same tables.
pub mod export;

// Alerts: rules over the per-pair observations of each snapshot, delivered by syslog, ubus and
// hook scripts.
pub mod alert;

// The loops that drive it, and what they read and keep: the command line, persistence,
// flow offloading detection, and counts from the kernel's connection tracking (conntrack:
// flows that offloading moves past the capture).
pub mod daemon;
pub mod cli;
pub mod state;
pub mod offload;
pub mod conntrack;

// Support: the tables' hasher, gzip without crc32fast, the latest value shared with the HTTP
// threads, a mapped database truncated in place, dropping root, the log.
pub mod hash;
pub mod gz;
pub mod latest;
pub mod sigbus;
pub mod privdrop;
pub mod logging;

#[cfg(feature = "demo")]
pub mod demo;
