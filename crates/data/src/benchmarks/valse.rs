//! VALSE (Parcalabescu et al., ACL 2022): eleven JSON files ("pieces"), each an object keyed
//! by item id of `{dataset, image_file, caption, foil, mturk: {caption, foil, other}, …}`, over
//! images of five source datasets.
//!
//! The rules follow the authors' evaluation code (github.com/Heidelberg-NLP/VALSE,
//! `lxmert_valse_eval.py`, and the README's "valid set"): an item counts only when at least two
//! of its three annotators chose the caption and not the foil (`foil["mturk"]["caption"] >= 2`);
//! the pairwise accuracy `acc_r` counts an item right when the caption scores strictly above
//! the foil (`cross_score[0, 1] > cross_score[1, 1]`: a tie is wrong). Each piece is a choice
//! suite `valse/<piece>` with options `[foil, caption]`, true index 1.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::images::{image_present, pairwise_suite, ImageTable};
use super::{read_json, BenchmarkError, DataPaths, LoadOptions, LoadReport, LoadedSuite};
use crate::suite::ChoiceItem;

/// The pieces, each `<dir>/<piece>.json` as the VALSE repository names its files in `data/`.
pub const VALSE_PIECES: [&str; 11] = [
    "existence",
    "plurals",
    "counting-hard",
    "counting-small-quant",
    "counting-adversarial",
    "relations",
    "action-replacement",
    "actant-swap",
    "coreference-standard",
    "coreference-hard",
    "foil-it",
];

/// The least number of annotators (of three) who chose the caption and not the foil for the
/// item to be a valid foil (the VALSE README: "at least two out of three").
pub const MIN_CAPTION_VOTES: u32 = 2;

/// Each source dataset (a row's `dataset` value) and the data path key of its images.
const IMAGE_KEYS: &[(&str, &str)] = &[
    ("visual7w", "valse-images-visual7w"),
    ("coco2017", "valse-images-coco2017"),
    ("coco_2017", "valse-images-coco2017"),
    ("SWiG", "valse-images-swig"),
    ("VisDial_v1.0", "valse-images-visdial"),
    ("FOIL dataset", "valse-images-foilit"),
];

#[derive(Debug, Deserialize)]
struct Row {
    dataset: String,
    image_file: String,
    caption: String,
    foil: String,
    mturk: Votes,
}

/// The annotators' votes; only `caption` decides validity.
#[derive(Debug, Deserialize)]
struct Votes {
    caption: u32,
}

/// Loads every piece from `paths` (`valse` for the JSON folder, one image key per source
/// dataset).
pub fn load_valse(
    paths: &DataPaths,
    options: &LoadOptions,
) -> Result<Vec<LoadedSuite>, BenchmarkError> {
    VALSE_PIECES
        .iter()
        .map(|piece| load_valse_piece(piece, paths, options))
        .collect()
}

/// One piece: its valid foils in key order, each scored caption against foil.
pub fn load_valse_piece(
    piece: &str,
    paths: &DataPaths,
    options: &LoadOptions,
) -> Result<LoadedSuite, BenchmarkError> {
    let file = paths
        .folder_with("valse", &format!("{piece}.json"))?
        .join(format!("{piece}.json"));
    let rows = read_rows(&file)?;
    let mut report = LoadReport {
        source: file.clone(),
        rows: rows.len(),
        ..LoadReport::default()
    };
    let mut images = ImageTable::default();
    let mut items = Vec::new();
    for (key, row) in rows {
        if row.mturk.caption < MIN_CAPTION_VOTES {
            continue;
        }
        let root = image_root(&row.dataset, paths, &file, &key)?;
        let path = image_path(&root, &row.image_file);
        if !image_present(&path, &file, &key, options.skip_missing_images, &mut report)? {
            continue;
        }
        items.push(ChoiceItem {
            image: images.intern(path, None),
            options: vec![row.foil, row.caption],
            true_index: 1,
            group: piece.to_string(),
        });
    }
    Ok(pairwise_suite(
        format!("valse/{piece}"),
        images,
        items,
        options.subsample,
        report,
    ))
}

/// The image folder of a row's source dataset.
fn image_root(
    dataset: &str,
    paths: &DataPaths,
    file: &Path,
    key: &str,
) -> Result<PathBuf, BenchmarkError> {
    let Some((_, path_key)) = IMAGE_KEYS.iter().find(|(name, _)| *name == dataset) else {
        let known: Vec<&str> = IMAGE_KEYS.iter().map(|(name, _)| *name).collect();
        return Err(BenchmarkError::MalformedRow {
            path: file.to_path_buf(),
            row: key.to_string(),
            message: format!(
                "unknown source dataset {dataset:?} (known: {})",
                known.join(", ")
            ),
        });
    };
    paths.get(path_key)
}

