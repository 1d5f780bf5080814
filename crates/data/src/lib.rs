//! negclip-data: captions, the CLIP tokenizer, an offline part-of-speech tagger,
//! hard-negative rewriters, datasets and image preprocessing.
//!
//! No deep-learning framework lives here: everything is plain Rust over strings,
//! pixels and files, so it builds in seconds and can run on background threads.

pub mod atomic;
pub mod benchmarks;
pub mod decode;
pub mod metrics;
pub mod negatives;
pub mod picture;
pub mod preprocess;
mod resample;
pub mod seed;
pub mod suite;
pub mod synth;
pub mod tables;
pub mod tagger;
pub mod tokenizer;
pub mod training;
