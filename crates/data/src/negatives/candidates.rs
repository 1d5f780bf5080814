//! The rewriters' candidates before selection: token orders, not texts.
//!
//! Every rewrite of a caption rearranges its tokens (only a capital may move
//! with the first position, [`Candidates::push_swap`]), so a candidate is a
//! list of token indices. A caption has about a dozen candidates and keeps at
//! most `per_caption` (5 by default), so building a `String` only for the kept
//! ones, and comparing candidates as sequences of word ids instead of
//! normalised texts ([`WordIds`]), saves most of the work of selection.

use std::ops::Range;

use rand_chacha::ChaCha8Rng;

use super::compare::{normalise_into, separates};
use super::kind::NegativeKind;
use super::swap::{
    capitalise, is_capitalised_word, lowercase_first, pick_distinct_pair, starts_upper,
};
use super::word::Negative;

/// The token list a candidate's indices point into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The tagged words ([`Analysis::tokens`](super::analysis::Analysis)).
    Words,
    /// The word tokens of the order perturbations (the same list for the
    /// shipped tagger, whose tokens are its word tokens).
    WordTokens,
}

/// One candidate: `order` is its range in [`Candidates::order`].
#[derive(Debug, Clone)]
struct Candidate {
    kind: NegativeKind,
    source: Source,
    order: Range<usize>,
    /// The caption's capitalised first word moved away from the start: the
    /// new first word is capitalised and the moved one lower-cased
    /// ([`Candidates::push_swap`]).
    recase: bool,
}

/// The candidates of one caption, their token orders end to end in one vector.
#[derive(Debug)]
pub struct Candidates<'c, 'a> {
    words: &'c [&'a str],
    word_tokens: &'c [&'a str],
    /// The two token lists are equal (the shipped tagger's case): their
    /// joined texts and word ids are made once.
    same_tokens: bool,
    storage: Storage,
}

/// The vectors of a [`Candidates`], kept from caption to caption (they borrow nothing).
#[derive(Debug, Default)]
pub struct Storage {
    order: Vec<usize>,
    list: Vec<Candidate>,
    /// Working space lent to [`Candidates::push_with`]'s writers.
    scratch: Vec<usize>,
    /// The units of [`Candidates::push_distinct_pair_swap`].
    units: Vec<Range<usize>>,
    /// The tagged words and the word tokens joined, what [`Candidates::negative`] copies from.
    joined_words: Joined,
    joined_word_tokens: Joined,
}

/// Whether two token lists are equal, comparing a pair's addresses before its
/// bytes: the shipped tagger's words and word tokens are the same slices of
/// the caption.
fn same_strings(a: &[&str], b: &[&str]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| std::ptr::eq(*x, *y) || x == y)
}

/// A token list joined by single spaces, with where each token starts: tokens
/// next to each other in a candidate are then copied as one slice of it.
#[derive(Debug, Default)]
struct Joined {
    text: String,
    /// Token `k` starts at `starts[k]`; one more entry, one byte past the
    /// end, so token `k` ends one byte before `starts[k + 1]`.
    starts: Vec<usize>,
}

impl Joined {
    /// Becomes `tokens` joined, in its own vectors.
    fn set(&mut self, tokens: &[&str]) {
        self.text.clear();
        self.starts.clear();
        for token in tokens {
            self.starts.push(self.text.len());
            self.text.push_str(token);
            self.text.push(' ');
        }
        self.starts.push(self.text.len());
        self.text.pop();
    }

    /// The tokens `first..=last` as joined.
    fn run(&self, first: usize, last: usize) -> &str {
        &self.text[self.starts[first]..self.starts[last + 1] - 1]
    }

    /// Appends the tokens `order` joined by single spaces to `out`, each run
    /// of consecutive tokens as one copy (a swap moves two or three runs).
    fn write(&self, order: &[usize], out: &mut String) {
        let mut k = 0;
        while k < order.len() {
            let mut end = k + 1;
            while end < order.len() && order[end] == order[end - 1] + 1 {
                end += 1;
            }
            if k > 0 {
                out.push(' ');
            }
            out.push_str(self.run(order[k], order[end - 1]));
            k = end;
        }
    }
}

