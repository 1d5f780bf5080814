"""Write tests/fixtures/pixels/: real-format images and the pixels and tensors the
reference Python code gets from them (issue 25: decode and colour-convert exactly as
Pillow does, and convert colour where each reference loader does).

What it makes (all small, with gradients, hard edges and noise so that every IDCT,
chroma-upsampling and resampling path is exercised):

* JPEGs written by Pillow (libjpeg-turbo): baseline 4:2:0 / 4:2:2 / 4:4:4, progressive
  4:2:0, restart markers (Pillow's `restart_marker_blocks=` and `restart_marker_rows=`),
  odd sizes (partial MCUs) at 4:2:0 and 4:2:2, one smaller than a single MCU, one
  stored as RGB rather than YCbCr (Pillow's `keep_rgb=True`: Adobe marker, transform 0),
  greyscale, CMYK (Pillow writes inverted CMYK with an Adobe APP14 marker, transform 0),
  CMYK with the opposite polarity, an embedded ICC profile (lcms sRGB, date fixed), EXIF
  orientation 6 (Pillow does not rotate on open, so the expected pixels are unrotated),
  one whose scan has 16 random bytes in the middle (libjpeg-turbo only *warns*, Pillow
  ignores warnings, so it decodes), a truncated file (first half of the bytes) and one
  with an SOI marker in the middle of the scan; the last two fail in Pillow
  (`"error": true`, no expectations).
* PNGs: L, LA, P with a tRNS index, P with a tRNS alpha table, RGBA (transparent strip,
  alpha gradient), I;16 (16-bit grey, values over 0..65535 and a block below 256),
  16-bit RGB / RGBA / grey+alpha (written by the small PNG writer below: Pillow cannot
  save them; samples big-endian as the PNG spec says), L with a tRNS grey and RGB with a
  tRNS colour.
* `<name>.rgb.png`: `PIL.Image.open(p).convert("RGB")`, saved losslessly.
* `<name>.<pipeline>.f32`: float32 little-endian CHW tensors, 3 x S x S with S = 32:
  - `eval`: torchvision's ImageFolder loader `torchvision.datasets.folder.pil_loader`
    (pytorch/vision, torchvision/datasets/folder.py: open + convert("RGB")), then
    open_clip's `open_clip.transform.image_transform(S, is_train=False)`
    (mlfoundations/open_clip, src/open_clip/transform.py: Resize shorter side to S
    bicubic, CenterCrop, convert RGB, ToTensor, Normalize with the OpenAI mean/std).
  - `train`: NegCLIP's training loader `self.transforms(Image.open(path))`, no convert on
    load (vinid/neg_clip, src/training/data.py, CsvDataset.__getitem__), with its training
    transform (vinid/neg_clip, src/open_clip/transform.py, image_transform(is_train=True):
    RandomResizedCrop(S, scale=(0.9, 1.0), BICUBIC), convert RGB, ToTensor, Normalize).
    The transform is open_clip's own `image_transform(S, is_train=True)` (same steps in
    open_clip 3.3.0) with its RandomResizedCrop replaced by
    `torchvision.transforms.functional.resized_crop` on the fixed box `train_box`
    ([left, top, width, height] in the manifest): the random crop switched off. The
    resize therefore runs in the file's own mode (P: NEAREST; LA/RGBA: premultiplied
    alpha; I;16: 16-bit; CMYK: 4 channels) before the conversion to RGB.
  - `aro`: the ARO code's loader (mertyg/vision-language-models-are-bows,
    dataset_zoo/aro_datasets.py, VG_Relation.__getitem__: `Image.open(p).convert('RGB')`,
    then `image.crop((x, y, x + w, y + h))`), then the eval transform; for three 4:2:0
    JPEGs, box `aro_box` = [x, y, w, h] (one box is partly outside the image: PIL fills
    that part with zeros).
* `manifest.json`: a list of {file, mode (Pillow's mode on open), error, rgb, size,
  train_box, tensors {eval?, train?, aro?}, aro_box (only with aro)}. The files Pillow
  refuses have rgb = train_box = null, tensors = {} and `error_message` (Pillow's);
  the JPEG that decodes despite corrupt entropy data has `libjpeg_warning: true`.

Tensors are stored only where they test something the `.rgb.png` files and the other
tensors do not (each is 12 KB; this keeps the folder near 600 KB):
  - `eval`: one JPEG of each decode path that feeds the resize differently (4:2:0,
    progressive, odd-sized 4:2:0 and 4:2:2, grey, both CMYK polarities) and every PNG
    whose mode on open is neither RGB nor L (L's eval path is jgray's);
  - `train`: every PNG whose mode on open is not RGB, plus the RGB and L PNGs with tRNS
    (a decoder that turned tRNS into alpha would resize them premultiplied), CMYK, and
    one RGB JPEG for the box path;
  - `aro`: three 4:2:0 JPEGs.
Every decodable image has its `.rgb.png`.

The script prints, per image, max |train - convert-first| on the same box (what the
conversion point changes).

Deterministic (seeded; fixed ICC date). Needs scripts/requirements.txt (Pillow 13.0.0,
torch, torchvision, open_clip_torch). Run from anywhere:
    python scripts/make_pixel_fixtures.py
"""

