//! Fuzz target: the history part of the state file (version 3) must refuse or accept any
//! bytes without panicking, and what it accepts must keep the configured bounds.
#![no_main]

use connmap::history::{persist::decode, Bounds};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let b = Bounds {
        top: 2,
        devices: 2,
        hours: 24,
        days: 2,
    };
    if let Ok((hourly, daily, _)) = decode(data, &b) {
        assert!(hourly.len() <= 24 && daily.len() <= 2);
        for bucket in hourly.iter().chain(&daily) {
            assert!(bucket.devices.len() <= 2);
            for d in bucket.devices.iter() {
                assert!(d.remotes.len() <= 2 && d.countries.len() <= 3 && d.asns.len() <= 3);
            }
        }
    }
});
