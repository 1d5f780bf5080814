#!/usr/bin/env python3
"""Reference zero-shot classification, calibration and OOD metrics, written from the
definitions below with numpy / scipy / scikit-learn, independently of the Rust code.

  # run the tiny open_clip model on the fixture and write the expected numbers
  python scripts/classification_reference.py expected \
      --fixture tests/fixtures/classification \
      --model tests/fixtures/model/open_clip_full_vocab \
      --out tests/fixtures/classification/expected.json
  # the real-format fixture with the trained synthetic model, cross-checked against the
  # clients (CLIP_benchmark's zero-shot code, torchmetrics' ECE, scikit-learn's AUROC)
  negclip export --checkpoint models/synthetic-tiny-clip.safetensors --to open_clip \
      --out /tmp/synth-openclip
  python scripts/classification_reference.py expected --clients \
      --fixture tests/fixtures/classification-mixed --model /tmp/synth-openclip \
      --model-label models/synthetic-tiny-clip.safetensors \
      --out tests/fixtures/classification-mixed/expected.json
  # recompute every metric from the cosines stored in a file and check they are the same
  python scripts/classification_reference.py metrics \
      --cosines tests/fixtures/classification/expected.json
  # metrics of a made-up cosine matrix (ties, an interior temperature)
  python scripts/classification_reference.py synthetic \
      --out tests/fixtures/classification/synthetic_metrics.json
  # only the hand-checkable sanity checks
  python scripts/classification_reference.py sanity

Definitions (the Rust side implements exactly these):

Data. Classes are the sub-folders of <fixture>/images sorted by name (byte order); the class
key is the folder name, the display name the key with every `_` replaced by a space. A class's
images are its files whose extension is png/jpg/jpeg/bmp/webp (case-insensitive), sorted by
file name (byte order). Items are in class order, then file order; an item's label is its
class index. Templates: the lines of templates.txt (line ending removed, empty lines
skipped). seen.txt: display names of the compositions seen in training, one a line.

Embeddings. Image: PIL open -> RGB -> open_clip's eval transform at the model's image size
(Resize shortest side, bicubic; CenterCrop; Normalize) -> encode_image -> L2-normalised
(float32, as aro_reference.ClipScorer does). Class c: for each template t the prompt
t.replace("{}", display name), open_clip.tokenize at the model's context length (no caption
cleaning beyond the tokenizer's own ftfy/whitespace/lower-case), encode_text, each
L2-normalised (float32); then, in float64, the mean over templates, L2-normalised again.

Scores. s[i][c] = float64 dot product of image i's and class c's embeddings (the float32
image embedding widened to float64). S = exp(model.logit_scale) in float64 (the float32
parameter widened first). Logits z = S * s. softmax(v) = exp(v - max v) / sum exp(v - max v),
in float64.

Accuracy. Prediction = first argmax of s[i] (np.argmax). Top-k hit: the label is among the
first k entries of np.argsort(-s[i], kind="stable"); top1 and top5 with k = min(5, number of
classes). mean_per_class_recall = mean over classes having items of hits/items (checked equal
to sklearn's balanced_accuracy_score).

Calibration. p_i = softmax(z_i); confidence = max p_i; correct = (pred == label). ECE with 15
equal-width bins: bin b (0..14) holds confidences with b/15 < conf <= (b+1)/15, the edges
computed as b/15 in float64 (so 1.0 falls in bin 14); ECE = sum over bins of
|sum_{i in bin} (correct_i - conf_i)| / N. Reliability: per bin count, mean accuracy, mean
confidence (null when the bin is empty).

Split (seed 1). All arithmetic mod 2^64; GOLDEN = 0x9E3779B97F4A7C15;
finalize(z): z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
return z ^ (z >> 31). splitmix64(z) = finalize(z + GOLDEN);
for_index(seed, i) = splitmix64(seed ^ (i * GOLDEN)). Item i is in FIT iff
(for_index(1, i) & 1) == 0, else in EVAL.

Temperature scaling. NLL(beta) = mean over FIT of [logsumexp(beta z_i) - beta z_{i,label}],
beta in [1e-3, 1e3]. It is convex, so beta* solves dNLL/dbeta =
mean_fit[sum_c softmax(beta z_i)_c z_ic - z_{i,label}] = 0 by scipy.optimize.brentq
(xtol=1e-15, rtol=4*eps, its minimum); if the derivative is >= 0 at 1e-3 then beta* = 1e-3,
if it is <= 0 at 1e3 then beta* = 1e3. T = 1/beta*. ece_before_scaling = ECE of the EVAL
items with softmax(z); ece_after_scaling = ECE of the EVAL items with softmax(z / T) (the
predictions do not change); ece = ECE of all items with softmax(z).

OOD. In-distribution = every classification item; OOD = every image file (same extensions)
under <fixture>/ood, recursively, sorted by relative path ('/'-separated, byte order); both
scored against the same class embeddings. MSP = max softmax(S * s_i); MCM = max
softmax(s_i / tau), tau = 1.0. ID is the positive class (label 1), higher = more
in-distribution. AUROC = sklearn roc_auc_score (ties count one half). FPR95 = from sklearn
roc_curve(y, score, drop_intermediate=False) (one point per distinct score, so tied scores
enter together): the fpr at the first index where tpr >= 0.95.

Compositions. A display name splits at its first space into (attribute, object).
attribute_accuracy = mean over items of [attribute(pred) == attribute(label)], likewise
object_accuracy; seen_accuracy / unseen_accuracy = top-1 accuracy over the items whose true
class's display name is / is not in seen.txt (null when there are none).

Clients (expected --clients): the same model loaded by open_clip itself
(create_model_and_transforms("local-dir:MODEL"), its own preprocess and get_tokenizer), the
items read by torchvision's ImageFolder (default loader: PIL open -> convert("RGB")) and the OOD
images by the same loader, scored by CLIP_benchmark's own zero-shot code
(clip_benchmark.metrics.zeroshot_classification: zero_shot_classifier with templates written
"{c}", run_classification, and evaluate for acc1 / acc5 / mean_per_class_recall; amp off, so
float32 throughout, logits = 100 * cosine; its accuracy() gets a numpy-2.4 shim, see
clients()), ECE by torchmetrics
MulticlassCalibrationError(num_classes, n_bins=15, norm="l1") on softmax(S * logits / 100);
MSP / MCM AUROC by sklearn roc_auc_score on the clients' scores. Asserted: the same
predictions, acc1 = top1, acc5 = top5, CLIP_benchmark's mean_per_class_recall, the ECE and
both AUROCs within 1e-6 of the numbers above; stored under "clients".

Robustness (not metrics, for the reader): the smallest gap between the top two cosines of any
item (a perturbation of the cosines below half of it cannot change a prediction), the same for
the OOD images, the smallest distance of a confidence to an ECE bin edge, and the smallest
|ID score - OOD score| per OOD score.
"""
import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
# P images with a tRNS alpha table make Pillow warn on convert("RGB"); the reference loaders
# (ImageFolder's, ARO's) see the same warning and ignore it.
warnings.filterwarnings("ignore", message="Palette images with Transparency")