impl<'c, 'a> Candidates<'c, 'a> {
    /// An empty list for a caption with these tagged `words` and `word_tokens`.
    pub fn new(words: &'c [&'a str], word_tokens: &'c [&'a str]) -> Self {
        Self::with_storage(words, word_tokens, Storage::default())
    }

    /// [`Candidates::new`] in the vectors of `storage` (emptied first).
    pub fn with_storage(
        words: &'c [&'a str],
        word_tokens: &'c [&'a str],
        mut storage: Storage,
    ) -> Self {
        storage.order.clear();
        storage.list.clear();
        let same_tokens = same_strings(words, word_tokens);
        storage.joined_words.set(words);
        if !same_tokens {
            storage.joined_word_tokens.set(word_tokens);
        }
        Candidates {
            words,
            word_tokens,
            same_tokens,
            storage,
        }
    }

    /// The vectors, for the next caption's [`Candidates::with_storage`].
    pub fn into_storage(self) -> Storage {
        self.storage
    }

    pub fn len(&self) -> usize {
        self.storage.list.len()
    }

    pub fn word_tokens_len(&self) -> usize {
        self.word_tokens.len()
    }

    pub fn kind(&self, i: usize) -> NegativeKind {
        self.storage.list[i].kind
    }

    fn tokens(&self, source: Source) -> &'c [&'a str] {
        match source {
            Source::Words => self.words,
            Source::WordTokens => self.word_tokens,
        }
    }

    /// Adds a candidate whose tokens are `order` (indices into `source`'s tokens).
    pub fn push(
        &mut self,
        kind: NegativeKind,
        source: Source,
        order: impl IntoIterator<Item = usize>,
    ) {
        self.push_with(kind, source, |out, _| out.extend(order));
    }

    /// Adds a candidate whose tokens `write` appends to the vector it is given
    /// (indices into `source`'s tokens); the second vector is working space.
    pub fn push_with(
        &mut self,
        kind: NegativeKind,
        source: Source,
        write: impl FnOnce(&mut Vec<usize>, &mut Vec<usize>),
    ) {
        let start = self.storage.order.len();
        write(&mut self.storage.order, &mut self.storage.scratch);
        self.storage.list.push(Candidate {
            kind,
            source,
            order: start..self.storage.order.len(),
            recase: false,
        });
    }

    /// Adds the tagged words with the non-overlapping spans `a` and `b`
    /// exchanged; when a span moved away from the start of a capitalised
    /// caption, the capital stays with the position: "A cat on a table" becomes
    /// "A table on a cat", not "a table on A cat". Only a word whose sole
    /// capital is its first letter is re-cased (not "I", "USA", ...).
    pub fn push_swap(&mut self, kind: NegativeKind, a: Range<usize>, b: Range<usize>) {
        let (first, second) = if a.start <= b.start { (a, b) } else { (b, a) };
        debug_assert!(first.end <= second.start, "overlapping spans");
        let n = self.words.len();
        // Five ranges extended one by one: each is one reserve and a plain
        // loop, where a chain of them is stepped through item by item.
        let runs = [
            0..first.start,
            second.clone(),
            first.end..second.start,
            first.clone(),
            second.end..n,
        ];
        self.push_with(kind, Source::Words, |order, _| {
            runs.into_iter().for_each(|run| order.extend(run));
        });
        let last = self.storage.list.len() - 1;
        self.storage.list[last].recase = first.start == 0 && self.needs_recase(last);
    }

    /// Adds the tagged words with two different `units` exchanged
    /// ([`pick_distinct_pair`], then [`Candidates::push_swap`]), if there are
    /// two. The units are collected in a vector kept from caption to caption.
    pub fn push_distinct_pair_swap(
        &mut self,
        kind: NegativeKind,
        units: impl IntoIterator<Item = Range<usize>>,
        rng: &mut ChaCha8Rng,
    ) {
        let mut buffer = std::mem::take(&mut self.storage.units);
        buffer.clear();
        buffer.extend(units);
        if let Some((a, b)) = pick_distinct_pair(&buffer, self.words, rng) {
            self.push_swap(kind, a, b);
        }
        self.storage.units = buffer;
    }

    /// Whether candidate `i`, which moved the caption's first word, must move
    /// its capital: the first word changed, was capitalised, and the new one is not.
    fn needs_recase(&self, i: usize) -> bool {
        let order = &self.storage.order[self.storage.list[i].order.clone()];
        let (Some(&old_first), Some(&new_first)) = (self.words.first(), order.first()) else {
            return false;
        };
        let (old_first, new_first) = (old_first, self.words[new_first]);
        old_first != new_first && is_capitalised_word(old_first) && !starts_upper(new_first)
    }

    /// The words of candidate `i` as written: its tokens, with the first re-cased
    /// and the caption's first word lower-cased where it moved.
    fn written(&self, i: usize) -> impl Iterator<Item = Written<'a>> + '_ {
        let c = &self.storage.list[i];
        let tokens = self.tokens(c.source);
        let order = &self.storage.order[c.order.clone()];
        let old_first = self.words.first().copied();
        // The first later token equal to the old first word is the one lower-cased.
        let lowered = c
            .recase
            .then(|| {
                order
                    .iter()
                    .skip(1)
                    .position(|&k| Some(tokens[k]) == old_first)
            })
            .flatten()
            .map(|p| p + 1);
        order.iter().enumerate().map(move |(at, &k)| {
            if c.recase && at == 0 {
                Written::Changed(capitalise(tokens[k]))
            } else if lowered == Some(at) {
                Written::Changed(lowercase_first(tokens[k]))
            } else {
                Written::Token(tokens[k])
            }
        })
    }

    /// The joined text of `source`'s tokens.
    fn joined(&self, source: Source) -> &Joined {
        match source {
            Source::WordTokens if !self.same_tokens => &self.storage.joined_word_tokens,
            _ => &self.storage.joined_words,
        }
    }

    /// Candidate `i` as a negative: its words joined by single spaces, as the
    /// NegCLIP script writes them.
    pub fn negative(&self, i: usize) -> Negative {
        let c = &self.storage.list[i];
        let joined = self.joined(c.source);
        // Re-casing changes few lengths: the caption's length saves the text's regrowth.
        let mut text = String::with_capacity(joined.text.len());
        if c.recase {
            for (at, word) in self.written(i).enumerate() {
                if at > 0 {
                    text.push(' ');
                }
                text.push_str(word.as_str());
            }
        } else {
            joined.write(&self.storage.order[c.order.clone()], &mut text);
        }
        Negative::new(text, c.kind)
    }

    /// All candidates as negatives, in order.
    pub fn into_negatives(self) -> Vec<Negative> {
        (0..self.len()).map(|i| self.negative(i)).collect()
    }

    /// Appends the [`WordIds`] of candidate `i`'s normalised text to `out`.
    pub fn word_ids(&self, i: usize, ids: &mut WordIds, out: &mut Vec<u32>) {
        let c = &self.storage.list[i];
        if c.recase {
            for word in self.written(i) {
                ids.add_text(word.as_str(), out);
            }
            return;
        }
        let map = match c.source {
            Source::WordTokens if !self.same_tokens => &ids.word_tokens,
            _ => &ids.words,
        };
        map.extend(&self.storage.order[c.order.clone()], out);
    }
}

