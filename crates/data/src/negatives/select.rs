//! Dropping useless candidates and choosing which negatives to keep.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::Negative;
use super::Word;

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
fn normalise_into<'t>(pieces: impl IntoIterator<Item = &'t str>, out: &mut String) {
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
    // ASCII's `char::is_whitespace` characters (vertical tab included), `.` and `,`.
    let separates = |b: u8| matches!(b, b' ' | b'\t'..=b'\r' | b'.' | b',');
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if separates(bytes[at]) {
            at += 1;
            continue;
        }
        let end = bytes[at..]
            .iter()
            .position(|&b| separates(b))
            .map_or(bytes.len(), |length| at + length);
        push_word(&text[at..end], start, out);
        at = end;
    }
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

/// The normalised texts seen so far, end to end in one `String`: a caption has
/// about a dozen candidates, so comparing against each is cheaper than hashing,
/// and no `String` is allocated per candidate.
#[derive(Debug, Default)]
struct SeenTexts {
    texts: String,
    /// Where each text ends in `texts` (each starts where the previous ends).
    ends: Vec<usize>,
}

impl SeenTexts {
    /// Adds the normalised form of `pieces` joined by spaces; false (and
    /// nothing added) when an equal text was already there.
    fn insert<'t>(&mut self, pieces: impl IntoIterator<Item = &'t str>) -> bool {
        let start = self.texts.len();
        normalise_into(pieces, &mut self.texts);
        let (old, new) = self.texts.split_at(start);
        let mut from = 0;
        for &end in &self.ends {
            if old[from..end] == *new {
                self.texts.truncate(start);
                return false;
            }
            from = end;
        }
        self.ends.push(self.texts.len());
        true
    }
}

/// Drops candidates equal to the caption (as written, or as the tagger's
/// tokens joined: "it's" is tokenised "it 's") and duplicates, then keeps up
/// to `per_caption`, one of each kind before a second of any kind.
pub fn select(
    caption: &str,
    words: &[Word],
    candidates: Vec<Negative>,
    per_caption: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Negative> {
    let mut seen = SeenTexts::default();
    seen.insert([caption]);
    seen.insert(words.iter().map(|w| w.word));
    let mut unique: Vec<Negative> = candidates
        .into_iter()
        .filter(|n| seen.insert([n.text.as_str()]))
        .collect();
    unique.shuffle(rng);
    let mut chosen = Vec::with_capacity(per_caption.min(unique.len()));
    // A handful of kinds: a list is cheaper than a hash set.
    let mut kinds_taken = Vec::new();
    let (first_of_kind, rest): (Vec<_>, Vec<_>) = unique.into_iter().partition(|n| {
        let new_kind = !kinds_taken.contains(&n.kind);
        if new_kind {
            kinds_taken.push(n.kind);
        }
        new_kind
    });
    for n in first_of_kind.into_iter().chain(rest) {
        if chosen.len() == per_caption {
            break;
        }
        chosen.push(n);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn seen_texts_keep_only_the_first_of_equal_texts() {
        let mut seen = SeenTexts::default();
        assert!(seen.insert(["a", "dog"]));
        assert!(seen.insert(["a dog runs"]));
        assert!(!seen.insert(["A dog."]));
        assert!(!seen.insert(["a", "dog", "runs", "."]));
        assert!(seen.insert(["a"]));
        assert!(seen.insert([""]));
        assert!(!seen.insert([", ."]));
        assert_eq!(seen.ends.len(), 4);
        assert_eq!(seen.texts, "a doga dog runsa");
    }

    #[test]
    fn drops_equal_and_duplicate_candidates_and_prefers_new_kinds() {
        let words = Vec::new();
        let c = vec![
            Negative::new("A cat on a mat", NegativeKind::SwapNoun),
            Negative::new("a mat on a cat", NegativeKind::SwapNoun),
            Negative::new("a mat on a cat .", NegativeKind::SwapRelation),
            Negative::new("a on mat cat a", NegativeKind::ShuffleOrder),
            Negative::new("cat a mat on a", NegativeKind::ShuffleOrder),
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let out = select("a cat on a mat.", &words, c.clone(), 2, &mut rng);
        assert_eq!(out.len(), 2);
        let kinds: HashSet<_> = out.iter().map(|n| n.kind).collect();
        assert_eq!(kinds.len(), 2, "{out:?}");
        let all = select("a cat on a mat.", &words, c, 10, &mut rng);
        assert_eq!(all.len(), 3);
    }
}
