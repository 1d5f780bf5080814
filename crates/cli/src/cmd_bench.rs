//! `negclip bench …`: throughput figures (`forward`: the image and text towers on random
//! inputs; `train-step`: one full NegCLIP optimisation step; `negatives`: tagging and
//! rewriting captions; `mine`: hard-image mining; `data`: the batch loader on a table).

use std::num::NonZeroUsize;
use std::time::Instant;

use anyhow::Context;
use burn::tensor::{Device, Distribution, Int, Tensor};
use negclip_model::{Clip, ClipConfig};
use negclip_train::config::DistributedSection;
use negclip_train::engine::Engine;
use negclip_train::freeze::{Freeze, FreezePattern, ParamCounts};
use negclip_train::optim::{AdamW, AdamWSettings};
use negclip_train::phases::PhaseClock;
use negclip_train::precision::{LossScaler, Precision};
use negclip_train::recompute::Activations;
use negclip_train::step::{
    negclip_step, random_tokens, DeviceBatch, StepSettings, StepStats, UpdateSettings,
};

/// Micro-benchmarks.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchKind,
}

#[derive(clap::Subcommand, Debug)]
pub enum BenchKind {
    /// Forward pass of each tower (no gradients): images/s and texts/s.
    Forward(ForwardArgs),
    /// One training step (both towers, NegCLIP loss, backward, AdamW): ms/step, samples/s.
    TrainStep(TrainStepArgs),
    /// Captions per second of tagging and the negative rewriters.
    Negatives(crate::cmd_bench_negatives::BenchNegativesArgs),
    /// Hard-image mining (k nearest neighbours of every image): images/s.
    Mine(crate::cmd_bench_mine::BenchMineArgs),
    /// The batch loader on a training table (decode, crop, resize, normalise, captions):
    /// images/s, per loader thread and per stage.
    Data(crate::cmd_bench_data::BenchDataArgs),
}

#[derive(clap::Args, Debug)]
pub struct ForwardArgs {
    /// Model preset (tiny, small, vit-b-32, vit-b-16, vit-l-14, vit-l-14-336).
    #[arg(long, default_value = "vit-b-32")]
    pub preset: String,
    /// Images (and texts) per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Untimed passes before measuring.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed passes.
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Seed of the random weights and inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Tokens of the batch's longest text, start and end included (default: the whole
    /// context, as PyTorch's CLIP always runs it). The trainer cuts each batch to its longest
    /// text: COCO caption batches are about 20-30 tokens of 77 (docs/performance.md).
    #[arg(long)]
    pub text_tokens: Option<usize>,
    /// Device: cpu, wgpu[:N], vulkan[:N] or cuda[:N] (GPU kinds in builds with their feature; `negclip devices` lists them).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

#[derive(clap::Args, Debug)]
pub struct TrainStepArgs {
    /// Model preset (tiny, small, vit-b-32, vit-b-16, vit-l-14, vit-l-14-336).
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    /// Samples per step: B images, B positive and B hard-negative captions.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Untimed steps before measuring.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    /// Seed of the random weights and inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Tokens of the batch's longest text, start and end included (default: the whole
    /// context, as PyTorch's CLIP always runs it). The trainer cuts each batch to its longest
    /// text: COCO caption batches are about 20-30 tokens of 77 (docs/performance.md).
    #[arg(long)]
    pub text_tokens: Option<usize>,
    /// Learning rate of every step (open_clip's default).
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    /// Clip the global gradient norm to this value, as `optim.grad_clip_norm` does.
    #[arg(long)]
    pub grad_clip_norm: Option<f64>,
    /// Micro-batches per step with the whole batch's loss, as `optim.accum_steps` does.
    #[arg(long, default_value_t = NonZeroUsize::MIN)]
    pub accum_steps: NonZeroUsize,
    /// Recompute each transformer block in the backward pass instead of keeping its
    /// activations, as `optim.activation_checkpointing` does.
    #[arg(long)]
    pub activation_checkpointing: bool,
    /// What the towers compute in (fp32, bf16, f16), as `optim.precision` does; f16 with
    /// the trainer's loss scaler.
    #[arg(long, default_value = "fp32")]
    pub precision: Precision,
    /// Device: cpu, wgpu[:N], vulkan[:N] or cuda[:N] (GPU kinds in builds with their feature; `negclip devices` lists them).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Also time the parts of a step (forward, loss + backward, optimiser) one by one, in fp32,
    /// the towers one after the other
    #[arg(long)]
    pub phases: bool,
    /// Fix the image tower, as `optim.lock_image` does.
    #[arg(long)]
    pub lock_image: bool,
    /// Fix the parameters this pattern matches, as `optim.freeze` does (open_clip names;
    /// repeatable).
    #[arg(long = "freeze", value_name = "PATTERN")]
    pub freeze: Vec<String>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.what {
        BenchKind::Forward(forward) => run_forward(forward),
        BenchKind::TrainStep(step) => run_train_step(step),
        BenchKind::Negatives(negatives) => crate::cmd_bench_negatives::run(negatives),
        BenchKind::Mine(mine) => crate::cmd_bench_mine::run(mine),
        BenchKind::Data(data) => crate::cmd_bench_data::run(data),
    }
}

fn run_forward(args: ForwardArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch > 0 && args.iters > 0,
        "--batch and --iters must be positive"
    );
    let device = negclip_train::device::select(&args.device)?;
    let (_, model, pixels, tokens) = random_setup(
        &args.preset,
        args.batch,
        args.text_tokens,
        args.seed,
        &device,
    )?;

