#!/usr/bin/env python3
"""Reference scores for Winoground and for the generic format, on small fixtures in the real
file layouts, read and scored the way the benchmarks' authors do.

Winoground: the dataset repository `facebook/winoground` on the Hugging Face Hub ships
`data/examples.jsonl` and `data/images.zip` (images/<image_0>.png). Its scoring is the three
functions of the dataset card's CLIP example and of its `statistics/compute_statistics.py`,
read line for line (c<k>_i<j>: the score of caption k with image j):

    text_correct:  c0_i0 > c1_i0 and c1_i1 > c0_i1
    image_correct: c0_i0 > c0_i1 and c1_i1 > c1_i0
    group_correct: image_correct and text_correct

and a score is the mean of the correctness over the examples; per-tag scores keep the examples
whose field equals the value (`filter_examples`: `example[key] != value` drops it), for
`collapsed_tag`, `secondary_tag` (taken whole; the empty string is no tag) and
`num_main_preds`.

The generic format (docs/evaluation.md): the same Winoground functions for 2 x 2 items; for
other shapes, each image's true captions strictly above its false ones (text) and each
caption's true images strictly above its false ones (image). The fixture's CREPE and
VL-CheckList items are read from their ORIGINAL files here, not from the converted JSONL, and
scored by those benchmarks' own rules: CREPE (RAIVNLab/CREPE, crepe_eval_utils.py
`get_one2many_rank` with the caption placed first, evaluate/data.py `TF.crop(image, y, x,
height, width)`): right iff the caption ranks first among [caption] + hard_negs; VL-CheckList
(om-ai-lab/VL-CheckList, vl_checklist/evaluate.py, task "itc"): right iff the score of POS[0]
is above that of NEG[0] (`result_tmp[i][0] > result_tmp[i][1]`).

The model is the tiny open_clip CLIP of tests/fixtures/model, run by
`aro_reference.ClipScorer` (PIL open -> RGB -> crop -> open_clip's eval transform;
open_clip.tokenize); a score is the cosine of the normalised embeddings in float64.

  python scripts/winoground_reference.py make-fixtures
  python scripts/winoground_reference.py winoground --data-root tests/fixtures/compositional \
      --model tests/fixtures/model/open_clip_full_vocab \
      --out tests/fixtures/compositional/winoground_expected.json
  python scripts/winoground_reference.py generic --data-root tests/fixtures/generic \
      --model tests/fixtures/model/open_clip_full_vocab \
      --out tests/fixtures/generic/expected.json
"""
import argparse
import ast
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from aro_reference import ClipScorer

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
TAG_FIELDS = ["collapsed_tag", "secondary_tag", "num_main_preds"]


# --- Winoground's scoring, as its authors write it -------------------------------------------

def text_correct(result):
    return result["c0_i0"] > result["c1_i0"] and result["c1_i1"] > result["c0_i1"]


def image_correct(result):
    return result["c0_i0"] > result["c0_i1"] and result["c1_i1"] > result["c1_i0"]


def group_correct(result):
    return image_correct(result) and text_correct(result)


def mean(values):
    return float(np.mean(values)) if values else None


# Similarities given to both sides, as (c0_i0, c1_i0, c0_i1, c1_i1) per example: the tiny
# random model prefers one caption of every pair on every image, so all its outcomes are
# "wrong"; these cover right, text only, image only, neither, and a tie (which is wrong).
GIVEN = [(0.9, 0.1, 0.2, 0.8), (0.5, 0.4, 0.6, 0.7), (0.5, 0.6, 0.2, 0.7), (0.3, 0.6, 0.7, 0.2),
         (0.5, 0.5, 0.2, 0.8), (0.8, 0.2, 0.3, 0.9)]


