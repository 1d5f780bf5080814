//! negclip-model: CLIP's image and text towers in Burn, with OpenAI-shaped presets and
//! checkpoint import/export compatible with HuggingFace transformers and open_clip.
//!
//! The module layout mirrors open_clip's `transformer.py`: [`attention`] and [`transformer`]
//! hold the pre-LN residual block both towers stack, [`vision`] the ViT image tower, [`text`]
//! the causal text tower, [`clip`] the two together with the learned temperature.

pub mod attention;
pub mod checkpoint;
pub mod clip;
pub mod config;
pub mod cpu_attention;
pub mod embedding;
pub mod error;
pub mod linear;
mod matrix;
pub mod presets;
pub mod quick_gelu;
pub mod text;
pub mod transformer;
pub mod vision;

pub use clip::{l2_normalize, Clip};
pub use config::{Activation, ClipConfig, TextConfig, VisionConfig};
pub use error::ModelError;
pub use matrix::is_cpu;
pub use text::TextOutput;
pub use vision::VisionOutput;
