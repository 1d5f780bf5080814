//! Scoring a model on evaluation suites: each distinct image and each distinct caption is
//! encoded once, in batches, with image loading on background threads; the scores then go
//! to the data crate's metrics, which follow the reference's rules exactly.

use std::collections::{BTreeMap, HashMap};

use burn::tensor::{Device, Int, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use negclip_data::decode::load_image;
use negclip_data::metrics::classification::{score_classification, ClassificationReport};
use negclip_data::metrics::{score_choice, score_retrieval, MetricsError};
use negclip_data::preprocess::{crop, preprocess_rgb};
use negclip_data::suite::{ChoiceSuite, ClassificationSuite, ImageSource, RetrievalSuite, Suite};
use negclip_data::tokenizer::{ClipTokenizer, EOT};
use negclip_model::text::trim_to_longest_text;
use negclip_model::{Clip, ClipConfig};
use rayon::prelude::*;

use crate::engine::Engine;
use crate::error::TrainError;

mod aggregates;
mod group;
mod probe;
mod results;
mod scores;
mod text_only;

pub use aggregates::add_benchmark_means;
pub use group::{group_metrics, group_similarities};
pub use probe::{evaluate_linear_probe, probe_model, ProbeSets};
pub use results::{add_seed_means, Evaluations, Report, SuiteResult};
pub use scores::{ScoreRecord, SuiteScores};
pub use text_only::{text_only_cosines, text_only_report};

/// Anything that maps images and captions to L2-normalised embeddings.
///
/// The trainer's model implements it; tests use small hand-made embedders.
pub trait Embedder {
    /// Side of the square input images.
    fn image_size(&self) -> u32;
    /// Token context length of the text tower.
    fn context_length(&self) -> usize;
    /// The factor from cosine to logit, `exp` of the model's stored logit scale.
    fn logit_scale(&self) -> f64;
    /// `pixels`: `n` CHW images, CLIP-normalised. Returns `n` unit vectors.
    fn embed_images(&self, pixels: Vec<f32>, n: usize) -> Vec<Vec<f32>>;
    /// `tokens`: `n` rows of `context_length` ids. Returns `n` unit vectors.
    fn embed_texts(&self, tokens: Vec<u32>, n: usize) -> Vec<Vec<f32>>;
}

/// A model in inference mode on a device.
pub struct ModelEmbedder<'a> {
    model: &'a Clip,
    device: &'a Device,
    image_size: u32,
    context_length: usize,
}

impl<'a> ModelEmbedder<'a> {
    /// Checks that the model can read CLIP's tokens: a text tower with a smaller vocabulary
    /// (test fixtures, custom models) would index past its embedding table.
    pub fn new(
        model: &'a Clip,
        config: &ClipConfig,
        device: &'a Device,
    ) -> Result<Self, TrainError> {
        let needed = EOT as usize + 1;
        if config.text.vocab_size < needed {
            return Err(TrainError::VocabularyTooSmall {
                vocab: config.text.vocab_size,
                max_id: EOT,
            });
        }
        Ok(ModelEmbedder {
            model,
            device,
            image_size: config.vision.image_size as u32,
            context_length: config.text.context_length,
        })
    }
}

impl Embedder for ModelEmbedder<'_> {
    fn image_size(&self) -> u32 {
        self.image_size
    }

    fn context_length(&self) -> usize {
        self.context_length
    }

    fn logit_scale(&self) -> f64 {
        // exp in f64 of the stored f32 parameter, as the references compute it.
        let stored = self
            .model
            .logit_scale()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("a float parameter");
        f64::from(stored[0]).exp()
    }

    fn embed_images(&self, pixels: Vec<f32>, n: usize) -> Vec<Vec<f32>> {
        let s = self.image_size as usize;
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [n, 3, s, s]), self.device);
        rows(negclip_model::l2_normalize(self.model.encode_image(x)))
    }

    fn embed_texts(&self, tokens: Vec<u32>, n: usize) -> Vec<Vec<f32>> {
        let (tokens, length) = trim_to_longest_text(&tokens, n, self.context_length);
        let ids: Vec<i64> = tokens.into_iter().map(i64::from).collect();
        let x = Tensor::<2, Int>::from_data(TensorData::new(ids, [n, length]), self.device);
        rows(negclip_model::l2_normalize(self.model.encode_text(x)))
    }
}

