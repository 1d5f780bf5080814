//! The state of one run on disk and in memory: trainer state, optimiser, mined hard-image
//! lists and the metrics log; opening a fresh run or resuming the newest checkpoint; saving
//! checkpoints and keeping the best model.

use std::fs;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use negclip_model::weights::{self, Naming};
use negclip_model::{Clip, ClipConfig};

use crate::checkpoint::{self, Saved, TrainerState, MODEL_FILE};
use crate::config::RunConfig;
use crate::error::TrainError;
use crate::evaluate::SuiteResult;
use crate::freeze::FrozenSet;
use crate::io::write_file;
use crate::log::MetricsLog;
use crate::optim::{AdamW, AdamWSettings};
use crate::suites::headline;
use crate::tensorboard::EventLog;

/// The mutable state of a run.
pub struct Run {
    pub state: TrainerState,
    pub optimizer: AdamW,
    /// Hard-image lists mined for the epoch in progress (sample indices; empty unless the
    /// source mines). Saved with every checkpoint so a resumed epoch draws the same images.
    pub mined: Vec<Vec<usize>>,
    pub clip_config: ClipConfig,
    /// The metrics log, kept by the process that writes the run's files; `None` on the other
    /// ranks of a multi-rank run, which write nothing.
    pub log: Option<MetricsLog>,
    pub output: PathBuf,
    /// The parameters the run keeps fixed (`[optim] freeze` and the locks), derived from the
    /// run's own config, the one stored in its checkpoints when it resumes.
    pub frozen: FrozenSet,
}

impl Run {
    /// Start a fresh run in `config.output_dir`, which must hold none; `writer`: this
    /// process writes the run's files (rank 0).
    pub fn start(
        config: RunConfig,
        writer: bool,
        device: &Device,
    ) -> Result<(Run, Clip), TrainError> {
        if let Some(dir) = checkpoint::latest(&config.output_dir)? {
            return Err(TrainError::Checkpoint {
                path: dir,
                message: "this output folder already holds a run: continue it with --resume, or choose another --output".into(),
            });
        }
        Run::fresh(config, writer, device)
    }

    fn fresh(config: RunConfig, writer: bool, device: &Device) -> Result<(Run, Clip), TrainError> {
        let output = config.output_dir.clone();
        // The model first: the freeze is checked against it before the output folder exists.
        device.seed(config.seed);
        let (model, clip_config) = initial_model(&config, device)?;
        let frozen = FrozenSet::of_run(&config.optim, &model)?;
        let log = if writer {
            fs::create_dir_all(&output).map_err(|source| TrainError::Io {
                path: output.clone(),
                source,
            })?;
            let text = toml::to_string_pretty(&config).expect("config serialises");
            write_file(&output.join("config.toml"), text.as_bytes())?;
            let events = EventLog::open(&output, config.log.tensorboard, None)?;
            Some(MetricsLog::create(&output)?.with_events(events))
        } else {
            None
        };
        let run = Run {
            optimizer: AdamW::new(adamw_settings(&config)),
            state: TrainerState {
                epoch: 0,
                batch: 0,
                step: 0,
                evaluated_start: false,
                best: None,
                loss_scaler: config.optim.precision.scaler(),
                config,
            },
            mined: Vec::new(),
            clip_config,
            log,
            output,
            frozen,
        };
        Ok((run, model))
    }

    /// Continue the run in `output` from its newest checkpoint, `saved` (read once, by
    /// [`checkpoint::load_latest`]).
    pub fn resume(
        saved: Saved,
        output: PathBuf,
        writer: bool,
        device: &Device,
    ) -> Result<(Run, Clip), TrainError> {
        let dir = saved.dir.clone();
        let loaded = load_model(&saved.model_path, device)?;
        let mut state = saved.state;
        // The output folder may have moved; everything else comes from the checkpoint.
        state.config.output_dir = output.clone();
        let frozen = FrozenSet::of_run(&state.config.optim, &loaded.model)?;
        let settings = adamw_settings(&state.config);
        let optimizer = AdamW::restore(settings, state.optimizer_steps(), &saved.optimizer, device)
            .map_err(|message| TrainError::Checkpoint {
                path: dir.clone(),
                message,
            })?;
        tracing::info!(checkpoint = %dir.display(), step = state.step, "resuming");
        let run = Run {
            log: match writer {
                true => {
                    let events =
                        EventLog::open(&output, state.config.log.tensorboard, Some(state.step))?;
                    Some(MetricsLog::resume(&output, state.step)?.with_events(events))
                }
                false => None,
            },
            state,
            optimizer,
            mined: saved.neighbours,
            clip_config: loaded.config,
            output,
            frozen,
        };
        Ok((run, loaded.model))
    }