/// A word of a written candidate: a token as it is, or re-cased.
enum Written<'a> {
    Token(&'a str),
    Changed(String),
}

impl Written<'_> {
    fn as_str(&self) -> &str {
        match self {
            Written::Token(t) => t,
            Written::Changed(s) => s,
        }
    }
}

/// Numbers the words of one caption's normalised texts
/// ([`normalise_for_comparison`](super::compare::normalise_for_comparison)): two texts made of the caption's tokens
/// normalise alike exactly when their sequences of word ids are equal, so
/// candidates are compared without writing their texts. Each token is
/// normalised once; a text normalises as its tokens do one by one (joined by
/// spaces, a token's case mapping cannot see its neighbours).
#[derive(Debug, Default)]
pub struct WordIds {
    /// The distinct normalised words, end to end, and where each ends.
    text: String,
    ends: Vec<usize>,
    /// Each distinct word's [`Fingerprint`]: the scan for a word compares
    /// these first, and the texts only where they match.
    fingerprints: Vec<u64>,
    /// The ids of the tagged words / word tokens (the latter unused, and not
    /// made, when the two token lists are equal).
    words: TokenIds,
    word_tokens: TokenIds,
    scratch: String,
}

/// The word ids of each token of a token list.
#[derive(Debug, Default)]
struct TokenIds {
    /// Token `k`'s ids are `ids[ranges[k]]`.
    ranges: Vec<Range<usize>>,
    ids: Vec<u32>,
    /// Token `k`'s only id, or [`NO_ID`] for a token without words ("," or "."):
    /// valid when `simple`, every token having at most one id (the common
    /// case, whose candidates then need no ranges).
    single: Vec<u32>,
    simple: bool,
}