fn rows(t: Tensor<2>) -> Vec<Vec<f32>> {
    let [_, d] = t.dims();
    let values: Vec<f32> = t
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("embeddings are float");
    values.chunks(d).map(<[f32]>::to_vec).collect()
}

/// Encoding settings shared by every suite of an evaluation.
pub struct EvalOptions {
    pub batch_size: usize,
    pub show_progress: bool,
    /// The ranks the encoding is split over: each encodes its share of the batches and all
    /// gather the embeddings, so every rank scores with the single-process numbers.
    pub engine: Engine,
}

/// Score `model` on every suite, in order, with the seed means of the order suites
/// ([`add_seed_means`]) and the benchmarks' subset means ([`add_benchmark_means`]) appended:
/// what the trainer records each epoch and `negclip eval` prints.
pub fn evaluate_model(
    model: &Clip,
    config: &ClipConfig,
    suites: &[Suite],
    options: &EvalOptions,
    device: &Device,
) -> Result<Vec<SuiteResult>, TrainError> {
    evaluate_model_with_scores(model, config, suites, options, device, &mut |_, _| Ok(()))
}

/// [`evaluate_model`], handing each suite's scores to `on_scores` as soon as the suite is
/// scored (`negclip eval --save-scores` writes them out, so they are not all held at once).
pub fn evaluate_model_with_scores(
    model: &Clip,
    config: &ClipConfig,
    suites: &[Suite],
    options: &EvalOptions,
    device: &Device,
    on_scores: &mut dyn FnMut(&Suite, &SuiteScores) -> Result<(), TrainError>,
) -> Result<Vec<SuiteResult>, TrainError> {
    let embedder = ModelEmbedder::new(model, config, device)?;
    let tokenizer = ClipTokenizer::new();
    let mut results = Vec::with_capacity(suites.len());
    for suite in suites {
        let (result, scores) = evaluate_suite_scored(&embedder, &tokenizer, suite, options)?;
        on_scores(suite, &scores)?;
        results.push(result);
    }
    Ok(add_benchmark_means(add_seed_means(results)))
}

/// Score one suite.
pub fn evaluate_suite(
    embedder: &dyn Embedder,
    tokenizer: &ClipTokenizer,
    suite: &Suite,
    options: &EvalOptions,
) -> Result<SuiteResult, TrainError> {
    evaluate_suite_scored(embedder, tokenizer, suite, options).map(|(result, _)| result)
}

/// Score one suite, and hand back every item's scores the metrics were computed from:
/// the images and captions are encoded once for both.
pub fn evaluate_suite_scored(
    embedder: &dyn Embedder,
    tokenizer: &ClipTokenizer,
    suite: &Suite,
    options: &EvalOptions,
) -> Result<(SuiteResult, SuiteScores), TrainError> {
    match suite {
        Suite::Choice(choice) => {
            let scores = choice_scores(embedder, tokenizer, choice, options)?;
            Ok((choice_result(choice, &scores)?, SuiteScores::Choice(scores)))
        }
        Suite::Retrieval(retrieval) => {
            let similarity = retrieval_similarity(embedder, tokenizer, retrieval, options)?;
            let result = retrieval_result(retrieval, &similarity)?;
            Ok((result, SuiteScores::Retrieval(similarity)))
        }
        Suite::Classification(classification) => {
            let cosines = classification_cosines(embedder, tokenizer, classification, options)?;
            let result = classification_result(classification, &cosines, embedder.logit_scale())?;
            Ok((result, SuiteScores::Classification(cosines)))
        }
        Suite::Group(group) => {
            let similarities = group_similarities(embedder, tokenizer, group, options)?;
            let mut result = group::group_result(group, &similarities)?;
            text_only::add_text_only(embedder, tokenizer, group, options, &mut result)?;
            Ok((result, SuiteScores::Group(similarities)))
        }
    }
}

/// The cosine score of every option of every item, `[item][option]`: what
/// [`evaluate_suite`] hands to the metrics. Public so that tests can compare the scores
/// themselves with a reference implementation.
pub fn choice_scores(
    embedder: &dyn Embedder,
    tokenizer: &ClipTokenizer,
    suite: &ChoiceSuite,
    options: &EvalOptions,
) -> Result<Vec<Vec<f32>>, TrainError> {
    let progress = progress_bar(&suite.name, options.show_progress);
    let images = embed_images(embedder, &suite.images, options, &progress)?;
    let texts: Vec<&str> = suite
        .items
        .iter()
        .flat_map(|item| item.options.iter().map(String::as_str))
        .collect();
    let text_index = embed_texts(embedder, tokenizer, &texts, options, &progress)?;
    let scores: Vec<Vec<f32>> = suite
        .items
        .iter()
        .map(|item| {
            let image = &images[item.image];
            item.options
                .iter()
                .map(|option| dot(image, &text_index.embedding(option)))
                .collect()
        })
        .collect();
    progress.finish_and_clear();
    Ok(scores)
}

