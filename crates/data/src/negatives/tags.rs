//! The part-of-speech tests of the rewriters as bits: each word's two tag
//! strings are read once per caption into one number ([`Tags`]), and the
//! rewriters test masks instead of comparing strings (the noun-phrase parser
//! and the order perturbations test each word's tags several times).

use std::ops::BitOr;

use super::word::Word;

/// The tags of a word that the rewriters test, one bit each; a tag they never
/// test sets no bit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tags(u32);

impl Tags {
    // Universal tags.
    pub const NOUN: Tags = Tags(1);
    pub const PROPN: Tags = Tags(1 << 1);
    pub const DET: Tags = Tags(1 << 2);
    pub const ADJ: Tags = Tags(1 << 3);
    pub const NUM: Tags = Tags(1 << 4);
    pub const VERB: Tags = Tags(1 << 5);
    pub const AUX: Tags = Tags(1 << 6);
    pub const ADV: Tags = Tags(1 << 7);
    pub const PART: Tags = Tags(1 << 8);
    pub const ADP: Tags = Tags(1 << 9);
    // Penn Treebank tags.
    pub const NN: Tags = Tags(1 << 10);
    pub const NNS: Tags = Tags(1 << 11);
    pub const NNP: Tags = Tags(1 << 12);
    pub const NNPS: Tags = Tags(1 << 13);
    pub const JJ: Tags = Tags(1 << 14);
    pub const JJR: Tags = Tags(1 << 15);
    pub const JJS: Tags = Tags(1 << 16);
    pub const VBN: Tags = Tags(1 << 17);
    pub const VBG: Tags = Tags(1 << 18);
    /// `PRP$`, a possessive pronoun.
    pub const PRP_POSSESSIVE: Tags = Tags(1 << 19);

    /// The bits of `word`'s Universal and Penn Treebank tags.
    pub fn of(word: &Word) -> Tags {
        universal(word.upos) | penn(word.xpos)
    }

    /// Whether any of the tags in `mask` is one of these.
    pub fn any(self, mask: Tags) -> bool {
        self.0 & mask.0 != 0
    }

    /// Both sets of bits: usable in constants, unlike `|`.
    pub const fn or(self, other: Tags) -> Tags {
        Tags(self.0 | other.0)
    }
}

impl BitOr for Tags {
    type Output = Tags;

    fn bitor(self, other: Tags) -> Tags {
        self.or(other)
    }
}

fn universal(upos: &str) -> Tags {
    match upos {
        "NOUN" => Tags::NOUN,
        "PROPN" => Tags::PROPN,
        "DET" => Tags::DET,
        "ADJ" => Tags::ADJ,
        "NUM" => Tags::NUM,
        "VERB" => Tags::VERB,
        "AUX" => Tags::AUX,
        "ADV" => Tags::ADV,
        "PART" => Tags::PART,
        "ADP" => Tags::ADP,
        _ => Tags::default(),
    }
}

fn penn(xpos: &str) -> Tags {
    match xpos {
        "NN" => Tags::NN,
        "NNS" => Tags::NNS,
        "NNP" => Tags::NNP,
        "NNPS" => Tags::NNPS,
        "JJ" => Tags::JJ,
        "JJR" => Tags::JJR,
        "JJS" => Tags::JJS,
        "VBN" => Tags::VBN,
        "VBG" => Tags::VBG,
        "PRP$" => Tags::PRP_POSSESSIVE,
        _ => Tags::default(),
    }
}

/// Replaces `out` with the [`Tags`] of each of `words`.
pub fn tags_into(words: &[Word], out: &mut Vec<Tags>) {
    out.clear();
    out.extend(words.iter().map(Tags::of));
}

/// The [`Tags`] of each of `words`.
pub fn tags_of(words: &[Word]) -> Vec<Tags> {
    words.iter().map(Tags::of).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::test_support::tagged;

    #[test]
    fn each_tested_tag_has_its_own_bit() {
        let universal = "NOUN PROPN DET ADJ NUM VERB AUX ADV PART ADP";
        let penn = "NN NNS NNP NNPS JJ JJR JJS VBN VBG PRP$";
        let mut seen = Tags::default();
        for tag in universal.split(' ') {
            let bit = Tags::of(&Word {
                word: "w",
                upos: tag,
                xpos: "X",
            });
            assert_eq!(bit.0.count_ones(), 1, "{tag}");
            assert!(!seen.any(bit), "{tag}");
            seen = seen | bit;
        }
        for tag in penn.split(' ') {
            let bit = Tags::of(&Word {
                word: "w",
                upos: "X",
                xpos: tag,
            });
            assert_eq!(bit.0.count_ones(), 1, "{tag}");
            assert!(!seen.any(bit), "{tag}");
            seen = seen | bit;
        }
    }

    #[test]
    fn a_word_has_the_bits_of_both_its_tags_and_no_others() {
        let words = tagged("his/PRP$/PRON dog/NN/NOUN runs/VBZ/VERB ././PUNCT");
        let tags = tags_of(&words);
        assert_eq!(tags[0], Tags::PRP_POSSESSIVE);
        assert_eq!(tags[1], Tags::NN | Tags::NOUN);
        assert_eq!(tags[2], Tags::VERB, "VBZ is not tested");
        assert_eq!(tags[3], Tags::default());
        assert!(tags[1].any(Tags::NOUN.or(Tags::PROPN)));
        assert!(!tags[1].any(Tags::NNS | Tags::ADJ));
        let mut reused = vec![Tags::ADV; 9];
        tags_into(&words, &mut reused);
        assert_eq!(reused, tags);
    }
}
