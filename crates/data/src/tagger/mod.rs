//! English part-of-speech tagging: a Penn-style word tokeniser and an averaged
//! perceptron that gives each word a Universal POS tag and a Penn Treebank tag.
//!
//! The perceptron predicts the joint `(UPOS, XPOS)` pair as one class, so the two
//! tags are always consistent (never `VERB` + `NN`), and UPOS distinctions Penn
//! tags blur (`IN` as `ADP` vs `SCONJ`, `NNP` as `PROPN` vs `X`) are learnt from
//! context. A trained model trained on UD English-EWT ships inside the crate
//! ([`Tagger::shipped`]); see `docs/tagger.md` and `NOTICE` for its licence.

pub mod augment;
pub mod bench;
mod conllu;
mod evaluate;
mod features;
mod model_file;
mod perceptron;
mod predict;
mod tokenize;
mod weight_table;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use conllu::{parse_conllu, read_conllu, ConlluError, GoldWord, Sentence};
pub use evaluate::{Evaluation, TagScore};
pub use tokenize::word_tokenize;

use features::{
    context, extract, extract_right, tag_hash, WordInfo, END_TAG, PAD, START_TAG, START_TAG2,
};
use model_file::ModelData;
use perceptron::{argmax, SparseWeights, Trainer};
use predict::Scratch;
use tokenize::tokenize_into;
use weight_table::WeightTable;

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

#[derive(Debug, thiserror::Error)]
pub enum TaggerError {
    #[error("cannot read tagger model {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write tagger model {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("malformed tagger model {source_name}: {message}")]
    Format {
        source_name: String,
        message: String,
    },
}

/// The model shipped with the crate (trained by `scripts/train_tagger.sh`).
static SHIPPED_MODEL: &[u8] = include_bytes!("../../assets/tagger.bin.gz");

/// Words seen at least this often with one class at least this share of the time
/// skip the perceptron (faster, and as accurate).
const TAGDICT_MIN_COUNT: usize = 20;
const TAGDICT_MIN_SHARE: f64 = 0.97;

/// Averaged weights smaller than this are dropped from the model.
const PRUNE_BELOW: f32 = 0.15;

/// FNV-1a over the bytes of a word: tag-dictionary words are short, and SipHash's
/// defence against crafted keys buys nothing for a fixed table.
struct WordHasher(u64);

