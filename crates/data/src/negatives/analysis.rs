//! What several rewriters read from one tagged caption, worked out once.
//!
//! `swap-attribute`, `swap-relation` and `swap-noun-phrase` all need the
//! caption's noun phrases (and so its multi-word-preposition mask), and every
//! swap needs the caption's words as a token list. Computing them per rewriter
//! repeated the same work three or more times per caption; an [`Analysis`] is
//! built once per caption and shared by all rewriters.

use std::cell::{OnceCell, RefCell};

use super::chunks::{chunk_into, Chunks};
use super::tags::{tags_into, Tags};
use super::word::Word;
use crate::tagger::recycle;

/// A tagged caption with its tokens and, on first use, its chunks.
#[derive(Debug)]
pub struct Analysis<'w, 'a> {
    pub words: &'w [Word<'a>],
    /// The words' texts, in order: what the swaps rearrange.
    pub tokens: Vec<&'a str>,
    /// The words' tags, as the rewriters test them.
    pub tags: Vec<Tags>,
    /// Computed on first use: a caption asked only for kinds that never chunk
    /// (noun, adverb, order, ...) does not pay for it.
    chunks: OnceCell<Chunks>,
    /// The vectors the chunks are made in until they are, then the
    /// multi-word-preposition mask's.
    spare: RefCell<Chunks>,
    blocked: RefCell<Vec<bool>>,
}

/// The vectors of an [`Analysis`], kept from caption to caption: the tokens
/// stored empty, as `'static` borrows ([`recycle`]).
#[derive(Debug, Default)]
pub(super) struct Storage {
    tokens: Vec<&'static str>,
    tags: Vec<Tags>,
    chunks: Chunks,
    blocked: Vec<bool>,
}

impl<'w, 'a> Analysis<'w, 'a> {
    pub fn new(words: &'w [Word<'a>]) -> Self {
        Self::with_storage(words, Storage::default())
    }

    /// [`Analysis::new`] in the vectors of `storage`.
    pub(super) fn with_storage(words: &'w [Word<'a>], storage: Storage) -> Self {
        let mut tokens: Vec<&'a str> = recycle(storage.tokens);
        tokens.extend(words.iter().map(|w| w.word));
        let mut tags = storage.tags;
        tags_into(words, &mut tags);
        Analysis {
            words,
            tokens,
            tags,
            chunks: OnceCell::new(),
            spare: RefCell::new(storage.chunks),
            blocked: RefCell::new(storage.blocked),
        }
    }

    /// The vectors, for the next caption's [`Analysis::with_storage`].
    pub(super) fn into_storage(self) -> Storage {
        Storage {
            tokens: recycle(self.tokens),
            tags: self.tags,
            chunks: self
                .chunks
                .into_inner()
                .unwrap_or_else(|| self.spare.into_inner()),
            blocked: self.blocked.into_inner(),
        }
    }

    /// The caption's noun phrases and relations ([`chunk`](super::chunks::chunk)), computed once.
    pub fn chunks(&self) -> &Chunks {
        self.chunks.get_or_init(|| {
            let (mut chunks, mut blocked) = (self.spare.take(), self.blocked.take());
            chunk_into(self.words, &self.tags, &mut blocked, &mut chunks);
            self.blocked.replace(blocked);
            chunks
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::chunks::{chunk, noun_phrases};
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

    #[test]
    fn a_caption_analysed_in_another_captions_vectors_is_analysed_alike() {
        let long = tagged("a/DT/DET cat/NN/NOUN on/IN/ADP top/NN/NOUN of/IN/ADP a/DT/DET table/NN/NOUN near/IN/ADP a/DT/DET dog/NN/NOUN");
        let short = tagged("the/DT/DET dog/NN/NOUN in/IN/ADP a/DT/DET car/NN/NOUN");
        let chunked = Analysis::new(&long);
        chunked.chunks();
        let not_chunked = Analysis::new(&long);
        for storage in [chunked.into_storage(), not_chunked.into_storage()] {
            let reused = Analysis::with_storage(&short, storage);
            assert_eq!(reused.tokens, ["the", "dog", "in", "a", "car"]);
            assert_eq!(reused.tags, crate::negatives::tags::tags_of(&short));
            assert_eq!(reused.chunks(), &chunk(&short));
        }
    }
}
