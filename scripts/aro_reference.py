#!/usr/bin/env python3
"""Reference metric computation for ARO, SugarCrepe and retrieval, written from
the definitions in ../shared/aro-sample/METRICS.md, independently of the Rust code.

It reads the raw benchmark files of a data root (the same files the Rust loaders
read) and a scores file, and writes the expected per-item decisions and metrics:

  python scripts/aro_reference.py make-scores --data-root tests/fixtures/aro \
      --out tests/fixtures/aro/scores_example.json
  python scripts/aro_reference.py score --data-root tests/fixtures/aro \
      --scores tests/fixtures/aro/scores_example.json \
      --out tests/fixtures/aro/expected_metrics.json

scores.json: {"choice": {suite: [[score per option] per item]},
              "retrieval": {suite: [[score per caption] per image]}}
Choice items are in file order (VG: array order; SugarCrepe: numeric key order;
order sets: test images in file order, their captions in order, options
[original, p1..p4]); retrieval images/captions in the same Karpathy order.

Rules: VG-R / VG-A / SugarCrepe are right iff the true option scores strictly
higher (a tie is wrong); order sets are right iff np.argmax (first maximum) is 0.
Macro: VG-R per relation_name minus the 157 excluded names, with and without the
>= 25 items filter; VG-A per "<attr0>_<attr1>" with groups >= 25. Retrieval:
recall@k as CLIP_benchmark (image->text per image, any of its captions in the top
k; text->image per caption); torch.topk leaves the order of ties unspecified, so
ties are broken by lower index first (a stable descending sort), as in the crate.
"""
import argparse
import json
import random
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXCLUDED = ROOT / "crates" / "data" / "assets" / "vgr_excluded_relations.json"
SUBSETS = ["add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att",
           "swap_obj"]
MIN_ITEMS = 25
KS = [1, 5, 10]


def load_json(path):
    return json.loads(Path(path).read_text())


def karpathy_test(path):
    """[(image index, n captions)] for the test split, in file order."""
    return [len(im["sentences"]) for im in load_json(path)["images"] if im["split"] == "test"]


def suite_shapes(root):
    """Per choice suite: (groups per item, n options, true index, decision)."""
    root = Path(root)
    shapes = {}
    vgr = load_json(root / "aro" / "visual_genome_relation.json")
    shapes["vg-relation"] = ([r["relation_name"] for r in vgr], 2, 1, "strict")
    vga = load_json(root / "aro" / "visual_genome_attribution.json")
    shapes["vg-attribution"] = ([f"{r['attributes'][0]}_{r['attributes'][1]}" for r in vga],
                                2, 1, "strict")
    for subset in SUBSETS:
        rows = load_json(root / "sugarcrepe" / f"{subset}.json")
        shapes[f"sugarcrepe/{subset}"] = ([subset] * len(rows), 2, 1, "strict")
    for name, rel in [("coco-order", "coco/dataset_coco.json"),
                      ("flickr30k-order", "flickr30k/dataset_flickr30k.json")]:
        n = sum(karpathy_test(root / rel))
        shapes[f"{name}@seed1"] = (["all"] * n, 5, 0, "argmax")
    return shapes


def retrieval_shapes(root):
    root = Path(root)
    out = {}
    for name, rel in [("coco-retrieval", "coco/dataset_coco.json"),
                      ("flickr30k-retrieval", "flickr30k/dataset_flickr30k.json")]:
        counts = karpathy_test(root / rel)
        out[name] = [i for i, n in enumerate(counts) for _ in range(n)]
    return out


def make_scores(root, seed=2024):
    """Scores on a coarse grid (multiples of 0.1) so ties are frequent, plus a
    forced tie in the first item of every choice suite."""
    rng = random.Random(seed)
    grid = lambda: round(rng.randrange(10) / 10, 1)
    choice = {}
    for name, (groups, n_opt, true_index, _) in suite_shapes(root).items():
        rows = [[grid() for _ in range(n_opt)] for _ in groups]
        rows[0] = [0.5] * n_opt
        choice[name] = rows
    retrieval = {}
    for name, caption_image in retrieval_shapes(root).items():
        n_img = max(caption_image) + 1
        retrieval[name] = [[grid() for _ in caption_image] for _ in range(n_img)]
    return {"choice": choice, "retrieval": retrieval}


def decide(scores, true_index, decision):
    s = np.asarray(scores, dtype=np.float64)
    if decision == "argmax":
        return bool(np.argmax(s) == true_index)
    others = np.delete(s, true_index)
    return bool(np.all(s[true_index] > others))


def macro(groups, correct, excluded, min_items):
    accs = {}
    for g in sorted(set(groups)):
        mask = np.array([x == g for x in groups])
        accs[g] = (int(mask.sum()), float(np.asarray(correct)[mask].mean()))
    kept = [a for g, (n, a) in accs.items() if n >= min_items and g not in excluded]
    return (float(np.mean(kept)) if kept else None), len(kept)


def score_choice(name, groups, n_opt, true_index, decision, scores):
    assert len(scores) == len(groups) and all(len(r) == n_opt for r in scores), name
    items = [decide(r, true_index, decision) for r in scores]
    out = {"items": items, "accuracy": float(np.mean(items)) if items else 0.0}
    if name in ("vg-relation", "vg-attribution"):
        excluded = set(load_json(EXCLUDED)) if name == "vg-relation" else set()
        with_min, n_with = macro(groups, items, excluded, MIN_ITEMS)
        without, n_without = macro(groups, items, excluded, 0)
        out.update({"macro_accuracy": with_min, "macro_groups": n_with,
                    "macro_without_min_filter": without,
                    "macro_without_min_filter_groups": n_without})
    return out


def ranks_desc(row, target):
    """0-based rank of `target` in `row` sorted descending, stable."""
    order = np.argsort(-np.asarray(row, dtype=np.float64), kind="stable")
    return int(np.nonzero(order == target)[0][0])


def score_retrieval(caption_image, sim):
    sim = np.asarray(sim, dtype=np.float64)
    n_img = sim.shape[0]
    best = [min(ranks_desc(sim[i], c) for c, im in enumerate(caption_image) if im == i)
            for i in range(n_img)]
    per_caption = [ranks_desc(sim[:, c], im) for c, im in enumerate(caption_image)]
    return {"image_to_text": {str(k): float(np.mean([r < k for r in best])) for k in KS},
            "text_to_image": {str(k): float(np.mean([r < k for r in per_caption]))
                              for k in KS}}


def score_all(root, scores):
    shapes, rshapes = suite_shapes(root), retrieval_shapes(root)
    out = {"choice": {}, "retrieval": {}}
    for name, rows in scores["choice"].items():
        out["choice"][name] = score_choice(name, *shapes[name], rows)
    for name, sim in scores["retrieval"].items():
        out["retrieval"][name] = score_retrieval(rshapes[name], sim)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make-scores", help="write a deterministic scores file with ties")
    mk.add_argument("--data-root", required=True)
    mk.add_argument("--out", required=True)
    sc = sub.add_parser("score", help="write expected metrics for a scores file")
    sc.add_argument("--data-root", required=True)
    sc.add_argument("--scores", required=True)
    sc.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.cmd == "make-scores":
        result = make_scores(args.data_root)
    else:
        result = score_all(args.data_root, load_json(args.scores))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
