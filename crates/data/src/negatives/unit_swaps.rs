//! NegCLIP's six swaps, after the authors' negative script: pick two units of
//! one kind at random and exchange them.
//!
//! The six share one mechanism and differ only in what a unit is, so they live
//! together: noun phrases of more than two words, verb phrases
//! (`VERB? ADV* AUX* VERB+`), singular nouns (`NN`), plural nouns (`NNS`),
//! adverbs and adjectives. A kind with fewer than two different units gives
//! nothing.

use std::ops::Range;
use std::sync::OnceLock;

use rand_chacha::ChaCha8Rng;
use regex::Regex;

use super::analysis::Analysis;
use super::candidates::Candidates;
use super::chunks::NounPhrase;
use super::swap::pick_distinct_pair;
use super::NegativeKind;
use super::Word;

/// Adds to `out` the caption with two different `units` exchanged, if it has two.
fn swap_units(
    caption: &Analysis,
    units: &[Range<usize>],
    kind: NegativeKind,
    rng: &mut ChaCha8Rng,
    out: &mut Candidates,
) {
    if let Some((a, b)) = pick_distinct_pair(units, &caption.tokens, rng) {
        out.push_swap(kind, a, b);
    }
}

fn single_tokens(words: &[Word], keep: impl Fn(&Word) -> bool) -> Vec<Range<usize>> {
    (0..words.len())
        .filter(|&i| keep(&words[i]))
        .map(|i| i..i + 1)
        .collect()
}

/// The spans of the noun phrases of more than two words.
pub fn noun_phrase_units(noun_phrases: &[NounPhrase]) -> Vec<Range<usize>> {
    noun_phrases
        .iter()
        .map(|np| np.span.clone())
        .filter(|span| span.len() > 2)
        .collect()
}

/// Verb phrases `VERB? ADV* AUX* VERB+`, leftmost-longest and non-overlapping.
pub fn verb_phrase_units(words: &[Word]) -> Vec<Range<usize>> {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    let pattern = PATTERN.get_or_init(|| Regex::new("V?R*A*V+").expect("valid pattern"));
    // One ASCII letter per token, so byte offsets are token indices.
    let codes: String = words
        .iter()
        .map(|w| match w.upos {
            "VERB" => 'V',
            "ADV" => 'R',
            "AUX" => 'A',
            _ => 'x',
        })
        .collect();
    pattern.find_iter(&codes).map(|m| m.range()).collect()
}

pub fn swap_noun_phrase(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let units = noun_phrase_units(&caption.chunks().noun_phrases);
    swap_units(caption, &units, NegativeKind::SwapNounPhrase, rng, out);
}

pub fn swap_verb_phrase(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let units = verb_phrase_units(caption.words);
    swap_units(caption, &units, NegativeKind::SwapVerbPhrase, rng, out);
}

pub fn swap_noun(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let units = single_tokens(caption.words, |w| w.xpos == "NN");
    swap_units(caption, &units, NegativeKind::SwapNoun, rng, out);
}

pub fn swap_plural_noun(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let units = single_tokens(caption.words, |w| w.xpos == "NNS");
    swap_units(caption, &units, NegativeKind::SwapPluralNoun, rng, out);
}

pub fn swap_adverb(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let units = single_tokens(caption.words, |w| w.upos == "ADV");
    swap_units(caption, &units, NegativeKind::SwapAdverb, rng, out);
}

pub fn swap_adjective(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let units = single_tokens(caption.words, |w| w.upos == "ADJ");
    swap_units(caption, &units, NegativeKind::SwapAdjective, rng, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::test_support::tagged;
    use rand::SeedableRng;

    type Rewriter = fn(&Analysis, &mut ChaCha8Rng, &mut Candidates);

    fn run(f: Rewriter, spec: &str) -> Vec<String> {
        let words = tagged(spec);
        let caption = Analysis::new(&words);
        let mut out = Candidates::new(&caption.tokens, &[]);
        f(&caption, &mut ChaCha8Rng::seed_from_u64(7), &mut out);
        out.into_negatives().into_iter().map(|n| n.text).collect()
    }

    const CHILD: &str = "A/DT/DET child/NN/NOUN holding/VBG/VERB a/DT/DET flowered/JJ/ADJ umbrella/NN/NOUN and/CC/CCONJ petting/VBG/VERB a/DT/DET yak/NN/NOUN ././PUNCT";

    #[test]
    fn swaps_two_verb_phrases() {
        assert_eq!(
            run(swap_verb_phrase, CHILD),
            ["A child petting a flowered umbrella and holding a yak ."]
        );
    }

    #[test]
    fn verb_phrase_pattern_takes_adverbs_and_auxiliaries() {
        let w = tagged("man/NN/NOUN quickly/RB/ADV is/VBZ/AUX running/VBG/VERB and/CC/CCONJ dog/NN/NOUN sleeps/VBZ/VERB");
        assert_eq!(verb_phrase_units(&w), [1..4, 6..7]);
    }

    #[test]
    fn swaps_two_singular_nouns() {
        let out = run(swap_noun, CHILD);
        assert_eq!(out.len(), 1);
        let mut got: Vec<&str> = out[0].split(' ').collect();
        let mut want: Vec<&str> = "A child holding a flowered umbrella and petting a yak ."
            .split(' ')
            .collect();
        assert_ne!(got, want);
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn plural_nouns_only_swap_with_plural_nouns() {
        assert_eq!(
            run(swap_plural_noun, "There/EX/PRON are/VBP/AUX two/CD/NUM sinks/NNS/NOUN next/JJ/ADJ to/IN/ADP two/CD/NUM mirrors/NNS/NOUN"),
            ["There are two mirrors next to two sinks"]
        );
        assert!(run(swap_plural_noun, CHILD).is_empty());
    }

    #[test]
    fn noun_phrases_need_more_than_two_words() {
        assert!(run(swap_noun_phrase, CHILD).is_empty());
        assert_eq!(
            run(swap_noun_phrase, "a/DT/DET little/JJ/ADJ girl/NN/NOUN near/IN/ADP a/DT/DET blue/JJ/ADJ fence/NN/NOUN"),
            ["a blue fence near a little girl"]
        );
    }

    #[test]
    fn adverbs_and_adjectives() {
        assert_eq!(
            run(
                swap_adverb,
                "dogs/NNS/NOUN run/VBP/VERB quickly/RB/ADV and/CC/CCONJ eat/VBP/VERB slowly/RB/ADV"
            ),
            ["dogs run slowly and eat quickly"]
        );
        assert_eq!(
            run(swap_adjective, "a/DT/DET white/JJ/ADJ road/NN/NOUN and/CC/CCONJ a/DT/DET paved/JJ/ADJ house/NN/NOUN"),
            ["a paved road and a white house"]
        );
    }
}
