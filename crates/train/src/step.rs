//! One optimisation step: a NegCLIP batch through both towers (all captions in one text
//! pass), the loss, backward, optional global-norm clipping, AdamW and the logit-scale clamp.
//!
//! The towers share no weights, so each gets a graph of its own and the loss a third, on
//! detached copies of the embeddings; each tower's backward pass is then pulled by the
//! loss's gradient with respect to its embeddings. The gradients are those of one graph, bit
//! for bit, and on the CPU the two towers run side by side, forward and backward, on two
//! threads: a small tower's operations are too small for Burn to spread over the cores, so
//! one graph kept a single core busy (docs/performance.md, "Towers side by side").
//!
//! With `accum_steps = K > 1` the batch goes through the towers as K micro-batches, and the
//! loss is still the whole batch's: a contrastive loss does not split into per-micro-batch
//! losses, since every image is scored against every caption. So, as open_clip's
//! `accum_freq` does (here with hard images and hard captions too):
//! 1. embed every micro-batch without a graph (no activations kept);
//! 2. compute the whole batch's loss on those embeddings, made leaves of a new graph, and
//!    back-propagate it: the gradient of the loss with respect to every embedding (and the
//!    logit scale's gradient);
//! 3. run each micro-batch again with a graph and back-propagate `⟨embedding, its cached
//!    gradient⟩`: by the chain rule its parameter gradient is that micro-batch's share of the
//!    full gradient, and the shares add up to it.
//!
//! Peak memory holds one micro-batch's activations instead of the batch's, for a second
//! forward pass of the towers. The towers are deterministic (no dropout), so both passes see
//! the same function.
//!
//! With `precision = "bf16"` or `"f16"` the towers run on a cast copy of the weights
//! (`precision.rs`); with f16 the loss is scaled before the backward pass and the gradients
//! unscaled after it, and a step whose gradients are not finite is skipped.
//!
//! In a run of several ranks ([`Engine`]) the loss is the global batch's, over every rank's
//! embeddings, and the gradients are summed over the ranks before the update (`engine.rs`
//! derives why that is the single-process update).

use std::num::NonZeroUsize;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use negclip_model::text::trim_to_longest_text;
use negclip_model::{Clip, ClipConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::batches::Batch;
use crate::engine::Engine;
use crate::error::TrainError;
use crate::freeze::trains;
use crate::loss::{negclip_loss, LossOutput};
use crate::optim::{clip_factor, global_norm, scale_gradients, AdamW};
use crate::phases::{lap, PhaseClock};
use crate::precision::{LossScaler, Precision, ScaleChange};
use crate::recompute::{checkpointed_pull, Activations, TowerInput};

/// Numbers of one step for the log.
pub struct StepStats {
    pub loss: f64,
    pub image_to_text: f64,
    pub text_to_image: f64,
    pub grad_norm: Option<f64>,
    pub logit_scale: f64,
    /// N: anchors plus hard-negative images.
    pub images: usize,
    pub negatives: usize,
    /// f16 only: the loss scale after this step, and whether its gradients overflowed and the
    /// update was skipped.
    pub loss_scale: Option<f64>,
    pub skipped: bool,
}

/// How a step turns a batch into an update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateSettings {
    /// Clip the global gradient norm to this value.
    pub grad_clip_norm: Option<f64>,
    /// Micro-batches the towers see the batch in (the loss is the whole batch's).
    pub accum_steps: NonZeroUsize,
    /// What the towers compute in.
    pub precision: Precision,
    /// Whether each tower's block activations are kept for the backward pass or recomputed
    /// (`optim.activation_checkpointing`, `recompute.rs`).
    pub activations: Activations,
}

/// What every step of a run shares.
pub struct StepSettings {
    pub update: UpdateSettings,
    /// Side of the input images.
    pub image_size: usize,
    /// Token rows' length.
    pub context_length: usize,
    /// The (autodiff) device the model lives on.
    pub device: Device,
    /// The ranks the step is shared with.
    pub engine: Engine,
    /// Time each phase of every step (`negclip bench train-step --phases`); `None` in
    /// training.
    pub phases: Option<PhaseClock>,
}

