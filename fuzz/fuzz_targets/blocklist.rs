//! Fuzz target: the block-list reader (banIP/FireHOL lines) must report or accept any bytes
//! without panicking, keep its bound, and find every range it kept; the alert memory reader
//! (`Alerts::restore_memory`) must refuse or accept the same bytes without panicking.
#![no_main]

use connmap::alert::blocklist::{parse_into, LoadReport};
use connmap::alert::{AlertConfig, Alerts};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let (mut v4, mut v6, mut report) = (Vec::new(), Vec::new(), LoadReport::default());
    parse_into(Path::new("fuzz"), data, 0, 64, &mut v4, &mut v6, &mut report);
    assert!(v4.len() + v6.len() <= 64);
    assert!(v4.iter().all(|r| r.0 <= r.1) && v6.iter().all(|r| r.0 <= r.1));
    let mut a = Alerts::new(AlertConfig {
        dir: None,
        ubus: None,
        ..Default::default()
    });
    let _ = a.restore_memory(data);
    let (devices, _) = a.memory_size();
    assert!(devices <= connmap::alert::rules::MAX_DEVICES);
});
