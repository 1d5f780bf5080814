"""Write tests/fixtures/preprocess/: small images and open_clip's eval transform output.

For every image and size in {32, 64} we run open_clip's
`image_transform(size, is_train=False)` without its final Normalize (so the
output is the resized, centre-cropped RGB tensor in [0, 1]) and store it as
raw uint8 CHW bytes (`<image>_<size>.u8`, value = round(255 * x)). The Rust test
crates/data/tests/preprocess_parity.rs compares its own output with these.

A palette ('P') image is resized by Pillow with NEAREST (Pillow forces it for
'P'), whereas decoders outside Pillow expand the palette first; the expected
output for that image is the transform of `img.convert("RGB")` and the script
prints how far that is from the raw-'P' result (see the docs).
Deterministic (seeded). Run: python scripts/make_preprocess_fixtures.py
"""

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from open_clip.transform import image_transform

OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/preprocess"
SIZES = (32, 64)


def smooth_rgb(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Gradients plus noise plus a hard edge: exercises every filter tap."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([255 * x / max(w - 1, 1), 255 * y / max(h - 1, 1), 128 + 100 * np.sin(x / 3.0 + y / 5.0)], -1)
    base[h // 3 : h // 2, w // 4 : w // 2] = [250, 10, 20]
    noisy = base + rng.normal(0, 25, base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def make_images(rng: np.random.Generator) -> dict[str, Path]:
    files = {}

    def save(name: str, img: Image.Image, ext: str = "png", **kw) -> None:
        path = OUT / f"{name}.{ext}"
        img.save(path, **kw)
        files[name] = path

    save("rgb_50x80", Image.fromarray(smooth_rgb(rng, 50, 80)))
    save("rgb_300x200", Image.fromarray(smooth_rgb(rng, 300, 200)))
    save("rgb_17x31", Image.fromarray(smooth_rgb(rng, 17, 31)))
    save("rgb_33x200", Image.fromarray(smooth_rgb(rng, 33, 200)))
    # 4:4:4 JPEG: no chroma upsampling, so decoders agree to within rounding.
    save("jpeg_224x224", Image.fromarray(smooth_rgb(rng, 224, 224)), "jpg", quality=92, subsampling=0)
    save("gray_120x90", Image.fromarray(smooth_rgb(rng, 120, 90)[..., 1], "L"))
    rgba = np.concatenate([smooth_rgb(rng, 90, 60), np.zeros((60, 90, 1), np.uint8)], -1)
    rgba[..., 3] = np.clip(np.linspace(0, 255, 90)[None, :] + rng.normal(0, 30, (60, 90)), 0, 255)
    rgba[:, :8, 3] = 0  # fully transparent strip: Pillow's premultiplied resize blackens it
    save("rgba_90x60", Image.fromarray(rgba, "RGBA"))
    palette = Image.fromarray(smooth_rgb(rng, 70, 70)).quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    save("palette_70x70", palette)
    return files


def to_u8(tensor: torch.Tensor) -> bytes:
    return (tensor * 255).round().clamp(0, 255).to(torch.uint8).numpy().tobytes()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    manifest = []
    for name, path in make_images(rng).items():
        img = Image.open(path)
        img.load()
        for size in SIZES:
            # Drop Normalize: keep the [0, 1] tensor before normalisation.
            to_tensor = image_transform(size, is_train=False).transforms[:-1]
            source = img.convert("RGB") if img.mode == "P" else img
            x = source
            for t in to_tensor:
                x = t(x)
            if img.mode == "P":
                y = img
                for t in to_tensor:
                    y = t(y)
                print(f"{name} size {size}: raw-P (NEAREST) vs RGB-first max diff {float((x - y).abs().max()) * 255:.0f}/255")
            (OUT / f"{name}_{size}.u8").write_bytes(to_u8(x))
            manifest.append({"image": path.name, "mode": img.mode, "size": size, "expected": f"{name}_{size}.u8"})
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(manifest)} cases, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
