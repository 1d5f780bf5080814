//! Captions per second of hard-negative generation, one thread and all cores:
//! the rewriters alone on pre-tagged captions, then tagging + rewriting with the
//! shipped tagger. The same measurement as `negclip bench negatives` without
//! building the CLI (which links Burn):
//!
//!     cargo run --release -p negclip-data --example bench_negatives -- [CAPTIONS] [KINDS] [CORPUS_OUT] [NEGATIVES_OUT]
//!
//! One-thread lines also give captions per second of the thread's CPU time
//! (`/proc/thread-self/schedstat`), steadier than wall-clock rates on a shared machine.
//!
//! `NEGATIVES_OUT` receives every negative of the tagged run, one `index<TAB>kind<TAB>text`
//! a line, to check that a speed change left the output alone (`cmp` two dumps).

use std::fmt::Write as _;
use std::time::Instant;

use negclip_data::negatives::bench_corpus::tagged_corpus;
use negclip_data::negatives::{generate, generate_tagged, shipped_tagger, NegativeKind};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Nanoseconds the calling thread has run on a CPU (Linux), `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Runs `work` over `0..n` on a pool of `threads`; returns captions/s, the sum of its
/// results and, with one thread, captions per second of that thread's CPU time: on a
/// shared machine the wall-clock rate depends on the other load, the CPU-time rate much less.
fn time_pool(
    threads: usize,
    n: usize,
    work: impl Fn(usize) -> usize + Sync,
) -> Result<(f64, usize, Option<f64>), Box<dyn std::error::Error>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let start = Instant::now();
    let (made, cpu_ns) = pool.install(|| {
        let cpu_start = thread_cpu_ns();
        let made: usize = (0..n).into_par_iter().map(&work).sum();
        let cpu_ns = cpu_start.zip(thread_cpu_ns()).map(|(a, b)| b - a);
        (made, cpu_ns)
    });
    let per_cpu_second = cpu_ns
        .filter(|&ns| threads == 1 && ns > 0)
        .map(|ns| n as f64 / (ns as f64 * 1e-9));
    Ok((
        n as f64 / start.elapsed().as_secs_f64(),
        made,
        per_cpu_second,
    ))
}

/// ", 12345 per CPU-second" when measured.
fn cpu_rate(per_cpu_second: Option<f64>) -> String {
    per_cpu_second.map_or(String::new(), |r| format!(", {r:.0} per CPU-second"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let kinds = NegativeKind::parse_list(&args.next().unwrap_or_else(|| "all".into()))?;
    let corpus = tagged_corpus(n, 0);
    if let Some(path) = args.next().filter(|p| p != "-") {
        let text: String = corpus.iter().map(|c| format!("{}\n", c.text)).collect();
        std::fs::write(path, text)?;
    }
    let negatives_out = args.next();
    let cores = rayon::current_num_threads();
    let rewrite_only = |i: usize| {
        let c = &corpus[i];
        let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
        generate_tagged(&c.text, &c.words, Some(&c.tokens), &kinds, 5, &mut rng).len()
    };
    for threads in [1, cores] {
        let (rate, made, cpu) = time_pool(threads, n, rewrite_only)?;
        println!("rewriters only (pre-tagged), {threads:>2} thread(s): {rate:>10.0} captions/s ({made} negatives{})", cpu_rate(cpu));
    }
    let tagger = shipped_tagger(); // decoded here, outside the timed runs
    let full = |i: usize| {
        let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
        generate(&corpus[i].text, tagger, &kinds, 5, &mut rng).len()
    };
    for threads in [1, cores] {
        let (rate, made, cpu) = time_pool(threads, n, full)?;
        println!("tagging + rewriting,         {threads:>2} thread(s): {rate:>10.0} captions/s ({made} negatives{})", cpu_rate(cpu));
    }
    if let Some(path) = negatives_out {
        let mut text = String::new();
        for (i, c) in corpus.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(i as u64);
            for negative in generate(&c.text, tagger, &kinds, 5, &mut rng) {
                writeln!(text, "{i}\t{}\t{}", negative.kind, negative.text)?;
            }
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}
