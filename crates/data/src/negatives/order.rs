//! `shuffle-order`: ARO's four word-order perturbations (COCO-Order,
//! Flickr30k-Order) and the caption cleaner they are scored through.
//!
//! 1. shuffle nouns and adjectives: tokens tagged `NN NNS NNP NNPS` are
//!    permuted among the noun positions, `JJ JJR JJS` among the adjective
//!    positions; everything else stays.
//! 2. shuffle all but nouns and adjectives: every other token is permuted among
//!    its own positions; nouns and adjectives stay.
//! 3. shuffle within trigrams: Penn word tokens are cut into consecutive chunks
//!    of three (the last may be shorter), each chunk shuffled inside.
//! 4. shuffle trigrams: the same chunks, their order shuffled.
//!
//! Perturbations 1–2 use the tagger's tokens, 3–4 its word tokenizer, and all
//! join tokens with single spaces. Unlike the reference, each perturbation
//! reports whether it left the cleaned caption unchanged (a one-noun caption
//! cannot be changed by perturbation 1), so an evaluation can count them.

use std::fmt;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{Negative, NegativeKind, PosTagger, Word};

/// Which of the four perturbations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderKind {
    ShuffleNounsAdjectives,
    ShuffleAllButNounsAdjectives,
    ShuffleWithinTrigrams,
    ShuffleTrigrams,
}

impl OrderKind {
    /// The four, in ARO's order (the option order of an Order test item).
    pub const ALL: [OrderKind; 4] = [
        OrderKind::ShuffleNounsAdjectives,
        OrderKind::ShuffleAllButNounsAdjectives,
        OrderKind::ShuffleWithinTrigrams,
        OrderKind::ShuffleTrigrams,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::ShuffleNounsAdjectives => "shuffle-nouns-adjectives",
            OrderKind::ShuffleAllButNounsAdjectives => "shuffle-all-but-nouns-adjectives",
            OrderKind::ShuffleWithinTrigrams => "shuffle-within-trigrams",
            OrderKind::ShuffleTrigrams => "shuffle-trigrams",
        }
    }
}

