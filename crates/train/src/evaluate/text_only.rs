//! The text-only test of group suites (SugarCrepe++'s TOT): the items that have one
//! ([`negclip_data::metrics::text_only`]) get their captions' text embeddings compared with
//! each other, no image involved, and the suite's result gains `text_only_score`.

use negclip_data::metrics::text_only::{has_text_only_test, score_text_only, TextOnlyReport};
use negclip_data::suite::GroupSuite;
use negclip_data::tokenizer::ClipTokenizer;

use super::{dot, embed_texts, metrics_error, progress_bar, Embedder, EvalOptions, SuiteResult};
use crate::error::TrainError;

/// The cosine of every caption of every item with each other caption of the item,
/// `[item][caption][caption]`, for the items with a text-only test (`None` for the others).
/// Public so that tests can compare the cosines themselves with a reference implementation.
pub fn text_only_cosines(
    embedder: &dyn Embedder,
    tokenizer: &ClipTokenizer,
    suite: &GroupSuite,
    options: &EvalOptions,
) -> Result<Vec<Option<Vec<Vec<f32>>>>, TrainError> {
    let tested: Vec<bool> = suite.items.iter().map(has_text_only_test).collect();
    let texts: Vec<&str> = suite
        .items
        .iter()
        .zip(&tested)
        .filter(|(_, &tested)| tested)
        .flat_map(|(item, _)| item.captions.iter().map(String::as_str))
        .collect();
    let progress = progress_bar(
        &format!("{} (text only)", suite.name),
        options.show_progress,
    );
    let index = embed_texts(embedder, tokenizer, &texts, options, &progress)?;
    progress.finish_and_clear();
    Ok(suite
        .items
        .iter()
        .zip(&tested)
        .map(|(item, &tested)| {
            tested.then(|| {
                let embeddings: Vec<Vec<f32>> =
                    item.captions.iter().map(|c| index.embedding(c)).collect();
                embeddings
                    .iter()
                    .map(|a| embeddings.iter().map(|b| dot(a, b)).collect())
                    .collect()
            })
        })
        .collect())
}

/// The suite's text-only report, `None` when no item has the test (encodes nothing then).
pub fn text_only_report(
    embedder: &dyn Embedder,
    tokenizer: &ClipTokenizer,
    suite: &GroupSuite,
    options: &EvalOptions,
) -> Result<Option<TextOnlyReport>, TrainError> {
    if !suite.items.iter().any(has_text_only_test) {
        return Ok(None);
    }
    let cosines = text_only_cosines(embedder, tokenizer, suite, options)?;
    let report = score_text_only(suite, &cosines).map_err(metrics_error(&suite.name))?;
    Ok(Some(report))
}

/// Adds `text_only_score` to a group suite's result when its items have the test.
pub(super) fn add_text_only(
    embedder: &dyn Embedder,
    tokenizer: &ClipTokenizer,
    suite: &GroupSuite,
    options: &EvalOptions,
    result: &mut SuiteResult,
) -> Result<(), TrainError> {
    let score = text_only_report(embedder, tokenizer, suite, options)?.and_then(|r| r.score);
    if let Some(score) = score {
        result.metrics.insert("text_only_score".to_string(), score);
    }
    Ok(())
}
