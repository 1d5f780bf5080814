//! A full disk, for real: docs/config.md (`[checkpoint]`) promises that "before each
//! checkpoint the free space of the checkpoints folder is checked against the checkpoint's
//! size: when it does not fit, the run stops with an error naming the folder, the bytes needed
//! and the bytes free, and the newest complete checkpoint stays current for `--resume`".
//!
//! The run's checkpoints folder is a small tmpfs, mounted in a private mount namespace
//! (`unshare -m`, so nothing leaks to the machine and it vanishes with the script): room for
//! one checkpoint and a half. The first step checkpoint fits, the second is refused; the test
//! copies the folder out as the full disk left it, makes room (`mount -o remount`), resumes,
//! and the resumed run must end with the weights of the same run on an ordinary disk, bit for
//! bit. Needs root and `unshare`; elsewhere it says it is skipped and passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;
use common::{final_tensors, latest_step, workspace};

// 6 steps an epoch, 1 epoch: step checkpoints at 2 and 4, then `epoch-001`.
const CONFIG: &str = r#"
seed = 3
[model]
preset = "tiny"
[data]
source = "synthetic"
samples_per_epoch = 96
[loss]
kind = "negclip"
[negatives]
source = "rewrite"
kinds = ["swap-attribute", "swap-relation", "shuffle-order"]
[optim]
lr = 1e-3
warmup_steps = 2
batch_size = 16
epochs = 1
[eval]
suites = ["Synth-Relation"]
items = 8
[checkpoint]
every_steps = 2
[log]
every_steps = 1
tensorboard = false
"#;

/// Inside a private mount namespace: train with the checkpoints folder on a tmpfs of `$5`
/// bytes, keep a copy of that folder and the tmpfs's block size, blocks and free blocks
/// (`stat -f`) as the first run left them, make room, and resume.
const SCRIPT: &str = r#"
set -u
negclip=$1 config=$2 output=$3 kept=$4 size=$5
mkdir -p "$output/checkpoints"
mount -t tmpfs -o "size=$size" tmpfs "$output/checkpoints" || exit 100
"$negclip" train --quiet --config "$config" --output "$output" > /dev/null 2> "$kept/first.stderr"
echo $? > "$kept/first.status"
stat -f -c '%S %b %a' "$output/checkpoints" > "$kept/statfs"
cp -a "$output/checkpoints" "$kept/checkpoints"
mount -o remount,size=1g "$output/checkpoints" || exit 101
"$negclip" train --quiet --resume "$output" > /dev/null 2> "$kept/resumed.stderr"
echo $? > "$kept/resumed.status"
"#;

/// Every run uses the same thread count, so that their floating point sums agree bit for bit.
fn negclip() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_negclip"));
    command
        .current_dir(workspace())
        .env("RAYON_NUM_THREADS", "2")
        .stdout(Stdio::null());
    command
}

/// Whether this machine lets the test mount a tmpfs in a private namespace (root, `unshare`);
/// when not, the reason.
fn tmpfs_unavailable() -> Option<String> {
    let probe = tempfile::tempdir().unwrap();
    let output = Command::new("unshare")
        .args(["-m", "mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs"])
        .arg(probe.path())
        .output();
    match output {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(String::from_utf8_lossy(&output.stderr).trim().to_string()),
        Err(error) => Some(format!("unshare: {error}")),
    }
}

/// What a run whose checkpoints folder sat on a small tmpfs left.
struct SmallDisk {
    /// The run's folder (on the ordinary disk; its checkpoints folder is empty afterwards).
    output: PathBuf,
    /// The checkpoints folder as the full disk left it, in `kept/checkpoints`.
    kept: PathBuf,
    first_status: i32,
    first_stderr: String,
    /// The tmpfs's free bytes after the first run.
    free_after: u64,
    /// The tmpfs's used bytes after the first run.
    used_after: u64,
    block_size: u64,
    resumed_status: i32,
    resumed_stderr: String,
}

/// Train with `config` into `dir/name`, its checkpoints folder on a tmpfs of `size` bytes;
/// then make room and resume.
fn train_on_small_disk(dir: &Path, config: &Path, name: &str, size: u64) -> SmallDisk {
    let (output, kept) = (dir.join(name), dir.join(format!("{name}-kept")));
    std::fs::create_dir_all(&kept).unwrap();
    let status = Command::new("unshare")
        .args(["-m", "sh", "-c", SCRIPT, "sh"])
        .arg(env!("CARGO_BIN_EXE_negclip"))
        .arg(config)
        .arg(&output)
        .arg(&kept)
        .arg(size.to_string())
        .current_dir(workspace())
        .env("RAYON_NUM_THREADS", "2")
        .env("RUST_BACKTRACE", "0") // negclip's error alone in a failure message
        .status()
        .expect("run unshare");
    assert!(status.success(), "the tmpfs script failed: {status}");
    let read = |file: &str| std::fs::read_to_string(kept.join(file)).unwrap();
    let number = |file: &str| read(file).trim().parse::<i32>().unwrap();
    let statfs: Vec<u64> = read("statfs")
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let [block_size, blocks, free_blocks] = statfs[..] else {
        panic!("stat -f wrote {statfs:?}")
    };
    SmallDisk {
        first_status: number("first.status"),
        first_stderr: read("first.stderr"),
        free_after: free_blocks * block_size,
        used_after: (blocks - free_blocks) * block_size,
        block_size,
        resumed_status: number("resumed.status"),
        resumed_stderr: read("resumed.stderr"),
        output,
        kept,
    }
}

