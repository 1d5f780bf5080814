//! The generic format: any benchmark of images and captions, one JSONL line per item, so
//! that a new benchmark needs only a converter (`scripts/convert_crepe.py`,
//! `scripts/convert_vl_checklist.py`).
//!
//! ```json
//! {"images": ["a.jpg", "b.jpg"], "captions": ["a dog chases a cat", "a cat chases a dog"], "true": [[0], [1]], "id": "17", "tags": {"kind": "swap"}}
//! ```
//!
//! - `images`: one or more image paths, relative to the JSONL file's folder (or absolute);
//! - `captions`: the captions;
//! - `true`: one list per image, the indices of the captions true of that image (every other
//!   caption is false of it);
//! - `boxes` (optional): one entry per image, `[x, y, width, height]` in pixels to crop it to
//!   (as CREPE and the ARO code crop: a box past the edge is filled with black), or `null`;
//! - `id` (optional, string or number): the item's name in errors and reports; default
//!   `line N`;
//! - `tags` (optional): breakdown axes, each a string or a list of strings; every value gets
//!   its own scores.
//!
//! Items are scored by [`crate::metrics::group`]: one image with several captions is a
//! multiple-choice item (correct iff every true caption scores strictly above every false
//! one); several images add the image test (Winoground's rules for 2 × 2). Unknown keys are
//! errors, so a misspelt `truth` is not silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::images::{image_present, subsample_group, ImageTable};
use super::{BenchmarkError, LoadOptions, LoadReport, LoadedSuite};
use crate::suite::{CropBox, GroupItem, GroupSuite, Suite, Tag};

/// The suite name prefix: a file given as `generic:NAME` is the suite `generic/NAME`.
pub const GENERIC_PREFIX: &str = "generic";

/// One line of the generic format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    images: Vec<PathBuf>,
    captions: Vec<String>,
    #[serde(rename = "true")]
    truth: Vec<Vec<usize>>,
    #[serde(default)]
    boxes: Option<Vec<Option<[u32; 4]>>>,
    #[serde(default)]
    id: Option<Id>,
    #[serde(default)]
    tags: BTreeMap<String, OneOrMany>,
}

/// An id written as a string or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Number(serde_json::Number),
}

/// A tag value: one string or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(value) => vec![value],
            OneOrMany::Many(values) => values,
        }
    }
}

/// Reads a JSONL file: each non-blank line parsed as `T`, with its 1-based line number. An
/// unreadable line is an error naming the file and the line.
pub(crate) fn read_jsonl<T: DeserializeOwned>(
    path: &Path,
) -> Result<Vec<(usize, T)>, BenchmarkError> {
    let text = std::fs::read_to_string(path).map_err(|source| BenchmarkError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map(|row| (i + 1, row))
                .map_err(|e| BenchmarkError::MalformedRow {
                    path: path.to_path_buf(),
                    row: format!("line {}", i + 1),
                    message: e.to_string(),
                })
        })
        .collect()
}

/// Loads one generic file as the suite `generic/<name>`.
pub fn load_generic(
    name: &str,
    file: &Path,
    options: &LoadOptions,
) -> Result<LoadedSuite, BenchmarkError> {
    let lines: Vec<(usize, Line)> = read_jsonl(file)?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut report = LoadReport {
        source: file.to_path_buf(),
        rows: lines.len(),
        ..LoadReport::default()
    };
    let mut images = ImageTable::default();
    let mut items = Vec::with_capacity(lines.len());
    for (number, line) in lines {
        let row = format!("line {number}");
        let paths: Vec<PathBuf> = line.images.iter().map(|p| base.join(p)).collect();
        let malformed = |message: String| BenchmarkError::MalformedRow {
            path: file.to_path_buf(),
            row: row.clone(),
            message,
        };
        let crops = crops(line.boxes, paths.len()).map_err(malformed)?;
        let mut present = true;
        for path in &paths {
            present &= image_present(path, file, &row, options.skip_missing_images, &mut report)?;
            if !present {
                break;
            }
        }
        if !present {
            continue;
        }
        let item = GroupItem {
            id: match line.id {
                Some(Id::Text(id)) => id,
                Some(Id::Number(id)) => id.to_string(),
                None => row.clone(),
            },
            images: paths
                .into_iter()
                .zip(crops)
                .map(|(path, crop)| images.intern(path, crop))
                .collect(),
            captions: line.captions,
            truth: line.truth,
            tags: line
                .tags
                .into_iter()
                .flat_map(|(axis, values)| {
                    values.into_vec().into_iter().map(move |value| Tag {
                        axis: axis.clone(),
                        value,
                    })
                })
                .collect(),
        };
        // Image indices come from the table, so only the captions and truth can be wrong.
        item.check(usize::MAX).map_err(malformed)?;
        items.push(item);
    }
    let suite = GroupSuite {
        name: format!("{GENERIC_PREFIX}/{name}"),
        images: images.into_sources(),
        items,
    };
    let suite = subsample_group(suite, options.subsample, &mut report);
    Ok(LoadedSuite {
        suite: Suite::Group(suite),
        report,
    })
}

