//! The training crate's error type: every variant names the file, key or suite at fault and
//! keeps the error it wraps as its source.

use std::path::PathBuf;

use negclip_data::benchmarks::BenchmarkError;
use negclip_data::decode::ImageFileError;
use negclip_data::metrics::MetricsError;
use negclip_data::synth::SynthError;
use negclip_data::training::TrainingError;
use negclip_model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    /// Building or saving the model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Loading a model file (the model crate's errors do not all name the file).
    #[error("loading {path}")]
    LoadModel { path: PathBuf, source: ModelError },
    /// Reading training examples.
    #[error(transparent)]
    Data(#[from] TrainingError),
    /// Reading an evaluation image.
    #[error(transparent)]
    Image(#[from] ImageFileError),
    /// Loading a benchmark suite from its files.
    #[error(transparent)]
    Benchmark(#[from] BenchmarkError),
    /// Building a synthetic suite.
    #[error("suite {suite}")]
    Synthetic { suite: String, source: SynthError },
    /// Scoring a suite.
    #[error("suite {suite}")]
    Metrics { suite: String, source: MetricsError },
    #[error("the text tower has {vocab} tokens but CLIP's tokenizer produces ids up to {max_id}: this checkpoint cannot read tokenized captions")]
    VocabularyTooSmall { vocab: usize, max_id: u32 },
    #[error("{samples} samples make no full batch of {batch_size}")]
    NoFullBatch { samples: usize, batch_size: usize },
    /// Drawing a plot (plotters reports its errors as text).
    #[error("drawing {path}: {message}")]
    Draw { path: PathBuf, message: String },
    #[error("{path}: encoding PNG")]
    Plot {
        path: PathBuf,
        source: image::ImageError,
    },
    /// A multi-rank run cannot go on (a rank hangs, the ranks diverged, a bad launch).
    #[error("distributed run: {message}")]
    Distributed { message: String },
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    /// Checked before a checkpoint is written, so that a full disk never tears one.
    #[error(
        "not enough disk space for a checkpoint in {}: it needs about {needed} bytes and \
         {free} are free (free some space, or set [checkpoint] keep_last)",
        dir.display()
    )]
    DiskFull {
        dir: PathBuf,
        needed: u64,
        free: u64,
    },
}
