//! Weight-space interpolation between a zero-shot model and its fine-tune (WiSE-FT, Wortsman
//! et al., CVPR 2022): θ(α) = (1 − α)·θ_base + α·θ_finetuned, every entry of the state dict
//! alike, `logit_scale` included, as the reference does (mlfoundations/wise-ft
//! `src/wise_ft.py`: "interpolate between all weights in the checkpoints").
//!
//! The arithmetic is the reference's on f32 tensors: PyTorch evaluates
//! `(1 - alpha) * theta_0[key] + alpha * theta_1[key]` with the two weights computed in f64
//! (Python floats), each rounded once to f32, then two f32 products and one f32 sum per
//! element (no fused multiply-add). The test fixture `tests/fixtures/interpolate/` is that
//! expression evaluated by torch; [`mix`] matches it bit for bit. At α = 0 and α = 1 the
//! result is the input itself: the formula gives the same value there for every finite
//! weight except −0.0, which it would turn into +0.0.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::tensor::Device;
use serde_json::Value;

use super::{load, state_dict, CheckpointFormat, LoadedClip, Naming, RawTensor, TensorMap};
use crate::{Clip, ClipConfig, ModelError};

/// The fine-tuned model's share α of an interpolation; any finite number (outside [0, 1] the
/// line is extrapolated).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alpha(f64);

impl Alpha {
    pub fn new(value: f64) -> Result<Alpha, String> {
        if value.is_finite() {
            Ok(Alpha(value))
        } else {
            Err(format!("α must be a finite number, got {value}"))
        }
    }

    pub fn value(self) -> f64 {
        self.0
    }
}

impl FromStr for Alpha {
    type Err = String;

    fn from_str(text: &str) -> Result<Alpha, String> {
        let value: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("α must be a number, got {text:?}"))?;
        Alpha::new(value)
    }
}

/// The shortest decimal that reads back as the same α (`0.3`, `1`).
impl fmt::Display for Alpha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// θ(α) of every tensor. The two maps must have the same names and shapes
/// ([`first_difference`] says where they do not).
pub fn mix(base: &TensorMap, finetuned: &TensorMap, alpha: Alpha) -> TensorMap {
    base.iter()
        .zip(finetuned)
        .map(|((name, b), (_, f))| (name.clone(), mix_tensor(b, f, alpha)))
        .collect()
}

fn mix_tensor(base: &RawTensor, finetuned: &RawTensor, alpha: Alpha) -> RawTensor {
    if alpha.0 == 0.0 {
        return base.clone();
    }
    if alpha.0 == 1.0 {
        return finetuned.clone();
    }
    // Rounded once each, as PyTorch rounds a Python float multiplying an f32 tensor.
    let (w_base, w_finetuned) = ((1.0 - alpha.0) as f32, alpha.0 as f32);
    let data = base
        .data
        .iter()
        .zip(&finetuned.data)
        .map(|(&b, &f)| w_base * b + w_finetuned * f)
        .collect();
    RawTensor::new(base.shape.clone(), data)
}

/// Where two checkpoints differ in architecture: a configuration field, else a parameter's
/// name or shape; `None` when they can be interpolated. `logit_scale_init` is not compared:
/// it only sets a new model's starting temperature, and the loaded `logit_scale` replaces it.
pub fn first_difference(
    base: (&ClipConfig, &TensorMap),
    finetuned: (&ClipConfig, &TensorMap),
) -> Option<String> {
    config_difference(base.0, finetuned.0).or_else(|| tensor_difference(base.1, finetuned.1))
}

fn config_difference(base: &ClipConfig, finetuned: &ClipConfig) -> Option<String> {
    let as_json = |config: &ClipConfig| {
        let mut value = serde_json::to_value(config).expect("configs serialise");
        if let Value::Object(fields) = &mut value {
            fields.remove("logit_scale_init");
        }
        value
    };
    json_difference("", &as_json(base), &as_json(finetuned)).map(|(field, a, b)| {
        format!("configuration field `{field}` is {a} in one and {b} in the other")
    })
}

