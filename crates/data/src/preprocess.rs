//! CLIP image preprocessing, equal to open_clip's transforms on a PIL image:
//! `image_transform(size, is_train=False)` is `Resize(size, BICUBIC)` (shorter side) →
//! `CenterCrop(size)` → `convert("RGB")` → `ToTensor` → `Normalize(CLIP mean, std)`, and the
//! training transform replaces the first two with `RandomResizedCrop`. Where the RGB
//! conversion happens (on load, or after the resize as here) is each data path's choice:
//! `crate::picture` says which follows which reference.
//!
//! The resize is Pillow's, bit for bit (`crate::resample`).
//! The train-time `random_resized_crop` follows torchvision's
//! `RandomResizedCrop` parameter sampling.

use image::RgbImage;
use rand::Rng;

use crate::picture::{crop_inside, Picture};
use crate::resample::resize_pixels;
use crate::suite::CropBox;

/// OpenAI CLIP's per-channel mean (RGB, on the 0..1 scale).
// Written as open_clip publishes them; the f32 rounding is the same as Python's.
#[allow(clippy::excessive_precision)]
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's per-channel standard deviation.
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// Crops to `bx` as PIL's `Image.crop((x, y, x + w, y + h))` does: parts of the
/// box outside the image are black.
pub fn crop(img: &RgbImage, bx: CropBox) -> RgbImage {
    let inside = bx.x.checked_add(bx.w).is_some_and(|r| r <= img.width())
        && bx.y.checked_add(bx.h).is_some_and(|b| b <= img.height());
    if inside {
        return crop_inside(img, bx.x, bx.y, bx.w, bx.h);
    }
    let mut out = RgbImage::new(bx.w, bx.h);
    image::imageops::replace(&mut out, img, -i64::from(bx.x), -i64::from(bx.y));
    out
}

/// open_clip's eval transform of an RGB image: resize + centre crop + normalise, CHW
/// `[3 * size * size]`.
pub fn preprocess_rgb(img: &RgbImage, size: u32) -> Vec<f32> {
    normalize(&resize_rgb_center_crop(img, size))
}

/// Resize (shorter side to `size`, bicubic) and centre crop to `size`×`size`, in the
/// image's own mode as PIL does, then `convert("RGB")`: open_clip's eval transform on an
/// unconverted image.
pub fn resize_center_crop(img: &Picture, size: u32) -> RgbImage {
    if let Picture::Rgb(rgb) = img {
        return resize_rgb_center_crop(rgb, size);
    }
    let (w, h) = shorter_side_size(img.width(), img.height(), size);
    center_crop(&img.resize(w, h).into_rgb(), size)
}

/// [`resize_center_crop`] for an RGB buffer.
pub fn resize_rgb_center_crop(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = shorter_side_size(img.width(), img.height(), size);
    center_crop(&resize_rgb(img, w, h), size)
}

/// torchvision's `Resize(size)` output size: the shorter side becomes `size`,
/// the longer `int(size * long / short)`.
fn shorter_side_size(w: u32, h: u32, size: u32) -> (u32, u32) {
    let (short, long) = if w <= h { (w, h) } else { (h, w) };
    let new_long = (f64::from(size) * f64::from(long) / f64::from(short.max(1))) as u32;
    if w <= h {
        (size, new_long)
    } else {
        (new_long, size)
    }
}

/// torchvision's `CenterCrop`: offsets `int(round((h - th) / 2))` with Python's
/// round-half-to-even. The input is never smaller than the crop here.
fn center_crop(img: &RgbImage, size: u32) -> RgbImage {
    let offset = |len: u32| (f64::from(len.saturating_sub(size)) / 2.0).round_ties_even() as u32;
    crop_inside(img, offset(img.width()), offset(img.height()), size, size)
}

/// Bicubic resize of an RGB image, Pillow-exact.
pub fn resize_rgb(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let pixels = resize_pixels(img, img.width(), img.height(), 3, w, h);
    RgbImage::from_raw(w, h, pixels).expect("buffer size")
}

/// The CHW tensor `(pixel / 255 - mean) / std`, as `ToTensor` + `Normalize`.
pub fn normalize(img: &RgbImage) -> Vec<f32> {
    let mut out = vec![0f32; 3 * (img.width() * img.height()) as usize];
    normalize_into(img, &mut out);
    out
}

/// [`normalize`] written into `out` (`3 * width * height` values), such as an image's
/// place in a batch, so that the batch needs no copy.
pub fn normalize_into(img: &RgbImage, out: &mut [f32]) {
    let plane = (img.width() * img.height()) as usize;
    assert_eq!(out.len(), 3 * plane, "room for the image's three planes");
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(px[c]) / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c];
        }
    }
}

/// torchvision's `RandomResizedCrop(size, scale, ratio=(3/4, 4/3), BICUBIC)`:
/// up to 10 draws of an area fraction in `scale` and a log-uniform aspect ratio;
/// the first box that fits is cropped, else the centre crop clamped to the ratio
/// range. The box is then resized to `size`×`size` in the image's own mode, and converted
/// to RGB after (open_clip's training transform).
pub fn random_resized_crop(
    img: &Picture,
    size: u32,
    scale: (f32, f32),
    rng: &mut impl Rng,
) -> RgbImage {
    let (left, top, w, h) = random_crop_box(img.width(), img.height(), scale, rng);
    resized_crop(img, (left, top, w, h), size)
}