def scored(examples, results):
    """Per-example outcomes, overall and per-tag scores, as the authors compute them."""
    out = {"examples": []}
    for example in examples:
        result = results[example["id"]]
        out["examples"].append({
            "id": example["id"],
            # negclip's layout: [image][caption]
            "similarity": [[result["c0_i0"], result["c1_i0"]], [result["c0_i1"], result["c1_i1"]]],
            "text": text_correct(result), "image": image_correct(result),
            "group": group_correct(result)})

    def scores(ids):
        chosen = [results[i] for i in ids]
        return {"items": len(chosen),
                "text_score": mean([text_correct(r) for r in chosen]),
                "image_score": mean([image_correct(r) for r in chosen]),
                "group_score": mean([group_correct(r) for r in chosen])}

    out["overall"] = scores([e["id"] for e in examples])
    out["per_tag"] = {}
    for field in TAG_FIELDS:
        values = sorted({e[field] for e in examples if e[field] != ""}, key=str)
        out["per_tag"][field] = {
            str(v): scores([e["id"] for e in examples if e[field] == v]) for v in values}
    return out


def winoground(data_root, model):
    folder = Path(data_root) / "winoground"
    examples = [json.loads(line) for line in (folder / "examples.jsonl").read_text().splitlines()
                if line.strip()]
    scorer = ClipScorer(model)
    results = {}
    for example in examples:
        images = scorer.images([(folder / "images" / f"{example[f'image_{j}']}.png", None)
                                for j in range(2)]).astype(np.float64)
        texts = scorer.texts([example["caption_0"], example["caption_1"]]).astype(np.float64)
        results[example["id"]] = {f"c{k}_i{j}": float(np.dot(texts[k], images[j]))
                                  for k in range(2) for j in range(2)}
    given = {e["id"]: dict(zip(["c0_i0", "c1_i0", "c0_i1", "c1_i1"], GIVEN[n]))
             for n, e in enumerate(examples)}
    return {"model": str(model), "clip": scored(examples, results),
            "given": scored(examples, given)}


# --- The generic format -------------------------------------------------------------------------

def separates(trues, falses, score):
    """None without both sides; else every true strictly above every false."""
    if not trues or not falses:
        return None
    return all(score(t) > score(f) for t in trues for f in falses)


def generic_outcome(sim, truth):
    """(text, image, group) of one item, `sim[image][caption]`, truth[image] = true captions."""
    n_images, n_captions = len(sim), len(sim[0])
    if (n_images, n_captions) == (2, 2) and truth == [[0], [1]]:
        result = {"c0_i0": sim[0][0], "c1_i0": sim[0][1], "c0_i1": sim[1][0], "c1_i1": sim[1][1]}
        return text_correct(result), image_correct(result), group_correct(result)
    text = [separates([c for c in range(n_captions) if c in truth[i]],
                      [c for c in range(n_captions) if c not in truth[i]],
                      lambda c, i=i: sim[i][c]) for i in range(n_images)]
    image = [separates([i for i in range(n_images) if c in truth[i]],
                       [i for i in range(n_images) if c not in truth[i]],
                       lambda i, c=c: sim[i][c]) for c in range(n_captions)]
    text = [t for t in text if t is not None]
    image = [t for t in image if t is not None]
    text = all(text) if text else None
    image = all(image) if image else None
    return text, image, (text is not False) and (image is not False)


def crepe_items(data_root):
    """CREPE's rows as its evaluation reads them: the VG image `<image_id>.jpg`, cropped with
    TF.crop(image, y, x, height, width), captions [caption] + hard_negs (the truth first)."""
    items = []
    with open(Path(data_root) / "crepe" / "prod_vg_hard_negs_swap_complexity_4.csv") as f:
        for row in csv.DictReader(f):
            x, y, w, h = (int(float(row[k])) for k in ("x", "y", "width", "height"))
            items.append({"image": Path(data_root) / "vg" / f"{row['image_id']}.jpg",
                          "box": (x, y, x + w, y + h),
                          "captions": [str(row["caption"])] + list(ast.literal_eval(row["hard_negs"]))})
    return items


def crepe_correct(scores):
    """get_one2many_rank: the truth (index 0) ranks first, strictly (the reference's
    torch.argsort leaves ties unordered; the fixture has none)."""
    return all(scores[0] > s for s in scores[1:])


def vl_checklist_items(data_root):
    """VL-CheckList's `[path, {"POS": [...], "NEG": [...]}]` entries, itc: POS[0] vs NEG[0]."""
    entries = json.loads((Path(data_root) / "vl_checklist" / "color.json").read_text())
    return [{"image": Path(data_root) / "vg" / path, "box": None,
             "captions": [texts["POS"][0], texts["NEG"][0]]} for path, texts in entries]


