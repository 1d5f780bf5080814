//! Linear layers, `x · W + b`, as one operation with its own backward pass.
//!
//! Burn's CPU backend allocates every matrix product's output by zero-filling a byte buffer
//! and then copying it into a second, 16-byte-aligned one (`FlexTensor::empty` through
//! `Bytes::from_bytes_vec`, Burn 0.22.1), and a linear layer adds its bias in a further pass.
//! In the default job that fill and copy were 17 % of the CPU time, most of it in the linear
//! layers' products forward and backward (`docs/performance.md`). Here, on the CPU, each
//! product writes straight into a fresh `f32` vector: forward, the bias is laid into the
//! output rows and the product added onto it in the same `gemm` call; backward, `∂x = g Wᵀ`
//! and `∂W = xᵀ g` are `gemm` calls on transposed views (no copies) and `∂b` one pass over
//! `g` (`matrix.rs` holds the products). Other backends (the GPU ones) and dtypes other than
//! f32 use the composition of Burn's ops.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::nn::Linear;
use burn::tensor::{DType, Shape, Tensor, TensorData};

use super::matrix::{multiply_into, product, Matrix};

/// `layer(x)` for `x` of any rank whose last axis is the layer's input, through the backend's
/// own linear operation where it has one. Layers without a bias (the towers' projections,
/// one small product per batch) go through Burn's.
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    let Some(bias) = &layer.bias else {
        return layer.forward(x);
    };
    let mut dims = x.dims();
    let [d_in, d_out] = layer.weight.dims();
    let rows = dims[..D - 1].iter().product();
    let out = Dispatch::linear_2d(
        x.reshape([rows, d_in]).into_dispatch(),
        layer.weight.val().into_dispatch(),
        bias.val().into_dispatch(),
    );
    dims[D - 1] = d_out;
    Tensor::<2>::from_dispatch(out).reshape(dims)
}

/// A linear layer on rows, `[rows, in] · [in, out] (+ [out])`, and its three gradients.
#[backend_extension(
    Flex,
    Cube: cfg(any(feature = "wgpu", feature = "cuda")),
    Autodiff
)]
pub trait LinearBackend: Backend {
    /// `x · weight + bias`.
    fn linear_2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        composed_forward::<Self>(x, weight, bias)
    }

    /// `grad · weightᵀ`: the gradient with respect to `x`.
    fn linear_2d_x_grad(grad: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(grad, Self::float_transpose(weight))
    }

    /// `xᵀ · grad`: the gradient with respect to the weight.
    fn linear_2d_weight_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(Self::float_transpose(x), grad)
    }

    /// The sum of `grad`'s rows: the gradient with respect to the bias.
    fn linear_2d_bias_grad(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let d_out = grad.shape()[1];
        Self::float_reshape(Self::float_sum_dim(grad, 0), Shape::new([d_out]))
    }
}

fn composed_forward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
) -> FloatTensor<B> {
    let d_out = bias.shape()[0];
    let bias = B::float_reshape(bias, Shape::new([1, d_out]));
    B::float_add(B::float_matmul(x, weight), bias)
}

impl LinearBackend for Flex {
    fn linear_2d(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        if [&x, &weight, &bias].iter().any(|t| t.dtype() != DType::F32) {
            return composed_forward::<Flex>(x, weight, bias);
        }
        let bias = bias.to_contiguous();
        let bias = bias.as_slice::<f32>().expect("a contiguous f32 tensor");
        product_with_bias(Matrix::of(&x), Matrix::of(&weight), bias)
    }

    fn linear_2d_x_grad(grad: FlexTensor, weight: FlexTensor) -> FlexTensor {
        if grad.dtype() != DType::F32 || weight.dtype() != DType::F32 {
            return Self::float_matmul(grad, Self::float_transpose(weight));
        }
        plain_product(Matrix::of(&grad), Matrix::of(&weight).transposed())
    }

