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
use crate::optim::AdamWSettings;
use crate::precision::Precision;

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
    /// Items per choice suite (seeded subsample); 0 = all.
    #[serde(default = "default_eval_items")]
    pub items: usize,
    /// Root of the real benchmark files (ARO, SugarCrepe, COCO, Flickr30k, ImageNet).
    pub data_root: Option<PathBuf>,
    /// Benchmark files by key, overriding the data root's default layout
    /// (`coco-test = "/data/coco/coco_karpathy_test.json"`; keys in docs/evaluation.md).
    #[serde(default)]
    pub paths: BTreeMap<String, PathBuf>,
    /// Zero-shot classification suites from image folders or lists, evaluated with `suites`.
    #[serde(default)]
    pub classification: Vec<ClassificationSpec>,
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
    500
}

fn default_eval_batch() -> usize {
    128
}

impl Default for EvalSection {
    fn default() -> Self {
        EvalSection {
            suites: Vec::new(),
            items: default_eval_items(),
            data_root: None,
            paths: BTreeMap::new(),
            classification: Vec::new(),
            every_epochs: one(),
            batch_size: default_eval_batch(),
            best_metric: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSection {
    /// Also checkpoint every this many steps inside an epoch (0 = only at epoch ends).
    #[serde(default)]
    pub every_steps: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// Write a training record to `metrics.jsonl` every this many steps.
    #[serde(default = "default_log_every")]
    pub every_steps: usize,
}

fn default_log_every() -> usize {
    10
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            every_steps: default_log_every(),
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

impl RunConfig {
    /// Read a run file and apply `key=value` overrides (dotted keys, TOML values).
    pub fn load(path: &Path, overrides: &[String]) -> Result<RunConfig, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrainError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path, overrides)
    }

    /// Parse a run file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path, overrides: &[String]) -> Result<RunConfig, TrainError> {
        let config_error = |message: String| TrainError::Config {
            path: origin.to_path_buf(),
            message,
        };
        let mut doc: toml::Table = toml::from_str(text).map_err(|e| config_error(e.to_string()))?;
        moved_keys(&doc).map_err(config_error)?;
        // Checked once as written, so that errors carry the file's own line numbers.
        let mut config: RunConfig =
            toml::from_str(text).map_err(|e| config_error(at_key_line(text, &e)))?;
        if !overrides.is_empty() {
            for item in overrides {
                apply_override(&mut doc, item).map_err(config_error)?;
            }
            moved_keys(&doc).map_err(|e| config_error(format!("after --set: {e}")))?;
            config = RunConfig::deserialize(toml::Value::Table(doc))
                .map_err(|e| config_error(format!("after --set: {e}")))?;
        }
        config.validate().map_err(config_error)?;
        Ok(config)
    }

    /// Checks that the types cannot express: values in range and the one key that needs
    /// another section (stored hard captions need a source that stores them).
    fn validate(&self) -> Result<(), String> {
        if self.model.preset.is_none() == self.model.checkpoint.is_none() {
            return Err("[model] needs exactly one of `preset` and `checkpoint`".into());
        }
        if self.optim.batch_size < 2 {
            return Err("optim.batch_size must be at least 2 for a contrastive loss".into());
        }
        if self.optim.accum_steps.get() > self.optim.batch_size {
            return Err(format!(
                "optim.accum_steps = {} is more micro-batches than optim.batch_size = {} has samples",
                self.optim.accum_steps, self.optim.batch_size
            ));
        }
        if self.optim.lr.is_nan() || self.optim.lr <= 0.0 {
            return Err("optim.lr must be positive".into());
        }
        let [lo, hi] = self.augment.scale;
        if !(0.0 < lo && lo <= hi && hi <= 1.0) {
            return Err(format!(
                "augment.scale = [{lo}, {hi}] must satisfy 0 < lo <= hi <= 1"
            ));
        }
        if matches!(self.negatives, NegativesSection::Table(_)) && !self.data.stores_negatives() {
            return Err(
                "negatives.source = \"table\" draws the hard captions stored in a training table: it needs data.source = \"table\" (or use source = \"rewrite\")".into(),
            );
        }
        if let NegativesSection::Rewrite(rewrite) = &self.negatives {
            if rewrite.draw == Draw::ByKind && rewrite.per_caption.get() > rewrite.kinds.len() {
                return Err(format!(
                    "negatives.per_caption = {} with draw = \"by-kind\" asks for more hard captions than the {} kinds give (one each)",
                    rewrite.per_caption,
                    rewrite.kinds.len()
                ));
            }
        }
        DataPaths::new(None, self.eval.paths.clone()).map_err(|e| format!("eval.paths: {e}"))?;
        Ok(())
    }
}

/// The error's text, pointing at the offending key's own line where toml points at its
/// section: serde reads a tagged section (`[data]`, `[negatives]`) whole before it knows the
/// variant, so toml can only report the section's header. The key (or quoted value) is the
/// first `name` in backticks of the message, looked up among the section's lines.
fn at_key_line(text: &str, error: &toml::de::Error) -> String {
    let located = || {
        let name = error.message().split('`').nth(1)?;
        let start = error.span()?.start;
        let first = text[..start].matches('\n').count();
        let lines: Vec<&str> = text.lines().collect();
        if !lines.get(first)?.trim_start().starts_with('[') {
            return None; // toml already points into the section
        }
        let section = lines[first + 1..]
            .iter()
            .take_while(|line| !line.trim_start().starts_with('['));
        let (offset, line) = section.enumerate().find(|(_, line)| {
            let line = line.trim_start();
            let key = line.split(['=', ' ']).next() == Some(name);
            key || line.contains(&format!("\"{name}\""))
        })?;
        let number = first + 2 + offset;
        let gutter = " ".repeat(number.to_string().len());
        Some(format!(
            "TOML parse error at line {number}\n{gutter} |\n{number} | {line}\n{gutter} |\n{}",
            error.message().trim_end()
        ))
    };
    located().unwrap_or_else(|| error.to_string())
}

/// Keys that earlier versions read and that now live elsewhere: an error that says where,
/// rather than "unknown field".
fn moved_keys(doc: &toml::Table) -> Result<(), String> {
    if doc.contains_key("hard_images") {
        return Err("[hard_images] is now part of [data]: write `hard_images = { partners = 3 }`, `\"twins\"` or `{ nearest = 3 }` under [data] for the synthetic world, `\"table\"` or `{ nearest = 3 }` for a table (docs/config.md)".into());
    }
    let data = doc.get("data").and_then(toml::Value::as_table);
    if data.is_some_and(|d| d.contains_key("workers")) {
        return Err(
            "data.workers is now loader.prefetch (batches built ahead; docs/config.md)".into(),
        );
    }
    Ok(())
}

/// Apply one `a.b.c=value` override; the value is TOML (`3`, `1e-5`, `"x"`, `[1, 2]`), and a
/// bare word that is not valid TOML is taken as a string.
fn apply_override(doc: &mut toml::Table, item: &str) -> Result<(), String> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| format!("--set {item:?}: expected key=value"))?;
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let (last, parents) = parts.split_last().expect("split yields one part at least");
    let mut table = doc;
    for part in parents {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| format!("--set {key}: `{part}` is not a table"))?;
    }
    table.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use negclip_data::training::{SyntheticHardImages, TableHardImages};

    const MINIMAL: &str = r#"
