//! negclip-model: CLIP's image and text towers in Burn, with OpenAI-shaped presets and
//! checkpoint import/export compatible with HuggingFace transformers and open_clip.
//!
//! The module layout mirrors open_clip's `transformer.py`: [`attention`] and [`transformer`]
//! hold the pre-LN residual block both towers stack, [`vision`] the ViT image tower, [`text`]
//! the causal text tower, [`clip`] the two together with the learned temperature. [`ops`]
//! holds the operations of our own they run on the CPU, and [`weights`] reads and writes the
//! model's weights (OpenAI, open_clip and HuggingFace formats).

pub mod attention;
pub mod clip;
pub mod config;
pub mod error;
pub mod ops;
pub mod presets;
pub mod text;
pub mod transformer;
pub mod vision;
pub mod weights;

pub use clip::{l2_normalize, Clip};
pub use config::{Activation, ClipConfig, TextConfig, VisionConfig};
pub use error::ModelError;
pub use ops::is_cpu;
pub use text::TextOutput;
pub use vision::VisionOutput;
