//! The image tower: a Vision Transformer with a class token (Dosovitskiy et al.; CLIP §2.4).

use burn::module::{Module, Param};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::module::linear;
use burn::tensor::{Device, Tensor};

use crate::ops::layer_norm::layer_norm;
use crate::transformer::{Transformer, TransformerShape};
use crate::ClipConfig;

/// ViT image encoder.
#[derive(Module, Debug)]
pub struct VisionTransformer {
    /// Patch embedding kernel `[width, 3, patch, patch]` (a stride-`patch` convolution without
    /// bias, applied here as one matrix product over unfolded patches).
    pub conv1: Param<Tensor<4>>,
    /// Learned class token `[width]`, prepended to the patch tokens.
    pub class_embedding: Param<Tensor<1>>,
    /// Learned positions `[patches + 1, width]`.
    pub positional_embedding: Param<Tensor<2>>,
    pub ln_pre: LayerNorm,
    pub transformer: Transformer,
    pub ln_post: LayerNorm,
    /// Projection into the joint space `[width, embed_dim]`, no bias.
    pub proj: Linear,
    pub patch_size: usize,
}

/// Everything the image tower computes, for tests and feature extraction.
#[derive(Debug, Clone)]
pub struct VisionOutput {
    /// The transformer's input (after `ln_pre`) then every block's output, each `[B, N+1, width]`.
    pub hidden_states: Vec<Tensor<3>>,
    /// Class token after `ln_post` `[B, width]`.
    pub pooled: Tensor<2>,
    /// Projected features `[B, embed_dim]` (not normalised).
    pub embeds: Tensor<2>,
}

impl VisionTransformer {
    /// Random weights, initialised as open_clip does.
    pub fn new(config: &ClipConfig, device: &Device) -> Self {
        let v = &config.vision;
        let scale = (v.width as f64).powf(-0.5);
        let patch_fan_in = 3 * v.patch_size * v.patch_size;
        let normal = |std: f64| Initializer::Normal { mean: 0.0, std };
        let norm = || {
            LayerNormConfig::new(v.width)
                .with_epsilon(config.layer_norm_eps)
                .init(device)
        };
        Self {
            conv1: normal((patch_fan_in as f64).powf(-0.5))
                .init([v.width, 3, v.patch_size, v.patch_size], device),
            class_embedding: normal(scale).init([v.width], device),
            positional_embedding: normal(scale).init([v.num_positions(), v.width], device),
            ln_pre: norm(),
            transformer: Transformer::new(
                TransformerShape {
                    width: v.width,
                    layers: v.layers,
                    heads: v.heads,
                    mlp_dim: v.mlp_dim,
                    activation: config.activation,
                    layer_norm_eps: config.layer_norm_eps,
                },
                device,
            ),
            ln_post: norm(),
            proj: LinearConfig::new(v.width, config.embed_dim)
                .with_bias(false)
                .with_initializer(normal(scale))
                .init(device),
            patch_size: v.patch_size,
        }
    }

    /// Projected image features `[B, embed_dim]` of CLIP-normalised pixels `[B, 3, H, W]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<2> {
        let tokens = self.stem(pixels);
        let x = self.transformer.forward(tokens, false);
        self.head(x)
    }

    /// Like [`VisionTransformer::forward`], keeping every intermediate.
    pub fn forward_with_hidden(&self, pixels: Tensor<4>) -> VisionOutput {
        let tokens = self.stem(pixels);
        let hidden_states = self.transformer.forward_with_hidden(tokens, false);
        let last = hidden_states[hidden_states.len() - 1].clone();
        let pooled = self.pool(last);
        let embeds = self.proj.forward(pooled.clone());
        VisionOutput {
            hidden_states,
            pooled,
            embeds,
        }
    }

    /// The stage before the blocks: patches → tokens, class token, positions, `ln_pre`.
    /// Public, with [`Self::head`], for activation checkpointing, which runs the stages one
    /// by one.
    pub fn stem(&self, pixels: Tensor<4>) -> Tensor<3> {
        let [batch, channels, height, width] = pixels.dims();
        let p = self.patch_size;
        let [positions, dim] = self.positional_embedding.dims();
        let (gh, gw) = (height / p, width / p);
        assert!(
            channels == 3
                && height.is_multiple_of(p)
                && width.is_multiple_of(p)
                && gh * gw + 1 == positions,
            "image tower expects [B, 3, S, S] pixels with {} patches of {p}px, got {:?}",
            positions - 1,
            pixels.dims()
        );
        // [B, 3, gh, p, gw, p] → [B, gh, gw, 3, p, p] → one row of 3·p·p values per patch,
        // ordered like the convolution kernel, so the patch embedding is a matrix product.
        let patches = pixels
            .reshape([batch, channels, gh, p, gw, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([batch, gh * gw, channels * p * p]);
        let kernel = self
            .conv1
            .val()
            .reshape([dim, channels * p * p])
            .transpose();
        let patch_tokens = linear(patches, kernel, None);
        let class = self
            .class_embedding
            .val()
            .reshape([1, 1, dim])
            .expand([batch, 1, dim]);
        let tokens = Tensor::cat(vec![class, patch_tokens], 1)
            + self.positional_embedding.val().unsqueeze::<3>();
        layer_norm(&self.ln_pre, tokens)
    }

    /// Class token of the last hidden state, normalised by `ln_post`.
    fn pool(&self, x: Tensor<3>) -> Tensor<2> {
        let [batch, _, dim] = x.dims();
        let class = x.slice([0..batch, 0..1, 0..dim]).reshape([batch, dim]);
        layer_norm(&self.ln_post, class)
    }

    /// The stage after the blocks: the class token through `ln_post`, projected.
    pub fn head(&self, x: Tensor<3>) -> Tensor<2> {
        self.proj.forward(self.pool(x))
    }
}
