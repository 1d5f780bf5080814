//! `negclip negatives`: read captions, write a training table with hard
//! negatives (JSONL, or NegCLIP TSV when `--output` ends in `.tsv`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use negclip_data::negatives::{NegativeKind, PosTagger};
use negclip_data::tables::{build_rows, read_captions, write_training_table, CaptionRow, Summary};

/// Captions per progress line; also the unit of work handed to rayon.
const CHUNK: usize = 10_000;

#[derive(clap::Args, Debug)]
pub struct NegativesArgs {
    /// Captions: .txt (one a line), .jsonl/.csv/.tsv with `image` and `caption`,
    /// COCO captions JSON, Karpathy split JSON or a NegCLIP TSV.
    #[arg(long)]
    pub input: PathBuf,
    /// Output table: `.tsv` writes NegCLIP TSV, anything else JSONL.
    #[arg(long, alias = "out")]
    pub output: PathBuf,
    /// Comma-separated kinds, or `negclip` (the six NegCLIP swaps) or `all`.
    #[arg(long, default_value = "negclip")]
    pub kinds: String,
    /// At most this many negatives per caption.
    #[arg(long, default_value_t = 5)]
    pub per_caption: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (default: all cores). The output does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Keep only these Karpathy splits, comma-separated (e.g. `train,restval`).
    #[arg(long)]
    pub split: Option<String>,
    /// Keep only the first caption of each image, as NegCLIP's table does.
    #[arg(long)]
    pub first_caption_only: bool,
    /// Keep captions that got no negative (NegCLIP drops them).
    #[arg(long)]
    pub keep_empty: bool,
}

pub fn run(args: NegativesArgs) -> anyhow::Result<()> {
    let kinds = NegativeKind::parse_list(&args.kinds)?;
    if kinds.is_empty() {
        bail!("--kinds names no kind");
    }
    let tagger: &dyn PosTagger = negclip_data::negatives::shipped_tagger();
    let rows = filter_rows(read_captions(&args.input)?, &args);
    eprintln!("{}: {} captions", args.input.display(), rows.len());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("starting the worker threads")?;
    let (mut table, summary) = pool.install(|| build_with_progress(&rows, tagger, &kinds, &args));
    println!("{summary}");
    let has_neighbours = table.iter().any(|r| !r.neg_images.is_empty());
    if !args.keep_empty && has_neighbours {
        eprintln!("keeping captions without negatives: neg_images refer to row numbers");
    } else if !args.keep_empty {
        table.retain(|r| !r.negatives.is_empty());
    }
    write_training_table(&args.output, &table)?;
    eprintln!("wrote {} rows to {}", table.len(), args.output.display());
    Ok(())
}

fn filter_rows(rows: Vec<CaptionRow>, args: &NegativesArgs) -> Vec<CaptionRow> {
    let splits: Option<HashSet<&str>> = args
        .split
        .as_deref()
        .map(|s| s.split(',').map(str::trim).collect());
    let mut seen_images = HashSet::new();
    rows.into_iter()
        .filter(|r| match (&splits, &r.split) {
            (Some(keep), Some(split)) => keep.contains(split.as_str()),
            (Some(_), None) => false,
            (None, _) => true,
        })
        .filter(|r| {
            !args.first_caption_only || r.image.is_empty() || seen_images.insert(r.image.clone())
        })
        .collect()
}

fn build_with_progress(
    rows: &[CaptionRow],
    tagger: &dyn PosTagger,
    kinds: &[NegativeKind],
    args: &NegativesArgs,
) -> (Vec<negclip_data::tables::TrainingRow>, Summary) {
    let start = Instant::now();
    let mut table = Vec::with_capacity(rows.len());
    let mut summary = Summary::default();
    for (c, chunk) in rows.chunks(CHUNK).enumerate() {
        let (built, part) =
            build_rows(chunk, c * CHUNK, tagger, kinds, args.per_caption, args.seed);
        table.extend(built);
        summary.merge(&part);
        let rate = table.len() as f64 / start.elapsed().as_secs_f64().max(1e-9);
        eprintln!("{}/{} captions ({rate:.0}/s)", table.len(), rows.len());
    }
    (table, summary)
}
