//! Named model shapes: OpenAI's released CLIP ViTs and two small ones for tests and CPU training.

use crate::{Activation, ClipConfig, ModelError, TextConfig, VisionConfig};

/// Every name `ClipConfig::preset` accepts.
const PRESET_NAMES: &[&str] = &[
    "tiny",
    "small",
    "vit-b-32",
    "vit-b-16",
    "vit-l-14",
    "vit-l-14-336",
];

/// OpenAI's vocabulary: 49 406 BPE merges and tokens plus start- and end-of-text.
const OPENAI_VOCAB: usize = 49_408;

impl ClipConfig {
    /// The configuration of a named preset (see [`ClipConfig::preset_names`]).
    pub fn preset(name: &str) -> Result<ClipConfig, ModelError> {
        let config = match name {
            "tiny" => small_model(32, 8, 64, 2, 4, 128, 16, 32),
            "small" => small_model(64, 8, 256, 4, 4, 1024, 32, 256),
            "vit-b-32" => openai_base(32),
            "vit-b-16" => openai_base(16),
            "vit-l-14" => openai_large(224),
            "vit-l-14-336" => openai_large(336),
            _ => {
                return Err(ModelError::UnknownPreset {
                    name: name.to_string(),
                    known: PRESET_NAMES.join(", "),
                })
            }
        };
        Ok(config)
    }

    /// Names accepted by [`ClipConfig::preset`].
    pub fn preset_names() -> &'static [&'static str] {
        PRESET_NAMES
    }
}

/// A small model whose towers share width, depth and heads (the `tiny` and `small` presets).
#[allow(clippy::too_many_arguments)]
fn small_model(
    image_size: usize,
    patch_size: usize,
    width: usize,
    layers: usize,
    heads: usize,
    mlp_dim: usize,
    context_length: usize,
    embed_dim: usize,
) -> ClipConfig {
    ClipConfig::new(
        VisionConfig::new(image_size, patch_size, width, layers, heads, mlp_dim),
        TextConfig::new(context_length, OPENAI_VOCAB, width, layers, heads, mlp_dim),
        embed_dim,
    )
    .with_activation(Activation::QuickGelu)
}

/// OpenAI's text tower: 12 blocks of width `width`, heads of 64 channels, 77 positions.
fn openai_text(width: usize) -> TextConfig {
    TextConfig::new(77, OPENAI_VOCAB, width, 12, width / 64, 4 * width)
}

/// ViT-B/32 and ViT-B/16.
fn openai_base(patch_size: usize) -> ClipConfig {
    ClipConfig::new(
        VisionConfig::new(224, patch_size, 768, 12, 12, 3072),
        openai_text(512),
        512,
    )
}

/// ViT-L/14 at 224 or 336 pixels.
fn openai_large(image_size: usize) -> ClipConfig {
    ClipConfig::new(
        VisionConfig::new(image_size, 14, 1024, 24, 16, 4096),
        openai_text(768),
        768,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid() {
        for name in ClipConfig::preset_names() {
            ClipConfig::preset(name).unwrap().validate().unwrap();
        }
    }

    #[test]
    fn tiny_has_the_documented_shapes() {
        let c = ClipConfig::preset("tiny").unwrap();
        assert_eq!(
            (c.vision.image_size, c.vision.patch_size, c.vision.width),
            (32, 8, 64)
        );
        assert_eq!(
            (c.vision.layers, c.vision.heads, c.vision.mlp_dim),
            (2, 4, 128)
        );
        assert_eq!(
            (c.text.context_length, c.text.width, c.text.layers),
            (16, 64, 2)
        );
        assert_eq!(
            (c.text.heads, c.text.vocab_size, c.embed_dim),
            (4, 49_408, 32)
        );
        assert_eq!(c.activation, Activation::QuickGelu);
    }

    #[test]
    fn vit_b_32_matches_openai() {
        let c = ClipConfig::preset("vit-b-32").unwrap();
        assert_eq!(c.vision.grid_size(), 7);
        assert_eq!(c.vision.num_positions(), 50);
        assert_eq!((c.text.width, c.text.heads, c.embed_dim), (512, 8, 512));
    }

    #[test]
    fn unknown_preset_lists_known_names() {
        let err = ClipConfig::preset("vit-h-14").unwrap_err().to_string();
        assert!(
            err.contains("vit-h-14") && err.contains("vit-l-14-336"),
            "{err}"
        );
    }
}
