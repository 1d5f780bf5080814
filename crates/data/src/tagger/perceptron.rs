//! The averaged perceptron (Collins 2002, in the lean form of Honnibal's "A good
//! part-of-speech tagger in about 200 lines of Python"): one weight per
//! (feature, class), updated +1 / -1 on mistakes, averaged over every step so the
//! final weights are not dominated by the last sentences seen.
//!
//! Training keeps sparse rows with running totals; prediction uses a compact
//! compressed-sparse-row table indexed by the 64-bit feature hash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Feature hashes are already well mixed, so the table hashes them as they are.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b) ^ (self.0 >> 56);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Hashes 32-bit table keys (low bits of an already mixed hash) by spreading them.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b) ^ (self.0 >> 56);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) type FeatureMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// Index of the highest score; ties go to the lowest class so results never
/// depend on anything but the weights.
pub(crate) fn argmax<T: PartialOrd + Copy>(scores: &[T]) -> u16 {
    let mut best = 0;
    for (class, &score) in scores.iter().enumerate() {
        if score > scores[best] {
            best = class;
        }
    }
    best as u16
}

/// The prediction table keys features by the low 32 bits of their hash: half the
/// model size, and with ~250 000 features a feature never seen in training hits
/// a stored one with probability ~6e-5 (too rare to move accuracy).
pub(crate) fn table_key(feature: u64) -> u32 {
    feature as u32
}

/// Final (averaged) weights for prediction: for feature row `r`,
/// `classes[offsets[r]..offsets[r + 1]]` and the matching `values`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SparseWeights {
    pub(crate) index: HashMap<u32, u32, BuildHasherDefault<KeyHasher>>,
    pub(crate) offsets: Vec<u32>,
    pub(crate) classes: Vec<u16>,
    pub(crate) values: Vec<f32>,
}

/// Rows of `i16` weights: `(hash, [(class, weight)])`, sorted by hash.
pub(crate) type QuantisedRows = Vec<(u32, Vec<(u16, i16)>)>;

impl SparseWeights {
    /// Adds every known feature's weights into `scores` (one slot per class).
    pub(crate) fn score(&self, features: &[u64], scores: &mut [f32]) {
        scores.fill(0.0);
        for feature in features {
            if let Some(&row) = self.index.get(&table_key(*feature)) {
                let (start, end) = (
                    self.offsets[row as usize] as usize,
                    self.offsets[row as usize + 1] as usize,
                );
                for (&class, &value) in self.classes[start..end]
                    .iter()
                    .zip(&self.values[start..end])
                {
                    scores[class as usize] += value;
                }
            }
        }
    }

    pub(crate) fn feature_count(&self) -> usize {
        self.index.len()
    }

    /// The weights quantised to `i16` against the largest magnitude, as the model file
    /// stores them and tagging reads them: the scale, then the rows sorted by hash with
    /// their zero weights dropped (and rows left empty dropped too).
    pub(crate) fn quantised_rows(&self) -> (f32, QuantisedRows) {
        let rows = self.rows_sorted();
        let max = rows
            .iter()
            .flat_map(|(_, row)| row.iter().map(|(_, w)| w.abs()))
            .fold(0.0f32, f32::max);
        let scale = if max > 0.0 {
            max / f32::from(i16::MAX)
        } else {
            1.0
        };
        let quantised = rows
            .into_iter()
            .map(|(hash, row)| {
                let row = row
                    .into_iter()
                    .map(|(class, w)| (class, (w / scale).round() as i16))
                    .filter(|&(_, q)| q != 0)
                    .collect::<Vec<_>>();
                (hash, row)
            })
            .filter(|(_, row)| !row.is_empty())
            .collect();
        (scale, quantised)
    }

    /// Rows as `(hash, [(class, weight)])`, sorted by hash (for saving).
    pub(crate) fn rows_sorted(&self) -> Vec<(u32, Vec<(u16, f32)>)> {
        let mut rows: Vec<(u32, Vec<(u16, f32)>)> = self
            .index
            .iter()
            .map(|(&hash, &row)| {
                let (start, end) = (
                    self.offsets[row as usize] as usize,
                    self.offsets[row as usize + 1] as usize,
                );
                let entries = self.classes[start..end]
                    .iter()
                    .copied()
                    .zip(self.values[start..end].iter().copied());
                (hash, entries.collect())
            })
            .collect();
        rows.sort_unstable_by_key(|(hash, _)| *hash);
        rows
    }

    /// Builds the table from rows keyed by [`table_key`]; rows sharing a key
    /// (a rare 32-bit collision) are merged by adding their weights.
    pub(crate) fn from_rows(
        rows: impl IntoIterator<Item = (u32, Vec<(u16, f32)>)>,
    ) -> SparseWeights {
        let mut merged: std::collections::BTreeMap<u32, Vec<(u16, f32)>> =
            std::collections::BTreeMap::new();
        for (key, entries) in rows {
            let row = merged.entry(key).or_default();
            for (class, value) in entries {
                match row.iter_mut().find(|(c, _)| *c == class) {
                    Some((_, v)) => *v += value,
                    None => row.push((class, value)),
                }
            }
        }
        let mut weights = SparseWeights {
            offsets: vec![0],
            ..SparseWeights::default()
        };
        for (key, entries) in merged {
            if entries.is_empty() {
                continue;
            }
            let row = weights.offsets.len() as u32 - 1;
            weights.index.insert(key, row);
            for (class, value) in entries {
                weights.classes.push(class);
                weights.values.push(value);
            }
            weights.offsets.push(weights.classes.len() as u32);
        }
        weights
    }
}

