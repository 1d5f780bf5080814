//! Errors of the model crate: unknown presets, bad configurations and checkpoints that do not fit.

use std::path::PathBuf;

/// Everything that can go wrong building, loading or saving a CLIP model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// `ClipConfig::preset` was given a name it does not know.
    #[error("unknown model preset `{name}`; known presets: {known}")]
    UnknownPreset { name: String, known: String },

    /// A configuration whose numbers cannot describe a CLIP model.
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),

    /// Reading or writing a file failed. The I/O error is part of the message (not a
    /// `source`), so error chains do not print it twice.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    /// The file is not a checkpoint this crate can read (bad header, unsupported dtype, ...).
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },

    /// The checkpoint has no tensor under a name the model needs.
    #[error("checkpoint lacks tensor `{key}` (expected shape {expected:?})")]
    MissingTensor { key: String, expected: Vec<usize> },

    /// The checkpoint holds tensors the model has no place for.
    #[error("checkpoint has unexpected tensors: {}", keys.join(", "))]
    UnexpectedTensors { keys: Vec<String> },

    /// A tensor is present but has the wrong shape.
    #[error("tensor `{key}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    /// The keys match neither HuggingFace nor open_clip naming.
    #[error("{}: cannot tell the checkpoint format from its keys (first keys: {})", path.display(), sample.join(", "))]
    UnknownFormat { path: PathBuf, sample: Vec<String> },

    /// Two checkpoints to interpolate do not share an architecture.
    #[error("cannot interpolate {} and {}: not the same architecture: {difference}", base.display(), finetuned.display())]
    ArchitectureMismatch {
        base: PathBuf,
        finetuned: PathBuf,
        difference: String,
    },

    /// A configuration file (`config.json`, metadata) could not be parsed.
    #[error("{}: bad configuration: {message}", path.display())]
    BadConfig { path: PathBuf, message: String },
}

impl ModelError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            error: source,
        }
    }

    /// A format error for `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ModelError::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}
