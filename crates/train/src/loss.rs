//! The NegCLIP contrastive loss, as vinid/neg_clip computes it.
//!
//! A batch of B samples gives N images (the B anchors, then optionally one hard-negative
//! image per anchor, N = 2B) and N positive captions in the same order, plus M hard-negative
//! captions. With normalised features I (images), P (positives), Q (negatives) and
//! s = exp(logit_scale):
//!
//! - image→text logits `s · I · [P; Q]ᵀ` (N × (N + M)), cross-entropy with targets 0..N;
//! - text→image logits `s · P · Iᵀ` (N × N), cross-entropy with targets 0..N — the negative
//!   captions get gradient only through the image→text term;
//! - loss = mean of the two. With M = 0 this is CLIP's plain contrastive loss.
//!
//! The loss is a function of embeddings only, so that a multi-process run can pass gathered
//! embeddings from every rank without touching the model.

use std::sync::Mutex;

use burn::tensor::activation::log_softmax;
use burn::tensor::{DType, Device, Tensor};
use negclip_model::l2_normalize;

/// The two halves of the loss and their mean, each a one-element tensor.
#[derive(Debug, Clone)]
pub struct LossOutput {
    pub loss: Tensor<1>,
    pub image_to_text: Tensor<1>,
    pub text_to_image: Tensor<1>,
}

/// The precision the loss is computed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossPrecision {
    /// Where the device has f64 (CPU, CUDA): the loss costs nothing next to the towers.
    F64,
    /// Where it has not (WGSL through wgpu, Metal).
    F32,
}

impl LossPrecision {
    /// f64 where `device` computes it, else f32. Asked once per device and remembered.
    pub fn for_device(device: &Device) -> LossPrecision {
        static SEEN: Mutex<Vec<(Device, LossPrecision)>> = Mutex::new(Vec::new());
        let mut seen = SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, precision)) = seen.iter().find(|(known, _)| known == device) {
            return *precision;
        }
        let precision = if computes_f64(device) {
            LossPrecision::F64
        } else {
            LossPrecision::F32
        };
        seen.push((device.clone(), precision));
        precision
    }

    fn dtype(self) -> DType {
        match self {
            LossPrecision::F64 => DType::F64,
            LossPrecision::F32 => DType::F32,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LossPrecision::F64 => "f64",
            LossPrecision::F32 => "f32",
        }
    }
}

/// Whether `device` computes in f64. Reporting it is not enough: wgpu on Mesa's lavapipe
/// reports f64 and computes the loss wrong (WGSL has no f64; a NegCLIP loss came out
/// negative). So ask a question f32 cannot answer, with the ops the loss uses: the
/// log-softmax of (0, 1) to 1e-12.
fn computes_f64(device: &Device) -> bool {
    if !device.supports_dtype(DType::F64) {
        return false;
    }
    let x = Tensor::<1>::from_floats([0.0, 1.0], device).cast(DType::F64);
    let got = log_softmax(x, 0).into_data().convert::<f64>();
    let Ok(got) = got.try_to_vec::<f64>() else {
        return false;
    };
    let log_norm = (1.0 + 1f64.exp()).ln();
    let want = [-log_norm, 1.0 - log_norm];
    got.len() == 2 && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-12)
}

/// Mean cross-entropy of the rows of `scale · cosines` against the target cosine of each row,
/// written as `logsumexp_j(scale · (cosines_ij − target_i))`.
///
/// The usual form `logsumexp_j(scale · c_ij) − scale · c_it` has a logit-scale gradient
/// `Σ_j p_ij c_ij − c_it` that cancels almost entirely once the model is confident (p_it ≈ 1);
/// f32 gets it wrong in the fifth digit. Shifting the row by its target first gives the
/// gradient as `Σ_j p_ij (c_ij − c_it)`, a sum of small terms of which the target's is zero.
/// The targets come in separately (no gather needed), and any column of
/// `x − log_softmax(x)` holds the row's log-sum-exp.
fn shifted_cross_entropy(cosines: Tensor<2>, targets: Tensor<2>, scale: Tensor<2>) -> Tensor<1> {
    let rows = cosines.dims()[0];
    let shifted = (cosines - targets) * scale;
    let log_norm = shifted.clone() - log_softmax(shifted, 1);
    log_norm.slice([0..rows, 0..1]).reshape([rows]).mean()
}

