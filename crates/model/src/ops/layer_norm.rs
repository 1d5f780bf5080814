//! LayerNorm over the last axis, `(x − mean) / √(var + ε) · γ + β`, as one operation with its
//! own backward pass.
//!
//! Burn 0.22.1's autodiff backend has no LayerNorm of its own: it records the default
//! decomposition (a mean, a subtraction, a square, a second mean, `+ ε`, a square root, a
//! division, `· γ`, `+ β`), each an element-wise pass that allocates a full-size output
//! through the CPU backend's zero-fill-and-copy path (`linear.rs` says which), and its backward
//! pass is twice as many, with the broadcasts of the means and of `γ` reduced back by further
//! passes. ViT-B/32 runs 26 of them in its image tower at width 768, 25 in its text tower at
//! 512: in a one-thread profile of its training step (batch 8), Burn's element-wise passes
//! and their buffers' fill and copy were 4.9 % of the samples, 1.8 % with this op, which
//! itself took 0.35 % (`docs/performance.md`). Here, on the CPU,
//! forward is one pass over each row (mean and variance, then the output), keeping only the
//! input and each row's mean and `1/√(var + ε)`; backward is one pass over each row too:
//! `∂x = r (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂))` with `ĝ = g ⊙ γ`, `x̂ = (x − mean) · r` and
//! `r = 1/√(var + ε)`, while `∂γ = Σ g ⊙ x̂` and `∂β = Σ g` are summed over the rows in f64,
//! as the linear layers' bias gradients are (`linear.rs`). Rows are split into fixed blocks
//! over the threads and the blocks' sums added in block order, so the result does not depend
//! on the thread count. The module keeps Burn's `LayerNorm` (its `gamma` and `beta` are the
//! parameters, under the same names); other backends (the GPUs) and dtypes other than f32 go
//! through `LayerNorm::forward`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex};
use burn::module::{Content, DisplaySettings, ModuleDisplay};
use burn::nn::LayerNorm;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

use super::matrix::is_cpu;

/// `norm(x)` for `x` of any rank whose last axis is the norm's width, through the backend's own
/// LayerNorm where it has one (the CPU, f32, with a bias); else Burn's `LayerNorm::forward`.
pub fn layer_norm<const D: usize>(norm: &LayerNorm, x: Tensor<D>) -> Tensor<D> {
    let Some(beta) = &norm.beta else {
        return norm.forward(x);
    };
    let (gamma, beta) = (norm.gamma.val(), beta.val());
    let f32s = [x.dtype(), gamma.dtype(), beta.dtype()] == [DType::F32; 3];
    if !f32s || !is_cpu(&x.device()) {
        return norm.forward(x);
    }
    let dims = x.dims();
    let width = dims[D - 1];
    assert_eq!(gamma.dims(), [width], "a LayerNorm of another width");
    let rows = dims[..D - 1].iter().product();
    let out = Dispatch::layer_norm_rows(
        x.reshape([rows, width]).into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon(norm),
    );
    Tensor::<2>::from_dispatch(out).reshape(dims)
}

/// The `ε` of a Burn `LayerNorm`. The field is private; the module shows it, as the shortest
/// decimal that reads back as the same `f64` (Rust's `Display`), among its display attributes.
fn epsilon(norm: &LayerNorm) -> f64 {
    norm.custom_content(Content::new(DisplaySettings::new()))
        .and_then(|content| {
            let attribute = content
                .attributes
                .into_iter()
                .find(|a| a.name == "epsilon")?;
            attribute.value.trim().parse().ok()
        })
        .expect("Burn's LayerNorm shows its epsilon")
}

/// LayerNorm over the rows of a `[rows, width]` tensor as one backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait LayerNormBackend: Backend {
    /// `(x − mean) / √(var + epsilon) · gamma + beta`, per row of `x` `[rows, width]`.
    fn layer_norm_rows(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;
}

impl LayerNormBackend for Flex {
    fn layer_norm_rows(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        forward(&x, &gamma, &beta, epsilon).0
    }
}

