//! TensorBoard events of a training run: written by default, each step of each scalar once
//! after a resume (the steps done after the checkpoint were written before the "kill" and
//! again after it), the same values as the run left alone, and none with
//! `log.tensorboard = false`.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use negclip_train::tensorboard::event::{Kind, SessionLog, SessionStatus, What};
use negclip_train::tensorboard::{events_files, read_events, tfrecord};

// 4 steps an epoch, 3 epochs; step checkpoints at 3, 6 and 9, epoch ones at 4, 8 and 12.
const CONFIG: &str = r#"
seed = 5
[model]
preset = "tiny"
[data]
source = "synthetic"
samples_per_epoch = 64
[optim]
lr = 1e-3
batch_size = 16
epochs = 3
[eval]
suites = ["Synth-Relation"]
items = 16
[checkpoint]
every_steps = 3
[log]
every_steps = 1
"#;

/// The checkpoint the run is taken back to, as if killed soon after it was written.
const RESUME_STEP: i64 = 6;

fn train(args: &[&str], config: &Path, output: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_negclip"))
        .args(["train", "--quiet", "--config"])
        .arg(config)
        .arg("--output")
        .arg(output)
        .args(args)
        .env("RAYON_NUM_THREADS", "2")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "negclip train {args:?} failed");
}

/// Every scalar of the run's events files, in the order read: (tag, step, value).
fn scalars(output: &Path) -> Vec<(String, i64, f32)> {
    let mut out = Vec::new();
    for path in events_files(output).unwrap() {
        let file = read_events(&path).unwrap();
        assert!(
            file.stopped.is_none(),
            "{}: {:?}",
            path.display(),
            file.stopped
        );
        for event in file.events {
            let Some(What::Summary(summary)) = event.what else {
                continue;
            };
            for value in summary.value {
                if let Some(Kind::SimpleValue(v)) = value.kind {
                    out.push((value.tag, event.step, v));
                }
            }
        }
    }
    out
}

/// Take a finished run back to its step-`RESUME_STEP` checkpoint, as a run killed while
/// writing its next event would be: later checkpoints and the final files gone, a torn
/// record at the end of the events file, every event after the checkpoint still there.
fn as_if_killed_after_the_checkpoint(output: &Path) {
    let checkpoints = output.join("checkpoints");
    for entry in std::fs::read_dir(&checkpoints).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(state) = std::fs::read_to_string(dir.join("trainer.json")) else {
            continue;
        };
        let state: serde_json::Value = serde_json::from_str(&state).unwrap();
        if state["step"].as_i64().unwrap() > RESUME_STEP {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    std::fs::write(checkpoints.join("latest"), format!("step-{RESUME_STEP:07}")).unwrap();
    std::fs::remove_file(output.join("final.safetensors")).unwrap();
    let [events] = events_files(output).unwrap().try_into().unwrap();
    let torn = tfrecord::frame(b"an event cut short by the kill");
    let mut file = OpenOptions::new().append(true).open(events).unwrap();
    file.write_all(&torn[..torn.len() / 2]).unwrap();
}

#[test]
fn a_resumed_run_has_each_step_once_and_the_values_of_a_run_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let (straight, resumed) = (dir.path().join("straight"), dir.path().join("resumed"));
    train(&[], &config, &straight);
    train(&[], &config, &resumed);
    as_if_killed_after_the_checkpoint(&resumed);
    let status = Command::new(env!("CARGO_BIN_EXE_negclip"))
        .args(["train", "--quiet", "--resume"])
        .arg(&resumed)
        .env("RAYON_NUM_THREADS", "2")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "resumed run failed");

    // One new file, after the first in TensorBoard's (name) order, starting over after the
    // checkpoint.
    let files = events_files(&resumed).unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    let second = read_events(&files[1]).unwrap().events;
    assert!(matches!(&second[0].what, Some(What::FileVersion(v)) if v == "brain.Event:2"));
    assert_eq!(second[1].step, RESUME_STEP + 1);
    assert_eq!(
        second[1].what,
        Some(What::SessionLog(SessionLog {
            status: SessionStatus::Start as i32
        }))
    );

    let (expected, got) = (scalars(&straight), scalars(&resumed));
    let mut seen = BTreeMap::new();
    for (tag, step, _) in &got {
        *seen.entry((tag.clone(), *step)).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "steps written twice: {twice:?}");
    // Wall-clock figures (throughput, the session's stage times) differ between any two runs;
    // their tags and steps must still match.
    let wall_clock = |tag: &str| tag == "train/samples_per_sec" || tag.starts_with("time/");
    let by_key = |scalars: Vec<(String, i64, f32)>| -> BTreeMap<(String, i64), Option<u32>> {
        scalars
            .into_iter()
            .map(|(tag, step, value)| {
                let value = (!wall_clock(&tag)).then_some(value.to_bits());
                ((tag, step), value)
            })
            .collect()
    };
    let expected_steps = by_key(expected.clone()).len();
    assert_eq!(
        expected.len(),
        expected_steps,
        "the run left alone repeats no step"
    );
    assert_eq!(by_key(got), by_key(expected));
    assert!(seen.contains_key(&("train/loss".to_string(), 12)));
    assert!(seen.contains_key(&("Synth-Relation/accuracy".to_string(), 0)));
}

#[test]
fn no_events_files_with_tensorboard_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(&config, CONFIG.replace("epochs = 3", "epochs = 1")).unwrap();
    let output = dir.path().join("run");
    train(&["--set", "log.tensorboard=false"], &config, &output);
    assert!(output.join("metrics.jsonl").exists());
    assert_eq!(
        events_files(&output).unwrap(),
        Vec::<std::path::PathBuf>::new()
    );
}
