//! The ARO reference check: negclip's evaluation of a real (tiny) CLIP on the benchmark
//! fixtures must agree with the Python reference, which runs the same model with open_clip
//! and PIL the way the ARO / SugarCrepe / CLIP_benchmark code does
//! (`scripts/aro_reference.py clip-scores`, output in
//! `tests/fixtures/aro/clip_scores_expected.json`).
//!
//! Checked per suite: every option score (and retrieval similarity) within 1e-6, the same
//! per-item decisions, the same accuracy and macro accuracies (VG-Relation with and without
//! the >= 25 items filter) and the same recall@1/5/10. The order suites' perturbed captions
//! are negclip's own; `tests/fixtures/aro/order_options.json` holds them for the Python side,
//! and this test first checks that negclip still produces exactly those.

use std::collections::BTreeMap;

use burn::tensor::Device;
use negclip_data::benchmarks::DataPaths;
use negclip_data::metrics::score_choice;
use negclip_data::suite::Suite;
use negclip_data::synth::WorldConfig;
use negclip_data::tokenizer::ClipTokenizer;
use negclip_model::weights;
use negclip_train::evaluate::{
    add_benchmark_means, choice_scores, evaluate_suite, retrieval_similarity, EvalOptions,
    ModelEmbedder, Report, SuiteResult,
};
use negclip_train::suites::{build_suites, SuiteOptions};
use serde_json::Value;

mod common;
use common::{read_json, repo};

/// Largest accepted difference between a negclip score and the reference's. Measured: at most
/// 2.3e-7 on every suite, VG-Relation's 4:2:0 JPEG crops included (1.8e-7), since negclip
/// decodes JPEGs with libjpeg-turbo as Pillow does; 1e-6 leaves room for float rounding on
/// other CPUs.
const SCORE_TOLERANCE: f64 = 1e-6;

fn as_f64(value: &Value, what: &str) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {value}"))
}

