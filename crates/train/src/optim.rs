//! AdamW with open_clip's decay groups and global-norm gradient clipping.
//!
//! Our own, over Burn's module mapper, rather than burn-optim's: its state is keyed by
//! run-local parameter ids (a resumed run has new ones), its clipping is per tensor, and we
//! need one decay rule for matrices and another for gains, biases and the logit scale.
//! State is keyed by the parameter's path in the module, so it saves to safetensors and
//! resumes bit-exactly. The update is PyTorch's `torch.optim.AdamW`, operation for operation.
//!
//! On the CPU the moments live in plain vectors and each parameter is updated in one fused
//! pass ([`fused_update`]): the same f32 operations in the same order as the tensor version,
//! so bit-identical to it (tested), without its ~14 allocating passes. Elsewhere the moments
//! are device tensors and the update is tensor operations.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::device::is_cpu;

/// Hyper-parameters of AdamW.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWSettings {
    pub betas: [f64; 2],
    pub eps: f64,
    pub weight_decay: f64,
}

/// open_clip's AdamW settings, which NegCLIP trains with: betas (0.9, 0.98), eps 1e-6,
/// weight decay 0.2 (on matrices). The run file's `[optim]` defaults.
impl Default for AdamWSettings {
    fn default() -> Self {
        AdamWSettings {
            betas: [0.9, 0.98],
            eps: 1e-6,
            weight_decay: 0.2,
        }
    }
}

/// First and second moments of one parameter, flattened.
#[derive(Debug, Clone)]
enum Moments {
    /// On the CPU: vectors updated in place by [`fused_update`].
    Host { m: Vec<f32>, v: Vec<f32> },
    /// On an accelerator: tensors on the parameter's device (boxed: a tensor handle is large).
    Device {
        m: Box<Tensor<1>>,
        v: Box<Tensor<1>>,
    },
}

/// AdamW state: moments per parameter path and the number of steps taken.
#[derive(Debug, Clone)]
pub struct AdamW {
    settings: AdamWSettings,
    step: u64,
    moments: BTreeMap<String, Moments>,
}

/// Named float tensors (path → flat values and shape), the form state is saved in.
pub type NamedTensors = BTreeMap<String, (Vec<f32>, Vec<usize>)>;

