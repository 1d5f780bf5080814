//! `negclip bench data`: how fast the trainer's batch loader turns a training table into
//! batches, through the trainer's own code (`BatchPlan` and `BatchStream`: read and decode
//! each image, random resized crop, bicubic resize, normalise, hard captions, tokenize), in
//! images per second overall and per loader thread. Then the same steps one at a time on one
//! thread for a few images, so that a GPU machine's cores can be sized from this one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::ValueEnum;
use negclip_data::preprocess::{normalize, random_resized_crop, resize_center_crop};
use negclip_data::tokenizer::ClipTokenizer;
use negclip_data::training::{
    ExampleRef, TableConfig, TableHardImages, TrainingSource, TrainingTable,
};
use negclip_train::batches::{
    BatchPlan, BatchStream, HardImageLists, NegativePolicy, Slice, Workers,
};
use negclip_train::config::NegativesSection;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// CLIP's text context, as every preset has it.
const CONTEXT_LENGTH: usize = 77;
/// Batches built ahead, as `loader.prefetch`'s default.
const PREFETCH: usize = 2;

#[derive(clap::Args, Debug)]
pub struct BenchDataArgs {
    /// The training table (`negclip negatives` JSONL or NegCLIP TSV), as `data.table`.
    #[arg(long)]
    pub table: PathBuf,
    /// Folder the table's image paths are relative to (default: the table's folder), as
    /// `data.image_root`.
    #[arg(long, value_name = "DIR")]
    pub image_root: Option<PathBuf>,
    /// Loader threads, as `loader.workers` (0: rayon's global pool, one thread per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Side of the square model input (224 for ViT-B/32).
    #[arg(long, default_value_t = 224)]
    pub size: u32,
    /// Images per batch (anchors; no hard images).
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Batches timed; past the table's end the next epoch's order is used.
    #[arg(long, default_value_t = 4)]
    pub batches: usize,
    /// Area range of the random resized crop, as `augment.scale`.
    #[arg(long, num_args = 2, value_names = ["LO", "HI"], default_values_t = [0.9, 1.0])]
    pub scale: Vec<f32>,
    /// The eval transform (shorter side resized, centre crop) instead of the random resized
    /// crop of training.
    #[arg(long)]
    pub eval_transform: bool,
    /// Where hard captions come from: `table` (stored in the table, cheap), `rewrite`
    /// (tagged and rewritten with the shipped tagger, as `[negatives] source = "rewrite"`)
    /// or `none`.
    #[arg(long, value_enum, default_value_t = HardCaptions::Table)]
    pub negatives: HardCaptions,
    /// Images timed stage by stage on one thread (the table's first rows).
    #[arg(long, default_value_t = 32)]
    pub stage_images: usize,
    /// Seed of the order, crops and rewrites.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum HardCaptions {
    Table,
    Rewrite,
    None,
}

pub fn run(args: BenchDataArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch > 0 && args.batches > 0 && args.size > 0,
        "--batch, --batches and --size must be positive"
    );
    let (lo, hi) = (args.scale[0], args.scale[1]);
    anyhow::ensure!(
        0.0 < lo && lo <= hi && hi <= 1.0,
        "--scale {lo} {hi} must satisfy 0 < LO <= HI <= 1"
    );
    let source = TrainingTable::open(&TableConfig {
        table: args.table.clone(),
        image_root: args.image_root.clone(),
        hard_images: TableHardImages::None,
    })
    .with_context(|| format!("opening the training table {}", args.table.display()))?;
    anyhow::ensure!(
        source.len() >= args.batch,
        "{} has {} rows, fewer than one batch of {}",
        args.table.display(),
        source.len(),
        args.batch
    );
    let plan = Arc::new(BatchPlan {
        source: Box::new(source),
        negatives: negative_policy(args.negatives),
        tokenizer: ClipTokenizer::new(),
        image_size: args.size,
        context_length: CONTEXT_LENGTH,
        batch_size: args.batch,
        slice: Slice::WHOLE,
        crop_scale: (!args.eval_transform).then_some((lo, hi)),
        seed: args.seed,
        workers: Workers::new(args.workers)?,
    });
    let transform = match plan.crop_scale {
        Some((lo, hi)) => format!("random resized crop, scale [{lo}, {hi}]"),
        None => "resize + centre crop (eval)".to_string(),
    };
    println!(
        "{}: {} rows; {} batches of {} at {} px, {transform}, hard captions: {}",
        args.table.display(),
        plan.source.len(),
        args.batches,
        args.batch,
        args.size,
        args.negatives
            .to_possible_value()
            .expect("every choice has a name")
            .get_name()
    );
    let threads = plan.workers.threads();
    println!(
        "loader: {threads} thread(s) ({}), {} CPU threads available; load average {}",
        match plan.workers {
            Workers::Shared => "rayon's global pool",
            Workers::Dedicated(_) => "a pool of its own",
        },
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average()
    );

    let timed = time_batches(&plan, args.batches)?;
    let rate = timed.images as f64 / timed.seconds;
    println!(
        "batches: {} images in {:.2} s: {rate:.1} images/s, {:.1} images/s per loader thread",
        timed.images,
        timed.seconds,
        rate / threads as f64
    );
    if let Some(cpu) = timed.cpu_seconds {
        // CPU time counts only the cycles the loader got, so it reads the same on a busy
        // machine (other jobs stretch the wall time, not this).
        println!(
            "  {cpu:.2} CPU-seconds: {:.1} images per CPU-second",
            timed.images as f64 / cpu
        );
    }

    let stages = time_stages(&plan, args.stage_images.min(plan.source.len()))?;
    stages.print();
    println!("load average at the end: {}", load_average());
    Ok(())
}