impl fmt::Display for OrderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One perturbed caption, already passed through [`clean_caption`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPerturbation {
    pub kind: OrderKind,
    /// The cleaned perturbed caption, as the model scores it.
    pub text: String,
    /// True when `text` equals the cleaned original caption.
    pub unchanged: bool,
}

const CLEANED_CHARS: [char; 10] = ['.', '!', '"', '(', ')', '*', '#', ':', ';', '~'];
const MAX_WORDS: usize = 30;

/// ARO's caption cleaner: lower-case; each of `. ! " ( ) * # : ; ~` becomes a
/// space; whitespace runs collapse; ends are stripped; the first 30 words
/// are kept.
pub fn clean_caption(caption: &str) -> String {
    let lowered = caption.to_lowercase().replace(CLEANED_CHARS, " ");
    lowered
        .split_whitespace()
        .take(MAX_WORDS)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The four perturbations of `caption`, cleaned, in ARO's order.
///
/// The original option of an Order item is `clean_caption(caption)`; the four
/// others are these. The random choices come from `rng` only.
pub fn order_perturbations(
    caption: &str,
    tagger: &dyn PosTagger,
    rng: &mut ChaCha8Rng,
) -> [OrderPerturbation; 4] {
    let tagged = tagger.tag(caption);
    let words: Vec<Word> = tagged.iter().map(Word::from).collect();
    let word_tokens = tagger.word_tokenize(caption);
    let tokens: Vec<&str> = word_tokens.iter().map(String::as_str).collect();
    let original = clean_caption(caption);
    raw_perturbations(&words, &tokens, rng).map(|(kind, raw)| {
        let text = clean_caption(&raw);
        OrderPerturbation {
            kind,
            unchanged: text == original,
            text,
        }
    })
}

/// The four perturbed captions before cleaning, tokens joined by spaces.
pub fn raw_perturbations(
    words: &[Word],
    tokens: &[&str],
    rng: &mut ChaCha8Rng,
) -> [(OrderKind, String); 4] {
    let tagged: Vec<&str> = words.iter().map(|w| w.word).collect();
    let class: Vec<WordClass> = words.iter().map(|w| WordClass::of(w.xpos)).collect();
    [
        (
            OrderKind::ShuffleNounsAdjectives,
            shuffle_classes(
                &tagged,
                &class,
                &[WordClass::Noun, WordClass::Adjective],
                rng,
            ),
        ),
        (
            OrderKind::ShuffleAllButNounsAdjectives,
            shuffle_classes(&tagged, &class, &[WordClass::Other], rng),
        ),
        (
            OrderKind::ShuffleWithinTrigrams,
            shuffle_within_trigrams(tokens, rng),
        ),
        (OrderKind::ShuffleTrigrams, shuffle_trigrams(tokens, rng)),
    ]
}

/// The shuffle-order negatives of a tagged caption, before cleaning: the
/// trainer sees them with the caption's own casing and punctuation.
pub fn rewrite(words: &[Word], word_tokens: &[&str], rng: &mut ChaCha8Rng) -> Vec<Negative> {
    raw_perturbations(words, word_tokens, rng)
        .into_iter()
        .map(|(_, text)| Negative::new(text, NegativeKind::ShuffleOrder))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WordClass {
    Noun,
    Adjective,
    Other,
}

impl WordClass {
    fn of(xpos: &str) -> Self {
        match xpos {
            "NN" | "NNS" | "NNP" | "NNPS" => WordClass::Noun,
            "JJ" | "JJR" | "JJS" => WordClass::Adjective,
            _ => WordClass::Other,
        }
    }
}

/// Permutes, for each class in `shuffled` separately, the tokens of that class
/// among that class's positions.
fn shuffle_classes(
    tokens: &[&str],
    class: &[WordClass],
    shuffled: &[WordClass],
    rng: &mut ChaCha8Rng,
) -> String {
    let mut out = tokens.to_vec();
    for &c in shuffled {
        let positions: Vec<usize> = (0..tokens.len()).filter(|&i| class[i] == c).collect();
        let mut picked: Vec<&str> = positions.iter().map(|&i| tokens[i]).collect();
        picked.shuffle(rng);
        for (&i, word) in positions.iter().zip(picked) {
            out[i] = word;
        }
    }
    out.join(" ")
}

fn shuffle_within_trigrams(tokens: &[&str], rng: &mut ChaCha8Rng) -> String {
    let mut out = Vec::with_capacity(tokens.len());
    for chunk in tokens.chunks(3) {
        let mut chunk = chunk.to_vec();
        chunk.shuffle(rng);
        out.extend(chunk);
    }
    out.join(" ")
}

fn shuffle_trigrams(tokens: &[&str], rng: &mut ChaCha8Rng) -> String {
    let mut chunks: Vec<&[&str]> = tokens.chunks(3).collect();
    chunks.shuffle(rng);
    chunks.concat().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::test_support::{tagged, LexiconTagger};
    use rand::SeedableRng;

    fn sorted(text: &str) -> Vec<String> {
        let mut v: Vec<String> = text.split(' ').map(str::to_string).collect();
        v.sort();
        v
    }

    #[test]
    fn cleaner_follows_aro() {
        assert_eq!(
            clean_caption("  A (red) Car: parked; on the ~road!  \"Now\"* #1. "),
            "a red car parked on the road now 1"
        );
        let long = "word ".repeat(40);
        assert_eq!(clean_caption(&long).split(' ').count(), 30);
        assert_eq!(clean_caption(""), "");
        // Commas and apostrophes are kept, as in the reference.
        assert_eq!(clean_caption("A dog, it's."), "a dog, it's");
    }

    #[test]
    fn nouns_and_adjectives_move_only_among_their_own_positions() {
        let w = tagged("a/DT/DET red/JJ/ADJ car/NN/NOUN near/IN/ADP a/DT/DET big/JJ/ADJ tree/NN/NOUN and/CC/CCONJ the/DT/DET dogs/NNS/NOUN");
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..20 {
            let text = shuffle_classes(
                &w.iter().map(|w| w.word).collect::<Vec<_>>(),
                &w.iter().map(|w| WordClass::of(w.xpos)).collect::<Vec<_>>(),
                &[WordClass::Noun, WordClass::Adjective],
                &mut rng,
            );
            let out: Vec<&str> = text.split(' ').collect();
            for i in [0, 3, 4, 7, 8] {
                assert_eq!(out[i], w[i].word);
            }
            assert!(["red", "big"].contains(&out[1]) && ["red", "big"].contains(&out[5]));
            assert!(["car", "tree", "dogs"].contains(&out[2]));
        }
    }

    #[test]
    fn perturbation_two_keeps_nouns_and_adjectives_in_place() {
        let w = tagged(
            "a/DT/DET red/JJ/ADJ car/NN/NOUN is/VBZ/AUX near/IN/ADP the/DT/DET tree/NN/NOUN",
        );
        let tokens: Vec<&str> = w.iter().map(|w| w.word).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let [_, (_, two), _, _] = raw_perturbations(&w, &tokens, &mut rng);
        let out: Vec<&str> = two.split(' ').collect();
        assert_eq!((out[1], out[2], out[6]), ("red", "car", "tree"));
        assert_eq!(sorted(&two), sorted("a red car is near the tree"));
    }

    #[test]
    fn trigram_perturbations_respect_chunks() {
        let tokens = ["a", "b", "c", "d", "e", "f", "g"];
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..20 {
            let within = shuffle_within_trigrams(&tokens, &mut rng);
            let w: Vec<&str> = within.split(' ').collect();
            assert_eq!(sorted(&w[..3].join(" ")), ["a", "b", "c"]);
            assert_eq!(sorted(&w[3..6].join(" ")), ["d", "e", "f"]);
            assert_eq!(w[6], "g");
            let across = shuffle_trigrams(&tokens, &mut rng);
            let pieces = ["a b c", "d e f", "g"];
            let mut rebuilt = across.clone();
            for p in pieces {
                assert!(across.contains(p));
                rebuilt = rebuilt.replacen(p, "", 1);
            }
            assert_eq!(rebuilt.trim(), "");
        }
    }

    #[test]
    fn flags_perturbations_that_change_nothing() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let out = order_perturbations("A dog.", &LexiconTagger, &mut rng);
        // One noun, no adjective: perturbation 1 cannot change anything.
        assert_eq!(out[0].kind, OrderKind::ShuffleNounsAdjectives);
        assert!(out[0].unchanged);
        assert_eq!(out[0].text, "a dog");
        let out = order_perturbations(
            "A red car is parked next to a small white house on the street.",
            &LexiconTagger,
            &mut rng,
        );
        assert!(out.iter().all(|p| !p.unchanged), "{out:?}");
        assert!(out.iter().all(|p| !p.text.contains('.')));
    }

    #[test]
    fn same_seed_same_perturbations() {
        let caption = "Two dogs are playing with a red ball on the green grass.";
        let a = order_perturbations(caption, &LexiconTagger, &mut ChaCha8Rng::seed_from_u64(4));
        let b = order_perturbations(caption, &LexiconTagger, &mut ChaCha8Rng::seed_from_u64(4));
        assert_eq!(a, b);
    }
}
