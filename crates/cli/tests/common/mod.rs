//! What the end-to-end tests share: running `negclip` from the repository root, and reading
//! back a run's folder. Every test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root: the tests run `negclip` there, so fixture paths are relative to it.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `negclip ARGS` from the repository root, whatever its exit status.
pub fn run_negclip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_negclip"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("run negclip")
}

/// Runs `negclip ARGS` from the repository root; the test fails, with negclip's error output,
/// unless it succeeds.
pub fn negclip_ok(args: &[&str]) -> Output {
    let output = run_negclip(args);
    assert!(
        output.status.success(),
        "negclip {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The step of the run's newest checkpoint, once one is written.
pub fn latest_step(output: &Path) -> Option<u64> {
    let name = std::fs::read_to_string(output.join("checkpoints/latest")).ok()?;
    name.trim().strip_prefix("step-")?.parse().ok()
}

/// Every tensor of the run's final model, by name, as its raw bytes (the header's metadata
/// order is not part of the weights).
pub fn final_tensors(output: &Path) -> BTreeMap<String, Vec<u8>> {
    let bytes =
        std::fs::read(output.join("final.safetensors")).expect("the run wrote final.safetensors");
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect()
}

/// The final model's tensors as f32 values, by name.
pub fn final_weights(output: &Path) -> BTreeMap<String, Vec<f32>> {
    let as_f32 = |bytes: Vec<u8>| {
        let words = bytes.chunks_exact(4);
        words
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    final_tensors(output)
        .into_iter()
        .map(|(name, bytes)| (name, as_f32(bytes)))
        .collect()
}

/// Two runs' final weights agree within float reassociation: 1e-5 relative per tensor (the
/// norm of the difference over the norm of the tensor). Attention's key bias gets no gradient
/// (the softmax does not change when a constant is added to every key), so what AdamW makes
/// of its rounding noise is noise too, about 1e-7 in size: compared absolutely.
pub fn assert_same_weights_within_rounding(a: &Path, b: &Path) {
    let (one, two) = (final_weights(a), final_weights(b));
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        two.keys().collect::<Vec<_>>()
    );
    for (name, x) in &one {
        let y = &two[name];
        let diff = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).powi(2))
            .sum::<f32>()
            .sqrt();
        if name.ends_with("k_proj.bias") {
            assert!(diff < 1e-5, "{name}: difference {diff}");
            continue;
        }
        let norm = x.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(
            diff / norm < 1e-5,
            "{name}: relative difference {}",
            diff / norm
        );
    }
}