impl AdamW {
    pub fn new(settings: AdamWSettings) -> Self {
        AdamW {
            settings,
            step: 0,
            moments: BTreeMap::new(),
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// One update of every parameter that has a gradient; `lr` for this step, and every
    /// gradient multiplied by `grad_scale` first (the clipping factor, [`clip_factor`]), as
    /// part of the update rather than as a pass of its own.
    pub fn step<M: Module>(
        &mut self,
        lr: f64,
        grad_scale: f64,
        module: M,
        mut grads: GradientsParams,
    ) -> M {
        self.step += 1;
        let mut mapper = UpdateMapper {
            optim: self,
            grads: &mut grads,
            lr,
            grad_scale,
            path: Vec::new(),
        };
        module.map(&mut mapper)
    }

    /// The moments as named tensors (`m.<path>`, `v.<path>`) for a checkpoint.
    pub fn state(&self) -> NamedTensors {
        let host = |tensor: &Tensor<1>| -> Vec<f32> {
            tensor
                .clone()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("optimiser moments are f32")
        };
        let mut out = BTreeMap::new();
        for (path, moments) in &self.moments {
            let (m, v) = match moments {
                Moments::Host { m, v } => (m.clone(), v.clone()),
                Moments::Device { m, v } => (host(m), host(v)),
            };
            for (prefix, values) in [("m", m), ("v", v)] {
                let len = values.len();
                out.insert(format!("{prefix}.{path}"), (values, vec![len]));
            }
        }
        out
    }

    /// Restore moments saved by [`AdamW::state`] after `steps` steps.
    pub fn restore(
        settings: AdamWSettings,
        steps: u64,
        state: &NamedTensors,
        device: &Device,
    ) -> Result<AdamW, String> {
        let mut optim = AdamW::new(settings);
        optim.step = steps;
        let values = |name: &str| -> Result<Vec<f32>, String> {
            let (values, _) = state
                .get(name)
                .ok_or_else(|| format!("optimiser state lacks `{name}`"))?;
            Ok(values.clone())
        };
        let tensor = |values: Vec<f32>| {
            let n = values.len();
            Tensor::from_data(TensorData::new(values, [n]), &device.clone().inner())
        };
        for name in state.keys() {
            if let Some(path) = name.strip_prefix("m.") {
                let (m, v) = (values(name)?, values(&format!("v.{path}"))?);
                let moments = if is_cpu(device) {
                    Moments::Host { m, v }
                } else {
                    Moments::Device {
                        m: Box::new(tensor(m)),
                        v: Box::new(tensor(v)),
                    }
                };
                optim.moments.insert(path.to_string(), moments);
            }
        }
        Ok(optim)
    }

    fn update(
        &mut self,
        path: &str,
        param: Tensor<1>,
        grad: Tensor<1>,
        lr: f64,
        grad_scale: f64,
    ) -> Tensor<1> {
        let n = param.dims()[0];
        let device = param.device();
        let coefficients = self.coefficients(path, lr, grad_scale);
        let moments = self.moments.entry(path.to_string()).or_insert_with(|| {
            if is_cpu(&device) {
                Moments::Host {
                    m: vec![0.0; n],
                    v: vec![0.0; n],
                }
            } else {
                Moments::Device {
                    m: Box::new(Tensor::zeros([n], &device)),
                    v: Box::new(Tensor::zeros([n], &device)),
                }
            }
        });
        match moments {
            Moments::Host { m, v } => {
                // Updated in the tensor's own buffer: `into_data` and `from_data` hand it over
                // without a copy when nothing else holds it, where a `Vec` would be two copies.
                let mut values = param.into_data().convert::<f32>();
                let grad = grad.into_data().convert::<f32>();
                fused_update(
                    &coefficients,
                    values.as_mut_slice::<f32>().expect("f32 parameters"),
                    grad.as_slice::<f32>().expect("f32 gradients"),
                    m,
                    v,
                );
                Tensor::from_data(values, &device)
            }
            Moments::Device { m, v } => tensor_update(&coefficients, param, grad, m, v),
        }
    }

    /// This step's scalars for the parameter at `path`.
    fn coefficients(&self, path: &str, lr: f64, grad_scale: f64) -> Coefficients {
        let AdamWSettings {
            betas: [b1, b2],
            eps,
            weight_decay,
        } = self.settings;
        let t = self.step as i32;
        let bias1 = 1.0 - b1.powi(t);
        let bias2 = 1.0 - b2.powi(t);
        // open_clip: no decay on gains, biases and the logit scale, i.e. on 1-D parameters.
        let decay = if path.ends_with(DECAY_MARK) {
            weight_decay
        } else {
            0.0
        };
        Coefficients {
            grad_scale,
            b1,
            b2,
            keep: 1.0 - lr * decay,
            sqrt_bias2: bias2.sqrt(),
            eps,
            step: lr / bias1,
        }
    }
}

/// The scalars of one parameter's update, in f64 as computed; both updates round each to the
/// parameter's f32 where they use it, as Burn's scalar operations do.
struct Coefficients {
    /// The factor every gradient is multiplied by before use (clipping).
    grad_scale: f64,
    b1: f64,
    b2: f64,
    /// `1 − lr · weight_decay` (decoupled decay).
    keep: f64,
    /// `√(1 − β₂ᵗ)`.
    sqrt_bias2: f64,
    eps: f64,
    /// `lr / (1 − β₁ᵗ)`.
    step: f64,
}

/// PyTorch's AdamW step as tensor operations (accelerators); replaces the moments.
fn tensor_update(
    c: &Coefficients,
    param: Tensor<1>,
    grad: Tensor<1>,
    m: &mut Tensor<1>,
    v: &mut Tensor<1>,
) -> Tensor<1> {
    let grad = grad * c.grad_scale;
    let m_next = m.clone() * c.b1 + grad.clone() * (1.0 - c.b1);
    let v_next = v.clone() * c.b2 + grad.clone() * grad * (1.0 - c.b2);
    *m = m_next.clone();
    *v = v_next.clone();
    let param = param * c.keep;
    let denom = v_next.sqrt() / c.sqrt_bias2 + c.eps;
    param - m_next / denom * c.step
}

/// The same step in one pass over the parameter, in place: per element, the f32 operations
/// of [`tensor_update`] in its order (no fused multiply-add), so the results are identical.
fn fused_update(c: &Coefficients, param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32]) {
    use rayon::prelude::*;
    let f = |x: f64| x as f32;
    let grad_scale = f(c.grad_scale);
    let (b1, one_b1, b2, one_b2) = (f(c.b1), f(1.0 - c.b1), f(c.b2), f(1.0 - c.b2));
    let (keep, sqrt_bias2, eps, step) = (f(c.keep), f(c.sqrt_bias2), f(c.eps), f(c.step));
    param
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .for_each(|((param, grad), (m, v))| {
            for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(m).zip(v) {
                let g = g * grad_scale;
                *m = *m * b1 + g * one_b1;
                *v = *v * b2 + g * g * one_b2;
                let denom = v.sqrt() / sqrt_bias2 + eps;
                *p = *p * keep - *m / denom * step;
            }
        });
}

/// Elements per task of the CPU's passes over parameters and gradients: large enough that a
/// thread's share outweighs its start. Fixed, so sums over chunks do not depend on the threads.
const CHUNK: usize = 1 << 14;

/// Marks the state key of a parameter that takes weight decay. open_clip exempts tensors of
/// fewer than two dimensions (gains, biases, the class embedding, the logit scale); moments
/// are stored flat, so the rank is recorded in the key.
const DECAY_MARK: &str = "#decay";

struct UpdateMapper<'a> {
    optim: &'a mut AdamW,
    grads: &'a mut GradientsParams,
    lr: f64,
    grad_scale: f64,
    path: Vec<String>,
}

