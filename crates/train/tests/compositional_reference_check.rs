//! The VALSE and SugarCrepe++ reference checks: negclip's evaluation of a real (tiny) CLIP
//! on `tests/fixtures/compositional` (both benchmarks in their released file formats) must
//! agree with the Python readings of the authors' scoring code, which run the same model
//! with open_clip and PIL: `scripts/valse_reference.py` (VALSE's `lxmert_valse_eval.py`:
//! valid foils, pairwise accuracy) and `scripts/sugarcrepe_pp_reference.py` (SugarCrepe++'s
//! `VLMs/test_Variants_CLIP.py`: ITT and TOT). Checked: every similarity within 1e-6, every
//! per-item decision exactly, every accuracy and the means over subsets.

use std::collections::BTreeMap;

use burn::tensor::Device;
use negclip_data::benchmarks::DataPaths;
use negclip_data::suite::Suite;
use negclip_data::synth::WorldConfig;
use negclip_data::tokenizer::ClipTokenizer;
use negclip_model::weights;
use negclip_train::evaluate::{
    add_benchmark_means, choice_scores, evaluate_suite, group_similarities, text_only_cosines,
    text_only_report, EvalOptions, ModelEmbedder, Report, SuiteResult,
};
use negclip_train::suites::{build_suites, SuiteOptions};
use serde_json::Value;

mod common;
use common::{read_json, repo};

/// Largest accepted difference between a negclip similarity and the reference's (the ARO
/// check's bound; measured here: see the test's output).
const SCORE_TOLERANCE: f64 = 1e-6;

fn fixture_suites(names: &[&str]) -> Vec<Suite> {
    let options = SuiteOptions {
        items: 0,
        seed: 1,
        paths: DataPaths::root(repo("tests/fixtures/compositional")),
        classification: Vec::new(),
        skip_missing_images: false,
        world: WorldConfig::default(),
        world_seed: 0,
    };
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    build_suites(&names, &options).expect("the fixture suites load")
}

struct Model {
    loaded: weights::LoadedClip,
    device: Device,
}

fn model() -> Model {
    let device = Device::flex();
    let loaded = weights::load(&repo("tests/fixtures/model/open_clip_full_vocab"), &device)
        .expect("the full-vocabulary fixture model loads");
    Model { loaded, device }
}

fn options() -> EvalOptions {
    EvalOptions {
        batch_size: 4,
        show_progress: false,
        engine: negclip_train::engine::Engine::single(),
    }
}

fn number(value: &Value, what: &str) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {value}"))
}

/// Max |a - b| over two tables of the same shape.
fn max_abs_diff(name: &str, ours: &[Vec<f32>], expected: &Value) -> f64 {
    let rows = expected.as_array().expect("a table");
    assert_eq!(ours.len(), rows.len(), "{name}: row count");
    let mut max = 0f64;
    for (row, want) in ours.iter().zip(rows) {
        let want = want.as_array().expect("a row");
        assert_eq!(row.len(), want.len(), "{name}: row length");
        for (got, want) in row.iter().zip(want) {
            max = max.max((f64::from(*got) - number(want, name)).abs());
        }
    }
    max
}

fn assert_close(what: &str, ours: Option<f64>, expected: &Value) {
    let ours = ours.unwrap_or_else(|| panic!("{what}: negclip has no such number"));
    let want = number(expected, what);
    assert!(
        (ours - want).abs() < 1e-12,
        "{what}: negclip {ours}, reference {want}"
    );
}

fn metric(results: &[SuiteResult], suite: &str, metric: &str) -> Option<f64> {
    results
        .iter()
        .find(|r| r.suite == suite)
        .and_then(|r| r.metrics.get(metric).copied())
}

