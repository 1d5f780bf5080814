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

use super::candidates::{Candidates, Source};
use super::kind::NegativeKind;
use super::tags::{tags_of, Tags};
use super::word::{shipped_tagger, PosTagger, Word};

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

/// ARO's four order perturbations of `caption` by the shipped tagger, as texts: the
/// perturbation every order suite (COCO-Order, Flickr30k-Order, Synth-Order) uses unless a
/// test supplies its own.
pub fn default_order_perturbations(caption: &str, rng: &mut ChaCha8Rng) -> Vec<String> {
    order_perturbations(caption, shipped_tagger(), rng)
        .into_iter()
        .map(|p| p.text)
        .collect()
}

/// The four perturbed captions before cleaning, tokens joined by spaces.
pub fn raw_perturbations(
    words: &[Word],
    tokens: &[&str],
    rng: &mut ChaCha8Rng,
) -> [(OrderKind, String); 4] {
    perturbation_orders(&tags_of(words), tokens.len(), rng).map(|(kind, order)| {
        let source: Vec<&str> = match source_of(kind) {
            Source::Words => words.iter().map(|w| w.word).collect(),
            Source::WordTokens => tokens.to_vec(),
        };
        let text: Vec<&str> = order.into_iter().map(|k| source[k]).collect();
        (kind, text.join(" "))
    })
}

/// Perturbations 1–2 rearrange the tagged words, 3–4 the word tokens.
fn source_of(kind: OrderKind) -> Source {
    match kind {
        OrderKind::ShuffleNounsAdjectives | OrderKind::ShuffleAllButNounsAdjectives => {
            Source::Words
        }
        OrderKind::ShuffleWithinTrigrams | OrderKind::ShuffleTrigrams => Source::WordTokens,
    }
}

/// The four perturbations as token orders, in ARO's order: indices into the
/// words (of `tags`) for 1–2 and into the `n_word_tokens` word tokens for 3–4.
fn perturbation_orders(
    tags: &[Tags],
    n_word_tokens: usize,
    rng: &mut ChaCha8Rng,
) -> [(OrderKind, Vec<usize>); 4] {
    let mut scratch = Vec::new();
    OrderKind::ALL.map(|kind| {
        let mut order = Vec::new();
        perturbation_order(kind, tags, n_word_tokens, rng, &mut order, &mut scratch);
        (kind, order)
    })
}

/// Appends the token order of perturbation `kind` (as [`perturbation_orders`])
/// to `out`; `scratch` is working space. Writing into vectors the caller keeps
/// saves the rewriter a dozen small allocations per caption.
fn perturbation_order(
    kind: OrderKind,
    tags: &[Tags],
    n_word_tokens: usize,
    rng: &mut ChaCha8Rng,
    out: &mut Vec<usize>,
    scratch: &mut Vec<usize>,
) {
    use WordClass::{Adjective, Noun, Other};
    match kind {
        OrderKind::ShuffleNounsAdjectives => {
            shuffle_classes(tags, &[Noun, Adjective], rng, out, scratch)
        }
        OrderKind::ShuffleAllButNounsAdjectives => {
            shuffle_classes(tags, &[Other], rng, out, scratch)
        }
        OrderKind::ShuffleWithinTrigrams => shuffle_within_trigrams(n_word_tokens, rng, out),
        OrderKind::ShuffleTrigrams => shuffle_trigrams(n_word_tokens, rng, out, scratch),
    }
}

