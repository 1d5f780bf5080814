//! A training table as a training source: rows of `{image, caption, negatives, neg_images}`
//! (`negclip negatives` JSONL, or NegCLIP's TSV), images read from disk relative to a root.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Example, ExampleRef, HardImages, TrainingError, TrainingSource};
use crate::decode::load_image;
use crate::tables::{read_training_table, TrainingRow};

/// `[data]` with `source = "table"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// The training table (`.jsonl` or NegCLIP `.tsv`).
    pub table: PathBuf,
    /// Folder the table's image paths are relative to (default: the table's folder).
    pub image_root: Option<PathBuf>,
    /// Where hard-negative images come from.
    #[serde(default)]
    pub hard_images: TableHardImages,
}

/// Hard-negative images of a table (`data.hard_images`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum TableHardImages {
    /// `"none"`: no hard images.
    #[default]
    None,
    /// `{ nearest = K }`: the K nearest rows by image embedding, re-mined every epoch.
    Nearest(NonZeroUsize),
    /// `"table"`: the rows listed in each row's `neg_images` (NegCLIP's TSV `neg_image`).
    Table,
}

/// The rows of a training table.
pub struct TrainingTable {
    rows: Vec<TrainingRow>,
    image_root: PathBuf,
    hard_images: HardImages,
}

impl TrainingTable {
    /// Read the table; with `hard_images = "table"` every row must name at least one
    /// neighbour row in range, and the first that does not is named.
    pub fn open(config: &TableConfig) -> Result<TrainingTable, TrainingError> {
        let rows = read_training_table(&config.table)?;
        let image_root = config.image_root.clone().unwrap_or_else(|| {
            config
                .table
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        });
        let hard_images = match config.hard_images {
            TableHardImages::None => HardImages::None,
            TableHardImages::Nearest(k) => HardImages::Mine { k },
            TableHardImages::Table => HardImages::Given(stored_neighbours(&rows, &config.table)?),
        };
        Ok(TrainingTable {
            rows,
            image_root,
            hard_images,
        })
    }
}

/// Every row's `neg_images` as references, each list non-empty and in range.
fn stored_neighbours(
    rows: &[TrainingRow],
    table: &Path,
) -> Result<Vec<Vec<ExampleRef>>, TrainingError> {
    rows.iter()
        .enumerate()
        .map(|(row, r)| {
            let list = &r.neg_images;
            if list.is_empty() || list.iter().any(|&j| j >= rows.len()) {
                return Err(TrainingError::BadNeighbours {
                    path: table.to_path_buf(),
                    row,
                    rows: rows.len(),
                    got: list.clone(),
                });
            }
            Ok(list.iter().copied().map(ExampleRef::Sample).collect())
        })
        .collect()
}

impl TrainingSource for TrainingTable {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn example(&self, at: ExampleRef) -> Result<Example, TrainingError> {
        let ExampleRef::Sample(index) = at else {
            return Err(TrainingError::NoTwins(
                "a training table has no counterfactual twins",
            ));
        };
        let row = &self.rows[index];
        // NegCLIP's loader passes `Image.open(path)` to the transform unconverted.
        let image = load_image(&self.image_root.join(&row.image))?;
        Ok(Example {
            image,
            caption: row.caption.clone(),
            negatives: row.negatives.iter().map(|n| n.text.clone()).collect(),
        })
    }

    fn hard_images(&self) -> &HardImages {
        &self.hard_images
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(dir: &Path, neighbours: &[&str]) -> PathBuf {
        let path = dir.join("table.jsonl");
        let rows: Vec<String> = neighbours
            .iter()
            .map(|n| format!(r#"{{"image": "a.png", "caption": "a red circle", "negatives": [{{"text": "a circle red", "kind": "shuffle-order"}}], "neg_images": {n}}}"#))
            .collect();
        std::fs::write(&path, rows.join("\n")).unwrap();
        path
    }

    fn config(table: PathBuf, hard: &str) -> TableConfig {
        let mut config: TableConfig = toml::from_str(&format!("table = \"\"\n{hard}")).unwrap();
        config.table = table;
        config
    }

    #[test]
    fn stored_neighbours_must_be_rows_of_the_table() {
        let dir = std::env::temp_dir().join(format!("negclip-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = config(table(&dir, &["[1]", "[0]"]), "hard_images = \"table\"");
        let opened = TrainingTable::open(&good).unwrap();
        let expected = vec![vec![ExampleRef::Sample(1)], vec![ExampleRef::Sample(0)]];
        assert_eq!(opened.hard_images(), &HardImages::Given(expected));
        for bad in [["[1]", "[]"], ["[1]", "[2]"]] {
            let err = TrainingTable::open(&config(table(&dir, &bad), "hard_images = \"table\""))
                .err()
                .unwrap()
                .to_string();
            assert!(
                err.contains("table.jsonl: row 1") && err.contains("neg_image"),
                "{err}"
            );
        }
        let unchecked = config(table(&dir, &["[]", "[]"]), "");
        assert_eq!(
            TrainingTable::open(&unchecked).unwrap().hard_images(),
            &HardImages::None
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_image_is_named() {
        let dir = std::env::temp_dir().join(format!("negclip-table-img-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = TrainingTable::open(&config(table(&dir, &["[]"]), "")).unwrap();
        let err = source
            .example(ExampleRef::Sample(0))
            .unwrap_err()
            .to_string();
        assert!(err.contains("a.png"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
