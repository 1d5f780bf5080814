//! negclip-train: the NegCLIP loss, optimiser and schedule, the training loop with
//! checkpoints and resume, and evaluation.

pub mod checkpoint;
pub mod config;
pub mod error;
pub mod loss;
pub mod optim;
pub mod schedule;

pub use config::RunConfig;
pub use error::TrainError;