ROOT = Path(__file__).resolve().parent.parent
EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
N_BINS = 15
SPLIT_SEED = 1
MCM_TAU = 1.0
BETA_RANGE = (1e-3, 1e3)
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


# ------------------------------------------------------------------ data layout

def byte_key(name):
    return os.fsencode(name)


def is_image(path):
    return path.is_file() and path.suffix.lower() in EXTENSIONS


def read_lines(path):
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def dataset(fixture):
    """(class keys, display names, [(relative path, label)]) in item order."""
    fixture = Path(fixture)
    keys = sorted((p.name for p in (fixture / "images").iterdir() if p.is_dir()), key=byte_key)
    items = []
    for label, key in enumerate(keys):
        files = sorted((p.name for p in (fixture / "images" / key).iterdir() if is_image(p)),
                       key=byte_key)
        items += [(f"images/{key}/{name}", label) for name in files]
    return keys, [k.replace("_", " ") for k in keys], items


def ood_images(fixture):
    base = Path(fixture) / "ood"
    rel = [p.relative_to(base).as_posix() for p in base.rglob("*") if is_image(p)]
    return [f"ood/{r}" for r in sorted(rel, key=byte_key)]


# ------------------------------------------------------------------ metrics

def softmax(v):
    v = np.asarray(v, dtype=np.float64)
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def top_k_hits(s, labels, k):
    return [bool(labels[i] in np.argsort(-s[i], kind="stable")[:k]) for i in range(len(labels))]