/// A choice suite's result from its scores ([`choice_scores`]).
pub fn choice_result(suite: &ChoiceSuite, scores: &[Vec<f32>]) -> Result<SuiteResult, TrainError> {
    let report = score_choice(suite, scores).map_err(metrics_error(&suite.name))?;
    let mut metrics = BTreeMap::new();
    metrics.insert("accuracy".to_string(), report.accuracy);
    if let Some(value) = report.macro_accuracy {
        metrics.insert("macro_accuracy".to_string(), value);
    }
    // VG-Relation: the paper's macro both with and without dropping groups under 25 items.
    for (name, variant) in [
        ("macro_with_min_filter", &report.macro_with_min_filter),
        ("macro_without_min_filter", &report.macro_without_min_filter),
    ] {
        if let Some(accuracy) = variant.as_ref().and_then(|v| v.accuracy) {
            metrics.insert(name.to_string(), accuracy);
        }
    }
    Ok(SuiteResult {
        suite: suite.name.clone(),
        metrics,
        report: Report::Choice(report),
    })
}

/// The cosine similarity of every image with every caption, `[image][caption]`.
pub fn retrieval_similarity(
    embedder: &dyn Embedder,
    tokenizer: &ClipTokenizer,
    suite: &RetrievalSuite,
    options: &EvalOptions,
) -> Result<Vec<Vec<f32>>, TrainError> {
    let progress = progress_bar(&suite.name, options.show_progress);
    let images = embed_images(embedder, &suite.images, options, &progress)?;
    let captions: Vec<&str> = suite.captions.iter().map(String::as_str).collect();
    let texts = embed_texts(embedder, tokenizer, &captions, options, &progress)?;
    let caption_embeddings: Vec<Vec<f32>> = captions.iter().map(|c| texts.embedding(c)).collect();
    let similarity: Vec<Vec<f32>> = images
        .iter()
        .map(|image| caption_embeddings.iter().map(|t| dot(image, t)).collect())
        .collect();
    progress.finish_and_clear();
    Ok(similarity)
}

/// A retrieval suite's result from its similarity ([`retrieval_similarity`]).
pub fn retrieval_result(
    suite: &RetrievalSuite,
    similarity: &[Vec<f32>],
) -> Result<SuiteResult, TrainError> {
    let report =
        score_retrieval(suite, similarity, &[1, 5, 10]).map_err(metrics_error(&suite.name))?;
    let value = serde_json::to_value(&report).expect("reports serialise");
    let mut metrics = BTreeMap::new();
    flatten_numbers("", &value, &mut metrics);
    Ok(SuiteResult {
        suite: suite.name.clone(),
        metrics,
        report: Report::Retrieval(report),
    })
}

/// The cosine similarity of every image with every class, `[image][class]`, in f64.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationCosines {
    /// The suite's images.
    pub images: Vec<Vec<f64>>,
    /// Its out-of-distribution images.
    pub ood: Vec<Vec<f64>>,
}

