//! Matrix-product throughput of Burn's CPU backends, to choose the default one:
//! `cargo run --release -p negclip-model --example cpu_backends --features ndarray-bench`.
#![allow(deprecated)] // burn-ndarray is deprecated in Burn 0.22: measuring it is the point

use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

/// GFLOP/s of an f32 n×n matrix product, averaged over `reps` after one warm-up.
fn gflops(device: &Device, n: usize, reps: usize) -> f64 {
    let a = Tensor::<2>::random([n, n], Distribution::Default, device);
    let b = Tensor::<2>::random([n, n], Distribution::Default, device);
    let _ = a.clone().matmul(b.clone()).into_data();
    let start = Instant::now();
    for _ in 0..reps {
        let _ = a.clone().matmul(b.clone()).into_data();
    }
    let seconds = start.elapsed().as_secs_f64() / reps as f64;
    2.0 * (n as f64).powi(3) / seconds / 1e9
}

fn main() {
    for (name, device) in [("flex", Device::flex()), ("ndarray", Device::ndarray())] {
        let runs: Vec<f64> = (0..3).map(|_| gflops(&device, 1024, 10)).collect();
        let best = runs.iter().cloned().fold(0.0, f64::max);
        println!("{name}: f32 1024x1024 matmul {best:.1} GFLOP/s (runs {runs:.1?})");
    }
}
