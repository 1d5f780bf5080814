//! Partial fine-tuning in whole runs (`[optim] lock_image` and `freeze`): the fixed tensors
//! of the final model are the starting model's, bit for bit, and every other tensor moved; the
//! run prints its parameter counts; a run resumed from a mid-run checkpoint freezes the same
//! parameters and ends with the uninterrupted run's weights.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

mod common;
use common::final_tensors;

const MODEL: &str = "models/synthetic-tiny-clip.safetensors";

/// The shipped tiny model, 4 steps an epoch for 2 epochs, the image tower locked, the token
/// embedding and the first text block fixed by pattern.
const CONFIG: &str = r#"
seed = 5
[model]
checkpoint = "MODEL"
[data]
source = "synthetic"
samples_per_epoch = 64
[loss]
kind = "negclip"
[negatives]
source = "rewrite"
kinds = ["swap-attribute", "swap-relation", "shuffle-order"]
[optim]
lr = 1e-3
batch_size = 16
epochs = 2
grad_clip_norm = 1.0
lock_image = true
freeze = ["token_embedding.weight", "transformer.resblocks.0.*"]
[eval]
suites = ["Synth-Relation"]
items = 8
"#;

/// Whether the tensor called `name` in a saved (Hugging Face-named) model is fixed by
/// `CONFIG`: the image tower, the token embedding, the first text block.
fn fixed(name: &str) -> bool {
    name.starts_with("vision_model.")
        || name == "visual_projection.weight"
        || name == "text_model.embeddings.token_embedding.weight"
        || name.starts_with("text_model.encoder.layers.0.")
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn negclip(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_negclip"));
    command
        .current_dir(root())
        .args(args)
        .env("RAYON_NUM_THREADS", "2");
    command
}

/// Run `command`, check it succeeded, return its standard output.
fn stdout_of(mut command: Command) -> String {
    let out = command.output().expect("run negclip train");
    assert!(
        out.status.success(),
        "negclip train failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every tensor of a safetensors file: its bytes and its number of values.
fn tensors(path: &Path) -> BTreeMap<String, (Vec<u8>, usize)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let size = view.shape().iter().product();
            (name, (view.data().to_vec(), size))
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        match entry.file_type().unwrap().is_dir() {
            true => copy_dir(&entry.path(), &target),
            false => {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
}

#[test]
fn fixed_tensors_stay_bit_identical_through_a_run_and_its_resume() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    let model = root().join(MODEL);
    std::fs::write(&config, CONFIG.replace("MODEL", model.to_str().unwrap())).unwrap();
    let straight = dir.path().join("straight");
    let mut command = negclip(&["train", "--quiet", "--config"]);
    command.arg(&config).arg("--output").arg(&straight);
    let printed = stdout_of(command);

    let start = tensors(&model);
    let total: usize = start.values().map(|(_, size)| size).sum();
    let frozen: usize = start
        .iter()
        .filter(|(name, _)| fixed(name))
        .map(|(_, (_, size))| size)
        .sum();
    let counts = format!(
        "parameters: total {total}, trainable {}, frozen {frozen}",
        total - frozen
    );
    assert!(printed.contains(&counts), "{counts} in:\n{printed}");

    let end = final_tensors(&straight);
    assert_eq!(
        end.keys().collect::<Vec<_>>(),
        start.keys().collect::<Vec<_>>()
    );
    for (name, (bytes, _)) in &start {
        match fixed(name) {
            true => assert!(&end[name] == bytes, "fixed {name} changed"),
            false => assert!(&end[name] != bytes, "{name} did not train"),
        }
    }

    // Resume from the end of the first epoch: the checkpoint's config freezes the same set,
    // and the second epoch ends where the uninterrupted run's did.
    let resumed = dir.path().join("resumed");
    copy_dir(&straight, &resumed);
    std::fs::remove_file(resumed.join("final.safetensors")).unwrap();
    std::fs::write(resumed.join("checkpoints/latest"), "epoch-001").unwrap();
    let mut command = negclip(&["train", "--quiet", "--resume"]);
    command.arg(&resumed);
    let printed = stdout_of(command);
    assert!(printed.contains(&counts), "{counts} in:\n{printed}");
    assert!(
        final_tensors(&resumed) == end,
        "the resumed run's weights differ from the uninterrupted run's"
    );
}

#[test]
fn a_pattern_that_matches_nothing_stops_the_run_before_it_writes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    let model = root().join(MODEL);
    let text = CONFIG
        .replace("MODEL", model.to_str().unwrap())
        .replace("\"token_embedding.weight\"", "\"text.embeddings.*\"");
    std::fs::write(&config, text).unwrap();
    let output = dir.path().join("run");
    let out = negclip(&["train", "--quiet", "--config"])
        .arg(&config)
        .arg("--output")
        .arg(&output)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("optim.freeze: the pattern \"text.embeddings.*\" matches no parameter"),
        "{stderr}"
    );
    assert!(stderr.contains("token_embedding.weight"), "{stderr}");
    assert!(!output.exists(), "a run that cannot start leaves no folder");
}
