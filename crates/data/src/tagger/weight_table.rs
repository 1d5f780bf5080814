//! The weight table tagging reads: both passes' weights in one flat
//! open-addressing hash table, laid out for few cache misses and cheap adds.
//!
//! Tagging is dominated by weight look-ups (about 80 per word outside the tag
//! dictionary) and by adding the rows found: on captions most of the weights
//! added come from a few thousand frequent features (the bias, common words and
//! their neighbours) whose rows hold a weight for most classes. So:
//!
//! - one probe array of 8-byte slots `(key, start)`; a feature's row is
//!   `words[slot.start..next_slot.start]`, stored in slot order, so the end of a
//!   row is read from the neighbouring slot (usually the same cache line) and an
//!   empty slot is simply one whose row is empty;
//! - the first and the second pass share one key: a feature present in both
//!   passes (most are) costs one probe, and its weights share one row;
//! - a short row is sparse: `(column, i16)` pairs in one 32-bit word each, where
//!   `column` is `pass * n_classes + class`, so one loop adds a row into a score
//!   vector of both passes without branching on the pass;
//! - a long row (at least [`DENSE_MIN`] weights) is dense: a marker word and
//!   the row's index in a separate array of one `i16` per column, added by a
//!   loop without indexing that the compiler vectorises; a pass adds only its
//!   own half.
//!
//! Scores are summed as integers of the model's 16-bit quantisation (the model file
//! stores exactly these), so the sum does not depend on the order features are
//! added in, nor on how a row is stored: a caller may add the features that do
//! not depend on predicted tags once for both passes.

use std::ops::Range;

use super::perceptron::SparseWeights;

/// Rows with at least this many weights are stored dense. On the bench captions
/// the rows this long are ~1 400 of the ~335 000 but carry ~90 % of the weights
/// added; storing them dense costs ~0.2 MB more than sparse.
const DENSE_MIN: usize = 48;

/// The first word of a dense row (the second is its index in
/// `WeightTable::dense`): a sparse weight of column `u16::MAX`, which no sparse
/// weight has (columns are asserted below it).
const DENSE: u32 = u32::MAX;

/// One sparse weight as stored: the column in the high 16 bits, the value in the low.
fn sparse_word(column: u16, value: i16) -> u32 {
    (u32::from(column) << 16) | u32::from(value as u16)
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
    /// A power of two of slots plus one end marker whose `start` is `words.len()`.
    slots: Vec<Slot>,
    /// The rows, each sparse or dense (module documentation).
    words: Vec<u32>,
    /// The values of the dense rows, `columns()` per row.
    dense: Vec<i16>,
    /// Number of slots minus one (a power of two minus one).
    mask: usize,
    n_classes: usize,
}

/// At most this share of slots is used, so a look-up of an absent key (most
/// context features never seen in training) meets an empty slot within a few
/// probes, mostly in the same cache line.
const MAX_LOAD: f64 = 0.6;

/// One key's weights of both passes: `(column, value)`.
type Weights = Vec<(u16, i16)>;

impl WeightTable {
    /// Builds the table from the two passes' weights, each quantised to `i16` against
    /// its largest magnitude exactly as the model file does (so a freshly trained
    /// tagger predicts as its saved and reloaded self).
    pub(crate) fn new(passes: [&SparseWeights; 2], n_classes: usize) -> WeightTable {
        assert!(
            2 * n_classes < usize::from(u16::MAX),
            "too many classes for 16-bit columns"
        );
        // key -> that key's weights of both passes; BTreeMap so the layout is deterministic.
        let mut rows: std::collections::BTreeMap<u32, Weights> = Default::default();
        for (pass, weights) in passes.into_iter().enumerate() {
            for (key, row) in weights.quantised_rows().1 {
                let row = row
                    .into_iter()
                    .map(|(class, value)| ((pass * n_classes + usize::from(class)) as u16, value));
                rows.entry(key).or_default().extend(row);
            }
        }
        Self::from_rows(rows, n_classes, DENSE_MIN)
    }

    /// Places each key at its first free slot from its home slot (linear probing),
    /// then stores the rows in slot order, dense from `dense_min` weights on.
    fn from_rows(
        rows: std::collections::BTreeMap<u32, Weights>,
        n_classes: usize,
        dense_min: usize,
    ) -> Self {
        let capacity = ((rows.len() as f64 / MAX_LOAD).ceil() as usize)
            .max(2)
            .next_power_of_two();
        let mask = capacity - 1;
        let mut placed: Vec<Option<(u32, Weights)>> = vec![None; capacity];
        for (key, row) in rows {
            let mut at = home(key, mask);
            while placed[at].is_some() {
                at = (at + 1) & mask;
            }
            placed[at] = Some((key, row));
        }
        let mut slots = Vec::with_capacity(capacity + 1);
        let mut words = Vec::new();
        let mut dense = Vec::new();
        for entry in placed {
            let start = words.len() as u32;
            match entry {
                Some((key, row)) => {
                    slots.push(Slot { key, start });
                    push_row(&row, 2 * n_classes, dense_min, &mut words, &mut dense);
                }
                None => slots.push(Slot { key: 0, start }),
            }
        }
        slots.push(Slot {
            key: 0,
            start: words.len() as u32,
        });
        WeightTable {
            slots,
            words,
            dense,
            mask,
            n_classes,
        }
    }