    println!(
        "preset {} ({} parameters), batch {}, texts of {} tokens, {} warm-up + {} timed passes, device {}, {} CPU threads available",
        args.preset,
        model.num_params(),
        args.batch,
        tokens.dims()[1],
        args.warmup,
        args.iters,
        args.device,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let image_s = time_per_pass(args.warmup, args.iters, || {
        model.encode_image(pixels.clone()).into_data();
    });
    let text_s = time_per_pass(args.warmup, args.iters, || {
        model.encode_text(tokens.clone()).into_data();
    });
    report("image tower", args.batch, image_s, "images");
    report("text tower", args.batch, text_s, "texts");
    Ok(())
}

/// Times `negclip_train::trainer::negclip_step`, the trainer's own step, on one fixed random
/// batch: the weights change every step but the work per step does not. Under `mpirun` the
/// batch is the global one, each rank stepping on its slice, and rank 0 reports.
/// `model` with `--lock-image` and `--freeze` applied, and its parameter counts.
fn frozen(model: Clip, args: &TrainStepArgs) -> anyhow::Result<(Clip, ParamCounts)> {
    let patterns = args.freeze.iter().cloned().map(FreezePattern::try_from);
    let freeze = Freeze {
        patterns: patterns
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg)?,
        image_unlocked_groups: args.lock_image.then_some(0),
        text: None,
    };
    let set = freeze.resolve(&model)?;
    Ok((set.apply(model), set.counts()))
}

