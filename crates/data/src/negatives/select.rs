//! Dropping useless candidates and choosing which negatives to keep.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::candidates::{Candidates, WordIds};
use super::Negative;

/// The form captions are compared in: lower-case, `.` and `,` removed, words
/// separated by single spaces. The NegCLIP script drops a candidate equal to
/// its caption ignoring "." "," and spacing; lower-casing also catches a swap
/// that only moved a capital.
pub fn normalise_for_comparison(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalise_into([text], &mut out);
    out
}

/// Appends the [`normalise_for_comparison`] form of `pieces` joined by spaces
/// to `out`, without building the joined text.
///
/// Lower-casing each piece alone equals lower-casing the joined text: the only
/// context-dependent mapping (final sigma) looks no further than a space.
pub(super) fn normalise_into<'t>(pieces: impl IntoIterator<Item = &'t str>, out: &mut String) {
    let start = out.len();
    for piece in pieces {
        if piece.is_ascii() {
            // The common case: ASCII lower-casing is the full lower-casing, and
            // the text can be scanned as bytes.
            push_ascii_words(piece, start, out);
        } else {
            let lower = piece.to_lowercase();
            let words = lower
                .split(|c: char| c.is_whitespace() || c == '.' || c == ',')
                .filter(|w| !w.is_empty());
            for word in words {
                push_word(word, start, out);
            }
        }
    }
}

/// The words of an ASCII `text`, as [`normalise_into`] writes them. A byte scan
/// for word ends, then one copy per word: several times faster than splitting
/// on `char`s and pushing them one by one.
fn push_ascii_words(text: &str, start: usize, out: &mut String) {
    for word in ascii_words(text) {
        push_word(word, start, out);
    }
}

/// The words of an ASCII `text` as [`normalise_into`] splits them, not yet
/// lower-cased.
pub(super) fn ascii_words(text: &str) -> impl Iterator<Item = &str> {
    let separates = |b: &u8| separates(*b);
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        at += bytes[at..].iter().take_while(|b| separates(b)).count();
        if at == bytes.len() {
            return None;
        }
        let start = at;
        at += bytes[at..].iter().take_while(|b| !separates(b)).count();
        Some(&text[start..at])
    })
}

/// Whether an ASCII byte separates words in [`normalise_into`]: ASCII's
/// `char::is_whitespace` characters (vertical tab included), `.` and `,`.
pub(super) fn separates(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t'..=b'\r' | b'.' | b',')
}

/// Appends `word`, ASCII-lower-cased, after a space unless it is the first word
/// since `start`.
fn push_word(word: &str, start: usize, out: &mut String) {
    if out.len() > start {
        out.push(' ');
    }
    let at = out.len();
    out.push_str(word);
    out[at..].make_ascii_lowercase();
}

/// True when `negative` is `caption` after [`normalise_for_comparison`].
pub fn is_same_caption(caption: &str, negative: &str) -> bool {
    normalise_for_comparison(caption) == normalise_for_comparison(negative)
}

/// What [`select`] needs besides the candidates, kept between captions so that
/// selecting allocates nothing but the negatives.
#[derive(Debug, Default)]
pub struct Buffers {
    ids: WordIds,
    seen: Seen,
    unique: Vec<usize>,
    first_of_kind: Vec<usize>,
}

/// The texts seen so far as [`WordIds`] sequences, end to end in one vector: a
/// caption has about a dozen candidates, so comparing against each is cheaper
/// than hashing.
#[derive(Debug, Default)]
struct Seen {
    ids: Vec<u32>,
    /// Where each text ends in `ids` (each starts where the previous ends).
    ends: Vec<usize>,
}

impl Seen {
    fn clear(&mut self) {
        self.ids.clear();
        self.ends.clear();
    }

    /// Adds the text `write` appends; false (and nothing added) when an equal
    /// text was already there.
    fn insert(&mut self, write: impl FnOnce(&mut Vec<u32>)) -> bool {
        let start = self.ids.len();
        write(&mut self.ids);
        let (old, new) = self.ids.split_at(start);
        let mut from = 0;
        for &end in &self.ends {
            if old[from..end] == *new {
                self.ids.truncate(start);
                return false;
            }
            from = end;
        }
        self.ends.push(self.ids.len());
        true
    }
}

