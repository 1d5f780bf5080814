//! The run configuration: one TOML file per run, every key documented in `docs/config.md`.
//!
//! Unknown keys and wrong types are errors that name the key and the line. `--set key=value`
//! overrides are applied to the parsed document before it is checked, so a sweep can change
//! any key without copying the file.

use std::collections::BTreeMap;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};

use negclip_data::benchmarks::classification::ClassificationSpec;
use negclip_data::benchmarks::DataPaths;
use negclip_data::negatives::{Draw, NegativeKind};
use negclip_data::training::SourceConfig;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::freeze::FreezePattern;
use crate::optim::AdamWSettings;
use crate::precision::Precision;

mod load;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Seed of every random choice in the run (data order, negatives, augmentation, init).
    #[serde(default)]
    pub seed: u64,
    /// Where checkpoints, `metrics.jsonl`, the plot and the summary go.
    #[serde(default = "default_output_dir")]
    pub output_dir: PathBuf,
    pub model: ModelSection,
    /// The training source and its own options (defined in `negclip_data::training`).
    pub data: SourceConfig,
    #[serde(default)]
    pub loader: LoaderSection,
    #[serde(default)]
    pub loss: LossSection,
    #[serde(default)]
    pub negatives: NegativesSection,
    #[serde(default)]
    pub augment: AugmentSection,
    pub optim: OptimSection,
    #[serde(default)]
    pub eval: EvalSection,
    #[serde(default)]
    pub checkpoint: CheckpointSection,
    #[serde(default)]
    pub log: LogSection,
    /// Multi-rank runs under MPI (docs/distributed.md); ignored by one process.
    #[serde(default)]
    pub distributed: DistributedSection,
}

fn default_output_dir() -> PathBuf {
    PathBuf::from("runs/default")
}

/// How batches are prepared.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoaderSection {
    /// Batches built ahead of the training step on the background thread (each batch's
    /// members are prepared in parallel).
    #[serde(default = "default_prefetch")]
    pub prefetch: NonZeroUsize,
    /// Threads that prepare a batch's members (decode, crop, resize, normalise, captions):
    /// 0 = rayon's global pool (one thread per core, shared with the CPU device's compute),
    /// N = a pool of N threads of the loader's own. Batches are the same either way.
    #[serde(default, deserialize_with = "worker_threads")]
    pub workers: usize,
}

fn default_prefetch() -> NonZeroUsize {
    NonZeroUsize::new(2).expect("2 is not zero")
}

/// More loader threads than any machine has cores only adds switching between them; a
/// larger number is a slip of the keyboard, refused before a thousand threads are spawned.
const MAX_WORKERS: usize = 1024;

/// `loader.workers`, read as any integer so that a negative or huge one gets an error that
/// names the key and the range.
fn worker_threads<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let value = i64::deserialize(deserializer)?;
    usize::try_from(value)
        .ok()
        .filter(|&n| n <= MAX_WORKERS)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "loader.workers = {value}: expected 0 (rayon's global pool) or 1..={MAX_WORKERS} loader threads"
            ))
        })
}

impl Default for LoaderSection {
    fn default() -> Self {
        LoaderSection {
            prefetch: default_prefetch(),
            workers: 0,
        }
    }
}

/// The model to train: a preset initialised from the seed, or a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// A preset name (`tiny`, `small`, `vit-b-32`, …), used when no checkpoint is given.
    pub preset: Option<String>,
    /// A checkpoint in any format the model crate reads (HF, open_clip, PyTorch, negclip).
    pub checkpoint: Option<PathBuf>,
}

/// Which contrastive loss.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Hard-negative captions (and images) in the contrastive loss.
    #[default]
    Negclip,
    /// Plain CLIP loss: the baseline, no hard negatives.
    Clip,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct LossSection {
    #[serde(default)]
    pub kind: LossKind,
}

/// Where hard-negative captions come from (`[negatives]`, tagged by `source`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum NegativesSection {
    /// Rewrite each caption with the data crate's rewriters.
    Rewrite(RewriteNegatives),
    /// Draw from the negatives stored with each example (a training table).
    Table(StoredNegatives),
}

impl Default for NegativesSection {
    fn default() -> Self {
        NegativesSection::Rewrite(RewriteNegatives {
            kinds: default_kinds(),
            regenerate_each_epoch: true,
            per_caption: one(),
            draw: Draw::default(),
        })
    }
}

/// `[negatives]` with `source = "rewrite"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RewriteNegatives {
    /// Rewriter kinds (`swap-attribute`, `swap-relation`, `shuffle-order`, …).
    #[serde(default = "default_kinds")]
    pub kinds: Vec<NegativeKind>,
    /// Draw new negatives every epoch (else the same ones every epoch).
    #[serde(default = "yes")]
    pub regenerate_each_epoch: bool,
    /// Hard captions per caption, one of each kind before a second of any (NegCLIP: 1).
    #[serde(default = "one")]
    pub per_caption: NonZeroUsize,
    /// How the kept hard captions are drawn from a caption's rewrites.
    #[serde(default)]
    pub draw: Draw,
}

