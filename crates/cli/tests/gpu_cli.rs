//! The GPU test set's end-to-end part, in builds with `--features wgpu` (`.ci/run` runs it on
//! Mesa's software Vulkan driver): `negclip train --device wgpu` killed after a checkpoint
//! and resumed, and `negclip eval --device wgpu` giving the CPU's numbers.
#![cfg(feature = "wgpu")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::latest_step;

const CONFIG: &str = r#"
seed = 5
[model]
preset = "tiny"
[data]
source = "synthetic"
samples_per_epoch = 64
[loss]
kind = "negclip"
[negatives]
source = "rewrite"
kinds = ["swap-attribute", "swap-relation"]
[optim]
lr = 1e-3
warmup_steps = 2
batch_size = 16
epochs = 4
[eval]
suites = ["Synth-Relation"]
items = 16
[checkpoint]
every_steps = 2
[log]
every_steps = 1
"#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn negclip(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_negclip"));
    command.args(args).current_dir(workspace());
    command
}

fn succeed(command: &mut Command) -> Output {
    let output = command.output().expect("run negclip");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn gpu_train_killed_and_resumed_then_eval_matches_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let run = dir.path().join("run");

    let mut child = negclip(&["train", "--quiet", "--device", "wgpu", "--config"])
        .arg(&config)
        .arg("--output")
        .arg(&run)
        .stdout(Stdio::null())
        .spawn()
        .expect("start negclip train");
    // Kernels compile on the first step: minutes on a software driver.
    let deadline = Instant::now() + Duration::from_secs(900);
    while latest_step(&run).is_none() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its first checkpoint"
        );
        assert!(Instant::now() < deadline, "no checkpoint within 15 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !run.join("final.safetensors").exists(),
        "killed before the end"
    );

    let resumed = succeed(
        negclip(&["train", "--quiet", "--device", "wgpu", "--resume"])
            .arg(&run)
            .stdout(Stdio::piped()),
    );
    let log = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        log.contains("device wgpu,") && log.contains("loss in f32"),
        "{log}"
    );
    assert!(run.join("final.safetensors").exists());
    // Every step trained once across the two processes, with a finite, positive loss.
    let losses: Vec<(u64, f64)> = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == "train")
        .map(|r| (r["step"].as_u64().unwrap(), r["loss"].as_f64().unwrap()))
        .collect();
    let steps: Vec<u64> = losses.iter().map(|(step, _)| *step).collect();
    assert_eq!(steps, (1..=16).collect::<Vec<_>>());
    assert!(
        losses
            .iter()
            .all(|(_, loss)| loss.is_finite() && *loss > 0.0),
        "{losses:?}"
    );

    // The same checkpoint scored on both devices: the same accuracies.
    let scores = |device: &str| -> serde_json::Value {
        let out = dir.path().join(format!("{device}.json"));
        succeed(&mut negclip(&[
            "eval",
            "--device",
            device,
            "--checkpoint",
            "models/synthetic-tiny-clip.safetensors",
            "--suite",
            "vg-relation,vg-attribution,sugarcrepe",
            "--data-root",
            "tests/fixtures/aro",
            "--output",
            out.to_str().unwrap(),
        ]));
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
    };
    let (cpu, gpu) = (scores("cpu"), scores("wgpu"));
    let results = |scores: &serde_json::Value| scores["checkpoints"][0]["results"].clone();
    assert!(
        results(&cpu).as_array().is_some_and(|r| r.len() > 2),
        "{cpu}"
    );
    assert_eq!(results(&cpu), results(&gpu), "CPU and GPU scores differ");
}
