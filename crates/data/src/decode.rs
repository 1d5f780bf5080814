//! Reading image files into [`Picture`]s, pixel for pixel as Pillow's `Image.open` reads them.
//!
//! - **JPEG** goes through libjpeg-turbo, the decoder Pillow's wheels bundle, as MozJPEG's
//!   build of it (the `mozjpeg` crate compiles it from source: no system library, no
//!   download; with `nasm` on `PATH` it also builds libjpeg-turbo's SIMD code, whose output is
//!   the same). Pillow's settings: the accurate integer IDCT (ISLOW), fancy upsampling, no DCT
//!   scaling; no EXIF rotation and no ICC colour management, as Pillow does neither unless
//!   asked. `zune-jpeg`, which the `image` crate uses, differs from it on subsampled chroma
//!   (docs/tokenizer-and-preprocessing.md has the measurement).
//! - **Everything else** through the `image` crate, mapped to Pillow's mode: a PNG's header
//!   says which (palette, grey, 16 bits, a `tRNS` chunk that Pillow keeps as metadata rather
//!   than as an alpha channel).

use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat};
use mozjpeg::{ColorSpace, DctMethod, Decompress, Marker};

use crate::picture::{Gray16Image, Picture};

/// Errors from reading images; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageFileError {
    #[error("cannot open image {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot decode image {}: {source}", path.display())]
    Decode {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("cannot decode JPEG image {}: {message}", path.display())]
    Jpeg { path: PathBuf, message: String },
}

/// Reads and decodes an image file (format guessed from its content); a missing,
/// unreadable, truncated or corrupt file is an error naming the file.
pub fn load_image(path: &Path) -> Result<Picture, ImageFileError> {
    let bytes = std::fs::read(path).map_err(|source| ImageFileError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    decode_image(&bytes).map_err(|error| error.naming(path))
}

/// What went wrong, before the file's name is attached.
#[derive(Debug)]
enum Failure {
    Image(image::ImageError),
    Jpeg(String),
}

impl Failure {
    fn naming(self, path: &Path) -> ImageFileError {
        let path = path.to_path_buf();
        match self {
            Failure::Image(source) => ImageFileError::Decode { path, source },
            Failure::Jpeg(message) => ImageFileError::Jpeg { path, message },
        }
    }
}

/// Decodes an image file's bytes.
fn decode_image(bytes: &[u8]) -> Result<Picture, Failure> {
    match image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => decode_jpeg(bytes).map_err(Failure::Jpeg),
        Ok(ImageFormat::Png) => {
            let header = png_header(bytes);
            let image = image::load_from_memory_with_format(bytes, ImageFormat::Png)
                .map_err(Failure::Image)?;
            Ok(png_picture(image, header))
        }
        Ok(ImageFormat::Gif) => {
            // GIF frames are palette images: Pillow's mode P.
            let image = image::load_from_memory(bytes).map_err(Failure::Image)?;
            Ok(Picture::Nearest(image.to_rgb8()))
        }
        _ => Ok(picture(
            image::load_from_memory(bytes).map_err(Failure::Image)?,
        )),
    }
}

