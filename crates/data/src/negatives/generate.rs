//! The hot path: tag a caption once, run the rewriters over the shared analysis, and
//! select the negatives to keep ([`select`](super::select)), all in buffers kept per
//! thread.

use rand_chacha::ChaCha8Rng;

use crate::tagger::TaggedWord;

use super::analysis::{self, Analysis};
use super::candidates::{self, Candidates};
use super::kind::NegativeKind;
use super::select;
use super::word::{Negative, PosTagger, Word};
use super::{order, swap_attribute, swap_relation, unit_swaps};

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