seed = 7
[model]
preset = "tiny"
[data]
source = "synthetic"
[optim]
lr = 1e-4
batch_size = 8
epochs = 1
"#;

    fn parse(text: &str, overrides: &[&str]) -> Result<RunConfig, String> {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        RunConfig::parse(text, Path::new("run.toml"), &overrides).map_err(|e| e.to_string())
    }

    fn synthetic(config: &RunConfig) -> &negclip_data::training::SyntheticConfig {
        match &config.data {
            SourceConfig::Synthetic(s) => s,
            SourceConfig::Table(_) => panic!("synthetic data expected"),
        }
    }

    #[test]
    fn best_metric_is_a_suite_or_a_suite_and_metric_split_at_the_colon() {
        let best = |value: &str| {
            let text = format!("{MINIMAL}[eval]\nbest_metric = \"{value}\"\n");
            parse(&text, &[]).map(|c| c.eval.best_metric.unwrap())
        };
        let relation = best("Synth-Relation").unwrap();
        assert_eq!(
            (relation.suite.as_str(), relation.metric),
            ("Synth-Relation", None)
        );
        let recall = best("coco-retrieval:image_to_text/1").unwrap();
        assert_eq!(recall.suite, "coco-retrieval");
        assert_eq!(recall.metric.as_deref(), Some("image_to_text/1"));
        let subset = best("sugarcrepe/add_att").unwrap();
        assert_eq!(
            (subset.suite.as_str(), subset.metric),
            ("sugarcrepe/add_att", None)
        );
        assert_eq!(recall.to_string(), "coco-retrieval:image_to_text/1");
        let error = best("Synth-Relation:").unwrap_err();
        assert!(error.contains("suite:metric"), "{error}");
    }

    #[test]
    fn minimal_file_gets_documented_defaults() {
        let config = parse(MINIMAL, &[]).unwrap();
        assert_eq!(config.seed, 7);
        assert_eq!(config.optim.betas, [0.9, 0.98]);
        assert_eq!(config.optim.weight_decay, 0.2);
        assert_eq!(config.augment.scale, [0.9, 1.0]);
        assert_eq!(config.loss.kind, LossKind::Negclip);
        assert_eq!(config.negatives, NegativesSection::default());
        assert_eq!(synthetic(&config).samples_per_epoch, 8192);
        assert_eq!(synthetic(&config).hard_images, SyntheticHardImages::None);
        assert_eq!(config.loader.prefetch.get(), 2);
        assert_eq!(config.loader.workers, 0);
    }

    #[test]
    fn loader_workers_are_checked_and_named() {
        let config = parse(MINIMAL, &["loader.workers=6"]).unwrap();
        assert_eq!(config.loader.workers, 6);
        for bad in ["-1", "1025"] {
            let err = parse(MINIMAL, &[&format!("loader.workers={bad}")]).unwrap_err();
            assert!(err.contains("loader.workers") && err.contains(bad), "{err}");
        }
        let err = parse(&format!("{MINIMAL}[loader]\nworkers = -2\n"), &[]).unwrap_err();
        assert!(err.contains("loader.workers = -2"), "{err}");
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = MINIMAL.replace("epochs = 1", "epochs = 1\nlearning_rate = 3");
        let err = parse(&text, &[]).unwrap_err();
        assert!(err.contains("learning_rate"), "{err}");
        assert!(err.contains("line 11"), "{err}");
        assert!(err.contains("run.toml"), "{err}");
    }

    #[test]
    fn wrong_type_is_named_with_its_line() {
        let text = MINIMAL.replace("batch_size = 8", "batch_size = \"eight\"");
        let err = parse(&text, &[]).unwrap_err();
        assert!(err.contains("batch_size"), "{err}");
        assert!(err.contains("line 9"), "{err}");
    }

    #[test]
    fn overrides_change_single_keys() {
        let config = parse(
            MINIMAL,
            &[
                "optim.lr=3e-5",
                "loss.kind=clip",
                "output_dir=runs/x",
                "data.hard_images.partners=3",
            ],
        )
        .unwrap();
        assert_eq!(config.optim.lr, 3e-5);
        assert_eq!(config.loss.kind, LossKind::Clip);
        assert_eq!(config.output_dir, PathBuf::from("runs/x"));
        let three = NonZeroUsize::new(3).unwrap();
        assert_eq!(
            synthetic(&config).hard_images,
            SyntheticHardImages::Partners(three)
        );
    }

    #[test]
    fn override_with_wrong_type_names_the_key() {
        let err = parse(MINIMAL, &["optim.epochs=many"]).unwrap_err();
        assert!(err.contains("epochs"), "{err}");
    }

    #[test]
    fn micro_batches_and_data_paths_are_checked() {
        let config = parse(MINIMAL, &["optim.accum_steps=2"]).unwrap();
        assert_eq!(config.optim.accum_steps.get(), 2);
        let err = parse(MINIMAL, &["optim.accum_steps=100000"]).unwrap_err();
        assert!(err.contains("accum_steps"), "{err}");
        let err = parse(MINIMAL, &["eval.paths.coco=\"x.json\""]).unwrap_err();
        assert!(
            err.contains("eval.paths") && err.contains("coco-test"),
            "{err}"
        );
    }

    #[test]
    fn precision_is_fp32_unless_asked() {
        assert_eq!(
            parse(MINIMAL, &[]).unwrap().optim.precision,
            Precision::Fp32
        );
        let config = parse(MINIMAL, &["optim.precision=\"bf16\""]).unwrap();
        assert_eq!(config.optim.precision, Precision::Bf16);
        let err = parse(MINIMAL, &["optim.precision=\"fp8\""]).unwrap_err();
        assert!(err.contains("precision") && err.contains("f16"), "{err}");
    }

    #[test]
    fn model_needs_one_preset_or_checkpoint() {
        let err = parse(&MINIMAL.replace("preset = \"tiny\"", ""), &[]).unwrap_err();
        assert!(err.contains("[model]"), "{err}");
        let err = parse(MINIMAL, &["model.checkpoint=m.safetensors"]).unwrap_err();
        assert!(err.contains("[model]"), "{err}");
    }

    /// `MINIMAL` training from a table instead of the synthetic world.
    fn table_run() -> String {
        MINIMAL.replace(
            "source = \"synthetic\"",
            "source = \"table\"\ntable = \"t.tsv\"",
        )
    }

    #[test]
    fn each_data_source_accepts_only_its_own_keys() {
        let err = parse(
            &table_run().replace("t.tsv\"", "t.tsv\"\nrelation_captions_only = true"),
            &[],
        )
        .unwrap_err();
        assert!(
            err.contains("relation_captions_only") && err.contains("line 8"),
            "{err}"
        );
        let err = parse(
            &MINIMAL.replace("synthetic\"", "synthetic\"\ntable = \"t.tsv\""),
            &[],
        )
        .unwrap_err();
        assert!(err.contains("`table`") && err.contains("line 7"), "{err}");
        let err = parse(&MINIMAL.replace("\"synthetic\"", "\"folder\""), &[]).unwrap_err();
        assert!(
            err.contains("folder") && err.contains("synthetic") && err.contains("table"),
            "{err}"
        );
        let err = parse(&table_run().replace("source = \"table\"\n", ""), &[]).unwrap_err();
        assert!(err.contains("source"), "{err}");
    }

    #[test]
    fn hard_images_are_options_of_the_source() {
        let twins = parse(MINIMAL, &["data.hard_images=twins"]).unwrap();
        assert_eq!(synthetic(&twins).hard_images, SyntheticHardImages::Twins);
        let stored = parse(&table_run(), &["data.hard_images=table"]).unwrap();
        let SourceConfig::Table(table) = &stored.data else {
            panic!()
        };
        assert_eq!(table.hard_images, TableHardImages::Table);
        for bad in ["data.hard_images=partner", "data.hard_images=table"] {
            let err = parse(MINIMAL, &[bad]).unwrap_err();
            assert!(
                err.contains("hard_images") || err.contains("variant"),
                "{err}"
            );
        }
        let err = parse(&table_run(), &["data.hard_images.partners=3"]).unwrap_err();
        assert!(err.contains("partners"), "{err}");
        let err = parse(MINIMAL, &["data.hard_images.nearest=0"]).unwrap_err();
        assert!(err.contains("nonzero"), "{err}");
    }

    #[test]
    fn negatives_are_tagged_and_their_kinds_parsed() {
        let text = format!("{MINIMAL}[negatives]\nsource = \"rewrite\"\nkinds = [\"swap-relation\", \"swap-colour\"]\n");
        let err = parse(&text, &[]).unwrap_err();
        assert!(
            err.contains("swap-colour") && err.contains("line 13"),
            "{err}"
        );
        let zero = ["negatives.source=rewrite", "negatives.per_caption=0"];
        let err = parse(MINIMAL, &zero).unwrap_err();
        assert!(
            err.contains("per_caption") || err.contains("nonzero"),
            "{err}"
        );
        let stored = ["negatives.source=table"];
        let config = parse(&table_run(), &stored).unwrap();
        assert!(matches!(config.negatives, NegativesSection::Table(_)));
        let err = parse(MINIMAL, &stored).unwrap_err();
        assert!(err.contains("data.source = \"table\""), "{err}");
        let err = parse(
            &table_run(),
            &["negatives.source=table", "negatives.kinds=[]"],
        )
        .unwrap_err();
        assert!(err.contains("kinds"), "{err}");
        let by_kind = ["negatives.source=rewrite", "negatives.draw=by-kind"];
        let config = parse(MINIMAL, &by_kind).unwrap();
        let NegativesSection::Rewrite(rewrite) = config.negatives else {
            panic!("rewrite negatives expected");
        };
        assert_eq!(rewrite.draw, Draw::ByKind);
        let too_many = [by_kind[0], by_kind[1], "negatives.per_caption=4"];
        let err = parse(MINIMAL, &too_many).unwrap_err();
        assert!(
            err.contains("per_caption = 4") && err.contains("3 kinds"),
            "{err}"
        );
    }

    #[test]
    fn moved_keys_say_where_they_went() {
        let err = parse(&format!("{MINIMAL}[hard_images]\nenabled = true\n"), &[]).unwrap_err();
        assert!(err.contains("[data]") && err.contains("partners"), "{err}");
        let err = parse(MINIMAL, &["data.workers=4"]).unwrap_err();
        assert!(err.contains("loader.prefetch"), "{err}");
    }

    #[test]
    fn shipped_configs_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        for entry in std::fs::read_dir(root).unwrap() {
            let path = entry.unwrap().path();
            RunConfig::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}
