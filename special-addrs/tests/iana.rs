//! The table against the IANA registry rows it cites (`tests/iana-*.csv`, written from the
//! registry text): every registry block is special, and every block of the table is a
//! registry row with the name and RFC the registry gives it (the documented additions aside).

use special_addrs::{is_special_v4, is_special_v6, V4, V6, V6_GLOBAL_UNICAST};
use std::net::{Ipv4Addr, Ipv6Addr};

struct Row {
    block: String,
    name: String,
    rfc: String,
}

/// The rows of a registry CSV: `Address Block,Name,RFC`, fields possibly quoted.
fn rows(text: &str) -> Vec<Row> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let mut fields = Vec::new();
        let (mut cur, mut quoted, mut chars) = (String::new(), false, line.chars().peekable());
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                '"' => quoted = !quoted,
                ',' if !quoted => fields.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        fields.push(cur);
        assert_eq!(fields.len(), 3, "{line}");
        out.push(Row {
            block: fields[0].clone(),
            name: fields[1].clone(),
            rfc: fields[2].clone(),
        });
    }
    out
}

fn v4(block: &str) -> (u32, u8) {
    let (a, l) = block.split_once('/').unwrap();
    (
        u32::from(a.parse::<Ipv4Addr>().unwrap()),
        l.parse().unwrap(),
    )
}

fn v6(block: &str) -> (u128, u8) {
    let (a, l) = block.split_once('/').unwrap();
    (
        u128::from(a.parse::<Ipv6Addr>().unwrap()),
        l.parse().unwrap(),
    )
}

const V4_ROWS: &str = include_str!("iana-ipv4-special-registry.csv");
const V6_ROWS: &str = include_str!("iana-ipv6-special-registry.csv");

#[test]
fn every_ipv4_registry_block_is_special() {
    let rows = rows(V4_ROWS);
    assert_eq!(rows.len(), 25);
    for r in &rows {
        let (a, len) = v4(&r.block);
        let last = a | (u32::MAX.checked_shr(u32::from(len)).unwrap_or(0));
        assert!(is_special_v4(a) && is_special_v4(last), "{}", r.block);
        // covered by one block of the table, not by pieces
        assert!(
            V4.iter().any(|b| b.contains(a) && b.contains(last)),
            "{}",
            r.block
        );
    }
}

#[test]
fn every_ipv6_registry_block_is_special() {
    let rows = rows(V6_ROWS);
    assert_eq!(rows.len(), 24);
    for r in &rows {
        let (a, len) = v6(&r.block);
        let last = a | (u128::MAX.checked_shr(u32::from(len)).unwrap_or(0));
        assert!(is_special_v6(a) && is_special_v6(last), "{}", r.block);
        let outside = !V6_GLOBAL_UNICAST.contains(a) && !V6_GLOBAL_UNICAST.contains(last);
        assert!(
            outside || V6.iter().any(|b| b.contains(a) && b.contains(last)),
            "{}",
            r.block
        );
    }
}

#[test]
fn every_table_block_is_the_registry_row_it_cites() {
    let v4_rows = rows(V4_ROWS);
    for b in V4 {
        let block = format!("{}/{}", Ipv4Addr::from(b.addr), b.len);
        if block == "224.0.0.0/4" {
            continue; // multicast: its own registry
        }
        let row = v4_rows
            .iter()
            .find(|r| r.block == block)
            .unwrap_or_else(|| panic!("{block} is not a registry row"));
        assert_eq!(row.name.trim_matches('"'), b.name, "{block}");
        assert!(
            row.rfc.contains(&format!("[{}]", b.rfc)),
            "{block}: {}",
            row.rfc
        );
    }
    let v6_rows = rows(V6_ROWS);
    for b in V6 {
        let block = format!("{}/{}", Ipv6Addr::from(b.addr), b.len);
        let row = v6_rows
            .iter()
            .find(|r| r.block == block)
            .unwrap_or_else(|| panic!("{block} is not a registry row"));
        assert_eq!(row.name, b.name, "{block}");
        assert!(
            row.rfc.contains(&format!("[{}]", b.rfc)),
            "{block}: {}",
            row.rfc
        );
    }
}

#[test]
fn ordinary_addresses_are_not_special() {
    for a in [
        "8.8.8.8",
        "1.1.1.1",
        "192.0.3.1",
        "198.20.0.1",
        "223.255.255.255",
    ] {
        assert!(
            !is_special_v4(u32::from(a.parse::<Ipv4Addr>().unwrap())),
            "{a}"
        );
    }
    for a in ["2a00:1450::1", "2620:fe::fe", "2001:4860::8888", "3ffe::1"] {
        assert!(
            !is_special_v6(u128::from(a.parse::<Ipv6Addr>().unwrap())),
            "{a}"
        );
    }
}
