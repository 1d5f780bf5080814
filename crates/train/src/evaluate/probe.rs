//! A model's linear probes ([`crate::linear_probe`]): the frozen image features of each
//! probe's train and test sets, encoded as every suite's images are, then the probe.

use std::collections::BTreeMap;

use negclip_data::benchmarks::classification::{
    load_classification, ClassNames, ClassificationSpec, Templates,
};
use negclip_data::benchmarks::LoadOptions;
use negclip_data::suite::{ClassificationSuite, Suite};

use burn::tensor::Device;
use negclip_model::{Clip, ClipConfig};

use super::{
    embed_images, progress_bar, Embedder, EvalOptions, ModelEmbedder, Report, SuiteResult,
};
use crate::error::TrainError;
use crate::linear_probe::{linear_probe, Features, LinearProbeReport, LinearProbeSpec};

/// A probe's two sets, loaded once and probed with every checkpoint.
#[derive(Debug, Clone)]
pub struct ProbeSets {
    /// `linear-probe/<name>`.
    pub name: String,
    pub train: ClassificationSuite,
    pub test: ClassificationSuite,
}

impl ProbeSets {
    /// Load both sets (every image: the probe is fitted on all of train) and check that
    /// they have the same classes.
    pub fn load(spec: &LinearProbeSpec) -> Result<ProbeSets, TrainError> {
        let load =
            |images: &std::path::PathBuf, part: &str| -> Result<ClassificationSuite, TrainError> {
                let spec = ClassificationSpec {
                    name: format!("{}/{part}", spec.name),
                    images: images.clone(),
                    // Class keys as names, one template: a probe reads labels, not prompts.
                    names: ClassNames::Keys,
                    templates: Templates::One("{}".into()),
                    compositions: None,
                    ood: None,
                };
                match load_classification(&spec, &LoadOptions::default())?.suite {
                    Suite::Classification(suite) => Ok(suite),
                    _ => unreachable!("load_classification gives a classification suite"),
                }
            };
        let (train, test) = (load(&spec.train, "train")?, load(&spec.test, "test")?);
        if train.classes != test.classes {
            return Err(TrainError::Config {
                path: "linear_probe".into(),
                message: format!(
                    "{}: the train set ({}) has classes {:?}, the test set ({}) {:?}",
                    spec.name,
                    spec.train.display(),
                    train.classes,
                    spec.test.display(),
                    test.classes
                ),
            });
        }
        Ok(ProbeSets {
            name: format!("linear-probe/{}", spec.name),
            train,
            test,
        })
    }
}

/// Probe `embedder`'s image features; the validation split is drawn with `seed`.
pub fn evaluate_linear_probe(
    embedder: &dyn Embedder,
    sets: &ProbeSets,
    seed: u64,
    options: &EvalOptions,
) -> Result<SuiteResult, TrainError> {
    let features = |suite: &ClassificationSuite| -> Result<Features, TrainError> {
        let progress = progress_bar(&suite.name, options.show_progress);
        let rows = embed_images(embedder, &suite.images, options, &progress)?;
        progress.finish_and_clear();
        Ok(Features {
            rows: rows
                .into_iter()
                .map(|r| r.into_iter().map(f64::from).collect())
                .collect(),
            labels: suite.labels.clone(),
        })
    };
    let (train, test) = (features(&sets.train)?, features(&sets.test)?);
    let report = linear_probe(&train, &test, sets.train.classes.len(), seed);
    Ok(SuiteResult {
        suite: sets.name.clone(),
        metrics: probe_metrics(&report),
        report: Report::LinearProbe(report),
    })
}

/// Every probe of `model`, in order (none: no encoding at all).
pub fn probe_model(
    model: &Clip,
    config: &ClipConfig,
    probes: &[ProbeSets],
    seed: u64,
    options: &EvalOptions,
    device: &Device,
) -> Result<Vec<SuiteResult>, TrainError> {
    if probes.is_empty() {
        return Ok(Vec::new());
    }
    let embedder = ModelEmbedder::new(model, config, device)?;
    probes
        .iter()
        .map(|sets| evaluate_linear_probe(&embedder, sets, seed, options))
        .collect()
}

/// CLIP_benchmark's names for the probe's numbers, and the chosen regularisation.
fn probe_metrics(report: &LinearProbeReport) -> BTreeMap<String, f64> {
    BTreeMap::from([
        ("lp_acc1".to_string(), report.top1),
        ("lp_acc5".to_string(), report.top5),
        (
            "lp_mean_per_class_recall".to_string(),
            report.mean_per_class_recall,
        ),
        ("lambda".to_string(), report.lambda),
        ("c".to_string(), report.c),
    ])
}
