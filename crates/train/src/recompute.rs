//! Activation checkpointing (`optim.activation_checkpointing`): a tower's backward pass that
//! keeps one tensor per transformer block instead of every activation of every block.
//!
//! The tower first runs without a graph, keeping only each block's input. The backward pass
//! then goes from the head to the stem one stage at a time: each stage runs again with a
//! graph on its kept input, made a leaf, and is pulled by the gradient of its output, which
//! gives that stage's parameter gradients and the gradient of its input, the pull of the
//! stage before. By the chain rule the sum of the stages' parameter gradients is the
//! tower's, and as every stage recomputes exactly what the forward pass computed (no
//! dropout), it is the gradient of one graph (a test compares them).
//!
//! Peak memory then holds the kept inputs and one block's activations, for a second forward
//! pass of every block: about a third more arithmetic. Burn's own gradient checkpointing
//! (`Device::gradient_checkpointing`) recomputes only the operations it marks memory-bound,
//! and our attention, linear and activation operations (`crates/model/src/ops`) keep their
//! own saved state, so it would free little here.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Int, Tensor};
use negclip_model::text::eot_positions;
use negclip_model::Clip;

/// What the backward pass of the towers works from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activations {
    /// Every activation of the forward pass is kept for the backward pass.
    Kept,
    /// Only each block's input is kept; the blocks run again in the backward pass.
    Recomputed,
}

impl Activations {
    /// From `optim.activation_checkpointing`.
    pub fn from_config(checkpointing: bool) -> Activations {
        if checkpointing {
            Activations::Recomputed
        } else {
            Activations::Kept
        }
    }
}

/// What a tower reads.
#[derive(Clone)]
pub enum TowerInput {
    Images(Tensor<4>),
    Texts(Tensor<2, Int>),
}

/// The parameter gradients of `⟨tower(input), grad⟩`, the tower the one `input` goes to, run
/// stage by stage (the module documentation). `towers` is the model the forward pass uses
/// (the model itself, or its cast copy in bf16 and f16: `precision.rs`); the gradients are
/// `model`'s.
pub fn checkpointed_pull(
    model: &Clip,
    towers: &Clip,
    input: TowerInput,
    grad: Tensor<2>,
) -> GradientsParams {
    let kept = block_inputs(towers, &input);
    let (blocks, causal) = match &input {
        TowerInput::Images(_) => (&towers.visual.transformer.resblocks, false),
        TowerInput::Texts(_) => (&towers.text.transformer.resblocks, true),
    };
    let mut sum = GradientsAccumulator::new();

    // The head, on the last block's output.
    let last = leaf(kept[blocks.len()].clone());
    let features = match &input {
        TowerInput::Images(_) => towers.visual.head(last.clone()),
        TowerInput::Texts(tokens) => towers
            .text
            .head(last.clone(), eot_positions(tokens.clone())),
    };
    let mut upstream = pulled(model, &mut sum, features, grad, &last);

    // Each block, last to first, on its kept input.
    for (block, input) in blocks.iter().zip(&kept).rev() {
        let x = leaf(input.clone());
        let y = block.forward(x.clone(), causal);
        upstream = pulled(model, &mut sum, y, upstream, &x);
    }

    // The stem, from the tower's input (a leaf of no gradient: pixels and token ids).
    let first = match input {
        TowerInput::Images(pixels) => towers.visual.stem(pixels),
        TowerInput::Texts(tokens) => towers.text.stem(tokens),
    };
    // A stem whose parameters are all fixed (`freeze.rs`) recorded no graph.
    let pull = (first * Tensor::from_inner(upstream)).sum();
    if pull.is_tracked() {
        sum.accumulate(model, GradientsParams::from_grads(pull.backward(), model));
    }
    sum.grads()
}

/// Each block's input and the last block's output, computed without a graph.
fn block_inputs(towers: &Clip, input: &TowerInput) -> Vec<Tensor<3>> {
    let plain = towers.valid();
    let (first, blocks, causal) = match input {
        TowerInput::Images(pixels) => (
            plain.visual.stem(pixels.clone().inner()),
            &plain.visual.transformer.resblocks,
            false,
        ),
        TowerInput::Texts(tokens) => (
            plain.text.stem(tokens.clone().inner()),
            &plain.text.transformer.resblocks,
            true,
        ),
    };
    let mut kept = vec![first];
    for block in blocks {
        let next = block.forward(kept[kept.len() - 1].clone(), causal);
        kept.push(next);
    }
    kept
}

