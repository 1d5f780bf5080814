//! Where a checkpoint's shapes come from: a HuggingFace `config.json`, an open_clip
//! `open_clip_config.json`, negclip's own safetensors metadata, or the tensors themselves.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Value};

use super::tensors::TensorMap;
use crate::{Activation, ClipConfig, ModelError, TextConfig, VisionConfig};

/// Safetensors metadata key holding the negclip `ClipConfig` as JSON.
pub const METADATA_KEY: &str = "negclip_config";

/// Width of one attention head in every OpenAI CLIP, used when the heads must be guessed.
const OPENAI_HEAD_WIDTH: usize = 64;

// ---------------------------------------------------------------- HuggingFace config.json

/// Reads a transformers `CLIPConfig` (`config.json`), taking transformers' defaults for
/// absent fields. Returns `Ok(None)` when the JSON is not a CLIP config.
pub fn from_hf_json(value: &Value, path: &Path) -> Result<Option<ClipConfig>, ModelError> {
    let (Some(text), Some(vision)) = (value.get("text_config"), value.get("vision_config")) else {
        return Ok(None);
    };
    let bad = |message: String| ModelError::BadConfig {
        path: path.to_path_buf(),
        message,
    };
    let int = |v: &Value, key: &str, default: usize| -> Result<usize, ModelError> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(x) => x
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| bad(format!("`{key}` is not a non-negative integer: {x}"))),
        }
    };
    let act = |v: &Value| -> Result<Activation, ModelError> {
        let name = v
            .get("hidden_act")
            .and_then(Value::as_str)
            .unwrap_or("quick_gelu");
        Activation::from_hf_name(name)
            .ok_or_else(|| bad(format!("unsupported hidden_act `{name}`")))
    };
    let (text_act, vision_act) = (act(text)?, act(vision)?);
    if text_act != vision_act {
        return Err(bad(format!(
            "towers use different activations ({} and {}); negclip shares one",
            text_act.hf_name(),
            vision_act.hf_name()
        )));
    }
    let eps = vision
        .get("layer_norm_eps")
        .and_then(Value::as_f64)
        .unwrap_or(1e-5);
    let text_width = int(text, "hidden_size", 512)?;
    let vision_width = int(vision, "hidden_size", 768)?;
    let mut config = ClipConfig::new(
        VisionConfig::new(
            int(vision, "image_size", 224)?,
            int(vision, "patch_size", 32)?,
            vision_width,
            int(vision, "num_hidden_layers", 12)?,
            int(vision, "num_attention_heads", 12)?,
            int(vision, "intermediate_size", 3072)?,
        ),
        TextConfig::new(
            int(text, "max_position_embeddings", 77)?,
            int(text, "vocab_size", 49408)?,
            text_width,
            int(text, "num_hidden_layers", 12)?,
            int(text, "num_attention_heads", 8)?,
            int(text, "intermediate_size", 2048)?,
        ),
        int(value, "projection_dim", 512)?,
    )
    .with_activation(text_act)
    .with_layer_norm_eps(eps);
    if let Some(scale) = value.get("logit_scale_init_value").and_then(Value::as_f64) {
        config.logit_scale_init = scale;
    }
    Ok(Some(config))
}

/// A transformers `CLIPConfig` that `CLIPModel.from_pretrained` accepts. The end-of-text id
/// is the highest id (`vocab_size - 1`), so transformers pools the same token as open_clip.
pub fn to_hf_json(config: &ClipConfig) -> Value {
    let (v, t) = (&config.vision, &config.text);
    let act = config.activation.hf_name();
    json!({
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": config.embed_dim,
        "logit_scale_init_value": config.logit_scale_init,
        "initializer_factor": 1.0,
        "dtype": "float32",
        "text_config": {
            "model_type": "clip_text_model",
            "vocab_size": t.vocab_size,
            "hidden_size": t.width,
            "intermediate_size": t.mlp_dim,
            "num_hidden_layers": t.layers,
            "num_attention_heads": t.heads,
            "max_position_embeddings": t.context_length,
            "hidden_act": act,
            "layer_norm_eps": config.layer_norm_eps,
            "projection_dim": config.embed_dim,
            "bos_token_id": t.vocab_size.saturating_sub(2),
            "eos_token_id": t.vocab_size.saturating_sub(1),
            "pad_token_id": 0,
        },
        "vision_config": {
            "model_type": "clip_vision_model",
            "hidden_size": v.width,
            "intermediate_size": v.mlp_dim,
            "num_hidden_layers": v.layers,
            "num_attention_heads": v.heads,
            "image_size": v.image_size,
            "patch_size": v.patch_size,
            "num_channels": 3,
            "hidden_act": act,
            "layer_norm_eps": config.layer_norm_eps,
            "projection_dim": config.embed_dim,
        },
    })
}

