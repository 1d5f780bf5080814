//! `negclip bench mine`: images per second of hard-image mining
//! (`negclip_train::mining::nearest_neighbours`) on random unit vectors, the size of a
//! training table's image embeddings.

use std::time::Instant;

use negclip_train::mining::{default_chunk, nearest_neighbours_with, MiningOptions, Selection};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(clap::Args, Debug)]
pub struct BenchMineArgs {
    /// Number of images (rows of the embedding table).
    #[arg(long, default_value_t = 10_000)]
    pub images: usize,
    /// Embedding width (512 for ViT-B/32 and ViT-B/16).
    #[arg(long, default_value_t = 512)]
    pub dim: usize,
    /// Neighbours kept per image.
    #[arg(long, default_value_t = 3)]
    pub k: usize,
    /// Device: cpu, wgpu[:N], vulkan[:N] or cuda[:N] (GPU kinds in builds with their feature; `negclip devices` lists them).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Seed of the random unit vectors.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Query rows per score block (0: the library's choice from the number of images).
    #[arg(long, default_value_t = 0)]
    pub chunk: usize,
    /// Where each row's top k is taken: `host` (the default) or `device`.
    #[arg(long, default_value = "host")]
    pub select: String,
}

pub fn run(args: BenchMineArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.images > 0 && args.dim > 0,
        "--images and --dim must be positive"
    );
    let selection = match args.select.as_str() {
        "host" => Selection::Host,
        "device" => Selection::Device,
        other => anyhow::bail!("--select must be host or device, not {other:?}"),
    };
    let device = negclip_train::device::select(&args.device)?;
    let embeddings = unit_vectors(args.images, args.dim, args.seed);
    let chunk = match args.chunk {
        0 => default_chunk(args.images),
        c => c.min(args.images),
    };
    println!(
        "{} images × {} dims, k {}, device {}, {:?} selection, chunk {} rows ({:.0} MiB score block), {} CPU threads available",
        args.images,
        args.dim,
        args.k,
        args.device,
        selection,
        chunk,
        (chunk * args.images * 4) as f64 / (1 << 20) as f64,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let options = MiningOptions { chunk, selection };
    let start = Instant::now();
    let neighbours = nearest_neighbours_with(
        &embeddings,
        args.images,
        args.dim,
        args.k,
        &device,
        &options,
    );
    let seconds = start.elapsed().as_secs_f64();
    // Keep the result alive and checked, so nothing is optimised away.
    anyhow::ensure!(
        neighbours.len() == args.images,
        "one neighbour list per image"
    );
    println!(
        "mining: {seconds:.2} s wall, {:.0} images/s",
        args.images as f64 / seconds
    );
    Ok(())
}

/// Seeded random directions: uniform entries in [-1, 1), each row scaled to unit length.
fn unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let row: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let norm = row
            .iter()
            .map(|x| x * x)
            .sum::<f32>()
            .sqrt()
            .max(f32::MIN_POSITIVE);
        rows.extend(row.iter().map(|x| x / norm));
    }
    rows
}
