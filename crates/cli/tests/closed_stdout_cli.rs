//! A reader that closes standard output early (`negclip info … | head -1`) ends every printing
//! command quietly with success, as Unix tools do, instead of a "Broken pipe" panic.

use std::process::{Command, Stdio};

const MODEL: &str = "models/synthetic-tiny-clip.safetensors";

/// Run `negclip ARGS` from the workspace root with its standard output closed before it
/// prints anything; its exit status and standard error.
fn with_stdout_closed(args: &[&str]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_negclip"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start negclip");
    drop(child.stdout.take()); // the reader is gone before the first line
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn printing_commands_end_quietly_when_the_reader_closes() {
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("synth");
    let commands: Vec<Vec<&str>> = vec![
        vec!["info", MODEL],
        vec!["tokenize", "a photo of a cat"],
        vec!["tagger", "tag", "a red circle left of a blue square"],
        vec!["devices"],
        vec!["synth", "--items", "4", "--output", synth.to_str().unwrap()],
        vec![
            "eval",
            "--checkpoint",
            MODEL,
            "--suite",
            "Synth-Relation",
            "--items",
            "8",
        ],
        vec!["--help"],
    ];
    for args in &commands {
        let (success, stderr) = with_stdout_closed(args);
        assert!(success, "negclip {args:?} failed:\n{stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "negclip {args:?}:\n{stderr}"
        );
    }
}
