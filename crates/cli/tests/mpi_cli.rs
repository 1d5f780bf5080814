//! Multi-rank training under `mpirun`, in builds with `--features mpi` (`.ci/run` runs these
//! with Open MPI, two ranks oversubscribing the machine's cores):
//! - two ranks of 8 samples take the steps of one process of 16: the same losses, weights and
//!   evaluation numbers;
//! - a rank killed mid-epoch stops the other within a minute, naming it, and the run resumed
//!   on two ranks ends bit-identical to an uninterrupted one;
//! - a rank that hangs is named by rank 0 within `distributed.timeout_s`.
#![cfg(feature = "mpi")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

const CONFIG: &str = r#"
seed = 7
[model]
preset = "tiny"
[data]
source = "synthetic"
samples_per_epoch = 48
hard_images = "twins"
[loss]
kind = "negclip"
[negatives]
source = "rewrite"
kinds = ["swap-attribute", "swap-relation", "shuffle-order"]
[optim]
lr = 1e-3
warmup_steps = 1
batch_size = 16
epochs = 1
grad_clip_norm = 1.0
[eval]
suites = ["Synth-Relation"]
items = 24
batch_size = 8
[log]
every_steps = 1
[distributed]
check_every_steps = 1
"#;

fn negclip() -> &'static str {
    env!("CARGO_BIN_EXE_negclip")
}

/// `mpirun -np RANKS negclip ARGS`: oversubscribing (CI machines have 2 cores), allowed as
/// root (CI containers), one compute thread per rank.
fn mpirun(ranks: usize, args: &[&str]) -> Command {
    mpirun_with(ranks, &[], args)
}

/// [`mpirun`] with Open MPI parameters (`--mca NAME VALUE`).
fn mpirun_with(ranks: usize, mca: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new("mpirun");
    for (name, value) in mca {
        command.args(["--mca", name, value]);
    }
    command
        .args(["--oversubscribe", "-np", &ranks.to_string()])
        .args(["-x", "RAYON_NUM_THREADS=1"])
        .arg(negclip())
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1");
    command
}

fn one_process(args: &[&str]) -> Command {
    let mut command = Command::new(negclip());
    command.args(args).env("RAYON_NUM_THREADS", "1");
    command
}

/// Run to the end within `limit`, or fail the test.
fn finish(mut command: Command, limit: Duration) {
    let (mut child, stderr) = spawn(&mut command);
    let status = wait(&mut child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("{command:?} ran past {limit:?}:\n{}", stderr.text())
    });
    assert!(status.success(), "{command:?} failed:\n{}", stderr.text());
}

/// Start `command` with its stderr collected as it comes.
fn spawn(command: &mut Command) -> (Child, Stderr) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start (is Open MPI's mpirun installed?)");
    let stderr = collect(&mut child);
    (child, stderr)
}

