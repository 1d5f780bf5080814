//! Training checkpoints: `OUTPUT/checkpoints/<name>/` holds the model (safetensors, loadable
//! by every `negclip` command), the optimiser moments, the hard-image neighbour lists and
//! the trainer state. A checkpoint is written into a temporary folder, every file fsynced,
//! then renamed into place; `latest` (a one-line file, replaced atomically) names the newest.
//! A run killed at any moment leaves either the old or the new checkpoint, never half of one.

use std::collections::BTreeMap;
use std::fs;
use std::num::NonZeroUsize;
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

/// Write a checkpoint named `name`; `write_model` writes the model file at the path given,
/// about `model_bytes` long. The free space is checked first: a full disk stops the run with
/// the newest complete checkpoint intact, rather than in the middle of a write.
pub fn save(
    output: &Path,
    name: &str,
    state: &TrainerState,
    optimizer: &NamedTensors,
    neighbours: &[Vec<usize>],
    model_bytes: u64,
    write_model: impl FnOnce(&Path) -> Result<(), TrainError>,
) -> Result<PathBuf, TrainError> {
    let root = checkpoints_dir(output);
    create_dir(&root)?;
    let optimizer_bytes = serialize_tensors(optimizer, &root)?;
    let neighbours_json = serde_json::to_vec(neighbours).expect("lists serialise");
    let state_json = serde_json::to_vec_pretty(state).expect("state serialises");
    let needed = model_bytes
        + [&optimizer_bytes, &neighbours_json, &state_json]
            .iter()
            .map(|b| b.len() as u64)
            .sum::<u64>();
    check_free_space(&root, needed)?;
    let final_dir = root.join(name);
    let temp = root.join(format!(".{name}.tmp"));
    if temp.exists() {
        fs::remove_dir_all(&temp).map_err(io(&temp))?;
    }
    create_dir(&temp)?;

    write_model(&temp.join(MODEL_FILE))?;
    write_file(&temp.join(OPTIMIZER_FILE), &optimizer_bytes)?;
    write_file(&temp.join(NEIGHBOURS_FILE), &neighbours_json)?;
    write_file(&temp.join(STATE_FILE), &state_json)?;

    if final_dir.exists() {
        fs::remove_dir_all(&final_dir).map_err(io(&final_dir))?;
    }
    fs::rename(&temp, &final_dir).map_err(io(&final_dir))?;
    sync_dir(&root).map_err(io(&root))?;
    write_file(&root.join(LATEST), name.as_bytes())?;
    Ok(final_dir)
}

/// Refuse to start a write of `needed` bytes into `dir` when the file system has less free.
/// Where the free space cannot be read, the write goes ahead (and a failure mid-write still
/// leaves the previous checkpoint current).
fn check_free_space(dir: &Path, needed: u64) -> Result<(), TrainError> {
    match fs4::available_space(dir) {
        Ok(free) if free < needed => Err(TrainError::DiskFull {
            dir: dir.to_path_buf(),
            needed,
            free,
        }),
        _ => Ok(()),
    }
}

/// Keep the newest `keep_last` step checkpoints (with the epoch-end ones counted among them
/// unless `keep_epoch_ends`) and delete the older ones; called once the newest checkpoint is
/// complete. The newest checkpoint of all and `best` (the best epoch's) are never deleted.
/// Returns what was deleted.
pub fn prune(
    output: &Path,
    keep_last: NonZeroUsize,
    keep_epoch_ends: bool,
    best: Option<&str>,
) -> Result<Vec<PathBuf>, TrainError> {
    let root = checkpoints_dir(output);
    let newest = latest(output)?;
    let mut counted = Vec::new();
    for entry in fs::read_dir(&root).map_err(io(&root))? {
        let path = entry.map_err(io(&root))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let periodic =
            name.starts_with("step-") || (!keep_epoch_ends && name.starts_with("epoch-"));
        if periodic && path.is_dir() {
            counted.push((load_state(&path)?.step, name, path));
        }
    }
    counted.sort_by_key(|c| std::cmp::Reverse(c.0));
    let deleted: Vec<PathBuf> = counted
        .into_iter()
        .skip(keep_last.get())
        .filter(|(_, name, path)| Some(name.as_str()) != best && Some(path) != newest.as_ref())
        .map(|(_, _, path)| path)
        .collect();
    for path in &deleted {
        fs::remove_dir_all(path).map_err(io(path))?;
    }
    sync_dir(&root).map_err(io(&root))?;
    Ok(deleted)
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

/// A checkpoint's trainer state (`trainer.json`).
fn load_state(dir: &Path) -> Result<TrainerState, TrainError> {
    let state_path = dir.join(STATE_FILE);
    let text = fs::read_to_string(&state_path).map_err(io(&state_path))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
        path: state_path,
        message: e.to_string(),
    })
}

