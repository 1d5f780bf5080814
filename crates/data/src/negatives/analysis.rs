//! What several rewriters read from one tagged caption, worked out once.
//!
//! `swap-attribute`, `swap-relation` and `swap-noun-phrase` all need the
//! caption's noun phrases (and so its multi-word-preposition mask), and every
//! swap needs the caption's words as a token list. Computing them per rewriter
//! repeated the same work three or more times per caption; an [`Analysis`] is
//! built once per caption and shared by all rewriters.

use std::cell::OnceCell;

use super::chunks::{chunk, Chunks};
use super::Word;

/// A tagged caption with its tokens and, on first use, its chunks.
#[derive(Debug)]
pub struct Analysis<'w, 'a> {
    pub words: &'w [Word<'a>],
    /// The words' texts, in order: what the swaps rearrange.
    pub tokens: Vec<&'a str>,
    /// Computed on first use: a caption asked only for kinds that never chunk
    /// (noun, adverb, order, ...) does not pay for it.
    chunks: OnceCell<Chunks>,
}

impl<'w, 'a> Analysis<'w, 'a> {
    pub fn new(words: &'w [Word<'a>]) -> Self {
        Analysis {
            words,
            tokens: words.iter().map(|w| w.word).collect(),
            chunks: OnceCell::new(),
        }
    }

    /// The caption's noun phrases and relations ([`chunk`]), computed once.
    pub fn chunks(&self) -> &Chunks {
        self.chunks.get_or_init(|| chunk(self.words))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::chunks::noun_phrases;
    use crate::negatives::test_support::tagged;

    #[test]
    fn shares_the_chunks_of_its_words() {
        let w =
            tagged("a/DT/DET cat/NN/NOUN on/IN/ADP top/NN/NOUN of/IN/ADP a/DT/DET table/NN/NOUN");
        let analysis = Analysis::new(&w);
        assert_eq!(
            analysis.tokens,
            ["a", "cat", "on", "top", "of", "a", "table"]
        );
        assert_eq!(analysis.chunks(), &chunk(&w));
        assert_eq!(analysis.chunks().noun_phrases, noun_phrases(&w));
        assert!(
            std::ptr::eq(analysis.chunks(), analysis.chunks()),
            "computed once"
        );
    }
}
