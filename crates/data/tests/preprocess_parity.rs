//! CLIP eval preprocessing against open_clip: tests/fixtures/preprocess holds
//! small images and open_clip's `image_transform(size, is_train=False)` output
//! before normalisation (scripts/make_preprocess_fixtures.py).

use std::path::{Path, PathBuf};

use negclip_data::decode::load_image;
use negclip_data::picture::Picture;
use negclip_data::preprocess::{normalize, resize_center_crop, CLIP_MEAN, CLIP_STD};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    image: String,
    mode: String,
    size: u32,
    /// Raw uint8 CHW bytes of open_clip's output times 255.
    expected: String,
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/preprocess")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn eval_transform_matches_open_clip_within_two_levels() {
    let dir = fixture_dir();
    let cases: Vec<Case> =
        serde_json::from_slice(&read(&dir.join("manifest.json"))).expect("manifest");
    assert!(cases.len() >= 16);
    for case in &cases {
        let img = load_image(&dir.join(&case.image)).expect("fixture image loads");
        assert_eq!(img.mode(), case.mode, "{}: Pillow's mode", case.image);
        // The script records a palette image's transform after `convert("RGB")`.
        let img = match img {
            Picture::Nearest(rgb) => Picture::Rgb(rgb),
            other => other,
        };
        let got = resize_center_crop(&img, case.size);
        let expected = read(&dir.join(&case.expected));
        let plane = (case.size * case.size) as usize;
        assert_eq!(got.dimensions(), (case.size, case.size));
        assert_eq!(expected.len(), 3 * plane);
        let (mut max, mut sum) = (0u32, 0u64);
        for (i, px) in got.pixels().enumerate() {
            for c in 0..3 {
                let d = (i32::from(px[c]) - i32::from(expected[c * plane + i])).unsigned_abs();
                max = max.max(d);
                sum += u64::from(d);
            }
        }
        let mean = sum as f64 / (3 * plane) as f64;
        let label = format!("{} ({}) at {}", case.image, case.mode, case.size);
        eprintln!("{label}: max {max}/255, mean {mean:.4}/255");
        // The decoders are Pillow's (libjpeg-turbo for JPEG) and the resize reproduces
        // Pillow's integer arithmetic: every byte must match.
        assert_eq!(max, 0, "{label}: max abs diff {max}/255");

        let tensor = normalize(&got);
        let want = (f32::from(expected[0]) / 255.0 - CLIP_MEAN[0]) / CLIP_STD[0];
        assert!((tensor[0] - want).abs() <= 1e-6, "{label}: normalised");
    }
}

/// A copy of `name` cut to its first half in a fresh temp dir.
fn truncated_copy(name: &str) -> PathBuf {
    let bytes = read(&fixture_dir().join(name));
    let dir =
        std::env::temp_dir().join(format!("negclip-preprocess-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("truncated-{name}"));
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    path
}

#[test]
fn truncated_or_missing_files_are_errors_naming_the_file() {
    for name in ["rgb_300x200.png", "jpeg_224x224.jpg"] {
        let path = truncated_copy(name);
        let err = load_image(&path).expect_err("a truncated image must not load");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }
    let missing = fixture_dir().join("no-such-image.png");
    let err = load_image(&missing).expect_err("missing file");
    assert!(err.to_string().contains("no-such-image.png"), "{err}");
}
