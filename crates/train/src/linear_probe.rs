//! The linear probe, CLIP_benchmark's protocol (LAION-AI/CLIP_benchmark,
//! `clip_benchmark/metrics/linear_probe.py`): frozen, L2-normalised image features of a train
//! and a test classification set; an L2-regularised multinomial logistic regression whose
//! regularisation is chosen on a seeded validation split of the train set, by the same
//! coarse-to-fine search over the same grid (`np.logspace(-6, 2, 97)`, 7 starting points, then
//! spans 8, 4, 2, 1 around the peak, the first strictly better validation top-1 winning), then
//! refitted on all of train; top-1, top-5 and mean per-class recall on test.
//!
//! Where CLIP_benchmark trains a linear layer with AdamW for a fixed number of epochs, negclip
//! minimises the convex objective itself, as scikit-learn's
//! `LogisticRegression(multi_class="multinomial", solver="lbfgs")` does (CLIP's paper used
//! that): `mean cross-entropy + λ/2 ‖W‖²`, the bias unpenalised, which is scikit-learn's
//! objective with `C = 1 / (λ · n)`. The optimum is unique, so any solver that reaches it
//! gives the same classifier; `scripts/linear_probe_reference.py` checks this against
//! scikit-learn on `tests/fixtures/linear_probe/`.
//!
//! The solver is a small L-BFGS here rather than the `argmin` crate: the objective, its
//! gradient and the stopping rule are 150 lines, where `argmin` with `argmin-math` brings its
//! own vector abstraction (ndarray or nalgebra) into negclip-train's build for one call site
//! (not measured in build time; a judgement, written down as the team guide asks).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One probe, as `negclip eval --linear-probe '{ … }'` and `[[eval.linear_probe]]` give it:
/// a train and a test set of labelled images, each an ImageFolder root or a `.csv` / `.jsonl`
/// list as classification suites read them (docs/evaluation.md). Both must have the same
/// classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearProbeSpec {
    /// The probe's name in reports; `linear-probe/<name>`.
    pub name: String,
    pub train: PathBuf,
    pub test: PathBuf,
}

/// `np.logspace(-6, 2, num=97)`: CLIP_benchmark's grid of regularisation strengths.
pub fn lambda_grid() -> Vec<f64> {
    (0..97)
        .map(|i| 10f64.powf(-6.0 + 8.0 * i as f64 / 96.0))
        .collect()
}

/// Labelled feature vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub rows: Vec<Vec<f64>>,
    pub labels: Vec<usize>,
}

impl Features {
    fn subset(&self, keep: impl Fn(usize) -> bool) -> Features {
        let (rows, labels) = self
            .rows
            .iter()
            .zip(&self.labels)
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .map(|(_, (r, &l))| (r.clone(), l))
            .unzip();
        Features { rows, labels }
    }

    fn dim(&self) -> usize {
        self.rows.first().map_or(0, Vec::len)
    }
}

/// A fitted multinomial logistic regression: `weights[k]` is class `k`'s coefficients
/// followed by its bias.
#[derive(Debug, Clone, PartialEq)]
pub struct Classifier {
    pub weights: Vec<Vec<f64>>,
}

impl Classifier {
    /// The class scores (logits) of one feature vector.
    pub fn logits(&self, x: &[f64]) -> Vec<f64> {
        self.weights
            .iter()
            .map(|w| w[..x.len()].iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + w[x.len()])
            .collect()
    }
}

/// Whether item `i` of the train set is in the validation split: about one in five, by
/// SplitMix64 of (seed, i) (`negclip_data::seed::for_index`), so the split depends on
/// nothing but the seed.
pub fn in_validation(seed: u64, i: usize) -> bool {
    negclip_data::seed::for_index(seed, i).is_multiple_of(5)
}

