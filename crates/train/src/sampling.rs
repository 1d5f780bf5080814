//! Which items an evaluation scores: one set of defaults for the per-epoch evaluation of a
//! run (`[eval] seed`, `[eval] items`) and for `negclip eval` (`--seed`, `--items`), so that a
//! checkpoint scores the same later as it did during training. Every table and results file
//! states the [`Sampling`] it used.

use serde::{Deserialize, Serialize};

/// The default seed of evaluation subsamples and classification calibration splits: 1, the
/// ARO authors' default seed (`--seed 1` in the ARO code's `main_aro.py`). Independent of the
/// run's training seed, so runs with different seeds are scored on the same items.
pub const DEFAULT_EVAL_SEED: u64 = 1;

/// The default item count: 0, every item, as the benchmarks' papers report them. A run that
/// wants a cheaper per-epoch evaluation sets `[eval] items`; `negclip eval --items` with the
/// same number and seed then scores the same items.
pub const DEFAULT_EVAL_ITEMS: usize = 0;

/// Items of a synthetic suite when `items` is 0: the synthetic suites are generated, so "all"
/// needs a number.
pub const SYNTHETIC_ALL_ITEMS: usize = 1000;

/// The seed and the item count of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sampling {
    /// Seed of the subsample and of the calibration split.
    pub seed: u64,
    /// Items per suite, a seeded subsample (retrieval: images; classification: images and
    /// OOD images); 0 = all (synthetic suites: [`SYNTHETIC_ALL_ITEMS`]).
    pub items: usize,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            seed: DEFAULT_EVAL_SEED,
            items: DEFAULT_EVAL_ITEMS,
        }
    }
}

impl Sampling {
    /// Items of a synthetic suite under this sampling.
    pub fn synthetic_items(&self) -> usize {
        if self.items == 0 {
            SYNTHETIC_ALL_ITEMS
        } else {
            self.items
        }
    }

    /// The seeded subsample a benchmark loader draws: `None` = every item.
    pub fn subsample(&self) -> Option<(usize, u64)> {
        (self.items > 0).then_some((self.items, self.seed))
    }
}

/// One line under every results table: `seed 1, items per suite: all (synthetic: 1000)`.
impl std::fmt::Display for Sampling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.items == 0 {
            write!(
                f,
                "seed {}, items per suite: all (synthetic suites: {SYNTHETIC_ALL_ITEMS})",
                self.seed
            )
        } else {
            write!(
                f,
                "seed {}, items per suite: {} (a seeded subsample)",
                self.seed, self.items
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_items_is_a_thousand_synthetic_items_and_no_subsample() {
        let all = Sampling::default();
        assert_eq!(all.subsample(), None);
        assert_eq!(all.synthetic_items(), SYNTHETIC_ALL_ITEMS);
        assert_eq!(
            all.to_string(),
            "seed 1, items per suite: all (synthetic suites: 1000)"
        );
        let some = Sampling { seed: 3, items: 50 };
        assert_eq!(some.subsample(), Some((50, 3)));
        assert_eq!(some.synthetic_items(), 50);
        assert_eq!(
            some.to_string(),
            "seed 3, items per suite: 50 (a seeded subsample)"
        );
    }
}
