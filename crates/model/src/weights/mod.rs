//! The model's weights in and out: reading and writing CLIP checkpoints as HuggingFace
//! `CLIPModel` and open_clip / OpenAI state dicts, in safetensors or PyTorch pickles, including
//! training checkpoints that wrap the weights in `state_dict` with DistributedDataParallel's
//! `module.` prefix (the NegCLIP release). A training run's own state (optimiser, step, mined
//! lists) is `negclip_train::checkpoint`'s.

mod config_files;
pub mod interpolate;
mod naming;
mod params;
mod tensors;
mod write;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::tensor::Device;
use serde_json::Value;

use crate::{Clip, ClipConfig, ModelError};
use naming::KeyStyle;
pub use tensors::{RawTensor, TensorMap};

/// Weights file names looked for in a checkpoint directory, in order.
const DIR_WEIGHT_FILES: &[&str] = &[
    "model.safetensors",
    "open_clip_model.safetensors",
    "pytorch_model.bin",
    "open_clip_pytorch_model.bin",
];
const HF_CONFIG_FILE: &str = "config.json";
const OPEN_CLIP_CONFIG_FILE: &str = "open_clip_config.json";
const HF_WEIGHTS_FILE: &str = "model.safetensors";
const OPEN_CLIP_WEIGHTS_FILE: &str = "open_clip_model.safetensors";

/// What a loaded checkpoint was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// HuggingFace `CLIPModel` names in a safetensors file.
    HuggingFace,
    /// open_clip / OpenAI names in a safetensors file.
    OpenClip,
    /// HuggingFace names in a PyTorch pickle (`pytorch_model.bin`).
    HuggingFacePickle,
    /// open_clip / OpenAI names in a PyTorch pickle, possibly a training checkpoint.
    OpenClipPickle,
}

impl CheckpointFormat {
    /// The tensor naming of this format.
    pub fn naming(&self) -> Naming {
        match self {
            CheckpointFormat::HuggingFace | CheckpointFormat::HuggingFacePickle => {
                Naming::HuggingFace
            }
            CheckpointFormat::OpenClip | CheckpointFormat::OpenClipPickle => Naming::OpenClip,
        }
    }

    fn new(style: KeyStyle, pickled: bool) -> Self {
        match (style, pickled) {
            (KeyStyle::HuggingFace, false) => CheckpointFormat::HuggingFace,
            (KeyStyle::HuggingFace, true) => CheckpointFormat::HuggingFacePickle,
            (KeyStyle::OpenClip, false) => CheckpointFormat::OpenClip,
            (KeyStyle::OpenClip, true) => CheckpointFormat::OpenClipPickle,
        }
    }
}

impl fmt::Display for CheckpointFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckpointFormat::HuggingFace => "HuggingFace safetensors",
            CheckpointFormat::OpenClip => "open_clip safetensors",
            CheckpointFormat::HuggingFacePickle => "HuggingFace PyTorch pickle",
            CheckpointFormat::OpenClipPickle => "open_clip PyTorch pickle",
        })
    }
}

/// Tensor naming used when writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// transformers `CLIPModel` (`vision_model.encoder.layers.0.self_attn.q_proj.weight`, ...).
    HuggingFace,
    /// open_clip / OpenAI (`visual.transformer.resblocks.0.attn.in_proj_weight`, ...).
    OpenClip,
}

impl FromStr for Naming {
    type Err = String;

    /// Accepts `hf`/`huggingface` and `open_clip`/`openclip`/`open-clip`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "hf" | "huggingface" | "transformers" => Ok(Naming::HuggingFace),
            "open_clip" | "openclip" | "open-clip" => Ok(Naming::OpenClip),
            other => Err(format!(
                "unknown naming `{other}` (expected hf or open_clip)"
            )),
        }
    }
}

/// Where a loaded model's configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A transformers `config.json` beside the weights.
    HfConfigJson(PathBuf),
    /// negclip's config in the safetensors `__metadata__`.
    Metadata,
    /// An `open_clip_config.json` beside the weights.
    OpenClipConfigJson(PathBuf),
    /// Guessed from tensor shapes (heads = width / 64, QuickGELU).
    Inferred,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::HfConfigJson(p) | ConfigSource::OpenClipConfigJson(p) => {
                write!(f, "{}", p.display())
            }
            ConfigSource::Metadata => f.write_str("safetensors metadata"),
            ConfigSource::Inferred => f.write_str("inferred from tensor shapes"),
        }
    }
}

