//! `negclip embed` reproduces open_clip's normalised embeddings of a tiny full-vocabulary
//! fixture CLIP (images through the eval transform, captions through the tokenizer).
//! Expected values: `scripts/aro_reference.py embed` (see tests/fixtures/embed/).

use std::path::Path;
use std::process::Command;

#[test]
fn embeddings_match_open_clip_within_1e_4() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/fixtures/embed/expected.json")).unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("emb.safetensors");
    let images: Vec<&str> = expected["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let output = Command::new(env!("CARGO_BIN_EXE_negclip"))
        .current_dir(&root)
        .args([
            "embed",
            "--checkpoint",
            "tests/fixtures/model/open_clip_full_vocab",
            "--texts",
        ])
        .arg("tests/fixtures/embed/captions.txt")
        .arg("--images")
        .args(&images)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let bytes = std::fs::read(&out).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, key) in [
        ("image_embeds", "image_embeds"),
        ("text_embeds", "text_embeds"),
    ] {
        let view = file.tensor(name).unwrap();
        let got: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let want: Vec<f64> = expected[key]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
            .collect();
        assert_eq!(
            got.len(),
            want.len(),
            "{name}: row order and count follow the input"
        );
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (*g as f64 - w).abs())
            .fold(0.0, f64::max);
        assert!(worst <= 1e-4, "{name}: max abs difference {worst}");
    }
}
