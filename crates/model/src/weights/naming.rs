//! The two naming schemes of CLIP weights and the conversion between them.
//!
//! Inside this crate every state dict uses open_clip's names (the NegCLIP release's). A
//! HuggingFace `CLIPModel` differs in three ways: names, q/k/v stored as three Linears rather
//! than one fused `in_proj` (q, k, v order), and the two projections stored as Linear weights
//! `[embed, width]` rather than matrices `[width, embed]` applied as `x @ proj`.

use super::tensors::{RawTensor, TensorMap};

/// Renames shared by every residual block, open_clip suffix ↔ HuggingFace suffix.
const BLOCK_RENAMES: &[(&str, &str)] = &[
    ("ln_1.", "layer_norm1."),
    ("ln_2.", "layer_norm2."),
    ("mlp.c_fc.", "mlp.fc1."),
    ("mlp.c_proj.", "mlp.fc2."),
    ("attn.out_proj.", "self_attn.out_proj."),
];

/// Block prefixes of each tower, open_clip ↔ HuggingFace.
const BLOCK_PREFIXES: &[(&str, &str)] = &[
    (
        "visual.transformer.resblocks.",
        "vision_model.encoder.layers.",
    ),
    ("transformer.resblocks.", "text_model.encoder.layers."),
];

/// Whole-name (or name-prefix, when ending in '.') renames outside the blocks.
const TOP_RENAMES: &[(&str, &str)] = &[
    (
        "visual.class_embedding",
        "vision_model.embeddings.class_embedding",
    ),
    (
        "visual.positional_embedding",
        "vision_model.embeddings.position_embedding.weight",
    ),
    (
        "visual.conv1.weight",
        "vision_model.embeddings.patch_embedding.weight",
    ),
    ("visual.ln_pre.", "vision_model.pre_layrnorm."),
    ("visual.ln_post.", "vision_model.post_layernorm."),
    (
        "token_embedding.weight",
        "text_model.embeddings.token_embedding.weight",
    ),
    (
        "positional_embedding",
        "text_model.embeddings.position_embedding.weight",
    ),
    ("ln_final.", "text_model.final_layer_norm."),
    ("logit_scale", "logit_scale"),
];

/// Projections: open_clip matrix name ↔ HuggingFace Linear weight name (transposed).
const PROJECTIONS: &[(&str, &str)] = &[
    ("visual.proj", "visual_projection.weight"),
    ("text_projection", "text_projection.weight"),
];

/// HuggingFace buffers that are not weights (older transformers saved them).
const HF_BUFFERS: &[&str] = &[
    "text_model.embeddings.position_ids",
    "vision_model.embeddings.position_ids",
];

/// Which naming a state dict uses, judged from its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStyle {
    HuggingFace,
    OpenClip,
}

/// Tells the naming from the keys, or `None` if neither fits.
pub fn detect(tensors: &TensorMap) -> Option<KeyStyle> {
    let has = |prefix: &str| tensors.keys().any(|k| k.starts_with(prefix));
    if has("vision_model.") || has("text_model.") {
        Some(KeyStyle::HuggingFace)
    } else if has("visual.") || has("transformer.resblocks.") || has("token_embedding.") {
        Some(KeyStyle::OpenClip)
    } else {
        None
    }
}

/// Rewrites `key` by the first `(from, to)` pair whose `from` it matches: exactly, or as a
/// prefix when `from` ends in '.'.
fn rename_with(key: &str, pairs: &[(&str, &str)], forward: bool) -> Option<String> {
    pairs.iter().find_map(|&(a, b)| {
        let (from, to) = if forward { (a, b) } else { (b, a) };
        if from.ends_with('.') {
            key.strip_prefix(from).map(|rest| format!("{to}{rest}"))
        } else {
            (key == from).then(|| to.to_string())
        }
    })
}

/// Splits a block key into its block prefix in the other naming (`...layers.3.`) and its
/// block-local part (`ln_1.weight`), or `None` outside the blocks.
fn map_block_prefix(key: &str, forward: bool) -> Option<(String, &str)> {
    BLOCK_PREFIXES.iter().find_map(|&(oc, hf)| {
        let (from, to) = if forward { (oc, hf) } else { (hf, oc) };
        let (index, local) = key.strip_prefix(from)?.split_once('.')?;
        index.parse::<usize>().ok()?;
        Some((format!("{to}{index}."), local))
    })
}

