//! Zero-shot classification metrics over the cosine similarity of each image with each class:
//! top-k accuracy, mean per-class recall, calibration (expected calibration error with the
//! model's logit scale, and after a temperature fitted on one part of the items), detection of
//! out-of-distribution images (MSP and MCM scores: AUROC, FPR at 95 % TPR) and attribute–object
//! accuracy. The definitions are numpy's and scikit-learn's; `scripts/classification_reference.py`
//! computes every number from the same cosines, and a test holds the two to 1e-6.

use serde::{Deserialize, Serialize};

use super::{first_argmax, ratio, MetricsError};
use crate::suite::{ClassificationSuite, Compositions};

/// Equal-width confidence bins of the expected calibration error (the usual choice).
pub const ECE_BINS: usize = 15;
/// The temperature of maximum concept matching (MCM, Ming et al. 2022), on cosines.
pub const MCM_TEMPERATURE: f64 = 1.0;
/// The range searched for the inverse calibration temperature.
const BETA_RANGE: (f64, f64) = (1e-3, 1e3);
/// TPR at which the false-positive rate of OOD detection is reported.
const TARGET_TPR: f64 = 0.95;

/// Everything measured on a classification suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    pub suite: String,
    /// Per-image predicted class (first maximum of the cosines).
    pub predictions: Vec<usize>,
    pub top1: f64,
    /// Accuracy within the `top5_k` best classes (`k = min(5, classes)`).
    pub top5: f64,
    pub top5_k: usize,
    /// Mean over classes with images of the fraction of their images predicted right.
    pub mean_per_class_recall: f64,
    pub calibration: Calibration,
    pub compositions: Option<CompositionAccuracy>,
    pub ood: Option<OodReport>,
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Confidences `c` with `lower < c <= upper` fall in the bin.
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    /// Mean correctness and mean confidence; `None` for an empty bin.
    pub accuracy: Option<f64>,
    pub confidence: Option<f64>,
}

/// Calibration of the softmax over `logit_scale × cosine`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub logit_scale: f64,
    /// Expected calibration error over all images, with the model's logit scale.
    pub ece: f64,
    /// The reliability diagram of `ece`.
    pub bins: Vec<ReliabilityBin>,
    /// Images the temperature was fitted on, and the disjoint images it was measured on.
    pub fit_items: usize,
    pub eval_items: usize,
    /// `T` minimising the fit part's negative log-likelihood of `softmax(logits / T)`.
    pub temperature: f64,
    /// ECE of the measuring part with the model's logit scale, and with `T` applied.
    pub ece_before_scaling: f64,
    pub ece_after_scaling: f64,
}

/// Accuracy of the parts of composition classes ("red circle": attribute "red", object
/// "circle"), from the same predictions as `top1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompositionAccuracy {
    pub attribute_accuracy: f64,
    pub object_accuracy: f64,
    /// Top-1 over images whose class training saw / did not see (when a seen list exists).
    pub seen_accuracy: Option<f64>,
    pub unseen_accuracy: Option<f64>,
    pub seen_items: usize,
    pub unseen_items: usize,
}

/// How well one score separates the suite's images (positive) from the OOD images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Area under the ROC curve (ties count one half), as scikit-learn's `roc_auc_score`.
    pub auroc: f64,
    /// The false-positive rate at the first threshold whose true-positive rate reaches 95 %.
    pub fpr_at_95_tpr: f64,
}

/// Out-of-distribution detection by two scores, higher meaning more in-distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OodReport {
    pub in_items: usize,
    pub ood_items: usize,
    /// Maximum softmax probability over `logit_scale × cosine`.
    pub msp: Detection,
    /// Maximum concept matching: maximum softmax over `cosine / MCM_TEMPERATURE`.
    pub mcm: Detection,
}

/// Scores a classification suite from `cosines[image][class]` (and the OOD images' cosines,
/// empty when the suite has none) with the model's `logit_scale` (`exp` of the stored
/// parameter).
pub fn score_classification(
    suite: &ClassificationSuite,
    cosines: &[Vec<f64>],
    ood_cosines: &[Vec<f64>],
    logit_scale: f64,
) -> Result<ClassificationReport, MetricsError> {
    check_shape(suite, cosines, ood_cosines)?;
    let labels = &suite.labels;
    let predictions: Vec<usize> = cosines.iter().map(|s| first_argmax(s)).collect();
    let top5_k = suite.classes.len().min(5);
    let hits = |k: usize| {
        cosines
            .iter()
            .zip(labels)
            .filter(|(s, &label)| rank_of_label(s, label) < k)
            .count()
    };
    Ok(ClassificationReport {
        suite: suite.name.clone(),
        top1: ratio(hits(1), labels.len()),
        top5: ratio(hits(top5_k), labels.len()),
        top5_k,
        mean_per_class_recall: mean_per_class_recall(labels, &predictions, suite.classes.len()),
        calibration: calibration(cosines, labels, &predictions, logit_scale, suite),
        compositions: suite
            .compositions
            .as_ref()
            .map(|c| composition_accuracy(c, labels, &predictions)),
        ood: (!ood_cosines.is_empty()).then(|| ood_detection(cosines, ood_cosines, logit_scale)),
        predictions,
    })
}

