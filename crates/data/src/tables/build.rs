//! Building a training table: negatives for every caption, in parallel.

use std::collections::BTreeMap;
use std::fmt;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::{CaptionRow, TrainingRow};
use crate::negatives::{generate, NegativeKind, PosTagger};

/// How many captions got at least one negative of each kind, and how many
/// got none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub captions: usize,
    pub without_negatives: usize,
    pub negatives: usize,
    pub captions_with_kind: BTreeMap<NegativeKind, usize>,
}

impl Summary {
    fn add_row(&mut self, row: &TrainingRow) {
        self.captions += 1;
        self.negatives += row.negatives.len();
        if row.negatives.is_empty() {
            self.without_negatives += 1;
        }
        let mut kinds: Vec<NegativeKind> = row.negatives.iter().map(|n| n.kind).collect();
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            *self.captions_with_kind.entry(kind).or_default() += 1;
        }
    }

    /// Adds another summary's counts (for tables built in chunks).
    pub fn merge(&mut self, other: &Summary) {
        self.captions += other.captions;
        self.without_negatives += other.without_negatives;
        self.negatives += other.negatives;
        for (kind, n) in &other.captions_with_kind {
            *self.captions_with_kind.entry(*kind).or_default() += n;
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |n: usize| 100.0 * n as f64 / self.captions.max(1) as f64;
        writeln!(f, "{:<20} {:>10} {:>8}", "kind", "captions", "%")?;
        for (kind, n) in &self.captions_with_kind {
            writeln!(f, "{:<20} {:>10} {:>7.1}%", kind.as_str(), n, pct(*n))?;
        }
        writeln!(
            f,
            "{:<20} {:>10} {:>7.1}%",
            "(none)",
            self.without_negatives,
            pct(self.without_negatives)
        )?;
        write!(
            f,
            "{:<20} {:>10}   ({} negatives)",
            "total", self.captions, self.negatives
        )
    }
}

/// Negatives for every row; see [`build_rows`].
pub fn build_table(
    rows: &[CaptionRow],
    tagger: &dyn PosTagger,
    kinds: &[NegativeKind],
    per_caption: usize,
    seed: u64,
) -> (Vec<TrainingRow>, Summary) {
    build_rows(rows, 0, tagger, kinds, per_caption, seed)
}

/// Negatives for `rows`, the first of which is row `first_index` of the whole
/// table (so a table built chunk by chunk equals one built at once). Runs on
/// the current rayon pool; the output is in input order and does not depend
/// on the number of threads.
pub fn build_rows(
    rows: &[CaptionRow],
    first_index: usize,
    tagger: &dyn PosTagger,
    kinds: &[NegativeKind],
    per_caption: usize,
    seed: u64,
) -> (Vec<TrainingRow>, Summary) {
    let built: Vec<TrainingRow> = rows
        .par_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut rng = ChaCha8Rng::seed_from_u64(crate::seed::for_index(seed, first_index + i));
            TrainingRow {
                image: row.image.clone(),
                caption: row.caption.clone(),
                negatives: generate(&row.caption, tagger, kinds, per_caption, &mut rng),
                neg_images: row.neg_images.clone(),
            }
        })
        .collect();
    let mut summary = Summary::default();
    built.iter().for_each(|r| summary.add_row(r));
    (built, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::test_support::LexiconTagger;

    fn captions() -> Vec<CaptionRow> {
        [
            "A white horse is eating the green grass.",
            "a cat on a table",
            "dog",
            "Two dogs and two cats are sitting on a red old couch.",
        ]
        .iter()
        .cycle()
        .take(40)
        .enumerate()
        .map(|(i, c)| CaptionRow {
            image: format!("{i}.jpg"),
            caption: c.to_string(),
            ..CaptionRow::default()
        })
        .collect()
    }

    #[test]
    fn same_table_for_any_thread_count_and_chunking() {
        let rows = captions();
        let kinds = NegativeKind::REWRITES;
        let pool = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
        };
        let one = pool(1).install(|| build_table(&rows, &LexiconTagger, &kinds, 3, 11));
        let four = pool(4).install(|| build_table(&rows, &LexiconTagger, &kinds, 3, 11));
        assert_eq!(one, four);
        let (head, mut s) = build_rows(&rows[..15], 0, &LexiconTagger, &kinds, 3, 11);
        let (tail, s2) = build_rows(&rows[15..], 15, &LexiconTagger, &kinds, 3, 11);
        s.merge(&s2);
        assert_eq!([head, tail].concat(), one.0);
        assert_eq!(s, one.1);
        let other_seed = build_table(&rows, &LexiconTagger, &kinds, 3, 12);
        assert_ne!(other_seed.0, one.0);
    }

    #[test]
    fn summary_counts_kinds_and_empty_captions() {
        let (rows, summary) = build_table(
            &captions(),
            &LexiconTagger,
            &[NegativeKind::SwapRelation],
            2,
            0,
        );
        assert_eq!(summary.captions, 40);
        let with = rows.iter().filter(|r| !r.negatives.is_empty()).count();
        assert_eq!(
            summary.captions_with_kind[&NegativeKind::SwapRelation],
            with
        );
        assert_eq!(summary.without_negatives, 40 - with);
        assert!(summary.without_negatives >= 10, "\"dog\" has no relation");
        let shown = summary.to_string();
        assert!(
            shown.contains("swap-relation") && shown.contains("(none)"),
            "{shown}"
        );
    }
}
