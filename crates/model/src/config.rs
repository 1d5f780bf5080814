//! Shapes of a CLIP model: one config per tower plus the joint embedding, as in open_clip's
//! `CLIPVisionCfg` / `CLIPTextCfg` and transformers' `CLIPConfig`.

use burn::config::Config;

use crate::ModelError;

/// The MLP non-linearity. OpenAI's CLIP weights were trained with QuickGELU
/// (`x * sigmoid(1.702 x)`); open_clip models trained from scratch use exact GELU.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(1.702 x)`, HuggingFace `hidden_act = "quick_gelu"`.
    QuickGelu,
    /// Exact (erf) GELU, HuggingFace `hidden_act = "gelu"`.
    Gelu,
}

impl Activation {
    /// The HuggingFace `hidden_act` string.
    pub fn hf_name(&self) -> &'static str {
        match self {
            Activation::QuickGelu => "quick_gelu",
            Activation::Gelu => "gelu",
        }
    }

    /// Parses a HuggingFace `hidden_act` string.
    pub fn from_hf_name(name: &str) -> Option<Activation> {
        match name {
            "quick_gelu" => Some(Activation::QuickGelu),
            "gelu" => Some(Activation::Gelu),
            _ => None,
        }
    }
}

/// The image tower: a ViT over `patch_size` squares of an `image_size` square image.
#[derive(Config, Debug, PartialEq)]
pub struct VisionConfig {
    /// Side of the (square) input image in pixels.
    pub image_size: usize,
    /// Side of a square patch; the patch grid is `image_size / patch_size` on each side.
    pub patch_size: usize,
    /// Residual stream width.
    pub width: usize,
    /// Number of residual attention blocks.
    pub layers: usize,
    /// Attention heads per block (`width` must divide evenly).
    pub heads: usize,
    /// Hidden size of each block's MLP (OpenAI: 4 × width).
    pub mlp_dim: usize,
}

impl VisionConfig {
    /// Patches per side.
    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Tokens the transformer sees: every patch plus the class token.
    pub fn num_positions(&self) -> usize {
        self.grid_size() * self.grid_size() + 1
    }
}

/// The text tower: a causal transformer over BPE token ids.
#[derive(Config, Debug, PartialEq)]
pub struct TextConfig {
    /// Token positions (OpenAI: 77).
    pub context_length: usize,
    /// Size of the token vocabulary; the end-of-text id is the highest id.
    pub vocab_size: usize,
    /// Residual stream width.
    pub width: usize,
    /// Number of residual attention blocks.
    pub layers: usize,
    /// Attention heads per block (`width` must divide evenly).
    pub heads: usize,
    /// Hidden size of each block's MLP (OpenAI: 4 × width).
    pub mlp_dim: usize,
}

/// A whole CLIP model: both towers, the shared embedding size and the settings they share.
#[derive(Config, Debug, PartialEq)]
pub struct ClipConfig {
    /// Image tower.
    pub vision: VisionConfig,
    /// Text tower.
    pub text: TextConfig,
    /// Size of the joint embedding space both towers project into.
    pub embed_dim: usize,
    /// MLP non-linearity of both towers.
    #[config(default = "Activation::QuickGelu")]
    pub activation: Activation,
    /// Epsilon of every LayerNorm.
    #[config(default = 1e-5)]
    pub layer_norm_eps: f64,
    /// Initial value of the learnable log temperature, ln(1/0.07) as in the CLIP paper.
    #[config(default = 2.659_260_036_932_778)]
    pub logit_scale_init: f64,
}

impl ClipConfig {
    /// Checks that the shapes describe a buildable model; every loader and `init` call this.
    pub fn validate(&self) -> Result<(), ModelError> {
        let v = &self.vision;
        let t = &self.text;
        let checks: [(bool, String); 9] = [
            (
                v.patch_size > 0 && v.image_size.is_multiple_of(v.patch_size),
                format!(
                    "vision image_size {} is not a multiple of patch_size {}",
                    v.image_size, v.patch_size
                ),
            ),
            (
                v.heads > 0 && v.width.is_multiple_of(v.heads),
                format!(
                    "vision width {} not divisible by heads {}",
                    v.width, v.heads
                ),
            ),
            (
                t.heads > 0 && t.width.is_multiple_of(t.heads),
                format!("text width {} not divisible by heads {}", t.width, t.heads),
            ),
            (v.layers > 0, "vision layers must be positive".into()),
            (t.layers > 0, "text layers must be positive".into()),
            (
                v.width > 0 && v.mlp_dim > 0,
                "vision width/mlp_dim must be positive".into(),
            ),
            (
                t.width > 0 && t.mlp_dim > 0,
                "text width/mlp_dim must be positive".into(),
            ),
            (
                t.context_length > 0 && t.vocab_size > 0,
                "text context_length/vocab_size must be positive".into(),
            ),
            (self.embed_dim > 0, "embed_dim must be positive".into()),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, message)) => Err(ModelError::InvalidConfig(message)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_logit_scale_is_log_inverse_temperature() {
        let config = ClipConfig::preset("tiny").unwrap();
        assert!((config.logit_scale_init - (1.0f64 / 0.07).ln()).abs() < 1e-12);
        assert_eq!(config.layer_norm_eps, 1e-5);
    }

    #[test]
    fn validate_rejects_heads_not_dividing_width() {
        let mut config = ClipConfig::preset("tiny").unwrap();
        config.text.heads = 3;
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("text width 64 not divisible by heads 3"),
            "{err}"
        );
    }

    #[test]
    fn validate_rejects_partial_patches() {
        let mut config = ClipConfig::preset("tiny").unwrap();
        config.vision.image_size = 30;
        assert!(config.validate().is_err());
    }

    #[test]
    fn config_round_trips_through_json() {
        let config = ClipConfig::preset("vit-b-16").unwrap();
        let json = serde_json::to_string(&config).unwrap();
        let back: ClipConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(config, back);
    }
}
