//! QuickGELU, `x · σ(1.702 x)`, as one operation with its own backward pass.
//!
//! Written with Burn's tensor ops, QuickGELU is three passes forward (scale, sigmoid, product)
//! and five backward, and Burn's CPU backend takes each sigmoid with a scalar `exp` behind a
//! branch: in the `small` preset's forward pass that was a fifth of the time
//! (`docs/performance.md`). Here it is a backend extension: on the CPU one vectorised pass
//! each way (a branch-free `exp` the compiler widens to AVX-512 or AVX2, chosen at run time),
//! spread over the threads for large tensors, with only `x` kept for the backward pass. Other
//! backends (the GPU ones) and dtypes other than f32 use the composition of Burn's ops.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex};
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

/// The slope inside QuickGELU's sigmoid.
const SLOPE: f32 = 1.702;

/// `x · σ(1.702 x)` on any tensor, through the backend's own implementation where it has one.
pub fn quick_gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(Dispatch::quick_gelu(x.into_dispatch()))
}

/// QuickGELU and its gradient as backend operations.
#[backend_extension(
    Flex,
    Cube: cfg(any(feature = "wgpu", feature = "cuda")),
    Autodiff
)]
pub trait QuickGeluBackend: Backend {
    /// `x · σ(1.702 x)`.
    fn quick_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        composed_forward::<Self>(x)
    }

    /// `grad · (s + 1.702 x s (1 − s))` with `s = σ(1.702 x)`: the gradient with respect to `x`.
    fn quick_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composed_backward::<Self>(x, grad)
    }
}

fn composed_forward<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let s = B::sigmoid(B::float_mul_scalar(x.clone(), SLOPE.into()));
    B::float_mul(x, s)
}

fn composed_backward<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let s = B::sigmoid(B::float_mul_scalar(x.clone(), SLOPE.into()));
    let one_minus_s = B::float_add_scalar(B::float_neg(s.clone()), 1.0.into());
    let slope_x = B::float_mul_scalar(x, SLOPE.into());
    let derivative = B::float_add(
        s.clone(),
        B::float_mul(B::float_mul(slope_x, s), one_minus_s),
    );
    B::float_mul(grad, derivative)
}

impl QuickGeluBackend for Flex {
    fn quick_gelu(x: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 {
            return composed_forward::<Flex>(x);
        }
        let x = x.to_contiguous();
        let input = x.as_slice::<f32>().expect("a contiguous f32 tensor");
        let mut output = vec![0.0f32; input.len()];
        for_chunks(&mut output, input, |out, x| *out = forward(x));
        FlexTensor::from_data(TensorData::new(output, x.layout().shape().clone()))
    }

    fn quick_gelu_backward(x: FlexTensor, grad: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return composed_backward::<Flex>(x, grad);
        }
        let x = x.to_contiguous();
        let input = x.as_slice::<f32>().expect("a contiguous f32 tensor");
        let mut grad = owned_contiguous(grad);
        for_chunks(grad.storage_mut::<f32>(), input, |g, x| *g *= derivative(x));
        grad
    }
}

/// `t` itself where it is the only handle on a buffer that holds exactly its elements in order
/// (the usual case for an incoming gradient, which is then scaled where it lies), else a copy.
fn owned_contiguous(t: FlexTensor) -> FlexTensor {
    let n = t.layout().num_elements();
    let whole_buffer = t.layout().contiguous_offsets() == Some((0, n))
        && t.bytes().len() == n * std::mem::size_of::<f32>();
    if t.is_unique() && whole_buffer {
        return t;
    }
    let shape = t.layout().shape().clone();
    let values = t
        .to_contiguous()
        .as_slice::<f32>()
        .expect("contiguous f32")
        .to_vec();
    FlexTensor::from_data(TensorData::new(values, shape))
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl QuickGeluBackend for burn::backend::Cube {}

impl<B: QuickGeluBackend, C: CheckpointStrategy> QuickGeluBackend for Autodiff<B, C> {
    fn quick_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct QuickGeluGrad;

        impl<B: QuickGeluBackend> Backward<B, 1> for QuickGeluGrad {
            /// The input: the gradient needs nothing else.
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let x = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::quick_gelu_backward(x, grad)
                });
            }
        }

        let (x, node) = x.into_parts();
        match QuickGeluGrad
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(x.clone(), B::quick_gelu(x)),
            OpsKind::UnTracked(prep) => prep.finish(B::quick_gelu(x)),
        }
    }
}

/// Elements per task when a tensor is split over the threads: large enough that a task
/// outweighs its scheduling, small enough that both cores of a small tensor get work.
const CHUNK: usize = 16 * 1024;

