//! Dropping useless candidates and choosing which negatives to keep.

use std::collections::HashSet;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::Negative;
use super::Word;

/// The form captions are compared in: lower-case, `.` and `,` removed, words
/// separated by single spaces. The NegCLIP script drops a candidate equal to
/// its caption ignoring "." "," and spacing; lower-casing also catches a swap
/// that only moved a capital.
pub fn normalise_for_comparison(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    if text.is_ascii() {
        // The common case in one pass: the ASCII words, lower-cased, one space apart.
        let words = text
            .split(|c: char| c.is_whitespace() || c == '.' || c == ',')
            .filter(|w| !w.is_empty());
        for word in words {
            if !out.is_empty() {
                out.push(' ');
            }
            out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
        }
        return out;
    }
    let lower = text.to_lowercase().replace(['.', ','], " ");
    for word in lower.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// True when `negative` is `caption` after [`normalise_for_comparison`].
pub fn is_same_caption(caption: &str, negative: &str) -> bool {
    normalise_for_comparison(caption) == normalise_for_comparison(negative)
}

/// Drops candidates equal to the caption (as written, or as the tagger's
/// tokens joined: "it's" is tokenised "it 's") and duplicates, then keeps up
/// to `per_caption`, one of each kind before a second of any kind.
pub fn select(
    caption: &str,
    words: &[Word],
    candidates: Vec<Negative>,
    per_caption: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Negative> {
    let joined = words.iter().map(|w| w.word).collect::<Vec<_>>().join(" ");
    let mut seen: HashSet<String> = HashSet::new();
    seen.insert(normalise_for_comparison(caption));
    seen.insert(normalise_for_comparison(&joined));
    let mut unique: Vec<Negative> = candidates
        .into_iter()
        .filter(|n| seen.insert(normalise_for_comparison(&n.text)))
        .collect();
    unique.shuffle(rng);
    let mut chosen = Vec::with_capacity(per_caption.min(unique.len()));
    let mut kinds_taken = HashSet::new();
    let (first_of_kind, rest): (Vec<_>, Vec<_>) =
        unique.into_iter().partition(|n| kinds_taken.insert(n.kind));
    for n in first_of_kind.into_iter().chain(rest) {
        if chosen.len() == per_caption {
            break;
        }
        chosen.push(n);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::NegativeKind;
    use rand::SeedableRng;

    #[test]
    fn comparison_ignores_case_periods_commas_and_spacing() {
        assert!(is_same_caption("A dog, running.", "a dog running"));
        assert!(is_same_caption("a  dog", "a dog ."));
        assert!(!is_same_caption("a dog", "a god"));
        assert_eq!(normalise_for_comparison(" A\tDog,,run. "), "a dog run");
        assert_eq!(
            normalise_for_comparison("\u{c9}T\u{c9},\u{a0}x"),
            "\u{e9}t\u{e9} x"
        );
        assert_eq!(normalise_for_comparison(". , "), "");
    }

    #[test]
    fn drops_equal_and_duplicate_candidates_and_prefers_new_kinds() {
        let words = Vec::new();
        let c = vec![
            Negative::new("A cat on a mat", NegativeKind::SwapNoun),
            Negative::new("a mat on a cat", NegativeKind::SwapNoun),
            Negative::new("a mat on a cat .", NegativeKind::SwapRelation),
            Negative::new("a on mat cat a", NegativeKind::ShuffleOrder),
            Negative::new("cat a mat on a", NegativeKind::ShuffleOrder),
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let out = select("a cat on a mat.", &words, c.clone(), 2, &mut rng);
        assert_eq!(out.len(), 2);
        let kinds: HashSet<_> = out.iter().map(|n| n.kind).collect();
        assert_eq!(kinds.len(), 2, "{out:?}");
        let all = select("a cat on a mat.", &words, c, 10, &mut rng);
        assert_eq!(all.len(), 3);
    }
}
