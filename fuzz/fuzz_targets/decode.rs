//! Fuzz target: the packet decoder must never panic, for any link type and any bytes, and what
//! it decodes must go through the filter and the tables without panicking either.
#![no_main]

use connmap::filter::Networks;
use connmap::packet::{decode, LinkType};
use connmap::table::Tables;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let link = LinkType::ALL[usize::from(selector) % LinkType::ALL.len()];
    if let Ok(Some(p)) = decode(link, frame) {
        let _ = connmap::packet::transport(frame, &p);
        // the offset name learning reads from is inside the frame, and the look is safe
        assert!(usize::from(p.l4_at) <= frame.len());
        let _ = connmap::learn::wanted(&p, frame, selector & 0x80 != 0);
        let nets = Networks::new(
            vec![
                "192.168.0.0/16".parse().unwrap(),
                "fd00::/8".parse().unwrap(),
            ],
            vec![],
            vec![],
        );
        // twice: the second packet takes the flow cache when the first was counted
        let mut t = Tables::new(4, 4);
        t.count(&p, frame.len() as u32, 1, &nets);
        t.count(&p, frame.len() as u32, 2, &nets);
        assert!(t.stats.packets == 0 || t.stats.packets == 2);
    }
});
