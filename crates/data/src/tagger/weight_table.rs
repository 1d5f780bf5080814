//! The weight table tagging reads: both passes' weights in one flat
//! open-addressing hash table, laid out for few cache misses.
//!
//! Tagging is dominated by weight look-ups (about 80 per word outside the tag
//! dictionary) in tables of ~250 000 features, far larger than the CPU caches,
//! so what counts is how many cache lines a look-up touches:
//!
//! - one probe array of 8-byte slots `(key, start)`; a feature's weights are
//!   `weights[slot.start..next_slot.start]`, stored in slot order, so the end of a
//!   row is read from the neighbouring slot (usually the same cache line) and an
//!   empty slot is simply one whose row is empty;
//! - the first and the second pass share one key: a feature present in both
//!   passes (most are) costs one probe, and its two rows are adjacent;
//! - weights are `(column, i16)` pairs in 4 bytes, where `column` is
//!   `pass * n_classes + class`, so one loop adds a row into a score vector of
//!   both passes without branching on the pass.
//!
//! Scores are summed as integers of the model's 16-bit quantisation (the model file
//! stores exactly these), so the sum does not depend on the order features are
//! added in: a caller may add the features that do not depend on predicted tags
//! once for both passes.

use super::perceptron::SparseWeights;

/// One quantised weight: the score column it adds to and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Weight {
    column: u16,
    value: i16,
}

/// A probe slot: a 32-bit feature key and where its row starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    key: u32,
    start: u32,
}

/// Prediction weights of both passes, keyed by 32-bit feature keys
/// ([`super::perceptron::table_key`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WeightTable {
    /// A power of two of slots plus one end marker whose `start` is `weights.len()`.
    slots: Vec<Slot>,
    weights: Vec<Weight>,
    /// Number of slots minus one (a power of two minus one).
    mask: usize,
    n_classes: usize,
}

/// At most this share of slots is used, so a look-up of an absent key (most
/// context features never seen in training) meets an empty slot within a few
/// probes, mostly in the same cache line.
const MAX_LOAD: f64 = 0.6;

impl WeightTable {
    /// Builds the table from the two passes' weights, each quantised to `i16` against
    /// its largest magnitude exactly as the model file does (so a freshly trained
    /// tagger predicts as its saved and reloaded self).
    pub(crate) fn new(passes: [&SparseWeights; 2], n_classes: usize) -> WeightTable {
        assert!(
            2 * n_classes <= usize::from(u16::MAX),
            "too many classes for 16-bit columns"
        );
        // key -> that key's weights of both passes; BTreeMap so the layout is deterministic.
        let mut rows: std::collections::BTreeMap<u32, Vec<Weight>> = Default::default();
        for (pass, weights) in passes.into_iter().enumerate() {
            for (key, row) in weights.quantised_rows().1 {
                let row = row.into_iter().map(|(class, value)| Weight {
                    column: (pass * n_classes + usize::from(class)) as u16,
                    value,
                });
                rows.entry(key).or_default().extend(row);
            }
        }
        Self::from_rows(rows, n_classes)
    }

    /// Places each key at its first free slot from its home slot (linear probing),
    /// then stores the rows in slot order.
    fn from_rows(rows: std::collections::BTreeMap<u32, Vec<Weight>>, n_classes: usize) -> Self {
        let capacity = ((rows.len() as f64 / MAX_LOAD).ceil() as usize)
            .max(2)
            .next_power_of_two();
        let mask = capacity - 1;
        let mut placed: Vec<Option<(u32, Vec<Weight>)>> = vec![None; capacity];
        for (key, row) in rows {
            let mut at = home(key, mask);
            while placed[at].is_some() {
                at = (at + 1) & mask;
            }
            placed[at] = Some((key, row));
        }
        let mut slots = Vec::with_capacity(capacity + 1);
        let mut weights = Vec::new();
        for entry in placed {
            let start = weights.len() as u32;
            match entry {
                Some((key, row)) => {
                    slots.push(Slot { key, start });
                    weights.extend(row);
                }
                None => slots.push(Slot { key: 0, start }),
            }
        }
        slots.push(Slot {
            key: 0,
            start: weights.len() as u32,
        });
        WeightTable {
            slots,
            weights,
            mask,
            n_classes,
        }
    }

    /// Length of the score vector [`WeightTable::add`] writes: the first pass's
    /// classes, then the second pass's.
    pub(crate) fn columns(&self) -> usize {
        2 * self.n_classes
    }

    /// Where the weights of `key` are (an empty range when the key is absent).
    fn row(&self, key: u32) -> Row {
        let mut at = home(key, self.mask);
        loop {
            let (start, end) = (self.slots[at].start, self.slots[at + 1].start);
            if start == end || self.slots[at].key == key {
                return Row { start, end };
            }
            at = (at + 1) & self.mask;
        }
    }

