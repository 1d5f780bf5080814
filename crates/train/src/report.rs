//! What a person sees: the training progress bar and results tables. One table type renders
//! every comparison (evaluations of a run by epoch, checkpoints side by side) for the console
//! and as Markdown; [`EvalFile`] is `negclip eval`'s results as JSON.

use std::collections::BTreeMap;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::evaluate::SuiteResult;
use crate::sampling::Sampling;
use crate::step::StepStats;
use crate::suites::primary;

/// Which metrics of each suite a table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metrics {
    /// The suite's headline number ([`primary`]).
    Headline,
    /// Every metric, the headline first.
    All,
}

/// Results side by side: one column per evaluation, one row per (suite, metric).
pub struct ResultsTable {
    columns: Vec<String>,
    rows: Vec<(String, String, Vec<Option<f64>>)>,
    /// The seed and item count the results were scored with, stated under the table.
    sampling: Option<Sampling>,
}

impl ResultsTable {
    /// A table of `columns` (a name and its results each), rows in order of first appearance.
    pub fn new(columns: &[(String, Vec<SuiteResult>)], metrics: Metrics) -> ResultsTable {
        let mut index: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut rows: Vec<(String, String, Vec<Option<f64>>)> = Vec::new();
        for (c, (_, results)) in columns.iter().enumerate() {
            for result in results {
                for (metric, value) in shown(result, metrics) {
                    let key = (result.suite.clone(), metric.clone());
                    let row = *index.entry(key).or_insert_with(|| {
                        rows.push((result.suite.clone(), metric, vec![None; columns.len()]));
                        rows.len() - 1
                    });
                    rows[row].2[c] = Some(value);
                }
            }
        }
        ResultsTable {
            columns: columns.iter().map(|(name, _)| name.clone()).collect(),
            rows,
            sampling: None,
        }
    }

    /// The same table, stating under it the seed and item count its results used.
    pub fn with_sampling(mut self, sampling: Sampling) -> ResultsTable {
        self.sampling = Some(sampling);
        self
    }

    /// The line under the table, with its newline; empty without a sampling.
    fn footer(&self) -> String {
        self.sampling
            .map_or(String::new(), |sampling| format!("{sampling}\n"))
    }

    /// Aligned plain text: `suite (metric) | col | col`.
    pub fn console(&self) -> String {
        let labels: Vec<String> = self
            .rows
            .iter()
            .map(|(suite, metric, _)| format!("{suite} ({metric})"))
            .collect();
        let width = labels.iter().map(String::len).max().unwrap_or(0).max(5);
        let widths: Vec<usize> = self.columns.iter().map(|c| c.len().max(8)).collect();
        let mut out = format!("{:<width$}", "suite");
        for (column, w) in self.columns.iter().zip(&widths) {
            out.push_str(&format!(" | {column:>w$}"));
        }
        out.push('\n');
        for (label, (_, _, values)) in labels.iter().zip(&self.rows) {
            out.push_str(&format!("{label:<width$}"));
            for (value, w) in values.iter().zip(&widths) {
                out.push_str(&format!(" | {:>w$}", number(*value)));
            }
            out.push('\n');
        }
        out.push_str(&self.footer());
        out
    }

    /// A Markdown table: `| suite | metric | col | col |`.
    pub fn markdown(&self) -> String {
        let mut out = String::from("| suite | metric |");
        for column in &self.columns {
            out.push_str(&format!(" {column} |"));
        }
        out.push_str("\n|---|---|");
        out.push_str(&"---:|".repeat(self.columns.len()));
        out.push('\n');
        for (suite, metric, values) in &self.rows {
            out.push_str(&format!("| {suite} | {metric} |"));
            for value in values {
                out.push_str(&format!(" {} |", number(*value)));
            }
            out.push('\n');
        }
        if self.sampling.is_some() {
            // A blank line ends the Markdown table before the note.
            out.push('\n');
            out.push_str(&self.footer());
        }
        out
    }
}

/// The (metric, value) pairs of `result` a table shows.
fn shown(result: &SuiteResult, metrics: Metrics) -> Vec<(String, f64)> {
    let headline = primary(result);
    match metrics {
        Metrics::Headline => headline.into_iter().collect(),
        Metrics::All => {
            let first = headline.map(|(name, _)| name);
            let mut all: Vec<(String, f64)> = result
                .metrics
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            all.sort_by_key(|(name, _)| Some(name) != first.as_ref());
            all
        }
    }
}

fn number(value: Option<f64>) -> String {
    value.map_or("–".to_string(), |v| format!("{v:.4}"))
}

/// `negclip eval --output FILE`: what was evaluated and every checkpoint's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalFile {
    /// The suites asked for (`--suite`).
    pub suites: Vec<String>,
    /// Items per suite (0 = all) and the seed of the subsample: the [`Sampling`].
    pub items: usize,
    pub seed: u64,
    pub checkpoints: Vec<CheckpointResults>,
}