/// Applies `op` to each `(out[i], x[i])`, in parallel chunks, each chunk compiled for the
/// widest vector instructions the CPU has.
fn for_chunks(out: &mut [f32], x: &[f32], op: impl Fn(&mut f32, f32) + Sync + Copy) {
    let arch = pulp::Arch::new();
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(out, x)| arch.dispatch(Elementwise { out, x, op }));
}

/// One chunk of an element-wise loop, run by `pulp` inside a function compiled with the
/// CPU's vector extensions enabled, so that the loop is widened to them.
struct Elementwise<'a, F> {
    out: &'a mut [f32],
    x: &'a [f32],
    op: F,
}

impl<F: Fn(&mut f32, f32)> pulp::WithSimd for Elementwise<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for (out, &x) in self.out.iter_mut().zip(self.x) {
            (self.op)(out, x);
        }
    }
}

/// `x · σ(1.702 x)`.
#[inline(always)]
fn forward(x: f32) -> f32 {
    x / (1.0 + exp(-SLOPE * x))
}

/// `s + 1.702 x s (1 − s)` with `s = σ(1.702 x)`.
#[inline(always)]
fn derivative(x: f32) -> f32 {
    let s = 1.0 / (1.0 + exp(-SLOPE * x));
    s + SLOPE * x * s * (1.0 - s)
}

/// `e^x` without branches, so that loops over it vectorise: the argument is clamped to
/// [-87, 88] (where `e^x` is a normal f32; a sigmoid there is 0 or 1 to f32 precision anyway),
/// split as `x = n ln 2 + r` with `|r| ≤ ln 2 / 2` (Cody–Waite, ln 2 in two parts), and
/// `e^r` taken by Cephes' `expf` polynomial; `2^n` is built in the exponent bits. Within
/// 2 ulp of the correctly rounded `e^x` (tested against f64).
#[inline(always)]
fn exp(x: f32) -> f32 {
    // Adding and subtracting 1.5 · 2^23 rounds to the nearest integer (for |x| < 2^22).
    const ROUND: f32 = 12_582_912.0;
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = (x - n * LN2_HIGH) - n * LN2_LOW;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    let two_to_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    e_r * two_to_n
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    /// Units in the last place between `got` and the exact `want`.
    fn ulps(got: f32, want: f64) -> f64 {
        let want32 = want as f32;
        let ulp = (f32::from_bits(want32.abs().to_bits() + 1) - want32.abs()) as f64;
        (got as f64 - want).abs() / ulp
    }

    #[test]
    fn exp_is_within_two_ulp_over_its_range() {
        let mut worst = 0.0f64;
        for i in 0..=1_750_000 {
            let x = -87.0 + i as f32 * 1e-4;
            worst = worst.max(ulps(exp(x), (x as f64).exp()));
        }
        assert!(worst <= 2.0, "exp is {worst} ulp off");
    }

    #[test]
    fn exp_saturates_instead_of_overflowing() {
        assert_eq!(exp(1000.0), exp(88.0));
        assert!(exp(88.0).is_finite());
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(-87.0) > 0.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn forward_and_derivative_match_the_formulas_in_f64() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.01;
            let s = 1.0 / (1.0 + (-1.702 * x as f64).exp());
            let want = x as f64 * s;
            let want_derivative = s + 1.702 * x as f64 * s * (1.0 - s);
            assert!(
                (forward(x) as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "{x}"
            );
            assert!(
                (derivative(x) as f64 - want_derivative).abs() <= 1e-6,
                "{x}: {} vs {want_derivative}",
                derivative(x)
            );
        }
    }

    /// The op's value and gradient against the composition of Burn's ops it replaces, on a
    /// tensor large enough to be split over threads.
    #[test]
    fn the_op_matches_burns_ops_forward_and_backward() {
        let device = Device::flex().autodiff();
        let x: Tensor<2> =
            Tensor::random([70, 1000], Distribution::Normal(0.0, 3.0), &device).require_grad();
        let upstream: Tensor<2> = Tensor::random([70, 1000], Distribution::Default, &device);

        let ours = quick_gelu(x.clone());
        let ours_grad = x
            .grad(&(ours.clone() * upstream.clone()).sum().backward())
            .unwrap();
        let reference = x.clone() * burn::tensor::activation::sigmoid(x.clone() * SLOPE);
        let reference_grad = x
            .grad(&(reference.clone() * upstream).sum().backward())
            .unwrap();

        ours.into_data().assert_approx_eq::<f32>(
            &reference.into_data(),
            burn::tensor::Tolerance::absolute(1e-6),
        );
        ours_grad.into_data().assert_approx_eq::<f32>(
            &reference_grad.into_data(),
            burn::tensor::Tolerance::absolute(1e-6),
        );
    }
}
