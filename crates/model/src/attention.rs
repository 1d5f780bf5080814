//! Multi-head self-attention with one fused q/k/v projection, as PyTorch's
//! `nn.MultiheadAttention` (and so open_clip) stores it.

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{DType, Device, Tensor};

use crate::is_cpu;
use crate::ops::cpu_attention::self_attention;
use crate::ops::linear::linear;

/// Self-attention over `[batch, tokens, width]`.
#[derive(Module, Debug)]
pub struct SelfAttention {
    /// q, k and v projections side by side: weight `[width, 3·width]` (q, k, v order).
    pub in_proj: Linear,
    /// Output projection `[width, width]`.
    pub out_proj: Linear,
    /// Number of heads the width is split into.
    pub num_heads: usize,
}

impl SelfAttention {
    /// A randomly initialised block following open_clip's init (normal weights, zero biases).
    pub fn new(width: usize, num_heads: usize, in_std: f64, out_std: f64, device: &Device) -> Self {
        let linear = |d_out: usize, std: f64| {
            LinearConfig::new(width, d_out)
                .with_initializer(Initializer::Normal { mean: 0.0, std })
                .init(device)
        };
        let mut in_proj = linear(3 * width, in_std);
        let mut out_proj = linear(width, out_std);
        in_proj.bias = Some(Initializer::Zeros.init([3 * width], device));
        out_proj.bias = Some(Initializer::Zeros.init([width], device));
        Self {
            in_proj,
            out_proj,
            num_heads,
        }
    }

    /// Attends every token to every other (`causal = false`) or only to itself and earlier
    /// tokens (`causal = true`, the text tower).
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let qkv = linear(&self.in_proj, x);
        let context = match is_cpu(&qkv.device()) && qkv.dtype() == DType::F32 {
            true => self_attention(qkv, self.num_heads, causal),
            false => self.burn_attention(qkv, causal),
        };
        linear(&self.out_proj, context)
    }

    /// The heads' outputs side by side `[batch, tokens, width]` from the fused q/k/v
    /// projection, through Burn's attention (GPUs, and dtypes below f32).
    fn burn_attention(&self, qkv: Tensor<3>, causal: bool) -> Tensor<3> {
        let [batch, tokens, three_width] = qkv.dims();
        let width = three_width / 3;
        let head_dim = width / self.num_heads;
        let split_heads = |t: Tensor<3>| {
            t.reshape([batch, tokens, self.num_heads, head_dim])
                .swap_dims(1, 2)
        };
        let mut qkv = qkv.chunk(3, 2).into_iter();
        let (q, k, v) = match (qkv.next(), qkv.next(), qkv.next()) {
            (Some(q), Some(k), Some(v)) => (split_heads(q), split_heads(k), split_heads(v)),
            _ => unreachable!("chunk(3) of a 3·width axis yields three parts"),
        };
        let options = AttentionModuleOptions {
            is_causal: causal,
            ..Default::default()
        };
        let context = attention(q, k, v, None, None, options);
        context.swap_dims(1, 2).reshape([batch, tokens, width])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::activation::softmax;
    use burn::tensor::{Distribution, Tolerance};

    /// Plain-tensor attention written out step by step, to check the fused kernel and the
    /// head split against.
    fn reference(attn: &SelfAttention, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let [batch, tokens, width] = x.dims();
        let heads = attn.num_heads;
        let hd = width / heads;
        let qkv = attn.in_proj.forward(x);
        let part = |i: usize| {
            qkv.clone()
                .slice([0..batch, 0..tokens, i * width..(i + 1) * width])
                .reshape([batch, tokens, heads, hd])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (part(0), part(1), part(2));
        let mut scores = q.matmul(k.swap_dims(2, 3)) / (hd as f64).sqrt();
        if causal {
            let device = scores.device();
            let mask = Tensor::<2>::ones([tokens, tokens], &device)
                .triu(1)
                .bool()
                .unsqueeze::<4>()
                .expand([batch, heads, tokens, tokens]);
            scores = scores.mask_fill(mask, f32::NEG_INFINITY);
        }
        let out = softmax(scores, 3).matmul(v);
        attn.out_proj
            .forward(out.swap_dims(1, 2).reshape([batch, tokens, width]))
    }

    /// Both paths, the CPU's own op (`forward` on the CPU) and Burn's attention (the one
    /// GPUs take), give the written-out attention.
    #[test]
    fn both_attention_paths_match_written_out_attention() {
        let device = Device::flex();
        device.seed(7);
        let attn = SelfAttention::new(16, 4, 0.3, 0.3, &device);
        let x = Tensor::<3>::random([2, 5, 16], Distribution::Normal(0.0, 1.0), &device);
        for causal in [false, true] {
            let expected = reference(&attn, x.clone(), causal).into_data();
            let qkv = linear(&attn.in_proj, x.clone());
            let burns = linear(&attn.out_proj, attn.burn_attention(qkv, causal));
            for got in [attn.forward(x.clone(), causal), burns] {
                got.into_data()
                    .assert_approx_eq::<f32>(&expected, Tolerance::absolute(1e-5));
            }
        }
    }

    #[test]
    fn causal_attention_ignores_later_tokens() {
        let device = Device::flex();
        device.seed(3);
        let attn = SelfAttention::new(8, 2, 0.5, 0.5, &device);
        let x = Tensor::<3>::random([1, 4, 8], Distribution::Normal(0.0, 1.0), &device);
        let changed = x
            .clone()
            .slice_assign([0..1, 3..4, 0..8], Tensor::<3>::ones([1, 1, 8], &device));
        let first = |t: Tensor<3>| attn.forward(t, true).slice([0..1, 0..3, 0..8]).into_data();
        first(changed).assert_approx_eq::<f32>(&first(x), Tolerance::absolute(1e-6));
    }

    /// Training relies on the fused kernel's backward: its gradients must be those of
    /// the written-out attention, for the input and for the projections.
    #[test]
    fn fused_attention_gradients_match_written_out_attention() {
        let device = Device::flex().autodiff();
        device.seed(11);
        let attn = SelfAttention::new(64, 4, 0.3, 0.3, &device);
        let x = Tensor::<3>::random([3, 17, 64], Distribution::Normal(0.0, 1.0), &device);
        let weights = Tensor::<3>::random([3, 17, 64], Distribution::Normal(0.0, 1.0), &device);
        for causal in [false, true] {
            let grads_of = |out: Tensor<3>, x: Tensor<3>| {
                let grads = (out * weights.clone()).sum().backward();
                let dx = x.grad(&grads).unwrap().into_data();
                let dw = attn.in_proj.weight.val().grad(&grads).unwrap().into_data();
                let db = attn
                    .in_proj
                    .bias
                    .as_ref()
                    .unwrap()
                    .val()
                    .grad(&grads)
                    .unwrap();
                (dx, dw, db.into_data())
            };
            let x_ref = x.clone().detach().require_grad();
            let expected = grads_of(reference(&attn, x_ref.clone(), causal), x_ref);
            let x_fused = x.clone().detach().require_grad();
            let got = grads_of(attn.forward(x_fused.clone(), causal), x_fused);
            let tol = Tolerance::absolute(1e-4);
            got.0.assert_approx_eq::<f32>(&expected.0, tol);
            got.1.assert_approx_eq::<f32>(&expected.1, tol);
            got.2.assert_approx_eq::<f32>(&expected.2, tol);
        }
    }
}
