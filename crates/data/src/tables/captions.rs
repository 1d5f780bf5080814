//! Readers for captions without negatives, the input of `negclip negatives`.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use serde::Deserialize;

use super::{extension, negclip_tsv, TableError};

/// One caption and the image it describes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaptionRow {
    /// Image path as the source gives it (empty for plain-text input).
    pub image: String,
    pub caption: String,
    /// The Karpathy split (`train`, `restval`, `val`, `test`) when known.
    pub split: Option<String>,
    /// Nearest-neighbour image rows (NegCLIP TSV input only).
    pub neg_images: Vec<usize>,
}

/// Reads captions, choosing the format by extension (`.txt`, `.jsonl`,
/// `.csv`, `.tsv`, `.json`) or, for other names, by content.
pub fn read_captions(path: &Path) -> Result<Vec<CaptionRow>, TableError> {
    let text = fs::read_to_string(path).map_err(|e| TableError::io(path, e))?;
    match extension(path).as_str() {
        "txt" => Ok(read_plain(&text)),
        "jsonl" => read_jsonl(path, &text),
        "csv" => read_delimited(path, &text, b','),
        "tsv" => read_tsv(path, &text),
        "json" => read_json(path, &text),
        _ => sniff(path, &text),
    }
}

fn sniff(path: &Path, text: &str) -> Result<Vec<CaptionRow>, TableError> {
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let trimmed = first_line.trim_start();
    if trimmed.starts_with('{') {
        // JSONL when the first line alone is an object with a caption;
        // otherwise one JSON document (COCO or Karpathy).
        let first: Option<serde_json::Value> = serde_json::from_str(first_line).ok();
        if first.is_some_and(|v| v.get("caption").is_some()) {
            return read_jsonl(path, text);
        }
        return read_json(path, text);
    }
    if first_line.contains('\t') {
        return read_tsv(path, text);
    }
    Ok(read_plain(text))
}

/// One caption a line; blank lines skipped.
fn read_plain(text: &str) -> Vec<CaptionRow> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|caption| CaptionRow {
            caption: caption.to_string(),
            ..CaptionRow::default()
        })
        .collect()
}

#[derive(Deserialize)]
struct CaptionRecord {
    caption: String,
    #[serde(default)]
    image: String,
}

fn read_jsonl(path: &Path, text: &str) -> Result<Vec<CaptionRow>, TableError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: CaptionRecord = serde_json::from_str(line)
            .map_err(|e| TableError::row(path, i as u64 + 1, e.to_string()))?;
        rows.push(CaptionRow {
            image: record.image,
            caption: record.caption,
            ..CaptionRow::default()
        });
    }
    Ok(rows)
}

/// CSV or TSV with a header naming `caption` and (optionally) `image`.
fn read_delimited(path: &Path, text: &str, delimiter: u8) -> Result<Vec<CaptionRow>, TableError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| TableError::row(path, 1, e.to_string()))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let caption_col = column("caption")
        .ok_or_else(|| TableError::row(path, 1, "no `caption` column in the header"))?;
    let image_col = column("image");
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| TableError::csv(path, &e))?;
        let line = record.position().map_or(0, |p| p.line());
        let caption = record
            .get(caption_col)
            .ok_or_else(|| TableError::row(path, line, "row has no caption field"))?;
        rows.push(CaptionRow {
            image: image_col
                .and_then(|c| record.get(c))
                .unwrap_or("")
                .to_string(),
            caption: caption.to_string(),
            ..CaptionRow::default()
        });
    }
    Ok(rows)
}

/// NegCLIP TSV (header `\ttitle\tfilepath...`) or a TSV with `caption`.
fn read_tsv(path: &Path, text: &str) -> Result<Vec<CaptionRow>, TableError> {
    let header = text.lines().next().unwrap_or("");
    let columns: Vec<&str> = header.split('\t').collect();
    if columns.contains(&"title") && columns.contains(&"filepath") {
        let rows = negclip_tsv::parse_negclip_tsv(path, text)?;
        return Ok(rows
            .into_iter()
            .map(|r| CaptionRow {
                image: r.image,
                caption: r.caption,
                split: None,
                neg_images: r.neg_images,
            })
            .collect());
    }
    read_delimited(path, text, b'\t')
}

#[derive(Deserialize)]
struct CocoCaptions {
    images: Vec<CocoImage>,
    annotations: Vec<CocoAnnotation>,
}

#[derive(Deserialize)]
struct CocoImage {
    id: u64,
    file_name: String,
}

#[derive(Deserialize)]
struct CocoAnnotation {
    image_id: u64,
    caption: String,
}

#[derive(Deserialize)]
struct KarpathySplit {
    images: Vec<KarpathyImage>,
}

#[derive(Deserialize)]
struct KarpathyImage {
    #[serde(default)]
    filepath: String,
    filename: String,
    split: String,
    sentences: Vec<KarpathySentence>,
}

#[derive(Deserialize)]
struct KarpathySentence {
    raw: String,
}

