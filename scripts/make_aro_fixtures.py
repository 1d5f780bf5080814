#!/usr/bin/env python3
"""Writes the ARO / SugarCrepe / Karpathy test fixtures under tests/fixtures/aro/.

The folder is laid out like a real data root (see docs/evaluation.md), so the
loaders are tested end to end. Deterministic: fixed seeds, images drawn as
coloured blocks. VG-Relation rows are 30 real rows copied from
../shared/aro-sample/visual_genome_relation.sample.json (needed only to
regenerate; the chosen rows are committed). Everything else is generated.

Usage: python scripts/make_aro_fixtures.py [--sample PATH] [--out DIR]
"""
import argparse
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT.parent / "shared" / "aro-sample" / "visual_genome_relation.sample.json"

# Which real VG-Relation rows to keep: one group large enough for the >= 25 filter,
# two small kept groups and one excluded ("with").
VGR_PLAN = {"to the left of": 26, "on": 2, "wearing": 1, "with": 1}


def blocks(size, seed):
    """A background colour and three rectangles, all from `seed`."""
    rng = random.Random(seed)
    w, h = size
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x0, y0 = rng.randrange(w // 2), rng.randrange(h // 2)
        x1, y1 = x0 + rng.randrange(1, w // 2), y0 + rng.randrange(1, h // 2)
        draw.rectangle([x0, y0, x1, y1], fill=tuple(rng.randrange(256) for _ in range(3)))
    return img


def save(img, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        # 4:2:0 chroma subsampling, Pillow's default and what COCO / Visual Genome photos
        # use: negclip decodes with libjpeg-turbo as Pillow does (ISLOW, fancy upsampling),
        # so the reference check holds on the chroma-upsampling path too.
        img.save(path, format="JPEG", quality=50, subsampling=2)
    else:
        img.save(path, format="PNG", optimize=True)


def write_json(obj, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1) + "\n")


def vg_relation(sample_path, out):
    rows = json.loads(Path(sample_path).read_text())
    kept, left = [], dict(VGR_PLAN)
    for row in rows:
        if left.get(row["relation_name"], 0) > 0:
            kept.append(row)
            left[row["relation_name"]] -= 1
    assert not any(left.values()), f"sample lacks rows: {left}"
    # Each image is just large enough to hold every crop box of its rows.
    extent = {}
    for row in kept:
        w, h = extent.get(row["image_path"], (1, 1))
        extent[row["image_path"]] = (max(w, row["bbox_x"] + row["bbox_w"]),
                                     max(h, row["bbox_y"] + row["bbox_h"]))
    for i, (name, size) in enumerate(sorted(extent.items())):
        save(blocks(size, 100 + i), out / "aro" / "images" / name)
    # Same separators as the original file.
    text = json.dumps(kept, separators=(", ", ": "))
    (out / "aro").mkdir(parents=True, exist_ok=True)
    (out / "aro" / "visual_genome_relation.json").write_text(text)


def vg_attribution(out):
    rng = random.Random(7)
    plan = [(("white", "black"), 26), (("wooden", "metal"), 3), (("small", "large"), 2)]
    nouns = ["dog", "cat", "table", "chair", "car", "sign"]
    rows, n = [], 0
    for (a, b), count in plan:
        for _ in range(count):
            # PNG (lossless); VG-Relation's JPEGs cover the JPEG path of the reference
            # check (aro_reference.py clip-scores).
            image = f"{2500000 + n % 6}.png"
            x, y = rng.randrange(20), rng.randrange(16)
            o1, o2 = rng.sample(nouns, 2)
            rows.append({
                "image_id": image[:-4], "image_path": image,
                "bbox_x": x, "bbox_y": y,
                "bbox_w": rng.randrange(8, 48 - x + 1), "bbox_h": rng.randrange(8, 40 - y + 1),
                "true_caption": f"the {a} {o1} and the {b} {o2}",
                "false_caption": f"the {b} {o1} and the {a} {o2}",
                "attributes": [a, b], "obj1_name": o1, "obj2_name": o2,
            })
            n += 1
    for k in range(6):
        save(blocks((48, 40), 200 + k), out / "aro" / "images" / f"{2500000 + k}.png")
    write_json(rows, out / "aro" / "visual_genome_attribution.json")


def karpathy(out, dataset, n_test):
    words = ["a man", "a woman", "two dogs", "a red bus", "the kitchen", "a bird"]
    verbs = ["rides", "sits near", "looks at", "stands on", "holds"]
    rng = random.Random(11 if dataset == "coco" else 13)
    images = []
    splits = ["test"] * n_test + ["train", "val"]
    for i, split in enumerate(splits):
        filename = (f"COCO_val2014_{i + 1:012d}.png" if dataset == "coco" else f"{1000 + i}.png")
        entry = {"filename": filename, "split": split, "imgid": i,
                 "sentences": [{"raw": f"{rng.choice(words).capitalize()} {rng.choice(verbs)} "
                                       f"{rng.choice(words)}." + (" (Outdoors!)" if k else ""),
                                "tokens": [], "imgid": i, "sentid": 2 * i + k}
                               for k in range(2)]}
        if dataset == "coco":
            entry["filepath"] = "val2014"
            path = out / "coco" / "val2014" / filename
        else:
            path = out / "flickr30k" / "images" / filename
        images.append(entry)
        if split == "test":
            save(blocks((48, 40), (300 if dataset == "coco" else 400) + i), path)
    target = (out / "coco" / "dataset_coco.json" if dataset == "coco"
              else out / "flickr30k" / "dataset_flickr30k.json")
    write_json({"images": images, "dataset": dataset}, target)


def sugarcrepe(out):
    subsets = ["add_att", "add_obj", "replace_att", "replace_obj", "replace_rel",
               "swap_att", "swap_obj"]
    for k in range(5):
        save(blocks((48, 40), 500 + k), out / "coco" / "val2017" / f"{k + 1:012d}.png")
    for s, subset in enumerate(subsets):
        rows = {str(i): {"filename": f"{(s + i) % 5 + 1:012d}.png",
                         "caption": f"a {subset} caption number {i}",
                         "negative_caption": f"a {subset} negative number {i}"}
                for i in range(3)}
        write_json(rows, out / "sugarcrepe" / f"{subset}.json")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", default=str(SAMPLE))
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "aro"))
    args = ap.parse_args()
    out = Path(args.out)
    vg_relation(args.sample, out)
    vg_attribution(out)
    karpathy(out, "coco", 10)
    karpathy(out, "flickr30k", 10)
    sugarcrepe(out)
    print(f"wrote fixtures under {out}")


if __name__ == "__main__":
    main()
