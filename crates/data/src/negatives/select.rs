//! Dropping useless candidates and choosing which negatives to keep.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::candidates::{Candidates, WordIds};
use super::word::Negative;

/// What [`select`] needs besides the candidates, kept between captions so that
/// selecting allocates nothing but the negatives.
#[derive(Debug, Default)]
pub struct Buffers {
    ids: WordIds,
    seen: Seen,
    unique: Vec<usize>,
    first_of_kind: Vec<usize>,
}

/// The texts seen so far as [`WordIds`] sequences, end to end in one vector: a
/// caption has about a dozen candidates, so comparing against each is cheaper
/// than hashing.
#[derive(Debug, Default)]
struct Seen {
    ids: Vec<u32>,
    /// Where each text ends in `ids` (each starts where the previous ends).
    ends: Vec<usize>,
}

impl Seen {
    fn clear(&mut self) {
        self.ids.clear();
        self.ends.clear();
    }

    /// Adds the text `write` appends; false (and nothing added) when an equal
    /// text was already there.
    fn insert(&mut self, write: impl FnOnce(&mut Vec<u32>)) -> bool {
        let start = self.ids.len();
        write(&mut self.ids);
        let (old, new) = self.ids.split_at(start);
        let mut from = 0;
        for &end in &self.ends {
            if old[from..end] == *new {
                self.ids.truncate(start);
                return false;
            }
            from = end;
        }
        self.ends.push(self.ids.len());
        true
    }
}

/// Drops candidates equal to the caption (as written, or as the tagger's
/// tokens joined: "it's" is tokenised "it 's") and duplicates, then keeps up
/// to `per_caption`, one of each kind before a second of any kind. Only the
/// kept candidates are written out.
pub fn select(
    caption: &str,
    candidates: &Candidates,
    per_caption: usize,
    rng: &mut ChaCha8Rng,
    buffers: &mut Buffers,
) -> Vec<Negative> {
    let Buffers {
        ids,
        seen,
        unique,
        first_of_kind,
    } = buffers;
    ids.reset(candidates);
    seen.clear();
    seen.insert(|out| ids.add_caption(caption, candidates, out));
    seen.insert(|out| ids.add_words(out));
    unique.clear();
    unique.extend(
        (0..candidates.len()).filter(|&i| seen.insert(|out| candidates.word_ids(i, ids, out))),
    );
    unique.shuffle(rng);
    // The first candidate of each kind (in the shuffled order) goes first, then
    // the rest in order; the kinds taken are bits of one integer.
    let mut kinds_taken = 0u32;
    let mut is_first = |i: &usize| {
        let bit = 1 << candidates.kind(*i) as u32;
        let new_kind = kinds_taken & bit == 0;
        kinds_taken |= bit;
        new_kind
    };
    first_of_kind.clear();
    first_of_kind.extend(unique.iter().copied().filter(&mut is_first));
    // Candidates are distinct indices, so membership tells the rest apart.
    let rest = unique.iter().filter(|i| !first_of_kind.contains(i));
    let mut negatives = Vec::with_capacity(per_caption.min(unique.len()));
    let kept = first_of_kind.iter().chain(rest).take(per_caption);
    negatives.extend(kept.map(|&i| candidates.negative(i)));
    negatives
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::candidates::Source;
    use crate::negatives::kind::NegativeKind;
    use rand::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn seen_keeps_only_the_first_of_equal_texts() {
        let mut seen = Seen::default();
        assert!(seen.insert(|out| out.extend([1, 2])));
        assert!(seen.insert(|out| out.extend([1, 2, 3])));
        assert!(!seen.insert(|out| out.extend([1, 2])));
        assert!(seen.insert(|_| {}));
        assert!(!seen.insert(|_| {}));
        assert!(seen.insert(|out| out.push(1)));
        assert_eq!(seen.ends, [2, 5, 5, 6]);
    }

    #[test]
    fn drops_equal_and_duplicate_candidates_and_prefers_new_kinds() {
        let words = ["a", "cat", "on", "a", "mat", "."];
        let mut c = Candidates::new(&words, &words);
        c.push(NegativeKind::SwapNoun, Source::Words, [0, 1, 2, 3, 4]); // the caption
        c.push(NegativeKind::SwapNoun, Source::Words, [0, 4, 2, 3, 1]);
        c.push(
            NegativeKind::SwapRelation,
            Source::Words,
            [0, 4, 2, 3, 1, 5],
        );
        c.push(NegativeKind::ShuffleOrder, Source::Words, [0, 2, 4, 1, 3]);
        c.push(
            NegativeKind::ShuffleOrder,
            Source::WordTokens,
            [1, 0, 4, 2, 3],
        );
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut buffers = Buffers::default();
        let out = select("a cat on a mat.", &c, 2, &mut rng, &mut buffers);
        assert_eq!(out.len(), 2);
        let kinds: HashSet<_> = out.iter().map(|n| n.kind).collect();
        assert_eq!(kinds.len(), 2, "{out:?}");
        let all = select("A cat, on a mat", &c, 10, &mut rng, &mut buffers);
        assert_eq!(all.len(), 3, "{all:?}");
    }
}
