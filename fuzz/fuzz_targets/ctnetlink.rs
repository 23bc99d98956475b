//! Fuzz target: the ctnetlink message parser (`conntrack::parse`) and what the conntrack
//! source does with what it parses (deltas into the tables) must never panic, whatever
//! the kernel — or anything else — puts in a netlink buffer. Seeds: fuzz/seeds/ctnetlink
//! (a real dump, DESTROY events, DONE and ERROR messages).
#![no_main]

use connmap::conntrack::{parse, Conntrack};
use connmap::filter::Networks;
use connmap::table::Tables;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (_, m) in parse::messages(data) {
        let _ = m;
    }
    let nets = Networks::new(
        vec!["192.168.0.0/16".parse().unwrap(), "fd00::/8".parse().unwrap()],
        vec!["198.18.0.0/15".parse().unwrap()],
        vec![],
    );
    let mut tables = Tables::new(64, 16);
    let mut ct = Conntrack::detached(64);
    // a baseline, then the same bytes as a later dump and as events
    ct.feed(data, true, &nets, &mut tables, 1);
    ct.feed(data, true, &nets, &mut tables, 2);
    ct.feed(data, false, &nets, &mut tables, 3);
    assert!(ct.info.flows <= 64);
    assert!(tables.remotes.len() <= 64);
});
