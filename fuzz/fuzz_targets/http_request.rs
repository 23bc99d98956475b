//! Fuzz target: the HTTP gate's request-head check and the path cleaner must never panic, and a
//! path they accept must be a plain absolute path without traversal; a head the gate accepts
//! names this router in its `Host`.
#![no_main]

use connmap::http::{clean_path, gate::sanitize, host::HostPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let hosts = HostPolicy::new(
        "192.168.1.1:8090".parse().unwrap(),
        Some("openwrt"),
        &["map.example".into()],
    );
    if let Ok(head) = sanitize(data, &hosts) {
        assert!(head.ends_with(b"Connection: close\r\n\r\n"));
        let text = std::str::from_utf8(&head).unwrap();
        if let Some(h) = text.lines().find_map(|l| l.strip_prefix("Host: ")) {
            assert!(hosts.allows(h), "{h}");
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(p) = clean_path(s) {
            assert!(p.starts_with('/'));
            assert!(!p.split('/').any(|seg| seg == ".." || seg == "."));
            assert!(!p.contains('\\') && !p.contains('\0'));
        }
    }
});
