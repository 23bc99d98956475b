//! Fuzz target: the HTTP gate's request-head check and the path cleaner must never panic, and a
//! path they accept must be a plain absolute path without traversal.
#![no_main]

use connmap::http::{clean_path, gate::sanitize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(head) = sanitize(data) {
        assert!(head.ends_with(b"Connection: close\r\n\r\n"));
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(p) = clean_path(s) {
            assert!(p.starts_with('/'));
            assert!(!p.split('/').any(|seg| seg == ".." || seg == "."));
            assert!(!p.contains('\\') && !p.contains('\0'));
        }
    }
});
