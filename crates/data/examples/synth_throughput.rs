//! Measures how many synthetic training samples (scene + render + caption) one
//! core produces per second: `cargo run --release -p negclip-data --example synth_throughput`.

use std::time::Instant;

use negclip_data::synth::{sample, Split, WorldConfig};

fn main() {
    for image_size in [32, 48, 64] {
        let cfg = WorldConfig {
            image_size,
            ..WorldConfig::default()
        };
        let n = 20_000u64;
        let start = Instant::now();
        let mut checksum = 0u64;
        for index in 0..n {
            let s = sample(Split::Train, index, &cfg, 0);
            checksum = checksum.wrapping_add(s.image.as_raw()[0] as u64 + s.caption.len() as u64);
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{image_size}x{image_size}: {n} samples in {secs:.2} s = {:.0} samples/s on one core (checksum {checksum})",
            n as f64 / secs
        );
    }
}
