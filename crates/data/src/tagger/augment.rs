//! Caption-style training sentences, generated from a small tagged grammar.
//!
//! UD English-EWT is web text: it has few image captions and little of their
//! vocabulary, and its noun compounds (`the blue team`) teach the tagger to read a
//! colour before a noun as `NOUN`. Mixing in a few thousand generated captions
//! (`a gray cat sleeping on a wooden bench`, `two dogs are chasing a ball`) teaches
//! caption syntax. The grammar and word lists are written for this purpose; the
//! hand-tagged test captions (`tests/data/captions_tagged.txt`) are never used.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::conllu::{GoldWord, Sentence};

const ADJECTIVES: &[&str] = &[
    "red", "blue", "green", "yellow", "white", "black", "brown", "gray", "grey", "pink", "purple",
    "orange", "silver", "golden", "dark", "bright", "small", "large", "big", "tall", "old",
    "young", "wooden", "shiny", "striped", "colorful", "empty", "tiny", "huge", "wet", "dirty",
    "clean",
];
/// Singular nouns whose plural adds `s`.
const NOUNS: &[&str] = &[
    "boy",
    "girl",
    "dog",
    "cat",
    "horse",
    "cow",
    "bird",
    "car",
    "truck",
    "bike",
    "boat",
    "kite",
    "ball",
    "hat",
    "shirt",
    "jacket",
    "umbrella",
    "chair",
    "bench",
    "table",
    "bed",
    "lamp",
    "cup",
    "plate",
    "bottle",
    "phone",
    "book",
    "tree",
    "fence",
    "wall",
    "building",
    "road",
    "window",
    "door",
    "towel",
    "pillow",
    "surfboard",
    "skateboard",
    "helmet",
    "backpack",
    "elephant",
    "zebra",
    "giraffe",
    "player",
    "skier",
    "rider",
    "sign",
    "clock",
    "vase",
    "donut",
    "banana",
];
const MASS_NOUNS: &[&str] = &[
    "grass", "water", "snow", "sand", "field", "street", "sidewalk", "beach", "room", "park",
];
const GERUNDS: &[&str] = &[
    "riding",
    "holding",
    "carrying",
    "wearing",
    "watching",
    "pulling",
    "pushing",
    "chasing",
    "eating",
    "throwing",
    "catching",
    "kicking",
    "touching",
    "using",
    "following",
    "grabbing",
];
const POSTURES: &[&str] = &[
    "sitting", "standing", "lying", "walking", "sleeping", "resting", "running", "waiting",
    "parked",
];
const PRESENT: &[&str] = &["sits", "stands", "lies", "rests", "waits", "hangs"];
const PREPOSITIONS: &[&str] = &[
    "on", "in", "near", "behind", "under", "beside", "above", "with", "at", "by", "across",
    "along", "against", "inside", "over", "below",
];
const NUMBERS: &[&str] = &["two", "three", "four", "five", "six"];

type Word = (String, &'static str, &'static str);

/// `n` generated captions, the same for the same `seed`.
pub fn caption_sentences(n: usize, seed: u64) -> Vec<Sentence> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let words = caption(&mut rng);
            Sentence {
                words: words
                    .into_iter()
                    .map(|(form, upos, xpos)| GoldWord {
                        form,
                        upos: upos.to_string(),
                        xpos: xpos.to_string(),
                    })
                    .collect(),
            }
        })
        .collect()
}

fn pick<'a>(rng: &mut ChaCha8Rng, words: &[&'a str]) -> &'a str {
    words[rng.random_range(0..words.len())]
}

/// `[det] [adj] [adj] noun`, singular, or plural when `plural`.
fn noun_phrase(rng: &mut ChaCha8Rng, out: &mut Vec<Word>, plural: bool) {
    if plural {
        if rng.random_bool(0.5) {
            out.push((pick(rng, NUMBERS).into(), "NUM", "CD"));
        } else if rng.random_bool(0.5) {
            out.push(("the".into(), "DET", "DT"));
        }
    } else {
        out.push((
            if rng.random_bool(0.6) { "a" } else { "the" }.into(),
            "DET",
            "DT",
        ));
    }
    for _ in 0..rng.random_range(0..=2) {
        out.push((pick(rng, ADJECTIVES).into(), "ADJ", "JJ"));
    }
    if !plural && rng.random_bool(0.2) {
        out.push((pick(rng, MASS_NOUNS).into(), "NOUN", "NN"));
    } else if plural {
        out.push((format!("{}s", pick(rng, NOUNS)), "NOUN", "NNS"));
    } else {
        out.push((pick(rng, NOUNS).into(), "NOUN", "NN"));
    }
}

