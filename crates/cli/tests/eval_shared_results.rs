//! Results people share (issue 27): `negclip eval --output` also writes CLIP_benchmark-shaped
//! files, `--save-scores` every item's scores, and a checkpoint scores the same with
//! `negclip eval`'s defaults as it did during training with the run's.

mod common;

use std::path::Path;

use negclip_train::evaluate::ScoreRecord;
use serde_json::Value;

use common::{negclip_ok as negclip, run_negclip, workspace};

const MODEL: &str = "models/synthetic-tiny-clip.safetensors";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The metrics of `suite` in an `EvalFile`'s first checkpoint.
fn metrics(json: &Value, suite: &str) -> Value {
    json["checkpoints"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["suite"] == suite)
        .unwrap_or_else(|| panic!("no {suite} in {json}"))["metrics"]
        .clone()
}

#[test]
fn output_brings_clip_benchmark_files_and_save_scores_every_items_scores() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let run = negclip(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--suite",
        "synth-relation,synth-retrieval,synth-classify",
        "--items",
        "24",
        "--seed",
        "3",
        "--output",
        out.to_str().unwrap(),
        "--save-scores",
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("seed 3, items per suite: 24 (a seeded subsample)"),
        "the table states its sampling:\n{stdout}"
    );
    let json: Value = serde_json::from_str(&read(&out)).unwrap();

    // One CLIP_benchmark file per suite, with its task.
    let shared = dir.path().join("results-clip_benchmark");
    let mut tasks: Vec<(String, String)> = std::fs::read_dir(&shared)
        .unwrap()
        .map(|entry| {
            let file: Value = serde_json::from_str(&read(&entry.unwrap().path())).unwrap();
            (
                file["dataset"].as_str().unwrap().to_string(),
                file["task"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    tasks.sort();
    assert_eq!(
        tasks,
        [
            ("Synth-Classify", "zeroshot_classification"),
            ("Synth-Relation", "image_caption_selection"),
            ("Synth-Retrieval", "zeroshot_retrieval"),
        ]
        .map(|(d, t)| (d.to_string(), t.to_string()))
    );

    // The scores: one line per item, and the suite's accuracy follows from them.
    let scores = read(&dir.path().join("results.scores.jsonl"));
    let records: Vec<ScoreRecord> = scores
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mut right = 0;
    let mut choice_items = 0;
    let mut retrieval_images = 0;
    let mut classified = 0;
    for record in &records {
        match record {
            ScoreRecord::Choice {
                true_index, scores, ..
            } => {
                choice_items += 1;
                let truth = scores[*true_index];
                let strictly_highest = scores
                    .iter()
                    .enumerate()
                    .all(|(o, s)| o == *true_index || *s < truth);
                right += usize::from(strictly_highest);
            }
            ScoreRecord::Retrieval { scores, .. } => {
                retrieval_images += 1;
                assert!(!scores.is_empty());
            }
            ScoreRecord::Classification {
                label, ood, scores, ..
            } => {
                // Synth-Classify has as many out-of-distribution images, without a label.
                classified += usize::from(!ood);
                assert_eq!(label.is_none(), *ood);
                assert!(label.is_none_or(|l| l < scores.len()));
            }
            ScoreRecord::Group { .. } => panic!("no group suite was asked for"),
        }
    }
    let classify = json["checkpoints"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["suite"] == "Synth-Classify")
        .unwrap()["report"]["predictions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        (choice_items, retrieval_images, classified),
        (24, 24, classify),
        "a line per item, retrieval image and classified image"
    );
    let accuracy = metrics(&json, "Synth-Relation")["accuracy"]
        .as_f64()
        .unwrap();
    assert_eq!(
        right as f64 / 24.0,
        accuracy,
        "the saved scores give the accuracy"
    );
}

#[test]
fn save_scores_without_a_path_needs_output() {
    let output = run_negclip(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--suite",
        "synth-relation",
        "--save-scores",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--save-scores"), "{stderr}");
}

/// A run evaluated with the defaults, then its final model with `negclip eval`'s defaults:
/// the same numbers, the classification calibration (seeded) and the linear probe's
/// validation split (seeded) included. The run probes before training and at the end.
#[test]
fn a_checkpoint_scores_the_same_later_as_during_training() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "{ name = \"shapes\", images = \"tests/fixtures/classification/images\", \
                templates = \"tests/fixtures/classification/templates.txt\" }";
    let probe = "{ name = \"shapes\", train = \"tests/fixtures/classification/images\", \
                 test = \"tests/fixtures/classification/images\" }";
    let config = format!(
        r#"
seed = 5
[model]
checkpoint = "{MODEL}"
[data]
source = "synthetic"
samples_per_epoch = 32
[loss]
kind = "clip"
[optim]
lr = 1e-4
batch_size = 16
epochs = 1
[eval]
suites = []
classification = [{spec}]
linear_probe = [{probe}]
"#
    );
    let config_path = dir.path().join("run.toml");
    std::fs::write(&config_path, config).unwrap();
    let run_dir = dir.path().join("run");
    negclip(&[
        "train",
        "--quiet",
        "--config",
        config_path.to_str().unwrap(),
        "--output",
        run_dir.to_str().unwrap(),
    ]);
    let log = read(&run_dir.join("metrics.jsonl"));
    let evaluations: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record.get("suites").is_some())
        .collect();
    assert_eq!(
        evaluations.len(),
        2,
        "before training and after the one epoch"
    );
    for record in &evaluations {
        assert_eq!(record["suites"][1]["suite"], "linear-probe/shapes");
    }
    let last = evaluations.last().unwrap();
    assert_eq!(last["sampling"], serde_json::json!({"items": 0, "seed": 1}));
    let during = last["suites"][0]["metrics"].clone();

    let out = dir.path().join("later.json");
    let final_model = run_dir.join("final.safetensors");
    negclip(&[
        "eval",
        "--checkpoint",
        final_model.to_str().unwrap(),
        "--classification",
        spec,
        "--linear-probe",
        probe,
        "--output",
        out.to_str().unwrap(),
    ]);
    let json: Value = serde_json::from_str(&read(&out)).unwrap();
    assert_eq!(
        (json["seed"].as_u64(), json["items"].as_u64()),
        (Some(1), Some(0))
    );
    // The same images, split and temperature; the model in training and the one read back
    // from final.safetensors differ in float rounding only (measured: under 1e-6).
    let later = metrics(&json, "shapes");
    let names = |m: &Value| m.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&later), names(&during));
    for (name, value) in later.as_object().unwrap() {
        let (a, b) = (value.as_f64().unwrap(), during[name].as_f64().unwrap());
        assert!(
            (a - b).abs() < 1e-5,
            "{name}: {a} later, {b} during training"
        );
    }
    let (probed_later, probed_during) = (
        metrics(&json, "linear-probe/shapes"),
        &last["suites"][1]["metrics"],
    );
    for name in ["lp_acc1", "lambda"] {
        assert_eq!(probed_later[name], probed_during[name], "{name}");
    }
}

