//! negclip against transformers and open_clip: the fixtures in `tests/fixtures/model/` (made by
//! `scripts/make_fixtures.py`) hold tiny reference models, fixed inputs and every intermediate
//! the reference libraries computed. Each checkpoint flavour is loaded and every layer compared.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use negclip_model::weights::{self, CheckpointFormat, ConfigSource, LoadedClip};
use negclip_model::{Activation, Clip};
use safetensors::{Dtype, SafeTensors};

const TOLERANCE: f32 = 1e-4;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/model")
        .join(path)
}

/// The expected tensors of a fixture directory: name → (shape, values).
struct Expected {
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    tokens: (Vec<usize>, Vec<i64>),
}

impl Expected {
    fn read(dir: &str) -> Expected {
        let bytes = std::fs::read(fixture(dir).join("expected.safetensors")).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let mut tensors = HashMap::new();
        let mut tokens = None;
        for (name, view) in file.iter() {
            let shape = view.shape().to_vec();
            match view.dtype() {
                Dtype::F32 => {
                    let values = view
                        .data()
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                        .collect();
                    tensors.insert(name.to_string(), (shape, values));
                }
                Dtype::I64 => {
                    let values = view
                        .data()
                        .chunks_exact(8)
                        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                        .collect();
                    tokens = Some((shape, values));
                }
                other => panic!("unexpected dtype {other:?} for {name}"),
            }
        }
        Expected {
            tensors,
            tokens: tokens.expect("fixture has input.tokens"),
        }
    }

    fn pixels(&self, device: &Device) -> Tensor<4> {
        let (shape, values) = &self.tensors["input.pixels"];
        Tensor::from_data(TensorData::new(values.clone(), shape.clone()), device)
    }

    fn tokens(&self, device: &Device) -> Tensor<2, Int> {
        let (shape, values) = &self.tokens;
        Tensor::from_data(TensorData::new(values.clone(), shape.clone()), device)
    }

    fn count(&self, prefix: &str) -> usize {
        self.tensors
            .keys()
            .filter(|k| k.starts_with(prefix))
            .count()
    }

    /// Asserts `actual` equals the expected tensor `name` within [`TOLERANCE`].
    fn check<const D: usize>(&self, name: &str, actual: Tensor<D>) {
        let (shape, expected) = &self.tensors[name];
        assert_eq!(&actual.dims().to_vec(), shape, "{name}: shape");
        let actual = actual
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        let worst = actual
            .iter()
            .zip(expected)
            .map(|(a, e)| (a - e).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= TOLERANCE,
            "{name}: max abs difference {worst} > {TOLERANCE}"
        );
    }
}

/// Compares every hidden state, pooled output, embedding and logit with the reference, on
/// the device the model lives on.
fn assert_matches_reference(model: &Clip, dir: &str) {
    let device = model.devices()[0].clone();
    let expected = Expected::read(dir);
    let pixels = expected.pixels(&device);
    let tokens = expected.tokens(&device);

    let vision = model.encode_image_with_hidden(pixels.clone());
    assert_eq!(vision.hidden_states.len(), expected.count("vision.hidden."));
    for (i, hidden) in vision.hidden_states.into_iter().enumerate() {
        expected.check(&format!("vision.hidden.{i}"), hidden);
    }
    expected.check("vision.pooled", vision.pooled);
    expected.check("vision.embeds", vision.embeds);

    let text = model.encode_text_with_hidden(tokens.clone());
    assert_eq!(text.hidden_states.len(), expected.count("text.hidden."));
    for (i, hidden) in text.hidden_states.into_iter().enumerate() {
        expected.check(&format!("text.hidden.{i}"), hidden);
    }
    expected.check("text.last_hidden_state", text.last_hidden_state);
    expected.check("text.pooled", text.pooled);
    expected.check("text.embeds", text.embeds);

    expected.check("vision.embeds", model.encode_image(pixels.clone()));
    expected.check("text.embeds", model.encode_text(tokens.clone()));
    let (per_image, per_text) = model.logits(pixels, tokens);
    expected.check("logits_per_image", per_image);
    expected.check("logits_per_text", per_text);
}

fn load(path: &Path) -> LoadedClip {
    load_on(path, &Device::flex())
}

fn load_on(path: &Path, device: &Device) -> LoadedClip {
    weights::load(path, device).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The GPU test set (`.ci/run`, `--features negclip-cli/wgpu`): both towers, layer by layer,
/// on the first wgpu adapter (lavapipe in CI), within the same tolerance as the CPU.
#[cfg(feature = "wgpu")]
#[test]
fn gpu_towers_match_transformers() {
    let device = Device::enumerate(burn::tensor::DeviceType::Wgpu)
        .into_vec()
        .into_iter()
        .next()
        .expect("a wgpu adapter (on a machine without a GPU: apt-get install mesa-vulkan-drivers)");
    let loaded = load_on(&fixture("hf_quickgelu"), &device);
    assert_matches_reference(&loaded.model, "hf_quickgelu");
}

#[test]
fn huggingface_directory_matches_transformers() {
    let loaded = load(&fixture("hf_quickgelu"));
    assert_eq!(loaded.format, CheckpointFormat::HuggingFace);
    assert!(matches!(
        loaded.config_source,
        ConfigSource::HfConfigJson(_)
    ));
    assert_eq!(loaded.config.activation, Activation::QuickGelu);
    assert_eq!(
        (loaded.config.vision.width, loaded.config.text.width),
        (32, 24)
    );
    assert_matches_reference(&loaded.model, "hf_quickgelu");
}

#[test]
fn huggingface_pickle_matches_transformers() {
    let loaded = load(&fixture("hf_quickgelu/pytorch_model.bin"));
    assert_eq!(loaded.format, CheckpointFormat::HuggingFacePickle);
    assert_matches_reference(&loaded.model, "hf_quickgelu");
}

#[test]
fn open_clip_safetensors_matches_open_clip() {
    let loaded = load(&fixture("open_clip_gelu/open_clip_model.safetensors"));
    assert_eq!(loaded.format, CheckpointFormat::OpenClip);
    assert!(matches!(
        loaded.config_source,
        ConfigSource::OpenClipConfigJson(_)
    ));
    assert_eq!(loaded.config.activation, Activation::Gelu);
    assert_eq!(
        (loaded.config.vision.layers, loaded.config.text.layers),
        (2, 3)
    );
    assert_matches_reference(&loaded.model, "open_clip_gelu");
}

#[test]
fn open_clip_training_checkpoint_matches_open_clip() {
    let loaded = load(&fixture("open_clip_gelu/epoch_1.pt"));
    assert_eq!(loaded.format, CheckpointFormat::OpenClipPickle);
    assert_matches_reference(&loaded.model, "open_clip_gelu");
}
