#!/usr/bin/env python3
"""Reference metric computation for ARO, SugarCrepe and retrieval, written from the
ARO, SugarCrepe and CLIP_benchmark code's scoring rules ("Rules" below), independently
of the Rust code.

It reads the raw benchmark files of a data root (the same files the Rust loaders
read) and a scores file, and writes the expected per-item decisions and metrics:

  python scripts/aro_reference.py make-scores --data-root tests/fixtures/aro \
      --out tests/fixtures/aro/scores_example.json
  python scripts/aro_reference.py score --data-root tests/fixtures/aro \
      --scores tests/fixtures/aro/scores_example.json \
      --out tests/fixtures/aro/expected_metrics.json
  python scripts/aro_reference.py clip-scores --data-root tests/fixtures/aro \
      --model tests/fixtures/model/open_clip_full_vocab \
      --order-options tests/fixtures/aro/order_options.json \
      --out tests/fixtures/aro/clip_scores_expected.json
  python scripts/aro_reference.py sugarcrepe-means \
      --metrics tests/fixtures/aro/expected_metrics.json \
      --clip-scores tests/fixtures/aro/clip_scores_expected.json \
      --out tests/fixtures/aro/sugarcrepe_means_expected.json

clip-scores runs a real (tiny) open_clip model the way the ARO / SugarCrepe /
CLIP_benchmark code does: PIL open -> RGB -> crop to the VG box -> open_clip's eval
transform at the model's image size; captions through ARO's pre_caption cleaner
(order and retrieval sets) and open_clip.tokenize at the model's context length;
score = cosine of the normalised embeddings. The order sets' perturbed captions are
negclip's (read from --order-options, written by the Rust example
dump_order_options) so both sides score the same texts.

scores.json: {"choice": {suite: [[score per option] per item]},
              "retrieval": {suite: [[score per caption] per image]}}
Choice items are in file order (VG: array order; SugarCrepe: numeric key order;
order sets: test images in file order, their captions in order, options
[original, p1..p4]); retrieval images/captions in the same Karpathy order.

sugarcrepe-means writes SugarCrepe's means over subsets, from the subsets' accuracies
of a `score` output ("grid") and of a `clip-scores` output ("clip"): per category as the paper's table groups the subsets (REPLACE: replace_att,
replace_obj, replace_rel; SWAP: swap_att, swap_obj; ADD: add_att, add_obj) and overall,
the plain mean of the seven subsets (the authors' main_eval.py reports only the subsets).

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
import re
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


# ---------------------------------------------------------------- clip-scores

def pre_caption(caption, max_words=30):
    """ARO's dataset_zoo pre_caption (order and retrieval captions)."""
    caption = re.sub(r"([.!\"()*#:;~])", " ", caption.lower())
    caption = re.sub(r"\s{2,}", " ", caption)
    caption = caption.rstrip("\n").strip(" ")
    words = caption.split(" ")
    if len(words) > max_words:
        caption = " ".join(words[:max_words])
    return caption


KARPATHY = {"coco": ("coco/dataset_coco.json", lambda im: Path("coco") / im["filepath"] / im["filename"]),
            "flickr30k": ("flickr30k/dataset_flickr30k.json",
                          lambda im: Path("flickr30k") / "images" / im["filename"])}


def karpathy_items(root, dataset):
    """Test images (path) and their raw captions, in file order."""
    rel, image_path = KARPATHY[dataset]
    images = [im for im in load_json(Path(root) / rel)["images"] if im["split"] == "test"]
    return [(Path(root) / image_path(im), [s["raw"] for s in im["sentences"]]) for im in images]