/// Where an image is: `<root>/<file>`, or, for the COCO 2014 and VisDial images that
/// coreference uses, in the subfolder their download unpacks to (`train2014/`, `val2014/`,
/// `VisualDialog_val2018/`) when the file is not directly under the root.
fn image_path(root: &Path, file: &str) -> PathBuf {
    let direct = root.join(file);
    if direct.is_file() {
        return direct;
    }
    ["COCO_train2014_", "COCO_val2014_", "VisualDialog_val2018_"]
        .iter()
        .find(|prefix| file.starts_with(*prefix))
        .map(|prefix| root.join(prefix.trim_start_matches("COCO_").trim_end_matches('_')))
        .map(|folder| folder.join(file))
        .filter(|path| path.is_file())
        .unwrap_or(direct)
}

/// The rows in key order (a Python reader sorting the keys sees the same order), each with
/// its key for errors.
fn read_rows(file: &Path) -> Result<Vec<(String, Row)>, BenchmarkError> {
    let serde_json::Value::Object(map) = read_json(file)? else {
        return Err(BenchmarkError::Schema {
            path: file.to_path_buf(),
            message: "expected a JSON object keyed by item id".into(),
        });
    };
    let mut rows = map
        .into_iter()
        .map(|(key, value)| {
            let row: Row =
                serde_json::from_value(value).map_err(|e| BenchmarkError::MalformedRow {
                    path: file.to_path_buf(),
                    row: key.clone(),
                    message: e.to_string(),
                })?;
            Ok((key, row))
        })
        .collect::<Result<Vec<_>, BenchmarkError>>()?;
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{Decision, Suite};
    use std::collections::BTreeMap;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("negclip-valse-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn row(dataset: &str, image: &str, votes: u32) -> serde_json::Value {
        serde_json::json!({
            "dataset": dataset, "image_file": image, "caption": format!("caption of {image}"),
            "foil": format!("foil of {image}"), "classes": "x", "classes_foil": "y",
            "mturk": {"foil": 0, "caption": votes, "other": 3 - votes},
        })
    }

    #[test]
    fn only_valid_foils_are_kept_in_key_order_with_the_caption_true() {
        let dir = temp_dir("valid");
        std::fs::create_dir_all(dir.join("imgs/train2014")).unwrap();
        for name in [
            "a.jpg",
            "b.jpg",
            "train2014/COCO_train2014_000000000001.jpg",
        ] {
            std::fs::write(dir.join("imgs").join(name), b"not read").unwrap();
        }
        let rows = serde_json::json!({
            "k2": row("VisDial_v1.0", "b.jpg", 2),
            "k1": row("VisDial_v1.0", "a.jpg", 3),
            "k3": row("VisDial_v1.0", "a.jpg", 1),
            "k4": row("VisDial_v1.0", "COCO_train2014_000000000001.jpg", 2),
        });
        std::fs::write(dir.join("coreference-hard.json"), rows.to_string()).unwrap();
        let paths = DataPaths::new(
            None,
            BTreeMap::from([
                ("valse".to_string(), dir.clone()),
                ("valse-images-visdial".to_string(), dir.join("imgs")),
            ]),
        )
        .unwrap();
        let loaded = load_valse_piece("coreference-hard", &paths, &LoadOptions::default()).unwrap();
        let Suite::Choice(suite) = loaded.suite else {
            panic!("a choice suite")
        };
        assert_eq!(suite.name, "valse/coreference-hard");
        assert_eq!(loaded.report.rows, 4);
        let options: Vec<&[String]> = suite.items.iter().map(|i| &i.options[..]).collect();
        assert_eq!(
            options,
            [
                ["foil of a.jpg", "caption of a.jpg"],
                ["foil of b.jpg", "caption of b.jpg"],
                [
                    "foil of COCO_train2014_000000000001.jpg",
                    "caption of COCO_train2014_000000000001.jpg"
                ],
            ]
        );
        assert!(suite.items.iter().all(|i| i.true_index == 1));
        assert_eq!(suite.decision, Decision::StrictlyHighest);
        // The COCO image is found in the subfolder its download unpacks to.
        let crate::suite::ImageSource::File { path, .. } = &suite.images[2] else {
            panic!("a file")
        };
        assert!(path.ends_with("imgs/train2014/COCO_train2014_000000000001.jpg"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unknown_source_dataset_names_the_file_and_row() {
        let dir = temp_dir("unknown");
        let rows = serde_json::json!({ "r7": row("Flickr", "a.jpg", 3) });
        std::fs::write(dir.join("existence.json"), rows.to_string()).unwrap();
        let paths =
            DataPaths::new(None, BTreeMap::from([("valse".to_string(), dir.clone())])).unwrap();
        let err = load_valse_piece("existence", &paths, &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("existence.json") && err.contains("r7") && err.contains("Flickr"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
