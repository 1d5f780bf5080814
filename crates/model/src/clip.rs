//! CLIP: both towers and the learned temperature that scales their cosine similarities.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Int, Tensor};

use crate::text::{TextOutput, TextTransformer};
use crate::vision::{VisionOutput, VisionTransformer};
use crate::ClipConfig;

/// Epsilon of the L2 normalisation, as `torch.nn.functional.normalize`.
const NORMALIZE_EPS: f64 = 1e-12;

/// A CLIP model. Field names follow open_clip's state dict (`visual.*`, `text.*` holding the
/// top-level text parameters, `logit_scale`).
#[derive(Module, Debug)]
pub struct Clip {
    pub visual: VisionTransformer,
    pub text: TextTransformer,
    /// Log of the inverse softmax temperature, shape `[1]`.
    pub logit_scale: Param<Tensor<1>>,
}

impl ClipConfig {
    /// A randomly initialised model (open_clip's initialisation). Seed with `device.seed(..)`.
    ///
    /// # Panics
    /// If the configuration is invalid (see [`ClipConfig::validate`]).
    pub fn init(&self, device: &Device) -> Clip {
        if let Err(err) = self.validate() {
            panic!("{err}");
        }
        let clip = Clip {
            visual: VisionTransformer::new(self, device),
            text: TextTransformer::new(self, device),
            logit_scale: Param::from_tensor(Tensor::from_floats(
                [self.logit_scale_init as f32],
                device,
            )),
        };
        // Burn initialises parameters lazily, drawing from the device's generator when a
        // parameter is first used, so whatever touched the model first (a forward pass, an
        // inference copy for evaluation or gradient accumulation) would decide which draws
        // each parameter gets, and two copies could disagree. Draw them all now, in module
        // order.
        clip.visit(&mut Materialize);
        clip
    }
}

/// Touches every parameter, which initialises the lazy ones.
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        param.val();
    }
}

impl Clip {
    /// Image features `[B, E]` (projected, not normalised) of CLIP-normalised pixels `[B, 3, H, W]`.
    pub fn encode_image(&self, pixels: Tensor<4>) -> Tensor<2> {
        self.visual.forward(pixels)
    }

    /// Text features `[B, E]` (projected, not normalised) of token ids `[B, L]`.
    pub fn encode_text(&self, tokens: Tensor<2, Int>) -> Tensor<2> {
        self.text.forward(tokens)
    }

    /// Image tower with every intermediate (HuggingFace-style hidden states).
    pub fn encode_image_with_hidden(&self, pixels: Tensor<4>) -> VisionOutput {
        self.visual.forward_with_hidden(pixels)
    }

    /// Text tower with every intermediate (HuggingFace-style hidden states).
    pub fn encode_text_with_hidden(&self, tokens: Tensor<2, Int>) -> TextOutput {
        self.text.forward_with_hidden(tokens)
    }

    /// The learned log scale, shape `[1]`.
    pub fn logit_scale(&self) -> Tensor<1> {
        self.logit_scale.val()
    }

    /// Clamps the log scale into `[min, max]` (open_clip clamps to `[0, ln 100]` after each step).
    ///
    /// The clamped value is detached from the graph, so the parameter stays a leaf that
    /// receives gradients (like open_clip's in-place `clamp_` under `no_grad`).
    pub fn clamp_logit_scale(mut self, min: f32, max: f32) -> Self {
        self.logit_scale = self.logit_scale.map(|scale| {
            let tracked = scale.is_require_grad();
            let clamped = Tensor::from_inner(scale.inner().clamp(min, max));
            if tracked {
                clamped.require_grad()
            } else {
                clamped
            }
        });
        self
    }

