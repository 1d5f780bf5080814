//! The reference's metrics as pure functions over scores (no model needed).
//!
//! - Choice suites: per-item correctness by [`Decision`] (strict: a tie is
//!   wrong; first-argmax: numpy `argmax`, ties go to the lower index), micro
//!   accuracy, per-group accuracies and the macro average with its filters.
//! - Retrieval: recall@k as CLIP_benchmark defines it (image→text per image, hit
//!   if any of its captions is in the top k; text→image per caption).
//! - Zero-shot classification, calibration and OOD detection: [`classification`].
//! - Group suites (Winoground's text, image and group scores): [`group`]; the text-only
//!   test of items with several true captions (SugarCrepe++'s TOT): [`text_only`].

pub mod classification;
pub mod group;
pub mod text_only;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::suite::{Averaging, ChoiceSuite, Decision, RetrievalSuite};

#[derive(Debug, Error, PartialEq)]
pub enum MetricsError {
    #[error("suite {suite}: {got} score rows for {expected} items")]
    RowCount {
        suite: String,
        got: usize,
        expected: usize,
    },
    #[error("suite {suite}, item {item}: {got} scores for {expected} options")]
    OptionCount {
        suite: String,
        item: usize,
        got: usize,
        expected: usize,
    },
    #[error("suite {suite}: {message}")]
    Classification { suite: String, message: String },
    #[error("suite {suite}: similarity matrix must be {images} images x {captions} captions")]
    Shape {
        suite: String,
        images: usize,
        captions: usize,
    },
}

/// Correct / total / accuracy of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupAccuracy {
    pub correct: usize,
    pub total: usize,
    pub accuracy: f64,
}

/// One macro average: the mean accuracy over the groups it keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MacroAverage {
    /// `None` when no group survives the filters.
    pub accuracy: Option<f64>,
    pub groups: usize,
}

/// The result of scoring a choice suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceReport {
    pub suite: String,
    /// Per-item correctness, in item order.
    pub items: Vec<bool>,
    /// Per-item predicted option (first maximum, numpy `argmax`).
    pub predictions: Vec<usize>,
    pub correct: usize,
    /// Micro accuracy (mean over items).
    pub accuracy: f64,
    /// The headline macro accuracy (exclusions and minimum count both applied);
    /// `None` for micro-averaged suites.
    pub macro_accuracy: Option<f64>,
    /// The macro average with the exclusion list but without the minimum-count
    /// filter (METRICS.md: report both when they differ).
    pub macro_without_min_filter: Option<MacroAverage>,
    /// The macro average with both filters, with its group count.
    pub macro_with_min_filter: Option<MacroAverage>,
    pub per_group: BTreeMap<String, GroupAccuracy>,
}

/// The first maximum, as numpy `argmax`: a NaN counts as the maximum.
pub fn first_argmax<T: PartialOrd + Copy>(scores: &[T]) -> usize {
    // Only NaN is unordered against itself.
    if let Some(i) = scores.iter().position(|s| s.partial_cmp(s).is_none()) {
        return i;
    }
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = i;
        }
    }
    best
}

/// Whether one item is correct under `decision`.
pub fn is_correct(decision: Decision, scores: &[f32], true_index: usize) -> bool {
    match decision {
        Decision::StrictlyHighest => {
            let t = scores[true_index];
            scores
                .iter()
                .enumerate()
                .all(|(i, &s)| i == true_index || t > s)
        }
        Decision::FirstArgmax => first_argmax(scores) == true_index,
    }
}