fn wait(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// A child's stderr as it comes: all of it, and the pid each rank reports at start.
struct Stderr {
    text: Arc<Mutex<String>>,
    pids: Receiver<(usize, u32)>,
}

impl Stderr {
    fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    fn pid_of(&self, rank: usize) -> u32 {
        loop {
            let (got, pid) = self
                .pids
                .recv_timeout(Duration::from_secs(120))
                .expect("every rank reports its pid");
            if got == rank {
                return pid;
            }
        }
    }
}

fn collect(child: &mut Child) -> Stderr {
    let pipe = child.stderr.take().expect("stderr piped");
    let text = Arc::new(Mutex::new(String::new()));
    let (send, pids) = channel();
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            // "rank 1 of 2 (pid 1234, local rank 1): …"
            if let Some(rest) = line.strip_prefix("rank ") {
                let rank = rest.split_whitespace().next().and_then(|r| r.parse().ok());
                let pid = rest
                    .split_once("(pid ")
                    .and_then(|(_, p)| p.split(',').next()?.parse().ok());
                if let (Some(rank), Some(pid)) = (rank, pid) {
                    let _ = send.send((rank, pid));
                }
            }
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    Stderr { text, pids }
}

/// Start a two-rank run and wait until `checkpoint` is written; returns the run, its stderr
/// and rank 1's pid.
fn start_until(mut command: Command, checkpoint: &Path) -> (Child, Stderr, u32) {
    let (run, stderr) = spawn(&mut command);
    let rank_1 = stderr.pid_of(1);
    let started = Instant::now();
    while !checkpoint.exists() {
        let text = stderr.text();
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no checkpoint:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (run, stderr, rank_1)
}

fn records(output: &Path, kind: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(output.join("metrics.jsonl")).expect("metrics.jsonl");
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON record"))
        .filter(|record| record["kind"] == kind)
        .collect()
}

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("run.toml");
    std::fs::write(&path, format!("{CONFIG}{extra}")).unwrap();
    path
}

#[test]
fn mpi_two_ranks_take_the_steps_of_one_process() {
    two_ranks_take_the_steps_of_one_process(&[]);
}

/// Over TCP, the transport between nodes: Open MPI's ob1 layer with only the TCP and self
/// transports (no shared memory, no UCX), on the loopback interface.
#[test]
fn mpi_two_ranks_over_tcp_take_the_steps_of_one_process() {
    two_ranks_take_the_steps_of_one_process(&[
        ("pml", "ob1"),
        ("btl", "tcp,self"),
        ("btl_tcp_if_include", "lo"),
    ]);
}

fn two_ranks_take_the_steps_of_one_process(mca: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let config = config.to_str().unwrap();
    let (single, ranks) = (dir.path().join("single"), dir.path().join("ranks"));
    let limit = Duration::from_secs(300);
    let mut one = one_process(&["train", "--quiet", "--config", config, "--output"]);
    one.arg(&single);
    finish(one, limit);
    let mut two = mpirun_with(
        2,
        mca,
        &["train", "--quiet", "--config", config, "--output"],
    );
    two.arg(&ranks);
    finish(two, limit);

    // Three steps of 16 samples: the same loss at each, from 2 × 8.
    let (one, two) = (records(&single, "train"), records(&ranks, "train"));
    assert_eq!(one.len(), 3);
    assert_eq!(two.len(), 3);
    for (a, b) in one.iter().zip(&two) {
        assert_eq!(a["images"], b["images"], "the global batch: {a} / {b}");
        assert_eq!(a["hard_captions"], b["hard_captions"]);
        let (a, b) = (a["loss"].as_f64().unwrap(), b["loss"].as_f64().unwrap());
        assert!(
            (a - b).abs() < 1e-6,
            "loss {a} on one process, {b} on two ranks"
        );
    }
    // The same weights, within float reassociation.
    common::assert_same_weights_within_rounding(&single, &ranks);
    // Evaluation split over the ranks scores like one process.
    let (one, two) = (records(&single, "eval"), records(&ranks, "eval"));
    assert_eq!(one.len(), 2);
    let accuracy = |r: &Value| r["suites"][0]["metrics"]["accuracy"].as_f64().unwrap();
    assert_eq!(accuracy(&one[0]), accuracy(&two[0]), "before training");
    let (a, b) = (accuracy(&one[1]), accuracy(&two[1]));
    assert!(
        (a - b).abs() <= 1.0 / 24.0 + 1e-9,
        "after training: {a} / {b}"
    );
}

#[test]
fn mpi_a_killed_rank_stops_the_run_and_two_ranks_resume_it_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[checkpoint]\nevery_steps = 2\n";
    let config = write_config(dir.path(), extra);
    let config = config.to_str().unwrap();
    let limit = Duration::from_secs(300);
    let (straight, broken) = (dir.path().join("straight"), dir.path().join("broken"));
    let longer = ["--set", "optim.epochs=2"];
    let mut command = mpirun(2, &["train", "--quiet", "--config", config]);
    command.args(longer).arg("--output").arg(&straight);
    finish(command, limit);

    let mut command = mpirun(2, &["train", "--quiet", "--config", config]);
    command.args(longer).arg("--output").arg(&broken);
    let (mut run, stderr, victim) = start_until(command, &broken.join("checkpoints/step-0000002"));
    let killed = Instant::now();
    Command::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status()
        .unwrap();
    let status = wait(&mut run, Duration::from_secs(60)).unwrap_or_else(|| {
        let _ = run.kill();
        panic!("the run went on 60 s after rank 1 died:\n{}", stderr.text())
    });
    std::thread::sleep(Duration::from_millis(200)); // the last lines of stderr
    let text = stderr.text();
    assert!(
        !status.success(),
        "the run succeeded without rank 1:\n{text}"
    );
    // Open MPI's words: "mpirun noticed that process rank 1 with PID … exited on signal 9".
    assert!(
        text.contains("process rank 1 "),
        "rank 1 is not named:\n{text}"
    );
    eprintln!("stopped {:?} after rank 1 was killed", killed.elapsed());

    let mut resume = mpirun(2, &["train", "--quiet", "--resume"]);
    resume.arg(&broken);
    finish(resume, limit);
    assert_eq!(
        common::final_tensors(&broken),
        common::final_tensors(&straight)
    );
    let steps = |output: &Path| {
        records(output, "train")
            .iter()
            .map(|r| (r["step"].as_u64().unwrap(), r["loss"].as_f64().unwrap()))
            .collect::<Vec<_>>()
    };
    assert_eq!(steps(&broken), steps(&straight));
}

#[test]
fn mpi_a_hung_rank_is_named_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "timeout_s = 10\n[checkpoint]\nevery_steps = 1\n";
    let config = write_config(dir.path(), extra);
    let output = dir.path().join("run");
    let mut command = mpirun(2, &["train", "--quiet", "--config"]);
    command.arg(&config).arg("--output").arg(&output);
    let (mut run, stderr, victim) = start_until(command, &output.join("checkpoints/step-0000001"));
    let signal = |name: &str| {
        Command::new("kill")
            .args([name, &victim.to_string()])
            .status()
            .unwrap()
    };
    signal("-STOP");
    let status = wait(&mut run, Duration::from_secs(60));
    signal("-KILL");
    let status = status.unwrap_or_else(|| {
        let _ = run.kill();
        panic!("the run went on 60 s after rank 1 hung:\n{}", stderr.text())
    });
    std::thread::sleep(Duration::from_millis(200));
    let text = stderr.text();
    assert!(!status.success(), "{text}");
    assert!(
        text.contains("rank 1 did not reach"),
        "rank 0 does not name rank 1:\n{text}"
    );
}
