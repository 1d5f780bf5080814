//! A [`Clip`]'s parameters as an open_clip state dict, and back.
//!
//! Burn's `Linear` keeps its weight as `[in, out]`; PyTorch's as `[out, in]`. Every Linear is
//! transposed on the way out and back in; the projections, which open_clip already stores as
//! `[in, out]` matrices, are not.

use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};

use super::tensors::{RawTensor, TensorMap};
use crate::attention::SelfAttention;
use crate::text::TextTransformer;
use crate::transformer::{Mlp, ResidualAttentionBlock, Transformer};
use crate::vision::VisionTransformer;
use crate::{Activation, Clip, ClipConfig, ModelError};

// ---------------------------------------------------------------- model → state dict

/// The model's weights under open_clip names, in PyTorch layouts (`logit_scale` a scalar).
pub fn to_state_dict(model: &Clip) -> TensorMap {
    let mut map = TensorMap::new();
    let v = &model.visual;
    put(&mut map, "visual.conv1.weight", v.conv1.val());
    put(&mut map, "visual.class_embedding", v.class_embedding.val());
    put(
        &mut map,
        "visual.positional_embedding",
        v.positional_embedding.val(),
    );
    put_norm(&mut map, "visual.ln_pre", &v.ln_pre);
    put_transformer(&mut map, "visual.transformer", &v.transformer);
    put_norm(&mut map, "visual.ln_post", &v.ln_post);
    put(&mut map, "visual.proj", v.proj.weight.val());

    let t = &model.text;
    put(
        &mut map,
        "token_embedding.weight",
        t.token_embedding.weight.val(),
    );
    put(
        &mut map,
        "positional_embedding",
        t.positional_embedding.val(),
    );
    put_transformer(&mut map, "transformer", &t.transformer);
    put_norm(&mut map, "ln_final", &t.ln_final);
    put(&mut map, "text_projection", t.text_projection.weight.val());

    let mut scale = tensor_to_raw(model.logit_scale.val());
    scale.shape.clear();
    map.insert("logit_scale".into(), scale);
    map
}

fn tensor_to_raw<const D: usize>(tensor: Tensor<D>) -> RawTensor {
    let shape = tensor.dims().to_vec();
    let data = tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("float tensors convert to f32");
    RawTensor::new(shape, data)
}

fn put<const D: usize>(map: &mut TensorMap, key: &str, tensor: Tensor<D>) {
    map.insert(key.to_string(), tensor_to_raw(tensor));
}

fn put_linear(map: &mut TensorMap, prefix: &str, linear: &Linear) {
    put(
        map,
        &format!("{prefix}.weight"),
        linear.weight.val().transpose(),
    );
    if let Some(bias) = &linear.bias {
        put(map, &format!("{prefix}.bias"), bias.val());
    }
}

fn put_norm(map: &mut TensorMap, prefix: &str, norm: &LayerNorm) {
    put(map, &format!("{prefix}.weight"), norm.gamma.val());
    if let Some(beta) = &norm.beta {
        put(map, &format!("{prefix}.bias"), beta.val());
    }
}

fn put_transformer(map: &mut TensorMap, prefix: &str, transformer: &Transformer) {
    for (i, block) in transformer.resblocks.iter().enumerate() {
        let p = format!("{prefix}.resblocks.{i}");
        put_norm(map, &format!("{p}.ln_1"), &block.ln_1);
        put(
            map,
            &format!("{p}.attn.in_proj_weight"),
            block.attn.in_proj.weight.val().transpose(),
        );
        if let Some(bias) = &block.attn.in_proj.bias {
            put(map, &format!("{p}.attn.in_proj_bias"), bias.val());
        }
        put_linear(map, &format!("{p}.attn.out_proj"), &block.attn.out_proj);
        put_norm(map, &format!("{p}.ln_2"), &block.ln_2);
        put_linear(map, &format!("{p}.mlp.c_fc"), &block.mlp.c_fc);
        put_linear(map, &format!("{p}.mlp.c_proj"), &block.mlp.c_proj);
    }
}

// ---------------------------------------------------------------- state dict → model

