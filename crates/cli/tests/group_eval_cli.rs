//! `negclip eval` on group suites end to end: Winoground read from a data root laid out as
//! its dataset repository ships it, a generic-format file named by `--data generic:NAME=…`,
//! and Synth-Winoground; every score printed, overall and per tag.

mod common;

use common::{negclip_ok, run_negclip as negclip};

fn succeeded(args: &[&str]) -> String {
    String::from_utf8_lossy(&negclip_ok(args).stdout).into_owned()
}

const MODEL: &str = "tests/fixtures/model/open_clip_full_vocab";

#[test]
fn winoground_and_generic_files_print_text_image_and_group_scores() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let table = succeeded(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--suite",
        "winoground,generic",
        "--data-root",
        "tests/fixtures/compositional",
        "--data",
        "generic:mixed=tests/fixtures/generic/generic/mixed.jsonl",
        "--output",
        out.to_str().unwrap(),
    ]);
    for needle in [
        "winoground",
        "group_score",
        "text_score",
        "image_score",
        "group_score/collapsed_tag/Relation",
        "text_score/secondary_tag/Symbolic",
        "image_score/num_main_preds/2",
        "generic/mixed",
        "group_score/shape/2x3",
    ] {
        assert!(table.contains(needle), "the table lacks {needle}:\n{table}");
    }
    // The tiny model gets no Winoground example right (the reference check's finding).
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let results = json["checkpoints"][0]["results"].as_array().unwrap();
    let winoground = results.iter().find(|r| r["suite"] == "winoground").unwrap();
    assert_eq!(winoground["metrics"]["group_score"], 0.0);
    assert_eq!(
        winoground["report"]["outcomes"].as_array().unwrap().len(),
        6
    );
    let mixed = results
        .iter()
        .find(|r| r["suite"] == "generic/mixed")
        .unwrap();
    let group = mixed["metrics"]["group_score"].as_f64().unwrap();
    assert!((group - 1.0 / 3.0).abs() < 1e-12, "{group}");
}

#[test]
fn a_bad_generic_line_is_an_error_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.jsonl");
    std::fs::write(
        &file,
        "{\"images\": [], \"captions\": [\"a\", \"b\"], \"true\": []}\n",
    )
    .unwrap();
    let output = negclip(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--suite",
        "generic",
        "--data",
        &format!("generic:bad={}", file.display()),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.jsonl") && stderr.contains("line 1"),
        "{stderr}"
    );
}

#[test]
fn synth_winoground_needs_no_data() {
    let table = succeeded(&[
        "eval",
        "--checkpoint",
        "models/synthetic-tiny-clip.safetensors",
        "--suite",
        "Synth-Winoground",
        "--items",
        "20",
    ]);
    for needle in ["Synth-Winoground", "group_score", "group_score/relation/"] {
        assert!(table.contains(needle), "the table lacks {needle}:\n{table}");
    }
}