/// Renames a block key: tower prefix, then the block-local part.
fn rename_block(key: &str, forward: bool) -> Option<String> {
    let (prefix, local) = map_block_prefix(key, forward)?;
    let local = rename_with(local, BLOCK_RENAMES, forward)?;
    Some(format!("{prefix}{local}"))
}

/// open_clip names → HuggingFace names.
pub fn open_clip_to_hf(tensors: &TensorMap) -> TensorMap {
    let mut out = TensorMap::new();
    for (key, tensor) in tensors {
        if let Some((_, hf)) = PROJECTIONS.iter().find(|(oc, _)| oc == key) {
            out.insert(hf.to_string(), tensor.transposed());
            continue;
        }
        if let Some((prefix, local)) = map_block_prefix(key, true) {
            if let Some(kind) = local.strip_prefix("attn.in_proj_") {
                for (part, piece) in ["q", "k", "v"].iter().zip(split_in_three(tensor)) {
                    out.insert(format!("{prefix}self_attn.{part}_proj.{kind}"), piece);
                }
                continue;
            }
        }
        let name = rename_block(key, true)
            .or_else(|| rename_with(key, TOP_RENAMES, true))
            .unwrap_or_else(|| key.clone());
        out.insert(name, tensor.clone());
    }
    out
}

/// HuggingFace names → open_clip names. Keys no rule knows are kept as they are, so the loader
/// reports them under their own name; q/k/v of different shapes are an error naming the key.
pub fn hf_to_open_clip(tensors: &TensorMap) -> Result<TensorMap, crate::ModelError> {
    let mut out = TensorMap::new();
    for (key, tensor) in tensors {
        if HF_BUFFERS.contains(&key.as_str()) {
            continue;
        }
        if let Some((oc, _)) = PROJECTIONS.iter().find(|(_, hf)| hf == key) {
            out.insert(oc.to_string(), tensor.transposed());
            continue;
        }
        if let Some((prefix, local)) = map_block_prefix(key, false) {
            if let Some((part, kind)) = local
                .strip_prefix("self_attn.")
                .and_then(|rest| rest.split_once("_proj."))
                .filter(|(part, _)| ["q", "k", "v"].contains(part))
            {
                // The fused tensor is built once, when its q part comes by.
                if part == "q" {
                    let hf_attn = &key[..key.len() - "q_proj.".len() - kind.len()];
                    let fused = fuse_qkv(tensors, hf_attn, kind)?;
                    out.insert(format!("{prefix}attn.in_proj_{kind}"), fused);
                } else if !tensors.contains_key(&key.replacen(
                    &format!("{part}_proj."),
                    "q_proj.",
                    1,
                )) {
                    out.insert(key.clone(), tensor.clone());
                }
                continue;
            }
        }
        let name = rename_block(key, false)
            .or_else(|| rename_with(key, TOP_RENAMES, false))
            .unwrap_or_else(|| key.clone());
        out.insert(name, tensor.clone());
    }
    Ok(out)
}

/// Cuts a fused q/k/v tensor into its three equal parts along the first axis.
fn split_in_three(tensor: &RawTensor) -> Vec<RawTensor> {
    let mut shape = tensor.shape.clone();
    shape[0] /= 3;
    let len = tensor.data.len() / 3;
    tensor
        .data
        .chunks(len)
        .map(|chunk| RawTensor::new(shape.clone(), chunk.to_vec()))
        .collect()
}