/// A kept tensor made the leaf of a new graph.
fn leaf(kept: Tensor<3>) -> Tensor<3> {
    Tensor::from_inner(kept).require_grad()
}

/// Back-propagates `⟨output, grad⟩` through the stage that made `output` from `input`: adds
/// the stage's parameter gradients to `sum` and returns the gradient of `input`.
fn pulled<const D: usize>(
    model: &Clip,
    sum: &mut GradientsAccumulator<Clip>,
    output: Tensor<D>,
    grad: Tensor<D>,
    input: &Tensor<3>,
) -> Tensor<3> {
    let grads = (output * Tensor::from_inner(grad)).sum().backward();
    let upstream = input.grad(&grads).expect("the stage's input is a leaf");
    sum.accumulate(model, GradientsParams::from_grads(grads, model));
    upstream
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::{Device, Distribution, TensorData};
    use negclip_model::ClipConfig;

    /// Every parameter's gradient in both sets, in visiting order (`None`: no gradient).
    struct Pairs<'a> {
        sets: [&'a GradientsParams; 2],
        found: Vec<[Option<TensorData>; 2]>,
    }

    impl ModuleVisitor for Pairs<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let get = |set: &GradientsParams| set.get::<D>(param.id).map(|g| g.into_data());
            self.found.push([get(self.sets[0]), get(self.sets[1])]);
        }
    }

    fn floats(data: TensorData) -> Vec<f32> {
        data.convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    /// The block-by-block backward pass gives the gradients of one graph for both towers.
    #[test]
    fn checkpointed_gradients_equal_one_graphs() {
        let device = Device::flex().autodiff();
        device.seed(5);
        let config = ClipConfig::preset("tiny").unwrap();
        let model = config.init(&device);
        let s = config.vision.image_size;
        let pixels = Tensor::<4>::random([4, 3, s, s], Distribution::Normal(0.0, 1.0), &device);
        let ids: Vec<i64> = (0..4 * 8)
            .map(|i| match i % 8 {
                0 => 49406,
                p if p == 2 + i / 8 => 49407,
                p if p > 2 + i / 8 => 0,
                p => 300 + 7 * p as i64 + i as i64,
            })
            .collect();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [4, 8]), &device);
        let grad = Tensor::<2>::random(
            [4, config.embed_dim],
            Distribution::Normal(0.0, 1.0),
            &device.clone().inner(),
        );
        for input in [TowerInput::Images(pixels), TowerInput::Texts(tokens)] {
            let features = match input.clone() {
                TowerInput::Images(p) => model.encode_image(p),
                TowerInput::Texts(t) => model.encode_text(t),
            };
            let pull = (features * Tensor::from_inner(grad.clone())).sum();
            let whole = GradientsParams::from_grads(pull.backward(), &model);
            let staged = checkpointed_pull(&model, &model, input, grad.clone());
            let mut pairs = Pairs {
                sets: [&whole, &staged],
                found: Vec::new(),
            };
            model.visit(&mut pairs);
            let compared = pairs.found.iter().filter(|[a, _]| a.is_some()).count();
            assert!(compared > 10, "only {compared} parameters had gradients");
            for [whole, staged] in pairs.found {
                match (whole, staged) {
                    (None, None) => {}
                    (Some(whole), Some(staged)) => {
                        // Relative to the tensor's largest entry: the two passes add the same
                        // terms in different orders, so tiny entries differ relatively more.
                        let (whole, staged) = (floats(whole), floats(staged));
                        let scale = whole.iter().fold(0f32, |m, x| m.max(x.abs()));
                        let worst = whole
                            .iter()
                            .zip(&staged)
                            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                        assert!(worst <= 1e-5 * scale, "differs by {worst} at scale {scale}");
                    }
                    (a, b) => panic!("one pass has a gradient the other lacks: {a:?} {b:?}"),
                }
            }
        }
    }
}
