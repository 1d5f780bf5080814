#!/usr/bin/env python3
"""Reference scores for SugarCrepe++ on a data root, computed as its authors' code does.

A line-for-line reading of github.com/Sri-Harsha/scpp `VLMs/test_Variants_CLIP.py` (the
open_clip models; `test_NegCLIP.py` scores the same way), run on a real (tiny) open_clip CLIP
through `aro_reference.ClipScorer` (PIL open -> RGB -> open_clip's eval transform;
open_clip.tokenize):

    for line in data:
        p1 = line['caption']; neg = line['negative_caption']; p2 = line['caption2']
        image = Image.open(os.path.join(img_path, line['filename']))
        img_feats = model.encode_image(transform(image)..., normalize=True)
        p1_feats, p2_feats, neg_feats = model.encode_text(tokenizer(.), normalize=True)
        cos = nn.CosineSimilarity(dim=1, eps=1e-6)
        cos_p1, cos_p2, cos_neg = cos(img, p1), cos(img, p2), cos(img, neg)
        cos_p1p2, cos_p1_neg, cos_p2_neg = cos(p1, p2), cos(p1, neg), cos(p2, neg)
        if cos_p1 > cos_neg and cos_p2 > cos_neg: correct_full += 1      # ITT
        if cos_p1p2 > cos_p1_neg and cos_p1p2 > cos_p2_neg: correct_text += 1   # TOT
    ITT = correct_full / total; TOT = correct_text / total

Images are read from the data root's `coco/val2017/` (SugarCrepe++'s COCO 2017 val images),
the files from `sugarcrepe++/<subset>.json`. Per category ("replace": replace_att, replace_obj,
replace_rel; "swap": swap_att, swap_obj) and overall ("sugarcrepe++", the five subsets), the
means of the subsets' ITT and TOT.

  python scripts/sugarcrepe_pp_reference.py --data-root tests/fixtures/compositional \
      --model tests/fixtures/model/open_clip_full_vocab \
      --out tests/fixtures/compositional/sugarcrepe_pp_expected.json

Output per subset (`sugarcrepe++/<subset>`): per item the image cosines [p1, p2, neg], the text
cosines [p1p2, p1_neg, p2_neg] (float64 dot products of the normalised embeddings, for the
1e-6 comparison), the ITT and TOT decisions (the authors' float32 torch cosines), ITT, TOT.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aro_reference import ClipScorer

SUBSETS = ["replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj"]
CATEGORIES = {"replace": ["replace_att", "replace_obj", "replace_rel"],
              "swap": ["swap_att", "swap_obj"]}


def score_subset(root, subset, scorer):
    with open(Path(root) / "sugarcrepe++" / f"{subset}.json") as f:
        data = json.load(f)
    cos = nn.CosineSimilarity(dim=1, eps=1e-6)
    total = correct_full = correct_text = 0
    out = {"image_cosines": [], "text_cosines": [], "itt_items": [], "tot_items": []}
    for line in data:
        p1, neg, p2 = line["caption"], line["negative_caption"], line["caption2"]
        ipath = Path(root) / "coco" / "val2017" / line["filename"]
        img_feats = torch.from_numpy(scorer.images([(ipath, None)]))
        p1_feats, p2_feats, neg_feats = (torch.from_numpy(t)[None]
                                         for t in scorer.texts([p1, p2, neg]))
        cos_p1, cos_p2, cos_neg = cos(img_feats, p1_feats), cos(img_feats, p2_feats), \
            cos(img_feats, neg_feats)
        cos_p1p2, cos_p1_neg, cos_p2_neg = cos(p1_feats, p2_feats), cos(p1_feats, neg_feats), \
            cos(p2_feats, neg_feats)
        total += 1
        itt = bool(cos_p1 > cos_neg and cos_p2 > cos_neg)
        tot = bool(cos_p1p2 > cos_p1_neg and cos_p1p2 > cos_p2_neg)
        correct_full += itt
        correct_text += tot
        d = lambda a, b: float(a[0].double() @ b[0].double())  # noqa: E731
        out["image_cosines"].append([d(img_feats, p1_feats), d(img_feats, p2_feats),
                                     d(img_feats, neg_feats)])
        out["text_cosines"].append([d(p1_feats, p2_feats), d(p1_feats, neg_feats),
                                    d(p2_feats, neg_feats)])
        out["itt_items"].append(itt)
        out["tot_items"].append(tot)
    out["itt"] = correct_full / total
    out["tot"] = correct_text / total
    out["items"] = total
    margins = [abs(a - b) for row in out["image_cosines"] for a, b in [(row[0], row[2]),
               (row[1], row[2])] if a != b]
    margins += [abs(row[0] - x) for row in out["text_cosines"] for x in row[1:] if row[0] != x]
    out["min_abs_margin"] = min(margins, default=0.0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    scorer = ClipScorer(args.model)
    suites = {f"sugarcrepe++/{s}": score_subset(args.data_root, s, scorer) for s in SUBSETS}
    for name, r in suites.items():
        print(f"{name:28} ITT {r['itt']:.3f} TOT {r['tot']:.3f} "
              f"min |margin| {r['min_abs_margin']:.2e}")
    means = {}
    for name, members in [(f"sugarcrepe++/{c}", m) for c, m in CATEGORIES.items()] + \
            [("sugarcrepe++", SUBSETS)]:
        rows = [suites[f"sugarcrepe++/{m}"] for m in members]
        means[name] = {"itt": float(np.mean([r["itt"] for r in rows])),
                       "tot": float(np.mean([r["tot"] for r in rows])), "subsets": len(rows)}
    Path(args.out).write_text(json.dumps({"model": args.model, "suites": suites,
                                          "means": means}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
