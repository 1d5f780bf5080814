//! The Rust tokenizer against open_clip: every row of
//! tests/fixtures/tokenizer/cases.jsonl (written by
//! scripts/make_tokenizer_fixtures.py) must tokenize to exactly open_clip's ids.

use std::path::PathBuf;

use negclip_data::tokenizer::ClipTokenizer;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    text: String,
    context_length: usize,
    /// open_clip's row with the zero padding stripped.
    ids: Vec<u32>,
}

fn cases() -> Vec<Case> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/tokenizer/cases.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{} line {}: {e}", path.display(), i + 1))
        })
        .collect()
}

#[test]
fn every_fixture_row_matches_open_clip() {
    let tok = ClipTokenizer::new();
    let cases = cases();
    assert!(cases.len() >= 300, "fixture has only {} rows", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let mut expected = case.ids.clone();
        expected.resize(case.context_length, 0);
        let got = tok.tokenize(&case.text, case.context_length);
        if got != expected {
            failures.push(format!(
                "{:?}\n  open_clip {:?}\n  rust      {:?}",
                case.text, expected, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn batch_of_fixture_rows_matches_row_by_row() {
    let tok = ClipTokenizer::new();
    let texts: Vec<String> = cases().into_iter().map(|c| c.text).collect();
    let flat = tok.tokenize_batch(&texts, 77);
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(
            &flat[i * 77..(i + 1) * 77],
            tok.tokenize(text, 77).as_slice(),
            "row {i}: {text:?}"
        );
    }
}
