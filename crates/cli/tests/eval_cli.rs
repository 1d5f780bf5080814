//! `negclip eval` end to end: two checkpoints side by side, on the ARO-format fixture suites
//! and on a synthetic suite written by `negclip synth`, read through the same loaders.

mod common;

use common::{negclip_ok as negclip, run_negclip, workspace};
use std::path::Path;

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
        "--output",
        &exported,
    ]);
    let synthetic = format!("{tmp}/synth");
    negclip(&[
        "synth",
        "--output",
        &format!("{synthetic}/aro"),
        "--items",
        "40",
        "--seed",
        "5",
    ]);

    // Into folders that do not exist yet: they are made.
    let out = format!("{tmp}/new/folder/results.json");
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
        "--output",
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
    let markdown = std::fs::read_to_string(format!("{tmp}/new/folder/results.md")).unwrap();
    assert!(markdown.starts_with("| suite | metric |"), "{markdown}");
    let chart =
        image::open(format!("{tmp}/new/folder/results.png")).expect("a bar chart beside the JSON");
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
        "--output",
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

    let failed = run_negclip(&args);
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
    let output = run_negclip(&[
        "eval",
        "--checkpoint",
        "tests/fixtures/model/hf_quickgelu",
        "--suite",
        "Synth-Relation",
        "--items",
        "4",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("256 tokens"), "{stderr}");
}

/// Copies every file of `from` into `to` (one level: the fixtures' image folders).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

/// The test split of a Karpathy file as the ARO code's per-split file:
/// `[{"image": "<folder>/<filename>", "caption": [...]}]`.
fn aro_split_file(karpathy: &Path, folder: &str, out: &Path) {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(karpathy).unwrap()).unwrap();
    let rows: Vec<serde_json::Value> = json["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|image| image["split"] == "test")
        .map(|image| {
            let captions: Vec<&serde_json::Value> = image["sentences"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| &s["raw"])
                .collect();
            serde_json::json!({
                "image": format!("{folder}/{}", image["filename"].as_str().unwrap()),
                "caption": captions,
            })
        })
        .collect();
    std::fs::write(out, serde_json::to_string(&rows).unwrap()).unwrap();
}

fn results(path: &Path) -> Vec<(String, serde_json::Value)> {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["checkpoints"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["suite"].as_str().unwrap().to_string(),
                r["metrics"].clone(),
            )
        })
        .collect()
}

#[test]
fn the_aro_codes_files_and_sugarcrepes_repository_layout_read_as_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = workspace().join("tests/fixtures/aro");
    // The ARO code's layout: per-split Karpathy files beside the image folders they name,
    // SugarCrepe's JSONs in its repository's `data/`, and COCO 2017 val given by key.
    let root = dir.path().join("aro-layout");
    copy_dir(&fixture.join("coco/val2014"), &root.join("coco/val2014"));
    aro_split_file(
        &fixture.join("coco/dataset_coco.json"),
        "val2014",
        &root.join("coco/coco_karpathy_test.json"),
    );
    copy_dir(
        &fixture.join("flickr30k/images"),
        &root.join("flickr30k/flickr30k-images"),
    );
    aro_split_file(
        &fixture.join("flickr30k/dataset_flickr30k.json"),
        "flickr30k-images",
        &root.join("flickr30k/flickr30k_test.json"),
    );
    copy_dir(&fixture.join("sugarcrepe"), &root.join("sugarcrepe/data"));
    let suites = "coco-order,flickr30k-order,retrieval,sugarcrepe";
    let theirs = dir.path().join("aro-layout.json");
    let run = negclip(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--suite",
        suites,
        "--data-root",
        root.to_str().unwrap(),
        "--data",
        &format!("coco-val2017={}", fixture.join("coco/val2017").display()),
        "--output",
        theirs.to_str().unwrap(),
    ]);
    let table = String::from_utf8_lossy(&run.stdout);
    for needle in [
        "coco-order",
        "flickr30k-order",
        "coco-retrieval",
        "flickr30k-retrieval",
    ] {
        assert!(table.contains(needle), "table lacks {needle}:\n{table}");
    }
    let ours = dir.path().join("default-layout.json");
    negclip(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--suite",
        suites,
        "--data-root",
        "tests/fixtures/aro",
        "--output",
        ours.to_str().unwrap(),
    ]);
    let (theirs, ours) = (results(&theirs), results(&ours));
    assert_eq!(theirs.len(), ours.len());
    assert_eq!(
        theirs, ours,
        "the same items in either layout score the same"
    );
}

#[test]
fn unknown_path_keys_and_missing_paths_are_named() {
    let output = run_negclip(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--suite",
        "coco-order",
        "--data",
        "coco=/x",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("\"coco\"") && stderr.contains("coco-test"),
        "{stderr}"
    );
    let output = run_negclip(&["eval", "--checkpoint", MODEL, "--suite", "vg-relation"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("--data vg-relation=PATH"), "{stderr}");
}

#[test]
fn a_classification_folder_evaluates_with_calibration_ood_and_a_reliability_diagram() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cls.json");
    let spec = "{ name = \"shapes\", images = \"tests/fixtures/classification/images\", \
                templates = \"tests/fixtures/classification/templates.txt\", \
                compositions = { seen = \"tests/fixtures/classification/seen.txt\" }, \
                ood = \"tests/fixtures/classification/ood\" }";
    negclip(&[
        "eval",
        "--checkpoint",
        "tests/fixtures/model/open_clip_full_vocab",
        "--classification",
        spec,
        "--suite",
        "synth-ood",
        "--items",
        "50",
        "--output",
        out.to_str().unwrap(),
    ]);
    let results = results(&out);
    let shapes = &results.iter().find(|(s, _)| s == "shapes").unwrap().1;
    for metric in [
        "top1",
        "top5",
        "mean_per_class_recall",
        "ece",
        "ece_after_scaling",
        "temperature",
        "seen_top1",
        "unseen_top1",
        "attribute_accuracy",
        "msp_auroc",
        "mcm_fpr95",
    ] {
        assert!(
            shapes[metric].is_number(),
            "shapes lacks {metric}: {shapes}"
        );
    }
    // The reference's top-1 on the whole fixture (tests/fixtures/classification/expected.json).
    assert!((shapes["top1"].as_f64().unwrap() - 1.0 / 6.0).abs() < 1e-12);
    let synthetic = &results.iter().find(|(s, _)| s == "Synth-OOD").unwrap().1;
    assert!(synthetic["msp_auroc"].is_number());
    for suite in ["shapes", "Synth-OOD"] {
        let png = dir.path().join(format!("cls-reliability-{suite}.png"));
        let image = image::open(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(image.width() > 0);
    }
}
