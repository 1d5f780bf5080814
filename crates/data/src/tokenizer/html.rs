//! HTML character references, decoded exactly as Python's `html.unescape` and
//! ftfy's `unescape_html` do (open_clip's text cleaning runs both).
//!
//! The named-entity table is Python's `html.entities.html5` (the WHATWG list),
//! shipped gzipped in `assets/html5_entities.tsv.gz` by
//! `scripts/gen_html_entities.py`.

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

static ENTITIES_GZ: &[u8] = include_bytes!("../../assets/html5_entities.tsv.gz");

/// `html5` name (with its `;` where the table has one) → replacement text.
fn html5() -> &'static HashMap<String, String> {
    static TABLE: OnceLock<HashMap<String, String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut text = String::new();
        flate2::read::GzDecoder::new(ENTITIES_GZ)
            .read_to_string(&mut text)
            .expect("the embedded html5 entity table is valid gzip");
        text.lines()
            .map(|line| {
                let (name, hex) = line.split_once('\t').expect("entity line has a tab");
                let value = hex
                    .split(',')
                    .map(|h| {
                        char::from_u32(u32::from_str_radix(h, 16).expect("hex")).expect("char")
                    })
                    .collect();
                (name.to_string(), value)
            })
            .collect()
    })
}

/// ftfy's entity table: every `&name;` of html5, plus the upper-cased spelling of
/// lower-case names when that spelling is not itself an entity (`&NTILDE;` → `Ñ`).
fn ftfy_entities() -> &'static HashMap<String, String> {
    static TABLE: OnceLock<HashMap<String, String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut out = HashMap::new();
        for (name, value) in html5() {
            if !name.ends_with(';') {
                continue;
            }
            out.insert(format!("&{name}"), value.clone());
            if *name == name.to_lowercase() {
                let upper = format!("&{}", name.to_uppercase());
                if unescape(&upper) == upper {
                    out.insert(upper, value.to_uppercase());
                }
            }
        }
        out
    })
}

/// Windows-1252 meaning of the C1 bytes 0x80..=0x9F; the five bytes cp1252 leaves
/// undefined map to themselves (Python's `_invalid_charrefs` and ftfy's
/// "sloppy-windows-1252" agree on this).
pub(crate) const CP1252_C1: [char; 32] = [
    '\u{20ac}', '\u{81}', '\u{201a}', '\u{192}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2c6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8d}', '\u{17d}', '\u{8f}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2dc}', '\u{2122}', '\u{161}', '\u{203a}', '\u{153}', '\u{9d}', '\u{17e}', '\u{178}',
];

/// Code points Python's `html.unescape` drops from numeric references.
fn invalid_codepoint(n: u32) -> bool {
    matches!(n, 0x1..=0x8 | 0xb | 0xe..=0x1f | 0x7f..=0x9f | 0xfdd0..=0xfdef)
        || (n & 0xfffe) == 0xfffe
}

/// The text a numeric reference `num` stands for, as `html.unescape` decodes it.
fn numeric_reference(num: u64) -> String {
    match num {
        0 => "\u{fffd}".into(),
        0x0d => "\r".into(),
        0x80..=0x9f => CP1252_C1[(num - 0x80) as usize].to_string(),
        0xd800..=0xdfff => "\u{fffd}".into(),
        n if n > 0x10ffff => "\u{fffd}".into(),
        n if invalid_codepoint(n as u32) => String::new(),
        n => char::from_u32(n as u32)
            .map(String::from)
            .unwrap_or_default(),
    }
}

