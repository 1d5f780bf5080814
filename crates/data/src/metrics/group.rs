//! Winoground's text, image and group scores, for items of any shape
//! ([`crate::suite::GroupItem`]).
//!
//! Winoground (Thrush et al., CVPR 2022; the scoring functions `text_correct`,
//! `image_correct` and `group_correct` of the dataset card of `facebook/winoground` on the
//! Hugging Face Hub) scores two images and two captions, caption `k` true of image `k`, with
//! `s(c, i)` the similarity of caption `c` and image `i`:
//!
//! - text: `s(c0, i0) > s(c1, i0)` and `s(c1, i1) > s(c0, i1)` (each image prefers its caption);
//! - image: `s(c0, i0) > s(c0, i1)` and `s(c1, i1) > s(c1, i0)` (each caption prefers its image);
//! - group: both.
//!
//! The comparisons are strict: a tie is wrong (and so is a NaN). For any other shape the same
//! reading holds: the text test runs over every image that has both true and false captions
//! (each true caption strictly above each false one), the image test over every caption that
//! has both true and false images (each true image strictly above each false one), and the
//! group test asks every test the item has. An item with one image (a multiple-choice item,
//! possibly with several true captions) has only a text test, so its group outcome is its text
//! outcome; EqBen-style pairs are 2×2 and score exactly as Winoground.
//!
//! Each score is the fraction of items, among those that have the test, that pass it; the
//! group score is over every item. The same scores are given per tag value ([`Tag`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ratio, MetricsError};
use crate::suite::{GroupItem, GroupSuite, Tag};

/// One item's outcome: `None` where the item has no such test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOutcome {
    pub text: Option<bool>,
    pub image: Option<bool>,
    pub group: bool,
}

/// The three scores over a set of items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupScores {
    pub items: usize,
    /// `None` when no item of the set has a text test.
    pub text_score: Option<f64>,
    /// `None` when no item of the set has an image test (one-image items).
    pub image_score: Option<f64>,
    pub group_score: f64,
}

/// The result of scoring a group suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupReport {
    pub suite: String,
    /// Per-item outcomes, in item order.
    pub outcomes: Vec<GroupOutcome>,
    /// Over every item.
    pub overall: GroupScores,
    /// Per tag axis (`collapsed_tag`, `secondary_tag`), per value.
    pub per_tag: BTreeMap<String, BTreeMap<String, GroupScores>>,
}

/// One item's outcome from its similarities, `sim[image][caption]` (local indices).
pub fn item_outcome(item: &GroupItem, sim: &[Vec<f32>]) -> GroupOutcome {
    let (n_images, n_captions) = (item.images.len(), item.captions.len());
    // Every image with both kinds of caption: each true caption above each false one.
    let text: Vec<bool> = (0..n_images)
        .filter_map(|i| {
            let (trues, falses): (Vec<usize>, Vec<usize>) =
                (0..n_captions).partition(|&c| item.is_true(i, c));
            separates(&trues, &falses, |c| sim[i][c])
        })
        .collect();
    // Every caption with both kinds of image: each true image above each false one.
    let image: Vec<bool> = (0..n_captions)
        .filter_map(|c| {
            let (trues, falses): (Vec<usize>, Vec<usize>) =
                (0..n_images).partition(|&i| item.is_true(i, c));
            separates(&trues, &falses, |i| sim[i][c])
        })
        .collect();
    let all = |tests: &[bool]| (!tests.is_empty()).then(|| tests.iter().all(|&ok| ok));
    let (text, image) = (all(&text), all(&image));
    GroupOutcome {
        text,
        image,
        group: text.unwrap_or(true) && image.unwrap_or(true),
    }
}

/// `None` when either side is empty (no test); else whether every `trues` score is strictly
/// above every `falses` score.
fn separates(trues: &[usize], falses: &[usize], score: impl Fn(usize) -> f32) -> Option<bool> {
    if trues.is_empty() || falses.is_empty() {
        return None;
    }
    Some(
        trues
            .iter()
            .all(|&t| falses.iter().all(|&f| score(t) > score(f))),
    )
}

