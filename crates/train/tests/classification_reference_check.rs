//! The classification reference check: negclip's zero-shot classification, calibration, OOD
//! and composition metrics must equal those of `scripts/classification_reference.py`
//! (numpy / scikit-learn definitions) to 1e-6.
//!
//! - From the reference's own cosines (the fixture model's, and a synthetic table with ties
//!   and a temperature inside its range): the same predictions, the same calibration split and
//!   every metric within 1e-6. This checks the definitions alone.
//! - End to end: the tiny full-vocabulary CLIP on `tests/fixtures/classification` (an
//!   `ImageFolder`, three templates, a seen list and an OOD folder) gives the reference's
//!   cosines within 1e-5, its predictions, and its metrics within 1e-6.
//! - End to end on real formats: the trained `models/synthetic-tiny-clip.safetensors` on
//!   `tests/fixtures/classification-mixed` (4:2:0 JPEGs, progressive, CMYK; PNGs in modes
//!   RGBA, LA, P with tRNS, L and I;16), whose reference numbers were also reproduced by
//!   CLIP_benchmark + torchmetrics + scikit-learn on open_clip (`clients` in its
//!   expected.json): the same predictions, cosines within 1e-5, metrics within 1e-6.

use std::path::PathBuf;

use burn::tensor::Device;
use negclip_data::benchmarks::classification::{
    load_classification, ClassNames, ClassificationSpec, CompositionSpec, Templates,
};
use negclip_data::benchmarks::LoadOptions;
use negclip_data::metrics::classification::{
    in_fit_part, score_classification, ClassificationReport,
};
use negclip_data::suite::{ClassificationSuite, Compositions, ImageSource, Suite};
use negclip_data::tokenizer::ClipTokenizer;
use negclip_model::weights;
use negclip_train::evaluate::{classification_cosines, EvalOptions, ModelEmbedder};
use serde_json::Value;

mod common;
use common::{read_json, repo};

const METRIC_TOLERANCE: f64 = 1e-6;
const COSINE_TOLERANCE: f64 = 1e-5;

fn table(value: &Value) -> Vec<Vec<f64>> {
    serde_json::from_value(value.clone()).expect("a table of numbers")
}

fn strings(value: &Value) -> Vec<String> {
    serde_json::from_value(value.clone()).expect("a list of strings")
}

fn close(name: &str, ours: f64, want: &Value) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{name}: reference has no number"));
    assert!(
        (ours - want).abs() <= METRIC_TOLERANCE,
        "{name}: negclip {ours}, reference {want}"
    );
}

/// A suite with the reference's classes, labels, seen list and OOD count, and no pixels:
/// only the metrics are checked from it.
fn suite_from(reference: &Value) -> ClassificationSuite {
    let classes = strings(&reference["display_names"]);
    let seen = strings(&reference["seen"]);
    let labels: Vec<usize> = serde_json::from_value(reference["labels"].clone()).unwrap();
    let placeholder = || ImageSource::File {
        path: PathBuf::new(),
        crop: None,
    };
    let flags = classes.iter().map(|c| seen.contains(c)).collect();
    ClassificationSuite {
        name: "reference".into(),
        images: labels.iter().map(|_| placeholder()).collect(),
        labels,
        compositions: Some(Compositions::from_names(&classes, Some(flags)).unwrap()),
        classes,
        templates: vec!["{}".into()],
        ood: table(&reference["ood_cosines"])
            .iter()
            .map(|_| placeholder())
            .collect(),
        calibration_seed: 1,
    }
}