/// Read a checkpoint folder written by [`save`].
pub fn load(dir: &Path) -> Result<Saved, TrainError> {
    let state = load_state(dir)?;
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
            0,
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
        save(dir.path(), "step-1", &state(), &empty, &[], 0, |p| {
            fs::write(p, b"one").map_err(io(p))
        })
        .unwrap();
        let failed = save(dir.path(), "step-2", &state(), &empty, &[], 0, |p| {
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
        let path = save(dir.path(), "s", &state(), &empty, &[], 0, |p| {
            fs::write(p, b"m").map_err(io(p))
        })
        .unwrap();
        fs::write(path.join(STATE_FILE), b"{not json").unwrap();
        let err = load(&path).err().unwrap().to_string();
        assert!(err.contains("trainer.json"), "{err}");
    }

    fn save_at(dir: &Path, name: &str, step: u64) {
        let mut at = state();
        at.step = step;
        let empty = BTreeMap::new();
        save(dir, name, &at, &empty, &[], 0, |p| {
            fs::write(p, b"m").map_err(io(p))
        })
        .unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(checkpoints_dir(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != LATEST)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn keep_last_deletes_the_older_step_checkpoints_but_the_newest_best_and_epoch_ends() {
        let dir = tempfile::tempdir().unwrap();
        for (name, step) in [
            ("step-2", 2),
            ("step-4", 4),
            ("epoch-001", 5),
            ("step-7", 7),
        ] {
            save_at(dir.path(), name, step);
        }
        save_at(dir.path(), "step-9", 9);
        let two = NonZeroUsize::new(2).unwrap();
        let deleted = prune(dir.path(), two, true, None).unwrap();
        assert_eq!(deleted.len(), 2, "{deleted:?}");
        assert_eq!(names(dir.path()), ["epoch-001", "step-7", "step-9"]);
        // Epoch ends counted too, the best kept whatever its age.
        let one = NonZeroUsize::new(1).unwrap();
        prune(dir.path(), one, false, Some("epoch-001")).unwrap();
        assert_eq!(names(dir.path()), ["epoch-001", "step-9"]);
        prune(dir.path(), one, false, None).unwrap();
        assert_eq!(names(dir.path()), ["step-9"]);
        assert!(load(&latest(dir.path()).unwrap().unwrap()).is_ok());
    }

    #[test]
    fn a_checkpoint_larger_than_the_free_space_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        save_at(dir.path(), "step-1", 1);
        let empty = BTreeMap::new();
        let huge = u64::MAX / 2;
        let refused = save(dir.path(), "step-2", &state(), &empty, &[], huge, |_| {
            panic!("nothing is written")
        });
        let error = refused.expect_err("refused").to_string();
        let root = checkpoints_dir(dir.path());
        assert!(
            error.contains(&root.display().to_string()) && error.contains("bytes"),
            "{error}"
        );
        assert_eq!(names(dir.path()), ["step-1"], "no partial checkpoint");
        assert!(latest(dir.path()).unwrap().unwrap().ends_with("step-1"));
    }
}