// ---------------------------------------------------------------- open_clip config

/// Reads an open_clip model config (`open_clip_config.json`'s `model_cfg`, or the bare
/// `model_configs/*.json` form). Returns `Ok(None)` when the JSON is not one.
pub fn from_open_clip_json(value: &Value, path: &Path) -> Result<Option<ClipConfig>, ModelError> {
    let cfg = value.get("model_cfg").unwrap_or(value);
    let (Some(vision), Some(text), Some(embed_dim)) = (
        cfg.get("vision_cfg"),
        cfg.get("text_cfg"),
        cfg.get("embed_dim").and_then(Value::as_u64),
    ) else {
        return Ok(None);
    };
    let bad = |message: String| ModelError::BadConfig {
        path: path.to_path_buf(),
        message,
    };
    let int = |v: &Value, key: &str, default: usize| match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(x) => x
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| bad(format!("`{key}` is not a non-negative integer: {x}"))),
    };
    let mlp = |v: &Value, width: usize| {
        let ratio = v.get("mlp_ratio").and_then(Value::as_f64).unwrap_or(4.0);
        (width as f64 * ratio).round() as usize
    };
    let vision_width = int(vision, "width", 768)?;
    let head_width = int(vision, "head_width", OPENAI_HEAD_WIDTH)?.max(1);
    let text_width = int(text, "width", 512)?;
    let quick_gelu = cfg
        .get("quick_gelu")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Some(
        ClipConfig::new(
            VisionConfig::new(
                int(vision, "image_size", 224)?,
                int(vision, "patch_size", 16)?,
                vision_width,
                int(vision, "layers", 12)?,
                vision_width / head_width,
                mlp(vision, vision_width),
            ),
            TextConfig::new(
                int(text, "context_length", 77)?,
                int(text, "vocab_size", 49408)?,
                text_width,
                int(text, "layers", 12)?,
                int(text, "heads", 8)?,
                mlp(text, text_width),
            ),
            embed_dim as usize,
        )
        .with_activation(if quick_gelu {
            Activation::QuickGelu
        } else {
            Activation::Gelu
        }),
    ))
}

/// An `open_clip_config.json` that `open_clip.create_model("local-dir:...")` reads.
pub fn to_open_clip_json(config: &ClipConfig) -> Value {
    let (v, t) = (&config.vision, &config.text);
    json!({
        "model_cfg": {
            "embed_dim": config.embed_dim,
            "quick_gelu": config.activation == Activation::QuickGelu,
            "vision_cfg": {
                "image_size": v.image_size,
                "layers": v.layers,
                "width": v.width,
                "head_width": v.width / v.heads,
                "mlp_ratio": v.mlp_dim as f64 / v.width as f64,
                "patch_size": v.patch_size,
            },
            "text_cfg": {
                "context_length": t.context_length,
                "vocab_size": t.vocab_size,
                "width": t.width,
                "heads": t.heads,
                "layers": t.layers,
                "mlp_ratio": t.mlp_dim as f64 / t.width as f64,
            },
        },
        "preprocess_cfg": {
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
        },
    })
}

// ---------------------------------------------------------------- inference from shapes

