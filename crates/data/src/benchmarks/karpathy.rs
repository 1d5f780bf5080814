//! The Karpathy splits in the two forms users download them:
//!
//! - Karpathy's own files (`dataset_coco.json`, `dataset_flickr30k.json`), every split in one:
//!   `{"images": [{"filepath"?, "filename", "split", "sentences": [{"raw"}]}]}`, image paths
//!   `<image_root>/<filepath>/<filename>`;
//! - the per-split files the ARO code downloads (`coco_karpathy_test.json`,
//!   `flickr30k_test.json`, and their `_val` siblings): `[{"image", "caption": [..]}]`, image
//!   paths `<image_root>/<image>` (`val2014/COCO_val2014_….jpg`,
//!   `flickr30k-images/….jpg`), holding one split each.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{read_json, BenchmarkError};

#[derive(Debug, Deserialize)]
struct RawImage {
    #[serde(default)]
    filepath: Option<String>,
    filename: String,
    split: String,
    sentences: Vec<RawSentence>,
}

#[derive(Debug, Deserialize)]
struct RawSentence {
    raw: String,
}

/// One test-split image and its raw captions.
#[derive(Debug, Clone, PartialEq)]
pub struct KarpathyImage {
    /// 0-based index of the image in the file's `images` array (for errors).
    pub row: usize,
    /// `<image_root>/<filepath>/<filename>` (`filepath` is absent for Flickr30k).
    pub path: PathBuf,
    pub captions: Vec<String>,
}

/// The images with `split == "test"`, in file order.
pub fn read_karpathy_test(
    path: &Path,
    image_root: &Path,
) -> Result<Vec<KarpathyImage>, BenchmarkError> {
    read_karpathy_split(path, image_root, "test")
}

/// The images of one split (`train`, `restval`, `val`, `test`), in file order. A per-split
/// file of the ARO code holds its split only, so all its images are returned.
pub fn read_karpathy_split(
    path: &Path,
    image_root: &Path,
    split: &str,
) -> Result<Vec<KarpathyImage>, BenchmarkError> {
    match read_json(path)? {
        serde_json::Value::Array(rows) => read_split_file(path, image_root, &rows),
        json => match json.get("images") {
            Some(serde_json::Value::Array(images)) => {
                read_karpathy_file(path, image_root, split, images)
            }
            _ => Err(BenchmarkError::Schema {
                path: path.to_path_buf(),
                message: "expected Karpathy's `{\"images\": [...]}` or the ARO code's \
                          `[{\"image\", \"caption\"}]`"
                    .into(),
            }),
        },
    }
}

/// The ARO code's per-split rows; `caption` is a list (a string in training files).
#[derive(Debug, Deserialize)]
struct SplitRow {
    image: String,
    caption: Captions,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Captions {
    Many(Vec<String>),
    One(String),
}

fn read_split_file(
    path: &Path,
    image_root: &Path,
    rows: &[serde_json::Value],
) -> Result<Vec<KarpathyImage>, BenchmarkError> {
    rows.iter()
        .enumerate()
        .map(|(row, value)| {
            let parsed: SplitRow = serde_json::from_value(value.clone()).map_err(|e| {
                BenchmarkError::MalformedRow {
                    path: path.to_path_buf(),
                    row: row.to_string(),
                    message: e.to_string(),
                }
            })?;
            Ok(KarpathyImage {
                row,
                path: image_root.join(parsed.image),
                captions: match parsed.caption {
                    Captions::Many(all) => all,
                    Captions::One(one) => vec![one],
                },
            })
        })
        .collect()
}

fn read_karpathy_file(
    path: &Path,
    image_root: &Path,
    split: &str,
    images: &[serde_json::Value],
) -> Result<Vec<KarpathyImage>, BenchmarkError> {
    let mut out = Vec::new();
    for (row, value) in images.iter().enumerate() {
        let image: RawImage =
            serde_json::from_value(value.clone()).map_err(|e| BenchmarkError::MalformedRow {
                path: path.to_path_buf(),
                row: row.to_string(),
                message: e.to_string(),
            })?;
        if image.split != split {
            continue;
        }
        let dir = match &image.filepath {
            Some(sub) => image_root.join(sub),
            None => image_root.to_path_buf(),
        };
        out.push(KarpathyImage {
            row,
            path: dir.join(&image.filename),
            captions: image.sentences.into_iter().map(|s| s.raw).collect(),
        });
    }
    Ok(out)
}
