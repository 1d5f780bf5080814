//! The text tower: a causal transformer read out at the end-of-text token (CLIP §2.4).

use burn::module::{Module, Param};
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::{Device, Int, Tensor};

use crate::ops::embedding::embed;
use crate::transformer::{Transformer, TransformerShape};
use crate::ClipConfig;

/// Causal text encoder.
#[derive(Module, Debug)]
pub struct TextTransformer {
    /// Token embedding table `[vocab, width]`.
    pub token_embedding: Embedding,
    /// Learned positions `[context_length, width]`.
    pub positional_embedding: Param<Tensor<2>>,
    pub transformer: Transformer,
    pub ln_final: LayerNorm,
    /// Projection into the joint space `[width, embed_dim]`, no bias.
    pub text_projection: Linear,
}

/// Everything the text tower computes, for tests and feature extraction.
#[derive(Debug, Clone)]
pub struct TextOutput {
    /// Token + position embeddings, then every block's output, each `[B, L, width]`.
    pub hidden_states: Vec<Tensor<3>>,
    /// Last block's output after `ln_final` `[B, L, width]`.
    pub last_hidden_state: Tensor<3>,
    /// `last_hidden_state` at each row's end-of-text token `[B, width]`.
    pub pooled: Tensor<2>,
    /// Projected features `[B, embed_dim]` (not normalised).
    pub embeds: Tensor<2>,
}

impl TextTransformer {
    /// Random weights, initialised as open_clip does.
    pub fn new(config: &ClipConfig, device: &Device) -> Self {
        let t = &config.text;
        let normal = |std: f64| Initializer::Normal { mean: 0.0, std };
        Self {
            token_embedding: EmbeddingConfig::new(t.vocab_size, t.width)
                .with_initializer(normal(0.02))
                .init(device),
            positional_embedding: normal(0.01).init([t.context_length, t.width], device),
            transformer: Transformer::new(
                TransformerShape {
                    width: t.width,
                    layers: t.layers,
                    heads: t.heads,
                    mlp_dim: t.mlp_dim,
                    activation: config.activation,
                    layer_norm_eps: config.layer_norm_eps,
                },
                device,
            ),
            ln_final: LayerNormConfig::new(t.width)
                .with_epsilon(config.layer_norm_eps)
                .init(device),
            text_projection: LinearConfig::new(t.width, config.embed_dim)
                .with_bias(false)
                .with_initializer(normal((t.width as f64).powf(-0.5)))
                .init(device),
        }
    }

    /// Projected text features `[B, embed_dim]` of token ids `[B, L]` (`L` ≤ context length).
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<2> {
        let eot = eot_positions(tokens.clone());
        let x = self.transformer.forward(self.embed(tokens), true);
        let pooled = gather_rows(self.ln_final.forward(x), eot);
        self.text_projection.forward(pooled)
    }

    /// Like [`TextTransformer::forward`], keeping every intermediate.
    pub fn forward_with_hidden(&self, tokens: Tensor<2, Int>) -> TextOutput {
        let eot = eot_positions(tokens.clone());
        let hidden_states = self
            .transformer
            .forward_with_hidden(self.embed(tokens), true);
        let last = hidden_states[hidden_states.len() - 1].clone();
        let last_hidden_state = self.ln_final.forward(last);
        let pooled = gather_rows(last_hidden_state.clone(), eot);
        let embeds = self.text_projection.forward(pooled.clone());
        TextOutput {
            hidden_states,
            last_hidden_state,
            pooled,
            embeds,
        }
    }

    fn embed(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [_, length] = tokens.dims();
        let [context, width] = self.positional_embedding.dims();
        assert!(
            length <= context,
            "text tower takes at most {context} tokens, got {length}"
        );
        let positions = self.positional_embedding.val().slice([0..length, 0..width]);
        embed(&self.token_embedding, tokens) + positions.unsqueeze::<3>()
    }
}

/// Position of each row's end-of-text token `[B]`: the first position holding the row's
/// highest id (open_clip's `argmax`; EOT is the highest id in CLIP's vocabulary). Ties go to
/// the first occurrence, as transformers does when rows are padded with EOT, by ranking
/// `id · L + (L − 1 − position)`, which has no ties at all.
pub fn eot_positions(tokens: Tensor<2, Int>) -> Tensor<1, Int> {
    let [batch, length] = tokens.dims();
    let device = tokens.device();
    let reversed_positions = Tensor::<1, Int>::arange(0..length as i64, &device)
        .cast(tokens.dtype())
        .neg()
        .add_scalar(length as i64 - 1)
        .unsqueeze::<2>();
    let rank = tokens.mul_scalar(length as i64) + reversed_positions;
    rank.argmax(1).reshape([batch])
}

/// Picks `x[b, index[b], :]` for every row `b`.
fn gather_rows(x: Tensor<3>, index: Tensor<1, Int>) -> Tensor<2> {
    let [batch, length, width] = x.dims();
    let device = x.device();
    let row_starts = Tensor::<1, Int>::arange(0..batch as i64, &device)
        .cast(index.dtype())
        .mul_scalar(length as i64);
    x.reshape([batch * length, width])
        .select(0, index + row_starts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn eot_is_the_first_highest_id() {
        let device = Device::flex();
        let tokens = Tensor::<2, Int>::from_data(
            TensorData::new(
                vec![
                    49406i64, 320, 49407, 0, 0, 49406, 1, 2, 3, 49407, 49406, 49407, 49407, 49407,
                    49407,
                ],
                [3, 5],
            ),
            &device,
        );
        let eot = eot_positions(tokens).into_data().convert::<i64>();
        assert_eq!(eot.try_to_vec::<i64>().unwrap(), vec![2, 4, 1]);
    }
}