fn run_train_step(args: TrainStepArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch > 0 && args.iters > 0,
        "--batch and --iters must be positive"
    );
    let engine = Engine::from_environment(&DistributedSection::default())?;
    let ranks = engine.world();
    anyhow::ensure!(
        args.batch.is_multiple_of(ranks),
        "--batch {} does not split over {ranks} ranks",
        args.batch
    );
    let device =
        negclip_train::device::select_for_rank(&args.device, engine.local_rank())?.autodiff();
    let (config, model, pixels, positives) = random_setup(
        &args.preset,
        args.batch,
        args.text_tokens,
        args.seed,
        &device,
    )?;
    let longest = positives.dims()[1];
    let negatives = random_tokens(
        &config,
        args.batch,
        longest,
        args.seed.wrapping_add(1),
        &device,
    );
    // Every rank draws the whole batch alike and keeps its slice of it.
    let slice = args.batch / ranks;
    let start = engine.rank() * slice;
    let (pixels, positives, negatives) = (
        pixels.narrow(0, start, slice),
        positives.narrow(0, start, slice),
        negatives.narrow(0, start, slice),
    );
    let inputs = StepInputs {
        pixels,
        positives,
        negatives,
    };
    let (model, counts) = frozen(model, &args)?;
    // The trainer's optimiser settings (open_clip's defaults).
    let mut optimizer = AdamW::new(AdamWSettings::default());
    let mut settings = StepSettings::new(&config, update_settings(&args), &device, &engine);

    if !engine.is_writer() {
        return follow_train_step(model, &mut optimizer, &args, &inputs, &settings);
    }
    println!(
        "preset {} ({} parameters), batch {} ({} images, {} captions of {} tokens), {} warm-up + {} timed steps, device {}, {} CPU threads available{}",
        args.preset,
        model.num_params(),
        args.batch,
        args.batch,
        2 * args.batch,
        longest,
        args.warmup,
        args.iters,
        args.device,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        match ranks {
            1 => String::new(),
            _ => format!(", {ranks} ranks of {slice} samples"),
        }
    );
    println!("{counts}");
    args.precision.check(&device)?;
    let mut scaler = args.precision.scaler();
    let mut model = Some(model);
    let mut losses = Vec::new();
    let mut communication = Vec::new();
    let seconds = time_per_pass(args.warmup, args.iters, || {
        let current = model
            .take()
            .expect("the model is put back after every step");
        let before = engine.communication_time();
        let (next, stats) = bench_step(
            current,
            &mut optimizer,
            &inputs,
            &settings,
            &args,
            scaler.as_mut(),
        );
        communication.push((engine.communication_time() - before).as_secs_f64());
        losses.push(stats.loss);
        model = Some(next);
    });
    println!(
        "train step: {:.1} ms/step (median), {:.1} samples/s, {} micro-batch(es), towers in {}",
        seconds * 1e3,
        args.batch as f64 / seconds,
        args.accum_steps,
        args.precision.name()
    );
    if !engine.communication_time().is_zero() {
        communication.sort_by(f64::total_cmp);
        let median = communication[communication.len() / 2];
        println!(
            "communication (rank 0, waiting for the others included): {:.1} ms/step (median), {:.0}% of the step",
            median * 1e3,
            100.0 * median / seconds
        );
    }
    if let Some(peak) = peak_resident_mib() {
        println!("peak resident memory of this process: {peak:.0} MiB");
    }
    // On one fixed batch the loss must fall; a flat loss would mean the step does no update.
    println!(
        "loss: {:.4} at the first step, {:.4} at the last",
        losses.first().copied().unwrap_or(f64::NAN),
        losses.last().copied().unwrap_or(f64::NAN)
    );
    if args.phases {
        let model = model.take().expect("the model is back after the last step");
        settings.phases = Some(PhaseClock::new(&device));
        time_phases(model, &mut optimizer, &inputs, &args, &settings);
    }
    Ok(())
}

fn update_settings(args: &TrainStepArgs) -> UpdateSettings {
    UpdateSettings {
        grad_clip_norm: args.grad_clip_norm,
        accum_steps: args.accum_steps,
        precision: args.precision,
        activations: Activations::from_config(args.activation_checkpointing),
    }
}

/// A rank > 0 of `bench train-step` under MPI: the same steps as rank 0, silently.
fn follow_train_step(
    model: Clip,
    optimizer: &mut AdamW,
    args: &TrainStepArgs,
    inputs: &StepInputs,
    settings: &StepSettings,
) -> anyhow::Result<()> {
    let mut scaler = args.precision.scaler();
    let mut model = model;
    for _ in 0..args.warmup + args.iters {
        (model, _) = bench_step(model, optimizer, inputs, settings, args, scaler.as_mut());
    }
    Ok(())
}

/// The trainer's step on the bench's fixed batch.
fn bench_step(
    model: Clip,
    optimizer: &mut AdamW,
    inputs: &StepInputs,
    settings: &StepSettings,
    args: &TrainStepArgs,
    scaler: Option<&mut LossScaler>,
) -> (Clip, StepStats) {
    let step = negclip_step(
        model,
        optimizer,
        inputs.on_device(),
        args.lr,
        settings,
        scaler,
    );
    settings.engine.stop_all_on_error(step).expect(STEP_FAILS)
}