impl<C: CheckpointStrategy> LayerNormBackend for Autodiff<Flex, C> {
    fn layer_norm_rows(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        /// The gradients of the norm; the parents are `x`, `gamma` and `beta`.
        #[derive(Debug)]
        struct LayerNormGrad;

        impl Backward<Flex, 3> for LayerNormGrad {
            /// The input, `gamma`, and each row's mean and `1/√(var + ε)`.
            type State = (FlexTensor, FlexTensor, FlexTensor);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [x_node, gamma_node, beta_node] = ops.parents;
                let (x, gamma, stats) = ops.state;
                let grad = grads.consume::<Flex>(&ops.node);
                let [d_x, d_gamma, d_beta] = backward(&x, &gamma, &stats, &grad);
                if let Some(node) = beta_node {
                    grads.register::<Flex>(node.id, d_beta);
                }
                if let Some(node) = gamma_node {
                    grads.register::<Flex>(node.id, d_gamma);
                }
                if let Some(node) = x_node {
                    grads.register::<Flex>(node.id, d_x);
                }
            }
        }

        let (x, x_node) = x.into_parts();
        let (gamma, gamma_node) = gamma.into_parts();
        let (beta, beta_node) = beta.into_parts();
        let nodes = [x_node, gamma_node, beta_node];
        match LayerNormGrad.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, stats) = forward(&x, &gamma, &beta, epsilon);
                prep.finish((x, gamma, stats), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(&x, &gamma, &beta, epsilon).0),
        }
    }
}

/// Rows per task on the threads, and per partial sum of `∂γ` and `∂β`: fixed, so that the
/// sums' order, and with it the result, does not depend on the thread count.
const ROWS_PER_TASK: usize = 32;

/// The norm of each row of `x` `[rows, width]`, and each row's `[mean, 1/√(var + ε)]`
/// `[rows, 2]` for the backward pass.
fn forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    epsilon: f64,
) -> (FlexTensor, FlexTensor) {
    let dims = x.layout().shape();
    let (rows, width) = (dims[0], dims[1]);
    let (x, gamma, beta) = (
        x.to_contiguous(),
        gamma.to_contiguous(),
        beta.to_contiguous(),
    );
    let x = x.as_slice::<f32>().expect("a contiguous f32 tensor");
    let gamma = gamma.as_slice::<f32>().expect("a contiguous f32 tensor");
    let beta = beta.as_slice::<f32>().expect("a contiguous f32 tensor");
    let epsilon = epsilon as f32;
    let mut out = vec![0.0f32; rows * width];
    let mut stats = vec![0.0f32; rows * 2];
    let arch = pulp::Arch::new();
    out.par_chunks_mut(ROWS_PER_TASK * width)
        .zip(stats.par_chunks_mut(ROWS_PER_TASK * 2))
        .zip(x.par_chunks(ROWS_PER_TASK * width))
        .for_each(|((out, stats), x)| {
            arch.dispatch(ForwardRows {
                out,
                stats,
                x,
                gamma,
                beta,
                epsilon,
            })
        });
    (
        FlexTensor::from_data(TensorData::new(out, [rows, width])),
        FlexTensor::from_data(TensorData::new(stats, [rows, 2])),
    )
}

/// One task's rows of the forward pass, compiled for the CPU's widest vector instructions.
struct ForwardRows<'a> {
    out: &'a mut [f32],
    stats: &'a mut [f32],
    x: &'a [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    epsilon: f32,
}

impl pulp::WithSimd for ForwardRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let width = self.gamma.len();
        let rows = self
            .out
            .chunks_exact_mut(width)
            .zip(self.stats.chunks_exact_mut(2))
            .zip(self.x.chunks_exact(width));
        for ((out, stats), x) in rows {
            let mean = sum([x, x, x], |v, _, _| v) / width as f32;
            let var = sum([x, x, x], |v, _, _| (v - mean) * (v - mean)) / width as f32;
            let r = (var + self.epsilon).sqrt().recip();
            for (((o, &v), &g), &b) in out.iter_mut().zip(x).zip(self.gamma).zip(self.beta) {
                *o = (v - mean) * r * g + b;
            }
            stats.copy_from_slice(&[mean, r]);
        }
    }
}

