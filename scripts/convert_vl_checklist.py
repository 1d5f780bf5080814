#!/usr/bin/env python3
"""Convert a VL-CheckList annotation file into negclip's generic format (docs/evaluation.md).

VL-CheckList (Zhao et al., 2022; github.com/om-ai-lab/VL-CheckList) keeps each category's
data as a JSON list of `[image path, {"POS": [captions], "NEG": [captions]}]` pairs (the
`ANNO_PATH` of a corpus YAML file such as corpus/v1/Attribute/color/vg.yaml), image paths
relative to the corpus's `IMG_ROOT`. Its image-text contrastive evaluation
(vl_checklist/evaluate.py, task "itc") scores each image with POS[0] and NEG[0] and counts it
right when POS[0] scores higher; entries whose image is missing are skipped
(vl_checklist/data_loader.py).

Each entry becomes one generic item: the image, captions [POS[0], NEG[0]], `true: [[0]]`, and
the category as the tag `category`. Image paths are written relative to the output file.

  python scripts/convert_vl_checklist.py --json vl-checklist/data/Attribute/vg/color.json \\
      --img-root /data/vg --category Attribute/color --out data/generic/vlc_color.jsonl
  negclip eval --checkpoint C --suite generic --data-root data     # every data/generic/*.jsonl
"""
import argparse
import json
import os
from pathlib import Path


def convert(json_path, img_root, category, out, keep_missing):
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    entries = json.loads(Path(json_path).read_text())
    lines, missing = [], 0
    for index, (path, texts) in enumerate(entries):
        image = Path(img_root) / path
        if not image.exists() and not keep_missing:
            missing += 1
            continue
        lines.append({
            "id": f"{Path(json_path).stem}:{index}",
            "images": [os.path.relpath(image, out.parent)],
            "captions": [texts["POS"][0], texts["NEG"][0]],
            "true": [[0]],
            "tags": {"category": category},
        })
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return len(lines), missing


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, help="a VL-CheckList annotation file")
    ap.add_argument("--img-root", required=True, help="the corpus's IMG_ROOT")
    ap.add_argument("--category", required=True, help="the tag, e.g. Attribute/color")
    ap.add_argument("--out", required=True, help="the generic JSONL file to write")
    ap.add_argument("--keep-missing", action="store_true",
                    help="keep entries whose image is missing (VL-CheckList skips them)")
    args = ap.parse_args()
    n, missing = convert(args.json, args.img_root, args.category, args.out, args.keep_missing)
    print(f"{args.out}: {n} items, {missing} skipped for a missing image")


if __name__ == "__main__":
    main()
