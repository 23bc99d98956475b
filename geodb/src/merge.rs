//! Error-bounded merging: turns the sorted networks of one address family into as few
//! prefixes as the error budget allows.
//!
//! It walks the binary prefix tree over the networks. For every prefix it knows the
//! cheapest way to represent it from below (the two halves on their own) and compares it
//! with collapsing the whole prefix into one network that carries a representative record
//! (one of the two halves' representatives). A network inside the collapsed prefix is
//! *wrong* when its country differs from the representative's, its position is more than
//! `bound_km` from the representative's, or (with ASN data) its ASN differs. The cost
//! of a solution is `lambda × networks written + Σ weight × penalty` of the wrong
//! networks; the walk keeps the cheaper alternative at every prefix, bottom-up, which is
//! optimal for that cost among the solutions whose representatives come from the halves.
//!
//! - `lambda = 0` is the strict mode: a prefix is merged only when *every* network in it
//!   is within the bound and in the same country, so identical and nearby neighbours merge
//!   and finer networks stay exactly where they differ.
//! - `lambda > 0` lets a collapse misplace networks when that saves enough networks
//!   (`lambda` = how many wrong networks one saved output network is worth).
//! - With `heavy_candidates`, the records holding the most weight inside a prefix
//!   (approximate heavy hitters, merged bottom-up) are tried as its representative too.
//!
//! Gaps (addresses without data) inside a merged prefix get its record when `fill_gaps`
//! is on; prefixes without data stay gaps either way, and special-purpose ranges
//! (private, multicast, documentation, ...) are hard gaps that nothing merges across.

use crate::input::{span, Net};
use crate::record::{unit_vector, RecTable, EARTH_RADIUS_KM};

/// The trimmer's knobs.
#[derive(Debug, Clone, Copy)]
pub struct MergeParams {
    /// Distance bound in km.
    pub bound_km: f64,
    /// Price of one output network in units of wrong-network weight (0 = strict).
    pub lambda: f64,
    /// Penalty of a country mismatch (a position beyond the bound costs 1).
    pub country_penalty: f64,
    /// Penalty of an ASN mismatch.
    pub asn_penalty: f64,
    /// Extra weight per address block (IPv4 /24, IPv6 /48) of a network, on top of 1.
    pub addr_weight: f64,
    /// Let merged prefixes cover addresses without data.
    pub fill_gaps: bool,
    /// Also try the records holding the most weight inside a prefix as its
    /// representative (not only the halves' representatives). Off by default: on
    /// DB-IP it changes the `router` figures by < 0.4 points (docs/geodb.md).
    pub heavy_candidates: bool,
}

/// Weight of a network that holds a protected ("keep") address: any change of its
/// record costs this much, so it is never merged into a different record.
pub const KEEP_WEIGHT: f64 = 1e12;

impl Default for MergeParams {
    fn default() -> Self {
        MergeParams {
            bound_km: 25.0,
            lambda: 0.0,
            country_penalty: 4.0,
            asn_penalty: 1.0,
            addr_weight: 0.0,
            fill_gaps: true,
            heavy_candidates: false,
        }
    }
}

/// Marker record of a hard gap (see [`crate::input::special_nets`]).
pub const HARD: u32 = u32::MAX;
const NONE: u32 = u32::MAX - 1;

struct RecInfo {
    v: [f64; 3],
    cc: [u8; 2],
    asn: u32,
}

struct Ctx<'a> {
    bits: u8,
    items: &'a [Net],
    weights: Vec<f64>,
    prefix_w: Vec<f64>,
    info: Vec<RecInfo>,
    cos_bound: f64,
    p: MergeParams,
    out: Vec<Net>,
}

/// Representative candidates a prefix passes up (its own first).
const CANDIDATES: usize = 4;

/// Heaviest records a prefix passes up (approximate heavy hitters by weight).
const TOP: usize = 4;

