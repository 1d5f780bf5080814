//! What the end-to-end training tests read back from a run's folder. Every test binary that
//! includes this module uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

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
