//! Tagging with a trained model: both greedy passes over one sentence, reading
//! the [`WeightTable`](super::weight_table::WeightTable), with scratch buffers reused from sentence to sentence.
//!
//! The passes are those of training (`Workspace::run` in `mod.rs`), rearranged
//! for speed without changing a decision:
//! - the features that depend only on the words (28 of the 35) are looked up
//!   once per word, for both passes at once (each key's row holds both passes'
//!   weights), and only the tag features are looked up per pass;
//! - of those 28, the 21 that depend on one word alone (its [`own_features`],
//!   and what it gives the words beside it, [`left_neighbour_features`] and
//!   [`right_neighbour_features`]) are summed once per word type and the sums
//!   kept ([`SumCache`]), so a word whose neighbours were seen before costs 7
//!   look-ups instead of 28;
//! - those sums of three words in a row, with the 4 features that depend on
//!   those three alone ([`near_context_features`]), are summed once per such
//!   three words, so a word met before between the same neighbours costs 3
//!   look-ups ([`far_context_features`]) and one sum;
//! - likewise all the features of predicted tags ([`tag_features`],
//!   [`tag_word_features`], and in pass 2 [`right_tag_features`] and
//!   [`right_word_features`]) are summed once per combination of the tags and
//!   the few word values they read ([`tag_word_values`]), so a word in a
//!   familiar context costs one look-up per pass instead of 7 or 15;
//! - scores are integer sums of the quantised weights, so grouping them does
//!   not change any sum.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::features::{
    context_with, far_context_features, left_neighbour_features, near_context_features,
    own_features, right_neighbour_features, right_tag_features, right_word_features, tag_features,
    tag_hash, tag_word_features, tag_word_values, word_info, WordInfo, END_TAG, PAD, START_TAG,
    START_TAG2,
};
use super::perceptron::table_key;
use super::weight_table::Row;
use super::{Tagger, WordHasher};

/// How many [`near_context_features`] and [`far_context_features`] a word has.
const NEAR_CONTEXT_FEATURES: usize = 4;
const FAR_CONTEXT_FEATURES: usize = 3;

/// In a key of [`Scratch::trigrams`], the padding before the first word or after the last.
const PADDING: u32 = u32::MAX;

/// The per-word-type sums: a word's own features, and the features it gives
/// the word after it (as its left neighbour) and the word before it.
const OWN: usize = 0;
const LEFT: usize = 1;
const RIGHT: usize = 2;

/// Buffers for tagging one sentence at a time; allocation happens only while
/// they grow to the longest sentence seen (and when a [`SumCache`] meets a new key).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    lower: Vec<char>,
    types: WordTypes,
    /// Each word's entry in `types`, the key of its word type's `word_sums`.
    type_ids: Vec<u32>,
    ctx: Vec<WordInfo>,
    keys: Vec<u32>,
    rows: Vec<Row>,
    /// The tag-dictionary class of each word, if it has one.
    known: Vec<Option<u16>>,
    /// Per word outside the tag dictionary, its entry in `trigrams`.
    entries: Vec<u32>,
    /// The `trigrams` entries this sentence added, still to be summed: the
    /// entry, the entries in the three `word_sums` it is made of, and the
    /// position in `ctx` of the middle word of such three.
    new_trigrams: Vec<(u32, [u32; 3], usize)>,
    /// The `word_sums` entries this sentence added, still to be summed: the
    /// sums (`OWN`, `LEFT` or `RIGHT`), the entry, and the position in `ctx`
    /// of a word of that type.
    new_entries: Vec<(usize, u32, usize)>,
    /// Per three words in a row (their entries in `types`, [`PADDING`] beyond
    /// the sentence), the sum of the middle word's features that depend on
    /// those three alone: the `word_sums` of the three and its
    /// [`near_context_features`] (all but the 3 [`far_context_features`] of its
    /// 28 word features).
    trigrams: SumCache<[u32; 3]>,
    /// Indexed by `OWN`, `LEFT`, `RIGHT`, keyed by the word type's entry in
    /// `types` (a number, hashed and compared faster than the word). Entry 0
    /// of `LEFT` and `RIGHT` is the sentence boundary (the context's padding).
    word_sums: [SumCache<u32>; 3],
    /// Per pass, the sums of its features of predicted tags, keyed by the
    /// tags and the word values those features read ([`TagContext`]).
    tag_sums: [SumCache<TagContext>; 2],
    /// Per word outside the tag dictionary, in order, the sum of its word
    /// features' weights: `WeightTable::columns` integers (both passes).
    word_scores: Vec<i32>,
    first_pass: Vec<u16>,
}