/// In [`TokenIds::single`], a token without words.
const NO_ID: u32 = u32::MAX;

impl TokenIds {
    /// Appends the ids of the tokens `order` to `out`.
    fn extend(&self, order: &[usize], out: &mut Vec<u32>) {
        if self.simple {
            out.extend(
                order
                    .iter()
                    .map(|&k| self.single[k])
                    .filter(|&id| id != NO_ID),
            );
        } else {
            for &k in order {
                out.extend_from_slice(&self.ids[self.ranges[k].clone()]);
            }
        }
    }
}

impl WordIds {
    /// Numbers the tokens of `candidates`' two token lists, forgetting any
    /// previous caption's (the vectors are kept).
    pub fn reset(&mut self, candidates: &Candidates) {
        self.text.clear();
        self.ends.clear();
        self.fingerprints.clear();
        let mut words = std::mem::take(&mut self.words);
        self.add_tokens(candidates.words, &mut words);
        self.words = words;
        if !candidates.same_tokens {
            let mut word_tokens = std::mem::take(&mut self.word_tokens);
            self.add_tokens(candidates.word_tokens, &mut word_tokens);
            self.word_tokens = word_tokens;
        }
    }

    /// Appends the ids of the tagged words joined by spaces to `out`.
    pub fn add_words(&self, out: &mut Vec<u32>) {
        out.extend_from_slice(&self.words.ids);
    }

    /// Sets `tokens`' ids in `into`.
    fn add_tokens(&mut self, tokens: &[&str], into: &mut TokenIds) {
        into.ranges.clear();
        into.ids.clear();
        into.single.clear();
        for token in tokens {
            let start = into.ids.len();
            match ascii_word_print(token) {
                // Most tokens: one ASCII word, fingerprinted in one pass.
                Some(print) => {
                    let id = self.id(token, print, None, str::eq_ignore_ascii_case);
                    into.ids.push(id);
                }
                None => self.add_text(token, &mut into.ids),
            }
            into.ranges.push(start..into.ids.len());
            into.single
                .push(into.ids[start..].first().copied().unwrap_or(NO_ID));
        }
        into.simple = into.ranges.iter().all(|r| r.len() <= 1);
    }

    /// Appends the ids of the words of `text`'s normalised form to `out`.
    pub fn add_text(&mut self, text: &str, out: &mut Vec<u32>) {
        self.add_text_expecting(text, &[], out);
    }

    /// [`WordIds::add_text`] of the caption of `candidates` (whose tagged words
    /// [`WordIds::reset`] numbered). A caption mostly normalises as its tagged
    /// words joined: when [`spells_out`] sees so, their ids are the caption's;
    /// otherwise each of its words is first compared with the word at the same
    /// place among them, and the known words are scanned only when that differs.
    pub fn add_caption(&mut self, caption: &str, candidates: &Candidates, out: &mut Vec<u32>) {
        if spells_out(caption, candidates.words) {
            self.add_words(out);
            return;
        }
        let expected = std::mem::take(&mut self.words.ids);
        self.add_text_expecting(caption, &expected, out);
        self.words.ids = expected;
    }

    /// [`WordIds::add_text`], trying `expected[j]` first for the `j`-th word.
    fn add_text_expecting(&mut self, text: &str, expected: &[u32], out: &mut Vec<u32>) {
        if text.is_ascii() {
            // The common case: split and compare ignoring ASCII case, no lower-cased copy.
            for (j, (word, print)) in ascii_words_printed(text).enumerate() {
                let hint = expected.get(j).copied();
                out.push(self.id(word, print, hint, str::eq_ignore_ascii_case));
            }
            return;
        }
        let mut normalised = std::mem::take(&mut self.scratch);
        normalised.clear();
        normalise_into([text], &mut normalised);
        for (j, word) in normalised.split(' ').filter(|w| !w.is_empty()).enumerate() {
            let print = word.bytes().fold(Fingerprint::default(), Fingerprint::add);
            let hint = expected.get(j).copied();
            out.push(self.id(word, print.0, hint, |a, b| a == b));
        }
        self.scratch = normalised;
    }

