//! Text clean-up before BPE, equal to open_clip's `_clean_lower`:
//! `whitespace_clean(basic_clean(text)).lower()` where
//! `basic_clean = strip(html.unescape(html.unescape(ftfy.fix_text(text))))`.
//!
//! ftfy is reproduced step by step (see [`fix_text`]) except its mojibake
//! detector (`fix_encoding`), which needs ftfy's statistical "badness" model;
//! text that is already valid Unicode (every caption we tokenize) passes that
//! step unchanged. See docs/tokenizer-and-preprocessing.md.

use unicode_normalization::UnicodeNormalization;

use super::html::{ftfy_unescape, unescape, CP1252_C1};

/// The full open_clip cleaning: ftfy, two rounds of HTML unescaping, Python-style
/// whitespace collapsing, lower case.
pub fn clean_lower(text: &str) -> String {
    let fixed = fix_text(text);
    let unescaped = unescape(&unescape(&fixed));
    let collapsed = unescaped
        .split(is_py_space)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>();
    collapsed.join(" ").to_lowercase()
}

/// Python's `str.isspace`: Unicode White_Space plus the four information
/// separators U+001C..U+001F, which `str.split()` also splits on.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// ftfy 6 `fix_text` with its default configuration, minus `fix_encoding`.
///
/// ftfy works line by line; HTML unescaping is switched off for a line holding
/// `<` and for every line after it ("auto" mode treats that as HTML source).
/// Each line is fixed repeatedly until it stops changing.
pub fn fix_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut unescape_html = true;
    for line in text.split_inclusive('\n') {
        if line.contains('<') {
            unescape_html = false;
        }
        let mut current = line.to_string();
        loop {
            let next = fix_segment_once(&current, unescape_html);
            if next == current {
                break;
            }
            current = next;
        }
        out.push_str(&current);
    }
    out
}

/// One pass of ftfy's fixers, in ftfy's order.
fn fix_segment_once(text: &str, unescape_html: bool) -> String {
    let text = if unescape_html {
        ftfy_unescape(text)
    } else {
        text.to_string()
    };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_fixed_char(c, &mut out);
    }
    let out = fix_line_breaks(&out);
    let out = remove_terminal_escapes(&out);
    // Control characters are removed after the terminal escapes that hold them.
    let out: String = out.chars().filter(|c| !is_removed_control(*c)).collect();
    out.nfc().collect()
}

/// The per-character fixers: C1 controls as Windows-1252, Latin ligatures,
/// full-/half-width forms, curly quotes.
fn push_fixed_char(c: char, out: &mut String) {
    let c = match c {
        '\u{80}'..='\u{9f}' => CP1252_C1[c as usize - 0x80],
        _ => c,
    };
    if let Some(expanded) = ligature(c) {
        out.push_str(expanded);
        return;
    }
    if let Some(narrow) = width_fix(c) {
        out.push_str(&narrow);
        return;
    }
    out.push(match c {
        '\u{2bc}' | '\u{2018}'..='\u{201b}' => '\'',
        '\u{201c}'..='\u{201f}' => '"',
        other => other,
    });
}

/// ftfy's `LIGATURES`: Latin ligatures and digraphs split into their letters.
fn ligature(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{132}' => "IJ",
        '\u{133}' => "ij",
        '\u{149}' => "\u{2bc}n",
        '\u{1f1}' => "DZ",
        '\u{1f2}' => "Dz",
        '\u{1f3}' => "dz",
        '\u{1c4}' => "D\u{17d}",
        '\u{1c5}' => "D\u{17e}",
        '\u{1c6}' => "d\u{17e}",
        '\u{1c7}' => "LJ",
        '\u{1c8}' => "Lj",
        '\u{1c9}' => "lj",
        '\u{1ca}' => "NJ",
        '\u{1cb}' => "Nj",
        '\u{1cc}' => "nj",
        '\u{fb00}' => "ff",
        '\u{fb01}' => "fi",
        '\u{fb02}' => "fl",
        '\u{fb03}' => "ffi",
        '\u{fb04}' => "ffl",
        '\u{fb05}' => "\u{17f}t",
        '\u{fb06}' => "st",
        _ => return None,
    })
}

/// ftfy's `WIDTH_MAP`: U+3000 becomes a space; U+FF01..U+FFEF become their NFKC
/// form when that differs.
fn width_fix(c: char) -> Option<String> {
    if c == '\u{3000}' {
        return Some(" ".to_string());
    }
    if !('\u{ff01}'..'\u{fff0}').contains(&c) {
        return None;
    }
    let narrow: String = std::iter::once(c).nfkc().collect();
    (narrow.chars().ne(std::iter::once(c))).then_some(narrow)
}

/// `\r\n`, `\r`, U+2028, U+2029 and U+0085 all become `\n`.
fn fix_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n")
}

/// Removes ANSI escapes `ESC [ (digits|;)* letter`.
fn remove_terminal_escapes(text: &str) -> String {
    if !text.contains('\x1b') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("\x1b[") {
        out.push_str(&rest[..pos]);
        let params = &rest[pos + 2..];
        let n = params
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b';')
            .count();
        match params[n..].chars().next() {
            Some(c) if c.is_ascii_alphabetic() => rest = &params[n + 1..],
            _ => {
                out.push('\x1b');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// ftfy's `CONTROL_CHARS`: C0 controls except tab, LF, FF, CR; DEL; deprecated
/// format characters; BOM; interlinear annotation marks.
fn is_removed_control(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{8}'
            | '\u{b}'
            | '\u{e}'..='\u{1f}'
            | '\u{7f}'
            | '\u{206a}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffc}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_collapses_space_unescapes_and_lowercases() {
        assert_eq!(clean_lower("  A  Dog\t\n&amp;  Cat  "), "a dog & cat");
        assert_eq!(clean_lower("&amp;amp;amp;amp;"), "&");
        assert_eq!(clean_lower("\u{201c}Hi\u{201d} \u{fb01}ne"), "\"hi\" fine");
        assert_eq!(clean_lower("\u{ff21}\u{ff22}\u{3000}x"), "ab x");
        assert_eq!(clean_lower("e\u{301}"), "\u{e9}");
        assert_eq!(clean_lower("\x1b[31mred\x1b[0m"), "red");
    }

    #[test]
    fn a_less_than_sign_stops_ftfy_unescaping_on_later_lines() {
        // ftfy skips the line, open_clip's two html.unescape rounds still run.
        assert_eq!(clean_lower("<b> &amp;amp;amp;"), "<b> &amp;");
        assert_eq!(clean_lower("x\n<b>\n&amp;amp;amp;"), "x <b> &amp;");
    }
}