/// One checkpoint's results in an [`EvalFile`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointResults {
    pub checkpoint: String,
    pub results: Vec<SuiteResult>,
}

impl EvalFile {
    /// Indented JSON, keys in alphabetical order at every level (through a
    /// `serde_json::Value`, whose maps sort their keys), as the file has always been written.
    pub fn to_json(&self) -> String {
        let value = serde_json::to_value(self).expect("results serialise");
        serde_json::to_string_pretty(&value).expect("values serialise")
    }
}

/// The column name of an evaluation of a run: `start`, `epoch 4`, ….
pub fn epoch_label(epoch: Option<usize>) -> String {
    epoch.map_or("start".to_string(), |e| format!("epoch {e}"))
}

/// The training progress bar (hidden with `--quiet`), warnings and results.
pub struct Progress {
    bar: ProgressBar,
    /// Whether warnings and results are printed: not on the ranks > 0 of a multi-rank run,
    /// which would repeat rank 0's.
    reports: bool,
}

impl Progress {
    pub fn new(total_steps: u64, done: u64, show: bool) -> Progress {
        if !show {
            return Progress {
                bar: ProgressBar::hidden(),
                reports: true,
            };
        }
        let bar = ProgressBar::new(total_steps);
        bar.set_position(done);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} steps, ETA {eta} · {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Progress { bar, reports: true }
    }

    /// Prints nothing at all.
    pub fn silent() -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
            reports: false,
        }
    }

    pub fn step(&self, epoch: usize, lr: f64, samples_per_sec: f64, stats: &StepStats) {
        self.bar.inc(1);
        self.bar.set_message(format!(
            "epoch {} loss {:.4} lr {:.2e} {:.0} samples/s",
            epoch + 1,
            stats.loss,
            lr,
            samples_per_sec
        ));
    }

    pub fn message(&self, text: &str) {
        self.bar.set_message(text.to_string());
    }

    /// Print a warning on stderr above the bar (also with `--quiet`).
    pub fn warn(&self, text: &str) {
        if self.reports {
            self.bar.suspend(|| eprintln!("warning: {text}"));
        }
    }

    /// Print an evaluation's results above the bar.
    pub fn print_results(&self, epoch: Option<usize>, sampling: Sampling, results: &[SuiteResult]) {
        if results.is_empty() || !self.reports {
            return;
        }
        let when = match epoch {
            None => "before training".to_string(),
            Some(e) => format!("after epoch {e}"),
        };
        let table = ResultsTable::new(&[(when, results.to_vec())], Metrics::Headline)
            .with_sampling(sampling);
        self.bar.suspend(|| println!("{}", table.console()));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(suite: &str, metrics: &[(&str, f64)]) -> SuiteResult {
        SuiteResult {
            suite: suite.into(),
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            report: crate::evaluate::Report::None,
        }
    }

    #[test]
    fn tables_line_up_columns_and_mark_missing_values() {
        let columns = vec![
            (
                "start".to_string(),
                vec![result(
                    "VG-R",
                    &[("accuracy", 0.5), ("macro_accuracy", 0.25)],
                )],
            ),
            (
                "epoch 1".to_string(),
                vec![
                    result("VG-R", &[("accuracy", 0.75), ("macro_accuracy", 0.5)]),
                    result("Retrieval", &[("text_to_image/1", 0.125)]),
                ],
            ),
        ];
        let headline = ResultsTable::new(&columns, Metrics::Headline);
        let expected = [
            "suite                       |    start |  epoch 1",
            "VG-R (macro_accuracy)       |   0.2500 |   0.5000",
            "Retrieval (text_to_image/1) |        – |   0.1250",
        ];
        assert_eq!(headline.console(), expected.join("\n") + "\n");
        let stated = ResultsTable::new(&columns, Metrics::Headline)
            .with_sampling(Sampling { seed: 1, items: 0 });
        assert!(stated
            .console()
            .ends_with("|   0.1250\nseed 1, items per suite: all (synthetic suites: 1000)\n"));
        assert!(stated.markdown().ends_with(
            "| – | 0.1250 |\n\nseed 1, items per suite: all (synthetic suites: 1000)\n"
        ));
        let all = ResultsTable::new(&columns, Metrics::All).markdown();
        assert_eq!(
            all,
            "| suite | metric | start | epoch 1 |\n|---|---|---:|---:|\n\
             | VG-R | macro_accuracy | 0.2500 | 0.5000 |\n\
             | VG-R | accuracy | 0.5000 | 0.7500 |\n\
             | Retrieval | text_to_image/1 | – | 0.1250 |\n"
        );
    }
}
