//! What an evaluation gives: each suite's [`SuiteResult`], its numbers and its typed
//! [`Report`], as the trainer logs them to `metrics.jsonl` and `negclip eval` writes them.

use std::collections::BTreeMap;

use negclip_data::metrics::classification::{Calibration, ClassificationReport};
use negclip_data::metrics::group::GroupReport;
use negclip_data::metrics::{ChoiceReport, RetrievalReport};
use serde::{Deserialize, Deserializer, Serialize};

use crate::linear_probe::LinearProbeReport;

/// One suite's results: a flat map of named numbers (`accuracy`, `macro_accuracy`,
/// `text_to_image/1`, …) and the full report. `metrics.jsonl`'s evaluation records and
/// `negclip eval --output` hold them as `{"metrics": …, "report": …, "suite": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteResult {
    pub suite: String,
    /// A value that is not a number (NaN, an infinity) is written as `null` (JSON has no
    /// such numbers) and read back as NaN.
    #[serde(deserialize_with = "numbers_or_null")]
    pub metrics: BTreeMap<String, f64>,
    pub report: Report,
}

/// A suite's full report, written as the report itself (no tag: the kinds' fields tell
/// them apart).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Report {
    Choice(ChoiceReport),
    Retrieval(RetrievalReport),
    Classification(ClassificationReport),
    Group(GroupReport),
    /// A linear probe on frozen image features ([`crate::linear_probe`]).
    LinearProbe(LinearProbeReport),
    /// The mean over an order suite's seeds ([`add_seed_means`]) or over a benchmark's
    /// subsets ([`super::add_benchmark_means`]): its numbers.
    SeedMean(BTreeMap<String, f64>),
    /// No report (`null`): results made by hand, in tests.
    None,
    /// A report this version cannot read (written by an older or newer one), kept as it
    /// was written.
    Other(serde_json::Value),
}

impl Report {
    /// The calibration of a classification suite: its ECE and reliability bins.
    pub fn calibration(&self) -> Option<&Calibration> {
        match self {
            Report::Classification(report) => Some(&report.calibration),
            _ => None,
        }
    }
}

/// A report is read as the first kind whose fields it has: each kind requires a field the
/// others lack, so at most one fits. Reading goes through a JSON value because the
/// retrieval report's keys are numbers: serde_json reads them from JSON's string keys, but
/// serde's buffering of a tagged record (a [`crate::log::Record`]) cannot.
impl<'de> Deserialize<'de> for Report {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Report, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        if value.is_null() {
            return Ok(Report::None);
        }
        let report = if let Ok(report) = ChoiceReport::deserialize(&value) {
            Report::Choice(report)
        } else if let Ok(report) = RetrievalReport::deserialize(&value) {
            Report::Retrieval(report)
        } else if let Ok(report) = ClassificationReport::deserialize(&value) {
            Report::Classification(report)
        } else if let Ok(report) = GroupReport::deserialize(&value) {
            Report::Group(report)
        } else if let Ok(report) = LinearProbeReport::deserialize(&value) {
            Report::LinearProbe(report)
        } else if let Ok(numbers) = numbers_or_null(&value) {
            Report::SeedMean(numbers)
        } else {
            Report::Other(value)
        };
        Ok(report)
    }
}

/// serde: a map of numbers, a `null` among them read as NaN.
fn numbers_or_null<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, f64>, D::Error> {
    let numbers = BTreeMap::<String, Option<f64>>::deserialize(deserializer)?;
    Ok(numbers
        .into_iter()
        .map(|(name, value)| (name, value.unwrap_or(f64::NAN)))
        .collect())
}

/// Append, for each suite evaluated under several seeds (`coco-order@seed1` …), one result
/// `coco-order` with the mean and sample standard deviation of their accuracies: the
/// reference averaged five random runs of the order perturbations.
pub fn add_seed_means(mut results: Vec<SuiteResult>) -> Vec<SuiteResult> {
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for result in &results {
        if let (Some((base, _)), Some(accuracy)) = (
            result.suite.split_once("@seed"),
            result.metrics.get("accuracy"),
        ) {
            groups.entry(base.to_string()).or_default().push(*accuracy);
        }
    }
    for (suite, accuracies) in groups {
        let summary = negclip_data::metrics::mean_std(&accuracies);
        let metrics = BTreeMap::from([
            ("accuracy".to_string(), summary.mean),
            ("accuracy_std".to_string(), summary.std),
            ("seeds".to_string(), accuracies.len() as f64),
        ]);
        results.push(SuiteResult {
            suite,
            report: Report::SeedMean(metrics.clone()),
            metrics,
        });
    }
    results
}

/// Evaluations of a run in order: (epoch, results), epoch `None` before the first step.
pub type Evaluations = Vec<(Option<usize>, Vec<SuiteResult>)>;