#[derive(Clone, Copy)]
struct Res {
    cost: f64,
    /// Representative candidates, best first, [`NONE`]-padded.
    cands: [u32; CANDIDATES],
    /// The records holding the most weight inside the prefix (approximately: merged
    /// from the halves' lists), heaviest first, [`NONE`]-padded.
    top: [(u32, f64); TOP],
    /// Contains a hard gap (or, without gap filling, any gap): cannot be merged.
    blocked: bool,
}

impl Ctx<'_> {
    #[inline]
    fn penalty(&self, a: u32, b: u32) -> f64 {
        if a == b {
            return 0.0;
        }
        let (x, y) = (&self.info[a as usize], &self.info[b as usize]);
        let mut p = 0.0;
        if x.cc != y.cc {
            p += self.p.country_penalty;
        }
        let dot = x.v[0] * y.v[0] + x.v[1] * y.v[1] + x.v[2] * y.v[2];
        if dot < self.cos_bound {
            p += 1.0;
        }
        if x.asn != y.asn {
            p += self.p.asn_penalty;
        }
        p
    }

    /// Weighted penalty of giving `rep` to items `lo..hi` (stops early above `limit`),
    /// and the weight of the items whose record is exactly `rep` (the tie-breaker).
    fn error(&self, lo: usize, hi: usize, rep: u32, limit: f64) -> (f64, f64) {
        let (mut e, mut exact) = (0.0, 0.0);
        for i in lo..hi {
            let r = self.items[i].rec;
            if r == rep {
                exact += self.weights[i];
            } else if self.weights[i] >= KEEP_WEIGHT {
                e += KEEP_WEIGHT;
                if e > limit {
                    return (e, exact);
                }
            } else {
                e += self.weights[i] * self.penalty(r, rep);
                if e > limit {
                    return (e, exact);
                }
            }
        }
        (e, exact)
    }

    /// The best cover of the prefix `start`/`depth` holding items `lo..hi`: either one network
    /// with a representative record (when its error plus `lambda` is no more than the
    /// halves' costs), or the halves' own covers. Pushes the chosen networks to `out`.
    fn solve(&mut self, start: u128, depth: u8, lo: usize, hi: usize) -> Res {
        if let Some(leaf) = self.leaf(start, depth, lo, hi) {
            return leaf;
        }
        // Every item is strictly inside this prefix (inputs are disjoint prefixes).
        let mid = start + span(self.bits, depth + 1);
        let split = lo + self.items[lo..hi].partition_point(|n| n.start < mid);
        let mark = self.out.len();
        let l = self.solve(start, depth + 1, lo, split);
        let r = self.solve(mid, depth + 1, split, hi);
        let children = l.cost + r.cost;
        let (wl, wr) = (
            self.prefix_w[split] - self.prefix_w[lo],
            self.prefix_w[hi] - self.prefix_w[split],
        );
        let (heavy, light) = if wl >= wr || r.cands[0] == NONE {
            (&l, &r)
        } else {
            (&r, &l)
        };
        let (cands, n) = interleave_candidates(heavy, light);
        let top = if self.p.heavy_candidates {
            merge_top(&l.top, &r.top)
        } else {
            [(NONE, 0.0); TOP]
        };
        let halves = Res {
            cost: children,
            cands,
            top,
            blocked: l.blocked || r.blocked,
        };
        if halves.blocked {
            return halves;
        }
        // Collapse if error + lambda <= children, i.e. error <= limit.
        let limit = children - self.p.lambda;
        let Some((e, rep)) = self.best_representative(lo, hi, &cands[..n], &top, limit) else {
            return halves;
        };
        self.out.truncate(mark);
        self.out.push(Net {
            start,
            len: depth,
            rec: rep,
        });
        // The chosen representative first, the others after it.
        let mut c = [NONE; CANDIDATES];
        c[0] = rep;
        let others = cands[..n].iter().filter(|&&x| x != rep);
        for (slot, &x) in c[1..].iter_mut().zip(others) {
            *slot = x;
        }
        Res {
            cost: e + self.p.lambda,
            cands: c,
            top,
            blocked: false,
        }
    }

    /// The prefixes that need no split: empty (a gap) or exactly one input network.
    fn leaf(&mut self, start: u128, depth: u8, lo: usize, hi: usize) -> Option<Res> {
        let empty = Res {
            cost: 0.0,
            cands: [NONE; CANDIDATES],
            top: [(NONE, 0.0); TOP],
            blocked: !self.p.fill_gaps,
        };
        if lo == hi {
            return Some(empty);
        }
        let first = self.items[lo];
        if hi - lo != 1 || first.len != depth {
            return None;
        }
        if first.rec == HARD {
            return Some(Res {
                blocked: true,
                ..empty
            });
        }
        self.out.push(Net {
            start,
            len: depth,
            rec: first.rec,
        });
        let mut leaf = Res {
            cost: self.p.lambda,
            blocked: false,
            ..empty
        };
        leaf.cands[0] = first.rec;
        leaf.top[0] = (first.rec, self.weights[lo]);
        Some(leaf)
    }

    /// The record that covers items `lo..hi` with the least error within `limit` (ties: the
    /// one that is exactly the most weight's record), tried among the halves'
    /// representatives, then the heaviest records. `None`: no record is within the limit.
    fn best_representative(
        &self,
        lo: usize,
        hi: usize,
        cands: &[u32],
        top: &[(u32, f64); TOP],
        limit: f64,
    ) -> Option<(f64, u32)> {
        let mut tries = [NONE; CANDIDATES + TOP];
        tries[..cands.len()].copy_from_slice(cands);
        let mut m = cands.len();
        for &(rec, _) in top {
            if rec != NONE && !tries[..m].contains(&rec) {
                tries[m] = rec;
                m += 1;
            }
        }
        let mut best: Option<(f64, f64, u32)> = None;
        for &cand in &tries[..m] {
            let lim = best.map_or(limit, |b| b.0.min(limit));
            if lim < 0.0 {
                break;
            }
            let (e, exact) = self.error(lo, hi, cand, lim);
            if e <= lim && best.is_none_or(|b| e < b.0 || (e == b.0 && exact > b.1)) {
                best = Some((e, exact, cand));
            }
        }
        best.map(|(e, _, rep)| (e, rep))
    }
}