fn assert_matches(name: &str, ours: &ClassificationReport, want: &Value) {
    let predictions: Vec<usize> = serde_json::from_value(want["predictions"].clone()).unwrap();
    assert_eq!(ours.predictions, predictions, "{name}: predictions");
    close(&format!("{name} top1"), ours.top1, &want["top1"]);
    close(&format!("{name} top5"), ours.top5, &want["top5"]);
    assert_eq!(Some(ours.top5_k as u64), want["top5_k"].as_u64());
    close(
        &format!("{name} mean per-class recall"),
        ours.mean_per_class_recall,
        &want["mean_per_class_recall"],
    );
    let c = &ours.calibration;
    let wc = &want["calibration"];
    close(&format!("{name} ece"), c.ece, &want["ece"]);
    let counts: Vec<u64> = want["reliability"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    let ours_counts: Vec<u64> = c.bins.iter().map(|b| b.count as u64).collect();
    assert_eq!(ours_counts, counts, "{name}: reliability bin counts");
    let fit: Vec<bool> = serde_json::from_value(wc["fit"].clone()).unwrap();
    let ours_fit: Vec<bool> = (0..fit.len()).map(|i| in_fit_part(1, i)).collect();
    assert_eq!(ours_fit, fit, "{name}: calibration split");
    assert_eq!(Some(c.fit_items as u64), wc["n_fit"].as_u64());
    close(
        &format!("{name} temperature"),
        c.temperature,
        &wc["temperature"],
    );
    close(
        &format!("{name} ece before scaling"),
        c.ece_before_scaling,
        &wc["ece_before_scaling"],
    );
    close(
        &format!("{name} ece after scaling"),
        c.ece_after_scaling,
        &wc["ece_after_scaling"],
    );
    let ood = ours.ood.as_ref().expect("the reference has OOD images");
    for (score, detection) in [("msp", &ood.msp), ("mcm", &ood.mcm)] {
        let w = &want["ood"][score];
        close(
            &format!("{name} {score} auroc"),
            detection.auroc,
            &w["auroc"],
        );
        close(
            &format!("{name} {score} fpr95"),
            detection.fpr_at_95_tpr,
            &w["fpr95"],
        );
    }
    let parts = ours.compositions.as_ref().expect("compositions");
    let wp = &want["compositions"];
    close(
        &format!("{name} attribute accuracy"),
        parts.attribute_accuracy,
        &wp["attribute_accuracy"],
    );
    close(
        &format!("{name} object accuracy"),
        parts.object_accuracy,
        &wp["object_accuracy"],
    );
    close(
        &format!("{name} seen"),
        parts.seen_accuracy.unwrap(),
        &wp["seen_accuracy"],
    );
    close(
        &format!("{name} unseen"),
        parts.unseen_accuracy.unwrap(),
        &wp["unseen_accuracy"],
    );
}

#[test]
fn metrics_from_the_reference_cosines_match() {
    for file in ["expected.json", "synthetic_metrics.json"] {
        let reference = read_json(&repo(&format!("tests/fixtures/classification/{file}")));
        let suite = suite_from(&reference);
        let report = score_classification(
            &suite,
            &table(&reference["cosines"]),
            &table(&reference["ood_cosines"]),
            reference["logit_scale"].as_f64().unwrap(),
        )
        .unwrap();
        assert_matches(file, &report, &reference["metrics"]);
    }
}

/// Loads the ImageFolder fixture `fixture` (relative to the repository) as a classification
/// suite, scores it with the model at `model` and asserts the reference's predictions,
/// cosines within `COSINE_TOLERANCE` and metrics within `METRIC_TOLERANCE`. Returns the max
/// |cosine difference| per image (items, then OOD images, in the reference's order), the
/// reference and negclip's report.
fn end_to_end(fixture: &str, model: &str) -> (Vec<(String, f64)>, Value, ClassificationReport) {
    let fixture = repo(fixture);
    let reference = read_json(&fixture.join("expected.json"));
    let spec = ClassificationSpec {
        name: "fixture".into(),
        images: fixture.join("images"),
        names: ClassNames::Keys,
        templates: Templates::File(fixture.join("templates.txt")),
        compositions: Some(CompositionSpec {
            seen: Some(fixture.join("seen.txt")),
        }),
        ood: Some(fixture.join("ood")),
    };
    let options = LoadOptions {
        calibration_seed: 1,
        ..LoadOptions::default()
    };
    let Suite::Classification(suite) = load_classification(&spec, &options).unwrap().suite else {
        unreachable!("a classification loader");
    };
    assert_eq!(suite.classes, strings(&reference["display_names"]));
    assert_eq!(suite.templates, strings(&reference["templates"]));
    let device = Device::flex();
    let loaded =
        weights::load(&repo(model), &device).unwrap_or_else(|e| panic!("{model} loads: {e}"));
    let embedder = ModelEmbedder::new(&loaded.model, &loaded.config, &device).unwrap();
    let options = EvalOptions {
        batch_size: 16,
        show_progress: false,
        engine: negclip_train::engine::Engine::single(),
    };
    let cosines =
        classification_cosines(&embedder, &ClipTokenizer::new(), &suite, &options).unwrap();
    let mut per_image = Vec::new();
    for (ours, key, paths) in [
        (&cosines.images, "cosines", "images"),
        (&cosines.ood, "ood_cosines", "ood_images"),
    ] {
        let want = table(&reference[key]);
        let paths = strings(&reference[paths]);
        assert_eq!(ours.len(), want.len(), "{key}: rows");
        for ((row, want_row), path) in ours.iter().zip(&want).zip(paths) {
            assert_eq!(row.len(), want_row.len(), "{key}: columns");
            let diff = row
                .iter()
                .zip(want_row)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            per_image.push((path, diff));
        }
        let (path, diff) = per_image
            .iter()
            .fold(("", 0.0), |m, (p, d)| if *d > m.1 { (p, *d) } else { m });
        assert!(
            diff < COSINE_TOLERANCE,
            "{key}: max difference {diff:e} ({path})"
        );
    }
    let scale = negclip_train::evaluate::Embedder::logit_scale(&embedder);
    close("logit scale", scale, &reference["logit_scale"]);
    let report = score_classification(&suite, &cosines.images, &cosines.ood, scale).unwrap();
    assert_matches(model, &report, &reference["metrics"]);
    (per_image, reference, report)
}

#[test]
fn the_tiny_clip_matches_the_reference_end_to_end() {
    end_to_end(
        "tests/fixtures/classification",
        "tests/fixtures/model/open_clip_full_vocab",
    );
}

#[test]
fn real_format_images_match_the_reference_and_the_clients() {
    let fixture = "tests/fixtures/classification-mixed";
    let (per_image, reference, report) =
        end_to_end(fixture, "models/synthetic-tiny-clip.safetensors");
    // The reference's numbers are the clients' (CLIP_benchmark, torchmetrics, scikit-learn):
    // the generator asserted that, and the stored copy still says so.
    let clients = &reference["clients"];
    let metrics = &reference["metrics"];
    assert_eq!(
        clients["predictions"], metrics["predictions"],
        "CLIP_benchmark's predictions"
    );
    for (client, ours) in [
        (&clients["acc1"], &metrics["top1"]),
        (&clients["acc5"], &metrics["top5"]),
        (
            &clients["mean_per_class_recall"],
            &metrics["mean_per_class_recall"],
        ),
        (&clients["ece_torchmetrics"], &metrics["ece"]),
        (
            &clients["msp_auroc_sklearn"],
            &metrics["ood"]["msp"]["auroc"],
        ),
        (
            &clients["mcm_auroc_sklearn"],
            &metrics["ood"]["mcm"]["auroc"],
        ),
    ] {
        close("client", client.as_f64().expect("a client number"), ours);
    }
    // Every mode is covered, and how close each one came (for the reader: cargo test --
    // --nocapture).
    let manifest = read_json(&repo(&format!("{fixture}/manifest.json")));
    let mut by_kind: std::collections::BTreeMap<String, (usize, f64)> = Default::default();
    for entry in manifest.as_array().expect("a manifest list") {
        let path = entry["path"].as_str().unwrap();
        let kind = format!(
            "{} {} ({})",
            entry["format"].as_str().unwrap(),
            entry["mode"].as_str().unwrap(),
            entry["kind"].as_str().unwrap()
        );
        let diff = per_image
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("{path}: not scored"))
            .1;
        let slot = by_kind.entry(kind).or_default();
        slot.0 += 1;
        slot.1 = slot.1.max(diff);
    }
    assert_eq!(per_image.len(), manifest.as_array().unwrap().len());
    for kind in [
        "JPEG RGB",
        "JPEG CMYK",
        "PNG RGBA",
        "PNG LA",
        "PNG P",
        "PNG L",
        "PNG I;16",
    ] {
        assert!(
            by_kind.keys().any(|k| k.starts_with(kind)),
            "the fixture lacks {kind}"
        );
    }
    for (kind, (n, diff)) in &by_kind {
        eprintln!("{kind:32} {n:2} images, max |cosine diff| {diff:.2e}");
    }
    let ood = report.ood.as_ref().unwrap();
    let c = &report.calibration;
    let wc = &metrics["calibration"];
    for (name, ours, want) in [
        ("ece", c.ece, &metrics["ece"]),
        ("temperature", c.temperature, &wc["temperature"]),
        (
            "ece after scaling",
            c.ece_after_scaling,
            &wc["ece_after_scaling"],
        ),
        ("msp auroc", ood.msp.auroc, &metrics["ood"]["msp"]["auroc"]),
        ("mcm auroc", ood.mcm.auroc, &metrics["ood"]["mcm"]["auroc"]),
    ] {
        eprintln!(
            "{name:32} negclip {ours:.9} reference {:.9} |diff| {:.1e}",
            want.as_f64().unwrap(),
            (ours - want.as_f64().unwrap()).abs()
        );
    }
}
