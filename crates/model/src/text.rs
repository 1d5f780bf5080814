//! The text tower: a causal transformer read out at the end-of-text token (CLIP §2.4).

use burn::module::{Module, Param};
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::{Device, Int, Tensor};

use crate::ops::embedding::embed;
use crate::ops::layer_norm::layer_norm;
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
        let x = self.transformer.forward(self.stem(tokens), true);
        self.head(x, eot)
    }

    /// The stage after the blocks: `ln_final`, each row at its end-of-text position `eot`
    /// ([`eot_positions`]), projected. Public, with [`Self::stem`], for activation
    /// checkpointing, which runs the stages one by one. The norm works row by row, so it is
    /// taken of the read-out rows only: the same numbers as norming every token first
    /// (open_clip's order), for one row in `L` of the work.
    pub fn head(&self, x: Tensor<3>, eot: Tensor<1, Int>) -> Tensor<2> {
        self.text_projection
            .forward(layer_norm(&self.ln_final, gather_rows(x, eot)))
    }

    /// Like [`TextTransformer::forward`], keeping every intermediate.
    pub fn forward_with_hidden(&self, tokens: Tensor<2, Int>) -> TextOutput {
        let eot = eot_positions(tokens.clone());
        let hidden_states = self
            .transformer
            .forward_with_hidden(self.stem(tokens), true);
        let last = hidden_states[hidden_states.len() - 1].clone();
        let last_hidden_state = layer_norm(&self.ln_final, last);
        let pooled = gather_rows(last_hidden_state.clone(), eot);
        let embeds = self.text_projection.forward(pooled.clone());
        TextOutput {
            hidden_states,
            last_hidden_state,
            pooled,
            embeds,
        }
    }

    /// The stage before the blocks: token embeddings plus positions.
    pub fn stem(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
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

/// Text batches are cut to a multiple of this many tokens: a GPU backend compiles (and
/// autotunes) its kernels per shape, so the lengths a run sees are kept to a few (at most 10
/// of CLIP's 77), for at most 7 tokens of padding per row.
pub const TEXT_LENGTH_STEP: usize = 8;

/// Token ids of `rows` texts, each `length` long, cut after every row's end-of-text token
/// (its first highest id, as [`eot_positions`] finds it), at the next multiple of
/// [`TEXT_LENGTH_STEP`].
///
/// The tower is causal and reads each row at that token, so no later position can change
/// an embedding or a gradient: cutting them is exact (a test checks it) and saves the
/// attention and MLP work on padding. CLIP pads every caption to 77 tokens; ARO and COCO
/// captions are 10–30. Returns the ids and the new length.
pub fn trim_to_longest_text(ids: &[u32], rows: usize, length: usize) -> (Vec<u32>, usize) {
    assert_eq!(
        ids.len(),
        rows * length,
        "ids are not {rows} rows of {length}"
    );
    if rows == 0 {
        return (Vec::new(), length);
    }
    let longest = ids
        .chunks(length)
        .map(|row| first_highest(row) + 1)
        .max()
        .unwrap_or(length);
    let needed = longest.next_multiple_of(TEXT_LENGTH_STEP).min(length);
    if needed == length {
        return (ids.to_vec(), length);
    }
    let trimmed = ids
        .chunks(length)
        .flat_map(|row| &row[..needed])
        .copied()
        .collect();
    (trimmed, needed)
}

/// Index of the first occurrence of the row's highest id.
fn first_highest(row: &[u32]) -> usize {
    let mut best = 0;
    for (i, &id) in row.iter().enumerate() {
        if id > row[best] {
            best = i;
        }
    }
    best
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
    use burn::module::ModuleVisitor;
    use burn::optim::GradientsParams;
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn trimming_keeps_every_row_up_to_the_longest_end_of_text() {
        // Rows of 12 end at 2, 4 and 1; the last is padded with end-of-text ids (the first
        // counts). The longest needs 5 tokens: cut at the next multiple of 8.
        let ids = [
            5, 7, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
            5, 1, 2, 3, 9, 0, 0, 0, 0, 0, 0, 0, //
            5, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
        ];
        let (trimmed, length) = trim_to_longest_text(&ids, 3, 12);
        assert_eq!(length, 8);
        let rows: Vec<&[u32]> = ids.chunks(12).map(|row| &row[..8]).collect();
        assert_eq!(trimmed, rows.concat());
        // A row that needs the whole context keeps it; a cut never passes the context.
        let (full, length) = trim_to_longest_text(&[1, 2, 3], 1, 3);
        assert_eq!((full, length), (vec![1, 2, 3], 3));
        let (cut, length) = trim_to_longest_text(&[1, 9, 0, 0, 0, 0, 0, 0, 0, 0], 1, 10);
        assert_eq!((cut.len(), length), (8, 8));
    }

    /// Token rows of CLIP's shape: start, words, end-of-text at `ends[i]`, zeros after.
    fn padded_rows(ends: &[usize], length: usize, vocab: u32) -> Vec<u32> {
        let eot = vocab - 1;
        let mut ids = Vec::new();
        for (row, &end) in ends.iter().enumerate() {
            for position in 0..length {
                ids.push(match position {
                    0 => eot - 1,
                    p if p < end => (row * 31 + p * 17) as u32 % (eot - 2),
                    p if p == end => eot,
                    _ => 0,
                });
            }
        }
        ids
    }

    /// Every parameter gradient of a module, in visiting order.
    struct Collect<'a> {
        grads: &'a GradientsParams,
        found: Vec<TensorData>,
    }

    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let grad = self
                .grads
                .get::<D>(param.id)
                .expect("every parameter has a gradient");
            self.found.push(grad.into_data());
        }
    }

    /// The trimmed batch gives the untrimmed batch's embeddings, bit for bit, and the same
    /// gradient for every parameter of the tower.
    #[test]
    fn trimming_changes_no_embedding_and_no_gradient() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let config = ClipConfig::preset("tiny").unwrap();
        let tower = TextTransformer::new(&config, &device);
        let (rows, length) = (6, config.text.context_length);
        let vocab = config.text.vocab_size as u32;
        let ids = padded_rows(&[3, 7, 2, 5, 7, 4], length, vocab);
        let (trimmed, short) = trim_to_longest_text(&ids, rows, length);
        assert_eq!(short, 8);
        let weights = Tensor::<2>::random(
            [rows, config.embed_dim],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let run = |ids: Vec<u32>, length: usize| {
            let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
            let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, length]), &device);
            let embeds = tower.forward(tokens);
            let grads = (embeds.clone() * weights.clone()).sum().backward();
            let grads = GradientsParams::from_grads(grads, &tower);
            let mut collect = Collect {
                grads: &grads,
                found: Vec::new(),
            };
            tower.visit(&mut collect);
            (embeds.into_data(), collect.found)
        };
        let (full_embeds, full_grads) = run(ids, length);
        let (short_embeds, short_grads) = run(trimmed, short);
        assert_eq!(short_embeds, full_embeds);
        assert_eq!(short_grads.len(), full_grads.len());
        for (short, full) in short_grads.iter().zip(&full_grads) {
            assert_eq!(short, full);
        }
    }

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
