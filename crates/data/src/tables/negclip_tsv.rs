//! NegCLIP's training table: a pandas-written TSV with an unnamed 0-based
//! index column, `title`, `filepath`, `neg_caption` (a Python list of strings)
//! and `neg_image` (a Python list of row indices).
//!
//! Reading: the `csv` crate (tab delimiter, `"` quoting with doubled quotes)
//! and then [`super::python_literal`]. Writing reproduces pandas' `to_csv(sep='\t')`
//! byte for byte: minimal quoting, `\n` line ends, Python `repr` lists.

use std::fs;
use std::path::Path;

use super::python_literal::{parse_int_list, parse_string_list, repr_int_list, repr_string_list};
use super::{TableError, TrainingRow};
use crate::negatives::{Negative, NegativeKind};

const HEADER: [&str; 5] = ["", "title", "filepath", "neg_caption", "neg_image"];

/// Reads a NegCLIP TSV. Its negatives get kind [`NegativeKind::External`]: the
/// table does not record how they were made.
pub fn read_negclip_tsv(path: &Path) -> Result<Vec<TrainingRow>, TableError> {
    let text = fs::read_to_string(path).map_err(|e| TableError::io(path, e))?;
    parse_negclip_tsv(path, &text)
}

pub(crate) fn parse_negclip_tsv(path: &Path, text: &str) -> Result<Vec<TrainingRow>, TableError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| TableError::csv(path, &e))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| TableError::row(path, 1, format!("no `{name}` column in the header")))
    };
    let (title, filepath, neg_caption) = (
        column("title")?,
        column("filepath")?,
        column("neg_caption")?,
    );
    let neg_image = headers.iter().position(|h| h == "neg_image");
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| TableError::csv(path, &e))?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or("");
        check_index(path, line, field(0), rows.len())?;
        let negatives = parse_string_list(field(neg_caption))
            .map_err(|e| TableError::row(path, line, format!("neg_caption: {e}")))?
            .into_iter()
            .map(|text| Negative::new(text, NegativeKind::External))
            .collect();
        let neg_images = match neg_image {
            Some(c) => parse_indices(field(c))
                .map_err(|m| TableError::row(path, line, format!("neg_image: {m}")))?,
            None => Vec::new(),
        };
        rows.push(TrainingRow {
            image: field(filepath).to_string(),
            caption: field(title).to_string(),
            negatives,
            neg_images,
        });
    }
    Ok(rows)
}

/// `neg_image` refers to rows by this index, so it must be the row number.
fn check_index(path: &Path, line: u64, index: &str, expected: usize) -> Result<(), TableError> {
    match index.trim().parse::<usize>() {
        Ok(i) if i == expected => Ok(()),
        _ => Err(TableError::row(
            path,
            line,
            format!("index `{index}` is not the row number {expected}"),
        )),
    }
}

fn parse_indices(text: &str) -> Result<Vec<usize>, String> {
    parse_int_list(text)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|i| usize::try_from(i).map_err(|_| format!("negative index {i}")))
        .collect()
}

/// Writes rows as pandas would: `pd.read_csv(path, sep='\t', index_col=0)`
/// and `ast.literal_eval` on the two list columns read them back.
pub fn write_negclip_tsv(path: &Path, rows: &[TrainingRow]) -> Result<(), TableError> {
    let bytes = negclip_tsv_bytes(rows).map_err(|e| TableError::file(path, e.to_string()))?;
    crate::atomic::write_atomic(path, &bytes).map_err(|e| TableError::io(path, e))
}

pub(crate) fn negclip_tsv_bytes(rows: &[TrainingRow]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(b'\t')
        .terminator(csv::Terminator::Any(b'\n'))
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    writer.write_record(HEADER)?;
    for (i, row) in rows.iter().enumerate() {
        let texts: Vec<&str> = row.negatives.iter().map(|n| n.text.as_str()).collect();
        let indices: Vec<i64> = row.neg_images.iter().map(|&i| i as i64).collect();
        writer.write_record([
            i.to_string(),
            row.caption.clone(),
            row.image.clone(),
            repr_string_list(&texts),
            repr_int_list(&indices),
        ])?;
    }
    writer.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(caption: &str, negatives: &[&str]) -> TrainingRow {
        TrainingRow {
            image: "coco/x.jpg".into(),
            caption: caption.into(),
            negatives: negatives
                .iter()
                .map(|t| Negative::new(*t, NegativeKind::External))
                .collect(),
            neg_images: vec![1, 0, 1],
        }
    }

    #[test]
    fn quotes_fields_like_pandas() {
        let rows = [row("A dog.", &["a god ."]), row("it's \"x\"", &["it 's x"])];
        let text = String::from_utf8(negclip_tsv_bytes(&rows).unwrap()).unwrap();
        let want = "\ttitle\tfilepath\tneg_caption\tneg_image\n\
            0\tA dog.\tcoco/x.jpg\t['a god .']\t[1, 0, 1]\n\
            1\t\"it's \"\"x\"\"\"\tcoco/x.jpg\t\"[\"\"it 's x\"\"]\"\t[1, 0, 1]\n";
        assert_eq!(text, want);
        let dir = std::env::temp_dir().join(format!("negclip-tsv-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.tsv");
        fs::write(&path, &text).unwrap();
        assert_eq!(read_negclip_tsv(&path).unwrap(), rows);
    }

    #[test]
    fn errors_name_the_line() {
        let dir = std::env::temp_dir().join(format!("negclip-tsv-bad-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.tsv");
        fs::write(
            &path,
            "\ttitle\tfilepath\tneg_caption\tneg_image\n0\ta\tb\t['x']\t[1]\n1\ta\tb\t['x'\t[1]\n",
        )
        .unwrap();
        let message = read_negclip_tsv(&path).unwrap_err().to_string();
        assert!(
            message.contains("bad.tsv:3:") && message.contains("neg_caption"),
            "{message}"
        );
        fs::write(
            &path,
            "\ttitle\tfilepath\tneg_caption\tneg_image\n5\ta\tb\t['x']\t[1]\n",
        )
        .unwrap();
        assert!(read_negclip_tsv(&path)
            .unwrap_err()
            .to_string()
            .contains("bad.tsv:2:"));
    }
}