fn check_shape(
    suite: &ClassificationSuite,
    cosines: &[Vec<f64>],
    ood_cosines: &[Vec<f64>],
) -> Result<(), MetricsError> {
    let bad = |message: String| {
        Err(MetricsError::Classification {
            suite: suite.name.clone(),
            message,
        })
    };
    let classes = suite.classes.len();
    if suite.labels.len() != suite.images.len() || cosines.len() != suite.labels.len() {
        return bad(format!(
            "{} images, {} labels and {} rows of cosines",
            suite.images.len(),
            suite.labels.len(),
            cosines.len()
        ));
    }
    if let Some(label) = suite.labels.iter().find(|&&l| l >= classes) {
        return bad(format!("label {label} but only {classes} classes"));
    }
    if cosines
        .iter()
        .chain(ood_cosines)
        .any(|row| row.len() != classes)
    {
        return bad(format!("every row of cosines needs {classes} entries"));
    }
    if ood_cosines.len() != suite.ood.len() {
        return bad(format!(
            "{} OOD images but {} rows of OOD cosines",
            suite.ood.len(),
            ood_cosines.len()
        ));
    }
    Ok(())
}

/// The 0-based position of `label` when the classes are sorted by descending score, ties in
/// index order: numpy's `argsort(-s, kind="stable")`.
pub fn rank_of_label(scores: &[f64], label: usize) -> usize {
    let target = scores[label];
    scores
        .iter()
        .enumerate()
        .filter(|&(c, &s)| s > target || (s == target && c < label))
        .count()
}

/// scikit-learn's `balanced_accuracy_score`: the mean recall over classes that have images.
pub fn mean_per_class_recall(labels: &[usize], predictions: &[usize], classes: usize) -> f64 {
    let mut total = vec![0usize; classes];
    let mut right = vec![0usize; classes];
    for (&label, &prediction) in labels.iter().zip(predictions) {
        total[label] += 1;
        right[label] += usize::from(label == prediction);
    }
    let recalls: Vec<f64> = total
        .iter()
        .zip(&right)
        .filter(|(&t, _)| t > 0)
        .map(|(&t, &r)| ratio(r, t))
        .collect();
    recalls.iter().sum::<f64>() / recalls.len().max(1) as f64
}