/// A model read from disk with what it was read as.
#[derive(Debug)]
pub struct LoadedClip {
    pub model: Clip,
    pub config: ClipConfig,
    pub format: CheckpointFormat,
    pub config_source: ConfigSource,
    /// The weights file actually read (inside the directory when a directory was given).
    pub weights_path: PathBuf,
}

/// Loads a checkpoint: a `.safetensors`, `.pt`, `.pth` or `.bin` file, or a directory holding
/// one of `model.safetensors`, `open_clip_model.safetensors`, `pytorch_model.bin`,
/// `open_clip_pytorch_model.bin`. The format is told from the tensor names; the shapes come
/// from `config.json` beside the file, else negclip's safetensors metadata, else
/// `open_clip_config.json` beside, else the tensor shapes themselves.
pub fn load(path: &Path, device: &Device) -> Result<LoadedClip, ModelError> {
    let weights_path = resolve_weights_file(path)?;
    let (raw, metadata, pickled) = read_weights(&weights_path)?;
    let raw = unwrap_training_checkpoint(raw);
    let style = naming::detect(&raw).ok_or_else(|| ModelError::UnknownFormat {
        path: weights_path.clone(),
        sample: raw.keys().take(5).cloned().collect(),
    })?;
    let state = match style {
        KeyStyle::HuggingFace => naming::hf_to_open_clip(&raw)?,
        KeyStyle::OpenClip => raw,
    };
    let dir = weights_path.parent().unwrap_or(Path::new("."));
    let (config, config_source) = resolve_config(dir, &metadata, &state)?;
    let model = params::from_state_dict(state, &config, device)?;
    Ok(LoadedClip {
        model,
        config,
        format: CheckpointFormat::new(style, pickled),
        config_source,
        weights_path,
    })
}

/// Writes the model as one safetensors file under `naming`, with the config in its metadata.
/// When `path` is an existing directory this is [`export`].
pub fn save(
    model: &Clip,
    config: &ClipConfig,
    naming: Naming,
    path: &Path,
) -> Result<(), ModelError> {
    if path.is_dir() {
        return export(model, config, naming, path);
    }
    write::safetensors(path, &state_dict(model, naming), config)
}

/// The bytes of the safetensors file [`save`] writes for `model` under `naming`: what a caller
/// encodes first when it must know a file's size before writing it (the checkpoints' free-space
/// check). `path` is where the bytes will go, for the error.
pub fn encode(
    model: &Clip,
    config: &ClipConfig,
    naming: Naming,
    path: &Path,
) -> Result<Vec<u8>, ModelError> {
    write::encode(&state_dict(model, naming), config).map_err(|e| ModelError::format(path, e))
}

/// Writes a checkpoint directory the reference libraries load: HuggingFace naming gives
/// `model.safetensors` + `config.json` (`transformers.CLIPModel.from_pretrained(dir)`), open_clip
/// naming `open_clip_model.safetensors` + `open_clip_config.json`
/// (`open_clip.create_model("local-dir:" + dir)`).
pub fn export(
    model: &Clip,
    config: &ClipConfig,
    naming: Naming,
    dir: &Path,
) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let (weights, config_file, json) = match naming {
        Naming::HuggingFace => (
            HF_WEIGHTS_FILE,
            HF_CONFIG_FILE,
            config_files::to_hf_json(config),
        ),
        Naming::OpenClip => (
            OPEN_CLIP_WEIGHTS_FILE,
            OPEN_CLIP_CONFIG_FILE,
            config_files::to_open_clip_json(config),
        ),
    };
    write::safetensors(&dir.join(weights), &state_dict(model, naming), config)?;
    let text = serde_json::to_string_pretty(&json).expect("JSON values serialise");
    write::atomic(&dir.join(config_file), format!("{text}\n").as_bytes())
}

/// The model's tensors under `naming`, as they are written to disk.
pub fn state_dict(model: &Clip, naming: Naming) -> TensorMap {
    let open_clip = params::to_state_dict(model);
    match naming {
        Naming::OpenClip => open_clip,
        Naming::HuggingFace => naming::open_clip_to_hf(&open_clip),
    }
}

/// Builds a model from a state dict in either naming (as [`load`] does after reading a file).
pub fn from_state_dict(
    tensors: TensorMap,
    config: &ClipConfig,
    device: &Device,
) -> Result<Clip, ModelError> {
    let state = match naming::detect(&tensors) {
        Some(KeyStyle::HuggingFace) => naming::hf_to_open_clip(&tensors)?,
        _ => tensors,
    };
    params::from_state_dict(state, config, device)
}