/// Concatenates HF `{hf_attn}{q,k,v}_proj.{kind}` (in that order) into one fused tensor.
fn fuse_qkv(
    tensors: &TensorMap,
    hf_attn: &str,
    kind: &str,
) -> Result<RawTensor, crate::ModelError> {
    let q = &tensors[&format!("{hf_attn}q_proj.{kind}")];
    let mut data = q.data.clone();
    for part in ["k", "v"] {
        let key = format!("{hf_attn}{part}_proj.{kind}");
        let tensor = tensors
            .get(&key)
            .ok_or_else(|| crate::ModelError::MissingTensor {
                key: key.clone(),
                expected: q.shape.clone(),
            })?;
        if tensor.shape != q.shape {
            return Err(crate::ModelError::ShapeMismatch {
                key,
                expected: q.shape.clone(),
                found: tensor.shape.clone(),
            });
        }
        data.extend_from_slice(&tensor.data);
    }
    let mut shape = q.shape.clone();
    shape[0] *= 3;
    Ok(RawTensor::new(shape, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(shape: &[usize], start: f32) -> RawTensor {
        let n = shape.iter().product();
        RawTensor::new(shape.to_vec(), (0..n).map(|i| start + i as f32).collect())
    }

    fn sample_open_clip() -> TensorMap {
        let mut map = TensorMap::new();
        let w = 4;
        map.insert("visual.conv1.weight".into(), tensor(&[w, 3, 2, 2], 0.0));
        map.insert("visual.proj".into(), tensor(&[w, 3], 1.0));
        map.insert("text_projection".into(), tensor(&[w, 3], 2.0));
        map.insert("logit_scale".into(), tensor(&[], 3.0));
        map.insert("ln_final.weight".into(), tensor(&[w], 4.0));
        for tower in [
            "visual.transformer.resblocks.0.",
            "transformer.resblocks.1.",
        ] {
            map.insert(
                format!("{tower}attn.in_proj_weight"),
                tensor(&[3 * w, w], 5.0),
            );
            map.insert(format!("{tower}attn.in_proj_bias"), tensor(&[3 * w], 6.0));
            map.insert(format!("{tower}attn.out_proj.weight"), tensor(&[w, w], 7.0));
            map.insert(format!("{tower}mlp.c_fc.bias"), tensor(&[8], 8.0));
            map.insert(format!("{tower}ln_2.weight"), tensor(&[w], 9.0));
        }
        map
    }

    #[test]
    fn open_clip_to_hf_uses_transformers_names() {
        let hf = open_clip_to_hf(&sample_open_clip());
        for key in [
            "vision_model.embeddings.patch_embedding.weight",
            "visual_projection.weight",
            "text_projection.weight",
            "logit_scale",
            "text_model.final_layer_norm.weight",
            "vision_model.encoder.layers.0.self_attn.q_proj.weight",
            "vision_model.encoder.layers.0.self_attn.v_proj.bias",
            "vision_model.encoder.layers.0.self_attn.out_proj.weight",
            "text_model.encoder.layers.1.self_attn.k_proj.weight",
            "text_model.encoder.layers.1.mlp.fc1.bias",
            "text_model.encoder.layers.1.layer_norm2.weight",
        ] {
            assert!(hf.contains_key(key), "missing {key}: {:?}", hf.keys());
        }
        assert_eq!(hf["visual_projection.weight"].shape, vec![3, 4]);
        let k = &hf["vision_model.encoder.layers.0.self_attn.k_proj.weight"];
        assert_eq!(k.shape, vec![4, 4]);
        assert_eq!(k.data[0], 5.0 + 16.0, "k is the second third of in_proj");
    }

    #[test]
    fn hf_round_trip_is_exact() {
        let original = sample_open_clip();
        let hf = open_clip_to_hf(&original);
        assert_eq!(detect(&hf), Some(KeyStyle::HuggingFace));
        let back = hf_to_open_clip(&hf).unwrap();
        assert_eq!(back, original);
        assert_eq!(detect(&back), Some(KeyStyle::OpenClip));
    }

    #[test]
    fn mismatched_qkv_is_reported_by_key() {
        let mut hf = open_clip_to_hf(&sample_open_clip());
        hf.insert(
            "text_model.encoder.layers.1.self_attn.v_proj.weight".into(),
            tensor(&[5, 4], 0.0),
        );
        let err = hf_to_open_clip(&hf).unwrap_err().to_string();
        assert!(
            err.contains("text_model.encoder.layers.1.self_attn.v_proj.weight"),
            "{err}"
        );
        assert!(err.contains("[5, 4]") && err.contains("[4, 4]"), "{err}");
    }

    #[test]
    fn unknown_keys_keep_their_names() {
        let mut hf = open_clip_to_hf(&sample_open_clip());
        hf.insert("text_model.extra.weight".into(), tensor(&[1], 0.0));
        hf.insert(
            "text_model.embeddings.position_ids".into(),
            tensor(&[1, 4], 0.0),
        );
        let back = hf_to_open_clip(&hf).unwrap();
        assert!(back.contains_key("text_model.extra.weight"));
        assert!(!back.keys().any(|k| k.contains("position_ids")));
    }
}
