//! The text-only test of a group item (SugarCrepe++'s TOT): do the captions true of one image
//! resemble each other more than either resembles a false one, by the text tower alone?
//!
//! SugarCrepe++ (github.com/Sri-Harsha/scpp, `VLMs/test_Variants_CLIP.py`) counts an item
//! right when `cos_p1p2 > cos_p1_neg and cos_p1p2 > cos_p2_neg`, with `cos` the cosine of two
//! captions' text embeddings: strict, so a tie is wrong. For any item the same reading holds:
//! over every image with at least two true captions and at least one false caption, for every
//! pair `(a, b)` of its true captions and every false caption `n`,
//! `cos(a, b) > cos(a, n)` and `cos(a, b) > cos(b, n)`. An item without such an image has no
//! text-only test (Winoground's pairs: one true caption per image).

use serde::{Deserialize, Serialize};

use super::{ratio, MetricsError};
use crate::suite::{GroupItem, GroupSuite};

/// The text-only outcomes of a group suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextOnlyReport {
    pub suite: String,
    /// Per item, in item order: `None` where the item has no text-only test.
    pub items: Vec<Option<bool>>,
    pub correct: usize,
    /// Items with a text-only test.
    pub total: usize,
    /// `correct / total`; `None` when no item has the test.
    pub score: Option<f64>,
}

/// The `(true captions, false captions)` of each of the item's images that has a text-only
/// test: two or more true captions and one or more false.
fn tested_images(item: &GroupItem) -> Vec<(Vec<usize>, Vec<usize>)> {
    (0..item.images.len())
        .map(|i| (0..item.captions.len()).partition(|&c| item.is_true(i, c)))
        .filter(|(trues, falses): &(Vec<usize>, Vec<usize>)| trues.len() >= 2 && !falses.is_empty())
        .collect()
}

/// Whether the item has a text-only test.
pub fn has_text_only_test(item: &GroupItem) -> bool {
    !tested_images(item).is_empty()
}

/// One item's outcome from its captions' cosines, `cos[a][b]` (local caption indices); `None`
/// when the item has no text-only test.
pub fn text_only_outcome(item: &GroupItem, cos: &[Vec<f32>]) -> Option<bool> {
    let tested = tested_images(item);
    if tested.is_empty() {
        return None;
    }
    Some(tested.iter().all(|(trues, falses)| {
        trues.iter().enumerate().all(|(k, &a)| {
            trues[k + 1..].iter().all(|&b| {
                falses
                    .iter()
                    .all(|&n| cos[a][b] > cos[a][n] && cos[a][b] > cos[b][n])
            })
        })
    }))
}

/// Scores a group suite's text-only tests from `cos[item]`: the item's caption × caption
/// cosines, `None` for items without the test.
pub fn score_text_only(
    suite: &GroupSuite,
    cos: &[Option<Vec<Vec<f32>>>],
) -> Result<TextOnlyReport, MetricsError> {
    if cos.len() != suite.items.len() {
        return Err(MetricsError::RowCount {
            suite: suite.name.clone(),
            got: cos.len(),
            expected: suite.items.len(),
        });
    }
    let mut items = Vec::with_capacity(cos.len());
    for (i, (item, cos)) in suite.items.iter().zip(cos).enumerate() {
        let n = item.captions.len();
        let outcome = match cos {
            Some(cos) if cos.len() != n || cos.iter().any(|row| row.len() != n) => {
                return Err(MetricsError::OptionCount {
                    suite: suite.name.clone(),
                    item: i,
                    got: cos.len(),
                    expected: n,
                });
            }
            Some(cos) => text_only_outcome(item, cos),
            None => None,
        };
        items.push(outcome);
    }
    let total = items.iter().flatten().count();
    let correct = items.iter().flatten().filter(|&&ok| ok).count();
    Ok(TextOnlyReport {
        suite: suite.name.clone(),
        score: (total > 0).then(|| ratio(correct, total)),
        items,
        correct,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triplet() -> GroupItem {
        GroupItem {
            id: "0".into(),
            images: vec![0],
            captions: vec!["p1".into(), "p2".into(), "neg".into()],
            truth: vec![vec![0, 1]],
            tags: Vec::new(),
        }
    }

    /// Cosines of p1, p2 and neg from `p1p2`, `p1n` and `p2n`.
    fn cos(p1p2: f32, p1n: f32, p2n: f32) -> Vec<Vec<f32>> {
        vec![
            vec![1.0, p1p2, p1n],
            vec![p1p2, 1.0, p2n],
            vec![p1n, p2n, 1.0],
        ]
    }

    #[test]
    fn the_positives_must_be_closer_to_each_other_than_either_to_the_negative() {
        let item = triplet();
        assert_eq!(text_only_outcome(&item, &cos(0.9, 0.8, 0.7)), Some(true));
        assert_eq!(text_only_outcome(&item, &cos(0.9, 0.95, 0.7)), Some(false));
        assert_eq!(text_only_outcome(&item, &cos(0.9, 0.7, 0.95)), Some(false));
        // Strict, as the reference's `>`: a tie is wrong.
        assert_eq!(text_only_outcome(&item, &cos(0.9, 0.9, 0.7)), Some(false));
    }

    #[test]
    fn items_with_one_true_caption_per_image_have_no_test() {
        let pair = GroupItem {
            id: "w".into(),
            images: vec![0, 1],
            captions: vec!["a".into(), "b".into()],
            truth: vec![vec![0], vec![1]],
            tags: Vec::new(),
        };
        assert!(!has_text_only_test(&pair));
        assert!(has_text_only_test(&triplet()));
        let suite = GroupSuite {
            name: "mixed".into(),
            images: Vec::new(),
            items: vec![triplet(), pair, triplet()],
        };
        let report = score_text_only(
            &suite,
            &[Some(cos(0.9, 0.8, 0.7)), None, Some(cos(0.5, 0.8, 0.7))],
        )
        .unwrap();
        assert_eq!(report.items, [Some(true), None, Some(false)]);
        assert_eq!(
            (report.correct, report.total, report.score),
            (1, 2, Some(0.5))
        );
        assert!(matches!(
            score_text_only(&suite, &[None]),
            Err(MetricsError::RowCount { .. })
        ));
    }
}
