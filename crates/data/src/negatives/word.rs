//! The types every rewriter shares: the tagged [`Word`] it reads, the [`PosTagger`] that
//! tags a caption, and the [`Negative`] it writes.

use crate::tagger::TaggedWord;

use super::kind::NegativeKind;

/// A tagged word as the rewriters read it: borrowed from the tagger's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word<'a> {
    pub word: &'a str,
    /// Universal POS tag (`NOUN`, `ADJ`, ...).
    pub upos: &'a str,
    /// Penn Treebank tag (`NN`, `JJ`, ...).
    pub xpos: &'a str,
}

impl<'a> From<&'a TaggedWord> for Word<'a> {
    fn from(w: &'a TaggedWord) -> Self {
        Word {
            word: &w.word,
            upos: &w.upos,
            xpos: &w.xpos,
        }
    }
}

/// What [`PosTagger::with_words`] calls: the tagged words and, when asked for,
/// the word tokens.
pub type WordsVisitor<'v> = dyn FnMut(&[Word], Option<&[&str]>) + 'v;

/// The part-of-speech tagger the rewriters need.
///
/// `tag` gives each token of `text` a Universal and a Penn Treebank tag;
/// `word_tokenize` splits `text` into Penn-style word tokens (punctuation split
/// off), which the trigram order perturbations use.
pub trait PosTagger: Sync {
    fn tag(&self, text: &str) -> Vec<TaggedWord>;
    fn word_tokenize(&self, text: &str) -> Vec<String>;

    /// Tags `text` and calls `visit` with its tagged words and, when
    /// `with_word_tokens`, its word tokens, both borrowed for the call. The default
    /// goes through [`PosTagger::tag`] and [`PosTagger::word_tokenize`]; a tagger
    /// overrides it to save allocating a `String` per word.
    fn with_words(&self, text: &str, with_word_tokens: bool, visit: &mut WordsVisitor) {
        let tagged = self.tag(text);
        let words: Vec<Word> = tagged.iter().map(Word::from).collect();
        let word_tokens = with_word_tokens.then(|| self.word_tokenize(text));
        let tokens: Option<Vec<&str>> = word_tokens
            .as_ref()
            .map(|t| t.iter().map(String::as_str).collect());
        visit(&words, tokens.as_deref());
    }
}

impl PosTagger for crate::tagger::Tagger {
    fn tag(&self, text: &str) -> Vec<TaggedWord> {
        crate::tagger::Tagger::tag(self, text)
    }

    fn word_tokenize(&self, text: &str) -> Vec<String> {
        crate::tagger::word_tokenize(text)
    }

    /// The tagger's tokens are the word tokens, so one tokenisation serves both.
    /// The words go in a vector kept per thread.
    fn with_words(&self, text: &str, with_word_tokens: bool, visit: &mut WordsVisitor) {
        self.with_tags(text, |tokens, tags| {
            // Taken out while in use: a nested call starts from an empty vector.
            let mut words: Vec<Word> = crate::tagger::recycle(WORDS.take());
            let tagged = tokens.iter().zip(tags);
            words.extend(tagged.map(|(&word, &(upos, xpos))| Word { word, upos, xpos }));
            visit(&words, with_word_tokens.then_some(tokens));
            WORDS.set(crate::tagger::recycle(words));
        });
    }
}

thread_local! {
    /// The vector of [`PosTagger::with_words`]' words, kept empty between
    /// captions as `'static` borrows ([`recycle`](crate::tagger::recycle)).
    static WORDS: std::cell::Cell<Vec<Word<'static>>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The tagger that ships inside the crate (trained on UD English-EWT), as the rewriters
/// take it.
pub fn shipped_tagger() -> &'static dyn PosTagger {
    crate::tagger::Tagger::shipped()
}

/// One hard-negative caption and the rewrite that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Negative {
    pub text: String,
    pub kind: NegativeKind,
}

impl Negative {
    pub fn new(text: impl Into<String>, kind: NegativeKind) -> Self {
        Self {
            text: text.into(),
            kind,
        }
    }
}
