//! The Karpathy split JSON (`dataset_coco.json`, `dataset_flickr30k.json`):
//! `{"images": [{"filepath"?, "filename", "split", "sentences": [{"raw"}]}]}`.

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

/// The images of one split (`train`, `restval`, `val`, `test`), in file order.
pub fn read_karpathy_split(
    path: &Path,
    image_root: &Path,
    split: &str,
) -> Result<Vec<KarpathyImage>, BenchmarkError> {
    let json = read_json(path)?;
    let Some(serde_json::Value::Array(images)) = json.get("images") else {
        return Err(BenchmarkError::Schema {
            path: path.to_path_buf(),
            message: "expected an object with an `images` array".into(),
        });
    };
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