/// Cosine similarities of a classification suite's images and of its OOD images with every
/// class: each class is embedded as the mean of its prompts' unit embeddings, normalised
/// again (CLIP's prompt ensemble).
pub fn classification_cosines(
    embedder: &dyn Embedder,
    tokenizer: &ClipTokenizer,
    suite: &ClassificationSuite,
    options: &EvalOptions,
) -> Result<ClassificationCosines, TrainError> {
    let progress = progress_bar(&suite.name, options.show_progress);
    let images = embed_images(embedder, &suite.images, options, &progress)?;
    let ood = embed_images(embedder, &suite.ood, options, &progress)?;
    let prompts: Vec<Vec<String>> = suite
        .classes
        .iter()
        .map(|class| {
            suite
                .templates
                .iter()
                .map(|t| t.replacen("{}", class, 1))
                .collect()
        })
        .collect();
    let flat: Vec<&str> = prompts.iter().flatten().map(String::as_str).collect();
    let texts = embed_texts(embedder, tokenizer, &flat, options, &progress)?;
    let classes: Vec<Vec<f64>> = prompts
        .iter()
        .map(|class_prompts| {
            let mut mean = vec![0f64; embedder_dim(&texts)];
            for prompt in class_prompts {
                for (m, x) in mean.iter_mut().zip(texts.embedding(prompt)) {
                    *m += f64::from(x);
                }
            }
            let norm = mean.iter().map(|x| x * x).sum::<f64>().sqrt();
            mean.into_iter().map(|x| x / norm).collect()
        })
        .collect();
    let cosines = |rows: &[Vec<f32>]| -> Vec<Vec<f64>> {
        rows.iter()
            .map(|image| {
                classes
                    .iter()
                    .map(|class| {
                        image
                            .iter()
                            .zip(class)
                            .map(|(&x, &c)| f64::from(x) * c)
                            .sum()
                    })
                    .collect()
            })
            .collect()
    };
    progress.finish_and_clear();
    Ok(ClassificationCosines {
        images: cosines(&images),
        ood: cosines(&ood),
    })
}

fn embedder_dim(texts: &TextIndex) -> usize {
    texts.embeddings.first().map_or(0, Vec::len)
}

/// A classification suite's result from its cosines ([`classification_cosines`]) and the
/// model's logit scale.
pub fn classification_result(
    suite: &ClassificationSuite,
    cosines: &ClassificationCosines,
    scale: f64,
) -> Result<SuiteResult, TrainError> {
    let report = score_classification(suite, &cosines.images, &cosines.ood, scale)
        .map_err(metrics_error(&suite.name))?;
    Ok(SuiteResult {
        suite: suite.name.clone(),
        metrics: classification_metrics(&report),
        report: Report::Classification(report),
    })
}

/// The flat metric names of a classification report (`metrics.jsonl`, tables, plots).
pub fn classification_metrics(report: &ClassificationReport) -> BTreeMap<String, f64> {
    let c = &report.calibration;
    let mut metrics = BTreeMap::from([
        ("top1".to_string(), report.top1),
        ("top5".to_string(), report.top5),
        (
            "mean_per_class_recall".to_string(),
            report.mean_per_class_recall,
        ),
        ("ece".to_string(), c.ece),
        ("ece_before_scaling".to_string(), c.ece_before_scaling),
        ("ece_after_scaling".to_string(), c.ece_after_scaling),
        ("temperature".to_string(), c.temperature),
    ]);
    if let Some(parts) = &report.compositions {
        metrics.insert("attribute_accuracy".into(), parts.attribute_accuracy);
        metrics.insert("object_accuracy".into(), parts.object_accuracy);
        for (name, value) in [
            ("seen_top1", parts.seen_accuracy),
            ("unseen_top1", parts.unseen_accuracy),
        ] {
            if let Some(value) = value {
                metrics.insert(name.into(), value);
            }
        }
    }
    if let Some(ood) = &report.ood {
        for (score, detection) in [("msp", &ood.msp), ("mcm", &ood.mcm)] {
            metrics.insert(format!("{score}_auroc"), detection.auroc);
            metrics.insert(format!("{score}_fpr95"), detection.fpr_at_95_tpr);
        }
    }
    metrics
}

/// Wraps a metrics error with the suite it came from.
fn metrics_error(suite: &str) -> impl FnOnce(MetricsError) -> TrainError + '_ {
    move |source| TrainError::Metrics {
        suite: suite.to_string(),
        source,
    }
}

/// Collect every number of a JSON report under `a/b/c` names.
fn flatten_numbers(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, f64>) {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.insert(prefix.to_string(), x);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}/{key}")
                };
                flatten_numbers(&name, inner, out);
            }
        }
        _ => {}
    }
}

