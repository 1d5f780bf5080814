//! English part-of-speech tagging: a Penn-style word tokeniser and an averaged
//! perceptron that gives each word a Universal POS tag and a Penn Treebank tag.

/// One word of a tagged sentence.
///
/// `upos` is the Universal Dependencies tag (`NOUN`, `ADJ`, `VERB`, `ADP`, `DET`, ...),
/// `xpos` the Penn Treebank tag (`NN`, `NNS`, `JJ`, `VBG`, `IN`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedWord {
    pub word: String,
    pub upos: String,
    pub xpos: String,
}
