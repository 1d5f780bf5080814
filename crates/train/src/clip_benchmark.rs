//! Results in CLIP_benchmark's shape, so that negclip's numbers sit beside the community's:
//! one JSON file per (suite, checkpoint), as `clip_benchmark eval` dumps it at the end of
//! `run` in `clip_benchmark/cli.py` (LAION-AI/CLIP_benchmark): the keys `dataset`, `model`,
//! `pretrained`, `task`, `metrics`, `language`, the task names of its `--task` and the metric
//! names its `metrics/*.py` return. `tests/fixtures/clip_benchmark/` holds files written by
//! CLIP_benchmark's own `run` (scripts/clip_benchmark_dump.py) to check the shape against.

use std::collections::BTreeMap;
use std::path::Path;

use negclip_model::ClipConfig;
use serde::{Deserialize, Serialize};

use crate::evaluate::{Report, SuiteResult};
use crate::sampling::Sampling;

/// CLIP_benchmark's `--task` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    ZeroshotClassification,
    ZeroshotRetrieval,
    LinearProbe,
    /// Its task for SugarCrepe and Winoground: each item's images and captions matched.
    ImageCaptionSelection,
}

impl Task {
    fn name(self) -> &'static str {
        match self {
            Task::ZeroshotClassification => "zeroshot_classification",
            Task::ZeroshotRetrieval => "zeroshot_retrieval",
            Task::LinearProbe => "linear_probe",
            Task::ImageCaptionSelection => "image_caption_selection",
        }
    }
}

/// One file of results, as `clip_benchmark eval` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipBenchmarkResult {
    /// CLIP_benchmark's name of the dataset (`sugar_crepe/add_att`, `mscoco_captions`,
    /// `imagenet1k`, …), negclip's suite name where it has none (`vg-relation`).
    pub dataset: String,
    /// The architecture, in open_clip's spelling (`ViT-B-32`), or `custom`.
    pub model: String,
    /// The checkpoint, as given.
    pub pretrained: String,
    pub task: Task,
    /// CLIP_benchmark's metric names first (`acc1`, `image_retrieval_recall@1`, `acc`, …),
    /// then negclip's own numbers of the suite under their negclip names, and the `seed` and
    /// `items` of the evaluation (CLIP_benchmark's linear probe also records its `seed`).
    pub metrics: BTreeMap<String, f64>,
    pub language: String,
}

impl ClipBenchmarkResult {
    /// The file of `result`, a suite scored by `checkpoint` of architecture `model`
    /// ([`model_name`]).
    pub fn new(
        result: &SuiteResult,
        checkpoint: &str,
        model: &str,
        sampling: Sampling,
    ) -> ClipBenchmarkResult {
        let task = task_of(result);
        let mut metrics = result.metrics.clone();
        metrics.extend(benchmark_metrics(task, &result.metrics));
        metrics.insert("seed".into(), sampling.seed as f64);
        metrics.insert("items".into(), sampling.items as f64);
        ClipBenchmarkResult {
            dataset: dataset_name(&result.suite),
            model: model.to_string(),
            pretrained: checkpoint.to_string(),
            task,
            metrics,
            language: "en".into(),
        }
    }

    /// CLIP_benchmark's file name, its `--output` template
    /// `{dataset}_{pretrained_full_path}_{model}_{language}_{task}.json`: `/` in the dataset
    /// and in the checkpoint's path become `_`, so two checkpoints of the same file name in
    /// different folders do not collide.
    pub fn file_name(&self) -> String {
        format!(
            "{}_{}_{}_{}_{}.json",
            self.dataset.replace('/', "_"),
            self.pretrained.replace('/', "_"),
            self.model,
            self.language,
            self.task.name()
        )
    }

    /// The file's text: one line of JSON, as `json.dump` writes it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("results serialise")
    }

    /// Write the file into `dir`; returns its path.
    pub fn write(&self, dir: &Path) -> std::io::Result<std::path::PathBuf> {
        let path = dir.join(self.file_name());
        negclip_data::atomic::write_atomic(&path, self.to_json().as_bytes())?;
        Ok(path)
    }
}

/// The task a suite's report belongs to.
fn task_of(result: &SuiteResult) -> Task {
    match &result.report {
        Report::Retrieval(_) => Task::ZeroshotRetrieval,
        Report::Classification(_) => Task::ZeroshotClassification,
        _ if result.metrics.contains_key("lp_acc1") => Task::LinearProbe,
        _ => Task::ImageCaptionSelection,
    }
}

