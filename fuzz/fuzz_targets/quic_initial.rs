//! Fuzz target: the QUIC Initial decryptor and CRYPTO assembler (`connmap::quic`) must never
//! panic, and stay bounded.
//!
//! The first byte picks how the rest is read: pieces split at bytes of value 0xAA are either
//! raw datagrams (header parsing, header protection, a failing AEAD), or frames sealed into
//! real client Initials (v1 or v2, under one of two DCIDs) so that the frame walk and the
//! reassembly behind the decryption are reached too.
#![no_main]

use connmap::learn::{Hello, MAX_NAME_LEN};
use connmap::packet::Addr;
use connmap::quic::{crypto_frames, seal_initial, QuicAssembler, MAX_PENDING, V1, V2};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    crypto_frames(rest, |_, _| {});
    let mut asm = QuicAssembler::default();
    let host = Addr::from_v4_bytes([192, 168, 1, 2]);
    let remote = Addr::from_v4_bytes([1, 1, 1, 1]);
    for (i, piece) in rest.split(|&b| b == 0xaa).take(8).enumerate() {
        let key = (host, (i % 3) as u16, remote, 443);
        let dgram = if mode & 1 == 0 {
            piece.to_vec()
        } else {
            let version = if mode & 2 == 0 { V1 } else { V2 };
            let dcid: &[u8] = if mode & (4 << (i % 4)) == 0 { &[1; 8] } else { &[2; 20] };
            let mut d = seal_initial(version, dcid, &[], i as u32, piece, 1200);
            if mode & 0x80 != 0 {
                // and a second, coalesced
                d.extend(seal_initial(version, dcid, b"t", 100 + i as u32, piece, 0));
            }
            d
        };
        if let Hello::Name(n) | Hello::Ech(n) = asm.datagram(key, &dgram, (i / 3) as u64) {
            assert!(n.len() <= MAX_NAME_LEN);
        }
        assert!(asm.len() <= MAX_PENDING);
    }
});
