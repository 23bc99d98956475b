//! Fuzz target: the TLS ClientHello server-name parser, the segment assembler and the HTTP
//! Host parser must never panic, and the assembler must stay bounded.
#![no_main]

use connmap::learn::{
    parse_client_hello, parse_http_host, tcp_payload, Hello, HelloAssembler, MAX_NAME_LEN,
    MAX_PENDING_HELLOS,
};
use connmap::packet::Addr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Hello::Name(n) = parse_client_hello(data) {
        assert!(n.len() <= MAX_NAME_LEN);
    }
    if let Some(h) = parse_http_host(data) {
        assert!(h.len() <= MAX_NAME_LEN);
    }
    let _ = tcp_payload(data);
    // The input as up to 8 segments (split at bytes of value 0xAA), on a few flows.
    let mut asm = HelloAssembler::default();
    let host = Addr::from_v4_bytes([192, 168, 1, 2]);
    let remote = Addr::from_v4_bytes([1, 1, 1, 1]);
    let mut seq = 0u32;
    for (i, seg) in data.split(|&b| b == 0xaa).take(8).enumerate() {
        let key = (host, (i % 3) as u16, remote, 443);
        let _ = asm.segment(key, seq, seg, i as u64);
        seq = seq.wrapping_add(seg.len() as u32);
        assert!(asm.len() <= MAX_PENDING_HELLOS);
    }
});
