//! `negclip bench …`: throughput figures (`forward`: the image and text towers on random
//! inputs; `negatives`: tagging and rewriting captions).

use std::time::Instant;

use anyhow::Context;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use negclip_model::ClipConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

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
    /// Captions per second of tagging and the negative rewriters.
    Negatives(crate::cmd_bench_negatives::BenchNegativesArgs),
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
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.what {
        BenchKind::Forward(forward) => run_forward(forward),
        BenchKind::Negatives(negatives) => crate::cmd_bench_negatives::run(negatives),
    }
}

fn run_forward(args: ForwardArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch > 0 && args.iters > 0,
        "--batch and --iters must be positive"
    );
    let config = ClipConfig::preset(&args.preset).context("choosing the preset")?;
    let device = Device::flex();
    device.seed(args.seed);
    let model = config.init(&device);
    let size = config.vision.image_size;
    let pixels = Tensor::<4>::random(
        [args.batch, 3, size, size],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let tokens = random_tokens(&config, args.batch, args.seed, &device);

    println!(
        "preset {} ({} parameters), batch {}, {} warm-up + {} timed passes, {} CPU threads available",
        args.preset,
        model.num_params(),
        args.batch,
        args.warmup,
        args.iters,
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

/// Token rows as the tokenizer makes them: start id, random words, end id, zero padding.
fn random_tokens(config: &ClipConfig, batch: usize, seed: u64, device: &Device) -> Tensor<2, Int> {
    let (context, vocab) = (config.text.context_length, config.text.vocab_size as i64);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ids = vec![0i64; batch * context];
    for row in ids.chunks_mut(context) {
        let words = rng.random_range(1..context - 1);
        row[0] = vocab - 2;
        for id in &mut row[1..=words] {
            *id = rng.random_range(1..vocab - 2);
        }
        row[words + 1] = vocab - 1;
    }
    Tensor::from_data(TensorData::new(ids, [batch, context]), device)
}

/// Median seconds per call of `pass` over `iters` timed calls after `warmup` untimed ones.
fn time_per_pass(warmup: usize, iters: usize, mut pass: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        pass();
    }
    let mut times: Vec<f64> = (0..iters)
        .map(|_| {
            let start = Instant::now();
            pass();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn report(what: &str, batch: usize, seconds: f64, unit: &str) {
    println!(
        "{what}: {:.1} ms/batch (median), {:.1} {unit}/s",
        seconds * 1e3,
        batch as f64 / seconds
    );
}
