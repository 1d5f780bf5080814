//! negclip-train: the NegCLIP loss, optimiser and schedule, the training loop with
//! checkpoints and resume, and evaluation.
//!
//! Reading order: `config` (the run file) → `batches` (NegCLIP's batch layout) → `loss` →
//! `optim` and `schedule` → `trainer` (the loop) → `checkpoint`, `log`, `plot`;
//! `evaluate` and `suites` score a model on benchmarks, during training or on their own.

pub mod batches;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod error;
pub mod evaluate;
pub mod log;
pub mod loss;
pub mod optim;
pub mod plot;
pub mod schedule;
pub mod suites;
pub mod trainer;

pub use config::RunConfig;
pub use error::TrainError;
