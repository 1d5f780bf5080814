//! The run configuration: one TOML file per run, every key documented in `docs/config.md`.
//!
//! Unknown keys and wrong types are errors that name the key and the line. `--set key=value`
//! overrides are applied to the parsed document before it is checked, so a sweep can change
//! any key without copying the file.

use negclip_data::synth::WorldConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::error::TrainError;

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
    pub data: DataSection,
    #[serde(default)]
    pub loss: LossSection,
    #[serde(default)]
    pub negatives: NegativesSection,
    #[serde(default)]
    pub hard_images: HardImagesSection,
    #[serde(default)]
    pub augment: AugmentSection,
    pub optim: OptimSection,
    #[serde(default)]
    pub eval: EvalSection,
    #[serde(default)]
    pub checkpoint: CheckpointSection,
    #[serde(default)]
    pub log: LogSection,
}

fn default_output_dir() -> PathBuf {
    PathBuf::from("runs/default")
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

/// Where training samples come from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub enum DataSource {
    /// Scenes streamed from the synthetic world generator.
    Synthetic,
    /// A table written by `negclip negatives` (JSONL) or NegCLIP's TSV.
    Table,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    pub source: DataSource,
    /// The training table (for `source = "table"`).
    pub table: Option<PathBuf>,
    /// Folder the table's image paths are relative to.
    pub image_root: Option<PathBuf>,
    /// Synthetic samples per epoch.
    #[serde(default = "default_synthetic_samples")]
    pub samples_per_epoch: usize,
    /// Seed of the synthetic world (scenes are a pure function of it and the index).
    #[serde(default)]
    pub world_seed: u64,
    /// Stream only the scenes whose caption states a relation, skipping list captions
    /// ("a red circle and a blue square"), which are true of every layout.
    #[serde(default)]
    pub relation_captions_only: bool,
    /// The synthetic world's parameters (image size, noise, held-out pairs, …).
    #[serde(default)]
    pub world: WorldConfig,
    /// Background threads that load images and build batches.
    #[serde(default = "default_workers")]
    pub workers: usize,
}

fn default_synthetic_samples() -> usize {
    8192
}

fn default_workers() -> usize {
    2
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

/// Where hard-negative captions come from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NegativeSource {
    /// Rewrite each caption with the data crate's rewriters (fresh every epoch if asked).
    #[default]
    Rewrite,
    /// Use the negatives stored in the training table.
    Table,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NegativesSection {
    #[serde(default)]
    pub source: NegativeSource,
    /// Rewriter kinds (`swap-attribute`, `swap-relation`, `shuffle-order`, …).
    #[serde(default = "default_kinds")]
    pub kinds: Vec<String>,
    /// Draw new negatives every epoch (with `source = "rewrite"`).
    #[serde(default = "yes")]
    pub regenerate_each_epoch: bool,
    /// Hard captions per caption, one of each kind before a second of any (NegCLIP: 1).
    #[serde(default = "one")]
    pub per_caption: usize,
}

fn default_kinds() -> Vec<String> {
    ["swap-attribute", "swap-relation", "shuffle-order"]
        .map(String::from)
        .to_vec()
}

fn yes() -> bool {
    true
}

impl Default for NegativesSection {
    fn default() -> Self {
        NegativesSection {
            source: NegativeSource::default(),
            kinds: default_kinds(),
            regenerate_each_epoch: true,
            per_caption: one(),
        }
    }
}

/// Where hard-negative images come from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HardImageSource {
    /// Nearest neighbours by image embedding (NegCLIP's choice), mined or from the table.
    #[default]
    Nearest,
    /// The synthetic world's twin of each scene, with the related objects exchanged.
    Counterfactual,
    /// The first `k` training scenes showing the caption's relation with the arguments
    /// exchanged (synthetic world); the twin where there is none.
    Partner,
}

/// Hard-negative images (the second half of NegCLIP's image batch).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HardImagesSection {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub source: HardImageSource,
    /// Neighbours kept per image; one is drawn at random per step.
    #[serde(default = "default_k")]
    pub k: usize,
    /// Re-mine neighbours by image embedding before each epoch (else: from the table).
    #[serde(default = "yes")]
    pub remine_each_epoch: bool,
}

fn default_k() -> usize {
    3
}

impl Default for HardImagesSection {
    fn default() -> Self {
        HardImagesSection {
            enabled: false,
            source: HardImageSource::default(),
            k: default_k(),
            remine_each_epoch: true,
        }
    }
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
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.98]
}

fn default_eps() -> f64 {
    1e-6
}

fn default_weight_decay() -> f64 {
    0.2
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
    /// Root of the real benchmark files (ARO, SugarCrepe, COCO, Flickr30k).
    pub data_root: Option<PathBuf>,
    /// Evaluate every this many epochs (and always before the first step and at the end).
    #[serde(default = "one")]
    pub every_epochs: usize,
    #[serde(default = "default_eval_batch")]
    pub batch_size: usize,
    /// The metric (`suite` or `suite/metric`) that picks the best checkpoint.
    pub best_metric: Option<String>,
}

fn default_eval_items() -> usize {
    500
}

fn default_eval_batch() -> usize {
    128
}

fn one() -> usize {
    1
}

