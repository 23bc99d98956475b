//! Fuzz target: the device-name parsers (dnsmasq leases, /etc/ethers, UCI `config host`
//! sections, odhcpd's lease file) must never panic and stay bounded.
#![no_main]

use connmap::devnames::{parse_ethers, parse_leases, parse_odhcpd, parse_uci_hosts, DeviceNames};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut n = DeviceNames::default();
    parse_leases(&text, &mut n);
    parse_ethers(&text, &mut n);
    assert!(n.by_ip.len() <= 4096 && n.by_mac.len() <= 4096 + 4096);
    let mut u = DeviceNames::default();
    parse_uci_hosts(&text, &mut u);
    parse_odhcpd(&text, &mut u);
    // Checked per line / per section: a last line or section may add up to 16 addresses.
    assert!(u.by_ip.len() <= 4096 + 32 && u.by_mac.len() <= 4096 + 32);
});