/// Builds a model of shape `config` from an open_clip state dict, checking every tensor's
/// shape and that nothing is missing or left over.
pub fn from_state_dict(
    mut map: TensorMap,
    config: &ClipConfig,
    device: &Device,
) -> Result<Clip, ModelError> {
    config.validate()?;
    let mut r = StateReader {
        map: &mut map,
        device,
        eps: config.layer_norm_eps,
        activation: config.activation,
    };
    let model = Clip {
        visual: r.vision(config)?,
        text: r.text(config)?,
        logit_scale: Param::from_tensor(r.logit_scale()?),
    };
    if !map.is_empty() {
        return Err(ModelError::UnexpectedTensors {
            keys: map.into_keys().collect(),
        });
    }
    Ok(model)
}

/// Takes tensors out of a state dict as model parts.
struct StateReader<'a> {
    map: &'a mut TensorMap,
    device: &'a Device,
    eps: f64,
    activation: Activation,
}

impl StateReader<'_> {
    /// Removes `key`, checking it has shape `expected`.
    fn take<const D: usize>(
        &mut self,
        key: &str,
        expected: [usize; D],
    ) -> Result<Tensor<D>, ModelError> {
        let raw = self
            .map
            .remove(key)
            .ok_or_else(|| ModelError::MissingTensor {
                key: key.to_string(),
                expected: expected.to_vec(),
            })?;
        if raw.shape != expected {
            return Err(ModelError::ShapeMismatch {
                key: key.to_string(),
                expected: expected.to_vec(),
                found: raw.shape,
            });
        }
        Ok(Tensor::from_data(
            TensorData::new(raw.data, expected),
            self.device,
        ))
    }

    fn param<const D: usize>(
        &mut self,
        key: &str,
        expected: [usize; D],
    ) -> Result<Param<Tensor<D>>, ModelError> {
        Ok(Param::from_tensor(self.take(key, expected)?))
    }

    /// A PyTorch Linear (`weight [out, in]`, optional `bias [out]`).
    fn linear(
        &mut self,
        prefix: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
    ) -> Result<Linear, ModelError> {
        let mut linear = LinearConfig::new(d_in, d_out)
            .with_bias(bias)
            .init(self.device);
        let weight: Tensor<2> = self.take(&format!("{prefix}.weight"), [d_out, d_in])?;
        linear.weight = Param::from_tensor(weight.transpose());
        if bias {
            linear.bias = Some(self.param(&format!("{prefix}.bias"), [d_out])?);
        }
        Ok(linear)
    }

    /// An open_clip projection matrix `[in, out]`, as a bias-free Linear.
    fn projection(&mut self, key: &str, d_in: usize, d_out: usize) -> Result<Linear, ModelError> {
        let mut linear = LinearConfig::new(d_in, d_out)
            .with_bias(false)
            .init(self.device);
        linear.weight = self.param(key, [d_in, d_out])?;
        Ok(linear)
    }

    fn norm(&mut self, prefix: &str, width: usize) -> Result<LayerNorm, ModelError> {
        let mut norm = LayerNormConfig::new(width)
            .with_epsilon(self.eps)
            .init(self.device);
        norm.gamma = self.param(&format!("{prefix}.weight"), [width])?;
        norm.beta = Some(self.param(&format!("{prefix}.bias"), [width])?);
        Ok(norm)
    }

    fn transformer(
        &mut self,
        prefix: &str,
        width: usize,
        layers: usize,
        heads: usize,
        mlp_dim: usize,
    ) -> Result<Transformer, ModelError> {
        let resblocks = (0..layers)
            .map(|i| {
                let p = format!("{prefix}.resblocks.{i}");
                let mut in_proj = LinearConfig::new(width, 3 * width).init(self.device);
                let weight: Tensor<2> =
                    self.take(&format!("{p}.attn.in_proj_weight"), [3 * width, width])?;
                in_proj.weight = Param::from_tensor(weight.transpose());
                in_proj.bias = Some(self.param(&format!("{p}.attn.in_proj_bias"), [3 * width])?);
                Ok(ResidualAttentionBlock {
                    ln_1: self.norm(&format!("{p}.ln_1"), width)?,
                    attn: SelfAttention {
                        in_proj,
                        out_proj: self.linear(&format!("{p}.attn.out_proj"), width, width, true)?,
                        num_heads: heads,
                    },
                    ln_2: self.norm(&format!("{p}.ln_2"), width)?,
                    mlp: Mlp {
                        c_fc: self.linear(&format!("{p}.mlp.c_fc"), width, mlp_dim, true)?,
                        c_proj: self.linear(&format!("{p}.mlp.c_proj"), mlp_dim, width, true)?,
                        activation: self.activation,
                    },
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(Transformer { resblocks })
    }

    fn vision(&mut self, config: &ClipConfig) -> Result<VisionTransformer, ModelError> {
        let v = &config.vision;
        Ok(VisionTransformer {
            conv1: self.param(
                "visual.conv1.weight",
                [v.width, 3, v.patch_size, v.patch_size],
            )?,
            class_embedding: self.param("visual.class_embedding", [v.width])?,
            positional_embedding: self
                .param("visual.positional_embedding", [v.num_positions(), v.width])?,
            ln_pre: self.norm("visual.ln_pre", v.width)?,
            transformer: self.transformer(
                "visual.transformer",
                v.width,
                v.layers,
                v.heads,
                v.mlp_dim,
            )?,
            ln_post: self.norm("visual.ln_post", v.width)?,
            proj: self.projection("visual.proj", v.width, config.embed_dim)?,
            patch_size: v.patch_size,
        })
    }

    fn text(&mut self, config: &ClipConfig) -> Result<TextTransformer, ModelError> {
        let t = &config.text;
        let mut token_embedding: Embedding =
            EmbeddingConfig::new(t.vocab_size, t.width).init(self.device);
        token_embedding.weight = self.param("token_embedding.weight", [t.vocab_size, t.width])?;
        Ok(TextTransformer {
            token_embedding,
            positional_embedding: self
                .param("positional_embedding", [t.context_length, t.width])?,
            transformer: self.transformer("transformer", t.width, t.layers, t.heads, t.mlp_dim)?,
            ln_final: self.norm("ln_final", t.width)?,
            text_projection: self.projection("text_projection", t.width, config.embed_dim)?,
        })
    }

    /// `logit_scale`, stored as a scalar by PyTorch or as `[1]`.
    fn logit_scale(&mut self) -> Result<Tensor<1>, ModelError> {
        if let Some(raw) = self.map.get_mut("logit_scale") {
            if raw.shape.is_empty() {
                raw.shape = vec![1];
            }
        }
        self.take("logit_scale", [1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (Clip, ClipConfig, Device) {
        let device = Device::flex();
        device.seed(11);
        let mut config = ClipConfig::preset("tiny").unwrap();
        config.text.vocab_size = 100;
        (config.init(&device), config, device)
    }

    #[test]
    fn state_dict_round_trip_is_exact() {
        let (model, config, device) = tiny();
        let map = to_state_dict(&model);
        assert_eq!(map["logit_scale"].shape, Vec::<usize>::new());
        assert_eq!(
            map["visual.transformer.resblocks.1.attn.in_proj_weight"].shape,
            vec![192, 64]
        );
        assert_eq!(
            map["transformer.resblocks.0.mlp.c_fc.weight"].shape,
            vec![128, 64]
        );
        let back = from_state_dict(map.clone(), &config, &device).unwrap();
        assert_eq!(to_state_dict(&back), map);
    }

    #[test]
    fn missing_tensor_is_named() {
        let (model, config, device) = tiny();
        let mut map = to_state_dict(&model);
        map.remove("transformer.resblocks.1.ln_2.bias");
        let err = from_state_dict(map, &config, &device)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("transformer.resblocks.1.ln_2.bias") && err.contains("[64]"),
            "{err}"
        );
    }

    #[test]
    fn wrong_shape_names_key_expected_and_found() {
        let (model, config, device) = tiny();
        let mut map = to_state_dict(&model);
        map.insert(
            "visual.proj".into(),
            RawTensor::new(vec![32, 64], vec![0.0; 2048]),
        );
        let err = from_state_dict(map, &config, &device)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("visual.proj") && err.contains("[32, 64]") && err.contains("[64, 32]"),
            "{err}"
        );
    }

    #[test]
    fn extra_tensor_is_rejected() {
        let (model, config, device) = tiny();
        let mut map = to_state_dict(&model);
        map.insert("visual.extra".into(), RawTensor::new(vec![1], vec![0.0]));
        let err = from_state_dict(map, &config, &device)
            .unwrap_err()
            .to_string();
        assert!(err.contains("visual.extra"), "{err}");
    }
}
