//! A Penn-Treebank-style word tokeniser (in the spirit of NLTK's `word_tokenize`,
//! without sentence splitting), producing the word units the tagger was trained on:
//! punctuation and quotes split off, clitics split (`do|n't`, `it|'s`, `we|'re`),
//! hyphenated words, decimals, thousands separators, times and abbreviations kept
//! whole. Any UTF-8 input is accepted; emoji sequences stay one token.

/// Splits `text` into Penn-style word tokens.
pub fn word_tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    tokenize_into(text, &mut Vec::new(), &mut tokens);
    tokens.into_iter().map(str::to_string).collect()
}

/// [`word_tokenize`] without allocating per token: appends the tokens of `text`
/// to `out` as slices of it. `chars` is a scratch buffer.
pub(crate) fn tokenize_into<'a>(
    text: &'a str,
    chars: &mut Vec<(usize, char)>,
    out: &mut Vec<&'a str>,
) {
    for chunk in text.split_whitespace() {
        tokenize_chunk(chunk, chars, out);
    }
}

/// Lower-case abbreviations whose final period belongs to the word.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "inc", "ltd", "co", "corp",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "no",
    "approx", "dept", "est", "fig", "mt", "ave", "blvd",
];

/// Clitics split off the end of a word after an apostrophe (lower case, no apostrophe).
const CLITICS: &[&str] = &["s", "re", "ll", "ve", "d", "m"];

/// Contractions written without an apostrophe that treebanks split in two.
const FUSED: &[(&str, usize)] = &[("cannot", 3), ("gonna", 3), ("gotta", 3), ("wanna", 3)];

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

/// Characters that make up words: letters, digits, underscores and combining marks.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || is_combining(c)
}

fn is_combining(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{20D0}'..='\u{20FF}')
}

/// Characters that glue onto the previous symbol: zero-width joiner, variation
/// selectors, emoji skin-tone modifiers, combining marks, tag characters.
fn is_modifier(c: char) -> bool {
    matches!(c, '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{1F3FB}'..='\u{1F3FF}' | '\u{E0020}'..='\u{E007F}')
        || is_combining(c)
}

/// Whether the punctuation `c` between `prev` and `next` joins them into one word
/// (`well-known`, `3.5`, `1,000`, `10:30`, `don't`, `www.example.com`).
fn joins_word(prev: char, c: char, next: char) -> bool {
    match c {
        '-' | '.' => is_word_char(prev) && is_word_char(next),
        ',' | ':' => prev.is_ascii_digit() && next.is_ascii_digit(),
        c if is_apostrophe(c) => prev.is_alphabetic() && next.is_alphabetic(),
        _ => false,
    }
}

fn tokenize_chunk<'a>(chunk: &'a str, chars: &mut Vec<(usize, char)>, out: &mut Vec<&'a str>) {
    if is_plain_word(chunk) {
        // Most chunks: one word without an apostrophe, whose only possible
        // split is a fused contraction (`cannot`); no need to decode its characters.
        split_fused(chunk, out);
    } else {
        tokenize_any_chunk(chunk, chars, out);
    }
}

/// Whether `chunk` is ASCII letters, digits and underscores only (and not
/// empty): one word for [`tokenize_any_chunk`] (it scans it whole, and no
/// period follows).
fn is_plain_word(chunk: &str) -> bool {
    !chunk.is_empty()
        && chunk
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn tokenize_any_chunk<'a>(chunk: &'a str, chars: &mut Vec<(usize, char)>, out: &mut Vec<&'a str>) {
    chars.clear();
    chars.extend(chunk.char_indices());
    let chars = &chars[..];
    let end_of = |i: usize| chars.get(i).map_or(chunk.len(), |&(b, _)| b);
    let char_at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let j = if is_word_char(c) {
            let j = scan_word(chars, i);
            let j = take_abbreviation_period(chunk, chars, i, j);
            split_clitics(&chunk[start..end_of(j)], out);
            i = j;
            continue;
        } else if is_apostrophe(c) && char_at(i + 1).is_some_and(char::is_alphabetic) {
            leading_clitic_end(chars, i)
        } else if matches!(c, '.' | '-' | '!' | '?' | '*' | '=' | '_' | '~') {
            // A run of the same mark is one token: `...`, `--`, `!!!`.
            let mut j = i + 1;
            while char_at(j) == Some(c) {
                j += 1;
            }
            j
        } else {
            // Any other symbol, emoji included, with its modifiers and ZWJ sequence.
            let mut j = i + 1;
            while let Some(next) = char_at(j) {
                if next == '\u{200D}' && char_at(j + 1).is_some() {
                    j += 2;
                } else if is_modifier(next) {
                    j += 1;
                } else {
                    break;
                }
            }
            j
        };
        out.push(&chunk[start..end_of(j)]);
        i = j;
    }
}

