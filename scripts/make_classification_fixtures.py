#!/usr/bin/env python3
"""Write the zero-shot classification fixture, tests/fixtures/classification/:

  images/<attribute>_<object>/<NN>.png  an ImageFolder tree: 6 classes x 6 images, each
                                       40x32 (width x height, non-square on purpose), one
                                       coloured shape at a random position and size on a
                                       noisy gray background
  ood/<NN>.png                         12 images of none of the classes (purple crosses,
                                       white diamonds, orange rings, blocky colour noise),
                                       same size
  templates.txt                        3 prompt templates, `{}` = class display name
  seen.txt                             the compositions seen in training (display names)
  labels.csv, labels.jsonl             path (relative to the fixture folder), label (class
                                       folder name) of every image under images/, in item
                                       order (class folders sorted by name, then file names)

  python3 scripts/make_classification_fixtures.py [--out tests/fixtures/classification]

Deterministic: one seeded numpy Generator draws everything in a fixed order and the PNGs are
written by PIL without metadata, so a rerun writes identical bytes (with the same numpy and
Pillow versions; scripts/requirements.txt pins them).
"""
import argparse
import csv
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
W, H = 40, 32
PER_CLASS = 6
SEED = 20240611
COLOURS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 180, 50),
           "yellow": (235, 220, 40), "purple": (150, 40, 190), "white": (250, 250, 250),
           "orange": (245, 140, 20)}
CLASSES = ["red_circle", "red_square", "blue_circle", "blue_square", "green_triangle",
           "yellow_triangle"]
OOD = ["purple_cross"] * 4 + ["white_diamond"] * 3 + ["orange_ring"] * 2 + ["noise"] * 3
TEMPLATES = ["a {}", "a photo of a {}.", "there is a {}"]
SEEN = ["red circle", "blue square", "green triangle", "yellow triangle"]


def background(rng):
    gray = int(rng.integers(100, 156))
    # Noise in steps of 8 gray levels on 2x2-pixel cells keeps the PNGs small (the fixture
    # is committed).
    noise = 8 * np.rint(rng.normal(0.0, 1.5, size=(H // 2, W // 2, 1)))
    noise = np.repeat(np.repeat(noise, 2, axis=0), 2, axis=1)
    pixels = np.clip(gray + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(pixels, 3, axis=2), "RGB")


def jitter(rng, rgb):
    return tuple(int(np.clip(c + rng.integers(-15, 16), 0, 255)) for c in rgb)


def draw_shape(rng, image, shape, rgb):
    size = int(rng.integers(12, 25))  # bounding box side, pixels
    x0 = int(rng.integers(0, W - size + 1))
    y0 = int(rng.integers(0, H - size + 1))
    x1, y1 = x0 + size - 1, y0 + size - 1
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    fill = jitter(rng, rgb)
    d = ImageDraw.Draw(image)
    if shape == "circle":
        d.ellipse([x0, y0, x1, y1], fill=fill)
    elif shape == "square":
        d.rectangle([x0, y0, x1, y1], fill=fill)
    elif shape == "triangle":
        d.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fill)
    elif shape == "diamond":
        d.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)
    elif shape == "cross":
        t = max(3, size // 4)
        d.rectangle([cx - t / 2, y0, cx + t / 2, y1], fill=fill)
        d.rectangle([x0, cy - t / 2, x1, cy + t / 2], fill=fill)
    elif shape == "ring":
        d.ellipse([x0, y0, x1, y1], outline=fill, width=max(2, size // 5))
    else:
        raise ValueError(shape)


def png_bytes(image):
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def make(out):
    rng = np.random.default_rng(SEED)
    out = Path(out)
    rows = []
    for key in CLASSES:
        colour, shape = key.split("_")
        folder = out / "images" / key
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(PER_CLASS):
            image = background(rng)
            draw_shape(rng, image, shape, COLOURS[colour])
            (folder / f"{n:02}.png").write_bytes(png_bytes(image))
            rows.append((f"images/{key}/{n:02}.png", key))
    (out / "ood").mkdir(parents=True, exist_ok=True)
    for n, kind in enumerate(OOD):
        if kind == "noise":
            # Blocky colour noise: random 4x4-pixel cells.
            cells = rng.integers(0, 256, size=(H // 4, W // 4, 3), dtype=np.uint8)
            pixels = np.repeat(np.repeat(cells, 4, axis=0), 4, axis=1)
            image = Image.fromarray(pixels, "RGB")
        else:
            colour, shape = kind.split("_")
            image = background(rng)
            draw_shape(rng, image, shape, COLOURS[colour])
        (out / "ood" / f"{n:02}.png").write_bytes(png_bytes(image))
    rows.sort()  # item order: class folders sorted by name, then file names
    (out / "templates.txt").write_text("".join(t + "\n" for t in TEMPLATES))
    (out / "seen.txt").write_text("".join(s + "\n" for s in SEEN))
    with open(out / "labels.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "label"])
        w.writerows(rows)
    (out / "labels.jsonl").write_text(
        "".join(json.dumps({"path": p, "label": l}) + "\n" for p, l in rows))
    print(f"wrote {len(rows)} class images, {len(OOD)} OOD images under {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "classification"))
    make(ap.parse_args().out)


if __name__ == "__main__":
    main()