/// The first (by name) leaf where two JSON values differ: (dotted path, one, other).
fn json_difference(path: &str, a: &Value, b: &Value) -> Option<(String, String, String)> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|key| {
                let inner = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) => json_difference(&inner, p, q),
                    (p, q) => Some((inner, shown(p), shown(q))),
                }
            })
        }
        _ if a == b => None,
        _ => Some((path.to_string(), a.to_string(), b.to_string())),
    }
}

fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "absent".to_string(), Value::to_string)
}

fn tensor_difference(base: &TensorMap, finetuned: &TensorMap) -> Option<String> {
    let mut names: Vec<&String> = base.keys().chain(finetuned.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .find_map(|name| match (base.get(name), finetuned.get(name)) {
            (Some(a), Some(b)) if a.shape == b.shape => None,
            (Some(a), Some(b)) => Some(format!(
                "parameter `{name}` has shape {:?} in one and {:?} in the other",
                a.shape, b.shape
            )),
            (Some(_), None) => Some(format!("parameter `{name}` is only in the base model")),
            _ => Some(format!(
                "parameter `{name}` is only in the fine-tuned model"
            )),
        })
}

/// One end of an interpolation: the file it came from and what it was.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The path given (a file, or a checkpoint directory).
    pub path: PathBuf,
    pub format: CheckpointFormat,
}

impl Endpoint {
    /// Whether the checkpoint was given as a directory (an `export`-style folder).
    pub fn is_directory(&self) -> bool {
        self.path.is_dir()
    }
}

/// Where and how an interpolated checkpoint is written ([`Pair::output`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputLayout {
    /// One safetensors file with negclip's configuration in its metadata.
    File(Naming),
    /// A directory transformers or open_clip loads ([`super::export`]).
    Directory(Naming),
}

/// A zero-shot model and its fine-tune, checked to share an architecture, as open_clip-named
/// state dicts ready to mix.
#[derive(Debug)]
pub struct Pair {
    /// The fine-tune's configuration (equal to the base's but for `logit_scale_init`).
    pub config: ClipConfig,
    pub base: Endpoint,
    pub finetuned: Endpoint,
    base_tensors: TensorMap,
    finetuned_tensors: TensorMap,
}

impl Pair {
    /// Reads both checkpoints (any format [`load`] reads) and refuses, naming both files and
    /// the first difference, when they do not share an architecture.
    pub fn load(base: &Path, finetuned: &Path, device: &Device) -> Result<Pair, ModelError> {
        let (base_config, base_tensors, base_format) = read(base, device)?;
        let (config, finetuned_tensors, finetuned_format) = read(finetuned, device)?;
        if let Some(difference) =
            first_difference((&base_config, &base_tensors), (&config, &finetuned_tensors))
        {
            return Err(ModelError::ArchitectureMismatch {
                base: base.to_path_buf(),
                finetuned: finetuned.to_path_buf(),
                difference,
            });
        }
        Ok(Pair {
            config,
            base: Endpoint {
                path: base.to_path_buf(),
                format: base_format,
            },
            finetuned: Endpoint {
                path: finetuned.to_path_buf(),
                format: finetuned_format,
            },
            base_tensors,
            finetuned_tensors,
        })
    }

    /// θ(α) under open_clip names.
    pub fn state_dict(&self, alpha: Alpha) -> TensorMap {
        mix(&self.base_tensors, &self.finetuned_tensors, alpha)
    }

    /// The model θ(α) on `device`.
    pub fn model(&self, alpha: Alpha, device: &Device) -> Result<Clip, ModelError> {
        super::params::from_state_dict(self.state_dict(alpha), &self.config, device)
    }

    /// How `negclip interpolate` writes θ(α): in the inputs' naming when they share one, else
    /// in the fine-tune's; as a directory when the fine-tune was given as one, else as one
    /// safetensors file (negclip writes no PyTorch pickles, so a pickle's mix is written as
    /// safetensors under the pickle's naming).
    pub fn output(&self) -> OutputLayout {
        let naming = self.finetuned.format.naming();
        if self.finetuned.is_directory() {
            OutputLayout::Directory(naming)
        } else {
            OutputLayout::File(naming)
        }
    }

    /// Whether the inputs' namings differ, so that [`Pair::output`] chose the fine-tune's.
    pub fn namings_differ(&self) -> bool {
        self.base.format.naming() != self.finetuned.format.naming()
    }
}

