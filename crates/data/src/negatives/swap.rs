//! Shared mechanics of every swap: pick two units, exchange them, join.

use std::ops::Range;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Joins tokens with single spaces, as the NegCLIP script writes its negatives
/// ("A umbrella holding a flowered child ."): the tagger's tokens carry no
/// spacing, and a fixed rule keeps the multiset of words visible.
pub fn join(tokens: &[&str]) -> String {
    tokens.join(" ")
}

/// Exchanges two non-overlapping token ranges (of any lengths).
pub fn swap_spans<'a>(tokens: &[&'a str], a: Range<usize>, b: Range<usize>) -> Vec<&'a str> {
    let (first, second) = if a.start <= b.start { (a, b) } else { (b, a) };
    debug_assert!(first.end <= second.start, "overlapping spans");
    let mut out = Vec::with_capacity(tokens.len());
    out.extend_from_slice(&tokens[..first.start]);
    out.extend_from_slice(&tokens[second.clone()]);
    out.extend_from_slice(&tokens[first.end..second.start]);
    out.extend_from_slice(&tokens[first.clone()]);
    out.extend_from_slice(&tokens[second.end..]);
    out
}

/// Swaps two spans and, when a span moved away from the start of a
/// capitalised caption, moves the capital with the position: "A cat on a
/// table" becomes "A table on a cat", not "a table on A cat". Only a word
/// whose sole capital is its first letter is re-cased (not "I", "USA", ...).
pub fn swap_spans_text(tokens: &[&str], a: Range<usize>, b: Range<usize>) -> String {
    let touches_start = a.start == 0 || b.start == 0;
    let swapped = swap_spans(tokens, a, b);
    if !touches_start || tokens.is_empty() || swapped.is_empty() {
        return join(&swapped);
    }
    let old_first = tokens[0];
    let new_first = swapped[0];
    if old_first == new_first || !is_capitalised_word(old_first) || starts_upper(new_first) {
        return join(&swapped);
    }
    let mut owned: Vec<String> = swapped.iter().map(|s| s.to_string()).collect();
    owned[0] = capitalise(new_first);
    if let Some(moved) = owned.iter_mut().skip(1).find(|w| w.as_str() == old_first) {
        *moved = lowercase_first(old_first);
    }
    owned.join(" ")
}

fn starts_upper(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase)
}

/// "The" or "A" but not "I" or "NYC": a first letter capitalised only because
/// it starts the sentence.
fn is_capitalised_word(word: &str) -> bool {
    let mut chars = word.chars();
    matches!(chars.next(), Some(c) if c.is_uppercase())
        && word != "I"
        && chars.all(|c| !c.is_uppercase())
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn lowercase_first(word: &str) -> String {
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
    let pairs: Vec<(usize, usize)> = (0..units.len())
        .flat_map(|i| (i + 1..units.len()).map(move |j| (i, j)))
        .filter(|&(i, j)| !same_words(&tokens[units[i].clone()], &tokens[units[j].clone()]))
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let (i, j) = pairs[rng.random_range(0..pairs.len())];
    Some((units[i].clone(), units[j].clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn swaps_spans_of_different_lengths() {
        let t = ["a", "b", "c", "d", "e", "f"];
        assert_eq!(swap_spans(&t, 4..6, 0..1), ["e", "f", "b", "c", "d", "a"]);
        assert_eq!(swap_spans(&t, 1..2, 2..4), ["a", "c", "d", "b", "e", "f"]);
    }

    #[test]
    fn capital_stays_at_the_start() {
        let t = ["A", "cat", "on", "a", "table"];
        assert_eq!(swap_spans_text(&t, 0..2, 3..5), "A table on a cat");
        let t = ["I", "see", "a", "dog"];
        assert_eq!(swap_spans_text(&t, 0..1, 3..4), "dog see a I");
    }

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
    fn same_words_ignores_case_only() {
        assert!(same_words(&["A", "Red", "CAR"], &["a", "red", "car"]));
        assert!(same_words(&["Élan"], &["élan"]));
        assert!(!same_words(&["a", "car"], &["a", "cars"]));
        assert!(!same_words(&["a", "car"], &["a"]));
        assert!(!same_words(&["élan"], &["elan"]));
    }
}
