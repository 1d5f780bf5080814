//! `metrics.jsonl`: one JSON [`Record`] a line — training records every N steps, evaluation
//! records before the first step and after each evaluated epoch. Resuming drops the records
//! written after the checkpoint, so the file reads as if the run had never stopped.
//!
//! The file's layout is these types: a record is an object tagged by `"kind"` (`"train"`
//! or `"eval"`), its keys in alphabetical order at every level (written through a
//! `serde_json::Value`, whose maps sort their keys; files written before the types existed
//! have the same order). A number that is not finite is written as `null` and read back as
//! NaN. Reading is lenient where older files differ: fields added since (`images`,
//! `loss_scale`, `skipped`) read as their default, a report this version does not know
//! stays as written ([`crate::evaluate::Report::Other`]), and an unreadable line (a torn
//! last line) is skipped with a warning.
//!
//! With `[log] tensorboard` each record is also written as TensorBoard events
//! ([`crate::tensorboard`]), cut back on resume the same way.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::TrainError;
use crate::evaluate::{Evaluations, SuiteResult};
use crate::io::write_file;
use crate::sampling::Sampling;
use crate::stage_times::StageTimes;
use crate::step::StepStats;
use crate::tensorboard::EventLog;

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    Train(TrainRecord),
    Eval(EvalRecord),
    Time(TimeRecord),
}

impl Record {
    /// The optimisation steps done when the record was written.
    pub fn step(&self) -> u64 {
        match self {
            Record::Train(record) => record.step,
            Record::Eval(record) => record.step,
            Record::Time(record) => record.step,
        }
    }

    /// One line of the file, without its newline.
    pub fn to_line(&self) -> String {
        // Through a Value: its maps sort the keys, the order the file has always had.
        serde_json::to_value(self)
            .expect("records serialise")
            .to_string()
    }
}

/// A training step: its loss, the update and the batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainRecord {
    /// Steps done, this one included.
    pub step: u64,
    /// 0-based epoch of the step.
    pub epoch: usize,
    #[serde(deserialize_with = "number_or_null")]
    pub loss: f64,
    /// The image-to-text and text-to-image halves of the loss.
    #[serde(deserialize_with = "number_or_null")]
    pub loss_i2t: f64,
    #[serde(deserialize_with = "number_or_null")]
    pub loss_t2i: f64,
    #[serde(deserialize_with = "number_or_null")]
    pub lr: f64,
    /// `exp` of the model's logit scale after the step.
    #[serde(deserialize_with = "number_or_null")]
    pub logit_scale: f64,
    /// The global gradient norm before clipping (`None` where it was not computed).
    pub grad_norm: Option<f64>,
    /// f16 only: the loss scale after the step.
    #[serde(default)]
    pub loss_scale: Option<f64>,
    /// f16 only: whether the step's gradients overflowed and the update was skipped.
    #[serde(default)]
    pub skipped: bool,
    /// Images in the batch: anchors plus hard-negative images.
    #[serde(default)]
    pub images: usize,
    /// Hard-negative captions in the batch.
    pub hard_captions: usize,
    #[serde(deserialize_with = "number_or_null")]
    pub samples_per_sec: f64,
}

impl TrainRecord {
    pub fn new(
        step: u64,
        epoch: usize,
        lr: f64,
        samples_per_sec: f64,
        stats: &StepStats,
    ) -> TrainRecord {
        TrainRecord {
            step,
            epoch,
            loss: stats.loss,
            loss_i2t: stats.image_to_text,
            loss_t2i: stats.text_to_image,
            lr,
            logit_scale: stats.logit_scale,
            grad_norm: stats.grad_norm,
            loss_scale: stats.loss_scale,
            skipped: stats.skipped,
            images: stats.images,
            hard_captions: stats.negatives,
            samples_per_sec,
        }
    }
}

/// An evaluation: every suite's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub step: u64,
    /// The epoch just finished; `None` (`null`) for the evaluation before the first step.
    pub epoch: Option<usize>,
    /// The seed and item count the suites were scored with (absent in records written
    /// before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<Sampling>,
    pub suites: Vec<SuiteResult>,
}