/// The gradients `[∂x, ∂γ, ∂β]` from the gradient `grad` `[rows, width]` of the output.
fn backward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    stats: &FlexTensor,
    grad: &FlexTensor,
) -> [FlexTensor; 3] {
    let dims = x.layout().shape();
    let (rows, width) = (dims[0], dims[1]);
    let (x, gamma, grad) = (
        x.to_contiguous(),
        gamma.to_contiguous(),
        grad.to_contiguous(),
    );
    let x = x.as_slice::<f32>().expect("a contiguous f32 tensor");
    let gamma = gamma.as_slice::<f32>().expect("a contiguous f32 tensor");
    let stats = stats.as_slice::<f32>().expect("the forward's tensor");
    let grad = grad.as_slice::<f32>().expect("a contiguous f32 tensor");
    let mut d_x = vec![0.0f32; rows * width];
    let arch = pulp::Arch::new();
    // Each task's sums of `g ⊙ x̂` and `g`, side by side.
    let partials: Vec<Vec<f64>> = d_x
        .par_chunks_mut(ROWS_PER_TASK * width)
        .zip(x.par_chunks(ROWS_PER_TASK * width))
        .zip(grad.par_chunks(ROWS_PER_TASK * width))
        .zip(stats.par_chunks(ROWS_PER_TASK * 2))
        .map(|(((d_x, x), grad), stats)| {
            let mut sums = vec![0.0f64; 2 * width];
            arch.dispatch(BackwardRows {
                d_x,
                sums: &mut sums,
                x,
                grad,
                stats,
                gamma,
            });
            sums
        })
        .collect();
    let mut sums = vec![0.0f64; 2 * width];
    for partial in &partials {
        sums.iter_mut().zip(partial).for_each(|(s, p)| *s += p);
    }
    let (d_gamma, d_beta) = sums.split_at(width);
    let to_f32 = |s: &[f64]| s.iter().map(|&s| s as f32).collect::<Vec<f32>>();
    [
        FlexTensor::from_data(TensorData::new(d_x, [rows, width])),
        FlexTensor::from_data(TensorData::new(to_f32(d_gamma), [width])),
        FlexTensor::from_data(TensorData::new(to_f32(d_beta), [width])),
    ]
}

/// One task's rows of the backward pass, compiled for the CPU's widest vector instructions:
/// `∂x` of each row, and the rows' `g ⊙ x̂` and `g` added into `sums`.
struct BackwardRows<'a> {
    d_x: &'a mut [f32],
    sums: &'a mut [f64],
    x: &'a [f32],
    grad: &'a [f32],
    stats: &'a [f32],
    gamma: &'a [f32],
}

impl pulp::WithSimd for BackwardRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let width = self.gamma.len();
        let (d_gamma, d_beta) = self.sums.split_at_mut(width);
        let rows = self
            .d_x
            .chunks_exact_mut(width)
            .zip(self.x.chunks_exact(width))
            .zip(self.grad.chunks_exact(width))
            .zip(self.stats.chunks_exact(2));
        for (((d_x, x), g), stats) in rows {
            let (mean, r) = (stats[0], stats[1]);
            let x_hat = |v: f32| (v - mean) * r;
            let g_hat_mean = sum([g, self.gamma, x], |g, w, _| g * w) / width as f32;
            let g_hat_x_hat_mean =
                sum([g, self.gamma, x], |g, w, v| g * w * x_hat(v)) / width as f32;
            for ((((d, &v), &g), &w), (d_gamma, d_beta)) in d_x
                .iter_mut()
                .zip(x)
                .zip(g)
                .zip(self.gamma)
                .zip(d_gamma.iter_mut().zip(d_beta.iter_mut()))
            {
                let v_hat = x_hat(v);
                *d = r * (g * w - g_hat_mean - v_hat * g_hat_x_hat_mean);
                *d_gamma += f64::from(g * v_hat);
                *d_beta += f64::from(g);
            }
        }
    }
}

