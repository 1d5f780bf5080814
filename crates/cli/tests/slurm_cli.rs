//! `scripts/slurm/negclip.sbatch` under a real Slurm, in builds with `--features mpi`.
//! `.ci/run` starts a one-node cluster on this machine (`scripts/slurm/local-cluster.sh`,
//! Debian's slurm-wlm with `MpiDefault=pmix`), exports its `SLURM_CONF` and runs these:
//! - the CPU form, two ranks, on the default job shortened with `--set`: the job ends
//!   COMPLETED, both ranks report, rank 0 alone announces and writes, and the final weights
//!   are one process's with the same global batch;
//! - a job cancelled after its first checkpoint and submitted again resumes (not restarts)
//!   and ends bit-identical to an uninterrupted job.
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

/// The default job, cut to three steps of 16 samples and one small evaluation.
const SHORT: &[&str] = &[
    "--set",
    "data.samples_per_epoch=48",
    "--set",
    "optim.batch_size=16",
    "--set",
    "optim.epochs=1",
    "--set",
    "optim.warmup_steps=1",
    "--set",
    "eval.suites=[\"Synth-Relation\"]",
    "--set",
    "eval.items=24",
];

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn negclip() -> &'static str {
    env!("CARGO_BIN_EXE_negclip")
}

/// `sbatch` of the launch script for two CPU ranks on this node; returns the job id.
fn submit(output: &Path, log_dir: &Path, extra: &[&str]) -> u64 {
    assert!(
        std::env::var_os("SLURM_CONF").is_some(),
        "no Slurm cluster: start one with `scripts/slurm/local-cluster.sh start DIR` and export \
         the SLURM_CONF it prints (.ci/run does)"
    );
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1"])
        .arg(format!("--output={}/%x-%j.out", log_dir.display()))
        .arg(format!("--chdir={}", workspace().display()))
        .arg("scripts/slurm/negclip.sbatch")
        .arg("configs/synthetic.toml")
        .arg(output)
        .arg("cpu")
        .args(SHORT)
        .args(extra)
        .env("NEGCLIP", negclip())
        .current_dir(workspace())
        .output()
        .expect("sbatch on PATH (Debian: slurm-wlm)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sbatch failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.trim()
        .split(';')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("sbatch printed no job id: {text}"))
}

/// The job's state as `scontrol` reports it (`PENDING`, `RUNNING`, `COMPLETED`, …).
fn state(job: u64) -> String {
    let out = Command::new("scontrol")
        .args(["show", "job", "-o", &job.to_string()])
        .output()
        .expect("scontrol");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|field| field.strip_prefix("JobState="))
        .unwrap_or_else(|| panic!("no JobState for job {job}: {text}"))
        .to_string()
}

/// Wait until the job has ended; its final state.
fn wait(job: u64, log: &Path) -> String {
    let started = Instant::now();
    loop {
        let now = state(job);
        if !matches!(
            now.as_str(),
            "PENDING" | "CONFIGURING" | "RUNNING" | "COMPLETING"
        ) {
            return now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "job {job} still {now} after 10 minutes:\n{}",
            read(log)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn log_of(log_dir: &Path, job: u64) -> PathBuf {
    log_dir.join(format!("negclip-{job}.out"))
}

/// Submit and wait for the job to complete; its log.
fn run_to_completion(output: &Path, log_dir: &Path, extra: &[&str]) -> String {
    let job = submit(output, log_dir, extra);
    let log = log_of(log_dir, job);
    let end = wait(job, &log);
    let text = read(&log);
    assert_eq!(end, "COMPLETED", "job {job}:\n{text}");
    text
}

#[test]
fn slurm_two_cpu_ranks_take_the_steps_of_one_process() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (single, ranks) = (dir.path().join("single"), dir.path().join("ranks"));
    let text = run_to_completion(&ranks, dir.path(), &[]);
    for rank in 0..2 {
        assert!(
            text.contains(&format!("rank {rank} of 2 ")),
            "rank {rank} did not report:\n{text}"
        );
    }
    // Rank 0 alone announces the run (and writes its folder); a rank that trained alone
    // would announce it again.
    assert_eq!(
        text.matches("negclip train: ").count(),
        1,
        "one announcement:\n{text}"
    );
    let status = Command::new(negclip())
        .args(["train", "--quiet", "--config", "configs/synthetic.toml"])
        .args(SHORT)
        .arg("--output")
        .arg(&single)
        .env("RAYON_NUM_THREADS", "1")
        .current_dir(workspace())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    common::assert_same_weights_within_rounding(&single, &ranks);
    eprintln!(
        "two ranks under Slurm and one process: {:?}",
        started.elapsed()
    );
}

#[test]
fn slurm_a_cancelled_job_submitted_again_resumes_and_ends_bit_identical() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let longer = [
        "--set",
        "optim.epochs=4",
        "--set",
        "checkpoint.every_steps=2",
    ];
    let straight = dir.path().join("straight");
    run_to_completion(&straight, dir.path(), &longer);

    let broken = dir.path().join("broken");
    let job = submit(&broken, dir.path(), &longer);
    let log = log_of(dir.path(), job);
    while common::latest_step(&broken).is_none() {
        let now = state(job);
        assert!(
            matches!(now.as_str(), "PENDING" | "CONFIGURING" | "RUNNING"),
            "job {job} {now} before its first checkpoint:\n{}",
            read(&log)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("scancel")
        .arg(job.to_string())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(wait(job, &log), "CANCELLED", "{}", read(&log));
    let at_cancel = common::latest_step(&broken).unwrap();
    assert!(
        at_cancel < 12,
        "the job had finished before it was cancelled"
    );

    let text = run_to_completion(&broken, dir.path(), &longer);
    assert!(
        text.contains("(resuming)"),
        "the second submission did not resume:\n{text}"
    );
    assert_eq!(
        common::final_tensors(&broken),
        common::final_tensors(&straight),
        "resumed from step {at_cancel}"
    );
    eprintln!(
        "cancelled at step {at_cancel}, resumed, bit-identical: {:?}",
        started.elapsed()
    );
}
