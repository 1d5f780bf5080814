//! One optimisation step: a NegCLIP batch through both towers (all captions in one text
//! pass), the loss, backward, optional global-norm clipping, AdamW and the logit-scale clamp.

use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use negclip_model::{Clip, ClipConfig};

use crate::batches::Batch;
use crate::loss::negclip_loss;
use crate::optim::{clip_global_norm, AdamW};

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
}

/// What every step of a run shares.
pub struct StepSettings {
    /// Clip the global gradient norm to this value.
    pub grad_clip_norm: Option<f64>,
    /// Side of the input images.
    pub image_size: usize,
    /// Token rows' length.
    pub context_length: usize,
    /// The (autodiff) device the model lives on.
    pub device: Device,
}

impl StepSettings {
    pub fn new(clip: &ClipConfig, grad_clip_norm: Option<f64>, device: &Device) -> StepSettings {
        StepSettings {
            grad_clip_norm,
            image_size: clip.vision.image_size,
            context_length: clip.text.context_length,
            device: device.clone(),
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
) -> (Clip, StepStats) {
    let (s, l, device) = (
        settings.image_size,
        settings.context_length,
        &settings.device,
    );
    let n = batch.n_images;
    let m = batch.n_negatives;
    let images = Tensor::<4>::from_data(TensorData::new(batch.pixels, [n, 3, s, s]), device);
    let tokens = |ids: Vec<u32>, rows: usize| {
        let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
        Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, l]), device)
    };
    let positives = tokens(batch.positives, n);
    let negatives = (m > 0).then(|| tokens(batch.negatives, m));
    negclip_step(
        model,
        optimizer,
        images,
        positives,
        negatives,
        lr,
        settings.grad_clip_norm,
    )
}

/// One optimisation step on a NegCLIP batch already on the model's (autodiff) device.
/// `images` N×3×S×S, `positives` N×L token ids, `negatives` M×L (`None`: plain CLIP loss).
/// Public so that `negclip bench train-step` times exactly this.
pub fn negclip_step(
    model: Clip,
    optimizer: &mut AdamW,
    images: Tensor<4>,
    positives: Tensor<2, Int>,
    negatives: Option<Tensor<2, Int>>,
    lr: f64,
    grad_clip_norm: Option<f64>,
) -> (Clip, StepStats) {
    let n = positives.dims()[0];
    let m = negatives.as_ref().map_or(0, |t| t.dims()[0]);
    let tokens = match negatives {
        Some(negatives) => Tensor::cat(vec![positives, negatives], 0),
        None => positives,
    };

    let image_emb = model.encode_image(images);
    let text_emb = model.encode_text(tokens);
    let positives = text_emb.clone().narrow(0, 0, n);
    let negatives = (m > 0).then(|| text_emb.narrow(0, n, m));
    let out = negclip_loss(image_emb, positives, negatives, model.logit_scale());
    let mut grads = GradientsParams::from_grads(out.loss.backward(), &model);
    let grad_norm = grad_clip_norm.map(|max| clip_global_norm(&model, &mut grads, max));
    let model = optimizer.step(lr, model, grads);
    let model = model.clamp_logit_scale(0.0, 100f32.ln());
    let stats = StepStats {
        loss: out.loss.into_scalar::<f64>(),
        image_to_text: out.image_to_text.into_scalar::<f64>(),
        text_to_image: out.text_to_image.into_scalar::<f64>(),
        grad_norm,
        logit_scale: model.logit_scale().into_scalar::<f64>(),
        images: n,
        negatives: m,
    };
    (model, stats)
}
