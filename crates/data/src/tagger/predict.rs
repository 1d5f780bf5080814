//! Tagging with a trained model: both greedy passes over one sentence, reading
//! the [`WeightTable`](super::weight_table::WeightTable), with scratch buffers reused from sentence to sentence.
//!
//! The passes are those of training (`Workspace::run` in `mod.rs`), rearranged
//! for speed without changing a decision:
//! - the features that depend only on the words (28 of the 35) are looked up
//!   once per word, for both passes at once (each key's row holds both passes'
//!   weights), and only the tag-history and (second pass) right-context
//!   features are looked up per pass;
//! - of those 28, the 10 that depend only on the word itself ([`own_features`])
//!   are summed once per word type and the sum kept in [`WordSums`], so a word
//!   seen before costs 18 look-ups instead of 28 (and none of the long rows
//!   of the bias and the word's own features);
//! - scores are integer sums of the quantised weights, so that split does not
//!   change any sum.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::features::{
    context, context_features, extract_right, history_features, own_features, tag_hash, WordInfo,
    END_TAG, PAD, START_TAG, START_TAG2,
};
use super::perceptron::{argmax, table_key};
use super::weight_table::Row;
use super::{Tagger, WordHasher};

/// How many [`own_features`] and [`context_features`] a word has.
const OWN_FEATURES: usize = 10;
const CONTEXT_FEATURES: usize = 18;

/// Buffers for tagging one sentence at a time; allocation happens only while
/// they grow to the longest sentence seen (and when [`WordSums`] meets a new word).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    lower: Vec<char>,
    ctx: Vec<WordInfo>,
    features: Vec<u64>,
    keys: Vec<u32>,
    rows: Vec<Row>,
    /// The tag-dictionary class of each word, if it has one.
    known: Vec<Option<u16>>,
    /// Per word outside the tag dictionary, its entry in `word_sums`.
    entries: Vec<u32>,
    /// The `word_sums` entries this sentence added, still to be summed, each
    /// with the position of a word of that type.
    new_entries: Vec<(u32, usize)>,
    word_sums: WordSums,
    /// Per word outside the tag dictionary, the sum of its word features'
    /// weights: `WeightTable::columns` integers (both passes).
    word_scores: Vec<i32>,
    scores: Vec<i32>,
    first_pass: Vec<u16>,
}

/// Per word type (the word as written), the summed weights of its
/// [`own_features`], for one tagger: words repeat (the unknown words of
/// captions are mostly nouns like "skateboard"), so most are summed once.
#[derive(Debug, Default)]
pub(crate) struct WordSums {
    /// The [`Tagger::id`] the sums were made with; another tagger starts afresh.
    tagger: u64,
    index: HashMap<Box<str>, u32, BuildHasherDefault<WordHasher>>,
    /// Entry `e`'s sums are `sums[e * columns..(e + 1) * columns]`.
    sums: Vec<i32>,
}

/// At most this many word types are kept (about 0.8 MB with the shipped model's
/// ~200 columns), so the sums stay near the CPU's caches and memory stays bounded
/// on an endless stream of new words.
const MAX_WORD_TYPES: usize = 1024;

impl WordSums {
    /// Starts afresh when the sums are another tagger's, or when `more` new words
    /// could overflow [`MAX_WORD_TYPES`]; then no entry is dropped until the
    /// next call.
    fn prepare(&mut self, tagger: u64, more: usize) {
        if self.tagger != tagger || self.index.len() + more > MAX_WORD_TYPES {
            self.tagger = tagger;
            self.index.clear();
            self.sums.clear();
        }
    }

    /// The entry of `word`, and whether it is new (its sums, zero, still to be added).
    fn entry(&mut self, word: &str, columns: usize) -> (u32, bool) {
        if let Some(&entry) = self.index.get(word) {
            return (entry, false);
        }
        let entry = self.index.len() as u32;
        self.index.insert(word.into(), entry);
        self.sums.resize(self.sums.len() + columns, 0);
        (entry, true)
    }

    fn sums_mut(&mut self, entry: u32, columns: usize) -> &mut [i32] {
        let at = entry as usize * columns;
        &mut self.sums[at..at + columns]
    }
}

