//! Training checkpoints: `OUTPUT/checkpoints/<name>/` holds the model (safetensors, loadable
//! by every `negclip` command), the optimiser moments, the hard-image neighbour lists and
//! the trainer state. A checkpoint is written into a temporary folder, every file fsynced,
//! then renamed into place; `latest` (a one-line file, replaced atomically) names the newest.
//! A run killed at any moment leaves either the old or the new checkpoint, never half of one.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use negclip_data::atomic::sync_dir;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::TrainError;
use crate::io::write_file;
use crate::optim::NamedTensors;
use crate::precision::LossScaler;

/// Where the run stands: enough to continue exactly where it stopped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    /// Epoch in progress (0-based).
    pub epoch: usize,
    /// Batches of that epoch already trained.
    pub batch: usize,
    /// Optimiser steps taken in the whole run.
    pub step: u64,
    /// Whether the evaluation before the first step has been logged.
    pub evaluated_start: bool,
    /// Best value of the configured metric and the checkpoint that had it.
    pub best: Option<(f64, String)>,
    /// f16's loss scaler (absent in other precisions, and in checkpoints from before it).
    #[serde(default)]
    pub loss_scaler: Option<LossScaler>,
    pub config: RunConfig,
}

impl TrainerState {
    /// AdamW updates made: steps taken less those f16 skipped.
    pub fn optimizer_steps(&self) -> u64 {
        self.step - self.loss_scaler.as_ref().map_or(0, |s| s.skipped)
    }

    /// One more step taken.
    pub fn advance(&mut self) {
        self.step += 1;
        self.batch += 1;
    }

    /// The epoch in progress is done.
    pub fn finish_epoch(&mut self) {
        self.epoch += 1;
        self.batch = 0;
    }
}

/// File names inside a checkpoint folder.
pub const MODEL_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const NEIGHBOURS_FILE: &str = "neighbours.json";
const STATE_FILE: &str = "trainer.json";
const LATEST: &str = "latest";

/// The checkpoints folder of a run.
pub fn checkpoints_dir(output: &Path) -> PathBuf {
    output.join("checkpoints")
}

/// Everything a checkpoint holds besides the model.
pub struct Saved {
    pub state: TrainerState,
    pub optimizer: NamedTensors,
    pub neighbours: Vec<Vec<usize>>,
    /// The checkpoint's folder.
    pub dir: PathBuf,
    /// Path of the checkpoint's model file.
    pub model_path: PathBuf,
}

/// Write a checkpoint named `name`; `write_model` writes the model file at the path given.
pub fn save(
    output: &Path,
    name: &str,
    state: &TrainerState,
    optimizer: &NamedTensors,
    neighbours: &[Vec<usize>],
    write_model: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<PathBuf, TrainError> {
    let root = checkpoints_dir(output);
    create_dir(&root)?;
    let final_dir = root.join(name);
    let temp = root.join(format!(".{name}.tmp"));
    if temp.exists() {
        fs::remove_dir_all(&temp).map_err(io(&temp))?;
    }
    create_dir(&temp)?;

    write_model(&temp.join(MODEL_FILE))?;
    write_file(
        &temp.join(OPTIMIZER_FILE),
        &serialize_tensors(optimizer, &temp)?,
    )?;
    write_file(
        &temp.join(NEIGHBOURS_FILE),
        &serde_json::to_vec(neighbours).expect("lists serialise"),
    )?;
    let state_json = serde_json::to_vec_pretty(state).expect("state serialises");
    write_file(&temp.join(STATE_FILE), &state_json)?;

    if final_dir.exists() {
        fs::remove_dir_all(&final_dir).map_err(io(&final_dir))?;
    }
    fs::rename(&temp, &final_dir).map_err(io(&final_dir))?;
    sync_dir(&root).map_err(io(&root))?;
    write_file(&root.join(LATEST), name.as_bytes())?;
    Ok(final_dir)
}

/// The newest checkpoint of a run, if any.
pub fn latest(output: &Path) -> Result<Option<PathBuf>, TrainError> {
    let pointer = checkpoints_dir(output).join(LATEST);
    if !pointer.exists() {
        return Ok(None);
    }
    let name = fs::read_to_string(&pointer).map_err(io(&pointer))?;
    Ok(Some(checkpoints_dir(output).join(name.trim())))
}

/// Read a run's newest checkpoint, to continue it.
pub fn load_latest(output: &Path) -> Result<Saved, TrainError> {
    let dir = latest(output)?.ok_or_else(|| TrainError::Checkpoint {
        path: checkpoints_dir(output),
        message: "no checkpoint to resume from".into(),
    })?;
    load(&dir)
}

/// Read a checkpoint folder written by [`save`].
pub fn load(dir: &Path) -> Result<Saved, TrainError> {
    let state_path = dir.join(STATE_FILE);
    let text = fs::read_to_string(&state_path).map_err(io(&state_path))?;
    let state: TrainerState = serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path: state_path.clone(),
        message: e.to_string(),
    })?;
    let optimizer_path = dir.join(OPTIMIZER_FILE);
    let bytes = fs::read(&optimizer_path).map_err(io(&optimizer_path))?;
    let optimizer = deserialize_tensors(&bytes, &optimizer_path)?;
    let neighbours_path = dir.join(NEIGHBOURS_FILE);
    let text = fs::read_to_string(&neighbours_path).map_err(io(&neighbours_path))?;
    let neighbours = serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path: neighbours_path,
        message: e.to_string(),
    })?;
    Ok(Saved {
        state,
        optimizer,
        neighbours,
        dir: dir.to_path_buf(),
        model_path: dir.join(MODEL_FILE),
    })
}

