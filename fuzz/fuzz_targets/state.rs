//! Fuzz target: the state-file loader must refuse or accept any bytes without panicking, and
//! never grow the tables past their bounds.
#![no_main]

use connmap::state::decode_into;
use connmap::table::Tables;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut t = Tables::new(8, 4);
    let _ = decode_into(data, &mut t);
    assert!(t.remotes.len() <= 8 && t.hosts.len() <= 4);
});
