//! Tagging with a trained model: both greedy passes over one sentence, reading
//! the [`WeightTable`](super::weight_table::WeightTable), with scratch buffers reused from sentence to sentence.
//!
//! The passes are those of training (`Workspace::run` in `mod.rs`), rearranged
//! for speed without changing a decision:
//! - the features that depend only on the words ([`word_features`], 28 of the
//!   35) are looked up once per word, for both passes at once (each key's row
//!   holds both passes' weights), and only the tag-history and (second pass)
//!   right-context features are looked up per pass;
//! - scores are integer sums of the quantised weights, so that split does not
//!   change any sum.

use super::features::{
    context, extract_right, history_features, tag_hash, word_features, WordInfo, END_TAG, PAD,
    START_TAG, START_TAG2,
};
use super::perceptron::{argmax, table_key};
use super::weight_table::Row;
use super::Tagger;

/// How many [`word_features`] a word has.
const WORD_FEATURES: usize = 28;

/// Buffers for tagging one sentence at a time; allocation happens only while
/// they grow to the longest sentence seen.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    lower: Vec<char>,
    ctx: Vec<WordInfo>,
    features: Vec<u64>,
    keys: Vec<u32>,
    rows: Vec<Row>,
    /// The tag-dictionary class of each word, if it has one.
    known: Vec<Option<u16>>,
    /// Per word outside the tag dictionary, the sum of its word features'
    /// weights: `WeightTable::columns` integers (both passes).
    word_scores: Vec<i32>,
    scores: Vec<i32>,
    first_pass: Vec<u16>,
}

impl Tagger {
    /// Appends the class of each of `words` to `out`.
    pub(crate) fn predict_into(&self, words: &[&str], scratch: &mut Scratch, out: &mut Vec<u16>) {
        let s = scratch;
        context(words, &mut s.lower, &mut s.ctx);
        s.known.clear();
        s.known
            .extend(words.iter().map(|w| self.tagdict.get(*w).copied()));
        self.add_word_features(s);
        let n_classes = self.classes.len();

        // Pass 1: left to right, seeing the tags already chosen.
        s.first_pass.clear();
        let (mut prev, mut prev2) = (START_TAG, START_TAG2);
        for i in 0..words.len() {
            let class = match s.known[i] {
                Some(class) => class,
                None => {
                    s.features.clear();
                    s.features
                        .extend(history_features(&s.ctx, i + PAD, prev, prev2));
                    self.score_word(s, i);
                    argmax(&s.scores[..n_classes])
                }
            };
            s.first_pass.push(class);
            (prev2, prev) = (prev, tag_hash(class));
        }

        // Pass 2: the same, also seeing pass 1's tags of this word and the next two.
        let (mut prev, mut prev2) = (START_TAG, START_TAG2);
        for i in 0..words.len() {
            let class = match s.known[i] {
                Some(class) => class,
                None => {
                    let first = &s.first_pass;
                    let at = |j: usize| first.get(j).map_or(END_TAG, |&c| tag_hash(c));
                    let right = [at(i), at(i + 1), at(i + 2)];
                    s.features.clear();
                    s.features
                        .extend(history_features(&s.ctx, i + PAD, prev, prev2));
                    extract_right(&s.ctx, i + PAD, prev, right, &mut s.features);
                    self.score_word(s, i);
                    argmax(&s.scores[n_classes..])
                }
            };
            out.push(class);
            (prev2, prev) = (prev, tag_hash(class));
        }
    }

    /// Sums, for every word outside the tag dictionary, the weights of its word
    /// features into `s.word_scores`; all words' look-ups go to the table at once.
    fn add_word_features(&self, s: &mut Scratch) {
        let columns = self.table.columns();
        s.keys.clear();
        for (i, known) in s.known.iter().enumerate() {
            if known.is_none() {
                let features: [u64; WORD_FEATURES] = word_features(&s.ctx, i + PAD);
                s.keys.extend(features.map(table_key));
            }
        }
        self.table.find(&s.keys, &mut s.rows);
        s.word_scores.clear();
        s.word_scores.resize(s.known.len() * columns, 0);
        let unknown = s.known.iter().enumerate().filter(|(_, k)| k.is_none());
        for ((i, _), rows) in unknown.zip(s.rows.chunks_exact(WORD_FEATURES)) {
            self.table
                .add(rows, &mut s.word_scores[i * columns..(i + 1) * columns]);
        }
    }

    /// Scores of word `i`: its word features' sum plus the weights of `s.features`.
    fn score_word(&self, s: &mut Scratch, i: usize) {
        let columns = self.table.columns();
        s.scores.clear();
        s.scores
            .extend_from_slice(&s.word_scores[i * columns..(i + 1) * columns]);
        s.keys.clear();
        s.keys.extend(s.features.iter().map(|&f| table_key(f)));
        self.table.find(&s.keys, &mut s.rows);
        self.table.add(&s.rows, &mut s.scores);
    }
}
