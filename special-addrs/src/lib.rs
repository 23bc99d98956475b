//! The special-purpose IP address blocks: one table, used by the daemon (`src/filter.rs`: an
//! address in a block is never a remote) and by the geo database tool (`geodb`: never located,
//! a hard gap in the trimmed database). Before, each kept its own copy and they drifted.
//!
//! The rows are those of the IANA IPv4 and IPv6 Special-Purpose Address Registries
//! (<https://www.iana.org/assignments/iana-ipv4-special-registry>,
//! <https://www.iana.org/assignments/iana-ipv6-special-registry>), each with the RFC the
//! registry cites for it; `tests/iana.rs` checks them against the registry rows written into
//! `tests/iana-*.csv`. Sub-blocks of a listed block (192.0.0.0/29 inside 192.0.0.0/24, …) are
//! not repeated. Two additions, not in those registries: IPv4 multicast (224.0.0.0/4, the
//! multicast registry) and, for IPv6, everything outside global unicast (2000::/3): loopback,
//! IPv4-mapped, NAT64, discard, ULA, link-local, multicast, SRv6 SIDs (5f00::/16)…
//!
//! No dependencies, no allocation: the table is plain integers.

#![no_std]

/// One block: `addr/len` (`A`: the address as an integer), the registry's name for it and the
/// RFC it cites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block<A> {
    pub addr: A,
    pub len: u8,
    pub name: &'static str,
    pub rfc: &'static str,
}

/// One IPv4 block.
pub type V4Block = Block<u32>;
/// One IPv6 block.
pub type V6Block = Block<u128>;

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8, name: &'static str, rfc: &'static str) -> V4Block {
    V4Block {
        addr: u32::from_be_bytes([a, b, c, d]),
        len,
        name,
        rfc,
    }
}

/// `s` = the first segments of the address (the rest are zero).
const fn v6(s: &[u16], len: u8, name: &'static str, rfc: &'static str) -> V6Block {
    let mut addr = 0u128;
    let mut i = 0;
    while i < s.len() {
        addr |= (s[i] as u128) << (112 - 16 * i);
        i += 1;
    }
    V6Block {
        addr,
        len,
        name,
        rfc,
    }
}

/// The special-purpose IPv4 blocks.
pub const V4: &[V4Block] = &[
    v4(0, 0, 0, 0, 8, "This network", "RFC791"),
    v4(10, 0, 0, 0, 8, "Private-Use", "RFC1918"),
    v4(100, 64, 0, 0, 10, "Shared Address Space", "RFC6598"),
    v4(127, 0, 0, 0, 8, "Loopback", "RFC1122"),
    v4(169, 254, 0, 0, 16, "Link Local", "RFC3927"),
    v4(172, 16, 0, 0, 12, "Private-Use", "RFC1918"),
    v4(192, 0, 0, 0, 24, "IETF Protocol Assignments", "RFC6890"),
    v4(192, 0, 2, 0, 24, "Documentation (TEST-NET-1)", "RFC5737"),
    v4(192, 31, 196, 0, 24, "AS112-v4", "RFC7535"),
    v4(192, 52, 193, 0, 24, "AMT", "RFC7450"),
    v4(
        192,
        88,
        99,
        0,
        24,
        "Deprecated (6to4 Relay Anycast)",
        "RFC7526",
    ),
    v4(192, 168, 0, 0, 16, "Private-Use", "RFC1918"),
    v4(
        192,
        175,
        48,
        0,
        24,
        "Direct Delegation AS112 Service",
        "RFC7534",
    ),
    v4(198, 18, 0, 0, 15, "Benchmarking", "RFC2544"),
    v4(198, 51, 100, 0, 24, "Documentation (TEST-NET-2)", "RFC5737"),
    v4(203, 0, 113, 0, 24, "Documentation (TEST-NET-3)", "RFC5737"),
    // not in the special-purpose registry: the multicast address space registry
    v4(224, 0, 0, 0, 4, "Multicast", "RFC5771"),
    // includes 255.255.255.255/32, Limited Broadcast (RFC8190)
    v4(240, 0, 0, 0, 4, "Reserved", "RFC1112"),
];

