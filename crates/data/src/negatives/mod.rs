//! Hard-negative caption rewriters.
//!
//! A hard negative is a caption that uses (almost) the same words as the true
//! caption but no longer describes the image: two attributes, two relation
//! arguments, two nouns, ... swapped, or the word order shuffled. NegCLIP trains
//! on such captions so that CLIP stops behaving like a bag of words.
//!
//! Every rewriter works on an already tagged caption (`&[Word]`, borrowed from
//! the tagger's output), so the caption is tagged once and all rewriters share
//! the tags. The tagger itself is reached through the [`PosTagger`] trait.

mod analysis;
pub mod bench_corpus;
mod candidates;
pub mod chunks;
mod kind;
pub mod order;
mod select;
mod swap;
pub mod swap_attribute;
pub mod swap_relation;
mod tags;
pub mod unit_swaps;

#[cfg(test)]
mod properties;
#[cfg(test)]
pub(crate) mod test_support;

use rand_chacha::ChaCha8Rng;

use crate::tagger::TaggedWord;

pub use analysis::Analysis;
use candidates::Candidates;
pub use kind::{NegativeKind, ParseKindError};
pub use order::{clean_caption, order_perturbations, OrderKind, OrderPerturbation};
pub use select::{is_same_caption, normalise_for_comparison};

/// A tagged word as the rewriters read it: borrowed from the tagger's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word<'a> {
    pub word: &'a str,
    /// Universal POS tag (`NOUN`, `ADJ`, ...).
    pub upos: &'a str,
    /// Penn Treebank tag (`NN`, `JJ`, ...).
    pub xpos: &'a str,
}

impl<'a> From<&'a TaggedWord> for Word<'a> {
    fn from(w: &'a TaggedWord) -> Self {
        Word {
            word: &w.word,
            upos: &w.upos,
            xpos: &w.xpos,
        }
    }
}

/// What [`PosTagger::with_words`] calls: the tagged words and, when asked for,
/// the word tokens.
pub type WordsVisitor<'v> = dyn FnMut(&[Word], Option<&[&str]>) + 'v;

/// The part-of-speech tagger the rewriters need.
///
/// `tag` gives each token of `text` a Universal and a Penn Treebank tag;
/// `word_tokenize` splits `text` into Penn-style word tokens (punctuation split
/// off), which the trigram order perturbations use.
pub trait PosTagger: Sync {
    fn tag(&self, text: &str) -> Vec<TaggedWord>;
    fn word_tokenize(&self, text: &str) -> Vec<String>;

    /// Tags `text` and calls `visit` with its tagged words and, when
    /// `with_word_tokens`, its word tokens, both borrowed for the call. The default
    /// goes through [`PosTagger::tag`] and [`PosTagger::word_tokenize`]; a tagger
    /// overrides it to save allocating a `String` per word.
    fn with_words(&self, text: &str, with_word_tokens: bool, visit: &mut WordsVisitor) {
        let tagged = self.tag(text);
        let words: Vec<Word> = tagged.iter().map(Word::from).collect();
        let word_tokens = with_word_tokens.then(|| self.word_tokenize(text));
        let tokens: Option<Vec<&str>> = word_tokens
            .as_ref()
            .map(|t| t.iter().map(String::as_str).collect());
        visit(&words, tokens.as_deref());
    }
}

impl PosTagger for crate::tagger::Tagger {
    fn tag(&self, text: &str) -> Vec<TaggedWord> {
        crate::tagger::Tagger::tag(self, text)
    }

    fn word_tokenize(&self, text: &str) -> Vec<String> {
        crate::tagger::word_tokenize(text)
    }

    /// The tagger's tokens are the word tokens, so one tokenisation serves both.
    /// The words go in a vector kept per thread.
    fn with_words(&self, text: &str, with_word_tokens: bool, visit: &mut WordsVisitor) {
        self.with_tags(text, |tokens, tags| {
            // Taken out while in use: a nested call starts from an empty vector.
            let mut words: Vec<Word> = crate::tagger::recycle(WORDS.take());
            let tagged = tokens.iter().zip(tags);
            words.extend(tagged.map(|(&word, &(upos, xpos))| Word { word, upos, xpos }));
            visit(&words, with_word_tokens.then_some(tokens));
            WORDS.set(crate::tagger::recycle(words));
        });
    }
}

thread_local! {
    /// The vector of [`PosTagger::with_words`]' words, kept empty between
    /// captions as `'static` borrows ([`recycle`](crate::tagger::recycle)).
    static WORDS: std::cell::Cell<Vec<Word<'static>>> = const { std::cell::Cell::new(Vec::new()) };
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
    let with_word_tokens = kinds.contains(&NegativeKind::ShuffleOrder);
    let mut negatives = Vec::new();
    tagger.with_words(caption, with_word_tokens, &mut |words, word_tokens| {
        negatives = generate_words(caption, words, word_tokens, kinds, per_caption, rng);
    });
    negatives
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
    let words: Vec<Word> = words.iter().map(Word::from).collect();
    let word_tokens: Option<Vec<&str>> =
        word_tokens.map(|t| t.iter().map(String::as_str).collect());
    generate_words(
        caption,
        &words,
        word_tokens.as_deref(),
        kinds,
        per_caption,
        rng,
    )
}