/// The sum of `f(a[i], b[i], c[i])` over three slices of one length, in 16 running sums, so
/// that the loop is widened to vector instructions (a single running sum is a chain the
/// compiler may not reorder).
#[inline(always)]
fn sum([a, b, c]: [&[f32]; 3], f: impl Fn(f32, f32, f32) -> f32) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [0.0f32; LANES];
    let (a, b, c) = (
        a.chunks_exact(LANES),
        b.chunks_exact(LANES),
        c.chunks_exact(LANES),
    );
    let mut tail = 0.0;
    for ((&a, &b), &c) in a.remainder().iter().zip(b.remainder()).zip(c.remainder()) {
        tail += f(a, b, c);
    }
    for ((a, b), c) in a.zip(b).zip(c) {
        for lane in 0..LANES {
            lanes[lane] += f(a[lane], b[lane], c[lane]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::LayerNormConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    #[test]
    fn the_epsilon_is_read_back_exactly() {
        let device = Device::flex();
        for epsilon in [1e-5, 1e-6, 0.1, 1.0 / 3.0, 1e-12] {
            let norm = LayerNormConfig::new(4).with_epsilon(epsilon).init(&device);
            assert_eq!(super::epsilon(&norm), epsilon);
        }
    }

    /// The op's output and its gradients (input, γ, β) against Burn's `LayerNorm`, on a 3-D
    /// input of more rows than one task holds, with γ and β away from their initial 1 and 0,
    /// and rows whose mean is far from 0.
    #[test]
    fn the_op_matches_burns_layer_norm_forward_and_backward() {
        let device = Device::flex().autodiff();
        let mut norm = LayerNormConfig::new(200).with_epsilon(1e-5).init(&device);
        let random = |mean: f64| {
            Param::from_tensor(Tensor::random(
                [200],
                Distribution::Normal(mean, 0.5),
                &device,
            ))
        };
        norm.gamma = random(1.0);
        norm.beta = Some(random(0.0));
        let shift: Tensor<3> = Tensor::random([7, 30, 1], Distribution::Normal(0.0, 5.0), &device);
        let x: Tensor<3> = (Tensor::random([7, 30, 200], Distribution::Normal(0.0, 2.0), &device)
            + shift)
            .detach()
            .require_grad();
        let upstream: Tensor<3> = Tensor::random([7, 30, 200], Distribution::Default, &device);

        let run = |out: Tensor<3>| {
            let grads = (out.clone() * upstream.clone()).sum().backward();
            let gamma = norm.gamma.grad(&grads).expect("a gamma gradient");
            let beta = norm
                .beta
                .as_ref()
                .unwrap()
                .grad(&grads)
                .expect("a beta gradient");
            let x = x.grad(&grads).expect("an input gradient");
            [
                out.into_data(),
                x.into_data(),
                gamma.into_data(),
                beta.into_data(),
            ]
        };
        let ours = run(layer_norm(&norm, x.clone()));
        let reference = run(norm.forward(x.clone()));
        for (ours, reference) in ours.iter().zip(&reference) {
            ours.assert_approx_eq::<f32>(reference, Tolerance::rel_abs(1e-5, 1e-5));
        }
    }

    /// Without a graph (evaluation), the op gives the same values.
    #[test]
    fn without_autodiff_the_op_matches_burns_layer_norm() {
        let device = Device::flex();
        let norm = LayerNormConfig::new(48).with_epsilon(1e-6).init(&device);
        let x: Tensor<2> = Tensor::random([70, 48], Distribution::Normal(3.0, 2.0), &device);
        layer_norm(&norm, x.clone())
            .into_data()
            .assert_approx_eq::<f32>(&norm.forward(x).into_data(), Tolerance::rel_abs(1e-5, 1e-6));
    }
}
