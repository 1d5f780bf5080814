//! Crash-safe writes of checkpoint files: a reader never sees half a checkpoint.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::Dtype;

use super::config_files::METADATA_KEY;
use super::tensors::TensorMap;
use crate::{ClipConfig, ModelError};

/// Writes `bytes` to `path` with the project's one crash-safe writer
/// ([`negclip_data::atomic::write_atomic`]).
pub fn atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    negclip_data::atomic::write_atomic(path, bytes).map_err(|e| ModelError::io(path, e))
}

/// Writes `tensors` as `F32` safetensors ([`encode`]) to `path`, crash-safe.
pub fn safetensors(
    path: &Path,
    tensors: &TensorMap,
    config: &ClipConfig,
) -> Result<(), ModelError> {
    atomic(
        path,
        &encode(tensors, config).map_err(|e| ModelError::format(path, e))?,
    )
}

/// `tensors` as the bytes of an `F32` safetensors file with `{"format": "pt",
/// "negclip_config": <json>}` as metadata (transformers refuses safetensors files without
/// `format`).
pub fn encode(tensors: &TensorMap, config: &ClipConfig) -> Result<Vec<u8>, String> {
    let bytes: Vec<(&String, Vec<u8>)> =
        tensors.iter().map(|(k, t)| (k, t.to_le_bytes())).collect();
    let views = bytes
        .iter()
        .zip(tensors.values())
        .map(|((name, data), tensor)| {
            TensorView::new(Dtype::F32, tensor.shape.clone(), data)
                .map(|view| (name.as_str(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (
            METADATA_KEY.to_string(),
            serde_json::to_string(config).expect("configs serialise"),
        ),
    ]);
    safetensors::serialize(views, Some(metadata)).map_err(|e| e.to_string())
}
