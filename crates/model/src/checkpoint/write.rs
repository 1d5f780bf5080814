//! Crash-safe writes: every file is written to a temporary sibling, synced, then renamed over
//! the destination, so a reader never sees half a checkpoint.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::Dtype;

use super::config_files::METADATA_KEY;
use super::tensors::TensorMap;
use crate::{ClipConfig, ModelError};

/// Writes `bytes` to `path` atomically (temporary file in the same directory, fsync, rename).
pub fn atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(dir) = File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        ModelError::io(path, e)
    })
}

/// Writes `tensors` as `F32` safetensors with `{"format": "pt", "negclip_config": <json>}` as
/// metadata (transformers refuses safetensors files without `format`).
pub fn safetensors(
    path: &Path,
    tensors: &TensorMap,
    config: &ClipConfig,
) -> Result<(), ModelError> {
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
        .map_err(|e| ModelError::format(path, e.to_string()))?;
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (
            METADATA_KEY.to_string(),
            serde_json::to_string(config).expect("configs serialise"),
        ),
    ]);
    let file = safetensors::serialize(views, Some(metadata))
        .map_err(|e| ModelError::format(path, e.to_string()))?;
    atomic(path, &file)
}
