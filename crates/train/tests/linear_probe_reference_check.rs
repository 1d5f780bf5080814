//! The linear probe against scikit-learn: `scripts/linear_probe_reference.py` runs
//! CLIP_benchmark's regularisation search with scikit-learn's `LogisticRegression` (lbfgs,
//! multinomial) on the committed features of `tests/fixtures/linear_probe/`, on negclip's
//! seeded validation split. negclip must choose the same regularisation, predict every test
//! item the same, and so give the same top-1 (the issue allows one test item).

use negclip_train::linear_probe::{in_validation, lambda_grid, linear_probe, Features};
use serde_json::Value;

mod common;
use common::{read_json, repo};

fn features(value: &Value) -> Features {
    Features {
        rows: serde_json::from_value(value["rows"].clone()).unwrap(),
        labels: serde_json::from_value(value["labels"].clone()).unwrap(),
    }
}

#[test]
fn the_probe_matches_scikit_learns_logistic_regression() {
    let input = read_json(&repo("tests/fixtures/linear_probe/features.json"));
    let expected = read_json(&repo("tests/fixtures/linear_probe/expected.json"));
    let seed = input["seed"].as_u64().unwrap();
    let classes = input["classes"].as_u64().unwrap() as usize;
    let (train, test) = (features(&input["train"]), features(&input["test"]));

    let grid = lambda_grid();
    let index = expected["lambda_index"].as_u64().unwrap() as usize;
    assert_eq!(
        grid[index],
        expected["lambda"].as_f64().unwrap(),
        "numpy's logspace"
    );

    let report = linear_probe(&train, &test, classes, seed);
    assert_eq!(
        report.validation_items as u64,
        expected["validation_items"].as_u64().unwrap(),
        "the same validation split"
    );
    assert_eq!(
        (0..train.rows.len())
            .filter(|&i| in_validation(seed, i))
            .count(),
        report.validation_items
    );
    assert_eq!(
        report.lambda,
        expected["lambda"].as_f64().unwrap(),
        "the chosen regularisation"
    );
    assert!((report.c - expected["c"].as_f64().unwrap()).abs() < 1e-9 * report.c);
    let predictions: Vec<usize> = serde_json::from_value(expected["predictions"].clone()).unwrap();
    assert_eq!(report.predictions, predictions, "every test prediction");
    let one_item = 1.0 / test.rows.len() as f64;
    assert!((report.top1 - expected["top1"].as_f64().unwrap()).abs() <= one_item + 1e-12);
    assert!((report.top5 - expected["top5"].as_f64().unwrap()).abs() < 1e-12);
    assert!(
        (report.mean_per_class_recall - expected["mean_per_class_recall"].as_f64().unwrap()).abs()
            < 1e-12
    );
}