#[test]
fn valse_matches_its_authors_rules_on_a_tiny_clip() {
    let model = model();
    let embedder = ModelEmbedder::new(&model.loaded.model, &model.loaded.config, &model.device)
        .expect("the fixture reads CLIP's tokens");
    let tokenizer = ClipTokenizer::new();
    let expected = read_json(&repo("tests/fixtures/compositional/valse_expected.json"));
    let mut results = Vec::new();
    let mut max_diff = BTreeMap::new();
    for suite in fixture_suites(&["valse"]) {
        let Suite::Choice(choice) = &suite else {
            panic!("VALSE pieces are choice suites");
        };
        let name = choice.name.clone();
        let want = &expected["suites"][&name];
        assert!(want.is_object(), "the reference lacks {name}");
        let scores = choice_scores(&embedder, &tokenizer, choice, &options()).unwrap();
        let diff = max_abs_diff(&name, &scores, &want["scores"]);
        assert!(diff <= SCORE_TOLERANCE, "{name}: scores differ by {diff:e}");
        max_diff.insert(name.clone(), diff);
        let result = evaluate_suite(&embedder, &tokenizer, &suite, &options()).unwrap();
        let Report::Choice(report) = &result.report else {
            panic!("{name}: a choice report");
        };
        let theirs: Vec<bool> = serde_json::from_value(want["items"].clone()).unwrap();
        assert_eq!(report.items, theirs, "{name}: per-item decisions");
        assert_close(
            &format!("{name} accuracy"),
            result.metrics.get("accuracy").copied(),
            &want["accuracy"],
        );
        results.push(result);
    }
    assert_eq!(results.len(), 11, "every piece was checked");
    let results = add_benchmark_means(results);
    assert_close(
        "valse mean over pieces",
        metric(&results, "valse", "accuracy"),
        &expected["suites"]["valse"]["accuracy"],
    );
    for (name, diff) in &max_diff {
        eprintln!("{name:30} max |score diff| {diff:.2e}");
    }
}

#[test]
fn sugarcrepe_pp_matches_its_authors_rules_on_a_tiny_clip() {
    let model = model();
    let embedder = ModelEmbedder::new(&model.loaded.model, &model.loaded.config, &model.device)
        .expect("the fixture reads CLIP's tokens");
    let tokenizer = ClipTokenizer::new();
    let expected = read_json(&repo(
        "tests/fixtures/compositional/sugarcrepe_pp_expected.json",
    ));
    let mut results = Vec::new();
    let mut max_diff = BTreeMap::new();
    for suite in fixture_suites(&["sugarcrepe++"]) {
        let Suite::Group(group) = &suite else {
            panic!("SugarCrepe++ subsets are group suites");
        };
        let name = group.name.clone();
        let want = &expected["suites"][&name];
        assert!(want.is_object(), "the reference lacks {name}");
        // Image cosines [p1, p2, neg] per item: the item's one image against its captions.
        let image: Vec<Vec<f32>> = group_similarities(&embedder, &tokenizer, group, &options())
            .unwrap()
            .into_iter()
            .map(|item| item.into_iter().next().expect("one image"))
            .collect();
        // Text cosines [p1p2, p1_neg, p2_neg] per item.
        let text: Vec<Vec<f32>> = text_only_cosines(&embedder, &tokenizer, group, &options())
            .unwrap()
            .into_iter()
            .map(|cos| {
                let cos = cos.expect("every SugarCrepe++ item has a text-only test");
                vec![cos[0][1], cos[0][2], cos[1][2]]
            })
            .collect();
        let diff = max_abs_diff(&name, &image, &want["image_cosines"]).max(max_abs_diff(
            &name,
            &text,
            &want["text_cosines"],
        ));
        assert!(
            diff <= SCORE_TOLERANCE,
            "{name}: cosines differ by {diff:e}"
        );
        max_diff.insert(name.clone(), diff);
        let result = evaluate_suite(&embedder, &tokenizer, &suite, &options()).unwrap();
        let Report::Group(report) = &result.report else {
            panic!("{name}: a group report");
        };
        let itt: Vec<bool> = serde_json::from_value(want["itt_items"].clone()).unwrap();
        let ours: Vec<Option<bool>> = report.outcomes.iter().map(|o| o.text).collect();
        assert_eq!(
            ours,
            itt.into_iter().map(Some).collect::<Vec<_>>(),
            "{name}: ITT items"
        );
        let tot: Vec<bool> = serde_json::from_value(want["tot_items"].clone()).unwrap();
        let text_only = text_only_report(&embedder, &tokenizer, group, &options())
            .unwrap()
            .expect("a text-only report");
        assert_eq!(
            text_only.items,
            tot.into_iter().map(Some).collect::<Vec<_>>(),
            "{name}: TOT items"
        );
        assert_close(
            &format!("{name} ITT"),
            result.metrics.get("text_score").copied(),
            &want["itt"],
        );
        assert_close(
            &format!("{name} TOT"),
            result.metrics.get("text_only_score").copied(),
            &want["tot"],
        );
        results.push(result);
    }
    assert_eq!(results.len(), 5, "every subset was checked");
    let results = add_benchmark_means(results);
    for (name, want) in expected["means"].as_object().expect("the means") {
        assert_close(
            &format!("{name} ITT"),
            metric(&results, name, "text_score"),
            &want["itt"],
        );
        assert_close(
            &format!("{name} TOT"),
            metric(&results, name, "text_only_score"),
            &want["tot"],
        );
    }
    for (name, diff) in &max_diff {
        eprintln!("{name:30} max |cosine diff| {diff:.2e}");
    }
}