/// Sums of weights kept per key (a word type, a combination of tags), for one
/// tagger: words and tags repeat, so most sums are made once and then added
/// as one vector instead of several rows.
#[derive(Debug)]
pub(crate) struct SumCache<K> {
    /// The [`Tagger::id`] the sums were made with; another tagger starts afresh.
    tagger: u64,
    index: HashMap<K, u32, BuildHasherDefault<WordHasher>>,
    /// Entry `e`'s sums are `sums[e * width..(e + 1) * width]`.
    sums: Vec<i32>,
    width: usize,
    /// How many entries: counted, not divided out of `sums.len()` (a
    /// division on every look-up was a visible part of `best_class`).
    len: usize,
}

impl<K> Default for SumCache<K> {
    fn default() -> Self {
        SumCache {
            tagger: 0,
            index: HashMap::default(),
            sums: Vec::new(),
            width: 0,
            len: 0,
        }
    }
}

/// Per word type (the word as written), its [`WordInfo`] and tag-dictionary
/// class, for one tagger: both depend on the word alone, and hashing the word
/// once to find them is cheaper than the ten hashes of a [`WordInfo`] and the
/// tag dictionary's look-up.
#[derive(Debug, Default)]
struct WordTypes {
    /// The [`Tagger::id`] the classes are from; another tagger starts afresh.
    tagger: u64,
    index: HashMap<String, u32, BuildHasherDefault<WordHasher>>,
    types: Vec<(WordInfo, Option<u16>)>,
}

/// At most this many word types are kept in [`WordTypes`] (about 0.4 MB).
const MAX_KNOWN_TYPES: usize = 4096;

impl WordTypes {
    /// Starts afresh (and says so: the entries' numbers are then reused) when
    /// the types are another tagger's, or when `more` new words could overflow
    /// [`MAX_KNOWN_TYPES`].
    fn prepare(&mut self, tagger: u64, more: usize) -> bool {
        let fresh = self.tagger != tagger || self.types.len() + more > MAX_KNOWN_TYPES;
        if fresh {
            self.tagger = tagger;
            self.index.clear();
            self.types.clear();
        }
        fresh
    }

    /// The word's entry number and entry, made by `make` if the word is new.
    fn get_or_insert(
        &mut self,
        word: &str,
        make: impl FnOnce(&str) -> (WordInfo, Option<u16>),
    ) -> (u32, (WordInfo, Option<u16>)) {
        if let Some(&at) = self.index.get(word) {
            return (at, self.types[at as usize]);
        }
        let at = self.types.len() as u32;
        let entry = make(word);
        self.index.insert(word.to_owned(), at);
        self.types.push(entry);
        (at, entry)
    }
}

/// At most this many word types are kept per [`SumCache`] of words (about
/// 0.9 MB each with the shipped model's ~200 columns), so memory stays bounded
/// on an endless stream of new words.
const MAX_WORD_TYPES: usize = 1024;

/// At most this many three words in a row are kept (about 3.5 MB with the
/// shipped model): the sums of the few thousand that recur most in captions.
const MAX_TRIGRAMS: usize = 4096;

/// At most this many combinations of tags and word values are kept per pass
/// (about 1.8 MB each with the shipped model).
const MAX_TAG_CONTEXTS: usize = 4096;

impl<K: Hash + Eq> SumCache<K> {
    /// Starts afresh (and says so) when the sums are another tagger's or of
    /// another width, or when `more` new entries could overflow `max`; then no
    /// entry is dropped until the next call.
    fn prepare(&mut self, tagger: u64, width: usize, more: usize, max: usize) -> bool {
        let fresh = self.tagger != tagger || self.width != width || self.len + more > max;
        if fresh {
            self.tagger = tagger;
            self.width = width;
            self.index.clear();
            self.sums.clear();
            self.len = 0;
        }
        fresh
    }

