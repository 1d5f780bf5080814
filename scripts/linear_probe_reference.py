"""The linear probe's reference: scikit-learn's LogisticRegression on committed features.

Writes tests/fixtures/linear_probe/features.json (seeded, overlapping Gaussian clusters of
L2-normalised 8-d features: a train and a test set of 4 classes, like frozen CLIP image
features) and expected.json: the regularisation CLIP_benchmark's search chooses
(LAION-AI/CLIP_benchmark, clip_benchmark/metrics/linear_probe.py: `find_peak` over
`np.logspace(-6, 2, num=97)`, the 7 starting points of `np.logspace(-6, 2, num=7)`, then spans
8, 4, 2, 1 around the peak, a strictly better validation top-1 winning), with each candidate
fitted by scikit-learn's `LogisticRegression(solver="lbfgs")` (multinomial) at
`C = 1 / (lambda * n)`, the same optimum as negclip's `mean cross-entropy + lambda/2 |W|^2`;
then the refit on all of train and its top-1, top-5, mean per-class recall
(`balanced_accuracy_score`) and predictions on test. The validation split is negclip's:
item i of train is in it when SplitMix64(seed ^ i * golden) % 5 == 0
(negclip_data::seed::for_index).

crates/train/tests/linear_probe_reference_check.rs compares negclip's probe with these numbers.

    /work/venv/bin/python scripts/linear_probe_reference.py
"""
import json
import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "linear_probe")
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
SEED = 1


def splitmix64(z):
    z = (z + GOLDEN) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def in_validation(seed, i):
    return splitmix64(seed ^ ((i * GOLDEN) & MASK)) % 5 == 0


def make_features(rng, n, centres):
    labels = rng.integers(0, len(centres), size=n)
    rows = centres[labels] + rng.normal(scale=0.9, size=(n, centres.shape[1]))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows, labels


def fit(x, y, lam):
    clf = LogisticRegression(C=1.0 / (lam * len(x)), solver="lbfgs", tol=1e-12, max_iter=100000)
    return clf.fit(x, y)


def top1(clf, x, y):
    return float((clf.decision_function(x).argmax(axis=1) == y).mean())


def find_peak(grid, idxs, xf, yf, xv, yv):
    best, best_acc = 0, 0
    for i in idxs:
        acc = top1(fit(xf, yf, grid[i]), xv, yv)
        if best_acc < acc:
            best, best_acc = i, acc
    return best


def main():
    rng = np.random.default_rng(27)
    centres = rng.normal(size=(4, 8))
    x_train, y_train = make_features(rng, 160, centres)
    x_test, y_test = make_features(rng, 80, centres)
    val = np.array([in_validation(SEED, i) for i in range(len(x_train))])
    xf, yf, xv, yv = x_train[~val], y_train[~val], x_train[val], y_train[val]
    grid = np.logspace(-6, 2, num=97).tolist()
    start = [i for i, v in enumerate(grid) if v in np.logspace(-6, 2, num=7).tolist()]
    peak = find_peak(grid, start, xf, yf, xv, yv)
    span = 8
    while span > 0:
        left, right = max(peak - span, 0), min(peak + span, len(grid) - 1)
        peak = find_peak(grid, [left, peak, right], xf, yf, xv, yv)
        span //= 2
    lam = grid[peak]
    clf = fit(x_train, y_train, lam)
    logits = clf.decision_function(x_test)
    pred = logits.argmax(axis=1)
    top5 = np.argsort(-logits, axis=1, kind="stable")[:, :4]  # k = min(5, classes) = 4
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "features.json"), "w") as f:
        json.dump({
            "seed": SEED,
            "classes": 4,
            "train": {"rows": x_train.tolist(), "labels": y_train.tolist()},
            "test": {"rows": x_test.tolist(), "labels": y_test.tolist()},
        }, f)
    expected = {
        "start_points": start,
        "lambda_index": peak,
        "lambda": lam,
        "c": 1.0 / (lam * len(x_train)),
        "validation_items": int(val.sum()),
        "top1": float((pred == y_test).mean()),
        "top5": float(np.mean([y in row for y, row in zip(y_test, top5)])),
        "mean_per_class_recall": float(balanced_accuracy_score(y_test, pred)),
        "predictions": pred.tolist(),
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print({k: v for k, v in expected.items() if k != "predictions"})


if __name__ == "__main__":
    main()
