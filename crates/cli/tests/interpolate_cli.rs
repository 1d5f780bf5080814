//! WiSE-FT end to end: `negclip eval --interpolate` at α = 0 and α = 1 gives exactly the
//! evaluation of the two checkpoints, `negclip interpolate` writes a checkpoint whose
//! evaluation is the in-memory α's, the ends are the inputs bit for bit, and two
//! architectures are refused with both files and the difference named.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::Device;
use common::{negclip_ok as negclip, run_negclip as run, workspace};
use negclip_model::weights::{self, Naming, TensorMap};

const MODEL: &str = "models/synthetic-tiny-clip.safetensors";

/// A stand-in for a fine-tune of `base`: every weight moved by a fixed, varied amount, the
/// logit scale by +0.5, written in `naming` to `out` (a file, or a directory to export to).
fn fake_finetune(base: &Path, naming: Naming, out: &Path) {
    let device = Device::flex();
    let loaded = weights::load(&workspace().join(base), &device).unwrap();
    let state: TensorMap = weights::state_dict(&loaded.model, Naming::OpenClip)
        .into_iter()
        .map(|(name, mut tensor)| {
            let shift = if name == "logit_scale" { 0.5 } else { 0.0 };
            for (i, value) in tensor.data.iter_mut().enumerate() {
                *value += shift + 0.05 * (i as f32 * 0.37).sin();
            }
            (name, tensor)
        })
        .collect();
    let model = weights::from_state_dict(state, &loaded.config, &device).unwrap();
    if out.extension().is_some() {
        weights::save(&model, &loaded.config, naming, out).unwrap();
    } else {
        weights::export(&model, &loaded.config, naming, out).unwrap();
    }
}

/// Each column of an eval JSON file: its label and its results, reports included.
fn columns(path: &Path) -> Vec<(String, serde_json::Value)> {
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["checkpoint"].as_str().unwrap().to_string(),
                c["results"].clone(),
            )
        })
        .collect()
}

/// Every tensor of a safetensors file as raw bytes.
fn tensor_bytes(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect()
}

const SUITES: &str = "synth-relation,synth-order,synth-classify,synth-ood";

#[test]
fn the_curve_ends_are_the_two_checkpoints_and_a_written_mix_is_the_in_memory_one() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let tuned = tmp.join("tuned.safetensors");
    fake_finetune(Path::new(MODEL), Naming::HuggingFace, &tuned);
    let tuned = tuned.to_str().unwrap();
    let mid = tmp.join("mid.safetensors");
    let written = negclip(&[
        "interpolate",
        "--from",
        MODEL,
        "--to",
        tuned,
        "--alpha",
        "0.3",
        "--out",
        mid.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&written.stdout);
    assert!(
        said.contains("HuggingFace safetensors") && said.contains("logit_scale"),
        "{said}"
    );

    let curve = tmp.join("curve.json");
    negclip(&[
        "eval",
        "--interpolate",
        &format!("{MODEL},{tuned}"),
        "--alphas",
        "0,0.3,1",
        "--suite",
        SUITES,
        "--items",
        "40",
        "--output",
        curve.to_str().unwrap(),
    ]);
    let checkpoints = tmp.join("checkpoints.json");
    negclip(&[
        "eval",
        "--checkpoint",
        MODEL,
        "--checkpoint",
        mid.to_str().unwrap(),
        "--checkpoint",
        tuned,
        "--suite",
        SUITES,
        "--items",
        "40",
        "--output",
        checkpoints.to_str().unwrap(),
    ]);
    let curve = columns(&curve);
    let checkpoints = columns(&checkpoints);
    let labels: Vec<&str> = curve.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["α=0", "α=0.3", "α=1"]);
    for ((label, ours), (checkpoint, theirs)) in curve.iter().zip(&checkpoints) {
        assert_eq!(ours, theirs, "{label} against {checkpoint}");
    }
    // Not the same numbers everywhere: the three models differ.
    assert_ne!(curve[0].1, curve[1].1);
    assert_ne!(curve[1].1, curve[2].1);

    let plot = image::open(tmp.join("curve-tradeoff.png")).expect("the trade-off plot");
    assert_eq!(plot.width(), negclip_train::plot::WIDTH);
    assert!(tmp.join("curve.md").is_file() && tmp.join("curve.png").is_file());
}

#[test]
fn the_ends_are_the_inputs_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let tuned = dir.path().join("tuned.safetensors");
    fake_finetune(Path::new(MODEL), Naming::HuggingFace, &tuned);
    for (alpha, same_as) in [("0", workspace().join(MODEL)), ("1", tuned.clone())] {
        let out = dir.path().join(format!("alpha{alpha}.safetensors"));
        negclip(&[
            "interpolate",
            "--from",
            MODEL,
            "--to",
            tuned.to_str().unwrap(),
            "--alpha",
            alpha,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(tensor_bytes(&out), tensor_bytes(&same_as), "α = {alpha}");
    }
}

#[test]
fn directories_in_open_clip_naming_give_a_directory_in_that_naming() {
    let dir = tempfile::tempdir().unwrap();
    let base = "tests/fixtures/model/open_clip_full_vocab";
    let tuned = dir.path().join("tuned");
    fake_finetune(Path::new(base), Naming::OpenClip, &tuned);
    let out = dir.path().join("mixed");
    negclip(&[
        "interpolate",
        "--from",
        base,
        "--to",
        tuned.to_str().unwrap(),
        "--alpha",
        "0.5",
        "--out",
        out.to_str().unwrap(),
    ]);
    let info = negclip(&["info", out.to_str().unwrap()]);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("open_clip safetensors"), "{info}");
    assert!(out.join("open_clip_config.json").is_file());
}

#[test]
fn two_architectures_are_refused_naming_both_files_and_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let loaded = weights::load(&workspace().join(MODEL), &device).unwrap();
    let mut deeper = loaded.config.clone();
    deeper.text.layers += 1;
    let other = dir.path().join("deeper.safetensors");
    weights::save(&deeper.init(&device), &deeper, Naming::HuggingFace, &other).unwrap();
    let other = other.to_str().unwrap();
    let out = dir.path().join("never.safetensors");
    let refused = run(&[
        "interpolate",
        "--from",
        MODEL,
        "--to",
        other,
        "--alpha",
        "0.5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    for needle in [MODEL, other, "`text.layers`", "not the same architecture"] {
        assert!(error.contains(needle), "{needle} not in:\n{error}");
    }
    assert!(!out.exists());

    let refused = run(&[
        "eval",
        "--interpolate",
        &format!("{MODEL},{other}"),
        "--suite",
        "synth-relation",
    ]);
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(error.contains("`text.layers`"), "{error}");
}
