//! connmap: where the devices of a home network connect to, on a live world map.
//!
//! The modules follow the data path, in the order a packet meets them:
//! `capture` (libpcap) → `packet` (decode) → `filter` (LAN side, remote side) → `geo`
//! (MaxMind DB) → `table` (bounded counters) → `snapshot` (markers.json) → `http` (tiny_http
//! behind a gate). Beside it: `learn` (names of remotes from DNS answers, TLS SNI and HTTP
//! Host, read from a second narrow capture). Around them: `cli`, `logging`, `names` (device
//! names from lease files), `offload` (flow offloading detection), `conntrack` (counts
//! from the kernel's connection tracking, for offloaded flows), `state` (persistence),
//! `privdrop`, `sigbus` (a mapped database truncated in place), `daemon` (the loops), `gz`
//! (gzip without crc32fast) and `demo`.

pub mod capture;
pub mod cli;
pub mod conntrack;
pub mod daemon;
#[cfg(feature = "demo")]
pub mod demo;
pub mod filter;
pub mod geo;
pub mod gz;
pub mod http;
pub mod learn;
pub mod logging;
pub mod names;
pub mod offload;
pub mod packet;
pub mod privdrop;
pub mod sigbus;
pub mod snapshot;
pub mod state;
pub mod table;