fn negative_policy(kind: HardCaptions) -> NegativePolicy {
    match kind {
        HardCaptions::None => NegativePolicy::None,
        HardCaptions::Table => NegativePolicy::Stored { per_caption: 1 },
        HardCaptions::Rewrite => match NegativesSection::default() {
            NegativesSection::Rewrite(rewrite) => NegativePolicy::rewrite(&rewrite),
            NegativesSection::Table(_) => unreachable!("the default negatives are rewrites"),
        },
    }
}

/// Images delivered by the loader, the wall time and the process's CPU time it took.
struct Timed {
    images: usize,
    seconds: f64,
    cpu_seconds: Option<f64>,
}

/// Times `batches` batches of the trainer's `BatchStream`, epoch after epoch from the first;
/// the clocks stop when the last batch arrives, before the stream is dropped.
fn time_batches(plan: &Arc<BatchPlan>, batches: usize) -> anyhow::Result<Timed> {
    let no_hard_images = Arc::new(HardImageLists::new());
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    let mut timed = Timed {
        images: 0,
        seconds: 0.0,
        cpu_seconds: None,
    };
    let (mut built, mut epoch) = (0, 0);
    while built < batches {
        let stream = BatchStream::start(plan.clone(), no_hard_images.clone(), epoch, 0, PREFETCH);
        for batch in stream.take(batches - built) {
            let batch = batch.with_context(|| format!("building batch {built}"))?;
            timed.images += batch.n_images;
            built += 1;
        }
        epoch += 1;
    }
    timed.seconds = start.elapsed().as_secs_f64();
    timed.cpu_seconds = cpu_start.zip(cpu_seconds()).map(|(a, b)| b - a);
    Ok(timed)
}

/// Seconds per image of each step of preparing a batch member, on this thread.
struct Stages {
    images: usize,
    mean_size: (f64, f64),
    decode: f64,
    resize: f64,
    normalise: f64,
    tokenize: f64,
}

/// Prepares the table's first `n` examples as the loader does, one step at a time: read and
/// decode (`TrainingSource::example`, what the trainer calls), the crop and resize, the
/// normalisation, and tokenizing the caption and its stored hard captions. Each step is
/// timed in this thread's CPU time where the system tells it, so that other jobs on the
/// machine do not inflate it.
fn time_stages(plan: &BatchPlan, n: usize) -> anyhow::Result<Stages> {
    let wall = Instant::now();
    let clock = || thread_cpu_seconds().unwrap_or_else(|| wall.elapsed().as_secs_f64());
    let mut stages = Stages {
        images: n,
        mean_size: (0.0, 0.0),
        decode: 0.0,
        resize: 0.0,
        normalise: 0.0,
        tokenize: 0.0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    for i in 0..n {
        let t0 = clock();
        let example = plan.source.example(ExampleRef::Sample(i))?;
        let t1 = clock();
        let image = match plan.crop_scale {
            Some(scale) => random_resized_crop(&example.image, plan.image_size, scale, &mut rng),
            None => resize_center_crop(&example.image, plan.image_size),
        };
        let t2 = clock();
        let pixels = normalize(&image);
        let t3 = clock();
        let texts: Vec<&String> = std::iter::once(&example.caption)
            .chain(&example.negatives)
            .collect();
        let tokens = plan.tokenizer.tokenize_batch(&texts, plan.context_length);
        let t4 = clock();
        anyhow::ensure!(
            pixels.len() == 3 * (plan.image_size as usize).pow(2) && !tokens.is_empty(),
            "a prepared example has the model's input size"
        );
        stages.mean_size.0 += f64::from(example.image.width()) / n as f64;
        stages.mean_size.1 += f64::from(example.image.height()) / n as f64;
        for (total, t) in [
            (&mut stages.decode, t1 - t0),
            (&mut stages.resize, t2 - t1),
            (&mut stages.normalise, t3 - t2),
            (&mut stages.tokenize, t4 - t3),
        ] {
            *total += t / n as f64;
        }
    }
    Ok(stages)
}

impl Stages {
    fn print(&self) {
        if self.images == 0 {
            return;
        }
        let total = self.decode + self.resize + self.normalise + self.tokenize;
        let clock = match thread_cpu_seconds() {
            Some(_) => "the thread's CPU time",
            None => "wall time",
        };
        println!(
            "stages on one thread, {} images (mean {:.0} x {:.0} px), in {clock}:",
            self.images, self.mean_size.0, self.mean_size.1
        );
        for (name, seconds) in [
            ("read + decode", self.decode),
            ("crop + resize", self.resize),
            ("normalise", self.normalise),
            ("tokenize captions", self.tokenize),
        ] {
            println!(
                "  {name:<18} {:>7.3} ms/image  {:>4.1} %",
                seconds * 1e3,
                100.0 * seconds / total
            );
        }
        println!(
            "  {:<18} {:>7.3} ms/image: {:.1} images/s per core",
            "all",
            total * 1e3,
            1.0 / total
        );
    }
}

/// The 1, 5 and 15 minute load averages (Linux), to read the rates against.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// CPU time of the calling thread.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn thread_cpu_seconds() -> Option<f64> {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the struct it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    (rc == 0).then_some(time.tv_sec as f64 + time.tv_nsec as f64 * 1e-9)
}

/// User + system CPU time of the whole process, all threads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cpu_seconds() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one rusage into the buffer it is given and reads nothing else.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
}

/// Elsewhere the CPU time is not reported, and stages are timed on the wall clock.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn cpu_seconds() -> Option<f64> {
    None
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn thread_cpu_seconds() -> Option<f64> {
    None
}
