//! Scoring group suites (Winoground, Synth-Winoground, the generic JSONL format): every
//! image and caption encoded once, each item's image × caption cosines handed to
//! [`negclip_data::metrics::group`].

use std::collections::BTreeMap;

use negclip_data::metrics::group::{score_group, GroupReport, GroupScores};
use negclip_data::suite::GroupSuite;
use negclip_data::tokenizer::ClipTokenizer;

use super::{
    dot, embed_images, embed_texts, metrics_error, progress_bar, Embedder, EvalOptions, Report,
    SuiteResult,
};
use crate::error::TrainError;

/// The cosine of every image of every item with each of its captions,
/// `[item][image][caption]`: what the metrics score. Public so that tests can compare the
/// similarities themselves with a reference implementation.
pub fn group_similarities(
    embedder: &dyn Embedder,
    tokenizer: &ClipTokenizer,
    suite: &GroupSuite,
    options: &EvalOptions,
) -> Result<Vec<Vec<Vec<f32>>>, TrainError> {
    let progress = progress_bar(&suite.name, options.show_progress);
    let images = embed_images(embedder, &suite.images, options, &progress)?;
    let texts: Vec<&str> = suite
        .items
        .iter()
        .flat_map(|item| item.captions.iter().map(String::as_str))
        .collect();
    let text_index = embed_texts(embedder, tokenizer, &texts, options, &progress)?;
    let similarities = suite
        .items
        .iter()
        .map(|item| {
            let captions: Vec<Vec<f32>> = item
                .captions
                .iter()
                .map(|c| text_index.embedding(c))
                .collect();
            item.images
                .iter()
                .map(|&i| captions.iter().map(|c| dot(&images[i], c)).collect())
                .collect()
        })
        .collect();
    progress.finish_and_clear();
    Ok(similarities)
}

/// A group suite's result from its similarities ([`group_similarities`]).
pub(super) fn group_result(
    suite: &GroupSuite,
    similarities: &[Vec<Vec<f32>>],
) -> Result<SuiteResult, TrainError> {
    let report = score_group(suite, similarities).map_err(metrics_error(&suite.name))?;
    Ok(SuiteResult {
        suite: suite.name.clone(),
        metrics: group_metrics(&report),
        report: Report::Group(report),
    })
}

/// The flat metric names of a group report: `text_score`, `image_score`, `group_score`,
/// and per tag `group_score/collapsed_tag/Relation` … A score no item has a test for
/// (the image score of one-image items) is left out.
pub fn group_metrics(report: &GroupReport) -> BTreeMap<String, f64> {
    let mut metrics = BTreeMap::new();
    insert_scores(&mut metrics, "", &report.overall);
    for (axis, values) in &report.per_tag {
        for (value, scores) in values {
            insert_scores(&mut metrics, &format!("/{axis}/{value}"), scores);
        }
    }
    metrics
}

fn insert_scores(metrics: &mut BTreeMap<String, f64>, suffix: &str, scores: &GroupScores) {
    for (name, value) in [
        ("text_score", scores.text_score),
        ("image_score", scores.image_score),
        ("group_score", Some(scores.group_score)),
    ] {
        if let Some(value) = value {
            metrics.insert(format!("{name}{suffix}"), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use negclip_data::suite::{GroupItem, ImageSource, Suite, Tag};

    use super::*;
    use crate::engine::Engine;
    use crate::evaluate::evaluate_suite;

    /// Embeds an image by its mean red and green and a caption by its first word, "red" or
    /// anything else: a model that tells the two images of a pair apart.
    struct ColourEmbedder;

    impl Embedder for ColourEmbedder {
        fn image_size(&self) -> u32 {
            4
        }
        fn context_length(&self) -> usize {
            8
        }
        fn logit_scale(&self) -> f64 {
            10.0
        }
        fn embed_images(&self, pixels: Vec<f32>, n: usize) -> Vec<Vec<f32>> {
            pixels
                .chunks(pixels.len() / n)
                .map(|p| {
                    let plane = p.len() / 3;
                    let red: f32 = p[..plane].iter().map(|x| x + 2.0).sum();
                    let green: f32 = p[plane..2 * plane].iter().map(|x| x + 2.0).sum();
                    let norm = (red * red + green * green).sqrt();
                    vec![red / norm, green / norm]
                })
                .collect()
        }
        fn embed_texts(&self, tokens: Vec<u32>, n: usize) -> Vec<Vec<f32>> {
            let red = ClipTokenizer::new().encode("red")[0];
            tokens
                .chunks(tokens.len() / n)
                .map(|row| {
                    if row[1] == red {
                        vec![1.0, 0.0]
                    } else {
                        vec![0.0, 1.0]
                    }
                })
                .collect()
        }
    }

    fn solid(r: u8, g: u8) -> ImageSource {
        ImageSource::Memory(Arc::new(image::RgbImage::from_pixel(
            4,
            4,
            image::Rgb([r, g, 0]),
        )))
    }

    #[test]
    fn a_pair_is_scored_on_its_own_images_with_metrics_per_tag() {
        let item = |id: &str, images: Vec<usize>, value: &str| GroupItem {
            id: id.into(),
            images,
            captions: vec!["red square".into(), "green square".into()],
            truth: vec![vec![0], vec![1]],
            tags: vec![Tag {
                axis: "collapsed_tag".into(),
                value: value.into(),
            }],
        };
        let suite = GroupSuite {
            name: "pairs".into(),
            images: vec![solid(255, 0), solid(0, 255)],
            // The second item lists its images the other way round: every test fails.
            items: vec![
                item("0", vec![0, 1], "Object"),
                item("1", vec![1, 0], "Relation"),
            ],
        };
        let options = EvalOptions {
            batch_size: 1,
            show_progress: false,
            engine: Engine::single(),
        };
        let result = evaluate_suite(
            &ColourEmbedder,
            &ClipTokenizer::new(),
            &Suite::Group(suite),
            &options,
        )
        .unwrap();
        assert_eq!(result.metrics["group_score"], 0.5);
        assert_eq!(result.metrics["text_score"], 0.5);
        assert_eq!(result.metrics["image_score"], 0.5);
        assert_eq!(result.metrics["group_score/collapsed_tag/Object"], 1.0);
        assert_eq!(result.metrics["group_score/collapsed_tag/Relation"], 0.0);
        let Report::Group(report) = &result.report else {
            panic!("a group report");
        };
        assert!(report.outcomes[0].group && !report.outcomes[1].group);
    }
}