/// Candidates of a prefix: the heavier half's first, alternating with the lighter half's,
/// without repeats; and how many there are.
fn interleave_candidates(heavy: &Res, light: &Res) -> ([u32; CANDIDATES], usize) {
    let mut cands = [NONE; CANDIDATES];
    let mut n = 0;
    for i in 0..CANDIDATES {
        for c in [heavy.cands[i], light.cands[i]] {
            if n < CANDIDATES && c != NONE && !cands[..n].contains(&c) {
                cands[n] = c;
                n += 1;
            }
        }
    }
    (cands, n)
}

/// The heaviest records of two halves' lists: weights of the same record added.
fn merge_top(a: &[(u32, f64); TOP], b: &[(u32, f64); TOP]) -> [(u32, f64); TOP] {
    let mut all = [(NONE, 0.0); 2 * TOP];
    let mut n = 0;
    for &(rec, w) in a.iter().chain(b.iter()) {
        if rec == NONE {
            continue;
        }
        match all[..n].iter_mut().find(|x| x.0 == rec) {
            Some(x) => x.1 += w,
            None => {
                all[n] = (rec, w);
                n += 1;
            }
        }
    }
    all[..n].sort_unstable_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut out = [(NONE, 0.0); TOP];
    for (o, x) in out.iter_mut().zip(all[..n].iter()) {
        *o = *x;
    }
    out
}