import io
import json
import shutil
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import open_clip
import PIL
import torch
import torchvision
from open_clip.transform import image_transform
from PIL import Image, ImageCms, features
from torchvision.datasets.folder import pil_loader
from torchvision.transforms import Compose, InterpolationMode, RandomResizedCrop
from torchvision.transforms import functional as TF

# The same test pattern as the eval-transform fixture (gradients, noise, a hard edge).
from make_preprocess_fixtures import smooth_rgb

OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/pixels"
S = 32
# P images with a tRNS alpha table make Pillow warn on convert("RGB"); the reference
# loaders see the same warning and ignore it.
warnings.filterwarnings("ignore", message="Palette images with Transparency")


def png_bytes(pixels: np.ndarray, color_type: int) -> bytes:
    """A minimal 16-bit PNG (no filter, one IDAT): Pillow cannot write 16-bit colour."""
    h, w = pixels.shape[:2]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = pixels.astype(">u2").reshape(h, -1)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def srgb_icc() -> bytes:
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[24:36] = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)  # lcms stamps "now": fix it
    return bytes(profile)


def scan_bounds(data: bytes) -> tuple[int, int]:
    """First byte of entropy-coded data after the (first) SOS, and the EOI offset."""
    sos = data.index(b"\xff\xda")
    return sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big"), len(data) - 2


class Maker:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.files: list[dict] = []  # {"file", "tensors", "aro_box", ...}

    def add(self, name: str, write, *, tensors: str = "", aro_box=None, **extra) -> None:
        """tensors: which of eval ("e") and train ("t") to store; aro_box adds "aro"."""
        path = OUT / name
        write(path)
        self.files.append({"file": name, "tensors": tensors, "aro_box": aro_box, **extra})

    def pil(self, name: str, img: Image.Image, fmt: str, **kw) -> None:
        """Save with Pillow; the `tensors` and `aro_box` keywords go to the manifest."""
        meta = {k: kw.pop(k) for k in ("tensors", "aro_box") if k in kw}
        self.add(name, lambda p: img.save(p, fmt, **kw), **meta)

    def raw(self, name: str, data: bytes, **meta) -> None:
        self.add(name, lambda p: p.write_bytes(data), **meta)