def choice_sources(root, order_options):
    """Per choice suite: [(image path, crop box or None, [options])] in item order."""
    root = Path(root)
    out = {}
    for name, file in [("vg-relation", "visual_genome_relation.json"),
                       ("vg-attribution", "visual_genome_attribution.json")]:
        out[name] = [(root / "aro" / "images" / r["image_path"],
                      (r["bbox_x"], r["bbox_y"], r["bbox_x"] + r["bbox_w"], r["bbox_y"] + r["bbox_h"]),
                      [r["false_caption"], r["true_caption"]])
                     for r in load_json(root / "aro" / file)]
    for subset in SUBSETS:
        rows = load_json(root / "sugarcrepe" / f"{subset}.json")
        out[f"sugarcrepe/{subset}"] = [
            (root / "coco" / "val2017" / rows[k]["filename"], None,
             [rows[k]["negative_caption"], rows[k]["caption"]])
            for k in sorted(rows, key=int)]
    for name, options in order_options.items():
        dataset = name.split("-order@")[0]
        images = [path for path, caps in karpathy_items(root, dataset) for _ in caps]
        originals = [pre_caption(c) for _, caps in karpathy_items(root, dataset) for c in caps]
        assert len(options) == len(images), f"{name}: {len(options)} items, {len(images)} captions"
        # The unperturbed option must be ARO's own cleaning of the raw caption.
        assert [o[0] for o in options] == originals, f"{name}: original captions differ"
        out[name] = [(path, None, opts) for path, opts in zip(images, options)]
    return out


class ClipScorer:
    """An open_clip model with its eval transform and tokenizer."""

    def __init__(self, model_dir):
        import open_clip
        import torch
        from safetensors.torch import load_file
        self.torch, self.open_clip = torch, open_clip
        cfg = load_json(Path(model_dir) / "open_clip_config.json")["model_cfg"]
        self.model = open_clip.model.CLIP(
            embed_dim=cfg["embed_dim"], quick_gelu=cfg.get("quick_gelu", False),
            vision_cfg=open_clip.model.CLIPVisionCfg(**cfg["vision_cfg"]),
            text_cfg=open_clip.model.CLIPTextCfg(**cfg["text_cfg"])).eval()
        state = load_file(str(Path(model_dir) / "open_clip_model.safetensors"))
        self.model.load_state_dict(state, strict=True)
        self.context = cfg["text_cfg"]["context_length"]
        self.transform = open_clip.transform.image_transform(cfg["vision_cfg"]["image_size"],
                                                             is_train=False)

    def images(self, sources):
        from PIL import Image
        pixels = []
        for path, box in sources:
            image = Image.open(path).convert("RGB")
            if box is not None:
                image = image.crop(box)
            pixels.append(self.transform(image))
        with self.torch.no_grad():
            return self.model.encode_image(self.torch.stack(pixels), normalize=True).numpy()

    def texts(self, captions):
        """Embeddings of `captions`; equal captions are encoded once, so equal options tie
        exactly (order sets have such ties, and first-argmax then picks the original)."""
        unique = sorted(set(captions))
        tokens = self.open_clip.tokenize(unique, context_length=self.context)
        with self.torch.no_grad():
            emb = self.model.encode_text(tokens, normalize=True).numpy()
        return emb[[unique.index(c) for c in captions]]


