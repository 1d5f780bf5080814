//! `swap-relation`: exchange the subject and the object of a relation.
//!
//! "the horse is eating the grass" → "the grass is eating the horse", "a cat
//! on a table" → "a table on a cat": each noun phrase moves whole, with its
//! determiner and adjectives, as in VG-Relation's false captions.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::analysis::Analysis;
use super::candidates::Candidates;
use super::kind::NegativeKind;
use super::swap::same_words;

/// At most one negative: a random relation whose two arguments differ, with
/// the arguments exchanged.
pub fn rewrite(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let tokens = &caption.tokens;
    let chunks = caption.chunks();
    let words_of_phrase = |i: usize| &tokens[chunks.noun_phrases[i].span.clone()];
    let swappable = || {
        chunks
            .relations
            .iter()
            .filter(|r| !same_words(words_of_phrase(r.subject), words_of_phrase(r.object)))
    };
    let count = swappable().count();
    if count == 0 {
        return;
    }
    let Some(relation) = swappable().nth(rng.random_range(0..count)) else {
        return;
    };
    let subject = chunks.noun_phrases[relation.subject].span.clone();
    let object = chunks.noun_phrases[relation.object].span.clone();
    out.push_swap(NegativeKind::SwapRelation, subject, object);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::test_support::tagged;
    use rand::SeedableRng;

    fn run(spec: &str) -> Vec<String> {
        let words = tagged(spec);
        let caption = Analysis::new(&words);
        let mut out = Candidates::new(&caption.tokens, &[]);
        rewrite(&caption, &mut ChaCha8Rng::seed_from_u64(1), &mut out);
        out.into_negatives().into_iter().map(|n| n.text).collect()
    }

    #[test]
    fn swaps_verb_relation_arguments() {
        assert_eq!(
            run("the/DT/DET horse/NN/NOUN is/VBZ/AUX eating/VBG/VERB the/DT/DET grass/NN/NOUN"),
            ["the grass is eating the horse"]
        );
    }

    #[test]
    fn swaps_preposition_arguments_keeping_the_capital_first() {
        assert_eq!(
            run("A/DT/DET cat/NN/NOUN on/IN/ADP a/DT/DET table/NN/NOUN ././PUNCT"),
            ["A table on a cat ."]
        );
    }

    #[test]
    fn adjectives_travel_with_their_noun() {
        assert_eq!(
            run("a/DT/DET black/JJ/ADJ cat/NN/NOUN sitting/VBG/VERB on/IN/ADP top/NN/NOUN of/IN/ADP a/DT/DET wooden/JJ/ADJ table/NN/NOUN"),
            ["a wooden table sitting on top of a black cat"]
        );
    }

    #[test]
    fn no_relation_no_negative() {
        assert!(run("a/DT/DET cat/NN/NOUN and/CC/CCONJ a/DT/DET dog/NN/NOUN").is_empty());
        assert!(run("a/DT/DET cat/NN/NOUN on/IN/ADP a/DT/DET cat/NN/NOUN").is_empty());
    }
}
