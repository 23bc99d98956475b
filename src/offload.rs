//! Offload: is OpenWrt's flow offloading hiding established flows from `br-lan`?
//!
//! With software flow offloading (firewall `option flow_offloading '1'`, an nftables
//! flowtable) or hardware offloading (`flow_offloading_hw`), only the first packets of each
//! connection take the normal path that the capture sees; the rest bypass it. Connections
//! are still all seen, byte and packet counts are then partial. Detected at start and on
//! SIGHUP from the firewall config and `nft list flowtables`, and reported in markers.json.
//!
//! Running `nft` takes the cargo feature `nft` (default). Router builds leave it out: on
//! OpenWrt the daemon has no `CAP_NET_ADMIN`, which listing flowtables needs, and `std`'s
//! process spawning is 27 KB of the MIPS binary; there the firewall config is the source.

use serde::Serialize;
use std::path::Path;

/// What markers.json says about offloading.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Offload {
    pub detected: bool,
    pub hardware: bool,
    /// Where it was found (`/etc/config/firewall`, `nft`), or null.
    pub source: Option<String>,
}

/// `(software, hardware)` from UCI firewall config text: `option flow_offloading '1'` and
/// `option flow_offloading_hw '1'` (any quoting, in the `defaults` section or elsewhere).
pub fn parse_firewall_config(text: &str) -> (bool, bool) {
    let (mut sw, mut hw) = (false, false);
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut f = line.split_whitespace();
        if f.next() != Some("option") {
            continue;
        }
        let (Some(key), Some(val)) = (f.next(), f.next()) else {
            continue;
        };
        let key = key.trim_matches(['\'', '"']);
        let on = matches!(
            val.trim_matches(['\'', '"']),
            "1" | "on" | "true" | "yes" | "enabled"
        );
        match key {
            "flow_offloading" => sw |= on,
            "flow_offloading_hw" => hw |= on,
            _ => {}
        }
    }
    (sw || hw, hw)
}

/// `(flowtable present, hardware)` from `nft list flowtables` output: a `flowtable NAME {`
/// block; `flags offload` marks a hardware one.
pub fn parse_nft_flowtables(text: &str) -> (bool, bool) {
    let present = text
        .lines()
        .any(|l| l.trim_start().starts_with("flowtable "));
    let hw = present
        && text.lines().any(|l| {
            let l = l.trim();
            l.starts_with("flags") && l.contains("offload")
        });
    (present, hw)
}

/// Looks at the firewall config (if a path) and runs `nft list flowtables` (if a command).
pub fn detect(firewall_config: Option<&Path>, nft: Option<&str>) -> Offload {
    let mut o = Offload::default();
    if let Some(p) = firewall_config {
        if let Ok(text) = std::fs::read_to_string(p) {
            let (sw, hw) = parse_firewall_config(&text);
            if sw {
                o.detected = true;
                o.hardware = hw;
                o.source = Some(p.display().to_string());
            }
        }
    }
    if let Some(out) = nft.and_then(list_flowtables) {
        let (present, hw) = parse_nft_flowtables(&String::from_utf8_lossy(&out));
        if present {
            o.detected = true;
            o.hardware |= hw;
            o.source = Some(match o.source.take() {
                Some(s) => format!("{s}, nft"),
                None => "nft".into(),
            });
        }
    }
    if o.detected {
        log::warn!(
            "flow offloading is on ({}{}): established flows bypass the capture, byte and \
             packet counts are partial (connections are all seen)",
            o.source.as_deref().unwrap_or(""),
            if o.hardware { ", hardware" } else { "" }
        );
    }
    o
}

/// The standard output of `CMD list flowtables`, or None if it could not run.
#[cfg(feature = "nft")]
fn list_flowtables(cmd: &str) -> Option<Vec<u8>> {
    use std::process::{Command, Stdio};
    let out = Command::new(cmd)
        .args(["list", "flowtables"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    out.ok().map(|o| o.stdout)
}

/// Built without the `nft` feature: `cli` refuses a non-empty `--nft`, so this never runs.
#[cfg(not(feature = "nft"))]
fn list_flowtables(_cmd: &str) -> Option<Vec<u8>> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firewall_config() {
        let text = "config defaults\n\toption syn_flood\t1\n\toption input 'REJECT'\n\
                    \toption flow_offloading '1'\n\toption flow_offloading_hw '0'\n";
        assert_eq!(parse_firewall_config(text), (true, false));
        let hw = "config defaults\n\toption flow_offloading \"1\"\n\toption flow_offloading_hw 1\n";
        assert_eq!(parse_firewall_config(hw), (true, true));
        let off = "config defaults\n#\toption flow_offloading '1'\n\toption flow_offloading '0'\n";
        assert_eq!(parse_firewall_config(off), (false, false));
        assert_eq!(
            parse_firewall_config("garbage\n\0\u{fffd} option\n"),
            (false, false)
        );
    }

    #[test]
    fn nft_output() {
        let sw = "table inet fw4 {\n\tflowtable ft {\n\t\thook ingress priority filter\n\
                  \t\tdevices = { br-lan, wan }\n\t}\n}\n";
        assert_eq!(parse_nft_flowtables(sw), (true, false));
        let hw = "table inet fw4 {\n\tflowtable ft {\n\t\thook ingress priority filter\n\
                  \t\tdevices = { lan1, wan }\n\t\tflags offload\n\t}\n}\n";
        assert_eq!(parse_nft_flowtables(hw), (true, true));
        assert_eq!(
            parse_nft_flowtables("table inet fw4 {\n}\n"),
            (false, false)
        );
        assert_eq!(parse_nft_flowtables(""), (false, false));
    }

    #[test]
    fn detect_from_files() {
        let d = tempfile::tempdir().unwrap();
        let fw = d.path().join("firewall");
        std::fs::write(&fw, "config defaults\n\toption flow_offloading '1'\n").unwrap();
        let o = detect(Some(&fw), None);
        assert!(o.detected && !o.hardware);
        assert_eq!(o.source.as_deref(), Some(fw.to_str().unwrap()));
        assert_eq!(
            detect(Some(&d.path().join("none")), None),
            Offload::default()
        );
    }

    #[test]
    #[cfg(feature = "nft")]
    fn detect_from_commands() {
        let d = tempfile::tempdir().unwrap();
        // A command that runs and prints no flowtable (the parsing is tested above).
        assert_eq!(detect(None, Some("true")), Offload::default());
        assert_eq!(
            detect(Some(&d.path().join("none")), Some("/no/such/nft")),
            Offload::default()
        );
    }
}
