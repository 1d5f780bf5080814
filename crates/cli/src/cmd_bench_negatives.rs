//! `negclip bench negatives`: captions per second of the negative rewriters,
//! on one thread and on all cores.
//!
//! The corpus is generated already tagged
//! (`negclip_data::negatives::bench_corpus`), so the rewriters can be timed
//! without a tagger. When the
//! build has the shipped tagger, the full pipeline (tagging included) is timed
//! as well on the same captions.

use std::time::Instant;

use anyhow::Context;

use negclip_data::negatives::bench_corpus::{tagged_corpus, TaggedCaption};
use negclip_data::negatives::{generate, generate_tagged, NegativeKind, PosTagger};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

#[derive(clap::Args, Debug)]
pub struct BenchNegativesArgs {
    /// Number of generated captions.
    #[arg(long, default_value_t = 100_000)]
    pub captions: usize,
    /// Comma-separated kinds, or `negclip` or `all`.
    #[arg(long, default_value = "all")]
    pub kinds: String,
    #[arg(long, default_value_t = 5)]
    pub per_caption: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the generated captions here, one a line (the input of
    /// `scripts/negatives_reference.py`).
    #[arg(long)]
    pub write_corpus: Option<std::path::PathBuf>,
}

/// Times `work` over all captions on a pool of `threads` (0 = all cores);
/// returns captions per second and the number of negatives made.
fn time_pool(
    threads: usize,
    n: usize,
    work: impl Fn(usize) -> usize + Sync,
) -> anyhow::Result<(f64, usize)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let start = Instant::now();
    let made: usize = pool.install(|| (0..n).into_par_iter().map(&work).sum());
    Ok((n as f64 / start.elapsed().as_secs_f64(), made))
}

pub fn run(args: BenchNegativesArgs) -> anyhow::Result<()> {
    let kinds = NegativeKind::parse_list(&args.kinds)?;
    let corpus = tagged_corpus(args.captions, args.seed);
    if let Some(path) = &args.write_corpus {
        let text: String = corpus.iter().map(|c| format!("{}\n", c.text)).collect();
        negclip_data::atomic::write_atomic(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let cores = rayon::current_num_threads();
    println!(
        "{} generated captions, kinds {}, per caption {}",
        corpus.len(),
        args.kinds,
        args.per_caption
    );
    let rewrite_only = |i: usize| {
        let c = &corpus[i];
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ i as u64);
        generate_tagged(
            &c.text,
            &c.words,
            Some(&c.tokens),
            &kinds,
            args.per_caption,
            &mut rng,
        )
        .len()
    };
    for threads in [1, cores] {
        let (rate, made) = time_pool(threads, corpus.len(), rewrite_only)?;
        println!("rewriters only (pre-tagged), {threads:>2} thread(s): {rate:>10.0} captions/s ({made} negatives)");
    }
    time_with_tagger(
        negclip_data::negatives::shipped_tagger(),
        &corpus,
        &kinds,
        &args,
        cores,
    )
}

fn time_with_tagger(
    tagger: &dyn PosTagger,
    corpus: &[TaggedCaption],
    kinds: &[NegativeKind],
    args: &BenchNegativesArgs,
    cores: usize,
) -> anyhow::Result<()> {
    let full = |i: usize| {
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ i as u64);
        generate(&corpus[i].text, tagger, kinds, args.per_caption, &mut rng).len()
    };
    for threads in [1, cores] {
        let (rate, made) = time_pool(threads, corpus.len(), full)?;
        println!("tagging + rewriting,         {threads:>2} thread(s): {rate:>10.0} captions/s ({made} negatives)");
    }
    Ok(())
}
