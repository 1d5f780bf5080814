//! CLIP's byte-level BPE tokenizer, equal to open_clip's `SimpleTokenizer`
//! (`open_clip.tokenize`): same cleaning, same pre-tokenisation regex, same
//! 49408-token vocabulary and merges, same truncation and padding.
//!
//! The vocabulary ships with the crate (`assets/bpe_simple_vocab_16e6.txt.gz`,
//! from the MIT-licensed `open_clip_torch` wheel) and is parsed once per process.

mod clean;
mod html;

pub use clean::clean_lower;

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, OnceLock, RwLock};

use rayon::prelude::*;
use regex::Regex;

/// `<start_of_text>` id.
pub const SOT: u32 = 49406;
/// `<end_of_text>` id.
pub const EOT: u32 = 49407;
/// Context length of every OpenAI CLIP text tower.
pub const DEFAULT_CONTEXT_LENGTH: usize = 77;

static BPE_GZ: &[u8] = include_bytes!("../../assets/bpe_simple_vocab_16e6.txt.gz");

/// open_clip keeps merges 1..=48894 of the file (line 0 is a version header).
const NUM_MERGES: usize = 49152 - 256 - 2;
/// Words cached by BPE before the cache is emptied (bounds memory on huge corpora).
const CACHE_LIMIT: usize = 200_000;
/// Batches at least this long are tokenized on the rayon pool.
const PARALLEL_BATCH: usize = 64;

/// CLIP's pre-tokenisation: special tokens, English contractions, letter runs,
/// single digits, runs of other non-space characters.
const PATTERN: &str =
    r"<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+";

/// The CLIP tokenizer. Cloning is cheap: the vocabulary and BPE cache are shared.
#[derive(Clone)]
pub struct ClipTokenizer {
    inner: Arc<Inner>,
}

struct Inner {
    vocab: &'static Vocab,
    pattern: Regex,
    /// Pre-token (after byte mapping) → its BPE ids.
    cache: RwLock<HashMap<String, Vec<u32>>>,
}

/// The parsed vocabulary; built once per process and shared by every tokenizer.
struct Vocab {
    /// Byte → id of its printable stand-in character (without `</w>`).
    byte_id: [u32; 256],
    /// Printable stand-in character → byte, for decoding.
    char_byte: HashMap<char, u8>,
    /// (left id, right id) → (merge rank, merged id).
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// id → token text (stand-in characters, `</w>` suffixes kept).
    tokens: Vec<String>,
}

impl Default for ClipTokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ClipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipTokenizer")
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