    /// The id of a word with [`Fingerprint`] `print`, found among the
    /// normalised words known so far by `same(known, word)`, trying `hint`
    /// first: a caption has a few dozen, so a scan of their fingerprints is
    /// cheaper than hashing into a map. A new word is stored lower-cased. The
    /// known words are distinct (a word is added only when none matched), so
    /// at most one matches and the hint changes no id.
    fn id(
        &mut self,
        word: &str,
        print: u64,
        hint: Option<u32>,
        same: impl Fn(&str, &str) -> bool,
    ) -> u32 {
        if let Some(id) = hint {
            if self.fingerprints[id as usize] == print && same(self.known(id as usize), word) {
                return id;
            }
        }
        for (id, &known) in self.fingerprints.iter().enumerate() {
            if known == print && same(self.known(id), word) {
                return id as u32;
            }
        }
        let at = self.text.len();
        self.text.push_str(word);
        self.text[at..].make_ascii_lowercase();
        self.ends.push(self.text.len());
        self.fingerprints.push(print);
        (self.ends.len() - 1) as u32
    }

    /// The known word with id `id`.
    fn known(&self, id: usize) -> &str {
        let start = id.checked_sub(1).map_or(0, |before| self.ends[before]);
        &self.text[start..self.ends[id]]
    }
}

/// Whether `text` normalises as `tokens` joined by spaces, decided without
/// normalising it: `text` is ASCII (lower-cased byte by byte) and is the tokens
/// in order with only separators before, between and after them, and where two
/// tokens touch, a separator on one side of the junction, so the words (runs of
/// bytes between separators) are the same. The shipped tagger's tokens spell
/// out most captions ("a dog." as "a dog ."); "it's" (as "it 's") does not.
fn spells_out(text: &str, tokens: &[&str]) -> bool {
    let bytes = text.as_bytes();
    if !text.is_ascii() {
        return false;
    }
    // The first byte first: a separator in the gap rarely starts the token,
    // and comparing the whole token is a call.
    let token_at = |at: usize, token: &[u8]| {
        token.is_empty() || (bytes.get(at) == token.first() && bytes[at..].starts_with(token))
    };
    let mut at = 0;
    for token in tokens {
        let gap_start = at;
        while !token_at(at, token.as_bytes()) {
            if at == bytes.len() || !separates(bytes[at]) {
                return false;
            }
            at += 1;
        }
        let splits = |k: usize| bytes.get(k).is_none_or(|&b| separates(b));
        if at == gap_start && at > 0 && !splits(at - 1) && !splits(at) {
            return false; // "it" and "'s" touching in "it's": one word
        }
        at += token.len();
    }
    bytes[at..].iter().all(|&b| separates(b))
}

/// FNV-1a of a word's bytes ASCII-lower-cased: equal for two words that
/// [`WordIds::id`]'s comparisons call equal (equal ignoring ASCII case, or, for
/// the already lower-cased non-ASCII words, equal), so only words with equal
/// fingerprints need comparing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    fn add(self, byte: u8) -> Self {
        Fingerprint(
            (self.0 ^ u64::from(byte.to_ascii_lowercase())).wrapping_mul(0x0000_0100_0000_01b3),
        )
    }
}

/// The [`Fingerprint`] of `token` when it is one ASCII word (no separator,
/// not empty), which [`ascii_words_printed`] would give alone.
fn ascii_word_print(token: &str) -> Option<u64> {
    // One pass: fingerprint while checking, stop at the first other byte.
    let add = |print: Fingerprint, &b: &u8| (b.is_ascii() && !separates(b)).then(|| print.add(b));
    let print = token
        .as_bytes()
        .iter()
        .try_fold(Fingerprint::default(), add)?;
    (!token.is_empty()).then_some(print.0)
}

