#!/usr/bin/env python3
"""Reference scores for VALSE on a data root, read the way VALSE's own evaluation reads it.

A line-for-line reading of the pairwise part of github.com/Heidelberg-NLP/VALSE
`lxmert_valse_eval.py` (with `read_foil_dataset.read_foils` for the files), with CLIP's cosine
in place of LXMERT's image-text matching score, as the VALSE paper evaluates CLIP:

    for foil_id, foil in foils_data.items():
        caption_fits = foil['mturk']['caption']
        if caption_fits >= 2:                      # valid examples only
            test_sentences = [foil["caption"], foil["foil"]]
            ...
            if score(caption) > score(foil):       # cross_score[0, 1] > cross_score[1, 1]
                pairwise_acc += 1
            count += 1
    pairwise accuracy acc_r = pairwise_acc / count

The image of a row is `<root of its dataset>/<image_file>`, the roots being negclip's default
layout (docs/evaluation.md; VALSE's own `config.py` keeps one folder per piece instead), with
the VisDial COCO images in the `train2014/` or `val2014/` subfolder of the VisDial root when not
directly in it. The model is a real (tiny) open_clip CLIP run by `aro_reference.ClipScorer`
(PIL open -> RGB -> open_clip's eval transform; open_clip.tokenize); scores are cosines of
the normalised embeddings in float64. "valse" is the mean of the pieces' accuracies (the
paper's "Avg." column).

  python scripts/valse_reference.py --data-root tests/fixtures/compositional \
      --model tests/fixtures/model/open_clip_full_vocab \
      --out tests/fixtures/compositional/valse_expected.json

Output: per piece (`valse/<piece>`): the valid items' ids in sorted key order (negclip's item
order), their [foil, caption] scores, per-item correctness, accuracy, count; and "valse".
"""
import argparse
import json
from pathlib import Path

import numpy as np

from aro_reference import ClipScorer

PIECES = ["existence", "plurals", "counting-hard", "counting-small-quant",
          "counting-adversarial", "relations", "action-replacement", "actant-swap",
          "coreference-standard", "coreference-hard", "foil-it"]
# A row's `dataset` -> its image folder under the data root (negclip's default layout).
IMAGE_ROOTS = {"visual7w": "valse/images/visual7w", "coco2017": "coco/val2017",
               "coco_2017": "coco/val2017", "SWiG": "valse/images/swig",
               "VisDial_v1.0": "valse/images/visdial", "FOIL dataset": "coco/val2014"}


def image_path(root, foil):
    folder = Path(root) / IMAGE_ROOTS[foil["dataset"]]
    direct = folder / foil["image_file"]
    for prefix, sub in [("COCO_train2014_", "train2014"), ("COCO_val2014_", "val2014"),
                        ("VisualDialog_val2018_", "VisualDialog_val2018")]:
        if not direct.is_file() and foil["image_file"].startswith(prefix):
            return folder / sub / foil["image_file"]
    return direct


def score_piece(root, piece, scorer):
    with open(Path(root) / "valse" / f"{piece}.json") as json_file:
        foils_data = json.load(json_file)
    ids, scores, items = [], [], []
    count, pairwise_acc = 0, 0
    for foil_id in sorted(foils_data):  # negclip's item order; the count is order-free
        foil = foils_data[foil_id]
        caption_fits = foil["mturk"]["caption"]
        if caption_fits >= 2:  # valid examples only (validated by mturkers)
            test_sentences = [foil["caption"], foil["foil"]]
            image = scorer.images([(image_path(root, foil), None)])[0].astype(np.float64)
            text = scorer.texts(test_sentences).astype(np.float64)
            caption_score, foil_score = float(text[0] @ image), float(text[1] @ image)
            correct = caption_score > foil_score
            if correct:
                pairwise_acc += 1
            count += 1
            ids.append(foil_id)
            scores.append([foil_score, caption_score])
            items.append(bool(correct))
    margins = [abs(c - f) for f, c in scores if c != f]
    return {"ids": ids, "scores": scores, "items": items, "count": count,
            "rows": len(foils_data), "accuracy": pairwise_acc / count,
            "exact_ties": sum(c == f for f, c in scores),
            "min_abs_margin": min(margins, default=0.0)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    scorer = ClipScorer(args.model)
    result = {f"valse/{piece}": score_piece(args.data_root, piece, scorer) for piece in PIECES}
    for name, r in result.items():
        print(f"{name:30} {r['count']}/{r['rows']} valid, accuracy {r['accuracy']:.3f}, "
              f"min |margin| {r['min_abs_margin']:.2e}, exact ties {r['exact_ties']}")
    result["valse"] = {"accuracy": float(np.mean([r["accuracy"] for r in result.values()])),
                       "pieces": len(PIECES)}
    Path(args.out).write_text(json.dumps({"model": args.model, "suites": result}, indent=1)
                              + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