/// A batch on the model's (autodiff) device: N images, their N captions, and M hard captions
/// (`None`: the plain CLIP loss).
pub struct DeviceBatch {
    /// N×3×S×S.
    pub images: Tensor<4>,
    /// N×L token ids.
    pub positives: Tensor<2, Int>,
    /// M×L token ids.
    pub negatives: Option<Tensor<2, Int>>,
}

impl StepSettings {
    pub fn new(
        clip: &ClipConfig,
        update: UpdateSettings,
        device: &Device,
        engine: &Engine,
    ) -> StepSettings {
        StepSettings {
            update,
            image_size: clip.vision.image_size,
            context_length: clip.text.context_length,
            device: device.clone(),
            engine: engine.clone(),
            phases: None,
        }
    }
}

/// Upload a batch to the device and take one step on it.
pub fn train_step(
    model: Clip,
    optimizer: &mut AdamW,
    batch: Batch,
    lr: f64,
    settings: &StepSettings,
    scaler: Option<&mut LossScaler>,
) -> Result<(Clip, StepStats), TrainError> {
    let (s, l, device) = (
        settings.image_size,
        settings.context_length,
        &settings.device,
    );
    let n = batch.n_images;
    let m = batch.n_negatives;
    let images = Tensor::<4>::from_data(TensorData::new(batch.pixels, [n, 3, s, s]), device);
    // Positives and negatives are encoded as one batch: cut both to its longest text.
    let mut ids = batch.positives;
    ids.extend(batch.negatives);
    let (ids, l) = trim_to_longest_text(&ids, n + m, l);
    let (positives, negatives) = ids.split_at(n * l);
    let tokens = |ids: &[u32], rows: usize| {
        let ids: Vec<i64> = ids.iter().map(|&id| i64::from(id)).collect();
        Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, l]), device)
    };
    let batch = DeviceBatch {
        images,
        positives: tokens(positives, n),
        negatives: (m > 0).then(|| tokens(negatives, m)),
    };
    negclip_step(model, optimizer, batch, lr, settings, scaler)
}

/// One optimisation step on a NegCLIP batch already on the model's (autodiff) device;
/// `scaler` for f16. Public so that `negclip bench train-step` times exactly this.
pub fn negclip_step(
    model: Clip,
    optimizer: &mut AdamW,
    batch: DeviceBatch,
    lr: f64,
    settings: &StepSettings,
    scaler: Option<&mut LossScaler>,
) -> Result<(Clip, StepStats), TrainError> {
    let (update, engine, clock) = (&settings.update, &settings.engine, settings.phases.as_ref());
    let n = batch.positives.dims()[0];
    let tokens = match batch.negatives {
        Some(negatives) => Tensor::cat(vec![batch.positives, negatives], 0),
        None => batch.positives,
    };
    let towers = update.precision.towers(&model);
    let images = update.precision.input(batch.images);
    let loss_scale = scaler.as_ref().map(|s| s.scale);
    let pass = Pass {
        model: &model,
        towers: &towers,
        loss_scale,
        activations: update.activations,
        engine,
        clock,
    };
    // Recomputed activations go through the micro-batch path, whose first forward pass
    // keeps no graph, with one micro-batch when `accum_steps` is 1.
    let (mut grads, out) = match (update.accum_steps.get(), update.activations) {
        (1, Activations::Kept) => tower_gradients(&pass, images, tokens, n)?,
        (k, _) => accumulated_gradients(&pass, images, tokens, [n, k])?,
    };
    // In fp32 the towers are the model's own weights: dropped now, the weights have one
    // owner again, and the CPU's AdamW updates them without copying them first.
    drop(towers);
    engine.reduce_gradients(&model, &mut grads)?;
    lap(clock, "gradient sum over the ranks");
    let mut stats = StepStats {
        loss: out.loss.loss.into_scalar::<f64>(),
        image_to_text: out.loss.image_to_text.into_scalar::<f64>(),
        text_to_image: out.loss.text_to_image.into_scalar::<f64>(),
        grad_norm: None,
        logit_scale: 0.0,
        images: out.images,
        negatives: out.negatives,
        loss_scale,
        skipped: false,
    };
    if let Some(scale) = loss_scale {
        scale_gradients(&model, &mut grads, 1.0 / scale);
    }
    if update.grad_clip_norm.is_some() || scaler.is_some() {
        stats.grad_norm = Some(global_norm(&model, &mut grads));
    }
    if let Some(scaler) = scaler {
        let change = scaler.update(stats.grad_norm.is_some_and(f64::is_finite));
        stats.loss_scale = Some(scaler.scale);
        if let ScaleChange::Skipped { .. } = change {
            stats.skipped = true;
            stats.logit_scale = model.logit_scale().into_scalar::<f64>();
            return Ok((model, stats));
        }
    }
    let grad_scale = match (update.grad_clip_norm, stats.grad_norm) {
        (Some(max), Some(norm)) => clip_factor(norm, max),
        _ => 1.0,
    };
    let model = optimizer.step(lr, grad_scale, model, grads);
    // CLIP's clamp of the learned temperature: exp(logit_scale) at most 100.
    let model = model.clamp_logit_scale(0.0, 100f32.ln());
    stats.logit_scale = model.logit_scale().into_scalar::<f64>();
    lap(clock, "clip + AdamW + clamp");
    Ok((model, stats))
}