    /// Makes the next [`SumCache::prepare`] start afresh (0 is no tagger's id).
    fn forget(&mut self) {
        self.tagger = 0;
    }

    /// The entry of `key`, and whether it is new (its sums, zero, still to be added).
    fn entry<Q>(&mut self, key: &Q) -> (u32, bool)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(&entry) = self.index.get(key) {
            return (entry, false);
        }
        let entry = self.push();
        self.index.insert(key.to_owned(), entry);
        (entry, true)
    }

    /// A new entry of zeros that no key finds.
    fn push(&mut self) -> u32 {
        let entry = self.len as u32;
        self.len += 1;
        self.sums.resize(self.sums.len() + self.width, 0);
        entry
    }

    fn sums(&self, entry: u32) -> &[i32] {
        let at = entry as usize * self.width;
        &self.sums[at..at + self.width]
    }

    fn sums_mut(&mut self, entry: u32) -> &mut [i32] {
        let at = entry as usize * self.width;
        &mut self.sums[at..at + self.width]
    }
}

/// A [`SumCache`] key of a pass's tag features: the history hashes of the tags
/// `[prev, prev2, here, next, next2]` (the last three 0 in pass 1) and the
/// word's [`tag_word_values`]. Hashed as one mix of them (they are uniform
/// already), not byte by byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TagContext {
    tags: [u64; 5],
    words: [u64; 4],
}

impl Hash for TagContext {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let values = self.tags.iter().chain(&self.words);
        state.write_u64(values.fold(0, |h, &t| h.rotate_left(13) ^ t));
    }
}

/// The perceptron's `argmax` for the integer scores `a[k] + b[k]` (the first
/// of the highest scores): the highest found by a loop the compiler
/// vectorises, then its position, instead of a loop whose branch on every
/// class mispredicts. The scores are summed where they are compared, not
/// written out first.
fn best_class_of_sum(a: &[i32], b: &[i32]) -> u16 {
    let best = highest_sum(a, b);
    // The blocks before the one holding it, each passed over by one vectorised
    // test instead of a compare and branch per class (the best class is
    // about the 30th on average).
    let blocks = a.chunks_exact(BLOCK).zip(b.chunks_exact(BLOCK));
    let before = blocks.take_while(|(x, y)| !holds(x, y, best)).count() * BLOCK;
    let rest = a[before..].iter().zip(&b[before..]);
    let position = rest.map(|(&x, &y)| x + y).position(|s| s == best);
    position.map_or(0, |p| before + p) as u16
}

/// The columns [`best_class_of_sum`] tests at a time.
const BLOCK: usize = 8;

/// The highest `a[k] + b[k]` (`i32::MIN` when there is none), found as `f32`:
/// SSE2 has a one-instruction maximum of floats but not of 32-bit integers
/// (a compare and three instructions to blend). A tagger's score is a sum of
/// at most 43 `i16` weights, below 2^24 in magnitude, so it converts to `f32`
/// exactly and in order.
fn highest_sum(a: &[i32], b: &[i32]) -> i32 {
    let higher = |s: f32, top: f32| if s > top { s } else { top };
    let mut top = [f32::MIN; BLOCK];
    let (blocks_a, blocks_b) = (a.chunks_exact(BLOCK), b.chunks_exact(BLOCK));
    let rest = blocks_a.remainder().iter().zip(blocks_b.remainder());
    for (x, y) in blocks_a.zip(blocks_b) {
        for k in 0..BLOCK {
            top[k] = higher((x[k] + y[k]) as f32, top[k]);
        }
    }
    let best = top.into_iter().fold(f32::MIN, |m, s| higher(s, m)) as i32;
    rest.fold(best, |m, (&x, &y)| m.max(x + y))
}

/// Whether some `x[k] + y[k]` of two blocks of [`BLOCK`] scores is `score`.
fn holds(x: &[i32], y: &[i32], score: i32) -> bool {
    let (x, y): (&[i32; BLOCK], &[i32; BLOCK]) = (x.try_into().unwrap(), y.try_into().unwrap());
    (0..BLOCK).fold(false, |hit, k| hit | (x[k] + y[k] == score))
}