/// Scores a choice suite from `scores[item][option]`.
pub fn score_choice(
    suite: &ChoiceSuite,
    scores: &[Vec<f32>],
) -> Result<ChoiceReport, MetricsError> {
    check_choice_shape(suite, scores)?;
    let items: Vec<bool> = suite
        .items
        .iter()
        .zip(scores)
        .map(|(item, s)| is_correct(suite.decision, s, item.true_index))
        .collect();
    let predictions = scores.iter().map(|s| first_argmax(s)).collect();
    let correct = items.iter().filter(|&&c| c).count();
    let per_group = group_accuracies(suite, &items);
    let (with_min, without_min) = match &suite.averaging {
        Averaging::Micro => (None, None),
        Averaging::Macro {
            excluded,
            min_items,
        } => (
            Some(macro_average(&per_group, excluded, *min_items)),
            Some(macro_average(&per_group, excluded, 0)),
        ),
    };
    Ok(ChoiceReport {
        suite: suite.name.clone(),
        predictions,
        correct,
        accuracy: ratio(correct, items.len()),
        macro_accuracy: with_min.as_ref().and_then(|m| m.accuracy),
        macro_without_min_filter: without_min,
        macro_with_min_filter: with_min,
        per_group,
        items,
    })
}

fn check_choice_shape(suite: &ChoiceSuite, scores: &[Vec<f32>]) -> Result<(), MetricsError> {
    if scores.len() != suite.items.len() {
        return Err(MetricsError::RowCount {
            suite: suite.name.clone(),
            got: scores.len(),
            expected: suite.items.len(),
        });
    }
    for (i, (item, s)) in suite.items.iter().zip(scores).enumerate() {
        if s.len() != item.options.len() {
            return Err(MetricsError::OptionCount {
                suite: suite.name.clone(),
                item: i,
                got: s.len(),
                expected: item.options.len(),
            });
        }
    }
    Ok(())
}

fn group_accuracies(suite: &ChoiceSuite, items: &[bool]) -> BTreeMap<String, GroupAccuracy> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (item, &ok) in suite.items.iter().zip(items) {
        let entry = counts.entry(item.group.clone()).or_default();
        entry.0 += usize::from(ok);
        entry.1 += 1;
    }
    counts
        .into_iter()
        .map(|(g, (correct, total))| {
            let acc = GroupAccuracy {
                correct,
                total,
                accuracy: ratio(correct, total),
            };
            (g, acc)
        })
        .collect()
}

/// Plain mean of group accuracies over groups not excluded and with at least
/// `min_items` items.
pub fn macro_average(
    per_group: &BTreeMap<String, GroupAccuracy>,
    excluded: &[String],
    min_items: usize,
) -> MacroAverage {
    let kept: Vec<f64> = per_group
        .iter()
        .filter(|(g, a)| a.total >= min_items && !excluded.iter().any(|e| e == *g))
        .map(|(_, a)| a.accuracy)
        .collect();
    let accuracy = (!kept.is_empty()).then(|| kept.iter().sum::<f64>() / kept.len() as f64);
    MacroAverage {
        accuracy,
        groups: kept.len(),
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

/// Recall@k both ways; keys are k.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalReport {
    pub suite: String,
    /// Text retrieval (CLIP_benchmark's `text_retrieval_recall@k`): per image,
    /// hit if any of its captions ranks in the top k among all captions.
    pub image_to_text: BTreeMap<usize, f64>,
    /// Image retrieval (`image_retrieval_recall@k`): per caption, hit if its
    /// image ranks in the top k among all images.
    pub text_to_image: BTreeMap<usize, f64>,
}

/// The 0-based rank of `target` in `scores` sorted descending, ties broken by
/// lower index first (a stable sort). `torch.topk`, which CLIP_benchmark uses,
/// orders ties in an unspecified, implementation-dependent way; this is the
/// deterministic rule, and real float similarities almost never tie.
fn rank_of(scores: impl Iterator<Item = f32>, target: usize, target_score: f32) -> usize {
    scores
        .enumerate()
        .filter(|&(i, s)| s > target_score || (s == target_score && i < target))
        .count()
}

/// Scores a retrieval suite from `sim[image][caption]`.
pub fn score_retrieval(
    suite: &RetrievalSuite,
    sim: &[Vec<f32>],
    ks: &[usize],
) -> Result<RetrievalReport, MetricsError> {
    let (n_img, n_cap) = (suite.images.len(), suite.captions.len());
    if sim.len() != n_img || sim.iter().any(|row| row.len() != n_cap) {
        return Err(MetricsError::Shape {
            suite: suite.name.clone(),
            images: n_img,
            captions: n_cap,
        });
    }
    // Best rank among each image's captions; an image without captions never hits
    // (CLIP_benchmark: 0/0 recall is NaN, and NaN > 0 is false).
    let mut best_caption_rank = vec![usize::MAX; n_img];
    for (c, &img) in suite.caption_image.iter().enumerate() {
        let r = rank_of(sim[img].iter().copied(), c, sim[img][c]);
        best_caption_rank[img] = best_caption_rank[img].min(r);
    }
    let image_rank: Vec<usize> = suite
        .caption_image
        .iter()
        .enumerate()
        .map(|(c, &img)| rank_of(sim.iter().map(|row| row[c]), img, sim[img][c]))
        .collect();
    let recall =
        |ranks: &[usize], k: usize| ratio(ranks.iter().filter(|&&r| r < k).count(), ranks.len());
    Ok(RetrievalReport {
        suite: suite.name.clone(),
        image_to_text: ks
            .iter()
            .map(|&k| (k, recall(&best_caption_rank, k)))
            .collect(),
        text_to_image: ks.iter().map(|&k| (k, recall(&image_rank, k))).collect(),
    })
}

/// Mean and sample standard deviation (n − 1 denominator; 0 for one value).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanStd {
    pub mean: f64,
    pub std: f64,
    pub n: usize,
}

