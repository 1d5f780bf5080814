//! Throughput of the CLIP tokenizer and the eval image transform on this machine.
//!
//! cargo run --release -p negclip-data --example throughput
//!
//! Tokenizes the 326 fixture strings (tests/fixtures/tokenizer/cases.jsonl)
//! 200 times over, once on one thread (a fresh tokenizer, so the BPE cache warms
//! up as it goes) and once through `tokenize_batch` on the rayon pool; then
//! preprocesses a 640×480 image to 224×224.

use std::time::Instant;

use negclip_data::preprocess::preprocess_rgb;
use negclip_data::tokenizer::ClipTokenizer;

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/tokenizer/cases.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("tokenizer fixture");
    let captions: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let corpus: Vec<&String> = captions.iter().cycle().take(captions.len() * 200).collect();

    let tok = ClipTokenizer::new();
    let start = Instant::now();
    let tokens: usize = corpus.iter().map(|c| tok.encode(c).len()).sum();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "encode, 1 thread: {} texts, {tokens} BPE tokens in {secs:.3} s = {:.0} tokens/s, {:.0} texts/s",
        corpus.len(),
        tokens as f64 / secs,
        corpus.len() as f64 / secs
    );

    let start = Instant::now();
    let flat = tok.tokenize_batch(&corpus.iter().map(|s| s.as_str()).collect::<Vec<_>>(), 77);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "tokenize_batch (77), {} rayon threads: {:.0} texts/s ({} ids)",
        rayon::current_num_threads(),
        corpus.len() as f64 / secs,
        flat.len()
    );

    let img = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
    });
    let n = 100;
    let start = Instant::now();
    let mut checksum = 0f32;
    for _ in 0..n {
        checksum += preprocess_rgb(&img, 224)[0];
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "preprocess 640x480 -> 224x224, 1 thread: {:.2} ms/image (checksum {checksum:.1})",
        secs * 1000.0 / n as f64
    );
}