/// libjpeg-turbo's decoding with Pillow's settings (`PIL/JpegImagePlugin.py`,
/// `libImaging/JpegDecode.c`): grey stays grey (`L`), 4-component files become `CMYK`
/// (YCCK converted by libjpeg), everything else RGB.
fn decode_jpeg(bytes: &[u8]) -> Result<Picture, String> {
    // libjpeg fills a cut-off scan with grey and only warns; Pillow refuses such files
    // ("image file is truncated"), and so do we.
    if !jpeg_has_end(bytes) {
        return Err("the data ends before the end-of-image marker (truncated file)".into());
    }
    // The mozjpeg crate reports libjpeg's fatal errors by unwinding (it cannot return through
    // C frames): the unwind is caught here and becomes the error's message.
    let decoded = std::panic::catch_unwind(|| -> std::io::Result<Picture> {
        let mut jpeg = Decompress::with_markers(&[Marker::APP(14)]).from_mem(bytes)?;
        jpeg.dct_method(DctMethod::IntegerSlow);
        jpeg.do_fancy_upsampling(true);
        let (w, h) = (jpeg.width() as u32, jpeg.height() as u32);
        let picture = match jpeg.color_space() {
            ColorSpace::JCS_GRAYSCALE => {
                let mut started = jpeg.grayscale()?;
                let pixels = started.read_scanlines::<u8>()?;
                started.finish()?;
                Picture::L(image::GrayImage::from_raw(w, h, pixels).expect("w × h"))
            }
            ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK => {
                let mut started = jpeg.to_colorspace(ColorSpace::JCS_CMYK)?;
                let mut pixels = started.read_scanlines::<u8>()?;
                started.finish()?;
                // Pillow reads every CMYK JPEG with the raw mode "CMYK;I": Adobe's
                // convention, which stores the inks inverted.
                pixels.iter_mut().for_each(|v| *v = 255 - *v);
                Picture::Cmyk(image::RgbaImage::from_raw(w, h, pixels).expect("w × h"))
            }
            _ => {
                let mut started = jpeg.rgb()?;
                let pixels = started.read_scanlines::<[u8; 3]>()?;
                started.finish()?;
                let flat = pixels.into_iter().flatten().collect();
                Picture::Rgb(image::RgbImage::from_raw(w, h, flat).expect("w × h"))
            }
        };
        Ok(picture)
    });
    match decoded {
        Ok(Ok(picture)) => Ok(picture),
        Ok(Err(error)) => Err(error.to_string()),
        Err(payload) => Err(payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "libjpeg failed".into())),
    }
}

/// Whether an end-of-image marker (FF D9) follows the last start-of-scan
/// (FF DA). Entropy-coded data escapes every FF byte, so neither marker can
/// appear inside a scan by accident.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|m| m == [0xff, 0xda]);
    let last_eoi = bytes.windows(2).rposition(|m| m == [0xff, 0xd9]);
    matches!((last_sos, last_eoi), (Some(sos), Some(eoi)) if eoi > sos)
}

/// A PNG's bit depth and colour type, from its `IHDR` chunk (always first).
#[derive(Debug, Clone, Copy)]
struct PngHeader {
    bit_depth: u8,
    colour_type: u8,
}

fn png_header(bytes: &[u8]) -> Option<PngHeader> {
    (bytes.get(12..16)? == b"IHDR").then(|| PngHeader {
        bit_depth: bytes[24],
        colour_type: bytes[25],
    })
}

/// The Pillow mode of a decoded PNG (`PIL/PngImagePlugin.py`, `_MODES`). The `image` crate
/// expands palettes and turns a `tRNS` chunk into an alpha channel; Pillow keeps a palette
/// image as `P`, a bilevel one as `1` (both resized with NEAREST) and a grey or RGB image with
/// `tRNS` as `L` or `RGB` (the transparency stays in `info`, unused by `convert("RGB")`).
fn png_picture(image: DynamicImage, header: Option<PngHeader>) -> Picture {
    let Some(PngHeader {
        bit_depth,
        colour_type,
    }) = header
    else {
        return picture(image);
    };
    match (colour_type, bit_depth) {
        (3, _) | (0, 1) => Picture::Nearest(image.to_rgb8()),
        (0, 16) => Picture::I16(first_channel_16(image)),
        (0, _) => Picture::L(grey_of(image)),
        (2, _) => Picture::Rgb(high_bytes(image).to_rgb8()),
        // Pillow opens 16-bit grey + alpha as RGBA (`LA;16B` unpacks to L, L, L, A).
        (4, 16) => Picture::Rgba(high_bytes(image).to_rgba8()),
        _ => picture(image),
    }
}