/// `softmax(logits × scale)`, computed stably.
pub fn softmax(logits: &[f64], scale: f64) -> Vec<f64> {
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &x| m.max(x * scale));
    let exps: Vec<f64> = logits.iter().map(|&x| (x * scale - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

fn max_probability(logits: &[f64], scale: f64) -> f64 {
    softmax(logits, scale).into_iter().fold(0.0, f64::max)
}

/// Whether item `index` fits the calibration temperature (else it measures it): a seeded
/// coin per item, so the split depends on neither thread count nor item order.
pub fn in_fit_part(seed: u64, index: usize) -> bool {
    crate::seed::for_index(seed, index) & 1 == 0
}

fn calibration(
    cosines: &[Vec<f64>],
    labels: &[usize],
    predictions: &[usize],
    logit_scale: f64,
    suite: &ClassificationSuite,
) -> Calibration {
    let correct: Vec<bool> = labels
        .iter()
        .zip(predictions)
        .map(|(l, p)| l == p)
        .collect();
    let confidence: Vec<f64> = cosines
        .iter()
        .map(|s| max_probability(s, logit_scale))
        .collect();
    let (ece, bins) = expected_calibration_error(&confidence, &correct);
    let (fit, measure): (Vec<usize>, Vec<usize>) =
        (0..labels.len()).partition(|&i| in_fit_part(suite.calibration_seed, i));
    let logits = |i: usize| -> Vec<f64> { cosines[i].iter().map(|s| s * logit_scale).collect() };
    let fit_logits: Vec<(Vec<f64>, usize)> = fit.iter().map(|&i| (logits(i), labels[i])).collect();
    let beta = fit_inverse_temperature(&fit_logits);
    let ece_of = |scale: f64| {
        let conf: Vec<f64> = measure
            .iter()
            .map(|&i| max_probability(&logits(i), scale))
            .collect();
        let ok: Vec<bool> = measure.iter().map(|&i| correct[i]).collect();
        expected_calibration_error(&conf, &ok).0
    };
    Calibration {
        logit_scale,
        ece,
        bins,
        fit_items: fit.len(),
        eval_items: measure.len(),
        temperature: 1.0 / beta,
        ece_before_scaling: ece_of(1.0),
        ece_after_scaling: ece_of(beta),
    }
}

/// ECE over [`ECE_BINS`] equal-width bins `(b/15, (b+1)/15]`: the item-weighted mean gap
/// between accuracy and confidence, `Σ_bins |Σ_i (correct_i − conf_i)| / N`.
pub fn expected_calibration_error(
    confidence: &[f64],
    correct: &[bool],
) -> (f64, Vec<ReliabilityBin>) {
    let edge = |b: usize| b as f64 / ECE_BINS as f64;
    let mut count = [0usize; ECE_BINS];
    let mut right = [0usize; ECE_BINS];
    let mut conf_sum = [0f64; ECE_BINS];
    for (&c, &ok) in confidence.iter().zip(correct) {
        let Some(b) = (0..ECE_BINS).find(|&b| c > edge(b) && c <= edge(b + 1)) else {
            continue; // a confidence of 0 (impossible for a softmax maximum)
        };
        count[b] += 1;
        right[b] += usize::from(ok);
        conf_sum[b] += c;
    }
    let n = confidence.len().max(1) as f64;
    let ece = (0..ECE_BINS)
        .map(|b| (right[b] as f64 - conf_sum[b]).abs())
        .sum::<f64>()
        / n;
    let bins = (0..ECE_BINS)
        .map(|b| ReliabilityBin {
            lower: edge(b),
            upper: edge(b + 1),
            count: count[b],
            accuracy: (count[b] > 0).then(|| ratio(right[b], count[b])),
            confidence: (count[b] > 0).then(|| conf_sum[b] / count[b] as f64),
        })
        .collect();
    (ece, bins)
}

/// The inverse temperature `β` minimising `mean_i [logsumexp(β z_i) − β z_{i,y_i}]`.
///
/// The objective is convex in `β` (a log-sum-exp of linear functions minus a linear one), so
/// its derivative `mean_i [Σ_c softmax(β z_i)_c z_ic − z_{i,y_i}]` increases with `β`, and
/// bisection finds its zero to machine precision; at a bound when it has none inside
/// [`BETA_RANGE`] (every fit item right and confident: sharpening never stops paying).
/// No fit items: `β = 1`, the model's own scale.
pub fn fit_inverse_temperature(items: &[(Vec<f64>, usize)]) -> f64 {
    if items.is_empty() {
        return 1.0;
    }
    let slope = |beta: f64| {
        items
            .iter()
            .map(|(z, label)| {
                let p = softmax(z, beta);
                p.iter().zip(z).map(|(p, z)| p * z).sum::<f64>() - z[*label]
            })
            .sum::<f64>()
            / items.len() as f64
    };
    let (mut lo, mut hi) = BETA_RANGE;
    if slope(lo) >= 0.0 {
        return lo;
    }
    if slope(hi) <= 0.0 {
        return hi;
    }
    loop {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            return mid;
        }
        if slope(mid) > 0.0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
}

fn composition_accuracy(
    compositions: &Compositions,
    labels: &[usize],
    predictions: &[usize],
) -> CompositionAccuracy {
    let parts = &compositions.parts;
    let agree = |part: fn(&(String, String)) -> &String| {
        let n = labels
            .iter()
            .zip(predictions)
            .filter(|(&l, &p)| part(&parts[l]) == part(&parts[p]))
            .count();
        ratio(n, labels.len())
    };
    let mut seen = (0, 0);
    let mut unseen = (0, 0);
    if let Some(flags) = &compositions.seen {
        for (&l, &p) in labels.iter().zip(predictions) {
            let tally = if flags[l] { &mut seen } else { &mut unseen };
            tally.0 += usize::from(l == p);
            tally.1 += 1;
        }
    }
    let accuracy = |(right, total): (usize, usize)| {
        (compositions.seen.is_some() && total > 0).then(|| ratio(right, total))
    };
    CompositionAccuracy {
        attribute_accuracy: agree(|p| &p.0),
        object_accuracy: agree(|p| &p.1),
        seen_accuracy: accuracy(seen),
        unseen_accuracy: accuracy(unseen),
        seen_items: seen.1,
        unseen_items: unseen.1,
    }
}

fn ood_detection(cosines: &[Vec<f64>], ood_cosines: &[Vec<f64>], logit_scale: f64) -> OodReport {
    let detection = |scale: f64| {
        let inside: Vec<f64> = cosines.iter().map(|s| max_probability(s, scale)).collect();
        let outside: Vec<f64> = ood_cosines
            .iter()
            .map(|s| max_probability(s, scale))
            .collect();
        Detection {
            auroc: auroc(&inside, &outside),
            fpr_at_95_tpr: fpr_at_tpr(&inside, &outside, TARGET_TPR),
        }
    };
    OodReport {
        in_items: cosines.len(),
        ood_items: ood_cosines.len(),
        msp: detection(logit_scale),
        mcm: detection(1.0 / MCM_TEMPERATURE),
    }
}

/// Area under the ROC curve of `positive` against `negative` scores: the probability that a
/// random positive outscores a random negative, ties counting one half (Mann–Whitney, which
/// equals scikit-learn's trapezoidal `roc_auc_score`). NaN when either side is empty.
pub fn auroc(positive: &[f64], negative: &[f64]) -> f64 {
    if positive.is_empty() || negative.is_empty() {
        return f64::NAN;
    }
    let mut negative = negative.to_vec();
    negative.sort_by(f64::total_cmp);
    let wins: f64 = positive
        .iter()
        .map(|&p| {
            let below = negative.partition_point(|&n| n < p);
            let ties = negative[below..].partition_point(|&n| n <= p);
            below as f64 + 0.5 * ties as f64
        })
        .sum();
    wins / (positive.len() as f64 * negative.len() as f64)
}

/// The false-positive rate at the highest threshold whose true-positive rate reaches `tpr`
/// (scikit-learn's `roc_curve` with `drop_intermediate=False`: thresholds are the distinct
/// scores, a score at the threshold counts as positive). NaN when either side is empty.
pub fn fpr_at_tpr(positive: &[f64], negative: &[f64], tpr: f64) -> f64 {
    if positive.is_empty() || negative.is_empty() {
        return f64::NAN;
    }
    let mut scored: Vec<(f64, bool)> = positive
        .iter()
        .map(|&s| (s, true))
        .chain(negative.iter().map(|&s| (s, false)))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0usize, 0usize);
    for (i, &(score, is_positive)) in scored.iter().enumerate() {
        tp += usize::from(is_positive);
        fp += usize::from(!is_positive);
        let last_of_threshold = scored.get(i + 1).is_none_or(|next| next.0 != score);
        if last_of_threshold && tp as f64 / positive.len() as f64 >= tpr {
            break;
        }
    }
    fp as f64 / negative.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::ImageSource;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn ece_of_hand_computed_bins() {
        // Bin (0.8, 0.8667]: 0.85 right, 0.85 wrong -> |1 - 1.7| = 0.7.
        // Bin (0.9333, 1]: 0.95 right -> |1 - 0.95| = 0.05. ECE = 0.75 / 3.
        let (ece, bins) = expected_calibration_error(&[0.85, 0.85, 0.95], &[true, false, true]);
        close(ece, 0.25);
        assert_eq!(bins.iter().map(|b| b.count).sum::<usize>(), 3);
        assert_eq!(bins[12].count, 2);
        assert_eq!(bins[12].accuracy, Some(0.5));
        assert_eq!(bins[14].count, 1);
        assert_eq!(bins[0].accuracy, None);
    }

    #[test]
    fn ece_puts_a_confidence_on_an_edge_in_the_lower_bin() {
        // 2/15 belongs to (1/15, 2/15], bin 1, not bin 2.
        let (_, bins) = expected_calibration_error(&[2.0 / 15.0, 1.0], &[false, true]);
        assert_eq!(bins[1].count, 1);
        assert_eq!(bins[2].count, 0);
        assert_eq!(bins[14].count, 1);
    }

    #[test]
    fn perfectly_calibrated_items_have_zero_ece() {
        // Four items at confidence 0.75, three right.
        let (ece, _) = expected_calibration_error(&[0.75; 4], &[true, true, true, false]);
        close(ece, 0.0);
    }

    #[test]
    fn auroc_counts_ties_as_one_half() {
        close(auroc(&[0.9, 0.8], &[0.1, 0.2]), 1.0);
        close(auroc(&[0.1], &[0.9]), 0.0);
        // Pairs: (0.5 vs 0.5) tie, (0.5 vs 0.2) win, (0.9 vs both) wins: (0.5 + 3) / 4.
        close(auroc(&[0.5, 0.9], &[0.5, 0.2]), 0.875);
        assert!(auroc(&[], &[0.1]).is_nan());
    }

    #[test]
    fn fpr95_takes_whole_groups_of_tied_scores() {
        // 20 positives at 1.0..0.05; negatives at 0.5 (tied with positive 0.5) and 0.01.
        let positive: Vec<f64> = (1..=20).rev().map(|i| i as f64 / 20.0).collect();
        // TPR reaches 19/20 at threshold 0.10, with the negative at 0.5 above it.
        close(fpr_at_tpr(&positive, &[0.5, 0.01], 0.95), 0.5);
        // All positives above all negatives: no false positive needed.
        close(fpr_at_tpr(&[0.9, 0.8], &[0.1], 0.95), 0.0);
        // A negative tied with the last positive counts once the threshold reaches it.
        close(fpr_at_tpr(&[0.9, 0.4], &[0.4, 0.1], 0.95), 0.5);
    }

    #[test]
    fn temperature_fit_finds_the_likelihood_optimum() {
        // One item, two classes, logits (1, 0), label 1 half the time: the optimum is beta = 0
        // (probability 1/2), clamped to the lower bound.
        let items = vec![(vec![1.0, 0.0], 0), (vec![1.0, 0.0], 1)];
        close(fit_inverse_temperature(&items), BETA_RANGE.0);
        // Right three times in four: softmax(beta)(1) = 3/4 -> beta = ln 3.
        let items = vec![
            (vec![1.0, 0.0], 0),
            (vec![1.0, 0.0], 0),
            (vec![1.0, 0.0], 0),
            (vec![1.0, 0.0], 1),
        ];
        assert!((fit_inverse_temperature(&items) - 3f64.ln()).abs() < 1e-12);
        // Always right: sharpening always helps, so the upper bound.
        close(fit_inverse_temperature(&items[..1]), BETA_RANGE.1);
    }

    fn suite(labels: Vec<usize>, classes: &[&str], seen: Option<Vec<bool>>) -> ClassificationSuite {
        let classes: Vec<String> = classes.iter().map(|c| c.to_string()).collect();
        ClassificationSuite {
            name: "t".into(),
            images: labels
                .iter()
                .map(|_| ImageSource::File {
                    path: "x".into(),
                    crop: None,
                })
                .collect(),
            labels,
            compositions: Some(Compositions::from_names(&classes, seen).unwrap()),
            classes,
            templates: vec!["{}".into()],
            ood: vec![],
            calibration_seed: 1,
        }
    }

    #[test]
    fn accuracy_recall_and_composition_parts_from_predictions() {
        let s = suite(
            vec![0, 0, 1, 2],
            &["red circle", "red square", "blue circle"],
            Some(vec![true, true, false]),
        );
        let cosines = vec![
            vec![0.9, 0.1, 0.0], // right
            vec![0.2, 0.9, 0.1], // wrong: red square (attribute right)
            vec![0.1, 0.2, 0.9], // wrong: blue circle (nothing right)
            vec![0.5, 0.1, 0.5], // tie: first maximum, red circle (object right), wrong
        ];
        let r = score_classification(&s, &cosines, &[], 10.0).unwrap();
        assert_eq!(r.predictions, vec![0, 1, 2, 0]);
        close(r.top1, 0.25);
        // Top-3 of 3 classes: always a hit.
        assert_eq!(r.top5_k, 3);
        close(r.top5, 1.0);
        // Class 0: 1/2, class 1: 0/1, class 2: 0/1.
        close(r.mean_per_class_recall, 0.5 / 3.0);
        let c = r.compositions.unwrap();
        close(c.attribute_accuracy, 0.5);
        close(c.object_accuracy, 0.5);
        assert_eq!(c.seen_accuracy, Some(1.0 / 3.0));
        assert_eq!(c.unseen_accuracy, Some(0.0));
        assert_eq!((c.seen_items, c.unseen_items), (3, 1));
        assert!(r.ood.is_none());
        assert_eq!(r.calibration.fit_items + r.calibration.eval_items, 4);
    }

    #[test]
    fn rank_ties_go_to_the_lower_class() {
        assert_eq!(rank_of_label(&[0.5, 0.5, 0.1], 0), 0);
        assert_eq!(rank_of_label(&[0.5, 0.5, 0.1], 1), 1);
        assert_eq!(rank_of_label(&[0.1, 0.5, 0.5], 0), 2);
    }

    #[test]
    fn mismatched_shapes_are_errors_naming_the_suite() {
        let s = suite(vec![0, 1], &["red circle", "red square"], None);
        let err = score_classification(&s, &[vec![0.1, 0.2]], &[], 1.0).unwrap_err();
        assert!(err.to_string().contains("suite t"), "{err}");
    }
}
