//! What a run cost: where its wall time went, stage by stage, and the process's peak memory.
//! Each session of a run (the first, and each `--resume`) adds up its own and writes them as
//! one `time` record of `metrics.jsonl` when it ends, and prints them.
//!
//! The stages are wall time as the trainer sees it. The loader prepares batches on its own
//! threads while the steps run, so `data_wait` is only what the steps waited for it: the
//! cost of decoding and augmenting beyond what the prefetch hid (`negclip bench data` gives
//! the whole cost). On a GPU a stage ends when its results are read back to the host.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Seconds per stage of one session of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimes {
    /// Opening the run: the model or the checkpoint resumed from, the training data and the
    /// evaluation suites, checked and loaded.
    pub open: f64,
    /// Waiting for the loader's next batch.
    pub data_wait: f64,
    /// Training steps: forward, loss, backward, gradient exchange between ranks, optimiser.
    pub steps: f64,
    /// Embedding the training images to re-mine the hard images before an epoch.
    pub mining: f64,
    /// Evaluations (and linear probes).
    pub evaluation: f64,
    /// Writing checkpoints, deleting old ones (`keep_last`) and keeping the best.
    pub checkpoints: f64,
    /// The run's last files: plots and the final model.
    pub finish: f64,
    /// The whole session, from opening the run to its last file.
    pub total: f64,
}

/// Runs `work`, adding its wall time to `stage` (a field of a [`StageTimes`]).
pub fn timed<T>(stage: &mut f64, work: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = work();
    *stage += started.elapsed().as_secs_f64();
    out
}

impl StageTimes {
    /// The stages with their names, in the order a run meets them.
    pub fn stages(&self) -> [(&'static str, f64); 7] {
        [
            ("open", self.open),
            ("data_wait", self.data_wait),
            ("steps", self.steps),
            ("mining", self.mining),
            ("evaluation", self.evaluation),
            ("checkpoints", self.checkpoints),
            ("finish", self.finish),
        ]
    }

    /// One line for the console: each stage's seconds and share of the total.
    pub fn summary(&self) -> String {
        let total = self.total.max(1e-9);
        let parts: Vec<String> = self
            .stages()
            .iter()
            .filter(|(_, seconds)| *seconds > 0.0)
            .map(|(name, seconds)| {
                format!("{name} {seconds:.1} s ({:.0} %)", seconds / total * 100.0)
            })
            .collect();
        format!("time: {:.1} s in all: {}", self.total, parts.join(", "))
    }
}

/// The process's peak resident memory so far, in bytes (Linux's `VmHWM`; `None` elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_work_adds_to_its_stage_and_the_summary_names_it() {
        let mut times = StageTimes::default();
        let out = timed(&mut times.steps, || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            7
        });
        assert_eq!(out, 7);
        assert!(times.steps >= 0.02 && times.data_wait == 0.0, "{times:?}");
        times.total = times.steps * 2.0;
        let line = times.summary();
        assert!(line.contains("steps") && line.contains("(50 %)"), "{line}");
        assert!(
            !line.contains("mining"),
            "stages that took no time are left out: {line}"
        );
    }

    #[test]
    fn peak_memory_is_read_where_linux_reports_it() {
        if cfg!(target_os = "linux") {
            let bytes = peak_rss_bytes().expect("VmHWM in /proc/self/status");
            assert!(bytes > 1 << 20, "{bytes}");
        }
    }
}
