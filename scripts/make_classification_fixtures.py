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

With --mixed it writes tests/fixtures/classification-mixed/ instead: the same classes,
templates, seen list and OOD kinds, drawn at 64x48 / 61x45 / 59x47 / 45x61 on the synthetic
world's background grays, each image saved in a real-world format (MIXED_FORMATS: mostly 4:2:0
JPEGs, quality 85, some progressive; CMYK JPEGs; PNGs in modes RGBA and LA with partial and
zero alpha, P with tRNS, L and I;16), plus manifest.json (per file: Pillow's format, mode,
size, JPEG sampling factors, tRNS kind on open). The default fixture's bytes do not change.

  python3 scripts/make_classification_fixtures.py --mixed [--out DIR]

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


def background(rng, w=W, h=H, grays=(100, 156)):
    gray = int(rng.integers(*grays))
    # Noise in steps of 8 gray levels on 2x2-pixel cells keeps the PNGs small (the fixture
    # is committed). Odd sides: one more cell, cropped (same draws as before for even sides).
    noise = 8 * np.rint(rng.normal(0.0, 1.5, size=((h + 1) // 2, (w + 1) // 2, 1)))
    noise = np.repeat(np.repeat(noise, 2, axis=0), 2, axis=1)[:h, :w]
    pixels = np.clip(gray + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(pixels, 3, axis=2), "RGB")


def jitter(rng, rgb):
    return tuple(int(np.clip(c + rng.integers(-15, 16), 0, 255)) for c in rgb)


def draw_shape(rng, image, shape, rgb):
    w, h = image.size
    # Bounding box side in pixels: 12..24 at the original 40x32, scaled with the short side.
    scale = min(w, h) / H
    size = int(rng.integers(round(12 * scale), round(25 * scale)))
    x0 = int(rng.integers(0, w - size + 1))
    y0 = int(rng.integers(0, h - size + 1))
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
    write_lists(out, rows)
    print(f"wrote {len(rows)} class images, {len(OOD)} OOD images under {out}")


def write_lists(out, rows):
    rows.sort()  # item order: class folders sorted by name, then file names
    (out / "templates.txt").write_text("".join(t + "\n" for t in TEMPLATES))
    (out / "seen.txt").write_text("".join(s + "\n" for s in SEEN))
    with open(out / "labels.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "label"])
        w.writerows(rows)
    (out / "labels.jsonl").write_text(
        "".join(json.dumps({"path": p, "label": l}) + "\n" for p, l in rows))


# ------------------------------------------------------------------ --mixed

# One format per image, cycling over every image in drawing order (class folders in CLASSES
# order, then the OOD images): 10 of every 16 are 4:2:0 JPEGs, as real photo collections are.
MIXED_FORMATS = ["jpeg420", "jpeg420", "rgba", "jpeg420", "progressive", "la", "jpeg420",
                 "p_trns", "jpeg420", "l", "jpeg420", "progressive", "i16", "jpeg420", "cmyk",
                 "jpeg420"]
# Width x height, cycling likewise: odd sides give partial MCUs and chroma blocks, and one
# portrait size makes the centre crop cut the other axis.
MIXED_SIZES = [(64, 48), (61, 45), (64, 48), (59, 47), (45, 61)]
MIXED_SEED = 20240612
# Background grays of the synthetic world (crates/data/src/synth/scene.rs: 55..=105), so that
# models/synthetic-tiny-clip.safetensors tells the classes apart (top-1 about 0.6, not 0.4).
MIXED_GRAYS = (55, 106)


def alpha_channel(rng, w, h):
    """Partial alpha (a left-to-right ramp 40..255 with a little noise) and a fully
    transparent vertical strip (alpha 0) over a fifth of the width at a random place."""
    ramp = np.linspace(40, 255, w)[None, :] + rng.normal(0.0, 6.0, size=(h, w))
    alpha = np.clip(np.rint(ramp), 0, 255).astype(np.uint8)
    strip = max(2, w // 5)
    x = int(rng.integers(0, w - strip + 1))
    alpha[:, x:x + strip] = 0
    return Image.fromarray(alpha, "L")


def encode(rng, image, fmt):
    """(file bytes, extension) of `image` (RGB) saved as `fmt`. The colour values under
    transparent pixels are kept: the reference loaders drop alpha without compositing."""
    buf = io.BytesIO()
    w, h = image.size
    if fmt == "jpeg420":
        image.save(buf, format="JPEG", quality=85, subsampling=2)
        return buf.getvalue(), "jpg"
    if fmt == "progressive":
        image.save(buf, format="JPEG", quality=85, subsampling=2, progressive=True)
        return buf.getvalue(), "jpeg"
    if fmt == "cmyk":
        # Pillow writes inverted CMYK with an Adobe APP14 marker (as Photoshop does).
        image.convert("CMYK").save(buf, format="JPEG", quality=85)
        return buf.getvalue(), "jpg"
    if fmt == "rgba":
        out = image.copy()
        out.putalpha(alpha_channel(rng, w, h))
    elif fmt == "la":
        out = image.convert("L")
        out.putalpha(alpha_channel(rng, w, h))
    elif fmt == "l":
        out = image.convert("L")
    elif fmt == "p_trns":
        out = image.quantize(colors=48, method=Image.Quantize.MEDIANCUT,
                             dither=Image.Dither.NONE)
        n_colours = len(out.getpalette()) // 3
        if rng.integers(2):
            # One transparent palette index (tRNS with a single entry index).
            transparency = int(out.getpixel((0, 0)))
        else:
            # A tRNS alpha table: one alpha per palette entry.
            transparency = bytes(int(a) for a in rng.integers(0, 256, size=n_colours))
        out.save(buf, format="PNG", optimize=True, transparency=transparency)
        return buf.getvalue(), "png"
    elif fmt == "i16":
        # 16-bit grey: the grey levels as 16-bit values, plus a block of values above 255
        # (Pillow's convert("RGB") clips I;16 at 255, so that block turns white).
        grey = np.asarray(image.convert("L"), dtype=np.uint16)
        bw, bh = max(2, w // 4), max(2, h // 4)
        x, y = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
        grey[y:y + bh, x:x + bw] = rng.integers(256, 65536, size=(bh, bw), dtype=np.uint16)
        out = Image.fromarray(grey)  # uint16 -> mode I;16
        assert out.mode == "I;16", out.mode
    else:
        raise ValueError(fmt)
    out.save(buf, format="PNG", optimize=True)
    return buf.getvalue(), "png"


def describe(path, rel, fmt):
    """What Pillow sees on open: format, mode, size, JPEG chroma sampling / progressive."""
    from PIL import JpegImagePlugin
    with Image.open(path) as im:
        row = {"path": rel, "kind": fmt, "format": im.format, "mode": im.mode,
               "size": list(im.size)}
        if im.format == "JPEG":
            # Per component horizontal x vertical sampling factors, and the usual name.
            row["sampling"] = " ".join(f"{h}x{v}" for _, h, v, _ in im.layer)
            sub = JpegImagePlugin.get_sampling(im)
            if sub in (0, 1, 2):
                row["subsampling"] = ["4:4:4", "4:2:2", "4:2:0"][sub]
            row["progressive"] = bool(im.info.get("progressive"))
        if "transparency" in im.info:
            row["trns"] = "alpha table" if isinstance(im.info["transparency"], bytes) \
                else "index"
    return row


def make_mixed(out):
    """Same classes, templates, seen list and OOD kinds as `make`, at MIXED_SIZES, each
    image saved in its MIXED_FORMATS format; manifest.json says what Pillow sees on open."""
    rng = np.random.default_rng(MIXED_SEED)
    out = Path(out)
    rows, manifest = [], []
    counter = 0

    def save(picture, folder, n):
        nonlocal counter
        fmt = MIXED_FORMATS[counter % len(MIXED_FORMATS)]
        counter += 1
        data, ext = encode(rng, picture, fmt)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{n:02}.{ext}"
        path.write_bytes(data)
        rel = path.relative_to(out).as_posix()
        manifest.append(describe(path, rel, fmt))
        return rel

    def size():
        return MIXED_SIZES[counter % len(MIXED_SIZES)]

    for key in CLASSES:
        colour, shape = key.split("_")
        for n in range(PER_CLASS):
            image = background(rng, *size(), grays=MIXED_GRAYS)
            draw_shape(rng, image, shape, COLOURS[colour])
            rows.append((save(image, out / "images" / key, n), key))
    for n, kind in enumerate(OOD):
        w, h = size()
        if kind == "noise":
            cells = rng.integers(0, 256, size=((h + 3) // 4, (w + 3) // 4, 3), dtype=np.uint8)
            pixels = np.repeat(np.repeat(cells, 4, axis=0), 4, axis=1)[:h, :w]
            image = Image.fromarray(pixels, "RGB")
        else:
            colour, shape = kind.split("_")
            image = background(rng, w, h, grays=MIXED_GRAYS)
            draw_shape(rng, image, shape, COLOURS[colour])
        save(image, out / "ood", n)
    write_lists(out, rows)
    manifest.sort(key=lambda r: r["path"])
    (out / "manifest.json").write_text(
        "[\n" + ",\n".join(json.dumps(r) for r in manifest) + "\n]\n")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    kinds = sorted({(r["format"], r["mode"]) for r in manifest})
    print(f"wrote {len(rows)} class images, {len(OOD)} OOD images under {out} "
          f"({total / 1024:.0f} KiB); Pillow modes on open: {kinds}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mixed", action="store_true",
                    help="write the real-format fixture (tests/fixtures/classification-mixed)")
    ap.add_argument("--out", help="output folder (default: tests/fixtures/classification, "
                                  "or tests/fixtures/classification-mixed with --mixed)")
    args = ap.parse_args()
    fixtures = ROOT / "tests" / "fixtures"
    if args.mixed:
        make_mixed(args.out or fixtures / "classification-mixed")
    else:
        make(args.out or fixtures / "classification")


if __name__ == "__main__":
    main()
