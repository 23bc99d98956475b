//! Helpers shared by the end-to-end tests: the data builders (`data.rs`, `payloads.rs`) and running the real
//! `connmap` binary.
#![allow(dead_code)]

pub mod data;
pub use data::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh temporary directory for one test.
pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn connmap() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_connmap"));
    c.env("CONNMAP_LOG", "stderr");
    c
}

/// Replays `pcap` with `args`, writes markers.json into `dir`, returns (output, json).
pub fn replay(
    dir: &Path,
    pcap: &Path,
    db: Option<&Path>,
    args: &[String],
) -> (Output, Option<serde_json::Value>) {
    let out_json = dir.join("markers.json");
    let _ = std::fs::remove_file(&out_json);
    let mut c = connmap();
    c.arg("-r").arg(pcap).arg("--json-out").arg(&out_json);
    match db {
        Some(d) => c.arg("--geoip").arg(d),
        None => c.arg("--geoip").arg(dir.join("no-such.mmdb")),
    };
    let out = c.args(args).output().unwrap();
    let json = std::fs::read(&out_json)
        .ok()
        .map(|b| serde_json::from_slice(&b).unwrap());
    (out, json)
}

pub fn write_db(dir: &Path, bytes: &[u8], name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The marker of `ip` in a markers.json document.
pub fn marker<'a>(doc: &'a serde_json::Value, ip: &str) -> Option<&'a serde_json::Value> {
    doc["markers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["ip"] == ip)
}

pub fn host<'a>(doc: &'a serde_json::Value, ip: &str) -> Option<&'a serde_json::Value> {
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["ip"] == ip)
}
