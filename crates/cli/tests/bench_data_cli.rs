//! `negclip bench data` end to end on a tiny table of generated JPEGs, in both table formats
//! the trainer reads; a missing table or image fails with a message naming the file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use negclip_data::negatives::{Negative, NegativeKind};
use negclip_data::tables::{write_training_table, TrainingRow};

fn negclip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_negclip"))
        .args(args)
        .output()
        .expect("run negclip")
}

/// Six JPEGs of a few sizes (textured, so that the decoder has work) and a training table
/// over them named `name` (its extension picks the format).
fn table(dir: &Path, name: &str) -> PathBuf {
    let sizes = [(64, 48), (48, 64), (80, 53)];
    let rows: Vec<TrainingRow> = (0..6)
        .map(|i| {
            let (w, h) = sizes[i % sizes.len()];
            let image = image::RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([
                    (x * 7 + y * 3) as u8,
                    ((x ^ y) as u8).wrapping_mul(9),
                    (i * 40) as u8,
                ])
            });
            let file = format!("{i}.jpg");
            image.save(dir.join(&file)).expect("write a JPEG");
            TrainingRow {
                image: file,
                caption: format!("a red dog on a blue mat number {i}"),
                negatives: vec![Negative::new(
                    "a blue mat on a red dog",
                    NegativeKind::SwapRelation,
                )],
                neg_images: vec![],
            }
        })
        .collect();
    let path = dir.join(name);
    write_training_table(&path, &rows).expect("write the table");
    path
}

fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bench_data_reports_rates_and_stages_for_jsonl_and_tsv() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    for name in ["table.jsonl", "table.tsv"] {
        let table = table(dir.path(), name);
        let out = succeeded(&negclip(&[
            "bench",
            "data",
            "--table",
            table.to_str().unwrap(),
            "--image-root",
            root,
            "--workers",
            "2",
            "--size",
            "32",
            "--batch",
            "4",
            "--batches",
            "3",
            "--stage-images",
            "2",
        ]));
        for expected in [
            "6 rows",
            "loader: 2 thread(s)",
            "12 images in",
            "images/s per loader thread",
            "read + decode",
            "crop + resize",
            "normalise",
            "images/s per core",
            "load average",
        ] {
            assert!(out.contains(expected), "{name}: no {expected:?} in\n{out}");
        }
    }
    // The eval transform, hard captions by rewriting, the shared pool, the table's folder
    // as image root.
    let table = table(dir.path(), "again.jsonl");
    let out = succeeded(&negclip(&[
        "bench",
        "data",
        "--table",
        table.to_str().unwrap(),
        "--eval-transform",
        "--negatives",
        "rewrite",
        "--size",
        "24",
        "--batch",
        "3",
        "--batches",
        "1",
    ]));
    assert!(
        out.contains("resize + centre crop") && out.contains("hard captions: rewrite"),
        "{out}"
    );
    assert!(out.contains("rayon's global pool"), "{out}");
}

#[test]
fn a_missing_table_or_image_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.jsonl");
    let out = negclip(&["bench", "data", "--table", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere.jsonl"), "{err}");

    let table = table(dir.path(), "table.jsonl");
    std::fs::remove_file(dir.path().join("3.jpg")).unwrap();
    let out = negclip(&[
        "bench",
        "data",
        "--table",
        table.to_str().unwrap(),
        "--batch",
        "6",
        "--batches",
        "1",
        "--size",
        "32",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3.jpg"), "{err}");
}