/// Merges `nets` (sorted, disjoint prefixes of a `bits`-bit family; [`HARD`] marks hard
/// gaps) into the output prefixes, sorted by address. Networks holding one of the `keep`
/// addresses keep their exact record.
pub fn merge(bits: u8, nets: &[Net], table: &RecTable, p: MergeParams, keep: &[u128]) -> Vec<Net> {
    let unit_len: u8 = if bits == 32 { 24 } else { 48 };
    let weights: Vec<f64> = nets
        .iter()
        .map(|n| {
            if n.rec == HARD {
                0.0
            } else {
                // 1 per network, plus addr_weight per /24 (IPv4) or /48 (IPv6) it spans.
                1.0 + p.addr_weight * 2f64.powi(i32::from(unit_len) - i32::from(n.len))
            }
        })
        .collect();
    let mut weights = weights;
    for &a in keep {
        let i = nets.partition_point(|n| n.start <= a);
        if i > 0 && nets[i - 1].rec != HARD && a <= nets[i - 1].end(bits) {
            weights[i - 1] = KEEP_WEIGHT;
        }
    }
    let mut prefix_w = Vec::with_capacity(nets.len() + 1);
    prefix_w.push(0.0);
    let mut acc = 0.0;
    for w in &weights {
        acc += w;
        prefix_w.push(acc);
    }
    let info = table
        .recs
        .iter()
        .map(|r| RecInfo {
            v: unit_vector(r.lat_deg(), r.lon_deg()),
            cc: r.cc,
            asn: r.asn,
        })
        .collect();
    let mut ctx = Ctx {
        bits,
        items: nets,
        weights,
        prefix_w,
        info,
        cos_bound: (p.bound_km / EARTH_RADIUS_KM).cos(),
        p,
        out: Vec::new(),
    };
    if !nets.is_empty() {
        ctx.solve(0, 0, 0, nets.len());
    }
    ctx.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::special_nets;
    use crate::record::{quantise, Rec};

    fn table(places: &[(&str, f64, f64)]) -> RecTable {
        let mut t = RecTable::new();
        for (cc, lat, lon) in places {
            t.intern(Rec {
                cc: crate::record::pack_country(Some(cc)),
                lat: quantise(*lat, 0.01),
                lon: quantise(*lon, 0.01),
                city: 0,
                asn: 0,
            });
        }
        t
    }

    /// Strict mode without gap filling: the tests' inputs have no hard gaps around them.
    fn strict() -> MergeParams {
        MergeParams {
            fill_gaps: false,
            ..MergeParams::default()
        }
    }

    fn net(s: &str, rec: u32) -> Net {
        let (a, l) = s.split_once('/').unwrap();
        let a: std::net::Ipv4Addr = a.parse().unwrap();
        Net {
            start: u128::from(u32::from(a)),
            len: l.parse().unwrap(),
            rec,
        }
    }

    fn show(v: &[Net]) -> Vec<String> {
        v.iter()
            .map(|n| {
                format!(
                    "{}/{}={}",
                    std::net::Ipv4Addr::from(n.start as u32),
                    n.len,
                    n.rec
                )
            })
            .collect()
    }

    // 0: Sydney, 1: Sydney suburb (~15 km), 2: Perth, 3: Auckland (other country),
    // 4: Parramatta (~20 km from 0, ~12 from 1)
    fn places() -> RecTable {
        table(&[
            ("AU", -33.87, 151.21),
            ("AU", -33.80, 151.08),
            ("AU", -31.95, 115.86),
            ("NZ", -36.85, 174.76),
            ("AU", -33.81, 151.00),
        ])
    }

    #[test]
    fn identical_neighbours_merge() {
        let t = places();
        let nets = vec![net("1.0.0.0/24", 0), net("1.0.1.0/24", 0)];
        let out = merge(32, &nets, &t, strict(), &[]);
        assert_eq!(show(&out), ["1.0.0.0/23=0"]);
    }

    #[test]
    fn nearby_positions_merge_within_the_bound() {
        let t = places();
        let nets = vec![
            net("1.0.0.0/24", 0),
            net("1.0.1.0/25", 1),
            net("1.0.1.128/25", 0),
            net("1.0.2.0/23", 0),
        ];
        let out = merge(32, &nets, &t, strict(), &[]);
        assert_eq!(show(&out), ["1.0.0.0/22=0"]);
        // A bound of 5 km keeps the suburb apart, exactly where it differs.
        let p = MergeParams {
            bound_km: 5.0,
            ..strict()
        };
        let out = merge(32, &nets, &t, p, &[]);
        assert_eq!(
            show(&out),
            [
                "1.0.0.0/24=0",
                "1.0.1.0/25=1",
                "1.0.1.128/25=0",
                "1.0.2.0/23=0"
            ]
        );
    }

    #[test]
    fn far_or_foreign_networks_are_kept_exactly() {
        let t = places();
        // Sydney everywhere in 1.0.0.0/22 except Perth in 1.0.2.0/24.
        let nets = vec![
            net("1.0.0.0/23", 0),
            net("1.0.2.0/24", 2),
            net("1.0.3.0/24", 0),
        ];
        let out = merge(32, &nets, &t, strict(), &[]);
        assert_eq!(show(&out), ["1.0.0.0/23=0", "1.0.2.0/24=2", "1.0.3.0/24=0"]);
        // Same country, within the bound, but a different country in the middle.
        let nets = vec![net("1.0.0.0/24", 0), net("1.0.1.0/24", 3)];
        let out = merge(32, &nets, &t, strict(), &[]);
        assert_eq!(show(&out), ["1.0.0.0/24=0", "1.0.1.0/24=3"]);
    }

    #[test]
    fn representative_is_not_chained() {
        // 1 is within 25 km of both 0 and 4, but 0 and 4 are ~20 km apart: merging the
        // three under rep 0 is fine; under a 15 km bound 4 must stay apart from 0.
        let t = places();
        let nets = vec![
            net("1.0.0.0/24", 0),
            net("1.0.1.0/24", 0),
            net("1.0.2.0/24", 1),
            net("1.0.3.0/24", 4),
        ];
        let p = MergeParams {
            bound_km: 15.0,
            ..strict()
        };
        let out = merge(32, &nets, &t, p, &[]);
        // Every output network's record is within 15 km of every input it covers.
        for o in &out {
            for n in &nets {
                if n.start >= o.start && n.start <= o.end(32) {
                    let (a, b) = (&t.recs[o.rec as usize], &t.recs[n.rec as usize]);
                    let d = crate::record::haversine_km(
                        a.lat_deg(),
                        a.lon_deg(),
                        b.lat_deg(),
                        b.lon_deg(),
                    );
                    assert!(d <= 15.0, "{:?} covers {:?} at {d} km", show(&[*o]), n);
                }
            }
        }
        // Rep 1 (the suburb) is within 15 km of all of them.
        assert_eq!(show(&out), ["1.0.0.0/22=1"]);
    }

    #[test]
    fn gaps_are_filled_only_inside_merged_prefixes() {
        let t = places();
        let mut nets = vec![net("1.0.0.0/24", 0), net("1.0.3.0/24", 0)];
        let fill = MergeParams::default();
        // Alone in the address space, the record fills it all.
        assert_eq!(show(&merge(32, &nets, &t, fill, &[])), ["0.0.0.0/0=0"]);
        // Next to hard gaps, it fills up to them.
        nets.push(net("0.0.0.0/8", HARD));
        nets.push(net("2.0.0.0/7", HARD));
        nets.sort_by_key(|n| n.start);
        assert_eq!(show(&merge(32, &nets, &t, fill, &[])), ["1.0.0.0/8=0"]);
        nets.retain(|n| n.rec != HARD);
        let p = MergeParams {
            fill_gaps: false,
            ..strict()
        };
        let out = merge(32, &nets, &t, p, &[]);
        assert_eq!(show(&out), ["1.0.0.0/24=0", "1.0.3.0/24=0"]);
    }

    #[test]
    fn hard_gaps_block_merging() {
        let t = places();
        let mut nets = vec![
            net("11.0.0.0/8", 0),
            net("9.0.0.0/8", 0),
            net("8.0.0.0/8", 0),
        ];
        nets.extend(special_nets(32));
        nets.sort_by_key(|n| n.start);
        let out = merge(32, &nets, &t, strict(), &[]);
        // 10.0.0.0/8 is private: 8/7 merges, 11/8 cannot join them.
        assert_eq!(show(&out), ["8.0.0.0/7=0", "11.0.0.0/8=0"]);
    }

    #[test]
    fn lossy_mode_trades_outliers_for_networks() {
        let t = places();
        // 1.0.0.0/16: Sydney /24s, with one Perth /24 in the middle.
        let mut nets: Vec<Net> = (0..256u32)
            .map(|i| Net {
                start: u128::from(0x0100_0000 + (i << 8)),
                len: 24,
                rec: if i == 77 { 2 } else { 0 },
            })
            .collect();
        let exact = merge(32, &nets, &t, strict(), &[]);
        assert_eq!(exact.len(), 9); // 8 covering prefixes + the exception
        let lossy = MergeParams {
            lambda: 0.2,
            ..strict()
        };
        let out = merge(32, &nets, &t, lossy, &[]);
        assert_eq!(show(&out), ["1.0.0.0/16=0"]);
        // The same outlier in another country costs 1 + 4 and is worth keeping at 0.2.
        nets[77].rec = 3;
        let out = merge(32, &nets, &t, lossy, &[]);
        assert_eq!(out.len(), 9);
        // A protected address keeps its network's exact record even when lossy.
        nets[77].rec = 2;
        let out = merge(32, &nets, &t, lossy, &[0x0100_4d07]);
        assert_eq!(out.len(), 9);
        assert!(out
            .iter()
            .any(|n| n.rec == 2 && n.start == 0x0100_4d00 && n.len == 24));
    }

    #[test]
    fn the_heaviest_record_is_a_candidate() {
        // 0 is every other network; 1..=8 each once, all far apart (~330 km).
        let places: Vec<(&str, f64, f64)> = (0..9)
            .map(|i| ("AU", -12.0 - 3.0 * f64::from(i), 135.0))
            .collect();
        let t = table(&places);
        let nets: Vec<Net> = (0..16u32)
            .map(|i| Net {
                start: u128::from(0x0100_0000 + (i << 4)),
                len: 28,
                rec: if i % 2 == 1 { 0 } else { 1 + i / 2 },
            })
            .collect();
        // At 0.6 a collapse pays from 8 networks up (4 of them misplaced), not below.
        let p = MergeParams {
            lambda: 0.6,
            heavy_candidates: true,
            ..strict()
        };
        // The halves' representatives alone lose 0 on the way up (4 candidates): the
        // /25s' candidates are four of 1..=8, and nothing merges.
        let halves = merge(
            32,
            &nets,
            &t,
            MergeParams {
                heavy_candidates: false,
                ..p
            },
            &[],
        );
        assert_eq!(halves.len(), 16);
        let out = merge(32, &nets, &t, p, &[]);
        assert_eq!(show(&out), ["1.0.0.0/24=0"]);
        // Heavy hitters: weights of the same record add up, heaviest first.
        let a = [(3, 1.0), (5, 2.0), (NONE, 0.0), (NONE, 0.0)];
        let b = [(3, 2.5), (7, 0.5), (NONE, 0.0), (NONE, 0.0)];
        assert_eq!(
            merge_top(&a, &b),
            [(3, 3.5), (5, 2.0), (7, 0.5), (NONE, 0.0)]
        );
    }

    #[test]
    fn ipv6_and_whole_space() {
        let t = places();
        let nets = vec![
            Net {
                start: 0x2000u128 << 112,
                len: 4,
                rec: 0,
            },
            Net {
                start: 0x3000u128 << 112,
                len: 4,
                rec: 1,
            },
        ];
        let out = merge(128, &nets, &t, strict(), &[]);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].start, out[0].len), (0x2000u128 << 112, 3));
        let all = vec![Net {
            start: 0,
            len: 0,
            rec: 2,
        }];
        assert_eq!(merge(32, &all, &t, strict(), &[]), all);
    }
}
