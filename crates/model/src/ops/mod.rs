//! The model's own operations, each with its own backward pass, that run the CPU's hot paths
//! in place of a composition of Burn's ops: the linear layers ([`linear`]), the token embedding
//! ([`embedding`]), QuickGELU ([`quick_gelu`]), LayerNorm ([`layer_norm`]) and self-attention
//! ([`cpu_attention`]), with
//! the matrix products they share (`matrix.rs`). The CLIP modules call them; on other
//! backends and dtypes each falls back to Burn's ops.

pub mod cpu_attention;
pub mod embedding;
pub mod layer_norm;
pub mod linear;
mod matrix;
pub mod quick_gelu;

pub use matrix::is_cpu;
