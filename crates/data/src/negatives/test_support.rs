//! Test helpers: hand-tagged captions and a tiny lexicon tagger.
//!
//! Test code only: the shipped tagger lives in `crate::tagger`.

use super::word::{PosTagger, Word};
use crate::tagger::TaggedWord;

/// Builds tagged words from `"a/DT/DET red/JJ/ADJ car/NN/NOUN"`.
pub fn tagged(spec: &str) -> Vec<Word<'_>> {
    spec.split_whitespace()
        .map(|item| {
            let mut parts = item.rsplitn(3, '/');
            let upos = parts.next().expect("upos");
            let xpos = parts.next().unwrap_or_else(|| panic!("no xpos in {item}"));
            let word = parts.next().unwrap_or_else(|| panic!("no word in {item}"));
            Word { word, upos, xpos }
        })
        .collect()
}

/// Tags from a fixed word list; unknown words are nouns. Splits off `.`, `,`
/// and `'s` so that it tokenises like a Penn tokenizer on simple captions.
pub struct LexiconTagger;

const LEXICON: &[(&str, &str, &str)] = &[
    ("a", "DT", "DET"),
    ("an", "DT", "DET"),
    ("the", "DT", "DET"),
    ("two", "CD", "NUM"),
    ("three", "CD", "NUM"),
    ("is", "VBZ", "AUX"),
    ("are", "VBP", "AUX"),
    ("on", "IN", "ADP"),
    ("in", "IN", "ADP"),
    ("of", "IN", "ADP"),
    ("with", "IN", "ADP"),
    ("next", "JJ", "ADJ"),
    ("to", "IN", "ADP"),
    ("near", "IN", "ADP"),
    ("and", "CC", "CCONJ"),
    ("white", "JJ", "ADJ"),
    ("red", "JJ", "ADJ"),
    ("green", "JJ", "ADJ"),
    ("run", "VBP", "VERB"),
    ("blue", "JJ", "ADJ"),
    ("paved", "JJ", "ADJ"),
    ("small", "JJ", "ADJ"),
    ("large", "JJ", "ADJ"),
    ("old", "JJ", "ADJ"),
    ("little", "JJ", "ADJ"),
    ("eating", "VBG", "VERB"),
    ("sitting", "VBG", "VERB"),
    ("holding", "VBG", "VERB"),
    ("riding", "VBG", "VERB"),
    ("standing", "VBG", "VERB"),
    ("rides", "VBZ", "VERB"),
    ("quickly", "RB", "ADV"),
    ("slowly", "RB", "ADV"),
    ("there", "EX", "PRON"),
    ("left", "NN", "NOUN"),
    ("top", "NN", "NOUN"),
    (".", ".", "PUNCT"),
    (",", ",", "PUNCT"),
    ("'s", "POS", "PART"),
];

impl PosTagger for LexiconTagger {
    fn tag(&self, text: &str) -> Vec<TaggedWord> {
        self.word_tokenize(text)
            .into_iter()
            .map(|word| {
                let lower = word.to_lowercase();
                let (xpos, upos) = LEXICON
                    .iter()
                    .find(|(w, _, _)| *w == lower)
                    .map(|(_, x, u)| (*x, *u))
                    .unwrap_or(if lower.ends_with('s') && lower.len() > 3 {
                        ("NNS", "NOUN")
                    } else {
                        ("NN", "NOUN")
                    });
                TaggedWord {
                    word,
                    upos: upos.to_string(),
                    xpos: xpos.to_string(),
                }
            })
            .collect()
    }

    fn word_tokenize(&self, text: &str) -> Vec<String> {
        let mut tokens = Vec::new();
        for piece in text.split_whitespace() {
            let mut rest = piece;
            let mut tail = Vec::new();
            while let Some(stripped) = rest.strip_suffix(['.', ',']) {
                tail.push(rest[stripped.len()..].to_string());
                rest = stripped;
            }
            if let Some(stem) = rest.strip_suffix("'s").filter(|s| !s.is_empty()) {
                tokens.push(stem.to_string());
                tokens.push("'s".to_string());
            } else if !rest.is_empty() {
                tokens.push(rest.to_string());
            }
            tokens.extend(tail.into_iter().rev());
        }
        tokens
    }
}
