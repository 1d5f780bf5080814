//! Feature extraction for the perceptron, without allocating per feature.
//!
//! Every word is summarised once per sentence as a handful of 64-bit hashes
//! (normalised word, prefixes, suffixes, shape); each feature is then one mix of a
//! template id with one or two of those hashes. The perceptron never sees strings.

use crate::seed::finalize;

/// Per-word hashes the feature templates draw on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WordInfo {
    norm: u64,
    suf1: u64,
    suf2: u64,
    suf3: u64,
    suf4: u64,
    pre1: u64,
    pre2: u64,
    pre3: u64,
    shape: u64,
    /// The word as written (case kept): `US` vs `us`, `Apple` vs `apple`.
    raw: u64,
}

/// Context padding: two sentinels on each side of the sentence.
pub(crate) const PAD: usize = 2;

/// History hash for "no previous tag" (sentence start), distinct per position.
pub(crate) const START_TAG: u64 = 0x5354_4152_5431_0001;
pub(crate) const START_TAG2: u64 = 0x5354_4152_5432_0002;

/// History hash of a predicted class.
pub(crate) fn tag_hash(class: u16) -> u64 {
    finalize(0x7461_6700_0000_0000 ^ u64::from(class))
}

fn hash_chars(chars: &[char]) -> u64 {
    hash_char_iter(chars.iter().copied())
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv_step(h: u64, c: char) -> u64 {
    (h ^ u64::from(c)).wrapping_mul(0x0000_0100_0000_01b3)
}

fn hash_char_iter(chars: impl Iterator<Item = char>) -> u64 {
    finalize(chars.fold(FNV_OFFSET, fnv_step))
}

fn sentinel(seed: u64) -> WordInfo {
    let h = finalize(seed);
    WordInfo {
        norm: h,
        suf1: h,
        suf2: h,
        suf3: h,
        suf4: h,
        pre1: h,
        pre2: h,
        pre3: h,
        shape: h,
        raw: h,
    }
}

/// Builds the padded context `[START2, START, w0, .., wn, END, END2]`.
/// `lower` is a scratch buffer reused across words.
pub(crate) fn context(words: &[&str], lower: &mut Vec<char>, out: &mut Vec<WordInfo>) {
    context_with(words, |word| word_info(word, lower), out);
}

/// [`context`] with each word's [`WordInfo`] from `info` (which may have kept
/// it from an earlier sentence: it depends on the word alone).
pub(crate) fn context_with<'w>(
    words: &[&'w str],
    mut info: impl FnMut(&'w str) -> WordInfo,
    out: &mut Vec<WordInfo>,
) {
    out.clear();
    out.push(sentinel(0x51));
    out.push(sentinel(0x52));
    out.extend(words.iter().map(|word| info(word)));
    out.push(sentinel(0x53));
    out.push(sentinel(0x54));
}

/// The hashes of one word. `lower` is a scratch buffer.
pub(crate) fn word_info(word: &str, lower: &mut Vec<char>) -> WordInfo {
    lower.clear();
    if word.is_ascii() {
        // The common case, without decoding and case-mapping characters one by one.
        lower.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
    } else {
        lower.extend(word.chars().flat_map(char::to_lowercase));
    }
    let n = lower.len();
    let suffix = |k: usize| hash_chars(&lower[n.saturating_sub(k)..]);
    // One FNV pass over the word gives the prefixes on the way (hash_chars of each prefix).
    let mut prefixes = [0u64; 3];
    let mut h = FNV_OFFSET;
    for (k, &c) in lower.iter().enumerate() {
        h = fnv_step(h, c);
        if k < 3 {
            prefixes[k] = finalize(h);
        }
    }
    // A prefix longer than the word is the whole word (or, for "", the empty hash).
    prefixes[n.min(3)..].fill(finalize(h));
    WordInfo {
        norm: normalised_hash(lower, finalize(h)),
        suf1: suffix(1),
        suf2: suffix(2),
        suf3: suffix(3),
        suf4: suffix(4),
        pre1: prefixes[0],
        pre2: prefixes[1],
        pre3: prefixes[2],
        shape: shape_hash(word),
        raw: hash_char_iter(word.chars()),
    }
}

/// The lower-cased word, except that numbers collapse into a year class and a
/// digits class: the exact digits say nothing about the tag.
/// `hashed` is `hash_chars(lower)`.
fn normalised_hash(lower: &[char], hashed: u64) -> u64 {
    match lower.first() {
        Some(c) if c.is_ascii_digit() => {
            let year = lower.len() == 4 && lower.iter().all(char::is_ascii_digit);
            finalize(if year { 0x5945_4152 } else { 0x4449_4749_5453 })
        }
        _ => hashed,
    }
}

/// Word shape: `Xxxx` for "Horse", `dd.d` for "12.5"; runs of one class are cut
/// at two characters so "Surfboard" and "Horse" share `Xxx`.
fn shape_hash(word: &str) -> u64 {
    let mut h: u64 = 0x1234_5678_9abc_def1;
    let mut last = '\0';
    let mut run = 0;
    for c in word.chars() {
        let class = if c.is_uppercase() {
            'X'
        } else if c.is_lowercase() {
            'x'
        } else if c.is_numeric() {
            'd'
        } else if c.is_alphabetic() {
            'a'
        } else {
            c
        };
        run = if class == last { run + 1 } else { 1 };
        last = class;
        if run <= 2 {
            h ^= u64::from(class);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    finalize(h)
}

fn f1(template: u64, a: u64) -> u64 {
    finalize(a ^ template.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn f2(template: u64, a: u64, b: u64) -> u64 {
    finalize(f1(template, a) ^ b.rotate_left(17))
}

/// The feature hashes of the word at `ctx[i]` (`i >= PAD`) given the two
/// previously predicted tags' history hashes, in training's order (the trainer
/// sums `f32` weights, so the order is part of what makes a model's bytes).
///
/// Tagging splits the same features into those summed once per word type
/// ([`own_features`], [`left_neighbour_features`], [`right_neighbour_features`]),
/// [`near_context_features`] (once per three words in a row) and
/// [`far_context_features`] (once per word, for both passes), [`tag_features`]
/// (once per pair of tags) and [`tag_word_features`]; a test keeps the split
/// equal to this list.
pub(crate) fn extract(ctx: &[WordInfo], i: usize, prev: u64, prev2: u64, out: &mut Vec<u64>) {
    let (w, p1, p2, n1, n2) = (&ctx[i], &ctx[i - 1], &ctx[i - 2], &ctx[i + 1], &ctx[i + 2]);
    let first = u64::from(i == PAD);
    out.clear();
    out.extend_from_slice(&[
        f1(0, 1),
        f1(1, w.norm),
        f1(2, w.suf3),
        f1(3, w.pre1),
        f1(4, prev),
        f1(5, prev2),
        f2(6, prev, prev2),
        f2(7, prev, w.norm),
        f1(8, p1.norm),
        f1(9, p1.suf3),
        f1(10, p2.norm),
        f1(11, n1.norm),
        f1(12, n1.suf3),
        f1(13, n2.norm),
        f1(14, w.suf1),
        f1(15, w.suf2),
        f1(16, w.suf4),
        f1(17, w.pre2),
        f1(18, w.pre3),
        f2(19, w.shape, first),
        f1(20, p1.shape),
        f1(21, n1.shape),
        f2(22, p1.norm, w.norm),
        f2(23, w.norm, n1.norm),
        f2(24, prev, w.suf3),
        f2(25, prev, n1.norm),
        f1(26, n1.suf2),
        f2(27, n1.norm, n2.norm),
        f2(28, p1.norm, n1.norm),
        f1(29, w.raw),
        f1(30, n1.raw),
        f1(31, p1.raw),
        f2(32, prev, w.shape),
        f1(33, n1.pre1),
        f1(34, p1.suf2),
    ]);
}

/// The features of [`extract`] that depend only on the word itself (10 of 35):
/// the same for every occurrence of a word, so tagging can sum their weights
/// once per word type and keep the sum.
pub(crate) fn own_features(ctx: &[WordInfo], i: usize) -> [u64; 10] {
    let w = &ctx[i];
    [
        f1(0, 1),
        f1(1, w.norm),
        f1(2, w.suf3),
        f1(3, w.pre1),
        f1(14, w.suf1),
        f1(15, w.suf2),
        f1(16, w.suf4),
        f1(17, w.pre2),
        f1(18, w.pre3),
        f1(29, w.raw),
    ]
}

/// The features of [`extract`] that the word at `ctx[i]` gives the word after
/// it (5 of 35): they depend on that word alone, so tagging sums them once
/// per word type, as [`own_features`].
pub(crate) fn left_neighbour_features(ctx: &[WordInfo], i: usize) -> [u64; 5] {
    let p1 = &ctx[i];
    [
        f1(8, p1.norm),
        f1(9, p1.suf3),
        f1(20, p1.shape),
        f1(31, p1.raw),
        f1(34, p1.suf2),
    ]
}

/// The features of [`extract`] that the word at `ctx[i]` gives the word before
/// it (6 of 35), summed once per word type as [`left_neighbour_features`].
pub(crate) fn right_neighbour_features(ctx: &[WordInfo], i: usize) -> [u64; 6] {
    let n1 = &ctx[i];
    [
        f1(11, n1.norm),
        f1(12, n1.suf3),
        f1(21, n1.shape),
        f1(26, n1.suf2),
        f1(30, n1.raw),
        f1(33, n1.pre1),
    ]
}

/// The features of [`extract`] of two or three of the words `ctx[i - 1..=i + 1]`,
/// or of the word's position (4 of 35): they depend on those three words alone
/// (the word is first when the one before it is the padding), so tagging sums
/// them once per three words in a row.
pub(crate) fn near_context_features(ctx: &[WordInfo], i: usize) -> [u64; 4] {
    let (w, p1, n1) = (&ctx[i], &ctx[i - 1], &ctx[i + 1]);
    let first = u64::from(i == PAD);
    [
        f2(19, w.shape, first),
        f2(22, p1.norm, w.norm),
        f2(23, w.norm, n1.norm),
        f2(28, p1.norm, n1.norm),
    ]
}

/// The rest of the features of [`extract`] that depend on the words around
/// the word but not on predicted tags (3 of 35): those of a word two away.
pub(crate) fn far_context_features(ctx: &[WordInfo], i: usize) -> [u64; 3] {
    let (n1, p2, n2) = (&ctx[i + 1], &ctx[i - 2], &ctx[i + 2]);
    [f1(10, p2.norm), f1(13, n2.norm), f2(27, n1.norm, n2.norm)]
}

/// The features of [`extract`] that depend on the predicted tags alone (3 of
/// 35): few pairs of tags occur, so tagging sums them once per pair.
pub(crate) fn tag_features(prev: u64, prev2: u64) -> [u64; 3] {
    [f1(4, prev), f1(5, prev2), f2(6, prev, prev2)]
}

/// The features of [`extract`] that involve both the previous tag and the
/// words (4 of 35).
pub(crate) fn tag_word_features(ctx: &[WordInfo], i: usize, prev: u64) -> [u64; 4] {
    let (w, n1) = (&ctx[i], &ctx[i + 1]);
    [
        f2(7, prev, w.norm),
        f2(24, prev, w.suf3),
        f2(25, prev, n1.norm),
        f2(32, prev, w.shape),
    ]
}

/// What [`tag_word_features`] and [`right_word_features`] read of the words
/// (the word's normalised form, 3-letter suffix and shape, the next word's
/// normalised form): equal values give equal features for the same tags, so
/// tagging can key sums of those features by the tags and these values.
pub(crate) fn tag_word_values(ctx: &[WordInfo], i: usize) -> [u64; 4] {
    let (w, n1) = (&ctx[i], &ctx[i + 1]);
    [w.norm, w.suf3, w.shape, n1.norm]
}

/// History hash for "no next tag" (sentence end) in the second pass.
pub(crate) const END_TAG: u64 = 0x454e_4454_4147_0001;

/// The second pass's extra features: the first pass's tags of this word and the
/// two after it, so decisions can look right as well as left.
pub(crate) fn extract_right(
    ctx: &[WordInfo],
    i: usize,
    prev: u64,
    first_pass: [u64; 3],
    out: &mut Vec<u64>,
) {
    let [here, next, next2] = first_pass;
    let w = &ctx[i];
    out.extend_from_slice(&[
        f1(40, here),
        f1(41, next),
        f1(42, next2),
        f2(43, next, next2),
        f2(44, prev, next),
        f2(45, next, w.norm),
        f2(46, next, w.suf3),
        f2(47, here, w.norm),
    ]);
}

/// The features of [`extract_right`] that depend on tags alone (5 of 8),
/// summed once per combination of tags as [`tag_features`].
pub(crate) fn right_tag_features(prev: u64, first_pass: [u64; 3]) -> [u64; 5] {
    let [here, next, next2] = first_pass;
    [
        f1(40, here),
        f1(41, next),
        f1(42, next2),
        f2(43, next, next2),
        f2(44, prev, next),
    ]
}

/// The features of [`extract_right`] that also involve the word (3 of 8).
pub(crate) fn right_word_features(ctx: &[WordInfo], i: usize, first_pass: [u64; 3]) -> [u64; 3] {
    let [here, next, _] = first_pass;
    let w = &ctx[i];
    [
        f2(45, next, w.norm),
        f2(46, next, w.suf3),
        f2(47, here, w.norm),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_numbers_generalise() {
        let mut buf = Vec::new();
        let horse = word_info("Horse", &mut buf);
        let surfboard = word_info("Surfboard", &mut buf);
        assert_eq!(horse.shape, surfboard.shape);
        assert_ne!(horse.norm, surfboard.norm);
        assert_eq!(
            word_info("17", &mut buf).norm,
            word_info("250", &mut buf).norm
        );
        assert_ne!(
            word_info("1999", &mut buf).norm,
            word_info("250", &mut buf).norm
        );
        assert_eq!(word_info("HORSE", &mut buf).norm, horse.norm);
    }

    #[test]
    fn features_depend_on_history() {
        let mut buf = Vec::new();
        let mut ctx = Vec::new();
        context(&["a", "dog"], &mut buf, &mut ctx);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        extract(&ctx, PAD + 1, tag_hash(3), START_TAG, &mut a);
        extract(&ctx, PAD + 1, tag_hash(4), START_TAG, &mut b);
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b);
        assert_eq!(a[1], b[1], "word features do not depend on tags");
    }

    #[test]
    fn own_neighbour_context_and_tag_features_split_extract() {
        let mut buf = Vec::new();
        let mut ctx = Vec::new();
        context(&["A", "dog", "runs", "fast", "."], &mut buf, &mut ctx);
        let (prev, prev2) = (tag_hash(3), tag_hash(9));
        let mut all = Vec::new();
        for i in PAD..PAD + 5 {
            extract(&ctx, i, prev, prev2, &mut all);
            let mut split: Vec<u64> = own_features(&ctx, i).to_vec();
            split.extend(left_neighbour_features(&ctx, i - 1));
            split.extend(right_neighbour_features(&ctx, i + 1));
            split.extend(near_context_features(&ctx, i));
            split.extend(far_context_features(&ctx, i));
            split.extend(tag_features(prev, prev2));
            split.extend(tag_word_features(&ctx, i, prev));
            split.sort_unstable();
            all.sort_unstable();
            assert_eq!(split, all, "word {i}");
        }
    }

    #[test]
    fn right_tag_and_word_features_split_extract_right() {
        let mut buf = Vec::new();
        let mut ctx = Vec::new();
        context(&["A", "dog", "runs"], &mut buf, &mut ctx);
        let right = [tag_hash(1), tag_hash(2), END_TAG];
        let mut all = Vec::new();
        extract_right(&ctx, PAD + 1, tag_hash(5), right, &mut all);
        let mut split: Vec<u64> = right_tag_features(tag_hash(5), right).to_vec();
        split.extend(right_word_features(&ctx, PAD + 1, right));
        split.sort_unstable();
        all.sort_unstable();
        assert_eq!(split, all);
    }

    #[test]
    fn own_features_do_not_depend_on_the_context() {
        let (mut buf, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        context(&["Dogs", "run"], &mut buf, &mut a);
        context(&["the", "big", "Dogs", "."], &mut buf, &mut b);
        assert_eq!(own_features(&a, PAD), own_features(&b, PAD + 2));
        assert_ne!(
            near_context_features(&a, PAD),
            near_context_features(&b, PAD + 2)
        );
        assert_ne!(
            far_context_features(&a, PAD),
            far_context_features(&b, PAD + 2)
        );
        let mut c = Vec::new();
        context(&["some", "big", "Dogs", ".", "Yes"], &mut buf, &mut c);
        assert_eq!(
            near_context_features(&b, PAD + 2),
            near_context_features(&c, PAD + 2),
            "the same three words"
        );
    }

    #[test]
    fn tag_word_features_depend_only_on_tag_word_values() {
        let (mut buf, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        context(&["A", "dogs", "run", "."], &mut buf, &mut a);
        context(&["big", "cats", "dogs", "run", "fast"], &mut buf, &mut b);
        let (i, j) = (PAD + 1, PAD + 2);
        let right = [tag_hash(1), tag_hash(2), END_TAG];
        assert_ne!(a[i - 1].norm, b[j - 1].norm, "different words before");
        assert_ne!(a[i + 2].norm, b[j + 2].norm, "and two after");
        assert_eq!(tag_word_values(&a, i), tag_word_values(&b, j));
        assert_eq!(
            tag_word_features(&a, i, right[0]),
            tag_word_features(&b, j, right[0])
        );
        assert_eq!(
            right_word_features(&a, i, right),
            right_word_features(&b, j, right)
        );
        assert_ne!(tag_word_values(&a, i), tag_word_values(&a, i + 1));
    }

    #[test]
    fn prefixes_and_suffixes_of_short_and_non_ascii_words() {
        let mut buf = Vec::new();
        let a = word_info("Ab", &mut buf);
        assert_eq!(a.pre2, a.pre3, "a prefix longer than the word is the word");
        assert_eq!(a.pre3, a.norm);
        assert_eq!(a.suf4, a.norm);
        let e = word_info("\u{c9}t\u{c9}", &mut buf);
        assert_eq!(e.norm, word_info("\u{e9}t\u{e9}", &mut buf).norm);
        assert_eq!(e.pre1, hash_chars(&['\u{e9}']));
        assert_eq!(e.suf2, hash_chars(&['t', '\u{e9}']));
        assert_eq!(word_info("", &mut buf).pre1, hash_chars(&[]));
    }
}
