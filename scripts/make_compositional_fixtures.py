#!/usr/bin/env python3
"""Writes the VALSE and SugarCrepe++ test fixtures under tests/fixtures/compositional/.

The folder is a data root in negclip's default layout (docs/evaluation.md), holding each
benchmark's files in its released format, so the loaders are tested end to end:

- valse/<piece>.json, the eleven pieces of github.com/Heidelberg-NLP/VALSE `data/`: an object
  keyed by item id of {dataset, original_split, dataset_idx, linguistic_phenomena, image_file,
  caption, classes, classes_foil, mturk: {foil, caption, other}, foil}. Each piece has valid
  foils (2 or 3 caption votes) and one that VALSE's filter drops (fewer than 2); `plurals` has a
  valid foil equal to its caption (a tie, which VALSE's strict `>` counts wrong).
- sugarcrepe++/<subset>.json, the five files of github.com/Sri-Harsha/scpp `data/`: a list of
  {id, filename, caption, caption2, negative_caption}. One item's negative equals its caption
  (an ITT tie) and one item's two positives are equal.
- images, coloured blocks drawn from seeds, as JPEGs (4:2:0, Pillow's default, as the photos
  are) under each source dataset's folder: valse/images/{visual7w,swig,visdial,foilit is
  coco/val2014}, coco/val2017 (VALSE plurals and relations, SugarCrepe++). The VisDial
  coreference images named COCO_train2014_* sit in valse/images/visdial/train2014/, as the
  COCO download unpacks them.

Every caption is generated (no benchmark text is copied). Deterministic: fixed seeds.

Usage: python scripts/make_compositional_fixtures.py [--out DIR]
"""
import argparse
import json
import random
from pathlib import Path

from make_aro_fixtures import blocks, save

ROOT = Path(__file__).resolve().parent.parent

# (piece, source dataset as the piece's rows name it, image folder under the root, file name
# pattern of its images)
PIECES = [
    ("existence", "visual7w", "valse/images/visual7w", "v7w_{n}.jpg"),
    ("plurals", "coco2017", "coco/val2017", "{n:012d}.jpg"),
    ("counting-hard", "visual7w", "valse/images/visual7w", "v7w_{n}.jpg"),
    ("counting-small-quant", "visual7w", "valse/images/visual7w", "v7w_{n}.jpg"),
    ("counting-adversarial", "visual7w", "valse/images/visual7w", "v7w_{n}.jpg"),
    ("relations", "coco_2017", "coco/val2017", "{n:012d}.jpg"),
    ("action-replacement", "SWiG", "valse/images/swig", "jumping_{n}.jpg"),
    ("actant-swap", "SWiG", "valse/images/swig", "jumping_{n}.jpg"),
    ("coreference-standard", "VisDial_v1.0", "valse/images/visdial/train2014",
     "COCO_train2014_{n:012d}.jpg"),
    ("coreference-hard", "VisDial_v1.0", "valse/images/visdial",
     "VisualDialog_val2018_{n:012d}.jpg"),
    ("foil-it", "FOIL dataset", "coco/val2014", "COCO_val2014_{n:012d}.jpg"),
]
# Three annotators' votes by the number who chose the caption and not the foil.
VOTES = {3: {"foil": 0, "caption": 3, "other": 0}, 2: {"foil": 1, "caption": 2, "other": 0},
         1: {"foil": 1, "caption": 1, "other": 1}}
SCPP_SUBSETS = ["replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj"]

SUBJECTS = ["a man", "a woman", "two dogs", "a red bus", "three birds", "a small cat",
            "the green truck", "a child"]
VERBS = ["rides", "sits near", "looks at", "stands on", "holds", "jumps over"]
PLACES = ["in a kitchen", "on the beach", "at night", "near a lake", "in the snow"]


def sentence(rng):
    return f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} " \
           f"{rng.choice(SUBJECTS)} {rng.choice(PLACES)}."


def write_json(obj, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=4) + "\n")


def valse(out):
    """Three rows per piece, keys deliberately not in sorted order in the file."""
    drawn = set()
    for p, (piece, dataset, folder, pattern) in enumerate(PIECES):
        rng = random.Random(1000 + p)
        rows = {}
        for i, votes in enumerate([3, 1, 2]):
            n = 100 + 7 * p + i
            image = pattern.format(n=n)
            if (folder, image) not in drawn:
                save(blocks((48, 40), n), out / folder / image)
                drawn.add((folder, image))
            caption = sentence(rng)
            foil = caption if (piece == "plurals" and i == 2) else sentence(rng)
            key = f"{piece}_{dataset}_{9 - i}"
            rows[key] = {
                "dataset": dataset,
                "original_split": "test",
                "dataset_idx": str(n),
                "linguistic_phenomena": piece,
                "image_file": image,
                "caption": caption,
                "classes": caption.split()[1],
                "classes_foil": foil.split()[1],
                "mturk": VOTES[votes],
                "foil": foil,
            }
        write_json(rows, out / "valse" / f"{piece}.json")


def sugarcrepe_pp(out):
    for k in range(6):
        save(blocks((48, 40), 700 + k), out / "coco" / "val2017" / f"{700 + k:012d}.jpg")
    for s, subset in enumerate(SCPP_SUBSETS):
        rng = random.Random(2000 + s)
        rows = []
        for i in range(4):
            caption = sentence(rng)
            caption2 = caption if (s == 1 and i == 0) else sentence(rng)
            negative = caption if (s == 2 and i == 1) else sentence(rng)
            rows.append({"id": i, "filename": f"{700 + (s + i) % 6:012d}.jpg",
                         "caption": caption, "caption2": caption2,
                         "negative_caption": negative})
        write_json(rows, out / "sugarcrepe++" / f"{subset}.json")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "compositional"))
    args = ap.parse_args()
    out = Path(args.out)
    valse(out)
    sugarcrepe_pp(out)
    print(f"wrote fixtures under {out}")


if __name__ == "__main__":
    main()
