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

/// Write a checkpoint named `name` with `model_file` (the model's safetensors bytes) as its
/// model. The free space is checked first: a full disk stops the run with the newest complete
/// checkpoint intact, rather than in the middle of a write. Should the disk fill anyway (another
/// process writing), the partial folder is removed and the same error is given.
pub fn save(
    output: &Path,
    name: &str,
    state: &TrainerState,
    optimizer: &NamedTensors,
    neighbours: &[Vec<usize>],
    model_file: &[u8],
) -> Result<PathBuf, TrainError> {
    let contents = Contents {
        state,
        optimizer,
        neighbours,
        model_file,
    };
    save_with(output, name, contents, write_file)
}

/// What [`save`] writes.
struct Contents<'a> {
    state: &'a TrainerState,
    optimizer: &'a NamedTensors,
    neighbours: &'a [Vec<usize>],
    model_file: &'a [u8],
}

/// [`save`] with the checkpoint's files written by `write` (the tests give it one that fails).
fn save_with(
    output: &Path,
    name: &str,
    Contents {
        state,
        optimizer,
        neighbours,
        model_file,
    }: Contents,
    write: impl Fn(&Path, &[u8]) -> Result<(), TrainError>,
) -> Result<PathBuf, TrainError> {
    let root = checkpoints_dir(output);
    create_dir(&root)?;
    let optimizer_bytes = serialize_tensors(optimizer, &root)?;
    let neighbours_json = serde_json::to_vec(neighbours).expect("lists serialise");
    let state_json = serde_json::to_vec_pretty(state).expect("state serialises");
    let files = [
        (MODEL_FILE, model_file),
        (OPTIMIZER_FILE, &optimizer_bytes),
        (NEIGHBOURS_FILE, &neighbours_json),
        (STATE_FILE, &state_json),
    ];
    let needed = disk_bytes(files.iter().map(|(_, bytes)| bytes.len() as u64));
    check_free_space(&root, needed)?;
    let final_dir = root.join(name);
    let temp = root.join(format!(".{name}.tmp"));
    if temp.exists() {
        fs::remove_dir_all(&temp).map_err(io(&temp))?;
    }
    let written = create_dir(&temp).and_then(|()| {
        files
            .iter()
            .try_for_each(|(file, bytes)| write(&temp.join(file), bytes))
    });
    if let Err(error) = written {
        fs::remove_dir_all(&temp).ok(); // best effort: the error below is what matters
        return Err(disk_full_or(error, &root, needed));
    }
    if final_dir.exists() {
        fs::remove_dir_all(&final_dir).map_err(io(&final_dir))?;
    }
    fs::rename(&temp, &final_dir).map_err(io(&final_dir))?;
    sync_dir(&root).map_err(io(&root))?;
    write_file(&root.join(LATEST), name.as_bytes())?;
    Ok(final_dir)
}

/// The file system's allocation unit, as far as the check below assumes it (ext4, XFS and
/// tmpfs use 4 KiB).
const BLOCK: u64 = 4096;

/// What files of these sizes take on disk: each rounded up to whole blocks, plus a block for
/// the folder and one for `latest`'s replacement, which is written beside it before the rename.
fn disk_bytes(sizes: impl Iterator<Item = u64>) -> u64 {
    sizes.map(|size| size.div_ceil(BLOCK) * BLOCK).sum::<u64>() + 2 * BLOCK
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

/// A write that ran out of space as the check's error; any other error as it is.
fn disk_full_or(error: TrainError, dir: &Path, needed: u64) -> TrainError {
    match &error {
        TrainError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
            TrainError::DiskFull {
                dir: dir.to_path_buf(),
                needed,
                free: fs4::available_space(dir).unwrap_or(0),
            }
        }
        _ => error,
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
            b"model",
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
    fn a_disk_filling_up_mid_write_leaves_the_previous_checkpoint_current_and_no_partial_one() {
        let dir = tempfile::tempdir().unwrap();
        let empty = BTreeMap::new();
        save(dir.path(), "step-1", &state(), &empty, &[], b"one").unwrap();
        let contents = Contents {
            state: &state(),
            optimizer: &empty,
            neighbours: &[],
            model_file: b"two",
        };
        // The model file goes in, then the disk is full.
        let failed = save_with(dir.path(), "step-2", contents, |path, bytes| {
            if path.ends_with(MODEL_FILE) {
                return write_file(path, bytes);
            }
            let source = std::io::ErrorKind::StorageFull.into();
            Err(TrainError::Io {
                path: path.to_path_buf(),
                source,
            })
        });
        let error = failed.expect_err("the write failed");
        assert!(matches!(error, TrainError::DiskFull { .. }), "{error}");
        assert_eq!(
            names(dir.path()),
            ["step-1"],
            "no partial checkpoint is left"
        );
        let current = latest(dir.path()).unwrap().unwrap();
        assert!(current.ends_with("step-1"));
        assert_eq!(
            fs::read(load(&current).unwrap().model_path).unwrap(),
            b"one"
        );
    }

    #[test]
    fn corrupt_state_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = BTreeMap::new();
        let path = save(dir.path(), "s", &state(), &empty, &[], b"m").unwrap();
        fs::write(path.join(STATE_FILE), b"{not json").unwrap();
        let err = load(&path).err().unwrap().to_string();
        assert!(err.contains("trainer.json"), "{err}");
    }

    fn save_at(dir: &Path, name: &str, step: u64) {
        let mut at = state();
        at.step = step;
        let empty = BTreeMap::new();
        save(dir, name, &at, &empty, &[], b"m").unwrap();
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
    fn a_checkpoint_larger_than_the_free_space_is_refused_naming_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let free = fs4::available_space(dir.path()).unwrap();
        let error = check_free_space(dir.path(), free + (1 << 40)).expect_err("refused");
        let text = error.to_string();
        assert!(
            text.contains(&dir.path().display().to_string()) && text.contains("bytes"),
            "{text}"
        );
        assert!(check_free_space(dir.path(), 1).is_ok());
    }

    #[test]
    fn the_space_asked_for_counts_whole_blocks_and_the_latest_pointer() {
        assert_eq!(
            disk_bytes([1, 4096, 4097].into_iter()),
            (1 + 1 + 2 + 2) * BLOCK
        );
        assert_eq!(disk_bytes(std::iter::empty()), 2 * BLOCK);
    }

    #[test]
    fn a_write_that_runs_out_of_space_reports_the_disk_full_error() {
        let dir = tempfile::tempdir().unwrap();
        let full = TrainError::Io {
            path: dir.path().join("x"),
            source: std::io::ErrorKind::StorageFull.into(),
        };
        let error = disk_full_or(full, dir.path(), 7);
        assert!(
            matches!(error, TrainError::DiskFull { needed: 7, .. }),
            "{error}"
        );
        let other = TrainError::Io {
            path: dir.path().join("x"),
            source: std::io::ErrorKind::PermissionDenied.into(),
        };
        let error = disk_full_or(other, dir.path(), 7);
        assert!(matches!(error, TrainError::Io { .. }), "{error}");
    }
}