/// What the gradient computations of one step share.
struct Pass<'a> {
    /// The model's parameters, which the gradients are for.
    model: &'a Clip,
    /// The towers that run: the model's weights, maybe cast (`precision.rs`).
    towers: &'a Clip,
    /// f16's loss scale.
    loss_scale: Option<f64>,
    activations: Activations,
    engine: &'a Engine,
    clock: Option<&'a PhaseClock>,
}

/// The loss of the global batch and its size: images (with their positive captions) and
/// hard captions.
struct GlobalLoss {
    loss: LossOutput,
    images: usize,
    negatives: usize,
}

/// The NegCLIP loss of the global batch from this rank's image embeddings and text embeddings
/// (the `n` positive captions, then the hard captions) and every other rank's, in fp32 or
/// wider whatever the towers ran in.
fn batch_loss(
    model: &Clip,
    image_emb: Tensor<2>,
    text_emb: Tensor<2>,
    n: usize,
    engine: &Engine,
) -> Result<GlobalLoss, TrainError> {
    let (image_emb, text_emb) = (image_emb.cast(DType::F32), text_emb.cast(DType::F32));
    let [rows, width] = text_emb.dims();
    let device = text_emb.device();
    let positives = text_emb.clone().narrow(0, 0, n);
    let negatives = (rows > n).then(|| text_emb.narrow(0, n, rows - n));
    let gather = |local: Option<Tensor<2>>| engine.gather_rows(local, width, &device);
    let images = gather(Some(image_emb))?.expect("this rank has images");
    let positives = gather(Some(positives))?.expect("this rank has captions");
    let negatives = gather(negatives)?;
    Ok(GlobalLoss {
        images: images.dims()[0],
        negatives: negatives.as_ref().map_or(0, |t| t.dims()[0]),
        loss: negclip_loss(images, positives, negatives, model.logit_scale()),
    })
}

/// The whole batch's loss and parameter gradients (times `loss_scale`) with one pass of each
/// tower (the model's weights, maybe cast) over the whole batch, the towers in graphs of
/// their own (the module documentation says why); `n` images.
fn tower_gradients(
    pass: &Pass,
    images: Tensor<4>,
    tokens: Tensor<2, Int>,
    n: usize,
) -> Result<(GradientsParams, GlobalLoss), TrainError> {
    let (model, towers) = (pass.model, pass.towers);
    let side_by_side = crate::device::is_cpu(&images.device());
    let (image_emb, text_emb) = both(
        side_by_side,
        || towers.encode_image(images),
        || towers.encode_text(tokens),
    );
    lap(pass.clock, "forward (both towers)");
    let (image_leaf, text_leaf) = (image_emb.clone().detach(), text_emb.clone().detach());
    let (mut total, [image_grad, text_grad], out) =
        loss_gradients(pass, [image_leaf, text_leaf], n)?;
    let (image_part, text_part) = both(
        side_by_side,
        || pulled_gradients(model, trains(&model.visual), image_emb, image_grad),
        || pulled_gradients(model, trains(&model.text), text_emb, text_grad),
    );
    total.accumulate(model, image_part);
    total.accumulate(model, text_part);
    lap(pass.clock, "backward (both towers)");
    Ok((total.grads(), out))
}