/// Python's `html.unescape`: numeric references (`&#39;`, `&#x27`), named
/// references with or without `;`, and the longest-known-prefix rule for
/// unknown names (`&ampfoo` → `&foo`).
pub fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match reference_at(after) {
            Some((replacement, consumed)) => {
                out.push_str(&replacement);
                rest = &after[consumed..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes the reference that starts right after a `&`; returns the replacement
/// and how many bytes of `s` it consumed, or `None` when nothing matches.
fn reference_at(s: &str) -> Option<(String, usize)> {
    if let Some(body) = s.strip_prefix('#') {
        return numeric_at(body).map(|(text, used)| (text, used + 1));
    }
    // `[^\t\n\f <&#;]{1,32};?`
    let name_len: usize = s
        .chars()
        .take_while(|c| !matches!(c, '\t' | '\n' | '\x0c' | ' ' | '<' | '&' | '#' | ';'))
        .take(32)
        .map(char::len_utf8)
        .sum();
    if name_len == 0 {
        return None;
    }
    let with_semi = s[name_len..].starts_with(';');
    let matched = &s[..name_len + usize::from(with_semi)];
    Some((named(matched), matched.len()))
}

/// `#[0-9]+;?` or `#[xX][0-9a-fA-F]+;?` (the `#` already stripped).
fn numeric_at(s: &str) -> Option<(String, usize)> {
    let (radix, start) = if s.starts_with(['x', 'X']) {
        (16, 1)
    } else {
        (10, 0)
    };
    let digits = s[start..]
        .bytes()
        .take_while(|b| (*b as char).is_digit(radix))
        .count();
    if digits == 0 {
        return None;
    }
    let num = s[start..start + digits].chars().fold(0u64, |n, c| {
        n.saturating_mul(radix as u64)
            .saturating_add(c.to_digit(radix).unwrap() as u64)
    });
    let end = start + digits;
    let used = end + usize::from(s[end..].starts_with(';'));
    Some((numeric_reference(num), used))
}

/// A named reference: exact name, else the longest known prefix (≥ 2 chars)
/// followed by the rest verbatim, else the text unchanged.
fn named(matched: &str) -> String {
    let table = html5();
    if let Some(value) = table.get(matched) {
        return value.clone();
    }
    let bounds: Vec<usize> = matched.char_indices().map(|(i, _)| i).skip(2).collect();
    for &cut in bounds.iter().rev() {
        if let Some(value) = table.get(&matched[..cut]) {
            return format!("{value}{}", &matched[cut..]);
        }
    }
    format!("&{matched}")
}

/// ftfy's `unescape_html`: replaces `&#?[0-9A-Za-z]{1,24};` when it is a known
/// entity (including upper-cased ones) or a numeric reference whose `;` is
/// consumed; anything else is left as written.
pub fn ftfy_unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let entities = ftfy_entities();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let candidate = &rest[amp..];
        let body_start = if candidate[1..].starts_with('#') {
            2
        } else {
            1
        };
        let alnum = candidate[body_start..]
            .bytes()
            .take_while(u8::is_ascii_alphanumeric)
            .count();
        let end = body_start + alnum;
        if (1..=24).contains(&alnum) && candidate[end..].starts_with(';') {
            let entity = &candidate[..=end];
            out.push_str(&ftfy_replacement(entity, entities));
            rest = &candidate[end + 1..];
        } else {
            out.push('&');
            rest = &candidate[1..];
        }
    }
    out.push_str(rest);
    out
}

fn ftfy_replacement(entity: &str, entities: &HashMap<String, String>) -> String {
    if let Some(value) = entities.get(entity) {
        return value.clone();
    }
    if entity.starts_with("&#") {
        let decoded = unescape(entity);
        if !decoded.contains(';') {
            return decoded;
        }
    }
    entity.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_and_numeric_references_decode_like_python() {
        assert_eq!(unescape("a &amp; b"), "a & b");
        assert_eq!(unescape("&quot;hi&quot; &#39;x&#x27;"), "\"hi\" 'x'");
        assert_eq!(unescape("&nbsp;"), "\u{a0}");
        assert_eq!(unescape("&amp"), "&");
        assert_eq!(unescape("&ampfoo"), "&foo");
        assert_eq!(unescape("&notit;"), "\u{ac}it;");
        assert_eq!(unescape("&zzz; & &#;"), "&zzz; & &#;");
        assert_eq!(
            unescape("&#128;&#0;&#xD800;&#1;"),
            "\u{20ac}\u{fffd}\u{fffd}"
        );
        assert_eq!(unescape("&#99999999999999999999;"), "\u{fffd}");
    }

    #[test]
    fn ftfy_decodes_uppercased_names_but_needs_the_semicolon() {
        assert_eq!(ftfy_unescape("&NTILDE; &ntilde; &amp"), "Ñ ñ &amp");
        assert_eq!(ftfy_unescape("&#65; &#xZZ; &bogus;"), "A &#xZZ; &bogus;");
    }
}
