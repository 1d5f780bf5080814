//! A reader for CoNLL-U treebank files, keeping only what the tagger learns from:
//! each word's form, Universal POS tag (column 4) and Penn Treebank tag (column 5).
//!
//! Multi-word token lines (`1-2 don't ...`) and empty nodes (`8.1 ...`) are skipped:
//! the syntactic words that follow a multi-word line carry the tags, and empty
//! nodes are not words of the surface text at all.

use std::path::{Path, PathBuf};

/// One gold-tagged word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoldWord {
    pub form: String,
    pub upos: String,
    pub xpos: String,
}

/// One sentence of gold-tagged words, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sentence {
    pub words: Vec<GoldWord>,
}

impl Sentence {
    /// Builds a sentence from `(form, upos, xpos)` triples (handy in tests and for
    /// hand-written training material).
    pub fn from_triples(triples: &[(&str, &str, &str)]) -> Sentence {
        let words = triples
            .iter()
            .map(|(form, upos, xpos)| GoldWord {
                form: form.to_string(),
                upos: upos.to_string(),
                xpos: xpos.to_string(),
            })
            .collect();
        Sentence { words }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConlluError {
    #[error("cannot read CoNLL-U file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{source_name}:{line}: {message}")]
    Syntax {
        source_name: String,
        line: usize,
        message: String,
    },
}

/// Reads every sentence of a CoNLL-U file.
pub fn read_conllu(path: &Path) -> Result<Vec<Sentence>, ConlluError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConlluError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_conllu(&text, &path.display().to_string())
}

/// Parses CoNLL-U text; `source_name` (usually the file path) names the source in errors.
pub fn parse_conllu(text: &str, source_name: &str) -> Result<Vec<Sentence>, ConlluError> {
    let mut sentences = Vec::new();
    let mut current = Sentence::default();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !current.words.is_empty() {
                sentences.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let syntax = |message: String| ConlluError::Syntax {
            source_name: source_name.to_string(),
            line: index + 1,
            message,
        };
        if let Some(word) = parse_word_line(line).map_err(syntax)? {
            current.words.push(word);
        }
    }
    if !current.words.is_empty() {
        sentences.push(current);
    }
    Ok(sentences)
}

/// Parses one token line; `Ok(None)` for multi-word token and empty-node lines.
fn parse_word_line(line: &str) -> Result<Option<GoldWord>, String> {
    let columns: Vec<&str> = line.split('\t').collect();
    if columns.len() != 10 {
        return Err(format!(
            "expected 10 tab-separated columns, found {}",
            columns.len()
        ));
    }
    let id = columns[0];
    if id.contains('-') || id.contains('.') {
        return Ok(None);
    }
    if id.parse::<u32>().is_err() {
        return Err(format!("word id {id:?} is not a number, range or decimal"));
    }
    let (form, upos, xpos) = (columns[1], columns[3], columns[4]);
    if form.is_empty() || upos.is_empty() || upos == "_" {
        return Err(format!("word {id} has an empty form or no UPOS tag"));
    }
    // Treebanks without Penn tags write `_`; fall back to the UPOS so the pair
    // stays usable as one joint class.
    let xpos = if xpos == "_" { upos } else { xpos };
    Ok(Some(GoldWord {
        form: form.to_string(),
        upos: upos.to_string(),
        xpos: xpos.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# sent_id = 1\n# text = I don't know.\n\
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_\n\
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n\
2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_\n\
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_\n\
4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_\n\
4.1\tknows\tknow\tVERB\tVBZ\t_\t_\t_\t4:conj\t_\n\
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_\n\
\n\
1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n";

    #[test]
    fn skips_multiword_ranges_and_empty_nodes() {
        let sentences = parse_conllu(SAMPLE, "sample").unwrap();
        assert_eq!(sentences.len(), 2);
        let forms: Vec<&str> = sentences[0].words.iter().map(|w| w.form.as_str()).collect();
        assert_eq!(forms, ["I", "do", "n't", "know", "."]);
        assert_eq!(sentences[0].words[2].upos, "PART");
        assert_eq!(sentences[0].words[2].xpos, "RB");
        assert_eq!(sentences[1].words[0].xpos, "UH");
    }

    #[test]
    fn errors_name_source_and_line() {
        let bad = "1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n2\tbroken line\n";
        let err = parse_conllu(bad, "bad.conllu").unwrap_err().to_string();
        assert!(err.starts_with("bad.conllu:2:"), "{err}");
        let bad_id = "x\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n";
        let err = parse_conllu(bad_id, "b.conllu").unwrap_err().to_string();
        assert!(
            err.contains("b.conllu:1:") && err.contains("\"x\""),
            "{err}"
        );
    }

    #[test]
    fn missing_file_names_path() {
        let err = read_conllu(Path::new("/nonexistent/x.conllu")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.conllu"));
    }
}