/// NegCLIP loss from raw (un-normalised) embeddings, in the precision the embeddings' device
/// supports ([`LossPrecision::for_device`]).
///
/// - `image_emb`: N × D, anchors then hard-negative images;
/// - `text_emb`: N × D, the positive caption of each image, same order;
/// - `neg_text_emb`: M × D hard-negative captions (`None` or M = 0: plain CLIP loss);
/// - `logit_scale`: the log of the temperature scale, shape `[1]`.
pub fn negclip_loss(
    image_emb: Tensor<2>,
    text_emb: Tensor<2>,
    neg_text_emb: Option<Tensor<2>>,
    logit_scale: Tensor<1>,
) -> LossOutput {
    let precision = LossPrecision::for_device(&image_emb.device());
    negclip_loss_in(precision, image_emb, text_emb, neg_text_emb, logit_scale)
}

/// [`negclip_loss`] in a given precision.
pub fn negclip_loss_in(
    precision: LossPrecision,
    image_emb: Tensor<2>,
    text_emb: Tensor<2>,
    neg_text_emb: Option<Tensor<2>>,
    logit_scale: Tensor<1>,
) -> LossOutput {
    let [n, _] = image_emb.dims();
    let dtype = image_emb.dtype();
    let wide = |t: Tensor<2>| t.cast(precision.dtype());
    let (image_emb, text_emb) = (wide(image_emb), wide(text_emb));
    let neg_text_emb = neg_text_emb.map(wide);
    let logit_scale = logit_scale.cast(precision.dtype());
    assert_eq!(
        text_emb.dims()[0],
        n,
        "NegCLIP needs one positive caption per image"
    );
    let images = l2_normalize(image_emb);
    let positives = l2_normalize(text_emb);
    let scale = logit_scale.exp().reshape([1, 1]);

    let all_texts = match neg_text_emb {
        Some(neg) if neg.dims()[0] > 0 => {
            Tensor::cat(vec![positives.clone(), l2_normalize(neg)], 0)
        }
        _ => positives.clone(),
    };
    let per_image = images.clone().matmul(all_texts.transpose());
    let per_text = positives.clone().matmul(images.clone().transpose());
    let matched = (images * positives).sum_dim(1);

    let image_to_text = shifted_cross_entropy(per_image, matched.clone(), scale.clone());
    let text_to_image = shifted_cross_entropy(per_text, matched, scale);
    let loss = (image_to_text.clone() + text_to_image.clone()) / 2.0;
    LossOutput {
        loss: loss.cast(dtype),
        image_to_text: image_to_text.cast(dtype),
        text_to_image: text_to_image.cast(dtype),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};
    use safetensors::SafeTensors;
    use std::path::PathBuf;

    fn fixture_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/negclip-loss")
    }

    /// A tensor of the fixture file as f64 values and its shape.
    fn read(st: &SafeTensors, name: &str) -> (Vec<f64>, Vec<usize>) {
        let view = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let bytes = view.data();
        let values = match view.dtype() {
            safetensors::Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            safetensors::Dtype::F64 => bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            other => panic!("{name}: unexpected dtype {other:?}"),
        };
        (values, view.shape().to_vec())
    }

    fn tensor2(st: &SafeTensors, name: &str, device: &Device) -> Tensor<2> {
        let (v, shape) = read(st, name);
        let v: Vec<f32> = v.into_iter().map(|x| x as f32).collect();
        Tensor::from_data(TensorData::new(v, [shape[0], shape[1]]), device).require_grad()
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
        t.into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(|x| x as f64)
            .collect()
    }

    fn assert_close(name: &str, got: &[f64], want: &[f64], rel: f64) {
        assert_eq!(got.len(), want.len(), "{name}: length");
        let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-12);
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= rel * scale,
                "{name}[{i}]: got {g}, want {w} (tolerance {rel} × {scale})"
            );
        }
    }

    #[test]
    fn matches_reference_vectors_in_value_and_gradient() {
        check_reference_vectors(LossPrecision::F64, &Device::flex().autodiff(), 1e-6, 1e-5);
    }

    /// What a device without f64 (WGSL, Metal) computes, on the CPU.
    #[test]
    fn f32_matches_reference_vectors_in_value_and_gradient() {
        check_reference_vectors(LossPrecision::F32, &Device::flex().autodiff(), 1e-6, 1e-5);
    }

    /// The GPU test set: the loss in the precision the device computes (f32 on WGSL), within
    /// 1e-4: lavapipe's exp and log are approximate (gradients came 2e-5 from PyTorch's).
    #[cfg(feature = "wgpu")]
    #[test]
    fn gpu_loss_matches_reference_vectors_in_value_and_gradient() {
        let device = crate::device::select("wgpu").unwrap().autodiff();
        check_reference_vectors(LossPrecision::for_device(&device), &device, 1e-4, 1e-4);
    }

    #[test]
    fn the_cpu_computes_the_loss_in_f64() {
        assert_eq!(
            LossPrecision::for_device(&Device::flex().autodiff()),
            LossPrecision::F64
        );
    }

    /// The loss and its gradients against PyTorch's, the loss values within `value_rel` and
    /// the gradients within `grad_rel` (relative to the largest of each).
    fn check_reference_vectors(
        precision: LossPrecision,
        device: &Device,
        value_rel: f64,
        grad_rel: f64,
    ) {
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture_dir().join("manifest.json")).unwrap(),
        )
        .unwrap();
        let cases = manifest["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 7, "all seven reference cases are checked");
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let bytes = std::fs::read(fixture_dir().join(case["file"].as_str().unwrap())).unwrap();
            let st = SafeTensors::deserialize(&bytes).unwrap();
            let images = tensor2(&st, "input.image_emb", device);
            let texts = tensor2(&st, "input.text_emb", device);
            let m = case["M"].as_u64().unwrap() as usize;
            let negs = (m > 0).then(|| tensor2(&st, "input.neg_text_emb", device));
            let (scale, _) = read(&st, "input.logit_scale");
            let scale = Tensor::<1>::from_floats([scale[0] as f32], device).require_grad();

            let out = negclip_loss_in(
                precision,
                images.clone(),
                texts.clone(),
                negs.clone(),
                scale.clone(),
            );
            let grads = out.loss.backward();

            let rel = grad_rel;
            for (part, tensor) in [
                ("loss", out.loss.clone()),
                ("loss_i2t", out.image_to_text.clone()),
                ("loss_t2i", out.text_to_image.clone()),
            ] {
                let (want, _) = read(&st, &format!("expected.{part}"));
                assert_close(&format!("{name}.{part}"), &values(tensor), &want, value_rel);
            }
            let (want, _) = read(&st, "expected.grad_image_emb");
            assert_close(name, &values(images.grad(&grads).unwrap()), &want, rel);
            let (want, _) = read(&st, "expected.grad_text_emb");
            assert_close(name, &values(texts.grad(&grads).unwrap()), &want, rel);
            if let Some(negs) = negs {
                let (want, _) = read(&st, "expected.grad_neg_text_emb");
                assert_close(name, &values(negs.grad(&grads).unwrap()), &want, rel);
            }
            let (want, _) = read(&st, "expected.grad_logit_scale");
            assert_close(name, &values(scale.grad(&grads).unwrap()), &want, rel);
        }
    }

    #[test]
    fn hard_negative_that_matches_the_image_raises_the_loss() {
        let device = Device::flex();
        let images = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let texts = images.clone();
        let far = Tensor::<2>::from_floats([[-1.0, 0.0], [0.0, -1.0]], &device);
        let scale = Tensor::<1>::from_floats([2.0], &device);
        let easy = negclip_loss(images.clone(), texts.clone(), Some(far), scale.clone());
        let hard = negclip_loss(images.clone(), texts.clone(), Some(images), scale);
        let easy: f32 = easy.loss.into_scalar();
        let hard: f32 = hard.loss.into_scalar();
        assert!(hard > easy + 0.1, "hard {hard} vs easy {easy}");
    }
}