/// The same run on the ordinary disk, left alone; returns its folder.
fn train_straight(dir: &Path, config: &Path) -> PathBuf {
    let output = dir.join("straight");
    let status = negclip()
        .args(["train", "--quiet", "--config"])
        .arg(config)
        .arg("--output")
        .arg(&output)
        .status()
        .unwrap();
    assert!(status.success(), "the run on the ordinary disk failed");
    output
}

/// Bytes of a checkpoint folder's files.
fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .sum()
}

/// The names in a checkpoints folder, sorted.
fn names(checkpoints: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(checkpoints)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The number after `before` in `text`.
fn number_after(text: &str, before: &str) -> u64 {
    let (_, rest) = text
        .split_once(before)
        .unwrap_or_else(|| panic!("no {before:?} in {text}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

fn setup() -> Option<(tempfile::TempDir, PathBuf)> {
    if let Some(reason) = tmpfs_unavailable() {
        eprintln!("skipped: needs root and unshare -m (tmpfs): {reason}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(&config, CONFIG).unwrap();
    Some((dir, config))
}

#[test]
fn a_checkpoint_that_does_not_fit_stops_the_run_and_the_previous_one_resumes() {
    let Some((dir, config)) = setup() else {
        return;
    };
    let straight = train_straight(dir.path(), &config);
    let checkpoint = folder_bytes(&straight.join("checkpoints/step-0000002"));
    let run = train_on_small_disk(dir.path(), &config, "full", checkpoint * 3 / 2);

    // The run stops at the second step checkpoint, saying where, how much and how little.
    let (stderr, checkpoints) = (&run.first_stderr, run.output.join("checkpoints"));
    assert_ne!(run.first_status, 0, "the run went on: {stderr}");
    assert!(
        stderr.contains("not enough disk space")
            && stderr.contains(&format!("in {}:", checkpoints.display())),
        "{stderr}"
    );
    let needed = number_after(stderr, "it needs about ");
    let free = number_after(stderr, " bytes and ");
    assert!(stderr.contains(&format!("{free} are free")), "{stderr}");
    assert_eq!(
        free, run.free_after,
        "the free bytes are the disk's: {stderr}"
    );
    assert!(needed > free, "{stderr}");
    let slack = checkpoint / 1000;
    assert!(
        needed.abs_diff(checkpoint) < slack,
        "needs {needed} bytes; a checkpoint is {checkpoint}"
    );

    // Nothing of the refused checkpoint was written; the first one is current and loads.
    let kept = run.kept.join("checkpoints");
    assert_eq!(names(&kept), ["latest", "step-0000002"]);
    assert_eq!(latest_step(&run.kept), Some(2));
    let info = negclip()
        .arg("info")
        .arg(kept.join("step-0000002/model.safetensors"))
        .status()
        .unwrap();
    assert!(info.success(), "the current checkpoint does not load");

    // With room made, --resume finishes the run as if the disk had never filled.
    assert_eq!(run.resumed_status, 0, "{}", run.resumed_stderr);
    let (expected, resumed) = (final_tensors(&straight), final_tensors(&run.output));
    assert!(!expected.is_empty());
    assert!(
        expected == resumed,
        "resumed weights differ from the run on an ordinary disk"
    );
}

/// At the margin: with exactly the bytes the check asks for free (rounded up to the file
/// system's block), the checkpoint must either be written whole or be refused by the check,
/// never fail halfway with the operating system's "No space left on device".
#[test]
fn with_exactly_the_bytes_asked_for_free_the_checkpoint_is_written_or_refused_never_torn() {
    let Some((dir, config)) = setup() else {
        return;
    };
    let straight = train_straight(dir.path(), &config);
    let checkpoint = folder_bytes(&straight.join("checkpoints/step-0000002"));
    let full = train_on_small_disk(dir.path(), &config, "full", checkpoint * 3 / 2);
    let needed = number_after(&full.first_stderr, "it needs about ");

    let block = full.block_size;
    let size = full.used_after + needed.div_ceil(block) * block;
    let run = train_on_small_disk(dir.path(), &config, "margin", size);
    let stderr = &run.first_stderr;
    assert_ne!(run.first_status, 0, "two more checkpoints cannot fit");
    assert!(
        stderr.contains("not enough disk space") && !stderr.contains("No space left"),
        "the checkpoint was torn rather than refused:\n{stderr}"
    );
    let kept = run.kept.join("checkpoints");
    let torn: Vec<String> = names(&kept)
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(torn.is_empty(), "a partial checkpoint is left: {torn:?}");
}