    /// Write checkpoint `name` (model, optimiser, mined lists, state) and return its folder;
    /// `None` on a rank that does not write.
    pub fn save(&self, model: &Clip, name: &str) -> Result<Option<PathBuf>, TrainError> {
        let Some(log) = &self.log else {
            return Ok(None);
        };
        log.sync()?; // the TensorBoard events up to the checkpoint's step
        let model_path = checkpoint::checkpoints_dir(&self.output)
            .join(name)
            .join(MODEL_FILE);
        let model_file =
            weights::encode(model, &self.clip_config, Naming::HuggingFace, &model_path)?;
        let dir = checkpoint::save(
            &self.output,
            name,
            &self.state,
            &self.optimizer.state(),
            &self.mined,
            &model_file,
        )?;
        let retention = &self.state.config.checkpoint;
        if let Some(keep_last) = retention.keep_last {
            let best = self.state.best.as_ref().map(|(_, name)| name.as_str());
            checkpoint::prune(&self.output, keep_last, retention.keep_epoch_ends, best)?;
        }
        Ok(Some(dir))
    }

    /// The value of the configured best metric among `results` (`None` without one); an
    /// error when it names no suite or metric there.
    pub fn best_metric_value(&self, results: &[SuiteResult]) -> Result<Option<f64>, TrainError> {
        let Some(best) = &self.state.config.eval.best_metric else {
            return Ok(None);
        };
        headline(results, best)
            .map(Some)
            .map_err(|message| TrainError::Config {
                path: "eval.best_metric".into(),
                message,
            })
    }

    /// Remember checkpoint `name` as best if the configured metric improved.
    pub fn note_best(&mut self, results: &[SuiteResult], name: &str) -> Result<(), TrainError> {
        let Some(value) = self.best_metric_value(results)? else {
            return Ok(());
        };
        if self
            .state
            .best
            .as_ref()
            .is_none_or(|(best, _)| value > *best)
        {
            self.state.best = Some((value, name.to_string()));
        }
        Ok(())
    }

    /// Copy checkpoint `dir`'s model to `OUTPUT/best.safetensors` if it is the best so far.
    pub fn keep_if_best(&self, dir: &Path, name: &str) -> Result<(), TrainError> {
        if self
            .state
            .best
            .as_ref()
            .is_none_or(|(_, best)| best != name)
        {
            return Ok(());
        }
        let model = dir.join(MODEL_FILE);
        let bytes = fs::read(&model).map_err(|source| TrainError::Io {
            path: model,
            source,
        })?;
        write_file(&self.output.join("best.safetensors"), &bytes)
    }
}

fn adamw_settings(config: &RunConfig) -> AdamWSettings {
    AdamWSettings {
        betas: config.optim.betas,
        eps: config.optim.eps,
        weight_decay: config.optim.weight_decay,
    }
}

/// Save `model` as HuggingFace-named safetensors (what every `negclip` command reads).
pub fn save_model(model: &Clip, config: &ClipConfig, path: &Path) -> Result<(), TrainError> {
    Ok(weights::save(model, config, Naming::HuggingFace, path)?)
}

/// The model a fresh run starts from: a checkpoint, or a preset initialised from the seed.
fn initial_model(config: &RunConfig, device: &Device) -> Result<(Clip, ClipConfig), TrainError> {
    if let Some(path) = &config.model.checkpoint {
        let loaded = load_model(path, device)?;
        return Ok((loaded.model, loaded.config));
    }
    let name = config
        .model
        .preset
        .as_deref()
        .expect("validated: preset or checkpoint");
    let clip_config = ClipConfig::preset(name)?;
    Ok((clip_config.init(device), clip_config))
}

fn load_model(path: &Path, device: &Device) -> Result<weights::LoadedClip, TrainError> {
    weights::load(path, device).map_err(|source| TrainError::LoadModel {
        path: path.to_path_buf(),
        source,
    })
}
