"""Write a folder of photo-like JPEGs at COCO's sizes and a training table over them, the input
of `negclip bench data` where no COCO is at hand.

Decode time depends on how much entropy-coded data a JPEG holds, so the images are made to
compress like photographs: smooth shading, a few soft-edged shapes, fine texture and sensor
noise, saved by Pillow at quality 90 with 4:2:0 chroma (Pillow's default; most of COCO is
4:2:0 too). They come out at about the size of COCO train2014's files (13 GB over 82 783
images, ~160 KB each); the script prints the mean. Sizes are drawn from COCO's most common
ones (640x480, 640x427, 480x640, 500x375, 640x426).

Deterministic (seeded). Nothing is committed; write into /tmp:
    python scripts/make_jpeg_table.py --out /tmp/negclip-jpegs --images 500
    negclip bench data --table /tmp/negclip-jpegs/table.jsonl --image-root /tmp/negclip-jpegs
"""

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

SIZES = [(640, 480), (640, 427), (480, 640), (500, 375), (640, 426)]
COLOURS = ["red", "blue", "green", "white", "black", "brown", "yellow", "grey"]
THINGS = ["dog", "cat", "bus", "table", "horse", "man", "woman", "car", "kite", "bench"]
RELATIONS = ["next to", "on", "behind", "in front of", "under", "near"]


def photo_like(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    # Shading: a random linear gradient per channel.
    img = np.stack(
        [rng.uniform(40, 200) + rng.uniform(-80, 80) * (x / w) + rng.uniform(-80, 80) * (y / h) for _ in range(3)],
        -1,
    )
    # Soft-edged ellipses: the objects.
    for _ in range(rng.integers(3, 8)):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(w / 12, w / 3), rng.uniform(h / 12, h / 3)
        inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
        mask = np.clip(1.5 - inside, 0, 1)[..., None]
        img = img * (1 - mask) + rng.uniform(0, 255, 3) * mask
    # Texture: a few oriented gratings of random frequency (fur, grass, brick).
    for _ in range(3):
        fx, fy = rng.uniform(0.05, 0.6, 2)
        img += rng.uniform(6, 20) * np.sin(fx * x + fy * y + rng.uniform(0, 6.3))[..., None]
    # Detail at a few pixels' scale (leaves, gravel, print), then sensor noise.
    detail = rng.normal(0, 48, (h // 3, w // 3, 3)).astype(np.float32)
    for c in range(3):
        img[..., c] += np.asarray(Image.fromarray(detail[..., c]).resize((w, h), Image.BICUBIC))
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def caption(rng: np.random.Generator) -> tuple[str, str]:
    a, b = rng.choice(THINGS, 2, replace=False)
    ca, cb = rng.choice(COLOURS, 2, replace=False)
    rel = rng.choice(RELATIONS)
    return f"a {ca} {a} {rel} a {cb} {b}", f"a {cb} {b} {rel} a {ca} {a}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for the images and table.jsonl")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--quality", type=int, default=90)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, total = [], 0
    for i in range(args.images):
        w, h = SIZES[rng.integers(len(SIZES))]
        name = f"{i:06d}.jpg"
        path = args.out / name
        Image.fromarray(photo_like(rng, w, h)).save(path, quality=args.quality)
        total += path.stat().st_size
        text, swapped = caption(rng)
        rows.append({"image": name, "caption": text, "negatives": [{"text": swapped, "kind": "swap-relation"}], "neg_images": []})
    table = args.out / "table.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{args.images} JPEGs (quality {args.quality}), mean {total / args.images / 1024:.0f} KiB; table {table}")


if __name__ == "__main__":
    main()
