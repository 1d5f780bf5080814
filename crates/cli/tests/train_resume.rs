//! A run killed with SIGKILL mid-epoch and resumed ends with the same weights, bit for bit,
//! as the same run left alone (CPU, same thread count).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

mod common;
use common::{final_tensors, latest_step};

const CONFIG: &str = r#"
seed = 3
[model]
preset = "tiny"
[data]
source = "synthetic"
samples_per_epoch = 384
hard_images = { nearest = 3 }
[loss]
kind = "negclip"
[negatives]
source = "rewrite"
kinds = ["swap-attribute", "swap-relation", "shuffle-order"]
[optim]
lr = 1e-3
warmup_steps = 5
batch_size = 16
epochs = 3
grad_clip_norm = 1.0
[eval]
suites = ["Synth-Relation"]
items = 16
[checkpoint]
every_steps = 5
[log]
every_steps = 1
"#;

fn negclip(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_negclip"));
    command.args(args).env("RAYON_NUM_THREADS", "2");
    command
}

fn start(config: &Path, output: &Path) -> Child {
    negclip(&["train", "--quiet", "--config"])
        .arg(config)
        .arg("--output")
        .arg(output)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start negclip train")
}

/// The step of the newest checkpoint, if one is written and is mid-run.

#[test]
fn killed_and_resumed_run_matches_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(&config, CONFIG).unwrap();

    let straight: PathBuf = dir.path().join("straight");
    let status = start(&config, &straight).wait().unwrap();
    assert!(status.success(), "uninterrupted run failed");

    // Second run: kill it as soon as a checkpoint from the second epoch (24 steps an
    // epoch) exists, i.e. mid-epoch, with steps done after that checkpoint lost.
    let killed = dir.path().join("killed");
    let mut child = start(&config, &killed);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if latest_step(&killed).is_some_and(|s| s > 24) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "run ended before it could be killed"
        );
        assert!(
            Instant::now() < deadline,
            "no mid-epoch checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix: no clean-up runs
    child.wait().unwrap();
    let resumed_from = latest_step(&killed).expect("a mid-epoch checkpoint");
    assert!(
        !killed.join("final.safetensors").exists(),
        "killed before the end"
    );

    let status = negclip(&["train", "--quiet", "--resume"])
        .arg(&killed)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "resumed run failed");
    let (expected, resumed) = (final_tensors(&straight), final_tensors(&killed));
    assert!(!expected.is_empty());
    assert!(
        expected == resumed,
        "resumed weights differ from the uninterrupted run"
    );

    // The metrics log reads as one run: every training step logged exactly once.
    let steps = |output: &Path| -> Vec<u64> {
        std::fs::read_to_string(output.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["kind"] == "train")
            .map(|r| r["step"].as_u64().unwrap())
            .collect()
    };
    let steps_done = steps(&straight);
    assert_eq!(steps_done, steps(&killed));
    // And every record but the throughput and the sessions' costs is the uninterrupted run's,
    // to the last digit: the records kept from before the kill are read back and rewritten
    // exactly.
    let records = |output: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(output.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut record: serde_json::Value = serde_json::from_str(l).unwrap();
                if let Some(fields) = record.as_object_mut() {
                    fields.remove("samples_per_sec");
                }
                record
            })
            .collect()
    };
    let (straight, killed) = (records(&straight), records(&killed));
    let results = |records: &[serde_json::Value]| -> Vec<serde_json::Value> {
        let kept = records.iter().filter(|r| r["kind"] != "time");
        kept.cloned().collect()
    };
    assert_eq!(results(&straight), results(&killed));
    // Each session that ended wrote what it cost: the uninterrupted run every step, the
    // resumed one the steps after its checkpoint (the killed session wrote none).
    let sessions = |records: &[serde_json::Value]| -> Vec<(u64, u64)> {
        let times = records.iter().filter(|r| r["kind"] == "time");
        let steps = |r: &serde_json::Value| {
            (
                r["step"].as_u64().unwrap(),
                r["steps_run"].as_u64().unwrap(),
            )
        };
        times.map(steps).collect()
    };
    let last = *steps_done.last().unwrap();
    assert_eq!(sessions(&straight), [(last, last)]);
    assert_eq!(sessions(&killed), [(last, last - resumed_from)]);
}

#[test]
fn resume_without_checkpoint_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = negclip(&["train", "--resume"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no checkpoint"), "{stderr}");
}

#[test]
fn config_error_names_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, CONFIG.replace("lr = 1e-3", "lr = \"fast\"")).unwrap();
    let output = negclip(&["train", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("lr") && stderr.contains("line 15"),
        "{stderr}"
    );
}

#[test]
fn too_few_samples_for_a_batch_is_an_error_before_anything_is_announced_or_written() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("small.toml");
    std::fs::write(
        &config,
        CONFIG.replace("samples_per_epoch = 384", "samples_per_epoch = 8"),
    )
    .unwrap();
    let output = negclip(&["train", "--quiet", "--config"])
        .arg(&config)
        .arg("--output")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("8 samples make no full batch of 16"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("negclip train:"), "announced: {stdout}");
    assert!(
        !dir.path().join("run").exists(),
        "a run that cannot start leaves no output folder"
    );
}

#[test]
fn a_best_metric_that_names_nothing_is_an_error_listing_the_valid_names() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let train = |best: &str, output: &str| {
        negclip(&["train", "--quiet", "--config"])
            .arg(&config)
            .args(["--set", &format!("eval.best_metric=\"{best}\"")])
            .args([
                "--set",
                "data.samples_per_epoch=16",
                "--set",
                "optim.epochs=1",
            ])
            .arg("--output")
            .arg(dir.path().join(output))
            .output()
            .unwrap()
    };
    // A suite the run does not evaluate: refused before the run starts.
    let wrong_suite = train("Synth-Order", "a");
    assert!(!wrong_suite.status.success());
    let stderr = String::from_utf8_lossy(&wrong_suite.stderr);
    assert!(
        stderr.contains("eval.best_metric") && stderr.contains("the suites are Synth-Relation"),
        "{stderr}"
    );
    assert!(!dir.path().join("a").exists(), "nothing written");
    // A metric the suite does not have: refused at the evaluation before the first step.
    let wrong_metric = train("Synth-Relation:recall", "b");
    assert!(!wrong_metric.status.success());
    let stderr = String::from_utf8_lossy(&wrong_metric.stderr);
    assert!(
        stderr.contains("has no metric \"recall\"") && stderr.contains("accuracy"),
        "{stderr}"
    );
    // The suite and one of its metrics: trains.
    let right = train("Synth-Relation:accuracy", "c");
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    assert!(dir.path().join("c/best.safetensors").exists());
}

#[test]
fn keep_last_leaves_the_newest_step_checkpoints_and_every_epoch_end() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let output = dir.path().join("run");
    // 32 samples of 16: two steps an epoch, a checkpoint after every step.
    let status = negclip(&["train", "--quiet", "--config"])
        .arg(&config)
        .args([
            "--set",
            "data.samples_per_epoch=32",
            "--set",
            "optim.epochs=3",
        ])
        .args([
            "--set",
            "checkpoint.every_steps=1",
            "--set",
            "checkpoint.keep_last=1",
        ])
        .arg("--output")
        .arg(&output)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mut left: Vec<String> = std::fs::read_dir(output.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "epoch-001",
            "epoch-002",
            "epoch-003",
            "latest",
            "step-0000005"
        ],
        "step checkpoints 1 and 3 deleted, the newest (5) kept"
    );
}
