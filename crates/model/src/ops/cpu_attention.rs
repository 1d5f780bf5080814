//! Multi-head self-attention on the CPU as one operation, forward and backward.
//!
//! Through Burn's ops, attention on the fused q/k/v projection is a chunk into q, k and v,
//! a copy of each into heads-first order, Burn's attention kernel (two small matrix products
//! per sequence and head), and a copy back; backward, Burn decomposes it into a dozen ops,
//! each allocating a full-size output, and the chunk's gradient is three zero-filled copies
//! of the projection's output. For the towers' short sequences that bookkeeping outweighed
//! the arithmetic (`docs/performance.md`). Here each sequence is one task on the threads:
//! per head, `S = q kᵀ / √d` and `P · v` are `gemm` calls on strided views of the
//! projection's output, written straight into the heads' columns of the result; the softmax
//! probabilities `P` are the only thing kept for the backward pass, which writes `∂q`, `∂k`
//! and `∂v` into one buffer shaped like the projection's output.
//!
//! Sequences are independent tasks, so the result does not depend on the thread count.
//! Other backends (the GPUs, where Burn's attention is a fused kernel) and dtypes other than
//! f32 go through Burn's ops (`attention.rs`).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::matrix::{multiply_into, Matrix};

/// The attention of `qkv` `[batch, tokens, 3 · width]` (q, k and v side by side, each split
/// into `heads` heads) → `[batch, tokens, width]`, the heads' outputs side by side; every
/// token attends to the tokens up to itself when `causal`, else to all. CPU tensors only
/// (see [`crate::is_cpu`]).
pub fn self_attention(qkv: Tensor<3>, heads: usize, causal: bool) -> Tensor<3> {
    Tensor::from_dispatch(Dispatch::self_attention(qkv.into_dispatch(), heads, causal))
}

/// Self-attention over a fused q/k/v tensor as one backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait CpuAttentionBackend: Backend {
    /// See [`self_attention`].
    fn self_attention(qkv: FloatTensor<Self>, heads: usize, causal: bool) -> FloatTensor<Self>;
}

impl CpuAttentionBackend for Flex {
    fn self_attention(qkv: FlexTensor, heads: usize, causal: bool) -> FlexTensor {
        forward(&qkv, heads, causal).context
    }
}

impl<C: CheckpointStrategy> CpuAttentionBackend for Autodiff<Flex, C> {
    fn self_attention(qkv: FloatTensor<Self>, heads: usize, causal: bool) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct AttentionGrad;

        impl Backward<Flex, 1> for AttentionGrad {
            /// The input, the softmax probabilities and the number of heads.
            type State = (FlexTensor, FlexTensor, usize);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let (qkv, probabilities, heads) = ops.state;
                unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
                    backward(&qkv, &probabilities, &grad, heads)
                });
            }
        }

        let (qkv, node) = qkv.into_parts();
        match AttentionGrad
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = forward(&qkv, heads, causal);
                prep.finish((qkv, out.probabilities, heads), out.context)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(&qkv, heads, causal).context),
        }
    }
}

/// The sizes of one call: `batch` sequences of `tokens`, `heads` heads of `head_dim`.
#[derive(Clone, Copy)]
struct Shape {
    batch: usize,
    tokens: usize,
    heads: usize,
    head_dim: usize,
}

impl Shape {
    fn of(qkv: &FlexTensor, heads: usize) -> Shape {
        let dims = qkv.layout().shape();
        let [batch, tokens, three_width] = [dims[0], dims[1], dims[2]];
        assert!(
            three_width % (3 * heads) == 0,
            "q, k and v of {three_width} channels in all do not split into {heads} heads"
        );
        Shape {
            batch,
            tokens,
            heads,
            head_dim: three_width / (3 * heads),
        }
    }

    fn width(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Head `h` of q (`part` 0), k (1) or v (2) in one sequence's rows of the fused tensor.
    fn head<'a>(&self, rows: &'a [f32], part: usize, h: usize) -> Matrix<'a> {
        let start = part * self.width() + h * self.head_dim;
        Matrix::new(&rows[start..], self.tokens, self.head_dim, 3 * self.width())
    }

    /// The scale of the scores, `1/√d`.
    fn scale(&self) -> f32 {
        (self.head_dim as f32).sqrt().recip()
    }
}

/// The forward pass's output and what its backward pass needs.
struct Forward {
    /// `[batch, tokens, width]`.
    context: FlexTensor,
    /// Softmax probabilities `[batch, heads, tokens, tokens]`, zero where causally masked.
    probabilities: FlexTensor,
}