    /// `(logits_per_image [B_img, B_txt], logits_per_text [B_txt, B_img])`: cosine
    /// similarities of the normalised features times `exp(logit_scale)`.
    pub fn logits(&self, pixels: Tensor<4>, tokens: Tensor<2, Int>) -> (Tensor<2>, Tensor<2>) {
        let image = l2_normalize(self.encode_image(pixels));
        let text = l2_normalize(self.encode_text(tokens));
        let scale = self.logit_scale().exp().unsqueeze::<2>();
        let per_image = image.matmul(text.transpose()) * scale;
        let per_text = per_image.clone().transpose();
        (per_image, per_text)
    }

    /// Number of scalar parameters.
    pub fn num_params(&self) -> usize {
        Module::num_params(self)
    }
}

/// Divides each row by its L2 norm (at least 1e-12), as `F.normalize(x, dim=-1)`.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x
        .clone()
        .square()
        .sum_dim(1)
        .sqrt()
        .clamp_min(NORMALIZE_EPS);
    x / norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData, Tolerance};

    fn tiny() -> (Clip, Device) {
        let device = Device::flex();
        device.seed(0);
        (ClipConfig::preset("tiny").unwrap().init(&device), device)
    }

    #[test]
    fn encoders_give_embed_dim_features() {
        let (clip, device) = tiny();
        let pixels = Tensor::<4>::random([2, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let tokens = Tensor::<2, Int>::from_data(
            TensorData::new(vec![49406i64, 10, 49407, 0, 49406, 11, 12, 49407], [2, 4]),
            &device,
        );
        assert_eq!(clip.encode_image(pixels.clone()).dims(), [2, 32]);
        assert_eq!(clip.encode_text(tokens.clone()).dims(), [2, 32]);
        let (per_image, per_text) = clip.logits(pixels, tokens);
        assert_eq!(per_image.dims(), [2, 2]);
        per_text.into_data().assert_approx_eq::<f32>(
            &per_image.transpose().into_data(),
            Tolerance::absolute(1e-6),
        );
    }

    #[test]
    fn logits_are_bounded_by_the_scale() {
        let (clip, device) = tiny();
        let pixels = Tensor::<4>::random([3, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device);
        let tokens = Tensor::<2, Int>::from_data(
            TensorData::new(
                vec![49406i64, 5, 49407, 49406, 6, 49407, 49406, 7, 49407],
                [3, 3],
            ),
            &device,
        );
        let (per_image, _) = clip.logits(pixels, tokens);
        let bound = (1.0f32 / 0.07) + 1e-3;
        for value in per_image.into_data().try_to_vec::<f32>().unwrap() {
            assert!(value.abs() <= bound, "{value} exceeds {bound}");
        }
    }

    #[test]
    fn clamp_keeps_scale_in_range() {
        let (clip, _) = tiny();
        let clip = clip.clamp_logit_scale(0.0, 1.0);
        let value = clip.logit_scale().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(value, vec![1.0]);
    }

    #[test]
    fn clamped_scale_still_gets_gradients() {
        let device = Device::flex().autodiff();
        device.seed(1);
        let clip = ClipConfig::preset("tiny")
            .unwrap()
            .init(&device)
            .clamp_logit_scale(0.0, 2.0);
        let grads = clip.logit_scale().exp().sum().backward();
        let grad = clip
            .logit_scale
            .val()
            .grad(&grads)
            .expect("logit_scale has a gradient");
        let value = grad.into_data().try_to_vec::<f32>().unwrap()[0];
        assert!(
            (value - 2.0f32.exp()).abs() < 1e-4,
            "d exp(s)/ds at s=2 is e^2, got {value}"
        );
    }

    #[test]
    fn tiny_parameter_count_matches_its_shapes() {
        let (clip, _) = tiny();
        let block = 4 * 64 + 3 * 64 * 64 + 3 * 64 + 64 * 64 + 64 + 64 * 128 + 128 + 128 * 64 + 64;
        let vision = 64 * 3 * 8 * 8 + 64 + 17 * 64 + 2 * block + 4 * 64 + 64 * 32;
        let text = 49_408 * 64 + 16 * 64 + 2 * block + 2 * 64 + 64 * 32;
        assert_eq!(clip.num_params(), vision + text + 1);
    }
}
