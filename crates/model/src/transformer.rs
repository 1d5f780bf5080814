//! The pre-LayerNorm residual attention block both towers stack:
//! `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`.

use burn::module::Module;
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor};

use crate::attention::SelfAttention;
use crate::ops::layer_norm::layer_norm;
use crate::ops::linear::linear;
use crate::ops::quick_gelu::quick_gelu;
use crate::Activation;

/// Shapes shared by every block of one tower.
#[derive(Debug, Clone, Copy)]
pub struct TransformerShape {
    pub width: usize,
    pub layers: usize,
    pub heads: usize,
    pub mlp_dim: usize,
    pub activation: Activation,
    pub layer_norm_eps: f64,
}

/// Applies the configured non-linearity.
pub fn activate<const D: usize>(activation: Activation, x: Tensor<D>) -> Tensor<D> {
    match activation {
        Activation::QuickGelu => quick_gelu(x),
        Activation::Gelu => gelu(x),
    }
}

/// Two-layer MLP `c_proj(act(c_fc(x)))`.
#[derive(Module, Debug)]
pub struct Mlp {
    pub c_fc: Linear,
    pub c_proj: Linear,
    #[module(skip)]
    pub activation: Activation,
}

impl Mlp {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let hidden = activate(self.activation, linear(&self.c_fc, x));
        linear(&self.c_proj, hidden)
    }
}

/// One pre-LN residual block.
#[derive(Module, Debug)]
pub struct ResidualAttentionBlock {
    pub ln_1: LayerNorm,
    pub attn: SelfAttention,
    pub ln_2: LayerNorm,
    pub mlp: Mlp,
}

impl ResidualAttentionBlock {
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(layer_norm(&self.ln_1, x), causal);
        x.clone() + self.mlp.forward(layer_norm(&self.ln_2, x))
    }
}

/// A stack of residual blocks.
#[derive(Module, Debug)]
pub struct Transformer {
    pub resblocks: Vec<ResidualAttentionBlock>,
}

impl Transformer {
    /// Random blocks initialised as open_clip does: attention input std `width^-0.5`, output
    /// projections `width^-0.5 · (2·layers)^-0.5`, MLP input `(2·width)^-0.5`, zero biases.
    pub fn new(shape: TransformerShape, device: &Device) -> Self {
        let width = shape.width as f64;
        let attn_std = width.powf(-0.5);
        let proj_std = attn_std * (2.0 * shape.layers as f64).powf(-0.5);
        let fc_std = (2.0 * width).powf(-0.5);
        let norm = || {
            LayerNormConfig::new(shape.width)
                .with_epsilon(shape.layer_norm_eps)
                .init(device)
        };
        let linear = |d_in: usize, d_out: usize, std: f64| {
            let mut linear = LinearConfig::new(d_in, d_out)
                .with_initializer(Initializer::Normal { mean: 0.0, std })
                .init(device);
            linear.bias = Some(Initializer::Zeros.init([d_out], device));
            linear
        };
        let resblocks = (0..shape.layers)
            .map(|_| ResidualAttentionBlock {
                ln_1: norm(),
                attn: SelfAttention::new(shape.width, shape.heads, attn_std, proj_std, device),
                ln_2: norm(),
                mlp: Mlp {
                    c_fc: linear(shape.width, shape.mlp_dim, fc_std),
                    c_proj: linear(shape.mlp_dim, shape.width, proj_std),
                    activation: shape.activation,
                },
            })
            .collect();
        Self { resblocks }
    }

    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        self.resblocks
            .iter()
            .fold(x, |x, block| block.forward(x, causal))
    }

    /// Like [`Transformer::forward`] but also returns the input and every block's output
    /// (`layers + 1` tensors, HuggingFace's `hidden_states`).
    pub fn forward_with_hidden(&self, x: Tensor<3>, causal: bool) -> Vec<Tensor<3>> {
        let mut hidden = vec![x];
        for block in &self.resblocks {
            let last = hidden[hidden.len() - 1].clone();
            hidden.push(block.forward(last, causal));
        }
        hidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{TensorData, Tolerance};

    #[test]
    fn quick_gelu_matches_its_formula() {
        let device = Device::flex();
        let x = Tensor::<1>::from_floats([-2.0, -0.5, 0.0, 0.5, 2.0], &device);
        let expected: Vec<f32> = [-2.0f32, -0.5, 0.0, 0.5, 2.0]
            .iter()
            .map(|&v| v / (1.0 + (-1.702 * v).exp()))
            .collect();
        activate(Activation::QuickGelu, x)
            .into_data()
            .assert_approx_eq::<f32>(&TensorData::new(expected, [5]), Tolerance::absolute(1e-6));
    }

    #[test]
    fn hidden_states_hold_input_and_every_block() {
        let device = Device::flex();
        let shape = TransformerShape {
            width: 8,
            layers: 3,
            heads: 2,
            mlp_dim: 16,
            activation: Activation::Gelu,
            layer_norm_eps: 1e-5,
        };
        let transformer = Transformer::new(shape, &device);
        let x = Tensor::<3>::ones([1, 3, 8], &device);
        let hidden = transformer.forward_with_hidden(x.clone(), false);
        assert_eq!(hidden.len(), 4);
        hidden[3].clone().into_data().assert_approx_eq::<f32>(
            &transformer.forward(x, false).into_data(),
            Tolerance::absolute(1e-6),
        );
    }
}