impl ClipTokenizer {
    /// The tokenizer over the shipped open_clip vocabulary.
    pub fn new() -> ClipTokenizer {
        static VOCAB: OnceLock<Vocab> = OnceLock::new();
        let vocab = VOCAB.get_or_init(Vocab::load);
        let pattern = Regex::new(PATTERN).expect("CLIP's pattern is a valid regex");
        ClipTokenizer {
            inner: Arc::new(Inner {
                vocab,
                pattern,
                cache: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// 49408: 256 bytes, 256 bytes ending a word, 48894 merges, SOT, EOT.
    pub fn vocab_size(&self) -> usize {
        self.inner.vocab.tokens.len()
    }

    /// BPE ids of `text` after open_clip's cleaning, without SOT/EOT.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let cleaned = clean_lower(text);
        let mut ids = Vec::new();
        for piece in self.inner.pattern.find_iter(&cleaned) {
            match piece.as_str() {
                "<start_of_text>" => ids.push(SOT),
                "<end_of_text>" => ids.push(EOT),
                word => self.bpe_into(word, &mut ids),
            }
        }
        ids
    }

    /// `[SOT, ids.., EOT, 0, ..]` of exactly `context_length` ids. Longer texts
    /// are cut and their last id replaced by EOT, as open_clip does.
    pub fn tokenize(&self, text: &str, context_length: usize) -> Vec<u32> {
        let mut row = Vec::with_capacity(context_length.max(2));
        row.push(SOT);
        row.extend(self.encode(text));
        row.push(EOT);
        if row.len() > context_length {
            row.truncate(context_length);
            if let Some(last) = row.last_mut() {
                *last = EOT;
            }
        }
        row.resize(context_length, 0);
        row
    }

    /// [`tokenize`](Self::tokenize) for many texts: a flat row-major
    /// `[texts.len() * context_length]` buffer, filled in parallel when large.
    pub fn tokenize_batch(
        &self,
        texts: &[impl AsRef<str> + Sync],
        context_length: usize,
    ) -> Vec<u32> {
        let mut out = vec![0u32; texts.len() * context_length];
        if context_length == 0 {
            return out;
        }
        let fill = |(row, text): (&mut [u32], &_)| {
            row.copy_from_slice(&self.tokenize(AsRef::<str>::as_ref(text), context_length));
        };
        if texts.len() >= PARALLEL_BATCH {
            out.par_chunks_mut(context_length)
                .zip(texts.par_iter())
                .for_each(fill);
        } else {
            out.chunks_mut(context_length)
                .zip(texts.iter())
                .for_each(fill);
        }
        out
    }

    /// Text of `ids`: word ends become spaces; bytes that are not valid UTF-8
    /// become U+FFFD. Ids outside the vocabulary are skipped.
    pub fn decode(&self, ids: &[u32]) -> String {
        let vocab = self.inner.vocab;
        let text: String = ids
            .iter()
            .filter_map(|&id| vocab.tokens.get(id as usize))
            .map(String::as_str)
            .collect();
        let bytes: Vec<u8> = text.chars().map(|c| vocab.char_byte[&c]).collect();
        String::from_utf8_lossy(&bytes).replace("</w>", " ")
    }

    /// Appends the BPE ids of one pre-token, through the shared cache.
    fn bpe_into(&self, word: &str, ids: &mut Vec<u32>) {
        if let Some(hit) = self.inner.cache.read().expect("cache lock").get(word) {
            ids.extend_from_slice(hit);
            return;
        }
        let merged = self.inner.vocab.bpe(word.as_bytes());
        ids.extend_from_slice(&merged);
        let mut cache = self.inner.cache.write().expect("cache lock");
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(word.to_string(), merged);
    }
}

impl Vocab {
    fn load() -> Vocab {
        let mut text = String::new();
        flate2::read::GzDecoder::new(BPE_GZ)
            .read_to_string(&mut text)
            .expect("the embedded BPE vocabulary is valid gzip");
        let merge_lines: Vec<(&str, &str)> = text
            .split('\n')
            .skip(1)
            .take(NUM_MERGES)
            .map(|line| {
                line.split_once(' ')
                    .expect("a merge line holds two symbols")
            })
            .collect();

        let byte_chars = bytes_to_unicode();
        let mut tokens: Vec<String> = byte_chars.iter().map(|(_, c)| c.to_string()).collect();
        tokens.extend(byte_chars.iter().map(|(_, c)| format!("{c}</w>")));
        tokens.extend(merge_lines.iter().map(|(a, b)| format!("{a}{b}")));
        tokens.push("<start_of_text>".into());
        tokens.push("<end_of_text>".into());

        // Python builds `dict(zip(vocab, range(len)))`: a repeated string keeps its
        // last id, so look ids up through the same map.
        let id_of: HashMap<&str, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i as u32))
            .collect();
        let merges = merge_lines
            .iter()
            .enumerate()
            .map(|(rank, (a, b))| {
                let merged = id_of[format!("{a}{b}").as_str()];
                ((id_of[a], id_of[b]), (rank as u32, merged))
            })
            .collect();
        let mut byte_id = [0u32; 256];
        for (pos, (byte, _)) in byte_chars.iter().enumerate() {
            byte_id[*byte as usize] = pos as u32;
        }
        let char_byte = byte_chars.iter().map(|(b, c)| (*c, *b)).collect();
        Vocab {
            byte_id,
            char_byte,
            merges,
            tokens,
        }
    }

    /// BPE of one pre-token's UTF-8 bytes: start from one symbol per byte (the
    /// last marked as ending the word) and apply the lowest-ranked merge present,
    /// all its non-overlapping occurrences left to right, until none applies.
    fn bpe(&self, bytes: &[u8]) -> Vec<u32> {
        let mut word: Vec<u32> = bytes.iter().map(|&b| self.byte_id[b as usize]).collect();
        if let Some(last) = word.last_mut() {
            *last += 256;
        }
        while word.len() > 1 {
            let best = word
                .windows(2)
                .filter_map(|pair| {
                    self.merges
                        .get(&(pair[0], pair[1]))
                        .map(|m| (m.0, pair[0], pair[1], m.1))
                })
                .min_by_key(|m| m.0);
            let Some((_, first, second, merged)) = best else {
                break;
            };
            let mut next = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len() && word[i] == first && word[i + 1] == second {
                    next.push(merged);
                    i += 2;
                } else {
                    next.push(word[i]);
                    i += 1;
                }
            }
            word = next;
        }
        word
    }
}

