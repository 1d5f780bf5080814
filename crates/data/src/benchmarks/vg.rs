//! VG-Relation and VG-Attribution (ARO): one JSON array of rows, each an image
//! crop with a true and a false caption.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::images::{image_present, subsample_choice, ImageTable};
use super::{read_json, BenchmarkError, LoadOptions, LoadReport, LoadedSuite};
use crate::suite::{Averaging, ChoiceItem, ChoiceSuite, CropBox, Decision, Suite};

/// Groups with fewer items than this are left out of the macro average.
pub const MIN_GROUP_ITEMS: usize = 25;

/// The 157 VG-Relation names the ARO authors drop before macro-averaging
/// (from mertyg/vision-language-models-are-bows, MIT).
const VGR_EXCLUDED_JSON: &str = include_str!("../../assets/vgr_excluded_relations.json");

/// The relation names excluded from the VG-Relation macro accuracy.
pub fn vgr_excluded_relations() -> Vec<String> {
    serde_json::from_str(VGR_EXCLUDED_JSON).expect("embedded asset is a JSON list of strings")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VgKind {
    Relation,
    Attribution,
}

/// The fields of a VG-Relation / VG-Attribution row that the benchmark uses.
#[derive(Debug, Clone, Deserialize)]
pub struct VgRow {
    pub image_path: String,
    pub bbox_x: u32,
    pub bbox_y: u32,
    pub bbox_w: u32,
    pub bbox_h: u32,
    pub true_caption: String,
    pub false_caption: String,
    /// VG-Relation only.
    pub relation_name: Option<String>,
    /// VG-Attribution only: two attribute strings.
    pub attributes: Option<Vec<String>>,
}

impl VgRow {
    /// The macro-averaging group: the relation, or `"<attr0>_<attr1>"`.
    fn group(&self, kind: VgKind) -> Result<String, String> {
        match kind {
            VgKind::Relation => self
                .relation_name
                .clone()
                .ok_or_else(|| "missing field `relation_name`".to_string()),
            VgKind::Attribution => match self.attributes.as_deref() {
                Some([a, b]) => Ok(format!("{a}_{b}")),
                Some(other) => Err(format!(
                    "`attributes` has {} entries, expected 2",
                    other.len()
                )),
                None => Err("missing field `attributes`".to_string()),
            },
        }
    }

    fn crop(&self) -> Result<CropBox, String> {
        if self.bbox_w == 0 || self.bbox_h == 0 {
            return Err(format!("empty crop box {}x{}", self.bbox_w, self.bbox_h));
        }
        Ok(CropBox {
            x: self.bbox_x,
            y: self.bbox_y,
            w: self.bbox_w,
            h: self.bbox_h,
        })
    }
}

/// Parses every row of a VG-Relation / VG-Attribution file; a malformed row is
/// an error naming the file and the row's 0-based index.
pub fn read_vg_rows(path: &Path) -> Result<Vec<VgRow>, BenchmarkError> {
    let serde_json::Value::Array(rows) = read_json(path)? else {
        return Err(BenchmarkError::Schema {
            path: path.to_path_buf(),
            message: "expected a JSON array of rows".into(),
        });
    };
    rows.into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v).map_err(|e| BenchmarkError::MalformedRow {
                path: path.to_path_buf(),
                row: i.to_string(),
                message: e.to_string(),
            })
        })
        .collect()
}

/// Loads VG-Relation or VG-Attribution: options `[false, true]`, true index 1,
/// strictly-highest decision, macro average per relation / attribute pair.
pub fn load_vg(
    kind: VgKind,
    annotation: &Path,
    image_dir: &Path,
    options: &LoadOptions,
) -> Result<LoadedSuite, BenchmarkError> {
    let rows = read_vg_rows(annotation)?;
    let mut report = LoadReport {
        source: annotation.to_path_buf(),
        rows: rows.len(),
        ..LoadReport::default()
    };
    let mut images = ImageTable::default();
    let mut items = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let malformed = |message: String| BenchmarkError::MalformedRow {
            path: annotation.to_path_buf(),
            row: i.to_string(),
            message,
        };
        let group = row.group(kind).map_err(malformed)?;
        let crop = row.crop().map_err(malformed)?;
        let path = image_dir.join(&row.image_path);
        let row_name = i.to_string();
        if !image_present(
            &path,
            annotation,
            &row_name,
            options.skip_missing_images,
            &mut report,
        )? {
            continue;
        }
        items.push(ChoiceItem {
            image: images.intern(path, Some(crop)),
            options: vec![row.false_caption.clone(), row.true_caption.clone()],
            true_index: 1,
            group,
        });
    }
    let suite = ChoiceSuite {
        name: kind_name(kind).into(),
        images: images.into_sources(),
        items,
        decision: Decision::StrictlyHighest,
        averaging: averaging(kind),
    };
    let suite = subsample_choice(suite, options.subsample, &mut report);
    Ok(LoadedSuite {
        suite: Suite::Choice(suite),
        report,
    })
}

fn kind_name(kind: VgKind) -> &'static str {
    match kind {
        VgKind::Relation => "vg-relation",
        VgKind::Attribution => "vg-attribution",
    }
}

fn averaging(kind: VgKind) -> Averaging {
    let excluded = match kind {
        VgKind::Relation => vgr_excluded_relations(),
        VgKind::Attribution => Vec::new(),
    };
    Averaging::Macro {
        excluded,
        min_items: MIN_GROUP_ITEMS,
    }
}

/// Item counts per group, e.g. to inspect which relations pass the filters.
pub fn group_counts(rows: &[VgRow], kind: VgKind) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        if let Ok(g) = row.group(kind) {
            *counts.entry(g).or_insert(0) += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_exclusion_list_has_the_157_names() {
        let names = vgr_excluded_relations();
        assert_eq!(names.len(), 157);
        assert!(names.iter().any(|n| n == "next to"));
        assert!(!names.iter().any(|n| n == "on"));
    }

    #[test]
    fn attribution_group_joins_the_pair_in_stored_order() {
        let row: VgRow = serde_json::from_value(serde_json::json!({
            "image_path": "1.jpg", "bbox_x": 0, "bbox_y": 0, "bbox_w": 3, "bbox_h": 4,
            "true_caption": "the red apple", "false_caption": "the green apple",
            "attributes": ["red", "green"]
        }))
        .unwrap();
        assert_eq!(row.group(VgKind::Attribution).unwrap(), "red_green");
        assert!(row.group(VgKind::Relation).is_err());
    }
}