/// Drops candidates equal to the caption (as written, or as the tagger's
/// tokens joined: "it's" is tokenised "it 's") and duplicates, then keeps up
/// to `per_caption`, one of each kind before a second of any kind. Only the
/// kept candidates are written out.
pub fn select(
    caption: &str,
    candidates: &Candidates,
    per_caption: usize,
    rng: &mut ChaCha8Rng,
    buffers: &mut Buffers,
) -> Vec<Negative> {
    let Buffers {
        ids,
        seen,
        unique,
        first_of_kind,
    } = buffers;
    ids.reset(candidates);
    seen.clear();
    seen.insert(|out| ids.add_caption(caption, candidates, out));
    seen.insert(|out| ids.add_words(out));
    unique.clear();
    unique.extend(
        (0..candidates.len()).filter(|&i| seen.insert(|out| candidates.word_ids(i, ids, out))),
    );
    unique.shuffle(rng);
    // The first candidate of each kind (in the shuffled order) goes first, then
    // the rest in order; the kinds taken are bits of one integer.
    let mut kinds_taken = 0u32;
    let mut is_first = |i: &usize| {
        let bit = 1 << candidates.kind(*i) as u32;
        let new_kind = kinds_taken & bit == 0;
        kinds_taken |= bit;
        new_kind
    };
    first_of_kind.clear();
    first_of_kind.extend(unique.iter().copied().filter(&mut is_first));
    // Candidates are distinct indices, so membership tells the rest apart.
    let rest = unique.iter().filter(|i| !first_of_kind.contains(i));
    let mut negatives = Vec::with_capacity(per_caption.min(unique.len()));
    let kept = first_of_kind.iter().chain(rest).take(per_caption);
    negatives.extend(kept.map(|&i| candidates.negative(i)));
    negatives
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::candidates::Source;
    use crate::negatives::NegativeKind;
    use rand::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn comparison_ignores_case_periods_commas_and_spacing() {
        assert!(is_same_caption("A dog, running.", "a dog running"));
        assert!(is_same_caption("a  dog", "a dog ."));
        assert!(!is_same_caption("a dog", "a god"));
        assert_eq!(normalise_for_comparison(" A\tDog,,run. "), "a dog run");
        assert_eq!(
            normalise_for_comparison("\u{c9}T\u{c9},\u{a0}x"),
            "\u{e9}t\u{e9} x"
        );
        assert_eq!(normalise_for_comparison(". , "), "");
        // Every ASCII character `char::is_whitespace` knows separates words.
        assert_eq!(
            normalise_for_comparison("a\tb\nc\x0bd\x0ce\rf g"),
            "a b c d e f g"
        );
    }

    #[test]
    fn pieces_normalise_as_their_joined_text() {
        let mut out = String::new();
        normalise_into(
            ["A", "DOG", ",", "\u{c9}T\u{c9}", "it", "'s", "."],
            &mut out,
        );
        assert_eq!(
            out,
            normalise_for_comparison("A DOG , \u{c9}T\u{c9} it 's .")
        );
        // Final sigma is decided within the word, as in the joined text.
        let mut out = String::new();
        normalise_into(["\u{391}\u{3a3}", "\u{3a3}\u{391}"], &mut out);
        assert_eq!(out, "\u{3b1}\u{3c2} \u{3c3}\u{3b1}");
        assert_eq!(
            out,
            normalise_for_comparison("\u{391}\u{3a3} \u{3a3}\u{391}")
        );
    }

    #[test]
    fn seen_keeps_only_the_first_of_equal_texts() {
        let mut seen = Seen::default();
        assert!(seen.insert(|out| out.extend([1, 2])));
        assert!(seen.insert(|out| out.extend([1, 2, 3])));
        assert!(!seen.insert(|out| out.extend([1, 2])));
        assert!(seen.insert(|_| {}));
        assert!(!seen.insert(|_| {}));
        assert!(seen.insert(|out| out.push(1)));
        assert_eq!(seen.ends, [2, 5, 5, 6]);
    }

    #[test]
    fn drops_equal_and_duplicate_candidates_and_prefers_new_kinds() {
        let words = ["a", "cat", "on", "a", "mat", "."];
        let mut c = Candidates::new(&words, &words);
        c.push(NegativeKind::SwapNoun, Source::Words, [0, 1, 2, 3, 4]); // the caption
        c.push(NegativeKind::SwapNoun, Source::Words, [0, 4, 2, 3, 1]);
        c.push(
            NegativeKind::SwapRelation,
            Source::Words,
            [0, 4, 2, 3, 1, 5],
        );
        c.push(NegativeKind::ShuffleOrder, Source::Words, [0, 2, 4, 1, 3]);
        c.push(
            NegativeKind::ShuffleOrder,
            Source::WordTokens,
            [1, 0, 4, 2, 3],
        );
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut buffers = Buffers::default();
        let out = select("a cat on a mat.", &c, 2, &mut rng, &mut buffers);
        assert_eq!(out.len(), 2);
        let kinds: HashSet<_> = out.iter().map(|n| n.kind).collect();
        assert_eq!(kinds.len(), 2, "{out:?}");
        let all = select("A cat, on a mat", &c, 10, &mut rng, &mut buffers);
        assert_eq!(all.len(), 3, "{all:?}");
    }
}
