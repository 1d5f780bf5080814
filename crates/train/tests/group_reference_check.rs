//! The Winoground and generic-format reference checks: negclip's evaluation of a real (tiny)
//! CLIP on fixtures in the released layouts must agree with `scripts/winoground_reference.py`,
//! which runs the same model with open_clip and PIL and scores it with the authors' rules:
//! Winoground's `text_correct` / `image_correct` / `group_correct` and per-tag filters
//! (`tests/fixtures/compositional/winoground`, expected in `winoground_expected.json`); for the
//! generic format, CREPE's and VL-CheckList's own rules on their original files, converted by
//! `scripts/convert_crepe.py` and `scripts/convert_vl_checklist.py`, and the group rule on a
//! hand-written file of mixed shapes (`tests/fixtures/generic`, `expected.json`).
//!
//! Checked: every similarity within 1e-6, every per-item text, image and group outcome
//! exactly, every score (overall and per tag) within 1e-6. The tiny random model prefers one
//! caption of every Winoground pair on every image (all its outcomes are "wrong"), so the
//! Winoground scoring is also checked on given similarities fed to both sides, which hold
//! every outcome and a tie.

use std::collections::BTreeMap;

use burn::tensor::Device;
use negclip_data::benchmarks::DataPaths;
use negclip_data::metrics::group::{score_group, GroupOutcome, GroupReport};
use negclip_data::suite::{GroupSuite, Suite};
use negclip_data::synth::WorldConfig;
use negclip_data::tokenizer::ClipTokenizer;
use negclip_model::weights;
use negclip_train::evaluate::{
    evaluate_suite, group_metrics, group_similarities, EvalOptions, ModelEmbedder, Report,
    SuiteResult,
};
use negclip_train::suites::{build_suites, SuiteOptions};
use serde_json::Value;

mod common;
use common::{read_json, repo};

/// Largest accepted difference between a negclip similarity and the reference's (the ARO
/// check's bound).
const SCORE_TOLERANCE: f64 = 1e-6;

fn group_suites(root: &str, name: &str) -> Vec<GroupSuite> {
    let options = SuiteOptions {
        items: 0,
        seed: 1,
        paths: DataPaths::root(repo(root)),
        classification: Vec::new(),
        skip_missing_images: false,
        world: WorldConfig::default(),
        world_seed: 0,
    };
    build_suites(&[name.to_string()], &options)
        .expect("the fixture suites load")
        .into_iter()
        .map(|suite| match suite {
            Suite::Group(group) => group,
            other => panic!("{} is not a group suite", other.name()),
        })
        .collect()
}

/// Each suite's similarities (max difference from `expected_similarity`) and its result.
fn evaluate(suites: &[GroupSuite]) -> Vec<(Vec<Vec<Vec<f32>>>, SuiteResult)> {
    let device = Device::flex();
    let loaded = weights::load(&repo("tests/fixtures/model/open_clip_full_vocab"), &device)
        .expect("the full-vocabulary fixture model loads");
    let embedder = ModelEmbedder::new(&loaded.model, &loaded.config, &device).unwrap();
    let tokenizer = ClipTokenizer::new();
    let options = EvalOptions {
        batch_size: 4,
        show_progress: false,
        engine: negclip_train::engine::Engine::single(),
    };
    suites
        .iter()
        .map(|suite| {
            let sim = group_similarities(&embedder, &tokenizer, suite, &options).unwrap();
            let result = evaluate_suite(
                &embedder,
                &tokenizer,
                &Suite::Group(suite.clone()),
                &options,
            )
            .unwrap();
            (sim, result)
        })
        .collect()
}

fn number(value: &Value, what: &str) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {value}"))
}

/// Max |a - b| between one item's `[image][caption]` similarities and the reference's.
fn max_diff(what: &str, ours: &[Vec<f32>], expected: &Value) -> f64 {
    let rows = expected.as_array().expect("a table");
    assert_eq!(ours.len(), rows.len(), "{what}: images");
    let mut max = 0f64;
    for (row, want) in ours.iter().zip(rows) {
        let want = want.as_array().expect("a row");
        assert_eq!(row.len(), want.len(), "{what}: captions");
        for (got, want) in row.iter().zip(want) {
            max = max.max((f64::from(*got) - number(want, what)).abs());
        }
    }
    max
}

/// `Some(bool)` / `None` from the reference's `true` / `false` / `null`.
fn outcome(value: &Value) -> Option<bool> {
    value.as_bool()
}

fn assert_outcome(what: &str, ours: &GroupOutcome, expected: &Value) {
    assert_eq!(
        (ours.text, ours.image, ours.group),
        (
            outcome(&expected["text"]),
            outcome(&expected["image"]),
            expected["group"].as_bool().expect("a group outcome")
        ),
        "{what}"
    );
}

fn assert_score(what: &str, ours: Option<f64>, expected: &Value) {
    match (ours, expected.as_f64()) {
        (Some(a), Some(b)) => assert!((a - b).abs() < 1e-6, "{what}: negclip {a}, reference {b}"),
        (None, None) => {}
        (a, _) => panic!("{what}: negclip {a:?}, reference {expected}"),
    }
}

