//! Winoground (Thrush et al., CVPR 2022) as its dataset repository, `facebook/winoground` on
//! the Hugging Face Hub, ships it: `data/examples.jsonl`, one example per line, and
//! `data/images.zip`, which unzips to `images/<stem>.png`:
//!
//! ```json
//! {"id": 0, "image_0": "ex_0_img_0", "image_1": "ex_0_img_1", "caption_0": "an old person kisses a young person", "caption_1": "a young person kisses an old person", "tag": "Noun", "secondary_tag": "", "num_main_preds": 1, "collapsed_tag": "Object"}
//! ```
//!
//! Caption `k` is true of image `k`. Each example becomes a 2 × 2 [`GroupItem`] scored by
//! [`crate::metrics::group`] (the paper's text, image and group scores), with per-tag
//! breakdowns the way the authors' `statistics/compute_statistics.py` filters them: by equal
//! field values, so a `secondary_tag` is taken whole ("Symbolic", "Pragmatics", "Series";
//! the empty string is no tag), `collapsed_tag` (Object, Relation, Both) and
//! `num_main_preds` (1, 2).

use std::path::Path;

use serde::Deserialize;

use super::generic::read_jsonl;
use super::images::{image_present, subsample_group, ImageTable};
use super::{BenchmarkError, LoadOptions, LoadReport, LoadedSuite};
use crate::suite::{GroupItem, GroupSuite, Suite, Tag};

/// The annotation file's name inside the Winoground folder.
pub const WINOGROUND_EXAMPLES: &str = "examples.jsonl";

/// One line of `examples.jsonl`. The fine-grained `tag` is not broken down (the authors'
/// statistics do not: it has dozens of values, a few examples each), so it is not read.
#[derive(Debug, Deserialize)]
struct Example {
    id: u64,
    image_0: String,
    image_1: String,
    caption_0: String,
    caption_1: String,
    secondary_tag: String,
    num_main_preds: u32,
    collapsed_tag: String,
}

/// Loads `<dir>/examples.jsonl` with images from `<dir>/images/` as the suite `winoground`.
pub fn load_winoground(dir: &Path, options: &LoadOptions) -> Result<LoadedSuite, BenchmarkError> {
    let file = dir.join(WINOGROUND_EXAMPLES);
    let examples: Vec<(usize, Example)> = read_jsonl(&file)?;
    let mut report = LoadReport {
        source: file.clone(),
        rows: examples.len(),
        ..LoadReport::default()
    };
    let mut images = ImageTable::default();
    let mut items = Vec::with_capacity(examples.len());
    for (line, example) in examples {
        let row = format!("line {line} (id {})", example.id);
        let paths = [&example.image_0, &example.image_1]
            .map(|stem| dir.join("images").join(format!("{stem}.png")));
        let mut present = true;
        for path in &paths {
            present = present
                && image_present(path, &file, &row, options.skip_missing_images, &mut report)?;
        }
        if !present {
            continue;
        }
        items.push(item(example, paths.map(|p| images.intern(p, None))));
    }
    let suite = GroupSuite {
        name: "winoground".into(),
        images: images.into_sources(),
        items,
    };
    let suite = subsample_group(suite, options.subsample, &mut report);
    Ok(LoadedSuite {
        suite: Suite::Group(suite),
        report,
    })
}

fn item(example: Example, images: [usize; 2]) -> GroupItem {
    let tag = |axis: &str, value: String| Tag {
        axis: axis.into(),
        value,
    };
    let mut tags = vec![
        tag("collapsed_tag", example.collapsed_tag),
        tag("num_main_preds", example.num_main_preds.to_string()),
    ];
    if !example.secondary_tag.is_empty() {
        tags.push(tag("secondary_tag", example.secondary_tag));
    }
    GroupItem {
        id: example.id.to_string(),
        images: images.to_vec(),
        captions: vec![example.caption_0, example.caption_1],
        truth: vec![vec![0], vec![1]],
        tags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_example_is_a_two_by_two_item_with_its_tags() {
        let line = r#"{"id": 3, "image_0": "ex_3_img_0", "image_1": "ex_3_img_1", "caption_0": "a b", "caption_1": "b a", "tag": "Noun", "secondary_tag": "Symbolic", "num_main_preds": 2, "collapsed_tag": "Relation"}"#;
        let example: Example = serde_json::from_str(line).unwrap();
        let item = item(example, [4, 5]);
        assert_eq!(item.id, "3");
        assert_eq!(item.images, vec![4, 5]);
        assert_eq!(item.captions, vec!["a b", "b a"]);
        assert!(item.is_true(0, 0) && item.is_true(1, 1) && !item.is_true(0, 1));
        let tags: Vec<String> = item
            .tags
            .iter()
            .map(|t| format!("{}={}", t.axis, t.value))
            .collect();
        assert_eq!(
            tags,
            [
                "collapsed_tag=Relation",
                "num_main_preds=2",
                "secondary_tag=Symbolic"
            ]
        );
        assert!(item.check(6).is_ok());
    }

    #[test]
    fn an_empty_secondary_tag_is_no_tag() {
        let line = r#"{"id": 0, "image_0": "a", "image_1": "b", "caption_0": "x", "caption_1": "y", "tag": "Noun", "secondary_tag": "", "num_main_preds": 1, "collapsed_tag": "Object"}"#;
        let item = item(serde_json::from_str(line).unwrap(), [0, 1]);
        assert!(item.tags.iter().all(|t| t.axis != "secondary_tag"));
    }
}