/// CLIP_benchmark's names for negclip's numbers of a `task` suite.
fn benchmark_metrics(task: Task, metrics: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let renamed = |pairs: &[(&str, String)]| -> BTreeMap<String, f64> {
        pairs
            .iter()
            .filter_map(|(ours, theirs)| metrics.get(*ours).map(|v| (theirs.clone(), *v)))
            .collect()
    };
    match task {
        Task::ZeroshotClassification => renamed(&[
            ("top1", "acc1".into()),
            ("top5", "acc5".into()),
            ("mean_per_class_recall", "mean_per_class_recall".into()),
        ]),
        // CLIP_benchmark's image retrieval ranks images for each caption (negclip's
        // text_to_image), its text retrieval captions for each image.
        Task::ZeroshotRetrieval => {
            let mut pairs = Vec::new();
            for k in [1, 5, 10] {
                pairs.push((
                    format!("text_to_image/{k}"),
                    format!("image_retrieval_recall@{k}"),
                ));
                pairs.push((
                    format!("image_to_text/{k}"),
                    format!("text_retrieval_recall@{k}"),
                ));
            }
            let pairs: Vec<(&str, String)> =
                pairs.iter().map(|(a, b)| (a.as_str(), b.clone())).collect();
            renamed(&pairs)
        }
        Task::LinearProbe => BTreeMap::new(),
        Task::ImageCaptionSelection => {
            if metrics.contains_key("group_score") {
                // Winoground: CLIP_benchmark's text, image and group accuracy.
                renamed(&[
                    ("text_score", "text_acc".into()),
                    ("image_score", "image_acc".into()),
                    ("group_score", "acc".into()),
                ])
            } else {
                // One image and several captions: CLIP_benchmark's `acc` and `text_acc` are
                // the share of items whose true caption scores highest; its `image_acc`
                // (the one image is always the closest) is 1.
                let mut out =
                    renamed(&[("accuracy", "acc".into()), ("accuracy", "text_acc".into())]);
                if !out.is_empty() {
                    out.insert("image_acc".into(), 1.0);
                }
                out
            }
        }
    }
}

/// CLIP_benchmark's dataset names where it has the benchmark
/// (`clip_benchmark/datasets/builder.py`).
fn dataset_name(suite: &str) -> String {
    let lower = suite.to_ascii_lowercase();
    if let Some(subset) = lower.strip_prefix("sugarcrepe/") {
        return format!("sugar_crepe/{subset}");
    }
    let known = match lower.as_str() {
        "coco-retrieval" => "mscoco_captions",
        "flickr30k-retrieval" => "flickr30k",
        "imagenet" => "imagenet1k",
        "imagenet-v2" => "imagenetv2",
        "imagenet-r" => "imagenet-r",
        "imagenet-a" => "imagenet-a",
        "imagenet-sketch" => "imagenet_sketch",
        "winoground" => "winoground",
        _ => return suite.to_string(),
    };
    known.to_string()
}

/// open_clip's architecture name of the preset `config` is, `custom` for any other.
pub fn model_name(config: &ClipConfig) -> String {
    let names = [
        ("vit-b-32", "ViT-B-32"),
        ("vit-b-16", "ViT-B-16"),
        ("vit-l-14", "ViT-L-14"),
        ("vit-l-14-336", "ViT-L-14-336"),
        ("tiny", "negclip-tiny"),
        ("small", "negclip-small"),
    ];
    names
        .iter()
        .find(|(preset, _)| ClipConfig::preset(preset).is_ok_and(|p| &p == config))
        .map_or("custom", |(_, name)| name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(suite: &str, metrics: &[(&str, f64)]) -> SuiteResult {
        SuiteResult {
            suite: suite.into(),
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            report: Report::None,
        }
    }

    #[test]
    fn sugarcrepe_is_an_image_caption_selection_under_clip_benchmarks_name() {
        let file = ClipBenchmarkResult::new(
            &result("sugarcrepe/add_att", &[("accuracy", 0.75)]),
            "runs/a/final.safetensors",
            &model_name(&ClipConfig::preset("vit-b-32").unwrap()),
            Sampling::default(),
        );
        assert_eq!(file.dataset, "sugar_crepe/add_att");
        assert_eq!(file.model, "ViT-B-32");
        assert_eq!(file.task, Task::ImageCaptionSelection);
        assert_eq!(file.metrics["acc"], 0.75);
        assert_eq!(file.metrics["text_acc"], 0.75);
        assert_eq!(file.metrics["image_acc"], 1.0);
        assert_eq!(file.metrics["seed"], 1.0);
        assert_eq!(
            file.file_name(),
            "sugar_crepe_add_att_runs_a_final.safetensors_ViT-B-32_en_image_caption_selection.json"
        );
    }
}