/// A checkpoint's configuration, open_clip-named state dict and format.
fn read(
    path: &Path,
    device: &Device,
) -> Result<(ClipConfig, TensorMap, CheckpointFormat), ModelError> {
    let LoadedClip {
        model,
        config,
        format,
        ..
    } = load(path, device)?;
    Ok((config, state_dict(&model, Naming::OpenClip), format))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(data: &[f32]) -> RawTensor {
        RawTensor::new(vec![data.len()], data.to_vec())
    }

    fn map(entries: &[(&str, &[f32])]) -> TensorMap {
        entries
            .iter()
            .map(|(name, data)| (name.to_string(), tensor(data)))
            .collect()
    }

    fn alpha(value: f64) -> Alpha {
        Alpha::new(value).unwrap()
    }

    /// Awkward values: negative zero, subnormals, large and tiny magnitudes.
    const BASE: &[f32] = &[-0.0, 1.0, -3.5, 1e-40, 3.4e38, 0.1, 7.0];
    const TUNED: &[f32] = &[0.0, -2.0, 1e-30, -1e-40, -3.4e38, 0.3, 7.0];

    #[test]
    fn the_ends_are_the_inputs_bit_for_bit() {
        let base = map(&[("logit_scale", &[4.6]), ("w", BASE)]);
        let tuned = map(&[("logit_scale", &[2.66]), ("w", TUNED)]);
        let bits = |m: &TensorMap| -> Vec<u32> {
            m.values()
                .flat_map(|t| t.data.iter().map(|v| v.to_bits()))
                .collect()
        };
        assert_eq!(bits(&mix(&base, &tuned, alpha(0.0))), bits(&base));
        assert_eq!(bits(&mix(&base, &tuned, alpha(1.0))), bits(&tuned));
    }

    /// The fixture: the reference's expression evaluated by torch
    /// (scripts/make_interpolate_fixture.py).
    #[test]
    fn mixing_matches_the_reference_bit_for_bit() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/interpolate/wise_ft.safetensors");
        let (tensors, metadata) = super::super::tensors::read_safetensors(&path).unwrap();
        let part = |prefix: &str| -> TensorMap {
            tensors
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.clone())))
                .collect()
        };
        let (base, tuned) = (part("base/"), part("finetuned/"));
        assert_eq!(base.len(), 5);
        for text in metadata["alphas"].split(',') {
            let expected = part(&format!("alpha={text}/"));
            let mixed = mix(&base, &tuned, text.parse().unwrap());
            assert_eq!(
                mixed.keys().collect::<Vec<_>>(),
                expected.keys().collect::<Vec<_>>()
            );
            for (name, tensor) in &mixed {
                let reference = &expected[name];
                assert_eq!(tensor.shape, reference.shape, "{name}");
                for (i, (ours, theirs)) in tensor.data.iter().zip(&reference.data).enumerate() {
                    // At the ends the reference's 0·x + y turns −0.0 into +0.0; ours keeps
                    // the input (the same number).
                    let same = if text == "0" || text == "1" {
                        ours == theirs
                    } else {
                        ours.to_bits() == theirs.to_bits()
                    };
                    assert!(same, "α={text} {name}[{i}]: {ours:e} vs {theirs:e}");
                }
            }
        }
    }

    #[test]
    fn the_midpoint_is_the_mean_and_logit_scale_is_mixed_too() {
        let base = map(&[("logit_scale", &[4.0]), ("w", &[1.0, -2.0, 6.0])]);
        let tuned = map(&[("logit_scale", &[2.0]), ("w", &[3.0, 2.0, 6.0])]);
        let mixed = mix(&base, &tuned, alpha(0.5));
        assert_eq!(mixed["logit_scale"].data, [3.0]);
        assert_eq!(mixed["w"].data, [2.0, 0.0, 6.0]);
        assert_eq!(mixed["w"].shape, [3]);
    }

    #[test]
    fn each_weight_is_rounded_to_f32_once_before_multiplying() {
        // 1 − 0.9 computed in f64 rounds to 0.1f32; computed in f32 it is 0.100000024: the
        // reference multiplies by the former.
        assert_ne!((1.0 - 0.9f64) as f32, 1.0 - 0.9f32);
        let (b, f) = (1.0f32, 0.0f32);
        let mixed = mix(&map(&[("w", &[b])]), &map(&[("w", &[f])]), alpha(0.9));
        assert_eq!(mixed["w"].data[0], (1.0 - 0.9f64) as f32);
    }

    #[test]
    fn alpha_parses_finite_numbers_and_prints_them_back() {
        assert_eq!("0.3".parse::<Alpha>().unwrap().to_string(), "0.3");
        assert_eq!(" 1 ".parse::<Alpha>().unwrap().to_string(), "1");
        assert!("nan".parse::<Alpha>().is_err());
        assert!("inf".parse::<Alpha>().is_err());
        assert!("half".parse::<Alpha>().unwrap_err().contains("half"));
    }

    fn tiny() -> ClipConfig {
        let mut config = ClipConfig::preset("tiny").unwrap();
        config.text.vocab_size = 100;
        config
    }

    #[test]
    fn a_different_configuration_field_is_named() {
        let base = tiny();
        let mut other = tiny();
        other.vision.layers += 1;
        let tensors = map(&[("w", &[1.0])]);
        let difference = first_difference((&base, &tensors), (&other, &tensors)).unwrap();
        assert!(difference.contains("`vision.layers`"), "{difference}");
        assert!(
            difference.contains(&base.vision.layers.to_string())
                && difference.contains(&other.vision.layers.to_string()),
            "{difference}"
        );
    }

    #[test]
    fn the_starting_temperature_is_not_architecture() {
        let base = tiny();
        let mut other = tiny();
        other.logit_scale_init = 1.0;
        let tensors = map(&[("w", &[1.0])]);
        assert_eq!(
            first_difference((&base, &tensors), (&other, &tensors)),
            None
        );
    }

    #[test]
    fn a_missing_or_reshaped_parameter_is_named() {
        let config = tiny();
        let base = map(&[("a", &[1.0]), ("b", &[1.0, 2.0])]);
        let reshaped = map(&[("a", &[1.0]), ("b", &[1.0, 2.0, 3.0])]);
        let missing = map(&[("b", &[1.0, 2.0])]);
        let d = first_difference((&config, &base), (&config, &reshaped)).unwrap();
        assert!(
            d.contains("`b`") && d.contains("[2]") && d.contains("[3]"),
            "{d}"
        );
        let d = first_difference((&config, &base), (&config, &missing)).unwrap();
        assert!(d.contains("`a` is only in the base model"), "{d}");
    }

    #[test]
    fn loading_two_architectures_names_both_files_and_the_difference() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let small = tiny();
        let mut large = tiny();
        large.text.layers += 1;
        let (a, b) = (
            dir.path().join("a.safetensors"),
            dir.path().join("b.safetensors"),
        );
        super::super::save(&small.init(&device), &small, Naming::HuggingFace, &a).unwrap();
        super::super::save(&large.init(&device), &large, Naming::HuggingFace, &b).unwrap();
        let err = Pair::load(&a, &b, &device).unwrap_err().to_string();
        for needle in ["a.safetensors", "b.safetensors", "`text.layers`"] {
            assert!(err.contains(needle), "{needle} not in: {err}");
        }
    }

    #[test]
    fn a_pair_in_one_naming_mixes_every_parameter() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let config = tiny();
        device.seed(1);
        let one = config.init(&device);
        device.seed(2);
        let two = config.init(&device);
        let (a, b) = (
            dir.path().join("a.safetensors"),
            dir.path().join("b.safetensors"),
        );
        super::super::save(&one, &config, Naming::OpenClip, &a).unwrap();
        super::super::save(&two, &config, Naming::OpenClip, &b).unwrap();
        let pair = Pair::load(&a, &b, &device).unwrap();
        assert_eq!(pair.output(), OutputLayout::File(Naming::OpenClip));
        assert!(!pair.namings_differ());
        let expected = mix(
            &state_dict(&one, Naming::OpenClip),
            &state_dict(&two, Naming::OpenClip),
            alpha(0.25),
        );
        assert_eq!(pair.state_dict(alpha(0.25)), expected);
        let model = pair.model(alpha(0.25), &device).unwrap();
        assert_eq!(state_dict(&model, Naming::OpenClip), expected);
    }
}