/// The global batch's loss (times `loss_scale`) on image and text embeddings made the leaves
/// of a graph of their own, its gradient with respect to each, and the logit scale's
/// gradient (the only parameter in that graph) in a sum the towers' shares are added to.
fn loss_gradients(
    pass: &Pass,
    [image_emb, text_emb]: [Tensor<2>; 2],
    n: usize,
) -> Result<(GradientsAccumulator<Clip>, [Tensor<2>; 2], GlobalLoss), TrainError> {
    let model = pass.model;
    let (image_leaf, text_leaf) = (image_emb.require_grad(), text_emb.require_grad());
    let out = batch_loss(model, image_leaf.clone(), text_leaf.clone(), n, pass.engine)?;
    let loss_grads = (out.loss.loss.clone() * pass.loss_scale.unwrap_or(1.0)).backward();
    let image_grad = image_leaf
        .grad(&loss_grads)
        .expect("image embeddings are leaves");
    let text_grad = text_leaf
        .grad(&loss_grads)
        .expect("text embeddings are leaves");
    let mut total = GradientsAccumulator::new();
    total.accumulate(model, GradientsParams::from_grads(loss_grads, model));
    lap(pass.clock, "loss + its backward (all ranks' embeddings)");
    Ok((total, [image_grad, text_grad], out))
}

/// The parameter gradients of `⟨embedding, grad⟩`: the share of the loss's gradient that
/// reaches the parameters through `embedding`, whose gradient `grad` is. None when the tower
/// that made it is fixed (`freeze.rs`): its forward pass recorded no graph.
fn pulled_gradients(
    model: &Clip,
    tower_trains: bool,
    embedding: Tensor<2>,
    grad: Tensor<2>,
) -> GradientsParams {
    if !tower_trains {
        return GradientsParams::new();
    }
    let pull = (embedding * Tensor::from_inner(grad)).sum();
    GradientsParams::from_grads(pull.backward(), model)
}

/// The sum over micro-batches of the parameter gradients of `⟨encode(part), grad⟩` (none
/// for a fixed tower).
fn micro_batch_pulls<T>(
    model: &Clip,
    tower_trains: bool,
    parts: Vec<T>,
    grads: Vec<Tensor<2>>,
    pull: impl Fn(T, Tensor<2>) -> GradientsParams,
) -> GradientsParams {
    if !tower_trains {
        return GradientsParams::new(); // a fixed tower needs no second pass
    }
    let mut sum = GradientsAccumulator::new();
    for (part, grad) in parts.into_iter().zip(grads) {
        sum.accumulate(model, pull(part, grad));
    }
    sum.grads()
}

/// `(a(), b())`, on two threads when `parallel`.
fn both<A: Send, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    match parallel {
        true => rayon::join(a, b),
        false => (a(), b()),
    }
}

/// The whole batch's loss and parameter gradients (times `loss_scale`), the towers (the
/// model's weights, maybe cast) run as `k` micro-batches (the module documentation gives the
/// three stages); `n` images.
fn accumulated_gradients(
    pass: &Pass,
    images: Tensor<4>,
    tokens: Tensor<2, Int>,
    [n, k]: [usize; 2],
) -> Result<(GradientsParams, GlobalLoss), TrainError> {
    let (model, towers) = (pass.model, pass.towers);
    let activations = pass.activations;
    let side_by_side = crate::device::is_cpu(&images.device());
    let image_parts = images.chunk(k, 0);
    let token_parts = tokens.chunk(k, 0);

    // 1. Every micro-batch's embeddings, without a graph.
    let frozen = towers.valid();
    let embed = |parts: &[Tensor<4>]| {
        let rows = parts.iter().map(|p| frozen.encode_image(p.clone().inner()));
        Tensor::from_inner(Tensor::cat(rows.collect(), 0))
    };
    let image_emb = embed(&image_parts);
    let text_rows = token_parts
        .iter()
        .map(|p| frozen.encode_text(p.clone().inner()));
    let text_emb = Tensor::from_inner(Tensor::cat(text_rows.collect(), 0));
    lap(pass.clock, "forward (both towers)");

    // 2. The whole batch's loss on them: its gradient with respect to each embedding.
    let (mut total, [image_grad, text_grad], out) = loss_gradients(pass, [image_emb, text_emb], n)?;

    // 3. Each micro-batch again, with a graph, pulled by its cached gradient; the two
    //    towers side by side on the CPU, as in `tower_gradients`.
    let image_pulls = || {
        let trains = trains(&model.visual);
        micro_batch_pulls(
            model,
            trains,
            image_parts,
            image_grad.chunk(k, 0),
            |part, grad| {
                micro_batch_pull(model, towers, activations, TowerInput::Images(part), grad)
            },
        )
    };
    let text_pulls = || {
        let trains = trains(&model.text);
        micro_batch_pulls(
            model,
            trains,
            token_parts,
            text_grad.chunk(k, 0),
            |part, grad| {
                micro_batch_pull(model, towers, activations, TowerInput::Texts(part), grad)
            },
        )
    };
    let (image_part, text_part) = both(side_by_side, image_pulls, text_pulls);
    total.accumulate(model, image_part);
    total.accumulate(model, text_part);
    lap(pass.clock, "forward again + backward (both towers)");
    Ok((total.grads(), out))
}