/// Scores a group suite from `sim[item][image][caption]` (the item's own images and
/// captions, in its order).
pub fn score_group(suite: &GroupSuite, sim: &[Vec<Vec<f32>>]) -> Result<GroupReport, MetricsError> {
    check_group_shape(suite, sim)?;
    let outcomes: Vec<GroupOutcome> = suite
        .items
        .iter()
        .zip(sim)
        .map(|(item, s)| item_outcome(item, s))
        .collect();
    let mut tagged: BTreeMap<&Tag, Vec<GroupOutcome>> = BTreeMap::new();
    for (item, outcome) in suite.items.iter().zip(&outcomes) {
        // An item listing one tag twice counts once.
        let mut tags: Vec<&Tag> = item.tags.iter().collect();
        tags.sort();
        tags.dedup();
        for tag in tags {
            tagged.entry(tag).or_default().push(*outcome);
        }
    }
    let mut per_tag: BTreeMap<String, BTreeMap<String, GroupScores>> = BTreeMap::new();
    for (tag, outcomes) in tagged {
        per_tag
            .entry(tag.axis.clone())
            .or_default()
            .insert(tag.value.clone(), scores(&outcomes));
    }
    Ok(GroupReport {
        suite: suite.name.clone(),
        overall: scores(&outcomes),
        outcomes,
        per_tag,
    })
}

/// The three scores over `outcomes`.
pub fn scores(outcomes: &[GroupOutcome]) -> GroupScores {
    let fraction = |tests: Vec<bool>| {
        (!tests.is_empty()).then(|| ratio(tests.iter().filter(|&&ok| ok).count(), tests.len()))
    };
    GroupScores {
        items: outcomes.len(),
        text_score: fraction(outcomes.iter().filter_map(|o| o.text).collect()),
        image_score: fraction(outcomes.iter().filter_map(|o| o.image).collect()),
        group_score: ratio(outcomes.iter().filter(|o| o.group).count(), outcomes.len()),
    }
}