/// The grey channel of an 8-bit grey image, with or without the alpha of a `tRNS` chunk.
fn grey_of(image: DynamicImage) -> image::GrayImage {
    match image {
        DynamicImage::ImageLuma8(grey) => grey,
        other => other.to_luma8(),
    }
}

/// The grey channel of a 16-bit grey image, with or without a `tRNS` alpha.
fn first_channel_16(image: DynamicImage) -> Gray16Image {
    match image {
        DynamicImage::ImageLuma16(grey) => grey,
        DynamicImage::ImageLumaA16(la) => {
            let (w, h) = la.dimensions();
            let values = la.chunks_exact(2).map(|p| p[0]).collect();
            Gray16Image::from_raw(w, h, values).expect("w × h")
        }
        other => other.to_luma16(),
    }
}

/// 16-bit samples cut to their high byte, as Pillow's `;16B` unpackers do (the `image` crate
/// rounds instead).
fn high_bytes(image: DynamicImage) -> DynamicImage {
    fn cut<P: image::Pixel<Subpixel = u16>, Q: image::Pixel<Subpixel = u8>>(
        img: &image::ImageBuffer<P, Vec<u16>>,
    ) -> image::ImageBuffer<Q, Vec<u8>> {
        let (w, h) = img.dimensions();
        let bytes = img.as_raw().iter().map(|&v| (v >> 8) as u8).collect();
        image::ImageBuffer::from_raw(w, h, bytes).expect("same layout")
    }
    match &image {
        DynamicImage::ImageRgb16(i) => DynamicImage::ImageRgb8(cut(i)),
        DynamicImage::ImageRgba16(i) => DynamicImage::ImageRgba8(cut(i)),
        DynamicImage::ImageLumaA16(i) => DynamicImage::ImageLumaA8(cut(i)),
        _ => image,
    }
}

/// The Pillow mode of an image whose container says no more than its pixel layout.
fn picture(image: DynamicImage) -> Picture {
    match high_bytes(image) {
        DynamicImage::ImageLuma8(i) => Picture::L(i),
        DynamicImage::ImageLumaA8(i) => Picture::La(i),
        DynamicImage::ImageRgb8(i) => Picture::Rgb(i),
        DynamicImage::ImageRgba8(i) => Picture::Rgba(i),
        DynamicImage::ImageLuma16(i) => Picture::I16(i),
        // Float images: Pillow has modes of its own for these; reduced to 8-bit RGB.
        other => Picture::Rgb(other.to_rgb8()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jpeg_cut_short_is_refused_and_a_broken_header_is_named() {
        let pixels: Vec<u8> = (0..32 * 24)
            .flat_map(|i| [(i % 32 * 8) as u8, (i / 32 * 10) as u8, 90])
            .collect();
        let mut jpeg = mozjpeg::Compress::new(ColorSpace::JCS_RGB);
        jpeg.set_size(32, 24);
        let mut started = jpeg.start_compress(Vec::new()).unwrap();
        started.write_scanlines(&pixels).unwrap();
        let bytes = started.finish().unwrap();
        assert!(matches!(decode_image(&bytes), Ok(Picture::Rgb(_))));
        let cut = &bytes[..bytes.len() / 2];
        let Err(Failure::Jpeg(message)) = decode_image(cut) else {
            panic!("a truncated JPEG decoded")
        };
        assert!(message.contains("truncated"), "{message}");
        // A start-of-frame (MozJPEG writes progressive ones, C2) that claims zero lines:
        // libjpeg's fatal error, caught.
        let mut broken = bytes.clone();
        let sof = broken
            .windows(2)
            .position(|m| m == [0xff, 0xc0] || m == [0xff, 0xc2])
            .unwrap();
        broken[sof + 5] = 0;
        broken[sof + 6] = 0;
        let Err(Failure::Jpeg(message)) = decode_image(&broken) else {
            panic!("a JPEG with no lines decoded")
        };
        assert!(!message.is_empty());
    }
}