/// GPT-2's reversible byte → printable character map, in vocabulary order:
/// printable Latin-1 bytes stand for themselves, the other 68 bytes take code
/// points from U+0100 on.
fn bytes_to_unicode() -> Vec<(u8, char)> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
    let mut pairs: Vec<(u8, char)> = (0..=255u8)
        .filter(|b| printable(*b))
        .map(|b| (b, char::from(b)))
        .collect();
    let others = (0..=255u8).filter(|b| !printable(*b));
    pairs.extend(
        others
            .enumerate()
            .map(|(n, b)| (b, char::from_u32(256 + n as u32).expect("valid"))),
    );
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_has_clip_size_and_special_ids() {
        let tok = ClipTokenizer::new();
        assert_eq!(tok.vocab_size(), 49408);
        assert_eq!(tok.inner.vocab.tokens[SOT as usize], "<start_of_text>");
        assert_eq!(tok.inner.vocab.tokens[EOT as usize], "<end_of_text>");
    }

    #[test]
    fn known_caption_ids() {
        // open_clip.tokenize("a photo of a cat")[0][:7]
        let tok = ClipTokenizer::new();
        assert_eq!(
            tok.encode("a photo of a cat"),
            vec![320, 1125, 539, 320, 2368]
        );
        assert_eq!(
            tok.tokenize("A photo of a cat", 8),
            vec![SOT, 320, 1125, 539, 320, 2368, EOT, 0]
        );
    }

    #[test]
    fn truncation_keeps_eot_last() {
        let tok = ClipTokenizer::new();
        let row = tok.tokenize(&"dog ".repeat(100), 77);
        assert_eq!(row.len(), 77);
        assert_eq!(row[0], SOT);
        assert_eq!(row[76], EOT);
        assert!(row[1..76].iter().all(|&id| id != EOT && id != 0));
    }

    #[test]
    fn decode_inverts_encode_up_to_cleaning() {
        let tok = ClipTokenizer::new();
        let ids = tok.encode("Two dogs, café 日本 🐕!");
        assert_eq!(tok.decode(&ids), "two dogs , café 日本 🐕! ");
    }

    #[test]
    fn batch_equals_rows_and_clones_share_vocab() {
        let tok = ClipTokenizer::new();
        let texts: Vec<String> = (0..100).map(|i| format!("caption number {i}")).collect();
        let flat = tok.clone().tokenize_batch(&texts, 16);
        assert_eq!(flat.len(), 100 * 16);
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(
                &flat[i * 16..(i + 1) * 16],
                tok.tokenize(text, 16).as_slice()
            );
        }
    }
}