/// `mean cross-entropy + λ/2 ‖W‖²` (bias unpenalised) and its gradient, at flat weights `w`
/// (`classes` rows of `dim + 1`).
fn objective(data: &Features, classes: usize, lambda: f64, w: &[f64]) -> (f64, Vec<f64>) {
    let d = data.dim() + 1;
    let n = data.rows.len() as f64;
    let mut loss = 0.0;
    let mut grad = vec![0.0; w.len()];
    for (x, &y) in data.rows.iter().zip(&data.labels) {
        let z: Vec<f64> = (0..classes)
            .map(|k| {
                let row = &w[k * d..(k + 1) * d];
                row[..d - 1].iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + row[d - 1]
            })
            .collect();
        let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = z.iter().map(|v| (v - max).exp()).sum();
        loss += max + sum.ln() - z[y];
        for k in 0..classes {
            let p = (z[k] - max).exp() / sum - f64::from(u8::from(k == y));
            let g = &mut grad[k * d..(k + 1) * d];
            for (gj, xj) in g.iter_mut().zip(x) {
                *gj += p * xj / n;
            }
            g[d - 1] += p / n;
        }
    }
    loss /= n;
    for k in 0..classes {
        for j in 0..d - 1 {
            let v = w[k * d + j];
            loss += 0.5 * lambda * v * v;
            grad[k * d + j] += lambda * v;
        }
    }
    (loss, grad)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Fit the regression on `data` with strength `lambda`: L-BFGS (10 corrections) with a
/// backtracking Armijo line search, from zero weights, until the gradient's largest entry is
/// under 1e-9 or the loss stops decreasing.
pub fn fit(data: &Features, classes: usize, lambda: f64) -> Classifier {
    let d = data.dim() + 1;
    let mut w = vec![0.0; classes * d];
    let (mut f, mut g) = objective(data, classes, lambda, &w);
    let mut history: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::new();
    for _ in 0..5000 {
        if g.iter().fold(0.0f64, |m, v| m.max(v.abs())) < 1e-9 {
            break;
        }
        let direction = two_loop(&g, &history);
        let slope = dot(&g, &direction);
        let (direction, slope) = if slope < 0.0 {
            (direction, slope)
        } else {
            // Not a descent direction (rounding): restart from steepest descent.
            history.clear();
            (g.iter().map(|v| -v).collect::<Vec<_>>(), -dot(&g, &g))
        };
        let mut step = if history.is_empty() {
            1.0 / g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1.0)
        } else {
            1.0
        };
        let mut accepted = None;
        for _ in 0..60 {
            let trial: Vec<f64> = w
                .iter()
                .zip(&direction)
                .map(|(a, b)| a + step * b)
                .collect();
            let (ft, gt) = objective(data, classes, lambda, &trial);
            if ft <= f + 1e-4 * step * slope {
                accepted = Some((trial, ft, gt));
                break;
            }
            step *= 0.5;
        }
        let Some((next, f_next, g_next)) = accepted else {
            break; // no decrease left at float precision: the optimum
        };
        let s: Vec<f64> = next.iter().zip(&w).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_next.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-300 {
            history.push((s, y, 1.0 / sy));
            if history.len() > 10 {
                history.remove(0);
            }
        }
        let decrease = f - f_next;
        (w, f, g) = (next, f_next, g_next);
        if decrease <= 1e-16 * f.abs().max(1.0) {
            break;
        }
    }
    Classifier {
        weights: w.chunks(d).map(<[f64]>::to_vec).collect(),
    }
}

/// L-BFGS's two-loop recursion: the quasi-Newton direction `-H g`.
fn two_loop(g: &[f64], history: &[(Vec<f64>, Vec<f64>, f64)]) -> Vec<f64> {
    let mut q = g.to_vec();
    let mut alphas = Vec::with_capacity(history.len());
    for (s, y, rho) in history.iter().rev() {
        let a = rho * dot(s, &q);
        q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
        alphas.push(a);
    }
    if let Some((s, y, _)) = history.last() {
        let gamma = dot(s, y) / dot(y, y);
        q.iter_mut().for_each(|v| *v *= gamma);
    }
    for ((s, y, rho), a) in history.iter().zip(alphas.iter().rev()) {
        let b = rho * dot(y, &q);
        q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
    }
    q.iter_mut().for_each(|v| *v = -*v);
    q
}

/// Top-1 accuracy of `classifier` on `data` (ties: the first class, numpy's argmax).
fn top1(classifier: &Classifier, data: &Features) -> f64 {
    let right = data
        .rows
        .iter()
        .zip(&data.labels)
        .filter(|(x, &y)| first_argmax(&classifier.logits(x)) == y)
        .count();
    right as f64 / data.rows.len().max(1) as f64
}

fn first_argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &x)| {
            if x > bv {
                (i, x)
            } else {
                (bi, bv)
            }
        })
        .0
}