/// Adds the shuffle-order negatives of a tagged caption (its words' `tags`)
/// to `out` (whose word tokens are the caption's), before cleaning: the
/// trainer sees them with the caption's own casing and punctuation.
pub fn rewrite(tags: &[Tags], rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let n_word_tokens = out.word_tokens_len();
    for kind in OrderKind::ALL {
        out.push_with(
            NegativeKind::ShuffleOrder,
            source_of(kind),
            |order, scratch| perturbation_order(kind, tags, n_word_tokens, rng, order, scratch),
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WordClass {
    Noun,
    Adjective,
    Other,
}

impl WordClass {
    /// By the Penn Treebank tag: `NN NNS NNP NNPS`, `JJ JJR JJS`, the rest.
    fn of(tags: Tags) -> Self {
        const NOUNS: Tags = Tags::NN.or(Tags::NNS).or(Tags::NNP).or(Tags::NNPS);
        const ADJECTIVES: Tags = Tags::JJ.or(Tags::JJR).or(Tags::JJS);
        if tags.any(NOUNS) {
            WordClass::Noun
        } else if tags.any(ADJECTIVES) {
            WordClass::Adjective
        } else {
            WordClass::Other
        }
    }
}

/// Appends the order that permutes, for each class in `shuffled` separately,
/// the tokens of that class among that class's positions.
fn shuffle_classes(
    tags: &[Tags],
    shuffled: &[WordClass],
    rng: &mut ChaCha8Rng,
    out: &mut Vec<usize>,
    scratch: &mut Vec<usize>,
) {
    let start = out.len();
    out.extend(0..tags.len());
    for &c in shuffled {
        // The class's positions, then the same positions shuffled.
        scratch.clear();
        scratch.extend((0..tags.len()).filter(|&i| WordClass::of(tags[i]) == c));
        let count = scratch.len();
        scratch.extend_from_within(..);
        scratch[count..].shuffle(rng);
        let (positions, picked) = scratch.split_at(count);
        for (&i, &k) in positions.iter().zip(picked) {
            out[start + i] = k;
        }
    }
}

/// Appends the order of `n` tokens cut into chunks of three, each shuffled inside.
fn shuffle_within_trigrams(n: usize, rng: &mut ChaCha8Rng, out: &mut Vec<usize>) {
    let start = out.len();
    out.extend(0..n);
    for chunk in out[start..].chunks_mut(3) {
        chunk.shuffle(rng);
    }
}

/// Appends the order of `n` tokens cut into chunks of three, the chunks
/// shuffled (as their starts: a shuffle's permutation depends only on the length).
fn shuffle_trigrams(
    n: usize,
    rng: &mut ChaCha8Rng,
    out: &mut Vec<usize>,
    scratch: &mut Vec<usize>,
) {
    scratch.clear();
    scratch.extend((0..n).step_by(3));
    scratch.shuffle(rng);
    for &chunk in scratch.iter() {
        out.extend(chunk..(chunk + 3).min(n));
    }
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
            let mut order = Vec::new();
            shuffle_classes(
                &tags_of(&w),
                &[WordClass::Noun, WordClass::Adjective],
                &mut rng,
                &mut order,
                &mut Vec::new(),
            );
            let out: Vec<&str> = order.into_iter().map(|k| w[k].word).collect();
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
            let text = |order: Vec<usize>| -> String {
                let words: Vec<&str> = order.into_iter().map(|k| tokens[k]).collect();
                words.join(" ")
            };
            let mut within = Vec::new();
            shuffle_within_trigrams(tokens.len(), &mut rng, &mut within);
            let within = text(within);
            let w: Vec<&str> = within.split(' ').collect();
            assert_eq!(sorted(&w[..3].join(" ")), ["a", "b", "c"]);
            assert_eq!(sorted(&w[3..6].join(" ")), ["d", "e", "f"]);
            assert_eq!(w[6], "g");
            let mut across = Vec::new();
            shuffle_trigrams(tokens.len(), &mut rng, &mut across, &mut Vec::new());
            let across = text(across);
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
    fn orders_append_after_what_is_there() {
        let w = tagged("a/DT/DET red/JJ/ADJ car/NN/NOUN near/IN/ADP big/JJ/ADJ trees/NNS/NOUN");
        for kind in OrderKind::ALL {
            let (mut alone, mut after) = (Vec::new(), vec![7, 7]);
            let mut scratch = vec![9; 4];
            perturbation_order(
                kind,
                &tags_of(&w),
                5,
                &mut ChaCha8Rng::seed_from_u64(1),
                &mut alone,
                &mut Vec::new(),
            );
            perturbation_order(
                kind,
                &tags_of(&w),
                5,
                &mut ChaCha8Rng::seed_from_u64(1),
                &mut after,
                &mut scratch,
            );
            assert_eq!(after[..2], [7, 7]);
            assert_eq!(after[2..], alone, "{kind}");
        }
    }

    #[test]
    fn same_seed_same_perturbations() {
        let caption = "Two dogs are playing with a red ball on the green grass.";
        let a = order_perturbations(caption, &LexiconTagger, &mut ChaCha8Rng::seed_from_u64(4));
        let b = order_perturbations(caption, &LexiconTagger, &mut ChaCha8Rng::seed_from_u64(4));
        assert_eq!(a, b);
    }
}