/// The words of an ASCII `text` as `compare::ascii_words` splits them, each with its
/// [`Fingerprint`], in one pass over the bytes.
fn ascii_words_printed(text: &str) -> impl Iterator<Item = (&str, u64)> {
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() && separates(bytes[at]) {
            at += 1;
        }
        if at == bytes.len() {
            return None;
        }
        let start = at;
        let mut print = Fingerprint::default();
        while at < bytes.len() && !separates(bytes[at]) {
            print = print.add(bytes[at]);
            at += 1;
        }
        Some((&text[start..at], print.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::compare::normalise_for_comparison;

    fn normalised_text(candidates: &Candidates, i: usize) -> String {
        normalise_for_comparison(&candidates.negative(i).text)
    }

    fn ids_of(c: &Candidates, ids: &mut WordIds, i: usize) -> Vec<u32> {
        let mut out = Vec::new();
        c.word_ids(i, ids, &mut out);
        out
    }

    #[test]
    fn token_lists_are_the_same_by_address_or_by_bytes() {
        let text = String::from("a dog a");
        let (first, last) = (&text[0..1], &text[6..7]);
        assert!(same_strings(&[first, "dog"], &[first, "dog"]));
        assert!(same_strings(&[first], &[last]), "equal bytes elsewhere");
        assert!(!same_strings(&[first], &["b"]));
        assert!(!same_strings(&[first], &[first, first]));
        assert!(same_strings(&[], &[]));
    }

    #[test]
    fn joins_words_by_single_spaces_a_run_at_a_time() {
        let mut joined = Joined::default();
        joined.set(&["a", "Straße", ".", "", "x"]);
        assert_eq!(joined.text, "a Straße .  x");
        assert_eq!(joined.run(1, 2), "Straße .");
        assert_eq!(joined.run(3, 3), "");
        let written = |order: &[usize]| {
            let mut out = String::from(">");
            joined.write(order, &mut out);
            out
        };
        assert_eq!(written(&[0, 1, 2, 3, 4]), ">a Straße .  x");
        assert_eq!(written(&[2, 0, 1, 4, 3]), ">. a Straße x ");
        assert_eq!(written(&[4, 4, 0]), ">x x a");
        assert_eq!(written(&[]), ">");
        joined.set(&[]);
        assert_eq!(
            (joined.text.as_str(), joined.starts.as_slice()),
            ("", &[0][..])
        );
    }

    #[test]
    fn swaps_move_the_capital_with_the_start() {
        let words = ["A", "cat", "on", "a", "table"];
        let mut c = Candidates::new(&words, &words);
        c.push_swap(NegativeKind::SwapRelation, 0..2, 3..5);
        c.push_swap(NegativeKind::SwapNoun, 4..5, 1..2);
        assert_eq!(c.negative(0).text, "A table on a cat");
        assert_eq!(c.negative(1).text, "A table on a cat");
        let words = ["I", "see", "a", "dog"];
        let mut c = Candidates::new(&words, &words);
        c.push_swap(NegativeKind::SwapNoun, 0..1, 3..4);
        assert_eq!(c.negative(0).text, "dog see a I");
    }

    #[test]
    fn word_ids_are_equal_exactly_when_normalised_texts_are() {
        let words = [
            "A", "Dog", ",", "U.S.", "dog", "u", "s", "Straße", ".", "ßig",
        ];
        let word_tokens = ["a", "dog", "U.S", "."];
        let mut c = Candidates::new(&words, &word_tokens);
        let n = words.len();
        c.push(NegativeKind::ShuffleOrder, Source::Words, 0..n);
        c.push(NegativeKind::ShuffleOrder, Source::Words, (0..n).rev());
        c.push(
            NegativeKind::ShuffleOrder,
            Source::Words,
            [0, 1, 5, 6, 4, 3],
        );
        c.push(
            NegativeKind::ShuffleOrder,
            Source::Words,
            [0, 4, 2, 3, 1, 5, 6],
        );
        c.push(NegativeKind::ShuffleOrder, Source::WordTokens, [0, 1, 2]);
        c.push(NegativeKind::ShuffleOrder, Source::WordTokens, [2, 1, 0, 3]);
        c.push_swap(NegativeKind::SwapNoun, 0..1, 7..8);
        c.push_swap(NegativeKind::SwapNoun, 1..2, 4..5);
        c.push_swap(NegativeKind::SwapNoun, 0..1, 9..10);
        c.push(
            NegativeKind::ShuffleOrder,
            Source::Words,
            [9, 1, 2, 3, 4, 5, 6, 7, 8, 0],
        );
        let mut ids = WordIds::default();
        ids.reset(&c);
        for i in 0..c.len() {
            for j in 0..c.len() {
                assert_eq!(
                    ids_of(&c, &mut ids, i) == ids_of(&c, &mut ids, j),
                    normalised_text(&c, i) == normalised_text(&c, j),
                    "{:?} vs {:?}",
                    c.negative(i),
                    c.negative(j)
                );
            }
        }
        assert_eq!(c.negative(6).text, "Straße Dog , U.S. dog u s A . ßig");
        assert_eq!(c.negative(8).text, "SSig Dog , U.S. dog u s Straße . a");
        let mut caption = Vec::new();
        ids.add_text("a dog u s", &mut caption);
        assert_eq!(caption, ids_of(&c, &mut ids, 4));
    }

    #[test]
    fn a_caption_gets_the_ids_of_its_text_whatever_its_words() {
        let words = ["It", "'s", "a", "Dog", "."];
        let c = Candidates::new(&words, &words);
        let mut ids = WordIds::default();
        for caption in [
            "It's a dog.",
            "It 's a Dog.", // spelt out by its words
            "it 's a DOG",
            "a dog it's",
            "It's a cat",
            "\u{c9}T\u{c9} dog",
        ] {
            ids.reset(&c);
            let (mut with_hints, mut without) = (Vec::new(), Vec::new());
            ids.add_caption(caption, &c, &mut with_hints);
            ids.reset(&c);
            ids.add_text(caption, &mut without);
            assert_eq!(with_hints, without, "{caption}");
        }
    }

    #[test]
    fn captions_spelt_out_by_their_tokens_normalise_as_them() {
        let tokens = ["A", "dog", "'s", ".", "", "U.S."];
        let joined = normalise_for_comparison(&tokens.join(" "));
        for (caption, spelt) in [
            ("A dog 's .  U.S.", true),
            (" A\tdog 's.U.S. ", true),
            ("A dog's . U.S.", false), // "dog's" is one word
            ("A dog 's . U.S. x", false),
            ("A dog 's x . U.S.", false),
            ("A dog 's .U.S", false),
            ("A dogs 's . U.S.", false),
            ("\u{c9} dog 's . U.S.", false),
        ] {
            assert_eq!(spells_out(caption, &tokens), spelt, "{caption:?}");
            if spelt {
                assert_eq!(normalise_for_comparison(caption), joined);
            }
        }
        assert!(spells_out("a dog.", &["a", "dog", "."]));
        assert!(spells_out("a,dog", &["a", ",", "dog"]));
        assert!(!spells_out("adog", &["a", "dog"]));
        assert!(spells_out(" . ", &[]));
        assert!(!spells_out("a", &[]));
    }

    #[test]
    fn fingerprints_ignore_ascii_case_only() {
        let print = |w: &str| w.bytes().fold(Fingerprint::default(), Fingerprint::add);
        assert_eq!(print("Dog"), print("dOG"));
        assert_eq!(print("STRASSE"), print("strasse"));
        assert_ne!(print("dog"), print("dogs"));
        assert_ne!(print("\u{c9}"), print("\u{e9}"));
    }

    #[test]
    fn one_word_tokens_have_the_fingerprint_of_their_word() {
        for token in ["Dog", "'s", "x-ray", "a"] {
            let words: Vec<_> = ascii_words_printed(token).collect();
            assert_eq!(words.len(), 1);
            assert_eq!(ascii_word_print(token), Some(words[0].1), "{token}");
        }
        for token in ["", ".", "U.S.", "a b", "Straße", "1,000"] {
            assert_eq!(ascii_word_print(token), None, "{token}");
        }
    }

    #[test]
    fn ascii_words_come_with_their_fingerprints() {
        let print = |w: &str| w.bytes().fold(Fingerprint::default(), Fingerprint::add).0;
        let words: Vec<_> = ascii_words_printed(" A\tDog,,run. ").collect();
        assert_eq!(
            words,
            [
                ("A", print("a")),
                ("Dog", print("dog")),
                ("run", print("run"))
            ]
        );
        let plain: Vec<_> = crate::negatives::compare::ascii_words(" A\tDog,,run. ").collect();
        assert_eq!(words.iter().map(|w| w.0).collect::<Vec<_>>(), plain);
        assert_eq!(ascii_words_printed(". , ").count(), 0);
    }

    #[test]
    fn tokens_with_several_or_no_words_take_the_ranges() {
        let words = ["U.S.", "dog", ","];
        let mut c = Candidates::new(&words, &words);
        c.push(NegativeKind::ShuffleOrder, Source::Words, [1, 2, 0]);
        let mut ids = WordIds::default();
        ids.reset(&c);
        assert!(!ids.words.simple);
        let mut caption = Vec::new();
        ids.add_text("dog u s", &mut caption);
        assert_eq!(ids_of(&c, &mut ids, 0), caption);
        let words = ["a", "dog", "."];
        let mut c = Candidates::new(&words, &words);
        c.push(NegativeKind::ShuffleOrder, Source::Words, [2, 1, 0]);
        ids.reset(&c);
        assert!(ids.words.simple);
        assert_eq!(ids_of(&c, &mut ids, 0), [1, 0]);
    }
}