/// `[negatives]` with `source = "table"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoredNegatives {
    /// Hard captions per caption, drawn from the stored ones (NegCLIP: 1).
    #[serde(default = "one")]
    pub per_caption: NonZeroUsize,
}

fn default_kinds() -> Vec<NegativeKind> {
    vec![
        NegativeKind::SwapAttribute,
        NegativeKind::SwapRelation,
        NegativeKind::ShuffleOrder,
    ]
}

fn yes() -> bool {
    true
}

fn one() -> NonZeroUsize {
    NonZeroUsize::MIN
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AugmentSection {
    /// Random resized crop with this scale range (NegCLIP: 0.9–1.0); `false` = eval crop.
    #[serde(default = "yes")]
    pub random_resized_crop: bool,
    #[serde(default = "default_scale")]
    pub scale: [f32; 2],
}

fn default_scale() -> [f32; 2] {
    [0.9, 1.0]
}

impl Default for AugmentSection {
    fn default() -> Self {
        AugmentSection {
            random_resized_crop: true,
            scale: default_scale(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OptimSection {
    pub lr: f64,
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Decoupled weight decay on matrices; gains, biases and the logit scale get none.
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    #[serde(default)]
    pub warmup_steps: usize,
    pub batch_size: usize,
    pub epochs: usize,
    /// Clip the global gradient norm to this value (none when absent).
    pub grad_clip_norm: Option<f64>,
    /// Run the towers on the batch as this many micro-batches, keeping the whole batch's
    /// loss (less memory, a second forward pass; `step.rs`).
    #[serde(default = "one")]
    pub accum_steps: NonZeroUsize,
    /// What the towers compute in: fp32, or bf16 / f16 with fp32 master weights, AdamW state
    /// and loss (`precision.rs`).
    #[serde(default)]
    pub precision: Precision,
    /// Recompute each transformer block in the backward pass instead of keeping its
    /// activations from the forward pass (less memory, a second forward pass; `recompute.rs`).
    #[serde(default)]
    pub activation_checkpointing: bool,
    /// Parameters kept fixed, by open_clip name pattern (`crate::freeze`).
    #[serde(default)]
    pub freeze: Vec<FreezePattern>,
    /// open_clip's `--lock-image`: fix the image tower but its last `lock_image_unlocked_groups`
    /// layer groups.
    #[serde(default)]
    pub lock_image: bool,
    #[serde(default)]
    pub lock_image_unlocked_groups: usize,
    /// open_clip's `--lock-text`: fix the text tower but its last `lock_text_unlocked_layers`
    /// layer groups; `lock_text_freeze_layer_norm = false` leaves their layer norms training.
    #[serde(default)]
    pub lock_text: bool,
    #[serde(default)]
    pub lock_text_unlocked_layers: usize,
    #[serde(default = "yes")]
    pub lock_text_freeze_layer_norm: bool,
}

fn default_betas() -> [f64; 2] {
    AdamWSettings::default().betas
}

fn default_eps() -> f64 {
    AdamWSettings::default().eps
}

fn default_weight_decay() -> f64 {
    AdamWSettings::default().weight_decay
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Suite names (`synth-relation`, `synth-order-heldout`, `vg-relation`, `aro`, …).
    #[serde(default)]
    pub suites: Vec<String>,
    /// Items per suite (seeded subsample); 0 = all. The same default as `negclip eval`
    /// ([`crate::sampling`]).
    #[serde(default = "default_eval_items")]
    pub items: usize,
    /// Seed of the subsample and of the calibration split; not the run's `seed`, so that
    /// `negclip eval` scores a checkpoint on the same items by default.
    #[serde(default = "default_eval_seed")]
    pub seed: u64,
    /// Root of the real benchmark files (ARO, SugarCrepe, COCO, Flickr30k, ImageNet).
    pub data_root: Option<PathBuf>,
    /// Benchmark files by key, overriding the data root's default layout
    /// (`coco-test = "/data/coco/coco_karpathy_test.json"`; keys in docs/evaluation.md).
    #[serde(default)]
    pub paths: BTreeMap<String, PathBuf>,
    /// Zero-shot classification suites from image folders or lists, evaluated with `suites`.
    #[serde(default)]
    pub classification: Vec<ClassificationSpec>,
    /// Linear probes (`[[eval.linear_probe]]`: `name`, `train`, `test`), run at the evaluation
    /// before the first step and at the one after the last epoch only: each is ~20 fits.
    #[serde(default)]
    pub linear_probe: Vec<crate::linear_probe::LinearProbeSpec>,
    /// Evaluate every this many epochs (and always before the first step and at the end).
    #[serde(default = "one")]
    pub every_epochs: NonZeroUsize,
    #[serde(default = "default_eval_batch")]
    pub batch_size: usize,
    /// The number that picks the best checkpoint: `"suite"` or `"suite:metric"`.
    pub best_metric: Option<BestMetric>,
}

/// `eval.best_metric`: the evaluated number that picks the best checkpoint, written `"suite"`
/// (its headline number) or `"suite:metric"`. The separator is `:` because suite and metric
/// names contain `/` (`sugarcrepe/add_att`, `image_to_text/1`). The suite is checked against
/// the configured suites when the run starts, the metric at the evaluation before the first
/// step; either error lists the valid names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BestMetric {
    pub suite: String,
    /// `None`: the suite's headline number.
    pub metric: Option<String>,
}

impl TryFrom<String> for BestMetric {
    type Error = String;

    fn try_from(text: String) -> Result<BestMetric, String> {
        let (suite, metric) = match text.split_once(':') {
            Some((suite, metric)) => (suite.trim(), Some(metric.trim())),
            None => (text.trim(), None),
        };
        if suite.is_empty() || metric.is_some_and(str::is_empty) {
            return Err(format!(
                "eval.best_metric = {text:?}: expected \"suite\" or \"suite:metric\""
            ));
        }
        Ok(BestMetric {
            suite: suite.to_string(),
            metric: metric.map(str::to_string),
        })
    }
}

impl From<BestMetric> for String {
    fn from(best: BestMetric) -> String {
        best.to_string()
    }
}

impl std::fmt::Display for BestMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.metric {
            Some(metric) => write!(f, "{}:{metric}", self.suite),
            None => f.write_str(&self.suite),
        }
    }
}

fn default_eval_items() -> usize {
    crate::sampling::DEFAULT_EVAL_ITEMS
}

fn default_eval_seed() -> u64 {
    crate::sampling::DEFAULT_EVAL_SEED
}

fn default_eval_batch() -> usize {
    128
}

impl Default for EvalSection {
    fn default() -> Self {
        EvalSection {
            suites: Vec::new(),
            items: default_eval_items(),
            seed: default_eval_seed(),
            data_root: None,
            paths: BTreeMap::new(),
            classification: Vec::new(),
            linear_probe: Vec::new(),
            every_epochs: one(),
            batch_size: default_eval_batch(),
            best_metric: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSection {
    /// Also checkpoint every this many steps inside an epoch (0 = only at epoch ends).
    #[serde(default)]
    pub every_steps: usize,
    /// Keep only the newest this many step checkpoints (`step-*`): older ones are deleted
    /// once a newer checkpoint is complete. Unset: keep every checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<NonZeroUsize>,
    /// With `keep_last`, keep every epoch-end checkpoint (`epoch-*`) too; `false` counts them
    /// with the step checkpoints.
    #[serde(default = "yes")]
    pub keep_epoch_ends: bool,
}

impl Default for CheckpointSection {
    fn default() -> Self {
        CheckpointSection {
            every_steps: 0,
            keep_last: None,
            keep_epoch_ends: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// Write a training record to `metrics.jsonl` every this many steps.
    #[serde(default = "default_log_every")]
    pub every_steps: usize,
    /// Also write each record as TensorBoard events (`events.out.tfevents.*` in the run
    /// folder, `crate::tensorboard`).
    #[serde(default = "yes")]
    pub tensorboard: bool,
}

fn default_log_every() -> usize {
    10
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            every_steps: default_log_every(),
            tensorboard: true,
        }
    }
}

/// How the ranks of an MPI run work together.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DistributedSection {
    /// A rank that waits this long for another at a collective names it and stops the run.
    /// Long enough for the slowest legitimate wait: GPU kernels compiling at the first step,
    /// rank 0 writing a checkpoint.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: NonZeroU64,
    /// Compare the ranks' weights (a checksum) every this many steps.
    #[serde(default = "default_check_every")]
    pub check_every_steps: NonZeroUsize,
    /// Size of one gradient all-reduce message in MiB (PyTorch DDP's bucket is 25).
    #[serde(default = "default_bucket_mb")]
    pub bucket_mb: NonZeroUsize,
}

fn default_timeout_s() -> NonZeroU64 {
    NonZeroU64::new(600).expect("not zero")
}

fn default_check_every() -> NonZeroUsize {
    NonZeroUsize::new(100).expect("not zero")
}

fn default_bucket_mb() -> NonZeroUsize {
    NonZeroUsize::new(25).expect("not zero")
}

impl Default for DistributedSection {
    fn default() -> Self {
        DistributedSection {
            timeout_s: default_timeout_s(),
            check_every_steps: default_check_every(),
            bucket_mb: default_bucket_mb(),
        }
    }
}
