//! An image as Pillow holds it after `Image.open`: in its *mode*, which the reference code keeps
//! until it calls `convert("RGB")`. The mode decides how Pillow resizes the image (palette
//! images with NEAREST whatever filter is asked, RGBA and LA with premultiplied alpha, 16-bit
//! grey in 16 bits) and how it becomes RGB (CMYK by Pillow's ink formula, 16-bit grey clipped
//! at 255).
//!
//! Where RGB conversion happens differs between the reference loaders, so each data path says
//! which it follows:
//! - **on load**: torchvision's `ImageFolder` loader (`pil_loader`, and so CLIP_benchmark), the
//!   ARO code's datasets and SugarCrepe's evaluation open every image with
//!   `Image.open(path).convert("RGB")`: [`Picture::into_rgb`] first, then the RGB transform.
//!   Every evaluation suite does this (`negclip_train::evaluate::load_pixels`).
//! - **after the transform**: NegCLIP's training loader (vinid/neg_clip,
//!   `src/training/data.py`, `CsvDataset.__getitem__`) passes `Image.open(path)` unconverted
//!   to open_clip's transform, whose `_convert_to_rgb` step comes after the resize and crop
//!   (`src/open_clip/transform.py`, `image_transform`): [`Picture::crop`] and
//!   [`Picture::resize`] in the image's mode, then [`Picture::into_rgb`]. Training tables and
//!   hard-image mining do this.

use image::{GrayAlphaImage, GrayImage, ImageBuffer, Luma, Pixel, RgbImage, RgbaImage};

use crate::resample::{resize_i16, resize_nearest, resize_pixels, resize_premultiplied};

/// 16-bit grey pixels, Pillow's `I;16`.
pub type Gray16Image = ImageBuffer<Luma<u16>, Vec<u16>>;

/// An image in one of Pillow's modes.
#[derive(Debug, Clone, PartialEq)]
pub enum Picture {
    /// `L`: 8-bit grey (2- and 4-bit grey PNGs too, scaled to 8 bits as Pillow unpacks them).
    L(GrayImage),
    /// `LA`: grey and alpha.
    La(GrayAlphaImage),
    /// `P` (palette) and `1` (bilevel): Pillow resizes both with NEAREST whatever filter is
    /// asked. Held with the palette looked up: NEAREST only copies pixels, and
    /// `convert("RGB")` drops a palette's transparency.
    Nearest(RgbImage),
    /// `RGB`.
    Rgb(RgbImage),
    /// `RGBA`.
    Rgba(RgbaImage),
    /// `CMYK` (4-component JPEGs), ink amounts as Pillow holds them.
    Cmyk(RgbaImage),
    /// `I;16`: 16-bit grey (16-bit grey PNGs).
    I16(Gray16Image),
}

impl Picture {
    pub fn width(&self) -> u32 {
        self.dimensions().0
    }

    pub fn height(&self) -> u32 {
        self.dimensions().1
    }

    pub fn dimensions(&self) -> (u32, u32) {
        match self {
            Picture::L(i) => i.dimensions(),
            Picture::La(i) => i.dimensions(),
            Picture::Nearest(i) | Picture::Rgb(i) => i.dimensions(),
            Picture::Rgba(i) | Picture::Cmyk(i) => i.dimensions(),
            Picture::I16(i) => i.dimensions(),
        }
    }

    /// Pillow's name for the mode (`"P"` stands for both NEAREST modes).
    pub fn mode(&self) -> &'static str {
        match self {
            Picture::L(_) => "L",
            Picture::La(_) => "LA",
            Picture::Nearest(_) => "P",
            Picture::Rgb(_) => "RGB",
            Picture::Rgba(_) => "RGBA",
            Picture::Cmyk(_) => "CMYK",
            Picture::I16(_) => "I;16",
        }
    }

    /// Pillow's `convert("RGB")`.
    pub fn into_rgb(self) -> RgbImage {
        let (w, h) = self.dimensions();
        let rgb = |pixels: Vec<u8>| RgbImage::from_raw(w, h, pixels).expect("3 bytes a pixel");
        match self {
            Picture::Rgb(rgb) | Picture::Nearest(rgb) => rgb,
            Picture::L(grey) => rgb(grey.iter().flat_map(|&v| [v; 3]).collect()),
            Picture::La(la) => rgb(la.chunks_exact(2).flat_map(|p| [p[0]; 3]).collect()),
            Picture::Rgba(rgba) => rgb(rgba
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect()),
            Picture::Cmyk(cmyk) => rgb(cmyk.chunks_exact(4).flat_map(cmyk_to_rgb).collect()),
            // Pillow's I;16 → RGB conversion clips at 255; it does not scale.
            Picture::I16(grey) => rgb(grey.iter().flat_map(|&v| [v.min(255) as u8; 3]).collect()),
        }
    }

    /// Pillow's `crop((left, top, left + w, top + h))` of a box that lies inside the image.
    pub fn crop(&self, left: u32, top: u32, w: u32, h: u32) -> Picture {
        match self {
            Picture::L(i) => Picture::L(crop_inside(i, left, top, w, h)),
            Picture::La(i) => Picture::La(crop_inside(i, left, top, w, h)),
            Picture::Nearest(i) => Picture::Nearest(crop_inside(i, left, top, w, h)),
            Picture::Rgb(i) => Picture::Rgb(crop_inside(i, left, top, w, h)),
            Picture::Rgba(i) => Picture::Rgba(crop_inside(i, left, top, w, h)),
            Picture::Cmyk(i) => Picture::Cmyk(crop_inside(i, left, top, w, h)),
            Picture::I16(i) => Picture::I16(crop_inside(i, left, top, w, h)),
        }
    }

    /// Pillow's `resize((w, h), BICUBIC)` in the image's own mode (see [`Picture`]).
    pub fn resize(&self, w: u32, h: u32) -> Picture {
        let (iw, ih) = self.dimensions();
        match self {
            Picture::L(i) => Picture::L(from_raw(w, h, resize_pixels(i, iw, ih, 1, w, h))),
            Picture::La(i) => Picture::La(from_raw(w, h, resize_premultiplied(i, iw, ih, 2, w, h))),
            Picture::Nearest(i) => {
                Picture::Nearest(from_raw(w, h, resize_nearest(i, iw, ih, 3, w, h)))
            }
            Picture::Rgb(i) => Picture::Rgb(from_raw(w, h, resize_pixels(i, iw, ih, 3, w, h))),
            Picture::Rgba(i) => {
                Picture::Rgba(from_raw(w, h, resize_premultiplied(i, iw, ih, 4, w, h)))
            }
            Picture::Cmyk(i) => Picture::Cmyk(from_raw(w, h, resize_pixels(i, iw, ih, 4, w, h))),
            Picture::I16(i) => Picture::I16(from_raw(w, h, resize_i16(i, iw, ih, w, h))),
        }
    }
}