impl ModuleMapper for UpdateMapper<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let shape = tensor.shape();
        let n = shape.num_elements();
        let require_grad = tensor.is_require_grad();
        let key = state_key(&self.path, D);
        let flat = tensor.inner().reshape([n]);
        let grad = grad.reshape([n]);
        let updated = self
            .optim
            .update(&key, flat, grad, self.lr, self.grad_scale)
            .reshape(shape);
        let mut updated = Tensor::from_inner(updated);
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// The state key of a parameter: its module path, marked when it takes weight decay.
fn state_key(path: &[String], rank: usize) -> String {
    let base = path.join(".");
    if rank >= 2 {
        format!("{base}{DECAY_MARK}")
    } else {
        base
    }
}

/// PyTorch's `clip_grad_norm_`: the factor `max_norm / (norm + 1e-6)` that brings gradients
/// of global norm `norm` down to `max_norm`, or 1 where they are within it.
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    if norm > max_norm {
        max_norm / (norm + 1e-6)
    } else {
        1.0
    }
}

/// The global L2 norm of all gradients (not finite if any gradient is not).
pub fn global_norm<M: Module>(module: &M, grads: &mut GradientsParams) -> f64 {
    let mut collector = SumOfSquares { grads, sum: 0.0 };
    module.visit(&mut collector);
    collector.sum.sqrt()
}

/// Multiply every gradient by `factor`.
pub fn scale_gradients<M: Module>(module: &M, grads: &mut GradientsParams, factor: f64) {
    module.visit(&mut Scale { grads, factor });
}

/// Adds up the squares of every parameter's gradient.
struct SumOfSquares<'a> {
    grads: &'a mut GradientsParams,
    sum: f64,
}

impl ModuleVisitor for SumOfSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let (squares, grad) = sum_of_squares(grad);
            self.sum += squares;
            self.grads.register(param.id, grad);
        }
    }
}

/// Multiplies every parameter's gradient by `factor`.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, grad * self.factor);
        }
    }
}

