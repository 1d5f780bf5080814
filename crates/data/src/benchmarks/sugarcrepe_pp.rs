//! SugarCrepe++ (Dumpala et al., NeurIPS 2024 Datasets and Benchmarks): five JSON files, each
//! a list of `{id, filename, caption, caption2, negative_caption}` over COCO val2017 images:
//! an image, two captions true of it (worded differently) and one false.
//!
//! Each subset is a group suite `sugarcrepe++/<subset>` of one-image items with captions
//! `[caption, caption2, negative_caption]`, the first two true. The authors' code
//! (github.com/Sri-Harsha/scpp, `VLMs/test_Variants_CLIP.py`) scores two things:
//!
//! - ITT (image to text): `cos_p1 > cos_neg and cos_p2 > cos_neg`: the group suite's text
//!   test (each true caption strictly above each false one, [`crate::metrics::group`]);
//! - TOT (text only): `cos_p1p2 > cos_p1_neg and cos_p1p2 > cos_p2_neg`: the text-only test
//!   of [`crate::metrics::text_only`], on the text tower's embeddings alone.

use std::path::Path;

use serde::Deserialize;

use super::images::{image_present, subsample_group, ImageTable};
use super::{read_json, BenchmarkError, LoadOptions, LoadReport, LoadedSuite};
use crate::suite::{GroupItem, GroupSuite, Suite};

/// The five subsets, each `<dir>/<subset>.json` as the repository names its files in `data/`.
pub const SUGARCREPE_PP_SUBSETS: [&str; 5] = [
    "replace_att",
    "replace_obj",
    "replace_rel",
    "swap_att",
    "swap_obj",
];

#[derive(Debug, Deserialize)]
struct Row {
    id: serde_json::Value,
    filename: String,
    caption: String,
    caption2: String,
    negative_caption: String,
}

/// Loads all five subsets from `dir`, images from `image_dir`.
pub fn load_sugarcrepe_pp(
    dir: &Path,
    image_dir: &Path,
    options: &LoadOptions,
) -> Result<Vec<LoadedSuite>, BenchmarkError> {
    SUGARCREPE_PP_SUBSETS
        .iter()
        .map(|subset| {
            let file = dir.join(format!("{subset}.json"));
            load_sugarcrepe_pp_subset(subset, &file, image_dir, options)
        })
        .collect()
}

/// One subset, items in file order.
pub fn load_sugarcrepe_pp_subset(
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
    for row in rows {
        let id = match &row.id {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let path = image_dir.join(&row.filename);
        if !image_present(&path, file, &id, options.skip_missing_images, &mut report)? {
            continue;
        }
        items.push(GroupItem {
            id,
            images: vec![images.intern(path, None)],
            captions: vec![row.caption, row.caption2, row.negative_caption],
            truth: vec![vec![0, 1]],
            tags: Vec::new(),
        });
    }
    let suite = GroupSuite {
        name: format!("sugarcrepe++/{subset}"),
        images: images.into_sources(),
        items,
    };
    let suite = subsample_group(suite, options.subsample, &mut report);
    Ok(LoadedSuite {
        suite: Suite::Group(suite),
        report,
    })
}

fn read_rows(file: &Path) -> Result<Vec<Row>, BenchmarkError> {
    let serde_json::Value::Array(rows) = read_json(file)? else {
        return Err(BenchmarkError::Schema {
            path: file.to_path_buf(),
            message: "expected a JSON list of {id, filename, caption, caption2, \
                      negative_caption}"
                .into(),
        });
    };
    rows.into_iter()
        .enumerate()
        .map(|(i, value)| {
            serde_json::from_value(value).map_err(|e| BenchmarkError::MalformedRow {
                path: file.to_path_buf(),
                row: i.to_string(),
                message: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_have_two_true_captions_and_the_negative_last() {
        let dir = std::env::temp_dir().join(format!("negclip-scpp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["a.jpg", "b.jpg"] {
            std::fs::write(dir.join(name), b"not read").unwrap();
        }
        let rows = serde_json::json!([
            {"id": 0, "filename": "a.jpg", "caption": "p1", "caption2": "p2",
             "negative_caption": "n"},
            {"id": 1, "filename": "b.jpg", "caption": "q1", "caption2": "q2",
             "negative_caption": "m"},
            {"id": 2, "filename": "a.jpg", "caption": "r1", "caption2": "r2",
             "negative_caption": "o"},
        ]);
        let file = dir.join("swap_obj.json");
        std::fs::write(&file, rows.to_string()).unwrap();
        let loaded =
            load_sugarcrepe_pp_subset("swap_obj", &file, &dir, &LoadOptions::default()).unwrap();
        let Suite::Group(suite) = &loaded.suite else {
            panic!("a group suite")
        };
        assert_eq!(suite.name, "sugarcrepe++/swap_obj");
        assert_eq!(suite.images.len(), 2, "a shared image is read once");
        assert_eq!(suite.items[2].captions, ["r1", "r2", "o"]);
        assert_eq!(suite.items[2].truth, [vec![0, 1]]);
        assert_eq!(
            (suite.items[1].id.as_str(), suite.items[2].images[0]),
            ("1", 0)
        );
        let options = LoadOptions {
            subsample: Some((2, 3)),
            ..LoadOptions::default()
        };
        let small = load_sugarcrepe_pp_subset("swap_obj", &file, &dir, &options).unwrap();
        let Suite::Group(small) = &small.suite else {
            panic!("a group suite")
        };
        assert_eq!(small.items.len(), 2);
        let used: usize = small.images.len();
        assert!(small.items.iter().all(|i| i.images[0] < used));
        let missing = dir.join("missing.json");
        let err = load_sugarcrepe_pp_subset("x", &missing, &dir, &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
