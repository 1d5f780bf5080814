//! The 100 real rows of NegCLIP's validation table survive read → write
//! byte for byte, and read → JSONL → read unchanged.

use std::fs;
use std::path::{Path, PathBuf};

use negclip_data::negatives::NegativeKind;
use negclip_data::tables::{
    read_captions, read_negclip_tsv, read_training_table, write_negclip_tsv, write_training_table,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/negclip_valid.sample.tsv")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("negclip-roundtrip-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn reads_the_real_sample() {
    let rows = read_negclip_tsv(&fixture()).unwrap();
    assert_eq!(rows.len(), 100);
    assert_eq!(
        rows[0].caption,
        "A child holding a flowered umbrella and petting a yak."
    );
    assert_eq!(rows[0].image, "coco/val2014/COCO_val2014_000000184613.jpg");
    assert_eq!(
        rows[0].negatives[1].text,
        "A child petting a flowered umbrella and holding a yak ."
    );
    assert_eq!(rows[0].neg_images, [2973, 1515, 2235]);
    // Row 48: double-quoted Python item inside a CSV-quoted field.
    assert_eq!(
        rows[48].negatives[0].text,
        "A white motorcycle filled with truck on it 's flatbed ."
    );
    assert!(rows
        .iter()
        .all(|r| r.neg_images.len() == 3 && !r.negatives.is_empty()));
    assert!(rows
        .iter()
        .flat_map(|r| &r.negatives)
        .all(|n| n.kind == NegativeKind::External));
}

#[test]
fn writing_reproduces_the_pandas_file_byte_for_byte() {
    let rows = read_negclip_tsv(&fixture()).unwrap();
    let out = scratch("sample.tsv");
    write_negclip_tsv(&out, &rows).unwrap();
    assert_eq!(fs::read(&out).unwrap(), fs::read(fixture()).unwrap());
}

#[test]
fn tsv_to_jsonl_and_back() {
    let rows = read_training_table(&fixture()).unwrap();
    let jsonl = scratch("sample.jsonl");
    write_training_table(&jsonl, &rows).unwrap();
    assert_eq!(read_training_table(&jsonl).unwrap(), rows);
    let captions = read_captions(&fixture()).unwrap();
    assert_eq!(captions.len(), 100);
    assert_eq!(captions[3].neg_images, rows[3].neg_images);
}