def clip_scores(root, model_dir, order_options_path):
    """Model scores, decisions and metrics of every suite of the data root."""
    scorer = ClipScorer(model_dir)
    order_options = load_json(order_options_path)
    shapes = suite_shapes(root)
    choice = {}
    for name, items in choice_sources(root, order_options).items():
        image_emb = scorer.images([(path, box) for path, box, _ in items])
        n_opt = len(items[0][2])
        text_emb = scorer.texts([o for _, _, opts in items for o in opts])
        # One 1-D dot product per option, in float64: a matrix product's SIMD blocking can
        # give two equal rows scores 1e-8 apart, which would break the order sets' exact ties.
        scores = [[float(np.dot(text_emb[i * n_opt + j].astype(np.float64),
                                image_emb[i].astype(np.float64))) for j in range(n_opt)]
                  for i in range(len(items))]
        if name in shapes:
            groups, _, true_index, decision = shapes[name]
        else:  # the other order seeds
            groups, true_index, decision = ["all"] * len(items), 0, "argmax"
        result = score_choice(name, groups, n_opt, true_index, decision, scores)
        margins = [s[true_index] - max(x for j, x in enumerate(s) if j != true_index)
                   for s in scores]
        # How close the nearest decision is (exact ties, equal captions in the order sets,
        # are counted apart: both sides score equal texts identically).
        result["exact_ties"] = sum(m == 0 for m in margins)
        result["min_abs_margin"] = float(min((abs(m) for m in margins if m != 0), default=0.0))
        choice[name] = {"scores": scores, **result}
    retrieval = {}
    rshapes = retrieval_shapes(root)
    for name in rshapes:
        data = karpathy_items(root, name.split("-retrieval")[0])
        image_emb = scorer.images([(path, None) for path, _ in data])
        text_emb = scorer.texts([pre_caption(c) for _, caps in data for c in caps])
        sim = image_emb.astype(np.float64) @ text_emb.astype(np.float64).T
        retrieval[name] = {"similarity": sim.tolist(), **score_retrieval(rshapes[name], sim)}
    return {"model": str(model_dir), "choice": choice, "retrieval": retrieval}


SUGARCREPE_CATEGORIES = {"add": ["add_att", "add_obj"],
                         "replace": ["replace_att", "replace_obj", "replace_rel"],
                         "swap": ["swap_att", "swap_obj"]}


def sugarcrepe_means(results):
    """Mean accuracy per category and over the seven subsets of a `score` or `clip-scores`
    output."""
    acc = {s: results["choice"][f"sugarcrepe/{s}"]["accuracy"] for s in SUBSETS}
    means = {f"sugarcrepe/{c}": float(np.mean([acc[s] for s in members]))
             for c, members in SUGARCREPE_CATEGORIES.items()}
    means["sugarcrepe"] = float(np.mean([acc[s] for s in SUBSETS]))
    return means


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
    cs = sub.add_parser("clip-scores", help="score every suite with a tiny open_clip model")
    cs.add_argument("--data-root", required=True)
    cs.add_argument("--model", required=True,
                    help="directory with open_clip_config.json and open_clip_model.safetensors")
    cs.add_argument("--order-options", required=True,
                    help="negclip's order-suite options (example dump_order_options)")
    cs.add_argument("--out", required=True)
    sm = sub.add_parser("sugarcrepe-means", help="SugarCrepe's category and overall means")
    sm.add_argument("--metrics", required=True, help="the output of `score`")
    sm.add_argument("--clip-scores", required=True, help="the output of `clip-scores`")
    sm.add_argument("--out", required=True)
    em = sub.add_parser("embed", help="reference embeddings for `negclip embed`'s test")
    em.add_argument("--model", required=True)
    em.add_argument("--images", nargs="+", required=True)
    em.add_argument("--texts", required=True, help="one caption a line")
    em.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.cmd == "make-scores":
        result = make_scores(args.data_root)
    elif args.cmd == "embed":
        scorer = ClipScorer(args.model)
        captions = Path(args.texts).read_text().splitlines()
        result = {
            "images": args.images,
            "image_embeds": scorer.images([(p, None) for p in args.images]).tolist(),
            "texts": captions,
            "text_embeds": scorer.texts(captions).tolist(),
        }
    elif args.cmd == "sugarcrepe-means":
        result = {"grid": sugarcrepe_means(load_json(args.metrics)),
                  "clip": sugarcrepe_means(load_json(args.clip_scores))}
    elif args.cmd == "clip-scores":
        result = clip_scores(args.data_root, args.model, args.order_options)
        for name, r in result["choice"].items():
            print(f"{name:24} accuracy {r['accuracy']:.3f}  min |margin| {r['min_abs_margin']:.2e}"
                  f"  exact ties {r['exact_ties']}")
    else:
        result = score_all(args.data_root, load_json(args.scores))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