    /// Length of the score vector [`WeightTable::add`] writes: the first pass's
    /// classes, then the second pass's.
    pub(crate) fn columns(&self) -> usize {
        2 * self.n_classes
    }

    /// The columns of pass `pass` (0 or 1).
    pub(crate) fn pass_columns(&self, pass: usize) -> Range<usize> {
        pass * self.n_classes..(pass + 1) * self.n_classes
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
    /// first word, is read in a loop of its own first: those reads do not depend
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
                touched ^= self.words[row.start as usize];
            }
        }
        std::hint::black_box(touched);
    }

    /// Adds the weights of `rows` (from [`WeightTable::find`]) in `columns` into
    /// `scores`, where `scores[k]` is column `columns.start + k`.
    pub(crate) fn add(&self, rows: &[Row], columns: Range<usize>, scores: &mut [i32]) {
        debug_assert_eq!(scores.len(), columns.len());
        let width = self.columns();
        for row in rows {
            match &self.words[row.start as usize..row.end as usize] {
                &[DENSE, index] => {
                    let values = &self.dense[index as usize * width..][..width];
                    for (score, &value) in scores.iter_mut().zip(&values[columns.clone()]) {
                        *score += i32::from(value);
                    }
                }
                sparse => {
                    for &word in sparse {
                        let column = (word >> 16) as usize;
                        if let Some(score) = scores.get_mut(column.wrapping_sub(columns.start)) {
                            *score += i32::from(word as u16 as i16);
                        }
                    }
                }
            }
        }
    }
}

/// Appends one row to `words`: dense (values appended to `dense`) when it has
/// at least `dense_min` weights.
fn push_row(
    row: &[(u16, i16)],
    columns: usize,
    dense_min: usize,
    words: &mut Vec<u32>,
    dense: &mut Vec<i16>,
) {
    if row.len() >= dense_min {
        words.extend([DENSE, (dense.len() / columns) as u32]);
        let at = dense.len();
        dense.resize(at + columns, 0);
        for &(column, value) in row {
            dense[at + usize::from(column)] = value;
        }
    } else {
        words.extend(
            row.iter()
                .map(|&(column, value)| sparse_word(column, value)),
        );
    }
}

/// The weights of one key: `words[start..end]`.
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
        table.add(&rows, 0..table.columns(), &mut scores);
        scores
    }

    /// The same rows stored all sparse and all dense.
    fn sparse_and_dense(rows: &[(u32, Weights)], n_classes: usize) -> [WeightTable; 2] {
        let rows: std::collections::BTreeMap<u32, Weights> = rows.iter().cloned().collect();
        [usize::MAX, 1].map(|dense_min| WeightTable::from_rows(rows.clone(), n_classes, dense_min))
    }

    #[test]
    fn dense_rows_add_as_sparse_ones() {
        let rows = [
            (7, vec![(0, 5), (2, -3), (4, 9)]),
            (9, vec![(1, i16::MAX), (5, i16::MIN)]),
            (12, vec![(3, -1)]),
        ];
        let [sparse, dense] = sparse_and_dense(&rows, 3);
        assert!(!dense.dense.is_empty() && sparse.dense.is_empty());
        let keys = [7, 9, 12, 8, 7];
        assert_eq!(scores_of(&sparse, &keys), [10, 32767, -6, -1, 18, -32768]);
        assert_eq!(scores_of(&dense, &keys), scores_of(&sparse, &keys));
    }

    #[test]
    fn a_pass_adds_only_its_own_columns() {
        let rows = [
            (7, vec![(0, 5), (2, -3), (4, 9)]),
            (9, vec![(1, 2), (5, 4)]),
        ];
        for table in sparse_and_dense(&rows, 3) {
            let mut found = Vec::new();
            table.find(&[7, 9], &mut found);
            let mut first = [100; 3];
            table.add(&found, table.pass_columns(0), &mut first);
            assert_eq!(first, [105, 102, 97]);
            let mut second = [0; 3];
            table.add(&found, table.pass_columns(1), &mut second);
            assert_eq!(second, [0, 9, 4]);
        }
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