    /// Finds the rows of `keys`, in order, into `rows`.
    ///
    /// The look-ups mostly miss the cache. Each key's home slot, then each row's
    /// first weight, is read in a loop of its own first: those reads do not depend
    /// on each other, so the CPU overlaps their misses, where the probe loop and the
    /// adding loop (branching on what they read) would wait for them one at a time.
    pub(crate) fn find(&self, keys: &[u32], rows: &mut Vec<Row>) {
        let mut touched = 0;
        for &key in keys {
            touched ^= self.slots[home(key, self.mask)].start;
        }
        rows.clear();
        rows.extend(keys.iter().map(|&key| self.row(key)));
        for row in rows.iter() {
            if row.start < row.end {
                touched ^= u32::from(self.weights[row.start as usize].column);
            }
        }
        std::hint::black_box(touched);
    }

    /// Adds the weights of `rows` (from [`WeightTable::find`]) into `scores`
    /// (length [`WeightTable::columns`]).
    pub(crate) fn add(&self, rows: &[Row], scores: &mut [i32]) {
        for row in rows {
            for weight in &self.weights[row.start as usize..row.end as usize] {
                scores[usize::from(weight.column)] += i32::from(weight.value);
            }
        }
    }
}

/// The weights of one key: `weights[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    start: u32,
    end: u32,
}

/// The slot where a key's probe starts. Keys are the low bits of well-mixed
/// feature hashes, so their own low bits are already uniform.
fn home(key: u32, mask: usize) -> usize {
    key as usize & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(first: &[(u32, Vec<(u16, f32)>)], second: &[(u32, Vec<(u16, f32)>)]) -> WeightTable {
        WeightTable::new(
            [
                &SparseWeights::from_rows(first.to_vec()),
                &SparseWeights::from_rows(second.to_vec()),
            ],
            3,
        )
    }

    fn scores_of(table: &WeightTable, keys: &[u32]) -> Vec<i32> {
        let mut rows = Vec::new();
        table.find(keys, &mut rows);
        assert_eq!(rows.len(), keys.len());
        let mut scores = vec![0; table.columns()];
        table.add(&rows, &mut scores);
        scores
    }

    #[test]
    fn looks_up_present_and_absent_keys_of_both_passes() {
        // Largest magnitude 2.0 in each pass, so 1.0 quantises to 16384 and 2.0 to 32767.
        let t = table(
            &[(7, vec![(0, 1.0), (2, -2.0)]), (9, vec![(1, 2.0)])],
            &[(7, vec![(1, 2.0)]), (11, vec![(2, -1.0)])],
        );
        assert_eq!(scores_of(&t, &[7]), [16384, 0, -32767, 0, 32767, 0]);
        assert_eq!(scores_of(&t, &[9]), [0, 32767, 0, 0, 0, 0]);
        assert_eq!(scores_of(&t, &[11]), [0, 0, 0, 0, 0, -16384]);
        assert_eq!(scores_of(&t, &[8, 0, 12, u32::MAX]), [0; 6]);
        assert_eq!(
            scores_of(&t, &[7, 9, 11, 7]),
            [32768, 32767, -65534, 0, 65534, -16384]
        );
    }

    #[test]
    fn colliding_keys_probe_past_each_other() {
        // Three keys, few slots: all share one home slot, as does the absent key 3 << 20.
        let rows: Vec<(u32, Vec<(u16, f32)>)> = (0..3)
            .map(|k| ((k << 20) | 5, vec![(k as u16, 1.0)]))
            .collect();
        let t = table(&rows, &[]);
        assert!(t.mask < (1 << 20), "the keys must share a home slot");
        for k in 0..3u32 {
            let mut want = [0; 6];
            want[k as usize] = i32::from(i16::MAX);
            assert_eq!(scores_of(&t, &[(k << 20) | 5]), want);
        }
        assert_eq!(scores_of(&t, &[(3 << 20) | 5]), [0; 6]);
    }

    #[test]
    fn probing_wraps_around_the_end() {
        // Three rows take 8 slots; keys whose home is the last slot spill into slot 0.
        let rows: Vec<(u32, Vec<(u16, f32)>)> = (0..3)
            .map(|k| (7 + (k << 16), vec![(k as u16, 1.0)]))
            .collect();
        let t = table(&rows, &[]);
        assert_eq!(t.mask, 7);
        for k in 0..3u32 {
            assert_eq!(scores_of(&t, &[7 + (k << 16)])[k as usize], 32767);
        }
        assert_eq!(scores_of(&t, &[7 + (3 << 16)]), [0; 6]);
    }

    #[test]
    fn empty_table_finds_nothing() {
        let t = table(&[], &[]);
        assert_eq!(scores_of(&t, &[0, 1, 2]), [0; 6]);
    }
}
