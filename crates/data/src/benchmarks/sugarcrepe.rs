//! SugarCrepe: seven JSON files, each an object keyed "0".."n-1" of
//! `{filename, caption, negative_caption}` over COCO val2017 images.

use std::path::Path;

use serde::Deserialize;

use super::images::{image_present, pairwise_suite, ImageTable};
use super::{read_json, BenchmarkError, LoadOptions, LoadReport, LoadedSuite};
use crate::suite::ChoiceItem;

/// The seven subsets, each `<dir>/<subset>.json`, loaded as `sugarcrepe/<subset>`.
pub const SUGARCREPE_SUBSETS: [&str; 7] = [
    "add_att",
    "add_obj",
    "replace_att",
    "replace_obj",
    "replace_rel",
    "swap_att",
    "swap_obj",
];

#[derive(Debug, Deserialize)]
struct Row {
    filename: String,
    caption: String,
    negative_caption: String,
}

/// Loads all seven subsets from `dir`, images from `image_dir`.
pub fn load_sugarcrepe(
    dir: &Path,
    image_dir: &Path,
    options: &LoadOptions,
) -> Result<Vec<LoadedSuite>, BenchmarkError> {
    SUGARCREPE_SUBSETS
        .iter()
        .map(|subset| {
            load_sugarcrepe_subset(
                subset,
                &dir.join(format!("{subset}.json")),
                image_dir,
                options,
            )
        })
        .collect()
}

/// One subset: options `[negative, caption]`, true index 1, strictly-highest, micro.
pub fn load_sugarcrepe_subset(
    subset: &str,
    file: &Path,
    image_dir: &Path,
    options: &LoadOptions,
) -> Result<LoadedSuite, BenchmarkError> {
    let rows = read_rows(file)?;
    let mut report = LoadReport {
        source: file.to_path_buf(),
        rows: rows.len(),
        ..LoadReport::default()
    };
    let mut images = ImageTable::default();
    let mut items = Vec::with_capacity(rows.len());
    for (key, row) in rows {
        let path = image_dir.join(&row.filename);
        if !image_present(&path, file, &key, options.skip_missing_images, &mut report)? {
            continue;
        }
        items.push(ChoiceItem {
            image: images.intern(path, None),
            options: vec![row.negative_caption, row.caption],
            true_index: 1,
            group: subset.to_string(),
        });
    }
    Ok(pairwise_suite(
        format!("sugarcrepe/{subset}"),
        images,
        items,
        options.subsample,
        report,
    ))
}

/// The rows in numeric key order, each with its key (for errors).
fn read_rows(file: &Path) -> Result<Vec<(String, Row)>, BenchmarkError> {
    let serde_json::Value::Object(map) = read_json(file)? else {
        return Err(BenchmarkError::Schema {
            path: file.to_path_buf(),
            message: "expected a JSON object keyed \"0\"..\"n-1\"".into(),
        });
    };
    let mut rows = Vec::with_capacity(map.len());
    for (key, value) in map {
        let malformed = |message: String| BenchmarkError::MalformedRow {
            path: file.to_path_buf(),
            row: key.clone(),
            message,
        };
        let index: usize = key
            .parse()
            .map_err(|_| malformed("key is not a row number".into()))?;
        let row: Row = serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?;
        rows.push((index, key, row));
    }
    rows.sort_by_key(|(index, _, _)| *index);
    Ok(rows.into_iter().map(|(_, key, row)| (key, row)).collect())
}
