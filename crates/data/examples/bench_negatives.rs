//! Captions per second of the negative rewriters on pre-tagged captions, one
//! thread and all cores. The same measurement as `negclip bench negatives`
//! without building the CLI (which links Burn):
//!
//!     cargo run --release -p negclip-data --example bench_negatives -- [CAPTIONS] [KINDS] [CORPUS_OUT]

use std::time::Instant;

use negclip_data::negatives::bench_corpus::tagged_corpus;
use negclip_data::negatives::{generate_tagged, NegativeKind};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let kinds = NegativeKind::parse_list(&args.next().unwrap_or_else(|| "all".into()))?;
    let corpus = tagged_corpus(n, 0);
    if let Some(path) = args.next() {
        let text: String = corpus.iter().map(|c| format!("{}\n", c.text)).collect();
        std::fs::write(path, text)?;
    }
    let cores = rayon::current_num_threads();
    for threads in [1, cores] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        let start = Instant::now();
        let made: usize = pool.install(|| {
            corpus
                .par_iter()
                .enumerate()
                .map(|(i, c)| {
                    let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
                    generate_tagged(&c.text, &c.words, Some(&c.tokens), &kinds, 5, &mut rng).len()
                })
                .sum()
        });
        let rate = n as f64 / start.elapsed().as_secs_f64();
        println!("rewriters only (pre-tagged), {threads:>2} thread(s): {rate:>10.0} captions/s ({made} negatives)");
    }
    Ok(())
}
