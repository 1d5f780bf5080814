//! Mixed precision (`[optim] precision`): the towers compute in bf16 or f16, everything else
//! stays in fp32.
//!
//! Burn 0.22 has no automatic mixed precision, but `Tensor::cast` is differentiable. So each
//! step casts the fp32 master weights to the low precision *inside the graph*
//! ([`Precision::towers`]): the towers run on the cast copy, and the backward pass carries
//! their gradients through the casts back to the fp32 master weights, which AdamW updates
//! with its fp32 moments. The embeddings are cast back to fp32 before the loss, so the
//! softmax, the logit scale and the loss itself never see the low precision. Checkpoints hold
//! the fp32 master weights.
//!
//! f16 has five exponent bits: gradients smaller than 6e-8 vanish and anything above 65 504
//! overflows. [`LossScaler`] multiplies the loss by a large factor before the backward pass
//! and divides the gradients by it afterwards, as PyTorch's `GradScaler` does: a step whose
//! gradients are not finite is skipped and the factor halves; after `growth_interval` good
//! steps in a row it doubles. bf16 has fp32's exponent range and needs no scaling.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{DType, Device, Tensor};
use negclip_model::Clip;
use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// What the towers compute in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Precision {
    #[default]
    #[serde(rename = "fp32")]
    Fp32,
    #[serde(rename = "bf16")]
    Bf16,
    #[serde(rename = "f16")]
    F16,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }

    /// The towers' dtype; `None` for fp32 (nothing is cast).
    fn low(self) -> Option<DType> {
        match self {
            Precision::Fp32 => None,
            Precision::Bf16 => Some(DType::BF16),
            Precision::F16 => Some(DType::F16),
        }
    }

    /// Refuse a precision the device cannot compute in, before the run starts.
    pub fn check(self, device: &Device) -> Result<(), TrainError> {
        match self.low() {
            Some(dtype) if !device.supports_dtype(dtype) => Err(TrainError::Config {
                path: "optim.precision".into(),
                message: format!(
                    "{} is not supported on this device ({device:?}); use \"fp32\"",
                    self.name()
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The model the towers run this step: every weight cast from the master weights inside
    /// the graph (gradients reach the masters), or the model itself in fp32.
    pub fn towers(self, model: &Clip) -> Clip {
        match self.low() {
            None => model.clone(),
            Some(dtype) => model.clone().map(&mut CastWeights(dtype)),
        }
    }

    /// An input of the towers (pixels) in their precision.
    pub fn input<const D: usize>(self, tensor: Tensor<D>) -> Tensor<D> {
        match self.low() {
            None => tensor,
            Some(dtype) => tensor.cast(dtype),
        }
    }

    /// The loss scaler a fresh run with this precision starts with (f16 only).
    pub fn scaler(self) -> Option<LossScaler> {
        (self == Precision::F16).then(LossScaler::default)
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(name: &str) -> Result<Precision, String> {
        match name {
            "fp32" => Ok(Precision::Fp32),
            "bf16" => Ok(Precision::Bf16),
            "f16" => Ok(Precision::F16),
            _ => Err(format!("unknown precision {name:?}: fp32, bf16 or f16")),
        }
    }
}

/// Casts every float weight, keeping its parameter id (so gradients are found by it).
struct CastWeights(DType);

impl ModuleMapper for CastWeights {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|tensor| tensor.cast(dtype))
    }
}

/// Dynamic loss scaling for f16, saved with every checkpoint so a resumed run scales alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossScaler {
    /// The factor the loss is multiplied by.
    pub scale: f64,
    /// Good steps since the scale last changed.
    pub good_steps: u32,
    /// Good steps in a row after which the scale doubles.
    pub growth_interval: u32,
    /// Steps skipped in the whole run (AdamW has made that many fewer updates).
    pub skipped: u64,
}

impl Default for LossScaler {
    /// PyTorch `GradScaler`'s defaults: 2^16, doubling after 2 000 good steps.
    fn default() -> Self {
        LossScaler {
            scale: 65_536.0,
            good_steps: 0,
            growth_interval: 2_000,
            skipped: 0,
        }
    }
}

/// What the scaler did after a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScaleChange {
    Kept,
    /// Gradients were not finite: the step was skipped and the scale halved to this.
    Skipped {
        new_scale: f64,
    },
    /// A run of good steps: the scale doubled to this.
    Grew {
        new_scale: f64,
    },
}

impl LossScaler {
    /// Record a step whose unscaled gradients were (not) all finite.
    pub fn update(&mut self, finite: bool) -> ScaleChange {
        if !finite {
            self.scale /= 2.0;
            self.good_steps = 0;
            self.skipped += 1;
            return ScaleChange::Skipped {
                new_scale: self.scale,
            };
        }
        self.good_steps += 1;
        if self.good_steps < self.growth_interval {
            return ScaleChange::Kept;
        }
        self.good_steps = 0;
        self.scale *= 2.0;
        ScaleChange::Grew {
            new_scale: self.scale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_halves_the_scale_and_good_runs_double_it() {
        let mut scaler = LossScaler {
            scale: 1024.0,
            good_steps: 0,
            growth_interval: 3,
            skipped: 0,
        };
        assert_eq!(scaler.update(true), ScaleChange::Kept);
        assert_eq!(
            scaler.update(false),
            ScaleChange::Skipped { new_scale: 512.0 }
        );
        // The run of good steps starts again after a skip.
        assert_eq!(scaler.update(true), ScaleChange::Kept);
        assert_eq!(scaler.update(true), ScaleChange::Kept);
        assert_eq!(scaler.update(true), ScaleChange::Grew { new_scale: 1024.0 });
        assert_eq!((scaler.good_steps, scaler.skipped), (0, 1));
    }

    #[test]
    fn only_f16_scales_the_loss() {
        assert!(Precision::Fp32.scaler().is_none());
        assert!(Precision::Bf16.scaler().is_none());
        assert_eq!(Precision::F16.scaler(), Some(LossScaler::default()));
    }

    #[test]
    fn cast_towers_compute_in_the_low_precision_and_train_the_masters() {
        let device = Device::flex().autodiff();
        device.seed(1);
        let config = negclip_model::ClipConfig::preset("tiny").unwrap();
        let master = config.init(&device);
        let towers = Precision::Bf16.towers(&master);
        let s = config.vision.image_size;
        let pixels = Precision::Bf16.input(Tensor::<4>::ones([1, 3, s, s], &device));
        let embedding = towers.encode_image(pixels);
        assert_eq!(embedding.dtype(), DType::BF16);
        let grads = embedding.cast(DType::F32).sum().backward();
        let grads = burn::optim::GradientsParams::from_grads(grads, &master);
        let weight = master.visual.class_embedding.val();
        let grad: Tensor<1> = grads
            .get(master.visual.class_embedding.id)
            .expect("the master weight has a gradient");
        assert_eq!(grad.dtype(), DType::F32);
        assert_eq!(weight.dtype(), DType::F32);
    }
}