/// One micro-batch's parameter gradients of `⟨tower(input), grad⟩`, the tower the one `input`
/// goes to, with its activations kept or recomputed block by block.
fn micro_batch_pull(
    model: &Clip,
    towers: &Clip,
    activations: Activations,
    input: TowerInput,
    grad: Tensor<2>,
) -> GradientsParams {
    match (activations, input) {
        (Activations::Kept, TowerInput::Images(pixels)) => {
            pulled_gradients(model, true, towers.encode_image(pixels), grad)
        }
        (Activations::Kept, TowerInput::Texts(tokens)) => {
            pulled_gradients(model, true, towers.encode_text(tokens), grad)
        }
        (Activations::Recomputed, input) => checkpointed_pull(model, towers, input, grad),
    }
}

/// Random token rows laid out as CLIP's tokenizer does (start id, words, end-of-text id, zeros
/// after), as long as `longest` (at most the context length; start and end included): the
/// first row fills it, the others are shorter. `train_step` cuts every batch to its longest
/// text, so this is the batch it encodes when the longest caption has `longest` tokens.
pub fn random_tokens(
    config: &ClipConfig,
    rows: usize,
    longest: usize,
    seed: u64,
    device: &Device,
) -> Tensor<2, Int> {
    let vocab = config.text.vocab_size as i64;
    assert!(
        (3..=config.text.context_length).contains(&longest),
        "a text is 3 to {} tokens long, not {longest}",
        config.text.context_length
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ids = vec![0i64; rows * longest];
    for (i, row) in ids.chunks_mut(longest).enumerate() {
        let words = match i {
            0 => longest - 2,
            _ => rng.random_range(1..=longest - 2),
        };
        row[0] = vocab - 2;
        for id in &mut row[1..=words] {
            *id = rng.random_range(1..vocab - 2);
        }
        row[words + 1] = vocab - 1;
    }
    Tensor::from_data(TensorData::new(ids, [rows, longest]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::parameters;
    use crate::optim::AdamWSettings;

    /// The shipped tiny model. Not a freshly initialised one: Burn draws initial weights from
    /// one generator per device, which the tests running in parallel share, so two fresh
    /// models of one seed can differ.
    fn start_model(device: &Device) -> (ClipConfig, Clip) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models/synthetic-tiny-clip.safetensors");
        let loaded = negclip_model::weights::load(&path, device).expect("the shipped model");
        (loaded.config, loaded.model)
    }

    /// A tiny model and one NegCLIP batch of 6 samples (12 images with their hard images, 12
    /// captions, 6 hard captions) on a device, the same on every device and in every test.
    struct Trial {
        model: Option<Clip>,
        config: ClipConfig,
        device: Device,
        optimizer: AdamW,
        images: Tensor<4>,
        positives: Tensor<2, Int>,
        negatives: Tensor<2, Int>,
    }

    impl Trial {
        fn new(device: &Device) -> Trial {
            let (config, model) = start_model(device);
            let s = config.vision.image_size;
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let pixels: Vec<f32> = (0..12 * 3 * s * s)
                .map(|_| rng.random_range(-1.5..1.5))
                .collect();
            Trial {
                model: Some(model),
                optimizer: AdamW::new(AdamWSettings::default()),
                images: Tensor::from_data(TensorData::new(pixels, [12, 3, s, s]), device),
                positives: random_tokens(&config, 12, config.text.context_length, 1, device),
                negatives: random_tokens(&config, 6, config.text.context_length, 2, device),
                config,
                device: device.clone(),
            }
        }

        fn step(&mut self, update: &UpdateSettings, scaler: Option<&mut LossScaler>) -> StepStats {
            let settings =
                StepSettings::new(&self.config, *update, &self.device, &Engine::single());
            let batch = DeviceBatch {
                images: self.images.clone(),
                positives: self.positives.clone(),
                negatives: Some(self.negatives.clone()),
            };
            let model = self.model.take().expect("a model");
            let (model, stats) =
                negclip_step(model, &mut self.optimizer, batch, 1e-3, &settings, scaler)
                    .expect("one process");
            self.model = Some(model);
            stats
        }

        fn parameters(&self) -> Vec<f32> {
            parameters(self.model.as_ref().expect("a model"))
        }
    }

    fn settings(k: usize, precision: Precision) -> UpdateSettings {
        UpdateSettings {
            grad_clip_norm: Some(1.0),
            accum_steps: NonZeroUsize::new(k).unwrap(),
            precision,
            activations: Activations::Kept,
        }
    }

    /// The parameters and losses after three fp32 steps in `k` micro-batches on `device`.
    fn three_steps(k: usize, device: &Device) -> (Vec<f32>, Vec<f64>) {
        three_steps_with(&settings(k, Precision::Fp32), device)
    }

    fn three_steps_with(update: &UpdateSettings, device: &Device) -> (Vec<f32>, Vec<f64>) {
        let mut trial = Trial::new(device);
        let losses = (0..3).map(|_| trial.step(update, None).loss).collect();
        (trial.parameters(), losses)
    }

    /// `optim.activation_checkpointing`: the blocks run again in the backward pass give the
    /// update of kept activations, with the whole batch and with micro-batches.
    #[test]
    fn recomputed_activations_give_the_kept_activations_update() {
        let cpu = Device::flex().autodiff();
        let (kept, kept_losses) = three_steps(1, &cpu);
        for k in [1, 4] {
            let update = UpdateSettings {
                activations: Activations::Recomputed,
                ..settings(k, Precision::Fp32)
            };
            let (recomputed, losses) = three_steps_with(&update, &cpu);
            for (a, b) in kept_losses.iter().zip(&losses) {
                assert!((a - b).abs() < 1e-6 * a.abs(), "k = {k}: loss {a} vs {b}");
            }
            let worst = kept
                .iter()
                .zip(&recomputed)
                .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
                .fold(0f32, f32::max);
            assert!(
                worst < 1e-5,
                "k = {k}: parameters differ by {worst} (relative)"
            );
        }
    }

    /// Every parameter's gradient, in visiting order, flattened.
    fn flat_gradients(model: &Clip, grads: &GradientsParams) -> Vec<f32> {
        struct Flatten<'a>(&'a GradientsParams, Vec<f32>);
        impl burn::module::ModuleVisitor for Flatten<'_> {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
                let grad = self
                    .0
                    .get::<D>(param.id)
                    .expect("every parameter has a gradient");
                self.1.extend(grad.into_data().iter::<f32>());
            }
        }
        let mut flat = Flatten(grads, Vec::new());
        model.visit(&mut flat);
        flat.1
    }

    #[test]
    fn towers_in_graphs_of_their_own_give_the_single_graphs_gradients_exactly() {
        let cpu = Device::flex().autodiff();
        let trial = Trial::new(&cpu);
        let model = trial.model.as_ref().unwrap();
        let tokens = Tensor::cat(vec![trial.positives.clone(), trial.negatives.clone()], 0);
        let engine = Engine::single();

        let pass = Pass {
            model,
            towers: model,
            loss_scale: None,
            activations: Activations::Kept,
            engine: &engine,
            clock: None,
        };
        let (split, split_loss) =
            tower_gradients(&pass, trial.images.clone(), tokens.clone(), 12).unwrap();
        let image_emb = model.encode_image(trial.images.clone());
        let text_emb = model.encode_text(tokens);
        let one = batch_loss(model, image_emb, text_emb, 12, &engine).unwrap();
        let single = GradientsParams::from_grads(one.loss.loss.clone().backward(), model);

        let loss = |out: GlobalLoss| out.loss.loss.into_scalar::<f64>();
        assert_eq!(loss(split_loss).to_bits(), loss(one).to_bits());
        let (split, single) = (
            flat_gradients(model, &split),
            flat_gradients(model, &single),
        );
        assert_eq!(split.len(), model.num_params());
        let differing = split
            .iter()
            .zip(&single)
            .filter(|(a, b)| a.to_bits() != b.to_bits());
        assert_eq!(
            differing.count(),
            0,
            "gradients differ from the single graph's"
        );
    }

    #[test]
    fn four_micro_batches_give_the_whole_batch_update() {
        let cpu = Device::flex().autodiff();
        let (whole, whole_losses) = three_steps(1, &cpu);
        // 12 image rows split 3/3/3/3, 18 text rows 5/5/5/3.
        let (micro, micro_losses) = three_steps(4, &cpu);
        let initial = parameters(&start_model(&cpu).1);
        // Within f32's rounding of the embeddings, which depends on the micro-batch size.
        for (a, b) in whole_losses.iter().zip(&micro_losses) {
            assert!((a - b).abs() < 1e-6 * a.abs(), "loss {a} vs {b}");
        }
        let moved = whole
            .iter()
            .zip(&initial)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            moved > 1e-3,
            "the steps must change the weights (moved {moved})"
        );
        let worst = whole
            .iter()
            .zip(&micro)
            .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "parameters differ by {worst} (relative)");
    }

    /// The GPU test set: three steps on the GPU follow three on the CPU. Lavapipe's exp and
    /// log are approximate, so the tolerance is looser than the CPU's bit-for-bit checks.
    #[cfg(feature = "wgpu")]
    #[test]
    fn gpu_three_steps_match_the_cpu() {
        let gpu = crate::device::select("wgpu").unwrap().autodiff();
        let (want, want_losses) = three_steps(1, &Device::flex().autodiff());
        let (got, got_losses) = three_steps(1, &gpu);
        for (a, b) in want_losses.iter().zip(&got_losses) {
            assert!(
                (a - b).abs() < 1e-4 * a.abs(),
                "loss {a} on the CPU, {b} on the GPU"
            );
        }
        let worst = want
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "parameters differ by {worst} (relative)");
    }

    /// The first steps of a bf16 run (towers in bf16, fp32 masters, AdamW and loss) follow
    /// the fp32 loss curve, and learn as much.
    #[test]
    fn bf16_follows_the_fp32_loss_curve() {
        let curve = |precision| {
            let mut trial = Trial::new(&Device::flex().autodiff());
            let update = settings(1, precision);
            (0..STEPS)
                .map(|_| trial.step(&update, None).loss)
                .collect::<Vec<_>>()
        };
        const STEPS: usize = 30;
        let (fp32, bf16) = (curve(Precision::Fp32), curve(Precision::Bf16));
        assert!(fp32[STEPS - 1] < 0.5 * fp32[0], "fp32 learns: {fp32:?}");
        let worst = fp32
            .iter()
            .zip(&bf16)
            .map(|(a, b)| (a - b).abs())
            .fold(0f64, f64::max);
        assert!(worst < 0.05 * fp32[0], "bf16 {bf16:?}\nfp32 {fp32:?}");
    }

    /// A loss scale far too large overflows f16's gradients: those steps change nothing and
    /// halve the scale, until one fits and the update goes through.
    #[test]
    fn f16_skips_overflowing_steps_and_recovers() {
        let mut trial = Trial::new(&Device::flex().autodiff());
        let initial = trial.parameters();
        let mut scaler = LossScaler {
            scale: 2f64.powi(40),
            ..LossScaler::default()
        };
        let update = settings(1, Precision::F16);
        let mut skipped = 0;
        loop {
            let stats = trial.step(&update, Some(&mut scaler));
            assert_eq!(stats.loss_scale, Some(scaler.scale));
            if !stats.skipped {
                break;
            }
            skipped += 1;
            assert_eq!(
                trial.parameters(),
                initial,
                "a skipped step moved the weights"
            );
            assert!(skipped < 40, "the scale never came down far enough");
        }
        assert!(skipped > 0, "2^40 must overflow f16");
        assert_eq!(scaler.skipped, skipped);
        assert_eq!(scaler.scale, 2f64.powi(40 - skipped as i32));
        assert_eq!(
            trial.optimizer.steps(),
            1,
            "one AdamW update, after the skips"
        );
        assert_ne!(trial.parameters(), initial);
        assert!(trial.step(&update, Some(&mut scaler)).loss.is_finite());
    }
}