fn forward(qkv: &FlexTensor, heads: usize, causal: bool) -> Forward {
    let shape = Shape::of(qkv, heads);
    let Shape { batch, tokens, .. } = shape;
    let (width, square) = (shape.width(), tokens * tokens);
    let qkv = qkv.to_contiguous();
    let qkv = qkv.as_slice::<f32>().expect("a contiguous f32 tensor");
    let mut context = vec![0.0f32; batch * tokens * width];
    let mut probabilities = vec![0.0f32; batch * heads * square];
    context
        .par_chunks_mut(tokens * width)
        .zip(probabilities.par_chunks_mut(heads * square))
        .zip(qkv.par_chunks(tokens * 3 * width))
        .for_each(|((context, probabilities), rows)| {
            for (h, p) in probabilities.chunks_mut(square).enumerate() {
                let (q, k, v) = (
                    shape.head(rows, 0, h),
                    shape.head(rows, 1, h),
                    shape.head(rows, 2, h),
                );
                multiply_into(p, tokens, q, k.transposed(), shape.scale(), false);
                softmax_rows(p, tokens, causal);
                let p = Matrix::new(p, tokens, tokens, tokens);
                let out = &mut context[h * shape.head_dim..];
                multiply_into(out, width, p, v, 1.0, false);
            }
        });
    Forward {
        context: FlexTensor::from_data(TensorData::new(context, [batch, tokens, width])),
        probabilities: FlexTensor::from_data(TensorData::new(
            probabilities,
            [batch, heads, tokens, tokens],
        )),
    }
}

/// Each row of the `n × n` scores `s` becomes its softmax, over the first `i + 1` entries of
/// row `i` (the rest set to 0) when `causal`.
fn softmax_rows(s: &mut [f32], n: usize, causal: bool) {
    for (i, row) in s.chunks_exact_mut(n).enumerate() {
        let (seen, masked) = row.split_at_mut(if causal { i + 1 } else { n });
        let max = seen.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for x in seen.iter_mut() {
            *x = (*x - max).exp();
            sum += *x;
        }
        seen.iter_mut().for_each(|x| *x /= sum);
        masked.fill(0.0);
    }
}

/// The gradient with respect to `qkv` from the gradient `grad` `[batch, tokens, width]` of
/// the output, per sequence and head (with `S` the scaled scores and `P = softmax(S)`):
/// `∂v = Pᵀ ∂O`, `∂P = ∂O vᵀ`, `∂S = P ⊙ (∂P − rowsum(P ⊙ ∂P))`, `∂q = ∂S k / √d`,
/// `∂k = ∂Sᵀ q / √d`.
fn backward(
    qkv: &FlexTensor,
    probabilities: &FlexTensor,
    grad: &FlexTensor,
    heads: usize,
) -> FlexTensor {
    let shape = Shape::of(qkv, heads);
    let Shape {
        batch,
        tokens,
        head_dim,
        ..
    } = shape;
    let (width, square) = (shape.width(), tokens * tokens);
    let qkv = qkv.to_contiguous();
    let qkv = qkv.as_slice::<f32>().expect("a contiguous f32 tensor");
    let probabilities = probabilities
        .as_slice::<f32>()
        .expect("the forward's tensor");
    let grad = grad.to_contiguous();
    let grad = grad.as_slice::<f32>().expect("a contiguous f32 tensor");
    let mut d_qkv = vec![0.0f32; batch * tokens * 3 * width];
    d_qkv
        .par_chunks_mut(tokens * 3 * width)
        .zip(qkv.par_chunks(tokens * 3 * width))
        .zip(probabilities.par_chunks(heads * square))
        .zip(grad.par_chunks(tokens * width))
        .for_each(|(((d_rows, rows), probabilities), grad)| {
            let mut d_scores = vec![0.0f32; square];
            for (h, p) in probabilities.chunks(square).enumerate() {
                let d_out = Matrix::new(&grad[h * head_dim..], tokens, head_dim, width);
                let (q, k, v) = (
                    shape.head(rows, 0, h),
                    shape.head(rows, 1, h),
                    shape.head(rows, 2, h),
                );
                let p_matrix = Matrix::new(p, tokens, tokens, tokens);
                let d_head = |part: usize| part * width + h * head_dim;
                multiply_into(
                    &mut d_rows[d_head(2)..],
                    3 * width,
                    p_matrix.transposed(),
                    d_out,
                    1.0,
                    false,
                );
                multiply_into(&mut d_scores, tokens, d_out, v.transposed(), 1.0, false);
                for (d, p) in d_scores
                    .chunks_exact_mut(tokens)
                    .zip(p.chunks_exact(tokens))
                {
                    let dot: f32 = d.iter().zip(p).map(|(d, p)| d * p).sum();
                    d.iter_mut().zip(p).for_each(|(d, p)| *d = p * (*d - dot));
                }
                let d_s = Matrix::new(&d_scores, tokens, tokens, tokens);
                let scale = shape.scale();
                multiply_into(&mut d_rows[d_head(0)..], 3 * width, d_s, k, scale, false);
                multiply_into(
                    &mut d_rows[d_head(1)..],
                    3 * width,
                    d_s.transposed(),
                    q,
                    scale,
                    false,
                );
            }
        });
    FlexTensor::from_data(TensorData::new(d_qkv, [batch, tokens, 3 * width]))
}
