//! Tagging speed of the shipped model on one core:
//! `cargo run --release -p negclip-data --example bench_tagger [-- N_CAPTIONS]`.

use negclip_data::tagger::{bench, Tagger};

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let tagger = Tagger::shipped();
    // One warm-up round so the lazy model load is not timed.
    bench::run(tagger, 1_000);
    println!("{}", bench::run(tagger, n));
}
