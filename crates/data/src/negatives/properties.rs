//! Invariants every rewriter keeps, checked on generated captions.

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::test_support::LexiconTagger;
use super::{generate, is_same_caption, NegativeKind, PosTagger};

const VOCAB: &[&str] = &[
    "a", "the", "two", "A", "The", "red", "white", "small", "old", "dog", "cat", "table", "grass",
    "horse", "dogs", "cats", "is", "are", "on", "in", "next", "to", "of", "and", "eating",
    "sitting", "riding", "quickly", "slowly", "top", "left", "Man", "street", ".", ",", "it's",
];

fn caption_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCAB), 0..25).prop_map(|w| w.join(" "))
}

fn sorted_lower_words(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    v.sort();
    v
}

fn all_kinds() -> Vec<NegativeKind> {
    NegativeKind::REWRITES.to_vec()
}

proptest! {
    #[test]
    fn negatives_never_equal_their_caption(caption in caption_strategy(), seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for n in generate(&caption, &LexiconTagger, &all_kinds(), 20, &mut rng) {
            prop_assert!(!is_same_caption(&caption, &n.text), "{caption:?} -> {n:?}");
        }
    }

    #[test]
    fn rewrites_keep_the_multiset_of_words(caption in caption_strategy(), seed in any::<u64>()) {
        let tokens: Vec<String> = LexiconTagger.tag(&caption).into_iter().map(|w| w.word).collect();
        let want = sorted_lower_words(&tokens.join(" "));
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for n in generate(&caption, &LexiconTagger, &all_kinds(), 20, &mut rng) {
            prop_assert_eq!(sorted_lower_words(&n.text), want.clone(), "{:?}", n);
        }
    }

    #[test]
    fn same_seed_same_negatives(caption in caption_strategy(), seed in any::<u64>()) {
        let run = || generate(&caption, &LexiconTagger, &all_kinds(), 4, &mut ChaCha8Rng::seed_from_u64(seed));
        prop_assert_eq!(run(), run());
    }

    #[test]
    fn any_text_is_handled(caption in any::<String>(), seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let out = generate(&caption, &LexiconTagger, &all_kinds(), 5, &mut rng);
        prop_assert!(out.len() <= 5);
    }
}

#[test]
fn edge_inputs_do_not_panic() {
    let long = ["the red dog is eating the small cat on the table"; 1000].join(" ");
    let inputs = [
        "",
        " ",
        "dog",
        "🐶 🐱 on a 桌子 and a 🐶",
        "Ein Hund und ein كلب near a собака.",
        "\u{0}\t\n",
        long.as_str(),
    ];
    for (i, caption) in inputs.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
        let out = generate(caption, &LexiconTagger, &all_kinds(), 6, &mut rng);
        assert!(out.len() <= 6);
        for n in &out {
            assert!(!is_same_caption(caption, &n.text));
        }
    }
    assert!(long.split_whitespace().count() >= 10_000);
}

#[test]
fn generate_produces_each_requested_kind() {
    let caption =
        "A white horse is eating the green grass next to a red barn and two dogs quickly run.";
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let out = generate(caption, &LexiconTagger, &all_kinds(), 50, &mut rng);
    for kind in [
        NegativeKind::SwapAttribute,
        NegativeKind::SwapRelation,
        NegativeKind::SwapNounPhrase,
        NegativeKind::SwapNoun,
        NegativeKind::ShuffleOrder,
    ] {
        assert!(out.iter().any(|n| n.kind == kind), "no {kind} in {out:?}");
    }
    let only = generate(
        caption,
        &LexiconTagger,
        &[NegativeKind::SwapNoun],
        50,
        &mut rng,
    );
    assert!(!only.is_empty() && only.iter().all(|n| n.kind == NegativeKind::SwapNoun));
    assert!(generate(caption, &LexiconTagger, &all_kinds(), 0, &mut rng).is_empty());
}
