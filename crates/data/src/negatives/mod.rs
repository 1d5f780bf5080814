//! Hard-negative caption rewriters.
//!
//! A hard negative is a caption that uses (almost) the same words as the true
//! caption but no longer describes the image: two attributes, two relation
//! arguments, two nouns, ... swapped, or the word order shuffled. NegCLIP trains
//! on such captions so that CLIP stops behaving like a bag of words.
//!
//! Every rewriter works on an already tagged caption (`&[TaggedWord]`), so the
//! caption is tagged once and all rewriters share the tags. The tagger itself is
//! reached through the [`PosTagger`] trait.

pub mod bench_corpus;
pub mod chunks;
mod kind;
pub mod order;
mod select;
mod swap;
pub mod swap_attribute;
pub mod swap_relation;
pub mod unit_swaps;

#[cfg(test)]
mod properties;
#[cfg(test)]
pub(crate) mod test_support;

use rand_chacha::ChaCha8Rng;

use crate::tagger::TaggedWord;

pub use kind::{NegativeKind, ParseKindError};
pub use order::{clean_caption, order_perturbations, OrderKind, OrderPerturbation};
pub use select::{is_same_caption, normalise_for_comparison};

/// The part-of-speech tagger the rewriters need.
///
/// `tag` gives each token of `text` a Universal and a Penn Treebank tag;
/// `word_tokenize` splits `text` into Penn-style word tokens (punctuation split
/// off), which the trigram order perturbations use.
pub trait PosTagger: Sync {
    fn tag(&self, text: &str) -> Vec<TaggedWord>;
    fn word_tokenize(&self, text: &str) -> Vec<String>;
}

impl PosTagger for crate::tagger::Tagger {
    fn tag(&self, text: &str) -> Vec<TaggedWord> {
        crate::tagger::Tagger::tag(self, text)
    }

    fn word_tokenize(&self, text: &str) -> Vec<String> {
        crate::tagger::word_tokenize(text)
    }
}

/// The tagger that ships inside the crate (trained on UD English-EWT), as the rewriters
/// take it.
pub fn shipped_tagger() -> &'static dyn PosTagger {
    crate::tagger::Tagger::shipped()
}

/// ARO's four order perturbations of `caption` by the shipped tagger, as texts: the
/// perturbation every order suite (COCO-Order, Flickr30k-Order, Synth-Order) uses unless a
/// test supplies its own.
pub fn default_order_perturbations(
    caption: &str,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Vec<String> {
    order_perturbations(caption, shipped_tagger(), rng)
        .into_iter()
        .map(|p| p.text)
        .collect()
}

/// One hard-negative caption and the rewrite that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Negative {
    pub text: String,
    pub kind: NegativeKind,
}

impl Negative {
    pub fn new(text: impl Into<String>, kind: NegativeKind) -> Self {
        Self {
            text: text.into(),
            kind,
        }
    }
}

/// Tags `caption` once, runs the rewriters in `kinds`, drops candidates equal to
/// the caption and duplicates, and returns at most `per_caption` negatives.
///
/// The selection prefers distinct kinds: one negative of each kind (in random
/// order) before a second one of any kind, so that `--per-caption 3` with six
/// kinds gives three different rewrites rather than three of the commonest kind.
pub fn generate(
    caption: &str,
    tagger: &dyn PosTagger,
    kinds: &[NegativeKind],
    per_caption: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Negative> {
    if per_caption == 0 || kinds.is_empty() {
        return Vec::new();
    }
    let words = tagger.tag(caption);
    let word_tokens = kinds
        .contains(&NegativeKind::ShuffleOrder)
        .then(|| tagger.word_tokenize(caption));
    generate_tagged(
        caption,
        &words,
        word_tokens.as_deref(),
        kinds,
        per_caption,
        rng,
    )
}

/// [`generate`] on a caption already tagged (`words`) and, for
/// [`NegativeKind::ShuffleOrder`], word-tokenised (`word_tokens`).
pub fn generate_tagged(
    caption: &str,
    words: &[TaggedWord],
    word_tokens: Option<&[String]>,
    kinds: &[NegativeKind],
    per_caption: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Negative> {
    if per_caption == 0 || kinds.is_empty() {
        return Vec::new();
    }
    let mut candidates = Vec::new();
    for &kind in kinds {
        candidates.extend(rewrite(kind, words, word_tokens, rng));
    }
    select::select(caption, words, candidates, per_caption, rng)
}

/// Runs one rewriter on a tagged caption. `word_tokens` is only read by
/// [`NegativeKind::ShuffleOrder`]; without it, that kind gives nothing.
pub fn rewrite(
    kind: NegativeKind,
    words: &[TaggedWord],
    word_tokens: Option<&[String]>,
    rng: &mut ChaCha8Rng,
) -> Vec<Negative> {
    match kind {
        NegativeKind::SwapAttribute => swap_attribute::rewrite(words, rng),
        NegativeKind::SwapRelation => swap_relation::rewrite(words, rng),
        NegativeKind::SwapNounPhrase => unit_swaps::swap_noun_phrase(words, rng),
        NegativeKind::SwapVerbPhrase => unit_swaps::swap_verb_phrase(words, rng),
        NegativeKind::SwapNoun => unit_swaps::swap_noun(words, rng),
        NegativeKind::SwapPluralNoun => unit_swaps::swap_plural_noun(words, rng),
        NegativeKind::SwapAdverb => unit_swaps::swap_adverb(words, rng),
        NegativeKind::SwapAdjective => unit_swaps::swap_adjective(words, rng),
        NegativeKind::ShuffleOrder => match word_tokens {
            Some(tokens) => order::rewrite(words, tokens, rng),
            None => Vec::new(),
        },
        NegativeKind::External => Vec::new(),
    }
}