impl Default for EvalSection {
    fn default() -> Self {
        EvalSection {
            suites: Vec::new(),
            items: default_eval_items(),
            data_root: None,
            every_epochs: 1,
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
        // Checked once as written, so that errors carry the file's own line numbers.
        let config: RunConfig = toml::from_str(text).map_err(|e| config_error(e.to_string()))?;
        if overrides.is_empty() {
            config.validate().map_err(config_error)?;
            return Ok(config);
        }
        let mut doc: toml::Table = toml::from_str(text).map_err(|e| config_error(e.to_string()))?;
        for item in overrides {
            apply_override(&mut doc, item).map_err(config_error)?;
        }
        let config = RunConfig::deserialize(toml::Value::Table(doc))
            .map_err(|e| config_error(format!("after --set: {e}")))?;
        config.validate().map_err(config_error)?;
        Ok(config)
    }

    /// Checks that serde cannot express: values in range and keys that need each other.
    fn validate(&self) -> Result<(), String> {
        if self.model.preset.is_none() && self.model.checkpoint.is_none() {
            return Err("[model] needs `preset` or `checkpoint`".into());
        }
        if self.data.source == DataSource::Table && self.data.table.is_none() {
            return Err("[data] source = \"table\" needs `table`".into());
        }
        if self.data.relation_captions_only && self.data.source != DataSource::Synthetic {
            return Err("data.relation_captions_only needs data.source = \"synthetic\"".into());
        }
        if self.optim.batch_size < 2 {
            return Err("optim.batch_size must be at least 2 for a contrastive loss".into());
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
        let from_world = match self.hard_images.source {
            HardImageSource::Counterfactual => Some("counterfactual"),
            HardImageSource::Partner => Some("partner"),
            HardImageSource::Nearest => None,
        };
        if let (true, Some(name), DataSource::Table) =
            (self.hard_images.enabled, from_world, &self.data.source)
        {
            return Err(format!(
                "hard_images.source = \"{name}\" needs data.source = \"synthetic\""
            ));
        }
        if self.hard_images.enabled
            && self.hard_images.source == HardImageSource::Nearest
            && !self.hard_images.remine_each_epoch
            && self.data.source == DataSource::Synthetic
        {
            return Err(
                "hard_images.remine_each_epoch = false reads the table's neighbour lists; the synthetic world has none (mine them, or use source = \"partner\")".into(),
            );
        }
        if self.negatives.per_caption == 0 {
            return Err(
                "negatives.per_caption must be at least 1 (plain CLIP: loss.kind = \"clip\")"
                    .into(),
            );
        }
        if self.hard_images.enabled && self.hard_images.k == 0 {
            return Err("hard_images.k must be at least 1".into());
        }
        if self.eval.every_epochs == 0 {
            return Err("eval.every_epochs must be at least 1".into());
        }
        Ok(())
    }
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

    #[test]
    fn minimal_file_gets_documented_defaults() {
        let config = parse(MINIMAL, &[]).unwrap();
        assert_eq!(config.seed, 7);
        assert_eq!(config.optim.betas, [0.9, 0.98]);
        assert_eq!(config.optim.weight_decay, 0.2);
        assert_eq!(config.augment.scale, [0.9, 1.0]);
        assert_eq!(config.loss.kind, LossKind::Negclip);
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
            &["optim.lr=3e-5", "loss.kind=clip", "output_dir=runs/x"],
        )
        .unwrap();
        assert_eq!(config.optim.lr, 3e-5);
        assert_eq!(config.loss.kind, LossKind::Clip);
        assert_eq!(config.output_dir, PathBuf::from("runs/x"));
    }

    #[test]
    fn override_with_wrong_type_names_the_key() {
        let err = parse(MINIMAL, &["optim.epochs=many"]).unwrap_err();
        assert!(err.contains("epochs"), "{err}");
    }

    #[test]
    fn missing_model_is_an_error() {
        let err = parse(&MINIMAL.replace("preset = \"tiny\"", ""), &[]).unwrap_err();
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
    fn synthetic_only_keys_and_zero_negatives_are_errors() {
        let table = table_run();
        let only = ["data.relation_captions_only=true"];
        assert!(parse(MINIMAL, &only).unwrap().data.relation_captions_only);
        let err = parse(&table, &only).unwrap_err();
        assert!(err.contains("relation_captions_only"), "{err}");
        assert_eq!(parse(MINIMAL, &[]).unwrap().negatives.per_caption, 1);
        let err = parse(MINIMAL, &["negatives.per_caption=0"]).unwrap_err();
        assert!(err.contains("per_caption"), "{err}");
    }

    #[test]
    fn hard_images_from_the_world_need_the_synthetic_world() {
        let table = table_run();
        for (name, source) in [
            ("counterfactual", HardImageSource::Counterfactual),
            ("partner", HardImageSource::Partner),
        ] {
            let on = [
                "hard_images.enabled=true".to_string(),
                format!("hard_images.source={name}"),
            ];
            let on: Vec<&str> = on.iter().map(String::as_str).collect();
            assert_eq!(parse(MINIMAL, &on).unwrap().hard_images.source, source);
            let err = parse(&table, &on).unwrap_err();
            assert!(err.contains(name) && err.contains("synthetic"), "{err}");
        }
        let once = [
            "hard_images.enabled=true",
            "hard_images.remine_each_epoch=false",
        ];
        let err = parse(MINIMAL, &once).unwrap_err();
        assert!(err.contains("remine_each_epoch"), "{err}");
        let err = parse(MINIMAL, &["hard_images.source=twin"]).unwrap_err();
        assert!(err.contains("twin") && err.contains("source"), "{err}");
    }
}