/// End (char index) of the word starting at `i`, joining inner punctuation.
fn scan_word(chars: &[(usize, char)], i: usize) -> usize {
    let mut j = i + 1;
    while j < chars.len() {
        let c = chars[j].1;
        if is_word_char(c) {
            j += 1;
        } else if j + 1 < chars.len() && joins_word(chars[j - 1].1, c, chars[j + 1].1) {
            j += 2;
        } else {
            break;
        }
    }
    j
}

/// Extends the word `[i, j)` over a following period when the word is an
/// abbreviation (`Mr.`, `etc.`), an initial (`J.`) or dotted (`U.S.`, `e.g.`).
fn take_abbreviation_period(chunk: &str, chars: &[(usize, char)], i: usize, j: usize) -> usize {
    let followed_by_single_period = chars.get(j).is_some_and(|&(_, c)| c == '.')
        && chars.get(j + 1).is_none_or(|&(_, c)| c != '.');
    if !followed_by_single_period {
        return j;
    }
    let word = &chunk[chars[i].0..chars[j].0];
    let dotted = word.contains('.') && word.split('.').all(|part| part.chars().count() == 1);
    let initial = word.chars().count() == 1 && word.chars().all(char::is_uppercase);
    // The abbreviations are ASCII without a `k` (which the Kelvin sign lower-cases to), so
    // comparing ASCII case-insensitively is comparing lower-cased.
    let known = ABBREVIATIONS.iter().any(|a| a.eq_ignore_ascii_case(word));
    if dotted || initial || known {
        j + 1
    } else {
        j
    }
}

/// End of a token starting with an apostrophe at `i`: a whole clitic (`'s`, `'re`)
/// when the letters after it are one, otherwise just the apostrophe (a quote).
fn leading_clitic_end(chars: &[(usize, char)], i: usize) -> usize {
    let mut j = i + 1;
    while j < chars.len() && chars[j].1.is_alphabetic() {
        j += 1;
    }
    let letters: String = chars[i + 1..j].iter().map(|&(_, c)| c).collect();
    if is_clitic(&letters) || letters.eq_ignore_ascii_case("t") {
        j
    } else {
        i + 1
    }
}

/// Whether `letters` (after an apostrophe) is a clitic. The clitics are ASCII
/// without a `k` (which the Kelvin sign lower-cases to), so comparing ASCII
/// case-insensitively is comparing lower-cased.
fn is_clitic(letters: &str) -> bool {
    CLITICS.iter().any(|c| c.eq_ignore_ascii_case(letters))
}

/// Pushes `word`, split into stem and clitic when it ends in one
/// (`don't` → `do n't`, `can't` → `ca n't`, `it's` → `it 's`, `cannot` → `can not`).
fn split_clitics<'a>(word: &'a str, out: &mut Vec<&'a str>) {
    if let Some(split) = negation_split(word) {
        out.push(&word[..split]);
        out.push(&word[split..]);
        return;
    }
    if let Some((apos, c)) = word.char_indices().rev().find(|&(_, c)| is_apostrophe(c)) {
        if apos > 0 && is_clitic(&word[apos + c.len_utf8()..]) {
            out.push(&word[..apos]);
            out.push(&word[apos..]);
            return;
        }
    }
    split_fused(word, out);
}

/// Pushes `word`, split in two when it is a fused contraction (`cannot` →
/// `can not`): the only split of a word without an apostrophe.
fn split_fused<'a>(word: &'a str, out: &mut Vec<&'a str>) {
    // The fused words are ASCII without a `k`, as the clitics.
    if let Some(&(_, at)) = FUSED.iter().find(|(w, _)| w.eq_ignore_ascii_case(word)) {
        out.push(&word[..at]);
        out.push(&word[at..]);
    } else {
        out.push(word);
    }
}