/// CLIP_benchmark's `find_peak`: the index among `candidates` with the highest validation
/// top-1, the first of equals winning; index 0 of the grid when none beats 0.
fn find_peak(
    grid: &[f64],
    candidates: &[usize],
    fit_part: &Features,
    validation: &Features,
    classes: usize,
) -> usize {
    let (mut best, mut best_accuracy) = (0, 0.0);
    for &i in candidates {
        let accuracy = top1(&fit(fit_part, classes, grid[i]), validation);
        if best_accuracy < accuracy {
            (best, best_accuracy) = (i, accuracy);
        }
    }
    best
}

/// The regularisation strength chosen on a seeded validation split of `train`: CLIP_benchmark's
/// coarse-to-fine search over [`lambda_grid`].
pub fn choose_lambda(train: &Features, classes: usize, seed: u64) -> f64 {
    let validation = train.subset(|i| in_validation(seed, i));
    let fit_part = train.subset(|i| !in_validation(seed, i));
    let grid = lambda_grid();
    // np.logspace(-6, 2, num=7) lies on the 97-point grid every 16 points.
    let start: Vec<usize> = (0..7).map(|i| i * 16).collect();
    let mut peak = find_peak(&grid, &start, &fit_part, &validation, classes);
    let mut span = 8;
    while span > 0 {
        let (left, right) = (peak.saturating_sub(span), (peak + span).min(grid.len() - 1));
        peak = find_peak(&grid, &[left, peak, right], &fit_part, &validation, classes);
        span /= 2;
    }
    grid[peak]
}

/// A linear probe's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearProbeReport {
    /// The chosen strength λ of `mean cross-entropy + λ/2 ‖W‖²`.
    pub lambda: f64,
    /// scikit-learn's `C` of the final fit on all of train: `1 / (λ · n_train)`.
    pub c: f64,
    pub top1: f64,
    /// Top-5 (top-k with k = min(5, classes)).
    pub top5: f64,
    pub mean_per_class_recall: f64,
    pub train_items: usize,
    pub validation_items: usize,
    pub test_items: usize,
    /// The predicted class of each test item.
    pub predictions: Vec<usize>,
}

/// Choose λ on a seeded split of `train`, refit on all of it, score `test`.
pub fn linear_probe(
    train: &Features,
    test: &Features,
    classes: usize,
    seed: u64,
) -> LinearProbeReport {
    let lambda = choose_lambda(train, classes, seed);
    let classifier = fit(train, classes, lambda);
    let logits: Vec<Vec<f64>> = test.rows.iter().map(|x| classifier.logits(x)).collect();
    let predictions: Vec<usize> = logits.iter().map(|l| first_argmax(l)).collect();
    let k = classes.min(5);
    let hits = |k: usize| {
        logits
            .iter()
            .zip(&test.labels)
            .filter(|(l, &y)| negclip_data::metrics::classification::rank_of_label(l, y) < k)
            .count()
    };
    let n = test.rows.len().max(1) as f64;
    LinearProbeReport {
        lambda,
        c: 1.0 / (lambda * train.rows.len() as f64),
        top1: hits(1) as f64 / n,
        top5: hits(k) as f64 / n,
        mean_per_class_recall: negclip_data::metrics::classification::mean_per_class_recall(
            &test.labels,
            &predictions,
            classes,
        ),
        train_items: train.rows.len(),
        validation_items: (0..train.rows.len())
            .filter(|&i| in_validation(seed, i))
            .count(),
        test_items: test.rows.len(),
        predictions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_clip_benchmarks_and_holds_its_seven_starting_points() {
        let grid = lambda_grid();
        assert_eq!(grid.len(), 97);
        assert!((grid[0] - 1e-6).abs() < 1e-18 && (grid[96] - 100.0).abs() < 1e-12);
        assert!((grid[48] - 0.01).abs() < 1e-15);
    }

    #[test]
    fn the_fit_reaches_a_zero_gradient() {
        let data = Features {
            rows: vec![
                vec![1.0, 0.0],
                vec![0.0, 1.0],
                vec![0.9, 0.2],
                vec![0.1, 0.8],
            ],
            labels: vec![0, 1, 1, 0],
        };
        let classifier = fit(&data, 2, 0.1);
        let flat: Vec<f64> = classifier.weights.concat();
        let (_, grad) = objective(&data, 2, 0.1, &flat);
        assert!(grad.iter().all(|g| g.abs() < 1e-8), "{grad:?}");
    }
}