/// The weights file [`load`] reads for `path` (the file itself, or the one found in a directory).
fn resolve_weights_file(path: &Path) -> Result<PathBuf, ModelError> {
    if !path.exists() {
        return Err(ModelError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        ));
    }
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    DIR_WEIGHT_FILES
        .iter()
        .map(|name| path.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            ModelError::format(
                path,
                format!(
                    "directory holds no weights file (looked for {})",
                    DIR_WEIGHT_FILES.join(", ")
                ),
            )
        })
}

/// Tensors, safetensors metadata and whether the file was a pickle.
fn read_weights(path: &Path) -> Result<(TensorMap, HashMap<String, String>, bool), ModelError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match extension.as_str() {
        "safetensors" => {
            let (tensors, metadata) = tensors::read_safetensors(path)?;
            Ok((tensors, metadata, false))
        }
        "pt" | "pth" | "bin" | "ckpt" => Ok((tensors::read_pickle(path)?, HashMap::new(), true)),
        _ => Err(ModelError::format(
            path,
            "unknown checkpoint extension (expected .safetensors, .pt, .pth, .bin or .ckpt)",
        )),
    }
}

/// Keeps the model weights of a training checkpoint: the `state_dict` (or `model`) entry when
/// there is one, which leaves optimiser state out, and without DataParallel's `module.` prefix.
fn unwrap_training_checkpoint(raw: TensorMap) -> TensorMap {
    let wrapper = ["state_dict.", "model."]
        .into_iter()
        .find(|prefix| raw.keys().any(|k| k.starts_with(prefix)) && naming::detect(&raw).is_none());
    raw.into_iter()
        .filter_map(|(key, tensor)| {
            let key = match wrapper {
                Some(prefix) => key.strip_prefix(prefix)?.to_string(),
                None => key,
            };
            let key = key
                .strip_prefix("module.")
                .map(str::to_string)
                .unwrap_or(key);
            Some((key, tensor))
        })
        .collect()
}

/// Chooses the configuration source (see [`load`]).
fn resolve_config(
    dir: &Path,
    metadata: &HashMap<String, String>,
    state: &TensorMap,
) -> Result<(ClipConfig, ConfigSource), ModelError> {
    let hf_path = dir.join(HF_CONFIG_FILE);
    if let Some(json) = read_json(&hf_path)? {
        if let Some(config) = config_files::from_hf_json(&json, &hf_path)? {
            return Ok((config, ConfigSource::HfConfigJson(hf_path)));
        }
    }
    if let Some(text) = metadata.get(config_files::METADATA_KEY) {
        let config: ClipConfig = serde_json::from_str(text).map_err(|e| ModelError::BadConfig {
            path: dir.to_path_buf(),
            message: format!("safetensors metadata `{}`: {e}", config_files::METADATA_KEY),
        })?;
        return Ok((config, ConfigSource::Metadata));
    }
    let oc_path = dir.join(OPEN_CLIP_CONFIG_FILE);
    if let Some(json) = read_json(&oc_path)? {
        if let Some(config) = config_files::from_open_clip_json(&json, &oc_path)? {
            return Ok((config, ConfigSource::OpenClipConfigJson(oc_path)));
        }
    }
    Ok((
        config_files::infer_from_tensors(state)?,
        ConfigSource::Inferred,
    ))
}

fn read_json(path: &Path) -> Result<Option<Value>, ModelError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ModelError::BadConfig {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_checkpoint_is_unwrapped() {
        let t = RawTensor::new(vec![1], vec![1.0]);
        let raw: TensorMap = [
            ("state_dict.module.visual.conv1.weight", t.clone()),
            ("state_dict.module.logit_scale", t.clone()),
            ("optimizer.state.0.exp_avg", t.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let keys: Vec<String> = unwrap_training_checkpoint(raw).into_keys().collect();
        assert_eq!(keys, vec!["logit_scale", "visual.conv1.weight"]);
    }

    #[test]
    fn naming_parses_cli_spellings() {
        assert_eq!("hf".parse::<Naming>().unwrap(), Naming::HuggingFace);
        assert_eq!("open_clip".parse::<Naming>().unwrap(), Naming::OpenClip);
        assert!("onnx".parse::<Naming>().is_err());
    }
}