def generic(data_root, model):
    scorer = ClipScorer(model)

    def similarities(images, captions):
        emb_i = scorer.images(images).astype(np.float64)
        emb_t = scorer.texts(captions).astype(np.float64)
        return [[float(np.dot(i, t)) for t in emb_t] for i in emb_i]

    out = {"model": str(model), "suites": {}}
    # CREPE and VL-CheckList from their released files, by their own rules.
    for name, items, rule in [("crepe", crepe_items(data_root), crepe_correct),
                              ("vl_checklist", vl_checklist_items(data_root),
                               lambda s: s[0] > s[1])]:
        rows = []
        for item in items:
            sim = similarities([(item["image"], item["box"])], item["captions"])
            right = rule(sim[0])
            rows.append({"similarity": sim, "text": right, "image": None, "group": right})
        out["suites"][f"generic/{name}"] = summarise(rows)
    # A file written in the generic format by hand: mixed shapes.
    base = Path(data_root) / "generic"
    rows = []
    for line in (base / "mixed.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        boxes = item.get("boxes") or [None] * len(item["images"])
        images = [(base / p, None if b is None else (b[0], b[1], b[0] + b[2], b[1] + b[3]))
                  for p, b in zip(item["images"], boxes)]
        sim = similarities(images, item["captions"])
        text, image, group = generic_outcome(sim, item["true"])
        rows.append({"similarity": sim, "text": text, "image": image, "group": group})
    out["suites"]["generic/mixed"] = summarise(rows)
    return out


def summarise(rows):
    def fraction(key):
        tests = [r[key] for r in rows if r[key] is not None]
        return mean(tests)
    return {"items": rows, "text_score": fraction("text"), "image_score": fraction("image"),
            "group_score": fraction("group")}


# --- Fixtures -------------------------------------------------------------------------------------

def picture(seed, size, mode):
    """A small picture of coloured blocks on a noisy background, in Pillow mode `mode`."""
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    image = Image.fromarray(base, "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
        x1, y1 = x0 + int(rng.integers(6, w // 2)), y0 + int(rng.integers(6, h // 2))
        draw.rectangle([x0, y0, x1, y1], fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    if mode == "RGBA":
        alpha = Image.fromarray(rng.integers(0, 256, size=(h, w), dtype=np.uint8), "L")
        image.putalpha(alpha)
        return image
    if mode == "P":
        return image.quantize(colors=16)
    return image.convert(mode)


WINOGROUND_EXAMPLES = [
    # (caption_0, caption_1, tag, secondary_tag, num_main_preds, collapsed_tag)
    ("an old person kisses a young person", "a young person kisses an old person",
     "Noun", "", 1, "Object"),
    ("the dog is on the left and the cat is on the right",
     "the cat is on the left and the dog is on the right", "Noun", "", 1, "Object"),
    ("a person sits and a dog stands", "a person stands and a dog sits",
     "Verb", "", 2, "Relation"),
    ("there is a mug in some grass", "there is some grass in a mug",
     "Noun", "Symbolic", 1, "Relation"),
    ("the red book is above the blue book", "the blue book is above the red book",
     "Adjective-Color", "Series", 1, "Both"),
    ("it ran away while they pursued", "they ran away while it pursued",
     "Pronoun", "Pragmatics", 2, "Relation"),
]
# Pillow modes of the two images of each example: Winoground's PNGs are mostly RGB, some RGBA.
WINOGROUND_MODES = [("RGB", "RGB"), ("RGBA", "RGB"), ("RGB", "P"), ("L", "RGB"), ("RGB", "RGB"),
                    ("RGB", "RGBA")]


def make_winoground(root):
    folder = root / "winoground"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (c0, c1, tag, secondary, preds, collapsed) in enumerate(WINOGROUND_EXAMPLES):
        for j in range(2):
            picture(100 * i + j, (40 + 4 * i, 32 + 3 * j), WINOGROUND_MODES[i][j]).save(
                folder / "images" / f"ex_{i}_img_{j}.png")
        lines.append(json.dumps({"id": i, "image_0": f"ex_{i}_img_0", "image_1": f"ex_{i}_img_1",
                                 "caption_0": c0, "caption_1": c1, "tag": tag,
                                 "secondary_tag": secondary, "num_main_preds": preds,
                                 "collapsed_tag": collapsed}))
    (folder / "examples.jsonl").write_text("\n".join(lines) + "\n")


def make_generic(root):
    vg = root / "vg"
    vg.mkdir(parents=True, exist_ok=True)
    for i in range(1, 5):
        # JPEGs as Visual Genome's, with Pillow's default 4:2:0 subsampling.
        picture(500 + i, (48 + 6 * i, 40), "RGB").save(vg / f"{i}.jpg", quality=75)
    (root / "crepe").mkdir(exist_ok=True)
    with open(root / "crepe" / "prod_vg_hard_negs_swap_complexity_4.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_id", "x", "y", "width", "height", "caption", "hard_negs"])
        writer.writerow([1, 2, 3, 30, 25, "a man riding a brown horse",
                         str(["a horse riding a brown man", "a brown man riding a horse"])])
        writer.writerow([2, 0, 0, 40, 40, "a cup on a wooden table",
                         str(["a table on a wooden cup", "a wooden cup on a table",
                              "a cup under a wooden table"])])
        writer.writerow([3, 10, 5, 50, 38, "a white cat next to a black dog",
                         str(["a black cat next to a white dog"])])
    (root / "vl_checklist").mkdir(exist_ok=True)
    (root / "vl_checklist" / "color.json").write_text(json.dumps([
        ["1.jpg", {"POS": ["the shirt is red"], "NEG": ["the shirt is green"]}],
        ["2.jpg", {"POS": ["a yellow cup", "a cup"], "NEG": ["a blue cup", "a pink cup"]}],
        ["4.jpg", {"POS": ["a white sky"], "NEG": ["a black sky"]}],
    ]))
    out = root / "generic"
    out.mkdir(exist_ok=True)
    subprocess.run([sys.executable, SCRIPTS / "convert_crepe.py",
                    "--csv", root / "crepe" / "prod_vg_hard_negs_swap_complexity_4.csv",
                    "--images", vg, "--out", out / "crepe.jsonl"], check=True)
    subprocess.run([sys.executable, SCRIPTS / "convert_vl_checklist.py",
                    "--json", root / "vl_checklist" / "color.json", "--img-root", vg,
                    "--category", "Attribute/color", "--out", out / "vl_checklist.jsonl"],
                   check=True)
    # Written by hand: one Winoground-shaped pair, a one-image item with two true captions,
    # and a 2-image, 3-caption item with a caption true of both images.
    mixed = [
        {"images": ["../vg/1.jpg", "../vg/2.jpg"],
         "captions": ["a man riding a horse", "a cup on a table"], "true": [[0], [1]],
         "id": "pair", "tags": {"shape": "2x2"}},
        {"images": ["../vg/3.jpg"], "boxes": [[4, 4, 20, 20]],
         "captions": ["a cat next to a dog", "a dog next to a cat", "a car on a road"],
         "true": [[0, 1]], "tags": {"shape": "1x3"}},
        {"images": ["../vg/2.jpg", "../vg/4.jpg"],
         "captions": ["a photo", "a cup on a table", "the sky above a field"],
         "true": [[0, 1], [0, 2]], "tags": {"shape": "2x3"}},
    ]
    (out / "mixed.jsonl").write_text("".join(json.dumps(m) + "\n" for m in mixed))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make-fixtures", help="write the Winoground and generic fixtures")
    mk.add_argument("--compositional", default=ROOT / "tests/fixtures/compositional", type=Path)
    mk.add_argument("--generic", default=ROOT / "tests/fixtures/generic", type=Path)
    for name in ("winoground", "generic"):
        p = sub.add_parser(name, help=f"reference scores of the {name} fixture")
        p.add_argument("--data-root", required=True)
        p.add_argument("--model", required=True)
        p.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.cmd == "make-fixtures":
        make_winoground(args.compositional)
        make_generic(args.generic)
        return
    result = (winoground if args.cmd == "winoground" else generic)(args.data_root, args.model)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
