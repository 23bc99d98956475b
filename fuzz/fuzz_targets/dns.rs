//! Fuzz target: the DNS answer parser (UDP messages and TCP segments of length-prefixed
//! messages) must never panic, and what it returns must stay within its bounds.
#![no_main]

use connmap::learn::{clean_name, parse_dns, tcp_dns_messages, MAX_ANSWERS, MAX_NAME_LEN};
use libfuzzer_sys::fuzz_target;

fn check(msg: &[u8]) {
    if let Some(a) = parse_dns(msg) {
        assert!(a.addrs.len() <= MAX_ANSWERS);
        assert!(!a.qname.is_empty() && a.qname.len() <= MAX_NAME_LEN);
        assert_eq!(
            clean_name(a.qname.as_bytes()).as_deref(),
            Some(a.qname.as_str())
        );
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    tcp_dns_messages(data, check);
});
