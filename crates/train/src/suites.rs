//! Evaluation suites by name: the synthetic world's (built in memory), the real
//! benchmarks' (read from `eval.data_root` and `eval.paths`) and the classification suites a
//! run file describes, all scored through the same interface.

use negclip_data::benchmarks::classification::{load_classification, ClassificationSpec};
use negclip_data::benchmarks::{self, DataPaths, LoadOptions, LoadedSuite};
use negclip_data::negatives::default_order_perturbations;
use negclip_data::suite::Suite;
use negclip_data::synth::{self, WorldConfig};

use crate::config::{BestMetric, RunConfig};
use crate::error::TrainError;
use crate::evaluate::SuiteResult;
use crate::sampling::Sampling;

/// What suites to build and how.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// Items per suite (seeded subsample); 0 = all (synthetic suites: 1000). Defaults:
    /// [`crate::sampling`], the same for a run and for `negclip eval`.
    pub items: usize,
    /// Seed of the subsample and of the calibration split.
    pub seed: u64,
    /// Where the real benchmark files are.
    pub paths: DataPaths,
    /// Classification suites from image folders or lists, built after the named suites.
    pub classification: Vec<ClassificationSpec>,
    /// Drop items whose image is missing (counted in the log) instead of failing.
    pub skip_missing_images: bool,
    /// The synthetic world the synthetic suites are drawn from.
    pub world: WorldConfig,
    pub world_seed: u64,
}

impl SuiteOptions {
    /// The evaluation settings of a run.
    pub fn from_run(config: &RunConfig) -> Result<SuiteOptions, TrainError> {
        let (world, world_seed) = config.data.world();
        Ok(SuiteOptions {
            items: config.eval.items,
            seed: config.eval.seed,
            paths: DataPaths::new(config.eval.data_root.clone(), config.eval.paths.clone())?,
            classification: config.eval.classification.clone(),
            skip_missing_images: false,
            world,
            world_seed,
        })
    }

    /// The seed and item count, as tables and results files state them.
    pub fn sampling(&self) -> Sampling {
        Sampling {
            seed: self.seed,
            items: self.items,
        }
    }

    fn load_options(&self) -> LoadOptions {
        LoadOptions {
            subsample: self.sampling().subsample(),
            skip_missing_images: self.skip_missing_images,
            order_seeds: Vec::new(),
            perturber: None,
            calibration_seed: self.seed,
        }
    }
}

/// Build every named suite (a group name such as `aro` gives several).
pub fn build_suites(names: &[String], options: &SuiteOptions) -> Result<Vec<Suite>, TrainError> {
    let mut suites = Vec::new();
    for name in names {
        suites.extend(load_named(name, options)?);
    }
    for spec in &options.classification {
        let loaded = load_classification(spec, &options.load_options())?;
        suites.extend(reported(vec![loaded]));
    }
    Ok(suites)
}

fn load_named(name: &str, options: &SuiteOptions) -> Result<Vec<Suite>, TrainError> {
    if let Some(synthetic) = synth::suite_names()
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
    {
        let items = options.sampling().synthetic_items();
        // The suites come from the world's own test and held-out splits: a fixed seed
        // offset keeps them the same whatever the run's seed.
        let suite = synth::build_suite(
            synthetic,
            items,
            &options.world,
            options.world_seed,
            &default_order_perturbations,
        )
        .map_err(|source| TrainError::Synthetic {
            suite: name.to_string(),
            source,
        })?;
        return Ok(vec![suite]);
    }
    if !benchmarks::names::is_known(name) {
        return Err(TrainError::Config {
            path: "eval.suites".into(),
            message: format!(
                "unknown suite {name:?}; benchmarks: {}; synthetic: {}",
                benchmarks::names::known_names(),
                synth::suite_names().join(", ")
            ),
        });
    }
    let loaded = benchmarks::load_suite(name, &options.paths, &options.load_options())?;
    Ok(reported(loaded))
}

/// The suites, after telling the user about any item dropped for a missing image.
fn reported(loaded: Vec<LoadedSuite>) -> Vec<Suite> {
    for suite in &loaded {
        if suite.report.skipped_missing > 0 {
            tracing::warn!(
                suite = suite.suite.name(),
                skipped = suite.report.skipped_missing,
                "items skipped: image file missing"
            );
            eprintln!(
                "note: {}: {} items skipped because their image is missing",
                suite.suite.name(),
                suite.report.skipped_missing
            );
        }
    }
    loaded.into_iter().map(|l| l.suite).collect()
}

/// The headline number of a result: macro accuracy where the suite has one, else accuracy;
/// for classification the OOD AUROC (MSP) when the suite has OOD images, else top-1; for
/// retrieval text-to-image R@1; for group suites (Winoground) the group score; for a linear
/// probe its test top-1 (`lp_acc1`).
pub fn primary(result: &SuiteResult) -> Option<(String, f64)> {
    [
        "macro_accuracy",
        "accuracy",
        "group_score",
        "msp_auroc",
        "top1",
        "text_to_image/1",
        "lp_acc1",
    ]
    .iter()
    .find_map(|name| result.metrics.get(*name).map(|v| (name.to_string(), *v)))
    .or_else(|| result.metrics.iter().next().map(|(k, v)| (k.clone(), *v)))
}

/// The value `best` names among `results`: the suite's headline number, or its metric. An
/// error names what is missing and lists what there is.
pub fn headline(results: &[SuiteResult], best: &BestMetric) -> Result<f64, String> {
    metric_value(results, best, "eval.best_metric")
}

/// [`headline`] for any setting that names a number as `suite` or `suite:metric`; its errors
/// start with `setting = "suite:metric"`.
pub fn metric_value(
    results: &[SuiteResult],
    best: &BestMetric,
    setting: &str,
) -> Result<f64, String> {
    let Some(result) = results
        .iter()
        .find(|r| r.suite.eq_ignore_ascii_case(&best.suite))
    else {
        let names: Vec<&str> = results.iter().map(|r| r.suite.as_str()).collect();
        return Err(format!(
            "{setting} = \"{best}\": no evaluated suite is named {:?}; the suites are {}",
            best.suite,
            names.join(", ")
        ));
    };
    let value = match &best.metric {
        None => primary(result).map(|(_, v)| v),
        Some(metric) => result.metrics.get(metric).copied(),
    };
    value.ok_or_else(|| {
        let metrics: Vec<&str> = result.metrics.keys().map(String::as_str).collect();
        format!(
            "{setting} = \"{best}\": suite {} has no metric {:?}; its metrics are {}",
            result.suite,
            best.metric.as_deref().unwrap_or_default(),
            metrics.join(", ")
        )
    })
}
