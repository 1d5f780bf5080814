//! `negclip synth` end to end: the files the ARO loaders read appear, and bad
//! arguments fail with a message naming the problem.

use std::process::Command;

fn negclip() -> Command {
    Command::new(env!("CARGO_BIN_EXE_negclip"))
}

#[test]
fn synth_writes_heldout_scenes_in_aro_formats() {
    let dir = std::env::temp_dir().join(format!("negclip-synth-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = negclip()
        .args([
            "synth",
            "--items",
            "6",
            "--split",
            "heldout",
            "--image-size",
            "48",
            // `--out`: the hidden alias of `--output`, which earlier versions named it.
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let karpathy: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("dataset_synth.json")).unwrap()).unwrap();
    let images = karpathy["images"].as_array().unwrap();
    assert_eq!(images.len(), 6);
    assert_eq!(images[0]["split"], "heldout");
    let first = dir
        .join("images")
        .join(images[0]["filename"].as_str().unwrap());
    let (w, h) = image_size(&first);
    assert_eq!((w, h), (48, 48));
    assert!(dir.join("visual_genome_relation.json").is_file());
    assert!(dir.join("visual_genome_attribution.json").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn synth_rejects_unknown_split_and_tiny_images() {
    let dir = std::env::temp_dir().join(format!("negclip-synth-bad-{}", std::process::id()));
    let out = negclip()
        .args(["synth", "--split", "dev", "--output"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dev"));
    let out = negclip()
        .args(["synth", "--image-size", "8", "--output"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("image_size 8"));
}

/// Width and height from a PNG's IHDR chunk (bytes 16..24), without an image crate.
fn image_size(path: &std::path::Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}