/// Global unicast IPv6 space: every address outside it is special.
pub const V6_GLOBAL_UNICAST: V6Block = v6(&[0x2000], 3, "Global Unicast", "RFC4291");

/// The special-purpose IPv6 blocks inside global unicast (2000::/3).
pub const V6: &[V6Block] = &[
    v6(&[0x2001], 23, "IETF Protocol Assignments", "RFC2928"),
    v6(&[0x2001, 0x0db8], 32, "Documentation", "RFC3849"),
    v6(&[0x2002], 16, "6to4", "RFC3056"),
    v6(
        &[0x2620, 0x004f, 0x8000],
        48,
        "Direct Delegation AS112 Service",
        "RFC7534",
    ),
    v6(&[0x3fff], 20, "Documentation", "RFC9637"),
];

impl V4Block {
    /// The last address of the block.
    pub const fn last(&self) -> u32 {
        self.addr | (u32::MAX >> self.len)
    }

    pub const fn contains(&self, a: u32) -> bool {
        a >= self.addr && a <= self.last()
    }
}

impl V6Block {
    /// The last address of the block.
    pub const fn last(&self) -> u128 {
        self.addr | (u128::MAX >> self.len)
    }

    pub const fn contains(&self, a: u128) -> bool {
        a >= self.addr && a <= self.last()
    }
}

/// Whether the IPv4 address (as an integer) is special-purpose.
pub fn is_special_v4(a: u32) -> bool {
    V4.iter().any(|b| b.contains(a))
}

/// Whether the IPv6 address (as an integer) is special-purpose.
pub fn is_special_v6(a: u128) -> bool {
    !V6_GLOBAL_UNICAST.contains(a) || V6.iter().any(|b| b.contains(a))
}

/// The blocks outside global unicast, as prefixes: ::/3, 4000::/2, 8000::/1.
pub const V6_OUTSIDE_GLOBAL_UNICAST: &[V6Block] = &[
    v6(&[0x0000], 3, "outside global unicast", "RFC4291"),
    v6(&[0x4000], 2, "outside global unicast", "RFC4291"),
    v6(&[0x8000], 1, "outside global unicast", "RFC4291"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_and_disjoint() {
        for b in V4 {
            assert_eq!(b.addr & !(u32::MAX << (32 - b.len)), 0, "{b:?}");
        }
        for b in V6.iter().chain(V6_OUTSIDE_GLOBAL_UNICAST) {
            assert_eq!(b.addr & !(u128::MAX << (128 - b.len)), 0, "{b:?}");
        }
        for (i, a) in V4.iter().enumerate() {
            for b in &V4[i + 1..] {
                assert!(a.last() < b.addr, "{a:?} {b:?}: sorted, disjoint");
            }
        }
        for (i, a) in V6.iter().enumerate() {
            for b in &V6[i + 1..] {
                assert!(a.last() < b.addr, "{a:?} {b:?}: sorted, disjoint");
            }
            assert!(V6_GLOBAL_UNICAST.contains(a.addr) && V6_GLOBAL_UNICAST.contains(a.last()));
        }
    }

    #[test]
    fn outside_global_unicast_is_its_complement() {
        for a in [
            0u128,
            1,
            0x1fff << 112,
            0x4000 << 112,
            0xfe80 << 112,
            u128::MAX,
        ] {
            assert!(V6_OUTSIDE_GLOBAL_UNICAST.iter().any(|b| b.contains(a)));
            assert!(is_special_v6(a));
        }
        for a in [
            0x2000u128 << 112,
            (0x3fff << 112) | (1 << 100),
            0x2a00 << 112,
        ] {
            assert!(!V6_OUTSIDE_GLOBAL_UNICAST.iter().any(|b| b.contains(a)));
        }
    }

    #[test]
    fn some_addresses() {
        assert!(is_special_v4(u32::from_be_bytes([192, 168, 1, 1])));
        assert!(is_special_v4(u32::from_be_bytes([255, 255, 255, 255])));
        assert!(!is_special_v4(u32::from_be_bytes([8, 8, 8, 8])));
        assert!(!is_special_v4(u32::from_be_bytes([192, 0, 3, 1])));
        assert!(is_special_v6(0x2001_0db8u128 << 96));
        assert!(!is_special_v6(0x2a00_1450u128 << 96));
    }
}