/// Guesses the configuration of an open_clip-named state dict from its tensor shapes, as
/// open_clip's `build_model_from_openai_state_dict` does: heads are `width / 64` (OpenAI's
/// head width) and the activation QuickGELU (OpenAI's).
pub fn infer_from_tensors(map: &TensorMap) -> Result<ClipConfig, ModelError> {
    let shape = |key: &str| -> Result<&[usize], ModelError> {
        map.get(key).map(|t| t.shape.as_slice()).ok_or_else(|| {
            ModelError::InvalidConfig(format!(
                "cannot infer the model shape without tensor `{key}`"
            ))
        })
    };
    let dim = |key: &str, axis: usize| -> Result<usize, ModelError> {
        shape(key)?
            .get(axis)
            .copied()
            .ok_or_else(|| ModelError::InvalidConfig(format!("tensor `{key}` has no axis {axis}")))
    };
    let vision_width = dim("visual.conv1.weight", 0)?;
    let patch_size = dim("visual.conv1.weight", 2)?;
    let positions = dim("visual.positional_embedding", 0)?;
    let grid = ((positions.saturating_sub(1)) as f64).sqrt().round() as usize;
    if grid * grid + 1 != positions {
        return Err(ModelError::InvalidConfig(format!(
            "visual.positional_embedding has {positions} rows, not a square grid plus a class token"
        )));
    }
    let text_width = dim("token_embedding.weight", 1)?;
    let heads = |width: usize| (width / OPENAI_HEAD_WIDTH).max(1);
    Ok(ClipConfig::new(
        VisionConfig::new(
            grid * patch_size,
            patch_size,
            vision_width,
            count_blocks(map, "visual.transformer.resblocks."),
            heads(vision_width),
            dim("visual.transformer.resblocks.0.mlp.c_fc.weight", 0)?,
        ),
        TextConfig::new(
            dim("positional_embedding", 0)?,
            dim("token_embedding.weight", 0)?,
            text_width,
            count_blocks(map, "transformer.resblocks."),
            heads(text_width),
            dim("transformer.resblocks.0.mlp.c_fc.weight", 0)?,
        ),
        dim("text_projection", 1)?,
    ))
}

/// Number of distinct block indices under `prefix` (`prefix{i}.…`).
fn count_blocks(map: &TensorMap, prefix: &str) -> usize {
    map.keys()
        .filter_map(|k| {
            k.strip_prefix(prefix)?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .collect::<BTreeSet<_>>()
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::params::to_state_dict;
    use burn::tensor::Device;

    #[test]
    fn hf_json_round_trip() {
        let config = ClipConfig::preset("small")
            .unwrap()
            .with_activation(Activation::Gelu);
        let back = from_hf_json(&to_hf_json(&config), Path::new("config.json"))
            .unwrap()
            .unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn open_clip_json_round_trip() {
        let config = ClipConfig::preset("tiny").unwrap();
        let json = to_open_clip_json(&config);
        let back = from_open_clip_json(&json, Path::new("open_clip_config.json"))
            .unwrap()
            .unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn hf_defaults_are_vit_b_32() {
        let json = json!({"text_config": {}, "vision_config": {}});
        let config = from_hf_json(&json, Path::new("c.json")).unwrap().unwrap();
        assert_eq!(config, ClipConfig::preset("vit-b-32").unwrap());
    }

    #[test]
    fn non_clip_json_is_not_a_config() {
        let json = json!({"model_type": "bert"});
        assert!(from_hf_json(&json, Path::new("c.json")).unwrap().is_none());
        assert!(from_open_clip_json(&json, Path::new("c.json"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn shapes_give_back_an_openai_style_config() {
        let device = Device::flex();
        // Heads of 64 channels, as OpenAI's, so the guess is exact.
        let mut config = ClipConfig::preset("tiny").unwrap();
        config.vision.heads = 1;
        config.text.heads = 1;
        config.text.vocab_size = 50;
        config.vision.layers = 3;
        let map = to_state_dict(&config.init(&device));
        assert_eq!(infer_from_tensors(&map).unwrap(), config);
    }
}