#[test]
fn a_linear_probe_is_reported_with_clip_benchmarks_names_and_task() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("probe.json");
    let images = "tests/fixtures/classification/images";
    let spec = format!("{{ name = \"shapes\", train = \"{images}\", test = \"{images}\" }}");
    negclip(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--linear-probe",
        &spec,
        "--output",
        out.to_str().unwrap(),
    ]);
    let json: Value = serde_json::from_str(&read(&out)).unwrap();
    let probe = metrics(&json, "linear-probe/shapes");
    for name in [
        "lp_acc1",
        "lp_acc5",
        "lp_mean_per_class_recall",
        "lambda",
        "c",
    ] {
        assert!(probe[name].is_number(), "{name} in {probe}");
    }
    // Fitted on the very images it is tested on, with the regularisation from the grid.
    assert!(probe["lp_acc1"].as_f64().unwrap() > 0.5, "{probe}");
    let lambda = probe["lambda"].as_f64().unwrap();
    assert!((1e-6..=100.0).contains(&lambda));
    let shared = dir.path().join("probe-clip_benchmark");
    let file = std::fs::read_dir(&shared)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file: Value = serde_json::from_str(&read(&file)).unwrap();
    assert_eq!(file["task"], "linear_probe");
    assert_eq!(file["metrics"]["lp_acc1"], probe["lp_acc1"]);
}

#[test]
fn a_probe_whose_sets_have_different_classes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let test = dir.path().join("test/blue_circle");
    std::fs::create_dir_all(&test).unwrap();
    std::fs::copy(
        workspace().join("tests/fixtures/classification/images/blue_circle/00.png"),
        test.join("00.png"),
    )
    .unwrap();
    let spec = format!(
        "{{ name = \"shapes\", train = \"tests/fixtures/classification/images\", test = \"{}\" }}",
        dir.path().join("test").display()
    );
    let output = run_negclip(&["eval", "--checkpoint", MODEL, "--linear-probe", &spec]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("has classes"), "{stderr}");
}
