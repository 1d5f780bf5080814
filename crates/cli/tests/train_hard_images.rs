//! Hard-negative images reach every training step: each step's image batch is B anchors
//! plus B hard images, whichever way the hard images are found.

use std::path::Path;
use std::process::Command;

const CONFIG: &str = r#"
seed = 1
[model]
preset = "tiny"
[data]
source = "synthetic"
samples_per_epoch = 64
hard_images = { nearest = 3 }
[loader]
prefetch = 1
[negatives]
source = "rewrite"
kinds = ["swap-relation"]
[optim]
lr = 1e-4
batch_size = 16
epochs = 2
[eval]
suites = ["Synth-Relation"]
items = 8
[log]
every_steps = 1
"#;

/// Runs `CONFIG` with `overrides` and returns `field` of every train record.
fn per_step(dir: &Path, name: &str, overrides: &[&str], field: &str) -> Vec<u64> {
    let config = dir.join("run.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let output = dir.join(name);
    let mut command = Command::new(env!("CARGO_BIN_EXE_negclip"));
    command
        .args(["train", "--quiet", "--config"])
        .arg(&config)
        .arg("--output")
        .arg(&output);
    for item in overrides {
        command.args(["--set", item]);
    }
    let run = command.output().expect("run negclip train");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::read_to_string(output.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|record| record["kind"] == "train")
        .map(|record| {
            record[field]
                .as_u64()
                .unwrap_or_else(|| panic!("train records hold {field}"))
        })
        .collect()
}

#[test]
fn every_step_holds_anchors_and_hard_images() {
    let dir = tempfile::tempdir().unwrap();
    let steps = 2 * 64 / 16;
    for (name, overrides) in [
        ("nearest", &[][..]),
        ("twins", &["data.hard_images=twins"][..]),
        ("partners", &["data.hard_images={ partners = 3 }"][..]),
    ] {
        let images = per_step(dir.path(), name, overrides, "images");
        assert_eq!(images, vec![32; steps], "{name}");
    }
    let images = per_step(dir.path(), "none", &["data.hard_images=none"], "images");
    assert_eq!(images, vec![16; steps]);
}

#[test]
fn relation_captions_get_one_hard_caption_of_each_kind() {
    let dir = tempfile::tempdir().unwrap();
    let two_kinds = [
        "data.hard_images=none",
        "data.relation_captions_only=true",
        r#"negatives.kinds=["swap-relation", "swap-attribute"]"#,
        "negatives.per_caption=2",
    ];
    let captions = per_step(dir.path(), "two", &two_kinds, "hard_captions");
    assert_eq!(captions, vec![32; 2 * 64 / 16]);
}

#[test]
fn a_table_row_without_a_hard_image_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("table.jsonl");
    let row = |neg: &str| {
        format!(
            r#"{{"image": "a.png", "caption": "a red circle", "negatives": [], "neg_images": {neg}}}"#
        )
    };
    std::fs::write(&table, format!("{}\n{}\n", row("[1]"), row("[]"))).unwrap();
    let config = dir.path().join("run.toml");
    let data = format!(
        "source = \"table\"\ntable = {:?}\nhard_images = \"table\"",
        table.display().to_string()
    );
    let synthetic = "source = \"synthetic\"\nsamples_per_epoch = 64\nhard_images = { nearest = 3 }";
    std::fs::write(&config, CONFIG.replace(synthetic, &data)).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_negclip"))
        .args(["train", "--quiet", "--config"])
        .arg(&config)
        .arg("--output")
        .arg(dir.path().join("out"))
        .output()
        .expect("run negclip train");
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("table.jsonl: row 1"), "{stderr}");
    assert!(stderr.contains("neg_image"), "{stderr}");
}