fn relation(rng: &mut ChaCha8Rng, out: &mut Vec<Word>) {
    match rng.random_range(0..4) {
        0 => {
            out.push(("to".into(), "ADP", "IN"));
            out.push(("the".into(), "DET", "DT"));
            out.push((
                if rng.random_bool(0.5) {
                    "left"
                } else {
                    "right"
                }
                .into(),
                "NOUN",
                "NN",
            ));
            out.push(("of".into(), "ADP", "IN"));
        }
        1 => {
            out.push((
                if rng.random_bool(0.5) { "on" } else { "in" }.into(),
                "ADP",
                "IN",
            ));
            out.push((
                if rng.random_bool(0.5) { "top" } else { "front" }.into(),
                "NOUN",
                "NN",
            ));
            out.push(("of".into(), "ADP", "IN"));
        }
        _ => out.push((pick(rng, PREPOSITIONS).into(), "ADP", "IN")),
    }
}

fn caption(rng: &mut ChaCha8Rng) -> Vec<Word> {
    let mut out = Vec::new();
    let plural = rng.random_bool(0.25);
    noun_phrase(rng, &mut out, plural);
    let aux = if plural {
        ("are", "VBP")
    } else {
        ("is", "VBZ")
    };
    match rng.random_range(0..6) {
        0 => {
            out.push((pick(rng, GERUNDS).into(), "VERB", "VBG"));
            let object_plural = rng.random_bool(0.2);
            noun_phrase(rng, &mut out, object_plural);
        }
        1 => {
            let posture = pick(rng, POSTURES);
            let xpos = if posture == "parked" { "VBN" } else { "VBG" };
            out.push((posture.into(), "VERB", xpos));
            relation(rng, &mut out);
            noun_phrase(rng, &mut out, false);
        }
        2 => {
            out.push((aux.0.into(), "AUX", aux.1));
            out.push((pick(rng, GERUNDS).into(), "VERB", "VBG"));
            noun_phrase(rng, &mut out, false);
        }
        3 => {
            out.push((aux.0.into(), "AUX", aux.1));
            out.push((pick(rng, ADJECTIVES).into(), "ADJ", "JJ"));
        }
        4 if !plural => {
            out.push((pick(rng, PRESENT).into(), "VERB", "VBZ"));
            relation(rng, &mut out);
            noun_phrase(rng, &mut out, false);
        }
        _ => {
            relation(rng, &mut out);
            noun_phrase(rng, &mut out, false);
        }
    }
    if rng.random_bool(0.15) {
        out.push(("and".into(), "CCONJ", "CC"));
        noun_phrase(rng, &mut out, false);
    }
    out
}

/// The shipped model's training data: the treebank files, then `caption_augment`
/// generated caption-style sentences (seeded), as `negclip tagger train` and
/// `scripts/train_tagger.sh` use it.
pub fn training_sentences(
    treebanks: &[std::path::PathBuf],
    caption_augment: usize,
    seed: u64,
) -> Result<Vec<super::Sentence>, super::ConlluError> {
    let mut sentences = Vec::new();
    for path in treebanks {
        sentences.extend(super::read_conllu(path)?);
    }
    sentences.extend(caption_sentences(caption_augment, seed));
    Ok(sentences)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_deterministic_tagged_captions() {
        let a = caption_sentences(50, 3);
        assert_eq!(a, caption_sentences(50, 3));
        assert_ne!(a, caption_sentences(50, 4));
        assert!(a.iter().all(|s| s.words.len() >= 2));
        let colour = a
            .iter()
            .flat_map(|s| &s.words)
            .find(|w| w.form == "red" || w.form == "blue");
        assert!(colour.is_none_or(|w| w.upos == "ADJ" && w.xpos == "JJ"));
    }
}