fn serialize_tensors(tensors: &NamedTensors, dir: &Path) -> Result<Vec<u8>, TrainError> {
    let bytes: BTreeMap<&String, Vec<u8>> = tensors
        .iter()
        .map(|(name, (values, _))| (name, values.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, (_, shape))| {
            let view = TensorView::new(Dtype::F32, shape.clone(), &bytes[name])
                .expect("shape matches data");
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize(views, None).map_err(|e| TrainError::Checkpoint {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })
}

fn deserialize_tensors(bytes: &[u8], path: &Path) -> Result<NamedTensors, TrainError> {
    let error = |message: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        message,
    };
    let file = SafeTensors::deserialize(bytes).map_err(|e| error(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (name, view) in file.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(error(format!(
                "{name}: expected F32, found {:?}",
                view.dtype()
            )));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.insert(name, (values, view.shape().to_vec()));
    }
    Ok(out)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn create_dir(path: &Path) -> Result<(), TrainError> {
    fs::create_dir_all(path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> TrainerState {
        let config = RunConfig::parse(
            "[model]\npreset = \"tiny\"\n[data]\nsource = \"synthetic\"\n[optim]\nlr = 1e-4\nbatch_size = 4\nepochs = 1\n",
            Path::new("t.toml"),
            &[],
        )
        .unwrap();
        TrainerState {
            epoch: 1,
            batch: 3,
            step: 11,
            evaluated_start: true,
            best: Some((0.75, "epoch-1".into())),
            loss_scaler: Some(crate::precision::LossScaler {
                scale: 1024.0,
                good_steps: 5,
                growth_interval: 2000,
                skipped: 2,
            }),
            config,
        }
    }

    #[test]
    fn round_trip_and_latest_pointer() {
        let dir = tempfile::tempdir().unwrap();
        let mut moments = BTreeMap::new();
        moments.insert("m.a#decay".to_string(), (vec![1.0f32, -2.5], vec![2]));
        moments.insert("v.a#decay".to_string(), (vec![0.5f32, 0.25], vec![2]));
        let neighbours = vec![vec![1, 2], vec![0, 2]];
        assert!(latest(dir.path()).unwrap().is_none());
        save(
            dir.path(),
            "step-11",
            &state(),
            &moments,
            &neighbours,
            |p| fs::write(p, b"model").map_err(io(p)),
        )
        .unwrap();
        let found = latest(dir.path()).unwrap().unwrap();
        let saved = load(&found).unwrap();
        assert_eq!(saved.state, state());
        assert_eq!(saved.optimizer, moments);
        assert_eq!(saved.neighbours, neighbours);
        assert_eq!(fs::read(saved.model_path).unwrap(), b"model");
        let leftovers: Vec<_> = fs::read_dir(checkpoints_dir(dir.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn failed_model_write_leaves_the_previous_checkpoint_current() {
        let dir = tempfile::tempdir().unwrap();
        let empty = BTreeMap::new();
        save(dir.path(), "step-1", &state(), &empty, &[], |p| {
            fs::write(p, b"one").map_err(io(p))
        })
        .unwrap();
        let failed = save(dir.path(), "step-2", &state(), &empty, &[], |p| {
            Err(TrainError::Checkpoint {
                path: p.to_path_buf(),
                message: "disk full".into(),
            })
        });
        assert!(failed.is_err());
        let current = latest(dir.path()).unwrap().unwrap();
        assert!(current.ends_with("step-1"));
        assert!(!checkpoints_dir(dir.path()).join("step-2").exists());
    }

    #[test]
    fn corrupt_state_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = BTreeMap::new();
        let path = save(dir.path(), "s", &state(), &empty, &[], |p| {
            fs::write(p, b"m").map_err(io(p))
        })
        .unwrap();
        fs::write(path.join(STATE_FILE), b"{not json").unwrap();
        let err = load(&path).err().unwrap().to_string();
        assert!(err.contains("trainer.json"), "{err}");
    }
}