/// What one session of a run cost ([`StageTimes`]), written when it ends: a resumed run
/// adds a record for each session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeRecord {
    /// Steps done when the session ended.
    pub step: u64,
    /// Steps this session ran.
    pub steps_run: u64,
    /// Wall seconds per stage.
    pub seconds: StageTimes,
    /// The process's peak resident memory (Linux only).
    pub peak_rss_bytes: Option<u64>,
}

/// serde: a number, or `null` where a NaN or an infinity was written.
fn number_or_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

pub struct MetricsLog {
    path: PathBuf,
    /// TensorBoard's copy of every record (`[log] tensorboard`).
    events: Option<EventLog>,
}

impl MetricsLog {
    /// A new, empty log in `output`.
    pub fn create(output: &Path) -> Result<MetricsLog, TrainError> {
        let path = output.join("metrics.jsonl");
        write_file(&path, b"")?;
        Ok(MetricsLog { path, events: None })
    }

    /// Also write every record to `events` from now on (and sync it at each evaluation).
    pub fn with_events(self, events: Option<EventLog>) -> MetricsLog {
        MetricsLog { events, ..self }
    }

    /// The log of a resumed run, cut back to the records of steps up to `step`.
    pub fn resume(output: &Path, step: u64) -> Result<MetricsLog, TrainError> {
        let log = MetricsLog {
            path: output.join("metrics.jsonl"),
            events: None,
        };
        let mut text = String::new();
        for record in log.records()?.iter().filter(|r| r.step() <= step) {
            text.push_str(&record.to_line());
            text.push('\n');
        }
        write_file(&log.path, text.as_bytes())?;
        Ok(log)
    }

