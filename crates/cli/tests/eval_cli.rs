//! `negclip eval` end to end: two checkpoints side by side, on the ARO-format fixture suites
//! and on a synthetic suite written by `negclip synth`, read through the same loaders.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn negclip(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_negclip"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("run negclip");
    assert!(
        output.status.success(),
        "negclip {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

const MODEL: &str = "models/synthetic-tiny-clip.safetensors";

#[test]
fn two_checkpoints_in_one_table_with_json_and_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().to_str().unwrap();
    // The same weights in open_clip naming: the two columns must agree exactly.
    let exported = format!("{tmp}/open_clip");
    negclip(&[
        "export",
        "--checkpoint",
        MODEL,
        "--to",
        "open_clip",
        "--out",
        &exported,
    ]);
    let synthetic = format!("{tmp}/synth");
    negclip(&[
        "synth",
        "--out",
        &format!("{synthetic}/aro"),
        "--items",
        "40",
        "--seed",
        "5",
    ]);

    let out = format!("{tmp}/results.json");
    let fixture_run = negclip(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--checkpoint",
        &exported,
        "--suite",
        "vg-relation,vg-attribution,sugarcrepe,coco-retrieval,coco-order",
        "--data-root",
        "tests/fixtures/aro",
        "--out",
        &out,
    ]);
    let table = String::from_utf8_lossy(&fixture_run.stdout);
    for needle in [
        "vg-relation",
        "sugarcrepe/swap_att",
        "coco-retrieval",
        "coco-order",
        MODEL,
        &exported,
    ] {
        assert!(table.contains(needle), "table lacks {needle}:\n{table}");
    }
    assert!(
        table.contains("accuracy_std"),
        "order seeds are summarised:\n{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let columns = json["checkpoints"].as_array().unwrap();
    assert_eq!(columns.len(), 2);
    let metrics = |c: &serde_json::Value| -> Vec<serde_json::Value> {
        c["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["metrics"].clone())
            .collect()
    };
    assert_eq!(
        metrics(&columns[0]),
        metrics(&columns[1]),
        "same weights, same numbers"
    );
    let markdown = std::fs::read_to_string(format!("{tmp}/results.md")).unwrap();
    assert!(markdown.starts_with("| suite | metric |"), "{markdown}");
    let chart = image::open(format!("{tmp}/results.png")).expect("a bar chart beside the JSON");
    assert_eq!(chart.width(), negclip_train::plot::WIDTH);

    let synthetic_run = negclip(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--suite",
        "vg-relation,vg-attribution",
        "--data-root",
        &synthetic,
    ]);
    let table = String::from_utf8_lossy(&synthetic_run.stdout);
    assert!(
        table.contains("vg-relation") && table.contains("vg-attribution"),
        "{table}"
    );
}

#[test]
fn missing_image_names_the_file_and_row_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let synthetic = root.join("aro");
    negclip(&[
        "synth",
        "--out",
        synthetic.to_str().unwrap(),
        "--items",
        "12",
    ]);
    let victim = std::fs::read_dir(synthetic.join("images"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&victim).unwrap();
    let args = [
        "eval",
        "--checkpoint",
        MODEL,
        "--suite",
        "vg-relation",
        "--data-root",
        root.to_str().unwrap(),
    ];

    let failed = Command::new(env!("CARGO_BIN_EXE_negclip"))
        .args(args)
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    let name = victim.file_name().unwrap().to_string_lossy();
    assert!(
        stderr.contains(&*name) && stderr.contains("row"),
        "{stderr}"
    );

    let mut skipping = args.to_vec();
    skipping.push("--skip-missing-images");
    let output = negclip(&skipping);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("skipped"), "the skip is reported: {stderr}");
}

#[test]
fn small_vocabulary_checkpoint_is_refused_with_a_reason() {
    let output = Command::new(env!("CARGO_BIN_EXE_negclip"))
        .args([
            "eval",
            "--checkpoint",
            "tests/fixtures/model/hf_quickgelu",
            "--suite",
            "Synth-Relation",
            "--items",
            "4",
        ])
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("256 tokens"), "{stderr}");
}