/// One trainable weight with the bookkeeping for lazy averaging.
#[derive(Debug, Clone, Copy)]
struct Entry {
    class: u16,
    weight: f32,
    /// Sum of the weight over all steps up to `stamp`.
    total: f64,
    /// Step at which `total` was last brought up to date.
    stamp: u64,
}

/// Weights being learnt.
pub(crate) struct Trainer {
    index: FeatureMap<u32>,
    rows: Vec<Vec<Entry>>,
    /// Number of training steps (tokens seen) so far.
    step: u64,
}

impl Trainer {
    pub(crate) fn new() -> Trainer {
        Trainer {
            index: FeatureMap::default(),
            rows: Vec::new(),
            step: 0,
        }
    }

    pub(crate) fn score(&self, features: &[u64], scores: &mut [f32]) {
        scores.fill(0.0);
        for feature in features {
            if let Some(&row) = self.index.get(feature) {
                for entry in &self.rows[row as usize] {
                    scores[entry.class as usize] += entry.weight;
                }
            }
        }
    }

    /// One step: when `guess` was wrong, reward `truth`'s weights and penalise `guess`'s.
    pub(crate) fn update(&mut self, truth: u16, guess: u16, features: &[u64]) {
        self.step += 1;
        if truth == guess {
            return;
        }
        for &feature in features {
            let next_row = self.rows.len() as u32;
            let row = *self.index.entry(feature).or_insert(next_row);
            if row == next_row {
                self.rows.push(Vec::new());
            }
            let entries = &mut self.rows[row as usize];
            Self::bump(entries, truth, 1.0, self.step);
            Self::bump(entries, guess, -1.0, self.step);
        }
    }

    fn bump(entries: &mut Vec<Entry>, class: u16, delta: f32, step: u64) {
        let entry = match entries.iter().position(|e| e.class == class) {
            Some(i) => &mut entries[i],
            None => {
                entries.push(Entry {
                    class,
                    weight: 0.0,
                    total: 0.0,
                    stamp: step,
                });
                entries.last_mut().expect("just pushed")
            }
        };
        entry.total += (step - entry.stamp) as f64 * f64::from(entry.weight);
        entry.stamp = step;
        entry.weight += delta;
    }

    /// Averages every weight over all steps and drops weights whose magnitude is
    /// below `prune` (they barely move any decision and cost model size).
    pub(crate) fn average(self, prune: f32) -> SparseWeights {
        let step = self.step.max(1);
        let mut rows: Vec<(u64, u32)> = self.index.into_iter().collect();
        rows.sort_unstable();
        let all_rows = self.rows;
        SparseWeights::from_rows(rows.into_iter().map(|(hash, row)| {
            let entries = all_rows[row as usize]
                .iter()
                .map(|e| {
                    let total = e.total + (step - e.stamp) as f64 * f64::from(e.weight);
                    (e.class, (total / step as f64) as f32)
                })
                .filter(|&(_, w)| w.abs() >= prune && w != 0.0)
                .collect();
            (table_key(hash), entries)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_toy_problem() {
        // Feature 10 means class 0, feature 20 means class 1; feature 30 is noise.
        let data = [
            (vec![10u64, 30], 0u16),
            (vec![20, 30], 1),
            (vec![10], 0),
            (vec![20], 1),
        ];
        let mut trainer = Trainer::new();
        let mut scores = [0.0f32; 2];
        for _ in 0..5 {
            for (features, truth) in &data {
                trainer.score(features, &mut scores);
                trainer.update(*truth, argmax(&scores), features);
            }
        }
        let weights = trainer.average(0.0);
        for (features, truth) in &data {
            weights.score(features, &mut scores);
            assert_eq!(argmax(&scores), *truth);
        }
    }

    #[test]
    fn averaging_weights_early_and_late_steps() {
        let mut trainer = Trainer::new();
        trainer.update(1, 0, &[7]); // step 1: w1 = +1, w0 = -1
        trainer.update(1, 1, &[7]); // steps 2..4 correct, weights unchanged
        trainer.update(1, 1, &[7]);
        trainer.update(1, 1, &[7]);
        let weights = trainer.average(0.0);
        let mut scores = [0.0f32; 2];
        weights.score(&[7], &mut scores);
        // The weight held its value for 3 of the 4 steps (set at the end of step 1).
        assert!((scores[1] - 0.75).abs() < 1e-6, "{scores:?}");
        assert!((scores[0] + 0.75).abs() < 1e-6, "{scores:?}");
    }

    #[test]
    fn round_trips_rows() {
        let weights = SparseWeights::from_rows([
            (5u32, vec![(0u16, 1.5f32), (3, -2.0)]),
            (9, vec![(1, 0.5)]),
        ]);
        let again = SparseWeights::from_rows(weights.rows_sorted());
        assert_eq!(again.rows_sorted(), weights.rows_sorted());
        assert_eq!(again.feature_count(), 2);
        let merged =
            SparseWeights::from_rows([(5u32, vec![(0u16, 1.0f32)]), (5, vec![(0, 0.5), (2, 1.0)])]);
        assert_eq!(merged.rows_sorted(), vec![(5, vec![(0, 1.5), (2, 1.0)])]);
    }
}