pub fn mean_std(values: &[f64]) -> MeanStd {
    let n = values.len();
    if n == 0 {
        return MeanStd {
            mean: f64::NAN,
            std: f64::NAN,
            n,
        };
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    MeanStd {
        mean,
        std: var.sqrt(),
        n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{ChoiceItem, ImageSource};

    fn suite(
        decision: Decision,
        averaging: Averaging,
        groups: &[&str],
        n_opt: usize,
    ) -> ChoiceSuite {
        ChoiceSuite {
            name: "t".into(),
            images: vec![],
            items: groups
                .iter()
                .map(|g| ChoiceItem {
                    image: 0,
                    options: vec![String::new(); n_opt],
                    true_index: if decision == Decision::FirstArgmax {
                        0
                    } else {
                        1
                    },
                    group: g.to_string(),
                })
                .collect(),
            decision,
            averaging,
        }
    }

    #[test]
    fn strict_decision_counts_a_tie_as_wrong() {
        let s = suite(Decision::StrictlyHighest, Averaging::Micro, &["a"; 3], 2);
        let r = score_choice(&s, &[vec![0.1, 0.2], vec![0.3, 0.3], vec![0.5, 0.4]]).unwrap();
        assert_eq!(r.items, vec![true, false, false]);
        assert_eq!(r.predictions, vec![1, 0, 0]);
        assert!((r.accuracy - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.macro_accuracy, None);
    }

    #[test]
    fn first_argmax_counts_a_tie_at_index_zero_as_right() {
        let s = suite(Decision::FirstArgmax, Averaging::Micro, &["a"; 3], 5);
        let scores = vec![
            vec![0.5, 0.5, 0.5, 0.1, 0.5],
            vec![0.4, 0.5, 0.1, 0.1, 0.1],
            vec![0.2, 0.1, 0.1, 0.2, 0.1],
        ];
        let r = score_choice(&s, &scores).unwrap();
        assert_eq!(r.items, vec![true, false, true]);
        assert_eq!(r.predictions, vec![0, 1, 0]);
    }

    #[test]
    fn first_argmax_follows_numpy_on_nan() {
        assert_eq!(first_argmax(&[0.1, f32::NAN, 0.9]), 1);
        assert_eq!(first_argmax(&[0.3, 0.9, 0.9]), 1);
    }

    #[test]
    fn macro_drops_excluded_and_small_groups_and_reports_both_variants() {
        // a: 2/2 (excluded), b: 1/2, c: 0/1 (below min 2).
        let s = suite(
            Decision::StrictlyHighest,
            Averaging::Macro {
                excluded: vec!["a".into()],
                min_items: 2,
            },
            &["a", "a", "b", "b", "c"],
            2,
        );
        let good = vec![0.0, 1.0];
        let bad = vec![1.0, 0.0];
        let r = score_choice(&s, &[good.clone(), good.clone(), good, bad.clone(), bad]).unwrap();
        assert_eq!(r.macro_accuracy, Some(0.5));
        assert_eq!(r.macro_with_min_filter.as_ref().unwrap().groups, 1);
        let without = r.macro_without_min_filter.unwrap();
        assert_eq!((without.accuracy, without.groups), (Some(0.25), 2));
        assert_eq!(r.per_group["a"].correct, 2);
        assert!((r.accuracy - 0.6).abs() < 1e-12);
    }

    #[test]
    fn wrong_shapes_are_errors_naming_the_item() {
        let s = suite(Decision::StrictlyHighest, Averaging::Micro, &["a"; 2], 2);
        assert!(matches!(
            score_choice(&s, &[vec![0.0, 1.0]]),
            Err(MetricsError::RowCount {
                got: 1,
                expected: 2,
                ..
            })
        ));
        assert!(matches!(
            score_choice(&s, &[vec![0.0, 1.0], vec![0.0]]),
            Err(MetricsError::OptionCount { item: 1, .. })
        ));
    }

    fn retrieval_suite(n_img: usize, caption_image: Vec<usize>) -> RetrievalSuite {
        RetrievalSuite {
            name: "r".into(),
            images: (0..n_img)
                .map(|i| ImageSource::File {
                    path: format!("{i}").into(),
                    crop: None,
                })
                .collect(),
            captions: vec![String::new(); caption_image.len()],
            caption_image,
        }
    }

    #[test]
    fn retrieval_recall_by_hand() {
        // Images 0, 1, 2; captions 0,1 -> image 0; 2,3 -> image 1; 4 -> image 2.
        let s = retrieval_suite(3, vec![0, 0, 1, 1, 2]);
        let sim = vec![
            vec![0.1, 0.9, 0.8, 0.2, 0.0], // image 0: its caption 1 ranks first.
            vec![0.9, 0.1, 0.3, 0.2, 0.5], // image 1: best own caption (2) has rank 2.
            vec![0.2, 0.3, 0.9, 0.4, 0.1], // image 2: own caption 4 ranks last (4).
        ];
        let r = score_retrieval(&s, &sim, &[1, 2, 3, 5]).unwrap();
        assert_eq!(r.image_to_text[&1], 1.0 / 3.0);
        assert_eq!(r.image_to_text[&3], 2.0 / 3.0);
        assert_eq!(r.image_to_text[&5], 1.0);
        // Per caption, its image's rank in its column:
        // c0 (img0): 0.1 vs 0.9, 0.2 -> rank 2; c1: 0.9 first -> 0; c2 (img1): 0.3 vs 0.8, 0.9 -> 2;
        // c3 (img1): 0.2 vs 0.2 (img0, lower index wins the tie), 0.4 -> 2; c4 (img2): 0.1 vs 0.0, 0.5 -> 1.
        assert_eq!(r.text_to_image[&1], 1.0 / 5.0);
        assert_eq!(r.text_to_image[&2], 2.0 / 5.0);
        assert_eq!(r.text_to_image[&3], 1.0);
    }

    #[test]
    fn retrieval_ties_go_to_the_lower_index() {
        let s = retrieval_suite(2, vec![0, 1]);
        let sim = vec![vec![0.5, 0.5], vec![0.5, 0.5]];
        let r = score_retrieval(&s, &sim, &[1]).unwrap();
        // Image 0 / caption 0 win their ties; image 1 / caption 1 lose them.
        assert_eq!(r.image_to_text[&1], 0.5);
        assert_eq!(r.text_to_image[&1], 0.5);
    }

    #[test]
    fn mean_std_uses_the_sample_deviation() {
        let m = mean_std(&[0.5, 0.6, 0.7]);
        assert!((m.mean - 0.6).abs() < 1e-12);
        assert!((m.std - 0.1).abs() < 1e-12);
        assert_eq!(mean_std(&[0.4]).std, 0.0);
    }
}