/// `scores[k] += sums[k]`.
fn add_sums(scores: &mut [i32], sums: &[i32]) {
    for (score, &sum) in scores.iter_mut().zip(sums) {
        *score += sum;
    }
}

/// The entries in the three `word_sums` of the word `i` of `n` (`OWN`) and
/// of its neighbours (`LEFT`, `RIGHT`); new ones are listed in `s.new_entries`.
fn word_sum_entries(s: &mut Scratch, i: usize, n: usize) -> [u32; 3] {
    let mut entries = [0; 3];
    for (role, neighbour) in [
        (OWN, Some(i)),
        (LEFT, i.checked_sub(1)),
        (RIGHT, Some(i + 1)),
    ] {
        let Some(j) = neighbour.filter(|&j| j < n) else {
            continue; // the boundary, entry 0
        };
        let (entry, new) = s.word_sums[role].entry(&s.type_ids[j]);
        if new {
            s.new_entries.push((role, entry, j + PAD));
        }
        entries[role] = entry;
    }
    entries
}

/// The keys of the features kept in `word_sums[role]`, of the word at `ctx[at]`.
fn role_keys(role: usize, ctx: &[WordInfo], at: usize, keys: &mut Vec<u32>) {
    match role {
        OWN => keys.extend(own_features(ctx, at).map(table_key)),
        LEFT => keys.extend(left_neighbour_features(ctx, at).map(table_key)),
        _ => keys.extend(right_neighbour_features(ctx, at).map(table_key)),
    }
}

/// The keys of pass `pass`'s features of predicted tags, of the word at
/// `ctx[at]` given the history hashes `tags` (as [`Tagger::best_class`]'s).
fn tag_keys(ctx: &[WordInfo], at: usize, pass: usize, tags: [u64; 5], keys: &mut Vec<u32>) {
    let [prev, prev2, here, next, next2] = tags;
    keys.clear();
    keys.extend(tag_features(prev, prev2).map(table_key));
    keys.extend(tag_word_features(ctx, at, prev).map(table_key));
    if pass == 1 {
        let right = [here, next, next2];
        keys.extend(right_tag_features(prev, right).map(table_key));
        keys.extend(right_word_features(ctx, at, right).map(table_key));
    }
}

/// How many keys [`role_keys`] gives.
fn role_len(role: usize) -> usize {
    [10, 5, 6][role]
}

impl Tagger {
    /// Appends the class of each of `words` to `out`.
    pub(crate) fn predict_into(&self, words: &[&str], scratch: &mut Scratch, out: &mut Vec<u16>) {
        let s = scratch;
        if self.look_up_words(words, s) {
            // The word sums' keys are entry numbers of the types just dropped.
            s.word_sums.iter_mut().for_each(SumCache::forget);
            s.trigrams.forget();
        }
        self.add_word_features(words, s);

        // Pass 1: left to right, seeing the tags already chosen.
        s.first_pass.clear();
        let (mut prev, mut prev2) = (START_TAG, START_TAG2);
        let mut unknown = 0;
        for i in 0..words.len() {
            let class = match s.known[i] {
                Some(class) => class,
                None => {
                    let class = self.best_class(s, i, unknown, 0, [prev, prev2, 0, 0, 0]);
                    unknown += 1;
                    class
                }
            };
            s.first_pass.push(class);
            (prev2, prev) = (prev, tag_hash(class));
        }

        // Pass 2: the same, also seeing pass 1's tags of this word and the next two.
        let (mut prev, mut prev2) = (START_TAG, START_TAG2);
        let mut unknown = 0;
        for i in 0..words.len() {
            let class = match s.known[i] {
                Some(class) => class,
                None => {
                    let first = &s.first_pass;
                    let at = |j: usize| first.get(j).map_or(END_TAG, |&c| tag_hash(c));
                    let tags = [prev, prev2, at(i), at(i + 1), at(i + 2)];
                    let class = self.best_class(s, i, unknown, 1, tags);
                    unknown += 1;
                    class
                }
            };
            out.push(class);
            (prev2, prev) = (prev, tag_hash(class));
        }
    }

