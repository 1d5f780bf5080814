//! Shared mechanics of every swap: pick two units whose words differ, and the
//! re-casing of a capital that moves with the start of the caption (the
//! exchange itself is [`Candidates::push_swap`](super::candidates::Candidates::push_swap)).

use std::ops::Range;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(super) fn starts_upper(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase)
}

/// "The" or "A" but not "I" or "NYC": a first letter capitalised only because
/// it starts the sentence.
pub(super) fn is_capitalised_word(word: &str) -> bool {
    let mut chars = word.chars();
    matches!(chars.next(), Some(c) if c.is_uppercase())
        && word != "I"
        && chars.all(|c| !c.is_uppercase())
}

pub(super) fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(super) fn lowercase_first(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Whether two runs of tokens read the same ignoring case (their lower-cased
/// texts are equal), without building the texts.
pub fn same_words(a: &[&str], b: &[&str]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_word(x, y))
}

fn same_word(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// Picks two units whose texts differ (ignoring case), uniformly among such
/// pairs. Swapping equal units would return the caption unchanged.
pub fn pick_distinct_pair(
    units: &[Range<usize>],
    tokens: &[&str],
    rng: &mut ChaCha8Rng,
) -> Option<(Range<usize>, Range<usize>)> {
    let distinct = |&(i, j): &(usize, usize)| {
        !same_words(&tokens[units[i].clone()], &tokens[units[j].clone()])
    };
    let pairs = || {
        (0..units.len())
            .flat_map(|i| (i + 1..units.len()).map(move |j| (i, j)))
            .filter(distinct)
    };
    // Counted, then walked again to the chosen one: no list of pairs is kept.
    let count = pairs().count();
    if count == 0 {
        return None;
    }
    let chosen = rng.random_range(0..count);
    let n = units.len();
    let (i, j) = if count == n * (n - 1) / 2 {
        // All pairs are distinct (the common case): the chosen one without comparing again.
        nth_pair(n, chosen)
    } else {
        pairs().nth(chosen)?
    };
    Some((units[i].clone(), units[j].clone()))
}

/// The `k`-th pair `(i, j)`, `i < j < n`, in the order `(0, 1), (0, 2), …, (1, 2), …`.
fn nth_pair(n: usize, mut k: usize) -> (usize, usize) {
    let mut i = 0;
    while k >= n - 1 - i {
        k -= n - 1 - i;
        i += 1;
    }
    (i, i + 1 + k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn never_pairs_equal_units() {
        let t = ["dog", "and", "Dog", "and", "cat"];
        let units = [0..1, 2..3, 4..5];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..20 {
            let (a, b) = pick_distinct_pair(&units, &t, &mut rng).unwrap();
            assert_ne!(t[a.start].to_lowercase(), t[b.start].to_lowercase());
        }
        assert!(pick_distinct_pair(&units[..2], &t, &mut rng).is_none());
    }

    #[test]
    fn nth_pair_counts_pairs_in_order() {
        for n in 2..7 {
            let pairs: Vec<_> = (0..n)
                .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                .collect();
            for (k, &pair) in pairs.iter().enumerate() {
                assert_eq!(nth_pair(n, k), pair, "n {n}, k {k}");
            }
        }
    }

    #[test]
    fn same_words_ignores_case_only() {
        assert!(same_words(&["A", "Red", "CAR"], &["a", "red", "car"]));
        assert!(same_words(&["Élan"], &["élan"]));
        assert!(!same_words(&["a", "car"], &["a", "cars"]));
        assert!(!same_words(&["a", "car"], &["a"]));
        assert!(!same_words(&["élan"], &["elan"]));
    }
}