fn from_raw<P: Pixel>(
    w: u32,
    h: u32,
    pixels: Vec<P::Subpixel>,
) -> ImageBuffer<P, Vec<P::Subpixel>> {
    ImageBuffer::from_raw(w, h, pixels).expect("the resampler writes w × h pixels")
}

/// The `w`×`h` box of `img` at (`left`, `top`), which lies inside it, copied row by row
/// (`image`'s generic `SubImage::to_image` copies pixel by pixel, at several times the cost).
pub(crate) fn crop_inside<P: Pixel>(
    img: &ImageBuffer<P, Vec<P::Subpixel>>,
    left: u32,
    top: u32,
    w: u32,
    h: u32,
) -> ImageBuffer<P, Vec<P::Subpixel>> {
    let c = usize::from(P::CHANNEL_COUNT);
    let (left, top, w, h) = (left as usize, top as usize, w as usize, h as usize);
    let stride = c * img.width() as usize;
    let mut pixels = Vec::with_capacity(c * w * h);
    for row in img.as_raw().chunks_exact(stride).skip(top).take(h) {
        pixels.extend_from_slice(&row[c * left..c * (left + w)]);
    }
    ImageBuffer::from_raw(w as u32, h as u32, pixels).expect("the box lies inside the image")
}

/// Pillow's `cmyk2rgb` (libImaging/Convert.c): each ink darkens in proportion to what black
/// leaves, `255 - k - c·(255 - k)/255`, with Pillow's rounded division by 255.
fn cmyk_to_rgb(p: &[u8]) -> [u8; 3] {
    let nk = 255 - i32::from(p[3]);
    let ink = |v: u8| {
        let t = i32::from(v) * nk + 128;
        (nk - (((t >> 8) + t) >> 8)).clamp(0, 255) as u8
    };
    [ink(p[0]), ink(p[1]), ink(p[2])]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_converts_to_rgb_as_pillow_does() {
        let grey = Picture::L(GrayImage::from_raw(2, 1, vec![7, 200]).unwrap());
        assert_eq!(grey.into_rgb().into_raw(), [7, 7, 7, 200, 200, 200]);
        let la = Picture::La(GrayAlphaImage::from_raw(1, 1, vec![9, 0]).unwrap());
        assert_eq!(
            la.into_rgb().into_raw(),
            [9, 9, 9],
            "alpha dropped, not applied"
        );
        let rgba = Picture::Rgba(RgbaImage::from_raw(1, 1, vec![1, 2, 3, 0]).unwrap());
        assert_eq!(rgba.into_rgb().into_raw(), [1, 2, 3]);
        let deep = Picture::I16(Gray16Image::from_raw(3, 1, vec![100, 255, 40000]).unwrap());
        assert_eq!(
            deep.into_rgb().into_raw(),
            [100, 100, 100, 255, 255, 255, 255, 255, 255],
            "Pillow clips I;16 at 255"
        );
        let cmyk =
            Picture::Cmyk(RgbaImage::from_raw(2, 1, vec![0, 0, 0, 0, 255, 0, 128, 255]).unwrap());
        assert_eq!(cmyk.into_rgb().into_raw(), [255, 255, 255, 0, 0, 0]);
    }

    #[test]
    fn crop_and_resize_keep_the_mode() {
        let la = Picture::La(GrayAlphaImage::from_fn(9, 7, |x, y| {
            image::LumaA([(x * 20) as u8, (y * 30) as u8])
        }));
        let cropped = la.crop(1, 2, 5, 4);
        assert_eq!((cropped.mode(), cropped.dimensions()), ("LA", (5, 4)));
        let Picture::La(inner) = &cropped else {
            unreachable!()
        };
        assert_eq!(inner.get_pixel(0, 0).0, [20, 60]);
        let resized = cropped.resize(3, 3);
        assert_eq!((resized.mode(), resized.dimensions()), ("LA", (3, 3)));
        assert_eq!(la.resize(9, 7), la, "the same size is a copy");
    }
}