/// `Σ g²` of one gradient, and the gradient back. On the CPU the values are read where they
/// lie, in parallel chunks, instead of squared into a new tensor and summed by a second pass:
/// this runs on the training loop's thread while the others wait, once per step over every
/// parameter (`docs/performance.md`).
fn sum_of_squares<const D: usize>(grad: Tensor<D>) -> (f64, Tensor<D>) {
    let device = grad.device();
    if !is_cpu(&device) || grad.dtype() != DType::F32 {
        let squares = grad.clone().powi_scalar(2).sum().into_scalar::<f64>();
        return (squares, grad);
    }
    let data = grad.into_data();
    let squares = host_sum_of_squares(data.as_slice::<f32>().expect("f32 gradients"));
    (squares, Tensor::from_data(data, &device))
}

/// `Σ x²` in chunks of a fixed size, added in order: the same sum whatever the thread count.
fn host_sum_of_squares(values: &[f32]) -> f64 {
    use rayon::prelude::*;
    let chunks: Vec<f64> = values.par_chunks(CHUNK).map(chunk_sum_of_squares).collect();
    chunks.iter().sum()
}

/// One chunk's `Σ x²`: sixteen f32 running sums (which the compiler keeps in vector
/// registers), added up in f64 at the end.
fn chunk_sum_of_squares(values: &[f32]) -> f64 {
    let mut lanes = [0f32; 16];
    let mut rows = values.chunks_exact(16);
    for row in &mut rows {
        for (lane, &x) in lanes.iter_mut().zip(row) {
            *lane += x * x;
        }
    }
    let tail: f64 = rows.remainder().iter().map(|&x| f64::from(x * x)).sum();
    lanes.iter().map(|&lane| f64::from(lane)).sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    #[derive(Module, Debug)]
    struct Tiny {
        linear: Linear,
    }

    fn grads_of(model: &Tiny, x: Tensor<2>) -> GradientsParams {
        let loss = model.linear.forward(x).powi_scalar(2).mean();
        GradientsParams::from_grads(loss.backward(), model)
    }

    fn settings() -> AdamWSettings {
        AdamWSettings::default()
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn first_step_moves_each_weight_by_lr_against_its_gradient_sign() {
        // After one step Adam's update is lr · g / (|g| + eps') ≈ lr · sign(g).
        let device = Device::flex().autodiff();
        let model = Tiny {
            linear: LinearConfig::new(3, 2).init(&device),
        };
        let x = Tensor::<2>::from_floats([[1.0, -2.0, 0.5], [0.3, 0.1, -1.0]], &device);
        let grads = grads_of(&model, x);
        let g_bias = values(
            grads
                .get::<1>(model.linear.bias.as_ref().unwrap().id)
                .unwrap(),
        );
        let before = values(model.linear.bias.as_ref().unwrap().val());
        let mut optim = AdamW::new(settings());
        let model = optim.step(1e-2, 1.0, model, grads);
        let after = values(model.linear.bias.as_ref().unwrap().val());
        for ((b, a), g) in before.iter().zip(&after).zip(&g_bias) {
            let expected = b - 1e-2 * g.signum();
            assert!(
                (a - expected).abs() < 1e-4,
                "bias (no decay): {a} vs {expected}"
            );
        }
    }

    #[test]
    fn weight_decay_only_shrinks_matrices() {
        let device = Device::flex().autodiff();
        let model = Tiny {
            linear: LinearConfig::new(2, 2).init(&device),
        };
        let mut grads = GradientsParams::new();
        let w = model.linear.weight.clone();
        let b = model.linear.bias.clone().unwrap();
        grads.register(w.id, Tensor::<2>::zeros([2, 2], &device));
        grads.register(b.id, Tensor::<1>::zeros([2], &device));
        let mut optim = AdamW::new(settings());
        let model = optim.step(0.5, 1.0, model, grads);
        let scaled: Vec<f32> = values(w.val()).iter().map(|x| x * 0.9).collect();
        for (a, e) in values(model.linear.weight.val()).iter().zip(&scaled) {
            assert!((a - e).abs() < 1e-6, "matrix decays by lr·wd: {a} vs {e}");
        }
        assert_eq!(values(model.linear.bias.unwrap().val()), values(b.val()));
    }

    #[test]
    fn saved_state_resumes_to_identical_weights() {
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::from_floats([[1.0, -2.0, 0.5]], &device);
        let start = Tiny {
            linear: LinearConfig::new(3, 2).init(&device),
        };
        let run = |model: Tiny, optim: &mut AdamW, steps: usize| {
            (0..steps).fold(model, |m, _| {
                let g = grads_of(&m, x.clone());
                optim.step(1e-2, 1.0, m, g)
            })
        };
        let mut straight = AdamW::new(settings());
        let end = run(start.clone(), &mut straight, 4);

        let mut first = AdamW::new(settings());
        let half = run(start, &mut first, 2);
        let mut resumed =
            AdamW::restore(settings(), first.steps(), &first.state(), &device).unwrap();
        let end2 = run(half, &mut resumed, 2);
        assert_eq!(
            values(end.linear.weight.val()),
            values(end2.linear.weight.val())
        );
    }

    #[test]
    fn the_fused_cpu_update_is_bit_identical_to_the_tensor_update() {
        use rand::{Rng, SeedableRng};
        let device = Device::flex();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let n = 40_000; // more than two chunks
        let mut draw = |scale: f32| -> Vec<f32> {
            (0..n)
                .map(|_| rng.random_range(-1.0..1.0) * scale)
                .collect()
        };
        let (mut param, grads) = (draw(1.0), [draw(1e-2), draw(3.0), draw(1e-7)]);
        let tensor = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [n]), &device);
        let (mut m, mut v) = (vec![0f32; n], vec![0f32; n]);
        let (mut tm, mut tv) = (tensor(&m), tensor(&v));
        let mut tp = tensor(&param);
        let mut optim = AdamW::new(settings());
        for (step, grad) in grads.iter().enumerate() {
            optim.step = step as u64 + 1;
            // A clipping factor too: scaled inside the fused pass as the tensor update scales.
            let c = optim.coefficients(&format!("w{DECAY_MARK}"), 3e-3, 0.37);
            fused_update(&c, &mut param, grad, &mut m, &mut v);
            tp = tensor_update(&c, tp, tensor(grad), &mut tm, &mut tv);
            assert_eq!(
                values(tp.clone()),
                param,
                "parameters after step {}",
                step + 1
            );
            assert_eq!(
                values(tm.clone()),
                m,
                "first moments after step {}",
                step + 1
            );
            assert_eq!(
                values(tv.clone()),
                v,
                "second moments after step {}",
                step + 1
            );
        }
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let device = Device::flex().autodiff();
        let model = Tiny {
            linear: LinearConfig::new(2, 2).init(&device),
        };
        let mut grads = GradientsParams::new();
        grads.register(
            model.linear.weight.id,
            Tensor::<2>::ones([2, 2], &device) * 3.0,
        );
        grads.register(
            model.linear.bias.as_ref().unwrap().id,
            Tensor::<1>::ones([2], &device) * 4.0,
        );
        // norm = sqrt(4·9 + 2·16) = sqrt(68)
        let norm = global_norm(&model, &mut grads);
        assert!((norm - 68f64.sqrt()).abs() < 1e-5);
        scale_gradients(&model, &mut grads, clip_factor(norm, 1.0));
        let after = global_norm(&model, &mut grads);
        assert!((after - 1.0).abs() < 1e-4, "clipped norm {after}");
        assert_eq!(
            clip_factor(after, 100.0),
            1.0,
            "within the bound: left alone"
        );
    }

    #[test]
    fn the_cpu_sum_of_squares_matches_f64_and_the_tensor_sum() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let n = 3 * (1 << 14) + 21; // several chunks and a ragged tail
        let draws: Vec<f32> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
        let exact: f64 = draws.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        let host = host_sum_of_squares(&draws);
        assert!((host - exact).abs() <= 1e-6 * exact, "{host} vs {exact}");

        let tensor = Tensor::<1>::from_data(TensorData::new(draws.clone(), [n]), &Device::flex());
        let by_tensor_ops = tensor.clone().powi_scalar(2).sum().into_scalar::<f64>();
        let (squares, back) = sum_of_squares(tensor);
        assert_eq!(squares, host);
        assert!((squares - by_tensor_ops).abs() <= 1e-5 * exact);
        assert_eq!(values(back), draws);
    }
}