fn check_group_shape(suite: &GroupSuite, sim: &[Vec<Vec<f32>>]) -> Result<(), MetricsError> {
    if sim.len() != suite.items.len() {
        return Err(MetricsError::RowCount {
            suite: suite.name.clone(),
            got: sim.len(),
            expected: suite.items.len(),
        });
    }
    for (item, s) in suite.items.iter().zip(sim) {
        if s.len() != item.images.len() || s.iter().any(|row| row.len() != item.captions.len()) {
            return Err(MetricsError::Shape {
                suite: format!("{}, item {}", suite.name, item.id),
                images: item.images.len(),
                captions: item.captions.len(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Winoground item: caption k true of image k.
    fn pair(id: &str, tags: &[(&str, &str)]) -> GroupItem {
        GroupItem {
            id: id.into(),
            images: vec![0, 1],
            captions: vec!["c0".into(), "c1".into()],
            truth: vec![vec![0], vec![1]],
            tags: tags
                .iter()
                .map(|(axis, value)| Tag {
                    axis: axis.to_string(),
                    value: value.to_string(),
                })
                .collect(),
        }
    }

    fn suite(items: Vec<GroupItem>) -> GroupSuite {
        GroupSuite {
            name: "t".into(),
            images: vec![],
            items,
        }
    }

    /// `sim[image][caption]` from Winoground's four named scores.
    fn wino(c0_i0: f32, c1_i0: f32, c0_i1: f32, c1_i1: f32) -> Vec<Vec<f32>> {
        vec![vec![c0_i0, c1_i0], vec![c0_i1, c1_i1]]
    }

    /// Winoground's own three functions, as the dataset card writes them.
    fn reference(s: &[Vec<f32>]) -> (bool, bool, bool) {
        let (c0_i0, c1_i0, c0_i1, c1_i1) = (s[0][0], s[0][1], s[1][0], s[1][1]);
        let text = c0_i0 > c1_i0 && c1_i1 > c0_i1;
        let image = c0_i0 > c0_i1 && c1_i1 > c1_i0;
        (text, image, text && image)
    }

    #[test]
    fn two_by_two_items_follow_winoground_on_every_ordering_and_tie() {
        // Every assignment of the values {0, 1, 2} to the four scores covers each strict
        // ordering and every kind of tie.
        let item = pair("0", &[]);
        for code in 0..81u32 {
            let v: Vec<f32> = (0..4).map(|k| ((code / 3u32.pow(k)) % 3) as f32).collect();
            let sim = wino(v[0], v[1], v[2], v[3]);
            let outcome = item_outcome(&item, &sim);
            let (text, image, group) = reference(&sim);
            assert_eq!(
                (outcome.text, outcome.image, outcome.group),
                (Some(text), Some(image), group),
                "{v:?}"
            );
        }
    }

    #[test]
    fn a_nan_similarity_is_wrong() {
        let outcome = item_outcome(&pair("0", &[]), &wino(f32::NAN, 0.0, 0.0, 1.0));
        assert_eq!((outcome.text, outcome.image), (Some(false), Some(false)));
    }

    #[test]
    fn scores_overall_and_per_tag() {
        let items = vec![
            pair("0", &[("collapsed_tag", "Object")]),
            pair(
                "1",
                &[("collapsed_tag", "Relation"), ("secondary_tag", "Symbolic")],
            ),
            pair("2", &[("collapsed_tag", "Relation")]),
        ];
        let sim = vec![
            wino(0.9, 0.1, 0.1, 0.9),  // all right
            wino(0.9, 0.1, 0.95, 0.9), // text wrong (image 1 prefers c0), image wrong
            wino(0.9, 0.5, 0.1, 0.9),  // text right; image right
        ];
        let report = score_group(&suite(items), &sim).unwrap();
        let all = &report.overall;
        assert_eq!(all.items, 3);
        assert!((all.text_score.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((all.image_score.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((all.group_score - 2.0 / 3.0).abs() < 1e-12);
        let relation = &report.per_tag["collapsed_tag"]["Relation"];
        assert_eq!((relation.items, relation.group_score), (2, 0.5));
        assert_eq!(report.per_tag["secondary_tag"]["Symbolic"].group_score, 0.0);
        assert_eq!(
            report.per_tag["collapsed_tag"]["Object"].text_score,
            Some(1.0)
        );
    }

    #[test]
    fn text_right_image_wrong_fails_the_group() {
        // Image 0 prefers c0 and image 1 prefers c1, but caption c1 prefers image 0.
        let outcome = item_outcome(&pair("0", &[]), &wino(0.9, 0.8, 0.1, 0.7));
        assert_eq!(
            outcome,
            GroupOutcome {
                text: Some(true),
                image: Some(false),
                group: false
            }
        );
    }

    #[test]
    fn one_image_items_are_multiple_choice_with_every_true_caption_above_every_false_one() {
        let item = GroupItem {
            id: "line 1".into(),
            images: vec![0],
            captions: vec!["t1".into(), "f".into(), "t2".into()],
            truth: vec![vec![0, 2]],
            tags: vec![],
        };
        let right = item_outcome(&item, &[vec![0.5, 0.4, 0.6]]);
        assert_eq!(
            (right.text, right.image, right.group),
            (Some(true), None, true)
        );
        // One true caption below the false one: wrong, even though the best is true.
        let wrong = item_outcome(&item, &[vec![0.3, 0.4, 0.6]]);
        assert_eq!((wrong.text, wrong.group), (Some(false), false));
        let report = score_group(&suite(vec![item]), &[vec![vec![0.5, 0.4, 0.6]]]).unwrap();
        assert_eq!(report.overall.image_score, None);
        assert_eq!(report.overall.group_score, 1.0);
    }

    #[test]
    fn a_caption_true_of_both_images_gives_no_image_test_of_its_own() {
        // Three captions over two images: c0 true of both, c1 of image 0, c2 of image 1.
        let item = GroupItem {
            id: "x".into(),
            images: vec![0, 1],
            captions: vec!["c0".into(), "c1".into(), "c2".into()],
            truth: vec![vec![0, 1], vec![0, 2]],
            tags: vec![],
        };
        // Each image's true captions above its false one, each caption's true image above
        // its false one: every test passes.
        let sim = vec![vec![0.9, 0.8, 0.1], vec![0.7, 0.2, 0.6]];
        let outcome = item_outcome(&item, &sim);
        assert_eq!((outcome.text, outcome.image), (Some(true), Some(true)));
        // c1 then prefers image 1: its image test fails.
        let sim = vec![vec![0.9, 0.8, 0.1], vec![0.7, 0.85, 0.6]];
        let outcome = item_outcome(&item, &sim);
        assert_eq!(outcome.image, Some(false));
    }

    #[test]
    fn wrong_shapes_are_errors_naming_the_item() {
        let s = suite(vec![pair("7", &[])]);
        assert!(matches!(
            score_group(&s, &[]),
            Err(MetricsError::RowCount {
                got: 0,
                expected: 1,
                ..
            })
        ));
        let err = score_group(&s, &[vec![vec![0.0, 1.0]]]).unwrap_err();
        assert!(err.to_string().contains("item 7"), "{err}");
    }
}
