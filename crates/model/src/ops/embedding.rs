//! The token embedding with a gradient made in one buffer.
//!
//! The gradient of a lookup in an `n × width` table is the table's shape, zero but for the
//! looked-up rows. Burn's CPU backend allocates it through the zero-fill-and-copy path of
//! every output (`linear.rs` says which), and for CLIP's 49 408-token vocabulary that is the
//! largest tensor of a small model's step: 5 % of the default job's CPU time was that copy
//! and fill (`docs/performance.md`). Here, on the CPU, the gradient is one zeroed `f32`
//! vector the rows' gradients are added into, in token order, as Burn's `select_assign`
//! adds them: the same numbers, one buffer fewer. The lookup itself is Burn's.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex};
use burn::nn::Embedding;
use burn::tensor::{DType, Int, Tensor, TensorData};

/// The rows of `layer`'s table for `tokens` `[batch, length]` → `[batch, length, width]`.
pub fn embed(layer: &Embedding, tokens: Tensor<2, Int>) -> Tensor<3> {
    let weight = layer.weight.val().into_dispatch();
    Tensor::from_dispatch(Dispatch::embed_tokens(weight, tokens.into_dispatch()))
}

/// An embedding lookup whose gradient the backend may build its own way.
#[backend_extension(
    Flex,
    Cube: cfg(any(feature = "wgpu", feature = "cuda")),
    Autodiff
)]
pub trait EmbeddingBackend: Backend {
    /// `weight`'s rows for `indices` `[batch, length]`.
    fn embed_tokens(weight: FloatTensor<Self>, indices: IntTensor<Self>) -> FloatTensor<Self> {
        Self::embedding(weight, indices)
    }

    /// The gradient with respect to `weight` (its shape) of the lookup of `indices`, from
    /// the gradient `grad` `[batch, length, width]` of its output.
    fn embed_tokens_backward(
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        indices: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::embedding_backward(weight, grad, indices)
    }
}

impl EmbeddingBackend for Flex {
    fn embed_tokens_backward(
        weight: FlexTensor,
        grad: FlexTensor,
        indices: FlexTensor,
    ) -> FlexTensor {
        let table = weight.layout().shape();
        let (rows, width) = (table[0], table[1]);
        let indices = indices.to_contiguous();
        // A negative id becomes a huge one, which the bounds check below names.
        let ids: Option<Vec<usize>> = match indices.dtype() {
            DType::I64 => indices
                .as_slice::<i64>()
                .map(|ids| ids.iter().map(|&i| i as usize).collect()),
            DType::I32 => indices
                .as_slice::<i32>()
                .map(|ids| ids.iter().map(|&i| i as usize).collect()),
            _ => None,
        };
        let (Some(ids), DType::F32) = (ids, grad.dtype()) else {
            return Self::embedding_backward(weight, grad, indices);
        };
        let grad = grad.to_contiguous();
        let grad = grad.as_slice::<f32>().expect("a contiguous f32 tensor");
        let mut table_grad = vec![0.0f32; rows * width];
        for (&id, row) in ids.iter().zip(grad.chunks_exact(width)) {
            assert!(
                id < rows,
                "token id {id} outside the {rows}-row embedding table"
            );
            let target = &mut table_grad[id * width..(id + 1) * width];
            target.iter_mut().zip(row).for_each(|(t, g)| *t += g);
        }
        FlexTensor::from_data(TensorData::new(table_grad, [rows, width]))
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl EmbeddingBackend for burn::backend::Cube {}

impl<B: EmbeddingBackend, C: CheckpointStrategy> EmbeddingBackend for Autodiff<B, C> {
    fn embed_tokens(weight: FloatTensor<Self>, indices: IntTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct EmbeddingGrad;

        impl<B: EmbeddingBackend> Backward<B, 1> for EmbeddingGrad {
            /// The table (for its shape) and the looked-up ids.
            type State = (FloatTensor<B>, IntTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let (weight, indices) = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::embed_tokens_backward(weight, grad, indices)
                });
            }
        }

        let (weight, node) = weight.into_parts();
        match EmbeddingGrad
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                (weight.clone(), indices.clone()),
                B::embed_tokens(weight, indices),
            ),
            OpsKind::UnTracked(prep) => prep.finish(B::embed_tokens(weight, indices)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::EmbeddingConfig;
    use burn::tensor::{Device, Distribution};

    /// The op's output and table gradient are Burn's `Embedding`'s, bit for bit, with
    /// repeated tokens (their gradients add up) and untouched rows (zero).
    #[test]
    fn the_op_matches_burns_embedding_exactly() {
        let device = Device::flex().autodiff();
        let layer = EmbeddingConfig::new(50, 8).init(&device);
        let ids: Vec<i64> = (0..3 * 7).map(|i| (i * i) % 23).collect();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [3, 7]), &device);
        let upstream: Tensor<3> = Tensor::random([3, 7, 8], Distribution::Default, &device);

        let run = |out: Tensor<3>| {
            let grads = (out.clone() * upstream.clone()).sum().backward();
            let table = layer.weight.grad(&grads).expect("a table gradient");
            (out.into_data(), table.into_data())
        };
        let (ours, ours_grad) = run(embed(&layer, tokens.clone()));
        let (reference, reference_grad) = run(layer.forward(tokens));
        assert_eq!(ours, reference);
        assert_eq!(ours_grad, reference_grad);
    }
}