/// Every suite the fixtures hold: VG-R, VG-A, the order sets (five seeds each), the seven
/// SugarCrepe subsets and both retrieval sets, all items.
fn fixture_suites() -> Vec<Suite> {
    let names: Vec<String> = ["aro", "sugarcrepe", "retrieval"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let options = SuiteOptions {
        items: 0,
        seed: 1,
        paths: DataPaths::root(repo("tests/fixtures/aro")),
        classification: Vec::new(),
        skip_missing_images: false,
        world: WorldConfig::default(),
        world_seed: 0,
    };
    build_suites(&names, &options).expect("the fixture suites load")
}

/// Max |a - b| over two score tables of the same shape.
fn max_abs_diff(name: &str, ours: &[Vec<f32>], expected: &Value) -> f64 {
    let rows = expected.as_array().expect("a table of scores");
    assert_eq!(ours.len(), rows.len(), "{name}: row count");
    let mut max = 0f64;
    for (i, (row, want)) in ours.iter().zip(rows).enumerate() {
        let want = want.as_array().expect("a row of scores");
        assert_eq!(row.len(), want.len(), "{name}: row {i} length");
        for (got, want) in row.iter().zip(want) {
            max = max.max((f64::from(*got) - as_f64(want, name)).abs());
        }
    }
    max
}

fn assert_same_number(name: &str, ours: Option<f64>, expected: &Value) {
    match (ours, expected.as_f64()) {
        (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{name}: negclip {a}, reference {b}"),
        (None, None) => {}
        (a, _) => panic!("{name}: negclip {a:?}, reference {expected}"),
    }
}

#[test]
fn order_options_are_the_ones_the_reference_scored() {
    let dumped = read_json(&repo("tests/fixtures/aro/order_options.json"));
    let mut seen = 0;
    for suite in fixture_suites() {
        let Suite::Choice(choice) = suite else {
            continue;
        };
        if !choice.name.contains("-order@") {
            continue;
        }
        let ours: Vec<Vec<String>> = choice.items.iter().map(|i| i.options.clone()).collect();
        let want: Vec<Vec<String>> = serde_json::from_value(dumped[&choice.name].clone())
            .unwrap_or_else(|e| panic!("order_options.json lacks {}: {e}", choice.name));
        assert_eq!(
            ours, want,
            "{}: negclip's perturbations changed; regenerate the fixture (docs/evaluation.md)",
            choice.name
        );
        seen += 1;
    }
    assert_eq!(seen, 10, "two order sets with five seeds each");
}

#[test]
fn evaluation_matches_the_python_reference_on_a_tiny_clip() {
    let device = Device::flex();
    let loaded = weights::load(&repo("tests/fixtures/model/open_clip_full_vocab"), &device)
        .expect("the full-vocabulary fixture model loads");
    let embedder = ModelEmbedder::new(&loaded.model, &loaded.config, &device)
        .expect("the fixture reads CLIP's tokens");
    let tokenizer = ClipTokenizer::new();
    let options = EvalOptions {
        batch_size: 16,
        show_progress: false,
        engine: negclip_train::engine::Engine::single(),
    };
    let expected = read_json(&repo("tests/fixtures/aro/clip_scores_expected.json"));
    let mut max_diff: BTreeMap<String, f64> = BTreeMap::new();
    let mut results = Vec::new();
    for suite in fixture_suites() {
        let name = suite.name().to_string();
        let result = evaluate_suite(&embedder, &tokenizer, &suite, &options).unwrap();
        results.push(result.clone());
        match &suite {
            Suite::Choice(choice) => {
                let want = &expected["choice"][&name];
                assert!(want.is_object(), "reference lacks suite {name}");
                let scores = choice_scores(&embedder, &tokenizer, choice, &options).unwrap();
                let diff = max_abs_diff(&name, &scores, &want["scores"]);
                max_diff.insert(name.clone(), diff);
                let Report::Choice(report) = &result.report else {
                    panic!("{name}: a choice suite reports {:?}", result.report);
                };
                let ours = &report.items;
                let theirs: Vec<bool> = serde_json::from_value(want["items"].clone()).unwrap();
                for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                    assert_eq!(
                        a, b,
                        "{name}, item {i}: decision differs (negclip scores {:?}, reference {})",
                        scores[i], want["scores"][i]
                    );
                }
                assert_eq!(ours.len(), theirs.len(), "{name}: item count");
                assert!(
                    diff <= SCORE_TOLERANCE,
                    "{name}: scores differ by up to {diff:e}"
                );
                assert_same_number(
                    &format!("{name} accuracy"),
                    result.metrics.get("accuracy").copied(),
                    &want["accuracy"],
                );
                if name.starts_with("vg-") {
                    assert_same_number(
                        &format!("{name} macro"),
                        result.metrics.get("macro_accuracy").copied(),
                        &want["macro_accuracy"],
                    );
                    assert_same_number(
                        &format!("{name} macro without the >= 25 filter"),
                        result.metrics.get("macro_without_min_filter").copied(),
                        &want["macro_without_min_filter"],
                    );
                }
            }
            Suite::Classification(_) | Suite::Group(_) => {
                unreachable!("the ARO fixtures hold no classification or group suite")
            }
            Suite::Retrieval(retrieval) => {
                let want = &expected["retrieval"][&name];
                assert!(want.is_object(), "reference lacks suite {name}");
                let sim = retrieval_similarity(&embedder, &tokenizer, retrieval, &options).unwrap();
                let diff = max_abs_diff(&name, &sim, &want["similarity"]);
                max_diff.insert(name.clone(), diff);
                assert!(
                    diff <= SCORE_TOLERANCE,
                    "{name}: similarities differ by up to {diff:e}"
                );
                for direction in ["image_to_text", "text_to_image"] {
                    for k in ["1", "5", "10"] {
                        assert_same_number(
                            &format!("{name} {direction} R@{k}"),
                            result.metrics.get(&format!("{direction}/{k}")).copied(),
                            &want[direction][k],
                        );
                    }
                }
            }
        }
    }
    assert_eq!(max_diff.len(), 21, "every fixture suite was checked");
    assert_sugarcrepe_means(add_benchmark_means(results), "clip");
    for (name, diff) in &max_diff {
        eprintln!("{name:28} max |score diff| {diff:.2e}");
    }
}

/// SugarCrepe's category and overall means among `results` are the reference's
/// (`scripts/aro_reference.py sugarcrepe-means`, its `which` part).
fn assert_sugarcrepe_means(results: Vec<SuiteResult>, which: &str) {
    let expected = read_json(&repo("tests/fixtures/aro/sugarcrepe_means_expected.json"));
    let means = expected[which].as_object().expect("the reference's means");
    assert_eq!(means.len(), 4, "three categories and the overall mean");
    for (suite, want) in means {
        let ours = results
            .iter()
            .find(|r| r.suite == *suite)
            .and_then(|r| r.metrics.get("accuracy").copied());
        assert_same_number(&format!("{suite} ({which})"), ours, want);
    }
}

/// The means over the grid scores of `scores_example.json`, whose subsets' accuracies differ
/// (the tiny CLIP's are all 0): the categories and the overall mean of the seven subsets.
#[test]
fn sugarcrepe_means_match_the_reference_on_the_grid_scores() {
    let scores = read_json(&repo("tests/fixtures/aro/scores_example.json"));
    let results: Vec<SuiteResult> = fixture_suites()
        .into_iter()
        .filter_map(|suite| match suite {
            Suite::Choice(choice) if choice.name.starts_with("sugarcrepe/") => Some(choice),
            _ => None,
        })
        .map(|choice| {
            let rows: Vec<Vec<f32>> =
                serde_json::from_value(scores["choice"][&choice.name].clone()).unwrap();
            let report = score_choice(&choice, &rows).unwrap();
            SuiteResult {
                suite: choice.name.clone(),
                metrics: BTreeMap::from([("accuracy".to_string(), report.accuracy)]),
                report: Report::Choice(report),
            }
        })
        .collect();
    assert_eq!(results.len(), 7);
    assert_sugarcrepe_means(add_benchmark_means(results), "grid");
}
