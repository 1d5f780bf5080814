//! How captions are compared: the normalised form ([`normalise_for_comparison`]) in which a
//! candidate equal to its caption, or to another candidate, is dropped. The candidates'
//! word ids split and compare words as it does.

/// The form captions are compared in: lower-case, `.` and `,` removed, words
/// separated by single spaces. The NegCLIP script drops a candidate equal to
/// its caption ignoring "." "," and spacing; lower-casing also catches a swap
/// that only moved a capital.
pub fn normalise_for_comparison(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalise_into([text], &mut out);
    out
}

/// Appends the [`normalise_for_comparison`] form of `pieces` joined by spaces
/// to `out`, without building the joined text.
///
/// Lower-casing each piece alone equals lower-casing the joined text: the only
/// context-dependent mapping (final sigma) looks no further than a space.
pub(super) fn normalise_into<'t>(pieces: impl IntoIterator<Item = &'t str>, out: &mut String) {
    let start = out.len();
    for piece in pieces {
        if piece.is_ascii() {
            // The common case: ASCII lower-casing is the full lower-casing, and
            // the text can be scanned as bytes.
            push_ascii_words(piece, start, out);
        } else {
            let lower = piece.to_lowercase();
            let words = lower
                .split(|c: char| c.is_whitespace() || c == '.' || c == ',')
                .filter(|w| !w.is_empty());
            for word in words {
                push_word(word, start, out);
            }
        }
    }
}

/// The words of an ASCII `text`, as [`normalise_into`] writes them. A byte scan
/// for word ends, then one copy per word: several times faster than splitting
/// on `char`s and pushing them one by one.
fn push_ascii_words(text: &str, start: usize, out: &mut String) {
    for word in ascii_words(text) {
        push_word(word, start, out);
    }
}

/// The words of an ASCII `text` as [`normalise_into`] splits them, not yet
/// lower-cased.
pub(super) fn ascii_words(text: &str) -> impl Iterator<Item = &str> {
    let separates = |b: &u8| separates(*b);
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        at += bytes[at..].iter().take_while(|b| separates(b)).count();
        if at == bytes.len() {
            return None;
        }
        let start = at;
        at += bytes[at..].iter().take_while(|b| !separates(b)).count();
        Some(&text[start..at])
    })
}

/// Whether an ASCII byte separates words in [`normalise_into`]: ASCII's
/// `char::is_whitespace` characters (vertical tab included), `.` and `,`.
pub(super) fn separates(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t'..=b'\r' | b'.' | b',')
}

/// Appends `word`, ASCII-lower-cased, after a space unless it is the first word
/// since `start`.
fn push_word(word: &str, start: usize, out: &mut String) {
    if out.len() > start {
        out.push(' ');
    }
    let at = out.len();
    out.push_str(word);
    out[at..].make_ascii_lowercase();
}

/// True when `negative` is `caption` after [`normalise_for_comparison`].
pub fn is_same_caption(caption: &str, negative: &str) -> bool {
    normalise_for_comparison(caption) == normalise_for_comparison(negative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_ignores_case_periods_commas_and_spacing() {
        assert!(is_same_caption("A dog, running.", "a dog running"));
        assert!(is_same_caption("a  dog", "a dog ."));
        assert!(!is_same_caption("a dog", "a god"));
        assert_eq!(normalise_for_comparison(" A\tDog,,run. "), "a dog run");
        assert_eq!(
            normalise_for_comparison("\u{c9}T\u{c9},\u{a0}x"),
            "\u{e9}t\u{e9} x"
        );
        assert_eq!(normalise_for_comparison(". , "), "");
        // Every ASCII character `char::is_whitespace` knows separates words.
        assert_eq!(
            normalise_for_comparison("a\tb\nc\x0bd\x0ce\rf g"),
            "a b c d e f g"
        );
    }

    #[test]
    fn pieces_normalise_as_their_joined_text() {
        let mut out = String::new();
        normalise_into(
            ["A", "DOG", ",", "\u{c9}T\u{c9}", "it", "'s", "."],
            &mut out,
        );
        assert_eq!(
            out,
            normalise_for_comparison("A DOG , \u{c9}T\u{c9} it 's .")
        );
        // Final sigma is decided within the word, as in the joined text.
        let mut out = String::new();
        normalise_into(["\u{391}\u{3a3}", "\u{3a3}\u{391}"], &mut out);
        assert_eq!(out, "\u{3b1}\u{3c2} \u{3c3}\u{3b1}");
        assert_eq!(
            out,
            normalise_for_comparison("\u{391}\u{3a3} \u{3a3}\u{391}")
        );
    }
}
