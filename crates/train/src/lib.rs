//! negclip-train: the NegCLIP loss, optimiser and schedule, the training loop with
//! checkpoints and resume, and evaluation.
//!
//! Reading order: `config` (the run file) → `trainer` (the loop, one screen) and the pieces it
//! calls: `run` (state, checkpoints, resume), `batches` (NegCLIP's batch layout), `step`
//! (one optimisation step: `loss`, `optim`, `schedule`, `precision`), `mining` (hard images by
//! embedding), `report`, `log` and `plot` (what is shown and kept); `evaluate` and `suites`
//! score a model on benchmarks, during training or on their own. Training data comes from
//! `negclip_data::training`. The map of the whole project: docs/architecture.md.

pub mod batches;
pub mod checkpoint;
pub mod clip_benchmark;
pub mod config;
pub mod device;
pub mod engine;
pub mod error;
pub mod evaluate;
pub mod freeze;
pub mod io;
pub mod linear_probe;
pub mod log;
pub mod loss;
pub mod mining;
pub mod optim;
pub mod phases;
pub mod plot;
pub mod precision;
pub mod recompute;
pub mod report;
pub mod run;
pub mod sampling;
pub mod schedule;
pub mod stage_times;
pub mod step;
pub mod suites;
pub mod tensorboard;
pub mod trainer;

pub use config::RunConfig;
pub use error::TrainError;