fn group_report(result: &SuiteResult) -> &GroupReport {
    match &result.report {
        Report::Group(report) => report,
        other => panic!("{}: not a group report: {other:?}", result.suite),
    }
}

/// Compares a Winoground result with one section of the reference (`clip` or `given`):
/// every outcome, the overall scores, every per-tag score.
fn assert_winoground(
    section: &str,
    report: &GroupReport,
    metrics: &BTreeMap<String, f64>,
    expected: &Value,
) {
    let examples = expected["examples"].as_array().expect("examples");
    assert_eq!(report.outcomes.len(), examples.len(), "{section}");
    for (i, want) in examples.iter().enumerate() {
        assert_outcome(&format!("{section} example {i}"), &report.outcomes[i], want);
    }
    for score in ["text_score", "image_score", "group_score"] {
        assert_score(
            &format!("{section} {score}"),
            metrics.get(score).copied(),
            &expected["overall"][score],
        );
    }
    let mut checked = 0;
    for (axis, values) in expected["per_tag"].as_object().expect("per-tag scores") {
        for (value, scores) in values.as_object().expect("tag values") {
            for score in ["text_score", "image_score", "group_score"] {
                let name = format!("{score}/{axis}/{value}");
                assert_score(
                    &format!("{section} {name}"),
                    metrics.get(&name).copied(),
                    &scores[score],
                );
                checked += 1;
            }
        }
    }
    // Object, Relation, Both; Symbolic, Pragmatics, Series; 1, 2 main predicates.
    assert_eq!(checked, 3 * 8, "{section}");
}

#[test]
fn winoground_matches_the_authors_scoring_on_a_tiny_clip() {
    let expected = read_json(&repo(
        "tests/fixtures/compositional/winoground_expected.json",
    ));
    let suites = group_suites("tests/fixtures/compositional", "winoground");
    assert_eq!(suites.len(), 1);
    let suite = &suites[0];
    let (sim, result) = evaluate(&suites).remove(0);
    let examples = expected["clip"]["examples"].as_array().expect("examples");
    assert_eq!(suite.items.len(), examples.len());
    let mut largest = 0f64;
    for (i, want) in examples.iter().enumerate() {
        assert_eq!(suite.items[i].id, want["id"].to_string(), "example order");
        largest = largest.max(max_diff(
            &format!("example {i}"),
            &sim[i],
            &want["similarity"],
        ));
    }
    assert!(
        largest <= SCORE_TOLERANCE,
        "similarities differ by up to {largest:e}"
    );
    println!("winoground: largest similarity difference {largest:e}");
    assert_winoground(
        "clip",
        group_report(&result),
        &result.metrics,
        &expected["clip"],
    );
    // metrics.jsonl and --output hold the result as JSON: it reads back as a group report.
    let line = serde_json::to_string(&result).unwrap();
    let back: SuiteResult = serde_json::from_str(&line).unwrap();
    assert_eq!(back, result);
    assert!(matches!(back.report, Report::Group(_)));
}

#[test]
fn winoground_scores_given_similarities_as_the_authors_do() {
    // The tiny model gets every example wrong; these similarities, fed to both sides, hold
    // each outcome and a tie.
    let expected = read_json(&repo(
        "tests/fixtures/compositional/winoground_expected.json",
    ));
    let suite = group_suites("tests/fixtures/compositional", "winoground").remove(0);
    let given: Vec<Vec<Vec<f32>>> = expected["given"]["examples"]
        .as_array()
        .expect("examples")
        .iter()
        .map(|e| serde_json::from_value(e["similarity"].clone()).expect("a 2x2 table"))
        .collect();
    let report = score_group(&suite, &given).unwrap();
    let metrics = group_metrics(&report);
    assert_winoground("given", &report, &metrics, &expected["given"]);
    let groups = report.outcomes.iter().filter(|o| o.group).count();
    assert!(groups > 0 && groups < report.outcomes.len());
}

#[test]
fn the_generic_format_matches_crepe_vl_checklist_and_the_group_rule() {
    let expected = read_json(&repo("tests/fixtures/generic/expected.json"));
    let suites = group_suites("tests/fixtures/generic", "generic");
    let names: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["generic/crepe", "generic/mixed", "generic/vl_checklist"]
    );
    let mut largest = 0f64;
    for ((sim, result), suite) in evaluate(&suites).iter().zip(&suites) {
        let want = &expected["suites"][&suite.name];
        let items = want["items"].as_array().expect("items");
        let report = group_report(result);
        assert_eq!(report.outcomes.len(), items.len(), "{}", suite.name);
        for (i, item) in items.iter().enumerate() {
            let what = format!("{} item {i}", suite.name);
            largest = largest.max(max_diff(&what, &sim[i], &item["similarity"]));
            assert_outcome(&what, &report.outcomes[i], item);
        }
        for score in ["text_score", "image_score", "group_score"] {
            assert_score(
                &format!("{} {score}", suite.name),
                result.metrics.get(score).copied(),
                &want[score],
            );
        }
    }
    assert!(
        largest <= SCORE_TOLERANCE,
        "similarities differ by up to {largest:e}"
    );
    println!("generic: largest similarity difference {largest:e}");
}
