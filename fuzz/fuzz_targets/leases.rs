//! Fuzz target: the dnsmasq leases and /etc/ethers parsers must never panic and stay bounded.
#![no_main]

use connmap::names::{parse_ethers, parse_leases, DeviceNames};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut n = DeviceNames::default();
    parse_leases(&text, &mut n);
    parse_ethers(&text, &mut n);
    assert!(n.by_ip.len() <= 4096 && n.by_mac.len() <= 4096 + 4096);
});
