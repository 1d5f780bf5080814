//! A small speed benchmark of the tagger on synthetic captions (one core).

use std::fmt;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Tagger;

/// Measured tagging speed.
#[derive(Debug, Clone, Copy)]
pub struct BenchReport {
    pub captions: usize,
    pub tokens: usize,
    pub seconds: f64,
    /// Whole pipeline per caption: tokenise, tag, build `TaggedWord`s.
    pub text_seconds: f64,
}

impl BenchReport {
    pub fn tokens_per_second(&self) -> f64 {
        self.tokens as f64 / self.seconds
    }
    pub fn captions_per_second(&self) -> f64 {
        self.captions as f64 / self.seconds
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} captions, {} tokens: tag_each {:.0} tokens/s ({:.0} captions/s); tag(text) {:.0} captions/s",
            self.captions,
            self.tokens,
            self.tokens_per_second(),
            self.captions_per_second(),
            self.captions as f64 / self.text_seconds
        )
    }
}

const SUBJECTS: &[&str] = &[
    "man", "woman", "dog", "cat", "horse", "child", "giraffe", "surfer", "bus", "bird",
];
const VERBS: &[&str] = &[
    "riding",
    "holding",
    "eating",
    "sitting on",
    "standing near",
    "looking at",
    "chasing",
];
const COLOURS: &[&str] = &[
    "red", "white", "black", "small", "large", "wooden", "green", "blue",
];
const OBJECTS: &[&str] = &[
    "surfboard",
    "frisbee",
    "table",
    "grass",
    "street",
    "bench",
    "wave",
    "kite",
    "plate",
];
const PLACES: &[&str] = &[
    "in the park",
    "on the beach",
    "to the left of a tree",
    "on top of a hill",
    "in a kitchen",
];

/// Builds `n` captions of about ten words from a seeded generator.
pub fn synthetic_captions(n: usize, seed: u64) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pick = |words: &[&'static str]| words[rng.random_range(0..words.len())];
    (0..n)
        .map(|_| {
            format!(
                "a {} {} a {} {} {}",
                pick(SUBJECTS),
                pick(VERBS),
                pick(COLOURS),
                pick(OBJECTS),
                pick(PLACES)
            )
        })
        .collect()
}

/// Tags `n` synthetic captions twice: pre-tokenised through `tag_each` (the bulk
/// path) and from raw text through `tag`.
pub fn run(tagger: &Tagger, n: usize) -> BenchReport {
    let captions = synthetic_captions(n, 7);
    let tokenised: Vec<Vec<&str>> = captions.iter().map(|c| c.split(' ').collect()).collect();
    let tokens = tokenised.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut checksum = 0usize;
    tagger.tag_each(&tokenised, |_, tags| checksum += tags.len());
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(checksum, tokens);
    let started = Instant::now();
    let tagged: usize = captions.iter().map(|c| tagger.tag(c).len()).sum();
    let text_seconds = started.elapsed().as_secs_f64();
    assert_eq!(tagged, tokens);
    BenchReport {
        captions: n,
        tokens,
        seconds,
        text_seconds,
    }
}