impl Tagger {
    /// Appends the class of each of `words` to `out`.
    pub(crate) fn predict_into(&self, words: &[&str], scratch: &mut Scratch, out: &mut Vec<u16>) {
        let s = scratch;
        context(words, &mut s.lower, &mut s.ctx);
        s.known.clear();
        s.known
            .extend(words.iter().map(|w| self.tagdict.get(*w).copied()));
        self.add_word_features(words, s);

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
                    self.score_word(s, i, 0);
                    argmax(&s.scores)
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
                    self.score_word(s, i, 1);
                    argmax(&s.scores)
                }
            };
            out.push(class);
            (prev2, prev) = (prev, tag_hash(class));
        }
    }

    /// Sums, for every word outside the tag dictionary, the weights of its word
    /// features into `s.word_scores`: its own features' sum from [`WordSums`]
    /// (summed now for a word type not seen before) plus its context features.
    /// All words' look-ups go to the table at once.
    fn add_word_features(&self, words: &[&str], s: &mut Scratch) {
        let columns = self.table.columns();
        s.word_sums.prepare(self.id, words.len());
        s.keys.clear();
        s.entries.clear();
        s.new_entries.clear();
        for (i, known) in s.known.iter().enumerate() {
            if known.is_none() {
                let features = context_features(&s.ctx, i + PAD);
                s.keys.extend(features.map(table_key));
                let (entry, new) = s.word_sums.entry(words[i], columns);
                s.entries.push(entry);
                if new {
                    s.new_entries.push((entry, i));
                }
            }
        }
        // The new word types' own features go after all the context features.
        for &(_, i) in &s.new_entries {
            s.keys.extend(own_features(&s.ctx, i + PAD).map(table_key));
        }
        self.table.find(&s.keys, &mut s.rows);
        let (context_rows, own_rows) = s.rows.split_at(s.entries.len() * CONTEXT_FEATURES);
        for (&(entry, _), rows) in s
            .new_entries
            .iter()
            .zip(own_rows.chunks_exact(OWN_FEATURES))
        {
            self.table
                .add(rows, 0..columns, s.word_sums.sums_mut(entry, columns));
        }
        s.word_scores.clear();
        s.word_scores.resize(s.known.len() * columns, 0);
        let unknown = s.known.iter().enumerate().filter(|(_, k)| k.is_none());
        let per_word = s
            .entries
            .iter()
            .zip(context_rows.chunks_exact(CONTEXT_FEATURES));
        for ((i, _), (&entry, rows)) in unknown.zip(per_word) {
            let scores = &mut s.word_scores[i * columns..(i + 1) * columns];
            scores.copy_from_slice(s.word_sums.sums_mut(entry, columns));
            self.table.add(rows, 0..columns, scores);
        }
    }

    /// Scores of word `i` in pass `pass` (0 or 1): its word features' sum plus the
    /// weights of `s.features`, that pass's columns only.
    fn score_word(&self, s: &mut Scratch, i: usize, pass: usize) {
        let at = i * self.table.columns();
        let columns = self.table.pass_columns(pass);
        s.scores.clear();
        s.scores
            .extend_from_slice(&s.word_scores[at + columns.start..at + columns.end]);
        s.keys.clear();
        s.keys.extend(s.features.iter().map(|&f| table_key(f)));
        self.table.find(&s.keys, &mut s.rows);
        self.table.add(&s.rows, columns, &mut s.scores);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_sums_keep_one_entry_per_word_type_of_one_tagger() {
        let mut sums = WordSums::default();
        sums.prepare(7, 3);
        assert_eq!(sums.entry("Dog", 4), (0, true));
        sums.sums_mut(0, 4).copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(
            sums.entry("dog", 4),
            (1, true),
            "keyed by the word as written"
        );
        assert_eq!(sums.entry("Dog", 4), (0, false));
        assert_eq!(sums.sums_mut(0, 4), [1, 2, 3, 4]);
        assert_eq!(sums.sums_mut(1, 4), [0; 4], "a new entry starts at zero");
        sums.prepare(7, 3);
        assert_eq!(sums.entry("Dog", 4), (0, false), "kept for the same tagger");
        sums.prepare(8, 3);
        assert_eq!(
            sums.entry("Dog", 4),
            (0, true),
            "another tagger starts afresh"
        );
        sums.prepare(8, MAX_WORD_TYPES);
        assert!(
            sums.index.is_empty(),
            "no room for a whole sentence: start afresh"
        );
    }

    #[test]
    fn repeated_and_new_words_tag_as_on_a_fresh_thread() {
        let tagger = Tagger::shipped();
        let sentence = [
            "A",
            "zorbling",
            "skateboarder",
            "rides",
            "a",
            "zorbling",
            ".",
        ];
        let mut warm = Scratch::default();
        let (mut first, mut again) = (Vec::new(), Vec::new());
        tagger.predict_into(&sentence, &mut warm, &mut first);
        tagger.predict_into(&sentence, &mut warm, &mut again);
        let mut fresh = Vec::new();
        tagger.predict_into(&sentence, &mut Scratch::default(), &mut fresh);
        assert_eq!(first, again);
        assert_eq!(first, fresh);
        assert!(
            !warm.word_sums.index.is_empty(),
            "unknown words were summed"
        );
    }
}
