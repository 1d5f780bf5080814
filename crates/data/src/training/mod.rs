//! Training sources: where the trainer's examples come from.
//!
//! A source answers three questions, and the trainer asks nothing else:
//! - how many samples an epoch has ([`TrainingSource::len`]);
//! - what the example at a reference is ([`TrainingSource::example`]): an image, its caption
//!   and any hard captions stored with it;
//! - how hard-negative images are found ([`TrainingSource::hard_images`]): none, mined by the
//!   trainer from image embeddings, or given lists (a table's neighbours, the synthetic
//!   world's partners or counterfactual twins).
//!
//! Two sources exist: [`SyntheticStream`] (scenes from the synthetic world) and
//! [`TrainingTable`] (a table written by `negclip negatives`, or NegCLIP's TSV). Each is
//! configured by its own variant of [`SourceConfig`], the `[data]` section of a run file, so a
//! key that belongs to the other source is a parse error. A new source is a new variant, a
//! config struct and an implementation of the trait (see docs/architecture.md).

mod synthetic;
mod table;

use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::picture::Picture;
use crate::synth::WorldConfig;

pub use synthetic::{SyntheticConfig, SyntheticHardImages, SyntheticStream};
pub use table::{TableConfig, TableHardImages, TrainingTable};

/// One training example, ready for preprocessing.
#[derive(Debug, Clone)]
pub struct Example {
    /// In the mode it was read in: training converts it to RGB after the crop, as NegCLIP's
    /// loader does (`crate::picture`).
    pub image: Picture,
    pub caption: String,
    /// Hard captions stored with the example (tables); empty where the source has none.
    pub negatives: Vec<String>,
}

/// Which example: one of the source's samples, or the counterfactual twin of one (a scene of
/// the synthetic world drawn afresh with the related objects exchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExampleRef {
    Sample(usize),
    Twin(usize),
}

impl ExampleRef {
    /// The number that keys this example's random draws (augmentation, hard captions) in a
    /// source of `len` samples: samples by their index, twins after them (`len + i`), so a
    /// twin never shares a stream with a sample.
    pub fn draw_index(self, len: usize) -> usize {
        match self {
            ExampleRef::Sample(i) => i,
            ExampleRef::Twin(i) => len + i,
        }
    }
}

/// How a source's hard-negative images are found.
#[derive(Debug, Clone, PartialEq)]
pub enum HardImages {
    /// No hard images: the batch holds the anchors only.
    None,
    /// The `k` nearest samples by image embedding, mined by the trainer with the model being
    /// trained, before every epoch (NegCLIP's choice).
    Mine { k: NonZeroUsize },
    /// For each sample, the examples one hard image is drawn from (never empty).
    Given(Vec<Vec<ExampleRef>>),
}

/// A source of training examples. Implementations are cheap to query from many threads: the
/// batch builder asks for the examples of a batch in parallel.
pub trait TrainingSource: Send + Sync {
    /// Samples per epoch.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The example at `at` (a sample index below [`TrainingSource::len`], or a twin where the
    /// source makes them).
    fn example(&self, at: ExampleRef) -> Result<Example, TrainingError>;

    /// How hard-negative images are found for this source.
    fn hard_images(&self) -> &HardImages;
}

/// The `[data]` section of a run file: which source, and that source's own options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum SourceConfig {
    /// Scenes streamed from the synthetic world generator.
    Synthetic(SyntheticConfig),
    /// A table written by `negclip negatives` (JSONL) or NegCLIP's TSV.
    Table(TableConfig),
}

impl SourceConfig {
    /// Open the source: read and check a table, or list the synthetic scenes.
    pub fn open(&self) -> Result<Box<dyn TrainingSource>, TrainingError> {
        Ok(match self {
            SourceConfig::Synthetic(config) => Box::new(SyntheticStream::new(config)?),
            SourceConfig::Table(config) => Box::new(TrainingTable::open(config)?),
        })
    }

    /// The synthetic world the run's synthetic evaluation suites are drawn from: the training
    /// world where the run trains on it, else the default world.
    pub fn world(&self) -> (WorldConfig, u64) {
        match self {
            SourceConfig::Synthetic(config) => (config.world.clone(), config.world_seed),
            SourceConfig::Table(_) => (WorldConfig::default(), 0),
        }
    }

    /// Whether examples carry stored hard captions (tables do).
    pub fn stores_negatives(&self) -> bool {
        matches!(self, SourceConfig::Table(_))
    }
}

/// Errors of the training sources; each names the file and row or the option at fault.
#[derive(Debug, thiserror::Error)]
pub enum TrainingError {
    #[error(transparent)]
    Table(#[from] crate::tables::TableError),
    #[error(transparent)]
    Image(#[from] crate::decode::ImageFileError),
    #[error(transparent)]
    World(#[from] crate::synth::SynthError),
    #[error("{path}: row {row} (counted from 0, as neg_image is): hard images from the table need neg_image indices in 0..{rows} (got {got:?}); or set data.hard_images = {{ nearest = K }} to mine them")]
    BadNeighbours {
        path: PathBuf,
        row: usize,
        rows: usize,
        got: Vec<usize>,
    },
    #[error("{0}")]
    NoTwins(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_draw_after_the_samples() {
        assert_eq!(ExampleRef::Sample(3).draw_index(10), 3);
        assert_eq!(ExampleRef::Twin(3).draw_index(10), 13);
    }
}
