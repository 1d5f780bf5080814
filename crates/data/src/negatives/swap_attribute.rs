//! `swap-attribute`: exchange the adjectives of two noun phrases.
//!
//! "a white road and a paved house" → "a paved road and a white house": the
//! nouns keep their places and the attributes bind to the wrong object, the
//! confusion VG-Attribution measures.

use rand_chacha::ChaCha8Rng;

use super::analysis::Analysis;
use super::candidates::Candidates;
use super::kind::NegativeKind;

/// At most one negative: two noun phrases with different adjectives, chosen at
/// random, exchange their adjective runs.
pub fn rewrite(caption: &Analysis, rng: &mut ChaCha8Rng, out: &mut Candidates) {
    let runs = caption
        .chunks()
        .noun_phrases
        .iter()
        .map(|np| np.adjectives.clone())
        .filter(|adj| !adj.is_empty());
    out.push_distinct_pair_swap(NegativeKind::SwapAttribute, runs, rng);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::test_support::tagged;
    use crate::negatives::word::Negative;
    use rand::SeedableRng;

    fn rewrite(caption: &Analysis, rng: &mut ChaCha8Rng) -> Vec<Negative> {
        let mut out = Candidates::new(&caption.tokens, &[]);
        super::rewrite(caption, rng, &mut out);
        out.into_negatives()
    }

    #[test]
    fn exchanges_adjectives_between_noun_phrases() {
        let w = tagged(
            "a/DT/DET white/JJ/ADJ road/NN/NOUN and/CC/CCONJ a/DT/DET paved/JJ/ADJ house/NN/NOUN",
        );
        let out = rewrite(&Analysis::new(&w), &mut ChaCha8Rng::seed_from_u64(0));
        assert_eq!(
            out,
            [Negative::new(
                "a paved road and a white house",
                NegativeKind::SwapAttribute
            )]
        );
    }

    #[test]
    fn runs_of_different_length_move_whole() {
        let w = tagged(
            "a/DT/DET big/JJ/ADJ brown/JJ/ADJ dog/NN/NOUN near/IN/ADP a/DT/DET red/JJ/ADJ car/NN/NOUN",
        );
        let out = rewrite(&Analysis::new(&w), &mut ChaCha8Rng::seed_from_u64(0));
        assert_eq!(out[0].text, "a red dog near a big brown car");
    }

    #[test]
    fn needs_two_different_attributes() {
        let w =
            tagged("a/DT/DET red/JJ/ADJ car/NN/NOUN and/CC/CCONJ a/DT/DET red/JJ/ADJ bus/NN/NOUN");
        assert!(rewrite(&Analysis::new(&w), &mut ChaCha8Rng::seed_from_u64(0)).is_empty());
        let w = tagged("a/DT/DET red/JJ/ADJ car/NN/NOUN and/CC/CCONJ a/DT/DET bus/NN/NOUN");
        assert!(rewrite(&Analysis::new(&w), &mut ChaCha8Rng::seed_from_u64(0)).is_empty());
    }
}