    /// Sets `s.ctx`, `s.known` and `s.type_ids` for `words`, from
    /// [`WordTypes`] where the thread has seen a word before; says whether
    /// [`WordTypes`] started afresh.
    fn look_up_words(&self, words: &[&str], s: &mut Scratch) -> bool {
        let fresh = s.types.prepare(self.id, words.len());
        s.known.clear();
        s.type_ids.clear();
        let (types, lower) = (&mut s.types, &mut s.lower);
        let (known, type_ids) = (&mut s.known, &mut s.type_ids);
        let info = |word: &str| {
            let (id, (info, class)) = types.get_or_insert(word, |word| {
                (word_info(word, lower), self.tagdict.get(word).copied())
            });
            known.push(class);
            type_ids.push(id);
            info
        };
        context_with(words, info, &mut s.ctx);
        fresh
    }

    /// Sums, for every word outside the tag dictionary, the weights of its word
    /// features into `s.word_scores`: the sums of it and its two neighbours
    /// (made now for three words in a row not seen before, from the
    /// per-word-type sums, themselves made now for a word type not seen
    /// before) plus its [`far_context_features`]. All words' look-ups go to
    /// the table at once.
    fn add_word_features(&self, words: &[&str], s: &mut Scratch) {
        let columns = self.table.columns();
        self.find_word_sums(words.len(), s);
        // The new sums' features go after all the far context features.
        let far_keys = s.keys.len();
        for &(role, _, at) in &s.new_entries {
            role_keys(role, &s.ctx, at, &mut s.keys);
        }
        for &(_, _, at) in &s.new_trigrams {
            s.keys
                .extend(near_context_features(&s.ctx, at).map(table_key));
        }
        self.table.find(&s.keys, &mut s.rows);
        let (far_rows, mut new_rows) = s.rows.split_at(far_keys);
        for &(role, entry, _) in &s.new_entries {
            let (rows, rest) = new_rows.split_at(role_len(role));
            self.table
                .add(rows, 0..columns, s.word_sums[role].sums_mut(entry));
            new_rows = rest;
        }
        let near_rows = new_rows.chunks_exact(NEAR_CONTEXT_FEATURES);
        for (&(entry, roles, _), rows) in s.new_trigrams.iter().zip(near_rows) {
            let sums = s.trigrams.sums_mut(entry);
            sums.copy_from_slice(s.word_sums[OWN].sums(roles[OWN]));
            add_sums(sums, s.word_sums[LEFT].sums(roles[LEFT]));
            add_sums(sums, s.word_sums[RIGHT].sums(roles[RIGHT]));
            self.table.add(rows, 0..columns, sums);
        }
        // Every slice read is written first: no zeroing (kilobytes per sentence).
        let needed = s.entries.len() * columns;
        if s.word_scores.len() < needed {
            s.word_scores.resize(needed, 0);
        }
        let far_rows = far_rows.chunks_exact(FAR_CONTEXT_FEATURES);
        for (u, (&entry, rows)) in s.entries.iter().zip(far_rows).enumerate() {
            let scores = &mut s.word_scores[u * columns..(u + 1) * columns];
            scores.copy_from_slice(s.trigrams.sums(entry));
            self.table.add(rows, 0..columns, scores);
        }
    }

    /// For every word outside the tag dictionary, puts the keys of its
    /// [`far_context_features`] in `s.keys` and its entry in `s.trigrams` in
    /// `s.entries`; lists the entries new to `s.trigrams` in `s.new_trigrams`,
    /// and the word-type sums they need that are new in `s.new_entries`.
    fn find_word_sums(&self, n: usize, s: &mut Scratch) {
        let columns = self.table.columns();
        s.keys.clear();
        s.entries.clear();
        s.new_trigrams.clear();
        s.new_entries.clear();
        s.trigrams.prepare(self.id, columns, n, MAX_TRIGRAMS);
        for (role, sums) in s.word_sums.iter_mut().enumerate() {
            if sums.prepare(self.id, columns, n + 1, MAX_WORD_TYPES) && role != OWN {
                // Entry 0: the padding before the first word / after the last.
                let boundary = if role == LEFT { PAD - 1 } else { n + PAD };
                s.new_entries.push((role, sums.push(), boundary));
            }
        }
        for i in 0..n {
            if s.known[i].is_some() {
                continue;
            }
            s.keys
                .extend(far_context_features(&s.ctx, i + PAD).map(table_key));
            let ids = &s.type_ids;
            let type_at = |j: usize| ids.get(j).copied().unwrap_or(PADDING);
            let three = [
                i.checked_sub(1).map_or(PADDING, type_at),
                ids[i],
                type_at(i + 1),
            ];
            let (entry, new) = s.trigrams.entry(&three);
            s.entries.push(entry);
            if new {
                let roles = word_sum_entries(s, i, n);
                s.new_trigrams.push((entry, roles, i + PAD));
            }
        }
    }