/// One crop (or none) per image from the optional `boxes`.
fn crops(
    boxes: Option<Vec<Option<[u32; 4]>>>,
    images: usize,
) -> Result<Vec<Option<CropBox>>, String> {
    let Some(boxes) = boxes else {
        return Ok(vec![None; images]);
    };
    if boxes.len() != images {
        return Err(format!("{} boxes for {images} images", boxes.len()));
    }
    boxes
        .into_iter()
        .map(|b| match b {
            None => Ok(None),
            Some([_, _, w, h]) if w == 0 || h == 0 => Err(format!("empty box {w}x{h}")),
            Some([x, y, w, h]) => Ok(Some(CropBox { x, y, w, h })),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder of this test's own under the system's temporary folder.
    fn scratch(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("negclip-generic-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn group(loaded: LoadedSuite) -> GroupSuite {
        match loaded.suite {
            Suite::Group(suite) => suite,
            other => panic!("{} is not a group suite", other.name()),
        }
    }

    #[test]
    fn reads_items_with_paths_relative_to_the_file_and_shared_images() {
        let dir = scratch("reads");
        std::fs::create_dir(dir.join("img")).unwrap();
        for name in ["a.png", "b.png"] {
            write(&dir.join("img"), name, "not read here");
        }
        let file = write(
            &dir,
            "pairs.jsonl",
            concat!(
                r#"{"images": ["img/a.png", "img/b.png"], "captions": ["x", "y"], "true": [[0], [1]], "id": 7, "tags": {"kind": "swap", "source": ["p", "q"]}}"#,
                "\n\n",
                r#"{"images": ["img/a.png"], "captions": ["x", "y", "z"], "true": [[0, 2]], "boxes": [[1, 2, 3, 4]]}"#,
                "\n"
            ),
        );
        let loaded = load_generic("pairs", &file, &LoadOptions::default()).unwrap();
        assert_eq!(loaded.report.rows, 2);
        let suite = group(loaded);
        assert_eq!(suite.name, "generic/pairs");
        assert_eq!(
            suite.images.len(),
            3,
            "a.png is encoded once uncropped, once cropped"
        );
        let first = &suite.items[0];
        assert_eq!((first.id.as_str(), first.images.clone()), ("7", vec![0, 1]));
        let tags: Vec<String> = first
            .tags
            .iter()
            .map(|t| format!("{}={}", t.axis, t.value))
            .collect();
        assert_eq!(tags, ["kind=swap", "source=p", "source=q"]);
        let second = &suite.items[1];
        assert_eq!(second.id, "line 3");
        match &suite.images[second.images[0]] {
            crate::suite::ImageSource::File { crop, .. } => assert_eq!(
                *crop,
                Some(CropBox {
                    x: 1,
                    y: 2,
                    w: 3,
                    h: 4
                })
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(second.truth, vec![vec![0, 2]]);
        match &suite.images[0] {
            crate::suite::ImageSource::File { path, .. } => {
                assert_eq!(path, &dir.join("img/a.png"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = scratch("errors");
        write(&dir, "a.png", "");
        let cases = [
            (
                r#"{"images": ["a.png"], "captions": ["x", "y"], "truth": [[0]]}"#,
                "unknown field `truth`",
            ),
            (
                r#"{"images": ["a.png"], "captions": ["x", "y"], "true": [[0], [1]]}"#,
                "the truth lists 2 images",
            ),
            (
                r#"{"images": ["a.png"], "captions": ["x", "y"], "true": [[2]]}"#,
                "caption index 2 out of range",
            ),
            (
                r#"{"images": ["a.png"], "captions": ["x", "y"], "true": [[0, 1]]}"#,
                "nothing to compare",
            ),
            (
                r#"{"images": ["a.png"], "captions": ["x", "y"], "true": [[0]], "boxes": []}"#,
                "0 boxes for 1 images",
            ),
            (
                r#"{"images": ["missing.png"], "captions": ["x", "y"], "true": [[0]]}"#,
                "missing.png not found",
            ),
        ];
        for (line, expected) in cases {
            let file = write(&dir, "bad.jsonl", &format!("\n{line}\n"));
            let err = load_generic("bad", &file, &LoadOptions::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("bad.jsonl") && err.contains("line 2") && err.contains(expected),
                "{err}"
            );
        }
    }

    #[test]
    fn missing_images_can_be_skipped_and_counted() {
        let dir = scratch("skip");
        write(&dir, "a.png", "");
        let file = write(
            &dir,
            "s.jsonl",
            concat!(
                r#"{"images": ["a.png", "gone.png"], "captions": ["x", "y"], "true": [[0], [1]]}"#,
                "\n",
                r#"{"images": ["a.png"], "captions": ["x", "y"], "true": [[1]]}"#,
            ),
        );
        let options = LoadOptions {
            skip_missing_images: true,
            ..LoadOptions::default()
        };
        let loaded = load_generic("s", &file, &options).unwrap();
        assert_eq!(loaded.report.skipped_missing, 1);
        let suite = group(loaded);
        assert_eq!(suite.items.len(), 1);
        assert_eq!(
            suite.images.len(),
            1,
            "the skipped item's images are not kept"
        );
    }
}