def ece_bins(conf, correct):
    """(ECE, reliability rows) with bins b/15 < conf <= (b+1)/15."""
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    n = len(conf)
    total = 0.0
    rows = []
    for b in range(N_BINS):
        lo, hi = b / N_BINS, (b + 1) / N_BINS
        mask = (conf > lo) & (conf <= hi)
        count = int(mask.sum())
        if count:
            total += abs(float(np.sum(correct[mask] - conf[mask])))
        rows.append({"bin": b, "lower": lo, "upper": hi, "count": count,
                     "accuracy": float(correct[mask].mean()) if count else None,
                     "confidence": float(conf[mask].mean()) if count else None})
    return (total / n if n else 0.0), rows


def finalize(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def splitmix64(z):
    return finalize((z + GOLDEN) & MASK)


def for_index(seed, i):
    return splitmix64((seed ^ ((i * GOLDEN) & MASK)) & MASK)


def fit_mask(n, seed=SPLIT_SEED):
    return [(for_index(seed, i) & 1) == 0 for i in range(n)]


def nll(beta, z, labels):
    from scipy.special import logsumexp
    bz = beta * z
    return float(np.mean(logsumexp(bz, axis=1) - bz[np.arange(len(labels)), labels]))


def nll_grad(beta, z, labels):
    p = softmax(beta * z)
    return float(np.mean(np.sum(p * z, axis=1) - z[np.arange(len(labels)), labels]))


def fit_temperature(z, labels):
    """beta* in BETA_RANGE minimising the mean NLL of softmax(beta z) (convex in beta)."""
    from scipy.optimize import brentq
    z = np.asarray(z, dtype=np.float64)
    labels = np.asarray(labels)
    lo, hi = BETA_RANGE
    if len(labels) == 0:
        return 1.0  # nothing to fit: no scaling
    if nll_grad(lo, z, labels) >= 0:
        return lo
    if nll_grad(hi, z, labels) <= 0:
        return hi
    return float(brentq(nll_grad, lo, hi, args=(z, labels), xtol=1e-15,
                        rtol=4 * np.finfo(float).eps, maxiter=1000))


def ood_scores(y, score):
    from sklearn.metrics import roc_auc_score, roc_curve
    fpr, tpr, _ = roc_curve(y, score, drop_intermediate=False)
    return {"auroc": float(roc_auc_score(y, score)),
            "fpr95": float(fpr[int(np.argmax(tpr >= 0.95))])}


def min_top2_gap(s):
    if s.shape[1] < 2 or s.shape[0] == 0:
        return None
    top = np.sort(s, axis=1)[:, ::-1]
    return float(np.min(top[:, 0] - top[:, 1]))


def compute_metrics(s, S, labels, display_names, seen, ood_s):
    """Every metric from the cosines alone (s: items x classes, ood_s: OOD x classes)."""
    from sklearn.metrics import balanced_accuracy_score
    s = np.asarray(s, dtype=np.float64)
    ood_s = np.asarray(ood_s, dtype=np.float64).reshape(-1, s.shape[1])
    labels = np.asarray(labels, dtype=np.int64)
    n, n_classes = s.shape
    z = S * s
    preds = np.argmax(s, axis=1)
    correct = preds == labels
    k = min(5, n_classes)
    top1 = float(np.mean(correct))
    topk = float(np.mean(top_k_hits(s, labels, k)))
    recalls = []
    for c in range(n_classes):
        members = labels == c
        recalls.append(float(np.mean(correct[members])) if members.any() else None)
    mpcr = float(np.mean([r for r in recalls if r is not None]))
    balanced = float(balanced_accuracy_score(labels, preds))
    assert abs(mpcr - balanced) <= 1e-15, (mpcr, balanced)

    p = softmax(z)
    conf = p.max(axis=1)
    ece, bins = ece_bins(conf, correct)

    fit = np.array(fit_mask(n))
    beta = fit_temperature(z[fit], labels[fit])
    T = 1.0 / beta
    ev = ~fit
    ece_before, bins_before = ece_bins(conf[ev], correct[ev])
    p_scaled = softmax(z / T)
    assert np.array_equal(np.argmax(p_scaled, axis=1), preds), "scaling changed a prediction"
    ece_after, bins_after = ece_bins(p_scaled.max(axis=1)[ev], correct[ev])

    y = np.concatenate([np.ones(n, dtype=int), np.zeros(len(ood_s), dtype=int)])
    msp_id, msp_ood = softmax(S * s).max(axis=1), softmax(S * ood_s).max(axis=1)
    mcm_id, mcm_ood = softmax(s / MCM_TAU).max(axis=1), softmax(ood_s / MCM_TAU).max(axis=1)
    ood = {}
    for name, (a, b) in {"msp": (msp_id, msp_ood), "mcm": (mcm_id, mcm_ood)}.items():
        entry = ood_scores(y, np.concatenate([a, b])) if len(b) else {"auroc": None,
                                                                      "fpr95": None}
        entry.update({"id_scores": a.tolist(), "ood_scores": b.tolist()})
        if name == "mcm":
            entry["tau"] = MCM_TAU
        ood[name] = entry

    attr = [d.split(" ", 1)[0] for d in display_names]
    obj = [d.split(" ", 1)[1] if " " in d else "" for d in display_names]
    seen_set = set(seen)
    is_seen = np.array([display_names[l] in seen_set for l in labels], dtype=bool)
    compositions = {
        "attribute_accuracy": float(np.mean([attr[a] == attr[b] for a, b in zip(preds, labels)])),
        "object_accuracy": float(np.mean([obj[a] == obj[b] for a, b in zip(preds, labels)])),
        "seen_accuracy": float(np.mean(correct[is_seen])) if is_seen.any() else None,
        "unseen_accuracy": float(np.mean(correct[~is_seen])) if (~is_seen).any() else None,
        "n_seen": int(is_seen.sum()), "n_unseen": int((~is_seen).sum()),
    }

    edges = np.arange(N_BINS + 1) / N_BINS
    def edge_distance(c):
        return float(np.min(np.abs(np.asarray(c)[:, None] - edges[None, :]))) if len(c) else None
    robustness = {
        "min_top2_gap": min_top2_gap(s),
        "min_top2_gap_item": int(np.argmin(np.sort(s, axis=1)[:, -1] - np.sort(s, axis=1)[:, -2])),
        "min_top2_gap_ood": min_top2_gap(ood_s) if len(ood_s) else None,
        "min_confidence_to_bin_edge": edge_distance(conf),
        "min_scaled_confidence_to_bin_edge": edge_distance(p_scaled.max(axis=1)[ev]),
        "min_id_ood_gap_msp": float(np.min(np.abs(msp_id[:, None] - msp_ood[None, :])))
        if len(ood_s) else None,
        "min_id_ood_gap_mcm": float(np.min(np.abs(mcm_id[:, None] - mcm_ood[None, :])))
        if len(ood_s) else None,
    }
    return {
        "predictions": preds.tolist(),
        "correct": correct.tolist(),
        "top1": top1,
        "top5": topk,
        "top5_k": k,
        "per_class_recall": recalls,
        "mean_per_class_recall": mpcr,
        "balanced_accuracy_sklearn": balanced,
        "confidences": conf.tolist(),
        "ece": ece,
        "n_bins": N_BINS,
        "reliability": bins,
        "calibration": {
            "split_seed": SPLIT_SEED,
            "fit": fit.tolist(),
            "n_fit": int(fit.sum()),
            "n_eval": int(ev.sum()),
            "beta": beta,
            "temperature": T,
            "nll_fit_before": nll(1.0, z[fit], labels[fit]) if fit.any() else None,
            "nll_fit_after": nll(beta, z[fit], labels[fit]) if fit.any() else None,
            "ece_before_scaling": ece_before,
            "ece_after_scaling": ece_after,
            "reliability_eval_before": bins_before,
            "reliability_eval_after": bins_after,
        },
        "ood": ood,
        "compositions": compositions,
        "robustness": robustness,
    }


# ------------------------------------------------------------------ sanity checks

def sanity():
    """Hand-checkable cases of each definition; raises on a mismatch."""
    # splitmix64 test vectors of the brief.
    assert splitmix64(0) == 0xE220A8397B1DCDAF
    assert splitmix64(GOLDEN) == 0x6E789E6AA1B965F4
    assert splitmix64((2 * GOLDEN) & MASK) == 0x06C45D188009454F
    # AUROC / FPR95: perfectly separated -> 1 and 0; reversed -> 0 and 1; all tied -> 0.5, 1.
    y = [1, 1, 1, 0, 0]
    assert ood_scores(y, [0.9, 0.8, 0.7, 0.2, 0.1]) == {"auroc": 1.0, "fpr95": 0.0}
    assert ood_scores(y, [0.1, 0.2, 0.3, 0.8, 0.9]) == {"auroc": 0.0, "fpr95": 1.0}
    assert ood_scores(y, [0.5] * 5) == {"auroc": 0.5, "fpr95": 1.0}
    # ECE by hand: conf 0.9 right (bin 13), conf 0.6 wrong (bin 8: 0.6 <= 9/15 exactly)
    # -> (|1 - 0.9| + |0 - 0.6|) / 2 = 0.35.
    ece, rows = ece_bins([0.9, 0.6], [True, False])
    assert abs(ece - 0.35) < 1e-15 and rows[13]["count"] == 1 and rows[8]["count"] == 1, rows
    # Temperature by hand: logits (1, 0) for four items, three labelled 0: the fitted
    # sigmoid(beta) is 3/4, so beta* = ln 3.
    beta = fit_temperature(np.array([[1.0, 0.0]] * 4), np.array([0, 0, 0, 1]))
    assert abs(beta - math.log(3)) < 1e-12, beta
    # All fit items right with a margin: NLL falls all the way, beta* = 1e3 (T = 1e-3).
    assert fit_temperature(np.array([[1.0, 0.0]] * 2), np.array([0, 0])) == 1e3
    print("sanity: splitmix64 vectors, AUROC 1/0/0.5 and FPR95 0/1/1, ECE 0.35, "
          "beta* = ln 3 and the 1e3 clamp: ok")


# ------------------------------------------------------------------ model run

def expected(fixture, model):
    from aro_reference import ClipScorer
    fixture = Path(fixture)
    keys, names, items = dataset(fixture)
    templates = read_lines(fixture / "templates.txt")
    seen = read_lines(fixture / "seen.txt")
    ood = ood_images(fixture)
    scorer = ClipScorer(model)
    image_emb = scorer.images([(fixture / p, None) for p, _ in items])
    ood_emb = scorer.images([(fixture / p, None) for p in ood]) if ood else np.zeros((0, 0))
    class_emb = []
    for name in names:
        t = scorer.texts([tpl.replace("{}", name) for tpl in templates]).astype(np.float64)
        mean = t.mean(axis=0)
        class_emb.append(mean / np.linalg.norm(mean))
    class_emb = np.array(class_emb)
    # One 1-D float64 dot product per (image, class), as in aro_reference.clip_scores.
    s = np.array([[float(np.dot(image_emb[i].astype(np.float64), class_emb[c]))
                   for c in range(len(keys))] for i in range(len(items))])
    ood_s = np.array([[float(np.dot(ood_emb[i].astype(np.float64), class_emb[c]))
                       for c in range(len(keys))] for i in range(len(ood))]).reshape(-1, len(keys))
    raw_scale = float(scorer.model.logit_scale.detach().float().item())
    S = float(np.exp(np.float64(raw_scale)))
    labels = [l for _, l in items]
    metrics = compute_metrics(s, S, labels, names, seen, ood_s)
    try:
        model_rel = Path(model).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        model_rel = str(model)
    return {
        "model": model_rel,
        "classes": keys,
        "display_names": names,
        "templates": templates,
        "seen": seen,
        "images": [p for p, _ in items],
        "labels": labels,
        "ood_images": ood,
        "logit_scale_param": raw_scale,
        "logit_scale": S,
        "image_embeddings": image_emb.astype(np.float64).tolist(),
        "class_embeddings": class_emb.tolist(),
        "ood_image_embeddings": ood_emb.astype(np.float64).tolist(),
        "cosines": s.tolist(),
        "ood_cosines": ood_s.tolist(),
        "metrics": metrics,
    }


CLIENT_TOLERANCE = 1e-6


def clients(fixture, model, own):
    """The clients' numbers on the fixture (see "Clients" above), asserted equal to `own`
    (the result of `expected`)."""
    import open_clip
    import torch
    import torchvision
    from clip_benchmark.metrics import zeroshot_classification as zsc
    from sklearn.metrics import roc_auc_score
    from torchmetrics.classification import MulticlassCalibrationError
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import default_loader

    fixture = Path(fixture)
    name = f"local-dir:{Path(model).resolve()}"
    net, _, preprocess = open_clip.create_model_and_transforms(name)
    net.eval()
    tokenizer = open_clip.get_tokenizer(name)
    data = ImageFolder(str(fixture / "images"), transform=preprocess)
    assert torchvision.get_image_backend() == "PIL"
    samples = [(Path(p).relative_to(fixture).as_posix(), t) for p, t in data.samples]
    assert samples == list(zip(own["images"], own["labels"])), "ImageFolder's items differ"
    assert data.classes == own["classes"]
    classnames = [c.replace("_", " ") for c in data.classes]
    templates = [t.replace("{}", "{c}") for t in own["templates"]]
    loader = torch.utils.data.DataLoader(data, batch_size=16, shuffle=False)

    class Ood(torch.utils.data.Dataset):  # a flat folder: no ImageFolder classes
        def __len__(self):
            return len(own["ood_images"])

        def __getitem__(self, i):
            return preprocess(default_loader(str(fixture / own["ood_images"][i]))), 0

    ood_loader = torch.utils.data.DataLoader(Ood(), batch_size=16, shuffle=False)

    # clip_benchmark 1.6.2's accuracy() ends in float(tensor.numpy()) on a 1-element array,
    # a TypeError since numpy 2.4 (scripts/requirements.txt pins 2.4.6); the same function
    # with .item() in its place, everything else CLIP_benchmark's own code.
    def accuracy(output, target, topk=(1,)):
        pred = output.topk(max(topk), 1, True, True)[1].t()
        correct = pred.eq(target.view(1, -1).expand_as(pred))
        n = len(target)
        return [correct[:k].reshape(-1).float().sum(0).item() / n for k in topk]

    zsc.accuracy = accuracy
    with torch.no_grad():
        summary = zsc.evaluate(net, loader, tokenizer, classnames, templates, "cpu", amp=False)
        classifier = zsc.zero_shot_classifier(net, tokenizer, classnames, templates, "cpu",
                                              amp=False)
        logits, target = zsc.run_classification(net, classifier, loader, "cpu", amp=False)
        ood_logits, _ = zsc.run_classification(net, classifier, ood_loader, "cpu", amp=False)
        raw_scale = float(net.logit_scale.float().item())
    assert raw_scale == own["logit_scale_param"], (raw_scale, own["logit_scale_param"])
    S = float(np.exp(np.float64(raw_scale)))
    logits64 = logits.numpy().astype(np.float64)
    ood64 = ood_logits.numpy().astype(np.float64).reshape(-1, len(classnames))
    preds = logits.argmax(dim=1).tolist()

    probs = torch.from_numpy(softmax(S * logits64 / 100.0))
    ece_metric = MulticlassCalibrationError(num_classes=len(classnames), n_bins=N_BINS,
                                            norm="l1")
    ece_metric.update(probs, target)
    ece = float(ece_metric.compute())

    y = np.concatenate([np.ones(len(logits64), dtype=int), np.zeros(len(ood64), dtype=int)])
    msp = np.concatenate([softmax(S * logits64 / 100.0).max(axis=1),
                          softmax(S * ood64 / 100.0).max(axis=1)])
    mcm = np.concatenate([softmax(logits64 / 100.0 / MCM_TAU).max(axis=1),
                          softmax(ood64 / 100.0 / MCM_TAU).max(axis=1)])
    cosine_diff = max(float(np.max(np.abs(logits64 / 100.0 - np.asarray(own["cosines"])))),
                      float(np.max(np.abs(ood64 / 100.0 - np.asarray(own["ood_cosines"]))))
                      if len(ood64) else 0.0)
    result = {
        # (clip_benchmark.__version__ says 0.1.0 in every release: ask the installed metadata)
        "versions": {name: package_version(name) for name in
                     ["clip_benchmark", "torchmetrics", "scikit-learn", "open_clip_torch",
                      "torchvision", "torch", "pillow"]},
        "predictions": preds,
        "acc1": float(summary["acc1"]),
        "acc5": float(summary["acc5"]),
        "mean_per_class_recall": float(summary["mean_per_class_recall"]),
        "ece_torchmetrics": ece,
        "msp_auroc_sklearn": float(roc_auc_score(y, msp)),
        "mcm_auroc_sklearn": float(roc_auc_score(y, mcm)),
        "max_cosine_difference_to_reference": cosine_diff,
    }
    m = own["metrics"]
    assert preds == m["predictions"], ("predictions differ", preds, m["predictions"])
    for key, ours in [("acc1", m["top1"]), ("acc5", m["top5"]),
                      ("mean_per_class_recall", m["mean_per_class_recall"]),
                      ("ece_torchmetrics", m["ece"]),
                      ("msp_auroc_sklearn", m["ood"]["msp"]["auroc"]),
                      ("mcm_auroc_sklearn", m["ood"]["mcm"]["auroc"])]:
        assert abs(result[key] - ours) <= CLIENT_TOLERANCE, (key, result[key], ours)
    result["max_metric_difference_to_reference"] = max(
        abs(result[a] - b) for a, b in [("acc1", m["top1"]), ("acc5", m["top5"]),
                                        ("mean_per_class_recall", m["mean_per_class_recall"]),
                                        ("ece_torchmetrics", m["ece"]),
                                        ("msp_auroc_sklearn", m["ood"]["msp"]["auroc"]),
                                        ("mcm_auroc_sklearn", m["ood"]["mcm"]["auroc"])])
    return result


def package_version(name):
    from importlib.metadata import version
    return version(name)


def synthetic(fixture, seed=7):
    """A cosine matrix made up on a 1e-4 grid (so every value is a short decimal that any JSON
    reader parses exactly), with the fixture's classes: a model that is right about 60% of
    the time, so temperature scaling lands inside [1e-3, 1e3] (the tiny random model's cosines
    put it on the 1e-3 clamp), and with deliberate ties: item 0 has two equal top cosines
    (first argmax and the stable sort take the lower class), and OOD row 0 equals item 1's
    row (an ID/OOD score tie for AUROC and for roc_curve's thresholds)."""
    keys, names, _ = dataset(fixture)
    seen = read_lines(Path(fixture) / "seen.txt")
    rng = np.random.default_rng(seed)
    n_classes, n, n_ood = len(keys), 40, 12
    labels = [i % n_classes for i in range(n)]
    s = rng.normal(0.20, 0.03, size=(n, n_classes))
    s[np.arange(n), labels] += 0.035
    ood_s = rng.normal(0.19, 0.03, size=(n_ood, n_classes))
    s, ood_s = np.round(s, 4), np.round(ood_s, 4)
    s[0, 4] = s[0, 2] = np.round(s[0].max() + 0.01, 4)
    ood_s[0] = s[1]
    S = 30.0
    metrics = compute_metrics(s, S, labels, names, seen, ood_s)
    beta = metrics["calibration"]["beta"]
    assert BETA_RANGE[0] < beta < BETA_RANGE[1], beta
    assert metrics["predictions"][0] == 2
    return {
        "description": "synthetic cosines (scripts/classification_reference.py synthetic); "
                       "the metrics follow the definitions of that script",
        "classes": keys,
        "display_names": names,
        "seen": seen,
        "labels": labels,
        "logit_scale": S,
        "cosines": s.tolist(),
        "ood_cosines": ood_s.tolist(),
        "metrics": metrics,
    }


def recompute(stored):
    return compute_metrics(np.array(stored["cosines"], dtype=np.float64), stored["logit_scale"],
                           stored["labels"], stored["display_names"], stored["seen"],
                           np.array(stored["ood_cosines"], dtype=np.float64))


def json_equal(a, b, path="metrics"):
    """Exact equality (floats compared bit for bit after the JSON round trip)."""
    a, b = json.loads(json.dumps(a)), json.loads(json.dumps(b))
    if a != b:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                if a.get(k) != b.get(k):
                    return json_equal(a.get(k), b.get(k), f"{path}.{k}")
        raise AssertionError(f"{path}: stored {b!r} != recomputed {a!r}")
    return True


def summary(m):
    c, o, r = m["calibration"], m["ood"], m["robustness"]
    return (f"top1 {m['top1']:.4f}  top5 {m['top5']:.4f}  mpcr {m['mean_per_class_recall']:.4f}"
            f"  ece {m['ece']:.6f}\nT {c['temperature']:.6f} (beta {c['beta']:.6f}; fit "
            f"{c['n_fit']}, eval {c['n_eval']})  ece eval before {c['ece_before_scaling']:.6f}"
            f" after {c['ece_after_scaling']:.6f}\nAUROC msp {o['msp']['auroc']:.4f} mcm "
            f"{o['mcm']['auroc']:.4f}  FPR95 msp {o['msp']['fpr95']:.4f} mcm "
            f"{o['mcm']['fpr95']:.4f}\nattr {m['compositions']['attribute_accuracy']:.4f} obj "
            f"{m['compositions']['object_accuracy']:.4f} seen "
            f"{m['compositions']['seen_accuracy']} unseen {m['compositions']['unseen_accuracy']}"
            f"\nmin top-2 gap {r['min_top2_gap']:.3e} (item {r['min_top2_gap_item']}), "
            f"OOD {r['min_top2_gap_ood']:.3e}; min conf-to-bin-edge "
            f"{r['min_confidence_to_bin_edge']:.3e}; min ID-OOD gap msp "
            f"{r['min_id_ood_gap_msp']:.3e} mcm {r['min_id_ood_gap_mcm']:.3e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("expected", help="run the model on the fixture, write expected.json")
    ex.add_argument("--fixture", default=str(ROOT / "tests" / "fixtures" / "classification"))
    ex.add_argument("--model", default=str(ROOT / "tests" / "fixtures" / "model"
                                           / "open_clip_full_vocab"))
    ex.add_argument("--out", required=True)
    ex.add_argument("--model-label", help="what to store as \"model\" (default: --model, "
                                          "relative to the repository when inside it)")
    ex.add_argument("--clients", action="store_true",
                    help="also score the fixture with CLIP_benchmark / torchmetrics / "
                         "scikit-learn on open_clip, assert the same numbers, store them "
                         "under \"clients\"")
    me = sub.add_parser("metrics", help="recompute the metrics of a stored expected.json "
                                        "from its cosines and check them")
    me.add_argument("--cosines", required=True, help="an expected.json")
    me.add_argument("--out", help="also write the recomputed metrics here")
    sy = sub.add_parser("synthetic", help="metrics of a made-up cosine matrix with ties and "
                                          "an interior temperature")
    sy.add_argument("--fixture", default=str(ROOT / "tests" / "fixtures" / "classification"))
    sy.add_argument("--out", required=True)
    sub.add_parser("sanity", help="hand-checkable checks of the definitions")
    args = ap.parse_args()

    sanity()
    if args.cmd == "expected":
        result = expected(args.fixture, args.model)
        if args.model_label:
            result["model"] = args.model_label
        json_equal(recompute(json.loads(json.dumps(result))), result["metrics"])
        if args.clients:
            result["clients"] = clients(args.fixture, args.model, result)
            c = result["clients"]
            print(f"clients ({', '.join(f'{k} {v}' for k, v in c['versions'].items())}): "
                  f"same predictions; acc1 {c['acc1']:.4f} acc5 {c['acc5']:.4f} mpcr "
                  f"{c['mean_per_class_recall']:.4f} ECE {c['ece_torchmetrics']:.6f} AUROC msp "
                  f"{c['msp_auroc_sklearn']:.4f} mcm {c['mcm_auroc_sklearn']:.4f}; max "
                  f"|metric - reference| {c['max_metric_difference_to_reference']:.2e}, max "
                  f"|cosine - reference| {c['max_cosine_difference_to_reference']:.2e}")
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(summary(result["metrics"]))
        print(f"wrote {args.out}")
    elif args.cmd == "synthetic":
        result = synthetic(args.fixture)
        json_equal(recompute(json.loads(json.dumps(result))), result["metrics"])
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(summary(result["metrics"]))
        print(f"wrote {args.out}")
    elif args.cmd == "metrics":
        stored = json.loads(Path(args.cosines).read_text())
        metrics = recompute(stored)
        json_equal(metrics, stored["metrics"])
        print(summary(metrics))
        print(f"{args.cosines}: every metric recomputed from the stored cosines is identical")
        if args.out:
            Path(args.out).write_text(json.dumps(metrics, indent=1) + "\n")


if __name__ == "__main__":
    main()