/// Byte offset of `n't` in a word ending with it (`n't` itself is not split).
fn negation_split(word: &str) -> Option<usize> {
    let mut rev = word.char_indices().rev();
    let (_, t) = rev.next()?;
    let (_, apos) = rev.next()?;
    let (n_at, n) = rev.next()?;
    let has_stem = rev.next().is_some();
    let matches =
        t.eq_ignore_ascii_case(&'t') && is_apostrophe(apos) && n.eq_ignore_ascii_case(&'n');
    (matches && has_stem).then_some(n_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str) -> Vec<String> {
        word_tokenize(text)
    }

    #[test]
    fn plain_words_tokenize_as_any_chunk() {
        for chunk in ["dog", "Cannot", "gonna", "a_b", "x1", "1999", "_", "DOG"] {
            assert!(is_plain_word(chunk), "{chunk}");
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            tokenize_chunk(chunk, &mut Vec::new(), &mut fast);
            tokenize_any_chunk(chunk, &mut Vec::new(), &mut slow);
            assert_eq!(fast, slow, "{chunk}");
        }
        for chunk in ["dog.", "don't", "Mr", "U.S.", "caf\u{e9}", "a-b", ""] {
            assert_eq!(is_plain_word(chunk), chunk == "Mr", "{chunk}");
        }
    }

    #[test]
    fn splits_punctuation_and_quotes() {
        assert_eq!(
            tok("\"Hello,\" she said (quietly)."),
            ["\"", "Hello", ",", "\"", "she", "said", "(", "quietly", ")", "."]
        );
        assert_eq!(tok("Really?! Wait..."), ["Really", "?", "!", "Wait", "..."]);
    }

    #[test]
    fn splits_clitics() {
        assert_eq!(tok("I don't know"), ["I", "do", "n't", "know"]);
        assert_eq!(tok("can't won't"), ["ca", "n't", "wo", "n't"]);
        assert_eq!(
            tok("it's we're I'll they've he'd I'm"),
            ["it", "'s", "we", "'re", "I", "'ll", "they", "'ve", "he", "'d", "I", "'m"]
        );
        assert_eq!(tok("the dog’s bone"), ["the", "dog", "’s", "bone"]);
        assert_eq!(tok("the dogs' bones"), ["the", "dogs", "'", "bones"]);
        assert_eq!(tok("I cannot"), ["I", "can", "not"]);
        assert_eq!(tok("O'Neil 'em"), ["O'Neil", "'", "em"]);
    }

    #[test]
    fn keeps_hyphens_numbers_and_abbreviations() {
        assert_eq!(
            tok("a well-known 3.5 mile run"),
            ["a", "well-known", "3.5", "mile", "run"]
        );
        assert_eq!(
            tok("1,000 people at 10:30, Mr. Smith"),
            ["1,000", "people", "at", "10:30", ",", "Mr.", "Smith"]
        );
        assert_eq!(
            tok("the U.S. and e.g. J. Doe"),
            ["the", "U.S.", "and", "e.g.", "J.", "Doe"]
        );
        assert_eq!(
            tok("costs $5, i.e. 50%"),
            ["costs", "$", "5", ",", "i.e.", "50", "%"]
        );
        assert_eq!(
            tok("a man on a surfboard."),
            ["a", "man", "on", "a", "surfboard", "."]
        );
    }

    #[test]
    fn handles_unicode_and_emoji() {
        assert_eq!(tok("café naïve"), ["café", "naïve"]);
        assert_eq!(tok("nice 👍🏽!"), ["nice", "👍🏽", "!"]);
        assert_eq!(tok("family 👨‍👩‍👧 here"), ["family", "👨‍👩‍👧", "here"]);
        assert_eq!(tok("東京 タワー"), ["東京", "タワー"]);
        assert!(tok("").is_empty());
        assert!(tok("  \t\n ").is_empty());
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in [
            "'",
            "n't",
            "'s",
            "-",
            "a-",
            "-a",
            "...",
            "''",
            "\u{200D}",
            "x\u{200D}",
            "é\u{0301}'",
            "’t",
        ] {
            let tokens = tok(text);
            assert_eq!(
                tokens.concat(),
                text.split_whitespace().collect::<String>(),
                "{text:?}"
            );
        }
    }
}