    fn linear_2d_weight_grad(x: FlexTensor, grad: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return Self::float_matmul(Self::float_transpose(x), grad);
        }
        plain_product(Matrix::of(&x).transposed(), Matrix::of(&grad))
    }

    fn linear_2d_bias_grad(grad: FlexTensor) -> FlexTensor {
        if grad.dtype() != DType::F32 {
            let d_out = grad.shape()[1];
            return Self::float_reshape(Self::float_sum_dim(grad, 0), Shape::new([d_out]));
        }
        // Summed in f64: a bias's gradient adds thousands of rows that largely cancel, and
        // AdamW makes as much of a small gradient's rounding as of the gradient itself.
        let grad = grad.to_contiguous();
        let cols = grad.layout().shape()[1];
        let mut sums = vec![0.0f64; cols];
        for row in grad
            .as_slice::<f32>()
            .expect("contiguous f32")
            .chunks_exact(cols)
        {
            for (sum, &g) in sums.iter_mut().zip(row) {
                *sum += f64::from(g);
            }
        }
        let sums: Vec<f32> = sums.into_iter().map(|s| s as f32).collect();
        FlexTensor::from_data(TensorData::new(sums, [cols]))
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl LinearBackend for burn::backend::Cube {}

impl<B: LinearBackend, C: CheckpointStrategy> LinearBackend for Autodiff<B, C> {
    fn linear_2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        /// The gradients of `x · W + b`; the parents are `x`, `W` and `b`.
        #[derive(Debug)]
        struct LinearGrad;

        impl<B: LinearBackend> Backward<B, 3> for LinearGrad {
            /// The input and the weight: the gradients need nothing else.
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [x_node, weight_node, bias_node] = ops.parents;
                let (x, weight) = ops.state;
                let grad = grads.consume::<B>(&ops.node);
                if let Some(node) = bias_node {
                    grads.register::<B>(node.id, B::linear_2d_bias_grad(grad.clone()));
                }
                if let Some(node) = weight_node {
                    let weight_grad = B::linear_2d_weight_grad(x, grad.clone());
                    grads.register::<B>(node.id, weight_grad);
                }
                if let Some(node) = x_node {
                    grads.register::<B>(node.id, B::linear_2d_x_grad(grad, weight));
                }
            }
        }

        let (x, x_node) = x.into_parts();
        let (weight, weight_node) = weight.into_parts();
        let (bias, bias_node) = bias.into_parts();
        let nodes = [x_node, weight_node, bias_node];
        match LinearGrad.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                prep.finish((x.clone(), weight.clone()), B::linear_2d(x, weight, bias))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::linear_2d(x, weight, bias)),
        }
    }
}

/// `lhs · rhs + bias` (on every row) as a new tensor: the bias laid into the rows first and
/// the product added onto it in the same `gemm` call.
fn product_with_bias(lhs: Matrix, rhs: Matrix, bias: &[f32]) -> FlexTensor {
    let (m, n) = (lhs.rows(), rhs.cols());
    let mut out = Vec::with_capacity(m * n);
    (0..m).for_each(|_| out.extend_from_slice(bias));
    multiply_into(&mut out, n, lhs, rhs, 1.0, true);
    FlexTensor::from_data(TensorData::new(out, [m, n]))
}

/// `lhs · rhs` as a new tensor.
fn plain_product(lhs: Matrix, rhs: Matrix) -> FlexTensor {
    let shape = [lhs.rows(), rhs.cols()];
    FlexTensor::from_data(TensorData::new(product(lhs, rhs), shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    /// The op's output and its gradients (input, weight, bias) against Burn's `Linear`, on
    /// a 3-D input whose products are large enough to be split over threads.
    #[test]
    fn the_op_matches_burns_linear_forward_and_backward() {
        let device = Device::flex().autodiff();
        let layer = LinearConfig::new(96, 200).init(&device);
        let x: Tensor<3> =
            Tensor::random([7, 60, 96], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let upstream: Tensor<3> = Tensor::random([7, 60, 200], Distribution::Default, &device);

        let run = |out: Tensor<3>| {
            let grads = (out.clone() * upstream.clone()).sum().backward();
            let weight = layer.weight.grad(&grads).expect("a weight gradient");
            let bias = layer.bias.as_ref().expect("a bias").grad(&grads).unwrap();
            let x = x.grad(&grads).expect("an input gradient");
            [
                out.into_data(),
                x.into_data(),
                weight.into_data(),
                bias.into_data(),
            ]
        };
        let ours = run(linear(&layer, x.clone()));
        let reference = run(layer.forward(x.clone()));

        // The bias gradient (sums of 420 rows, about 200) is summed in f64 here and in f32 by
        // Burn: a relative tolerance.
        for (ours, reference) in ours.iter().zip(&reference) {
            ours.assert_approx_eq::<f32>(reference, Tolerance::rel_abs(1e-5, 1e-4));
        }
    }

    /// A transposed input is read in place, through its strides.
    #[test]
    fn a_transposed_input_is_read_in_place() {
        let device = Device::flex();
        let layer = LinearConfig::new(5, 3).init(&device);
        let x: Tensor<2> = Tensor::random([5, 4], Distribution::Default, &device);
        let ours = linear(&layer, x.clone().transpose());
        let reference = layer.forward(x.transpose());
        ours.into_data()
            .assert_approx_eq::<f32>(&reference.into_data(), Tolerance::absolute(1e-6));
    }
}
