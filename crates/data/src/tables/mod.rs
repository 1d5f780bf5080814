//! Caption tables in and out: plain text, JSONL, CSV, COCO captions JSON, the
//! Karpathy split JSON and NegCLIP's TSV; and the training table (JSONL) with
//! hard negatives that the trainer reads.

mod build;
mod captions;
mod negclip_tsv;
pub mod python_literal;
mod training;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::negatives::Negative;

pub use build::{build_rows, build_table, Summary};
pub use captions::{read_captions, CaptionRow};
pub use negclip_tsv::{read_negclip_tsv, write_negclip_tsv};
pub use training::{read_training_table, write_training_jsonl, write_training_table};

/// A caption, its image and its hard negatives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingRow {
    pub image: String,
    pub caption: String,
    #[serde(default)]
    pub negatives: Vec<Negative>,
    /// Rows (0-based, in the same table) of nearest-neighbour images.
    #[serde(default)]
    pub neg_images: Vec<usize>,
}

/// Everything that can go wrong reading or writing a table; each message names
/// the file and, where there is one, the line.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Row {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

impl TableError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        TableError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn row(path: &Path, line: u64, message: impl Into<String>) -> Self {
        TableError::Row {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// A CSV/TSV reader error, at the line it reports.
    pub(crate) fn csv(path: &Path, e: &csv::Error) -> Self {
        let line = e.position().map_or(0, |p| p.line());
        TableError::row(path, line, e.to_string())
    }

    pub(crate) fn file(path: &Path, message: impl Into<String>) -> Self {
        TableError::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// The lower-cased extension of `path`, or "".
pub(crate) fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}