/// [`generate`] on borrowed tagged words.
fn generate_words(
    caption: &str,
    words: &[Word],
    word_tokens: Option<&[&str]>,
    kinds: &[NegativeKind],
    per_caption: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Negative> {
    if per_caption == 0 || kinds.is_empty() {
        return Vec::new();
    }
    let mut generate = |buffers: &mut Buffers| {
        generate_in(
            caption,
            words,
            word_tokens,
            kinds,
            per_caption,
            rng,
            buffers,
        )
    };
    BUFFERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffers) => generate(&mut buffers),
        // A nested call (a tagger that generates while tagging) gets its own.
        Err(_) => generate(&mut Buffers::default()),
    })
}

/// [`generate_words`] in `buffers`: borrowed in place, not moved out of the
/// thread's cell and back (hundreds of bytes copied twice per caption).
fn generate_in(
    caption: &str,
    words: &[Word],
    word_tokens: Option<&[&str]>,
    kinds: &[NegativeKind],
    per_caption: usize,
    rng: &mut ChaCha8Rng,
    buffers: &mut Buffers,
) -> Vec<Negative> {
    let caption_analysis = Analysis::with_storage(words, std::mem::take(&mut buffers.analysis));
    let mut candidates = Candidates::with_storage(
        &caption_analysis.tokens,
        word_tokens.unwrap_or(&[]),
        std::mem::take(&mut buffers.candidates),
    );
    for &kind in kinds {
        rewrite_into(
            kind,
            &caption_analysis,
            word_tokens.is_some(),
            rng,
            &mut candidates,
        );
    }
    let negatives = select::select(caption, &candidates, per_caption, rng, &mut buffers.select);
    buffers.candidates = candidates.into_storage();
    buffers.analysis = caption_analysis.into_storage();
    negatives
}

/// The vectors [`generate_words`] fills for each caption, kept per thread so
/// that a caption's analysis, candidates and their comparison allocate
/// nothing once warm.
#[derive(Default)]
struct Buffers {
    analysis: analysis::Storage,
    candidates: candidates::Storage,
    select: select::Buffers,
}

thread_local! {
    /// Borrowed while in use (a nested call makes buffers of its own).
    static BUFFERS: std::cell::RefCell<Buffers> = std::cell::RefCell::default();
}

/// Runs one rewriter on an analysed caption (shared by all rewriters of the
/// caption). `word_tokens` is only read by [`NegativeKind::ShuffleOrder`];
/// without it, that kind gives nothing.
pub fn rewrite(
    kind: NegativeKind,
    caption: &Analysis,
    word_tokens: Option<&[&str]>,
    rng: &mut ChaCha8Rng,
) -> Vec<Negative> {
    let mut candidates = Candidates::new(&caption.tokens, word_tokens.unwrap_or(&[]));
    rewrite_into(kind, caption, word_tokens.is_some(), rng, &mut candidates);
    candidates.into_negatives()
}

/// [`rewrite`] into a candidate list over the caption's tokens and word tokens;
/// without word tokens (`has_word_tokens` false) shuffle-order gives nothing.
fn rewrite_into(
    kind: NegativeKind,
    caption: &Analysis,
    has_word_tokens: bool,
    rng: &mut ChaCha8Rng,
    out: &mut Candidates,
) {
    match kind {
        NegativeKind::SwapAttribute => swap_attribute::rewrite(caption, rng, out),
        NegativeKind::SwapRelation => swap_relation::rewrite(caption, rng, out),
        NegativeKind::SwapNounPhrase => unit_swaps::swap_noun_phrase(caption, rng, out),
        NegativeKind::SwapVerbPhrase => unit_swaps::swap_verb_phrase(caption, rng, out),
        NegativeKind::SwapNoun => unit_swaps::swap_noun(caption, rng, out),
        NegativeKind::SwapPluralNoun => unit_swaps::swap_plural_noun(caption, rng, out),
        NegativeKind::SwapAdverb => unit_swaps::swap_adverb(caption, rng, out),
        NegativeKind::SwapAdjective => unit_swaps::swap_adjective(caption, rng, out),
        NegativeKind::ShuffleOrder if has_word_tokens => order::rewrite(&caption.tags, rng, out),
        NegativeKind::ShuffleOrder | NegativeKind::External => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::test_support::LexiconTagger;
    use rand::SeedableRng;

    #[test]
    fn a_call_while_the_threads_buffers_are_in_use_gets_its_own() {
        let run = || {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let caption = "Two dogs are playing with a red ball on the green grass.";
            generate(
                caption,
                &LexiconTagger,
                &NegativeKind::REWRITES,
                5,
                &mut rng,
            )
        };
        let alone = run();
        assert!(!alone.is_empty());
        let nested = BUFFERS.with(|cell| {
            let _in_use = cell.borrow_mut();
            run()
        });
        assert_eq!(nested, alone);
        assert_eq!(run(), alone, "the thread's buffers, reused");
    }
}
