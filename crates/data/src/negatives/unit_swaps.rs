//! NegCLIP's six swaps, after the authors' negative script: pick two units of
//! one kind at random and exchange them.
//!
//! The six share one mechanism and differ only in what a unit is, so they live
//! together: noun phrases of more than two words, verb phrases
//! (`VERB? ADV* AUX* VERB+`), singular nouns (`NN`), plural nouns (`NNS`),
//! adverbs and adjectives. A kind with fewer than two different units gives
//! nothing.

use std::ops::Range;

use rand_chacha::ChaCha8Rng;

use super::analysis::Analysis;
use super::candidates::Candidates;
use super::chunks::NounPhrase;
use super::kind::NegativeKind;
use super::tags::{tags_of, Tags};
use super::word::Word;

/// Each word with one of the tags `wanted`, as a one-word unit.
fn single_tokens(tags: &[Tags], wanted: Tags) -> impl Iterator<Item = Range<usize>> + '_ {
    (0..tags.len())
        .filter(move |&i| tags[i].any(wanted))
        .map(|i| i..i + 1)
}

/// The spans of the noun phrases of more than two words.
pub fn noun_phrase_units(noun_phrases: &[NounPhrase]) -> Vec<Range<usize>> {
    long_noun_phrases(noun_phrases).collect()
}

fn long_noun_phrases(noun_phrases: &[NounPhrase]) -> impl Iterator<Item = Range<usize>> + '_ {
    noun_phrases
        .iter()
        .map(|np| np.span.clone())
        .filter(|span| span.len() > 2)
}

/// Verb phrases `VERB? ADV* AUX* VERB+`, leftmost-longest and non-overlapping:
/// the matches of the regular expression `V?R*A*V+` over the words' codes
/// (`V` verb, `R` adverb, `A` auxiliary), as the NegCLIP script finds them.
pub fn verb_phrase_units(words: &[Word]) -> Vec<Range<usize>> {
    verb_phrases(&tags_of(words)).collect()
}

/// [`verb_phrase_units`] without a regular expression: at each start, the
/// greedy match takes the optional `V`, then every `R`, then every `A`, and
/// needs a `V` there; where that fails after taking the optional `V`, the
/// match is the run of `V`s from the start instead (backtracking over `R*`
/// or `A*` cannot help: what they give back is no `V`).
fn verb_phrases(tags: &[Tags]) -> impl Iterator<Item = Range<usize>> + '_ {
    let code = move |i: usize| {
        tags.get(i).map(|&t| match t {
            t if t.any(Tags::VERB) => b'V',
            t if t.any(Tags::ADV) => b'R',
            t if t.any(Tags::AUX) => b'A',
            _ => b'x',
        })
    };
    let run = move |mut i: usize, c: u8| {
        while code(i) == Some(c) {
            i += 1;
        }
        i
    };
    let verbs_after_modifiers = move |from: usize| {
        let k = run(run(from, b'R'), b'A');
        (code(k) == Some(b'V')).then(|| run(k, b'V'))
    };
    let mut start = 0;
    std::iter::from_fn(move || {
        while start < tags.len() {
            let s = start;
            let end = if code(s) == Some(b'V') {
                Some(verbs_after_modifiers(s + 1).unwrap_or_else(|| run(s, b'V')))
            } else {
                verbs_after_modifiers(s)
            };
            match end {
                Some(end) => {
                    start = end;
                    return Some(s..end);
                }
                None => start += 1,
            }
        }
        None
    })
}

/// Swaps two noun phrases of more than two words ("a little girl" / "a blue fence").
pub fn swap_noun_phrase(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let units = long_noun_phrases(&caption.chunks().noun_phrases);
    out.push_distinct_pair_swap(NegativeKind::SwapNounPhrase, units, rng);
}

/// Swaps two verb phrases ("holding an umbrella" / "petting a yak" swap their verbs).
pub fn swap_verb_phrase(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let units = verb_phrases(&caption.tags);
    out.push_distinct_pair_swap(NegativeKind::SwapVerbPhrase, units, rng);
}

/// Swaps two singular nouns (`NN`).
pub fn swap_noun(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let units = single_tokens(&caption.tags, Tags::NN);
    out.push_distinct_pair_swap(NegativeKind::SwapNoun, units, rng);
}

/// Swaps two plural nouns (`NNS`).
pub fn swap_plural_noun(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let units = single_tokens(&caption.tags, Tags::NNS);
    out.push_distinct_pair_swap(NegativeKind::SwapPluralNoun, units, rng);
}

/// Swaps two adverbs.
pub fn swap_adverb(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let units = single_tokens(&caption.tags, Tags::ADV);
    out.push_distinct_pair_swap(NegativeKind::SwapAdverb, units, rng);
}

/// Swaps two adjectives.
pub fn swap_adjective(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let units = single_tokens(&caption.tags, Tags::ADJ);
    out.push_distinct_pair_swap(NegativeKind::SwapAdjective, units, rng);
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
    fn verb_phrases_are_the_patterns_matches() {
        let pattern = regex::Regex::new("V?R*A*V+").unwrap();
        let tag = |c: char| match c {
            'V' => "VERB",
            'R' => "ADV",
            'A' => "AUX",
            _ => "NOUN",
        };
        // Every string of up to 7 codes.
        for len in 0..=7u32 {
            for n in 0..4usize.pow(len) {
                let codes: String = (0..len)
                    .map(|k| ['V', 'R', 'A', 'x'][n / 4usize.pow(k) % 4])
                    .collect();
                let words: Vec<Word> = codes
                    .chars()
                    .map(|c| Word {
                        word: "w",
                        upos: tag(c),
                        xpos: "X",
                    })
                    .collect();
                let want: Vec<_> = pattern.find_iter(&codes).map(|m| m.range()).collect();
                assert_eq!(verb_phrase_units(&words), want, "{codes}");
            }
        }
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
