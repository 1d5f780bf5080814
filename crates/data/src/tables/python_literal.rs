//! The Python literals NegCLIP's TSV stores: a list of strings
//! (`['a dog .', "it 's a cat ."]`) and a list of integers (`[2973, 1515, 2235]`),
//! written by Python's `repr` and read back with `ast.literal_eval`.

/// A malformed literal; `at` is a character offset into it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at character {at}")]
pub struct LiteralError {
    pub message: String,
    pub at: usize,
}

fn err<T>(message: impl Into<String>, at: usize) -> Result<T, LiteralError> {
    Err(LiteralError {
        message: message.into(),
        at,
    })
}

/// A cursor over the characters of a literal.
struct Cursor {
    chars: Vec<char>,
    pos: usize,
}

impl Cursor {
    fn new(text: &str) -> Self {
        Self {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, want: char) -> Result<(), LiteralError> {
        self.skip_space();
        match self.next() {
            Some(c) if c == want => Ok(()),
            Some(c) => err(format!("expected `{want}`, found `{c}`"), self.pos - 1),
            None => err(format!("expected `{want}`, found the end"), self.pos),
        }
    }

    /// Parses `[item, item, ...]` (a trailing comma allowed) with `item`.
    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, LiteralError>,
    ) -> Result<Vec<T>, LiteralError> {
        self.expect('[')?;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(']') {
                self.pos += 1;
                break;
            }
            items.push(item(self)?);
            self.skip_space();
            match self.next() {
                Some(',') => continue,
                Some(']') => break,
                Some(c) => return err(format!("expected `,` or `]`, found `{c}`"), self.pos - 1),
                None => return err("unterminated list", self.pos),
            }
        }
        self.skip_space();
        if self.pos != self.chars.len() {
            return err("text after the list", self.pos);
        }
        Ok(items)
    }

    fn string(&mut self) -> Result<String, LiteralError> {
        self.skip_space();
        let start = self.pos;
        let quote = match self.next() {
            Some(q @ ('\'' | '"')) => q,
            _ => return err("expected a quoted string", start),
        };
        let mut out = String::new();
        loop {
            match self.next() {
                None => return err("unterminated string", start),
                Some(c) if c == quote => return Ok(out),
                Some('\\') => self.escape(&mut out)?,
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), LiteralError> {
        let at = self.pos - 1;
        match self.next() {
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\u{7}'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some('\n') => {}
            Some('x') => out.push(self.hex(2, at)?),
            Some('u') => out.push(self.hex(4, at)?),
            Some('U') => out.push(self.hex(8, at)?),
            Some(d @ '0'..='7') => {
                let mut value = d.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek().and_then(|c| c.to_digit(8)) {
                        Some(v) => {
                            value = value * 8 + v;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(value).unwrap_or('\u{fffd}'));
            }
            // Python keeps unknown escapes as written.
            Some(c) => {
                out.push('\\');
                out.push(c);
            }
            None => return err("unterminated escape", at),
        }
        Ok(())
    }

    fn hex(&mut self, digits: usize, at: usize) -> Result<char, LiteralError> {
        let mut value = 0u32;
        for _ in 0..digits {
            match self.next().and_then(|c| c.to_digit(16)) {
                Some(v) => value = value * 16 + v,
                None => return err("bad hex escape", at),
            }
        }
        char::from_u32(value).map_or_else(|| err("escape is not a character", at), Ok)
    }

    fn integer(&mut self) -> Result<i64, LiteralError> {
        self.skip_space();
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse().or_else(|_| err("expected an integer", start))
    }
}

/// Parses a Python list of strings.
pub fn parse_string_list(text: &str) -> Result<Vec<String>, LiteralError> {
    Cursor::new(text).list(Cursor::string)
}

/// Parses a Python list of integers.
pub fn parse_int_list(text: &str) -> Result<Vec<i64>, LiteralError> {
    Cursor::new(text).list(Cursor::integer)
}

/// Python's `repr` of a string: single quotes unless the text holds a `'`
/// and no `"`; backslashes, the chosen quote and control characters escaped.
pub fn repr_string(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr` of a list of strings: `['a', "b's"]`.
pub fn repr_string_list<S: AsRef<str>>(items: &[S]) -> String {
    let inner: Vec<String> = items.iter().map(|s| repr_string(s.as_ref())).collect();
    format!("[{}]", inner.join(", "))
}

/// Python's `repr` of a list of integers: `[1, 2, 3]`.
pub fn repr_int_list(items: &[i64]) -> String {
    let inner: Vec<String> = items.iter().map(i64::to_string).collect();
    format!("[{}]", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_both_quote_styles_and_escapes() {
        let list =
            parse_string_list(r#"['a dog .', "it 's a cat", 'don\'t \\ \x41\u00e9\n']"#).unwrap();
        assert_eq!(list, ["a dog .", "it 's a cat", "don't \\ Aé\n"]);
        assert_eq!(parse_string_list("[]").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_int_list("[2973, 1515, 2235]").unwrap(),
            [2973, 1515, 2235]
        );
    }

    #[test]
    fn rejects_malformed_lists() {
        assert!(parse_string_list("['a'").is_err());
        assert!(parse_string_list("['a' 'b']").is_err());
        assert!(parse_string_list("'a'").is_err());
        assert!(parse_string_list("['a'] x").is_err());
        assert!(parse_int_list("[1, x]").is_err());
    }

    #[test]
    fn repr_chooses_quotes_like_python() {
        assert_eq!(repr_string("a dog"), "'a dog'");
        assert_eq!(repr_string("it's"), "\"it's\"");
        assert_eq!(repr_string("it's \"x\""), "'it\\'s \"x\"'");
        assert_eq!(repr_string("a\\b\n"), "'a\\\\b\\n'");
        assert_eq!(repr_string_list(&["a", "b's"]), "['a', \"b's\"]");
        assert_eq!(repr_int_list(&[1, 22]), "[1, 22]");
    }

    proptest! {
        #[test]
        fn repr_then_parse_is_identity(items in prop::collection::vec(any::<String>(), 0..5)) {
            let back = parse_string_list(&repr_string_list(&items)).unwrap();
            prop_assert_eq!(back, items);
        }
    }
}