    /// The class of word `i`, the `unknown`-th outside the tag dictionary, in
    /// pass `pass` (0 or 1) given the history hashes
    /// `tags` (`[prev, prev2]`, then in pass 1 zeros, in pass 2 the first pass's
    /// tags of this word and the next two): the best of its scores, its word
    /// features' sum plus its tag features' sum (made now for a context not met
    /// before), that pass's columns only.
    fn best_class(
        &self,
        s: &mut Scratch,
        i: usize,
        unknown: usize,
        pass: usize,
        tags: [u64; 5],
    ) -> u16 {
        let columns = self.table.pass_columns(pass);
        let sums = &mut s.tag_sums[pass];
        sums.prepare(self.id, columns.len(), 1, MAX_TAG_CONTEXTS);
        let words = tag_word_values(&s.ctx, i + PAD);
        let (entry, new) = sums.entry(&TagContext { tags, words });
        if new {
            tag_keys(&s.ctx, i + PAD, pass, tags, &mut s.keys);
            self.table.find(&s.keys, &mut s.rows);
            self.table
                .add(&s.rows, columns.clone(), sums.sums_mut(entry));
        }
        let at = unknown * self.table.columns();
        let word = &s.word_scores[at + columns.start..at + columns.end];
        best_class_of_sum(word, sums.sums(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_caches_keep_one_entry_per_key_of_one_tagger() {
        let mut sums = SumCache::<String>::default();
        assert!(sums.prepare(7, 4, 3, 10));
        assert_eq!(sums.entry("Dog"), (0, true));
        sums.sums_mut(0).copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(sums.entry("dog"), (1, true), "keyed by the word as written");
        assert_eq!(sums.entry("Dog"), (0, false));
        assert_eq!(sums.sums(0), [1, 2, 3, 4]);
        assert_eq!(sums.sums(1), [0; 4], "a new entry starts at zero");
        assert_eq!(sums.push(), 2, "an entry without a key");
        assert!(!sums.prepare(7, 4, 3, 10));
        assert_eq!(sums.entry("Dog"), (0, false), "kept for the same tagger");
        sums.forget();
        assert!(sums.prepare(7, 4, 3, 10), "forgotten: start afresh");
        assert!(sums.prepare(8, 4, 3, 10), "another tagger starts afresh");
        assert_eq!(sums.entry("Dog"), (0, true));
        assert!(sums.prepare(8, 5, 3, 10), "another width starts afresh");
        sums.entry("Dog");
        assert!(
            sums.prepare(8, 5, 10, 10),
            "no room for the sentence: start afresh"
        );
        assert!(sums.index.is_empty());
    }

    #[test]
    fn best_class_of_sum_is_the_perceptrons_argmax_of_the_sums() {
        use crate::tagger::perceptron::argmax;
        let cases: [&[i32]; 10] = [
            &[],
            &[5],
            &[1, 3, 3, 2],
            &[-4, -2, -2, -9],
            &[i32::MIN, i32::MIN],
            &[0, 7, -1, 7, 8, 8, 3],
            // Longer than a block: the best in the second block, in the
            // remainder after the last whole block, first of equal ones.
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 9, 3, 4, 5, 6, 0],
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 8, 3, 4, 5, 6, 10, 10],
            &[9, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 8, 3, 4, 5, 6, 9],
            // Scores as large as a tagger's can be, one apart, found as `f32`.
            &[
                -16_777_215,
                16_777_214,
                -3,
                16_777_215,
                0,
                16_777_213,
                1,
                2,
                16_777_214,
            ],
        ];
        for scores in cases {
            let zeros = vec![0; scores.len()];
            assert_eq!(
                best_class_of_sum(scores, &zeros),
                argmax(scores),
                "{scores:?}"
            );
            let halves: Vec<i32> = scores.iter().map(|&s| s / 2).collect();
            let rest: Vec<i32> = scores.iter().zip(&halves).map(|(&s, &h)| s - h).collect();
            assert_eq!(
                best_class_of_sum(&halves, &rest),
                argmax(scores),
                "{scores:?}"
            );
        }
    }

    #[test]
    fn tag_contexts_hash_by_their_values() {
        let hash = |tags: [u64; 5], words: [u64; 4]| {
            let mut h = WordHasher::default();
            TagContext { tags, words }.hash(&mut h);
            h.finish()
        };
        let words = [6, 7, 8, 9];
        assert_eq!(hash([1, 2, 3, 4, 5], words), hash([1, 2, 3, 4, 5], words));
        assert_ne!(hash([1, 2, 0, 0, 0], words), hash([2, 1, 0, 0, 0], words));
        assert_ne!(
            hash([1, 2, 0, 0, 0], words),
            hash([1, 2, 0, 0, 0], [7, 6, 8, 9])
        );
    }

    #[test]
    fn word_types_make_each_entry_once_per_tagger() {
        let mut types = WordTypes::default();
        let mut buf = Vec::new();
        let mut made = 0;
        let mut make = |word: &str| {
            made += 1;
            (word_info(word, &mut buf), Some(word.len() as u16))
        };
        assert!(types.prepare(1, 2));
        let (dog, (_, class)) = types.get_or_insert("Dog", &mut make);
        assert_eq!((dog, class), (0, Some(3)));
        assert_eq!(types.get_or_insert("Dog", &mut make).0, 0);
        assert_eq!(types.get_or_insert("dogs", &mut make).0, 1);
        assert!(!types.prepare(1, 2));
        assert!(types.prepare(2, 2));
        assert_eq!(types.get_or_insert("Dog", &mut make).0, 0);
        assert_eq!(made, 3, "made again for another tagger only");
        assert!(
            types.prepare(2, MAX_KNOWN_TYPES),
            "no room for the sentence: start afresh"
        );
        assert!(types.index.is_empty());
    }

    #[test]
    fn adds_sums_element_by_element() {
        let mut scores = [1, 2, 3];
        add_sums(&mut scores, &[10, -20, 30]);
        assert_eq!(scores, [11, -18, 33]);
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
        for sums in &warm.word_sums {
            assert!(!sums.index.is_empty(), "unknown words' types were summed");
        }
        assert!(!warm.tag_sums[1].index.is_empty(), "tags were summed");
    }

    #[test]
    fn word_sums_start_afresh_with_the_word_types() {
        let tagger = Tagger::shipped();
        let mut warm = Scratch::default();
        let mut tags = Vec::new();
        tagger.predict_into(&["A", "zorbling", "dog", "."], &mut warm, &mut tags);
        // Fills the word types up without summing, so the next sentence
        // renumbers them while the word sums still hold the first sentence's.
        let mut buf = Vec::new();
        for k in 0..MAX_KNOWN_TYPES - 6 {
            warm.types
                .get_or_insert(&format!("w{k}"), |w| (word_info(w, &mut buf), None));
        }
        let sentence = ["The", "dog", "sees", "a", "zorbling", "blicket", "."];
        let (mut after, mut fresh) = (Vec::new(), Vec::new());
        tagger.predict_into(&sentence, &mut warm, &mut after);
        assert!(warm.types.types.len() < 10, "the word types started afresh");
        let mut cold = Scratch::default();
        tagger.predict_into(&sentence, &mut cold, &mut fresh);
        assert_eq!(after, fresh);
        for (warm, cold) in warm.word_sums.iter_mut().zip(&cold.word_sums) {
            for (key, &entry) in &cold.index {
                assert_eq!(warm.entry(key), (entry, false), "type {key}");
                assert_eq!(warm.sums(entry), cold.sums(entry), "type {key}");
            }
        }
        for (three, &entry) in &cold.trigrams.index {
            assert_eq!(warm.trigrams.entry(three), (entry, false), "{three:?}");
            assert_eq!(warm.trigrams.sums(entry), cold.trigrams.sums(entry));
        }
    }
}
