//! negclip's CLIP_benchmark-shaped files against files CLIP_benchmark itself wrote
//! (`scripts/clip_benchmark_dump.py` runs `clip_benchmark eval`'s `run` on a tiny model and
//! dumps, besides its result files, the similarities behind them in
//! `tests/fixtures/clip_benchmark/similarities.json`). negclip scores the same similarities
//! with its own metrics and writes its file: same file name, same keys, same task, and every
//! metric CLIP_benchmark wrote is there with its value (within f32 rounding: CLIP_benchmark
//! averages in float32).

use std::collections::BTreeMap;
use std::sync::Arc;

use negclip_data::suite::{
    Averaging, ChoiceItem, ChoiceSuite, ClassificationSuite, Decision, ImageSource, RetrievalSuite,
};
use negclip_train::clip_benchmark::ClipBenchmarkResult;
use negclip_train::evaluate::{
    choice_result, classification_result, retrieval_result, ClassificationCosines, SuiteResult,
};
use negclip_train::sampling::Sampling;
use serde_json::Value;

mod common;
use common::{read_json, repo};

const CHECKPOINT: &str = "runs/a/final.safetensors";

fn blank_images(n: usize) -> Vec<ImageSource> {
    (0..n)
        .map(|_| ImageSource::Memory(Arc::new(image::RgbImage::new(1, 1))))
        .collect()
}

fn rows<T: serde::de::DeserializeOwned>(value: &Value) -> Vec<Vec<T>> {
    serde_json::from_value(value.clone()).expect("a matrix")
}

/// negclip's file for `result` against CLIP_benchmark's `name` in the fixture.
fn assert_same_shape(result: &SuiteResult, name: &str) {
    let theirs = read_json(&repo(&format!("tests/fixtures/clip_benchmark/{name}")));
    let ours = ClipBenchmarkResult::new(result, CHECKPOINT, "ViT-B-32", Sampling::default());
    assert_eq!(ours.file_name(), name, "CLIP_benchmark's file name");
    let ours: Value = serde_json::from_str(&ours.to_json()).unwrap();
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&ours), keys(&theirs), "top-level keys");
    for key in ["dataset", "model", "pretrained", "task", "language"] {
        assert_eq!(ours[key], theirs[key], "{key}");
    }
    for (metric, value) in theirs["metrics"].as_object().unwrap() {
        let mine = ours["metrics"][metric]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}: negclip lacks metric {metric}: {ours}"));
        let expected = value.as_f64().unwrap();
        assert!(
            (mine - expected).abs() < 1e-6,
            "{name}: {metric} {mine} against CLIP_benchmark's {expected}"
        );
    }
}

#[test]
fn files_match_the_ones_clip_benchmark_writes() {
    let scores = read_json(&repo("tests/fixtures/clip_benchmark/similarities.json"));

    let choice: Vec<Vec<f32>> = rows(&scores["sugar_crepe/add_att"]);
    let suite = ChoiceSuite {
        name: "sugarcrepe/add_att".into(),
        images: blank_images(choice.len()),
        items: (0..choice.len())
            .map(|i| ChoiceItem {
                image: i,
                options: vec![format!("true {i}"), format!("false {i}")],
                true_index: 0,
                group: "add_att".into(),
            })
            .collect(),
        decision: Decision::StrictlyHighest,
        averaging: Averaging::Micro,
    };
    assert_same_shape(
        &choice_result(&suite, &choice).unwrap(),
        "sugar_crepe_add_att_runs_a_final.safetensors_ViT-B-32_en_image_caption_selection.json",
    );

    let retrieval = &scores["mscoco_captions"];
    let similarity: Vec<Vec<f32>> = rows(&retrieval["similarity"]);
    let caption_image: Vec<usize> =
        serde_json::from_value(retrieval["caption_image"].clone()).unwrap();
    let suite = RetrievalSuite {
        name: "coco-retrieval".into(),
        images: blank_images(similarity.len()),
        captions: (0..caption_image.len())
            .map(|c| format!("caption {c}"))
            .collect(),
        caption_image,
    };
    assert_same_shape(
        &retrieval_result(&suite, &similarity).unwrap(),
        "mscoco_captions_runs_a_final.safetensors_ViT-B-32_en_zeroshot_retrieval.json",
    );

    let classification = &scores["cifar10"];
    let cosines: Vec<Vec<f64>> = rows(&classification["cosines"]);
    let labels: Vec<usize> = serde_json::from_value(classification["labels"].clone()).unwrap();
    let suite = ClassificationSuite {
        name: "cifar10".into(),
        images: blank_images(cosines.len()),
        labels,
        classes: ["cat", "dog", "bird", "horse", "fish"]
            .map(String::from)
            .to_vec(),
        templates: vec!["a photo of a {}.".into()],
        compositions: None,
        ood: Vec::new(),
        calibration_seed: 1,
    };
    let cosines = ClassificationCosines {
        images: cosines,
        ood: Vec::new(),
    };
    assert_same_shape(
        &classification_result(&suite, &cosines, 100.0).unwrap(),
        "cifar10_runs_a_final.safetensors_ViT-B-32_en_zeroshot_classification.json",
    );
}

#[test]
fn every_file_states_the_seed_and_item_count() {
    let result = SuiteResult {
        suite: "vg-relation".into(),
        metrics: BTreeMap::from([("accuracy".to_string(), 0.5)]),
        report: negclip_train::evaluate::Report::None,
    };
    let file = ClipBenchmarkResult::new(
        &result,
        CHECKPOINT,
        "custom",
        Sampling {
            seed: 7,
            items: 300,
        },
    );
    assert_eq!(
        file.dataset, "vg-relation",
        "negclip's name where CLIP_benchmark has none"
    );
    assert_eq!((file.metrics["seed"], file.metrics["items"]), (7.0, 300.0));
}
