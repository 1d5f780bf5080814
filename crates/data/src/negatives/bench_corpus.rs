//! A generated, already tagged caption corpus for timing the rewriters
//! without a tagger (`negclip bench negatives`, `examples/bench_negatives.rs`).
//!
//! Each word is drawn from a small tagged word list along a template
//! `NP is ADV? VERB NP (PREP NP)? .`, so the tags are right by construction.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::tagger::TaggedWord;

/// One caption of the corpus with its tags.
pub struct TaggedCaption {
    pub text: String,
    pub words: Vec<TaggedWord>,
    /// The words as word tokens (the input of the trigram perturbations).
    pub tokens: Vec<String>,
}

const DETS: &[&str] = &["a", "the", "two", "some"];
const ADJS: &[&str] = &[
    "white", "red", "small", "large", "old", "wooden", "young", "green",
];
const NOUNS: &[&str] = &[
    "man", "dog", "cat", "table", "horse", "street", "woman", "kitchen", "bus",
];
const PLURALS: &[&str] = &["people", "dogs", "cars", "plates", "trees", "bikes"];
const VERBS: &[&str] = &[
    "eating",
    "riding",
    "holding",
    "sitting on",
    "standing near",
    "looking at",
];
const PREPS: &[&str] = &["on", "in", "next to", "on top of", "in front of", "near"];
const ADVS: &[&str] = &["quickly", "slowly", "together"];

fn pick<'a>(rng: &mut ChaCha8Rng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

fn push(words: &mut Vec<TaggedWord>, text: &str, xpos: &str, upos: &str) {
    for word in text.split(' ') {
        words.push(TaggedWord {
            word: word.to_string(),
            xpos: xpos.to_string(),
            upos: upos.to_string(),
        });
    }
}

fn push_np(words: &mut Vec<TaggedWord>, rng: &mut ChaCha8Rng) {
    push(words, pick(rng, DETS), "DT", "DET");
    if rng.random_bool(0.6) {
        push(words, pick(rng, ADJS), "JJ", "ADJ");
    }
    if rng.random_bool(0.3) {
        push(words, pick(rng, PLURALS), "NNS", "NOUN");
    } else {
        push(words, pick(rng, NOUNS), "NN", "NOUN");
    }
}

/// A caption like "a white dog is quickly riding a red bus next to two trees .".
fn tagged_caption(rng: &mut ChaCha8Rng) -> TaggedCaption {
    let mut words = Vec::new();
    push_np(&mut words, rng);
    push(&mut words, "is", "VBZ", "AUX");
    if rng.random_bool(0.3) {
        push(&mut words, pick(rng, ADVS), "RB", "ADV");
    }
    let verb = pick(rng, VERBS);
    let mut parts = verb.split(' ');
    push(&mut words, parts.next().unwrap_or(verb), "VBG", "VERB");
    for prep in parts {
        push(&mut words, prep, "IN", "ADP");
    }
    push_np(&mut words, rng);
    if rng.random_bool(0.7) {
        push(&mut words, pick(rng, PREPS), "IN", "ADP");
        push_np(&mut words, rng);
    }
    push(&mut words, ".", ".", "PUNCT");
    let tokens: Vec<String> = words.iter().map(|w| w.word.clone()).collect();
    TaggedCaption {
        text: tokens.join(" "),
        words,
        tokens,
    }
}

/// `n` tagged captions drawn with `seed`.
pub fn tagged_corpus(n: usize, seed: u64) -> Vec<TaggedCaption> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| tagged_caption(&mut rng)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_deterministic_and_consistent() {
        let a = tagged_corpus(50, 3);
        assert_eq!(a.len(), 50);
        for c in &a {
            assert_eq!(c.text.split(' ').count(), c.words.len());
            assert!(c.words.iter().any(|w| w.upos == "VERB"));
        }
        let b = tagged_corpus(50, 3);
        assert!(a.iter().zip(&b).all(|(x, y)| x.text == y.text));
    }
}
