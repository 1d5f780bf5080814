//! `metrics.jsonl`: one JSON record a line — training records every N steps, evaluation
//! records before the first step and after each evaluated epoch. Resuming drops the records
//! written after the checkpoint, so the file reads as if the run had never stopped.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::TrainError;
use crate::evaluate::{Evaluations, SuiteResult};
use crate::io::write_file;
use crate::step::StepStats;

pub struct MetricsLog {
    path: PathBuf,
}

impl MetricsLog {
    /// A new, empty log in `output`.
    pub fn create(output: &Path) -> Result<MetricsLog, TrainError> {
        let path = output.join("metrics.jsonl");
        write_file(&path, b"")?;
        Ok(MetricsLog { path })
    }

    /// The log of a resumed run, cut back to the records of steps up to `step`.
    pub fn resume(output: &Path, step: u64) -> Result<MetricsLog, TrainError> {
        let log = MetricsLog {
            path: output.join("metrics.jsonl"),
        };
        let kept: Vec<Value> = log
            .records()?
            .into_iter()
            .filter(|r| r["step"].as_u64().is_some_and(|s| s <= step))
            .collect();
        let mut text = String::new();
        for record in kept {
            text.push_str(&record.to_string());
            text.push('\n');
        }
        write_file(&log.path, text.as_bytes())?;
        Ok(log)
    }

    /// Every record so far.
    pub fn records(&self) -> Result<Vec<Value>, TrainError> {
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
                Ok(value) => out.push(value),
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
            .filter(|r| r["kind"] == "eval")
            .map(|r| {
                let epoch = r["epoch"].as_u64().map(|e| e as usize);
                let results = serde_json::from_value(r["suites"].clone()).unwrap_or_default();
                (epoch, results)
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
        self.append(json!({
            "kind": "train",
            "step": step,
            "epoch": epoch,
            "loss": stats.loss,
            "loss_i2t": stats.image_to_text,
            "loss_t2i": stats.text_to_image,
            "lr": lr,
            "logit_scale": stats.logit_scale,
            "grad_norm": stats.grad_norm,
            "loss_scale": stats.loss_scale,
            "skipped": stats.skipped,
            "images": stats.images,
            "hard_captions": stats.negatives,
            "samples_per_sec": samples_per_sec,
        }))
    }

    pub fn eval(
        &self,
        step: u64,
        epoch: Option<usize>,
        results: &[SuiteResult],
    ) -> Result<(), TrainError> {
        self.append(json!({
            "kind": "eval",
            "step": step,
            "epoch": epoch,
            "suites": results,
        }))
    }

    fn append(&self, record: Value) -> Result<(), TrainError> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|source| self.io(source))?;
        writeln!(file, "{record}").map_err(|source| self.io(source))
    }

    fn io(&self, source: std::io::Error) -> TrainError {
        TrainError::Io {
            path: self.path.clone(),
            source,
        }
    }
}