impl Default for WordHasher {
    fn default() -> Self {
        WordHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        crate::seed::finalize(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    /// One step for a whole number (keys that are mixes of hashes already);
    /// strings never call it.
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// Words that always carry one class, and that class.
type TagDict = HashMap<String, u16, BuildHasherDefault<WordHasher>>;

/// An averaged-perceptron part-of-speech tagger.
#[derive(Debug, Clone)]
pub struct Tagger {
    /// `(upos, xpos)` of each class.
    classes: Vec<(String, String)>,
    tagdict: TagDict,
    /// First pass: left-to-right, sees the words and the tags already chosen.
    weights: SparseWeights,
    /// Second pass: also sees the first pass's tags of the next two words.
    second: SparseWeights,
    /// Both passes' weights as tagging reads them (built from the two above).
    table: WeightTable,
    /// Tells this tagger's weights apart from every other tagger's in this process
    /// (a clone shares them), for the per-thread `predict::SumCache`s and
    /// `predict::WordTypes`.
    id: u64,
}

thread_local! {
    /// Each thread's buffers for [`Tagger::with_tags`].
    static TEXT_SCRATCH: RefCell<TextScratch> = RefCell::default();
}

/// Buffers for tokenising and tagging one text, kept between texts. The token
/// and tag vectors are stored empty, as `'static` borrows, and lent out with the
/// lifetime of each call ([`recycle`]).
#[derive(Default)]
struct TextScratch {
    chars: Vec<(usize, char)>,
    tokens: Vec<&'static str>,
    classes: Vec<u16>,
    tags: Vec<(&'static str, &'static str)>,
    predict: Scratch,
}

/// Empties `v` and returns its allocation as a vector of another element type of
/// the same size (`collect` reuses the buffer of an emptied `Vec`'s iterator): how
/// buffers of borrowed strings outlive the strings they borrowed.
pub(crate) fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter()
        .map(|_| -> U { unreachable!("the vector is empty") })
        .collect()
}

impl Tagger {
    /// The model shipped inside the crate, decoded on first use.
    pub fn shipped() -> &'static Tagger {
        static SHIPPED: OnceLock<Tagger> = OnceLock::new();
        SHIPPED.get_or_init(|| {
            Tagger::from_bytes(SHIPPED_MODEL, "<shipped tagger.bin.gz>")
                .expect("the shipped tagger model is valid")
        })
    }

    /// Reads a model written by [`Tagger::save`].
    pub fn load(path: &Path) -> Result<Tagger, TaggerError> {
        let bytes = std::fs::read(path).map_err(|source| TaggerError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Tagger::from_bytes(&bytes, &path.display().to_string())
    }

    /// Decodes a gzip model; `source_name` names it in errors.
    pub fn from_bytes(bytes: &[u8], source_name: &str) -> Result<Tagger, TaggerError> {
        let data = model_file::decode(bytes).map_err(|message| TaggerError::Format {
            source_name: source_name.to_string(),
            message,
        })?;
        Ok(Tagger::new(
            data.classes,
            data.tagdict.into_iter().collect(),
            data.weights,
            data.second,
        ))
    }

    fn new(
        classes: Vec<(String, String)>,
        tagdict: TagDict,
        weights: SparseWeights,
        second: SparseWeights,
    ) -> Tagger {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let table = WeightTable::new([&weights, &second], classes.len());
        Tagger {
            classes,
            tagdict,
            weights,
            second,
            table,
            // Never 0, the id of an empty `SumCache` or `WordTypes`.
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The model as gzip bytes (what [`Tagger::save`] writes).
    pub fn to_bytes(&self) -> Vec<u8> {
        model_file::encode(&ModelData {
            classes: self.classes.clone(),
            tagdict: self.tagdict.iter().map(|(w, &c)| (w.clone(), c)).collect(),
            weights: self.weights.clone(),
            second: self.second.clone(),
        })
    }

    /// Writes the model atomically ([`crate::atomic::write_atomic`]): a crash never leaves
    /// a half-written model behind.
    pub fn save(&self, path: &Path) -> Result<(), TaggerError> {
        crate::atomic::write_atomic(path, &self.to_bytes()).map_err(|source| TaggerError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Trains on gold sentences: `iterations` passes over them, shuffled by a
    /// ChaCha8 generator seeded with `seed` (same inputs and seed, same model).
    ///
    /// The second pass learns from first-pass tags that are as wrong as they will
    /// be on new text: each training sentence is tagged by a first-pass model
    /// trained on the other folds (jackknifing), not by one that has seen it.
    pub fn train(sentences: &[Sentence], iterations: usize, seed: u64) -> Tagger {
        let classes = collect_classes(sentences);
        let class_of: HashMap<(&str, &str), u16> = classes
            .iter()
            .enumerate()
            .map(|(i, (u, x))| ((u.as_str(), x.as_str()), i as u16))
            .collect();
        let gold: Vec<Vec<u16>> = sentences
            .iter()
            .map(|s| {
                s.words
                    .iter()
                    .map(|w| class_of[&(w.upos.as_str(), w.xpos.as_str())])
                    .collect()
            })
            .collect();
        let tagdict = build_tagdict(sentences, &gold);
        let corpus = Corpus {
            sentences,
            gold: &gold,
            tagdict: &tagdict,
            n_classes: classes.len(),
        };
        let all: Vec<usize> = (0..sentences.len()).collect();
        let weights = corpus.train_pass(&all, None, iterations, seed);
        let first_pass = corpus.jackknife(iterations, seed);
        let second = corpus.train_pass(&all, Some(&first_pass), iterations, seed);
        Tagger::new(classes, tagdict, weights, second)
    }

    /// Tags already-tokenised words.
    pub fn tag_words(&self, words: &[&str]) -> Vec<TaggedWord> {
        let mut classes = Vec::with_capacity(words.len());
        self.predict_into(words, &mut Scratch::default(), &mut classes);
        words
            .iter()
            .zip(classes)
            .map(|(word, class)| self.tagged_word(word, class))
            .collect()
    }

    fn tagged_word(&self, word: &str, class: u16) -> TaggedWord {
        let (upos, xpos) = &self.classes[class as usize];
        TaggedWord {
            word: word.to_string(),
            upos: upos.clone(),
            xpos: xpos.clone(),
        }
    }

    /// Tokenises `text` with [`word_tokenize`] and tags the words.
    pub fn tag(&self, text: &str) -> Vec<TaggedWord> {
        self.with_tags(text, |tokens, tags| {
            tokens
                .iter()
                .zip(tags)
                .map(|(word, (upos, xpos))| TaggedWord {
                    word: word.to_string(),
                    upos: upos.to_string(),
                    xpos: xpos.to_string(),
                })
                .collect()
        })
    }

    /// Tokenises `text` with [`word_tokenize`], tags the words and calls `visit`
    /// with the tokens and their `(upos, xpos)` tags, borrowed: the fast path for
    /// one text at a time. The buffers are per thread and reused, so nothing is
    /// allocated per word.
    pub fn with_tags<R>(&self, text: &str, visit: impl FnOnce(&[&str], &[(&str, &str)]) -> R) -> R {
        TEXT_SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.tag_text(text, &mut scratch, visit),
            // `visit` is tagging another text on this thread: it gets its own buffers.
            Err(_) => self.tag_text(text, &mut TextScratch::default(), visit),
        })
    }

    fn tag_text<R>(
        &self,
        text: &str,
        s: &mut TextScratch,
        visit: impl FnOnce(&[&str], &[(&str, &str)]) -> R,
    ) -> R {
        let mut tokens = recycle(std::mem::take(&mut s.tokens));
        tokenize_into(text, &mut s.chars, &mut tokens);
        s.classes.clear();
        self.predict_into(&tokens, &mut s.predict, &mut s.classes);
        let mut tags = recycle(std::mem::take(&mut s.tags));
        tags.extend(s.classes.iter().map(|&c| {
            let (upos, xpos) = &self.classes[c as usize];
            (upos.as_str(), xpos.as_str())
        }));
        let result = visit(&tokens, &tags);
        s.tokens = recycle(tokens);
        s.tags = recycle(tags);
        result
    }

    /// Tags many pre-tokenised sentences with one scratch workspace, calling
    /// `visit` with each sentence's `(upos, xpos)` tags; the fast path for bulk use.
    pub fn tag_each<'a, S: AsRef<[&'a str]>>(
        &self,
        sentences: &[S],
        mut visit: impl FnMut(usize, &[(&str, &str)]),
    ) {
        let mut scratch = Scratch::default();
        let (mut classes, mut tags) = (Vec::new(), Vec::new());
        for (i, sentence) in sentences.iter().enumerate() {
            classes.clear();
            self.predict_into(sentence.as_ref(), &mut scratch, &mut classes);
            tags.clear();
            tags.extend(classes.iter().map(|&c| {
                let (u, x) = &self.classes[c as usize];
                (u.as_str(), x.as_str())
            }));
            visit(i, &tags);
        }
    }

    /// Accuracy of this tagger on gold sentences (tokenisation taken from the gold).
    pub fn evaluate(&self, sentences: &[Sentence]) -> Evaluation {
        let mut evaluation = Evaluation::default();
        let mut scratch = Scratch::default();
        let mut classes = Vec::new();
        for sentence in sentences {
            let words: Vec<&str> = sentence.words.iter().map(|w| w.form.as_str()).collect();
            classes.clear();
            self.predict_into(&words, &mut scratch, &mut classes);
            for (gold, &class) in sentence.words.iter().zip(&classes) {
                let (upos, xpos) = &self.classes[class as usize];
                evaluation.add((&gold.upos, &gold.xpos), (upos, xpos));
            }
            evaluation.sentences += 1;
        }
        evaluation
    }

    /// Number of weighted features and tag-dictionary words (model size report).
    pub fn size(&self) -> (usize, usize) {
        (self.weights.feature_count(), self.tagdict.len())
    }
}

/// Training's scratch buffers, reused across sentences so training allocates per
/// sentence, not per feature.
struct Workspace {
    lower: Vec<char>,
    ctx: Vec<WordInfo>,
    features: Vec<u64>,
    scores: Vec<f32>,
}

impl Workspace {
    fn new(n_classes: usize) -> Workspace {
        Workspace {
            lower: Vec::new(),
            ctx: Vec::new(),
            features: Vec::new(),
            scores: vec![0.0; n_classes],
        }
    }

    /// Summarises the words once; both passes then decode from this context.
    fn prepare(&mut self, words: &[&str]) {
        context(words, &mut self.lower, &mut self.ctx);
    }

    /// Greedy left-to-right decoding of the [`Workspace::prepare`]d words: each word's class comes from the tag
    /// dictionary or from `decide(i, features, scores)` (which, in training, also
    /// updates the weights from word `i`'s gold class).
    fn run(
        &mut self,
        words: &[&str],
        tagdict: &TagDict,
        first_pass: Option<&[u16]>,
        mut decide: impl FnMut(usize, &[u64], &mut [f32]) -> u16,
    ) -> Vec<u16> {
        debug_assert_eq!(
            self.ctx.len(),
            words.len() + 2 * PAD,
            "prepare() these words first"
        );
        let (mut prev, mut prev2) = (START_TAG, START_TAG2);
        let mut out = Vec::with_capacity(words.len());
        for (i, word) in words.iter().enumerate() {
            let class = match tagdict.get(*word) {
                Some(&class) => class,
                None => {
                    extract(&self.ctx, i + PAD, prev, prev2, &mut self.features);
                    if let Some(first) = first_pass {
                        let at = |j: usize| first.get(j).map_or(END_TAG, |&c| tag_hash(c));
                        extract_right(
                            &self.ctx,
                            i + PAD,
                            prev,
                            [at(i), at(i + 1), at(i + 2)],
                            &mut self.features,
                        );
                    }
                    decide(i, &self.features, &mut self.scores)
                }
            };
            out.push(class);
            prev2 = prev;
            prev = tag_hash(class);
        }
        out
    }
}

/// Number of folds for jackknifed first-pass tags.
const JACKKNIFE_FOLDS: usize = 5;

/// The training material shared by both passes.
struct Corpus<'a> {
    sentences: &'a [Sentence],
    gold: &'a [Vec<u16>],
    tagdict: &'a TagDict,
    n_classes: usize,
}

impl Corpus<'_> {
    /// Trains one pass on the sentences `subset` (with first-pass tags for the
    /// second pass).
    fn train_pass(
        &self,
        subset: &[usize],
        first_pass: Option<&[Vec<u16>]>,
        iterations: usize,
        seed: u64,
    ) -> SparseWeights {
        let mut trainer = Trainer::new();
        let mut order = subset.to_vec();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut work = Workspace::new(self.n_classes);
        for _ in 0..iterations {
            order.shuffle(&mut rng);
            for &s in &order {
                let words: Vec<&str> = self.sentences[s]
                    .words
                    .iter()
                    .map(|w| w.form.as_str())
                    .collect();
                let first = first_pass.map(|tags| tags[s].as_slice());
                work.prepare(&words);
                work.run(&words, self.tagdict, first, |i, features, scores| {
                    trainer.score(features, scores);
                    let guess = argmax(scores);
                    trainer.update(self.gold[s][i], guess, features);
                    guess
                });
            }
        }
        trainer.average(PRUNE_BELOW)
    }

    /// First-pass tags of every sentence from a model trained without its fold.
    fn jackknife(&self, iterations: usize, seed: u64) -> Vec<Vec<u16>> {
        let mut tags = vec![Vec::new(); self.sentences.len()];
        let mut work = Workspace::new(self.n_classes);
        for fold in 0..JACKKNIFE_FOLDS {
            let (held, rest): (Vec<usize>, Vec<usize>) =
                (0..self.sentences.len()).partition(|s| s % JACKKNIFE_FOLDS == fold);
            let weights =
                self.train_pass(&rest, None, iterations, seed.wrapping_add(fold as u64 + 1));
            for s in held {
                let words: Vec<&str> = self.sentences[s]
                    .words
                    .iter()
                    .map(|w| w.form.as_str())
                    .collect();
                work.prepare(&words);
                tags[s] = work.run(&words, self.tagdict, None, |_, features, scores| {
                    weights.score(features, scores);
                    argmax(scores)
                });
            }
        }
        tags
    }
}

/// Joint classes in a fixed order (sorted), so training is deterministic.
fn collect_classes(sentences: &[Sentence]) -> Vec<(String, String)> {
    let mut set = std::collections::BTreeSet::new();
    for word in sentences.iter().flat_map(|s| &s.words) {
        set.insert((word.upos.clone(), word.xpos.clone()));
    }
    set.into_iter().collect()
}

/// Frequent words that (nearly) always carry the same class.
fn build_tagdict(sentences: &[Sentence], gold: &[Vec<u16>]) -> TagDict {
    let mut counts: BTreeMap<&str, BTreeMap<u16, usize>> = BTreeMap::new();
    for (sentence, classes) in sentences.iter().zip(gold) {
        for (word, &class) in sentence.words.iter().zip(classes) {
            *counts
                .entry(word.form.as_str())
                .or_default()
                .entry(class)
                .or_default() += 1;
        }
    }
    counts
        .into_iter()
        .filter_map(|(word, by_class)| {
            let total: usize = by_class.values().sum();
            let (&class, &best) = by_class
                .iter()
                .max_by_key(|(&c, &n)| (n, std::cmp::Reverse(c)))?;
            let unambiguous =
                total >= TAGDICT_MIN_COUNT && best as f64 / total as f64 >= TAGDICT_MIN_SHARE;
            unambiguous.then(|| (word.to_string(), class))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy_corpus() -> Vec<Sentence> {
        let a = Sentence::from_triples(&[
            ("the", "DET", "DT"),
            ("dog", "NOUN", "NN"),
            ("runs", "VERB", "VBZ"),
        ]);
        let b = Sentence::from_triples(&[
            ("a", "DET", "DT"),
            ("cat", "NOUN", "NN"),
            ("sleeps", "VERB", "VBZ"),
            (".", "PUNCT", "."),
        ]);
        let c = Sentence::from_triples(&[("dogs", "NOUN", "NNS"), ("run", "VERB", "VBP")]);
        [a, b, c].iter().cycle().take(30).cloned().collect()
    }

    #[test]
    fn learns_toy_corpus_and_is_deterministic() {
        let corpus = toy_corpus();
        let tagger = Tagger::train(&corpus, 5, 7);
        let evaluation = tagger.evaluate(&corpus);
        assert_eq!(evaluation.upos_accuracy(), 1.0, "{evaluation}");
        let again = Tagger::train(&corpus, 5, 7);
        assert_eq!(tagger.to_bytes(), again.to_bytes());
        let tagged = tagger.tag("the cat runs");
        let xpos: Vec<&str> = tagged.iter().map(|t| t.xpos.as_str()).collect();
        assert_eq!(xpos, ["DT", "NN", "VBZ"]);
    }

    #[test]
    fn save_and_load_round_trip() {
        let tagger = Tagger::train(&toy_corpus(), 3, 1);
        let dir = std::env::temp_dir().join(format!("negclip-tagger-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.bin.gz");
        tagger.save(&path).unwrap();
        let loaded = Tagger::load(&path).unwrap();
        assert_eq!(loaded.tag("a dog sleeps"), tagger.tag("a dog sleeps"));
        assert!(!dir.join("model.bin.gz.tmp").exists());
        std::fs::write(&path, b"junk").unwrap();
        let err = Tagger::load(&path).unwrap_err().to_string();
        assert!(err.contains("model.bin.gz"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shipped_model_tags_a_caption() {
        let tagged = Tagger::shipped().tag("two dogs are playing with a red frisbee");
        let xpos: Vec<&str> = tagged.iter().map(|t| t.xpos.as_str()).collect();
        assert_eq!(xpos, ["CD", "NNS", "VBP", "VBG", "IN", "DT", "JJ", "NN"]);
        let upos: Vec<&str> = tagged.iter().map(|t| t.upos.as_str()).collect();
        assert_eq!(
            upos,
            ["NUM", "NOUN", "AUX", "VERB", "ADP", "DET", "ADJ", "NOUN"]
        );
        assert!(Tagger::shipped().tag("").is_empty());
    }
}