/// torchvision's `resized_crop(img, top, left, h, w, [size, size], BICUBIC)` then
/// `convert("RGB")`: the box `(left, top, w, h)`, which lies inside the image, resized in
/// the image's mode.
pub fn resized_crop(img: &Picture, (left, top, w, h): (u32, u32, u32, u32), size: u32) -> RgbImage {
    if let Picture::Rgb(rgb) = img {
        // The common case without the intermediate copies of the general one.
        let cropped = crop_inside(rgb, left, top, w, h);
        if (w, h) == (size, size) {
            return cropped;
        }
        return resize_rgb(&cropped, size, size);
    }
    img.crop(left, top, w, h).resize(size, size).into_rgb()
}

/// `(left, top, width, height)` of the RandomResizedCrop box.
fn random_crop_box(
    width: u32,
    height: u32,
    scale: (f32, f32),
    rng: &mut impl Rng,
) -> (u32, u32, u32, u32) {
    let (min_ratio, max_ratio) = (3.0f64 / 4.0, 4.0f64 / 3.0);
    let area = f64::from(width) * f64::from(height);
    let (lo, hi) = (
        f64::from(scale.0.min(scale.1)),
        f64::from(scale.0.max(scale.1)),
    );
    for _ in 0..10 {
        let target_area = area * uniform(rng, lo, hi);
        let aspect = uniform(rng, min_ratio.ln(), max_ratio.ln()).exp();
        let w = (target_area * aspect).sqrt().round_ties_even() as u32;
        let h = (target_area / aspect).sqrt().round_ties_even() as u32;
        if 0 < w && w <= width && 0 < h && h <= height {
            let top = rng.random_range(0..=height - h);
            let left = rng.random_range(0..=width - w);
            return (left, top, w, h);
        }
    }
    let in_ratio = f64::from(width) / f64::from(height);
    let (w, h) = if in_ratio < min_ratio {
        (
            width,
            (f64::from(width) / min_ratio).round_ties_even() as u32,
        )
    } else if in_ratio > max_ratio {
        (
            (f64::from(height) * max_ratio).round_ties_even() as u32,
            height,
        )
    } else {
        (width, height)
    };
    ((width - w) / 2, (height - h) / 2, w, h)
}

fn uniform(rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn shorter_side_becomes_size_and_long_side_truncates() {
        assert_eq!(shorter_side_size(300, 200, 64), (96, 64));
        assert_eq!(shorter_side_size(17, 31, 32), (32, 58));
        assert_eq!(shorter_side_size(224, 224, 224), (224, 224));
    }

    #[test]
    fn center_crop_rounds_half_to_even_like_python() {
        // (5 - 2) / 2 = 1.5 rounds to 2; (3 - 2) / 2 = 0.5 rounds to 0.
        let img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let out = center_crop(&img, 2);
        assert_eq!(out.get_pixel(0, 0).0, [2, 0, 0]);
        let tall = RgbImage::from_fn(2, 5, |x, y| image::Rgb([x as u8, y as u8, 0]));
        assert_eq!(center_crop(&tall, 2).get_pixel(0, 0).0, [0, 2, 0]);
    }

    #[test]
    fn constant_image_stays_constant_through_resize() {
        let img = RgbImage::from_pixel(37, 53, image::Rgb([10, 200, 77]));
        for (w, h) in [(7, 9), (100, 140), (37, 10)] {
            let out = resize_rgb(&img, w, h);
            assert!(out.pixels().all(|p| p.0 == [10, 200, 77]), "{w}x{h}");
        }
    }

    #[test]
    fn normalize_is_chw_with_clip_statistics() {
        let img = RgbImage::from_fn(2, 1, |x, _| {
            image::Rgb([if x == 0 { 255 } else { 0 }, 0, 0])
        });
        let t = normalize(&img);
        assert_eq!(t.len(), 6);
        assert!((t[0] - (1.0 - CLIP_MEAN[0]) / CLIP_STD[0]).abs() < 1e-6);
        assert!((t[1] + CLIP_MEAN[0] / CLIP_STD[0]).abs() < 1e-6);
        assert!((t[2] + CLIP_MEAN[1] / CLIP_STD[1]).abs() < 1e-6);
    }

    #[test]
    fn random_resized_crop_is_seeded_and_sized() {
        let img = Picture::Rgb(RgbImage::from_fn(120, 80, |x, y| {
            image::Rgb([x as u8, y as u8, 0])
        }));
        let a = random_resized_crop(&img, 32, (0.9, 1.0), &mut ChaCha8Rng::seed_from_u64(7));
        let b = random_resized_crop(&img, 32, (0.9, 1.0), &mut ChaCha8Rng::seed_from_u64(7));
        assert_eq!(a.dimensions(), (32, 32));
        assert_eq!(a, b);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let (l, t, w, h) = random_crop_box(120, 80, (0.9, 1.0), &mut rng);
            assert!(l + w <= 120 && t + h <= 80);
            let frac = f64::from(w * h) / 9600.0;
            assert!((0.85..=1.0).contains(&frac), "area fraction {frac}");
        }
    }

    #[test]
    fn impossible_scale_falls_back_to_ratio_clamped_centre_crop() {
        // A 10:1 strip can never fit a 3/4..4/3 box of its full area: fallback.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        assert_eq!(
            random_crop_box(400, 40, (1.0, 1.0), &mut rng),
            (173, 0, 53, 40)
        );
    }

    #[test]
    fn crop_outside_the_image_pads_with_zeros() {
        let img = RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9]));
        let out = crop(
            &img,
            CropBox {
                x: 2,
                y: 2,
                w: 4,
                h: 4,
            },
        );
        assert_eq!(out.get_pixel(0, 0).0, [9, 9, 9]);
        assert_eq!(out.get_pixel(3, 3).0, [0, 0, 0]);
        let inside = crop(
            &img,
            CropBox {
                x: 1,
                y: 1,
                w: 2,
                h: 3,
            },
        );
        assert_eq!(inside.dimensions(), (2, 3));
    }
}