fn progress_bar(name: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("  eval {prefix:<24} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    bar
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Decode, crop and preprocess images in parallel, then encode them in batches.
fn embed_images(
    embedder: &dyn Embedder,
    images: &[ImageSource],
    options: &EvalOptions,
    progress: &ProgressBar,
) -> Result<Vec<Vec<f32>>, TrainError> {
    let size = embedder.image_size();
    let chunks: Vec<&[ImageSource]> = images.chunks(options.batch_size.max(1)).collect();
    let mine = &chunks[options.engine.share(chunks.len())];
    progress.inc_length(mine.iter().map(|c| c.len() as u64).sum());
    progress.set_message("images");
    let mut out = Vec::with_capacity(images.len());
    for chunk in mine {
        let pixels: Vec<Vec<f32>> = chunk
            .par_iter()
            .map(|source| load_pixels(source, size))
            .collect::<Result<_, _>>()?;
        let n = pixels.len();
        out.extend(embedder.embed_images(pixels.concat(), n));
        progress.inc(n as u64);
    }
    options.engine.gather_vectors(out)
}

/// The eval transform of one image source. A file is converted to RGB as it is loaded, then
/// cropped: the benchmarks' reference loaders (torchvision's `ImageFolder`, CLIP_benchmark,
/// the ARO code) all open images with `Image.open(path).convert("RGB")`
/// (`negclip_data::picture` lists where each path converts).
pub fn load_pixels(source: &ImageSource, size: u32) -> Result<Vec<f32>, TrainError> {
    match source {
        ImageSource::Memory(image) => Ok(preprocess_rgb(image, size)),
        ImageSource::File { path, crop: area } => {
            let image = load_image(path)?.into_rgb();
            let image = match area {
                Some(area) => crop(&image, *area),
                None => image,
            };
            Ok(preprocess_rgb(&image, size))
        }
    }
}

/// Unique captions and their embeddings.
struct TextIndex {
    rows: HashMap<String, usize>,
    embeddings: Vec<Vec<f32>>,
}

impl TextIndex {
    fn embedding(&self, text: &str) -> Vec<f32> {
        self.embeddings[self.rows[text]].clone()
    }
}

fn embed_texts(
    embedder: &dyn Embedder,
    tokenizer: &ClipTokenizer,
    texts: &[&str],
    options: &EvalOptions,
    progress: &ProgressBar,
) -> Result<TextIndex, TrainError> {
    let mut rows = HashMap::new();
    let mut unique: Vec<&str> = Vec::new();
    for text in texts {
        rows.entry(text.to_string()).or_insert_with(|| {
            unique.push(text);
            unique.len() - 1
        });
    }
    let chunks: Vec<&[&str]> = unique.chunks(options.batch_size.max(1)).collect();
    let mine = &chunks[options.engine.share(chunks.len())];
    progress.inc_length(mine.iter().map(|c| c.len() as u64).sum());
    progress.set_message("captions");
    let context = embedder.context_length();
    let mut embeddings = Vec::with_capacity(unique.len());
    for chunk in mine {
        let tokens = tokenizer.tokenize_batch(chunk, context);
        embeddings.extend(embedder.embed_texts(tokens, chunk.len()));
        progress.inc(chunk.len() as u64);
    }
    let embeddings = options.engine.gather_vectors(embeddings)?;
    Ok(TextIndex { rows, embeddings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use negclip_data::suite::{Averaging, ChoiceItem, Decision};
    use std::sync::Arc;

    /// Embeds an image by its mean red and green intensity and a caption by whether it
    /// mentions "red" or "green" first: a model that reads word order.
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
                    let red: f32 = p[..plane].iter().sum();
                    let green: f32 = p[plane..2 * plane].iter().sum();
                    unit(vec![red, green])
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

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    fn solid(r: u8, g: u8) -> ImageSource {
        ImageSource::Memory(Arc::new(image::RgbImage::from_pixel(
            4,
            4,
            image::Rgb([r, g, 0]),
        )))
    }

    #[test]
    fn each_item_is_scored_against_its_own_image() {
        let suite = ChoiceSuite {
            name: "colours".into(),
            images: vec![solid(255, 0), solid(0, 255)],
            items: vec![
                ChoiceItem {
                    image: 0,
                    options: vec!["green square".into(), "red square".into()],
                    true_index: 1,
                    group: "a".into(),
                },
                ChoiceItem {
                    image: 1,
                    options: vec!["green square".into(), "red square".into()],
                    true_index: 1,
                    group: "a".into(),
                },
            ],
            decision: Decision::StrictlyHighest,
            averaging: Averaging::Micro,
        };
        let options = EvalOptions {
            batch_size: 1,
            show_progress: false,
            engine: Engine::single(),
        };
        let result = evaluate_suite(
            &ColourEmbedder,
            &ClipTokenizer::new(),
            &Suite::Choice(suite),
            &options,
        )
        .unwrap();
        assert_eq!(result.metrics["accuracy"], 0.5);
    }
}