/// A step fails only in a collective, and a collective only with other ranks, which
/// `stop_all_on_error` has then stopped.
const STEP_FAILS: &str = "a step of one process does not fail";

/// The process's peak resident set (Linux `VmHWM`): on the CPU, where the step's tensors
/// live. `None` where `/proc` does not tell.
fn peak_resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One fixed batch for the step: B images, B positive and B hard-negative captions.
struct StepInputs {
    pixels: Tensor<4>,
    positives: Tensor<2, Int>,
    negatives: Tensor<2, Int>,
}

impl StepInputs {
    /// The batch as the step takes it.
    fn on_device(&self) -> DeviceBatch {
        DeviceBatch {
            images: self.pixels.clone(),
            positives: self.positives.clone(),
            negatives: Some(self.negatives.clone()),
        }
    }
}

/// Where the time of the trainer's step goes: `negclip_step` itself, with the device
/// synchronised at the end of each phase (so these steps run a little slower than the timed
/// ones above); the median of each phase.
fn time_phases(
    mut model: Clip,
    optimizer: &mut AdamW,
    inputs: &StepInputs,
    args: &TrainStepArgs,
    settings: &StepSettings,
) {
    let clock = settings.phases.as_ref().expect("a phase clock");
    let mut scaler = args.precision.scaler();
    let mut phases: Vec<(&'static str, Vec<f64>)> = Vec::new();
    for iter in 0..args.warmup + args.iters {
        clock.start();
        (model, _) = bench_step(model, optimizer, inputs, settings, args, scaler.as_mut());
        let laps = clock.take();
        if iter < args.warmup {
            continue;
        }
        for (at, (name, seconds)) in laps.into_iter().enumerate() {
            if phases.len() <= at {
                phases.push((name, Vec::new()));
            }
            phases[at].1.push(seconds);
        }
    }
    for (name, mut list) in phases {
        list.sort_by(f64::total_cmp);
        println!("  {name}: {:.1} ms (median)", list[list.len() / 2] * 1e3);
    }
}

/// Token rows as the tokenizer makes them: start id, random words, end id, zero padding.
/// A preset's model with seeded random weights, and a random batch of normalised-looking
/// pixels and token rows.
fn random_setup(
    preset: &str,
    batch: usize,
    text_tokens: Option<usize>,
    seed: u64,
    device: &Device,
) -> anyhow::Result<(ClipConfig, Clip, Tensor<4>, Tensor<2, Int>)> {
    let config = ClipConfig::preset(preset).context("choosing the preset")?;
    let context = config.text.context_length;
    let longest = text_tokens.unwrap_or(context);
    anyhow::ensure!(
        (3..=context).contains(&longest),
        "--text-tokens {longest}: a text of preset {preset} is 3 to {context} tokens long"
    );
    device.seed(seed);
    let model = config.init(device);
    let size = config.vision.image_size;
    let pixels = Tensor::<4>::random(
        [batch, 3, size, size],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let tokens = random_tokens(&config, batch, longest, seed, device);
    Ok((config, model, pixels, tokens))
}

/// Median seconds per call of `pass` over `iters` timed calls after `warmup` untimed ones.
fn time_per_pass(warmup: usize, iters: usize, mut pass: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        pass();
    }
    let times: Vec<f64> = (0..iters)
        .map(|_| {
            let start = Instant::now();
            pass();
            start.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

/// The median, the mean of the middle two of an even count, as Python's `statistics.median`
/// takes it for `scripts/bench_reference.py`: until 2026-12-05 this took the upper of the two,
/// so `--iters 2` reported negclip's slower step against PyTorch's mean of two.
fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    let half = times.len() / 2;
    match times.len() % 2 {
        1 => times[half],
        _ => (times[half - 1] + times[half]) / 2.0,
    }
}

fn report(what: &str, batch: usize, seconds: f64, unit: &str) {
    println!(
        "{what}: {:.1} ms/batch (median), {:.1} {unit}/s",
        seconds * 1e3,
        batch as f64 / seconds
    );
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![7.0, 5.0]), 6.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
