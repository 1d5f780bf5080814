//! The training table the trainer reads: one JSON object a line,
//! `{"image", "caption", "negatives": [{"text", "kind"}], "neg_images": [...]}`,
//! or a NegCLIP TSV.

use std::fs;
use std::path::Path;

use super::negclip_tsv::{parse_negclip_tsv, write_negclip_tsv};
use super::{extension, TableError, TrainingRow};

/// Reads a training table: JSONL (`.jsonl`) or NegCLIP TSV (`.tsv`); other
/// names are recognised by their first line.
pub fn read_training_table(path: &Path) -> Result<Vec<TrainingRow>, TableError> {
    let text = fs::read_to_string(path).map_err(|e| TableError::io(path, e))?;
    let is_tsv = match extension(path).as_str() {
        "jsonl" => false,
        "tsv" => true,
        _ => !text.trim_start().starts_with('{'),
    };
    if is_tsv {
        parse_negclip_tsv(path, &text)
    } else {
        parse_jsonl(path, &text)
    }
}

fn parse_jsonl(path: &Path, text: &str) -> Result<Vec<TrainingRow>, TableError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| TableError::row(path, i as u64 + 1, e.to_string()))
        })
        .collect()
}

/// Writes JSONL, one row a line, atomically.
pub fn write_training_jsonl(path: &Path, rows: &[TrainingRow]) -> Result<(), TableError> {
    let mut out = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut out, row).map_err(|e| TableError::file(path, e.to_string()))?;
        out.push(b'\n');
    }
    crate::atomic::write_atomic(path, &out).map_err(|e| TableError::io(path, e))
}

/// Writes NegCLIP TSV for `.tsv`, JSONL otherwise.
pub fn write_training_table(path: &Path, rows: &[TrainingRow]) -> Result<(), TableError> {
    if extension(path) == "tsv" {
        write_negclip_tsv(path, rows)
    } else {
        write_training_jsonl(path, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negatives::{Negative, NegativeKind};

    #[test]
    fn jsonl_round_trip_and_schema() {
        let rows = vec![TrainingRow {
            image: "a.jpg".into(),
            caption: "a dog on a mat".into(),
            negatives: vec![Negative::new("a mat on a dog", NegativeKind::SwapRelation)],
            neg_images: vec![],
        }];
        let dir = std::env::temp_dir().join(format!("negclip-training-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.jsonl");
        write_training_table(&path, &rows).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"image\":\"a.jpg\",\"caption\":\"a dog on a mat\",\"negatives\":[{\"text\":\"a mat on a dog\",\"kind\":\"swap-relation\"}],\"neg_images\":[]}\n"
        );
        assert_eq!(read_training_table(&path).unwrap(), rows);
        let bad = dir.join("bad.jsonl");
        fs::write(&bad, format!("{text}{{\"image\": \"x\"}}\n")).unwrap();
        assert!(read_training_table(&bad)
            .unwrap_err()
            .to_string()
            .contains("bad.jsonl:2:"));
    }
}
