//! Writes synthetic scenes to disk in the ARO file formats, so the ARO loaders
//! (and the original Python evaluation code) read them unchanged:
//!
//! ```text
//! DIR/images/<split>_<index>.png
//! DIR/visual_genome_relation.json     VG-Relation rows (one per two-object scene)
//! DIR/visual_genome_attribution.json  VG-Attribution rows (one per two-object scene)
//! DIR/dataset_synth.json              Karpathy-style captions (every image)
//! ```
//!
//! Every file is written to a temporary name and renamed, so a crash never leaves a
//! half-written file under the final name.

use std::io::Cursor;
use std::path::Path;

use serde_json::{json, Value};

use super::caption::{self, Phrasing};
use super::render::render;
use super::scene::{rng_for, scene, Scene, Split, WorldConfig};
use super::SynthError;

/// Writes scenes `0..n` of `split` under `dir` (created if missing).
pub fn write_suite_dir(
    dir: &Path,
    split: Split,
    cfg: &WorldConfig,
    n: usize,
    seed: u64,
) -> Result<(), SynthError> {
    cfg.validate()?;
    let images_dir = dir.join("images");
    std::fs::create_dir_all(&images_dir).map_err(|source| SynthError::Io {
        path: images_dir.clone(),
        source,
    })?;
    let (mut relation_rows, mut attribution_rows, mut karpathy) = (vec![], vec![], vec![]);
    for index in 0..n as u64 {
        let s = scene(split, index, cfg, seed);
        let id = format!("{}_{index:06}", split.name());
        let filename = format!("{id}.png");
        write_png(
            &images_dir.join(&filename),
            &render(&s, cfg.image_size, cfg.noise_amplitude),
        )?;
        let bbox = cfg.image_size;
        relation_rows.extend(relation_row(&s, &id, &filename, bbox));
        attribution_rows.extend(attribution_row(&s, &id, &filename, bbox));
        let raw = caption::caption(&s, &mut rng_for(seed, split, index, 1));
        karpathy.push(karpathy_image(index, &filename, split, &raw));
    }
    write_json(
        &dir.join("visual_genome_relation.json"),
        &Value::Array(relation_rows),
    )?;
    write_json(
        &dir.join("visual_genome_attribution.json"),
        &Value::Array(attribution_rows),
    )?;
    write_json(
        &dir.join("dataset_synth.json"),
        &json!({ "dataset": "synth", "images": karpathy }),
    )
}

/// A VG-Relation row: "the <subject> is <relation> the <object>" and the
/// argument-swapped false caption; the box is the whole image.
fn relation_row(s: &Scene, id: &str, filename: &str, side: u32) -> Option<Value> {
    let (a, rel, _) = s.relation?;
    let relation = caption::relation_words(rel, false);
    Some(json!({
        "image_id": id,
        "true_caption": caption::relation_caption(s, Phrasing::CANONICAL)?,
        "false_caption": caption::relation_swap(s, Phrasing::CANONICAL)?,
        "relation_info": { "object": format!("{id}_1"), "name": relation },
        "primary_object_id": format!("{id}_0"),
        "primary_object_name": caption::noun_phrase(&s.objects[a], false),
        "bbox_x": 0, "bbox_y": 0, "bbox_w": side, "bbox_h": side,
        "relation_name": relation,
        "image_path": filename,
    }))
}

/// A VG-Attribution row: "the red circle and the blue square" and the
/// colour-swapped false caption; `attributes` in the order the caption names them.
fn attribution_row(s: &Scene, id: &str, filename: &str, side: u32) -> Option<Value> {
    let (a, _, b) = s.relation?;
    let (truth, false_) = caption::attribution_pair(s)?;
    Some(json!({
        "image_id": id,
        "image_path": filename,
        "bbox_x": 0, "bbox_y": 0, "bbox_w": side, "bbox_h": side,
        "true_caption": truth,
        "false_caption": false_,
        "attributes": [s.objects[a].colour.name(), s.objects[b].colour.name()],
        "obj1_name": s.objects[a].shape.name(),
        "obj2_name": s.objects[b].shape.name(),
    }))
}

fn karpathy_image(index: u64, filename: &str, split: Split, raw: &str) -> Value {
    let tokens: Vec<&str> = raw.split(' ').collect();
    json!({
        "imgid": index,
        "filename": filename,
        "filepath": "images",
        "split": split.name(),
        "sentids": [index],
        "sentences": [{ "raw": raw, "tokens": tokens, "imgid": index, "sentid": index }],
    })
}

fn write_png(path: &Path, img: &image::RgbImage) -> Result<(), SynthError> {
    let mut bytes = Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|source| SynthError::Image {
            path: path.to_path_buf(),
            source,
        })?;
    write_atomic(path, bytes.get_ref())
}

fn write_json(path: &Path, value: &Value) -> Result<(), SynthError> {
    let bytes = serde_json::to_vec(value).map_err(|source| SynthError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, &bytes)
}

/// [`crate::atomic::write_atomic`], its error naming `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SynthError> {
    crate::atomic::write_atomic(path, bytes).map_err(|source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn writes_parseable_aro_files_with_the_schema_keys() {
        let dir = std::env::temp_dir().join(format!("negclip-synth-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = WorldConfig::default();
        write_suite_dir(&dir, Split::Test, &cfg, 20, 9).unwrap();

        let vgr = read(&dir.join("visual_genome_relation.json"));
        let rows = vgr.as_array().unwrap();
        assert!(rows.len() >= 10 && rows.len() <= 20, "{} rows", rows.len());
        for row in rows {
            for key in [
                "image_id",
                "image_path",
                "bbox_x",
                "bbox_y",
                "bbox_w",
                "bbox_h",
                "true_caption",
                "false_caption",
                "relation_name",
                "relation_info",
                "primary_object_id",
                "primary_object_name",
            ] {
                assert!(row.get(key).is_some(), "VG-R row lacks {key}: {row}");
            }
            assert_ne!(row["true_caption"], row["false_caption"]);
            assert!(row["true_caption"].as_str().unwrap().starts_with("the "));
            let img =
                image::open(dir.join("images").join(row["image_path"].as_str().unwrap())).unwrap();
            assert_eq!(img.width(), row["bbox_w"].as_u64().unwrap() as u32);
        }

        let vga = read(&dir.join("visual_genome_attribution.json"));
        for row in vga.as_array().unwrap() {
            for key in [
                "image_path",
                "bbox_x",
                "bbox_w",
                "true_caption",
                "false_caption",
            ] {
                assert!(row.get(key).is_some(), "VG-A row lacks {key}: {row}");
            }
            assert_eq!(row["attributes"].as_array().unwrap().len(), 2);
        }

        let karpathy = read(&dir.join("dataset_synth.json"));
        let images = karpathy["images"].as_array().unwrap();
        assert_eq!(images.len(), 20);
        assert_eq!(images[0]["filepath"], "images");
        assert_eq!(images[0]["split"], "test");
        assert!(images[0]["sentences"][0]["raw"].is_string());
        let pngs = std::fs::read_dir(dir.join("images")).unwrap().count();
        assert_eq!(pngs, 20, "no temporary files left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unwritable_directory_error_names_the_path() {
        let file = std::env::temp_dir().join(format!("negclip-synth-file-{}", std::process::id()));
        std::fs::write(&file, b"not a directory").unwrap();
        let err = write_suite_dir(&file, Split::Test, &WorldConfig::default(), 1, 0).unwrap_err();
        assert!(err.to_string().contains(file.to_str().unwrap()), "{err}");
        std::fs::remove_file(&file).unwrap();
    }
}