def make_images(m: Maker) -> None:
    rng = m.rng
    rgb = lambda w, h: Image.fromarray(smooth_rgb(rng, w, h))  # noqa: E731

    # ---- JPEG, colour (Pillow: YCbCr, ISLOW forward DCT, standard Huffman tables)
    m.pil("j420_64x48.jpg", rgb(64, 48), "JPEG", quality=85, subsampling=2, tensors="et", aro_box=[10, 8, 40, 30])
    m.pil("j422_64x48.jpg", rgb(64, 48), "JPEG", quality=85, subsampling=1)
    m.pil("j444_64x48.jpg", rgb(64, 48), "JPEG", quality=85, subsampling=0)
    m.pil("jprog420_72x56.jpg", rgb(72, 56), "JPEG", quality=85, subsampling=2, progressive=True, tensors="e",
          aro_box=[40, 30, 60, 50])  # partly outside: x to 100 > 72, y to 80 > 56
    m.pil("jrst420_blocks3_64x48.jpg", rgb(64, 48), "JPEG", quality=85, subsampling=2, restart_marker_blocks=3)
    m.pil("jrst422_rows1_56x40.jpg", rgb(56, 40), "JPEG", quality=85, subsampling=1, restart_marker_rows=1)
    m.pil("j420_33x17.jpg", rgb(33, 17), "JPEG", quality=85, subsampling=2, tensors="e")
    m.pil("j420_61x45.jpg", rgb(61, 45), "JPEG", quality=85, subsampling=2, aro_box=[3, 5, 41, 29])
    m.pil("j422_33x17.jpg", rgb(33, 17), "JPEG", quality=85, subsampling=1)
    m.pil("j422_61x45.jpg", rgb(61, 45), "JPEG", quality=85, subsampling=1, tensors="e")
    m.pil("j420_9x7.jpg", rgb(9, 7), "JPEG", quality=85, subsampling=2)  # less than one 16x16 MCU
    m.pil("jicc_56x40.jpg", rgb(56, 40), "JPEG", quality=85, icc_profile=srgb_icc())
    # keep_rgb: stored as RGB (Adobe marker, transform 0; no YCbCr, no subsampling)
    m.pil("jrgb_keep_40x32.jpg", rgb(40, 32), "JPEG", quality=85, keep_rgb=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display; Pillow's open ignores it
    m.pil("jexif6_64x40.jpg", rgb(64, 40), "JPEG", quality=85, exif=exif.tobytes())

    # ---- JPEG, greyscale and CMYK
    m.pil("jgray_50x40.jpg", Image.fromarray(smooth_rgb(rng, 50, 40)[..., 1], "L"), "JPEG", quality=85, tensors="e")
    base = smooth_rgb(rng, 48, 40).astype(np.int32)
    k = np.clip(np.linspace(0, 160, 48)[None, :] + rng.normal(0, 20, (40, 48)), 0, 255)
    cmyk = np.concatenate([255 - base, k[..., None]], -1).astype(np.uint8)
    # Pillow writes CMYK inverted ("CMYK;I", Adobe convention) with an Adobe marker, and
    # inverts again on load.
    m.pil("jcmyk_48x40.jpg", Image.fromarray(cmyk, "CMYK"), "JPEG", quality=90, tensors="et")
    # The other polarity (stored values not inverted, as non-Adobe writers do): Pillow
    # still inverts on load, so it decodes to 255 - the values written here.
    m.pil("jcmyk_inv_48x40.jpg", Image.fromarray(255 - cmyk, "CMYK"), "JPEG", quality=90, tensors="e")

    # ---- JPEG, damaged
    buf = io.BytesIO()
    rgb(64, 48).save(buf, "JPEG", quality=85, subsampling=2)
    good = buf.getvalue()
    start, eoi = scan_bounds(good)
    mid = (start + eoi) // 2
    warn = bytearray(good)
    warn[mid : mid + 16] = rng.integers(0, 255, 16, dtype=np.uint8).tobytes()  # no 0xFF: no markers
    m.raw("jcorrupt_warn_64x48.jpg", bytes(warn), libjpeg_warning=True)
    m.raw("jtruncated.jpg", good[: len(good) // 2])
    broken = bytearray(good)
    broken[mid : mid + 2] = b"\xff\xd8"  # SOI inside the scan: a fatal libjpeg error
    m.raw("jcorrupt_soi.jpg", bytes(broken))

    # ---- PNG, 8-bit modes
    m.pil("png_L_45x37.png", Image.fromarray(smooth_rgb(rng, 45, 37)[..., 0], "L"), "PNG", tensors="t")
    la = np.stack([smooth_rgb(rng, 50, 41)[..., 2], np.zeros((41, 50), np.uint8)], -1)
    la[..., 1] = np.clip(np.linspace(255, 0, 41)[:, None] + rng.normal(0, 30, (41, 50)), 0, 255)
    la[:6, :, 1] = 0
    m.pil("png_LA_50x41.png", Image.fromarray(la, "LA"), "PNG", tensors="et")
    pal = Image.fromarray(smooth_rgb(rng, 47, 39)).quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    m.pil("png_P_trns_47x39.png", pal, "PNG", transparency=3, tensors="et")
    pal2 = Image.fromarray(smooth_rgb(rng, 52, 43)).quantize(colors=24, method=Image.Quantize.MEDIANCUT)
    alphas = bytes(int(v) for v in np.linspace(0, 255, 24).round())
    m.pil("png_P_alpha_52x43.png", pal2, "PNG", transparency=alphas, tensors="et")
    rgba = np.concatenate([smooth_rgb(rng, 60, 44), np.zeros((44, 60, 1), np.uint8)], -1)
    rgba[..., 3] = np.clip(np.linspace(0, 255, 60)[None, :] + rng.normal(0, 30, (44, 60)), 0, 255)
    rgba[:, :7, 3] = 0  # fully transparent strip (colour kept under it)
    m.pil("png_RGBA_60x44.png", Image.fromarray(rgba, "RGBA"), "PNG", tensors="et")
    grey = smooth_rgb(rng, 40, 30)[..., 1]
    m.pil("png_L_trns_40x30.png", Image.fromarray(grey, "L"), "PNG", transparency=int(grey[5, 5]), tensors="t")
    rgb_t = smooth_rgb(rng, 44, 36)
    m.pil("png_RGB_trns_44x36.png", Image.fromarray(rgb_t), "PNG", transparency=tuple(int(v) for v in rgb_t[0, 0]),
          tensors="t")

    # ---- PNG, 16-bit
    y, x = np.mgrid[0:51, 0:43]
    i16 = 65535.0 * (x / 42) * (0.3 + 0.7 * y / 50) + rng.normal(0, 2000, (51, 43))
    i16 = np.clip(i16, 0, 65535)
    i16[30:45, 5:20] = rng.integers(0, 256, (15, 15))  # a block below 256: survives the clip to 8 bits
    i16[5:12, 25:40] = 255 + rng.integers(0, 3, (7, 15))  # values at the 255/256 boundary
    m.pil("png_I16_43x51.png", Image.fromarray(i16.astype(np.uint16)), "PNG", tensors="et")

    def to16(a8: np.ndarray) -> np.ndarray:  # 8-bit content spread over 16 bits, low byte noisy
        return np.clip(a8.astype(np.int64) * 257 + rng.integers(-200, 200, a8.shape), 0, 65535)

    def alpha16(ramp: np.ndarray, shape: tuple) -> np.ndarray:
        return np.clip(ramp + rng.normal(0, 3000, shape), 0, 65535)

    m.raw("png_RGB16_41x37.png", png_bytes(to16(smooth_rgb(rng, 41, 37)), 2))
    rgb16 = to16(smooth_rgb(rng, 39, 33))
    rgba16 = np.concatenate([rgb16, alpha16(np.linspace(0, 65535, 39)[None, :, None], (33, 39, 1))], -1)
    m.raw("png_RGBA16_39x33.png", png_bytes(rgba16, 6), tensors="et")
    grey16 = to16(smooth_rgb(rng, 35, 29)[..., 0])
    la16 = np.stack([grey16, alpha16(np.linspace(65535, 0, 29)[:, None], (29, 35))], -1)
    m.raw("png_LA16_35x29.png", png_bytes(la16, 4), tensors="et")


def tensor_bytes(t: torch.Tensor) -> bytes:
    assert t.shape == (3, S, S) and t.dtype == torch.float32
    return t.contiguous().numpy().astype("<f4").tobytes()


def main() -> None:
    assert PIL.__version__ == "13.0.0", f"fixtures are Pillow 13.0.0's; this is {PIL.__version__}"
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    torch.manual_seed(0)
    m = Maker(np.random.default_rng(25))
    make_images(m)

    eval_tf = image_transform(S, is_train=False)
    train_tf = image_transform(S, is_train=True)
    rrc = train_tf.transforms[0]
    assert isinstance(rrc, RandomResizedCrop) and tuple(rrc.scale) == (0.9, 1.0)
    assert rrc.interpolation == InterpolationMode.BICUBIC and list(rrc.size) == [S, S]

    def train_fixed(box):
        left, top, width, height = box

        def crop(img):  # RandomResizedCrop.forward with get_params replaced by the box
            return TF.resized_crop(img, top, left, height, width, list(rrc.size), rrc.interpolation,
                                   antialias=rrc.antialias)

        return Compose([crop, *train_tf.transforms[1:]])

    manifest = []
    print(f"Pillow {PIL.__version__} (libjpeg-turbo {features.version('libjpeg_turbo')}), torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}, open_clip {open_clip.__version__}")
    print(f"{'file':28s} {'mode':5s} max|train - convert-first| on the train box (normalised units)")
    for f in m.files:
        name = f["file"]
        path = OUT / name
        stem = name.rsplit(".", 1)[0]
        with Image.open(path) as img:
            mode = img.mode
            try:
                img.load()
                error = None
            except OSError as e:
                error = str(e)
        entry = {"file": name, "mode": mode, "error": error is not None}
        if error is not None:
            entry.update({"rgb": None, "size": S, "train_box": None, "tensors": {}, "error_message": error})
            manifest.append(entry)
            print(f"{name:28s} {mode:5s} does not decode: {error}")
            continue
        rgb = Image.open(path).convert("RGB")
        rgb.save(OUT / f"{stem}.rgb.png", optimize=True)
        w, h = rgb.size
        # [left, top, width, height]: about 90% of each side at offset (1, 2), inside the image
        box = [1, 2, min(int(0.9 * w), w - 1), min(int(0.9 * h), h - 2)]
        entry.update({"rgb": f"{stem}.rgb.png", "size": S, "train_box": box, "tensors": {}})
        if f.get("libjpeg_warning"):
            entry["libjpeg_warning"] = True

        tensors = {}
        if "e" in f["tensors"]:
            tensors["eval"] = eval_tf(pil_loader(path))
        train = train_fixed(box)(Image.open(path))  # NegCLIP: no convert on load
        convert_first = train_fixed(box)(Image.open(path).convert("RGB"))
        if "t" in f["tensors"]:
            tensors["train"] = train
        if f["aro_box"] is not None:
            x, y, bw, bh = f["aro_box"]
            tensors["aro"] = eval_tf(Image.open(path).convert("RGB").crop((x, y, x + bw, y + bh)))
            entry["aro_box"] = f["aro_box"]
        for pipeline, t in tensors.items():
            out = f"{stem}.{pipeline}.f32"
            (OUT / out).write_bytes(tensor_bytes(t))
            entry["tensors"][pipeline] = out
        diff = float((train - convert_first).abs().max())
        print(f"{name:28s} {mode:5s} {diff:<10.6g} stored: {', '.join(tensors) or '-'}")
        manifest.append(entry)

    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(manifest)} images, {len(list(OUT.iterdir()))} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
