//! The one seed mixer of the project: SplitMix64 (Steele, Lea and Flood, 2014).
//!
//! Every random choice in negclip draws from a ChaCha8 generator seeded by mixing the run's
//! seed with what the choice is about (a row, an epoch, a scene), so the result depends on
//! neither thread count nor the order in which work is done. The mixing constants are
//! SplitMix64's; changing them changes every run, so they live here once.

/// SplitMix64's increment: the golden ratio in 64 bits.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a fast, well-distributed 64-bit bijection.
pub fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One SplitMix64 step from state `z`: spreads nearby integers over the whole `u64` range.
pub fn splitmix64(z: u64) -> u64 {
    finalize(z.wrapping_add(GOLDEN))
}

/// A seed unique to `(seed, index)`: the seed of row `index` of a table.
pub fn for_index(seed: u64, index: usize) -> u64 {
    splitmix64(seed ^ (index as u64).wrapping_mul(GOLDEN))
}

/// A seed unique to `(seed, epoch, sample, purpose)`: the trainer's per-sample draws.
pub fn for_sample(seed: u64, epoch: usize, sample: usize, purpose: u64) -> u64 {
    finalize(
        seed ^ (epoch as u64).wrapping_mul(GOLDEN)
            ^ (sample as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ purpose.wrapping_mul(0x1656_67B1_9E37_79F9),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_published_sequence() {
        // The first outputs of SplitMix64 seeded with 0 (reference implementation).
        let mut state = 0u64;
        let mut next = || {
            let out = splitmix64(state);
            state = state.wrapping_add(GOLDEN);
            out
        };
        assert_eq!(next(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(next(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(next(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn sample_seeds_differ_by_every_input() {
        let base = for_sample(1, 2, 3, 4);
        assert_ne!(base, for_sample(0, 2, 3, 4));
        assert_ne!(base, for_sample(1, 0, 3, 4));
        assert_ne!(base, for_sample(1, 2, 0, 4));
        assert_ne!(base, for_sample(1, 2, 3, 0));
        assert_eq!(base, for_sample(1, 2, 3, 4));
        assert_ne!(for_index(1, 2), for_index(1, 3));
    }
}
