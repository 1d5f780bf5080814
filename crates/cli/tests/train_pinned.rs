//! The numbers of a few-step run of the default job are pinned: a refactor that changes what
//! a run computes (batch order, hard captions, hard images, the step, the evaluation) fails
//! here instead of surfacing weeks later as a different results table.
//!
//! The run: `configs/synthetic.toml` with 256 samples per epoch, 2 epochs (16 steps) and 100
//! items per suite. The pinned values were printed by commit ab79cdc (before the trainer was
//! restructured) and by its successor alike, on the 2-core development machine (AVX-512).
//! Tolerances: the loss within 1e-3 and accuracies within two items of 100. Another CPU's
//! SIMD path rounds differently (docs/results.md, "What is reproducible where"); over 16
//! steps that moves the loss by far less than 1e-3, while any change in what is computed
//! (another batch, another hard caption) moves it by more.

use std::path::Path;
use std::process::Command;

/// Loss of steps 1..=16.
const LOSS: [f64; 16] = [
    1.694775, 1.639132, 1.520196, 1.901406, 1.485212, 1.557416, 1.884133, 1.602745, 1.600126,
    1.535241, 1.521851, 1.535931, 1.512178, 1.529610, 1.458192, 1.651829,
];

/// (suite, metric, value before training, after epoch 1, after epoch 2).
const EVALUATIONS: [(&str, &str, [f64; 3]); 8] = [
    ("Synth-Relation", "accuracy", [0.45, 0.43, 0.53]),
    ("Synth-Attribution", "accuracy", [0.84, 0.84, 0.81]),
    ("Synth-Order", "accuracy", [0.31, 0.24, 0.26]),
    ("Synth-Retrieval", "image_to_text/1", [0.44, 0.44, 0.47]),
    ("Synth-Retrieval", "text_to_image/1", [0.47, 0.43, 0.42]),
    ("Synth-Relation-heldout", "accuracy", [0.58, 0.52, 0.52]),
    ("Synth-Attribution-heldout", "accuracy", [0.78, 0.77, 0.74]),
    ("Synth-Order-heldout", "accuracy", [0.31, 0.30, 0.30]),
];

#[test]
fn a_short_default_run_computes_the_pinned_numbers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_negclip"))
        .current_dir(&root)
        .env("RAYON_NUM_THREADS", "2")
        .args([
            "train",
            "--quiet",
            "--config",
            "configs/synthetic.toml",
            "--output",
        ])
        .arg(output.path())
        .args([
            "--set",
            "data.samples_per_epoch=256",
            "--set",
            "optim.epochs=2",
        ])
        .args(["--set", "eval.items=100", "--set", "eval.every_epochs=1"])
        .args(["--set", "log.every_steps=1"])
        .output()
        .expect("run negclip train");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let records: Vec<serde_json::Value> =
        std::fs::read_to_string(output.path().join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();

    let loss: Vec<f64> = records
        .iter()
        .filter(|r| r["kind"] == "train")
        .map(|r| r["loss"].as_f64().unwrap())
        .collect();
    assert_eq!(loss.len(), LOSS.len());
    for (step, (got, pinned)) in loss.iter().zip(LOSS).enumerate() {
        assert!(
            (got - pinned).abs() < 1e-3,
            "step {}: loss {got}, pinned {pinned}",
            step + 1
        );
    }

    let evaluations: Vec<&serde_json::Value> =
        records.iter().filter(|r| r["kind"] == "eval").collect();
    assert_eq!(evaluations.len(), 3, "before training and after each epoch");
    for (suite, metric, pinned) in EVALUATIONS {
        for (evaluation, pinned) in evaluations.iter().zip(pinned) {
            let results = evaluation["suites"].as_array().unwrap();
            let result = results.iter().find(|r| r["suite"] == suite).unwrap();
            let got = result["metrics"][metric].as_f64().unwrap();
            assert!(
                (got - pinned).abs() < 0.021,
                "{suite} {metric} at epoch {}: {got}, pinned {pinned}",
                evaluation["epoch"]
            );
        }
    }
}
