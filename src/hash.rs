//! The hasher of the address-keyed tables (`table`, `geo`'s record cache, `learn`).
//!
//! foldhash with its `hash_one` forced inline: the release build optimises for size
//! (opt-level "z"), where the standard `BuildHasher::hash_one` stays an out-of-line call
//! around a one-multiply hash on every table lookup. Same hash, same random seeds.

/// foldhash's fast `RandomState`, with `hash_one` inlined (see the module comment).
#[derive(Clone, Default)]
pub struct RandomState(foldhash::fast::RandomState);

impl std::hash::BuildHasher for RandomState {
    type Hasher = foldhash::fast::FoldHasher<'static>;

    #[inline(always)]
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }

    // the point of this impl: the provided method, spelled out so it can be forced inline
    #[allow(clippy::manual_hash_one)]
    #[inline(always)]
    fn hash_one<T: std::hash::Hash>(&self, x: T) -> u64 {
        use std::hash::Hasher;
        let mut h = self.build_hasher();
        x.hash(&mut h);
        h.finish()
    }
}