    /// Every record so far.
    pub fn records(&self) -> Result<Vec<Record>, TrainError> {
        if !self.path.exists() {
            return Ok(Vec::new());
        }
        let file = File::open(&self.path).map_err(|source| self.io(source))?;
        let mut out = Vec::new();
        for (number, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|source| self.io(source))?;
            if line.trim().is_empty() {
                continue;
            }
            // A run killed mid-write leaves a torn last line: skip it, the checkpoint
            // decides what is kept anyway.
            match serde_json::from_str(&line) {
                Ok(record) => out.push(record),
                Err(e) => tracing::warn!(
                    "{}:{}: skipping unreadable record: {e}",
                    self.path.display(),
                    number + 1
                ),
            }
        }
        Ok(out)
    }

    /// Evaluations recorded so far, as (epoch, results) pairs.
    pub fn evaluations(&self) -> Result<Evaluations, TrainError> {
        Ok(self
            .records()?
            .into_iter()
            .filter_map(|record| match record {
                Record::Eval(eval) => Some((eval.epoch, eval.suites)),
                Record::Train(_) | Record::Time(_) => None,
            })
            .collect())
    }

    pub fn train(
        &self,
        step: u64,
        epoch: usize,
        lr: f64,
        samples_per_sec: f64,
        stats: &StepStats,
    ) -> Result<(), TrainError> {
        self.append(&Record::Train(TrainRecord::new(
            step,
            epoch,
            lr,
            samples_per_sec,
            stats,
        )))
    }

    pub fn eval(
        &self,
        step: u64,
        epoch: Option<usize>,
        sampling: Sampling,
        results: &[SuiteResult],
    ) -> Result<(), TrainError> {
        self.append(&Record::Eval(EvalRecord {
            step,
            epoch,
            sampling: Some(sampling),
            suites: results.to_vec(),
        }))?;
        self.sync()
    }

    /// What this session cost, at its end.
    pub fn time(&self, record: TimeRecord) -> Result<(), TrainError> {
        self.append(&Record::Time(record))?;
        self.sync()
    }

    /// Make the TensorBoard events written so far durable (evaluations and checkpoints;
    /// each line of `metrics.jsonl` is written whole by itself).
    pub fn sync(&self) -> Result<(), TrainError> {
        self.events.as_ref().map_or(Ok(()), EventLog::sync)
    }

    /// The plot `png` as a TensorBoard image at `step` (nothing without events).
    pub fn plot(&self, step: u64, png: &Path) -> Result<(), TrainError> {
        self.events
            .as_ref()
            .map_or(Ok(()), |events| events.plot(step, png))
    }

    fn append(&self, record: &Record) -> Result<(), TrainError> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|source| self.io(source))?;
        writeln!(file, "{}", record.to_line()).map_err(|source| self.io(source))?;
        match &self.events {
            Some(events) => events.record(record),
            None => Ok(()),
        }
    }

    fn io(&self, source: std::io::Error) -> TrainError {
        TrainError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::Report;

    fn train_record() -> TrainRecord {
        TrainRecord {
            step: 1,
            epoch: 0,
            loss: 1.6947746276855469,
            loss_i2t: 2.0581679344177246,
            loss_t2i: 1.3313814401626587,
            lr: 4e-5,
            logit_scale: 3.0466387271881104,
            grad_norm: Some(5.849866149710533),
            loss_scale: None,
            skipped: false,
            images: 64,
            hard_captions: 64,
            samples_per_sec: 166.88725337062706,
        }
    }

    #[test]
    fn a_training_record_is_written_as_the_file_always_had_it() {
        // Keys in alphabetical order, `kind` among them, numbers as serde_json writes them.
        let line = Record::Train(train_record()).to_line();
        assert_eq!(
            line,
            r#"{"epoch":0,"grad_norm":5.849866149710533,"hard_captions":64,"images":64,"kind":"train","logit_scale":3.0466387271881104,"loss":1.6947746276855469,"loss_i2t":2.0581679344177246,"loss_scale":null,"loss_t2i":1.3313814401626587,"lr":0.00004,"samples_per_sec":166.88725337062706,"skipped":false,"step":1}"#
        );
        assert_eq!(
            serde_json::from_str::<Record>(&line).unwrap(),
            Record::Train(train_record())
        );
    }

    #[test]
    fn every_kind_of_report_reads_back_as_itself_and_writes_the_same_line() {
        let suites = [
            r#"{"metrics":{"accuracy":0.5},"report":{"accuracy":0.5,"correct":1,"items":[true,false],"macro_accuracy":null,"macro_with_min_filter":null,"macro_without_min_filter":null,"per_group":{"a":{"accuracy":0.5,"correct":1,"total":2}},"predictions":[0,1],"suite":"choice"},"suite":"choice"}"#,
            r#"{"metrics":{"text_to_image/1":0.25},"report":{"image_to_text":{"1":0.5,"10":1.0,"5":0.75},"suite":"retrieval","text_to_image":{"1":0.25,"10":1.0,"5":0.5}},"suite":"retrieval"}"#,
            r#"{"metrics":{"ece":0.125,"top1":1.0},"report":{"calibration":{"bins":[{"accuracy":null,"confidence":null,"count":0,"lower":0.0,"upper":0.5},{"accuracy":1.0,"confidence":0.75,"count":2,"lower":0.5,"upper":1.0}],"ece":0.125,"ece_after_scaling":0.0625,"ece_before_scaling":0.125,"eval_items":1,"fit_items":1,"logit_scale":100.0,"temperature":1.5},"compositions":null,"mean_per_class_recall":1.0,"ood":null,"predictions":[0,1],"suite":"classify","top1":1.0,"top5":1.0,"top5_k":2},"suite":"classify"}"#,
            r#"{"metrics":{"lp_acc1":1.0},"report":{"c":0.5,"lambda":0.25,"mean_per_class_recall":1.0,"predictions":[0,1],"test_items":2,"top1":1.0,"top5":1.0,"train_items":8,"validation_items":2},"suite":"probe"}"#,
            r#"{"metrics":{"accuracy":0.5,"accuracy_std":0.0,"seeds":1.0},"report":{"accuracy":0.5,"accuracy_std":0.0,"seeds":1.0},"suite":"order"}"#,
            r#"{"metrics":{},"report":null,"suite":"none"}"#,
            r#"{"metrics":{"x":null},"report":{"from":"a newer version"},"suite":"other"}"#,
        ];
        let line = format!(
            r#"{{"epoch":null,"kind":"eval","step":0,"suites":[{}]}}"#,
            suites.join(",")
        );
        let Record::Eval(eval) = serde_json::from_str::<Record>(&line).unwrap() else {
            panic!("an evaluation record");
        };
        let kinds: Vec<&str> = eval
            .suites
            .iter()
            .map(|result| match &result.report {
                Report::Choice(_) => "choice",
                Report::Retrieval(_) => "retrieval",
                Report::Classification(_) => "classify",
                Report::Group(_) => "group",
                Report::LinearProbe(_) => "probe",
                Report::SeedMean(_) => "order",
                Report::None => "none",
                Report::Other(_) => "other",
            })
            .collect();
        let names: Vec<&str> = eval.suites.iter().map(|r| r.suite.as_str()).collect();
        assert_eq!(kinds, names);
        let calibration = eval.suites[2].report.calibration().unwrap();
        assert_eq!(calibration.ece, 0.125);
        assert_eq!(calibration.bins[1].confidence, Some(0.75));
        let other = eval.suites.iter().find(|r| r.suite == "other").unwrap();
        assert!(other.metrics["x"].is_nan());
        assert_eq!(Record::Eval(eval).to_line(), line);
    }

    #[test]
    fn a_loss_that_is_not_a_number_is_kept_as_null() {
        let record = Record::Train(TrainRecord {
            loss: f64::NAN,
            ..train_record()
        });
        let line = record.to_line();
        assert!(line.contains(r#""loss":null"#), "{line}");
        let Record::Train(back) = serde_json::from_str::<Record>(&line).unwrap() else {
            panic!("a training record");
        };
        assert!(back.loss.is_nan());
        assert_eq!(Record::Train(back).to_line(), line);
    }

    #[test]
    fn resuming_keeps_the_records_up_to_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let log = MetricsLog::create(dir.path()).unwrap();
        log.eval(0, None, Sampling::default(), &[]).unwrap();
        for step in 1..=3 {
            log.append(&Record::Train(TrainRecord {
                step,
                ..train_record()
            }))
            .unwrap();
        }
        // A record written before `images`, `loss_scale` and `skipped` existed, and a torn
        // last line.
        let old = r#"{"epoch":0,"grad_norm":null,"hard_captions":64,"kind":"train","logit_scale":3.0,"loss":1.5,"loss_i2t":2.0,"loss_t2i":1.0,"lr":0.00004,"samples_per_sec":100.0,"step":2}"#;
        let path = dir.path().join("metrics.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&path, format!("{text}{old}\n{{\"kind\":\"tr")).unwrap();
        let log = MetricsLog::resume(dir.path(), 2).unwrap();
        let kept = std::fs::read_to_string(&path).unwrap();
        let old_now = r#"{"epoch":0,"grad_norm":null,"hard_captions":64,"images":0,"kind":"train","logit_scale":3.0,"loss":1.5,"loss_i2t":2.0,"loss_scale":null,"loss_t2i":1.0,"lr":0.00004,"samples_per_sec":100.0,"skipped":false,"step":2}"#;
        assert_eq!(kept, [lines[0], lines[1], lines[2], old_now, ""].join("\n"));
        assert_eq!(log.evaluations().unwrap(), vec![(None, Vec::new())]);
    }

    #[test]
    fn a_sessions_time_record_is_its_own_kind_and_no_evaluation() {
        let dir = tempfile::tempdir().unwrap();
        let log = MetricsLog::create(dir.path()).unwrap();
        let time = TimeRecord {
            step: 12,
            steps_run: 7,
            seconds: StageTimes {
                steps: 30.5,
                total: 41.0,
                ..StageTimes::default()
            },
            peak_rss_bytes: Some(3 << 30),
        };
        log.time(time.clone()).unwrap();
        let line = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
        assert!(line.starts_with(r#"{"kind":"time","peak_rss_bytes":3221225472,"seconds":{"#));
        assert_eq!(log.records().unwrap(), vec![Record::Time(time)]);
        assert!(log.evaluations().unwrap().is_empty());
        // A resumed run keeps a finished session's record only up to its checkpoint's step.
        MetricsLog::resume(dir.path(), 11).unwrap();
        assert!(MetricsLog::resume(dir.path(), 11)
            .unwrap()
            .records()
            .unwrap()
            .is_empty());
    }
}