/// COCO captions annotation JSON (`annotations` present) or the Karpathy
/// split JSON (`images[].sentences`).
fn read_json(path: &Path, text: &str) -> Result<Vec<CaptionRow>, TableError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| TableError::file(path, e.to_string()))?;
    if value.get("annotations").is_some() {
        let coco: CocoCaptions = serde_json::from_value(value)
            .map_err(|e| TableError::file(path, format!("COCO captions JSON: {e}")))?;
        return coco_rows(path, coco);
    }
    let karpathy: KarpathySplit = serde_json::from_value(value).map_err(|e| {
        TableError::file(
            path,
            format!("neither COCO captions nor Karpathy split JSON: {e}"),
        )
    })?;
    Ok(karpathy_rows(karpathy))
}

fn coco_rows(path: &Path, coco: CocoCaptions) -> Result<Vec<CaptionRow>, TableError> {
    let names: HashMap<u64, String> = coco
        .images
        .into_iter()
        .map(|i| (i.id, i.file_name))
        .collect();
    coco.annotations
        .into_iter()
        .map(|a| {
            let image = names.get(&a.image_id).ok_or_else(|| {
                TableError::file(
                    path,
                    format!("annotation for unknown image_id {}", a.image_id),
                )
            })?;
            Ok(CaptionRow {
                image: image.clone(),
                caption: a.caption.trim().to_string(),
                ..CaptionRow::default()
            })
        })
        .collect()
}

fn karpathy_rows(split: KarpathySplit) -> Vec<CaptionRow> {
    split
        .images
        .into_iter()
        .flat_map(|img| {
            let image = if img.filepath.is_empty() {
                img.filename.clone()
            } else {
                format!("{}/{}", img.filepath, img.filename)
            };
            let split = img.split;
            img.sentences.into_iter().map(move |s| CaptionRow {
                image: image.clone(),
                caption: s.raw.trim().to_string(),
                split: Some(split.clone()),
                neg_images: Vec::new(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("negclip-captions-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn plain_text_one_caption_a_line() {
        let rows = read_captions(&write("c.txt", "a dog\n\n  a cat on a mat \n")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].caption, "a cat on a mat");
        assert_eq!(rows[1].image, "");
    }

    #[test]
    fn jsonl_and_csv_with_image_and_caption() {
        let rows = read_captions(&write(
            "c.jsonl",
            "{\"image\": \"a.jpg\", \"caption\": \"a dog\"}\n{\"image\": \"b.jpg\", \"caption\": \"a cat\"}\n",
        ))
        .unwrap();
        assert_eq!(rows[1].image, "b.jpg");
        let rows =
            read_captions(&write("c.csv", "caption,image\n\"a dog, running\",a.jpg\n")).unwrap();
        assert_eq!(rows[0].caption, "a dog, running");
        assert_eq!(rows[0].image, "a.jpg");
    }

    #[test]
    fn bad_rows_name_file_and_line() {
        let path = write("bad.jsonl", "{\"caption\": \"ok\"}\n{\"image\": 3}\n");
        let message = read_captions(&path).unwrap_err().to_string();
        assert!(message.contains("bad.jsonl:2:"), "{message}");
        let path = write("bad.csv", "image,caption\na.jpg,x\nb.jpg,y,extra\n");
        let message = read_captions(&path).unwrap_err().to_string();
        assert!(message.contains("bad.csv:3:"), "{message}");
        let path = write("nocap.csv", "image,text\na.jpg,x\n");
        assert!(read_captions(&path)
            .unwrap_err()
            .to_string()
            .contains("caption"));
    }

    #[test]
    fn coco_captions_json_maps_image_ids_to_file_names() {
        let json = r#"{"info": {}, "images": [{"id": 9, "file_name": "000000000009.jpg", "height": 1}],
            "annotations": [{"id": 1, "image_id": 9, "caption": "A plate of food. "}]}"#;
        let rows = read_captions(&write("captions_train2017.json", json)).unwrap();
        assert_eq!(
            rows,
            [CaptionRow {
                image: "000000000009.jpg".into(),
                caption: "A plate of food.".into(),
                ..Default::default()
            }]
        );
        let bad = r#"{"images": [], "annotations": [{"image_id": 9, "caption": "x"}]}"#;
        assert!(read_captions(&write("bad_coco.json", bad))
            .unwrap_err()
            .to_string()
            .contains("image_id 9"));
    }

    #[test]
    fn karpathy_split_json_gives_every_sentence_with_its_split() {
        let json = r#"{"dataset": "coco", "images": [{"filepath": "val2014", "filename": "COCO_val2014_1.jpg",
            "split": "test", "sentences": [{"raw": "A dog.", "tokens": ["a", "dog"]}, {"raw": "A cat."}]}]}"#;
        let rows = read_captions(&write("dataset_coco.json", json)).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].image, "val2014/COCO_val2014_1.jpg");
        assert_eq!(rows[1].split.as_deref(), Some("test"));
    }

    #[test]
    fn unknown_extension_is_sniffed() {
        let rows = read_captions(&write("x.data", "{\"caption\": \"a dog\"}\n")).unwrap();
        assert_eq!(rows[0].caption, "a dog");
        let rows = read_captions(&write("y.data", "a dog\na cat\n")).unwrap();
        assert_eq!(rows.len(), 2);
    }
}
