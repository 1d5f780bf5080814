//! `negclip eval` on SugarCrepe++ and VALSE laid out as their downloads
//! (`tests/fixtures/compositional`), with the tiny CLIP the reference checks use: every metric
//! and every mean over subsets is printed and written, with the reference scripts' numbers;
//! and the reference code's suite names (ARO's, CLIP_benchmark's) are accepted.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{negclip_ok, run_negclip, workspace};

/// What `negclip ARGS` printed, once it has succeeded.
fn negclip(args: &[&str]) -> String {
    String::from_utf8_lossy(&negclip_ok(args).stdout).into_owned()
}

const MODEL: &str = "tests/fixtures/model/open_clip_full_vocab";

fn read(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Suite -> metric -> value of the first checkpoint of a `--output` file.
fn results(path: &Path) -> BTreeMap<String, BTreeMap<String, f64>> {
    read(path)["checkpoints"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let metrics = r["metrics"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
                .collect();
            (r["suite"].as_str().unwrap().to_string(), metrics)
        })
        .collect()
}

fn assert_number(
    got: &BTreeMap<String, BTreeMap<String, f64>>,
    suite: &str,
    metric: &str,
    want: &serde_json::Value,
) {
    let value = got
        .get(suite)
        .and_then(|m| m.get(metric))
        .unwrap_or_else(|| panic!("no {suite} ({metric}) in the results"));
    let want = want.as_f64().unwrap();
    assert!(
        (value - want).abs() < 1e-12,
        "{suite} ({metric}): {value}, reference {want}"
    );
}

#[test]
fn sugarcrepe_pp_and_valse_print_every_metric_with_the_references_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let table = negclip(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--suite",
        "sugarcrepe++,valse",
        "--data-root",
        "tests/fixtures/compositional",
        "--output",
        out.to_str().unwrap(),
    ]);
    let scpp = read(&workspace().join("tests/fixtures/compositional/sugarcrepe_pp_expected.json"));
    let valse = read(&workspace().join("tests/fixtures/compositional/valse_expected.json"));
    let got = results(&out);
    for (suite, want) in scpp["suites"].as_object().unwrap() {
        for metric in ["text_score", "group_score", "text_only_score"] {
            assert!(
                table.contains(&format!("| {suite} | {metric} |")),
                "the table lacks {suite} ({metric}):\n{table}"
            );
        }
        assert_number(&got, suite, "text_score", &want["itt"]);
        assert_number(&got, suite, "text_only_score", &want["tot"]);
    }
    for (suite, want) in scpp["means"].as_object().unwrap() {
        assert!(
            table.contains(&format!("| {suite} | text_only_score |")),
            "{table}"
        );
        assert_number(&got, suite, "text_score", &want["itt"]);
        assert_number(&got, suite, "text_only_score", &want["tot"]);
    }
    for (suite, want) in valse["suites"].as_object().unwrap() {
        assert!(
            table.contains(&format!("| {suite} | accuracy |")),
            "{table}"
        );
        assert_number(&got, suite, "accuracy", &want["accuracy"]);
    }
    assert_eq!(got["valse"]["subsets"], 11.0);
}

#[test]
fn the_aro_codes_and_clip_benchmarks_names_are_accepted() {
    let table = negclip(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--suite",
        "VG_Relation,sugar_crepe/add_att,sugar_crepe/add_obj",
        "--data-root",
        "tests/fixtures/aro",
    ]);
    for row in [
        "| vg-relation | macro_accuracy |",
        "| sugarcrepe/add_att | accuracy |",
        "| sugarcrepe/add_obj | accuracy |",
        // Both ADD subsets were evaluated: their mean, and no overall mean.
        "| sugarcrepe/add | accuracy |",
    ] {
        assert!(table.contains(row), "the table lacks {row}:\n{table}");
    }
    assert!(!table.contains("| sugarcrepe | accuracy |"), "{table}");
    let output = run_negclip(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--suite",
        "sugar_crepe/add_rel",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("sugar_crepe/add_rel") && stderr.contains("VG_Relation"),
        "the error lists the names it knows:\n{stderr}"
    );
}
