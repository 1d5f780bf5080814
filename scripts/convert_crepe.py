#!/usr/bin/env python3
"""Convert a CREPE hard-negative CSV into negclip's generic format (docs/evaluation.md).

CREPE (Ma et al., CVPR 2023; github.com/RAIVNLab/CREPE) releases its systematicity and
productivity sets as CSV files, one row per Visual Genome region: `image_id`, the region box
`x`, `y`, `width`, `height`, the `caption`, and its hard negatives as a Python list literal in
`hard_negs` (productivity) or `valid_hard_negs_atom` / `valid_hard_negs_comp` (systematicity).
Its evaluation (crepe_eval_utils.py, evaluate/data.py) opens `<VG folder>/<image_id>.jpg`,
crops it with `TF.crop(image, y, x, height, width)` and ranks [caption] + hard negatives; a row
is right when the caption ranks first (recall@1).

Each row becomes one generic item: the image with its box, the captions [caption, *negatives]
and `true: [[0]]` (the caption above every negative, strictly). Image paths are written
relative to the output file, so the JSONL and the images can move together.

  python scripts/convert_crepe.py --csv prod_vg_hard_negs_swap_complexity_4.csv \\
      --images /data/vg/images --out data/generic/crepe_swap_4.jsonl
  negclip eval --checkpoint C --suite generic --data generic:crepe_swap_4=data/generic/crepe_swap_4.jsonl
"""
import argparse
import ast
import csv
import json
import os
from pathlib import Path


def convert(csv_path, images, out, hard_neg_key):
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    with open(csv_path, newline="") as f:
        for number, row in enumerate(csv.DictReader(f), start=2):
            if hard_neg_key not in row:
                raise SystemExit(f"{csv_path}: no column {hard_neg_key!r} (line {number})")
            negatives = list(ast.literal_eval(row[hard_neg_key]))
            box = [int(float(row[k])) for k in ("x", "y", "width", "height")]
            image = Path(images) / f"{row['image_id']}.jpg"
            lines.append({
                "id": f"{Path(csv_path).stem}:{number}",
                "images": [os.path.relpath(image, out.parent)],
                "boxes": [box],
                "captions": [str(row["caption"])] + [str(n) for n in negatives],
                "true": [[0]],
                "tags": {"source": Path(csv_path).stem},
            })
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return len(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", required=True, help="a CREPE hard-negative CSV file")
    ap.add_argument("--images", required=True, help="the folder of Visual Genome's <id>.jpg")
    ap.add_argument("--out", required=True, help="the generic JSONL file to write")
    ap.add_argument("--hard-neg-key", default="hard_negs",
                    help="the negatives' column: hard_negs (productivity), "
                         "valid_hard_negs_atom or valid_hard_negs_comp (systematicity)")
    args = ap.parse_args()
    n = convert(args.csv, args.images, args.out, args.hard_neg_key)
    print(f"{args.out}: {n} items")


if __name__ == "__main__":
    main()
