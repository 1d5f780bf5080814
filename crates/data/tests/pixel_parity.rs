//! Pixels as the reference code sees them. `tests/fixtures/pixels` holds images in the formats
//! users have (JPEG baseline and progressive, 4:4:4 / 4:2:2 / 4:2:0, restart markers, odd
//! sizes, grey, CMYK, ICC, EXIF orientation; PNG in L, LA, P with transparency, RGBA, I;16,
//! 16-bit RGB, tRNS) with, made by `scripts/make_pixel_fixtures.py`:
//! - Pillow's `Image.open(p).convert("RGB")` of each, which must match every byte;
//! - the preprocessed tensor of three reference pipelines, which must match within 1e-6:
//!   torchvision's `ImageFolder` loader + open_clip's eval transform (`eval`: every
//!   evaluation suite), NegCLIP's training loader + open_clip's training transform at a fixed
//!   crop box (`train`), the ARO code's loader with its box crop + the eval transform (`aro`).

use std::path::{Path, PathBuf};

use negclip_data::decode::load_image;
use negclip_data::picture::Picture;
use negclip_data::preprocess::{crop, normalize, preprocess_rgb, resized_crop};
use negclip_data::suite::CropBox;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    file: String,
    /// Pillow's mode on open.
    mode: String,
    /// Pillow refuses the file.
    error: bool,
    /// `convert("RGB")`'s pixels, as an RGB PNG.
    rgb: Option<String>,
    size: u32,
    /// `(left, top, width, height)` of the training pipeline's crop.
    train_box: Option<[u32; 4]>,
    #[serde(default)]
    tensors: Tensors,
    /// `(x, y, w, h)` of the ARO crop.
    aro_box: Option<[u32; 4]>,
}

#[derive(Deserialize, Default)]
struct Tensors {
    eval: Option<String>,
    train: Option<String>,
    aro: Option<String>,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pixels")
}

fn cases() -> Vec<Case> {
    let manifest = fixtures().join("manifest.json");
    let text = std::fs::read(&manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    serde_json::from_slice(&text).expect("manifest")
}

fn decodable() -> impl Iterator<Item = Case> {
    cases().into_iter().filter(|case| !case.error)
}

fn picture(case: &Case) -> Picture {
    load_image(&fixtures().join(&case.file)).unwrap_or_else(|e| panic!("{e}"))
}

/// A little-endian f32 file.
fn tensor(name: &str) -> Vec<f32> {
    let path = fixtures().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn assert_close(label: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{label}: length");
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst <= 1e-6, "{label}: max |difference| {worst}");
}

#[test]
fn every_image_decodes_to_pillows_mode_and_pixels() {
    let mut seen = 0;
    for case in decodable() {
        let got = picture(&case);
        // Pillow's bilevel mode "1" is resized like "P", which stands for both.
        let mode = if case.mode == "1" { "P" } else { &case.mode };
        assert_eq!(got.mode(), mode, "{}: mode", case.file);
        let Some(rgb) = &case.rgb else { continue };
        let want = image::open(fixtures().join(rgb)).unwrap().to_rgb8();
        let got = got.into_rgb();
        assert_eq!(got.dimensions(), want.dimensions(), "{}", case.file);
        let differing = got
            .as_raw()
            .iter()
            .zip(want.as_raw())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differing, 0, "{}: bytes unlike Pillow's", case.file);
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} images with expected pixels");
}

#[test]
fn files_pillow_refuses_are_errors_naming_the_file() {
    let refused: Vec<Case> = cases().into_iter().filter(|case| case.error).collect();
    assert!(!refused.is_empty());
    for case in refused {
        let path: &Path = &fixtures().join(&case.file);
        let error = load_image(path).expect_err(&case.file).to_string();
        assert!(error.contains(&case.file), "{error}");
    }
}

#[test]
fn evaluation_converts_on_load_as_imagefolder_and_open_clip_do() {
    for case in decodable() {
        let Some(want) = &case.tensors.eval else {
            continue;
        };
        let got = preprocess_rgb(&picture(&case).into_rgb(), case.size);
        assert_close(&format!("{} eval", case.file), &got, &tensor(want));
    }
}

#[test]
fn training_converts_after_the_crop_as_negclips_loader_does() {
    for case in decodable() {
        let (Some(want), Some([left, top, w, h])) = (&case.tensors.train, case.train_box) else {
            continue;
        };
        let got = normalize(&resized_crop(&picture(&case), (left, top, w, h), case.size));
        assert_close(&format!("{} train", case.file), &got, &tensor(want));
    }
}

#[test]
fn aro_crops_after_converting_as_the_aro_code_does() {
    let mut seen = 0;
    for case in decodable() {
        let (Some(want), Some([x, y, w, h])) = (&case.tensors.aro, case.aro_box) else {
            continue;
        };
        let cropped = crop(&picture(&case).into_rgb(), CropBox { x, y, w, h });
        let got = preprocess_rgb(&cropped, case.size);
        assert_close(&format!("{} aro", case.file), &got, &tensor(want));
        seen += 1;
    }
    assert!(seen >= 3);
}
